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
    counts, conf_sum, acc_sum = bin_sums(confidence, correct, n_bins)
    count = counts.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        acc = np.where(count > 0, acc_sum / count, np.nan)
    edges = _bin_edges(n_bins)
    return pd.DataFrame({
        "lower": edges[:-1], "upper": edges[1:], "count": count, "share": count / count.sum(),
        "mean_confidence": mean_conf, "accuracy": acc, "gap": mean_conf - acc,
    })


class ExpectedCalibrationError:
    """``expected_calibration_error`` as a statistic of sums, for the bootstrap: calling it
    gives the ECE; ``unit_sums`` and ``from_sums`` give it from per-unit totals, since

        ECE = sum_b |sum_{i in b} (confidence_i - correct_i)| / N,

    so a resample needs only each resampled unit's per-bin sum of (confidence - correct)
    and its row count (``stats.bootstrap_ci`` then computes every resample at once)."""

    def __init__(self, n_bins: int = 15):
        self.n_bins = int(n_bins)

    def __call__(self, confidence, correct) -> float:
        return expected_calibration_error(confidence, correct, self.n_bins)

    def unit_sums(self, ids: np.ndarray, n_units: int, confidence, correct) -> np.ndarray:
        """(n_units, n_bins + 1): per unit, the sum of (confidence - correct) over its rows in
        each bin, then its row count."""
        c = _check_confidence(confidence)
        ok = as_numpy(correct).astype(np.float64).ravel()
        flat = np.asarray(ids) * self.n_bins + _bin_index(c, self.n_bins)
        gaps = np.bincount(flat, weights=c - ok, minlength=n_units * self.n_bins).reshape(n_units, self.n_bins)
        return np.column_stack([gaps, np.bincount(ids, minlength=n_units)])

    @staticmethod
    def from_sums(totals: np.ndarray) -> np.ndarray:
        """The ECE of each row of totals (``unit_sums`` summed over a resample's units)."""
        return np.abs(totals[..., :-1]).sum(axis=-1) / totals[..., -1]


class Mean:
    """The mean of per-image terms (``nll_terms``, ``brier_terms``) as a statistic of sums, so
    that ``TwoFold(Mean())``, the two-fold protocol's mean of each half's mean NLL, takes
    every bootstrap resample at once: a resample's mean is its units' summed terms over
    their summed row counts. Called, it is ``numpy.mean``."""

    def __call__(self, values) -> float:
        return float(np.mean(as_numpy(values).astype(np.float64)))

    def unit_sums(self, ids: np.ndarray, n_units: int, values) -> np.ndarray:
        """(n_units, 2): per unit, the sum of its rows' values and its row count."""
        v = as_numpy(values).astype(np.float64).ravel()
        return np.column_stack([np.bincount(ids, weights=v, minlength=n_units), np.bincount(ids, minlength=n_units)])

    @staticmethod
    def from_sums(totals: np.ndarray) -> np.ndarray:
        return totals[..., 0] / totals[..., 1]


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


def _samples(confidence, correct) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct as 0/1 floats), checked: as many of each, at least one."""
    c = _check_confidence(confidence)
    y = as_numpy(correct).astype(np.float64).ravel()
    if len(y) != len(c):
        raise ValueError(f"{len(c)} confidences but {len(y)} correctness values")
    if len(c) == 0:
        raise ValueError("no samples to bin")
    return c, y


def bin_sums(confidence, correct, n_bins: int = 15) -> np.ndarray:
    """(len(BIN_SUMS), n_bins): each bin's count, sum of confidences and number correct."""
    c, y = _samples(confidence, correct)
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


# =========================================================== proper scores and other binnings
# Scores over the whole predicted distribution: ``probs`` (N, C) rows of probabilities (a
# softmax; with a class mask, the softmax over the mask's columns) and ``labels`` (N,) the
# column of the true class (``classification.mask_positions`` maps ImageNet indices to mask
# columns). Per-sample ``*_terms`` exist where the score is a mean, so a bootstrap resamples
# a vector instead of an (N, C) matrix.

def _check_probs(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    p = as_numpy(probs)
    y = as_numpy(labels).astype(np.int64).ravel()
    if p.ndim != 2:
        raise ValueError(f"expected (N, C) probabilities, got shape {p.shape}")
    if len(p) != len(y):
        raise ValueError(f"{len(p)} rows of probabilities but {len(y)} labels")
    if len(y) == 0:
        raise ValueError("no samples to score")
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"labels must be column indices 0..{p.shape[1] - 1} of the probabilities "
                         f"(found {y.min()}..{y.max()}); with a class mask, map them with "
                         "metrics.mask_positions(labels, class_mask)")
    p = p.astype(np.float64, copy=False)
    sums = p.sum(axis=1)
    if np.isnan(sums).any() or (p.min() < -1e-6) or np.abs(sums - 1).max() > 1e-3:
        raise ValueError("each row must be a probability distribution (a softmax, not logits): "
                         f"row sums range {np.nanmin(sums):.4g}..{np.nanmax(sums):.4g}")
    return p, y


def nll_terms(probs, labels) -> np.ndarray:
    """Per-sample negative log-likelihood ``-log p_{i, y_i}`` (N,).

    ``p`` is clipped below at the smallest normal float64 (2.2e-308), so a hard zero costs
    about 708 nats instead of infinity (float64 softmax of real logits never reaches it)."""
    p, y = _check_probs(probs, labels)
    return label_nll(p[np.arange(len(y)), y])


def label_nll(p_label) -> np.ndarray:
    """-log p of each image's probability of its label, ``nll_terms``' rule (clipped below
    at the smallest normal float64)."""
    return -np.log(np.maximum(as_numpy(p_label).astype(np.float64), np.finfo(np.float64).tiny))


def negative_log_likelihood(probs, labels) -> float:
    """NLL = -(1/N) sum_i log p_{i, y_i}  (docs/protocols.md §3), in nats: the mean of
    ``nll_terms``. A proper scoring rule; scikit-learn's ``log_loss`` on the same rows."""
    return float(nll_terms(probs, labels).mean())


def brier_terms(probs, labels) -> np.ndarray:
    """Per-sample Brier score ``sum_k (p_ik - [y_i = k])^2 = sum_k p_ik^2 - 2 p_{i,y_i} + 1`` (N,)."""
    p, y = _check_probs(probs, labels)
    return np.einsum("ij,ij->i", p, p) - 2 * p[np.arange(len(y)), y] + 1.0


def brier_score(probs, labels) -> float:
    """Brier score = (1/N) sum_i sum_k (p_ik - [y_i = k])^2  (docs/protocols.md §3): the
    squared error of the whole predicted distribution, summed over classes (range [0, 2];
    Brier 1950's multi-class form, scikit-learn's multi-class ``brier_score_loss``)."""
    return float(brier_terms(probs, labels).mean())


def _equal_mass_bins(sorted_values: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each value of an ascending array under equal-mass (adaptive) binning.

    Nixon et al. 2019's rule (the one QUBA's ACE uses): cut positions
    ``c_j = round(j n / n_bins)`` for j = 1..n_bins-1 (numpy's ``linspace`` and round half
    to even, capped at n - 1), upper edges ``u_j = v[c_j]`` and a last edge 1.0; a value v
    is in bin ``#{j : u_j <= v}`` (numpy.digitize): a value equal to an edge opens the
    next bin, so tied values always share a bin, and a value of exactly 1.0 is in a bin of
    its own (index n_bins). With distinct values each bin holds n/n_bins of them (+-1).
    """
    n = len(sorted_values)
    cut = np.minimum(np.round(np.linspace(0, n, n_bins, endpoint=False)[1:]).astype(np.int64), n - 1)
    upper = sorted_values[cut]
    return np.searchsorted(upper, sorted_values, side="right") + (sorted_values >= 1.0)


def _binned_gap(bins: np.ndarray, values: np.ndarray, targets: np.ndarray, n_bins: int) -> float:
    """sum_b (n_b / n) |mean value_b - mean target_b| over the non-empty bins."""
    gap = np.abs(np.bincount(bins, weights=values, minlength=n_bins)
                 - np.bincount(bins, weights=targets, minlength=n_bins))
    return float(gap.sum() / len(values))   # sum_b n_b/n * |sum_b(v)/n_b - sum_b(t)/n_b|


def equal_mass_calibration_error(confidence, correct, n_bins: int = 15) -> float:
    """Top-label ECE with equal-mass (adaptive) bins instead of equal-width ones
    (docs/protocols.md §3): the confidences are sorted and cut into ``n_bins`` bins of
    (nearly) equal count by the rule of ``_equal_mass_bins``, then

        ECE_em = sum_b (n_b / N) |mean confidence_b - accuracy_b|.

    Equal-width bins leave the low-confidence bins of an accurate model nearly empty;
    equal-mass bins spend the resolution where the predictions are. netcal's
    ``ECE(bins, equal_intervals=False)`` computes the same when N is a multiple of n_bins
    (its quantile edges then fall between the same samples)."""
    c, ok = _samples(confidence, correct)
    if int(n_bins) < 1:
        raise ValueError("n_bins must be >= 1")
    order = np.argsort(c, kind="stable")
    c, ok = c[order], ok[order]
    return _binned_gap(_equal_mass_bins(c, n_bins), c, ok, n_bins + 1)


#: resamples per pass of ``EqualMassCalibrationError.weighted`` (its running sums stay small)
_EQUAL_MASS_ROWS = 16


class EqualMassCalibrationError:
    """``equal_mass_calibration_error`` at ``n_bins`` as an object the bootstrap resamples
    fast: called on (confidence, correct) it is that function; ``weighted(weights,
    confidence, correct)`` is its value on R resamples at once, row r of ``weights`` (R, N)
    counting how often each image is drawn, equal to the function on the images repeated
    that often. The confidences are sorted once; in a resample a value drawn w times fills
    w positions, so the cut at resampled position c_j is the first sorted value whose
    running weight passes c_j, a bin runs from the first position holding its lower cut's
    value, and its sums are differences of running weighted sums: O(R N) instead of R sorts."""

    def __init__(self, n_bins: int = 15):
        if int(n_bins) < 1:
            raise ValueError("n_bins must be >= 1")
        self.n_bins = int(n_bins)

    def __repr__(self) -> str:
        return f"EqualMassCalibrationError({self.n_bins})"

    def __call__(self, confidence, correct) -> float:
        return equal_mass_calibration_error(confidence, correct, self.n_bins)

    def weighted(self, weights, confidence, correct) -> np.ndarray:
        c, ok = _samples(confidence, correct)
        order = np.argsort(c, kind="stable")
        c, ok = c[order], ok[order]
        n = len(c)
        new = np.r_[True, c[1:] != c[:-1]]
        first_equal = np.maximum.accumulate(np.where(new, np.arange(n), 0))
        ones_start = int((c < 1.0).sum())
        w = np.atleast_2d(np.asarray(weights, dtype=np.float64))[:, order]
        j = np.arange(1, self.n_bins)
        out = np.empty(len(w))
        for i in range(0, len(w), _EQUAL_MASS_ROWS):
            rows = w[i:i + _EQUAL_MASS_ROWS]
            drawn = np.cumsum(rows, axis=1)
            m = drawn[:, -1]
            cut = np.minimum(np.round(j * (m[:, None] / self.n_bins)), m[:, None] - 1)
            q = np.minimum([np.searchsorted(d, k, side="right") for d, k in zip(drawn, cut)], n - 1)
            bounds = np.concatenate([np.zeros((len(rows), 1), np.int64), first_equal[q.reshape(len(rows), -1)],
                                     np.full((len(rows), 1), ones_start), np.full((len(rows), 1), n)], axis=1)
            zero = np.zeros((len(rows), 1))
            conf_sum = np.concatenate([zero, np.cumsum(rows * c, axis=1)], axis=1)
            hit_sum = np.concatenate([zero, np.cumsum(rows * ok, axis=1)], axis=1)
            gap = np.diff(np.take_along_axis(conf_sum, bounds, axis=1) - np.take_along_axis(hit_sum, bounds, axis=1),
                          axis=1)
            out[i:i + len(rows)] = np.abs(gap).sum(axis=1) / m
        return out


#: matrix entries per block of classes (bounded memory on 50k images x 1,000 classes)
_BLOCK_CELLS = 4_000_000


def _class_blocks(n_classes: int, n_rows: int):
    """Column slices of about ``_BLOCK_CELLS`` matrix entries each."""
    step = max(1, _BLOCK_CELLS // max(n_rows, 1))
    for start in range(0, n_classes, step):
        yield slice(start, min(n_classes, start + step))


def adaptive_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """ACE: class-conditional calibration error with equal-mass bins (Nixon et al. 2019,
    "Measuring Calibration in Deep Learning"), as QUBA computes it (its
    ``helper/benchmarks.py``: adaptive binning, class-conditional, every class's
    probability rather than the top one, threshold 0, L1, 15 bins):

        ACE = (1/C) sum_k sum_b (n_kb / n_k) |mean_{i in b} p_ik - mean_{i in b} [y_i = k]|

    For each class k, the probabilities p_ik > 0 of ALL n_k samples (not only those that
    predict k) are cut into ``n_bins`` equal-mass bins (``_equal_mass_bins``). Not netcal's
    ``ACE``, which is the unweighted average over equal-width bins ("average calibration
    error"); per class it equals netcal's equal-mass ECE of the binary problem "is it k".
    """
    p, y = _check_probs(probs, labels)
    if int(n_bins) < 1:
        raise ValueError("n_bins must be >= 1")
    n, n_classes = p.shape
    total = 0.0
    for cols in _class_blocks(n_classes, n):
        # a class per row: the rule of _equal_mass_bins applied to every row at once
        v = np.ascontiguousarray(p[:, cols].T)
        keep = v > 0.0                    # QUBA's threshold 0: exact zeros are left out
        n_k = keep.sum(axis=1)
        first = n - n_k                   # zeros sort first
        step = n_k / n_bins               # numpy.linspace(0, n_k, n_bins, endpoint=False)
        cut = np.round(np.arange(1, n_bins)[None, :] * step[:, None]).astype(np.int64)
        cut = first[:, None] + np.minimum(cut, np.maximum(n_k - 1, 0)[:, None])
        upper = np.take_along_axis(np.sort(v, axis=1), np.minimum(cut, n - 1), axis=1)
        bins = (v >= 1.0).astype(np.int64)
        for j in range(n_bins - 1):
            bins += v >= upper[:, j:j + 1]
        width = v.shape[0]
        cell = (np.arange(width)[:, None] * (n_bins + 1) + bins).ravel()
        hit = (y[None, :] == np.arange(cols.start, cols.stop)[:, None]) & keep
        size = width * (n_bins + 1)
        gap = np.abs(np.bincount(cell, weights=np.where(keep, v, 0.0).ravel(), minlength=size)
                     - np.bincount(cell, weights=hit.ravel().astype(np.float64), minlength=size))
        per_class = gap.reshape(width, n_bins + 1).sum(axis=1)
        total += float(np.sum(per_class[n_k > 0] / n_k[n_k > 0]))
    return total / n_classes


def classwise_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """Classwise ECE (Kull et al. 2019): the equal-width ECE of every class's probability,
    averaged over classes (docs/protocols.md §3):

        cwECE = (1/C) sum_k sum_b (n_kb / N) |mean_{i in b} p_ik - mean_{i in b} [y_i = k]|

    over all N samples per class, with the protocol's bins (``n_bins`` equal-width,
    right-closed: lower < p <= upper, 0 in the first). Top-label ECE asks "is the top
    class right as often as claimed"; classwise ECE asks it of every class's probability.
    """
    p, y = _check_probs(probs, labels)
    n, n_classes = p.shape
    inner = _bin_edges(n_bins)[1:-1]
    total = 0.0
    for cols in _class_blocks(n_classes, n):
        block = np.clip(p[:, cols], 0.0, 1.0)
        width = block.shape[1]
        cell = np.searchsorted(inner, block, side="left") * width + np.arange(width)  # bin-major
        hit = (y[:, None] == np.arange(cols.start, cols.stop)).astype(np.float64)
        size = n_bins * width
        gap = np.abs(np.bincount(cell.ravel(), weights=block.ravel(), minlength=size)
                     - np.bincount(cell.ravel(), weights=hit.ravel(), minlength=size))
        total += gap.sum() / n
    return total / n_classes


def quba_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """QUBA's "Calibration Error" (Hesse et al., "Beyond Accuracy: What Matters in Designing
    Well-Behaved Models?", its ``helper/benchmarks.py``): the geometric mean of the top-label
    ECE and the class-conditional ACE, both with ``n_bins`` = 15:

        CE_QUBA = sqrt(ECE * ACE)

    so this run's models sit on the scale of QUBA's published field. QUBA's ECE is
    torchmetrics' ``MulticlassCalibrationError``, whose bins are left-closed and put a
    confidence of exactly 1.0 in a 16th bin; this uses the protocol's ECE, which differs
    only for confidences exactly on an edge or exactly 1.0 (see the tests)."""
    p, y = _check_probs(probs, labels)
    top = p.argmax(axis=1)
    ece = expected_calibration_error(p[np.arange(len(y)), top], top == y, n_bins)
    return float(np.sqrt(ece * adaptive_calibration_error(p, y, n_bins)))


def _classwise_replicates(p: np.ndarray, y: np.ndarray, w: np.ndarray, n_bins: int) -> np.ndarray:
    """``classwise_calibration_error`` of every resample (rows of ``w``) at once.

    Only the first bin (p <= 1/n_bins) is crowded: a row of probabilities has fewer than
    n_bins entries above 1/n_bins. Those few entries' weighted sums per (class, bin) are a
    sparse product; the first bin's are each class's weighted total (one dense product,
    W P) less theirs, and its hits the weighted count of the class's images less theirs.
    Entries outside [0, 1] (a float32 softmax can pass 1 by an ulp) join the few, clipped."""
    import scipy.sparse as sp

    n, n_classes = p.shape
    rows, cols = np.nonzero((p > _bin_edges(n_bins)[1]) | (p < 0.0))
    raw = p[rows, cols].astype(np.float64)
    vals = np.clip(raw, 0.0, 1.0)
    hit = (y[rows] == cols).astype(np.float64)
    cell = cols * n_bins + _bin_index(vals, n_bins)

    def weighted(values, columns, width):   # (R, width): sum_i w_ri * values at (i, column)
        return np.asarray(sp.csr_matrix((values, (rows, columns)), shape=(n, width)).T.dot(w.T).T)

    s_cells = weighted(vals, cell, n_classes * n_bins).reshape(len(w), n_classes, n_bins)
    t_cells = weighted(hit, cell, n_classes * n_bins).reshape(len(w), n_classes, n_bins)
    totals = np.asarray(sp.csr_matrix((np.ones(n), (np.arange(n), y)), shape=(n, n_classes)).T.dot(w.T).T)
    s_cells[:, :, 0] += w @ p - weighted(raw, cols, n_classes)
    t_cells[:, :, 0] += totals - weighted(hit, cols, n_classes)
    return np.abs(s_cells - t_cells).sum(axis=(1, 2)) / w.sum(axis=1) / n_classes


#: sorted positions per block of ``_ace_replicates``' block sums
_ACE_BLOCK = 32
#: resamples per sparse product in ``_ace_replicates`` (their weights, N x 16 float64, stay
#: in cache: about 2x faster per resample than 64, measured at 50,000 images x 80 classes)
_ACE_RESAMPLES = 16


def _ace_replicates(p: np.ndarray, y: np.ndarray, w: np.ndarray, n_bins: int) -> np.ndarray:
    """``adaptive_calibration_error`` of every resample (rows of ``w``) at once.

    Each class's probabilities are sorted once; a resample only re-weights them: a value
    drawn w times fills w positions of the resampled sorted column, so the equal-mass cuts
    are where the cumulative weight crosses j n/n_bins, and a bin's probability sum is a
    difference of prefix sums of the weighted sorted column. Both come from block sums over
    ``_ACE_BLOCK`` sorted positions, computed for many resamples in one sparse product
    (block x image matrices times the weights): a cut is located among the blocks' running
    totals and then inside its block, and a prefix sum is its block's running total plus
    the few positions before it in the block. A bin's hits (the class's own images, few)
    are counted at their sorted positions. Weights are whole counts: the counts are exact
    (float32 holds them). A block's probability sum is float32 too (half the memory traffic
    of the product that dominates), its running total and the in-block remainder float64:
    the scores agree with the functions' to about 1e-9 (``adaptive_calibration_error``
    of a model on 50,000 images is about 1e-3)."""
    import scipy.sparse as sp

    n, n_classes = p.shape
    size = _ACE_BLOCK
    n_blocks = -(-n // size)
    j = np.arange(1, n_bins)
    ace = np.zeros(len(w))
    block_starts = np.arange(0, n, size)
    for cols in _class_blocks(n_classes, n):
        v = np.ascontiguousarray(p[:, cols].T)
        width = v.shape[0]
        order = np.argsort(v, axis=1)
        s = np.take_along_axis(v, order, axis=1)
        positive = s > 0.0                     # QUBA's threshold 0: exact zeros sort first, weigh 0
        # the first sorted position holding each position's value (its block of ties)
        new = np.ones_like(positive)
        new[:, 1:] = s[:, 1:] != s[:, :-1]
        first_equal = np.maximum.accumulate(np.where(new, np.arange(n), 0), axis=1)
        ones_start = (s < 1.0).sum(axis=1)
        row_start = np.arange(width)[:, None] * n
        # (class, block) x image: the sorted positions of a class's block as its row
        indptr = np.r_[(row_start + block_starts).ravel(), width * n]
        shape = (width * n_blocks, n)
        to_sums = sp.csr_matrix((s.ravel().astype(np.float32), order.ravel(), indptr), shape=shape)
        to_counts = sp.csr_matrix((positive.ravel().astype(np.float32), order.ravel(), indptr), shape=shape)
        # padded by one block so a position's block can always be read whole
        flat_order = np.r_[order.ravel(), np.zeros(size, np.int64)]
        flat_s = np.r_[s.ravel(), np.zeros(size)]
        flat_pos = np.r_[positive.ravel(), np.zeros(size, bool)]
        # the class's own images with p > 0, by flat sorted position: the only hits
        hit_flat = np.flatnonzero(((y[order] == np.arange(cols.start, cols.stop)[:, None]) & positive).ravel())
        hit_image = order.ravel()[hit_flat]
        inside = np.arange(size)
        for r0 in range(0, len(w), _ACE_RESAMPLES):
            wc = w[r0:r0 + _ACE_RESAMPLES]
            rc = len(wc)
            resample = np.arange(rc)[:, None, None]
            cls = np.arange(width)[None, :, None]
            # running totals over the blocks, (class, block, resample) as the products give them
            drawn = np.ascontiguousarray(wc.T, dtype=np.float32)
            running = np.cumsum((to_counts @ drawn).reshape(width, n_blocks, rc), axis=1, dtype=np.float64)
            whole = np.cumsum((to_sums @ drawn).reshape(width, n_blocks, rc), axis=1, dtype=np.float64)
            n_pos = running[:, -1, :].T                                        # (resample, class)
            cut = np.minimum(np.round(j * (n_pos[..., None] / n_bins)), n_pos[..., None] - 1)
            # the block of each cut: blocks whose running total stays <= cut (rows offset
            # so one searchsorted serves them all)
            span = n_pos.max() + 2.0
            offset = np.arange(rc * width).reshape(rc, width, 1) * span
            rows = np.ascontiguousarray(running.transpose(2, 0, 1)) + offset
            block = np.searchsorted(rows.ravel(), (cut + offset).ravel(), side="right").reshape(cut.shape)
            block = np.minimum(block - np.arange(rc * width).reshape(rc, width, 1) * n_blocks, n_blocks - 1)
            prior = np.where(block > 0, running[cls, np.maximum(block - 1, 0), resample], 0.0)
            # inside the block: the first position whose running weight passes the cut
            at = (row_start[None] + block * size)[..., None] + inside                # flat positions
            seen = wc[resample[..., None], flat_order[at]]
            seen = np.where((block * size)[..., None] + inside < n, seen * flat_pos[at], 0.0)
            reached = prior[..., None] + np.cumsum(seen, axis=3)
            q = np.minimum(block * size + (reached <= cut[..., None]).sum(axis=3), n - 1)
            bounds = np.concatenate([np.zeros((rc, width, 1), np.int64), first_equal[cls, q],
                                     np.broadcast_to(ones_start[None, :, None], (rc, width, 1)),
                                     np.full((rc, width, 1), n)], axis=2)
            # prefix sums of the weighted sorted column at the bounds: whole blocks, then the rest
            b_block = bounds // size
            at = (row_start[None] + b_block * size)[..., None] + inside
            part = wc[resample[..., None], flat_order[at]]
            part = np.where(inside < (bounds - b_block * size)[..., None], part * flat_s[at], 0.0).sum(axis=3)
            prefix = np.where(b_block > 0, whole[cls, np.maximum(b_block - 1, 0), resample], 0.0) + part
            hit_running = np.concatenate([np.zeros((rc, 1)), np.cumsum(wc[:, hit_image], axis=1)], axis=1)
            found = np.searchsorted(hit_flat, (bounds + row_start[None]).ravel(), side="left").reshape(rc, -1)
            hit_prefix = np.take_along_axis(hit_running, found, axis=1).reshape(bounds.shape)
            gap = np.abs(np.diff(prefix, axis=2) - np.diff(hit_prefix, axis=2)).sum(axis=2)
            used = n_pos > 0
            ace[r0:r0 + rc] += np.where(used, gap / np.where(used, n_pos, 1.0), 0.0).sum(axis=1)
    return ace / n_classes


def class_calibration_replicates(probs, labels, weights, n_bins: int = 15) -> dict[str, np.ndarray]:
    """The calibration errors of bootstrap resamples, without building them.

    ``weights`` (R, N): how often each image is drawn in each of R resamples (multinomial
    counts). Returns {"ece", "adaptive", "classwise", "quba"}, each (R,): replicate r equals
    ``expected_calibration_error`` (top label), ``adaptive_calibration_error``,
    ``classwise_calibration_error`` and ``quba_calibration_error`` of the images repeated
    ``weights[r]`` times: ``_classwise_replicates`` and ``_ace_replicates``, which never
    build a resample; the top-label ECE is a weighted histogram per resample.
    """
    p, y = _check_probs(probs, labels)
    w = np.asarray(weights, dtype=np.float64)
    w = w[None, :] if w.ndim == 1 else w
    n, n_classes = p.shape
    if w.ndim != 2 or w.shape[1] != n:
        raise ValueError(f"weights must be (resamples, {n}), got {w.shape}")
    if (w < 0).any():
        raise ValueError("weights are counts of draws: they cannot be negative")
    if int(n_bins) < 1:
        raise ValueError("n_bins must be >= 1")
    top = p.argmax(axis=1)
    conf = p[np.arange(n), top]
    top_bin = _bin_index(conf, n_bins)
    ece = np.array([_binned_gap(top_bin, conf * wr, (top == y) * wr, n_bins) * n / wr.sum() for wr in w])
    cw = _classwise_replicates(p, y, w, n_bins)
    ace = _ace_replicates(p, y, w, n_bins)
    return {"ece": ece, "adaptive": ace, "classwise": cw, "quba": np.sqrt(ece * ace)}
