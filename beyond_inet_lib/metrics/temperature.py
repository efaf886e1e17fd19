"""Temperature scaling (Guo et al. 2017): one scalar T per model that divides the logits,
fitted by minimising the NLL on held-out labelled images; it changes confidence, never the
prediction (argmax of z / T is argmax of z for T > 0).

Protocol: ``docs/protocols.md`` §3. On ImageNet val the images are split into two seeded
halves; T fitted on one half scores the other, and the two scores are averaged
(``two_fold_split``, ``cross_fitted_temperatures``, ``two_fold_score``), so no image scores
a temperature fitted on itself. Under a distribution shift, the temperature fitted on all
of val is applied unchanged (calibrated in distribution, deployed under shift).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.optimize import minimize_scalar

from ._arrays import as_numpy
from .calibration import label_nll

#: the search range of T; a fit on its boundary means the data wanted a more extreme T
TEMPERATURE_BOUNDS = (0.05, 20.0)


def _logits_labels(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    """(z, y): z a float64 copy of the logits (the caller's array is never changed)."""
    z, y = _checked(logits, labels)
    return z.astype(np.float64, copy=True), y


def _checked(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    """(z, y) checked, z as given (not copied)."""
    z = as_numpy(logits)
    y = as_numpy(labels).astype(np.int64).ravel()
    if z.ndim != 2 or len(z) != len(y):
        raise ValueError(f"expected (N, C) logits and N labels, got {z.shape} and {y.shape}")
    if len(y) == 0:
        raise ValueError("no samples to fit a temperature on")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels must be column indices 0..{z.shape[1] - 1} of the logits "
                         "(with a class mask: slice the logits and map the labels with "
                         "metrics.mask_positions)")
    return z, y


def _nll_of_beta(z: np.ndarray, y: np.ndarray) -> Callable[[float], float]:
    """beta -> (1/N) sum_i [logsumexp(beta z_i) - beta z_{i, y_i}] for beta > 0, on ``z``
    (N, C) float64, which it takes over (shifted in place). Each row is shifted by its
    maximum m_i once, logsumexp(beta z_i) = beta m_i + log sum_k exp(beta (z_ik - m_i)),
    so an evaluation is one product, one exponential and one row sum into a reused buffer
    (the same arithmetic as scipy's ``logsumexp``, without its per-call passes)."""
    true = z[np.arange(len(y)), y]
    top = z.max(axis=1)
    z -= top[:, None]                      # <= 0: exp(beta z) cannot overflow for beta > 0
    gap = true - top
    buf = np.empty_like(z)

    def nll(beta: float) -> float:
        np.multiply(z, beta, out=buf)
        np.exp(buf, out=buf)
        return float(np.mean(np.log(buf.sum(axis=1)) - beta * gap))

    return nll


def temperature_nll(logits, labels, temperature: float) -> float:
    """NLL(T) = (1/N) sum_i [logsumexp(z_i / T) - z_{i, y_i} / T]  (nats)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return _nll_of_beta(*_logits_labels(logits, labels))(1.0 / temperature)


def fit_temperature(logits, labels, bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """T* = argmin_{T in bounds} (1/N) sum_i -log softmax(z_i / T)_{y_i}.

    Minimised over beta = 1/T, where the NLL, (1/N) sum_i [logsumexp(beta z_i) - beta z_{i,y_i}],
    is convex (a log-sum-exp of linear functions): scipy's bounded Brent search finds its one
    minimum to |d beta| < 1e-9. ``labels`` are column indices of ``logits``.
    """
    z, y = _logits_labels(logits, labels)
    lo, hi = bounds
    if not 0 < lo < hi:
        raise ValueError(f"temperature bounds must satisfy 0 < low < high, got {bounds}")
    res = minimize_scalar(_nll_of_beta(z, y), bounds=(1.0 / hi, 1.0 / lo), method="bounded",
                          options={"xatol": 1e-9, "maxiter": 500})
    return float(1.0 / res.x)


def scaled_confidence_and_nll(logits, labels, temperatures) -> tuple[np.ndarray, np.ndarray]:
    """Per image i, the largest probability of softmax(z_i / t_i) and the NLL term
    -log softmax(z_i / t_i)_{y_i}: the floating-point values of ``softmax_top`` and
    ``nll_terms`` on the scaled softmax, from one exponential of the logits (the largest
    probability is 1 / sum_k exp(z_ik / t_i - max_k z_ik / t_i)). ``temperatures``: one per
    image, or one for all."""
    z, y = _logits_labels(logits, labels)
    rows = np.arange(len(y))
    z /= np.broadcast_to(np.asarray(temperatures, dtype=np.float64), (len(y),))[:, None]
    z -= z[rows, z.argmax(axis=1)][:, None]
    np.exp(z, out=z)
    total = np.sum(z, axis=1, keepdims=True)[:, 0]
    return 1.0 / total, label_nll(z[rows, y] / total)


def two_fold_split(n: int, seed: int = 0) -> np.ndarray:
    """Fold id (0 or 1) of each of ``n`` images: a seeded random half each (sizes
    floor(n/2) and ceil(n/2)), independent of the images' order on disk."""
    if n < 2:
        raise ValueError(f"two folds need at least 2 images, got {n}")
    fold = np.zeros(n, dtype=np.int64)
    fold[np.random.default_rng(seed).permutation(n)[n // 2:]] = 1
    return fold


def cross_fitted_temperatures(logits, labels, fold) -> tuple[np.ndarray, tuple[float, float]]:
    """(T per image, (T_0, T_1)): ``T_f`` is fitted on fold f and applied to the OTHER fold,
    t_i = T_{1 - fold_i}, so every image is scored with a temperature it did not help fit."""
    z, y = _checked(logits, labels)        # each fold is copied once, by its own fit
    f = np.asarray(fold).astype(np.int64).ravel()
    if len(f) != len(y) or not np.isin(f, (0, 1)).all() or len(np.unique(f)) != 2:
        raise ValueError("fold must hold 0 or 1 for every image, both folds non-empty (two_fold_split)")
    temps = tuple(fit_temperature(z[f == k], y[f == k]) for k in (0, 1))
    return np.where(f == 0, temps[1], temps[0]), temps


def two_fold_score(score: Callable[..., float], fold, *arrays) -> float:
    """(score(fold 0's rows) + score(fold 1's rows)) / 2: the two-fold protocol's average.

    ``arrays`` are per-image arrays in the same order as ``fold``; a bootstrap that resamples
    images resamples ``fold`` with them, so ``partial(two_fold_score, score)`` is a statistic
    of (fold, *arrays). The temperatures stay as fitted (their own sampling error, with
    thousands of images per fold, is small beside the score's)."""
    f = np.asarray(fold).ravel()
    parts = []
    for k in (0, 1):
        rows = f == k
        if not rows.any():
            return float("nan")   # a resample that drew no image of one fold
        parts.append(score(*(np.asarray(a)[rows] for a in arrays)))
    return float(np.mean(parts))


class TwoFold:
    """``two_fold_score(score, fold, *arrays)`` as a statistic of (fold, *arrays). When
    ``score`` is a statistic of sums (``unit_sums`` / ``from_sums``, e.g.
    ``ExpectedCalibrationError``), so is this: each fold's totals side by side, the mean of
    the two folds' scores from them (a fold without rows gives NaN, as ``two_fold_score``)."""

    def __init__(self, score: Callable[..., float]):
        self.score = score
        if hasattr(score, "unit_sums") and hasattr(score, "from_sums"):
            self.unit_sums, self.from_sums = self._unit_sums, self._from_sums

    def __call__(self, fold, *arrays) -> float:
        return two_fold_score(self.score, fold, *arrays)

    def _unit_sums(self, ids, n_units: int, fold, *arrays) -> np.ndarray:
        f, ids = np.asarray(fold).ravel(), np.asarray(ids)
        return np.column_stack([self.score.unit_sums(ids[f == k], n_units, *(np.asarray(a)[f == k] for a in arrays))
                                for k in (0, 1)])

    def _from_sums(self, totals: np.ndarray) -> np.ndarray:
        half = totals.shape[-1] // 2
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.score.from_sums(totals[..., :half]) + self.score.from_sums(totals[..., half:])) / 2
