"""Which differences are real: bootstrap intervals, paired comparisons, McNemar's test and
the interval of error consistency (its formula: ``metrics.error_consistency``). Pure
functions: arrays in, numbers out; seeded, so a report is reproducible to the digit.

The unit of resampling is the image. When rows are cells of one image (ImageNet-C: one
image in 75 corruption x severity cells; an image scored under several views), pass
``groups`` (an image id per row) and whole images are resampled with all their rows.

Percentile bootstrap (Efron & Tibshirani 1993, ch. 13): draw B resamples of the n units with
replacement, compute the statistic on each, and report the (1 - level)/2 and
(1 + level)/2 quantiles of the B values. A paired comparison uses the SAME resamples for
both models (their rows must be the same images in the same order), so what the two share
(hard images) cancels in the difference.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .metrics import consistency as _consistency

#: what a statistic argument may be: a callable of the (resampled) arrays, or "mean"
Statistic = Callable[..., float] | str

# replicate chunks hold at most this many (replicate x unit) draws / weights (~40 MB each)
_CHUNK_CELLS = 5_000_000


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile-bootstrap interval.

    ``estimate``, ``low``, ``high``: floats (or arrays, for a statistic that returns a
    vector); ``n_units``: images (or groups) resampled; ``n_failed``: replicates whose
    statistic was NaN (left out of the quantiles; e.g. a shape bias with no decided image).
    """

    estimate: float
    low: float
    high: float
    level: float
    n_boot: int
    n_units: int
    n_failed: int = 0

    def contains(self, value: float = 0.0) -> bool | np.ndarray:
        """low <= value <= high."""
        return (self.low <= value) & (value <= self.high)

    @property
    def half_width(self):
        return (self.high - self.low) / 2

    def as_dict(self) -> dict:
        return asdict(self)


def is_significant(interval: Interval) -> bool | np.ndarray:
    """A paired difference is "real" at the interval's level when its interval excludes 0
    (low > 0 or high < 0); "not significant" = it contains 0. A NaN interval is not."""
    low, high = np.asarray(interval.low), np.asarray(interval.high)
    out = (low > 0) | (high < 0)
    return bool(out) if out.ndim == 0 else out


# ============================================================================ resampling


def _units(n_rows: int, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit id per row, row order sorted by unit, unit start offsets into that order).

    Without groups every row is its own unit."""
    if groups is None:
        ids = np.arange(n_rows)
        return ids, ids, np.arange(n_rows + 1)
    g = np.asarray(groups)
    if len(g) != n_rows:
        raise ValueError(f"groups has {len(g)} entries but the arrays have {n_rows} rows")
    _, ids = np.unique(g, return_inverse=True)
    order = np.argsort(ids, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(ids))])
    return ids, order, offsets


def _resample_chunks(n_units: int, n_boot: int, seed: int, chunk: int):
    """Yield (chunk, n_units) arrays of unit indices drawn with replacement; one seeded
    stream, so the fast and the generic path (and models A and B) see the same resamples."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_boot:
        size = min(chunk, n_boot - done)
        yield rng.integers(0, n_units, size=(size, n_units))
        done += size


def _rows_of(units: np.ndarray, order: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """All row indices of the drawn units (a unit drawn twice contributes its rows twice)."""
    starts, lens = offsets[units], offsets[units + 1] - offsets[units]
    if np.all(lens == 1):
        return order[starts]
    first = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return order[first + np.arange(lens.sum())]


def _take(a, rows: np.ndarray):
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return a.iloc[rows]
    return a[rows]


def _indexable(a):
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return a
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except ValueError:  # ragged (label sets): an object array of the rows
        out = np.empty(len(a), dtype=object)
        out[:] = list(a)
        return out


def _n_rows(arrays) -> int:
    n = {len(a) for a in arrays}
    if len(n) != 1:
        raise ValueError(f"the arrays differ in length: {sorted(n)}; rows must be the same images")
    (n,) = n
    if n == 0:
        raise ValueError("no rows to resample")
    return n


def _chunk(n_units: int, n_boot: int) -> int:
    """Replicates drawn per call: the same for every path, so the same seed gives the same
    resamples (numpy's bounded-integer stream depends on how draws are split into calls)."""
    return max(1, min(n_boot, _CHUNK_CELLS // max(n_units, 1)))


def _unit_sums(values, ids: np.ndarray, n_units: int, cells=None) -> tuple[np.ndarray, np.ndarray]:
    """(num, den), each (n_units, k): per unit, the sum of its values and its row count.

    Plain mean: k = the value columns ((n,) values: k = 1). With ``cells`` (a label per
    row): k = the number of cells, column c summing the unit's rows in cell c, so that
    num_c / den_c over any set of units is cell c's mean on those units."""
    v = np.asarray(values, dtype=np.float64)
    if cells is None:
        v = v.reshape(len(v), -1)
        num = np.stack([np.bincount(ids, weights=v[:, j], minlength=n_units) for j in range(v.shape[1])], axis=1)
        den = np.repeat(np.bincount(ids, minlength=n_units)[:, None].astype(np.float64), v.shape[1], axis=1)
        return num, den
    if v.ndim != 1:
        raise ValueError("with cells, values must be one value per row")
    _, cell = np.unique(np.asarray(cells), return_inverse=True)
    k = int(cell.max()) + 1
    flat = ids * k + cell
    num = np.bincount(flat, weights=v, minlength=n_units * k).reshape(n_units, k)
    den = np.bincount(flat, minlength=n_units * k).reshape(n_units, k).astype(np.float64)
    return num, den


def _replicate_means(values, ids, n_units, n_boot, seed, cells=None) -> np.ndarray:
    """(n_boot, k) means of each replicate: sum_u w_u num_u / sum_u w_u den_u, w_u = times
    unit u was drawn. One matrix product per chunk of replicates, no loop over replicates."""
    num, den = _unit_sums(values, ids, n_units, cells)
    out = []
    for draws in _resample_chunks(n_units, n_boot, seed, _chunk(n_units, n_boot)):
        size = len(draws)
        flat = (np.arange(size)[:, None] * n_units + draws).ravel()
        w = np.bincount(flat, minlength=size * n_units).reshape(size, n_units).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((w @ num) / (w @ den))
    return np.concatenate(out)


def _mean_point(values, ids, n_units, cells=None):
    """The "mean" statistic on the data itself (every unit once)."""
    num, den = _unit_sums(values, ids, n_units, cells)
    means = num.sum(axis=0) / den.sum(axis=0)
    return _scalar(np.nanmean(means) if cells is not None else (means[0] if len(means) == 1 else means))


def _is_mean(statistic) -> bool:
    return statistic == "mean" if isinstance(statistic, str) else statistic is np.mean


def _replicates(statistic, arrays, ids, order, offsets, n_boot, seed, cells) -> np.ndarray:
    """(n_boot,) or (n_boot, k) statistic values, one per resample."""
    n_units = len(offsets) - 1
    if _is_mean(statistic):
        if len(arrays) != 1:
            raise ValueError('statistic="mean" takes one array of per-row values')
        reps = _replicate_means(arrays[0], ids, n_units, n_boot, seed, cells)
        reps = np.nanmean(reps, axis=1) if cells is not None else reps
        return reps[:, 0] if reps.ndim == 2 and reps.shape[1] == 1 else reps
    if cells is not None:
        raise ValueError('cells= belongs to statistic="mean"; a callable statistic groups rows itself')
    if not callable(statistic):
        raise ValueError(f'statistic must be "mean" or a callable, not {statistic!r}')
    reps = []
    for draws in _resample_chunks(n_units, n_boot, seed, _chunk(n_units, n_boot)):
        for units in draws:
            rows = _rows_of(units, order, offsets)
            reps.append(np.asarray(statistic(*[_take(a, rows) for a in arrays]), dtype=np.float64))
    return np.stack(reps)


def _point(statistic, arrays, ids, n_units, cells):
    if _is_mean(statistic):
        return _mean_point(arrays[0], ids, n_units, cells)
    return _scalar(statistic(*arrays))


def _interval(estimate, reps: np.ndarray, level: float, n_boot: int, n_units: int) -> Interval:
    failed = np.isnan(reps).reshape(len(reps), -1).any(axis=1)
    if failed.all():
        nan = np.full(np.shape(estimate), np.nan)
        return Interval(estimate, _scalar(nan), _scalar(nan), level, n_boot, n_units, int(failed.sum()))
    alpha = (1.0 - level) / 2
    low, high = np.nanquantile(reps, [alpha, 1.0 - alpha], axis=0)
    return Interval(estimate, _scalar(low), _scalar(high), level, n_boot, n_units, int(failed.sum()))


def _scalar(x):
    x = np.asarray(x, dtype=np.float64)
    return float(x) if x.ndim == 0 else x


def _check(n_boot: int, level: float):
    if int(n_boot) < 1:
        raise ValueError("n_boot must be >= 1")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")


# ================================================================== public intervals


def bootstrap_ci(statistic: Statistic, *arrays, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0, groups=None, cells=None) -> Interval:
    """Percentile-bootstrap interval of ``statistic(*arrays)`` over images (rows).

    Each replicate draws the n units (rows, or the distinct ``groups`` values: all rows of
    a drawn group come along) with replacement, and evaluates the statistic on those rows
    of every array; interval = [q_(1-level)/2, q_(1+level)/2] of the replicates.

    ``statistic``:
    - ``"mean"`` (or ``np.mean``): the mean of ``arrays[0]``'s per-row values (0/1
      correctness -> accuracy), computed for all replicates at once (fast: ImageNet val x
      1,000 replicates in about a second). (n, k) values give k means at once. With
      ``cells`` (a label per row), the statistic is the unweighted mean over cells of each
      cell's mean: ImageNet-C's mean over corruptions x severities, PUG's mean over factors.
    - any callable of the arrays returning a number (or a vector): ECE, shape bias, an
      error ratio, kappa. Arrays may be numpy arrays, lists (ragged ones too) or pandas
      objects (rows taken with ``.iloc``). Called ``n_boot`` times.

    Both paths draw the same resamples for the same seed. Returns an ``Interval``.
    """
    _check(n_boot, level)
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array")
    estimate, reps, n_units = _resampled(statistic, arrays, n_boot, seed, groups, cells)
    return _interval(estimate, reps, level, n_boot, n_units)


def _as_tuple(arrays) -> tuple:
    if isinstance(arrays, tuple):
        return arrays
    return (arrays,)


def paired_bootstrap(statistic: Statistic, arrays_a, arrays_b, *, n_boot: int = 1000,
                     level: float = 0.95, seed: int = 0, groups=None, cells=None) -> Interval:
    """Interval of statistic(A) - statistic(B), both computed on the same resampled images.

    ``arrays_a`` / ``arrays_b``: one array, or a tuple of arrays (the statistic's
    arguments) per model, row i of every array being the same image. Each replicate draws
    one set of units and evaluates both models on it; the interval is over the B
    differences. Identical models give exactly 0 for every replicate. Significance:
    ``is_significant(interval)`` (the interval excludes 0).
    """
    _check(n_boot, level)
    a = tuple(_indexable(x) for x in _as_tuple(arrays_a))
    b = tuple(_indexable(x) for x in _as_tuple(arrays_b))
    n = _n_rows(a + b)
    ids, order, offsets = _units(n, groups)
    n_units = len(offsets) - 1
    est = np.asarray(_point(statistic, a, ids, n_units, cells)) - np.asarray(_point(statistic, b, ids, n_units, cells))
    ra = _replicates(statistic, a, ids, order, offsets, n_boot, seed, cells)
    rb = _replicates(statistic, b, ids, order, offsets, n_boot, seed, cells)
    return _interval(_scalar(est), ra - rb, level, n_boot, len(offsets) - 1)


def pairwise_ranking(statistic: Statistic, arrays_by_model: Mapping[str, object], *,
                     higher_is_better: bool = True, n_boot: int = 1000, level: float = 0.95,
                     seed: int = 0, groups=None, cells=None) -> pd.DataFrame:
    """For every pair of models, whether their order holds: the paired interval of
    statistic(better) - statistic(worse) excludes 0.

    ``arrays_by_model``: model -> its array (or tuple of arrays) on the same images.
    One row per pair, the better one by point estimate first: better, worse, difference
    (>= 0 when higher is better, <= 0 otherwise), low, high, holds (bool). Sorted as the
    models rank. No correction for multiple comparisons: with many pairs, some "holds" are
    expected by chance at the nominal level.
    """
    names = list(arrays_by_model)
    if len(names) < 2:
        raise ValueError("pairwise_ranking needs at least two models")
    first = tuple(_indexable(x) for x in _as_tuple(arrays_by_model[names[0]]))
    ids, _, offsets = _units(_n_rows(first), groups)
    point = {m: _point(statistic, tuple(_indexable(x) for x in _as_tuple(arrays_by_model[m])),
                       ids, len(offsets) - 1, cells)
             for m in names}
    if any(np.ndim(v) for v in point.values()):
        raise ValueError("pairwise_ranking needs a statistic that returns one number")
    ranked = sorted(names, key=lambda m: point[m], reverse=higher_is_better)
    rows = []
    for better, worse in itertools.combinations(ranked, 2):
        iv = paired_bootstrap(statistic, arrays_by_model[better], arrays_by_model[worse],
                              n_boot=n_boot, level=level, seed=seed, groups=groups, cells=cells)
        rows.append({"better": better, "worse": worse, "difference": iv.estimate,
                     "low": iv.low, "high": iv.high, "holds": bool(is_significant(iv))})
    return pd.DataFrame(rows)


# ======================================================= several independent samples


def bootstrap_replicates(statistic: Statistic, *arrays, n_boot: int = 1000, seed: int = 0,
                         groups=None, cells=None) -> tuple[float, np.ndarray]:
    """(estimate, replicates): ``bootstrap_ci``'s point estimate and its ``n_boot``
    replicate values (same resamples for the same seed), before any quantile is taken:
    what ``mean_of_independent`` combines."""
    _check(n_boot, 0.95)
    if not arrays:
        raise ValueError("bootstrap_replicates needs at least one array")
    estimate, reps, _ = _resampled(statistic, arrays, n_boot, seed, groups, cells)
    return estimate, reps


def _resampled(statistic, arrays, n_boot: int, seed: int, groups, cells):
    """(point estimate, replicates, number of resampling units): the one resampling path."""
    arrays = tuple(_indexable(a) for a in arrays)
    n = _n_rows(arrays)
    if cells is not None and len(cells) != n:
        raise ValueError(f"cells has {len(cells)} entries but the arrays have {n} rows")
    ids, order, offsets = _units(n, groups)
    estimate = _point(statistic, arrays, ids, len(offsets) - 1, cells)
    return estimate, _replicates(statistic, arrays, ids, order, offsets, n_boot, seed, cells), len(offsets) - 1


def mean_of_independent(parts: Sequence[tuple[float, np.ndarray]], *, level: float = 0.95,
                        n_units: int = 0) -> Interval:
    """Interval of the mean of K statistics measured on K independent samples (the
    robustness "mean of 7" over seven datasets; the VTAB mean over 19 tasks' test sets).

    ``parts``: one (estimate, replicates) per sample (``bootstrap_replicates``), each
    sample resampled on its own with the same number of replicates B. Because the samples
    are independent, replicate b of the mean is the mean of the K replicates b:

        theta*_b = (1/K) sum_k theta*_{k,b},   estimate = (1/K) sum_k estimate_k

    and the interval is the percentile interval of the B values theta*_b. Pass differences
    (estimate_a - estimate_b, reps_a - reps_b) per sample, drawn with the same seeds for
    both models, for a paired interval of the difference of two means. A replicate that is
    NaN in any part is left out (counted in ``n_failed``). ``n_units``: reported only.
    """
    if not parts:
        raise ValueError("mean_of_independent needs at least one sample")
    reps = [np.asarray(r, dtype=np.float64) for _, r in parts]
    sizes = {len(r) for r in reps}
    if len(sizes) != 1:
        raise ValueError(f"every sample needs the same number of replicates, got {sorted(sizes)}")
    (n_boot,) = sizes
    _check(n_boot, level)
    estimate = float(np.mean([float(e) for e, _ in parts]))
    return _interval(estimate, np.mean(np.stack(reps), axis=0), level, n_boot, n_units)


# ================================================================== paired tests


def mcnemar_exact(correct_a, correct_b) -> dict:
    """Exact two-sided McNemar test of "A and B are equally accurate on these images".

    2x2 table [[both right, A right B wrong], [A wrong B right, both wrong]];
    with the discordant counts b (A right, B wrong) and c (A wrong, B right), under H0 each
    discordant image goes either way with probability 1/2:
        p = min(1, 2 * P[Binomial(b + c, 1/2) <= min(b, c)])   (p = 1 when b + c = 0).
    Returns dict: p_value, table (2x2 int array), b, c, n.
    """
    from scipy.stats import binom

    a, b_ = _consistency.paired_trials(correct_a, correct_b)
    table = np.array([[np.sum(a & b_), np.sum(a & ~b_)], [np.sum(~a & b_), np.sum(~a & ~b_)]])
    b, c = int(table[0, 1]), int(table[1, 0])
    p = 1.0 if b + c == 0 else min(1.0, 2.0 * float(binom.cdf(min(b, c), b + c, 0.5)))
    return {"p_value": p, "table": table, "b": b, "c": c, "n": int(len(a))}


def error_consistency_ci(correct_a, correct_b, *, n_boot: int = 1000, level: float = 0.95,
                         seed: int = 0, groups=None) -> Interval:
    """``metrics.error_consistency``'s kappa with a percentile-bootstrap interval over trials.

    Each replicate resamples trials (or ``groups``) and recomputes p_a, p_b and c_obs from
    the same rows, all replicates at once (kappa is a function of three means)."""
    _check(n_boot, level)
    a, b = _consistency.paired_trials(correct_a, correct_b)
    values = np.column_stack([a, b, a == b]).astype(np.float64)
    ids, _, offsets = _units(len(a), groups)
    m = _replicate_means(values, ids, len(offsets) - 1, n_boot, seed)
    p_a, p_b, c_obs = m[:, 0], m[:, 1], m[:, 2]
    reps = _consistency.kappa(c_obs, p_a * p_b + (1 - p_a) * (1 - p_b))
    return _interval(_consistency.error_consistency(a, b)["kappa"], reps, level, n_boot, len(offsets) - 1)


__all__: Sequence[str] = (
    "Interval", "bootstrap_ci", "bootstrap_replicates", "error_consistency_ci",
    "is_significant", "mcnemar_exact", "mean_of_independent", "paired_bootstrap", "pairwise_ranking",
    "interval_of_replicates", "resample_counts",
)


# ============================================================ resamples as draw counts


def resample_counts(n_units: int, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """(n_boot, n_units) draw counts: how often each unit is drawn in each resample, for the
    SAME resamples ``bootstrap_ci`` draws with this seed. For statistics that score a
    resample from weights instead of resampled rows (``metrics.class_calibration_replicates``,
    ``metrics.ood_replicates``): their replicates then pair with every other interval
    drawn with the seed."""
    _check(n_boot, 0.95)
    out = np.zeros((int(n_boot), int(n_units)), dtype=np.int64)
    done = 0
    for draws in _resample_chunks(int(n_units), int(n_boot), seed, _chunk(int(n_units), int(n_boot))):
        for units in draws:
            out[done] = np.bincount(units, minlength=n_units)
            done += 1
    return out


def interval_of_replicates(estimate: float, replicates, *, level: float = 0.95, n_units: int = 0) -> Interval:
    """The percentile interval of replicates a statistic computed itself (from
    ``resample_counts``): [q_(1-level)/2, q_(1+level)/2]; NaN replicates are left out."""
    reps = np.asarray(replicates, dtype=np.float64)
    _check(len(reps), level)
    return _interval(estimate, reps, level, len(reps), n_units)
