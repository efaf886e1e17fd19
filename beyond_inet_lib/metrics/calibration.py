"""Calibration: expected calibration error, reliability bins, confidence histogram.

Protocol: ``docs/protocols.md``, section Calibration. 15 equal-width bins over (0, 1],
right-closed: a sample is in bin i when i/n < confidence <= (i+1)/n (0 goes to the first).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._arrays import as_numpy


def _bin_edges(n_bins: int) -> np.ndarray:
    """k / n_bins for k = 0..n_bins, each a correctly rounded division, so a confidence
    written as ``k/15`` in code sits exactly on its edge (np.linspace can be 1 ulp off)."""
    if int(n_bins) < 1:
        raise ValueError("n_bins must be >= 1")
    return np.arange(n_bins + 1) / n_bins


def _check_confidence(confidence) -> np.ndarray:
    c = as_numpy(confidence).astype(np.float64).ravel()
    if np.isnan(c).any():
        raise ValueError("confidence holds NaN values")
    # float32 softmax maxima can exceed 1 by an ulp: tolerate that, reject real errors
    if (c < -1e-6).any() or (c > 1 + 1e-6).any():
        raise ValueError("confidence must lie in [0, 1] (pass max softmax probabilities, not logits)")
    return np.clip(c, 0.0, 1.0)


def _bin_index(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin i of (i/n, (i+1)/n]: i = number of inner edges strictly below the confidence.

    ``searchsorted(inner_edges, c, side='left')`` counts inner edges < c, so a value on an
    edge goes to the bin it closes (right-closed bins); 0 goes to the first bin, 1.0 to
    the last. imagenet_x's ``estimated_calibration_error`` bins the same way.
    """
    return np.searchsorted(_bin_edges(n_bins)[1:-1], confidence, side="left")


def reliability_bins(confidence, correct, n_bins: int = 15) -> pd.DataFrame:
    """Per-bin calibration table (docs/protocols.md, Calibration): one row per bin, empty bins included.

    Columns: lower, upper, count, share (count / N), mean_confidence, accuracy,
    gap = mean_confidence - accuracy (> 0: over-confident). Sample j is in bin i when
    lower_i < confidence_j <= upper_i (confidence 0 goes to the first bin).
    Empty bins have NaN mean_confidence / accuracy / gap.
    """
    c = _check_confidence(confidence)
    ok = as_numpy(correct).astype(np.float64).ravel()
    if len(ok) != len(c):
        raise ValueError(f"{len(c)} confidences but {len(ok)} correctness values")
    if len(c) == 0:
        raise ValueError("no samples to bin")
    idx = _bin_index(c, n_bins)
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    conf_sum = np.bincount(idx, weights=c, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=ok, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        acc = np.where(count > 0, acc_sum / count, np.nan)
    edges = _bin_edges(n_bins)
    return pd.DataFrame({
        "lower": edges[:-1], "upper": edges[1:], "count": count, "share": count / len(c),
        "mean_confidence": mean_conf, "accuracy": acc, "gap": mean_conf - acc,
    })


def expected_calibration_error(confidence, correct, n_bins: int = 15) -> float:
    """ECE (docs/protocols.md, Calibration).

    ECE = sum over non-empty bins b of (|b| / N) * |mean confidence(b) - accuracy(b)|,
    with ``n_bins`` equal-width bins over (0, 1]; sample in bin i when
    lower < confidence <= upper (confidence exactly 0 goes to the first bin).
    ``confidence``: max softmax probability; ``correct``: bool / 0-1 per sample.
    """
    bins = reliability_bins(confidence, correct, n_bins)
    used = bins["count"] > 0
    return float(np.sum(bins.loc[used, "share"] * np.abs(bins.loc[used, "gap"])))


def confidence_histogram(confidence, n_bins: int = 15) -> pd.DataFrame:
    """How many samples fall in each confidence bin (same bins as the ECE).

    Columns: lower, upper, count, share.
    """
    c = _check_confidence(confidence)
    if len(c) == 0:
        raise ValueError("no confidences to histogram")
    count = np.bincount(_bin_index(c, n_bins), minlength=n_bins).astype(np.int64)
    edges = _bin_edges(n_bins)
    return pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "count": count,
                         "share": count / len(c)})


# ------------------------------------------------------------ debiased calibration error
#: the per-bin sums the calibration estimates below are made of, in this order: the bin's
#: count, its sum of confidences, its number of correct predictions
BIN_SUMS = ("count", "confidence", "correct")


def bin_index(confidence, n_bins: int = 15) -> np.ndarray:
    """The bin of every sample (0 .. n_bins - 1; the bins of ``reliability_bins``)."""
    return _bin_index(_check_confidence(confidence), n_bins)


def bin_sums(confidence, correct, n_bins: int = 15) -> np.ndarray:
    """(len(BIN_SUMS), n_bins): each bin's count, sum of confidences and number correct."""
    c = _check_confidence(confidence)
    y = as_numpy(correct).astype(np.float64).ravel()
    if len(y) != len(c):
        raise ValueError(f"{len(c)} confidences but {len(y)} correctness values")
    if len(c) == 0:
        raise ValueError("no samples to bin")
    idx = _bin_index(c, n_bins)
    return np.stack([np.bincount(idx, weights=w, minlength=n_bins) for w in (np.ones_like(c), c, y)])


def _folded_normal_mean(mu, sd):
    """E|N(mu, sd^2)| = sd sqrt(2/pi) exp(-mu^2 / (2 sd^2)) + mu erf(mu / (sd sqrt 2)); |mu| at sd = 0."""
    from scipy.special import erf

    mu, sd = np.asarray(mu, dtype=np.float64), np.asarray(sd, dtype=np.float64)
    safe = np.where(sd > 0, sd, 1.0)
    folded = safe * np.sqrt(2 / np.pi) * np.exp(-0.5 * (mu / safe) ** 2) + mu * erf(mu / (safe * np.sqrt(2)))
    return np.where(sd > 0, folded, np.abs(mu))


def calibration_errors_from_sums(sums) -> dict:
    """The plug-in and the debiased ECE from per-bin sums ``sums`` (..., len(BIN_SUMS),
    n_bins); leading axes (resamples, models) are kept. docs/protocols.md §3.

    Per bin b with n_b samples, accuracy a_b and mean confidence c_b: the gap
    g_b = c_b - a_b, and the variance of the accuracy's estimate
    v_b = a_b (1 - a_b) / (n_b - 1) (unbiased for p(1 - p)/n_b; with one sample,
    c_b (1 - c_b), what a calibrated prediction would have). The confidences' own noise
    within a bin 1/15 wide is left out, as Kumar et al. do: it is a few percent of the
    accuracy's. Then

    - ``ece``: the plug-in ECE = sum_b (n_b / n) |g_b| (``expected_calibration_error``);
    - ``ece_debiased``: Kumar et al. (2019)'s debiased estimator of the same binned ECE,
      sum_b (n_b / n) (2 |g_b| - E|N(g_b, v_b)|): the |gap| of a noisy estimate overstates
      the true |gap| by about E|N(g, v)| - |g|, which is estimated at the observed gap and
      subtracted (their ``normal_debiased_ce``; its Monte-Carlo mean in closed form). On
      1,000 images of a perfectly calibrated model the plug-in ECE is about 0.03, the
      debiased one about 0.02; the debiased one may be slightly negative.
    """
    s = np.asarray(sums, dtype=np.float64)
    count, conf, corr = (s[..., i, :] for i in range(len(BIN_SUMS)))
    n = count.sum(axis=-1)
    used = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(used, count, 1.0)
        acc, mean_conf = corr / safe, conf / safe
        gap = np.where(used, mean_conf - acc, 0.0)
        var = np.where(count > 1, acc * (1 - acc) / np.maximum(count - 1, 1),
                       np.where(used, mean_conf * (1 - mean_conf), 0.0))
        share = count / n[..., None]
    ece = np.sum(share * np.abs(gap), axis=-1)
    debiased = np.sum(share * (2 * np.abs(gap) - _folded_normal_mean(gap, np.sqrt(var))), axis=-1)
    return {"ece": ece, "ece_debiased": debiased}


def debiased_calibration_error(confidence, correct, n_bins: int = 15) -> float:
    """Kumar et al. (2019)'s debiased estimate of the binned ECE (``calibration_errors_from_sums``):
    what ``expected_calibration_error`` estimates, without most of its upward bias."""
    return float(calibration_errors_from_sums(bin_sums(confidence, correct, n_bins))["ece_debiased"])


def calibration_test(confidence, correct, n_bins: int = 15) -> dict:
    """Hosmer-Lemeshow's test of "perfectly calibrated", the confidences taken as the
    probabilities of being right (nothing fitted, so no degree of freedom is lost):

        chi2 = sum_b (sum_{i in b} (c_i - y_i))^2 / sum_{i in b} c_i (1 - c_i)

    over the df bins with sum c(1 - c) > 0; chi-square with df degrees of freedom when the
    model is calibrated. A bin of certain predictions (c = 0 or 1, no variance) that is
    wrong even once cannot come from a calibrated model: chi2 = inf, p = 0. Returns dict:
    chi2, df, p_value (1.0 when df = 0 and nothing is impossible)."""
    from scipy.stats import chi2 as chi2_dist

    c = _check_confidence(confidence)
    y = as_numpy(correct).astype(np.float64).ravel()
    if len(y) != len(c):
        raise ValueError(f"{len(c)} confidences but {len(y)} correctness values")
    idx = _bin_index(c, n_bins)
    diff = np.bincount(idx, weights=c - y, minlength=n_bins)
    var = np.bincount(idx, weights=c * (1 - c), minlength=n_bins)
    tested = var > 0
    stat = float(np.sum(diff[tested] ** 2 / var[tested]))
    df = int(tested.sum())
    if np.any(~tested & (np.abs(diff) > 1e-9)):
        return {"chi2": float("inf"), "df": df, "p_value": 0.0}
    return {"chi2": stat, "df": df, "p_value": float(chi2_dist.sf(stat, df)) if df else 1.0}
