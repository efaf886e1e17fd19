"""Which differences are real: bootstrap intervals, paired comparisons, McNemar's test and
the interval of error consistency (its formula: ``metrics.error_consistency``). Pure
functions: arrays in, numbers out; seeded, so a report is reproducible to the digit.

The unit of resampling is the image. When rows are cells of one image (ImageNet-C: one
image in 75 corruption x severity cells; an image scored under several views), pass
``groups`` (an image id per row) and whole images are resampled with all their rows.

Percentile bootstrap (Efron & Tibshirani 1993, ch. 13): draw B resamples of the n units with
replacement, compute the statistic on each, and report the a and 1 - a quantiles of the B
values. The percentile interval is too narrow in small samples (the bootstrap's spread is
that of a sample of n, shrunk by sqrt((n - 1)/n), and it uses the normal quantile where a
mean needs Student's t): a = (1 - level)/2 is widened to the expanded percentile interval's
a = Phi(sqrt(n/(n - 1)) t_{n-1, (1 - level)/2}) (Hesterberg 2015), which measured coverage
needs with tens of images or fewer (tests/test_coverage.py) and which changes nothing that
shows at a thousand. A paired comparison uses the SAME resamples for both models (their
rows must be the same images in the same order), so what the two share (hard images)
cancels in the difference.

Every kind of interval the report prints has its coverage measured by simulation with a
known truth at the profiles' sizes (tests/test_coverage.py; the table is in
docs/protocols.md, section 0).
"""

from __future__ import annotations

import functools
import itertools
import threading
from dataclasses import asdict, dataclass, replace
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .metrics import consistency as _consistency

#: what a statistic argument may be: a callable of the (resampled) arrays, or "mean"
Statistic = Callable[..., float] | str

# replicate chunks hold at most this many (replicate x unit) draws / weights (~80 MB each)
_CHUNK_CELLS = 10_000_000


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile-bootstrap interval.

    ``estimate``, ``low``, ``high``: floats (or arrays, for a statistic that returns a
    vector); ``n_units``: images (or groups) resampled; ``n_failed``: replicates whose
    statistic was NaN (left out of the quantiles; e.g. a shape bias with no decided image);
    ``resampled``: what the interval resampled, where it is not just the images, and so
    what it speaks for (``observer_consistency_ci``: "stimuli" = these observers,
    "observers and stimuli" = people in general).
    """

    estimate: float
    low: float
    high: float
    level: float
    n_boot: int
    n_units: int
    n_failed: int = 0
    resampled: str = ""

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


def _units(n_rows: int, groups, universe=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit id per row, row order sorted by unit, unit start offsets into that order).

    Without groups every row is its own unit. With ``universe`` (every unit id of a
    population several samples share) the units are the universe's, in its sorted order,
    units without rows included: every sample of that universe then draws the same units
    for the same seed."""
    if groups is None:
        if universe is not None:
            raise ValueError("universe= needs groups= (the universe's unit id of every row)")
        ids = np.arange(n_rows)
        return ids, ids, np.arange(n_rows + 1)
    g = np.asarray(groups)
    if len(g) != n_rows:
        raise ValueError(f"groups has {len(g)} entries but the arrays have {n_rows} rows")
    if universe is None:
        _, ids = np.unique(g, return_inverse=True)
        n_units = int(ids.max()) + 1
    else:
        u = np.unique(np.asarray(universe))
        ids = np.searchsorted(u, g)
        if (ids >= len(u)).any() or not np.array_equal(u[np.minimum(ids, len(u) - 1)], g):
            raise ValueError("some groups are not in the universe; it must hold every unit id of every sample")
        n_units = len(u)
    order = np.argsort(ids, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(ids, minlength=n_units))])
    return ids, order, offsets


def _resample_chunks(n_units: int, n_boot: int, seed: int, chunk: int):
    """Yield (chunk, n_units) arrays of unit indices drawn with replacement; one seeded
    stream, so the fast and the generic path (and models A and B) see the same resamples."""
    rng = np.random.default_rng(seed)
    dtype = np.int32 if n_units < 2**31 else np.int64      # half the bits to draw
    done = 0
    while done < n_boot:
        size = min(chunk, n_boot - done)
        yield rng.integers(0, n_units, size=(size, n_units), dtype=dtype)
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
    """(num, den): per unit, the sum of its values (n_units, k) and its row count
    (n_units, 1), which serves every column.

    Plain mean: k = the value columns ((n,) values: k = 1). With ``cells`` (a label per
    row): k = the number of cells, column c summing the unit's rows in cell c, so that
    num_c / den_c over any set of units is cell c's mean on those units (den is then
    (n_units, k) too)."""
    v = np.asarray(values, dtype=np.float64)
    if cells is None:
        v = v.reshape(len(v), -1)
        # one count column serves every value column (the division broadcasts)
        if len(ids) == n_units and n_units == len(v) and np.array_equal(ids, np.arange(n_units)):
            return v, np.ones((n_units, 1))      # every row its own unit: nothing to sum
        num = np.stack([np.bincount(ids, weights=v[:, j], minlength=n_units) for j in range(v.shape[1])], axis=1)
        return num, np.bincount(ids, minlength=n_units)[:, None].astype(np.float64)
    if v.ndim != 1:
        raise ValueError("with cells, values must be one value per row")
    _, cell = np.unique(np.asarray(cells), return_inverse=True)
    k = int(cell.max()) + 1
    flat = ids * k + cell
    num = np.bincount(flat, weights=v, minlength=n_units * k).reshape(n_units, k)
    den = np.bincount(flat, minlength=n_units * k).reshape(n_units, k).astype(np.float64)
    return num, den


# the last weight matrices drawn, by (n_units, n_boot, seed): every model of a comparison,
# both sides of a paired interval and every sample of one universe draw the same resamples,
# and need not draw them again. Up to 200 M cells in all (1.6 GB), the least recently used
# dropped first: ImageNet val's 50,000 images x 1,000 resamples, under the few seeds a page
# alternates between, is drawn once for 30 models, not 30 times (1-2 s each)
_WEIGHT_CACHE: dict = {}
_WEIGHT_LOCK = threading.Lock()
_CACHE_CELLS = 200_000_000


def _weights(n_units: int, n_boot: int, seed: int):
    """Yield (chunk, n_units) float arrays: w[b, u] = how often replicate b drew unit u.
    Read-only: the same arrays may be handed out again for the same arguments."""
    key = (int(n_units), int(n_boot), int(seed))
    with _WEIGHT_LOCK:             # models' statistics may be resampled in several threads
        cached = _WEIGHT_CACHE.pop(key, None)
        if cached is not None:
            _WEIGHT_CACHE[key] = cached                    # the most recently used last
    if cached is not None:
        yield from cached
        return
    kept = [] if n_units * n_boot <= _CACHE_CELLS // 2 else None
    for draws in _resample_chunks(n_units, n_boot, seed, _chunk(n_units, n_boot)):
        w = np.empty(draws.shape, dtype=np.float64)
        for row, d in zip(w, draws):        # one replicate at a time: its counts fit in cache
            row[:] = np.bincount(d, minlength=n_units)
        w.flags.writeable = False
        if kept is not None:
            kept.append(w)
        yield w
    if kept is not None:
        with _WEIGHT_LOCK:
            _WEIGHT_CACHE[key] = kept
            while sum(k[0] * k[1] for k in _WEIGHT_CACHE) > _CACHE_CELLS:
                del _WEIGHT_CACHE[next(iter(_WEIGHT_CACHE))]


def _replicate_means(values, ids, n_units, n_boot, seed, cells=None) -> np.ndarray:
    """(n_boot, k) means of each replicate: sum_u w_u num_u / sum_u w_u den_u, w_u = times
    unit u was drawn. One matrix product per chunk of replicates, no loop over replicates."""
    return _means_of_sums(*_unit_sums(values, ids, n_units, cells), n_units, n_boot, seed)


def _means_of_sums(num, den, n_units, n_boot, seed) -> np.ndarray:
    """``_replicate_means`` from the units' sums (``_unit_sums``)."""
    out = []
    for w in _weights(n_units, n_boot, seed):
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((w @ num) / (w @ den))
    return np.concatenate(out)


def _replicate_totals(values, ids, n_units, n_boot, seed) -> np.ndarray:
    """(n_boot, k) sums of each replicate's rows: sum_u w_u num_u (the same draws as
    ``_replicate_means``)."""
    num, _ = _unit_sums(values, ids, n_units)
    return np.concatenate([w @ num for w in _weights(n_units, n_boot, seed)])


@dataclass(frozen=True)
class CellMeans:
    """Each cell's mean on one sample and on every bootstrap resample of its units: the
    statistic of ``bootstrap_ci("mean", ..., cells=)`` before the cells are averaged, so
    that the mean over any set of the cells (ImageNet-C's mean over all 75 cells, over one
    corruption's severities, over one severity's corruptions) has its interval from one
    resampling instead of one each. ``cell_means`` makes it."""

    labels: np.ndarray             # (k,) the cell labels, sorted
    point: np.ndarray              # (k,) each cell's mean on the data
    replicates: np.ndarray | None  # (n_boot, k) on each resample; None without resamples
    n_units: int

    def mean(self, labels=None) -> tuple[float, np.ndarray | None]:
        """(estimate, replicates) of the unweighted mean over the cells ``labels`` (default:
        all): what ``bootstrap_replicates("mean", ..., cells=)`` gives on those cells' rows
        when every unit has rows in every cell (the same resamples then); otherwise the
        units resampled are all of the sample's, those without rows in the chosen cells
        adding nothing."""
        cols = slice(None)
        if labels is not None:
            wanted = np.unique(np.asarray(labels))
            cols = np.minimum(np.searchsorted(self.labels, wanted), len(self.labels) - 1)
            if not np.array_equal(self.labels[cols], wanted):
                raise ValueError(f"cells {sorted(set(wanted) - set(self.labels))} are not in this sample")
        with np.errstate(invalid="ignore"):
            estimate = float(np.nanmean(self.point[cols]))
            reps = None if self.replicates is None else np.nanmean(self.replicates[:, cols], axis=1)
        return estimate, reps

    def interval(self, labels=None, level: float = 0.95) -> Interval | None:
        """The expanded percentile interval of ``mean(labels)`` (None without resamples)."""
        estimate, reps = self.mean(labels)
        if reps is None:
            return None
        return interval_from_replicates(estimate, reps, level=level, n_units=self.n_units)


def cell_means(values, *, cells, groups=None, n_boot: int = 1000, seed: int = 0) -> CellMeans:
    """``CellMeans`` of per-row ``values`` (0/1 correctness) in ``cells`` (a label per row),
    the units (rows, or ``groups``) resampled ``n_boot`` times (0: no replicates) from
    ``seed``: the resamples of ``bootstrap_ci`` with the same arguments."""
    v = _indexable(values)
    n = _n_rows((v,))
    if len(cells) != n:
        raise ValueError(f"cells has {len(cells)} entries but the values have {n} rows")
    ids, _, offsets = _units(n, groups)
    n_units = len(offsets) - 1
    num, den = _unit_sums(v, ids, n_units, cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        point = num.sum(axis=0) / den.sum(axis=0)
    reps = _means_of_sums(num, den, n_units, int(n_boot), seed) if n_boot else None
    return CellMeans(np.unique(np.asarray(cells)), point, reps, n_units)


def replicates_by_cell(statistic, *arrays, cells, groups=None, n_boot: int = 1000,
                       seed: int = 0) -> tuple[int, dict]:
    """(units, {cell: (estimate, replicates)}) of a statistic of sums (``unit_sums`` /
    ``from_sums``: ``metrics.ExpectedCalibrationError``) on each cell's rows (``cells``: a
    label per row; ImageNet-C's severities) and, under the key None, on all the rows, from
    one resampling of the units (rows, or ``groups``): every unit's totals per cell side by
    side, one product per chunk of resamples. Replicate b of each cell is that cell's rows of
    resample b: ``bootstrap_replicates`` of the cell's rows with ``universe=`` the units of
    all rows (the same as without it when every unit has rows in every cell). ``n_boot`` 0:
    the estimates alone (replicates None). ``units``: the number of units resampled."""
    if not (hasattr(statistic, "unit_sums") and hasattr(statistic, "from_sums")):
        raise ValueError("replicates_by_cell takes a statistic of sums (unit_sums / from_sums)")
    arrays = tuple(_indexable(a) for a in arrays)
    n = _n_rows(arrays)
    if len(cells) != n:
        raise ValueError(f"cells has {len(cells)} entries but the arrays have {n} rows")
    ids, _, offsets = _units(n, groups)
    n_units = len(offsets) - 1
    labels, code = np.unique(np.asarray(cells), return_inverse=True)
    parts = [np.asarray(statistic.unit_sums(ids[code == k], n_units, *(a[code == k] for a in arrays)),
                        dtype=np.float64) for k in range(len(labels))]
    sums = np.hstack(parts)
    # (cells, totals) on the data and (resamples, cells, totals) on each resample
    point = sums.sum(axis=0).reshape(len(labels), -1)
    reps = (np.concatenate([w @ sums for w in _weights(n_units, n_boot, seed)]).reshape(n_boot, len(labels), -1)
            if n_boot else None)

    def of(total, drawn):
        return float(statistic.from_sums(total)), None if drawn is None else statistic.from_sums(drawn)

    out = {label: of(point[k], None if reps is None else reps[:, k]) for k, label in enumerate(labels.tolist())}
    out[None] = of(point.sum(axis=0), None if reps is None else reps.sum(axis=1))
    return n_units, out


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
    if hasattr(statistic, "unit_sums") and hasattr(statistic, "from_sums"):
        # a statistic of sums (metrics.ExpectedCalibrationError): every resample at once from
        # the units' totals, the same resamples as the loop below
        sums = np.asarray(statistic.unit_sums(ids, n_units, *arrays), dtype=np.float64)
        return np.concatenate([statistic.from_sums(w @ sums) for w in _weights(n_units, n_boot, seed)])
    if hasattr(statistic, "weighted"):
        # a statistic of count-weighted rows (metrics.SelectiveStatistic): a chunk of
        # resamples at once from each row's draw count, the same resamples as the loop below
        return np.concatenate([statistic.weighted(w[:, ids], *arrays) for w in _weights(n_units, n_boot, seed)])
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


@functools.lru_cache(maxsize=256)
def tail_probability(level: float, n_units: int = 0) -> float:
    """The quantile a bootstrap interval at ``level`` takes on each side: (1 - level)/2, or,
    with ``n_units`` >= 2 resampled units, the expanded percentile interval's
    a = Phi(sqrt(n/(n - 1)) t_{n-1, (1 - level)/2}) (Hesterberg 2015, sec. 5.3), which
    restores the coverage a percentile interval loses in small samples. 0: unexpanded."""
    alpha = (1.0 - level) / 2
    n = int(n_units)
    if n < 2:
        return alpha
    from scipy.stats import norm, t

    return float(norm.cdf(np.sqrt(n / (n - 1)) * t.ppf(alpha, n - 1)))


def interval_from_replicates(estimate, replicates, *, level: float = 0.95, n_units: int = 0,
                             n_boot: int | None = None) -> Interval:
    """The (expanded) percentile interval of bootstrap ``replicates`` ((B,) or (B, k)):
    [q_a, q_(1-a)] with a = ``tail_probability(level, n_units)``. Replicates that are NaN
    are left out (``n_failed``); with one unit (``n_units`` == 1) there is no interval (NaN):
    every resample is that unit."""
    reps = np.asarray(replicates, dtype=np.float64)
    n_boot = len(reps) if n_boot is None else n_boot
    failed = np.isnan(reps).reshape(len(reps), -1).any(axis=1)
    if failed.all() or n_units == 1:
        nan = np.full(np.shape(estimate), np.nan)
        return Interval(estimate, _scalar(nan), _scalar(nan), level, n_boot, n_units, int(failed.sum()))
    alpha = tail_probability(float(level), int(n_units))
    quantile = np.nanquantile if failed.any() else np.quantile    # nanquantile loops over columns
    low, high = quantile(reps, [alpha, 1.0 - alpha], axis=0)
    return Interval(estimate, _scalar(low), _scalar(high), level, n_boot, n_units, int(failed.sum()))


def _interval(estimate, reps: np.ndarray, level: float, n_boot: int, n_units: int) -> Interval:
    return interval_from_replicates(estimate, reps, level=level, n_units=n_units, n_boot=n_boot)


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
                 seed: int = 0, groups=None, cells=None, universe=None) -> Interval:
    """Percentile-bootstrap interval of ``statistic(*arrays)`` over images (rows).

    Each replicate draws the n units (rows, or the distinct ``groups`` values: all rows of
    a drawn group come along) with replacement, and evaluates the statistic on those rows
    of every array; interval = [q_a, q_(1-a)] of the replicates, a the expanded percentile
    interval's tail (``tail_probability``: (1 - level)/2 widened for a small number of units;
    no interval from one unit).

    ``statistic``:
    - ``"mean"`` (or ``np.mean``): the mean of ``arrays[0]``'s per-row values (0/1
      correctness -> accuracy), computed for all replicates at once (fast: ImageNet val x
      1,000 replicates in about a second). (n, k) values give k means at once. With
      ``cells`` (a label per row), the statistic is the unweighted mean over cells of each
      cell's mean: ImageNet-C's mean over corruptions x severities, PUG's mean over factors.
    - any callable of the arrays returning a number (or a vector): ECE, shape bias, an
      error ratio, kappa. Arrays may be numpy arrays, lists (ragged ones too) or pandas
      objects (rows taken with ``.iloc``). Called ``n_boot`` times, unless it is a
      statistic of sums (``unit_sums(ids, n_units, *arrays)`` -> per-unit totals and
      ``from_sums(totals)`` -> the statistic; ``metrics.ExpectedCalibrationError``): then
      every replicate at once from the resampled units' totals; or a statistic of
      count-weighted rows (``weighted(row_weights (R, n), *arrays)`` -> R values;
      ``metrics.SelectiveStatistic``): then a chunk of replicates at once from each row's
      draw count.

    Both paths draw the same resamples for the same seed. ``universe``: see
    ``bootstrap_replicates``. Returns an ``Interval``.
    """
    _check(n_boot, level)
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array")
    estimate, reps, n_units = _resampled(statistic, arrays, n_boot, seed, groups, cells, universe)
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
                     seed: int = 0, groups=None, cells=None, simultaneous: bool = True) -> pd.DataFrame:
    """For every pair of models, whether their order holds: the interval of
    statistic(better) - statistic(worse) excludes 0.

    ``arrays_by_model``: model -> its array (or tuple of arrays) on the same images.
    One row per pair, the better one by point estimate first: better, worse, difference
    (>= 0 when higher is better, <= 0 otherwise), low, high, holds (bool). Sorted as the
    models rank.

    ``simultaneous`` (the default): the intervals hold for all pairs at once
    (``simultaneous_differences`` on every model's replicates, all drawn on the same
    resamples), so the chance that any "holds" of this metric is false is at most
    1 - ``level``. False: each pair's own paired percentile interval (``paired_bootstrap``),
    with no correction for the number of pairs.
    """
    names = list(arrays_by_model)
    if len(names) < 2:
        raise ValueError("pairwise_ranking needs at least two models")
    if simultaneous:
        _check(n_boot, level)
        est, reps = _model_replicates("pairwise_ranking", statistic, arrays_by_model, n_boot, seed, groups, cells)
        table = simultaneous_differences(est, reps, higher_is_better=higher_is_better, level=level)
        return table[["better", "worse", "difference", "low", "high", "holds"]]
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
                         groups=None, cells=None, universe=None) -> tuple[float, np.ndarray]:
    """(estimate, replicates): ``bootstrap_ci``'s point estimate and its ``n_boot``
    replicate values (same resamples for the same seed), before any quantile is taken:
    what ``mean_of_independent`` combines.

    ``universe``: the ids of every unit of a population several samples are drawn from
    (every ImageNet val image, for ImageNet-C, ReaL and Hard, which are made of val
    images), with ``groups`` the id of each row. The resamples draw from the whole universe
    (a unit a sample lacks adds no rows to it), so two samples of one universe resampled
    with the same seed are resampled JOINTLY: replicate b of each is made of the same drawn
    images, and a replicate-wise mean of them keeps their covariance."""
    _check(n_boot, 0.95)
    if not arrays:
        raise ValueError("bootstrap_replicates needs at least one array")
    estimate, reps, _ = _resampled(statistic, arrays, n_boot, seed, groups, cells, universe)
    return estimate, reps


def _resampled(statistic, arrays, n_boot: int, seed: int, groups, cells, universe=None):
    """(point estimate, replicates, number of resampling units): the one resampling path."""
    arrays = tuple(_indexable(a) for a in arrays)
    n = _n_rows(arrays)
    if cells is not None and len(cells) != n:
        raise ValueError(f"cells has {len(cells)} entries but the arrays have {n} rows")
    ids, order, offsets = _units(n, groups, universe)
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
    NaN in any part is left out (counted in ``n_failed``). ``n_units``: the units resampled
    (the samples' images together); it sets the expanded percentile tail, 0 leaves the tail
    (1 - level)/2 (with thousands of images the two agree to the digits shown).
    """
    if not parts:
        raise ValueError("mean_of_independent needs at least one sample")
    reps = [np.asarray(r, dtype=np.float64) for _, r in parts]
    sizes = {len(r) for r in reps}
    if len(sizes) != 1:
        raise ValueError(f"every sample needs the same number of replicates, got {sorted(sizes)}")
    (n_boot,) = sizes
    _check(n_boot, level)
    estimate = _scalar(np.mean([np.asarray(e, dtype=np.float64) for e, _ in parts], axis=0))
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
    the same rows, all replicates at once (kappa is a function of three means). (n, k)
    arrays: k pairs on the same trials at once (vector fields), each column's interval as
    its own call would give it (a replicate where one pair's kappa is undefined is left out
    of that pair's interval only; ``n_failed``: the most of any column)."""
    _check(n_boot, level)
    shape = np.shape(correct_a)
    if len(shape) == 2 and shape == np.shape(correct_b):
        a2, b2 = (np.asarray(x) for x in (correct_a, correct_b))
        pairs = [_consistency.paired_trials(a2[:, j], b2[:, j]) for j in range(shape[1])]
    else:
        pairs = [_consistency.paired_trials(correct_a, correct_b)]
    values = np.column_stack([np.column_stack([a, b, a == b]) for a, b in pairs]).astype(np.float64)
    ids, _, offsets = _units(len(values), groups)
    m = _replicate_means(values, ids, len(offsets) - 1, n_boot, seed).reshape(n_boot, len(pairs), 3)
    p_a, p_b, c_obs = m[..., 0], m[..., 1], m[..., 2]
    reps = _consistency.kappa(c_obs, p_a * p_b + (1 - p_a) * (1 - p_b))
    est = np.array([_consistency.error_consistency(a, b)["kappa"] for a, b in pairs])
    n_units = len(offsets) - 1
    if len(shape) != 2:
        return _interval(float(est[0]), reps[:, 0], level, n_boot, n_units)
    cols = [_interval(float(e), reps[:, j], level, n_boot, n_units) for j, e in enumerate(est)]
    return Interval(est, np.array([c.low for c in cols]), np.array([c.high for c in cols]), level, n_boot,
                    n_units, max(c.n_failed for c in cols))


__all__: Sequence[str] = (
    "Interval", "bootstrap_ci", "bootstrap_replicates", "CellMeans", "cell_means", "replicates_by_cell", "error_consistency_ci",
    "is_significant", "mcnemar_exact", "mean_of_independent", "paired_bootstrap", "pairwise_ranking",
    "rank_intervals", "ranks_from_replicates", "interval_from_replicates", "tail_probability",
    "wilson_interval", "proportion_ci", "normal_interval", "calibration_error_ci",
    "calibration_error_replicates", "jackknife_interval", "jackknife_replicates", "holm",
    "simultaneous_differences", "OBSERVER_LEVELS", "observer_consistency", "observer_consistency_ci",
    "SMALL_SAMPLE_COVERAGE", "stated_coverage", "STATED_ECE_DIFFERENCE_COVERAGE",
    "resample_counts",
)


# ====================================================================== rank intervals


def _ranks(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Competition ranks along the last axis (ties share the best rank: 1, 1, 3):
    rank_m = 1 + the number of models strictly better than m. NaN stays NaN."""
    v = np.asarray(values, dtype=np.float64)
    better = (v[..., None, :] > v[..., :, None]) if higher_is_better else (v[..., None, :] < v[..., :, None])
    ranks = 1.0 + better.sum(axis=-1)
    return np.where(np.isnan(v), np.nan, ranks)


def ranks_from_replicates(estimates: Mapping[str, float], replicates, *, higher_is_better: bool = True,
                          level: float = 0.95) -> pd.DataFrame:
    """Rank of every model and its rank interval from bootstrap replicates drawn on the
    same resamples for all models.

    ``estimates``: model -> point estimate; ``replicates``: (B, M) array, column m the B
    replicates of the m-th model of ``estimates`` (row b: one resample, every model scored
    on it). Each resample ranks all models (competition ranks: ties share the best rank,
    so two models with identical predictions always share theirs); a model's rank interval
    is [the (1 - level)/2 quantile, the (1 + level)/2 quantile] of its B ranks, rounded
    outward to whole ranks. A resample where any model is NaN is left out (``n_failed``).

    Returns one row per model, best first: model, value, rank (of the point estimates),
    rank_low, rank_high, n_boot, n_failed.
    """
    names = list(estimates)
    reps = np.asarray(replicates, dtype=np.float64).reshape(-1, len(names))
    _check(max(len(reps), 1), level)
    point = np.array([float(estimates[m]) for m in names])
    rank = _ranks(point, higher_is_better)
    ok = ~np.isnan(reps).any(axis=1)
    alpha = (1.0 - level) / 2
    if ok.any():
        r = _ranks(reps[ok], higher_is_better)
        low = np.quantile(r, alpha, axis=0, method="lower")
        high = np.quantile(r, 1.0 - alpha, axis=0, method="higher")
    else:
        low = high = np.full(len(names), np.nan)
    out = pd.DataFrame({"model": names, "value": point, "rank": rank, "rank_low": low, "rank_high": high,
                        "n_boot": len(reps), "n_failed": int((~ok).sum())})
    finite = out["value"].notna()
    out.loc[~finite, ["rank", "rank_low", "rank_high"]] = np.nan
    return out.sort_values(["rank", "model"], na_position="last").reset_index(drop=True)


def rank_intervals(statistic: Statistic, arrays_by_model: Mapping[str, object], *,
                   higher_is_better: bool = True, n_boot: int = 1000, level: float = 0.95,
                   seed: int = 0, groups=None, cells=None) -> pd.DataFrame:
    """Every model's rank among ``arrays_by_model`` with a 95% rank interval.

    ``arrays_by_model``: model -> its array (or tuple of arrays) on the same images, as
    ``pairwise_ranking`` takes them. Every model is scored on the same ``n_boot``
    resamples of the images (one seeded stream, ``groups`` resampled whole); each resample
    ranks all models, ties sharing the best rank; see ``ranks_from_replicates`` for the
    interval and the columns (model, value, rank, rank_low, rank_high, n_boot, n_failed).
    A model better than every other on every resample is rank [1, 1].
    """
    names = list(arrays_by_model)
    if not names:
        raise ValueError("rank_intervals needs at least one model")
    _check(n_boot, level)
    estimates, reps = _model_replicates("rank_intervals", statistic, arrays_by_model, n_boot, seed, groups, cells)
    return ranks_from_replicates(estimates, reps, higher_is_better=higher_is_better, level=level)


def model_replicates(statistic: Statistic, arrays_by_model: Mapping[str, object], *, n_boot: int = 1000,
                     seed: int = 0, groups=None, cells=None) -> tuple[dict, np.ndarray]:
    """({model: estimate}, (n_boot, M) replicates): every model's statistic (one number) on
    the same resamples of the same images (one seed), a column per model in
    ``arrays_by_model``'s order: what ``ranks_from_replicates`` and
    ``simultaneous_differences`` read (``rank_intervals`` and ``pairwise_ranking`` draw
    them themselves)."""
    _check(n_boot, 0.95)
    return _model_replicates("model_replicates", statistic, arrays_by_model, n_boot, seed, groups, cells)


def _model_replicates(caller: str, statistic, arrays_by_model, n_boot, seed, groups, cells):
    """({model: estimate}, (n_boot, M) replicates): every model's statistic on the same
    resamples (one seed), a column per model in ``arrays_by_model``'s order."""
    estimates, columns = {}, []
    for m, arrays in arrays_by_model.items():
        est, reps = bootstrap_replicates(statistic, *_as_tuple(arrays), n_boot=n_boot, seed=seed,
                                         groups=groups, cells=cells)
        if np.ndim(est):
            raise ValueError(f"{caller} needs a statistic that returns one number")
        estimates[m] = est
        columns.append(np.asarray(reps, dtype=np.float64).reshape(n_boot))
    return estimates, np.stack(columns, axis=1)


# ========================================================================= proportions


def wilson_interval(successes, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's score interval of a binomial proportion (Wilson 1927; Brown, Cai & DasGupta
    2001), vectorised over ``successes`` and ``n``:

        centre = (p + z^2/(2n)) / (1 + z^2/n)
        half   = z sqrt(p(1 - p)/n + z^2/(4n^2)) / (1 + z^2/n),   p = successes / n

    Unlike the bootstrap's interval it has width at 0 and at n successes (200 of 200 right:
    [0.981, 1], not [1, 1]), and its coverage stays near the level down to tens of images.
    Returns (low, high), clipped to [0, 1]; NaN where n = 0."""
    from scipy.stats import norm

    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("successes must lie between 0 and n")
    z = norm.ppf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    # the exact ends: no rounding may cut the truth 0 (or 1) out at 0 (or n) successes
    low, high = np.where(k == 0, 0.0, low), np.where(k == n, 1.0, high)
    return low, high


def proportion_ci(correct, *, level: float = 0.95) -> Interval:
    """Top-1 (any share of images) with Wilson's score interval (``wilson_interval``).

    ``correct``: 0/1 (or bool) per image, (n,) or (n, k) for k shares at once. The images
    must be independent units: a share whose rows are cells of images (ImageNet-C) or a
    mean over cells is a clustered mean, for ``bootstrap_ci(..., groups=)``."""
    c = np.asarray(correct)
    if c.dtype != bool and not np.isin(c, (0, 1)).all():
        raise ValueError("correct must be booleans or 0/1 per image")
    c = c.astype(np.float64)
    if len(c) == 0:
        raise ValueError("no images")
    k = c.sum(axis=0)
    low, high = wilson_interval(k, len(c), level)
    return Interval(_scalar(k / len(c)), _scalar(low), _scalar(high), level, 0, len(c))


# ================================================================= calibration error


def normal_interval(estimate, replicates, *, level: float = 0.95, n_units: int = 0) -> Interval:
    """estimate -/+ z sd(replicates): the interval of a statistic whose own estimate is
    bias-corrected while its resamples are not (a debiased ECE, an unbiased CKA). The
    resamples' spread estimates the standard error; their centre, which carries the
    resampling's own bias, is not used. (B,) or (B, k) replicates; NaN ones left out."""
    from scipy.stats import norm

    reps = np.asarray(replicates, dtype=np.float64)
    failed = np.isnan(reps).reshape(len(reps), -1).any(axis=1)
    est = np.asarray(estimate, dtype=np.float64)
    if (~failed).sum() < 2:
        nan = np.full(est.shape, np.nan)
        return Interval(_scalar(est), _scalar(nan), _scalar(nan), level, len(reps), n_units, int(failed.sum()))
    se = np.std(reps[~failed], axis=0, ddof=1)
    z = norm.ppf(0.5 + level / 2)
    return Interval(_scalar(est), _scalar(est - z * se), _scalar(est + z * se), level, len(reps), n_units,
                    int(failed.sum()))


def _calibration_sums(confidence, correct, n_bins: int, n_boot: int, seed: int):
    """(per-bin sums of the data (k, 3, n_bins), of every replicate (B, k, 3, n_bins)) for
    (n,) or (n, k) confidences and correctness: k models on the same images, every model
    on the same resamples (``metrics.BIN_SUMS``: count, sum of confidences, number right).

    A replicate's sums are the images' values weighted by how often it drew each image:
    Z' w with Z the sparse (n, k * 3 * n_bins) matrix holding each image's three values in
    its bin's columns (three non-zeros per image and model)."""
    from scipy import sparse

    from .metrics.calibration import bin_index

    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct)
    if conf.shape != ok.shape:
        raise ValueError(f"confidence {conf.shape} and correct {ok.shape} differ; one value of each per image")
    conf2, ok2 = conf.reshape(len(conf), -1), ok.reshape(len(ok), -1).astype(np.float64)
    n, k = conf2.shape
    if n == 0:
        raise ValueError("no images")
    bins = np.stack([bin_index(conf2[:, j], n_bins) for j in range(k)], axis=1)        # (n, k)
    cols = (np.arange(k)[None, :, None] * 3 + np.arange(3)[None, None, :]) * n_bins + bins[:, :, None]
    vals = np.stack([np.ones_like(conf2), conf2, ok2], axis=2)                         # (n, k, 3)
    z = sparse.csr_matrix((vals.ravel(), cols.ravel(), np.arange(0, 3 * k * n + 1, 3 * k)),
                          shape=(n, 3 * k * n_bins))
    zt = z.T.tocsr()
    point = np.asarray(z.sum(axis=0)).reshape(k, 3, n_bins)
    reps = [np.asarray(zt @ w.T).T.reshape(len(w), k, 3, n_bins) for w in _weights(n, n_boot, seed)]
    return point, np.concatenate(reps)


def _calibration(confidence, correct, n_bins: int, n_boot: int, seed: int):
    """(point: the debiased ECE (k,), its replicates (B, k), the calibration test's p-values
    (k,), images)."""
    from .metrics.calibration import calibration_errors_from_sums, calibration_test

    point, reps = _calibration_sums(confidence, correct, n_bins, n_boot, seed)
    conf2 = np.asarray(confidence, dtype=np.float64).reshape(len(confidence), -1)
    ok2 = np.asarray(correct).reshape(len(confidence), -1)
    p = np.array([calibration_test(conf2[:, j], ok2[:, j], n_bins)["p_value"] for j in range(conf2.shape[1])])
    return (calibration_errors_from_sums(point)["ece_debiased"],
            calibration_errors_from_sums(reps)["ece_debiased"], p, len(conf2))


def calibration_error_replicates(confidence, correct, *, n_bins: int = 15, n_boot: int = 1000,
                                 seed: int = 0) -> tuple:
    """(estimate, replicates) of the debiased ECE (``metrics.debiased_calibration_error``),
    for comparisons and ranks: (n, k) inputs give (k,) estimates and (n_boot, k)
    replicates, every model on the same resamples."""
    _check(n_boot, 0.95)
    point, reps, _, _ = _calibration(confidence, correct, n_bins, n_boot, seed)
    if np.ndim(confidence) == 1:
        return float(point[0]), reps[:, 0]
    return point, reps


def calibration_error_ci(confidence, correct, *, n_bins: int = 15, n_boot: int = 1000, level: float = 0.95,
                         seed: int = 0) -> Interval:
    """The calibration headline: the debiased ECE with an interval that covers the binned
    ECE it estimates (docs/protocols.md §3), a perfectly calibrated model's 0 included.

    - estimate: Kumar et al. (2019)'s debiased ECE (``metrics.debiased_calibration_error``);
    - interval: estimate -/+ z sd*, sd* the standard deviation of the debiased ECE over
      ``n_boot`` resamples of the images (``normal_interval``: the resamples' centre,
      biased by the resampling itself, is not used);
    - near 0: the ECE is a sum of absolute values, and no interval built from its spread
      alone reaches a true 0 often enough. The interval reaches down to 0 whenever
      Hosmer-Lemeshow's test of "perfectly calibrated" (``metrics.calibration_test``)
      does not reject at 1 - ``level``: the confidence set is the interval joined with {0}
      when the test accepts 0, so a calibrated model is covered as often as the test
      accepts, and a miscalibrated one at least as often as by the interval alone. The
      interval never goes below 0.

    ``confidence`` (max softmax probability) and ``correct`` (0/1) per image: (n,), or
    (n, k) for k models on the same images (one resampling; vector fields). Measured
    coverage: tests/test_coverage.py (docs/protocols.md §0)."""
    _check(n_boot, level)
    point, reps, p, n_units = _calibration(confidence, correct, n_bins, n_boot, seed)
    iv = normal_interval(point, reps, level=level, n_units=n_units)
    low = np.maximum(np.where(p > 1 - level, np.minimum(iv.low, 0.0), iv.low), 0.0)
    high = np.maximum(iv.high, 0.0)
    if np.ndim(confidence) == 1:
        return Interval(float(point[0]), float(low[0]), float(high[0]), level, n_boot, n_units, iv.n_failed)
    return Interval(point, low, high, level, n_boot, n_units, iv.n_failed)


# ========================================================================== jackknife


def jackknife_interval(estimate, leave_one_out, *, level: float = 0.95) -> Interval:
    """estimate -/+ t_(n-1) se_J with the jackknife standard error (Efron & Tibshirani
    1993, ch. 11) of n leave-one-out values theta_(i) ((n,) or (n, k)):

        se_J = sqrt((n - 1)/n sum_i (theta_(i) - mean theta_(.))^2)

    For a U-statistic such as unbiased HSIC (the similarity page's CKA) it is consistent
    and needs no resampling: a bootstrap resample repeats images, which a U-statistic's
    "distinct samples" cannot absorb. No interval (NaN) from fewer than 3 units."""
    from scipy.stats import t

    loo = np.asarray(leave_one_out, dtype=np.float64)
    n = len(loo)
    est = np.asarray(estimate, dtype=np.float64)
    if n < 3:
        nan = np.full(est.shape, np.nan)
        return Interval(_scalar(est), _scalar(nan), _scalar(nan), level, 0, n)
    se = np.sqrt((n - 1) / n * np.sum((loo - loo.mean(axis=0)) ** 2, axis=0))
    q = t.ppf(0.5 + level / 2, n - 1)
    return Interval(_scalar(est), _scalar(est - q * se), _scalar(est + q * se), level, 0, n)


def jackknife_replicates(estimate, leave_one_out, *, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """(n_boot, k) draws from N(estimate, jackknife covariance of the k statistics), the
    k estimated jointly from the same images: replicates for what takes replicates
    (``simultaneous_intervals``, ``ranks_from_replicates``) where the uncertainty is a
    jackknife's. Seeded."""
    loo = np.asarray(leave_one_out, dtype=np.float64)
    n = len(loo)
    loo = loo.reshape(n, -1)
    dev = loo - loo.mean(axis=0)
    cov = (n - 1) / n * dev.T @ dev
    est = np.asarray(estimate, dtype=np.float64).reshape(-1)
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(est, cov, size=int(n_boot), method="eigh")


# ================================================================ multiple comparisons


def holm(p_values) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values: with the m p-values sorted,
    p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)). Rejecting where p~ <= alpha keeps the
    chance of any false rejection among the m at most alpha. NaN stays NaN (not counted)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if not m:
        return out
    order = np.argsort(p[ok])
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[ok][order]))
    vals = np.empty(m)
    vals[order] = adj
    out[ok] = vals
    return out


def simultaneous_differences(estimates: Mapping[str, float], replicates, *, higher_is_better: bool = True,
                             level: float = 0.95) -> pd.DataFrame:
    """Every pairwise difference of the models' statistics with SIMULTANEOUS intervals: all
    of them cover their true differences together with probability ``level`` (max-t
    bootstrap intervals; Westfall & Young 1993, Romano & Wolf 2005), so "A is ahead of B",
    said whenever a pair's interval excludes 0, is wrong for ANY pair of a metric with
    probability at most 1 - ``level``, however many pairs there are.

    ``estimates``: model -> point estimate; ``replicates``: (B, M), column m the m-th
    model's replicates, every model on the same resamples (or ``jackknife_replicates``).
    For pair k (better by point estimate first) with replicate differences d*_bk:
    se_k = sd_b(d*_bk), T_b = max_k |d*_bk - mean_b d*_k| / se_k, c = the ``level``
    quantile of T_b, interval = d_k -/+ c se_k. A pair whose replicates never differ (two
    identical models) has the interval [d, d] and takes no part in the maximum.

    Returns one row per pair: better, worse, difference, low, high, holds (interval
    excludes 0), se, critical (c; about 1.96 for one pair, 2.6 for six)."""
    names = list(estimates)
    reps = np.asarray(replicates, dtype=np.float64).reshape(-1, len(names))
    reps = reps[~np.isnan(reps).any(axis=1)]
    point = {m: float(estimates[m]) for m in names}
    ranked = [m for m in sorted(names, key=lambda m: point[m], reverse=higher_is_better) if np.isfinite(point[m])]
    pos = {m: i for i, m in enumerate(names)}
    pairs = list(itertools.combinations(ranked, 2))
    if not pairs:
        return pd.DataFrame(columns=["better", "worse", "difference", "low", "high", "holds", "se", "critical"])
    d_hat = np.array([point[a] - point[b] for a, b in pairs])
    if len(reps) < 2:
        se = np.full(len(pairs), np.nan)
        crit = np.nan
    else:
        d = np.stack([reps[:, pos[a]] - reps[:, pos[b]] for a, b in pairs], axis=1)
        se = d.std(axis=0, ddof=1)
        moving = se > 1e-12 * np.maximum(1.0, np.abs(d).max(axis=0))
        se = np.where(moving, se, 0.0)
        if moving.any():
            t = np.max(np.abs(d[:, moving] - d[:, moving].mean(axis=0)) / se[moving], axis=1)
            crit = float(np.quantile(t, level, method="higher"))
        else:
            crit = 0.0
    low, high = d_hat - crit * se, d_hat + crit * se
    return pd.DataFrame({"better": [a for a, _ in pairs], "worse": [b for _, b in pairs], "difference": d_hat,
                         "low": low, "high": high, "holds": (low > 0) | (high < 0), "se": se,
                         "critical": crit})


# ============================================================ models and human observers

#: what ``observer_consistency`` may resample, and what an interval of each speaks for
OBSERVER_LEVELS = {"stimuli": "these observers (the stimuli resampled)",
                   "observers and stimuli": "people in general (observers and stimuli resampled)"}


def observer_consistency(models, observers, *, n_boot: int = 1000, seed: int = 0,
                         resample: str = "observers and stimuli") -> tuple[np.ndarray, np.ndarray]:
    """Each model's mean error consistency with a panel of observers, and its replicates.

    ``models``: (n, M) 0/1 correctness of M models on n stimuli; ``observers``: (n, H),
    the observers' correctness on the same stimuli (rows aligned). The estimate for model
    m is kappa_m = (1/H) sum_j kappa(m, j) (``error_consistency``).

    Replicates: the stimuli are resampled (the same stimuli for every model and observer),
    which gives kappa*_mj for every model and observer. With ``resample="stimuli"`` the
    replicates are their means over the observers: an interval for THESE observers. With
    "observers and stimuli" (the default), a claim about people in general must also
    allow for which H people were tested. Their variance is that of the stimulus
    replicates plus the between-observer variance over H, estimated by the method of
    moments for a crossed design: the observers' sample covariance of kappa_mj less the
    part of it that is each observer's own estimation noise (the stimulus replicates'
    covariance within an observer minus that between two observers). Resampling the
    observers and the stimuli both counts that noise twice (measured: 0.997 coverage for a
    nominal 0.95). The between-observer part is added to the stimulus replicates as a
    seeded normal draw with that covariance across models, so the replicates of several
    models stay paired for comparisons.

    Returns (estimates (M,), replicates (n_boot, M))."""
    if resample not in OBSERVER_LEVELS:
        raise ValueError(f"resample must be one of {sorted(OBSERVER_LEVELS)}, not {resample!r}")
    a = np.asarray(models).reshape(len(models), -1)
    h = np.asarray(observers).reshape(len(observers), -1)
    if len(a) != len(h):
        raise ValueError(f"{len(a)} model trials vs {len(h)} observer trials; rows must be the same stimuli")
    # every column checked as right / wrong per trial (paired_trials of a column with the first observer's)
    a = np.stack([_consistency.paired_trials(a[:, j], h[:, 0])[0] for j in range(a.shape[1])], axis=1)
    h = np.stack([_consistency.paired_trials(h[:, j], a[:, 0])[0] for j in range(h.shape[1])], axis=1)
    n, m_count, h_count = len(a), a.shape[1], h.shape[1]
    same = (a[:, :, None] == h[:, None, :]).reshape(n, -1)
    values = np.concatenate([a, h, same], axis=1).astype(np.float64)

    def kappas(means):
        p_a, p_h = means[..., :m_count], means[..., m_count:m_count + h_count]
        c_obs = means[..., m_count + h_count:].reshape(means.shape[:-1] + (m_count, h_count))
        c_exp = p_a[..., :, None] * p_h[..., None, :] + (1 - p_a[..., :, None]) * (1 - p_h[..., None, :])
        return _consistency.kappa(c_obs, c_exp)                        # (..., M, H)

    _check(n_boot, 0.95)
    point = kappas(values.mean(axis=0))                                # (M, H)
    estimate = point.mean(axis=-1)
    k = kappas(_replicate_means(values, np.arange(n), n, n_boot, seed))   # (B, M, H)
    reps = k.mean(axis=-1)
    if resample == "stimuli" or h_count < 2:
        return estimate, reps
    # between-observer covariance of the models' kappas, less each observer's own noise
    dev = point - estimate[:, None]                                   # (M, H)
    spread = dev @ dev.T / (h_count - 1)
    kd = k - k.mean(axis=0)                                           # (B, M, H)
    within = np.einsum("bmj,bnj->mn", kd, kd) / (n_boot - 1) / h_count              # avg_j cov(k_mj, k_nj)
    total = np.einsum("bm,bn->mn", kd.sum(axis=-1), kd.sum(axis=-1)) / (n_boot - 1)  # cov of the sums over j
    between = (total - h_count * within) / (h_count * (h_count - 1))                 # avg_{j != l} cov(k_mj, k_nl)
    sigma = spread - (within - between)
    vals, vecs = np.linalg.eigh((sigma + sigma.T) / 2)
    sigma = (vecs * np.clip(vals, 0.0, None)) @ vecs.T / h_count
    rng = np.random.default_rng([seed, 1])                            # a stream apart from the stimuli's
    return estimate, reps + rng.multivariate_normal(np.zeros(m_count), sigma, size=n_boot, method="eigh")


def observer_consistency_ci(models, observers, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                            resample: str = "observers and stimuli") -> Interval:
    """``observer_consistency`` with its interval, estimate -/+ z sd(replicates)
    (``normal_interval``). (M,) fields; ``resampled`` names the level the interval speaks
    for (``OBSERVER_LEVELS``)."""
    _check(n_boot, level)
    est, reps = observer_consistency(models, observers, n_boot=n_boot, seed=seed, resample=resample)
    return replace(normal_interval(est, reps, level=level, n_units=len(observers)), resampled=resample)


# ================================================================ measured shortfalls

#: coverage of a nominal 95% bootstrap interval (expanded percentile) of a mean over
#: fewer than six resampled units, as measured by tests/test_coverage.py: with so few
#: images no bootstrap interval can reach 95% (with two, it is the range of two values), so
#: a page states this beside such an interval
SMALL_SAMPLE_COVERAGE = {2: 0.50, 3: 0.77, 4: 0.86, 5: 0.90}


def stated_coverage(n_units: int) -> float | None:
    """The measured coverage a page states beside a 95% bootstrap interval from ``n_units``
    resampled units, when it falls short of 0.93 (``SMALL_SAMPLE_COVERAGE``); None from
    six units on, where it is within 0.93-0.97."""
    return SMALL_SAMPLE_COVERAGE.get(int(n_units))

#: coverage of the paired interval of a difference in debiased ECE between a perfectly
#: calibrated model and one over-confident by 0.03 (1,000 images; tests/test_coverage.py).
#: No estimator of an absolute gap is unbiased at 0, so the calibrated model's debiased ECE
#: stays above 0 and the difference sits too close to 0: the interval can understate a
#: difference, never invent one (between two miscalibrated models, or two calibrated
#: ones, coverage is within 0.93-0.97)
STATED_ECE_DIFFERENCE_COVERAGE = 0.79



# ============================================================ resamples as draw counts


def resample_counts(n_units: int, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """(n_boot, n_units) draw counts: how often each unit is drawn in each resample, for the
    SAME resamples ``bootstrap_ci`` draws with this seed. For statistics that score a
    resample from weights instead of resampled rows (``metrics.class_calibration_replicates``,
    ``metrics.ood_replicates``; their interval: ``interval_from_replicates``): their
    replicates then pair with every other interval drawn with the seed."""
    _check(n_boot, 0.95)
    return np.vstack(list(_weights(int(n_units), int(n_boot), seed))).astype(np.int64)
