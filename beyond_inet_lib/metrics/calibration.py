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
