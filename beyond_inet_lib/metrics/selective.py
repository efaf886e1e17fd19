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


#: resamples ``SelectiveStatistic.weighted`` handles per step
_ROWS = 8


def _check(confidence, correct) -> tuple[np.ndarray, np.ndarray]:
    c = as_numpy(confidence).astype(np.float64).ravel()
    ok = as_numpy(correct).astype(np.float64).ravel()
    if len(c) != len(ok):
        raise ValueError(f"{len(c)} confidences but {len(ok)} correctness values")
    if len(c) == 0:
        raise ValueError("no samples")
    if np.isnan(c).any():
        raise ValueError("confidence holds NaN values")
    return c, ok


def _sorted_blocks(confidence, correct) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, starts, errors): the images most confident first, the first sorted position
    of each block of equal confidence, and 1 - correct in sorted order."""
    c, ok = _check(confidence, correct)
    order = np.argsort(-c, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(c[order]) != 0) + 1]
    return order, starts, 1.0 - ok[order]


def _cumulative(blocks, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """(W, E), each (R, B + 1), for the images as ``_sorted_blocks`` ordered them in B
    blocks of equal confidence: W[r, j] = how many images the first j blocks hold and
    E[r, j] = how many of them are errors, in resample r whose row of ``weights`` (R, N)
    counts how often each image is drawn (None: each image once, R = 1). The curve E(k)
    runs linearly between the points (W[r, j], E[r, j])."""
    order, starts, errors = blocks
    n = len(order)
    w = np.ones((1, n)) if weights is None else np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if w.shape[1] != n:
        raise ValueError(f"weights must be (resamples, {n}), got {w.shape}")
    drawn = w[:, order]
    zero = np.zeros((len(w), 1))
    blocks_w, blocks_e = drawn, drawn * errors
    if len(starts) < n:                     # ties: one point per block
        blocks_w, blocks_e = (np.add.reduceat(a, starts, axis=1) for a in (blocks_w, blocks_e))
    return (np.concatenate([zero, np.cumsum(blocks_w, axis=1)], axis=1),
            np.concatenate([zero, np.cumsum(blocks_e, axis=1)], axis=1))


def _harmonic(n: int) -> np.ndarray:
    """H[m] = sum_{k=1..m} 1/k for m = 0..n."""
    return np.r_[0.0, np.cumsum(1.0 / np.arange(1, n + 1))]


def _errors_at(cum_w: np.ndarray, cum_e: np.ndarray, k: np.ndarray) -> np.ndarray:
    """E(k_r) per row r, 0 < k_r <= W[r, -1]: linear within the block that holds position k_r."""
    j = np.minimum((cum_w < k[:, None]).sum(axis=1), cum_w.shape[1] - 1)[:, None]
    lo_w, hi_w = np.take_along_axis(cum_w, j - 1, axis=1)[:, 0], np.take_along_axis(cum_w, j, axis=1)[:, 0]
    lo_e, hi_e = np.take_along_axis(cum_e, j - 1, axis=1)[:, 0], np.take_along_axis(cum_e, j, axis=1)[:, 0]
    return lo_e + (k - lo_w) / (hi_w - lo_w) * (hi_e - lo_e)


def _aurc_rows(cum_w: np.ndarray, cum_e: np.ndarray) -> np.ndarray:
    """(1/N) sum_{k=1..N} E(k)/k per row, in closed form per block: over a block's
    positions k in (W0, W1], E(k) = E0 + rate (k - W0), so the block adds
    E0 dH + rate (W1 - W0 - W0 dH) with dH = H(W1) - H(W0), H the harmonic numbers.
    Weights must be whole counts."""
    n = cum_w[:, -1]
    h = _harmonic(int(round(n.max())))
    whole = cum_w.astype(np.int64)          # counts: whole numbers, exact in float64
    lo, hi = whole[:, :-1], whole[:, 1:]
    dh = h[hi] - h[lo]
    drawn, errors = hi - lo, np.diff(cum_e, axis=1)
    rate = np.divide(errors, drawn, out=np.zeros_like(errors), where=drawn > 0)
    return (cum_e[:, :-1] * dh + rate * (drawn - cum_w[:, :-1] * dh)).sum(axis=1) / n


def _oracle_rows(cum_w: np.ndarray, cum_e: np.ndarray) -> np.ndarray:
    """``oracle_aurc`` per row: (1/N) sum_k max(0, k - R)/k = ((N - R) - R (H(N) - H(R))) / N."""
    n = np.rint(cum_w[:, -1]).astype(np.int64)
    right = n - np.rint(cum_e[:, -1]).astype(np.int64)
    h = _harmonic(int(n.max()))
    return ((n - right) - right * (h[n] - h[right])) / n


def risk_coverage_curve(confidence, correct) -> pd.DataFrame:
    """The risk-coverage curve, one row per k = 1..N (the k most confident images answered).

    Columns: ``coverage`` = k / N, ``risk`` = E(k) / k (expected errors among them, ties
    averaged), ``accuracy`` = 1 - risk, ``threshold`` = the confidence of the k-th image.
    """
    c, _ = _check(confidence, correct)
    n = len(c)
    k = np.arange(1, n + 1)
    cum_w, cum_e = _cumulative(_sorted_blocks(confidence, correct))
    risk = np.interp(k, cum_w[0], cum_e[0]) / k
    return pd.DataFrame({"coverage": k / n, "risk": risk, "accuracy": 1.0 - risk,
                         "threshold": np.sort(c)[::-1]})


class SelectiveStatistic:
    """``aurc``, ``excess_aurc`` or ``selective_accuracy`` at one coverage as an object the
    bootstrap resamples fast: called on (confidence, correct) it is that function;
    ``weighted(weights, confidence, correct)`` is its value on R resamples at once, row r of
    ``weights`` (R, N) counting how often each image is drawn, equal to the function on the
    images repeated that often. The images are sorted once; a resample only re-weights them
    (``_cumulative``), so R resamples cost O(R N) instead of R sorts."""

    KINDS = ("aurc", "excess_aurc", "accuracy")

    def __init__(self, kind: str, coverage: float | None = None):
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, not {kind!r}")
        if kind == "accuracy" and not (coverage is not None and 0 < coverage <= 1):
            raise ValueError(f"coverage must be in (0, 1], got {coverage}")
        self.kind, self.coverage = kind, coverage

    def __repr__(self) -> str:
        return f"SelectiveStatistic({self.kind!r}" + (f", {self.coverage})" if self.coverage else ")")

    def weighted(self, weights, confidence, correct) -> np.ndarray:
        return SelectiveStatistics(self).weighted(weights, confidence, correct)[:, 0]

    def from_cumulative(self, cum_w: np.ndarray, cum_e: np.ndarray) -> np.ndarray:
        """The statistic of each row of ``_cumulative``'s (W, E)."""
        if self.kind == "accuracy":
            k = self.coverage * cum_w[:, -1]
            return 1.0 - _errors_at(cum_w, cum_e, k) / k
        area = _aurc_rows(cum_w, cum_e)
        return area - _oracle_rows(cum_w, cum_e) if self.kind == "excess_aurc" else area

    def __call__(self, confidence, correct) -> float:
        return float(self.weighted(None, confidence, correct)[0])


class SelectiveStatistics:
    """Several ``SelectiveStatistic`` as one statistic with a value per statistic, in the
    order given: the images are sorted and each resample's running counts (``_cumulative``)
    computed once for all of them. Called: (k,); ``weighted(weights, confidence, correct)``:
    (R, k)."""

    def __init__(self, *statistics: SelectiveStatistic):
        if not statistics:
            raise ValueError("SelectiveStatistics needs at least one SelectiveStatistic")
        self.statistics = statistics

    def __repr__(self) -> str:
        return f"SelectiveStatistics{self.statistics!r}"

    def weighted(self, weights, confidence, correct) -> np.ndarray:
        blocks = _sorted_blocks(confidence, correct)      # sorted once for every resample
        if weights is None or np.ndim(weights) < 2:
            return self._rows(blocks, weights)
        # a few rows at a time: the temporaries stay in the processor's cache
        return np.concatenate([self._rows(blocks, weights[i:i + _ROWS]) for i in range(0, len(weights), _ROWS)])

    def _rows(self, blocks, weights) -> np.ndarray:
        cum_w, cum_e = _cumulative(blocks, weights)
        return np.stack([s.from_cumulative(cum_w, cum_e) for s in self.statistics], axis=1)

    def __call__(self, confidence, correct) -> np.ndarray:
        return self.weighted(None, confidence, correct)[0]


def aurc(confidence, correct) -> float:
    """Area under the risk-coverage curve (Geifman et al. 2019):

        AURC = (1/N) sum_{k=1..N} E(k) / k

    the selective risk averaged over the N coverages k/N (lower is better). It mixes how
    accurate the model is with how well its confidence ranks its own errors; ``excess_aurc``
    keeps only the second. Equals 1 - AURRA of Hendrycks et al.'s calibration tools (their
    mean accuracy over response rates) when no confidences tie.
    """
    return SelectiveStatistic("aurc")(confidence, correct)


def oracle_aurc(correct) -> float:
    """The AURC of a confidence that ranks every right answer above every error (same
    accuracy): (1/N) sum_k max(0, k - n_right) / k."""
    ok = as_numpy(correct).astype(bool).ravel()
    n, right = len(ok), int(ok.sum())
    return float(_oracle_rows(np.array([[0.0, n]]), np.array([[0.0, n - right]]))[0])


def excess_aurc(confidence, correct) -> float:
    """E-AURC = AURC - oracle AURC (Geifman et al. 2019): the part of the area due to the
    ranking alone, 0 for a confidence that puts every error below every right answer."""
    return SelectiveStatistic("excess_aurc")(confidence, correct)


def selective_accuracy(confidence, correct, coverage: float) -> float:
    """Accuracy on the fraction ``coverage`` of images the model is most confident on:

        acc@c = 1 - E(c N) / (c N)

    with E interpolated across ties and across a fractional c N (the model answers c N
    images on average). ``coverage`` in (0, 1]; acc@1 is plain top-1.
    """
    return SelectiveStatistic("accuracy", coverage)(confidence, correct)
