"""Do the report's 95% intervals cover their truth 95% of the time? Measured by simulation.

For every kind of interval the report prints, data are simulated with a known truth at the
sizes the profiles use (the demo's and the paper's), the product's own interval function
is applied to each simulated dataset, and the share of intervals that contain the truth is
the measured coverage. A method passes when its measured coverage lies in 0.93-0.97,
widened by 2.58 Monte-Carlo standard errors of the measurement (a method whose true
coverage is in the band passes with probability >= 0.99; every seed is fixed, so the
result does not change from run to run). Where no method reaches the band (two images of
a stand-in), the test checks the coverage the product states instead. Rows marked "(was)"
measure the method an interval used before, for reference.

The table (docs/protocols.md, section 0) is printed at the end of the module's run, and by
``python tests/test_coverage.py``. How the datasets are simulated: tests/simulate.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import simulate as S  # noqa: E402

from beyond_inet_lib import metrics, stats  # noqa: E402

LEVEL = 0.95
BOOT = 1000                # the profiles' resamples per interval
ROWS: list[S.Row] = []


def _row(interval, data, size, truth, method, low, high, true_value, *, resamples=BOOT, target=True):
    c, se, r = S.coverage(low, high, true_value)
    row = S.Row(interval, data, size, truth, method, c, se, r, resamples, target)
    ROWS.append(row)
    return row


def _in_band(row: S.Row):
    lo, hi = row.band()
    assert lo <= row.coverage <= hi, f"{row.line()}: coverage {row.coverage:.3f} outside [{lo:.3f}, {hi:.3f}]"


def table() -> str:
    return "\n".join([S.HEADER] + [r.line() for r in ROWS])


@pytest.fixture(scope="module", autouse=True)
def _print_table(request):
    # one BLAS thread: the harness is many mid-sized products, where a second thread on a
    # busy machine mostly spins (half the CPU time, and less wall time, measured)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if ROWS and capture is not None:
        with capture.global_and_fixture_disabled():   # printed, not captured: the table is the module's output
            print("\n\nCoverage of the report's 95% intervals (tests/test_coverage.py):")
            print(table())


# ========================================================================= proportions

PROPORTIONS = [
    # what, where, images, truth
    ("top-1 per transform level", "demo: 40 val images (invariance)", 40, 0.80),
    ("top-1, near every image right", "a small subset", 200, 0.99),
    ("top-1 of a transfer task", "demo: digits test split", 400, 0.90),
    ("top-1", "demo: ImageNet sample images", 1000, 0.75),
    ("16-class accuracy", "demo = paper: cue-conflict", 1280, 0.30),
    ("top-1", "paper: ImageNet-A", 7500, 0.30),
    ("top-1", "paper: ImageNet val", 50000, 0.85),
]


def _percentile_bootstrap_of_a_share(k, n):
    """The bootstrap's percentile interval of a share with infinitely many resamples: the
    quantiles of Binomial(n, k/n)/n (what a proportion's interval was before Wilson's)."""
    from scipy.stats import binom

    p = k / n
    return binom.ppf(0.025, n, p) / n, binom.ppf(0.975, n, p) / n


def test_proportions_wilson():
    """Exact coverage (enumerating every count of right images), averaged over truths
    within +/- 2 points (a share's coverage oscillates with the truth on the lattice k/n)."""
    def wilson(k, n):
        return stats.wilson_interval(k, n, LEVEL)

    for what, where, n, p in PROPORTIONS:
        width = min(0.02, 1.0 - p)
        c = S.local_binomial_coverage(wilson, n, p, width=width)
        row = S.Row(what, where, f"{n:,} images", f"{p:.2f} ± {width:.2f}", "Wilson score", c, 0.0, 0, 0)
        ROWS.append(row)
        _in_band(row)
    # the bootstrap gave 200 right of 200 the interval [1, 1]: it misses every truth below 1
    was = S.local_binomial_coverage(_percentile_bootstrap_of_a_share, 200, 0.99, width=0.01)
    ROWS.append(S.Row("top-1, near every image right", "a small subset", "200 images", "0.99 ± 0.01",
                      "percentile bootstrap", was, 0.0, 0, 0, target=False))
    assert was < 0.8
    iv = stats.proportion_ci(np.ones(200, dtype=bool))
    assert iv.high == 1.0 and 0.97 < iv.low < 0.99


# ============================================================================ means

def test_mean_of_values_per_image():
    """The mean of a value in [0, 1] per image (the invariance page's probability of the
    true class): Beta(2, 0.8) per image, truth 2/2.8. Expanded percentile bootstrap."""
    rng = np.random.default_rng(1)
    truth = 2 / 2.8
    for where, n, r in (("demo: 40 val images", 40, 1000), ("paper: 10,000 val images", 10000, 200)):
        x = rng.beta(2.0, 0.8, size=(n, r))
        est, reps = stats.bootstrap_replicates("mean", x, n_boot=BOOT, seed=2)
        iv = stats.interval_from_replicates(est, reps, level=LEVEL, n_units=n)
        _in_band(_row("mean true-class probability", where, f"{n:,} images", f"{truth:.3f}",
                      "expanded percentile bootstrap", iv.low, iv.high, truth))
        if n == 40:
            plain = stats.interval_from_replicates(est, reps, level=LEVEL)
            _row("mean true-class probability", where, f"{n:,} images", f"{truth:.3f}",
                 "percentile bootstrap", plain.low, plain.high, truth, target=False)


def _cell_probabilities(n_corruptions=15, severities=5):
    """ImageNet-C-like cells: corruption k's offset and severity s's drop in logit."""
    rng = np.random.default_rng(11)
    offsets = rng.normal(0.0, 0.7, size=n_corruptions)
    return offsets[:, None] - 0.45 * np.arange(1, severities + 1)[None, :]      # (K, S)


def _mean_over_cells(u, shift):
    """P(right) averaged over the cells, for an image of ability u (any shape)."""
    return S.expit(1.0 + 1.2 * np.asarray(u)[..., None] + shift.ravel()).mean(axis=-1)


def _clustered_images(rng, n, r, curve):
    """(n, r) per-image share of right cells: an image of ability u (from the discretised
    normal) is right in Binomial(cells, curve[u]) of its 75 cells, ``curve`` the mean over
    the cells of sigmoid(1 + 1.2 u + offset_cell)."""
    return rng.binomial(75, curve[S.discrete_normal_index(rng, (n, r))]) / 75


def test_clustered_means_of_cells():
    """A mean over the cells of images (ImageNet-C's 75 corruption x severity cells,
    PUG's factor levels), whole images resampled. The simulated images have an ability
    each, the cells an offset each. With every image in every cell the page's statistic
    (the mean over cells of each cell's mean, ``cells=``) equals the mean over images of
    each image's mean over its cells, resampled on the same draws: checked on one dataset,
    then the datasets are scored as columns of one call."""
    shift = _cell_probabilities()
    curve = _mean_over_cells(S.NORMAL_TABLE, shift)
    truth = float(curve.mean())
    rng = np.random.default_rng(3)
    # the identity, on one 6-image dataset scored cell by cell
    u = rng.normal(size=6)
    p = S.expit(1.0 + 1.2 * u[:, None, None] + shift[None])
    rows = (rng.uniform(size=p.shape) < p).astype(float)
    image = np.repeat(np.arange(6), shift.size)
    cell = np.tile(np.arange(shift.size), 6)
    by_cell = stats.bootstrap_ci("mean", rows.ravel(), groups=image, cells=cell, n_boot=300, seed=4)
    by_image = stats.bootstrap_ci("mean", rows.reshape(6, -1).mean(axis=1), n_boot=300, seed=4)
    assert (by_cell.estimate, by_cell.low, by_cell.high) == pytest.approx((by_image.estimate, by_image.low,
                                                                           by_image.high), abs=1e-12)
    for n in (3, 4, 5):    # what a page states beside an interval from fewer than six images
        x = _clustered_images(rng, n, 2000, curve)
        est, reps = stats.bootstrap_replicates("mean", x, n_boot=BOOT, seed=5)
        iv = stats.interval_from_replicates(est, reps, level=LEVEL, n_units=n)
        c, se, _ = S.coverage(iv.low, iv.high, truth)
        assert abs(c - stats.stated_coverage(n)) < 3 * se + 0.01, (n, c)
    cases = (("ImageNet-C stand-in", "small: 2 images x 75 cells", 2, 2000),
             ("ImageNet-C stand-in", "demo: 6 images x 75 cells", 6, 2000),
             ("PUG stand-in, mean over factors", "demo: 10 images x their cells", 10, 2000),
             ("ImageNet-C mean of the 75 cells", "paper: 50,000 images x 75 cells", 50000, 150))
    for what, where, n, r in cases:
        x = _clustered_images(rng, n, r, curve)
        boot = BOOT if n < 50000 else 500
        est, reps = stats.bootstrap_replicates("mean", x, n_boot=boot, seed=5)
        iv = stats.interval_from_replicates(est, reps, level=LEVEL, n_units=n)
        row = _row(what, where, f"{n:,} images", f"{truth:.3f}", "expanded percentile bootstrap (images)",
                   iv.low, iv.high, truth, resamples=boot)
        if n >= 6:
            _in_band(row)
        else:   # two images: no bootstrap interval can cover; the page states what it measures
            assert abs(row.coverage - stats.stated_coverage(n)) < 3 * row.se + 0.01
        if n in (6, 10):
            plain = stats.interval_from_replicates(est, reps, level=LEVEL)
            _row(what, where, f"{n:,} images", f"{truth:.3f}", "percentile bootstrap (images)", plain.low,
                 plain.high, truth, target=False)


# ============================================================== paired differences, kappa

def test_paired_difference_of_top1():
    """Two models on the same images (shared hard images: correlated errors), 1 point apart."""
    a_hi, a_lo = S.alpha_for(0.76), S.alpha_for(0.75)
    truth = S.accuracy(a_hi) - S.accuracy(a_lo)
    rng = np.random.default_rng(6)
    for where, n, r, boot in (("demo: ImageNet sample images", 1000, 1000, BOOT),
                              ("paper: ImageNet val", 50000, 100, 300)):
        a, b = S.correlated_correct(rng, n, r, (a_hi, a_lo))
        iv = stats.paired_bootstrap("mean", a.astype(float), b.astype(float), n_boot=boot, seed=7)
        _in_band(_row("difference in top-1 (paired)", where, f"{n:,} images", f"{truth:+.3f}",
                      "paired expanded percentile bootstrap", iv.low, iv.high, truth, resamples=boot))
    # the invariance page's drop: top-1 at the plain view minus at the strongest transform, 40 images
    a_plain, a_far = S.alpha_for(0.80), S.alpha_for(0.60)
    truth = S.accuracy(a_plain) - S.accuracy(a_far)
    a, b = S.correlated_correct(rng, 40, 2000, (a_plain, a_far))
    iv = stats.paired_bootstrap("mean", a.astype(float), b.astype(float), n_boot=BOOT, seed=8)
    _in_band(_row("top-1 drop under a transform (paired)", "demo: 40 val images (invariance)", "40 images",
                  f"{truth:+.3f}", "paired expanded percentile bootstrap", iv.low, iv.high, truth))


def _grouped_correct(rng, r, alphas, offsets, n_images=50, beta=1.5):
    """The mistakes stand-in: every image under every factor; image i's ability u_i is
    shared by its variants and by the models, factor f shifts the logit by offsets[f].
    Returns per model (n_images * F, r) correctness and the rows' image and factor."""
    u = np.repeat(rng.normal(size=(n_images, r)), len(offsets), axis=0)
    shift = np.tile(np.asarray(offsets), n_images)[:, None]
    out = [rng.uniform(size=u.shape) < S.expit(a + beta * u + shift) for a in alphas]
    return out, np.repeat(np.arange(n_images), len(offsets)), np.tile(np.arange(len(offsets)), n_images)


STANDIN_OFFSETS = (0.0, -0.3, -0.6, -0.9, -1.2, -0.2, -0.5, -0.8, -1.0, -0.4)   # 'none' first


def _kappa_truth_mixture(alpha_a, alpha_b, offsets, beta=1.5):
    """Population kappa over rows that are a factor each (equal shares), u shared."""
    p_a = np.mean([S.accuracy(alpha_a + d, beta) for d in offsets])
    p_b = np.mean([S.accuracy(alpha_b + d, beta) for d in offsets])
    both = np.mean([S.normal_expectation(lambda u, d=d: S.expit(alpha_a + d + beta * u) * S.expit(alpha_b + d + beta * u))
                    for d in offsets])
    c_obs, c_exp = 1 - p_a - p_b + 2 * both, p_a * p_b + (1 - p_a) * (1 - p_b)
    return (c_obs - c_exp) / (1 - c_exp)


def test_error_consistency_between_models():
    a1, a2 = S.alpha_for(0.8), S.alpha_for(0.7)
    rng = np.random.default_rng(8)
    (a, b), image, _ = _grouped_correct(rng, 1000, (a1, a2), STANDIN_OFFSETS)
    truth = _kappa_truth_mixture(a1, a2, STANDIN_OFFSETS)
    iv = stats.error_consistency_ci(a, b, n_boot=BOOT, seed=9, groups=image)
    _in_band(_row("error consistency κ between models", "demo: mistakes stand-in (grouped)",
                  "50 images x 10 factors", f"{truth:.3f}", "expanded percentile bootstrap (images)",
                  iv.low, iv.high, truth))
    truth = S.kappa_truth(a1, a2)
    a, b = S.correlated_correct(rng, 50000, 100, (a1, a2))
    iv = stats.error_consistency_ci(a, b, n_boot=300, seed=9)
    _in_band(_row("error consistency κ between models", "paper: ImageNet val", "50,000 images", f"{truth:.3f}",
                  "expanded percentile bootstrap", iv.low, iv.high, truth, resamples=300))


def test_shape_bias():
    """1,280 cue-conflict trials, 80 of them without a conflict (counted by neither cue); a
    conflict trial goes to the shape with 0.30, the texture with 0.45, elsewhere 0.25: the
    true shape bias is 0.30 / 0.75 = 0.4. The page's statistic (``metrics.shape_bias_from_votes``) on each
    resample is shape votes / (shape + texture votes), a ratio of the two columns' means:
    checked on one dataset against the generic bootstrap, then all datasets at once."""

    rng = np.random.default_rng(10)
    r, n = 1000, 1280
    pick = rng.choice(3, p=[0.30, 0.45, 0.25], size=(n, r))
    conflict = (np.arange(n) >= 80)[:, None]
    s_votes, t_votes = ((pick == 0) & conflict).astype(float), ((pick == 1) & conflict).astype(float)
    generic = stats.bootstrap_ci(metrics.shape_bias_from_votes, s_votes[:, 0], t_votes[:, 0], n_boot=200, seed=11)
    est, reps = stats.bootstrap_replicates("mean", np.stack([s_votes[:, 0], t_votes[:, 0]], axis=1), n_boot=200, seed=11)
    fast = stats.interval_from_replicates(est[0] / est.sum(), reps[:, 0] / reps.sum(axis=1), level=LEVEL, n_units=n)
    assert (fast.estimate, fast.low, fast.high) == pytest.approx((generic.estimate, generic.low, generic.high), abs=1e-12)
    values = np.concatenate([s_votes, t_votes], axis=1)
    est, reps = stats.bootstrap_replicates("mean", values, n_boot=BOOT, seed=11)
    iv = stats.interval_from_replicates(est[:r] / (est[:r] + est[r:]), reps[:, :r] / (reps[:, :r] + reps[:, r:]),
                                        level=LEVEL, n_units=n)
    _row("shape bias", "demo = paper: cue-conflict", "1,280 trials", "0.400",
         "expanded percentile bootstrap (trials)", iv.low, iv.high, 0.4, target=False)
    # the page's interval: Wilson's of the shape votes among the decided trials
    k, decided = s_votes.sum(axis=0), (s_votes + t_votes).sum(axis=0)
    low, high = stats.wilson_interval(k, decided)
    _in_band(_row("shape bias", "demo = paper: cue-conflict", "1,280 trials", "0.400",
                  "Wilson score of shape among decided trials", low, high, 0.4, resamples=0))
    # near the edge (a model that nearly always picks the shape), on the tiny profile's 64 trials
    pick = rng.choice(3, p=[0.72, 0.03, 0.25], size=(64, 4000))
    k, decided = (pick == 0).sum(axis=0), (pick < 2).sum(axis=0)
    low, high = stats.wilson_interval(k, decided)
    _in_band(_row("shape bias", "small: 64 trials", "64 trials", "0.960",
                  "Wilson score of shape among decided trials", low, high, 0.96, resamples=0))


# ========================================================================= error ratios

#: ImageNet-X's top-factor counts on the 46,110 annotated val images (imagenet-x 0.0.7)
IMAGENET_X_COUNTS = {"pose": 15064, "background": 14751, "color": 6150, "pattern": 5972, "smaller": 1450,
                     "shape": 679, "partial_view": 638, "subcategory": 585, "texture": 282, "larger": 150,
                     "darker": 122, "object_blocking": 78, "person_blocking": 60, "brighter": 44, "style": 43,
                     "multiple_objects": 40}


def test_error_ratios():
    """ImageNet-X error ratios, error(factor) / error(all): the demo's stand-in (every one of
    50 images under every factor, resampled by image) and the paper's annotated val images
    (one top factor per image; the rarest, multiple_objects, has 40 images; texture 282).
    A ratio is a ratio of resampled means (checked against the page's own statistic on one
    dataset), so all datasets are resampled as columns of one call."""

    alpha = S.alpha_for(0.8)
    err = np.array([1 - S.accuracy(alpha + d) for d in STANDIN_OFFSETS])
    truth_ratio = err / err.mean()
    truth_mean = float(truth_ratio[1:].mean())
    rng = np.random.default_rng(12)
    r = 1000
    (correct,), image, factor = _grouped_correct(rng, r, (alpha,), STANDIN_OFFSETS)
    wrong = 1.0 - correct
    onehot = (factor[:, None] == np.arange(1, len(STANDIN_OFFSETS))[None, :]).astype(float)
    # the page's statistic on one dataset, by the generic bootstrap, equals the fast path
    generic = stats.bootstrap_ci(lambda f, c: metrics.mean_error_ratios(f, c)[0], onehot, correct[:, :1].astype(float),
                                 n_boot=100, seed=13, groups=image)
    cols = np.concatenate([wrong[:, :1] * onehot, wrong[:, :1]], axis=1)
    est, reps = stats.bootstrap_replicates("mean", cols, n_boot=100, seed=13, groups=image)
    ratio = lambda m: (m[..., :-1] * len(STANDIN_OFFSETS) / m[..., -1:]).mean(axis=-1)   # noqa: E731
    fast = stats.interval_from_replicates(ratio(est), ratio(reps), level=LEVEL, n_units=50)
    assert (fast.estimate, fast.low, fast.high) == pytest.approx((generic.estimate, generic.low, generic.high), abs=1e-9)
    k = len(STANDIN_OFFSETS) - 1
    values = np.concatenate([(wrong[:, :, None] * onehot[:, None, :]).reshape(len(wrong), -1), wrong], axis=1)
    est, reps = stats.bootstrap_replicates("mean", values, n_boot=BOOT, seed=13, groups=image)
    per = lambda m: m[..., :r * k].reshape(m.shape[:-1] + (r, k)) * (k + 1) / m[..., r * k:, None]   # noqa: E731
    hard = int(np.argmax(truth_ratio[1:]))
    iv = stats.interval_from_replicates(per(est)[:, hard], per(reps)[..., hard], level=LEVEL, n_units=50)
    _in_band(_row("error ratio of one factor", "demo: mistakes stand-in", "50 images x 10 factors",
                  f"{truth_ratio[1 + hard]:.3f}", "expanded percentile bootstrap (images)", iv.low, iv.high,
                  truth_ratio[1 + hard]))
    iv = stats.interval_from_replicates(per(est).mean(axis=-1), per(reps).mean(axis=-1), level=LEVEL, n_units=50)
    _in_band(_row("mean error ratio", "demo: mistakes stand-in", "50 images x 10 factors", f"{truth_mean:.3f}",
                  "expanded percentile bootstrap (images)", iv.low, iv.high, truth_mean))
    # paper: one top factor per image, at ImageNet-X's own shares; factors differ in difficulty
    names = list(IMAGENET_X_COUNTS)
    share = np.array([IMAGENET_X_COUNTS[f] for f in names], dtype=float)
    share /= share.sum()
    offsets = np.linspace(0.3, -1.2, len(names))
    alpha = S.alpha_for(0.85)
    err = np.array([1 - S.accuracy(alpha + d) for d in offsets])
    overall = float(share @ err)
    n, r, boot = 46110, 100, 200
    for name in ("multiple_objects", "texture"):
        j = names.index(name)
        truth = err[j] / overall
        rest = (overall - share[j] * err[j]) / (1 - share[j])    # the other images' error rate
        f = rng.uniform(size=(n, r)) < share[j]
        wrong = rng.uniform(size=(n, r)) < np.where(f, err[j], rest)
        est, reps = stats.bootstrap_replicates("mean", np.concatenate([wrong & f, f, wrong], axis=1).astype(float),
                                               n_boot=boot, seed=14)
        ratio = lambda m: (m[..., :r] / m[..., r:2 * r]) / m[..., 2 * r:]   # noqa: E731
        iv = stats.interval_from_replicates(ratio(est), ratio(reps), level=LEVEL, n_units=n)
        _in_band(_row(f"error ratio, {name.replace('_', ' ')}", "paper: ImageNet-X on val",
                      f"46,110 images ({IMAGENET_X_COUNTS[name]} {name.replace('_', ' ')})", f"{truth:.3f}",
                      "expanded percentile bootstrap", iv.low, iv.high, truth, resamples=boot))


# ========================================================================== calibration

def _calibration_rows(where, n, kind, gap, r, boot, seed):
    truth = S.calibration_truth(kind, gap)
    rng = np.random.default_rng(seed)
    conf, correct = S.calibration_data(rng, n, r, kind, gap)
    step = max(1, 1_250_000 // n)      # columns per call: bounds the per-image bin matrix (the resamples are shared)
    parts = [stats.calibration_error_ci(conf[:, j:j + step], correct[:, j:j + step], n_boot=boot, seed=seed)
             for j in range(0, r, step)]
    iv = stats.Interval(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("estimate", "low", "high")),
                        LEVEL, boot, n)
    label = {"perfect": "perfectly calibrated", "over": "over-confident", "mixed": "over- and under-confident"}[kind]
    row = _row("ECE (debiased)", where, f"{n:,} images", f"{truth:.3f} ({label})",
               "debiased ECE ± z·sd*, reaching 0 when calibration is not rejected", iv.low, iv.high, truth,
               resamples=boot)
    return row, conf, correct, truth, iv


def test_calibration_error_demo():
    """The calibration headline (``stats.calibration_error_ci``) on 1,000 ImageNet-like
    confidences: perfectly calibrated (truth 0), over- and under-confident by 0.03 (truth
    0.027), over-confident by 0.14. The plug-in ECE's percentile interval, which the page
    showed before, measured on the same datasets and resamples for reference."""
    row, conf, correct, truth, iv = _calibration_rows("demo: ImageNet sample images", 1000, "perfect", 0.0, 200,
                                                      BOOT, 20)
    _in_band(row)
    assert iv.low[0] == 0.0 <= iv.high[0]          # the first simulated perfect model is covered
    row, conf, correct, truth, iv = _calibration_rows("demo: ImageNet sample images", 1000, "mixed", 0.03, 200,
                                                      BOOT, 21)
    _in_band(row)
    # before: the percentile interval of the plug-in ECE, on the same resamples
    point, sums = stats._calibration_sums(conf, correct, 15, BOOT, 21)
    plug = metrics.calibration_errors_from_sums(sums)["ece"]
    est = metrics.calibration_errors_from_sums(point)["ece"]
    assert est[0] == pytest.approx(metrics.expected_calibration_error(conf[:, 0], correct[:, 0]), abs=1e-12)
    was = stats.interval_from_replicates(est, plug, level=LEVEL)
    _row("ECE (plug-in)", "demo: ImageNet sample images", "1,000 images", f"{truth:.3f} (over- and under-confident)",
         "percentile bootstrap", was.low, was.high, truth, target=False)
    row, *_ = _calibration_rows("demo: ImageNet sample images", 1000, "over", 0.14, 100, BOOT, 22)
    _in_band(row)


def test_calibration_error_paper():
    """ImageNet val (50,000, ECE about 0.03: the supervised models) and ImageNet-R (30,000,
    ECE 0.025). 100 resamples per interval here, not the profiles' 1,000: the interval is
    z times the resamples' standard deviation, which 100 estimate to within 7%."""
    row, *_ = _calibration_rows("paper: ImageNet val", 50000, "mixed", 0.03, 60, 100, 23)
    _in_band(row)
    row, *_ = _calibration_rows("paper: ImageNet-R", 30000, "over", 0.025, 80, 100, 24)
    _in_band(row)
    # a perfectly calibrated model at the paper's size: its interval reaches its true 0
    rng = np.random.default_rng(25)
    conf, correct = S.calibration_data(rng, 50000, 1, "perfect", 0.0)
    iv = stats.calibration_error_ci(conf[:, 0], correct[:, 0], n_boot=100, seed=25)
    assert iv.low == 0.0 <= iv.high < 0.01


def test_calibration_error_difference():
    """The paired difference of two models' debiased ECE on the same images (the page's
    comparisons, the protocol-sensitivity table): both calibrated (truth 0), and one
    over-confident by 0.03 against a calibrated one. Their correctness shares the images'
    difficulty: the pairing matters."""
    rng = np.random.default_rng(26)
    n, r = 1000, 100
    for kinds, gaps in ((("perfect", "perfect"), (0.0, 0.0)), (("over", "over"), (0.14, 0.03)),
                        (("over", "perfect"), (0.03, 0.0))):
        conf = S.draw_confidence(rng, n, r)
        u = rng.uniform(size=(n, r))                       # one draw per image: the models err together
        shifted = np.clip(conf + rng.normal(0, 0.03, size=conf.shape), 0.06, 1.0)
        a = (conf, u < S.accuracy_at(conf, kinds[0], gaps[0]))
        b = (shifted, u < S.accuracy_at(shifted, kinds[1], gaps[1]))
        truth = S.calibration_truth(kinds[0], gaps[0]) - _shifted_truth(kinds[1], gaps[1])
        est, reps = stats.calibration_error_replicates(np.concatenate([a[0], b[0]], axis=1),
                                                       np.concatenate([a[1], b[1]], axis=1), n_boot=BOOT, seed=27)
        iv = stats.normal_interval(est[:r] - est[r:], reps[:, :r] - reps[:, r:], level=LEVEL)
        row = _row("difference in debiased ECE (paired)", "demo: ImageNet sample images", "1,000 images",
                   f"{truth:+.3f} ({kinds[0]} {gaps[0]:g} vs {kinds[1]} {gaps[1]:g})",
                   "difference ± z·sd* of paired resamples", iv.low, iv.high, truth)
        if kinds[1] == "perfect" and kinds[0] != "perfect":
            # a calibrated model's debiased ECE keeps an upward bias (no estimator of |gap| is
            # unbiased at 0), so the difference sits too close to 0: the page states this coverage
            assert abs(row.coverage - stats.STATED_ECE_DIFFERENCE_COVERAGE) < 3 * row.se + 0.01
        else:
            _in_band(row)


def _shifted_truth(kind, gap):
    """The binned ECE of the second model, whose confidence is the first's plus N(0, 0.03)
    noise (clipped to [0.06, 1]): by a fixed sample of four million (perfect: 0)."""
    if kind == "perfect":
        return 0.0
    rng = np.random.default_rng(99)
    c = np.clip(S.draw_confidence(rng, 4_000_000, 1)[:, 0] + rng.normal(0, 0.03, 4_000_000), 0.06, 1.0)
    b = np.searchsorted(np.arange(16)[1:-1] / 15, c)
    return float(np.abs(np.bincount(b, c - S.accuracy_at(c, kind, gap), 15) / len(c)).sum())


# ================================================================================== CKA

def _cka_cell(where, n, m, r, seed, *, was=False):
    """Mean unbiased CKA of each model to the others (last layer), jackknife interval, on
    features of M models that share a latent part (true CKA about 0.8)."""
    loadings, latent = S.cka_models(np.random.default_rng(m), m)      # one world per number of models
    rng = np.random.default_rng(seed)
    truth = metrics.mean_to_others(S.cka_population(loadings, latent, 1.0))
    lows, highs, was_low, was_high = [], [], [], []
    for _ in range(r):
        feats = S.cka_features(rng, n, loadings, latent)
        grams = [x @ x.T for x in feats]
        cka, loo = metrics.unbiased_cka_matrix(grams, leave_one_out=True)
        iv = stats.jackknife_interval(metrics.mean_to_others(cka), metrics.mean_to_others(loo), level=LEVEL)
        lows.append(iv.low)
        highs.append(iv.high)
        if was:   # the biased CKA's basic bootstrap interval from 200 resamples, as the page had it
            page_grams = [metrics.gram(x) for x in feats]
            est = metrics.mean_cka_to_others(page_grams, np.arange(n))
            draws = rng.integers(0, n, size=(200, n))
            reps = np.stack([metrics.mean_cka_to_others(page_grams, d) for d in draws])
            q_lo, q_hi = np.quantile(reps, [0.025, 0.975], axis=0)
            was_low.append(2 * est - q_hi)
            was_high.append(2 * est - q_lo)
    size = f"{n:,} images, {m} models"
    if m == 2:   # both models' mean CKA is the one CKA between them
        truth, lows, highs = truth[:1], [x[:1] for x in lows], [x[:1] for x in highs]
        was_low, was_high = [x[:1] for x in was_low], [x[:1] for x in was_high]
    truth_text = f"{truth.mean():.3f} (mean over models)"
    if not was:
        return _row("mean CKA to the other models", where, size, truth_text, "unbiased-HSIC CKA ± t·jackknife s.e.",
                    np.array(lows), np.array(highs), truth[None, :], resamples=0)
    return _row("mean CKA to the other models", where, size, truth_text, "linear CKA, basic bootstrap",
             np.array(was_low), np.array(was_high), truth[None, :], resamples=200, target=False)


def test_cka():
    """The similarity headline at the demo's 64 images (2 models: the demo; 4: the small
    profile) and the paper's 1,000 images (4 models). Coverage counts every model's
    interval of every dataset (M per dataset)."""
    _in_band(_cka_cell("demo: 64 sample images", 64, 2, 250, 30))
    _cka_cell("demo: 64 sample images", 64, 2, 60, 33, was=True)
    _in_band(_cka_cell("small: 64 sample images", 64, 4, 100, 31))
    _in_band(_cka_cell("paper: 1,000 val images", 1000, 4, 25, 32))


# ============================================================ means of several samples

#: the paper's seven robustness datasets: images, accuracy of a supervised model; the
#: last three are made of ImageNet val images (ImageNet-C: 75 cells of each; ReaL: val
#: with its re-assessed labels, the images with an empty label set left out; Hard: a
#: subset), so their errors fall on the same images
ROBUSTNESS = {"imagenet-v2": (10000, 0.76), "imagenet-a": (7500, 0.53), "imagenet-r": (30000, 0.62),
              "imagenet-sketch": (50889, 0.49), "imagenet-c": (50000, 0.67), "imagenet-real": (48700, 0.89),
              "imagenet-hard": (10980, 0.29)}
FROM_VAL = ("imagenet-c", "imagenet-real", "imagenet-hard")
#: the ones the page can match to val images by file name (Hard's files are renamed, and its
#: source image is not recorded)
SHARED = ("imagenet-c", "imagenet-real")
VAL = 50000


def test_mean_of_seven_shares_the_val_images():
    """The robustness mean of seven. ImageNet-C, ReaL and Hard score val images, and an
    image hard for one is hard for the others: their means covary. Resampling each on its
    own (as if independent) drops that covariance; one resampling of the val image ids
    (``universe=``) keeps it for the two whose images the page can match to val by file
    name, C and ReaL (Hard's files are renamed on conversion: resampled on its own). Both
    measured on the same datasets; the others are resampled on their own either way."""
    rng = np.random.default_rng(40)
    r, boot = 200, 300
    u_val = rng.normal(size=(VAL, r))                       # each val image's difficulty
    truth, parts_indep, parts_shared = [], [], []
    for k, (name, (n, acc)) in enumerate(ROBUSTNESS.items()):
        a = S.alpha_for(acc)
        truth.append(S.accuracy(a))
        if name in FROM_VAL:
            ids = np.arange(VAL) if n == VAL else np.sort(rng.choice(VAL, n, replace=False))
            if name == "imagenet-c":   # the share of an image's 75 cells right: its probability, plus
                p = S.expit(a + 1.5 * u_val)  # the noise of 75 Bernoulli cells (a normal of that variance)
                x = p + np.sqrt(p * (1 - p) / 75) * rng.normal(size=p.shape)
            else:
                x = (rng.uniform(size=(n, r)) < S.expit(a + 1.5 * u_val[ids])).astype(float)
            parts_indep.append(stats.bootstrap_replicates("mean", x, n_boot=boot, seed=100 + k))
            if name in SHARED:
                parts_shared.append(stats.bootstrap_replicates("mean", x, n_boot=boot, seed=100, groups=ids,
                                                               universe=np.arange(VAL)))
            else:
                parts_shared.append(parts_indep[-1])
        else:   # images of their own: independent rows, right with the dataset's accuracy
            x = (rng.uniform(size=(n, r)) < truth[-1]).astype(float)
            part = stats.bootstrap_replicates("mean", x, n_boot=boot, seed=100 + k)
            parts_indep.append(part)
            parts_shared.append(part)
    truth = float(np.mean(truth))
    units = sum(n for n, _ in ROBUSTNESS.values())
    shared = stats.mean_of_independent(parts_shared, level=LEVEL, n_units=units)
    indep = stats.mean_of_independent(parts_indep, level=LEVEL, n_units=units)
    _in_band(_row("robustness mean of 7", "paper: the seven datasets", "10,000 to 50,889 images each",
                  f"{truth:.3f}", "val images resampled once for C and ReaL", shared.low, shared.high, truth,
                  resamples=boot))
    _row("robustness mean of 7", "paper: the seven datasets", "10,000 to 50,889 images each", f"{truth:.3f}",
         "each dataset resampled on its own", indep.low, indep.high, truth, resamples=boot, target=False)
    assert np.mean(shared.high - shared.low) > np.mean(indep.high - indep.low)


#: VTAB-1k's 19 test splits (images) and a probe's accuracy on each
VTAB = [(6084, 0.90), (10000, 0.70), (1880, 0.70), (6149, 0.97), (3669, 0.90), (21750, 0.55), (26032, 0.60),
        (32768, 0.82), (5400, 0.95), (6300, 0.85), (42670, 0.74), (15000, 0.55), (15000, 0.58), (22735, 0.45),
        (73728, 0.75), (73728, 0.55), (711, 0.75), (12150, 0.30), (12150, 0.40)]


def test_mean_of_independent_samples_vtab():
    """The transfer page's mean over the 19 VTAB-1k tasks: independent test sets, each
    resampled on its own, replicates averaged replicate-wise."""
    rng = np.random.default_rng(41)
    r, boot = 300, 200
    parts, truth = [], []
    for k, (n, acc) in enumerate(VTAB):
        a = S.alpha_for(acc)
        truth.append(S.accuracy(a))
        x = (rng.uniform(size=(n, r)) < truth[-1]).astype(float)      # independent test images
        parts.append(stats.bootstrap_replicates("mean", x, n_boot=boot, seed=200 + k))
    truth = float(np.mean(truth))
    iv = stats.mean_of_independent(parts, level=LEVEL, n_units=sum(n for n, _ in VTAB))
    _in_band(_row("VTAB mean of 19 tasks", "paper: the 19 test splits", "711 to 73,728 images each",
                  f"{truth:.3f}", "replicate-wise mean of independent resamples", iv.low, iv.high, truth,
                  resamples=boot))


# =============================================================================== humans

def test_error_consistency_with_observers():
    """The shape-bias page's mean error consistency with the human observers: 1,280 stimuli,
    10 observers drawn from a population of people who differ in accuracy and in how much
    their errors follow the stimuli's difficulty. The truth is the population's mean kappa
    with the model ("people in general"): the two-level bootstrap (observers and stimuli)
    covers it; resampling the stimuli alone speaks for these ten observers only, and is
    measured against the same truth for reference."""
    pop = S.ObserverPopulation.make()
    truth = pop.truth()
    rng = np.random.default_rng(50)
    both, stim = [], []
    for i in range(150):
        model, obs = pop.draw(rng, 1280, 10)
        both.append(stats.observer_consistency_ci(model[:, None], obs, n_boot=BOOT, seed=51))
        if i < 80:
            stim.append(stats.observer_consistency_ci(model[:, None], obs, n_boot=BOOT, seed=51, resample="stimuli"))
    lows, highs = np.array([iv.low for iv in both]).ravel(), np.array([iv.high for iv in both]).ravel()
    _in_band(_row("mean κ with the observers", "demo = paper: cue-conflict, 10 observers", "1,280 stimuli",
                  f"{truth:.3f} (people in general)", "stimuli resampled + between-observer variance", lows, highs, truth))
    lows, highs = np.array([iv.low for iv in stim]).ravel(), np.array([iv.high for iv in stim]).ravel()
    _row("mean κ with the observers", "demo = paper: cue-conflict, 10 observers", "1,280 stimuli",
         f"{truth:.3f} (people in general)", "stimuli resampled, observers fixed", lows, highs, truth, target=False)


# ================================================================ multiple comparisons

def _null_report(rng, n, r, m=4, acc=0.75):
    """R reports of M models that do not differ (the same accuracy, correlated errors)."""
    a = S.alpha_for(acc)
    return [x.astype(float) for x in S.correlated_correct(rng, n, r, [a] * m)]


def _false_rankings(per_model, boot, seed):
    """(share of reports with any false "A is ahead of B": simultaneous intervals,
    uncorrected per-pair percentile intervals), the models' replicates drawn on the same
    resamples (what ``stats.pairwise_ranking`` does for one report, all reports at once)."""
    m, r = len(per_model), per_model[0].shape[1]
    est, reps = stats.bootstrap_replicates("mean", np.concatenate(per_model, axis=1), n_boot=boot, seed=seed)
    est, reps = est.reshape(m, r), reps.reshape(boot, m, r)
    any_sim, any_raw = [], []
    for j in range(r):
        names = {f"m{i}": est[i, j] for i in range(m)}
        table = stats.simultaneous_differences(names, reps[:, :, j], level=LEVEL)
        any_sim.append(bool(table["holds"].any()))
        raw = False
        for a, b in zip(table["better"], table["worse"]):
            d = stats.interval_from_replicates(0.0, reps[:, int(a[1:]), j] - reps[:, int(b[1:]), j], level=LEVEL,
                                               n_units=per_model[0].shape[0])
            raw |= bool(d.low > 0 or d.high < 0)
        any_raw.append(raw)
    return np.array(any_sim), np.array(any_raw)


def test_no_false_rankings_when_no_model_differs():
    """A simulated report of four models that do not differ: the share of reports saying
    "A is ahead of B" for any of the six pairs of a metric is at most the 5% the
    simultaneous intervals promise; uncorrected per-pair intervals, for reference, say it
    in about one report in six."""
    rng = np.random.default_rng(60)
    for where, n, r, boot in (("demo: ImageNet sample images", 1000, 400, BOOT),
                              ("paper: ImageNet val", 50000, 80, 200)):
        sim, raw = _false_rankings(_null_report(rng, n, r), boot, 61)
        fwer, se = float(sim.mean()), float(np.sqrt(0.05 * 0.95 / r))
        row = S.Row("no false ranking among 6 pairs", where, f"{n:,} images, 4 equal models", "no difference",
                    "simultaneous (max-t) bootstrap intervals", 1 - fwer, se, r, boot)
        ROWS.append(row)
        assert fwer <= 0.05 + 2.58 * se, row.line()
        ROWS.append(S.Row("no false ranking among 6 pairs", where, f"{n:,} images, 4 equal models", "no difference",
                          "per-pair percentile intervals", 1 - float(raw.mean()), se, r, boot, target=False))
    # one report through the product's own path gives the same verdicts as the batched one
    one = _null_report(np.random.default_rng(62), 1000, 1)
    table = stats.pairwise_ranking("mean", {f"m{i}": x[:, 0] for i, x in enumerate(one)}, n_boot=BOOT, seed=61)
    sim, _ = _false_rankings(one, BOOT, 61)
    assert bool(table["holds"].any()) == bool(sim[0])


def _any_false(est, reps) -> bool:
    """Whether the simultaneous intervals of models that do not differ claim any order."""
    table = stats.simultaneous_differences({f"m{i}": e for i, e in enumerate(est)}, reps, level=LEVEL)
    return bool(table["holds"].any())


def test_a_report_of_equal_models_makes_at_most_the_expected_share_of_false_rankings():
    """A simulated report of four models that do not differ, on three metrics whose
    comparisons rest on different replicates: top-1 (bootstrap of images, the models' errors
    correlated), the debiased ECE (``calibration_error_replicates``: all four over-confident
    by 0.05) and the mean unbiased CKA to the others (``jackknife_replicates``: four models
    with the same loadings). For each metric, the share of reports with any false "A is
    ahead of B" is at most 5%; over the report, the false rankings per report are at most
    the 0.15 three metrics allow."""
    rng = np.random.default_rng(65)
    r, m = 200, 4
    per_metric = {}
    est, reps = stats.bootstrap_replicates("mean", np.concatenate(_null_report(rng, 1000, r, m), axis=1),
                                           n_boot=BOOT, seed=66)
    est, reps = est.reshape(m, r), reps.reshape(BOOT, m, r)
    per_metric["top-1"] = [_any_false(est[:, j], reps[:, :, j]) for j in range(r)]
    conf, correct = S.calibration_data(rng, 1000, m * r, "over", 0.05)
    est, reps = stats.calibration_error_replicates(conf, correct, n_boot=BOOT, seed=67)
    est, reps = est.reshape(r, m), reps.reshape(BOOT, r, m)
    per_metric["debiased ECE"] = [_any_false(est[j], reps[:, j]) for j in range(r)]
    (loading,), latent = S.cka_models(np.random.default_rng(68), 1)
    cka = []
    for j in range(r):
        feats = S.cka_features(rng, 64, [loading] * m, latent)
        mat, loo = metrics.unbiased_cka_matrix([x @ x.T for x in feats], leave_one_out=True)
        e, left = metrics.mean_to_others(mat), metrics.mean_to_others(loo)
        cka.append(_any_false(e, stats.jackknife_replicates(e, left, n_boot=BOOT, seed=69 + j)))
    per_metric["mean CKA to the others"] = cka
    se = float(np.sqrt(0.05 * 0.95 / r))
    for name, flags in per_metric.items():
        fwer = float(np.mean(flags))
        row = S.Row(f"no false ranking among 6 pairs ({name})", "demo: a report of 4 equal models",
                    "1,000 images (CKA: 64)", "no difference", "simultaneous intervals", 1 - fwer, se, r, BOOT)
        ROWS.append(row)
        assert fwer <= 0.05 + 2.58 * se, row.line()
    per_report = np.sum([np.asarray(f, dtype=float) for f in per_metric.values()], axis=0)
    assert per_report.mean() <= 3 * 0.05 + 2.58 * per_report.std(ddof=1) / np.sqrt(r)


def test_simultaneous_intervals_and_rank_intervals_cover_together():
    """Four models that do differ (top-1 0.72, 0.72, 0.75, 0.80 on 1,000 images): the six
    simultaneous intervals cover all six true differences at once, and the rank intervals
    (``ranks_from_replicates``) cover every model's true rank (the two equal models share
    rank 3)."""
    accs = (0.72, 0.72, 0.75, 0.80)
    alphas = [S.alpha_for(a) for a in accs]
    truth = np.array([S.accuracy(a) for a in alphas])
    true_rank = stats._ranks(truth, True)
    rng = np.random.default_rng(63)
    n, r = 1000, 300
    per_model = [x.astype(float) for x in S.correlated_correct(rng, n, r, alphas)]
    est, reps = stats.bootstrap_replicates("mean", np.concatenate(per_model, axis=1), n_boot=BOOT, seed=64)
    est, reps = est.reshape(4, r), reps.reshape(BOOT, 4, r)
    all_cover, ranks_cover, ranks_each = [], [], []
    names = [f"m{i}" for i in range(4)]
    for j in range(r):
        point = dict(zip(names, est[:, j]))
        table = stats.simultaneous_differences(point, reps[:, :, j], level=LEVEL)
        diff = np.array([truth[names.index(a)] - truth[names.index(b)] for a, b in zip(table["better"], table["worse"])])
        all_cover.append(bool(np.all((table["low"] <= diff) & (diff <= table["high"]))))
        ranks = stats.ranks_from_replicates(point, reps[:, :, j], level=LEVEL).set_index("model").loc[names]
        hit = (ranks["rank_low"].to_numpy() <= true_rank) & (true_rank <= ranks["rank_high"].to_numpy())
        ranks_cover.append(bool(hit.all()))
        ranks_each.append(hit)
    size = "1,000 images, 4 models"
    row = S.Row("all 6 differences at once", "demo: ImageNet sample images", size, "0.72, 0.72, 0.75, 0.80",
                "simultaneous (max-t) bootstrap intervals", *S.coverage(np.zeros(r), np.array(all_cover, float), 1.0)[:2],
                r, BOOT)
    ROWS.append(row)
    assert row.coverage >= row.band()[0], row.line()
    each = np.array(ranks_each, dtype=float)
    c, se, _ = S.coverage(np.zeros_like(each), each, 1.0)
    row = S.Row("rank interval", "demo: ImageNet sample images", size, "ranks 3, 3, 2, 1",
                "percentile of each resample's ranks", c, se, r, BOOT)
    ROWS.append(row)
    assert row.coverage >= row.band()[0], row.line()
    c, se, _ = S.coverage(np.zeros(r), np.array(ranks_cover, float), 1.0)
    ROWS.append(S.Row("all 4 rank intervals at once", "demo: ImageNet sample images", size, "ranks 3, 3, 2, 1",
                      "percentile of each resample's ranks", c, se, r, BOOT))


if __name__ == "__main__":     # python tests/test_coverage.py: every cell, then the table
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        for name, test in list(globals().items()):
            if name.startswith("test_") and callable(test):
                test()
    print(table())
