"""beyond_inet_lib.stats against independent references: Wilson intervals (scipy), the
normal interval of paired differences, scipy's exact binomial test, scikit-learn's Cohen's
kappa, hand-computed 2x2 tables, and identities (identical models differ by exactly 0; the
fast and the generic bootstrap draw the same resamples)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, norm

from beyond_inet_lib import metrics, stats


def _shuffled(n_ones, n, seed=0):
    x = np.zeros(n, dtype=bool)
    x[:n_ones] = True
    return np.random.default_rng(seed).permutation(x)


# ====================================================================== bootstrap_ci


def test_bootstrap_of_a_proportion_matches_wilson():
    x = _shuffled(3000, 10_000)
    iv = stats.bootstrap_ci("mean", x, n_boot=2000)
    ref = binomtest(3000, 10_000).proportion_ci(confidence_level=0.95, method="wilson")
    assert iv.estimate == 0.3
    # Monte-Carlo error of a 2.5% quantile with 2,000 replicates is ~0.0003 here
    assert iv.low == pytest.approx(ref.low, abs=0.0015)
    assert iv.high == pytest.approx(ref.high, abs=0.0015)
    assert iv.n_units == 10_000 and iv.n_boot == 2000 and iv.level == 0.95


def test_groups_resample_images_not_rows():
    """500 images, each scored in 20 cells with the same outcome: the information is 500
    images, not 10,000 rows. The cluster bootstrap matches Wilson at n = 500 and is about
    sqrt(20) times wider than the (wrong) row bootstrap."""
    per_image = _shuffled(150, 500, seed=1)
    values = np.repeat(per_image, 20)
    image = np.repeat(np.arange(500), 20)
    perm = np.random.default_rng(2).permutation(len(values))   # rows in any order
    grouped = stats.bootstrap_ci("mean", values[perm], groups=image[perm], n_boot=2000)
    rows = stats.bootstrap_ci("mean", values[perm], n_boot=2000)
    ref = binomtest(150, 500).proportion_ci(method="wilson")
    assert grouped.n_units == 500 and rows.n_units == 10_000
    assert grouped.low == pytest.approx(ref.low, abs=0.006)
    assert grouped.high == pytest.approx(ref.high, abs=0.006)
    assert grouped.half_width / rows.half_width == pytest.approx(np.sqrt(20), rel=0.15)


def test_fast_and_generic_paths_draw_the_same_resamples():
    rng = np.random.default_rng(3)
    x = rng.uniform(size=300)
    fast = stats.bootstrap_ci("mean", x, n_boot=300, seed=11)
    slow = stats.bootstrap_ci(lambda v: v.mean(), x, n_boot=300, seed=11)
    assert (fast.low, fast.high) == pytest.approx((slow.low, slow.high), abs=1e-12)
    g = rng.integers(0, 40, 300)
    fast = stats.bootstrap_ci(np.mean, x, n_boot=200, seed=5, groups=g)
    slow = stats.bootstrap_ci(lambda v: float(np.mean(v)), x, n_boot=200, seed=5, groups=g)
    assert (fast.low, fast.high) == pytest.approx((slow.low, slow.high), abs=1e-12)


def _imagenet_c_like(n_images=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = [{"image": i, "corruption": c, "severity": s,
             "correct": rng.uniform() < 0.9 - 0.12 * s + 0.05 * k}
            for i in range(n_images) for k, c in enumerate(("fog", "snow", "blur")) for s in range(1, 6)]
    return pd.DataFrame(rows)


def test_cells_give_imagenet_c_mean_of_means_and_match_the_generic_path():
    t = _imagenet_c_like()
    cell = t["corruption"] + t["severity"].astype(str)
    fast = stats.bootstrap_ci("mean", t["correct"], groups=t["image"], cells=cell, n_boot=200)
    assert fast.estimate == pytest.approx(metrics.imagenet_c_summary(t).attrs["mean"], abs=1e-12)
    assert fast.n_units == 40

    def mean_of_means(table):
        return metrics.imagenet_c_summary(table).attrs["mean"]

    slow = stats.bootstrap_ci(mean_of_means, t, groups=t["image"], n_boot=200)
    assert fast.estimate == pytest.approx(slow.estimate, abs=1e-12)
    assert (fast.low, fast.high) == pytest.approx((slow.low, slow.high), abs=1e-12)


def test_cell_means_give_every_set_of_cells_the_interval_of_resampling_its_rows():
    """One resampling for all cells: the mean over any cells (all; one corruption's
    severities; one severity's corruptions) has the interval ``bootstrap_ci`` gives those
    cells' rows; where some units lack rows in the chosen cells, it is the interval of
    resampling every unit of the sample (``universe=``), not only those with rows."""
    t = _imagenet_c_like()
    cell = (t["corruption"] + "/" + t["severity"].astype(str)).to_numpy()
    x = t["correct"].to_numpy(dtype=float)
    cm = stats.cell_means(x, cells=cell, groups=t["image"], n_boot=300, seed=4)
    whole = stats.bootstrap_ci("mean", x, groups=t["image"], cells=cell, n_boot=300, seed=4)
    assert cm.interval() == whole
    for rows in (t["corruption"] == t["corruption"].iloc[0], t["severity"] == 2):
        rows = rows.to_numpy()
        part = stats.bootstrap_ci("mean", x[rows], groups=t["image"][rows], cells=cell[rows], n_boot=300, seed=4)
        got = cm.interval(cell[rows])
        assert (got.estimate, got.low, got.high) == pytest.approx((part.estimate, part.low, part.high), abs=1e-12)
        assert got.n_units == part.n_units == 40
    # images 0-9 have no rows in the first cell: those cells' replicates draw them anyway
    images = t["image"].to_numpy()
    keep = ~((cell == cell[0]) & np.isin(images, np.unique(images)[:10]))
    cm = stats.cell_means(x[keep], cells=cell[keep], groups=images[keep], n_boot=300, seed=4)
    est, reps = stats.bootstrap_replicates("mean", x[keep & (cell == cell[0])], groups=images[keep & (cell == cell[0])],
                                           cells=cell[keep & (cell == cell[0])], universe=images, n_boot=300, seed=4)
    got_est, got_reps = cm.mean([cell[0]])
    assert got_est == pytest.approx(est, abs=1e-12)
    np.testing.assert_allclose(got_reps, reps, atol=1e-12)
    with pytest.raises(ValueError, match="not in this sample"):
        cm.mean(["no such cell"])
    assert stats.cell_means(x, cells=cell, groups=t["image"], n_boot=0).replicates is None


def test_replicates_by_cell_are_each_cells_own_resampled_on_the_units_of_all_rows():
    """ECE per severity and over all rows from one resampling: each cell's replicates equal
    ``bootstrap_replicates`` of that cell's rows with the units of all rows as universe,
    and all rows' equal the plain bootstrap's, estimates included."""
    rng = np.random.default_rng(7)
    n_images, severities = 60, (1, 2, 3)
    image = np.repeat(np.arange(n_images), len(severities))
    severity = np.tile(severities, n_images)
    drop = rng.random(len(image)) < 0.1                 # some images lack some severities
    image, severity = image[~drop], severity[~drop]
    conf = rng.uniform(0.2, 1.0, len(image))
    correct = rng.random(len(image)) < conf - 0.1 * severity
    ece = metrics.ExpectedCalibrationError(10)
    units, by = stats.replicates_by_cell(ece, conf, correct, cells=severity, groups=image, n_boot=200, seed=3)
    assert units == n_images and set(by) == {1, 2, 3, None}
    for s in severities:
        rows = severity == s
        est, reps = stats.bootstrap_replicates(ece, conf[rows], correct[rows], groups=image[rows],
                                               universe=image, n_boot=200, seed=3)
        assert by[s][0] == pytest.approx(est, abs=1e-12)
        np.testing.assert_allclose(by[s][1], reps, atol=1e-12)
    est, reps = stats.bootstrap_replicates(ece, conf, correct, groups=image, n_boot=200, seed=3)
    assert by[None][0] == pytest.approx(est, abs=1e-12)
    np.testing.assert_allclose(by[None][1], reps, atol=1e-12)
    _, alone = stats.replicates_by_cell(ece, conf, correct, cells=severity, groups=image, n_boot=0)
    assert alone[2] == (pytest.approx(by[2][0], abs=1e-12), None)
    with pytest.raises(ValueError, match="statistic of sums"):
        stats.replicates_by_cell(np.mean, conf, cells=severity)


def test_a_non_mean_statistic_ece():
    rng = np.random.default_rng(4)
    conf = rng.uniform(0.3, 1.0, 2000)
    correct = rng.uniform(size=2000) < conf - 0.1     # over-confident by ~0.1
    iv = stats.bootstrap_ci(metrics.expected_calibration_error, conf, correct, n_boot=200)
    assert iv.estimate == pytest.approx(metrics.expected_calibration_error(conf, correct))
    assert iv.low < iv.estimate < iv.high
    assert 0.05 < iv.low and iv.high < 0.15


def test_vector_statistic_and_nan_replicates():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    iv = stats.bootstrap_ci(lambda v: np.array([v.min(), v.max()]), x, n_boot=100)
    np.testing.assert_array_equal(iv.estimate, [1.0, 4.0])
    assert iv.low.shape == (2,) and (iv.low <= iv.high).all()
    # a statistic undefined on some resamples: those are counted and left out
    iv = stats.bootstrap_ci(lambda v: np.nan if (v == 1.0).all() else v.mean(), np.array([1.0, 2.0]),
                            n_boot=400)
    assert 50 < iv.n_failed < 150          # P(both draws are the 1.0) = 1/4
    assert iv.low >= 1.0 and iv.high <= 2.0


def test_seeded_and_deterministic():
    x = np.random.default_rng(0).uniform(size=100)   # continuous: quantiles not on a lattice
    a = stats.bootstrap_ci("mean", x, seed=1)
    b = stats.bootstrap_ci("mean", x, seed=1)
    c = stats.bootstrap_ci("mean", x, seed=2)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)


def test_bad_input():
    with pytest.raises(ValueError, match="length"):
        stats.bootstrap_ci(lambda a, b: 0.0, [1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="level"):
        stats.bootstrap_ci("mean", [1, 0], level=95)
    with pytest.raises(ValueError, match="groups"):
        stats.bootstrap_ci("mean", [1, 0], groups=[1])


# =================================================================== paired comparisons


def test_paired_bootstrap_of_identical_models_is_exactly_zero():
    x = _shuffled(70, 100)
    iv = stats.paired_bootstrap("mean", x, x.copy())
    assert (iv.estimate, iv.low, iv.high) == (0.0, 0.0, 0.0)
    assert not stats.is_significant(iv)
    conf = np.linspace(0.2, 1.0, 100)
    iv = stats.paired_bootstrap(metrics.expected_calibration_error, (conf, x), (conf.copy(), x.copy()),
                                n_boot=50)
    assert (iv.estimate, iv.low, iv.high) == (0.0, 0.0, 0.0)


def test_paired_interval_matches_the_normal_interval_of_differences():
    """Model B = model A with 3% of its answers flipped: the paired interval is the interval
    of the mean per-image difference d_i = a_i - b_i, far narrower than what the two
    accuracies' own intervals suggest."""
    rng = np.random.default_rng(6)
    a = rng.uniform(size=5000) < 0.75
    b = a.copy()
    flip = rng.choice(5000, 150, replace=False)
    b[flip[:120]] = False                  # 120 of A's rights wrong ...
    b[flip[120:]] = True                   # ... and some wrongs right
    iv = stats.paired_bootstrap("mean", a, b, n_boot=2000)
    d = a.astype(float) - b.astype(float)
    half = norm.ppf(0.975) * d.std(ddof=1) / np.sqrt(len(d))
    assert iv.estimate == pytest.approx(d.mean())
    assert iv.low == pytest.approx(d.mean() - half, abs=0.0015)
    assert iv.high == pytest.approx(d.mean() + half, abs=0.0015)
    unpaired = np.hypot(stats.bootstrap_ci("mean", a).half_width, stats.bootstrap_ci("mean", b).half_width)
    assert iv.half_width < unpaired / 3


def test_pairwise_ranking_says_which_orders_hold():
    rng = np.random.default_rng(7)
    a = rng.uniform(size=3000) < 0.8
    b = a.copy()
    b[np.flatnonzero(a)[:6]] = False       # 6 of A's rights wrong, 4 wrongs right: 0.07 points
    b[np.flatnonzero(~a)[:4]] = True       # below A on 10 discordant images, not resolvable
    c = rng.uniform(size=3000) < 0.6
    table = stats.pairwise_ranking("mean", {"b": b, "c": c, "a": a}, n_boot=500)
    got = {(r.better, r.worse): r.holds for r in table.itertuples()}
    assert got == {("a", "b"): False, ("a", "c"): True, ("b", "c"): True}
    assert (table["difference"] >= 0).all()
    # lower is better (e.g. ECE, error ratios): the order flips
    table = stats.pairwise_ranking("mean", {"a": a, "c": c}, higher_is_better=False, n_boot=200)
    assert (table.loc[0, "better"], table.loc[0, "worse"]) == ("c", "a") and table.loc[0, "difference"] < 0


# ============================================================================ McNemar


def _table(both_right, a_only, b_only, both_wrong):
    a = np.array([1] * both_right + [1] * a_only + [0] * b_only + [0] * both_wrong, dtype=bool)
    b = np.array([1] * both_right + [0] * a_only + [1] * b_only + [0] * both_wrong, dtype=bool)
    return a, b


def test_mcnemar_hand_case_and_scipy():
    a, b = _table(50, 8, 2, 40)
    out = stats.mcnemar_exact(a, b)
    np.testing.assert_array_equal(out["table"], [[50, 8], [2, 40]])
    assert (out["b"], out["c"], out["n"]) == (8, 2, 100)
    # 2 * P[Bin(10, 1/2) <= 2] = 2 * (1 + 10 + 45) / 1024
    assert out["p_value"] == pytest.approx(112 / 1024, abs=1e-15)
    assert out["p_value"] == pytest.approx(binomtest(2, 10, 0.5).pvalue, rel=1e-12)
    rng = np.random.default_rng(8)
    for _ in range(20):
        x, y = rng.uniform(size=(2, 300)) < rng.uniform(0.3, 0.9, size=(2, 1))
        got = stats.mcnemar_exact(x, y)
        ref = binomtest(got["b"], got["b"] + got["c"], 0.5).pvalue if got["b"] + got["c"] else 1.0
        assert got["p_value"] == pytest.approx(ref, rel=1e-10)
    assert stats.mcnemar_exact(*_table(5, 0, 0, 5))["p_value"] == 1.0
    assert stats.mcnemar_exact(*_table(5, 3, 3, 5))["p_value"] == 1.0


# ================================================================= error consistency


def test_error_consistency_hand_case_and_sklearn():
    from sklearn.metrics import cohen_kappa_score

    a, b = _table(50, 10, 5, 35)
    out = metrics.error_consistency(a, b)
    # p_a = .6, p_b = .55; c_obs = .85; c_exp = .6 * .55 + .4 * .45 = .51
    assert (out["p_a"], out["p_b"]) == pytest.approx((0.6, 0.55))
    assert out["c_obs"] == pytest.approx(0.85) and out["c_exp"] == pytest.approx(0.51)
    assert out["kappa"] == pytest.approx((0.85 - 0.51) / (1 - 0.51))
    assert out["kappa"] == pytest.approx(cohen_kappa_score(a, b))
    rng = np.random.default_rng(9)
    for _ in range(10):
        x, y = rng.uniform(size=(2, 400)) < rng.uniform(0.2, 0.9, size=(2, 1))
        y[:100] = x[:100]                       # some shared errors
        assert metrics.error_consistency(x, y)["kappa"] == pytest.approx(cohen_kappa_score(x, y), abs=1e-12)


def test_error_consistency_edge_cases_follow_model_vs_human():
    same = np.array([True, False, True, True])
    assert metrics.error_consistency(same, same)["kappa"] == 1.0
    all_right = np.ones(5, dtype=bool)
    assert metrics.error_consistency(all_right, all_right)["kappa"] == 1.0   # 0/0 by the formula
    assert metrics.error_consistency(same, ~same)["kappa"] == pytest.approx(
        (0.0 - (0.75 * 0.25 * 2)) / (1 - 0.375))
    with pytest.raises(ValueError, match="same images"):
        metrics.error_consistency(same, same[:3])


def test_error_consistency_interval_equals_the_generic_bootstrap():
    rng = np.random.default_rng(10)
    a = rng.uniform(size=1280) < 0.7
    b = np.where(rng.uniform(size=1280) < 0.5, a, rng.uniform(size=1280) < 0.6)
    iv = stats.error_consistency_ci(a, b, n_boot=300, seed=3)
    generic = stats.bootstrap_ci(lambda x, y: metrics.error_consistency(x, y)["kappa"], a, b,
                                 n_boot=300, seed=3)
    assert iv.estimate == pytest.approx(metrics.error_consistency(a, b)["kappa"])
    assert (iv.low, iv.high) == pytest.approx((generic.low, generic.high), abs=1e-12)
    assert -1 <= iv.low < iv.estimate < iv.high <= 1


def test_error_consistency_interval_of_many_pairs_is_each_pairs_own():
    """(n, k) columns: each pair's interval as its own call gives it, a pair of two models
    right on every trial (kappa 1 by model-vs-human's rule in every replicate) included."""
    rng = np.random.default_rng(4)
    a = rng.uniform(size=(600, 3)) < 0.7
    b = np.where(rng.uniform(size=(600, 3)) < 0.5, a, rng.uniform(size=(600, 3)) < 0.6)
    a[:, 1] = b[:, 1] = True
    iv = stats.error_consistency_ci(a, b, n_boot=200, seed=5)
    for j in range(3):
        one = stats.error_consistency_ci(a[:, j], b[:, j], n_boot=200, seed=5)
        np.testing.assert_equal((iv.estimate[j], iv.low[j], iv.high[j]), (one.estimate, one.low, one.high))
    assert iv.low[1] == iv.high[1] == 1.0 and (iv.low[[0, 2]] < iv.estimate[[0, 2]]).all() and iv.n_failed == 0


@pytest.mark.parametrize("grouped", [False, True])
def test_a_statistic_of_sums_gives_the_intervals_of_calling_it_on_every_resample(grouped):
    """The plug-in ECE declared as a statistic of sums (metrics.ExpectedCalibrationError) is
    bootstrapped from the units' per-bin totals, all resamples at once: the same interval as
    calling metrics.expected_calibration_error on each resample (same seed), whole groups
    of rows resampled together included (ImageNet-C's images in their 75 cells)."""
    rng = np.random.default_rng(8)
    conf = rng.beta(5, 2, size=900)
    correct = rng.uniform(size=900) < conf - 0.1
    groups = np.repeat(np.arange(150), 6) if grouped else None
    fast = stats.bootstrap_ci(metrics.ExpectedCalibrationError(15), conf, correct, n_boot=300, seed=4, groups=groups)
    slow = stats.bootstrap_ci(lambda c, k: metrics.expected_calibration_error(c, k, 15), conf, correct,
                              n_boot=300, seed=4, groups=groups)
    assert fast.estimate == slow.estimate == metrics.expected_calibration_error(conf, correct, 15)
    assert (fast.low, fast.high) == pytest.approx((slow.low, slow.high), abs=1e-12)
    assert fast.n_units == (150 if grouped else 900) and fast.low < fast.estimate < fast.high


def test_the_two_fold_ece_is_a_statistic_of_sums_too():
    """metrics.TwoFold(ECE): the mean of the two folds' ECEs, bootstrapped from each fold's
    totals: the same interval, and the same paired difference, as calling
    metrics.two_fold_score on every resample."""
    from functools import partial

    rng = np.random.default_rng(9)
    conf = rng.beta(5, 2, size=700)
    correct = rng.uniform(size=700) < conf - 0.05
    scaled = np.clip(conf - 0.05, 0, 1)
    fold = metrics.two_fold_split(700, 3)
    fast = metrics.TwoFold(metrics.ExpectedCalibrationError(15))
    slow = partial(metrics.two_fold_score, lambda c, k: metrics.expected_calibration_error(c, k, 15))
    assert fast(fold, conf, correct) == slow(fold, conf, correct)
    a = stats.bootstrap_ci(fast, fold, conf, correct, n_boot=200, seed=2)
    b = stats.bootstrap_ci(slow, fold, conf, correct, n_boot=200, seed=2)
    assert (a.estimate, a.low, a.high) == pytest.approx((b.estimate, b.low, b.high), abs=1e-12)
    da = stats.paired_bootstrap(fast, (fold, scaled, correct), (fold, conf, correct), n_boot=200, seed=2)
    db = stats.paired_bootstrap(slow, (fold, scaled, correct), (fold, conf, correct), n_boot=200, seed=2)
    assert (da.estimate, da.low, da.high) == pytest.approx((db.estimate, db.low, db.high), abs=1e-12)


def test_the_two_fold_mean_is_a_statistic_of_sums():
    """metrics.TwoFold(metrics.Mean()): the two-fold mean NLL bootstrapped from each fold's
    summed terms and counts: the same estimate and interval as two_fold_score(np.mean) on
    every resample, groups of rows included."""
    from functools import partial

    rng = np.random.default_rng(10)
    terms = rng.exponential(size=600)
    fold = metrics.two_fold_split(600, 4)
    groups = np.repeat(np.arange(200), 3)
    fast = metrics.TwoFold(metrics.Mean())
    slow = partial(metrics.two_fold_score, np.mean)
    assert fast(fold, terms) == slow(fold, terms)
    for g in (None, groups):
        a = stats.bootstrap_ci(fast, fold, terms, n_boot=300, seed=5, groups=g)
        b = stats.bootstrap_ci(slow, fold, terms, n_boot=300, seed=5, groups=g)
        assert (a.estimate, a.low, a.high) == pytest.approx((b.estimate, b.low, b.high), abs=1e-12)
        assert a.low < a.estimate < a.high


# ================================================================ independent samples


def test_replicates_are_bootstrap_ci_before_the_quantiles():
    x = _shuffled(300, 1000, seed=4)
    est, reps = stats.bootstrap_replicates("mean", x, n_boot=500, seed=7)
    iv = stats.bootstrap_ci("mean", x, n_boot=500, seed=7)
    assert est == iv.estimate and reps.shape == (500,)
    a = stats.tail_probability(0.95, 1000)       # the expanded percentile interval's tail
    assert 0.0245 < a < 0.025
    assert (np.quantile(reps, a), np.quantile(reps, 1 - a)) == pytest.approx((iv.low, iv.high))
    # one sample alone: the "mean of one" is that sample's own interval
    alone = stats.mean_of_independent([(est, reps)], n_units=1000)
    assert (alone.estimate, alone.low, alone.high) == pytest.approx((iv.estimate, iv.low, iv.high))


def test_mean_of_independent_samples_matches_the_normal_interval():
    """Four independent proportions of different sizes: the mean's standard error is
    sqrt(sum_k p_k (1 - p_k) / n_k) / 4, far below the average of the four (the errors
    of independent samples partly cancel). Each sample is resampled with its own seed."""
    specs = [(0.2, 4000), (0.5, 2000), (0.7, 3000), (0.9, 1000)]
    parts = [stats.bootstrap_replicates("mean", _shuffled(int(p * n), n, seed=k), n_boot=4000, seed=100 + k)
             for k, (p, n) in enumerate(specs)]
    iv = stats.mean_of_independent(parts)
    se = np.sqrt(sum(p * (1 - p) / n for p, n in specs)) / len(specs)
    assert iv.estimate == pytest.approx(np.mean([p for p, _ in specs]))
    assert iv.low == pytest.approx(iv.estimate - norm.ppf(0.975) * se, abs=0.1 * se * 1.96)
    assert iv.high == pytest.approx(iv.estimate + norm.ppf(0.975) * se, abs=0.1 * se * 1.96)
    # two models that agree on every image, differenced replicate by replicate: exactly 0
    diff = stats.mean_of_independent([(e - e, r - r) for e, r in parts])
    assert diff.estimate == 0 and diff.low == 0 and diff.high == 0


def test_mean_of_independent_rejects_unequal_replicate_counts():
    with pytest.raises(ValueError, match="same number of replicates"):
        stats.mean_of_independent([(0.5, np.zeros(10)), (0.5, np.zeros(11))])
    with pytest.raises(ValueError, match="at least one"):
        stats.mean_of_independent([])


def test_pairwise_ranking_equals_paired_bootstrap_per_pair():
    """pairwise_ranking (per-pair intervals, ``simultaneous=False``) scores each model once
    on the shared resamples; every pair's interval equals paired_bootstrap of that pair
    alone (same draws), for a mean and a callable, with groups."""
    rng = np.random.default_rng(3)
    n = 120
    groups = np.repeat(np.arange(40), 3)
    models = {f"m{i}": (rng.random(n) < 0.4 + 0.1 * i).astype(float) for i in range(4)}
    for statistic in ("mean", lambda x: float(np.mean(x) ** 2)):
        table = stats.pairwise_ranking(statistic, models, n_boot=200, seed=5, groups=groups, simultaneous=False)
        assert len(table) == 6
        for r in table.to_dict("records"):
            iv = stats.paired_bootstrap(statistic, models[r["better"]], models[r["worse"]], n_boot=200,
                                        seed=5, groups=groups)
            assert (r["difference"], r["low"], r["high"]) == pytest.approx((iv.estimate, iv.low, iv.high), abs=1e-12)


def test_resample_counts_are_the_resamples_bootstrap_ci_draws():
    """A statistic scored from draw counts pairs with every other interval of the seed: its
    replicates equal those of the resampled rows, for a statistic that is not a mean too."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=57)
    counts = stats.resample_counts(len(x), n_boot=64, seed=5)
    assert counts.shape == (64, 57) and (counts.sum(axis=1) == 57).all()
    for statistic in (np.mean, np.median):
        _, reps = stats.bootstrap_replicates(statistic, x, n_boot=64, seed=5)
        np.testing.assert_allclose([statistic(np.repeat(x, c)) for c in counts], reps, rtol=0, atol=1e-12)
