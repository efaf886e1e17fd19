"""Selective prediction: a model that may abstain on its least confident images
(Geifman & El-Yaniv 2017, 2019). Protocol: ``docs/protocols.md`` §3.

The model answers the fraction ``c`` (coverage) of images it is most confident on and
abstains on the rest; the selective risk is its error rate on the answered ones. Images with
EQUAL confidence cannot be ordered, so every quantity here is its expected value over the
random orders of tied images: the cumulative error count after the k most confident images,
E(k), is interpolated linearly across each block of ties (and across a fractional k). Every
function is a pure function of (confidence, correct): the same numbers for any order of the
input rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._arrays import as_numpy


def _sorted_errors(confidence, correct) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(block ends x, E(x) at block ends, confidence at block ends) with x = 0 prepended:
    images sorted by confidence, most confident first; a block = images of equal confidence."""
    c = as_numpy(confidence).astype(np.float64).ravel()
    ok = as_numpy(correct).astype(np.float64).ravel()
    if len(c) != len(ok):
        raise ValueError(f"{len(c)} confidences but {len(ok)} correctness values")
    if len(c) == 0:
        raise ValueError("no samples")
    if np.isnan(c).any():
        raise ValueError("confidence holds NaN values")
    order = np.argsort(-c, kind="stable")
    c, err = c[order], 1.0 - ok[order]
    ends = np.r_[np.flatnonzero(np.diff(c) != 0), len(c) - 1]
    cum = np.cumsum(err)
    return np.r_[0, ends + 1], np.r_[0.0, cum[ends]], c[ends]


def _expected_errors(confidence, correct, k) -> np.ndarray:
    x, e, _ = _sorted_errors(confidence, correct)
    return np.interp(k, x, e)


def risk_coverage_curve(confidence, correct) -> pd.DataFrame:
    """The risk-coverage curve, one row per k = 1..N (the k most confident images answered).

    Columns: ``coverage`` = k / N, ``risk`` = E(k) / k (expected errors among them, ties
    averaged), ``accuracy`` = 1 - risk, ``threshold`` = the confidence of the k-th image.
    """
    c = as_numpy(confidence).astype(np.float64).ravel()
    n = len(c)
    k = np.arange(1, n + 1)
    risk = _expected_errors(confidence, correct, k) / k
    return pd.DataFrame({"coverage": k / n, "risk": risk, "accuracy": 1.0 - risk,
                         "threshold": np.sort(c)[::-1]})


def aurc(confidence, correct) -> float:
    """Area under the risk-coverage curve (Geifman et al. 2019):

        AURC = (1/N) sum_{k=1..N} E(k) / k

    the selective risk averaged over the N coverages k/N (lower is better). It mixes how
    accurate the model is with how well its confidence ranks its own errors; ``excess_aurc``
    keeps only the second. Equals 1 - AURRA of Hendrycks et al.'s calibration tools (their
    mean accuracy over response rates) when no confidences tie.
    """
    n = len(as_numpy(confidence).ravel())
    k = np.arange(1, n + 1)
    return float(np.mean(_expected_errors(confidence, correct, k) / k))


def oracle_aurc(correct) -> float:
    """The AURC of a confidence that ranks every right answer above every error (same
    accuracy): (1/N) sum_k max(0, k - n_right) / k."""
    ok = as_numpy(correct).astype(bool).ravel()
    n, right = len(ok), int(ok.sum())
    k = np.arange(1, n + 1)
    return float(np.mean(np.maximum(0, k - right) / k))


def excess_aurc(confidence, correct) -> float:
    """E-AURC = AURC - oracle AURC (Geifman et al. 2019): the part of the area due to the
    ranking alone, 0 for a confidence that puts every error below every right answer."""
    return aurc(confidence, correct) - oracle_aurc(correct)


def selective_accuracy(confidence, correct, coverage: float) -> float:
    """Accuracy on the fraction ``coverage`` of images the model is most confident on:

        acc@c = 1 - E(c N) / (c N)

    with E interpolated across ties and across a fractional c N (the model answers c N
    images on average). ``coverage`` in (0, 1]; acc@1 is plain top-1.
    """
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    n = len(as_numpy(confidence).ravel())
    k = coverage * n
    return float(1.0 - _expected_errors(confidence, correct, k) / k)
