"""The interval methods chosen from measured coverage (tests/test_coverage.py), checked
against independent computations: scipy's Wilson interval, a brute-force U-statistic for
unbiased HSIC, Kumar et al.'s Monte-Carlo debiasing, leave-one-out by recomputation,
hand-computed Holm and chi-square statistics, and identities (one pair's simultaneous
interval is the ordinary one; a shared universe draws the same images)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import binomtest, chi2, norm, t

from beyond_inet_lib import metrics, stats


# ================================================================ expanded percentile


def test_expanded_tail_matches_student_t_and_vanishes_with_many_units():
    # a = Phi(sqrt(n/(n-1)) t_{n-1, 0.025})
    assert stats.tail_probability(0.95, 6) == pytest.approx(norm.cdf(np.sqrt(6 / 5) * t.ppf(0.025, 5)))
    assert stats.tail_probability(0.95, 6) == pytest.approx(0.00243, abs=2e-5)
    assert stats.tail_probability(0.95, 0) == stats.tail_probability(0.95, 1) == pytest.approx(0.025)
    assert 0.0249 < stats.tail_probability(0.95, 50_000) < 0.025
    tails = [stats.tail_probability(0.95, n) for n in (3, 10, 40, 1000)]
    assert tails == sorted(tails)


def test_one_unit_has_no_interval():
    iv = stats.bootstrap_ci("mean", np.array([0.3, 0.5, 0.9]), groups=np.zeros(3), n_boot=50)
    assert iv.estimate == pytest.approx(0.5666666) and np.isnan(iv.low) and np.isnan(iv.high)


# ======================================================================== proportions


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (150, 200), (200, 200), (37_512, 50_000)])
def test_wilson_equals_scipy(k, n):
    low, high = stats.wilson_interval(k, n)
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert (low, high) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_proportion_ci_has_width_at_the_ends_and_takes_columns():
    iv = stats.proportion_ci(np.ones(200, dtype=bool))
    assert iv.estimate == 1.0 and iv.high == 1.0 and iv.low == pytest.approx(0.98115, abs=1e-4)
    iv = stats.proportion_ci(np.zeros(40))
    assert iv.low == 0.0 and iv.high == pytest.approx(binomtest(0, 40).proportion_ci(method="wilson").high)
    cols = np.array([[1, 0], [1, 1], [0, 0], [1, 0]])
    iv = stats.proportion_ci(cols)
    np.testing.assert_allclose(iv.estimate, [0.75, 0.25])
    assert iv.low[0] == pytest.approx(stats.proportion_ci(cols[:, 0]).low)
    with pytest.raises(ValueError, match="0/1"):
        stats.proportion_ci([0.5, 1.0])


# ======================================================================== calibration


def _kumar_monte_carlo(conf, correct, n_bins=15, draws=200_000, seed=0):
    """Kumar et al.'s normal_debiased_ce for p = 1, with the label means drawn many times:
    2 * plug-in - mean over draws of sum_b (n_b/n) |N(a_b, v_b) - c_b|."""
    sums = metrics.bin_sums(conf, correct, n_bins)
    count, c, y = sums
    used = count > 0
    acc, mean_conf = y[used] / count[used], c[used] / count[used]
    var = np.where(count[used] > 1, acc * (1 - acc) / np.maximum(count[used] - 1, 1), mean_conf * (1 - mean_conf))
    share = count[used] / count.sum()
    rng = np.random.default_rng(seed)
    labels = rng.normal(acc, np.sqrt(var), size=(draws, len(acc)))
    resampled = np.abs(labels - mean_conf) @ share
    plug = share @ np.abs(mean_conf - acc)
    return 2 * plug - resampled.mean()


def test_debiased_ece_is_kumars_estimator_in_closed_form():
    rng = np.random.default_rng(1)
    for gap in (0.0, 0.03, 0.15):
        conf = 1 - 0.94 * rng.beta(1, 3, 800)
        correct = rng.uniform(size=800) < np.clip(conf - gap, 0, 1)
        got = metrics.debiased_calibration_error(conf, correct)
        assert got == pytest.approx(_kumar_monte_carlo(conf, correct), abs=3e-4)
        assert got < metrics.expected_calibration_error(conf, correct)
    out = metrics.calibration_errors_from_sums(metrics.bin_sums(conf, correct))
    assert out["ece"] == pytest.approx(metrics.expected_calibration_error(conf, correct), abs=1e-12)


def test_debiased_ece_removes_part_of_the_bias_at_zero():
    """A calibrated model: each bin's gap is pure noise N(0, s^2), whose |.| has mean
    0.798 s (the plug-in's bias); the debiased term 2|g| - E|N(g, s^2)| has mean
    (2 - sqrt 2) 0.798 s = 0.468 s: about 0.59 of the plug-in's, never all of it (no
    estimator of |gap| is unbiased at 0; the interval's test handles that)."""
    rng = np.random.default_rng(2)
    plug, deb = [], []
    for _ in range(100):
        conf = rng.uniform(0.2, 1.0, 5000)
        correct = rng.uniform(size=5000) < conf
        plug.append(metrics.expected_calibration_error(conf, correct))
        deb.append(metrics.debiased_calibration_error(conf, correct))
    assert np.mean(deb) / np.mean(plug) == pytest.approx(0.587, abs=0.06)


def test_calibration_test_by_hand():
    conf = np.array([0.1, 0.2, 0.9, 0.95, 0.55])
    correct = np.array([0, 1, 1, 1, 0])
    out = metrics.calibration_test(conf, correct, n_bins=2)
    # bin 0 (<= 0.5): 0.1, 0.2; bin 1: 0.9, 0.95, 0.55
    b0 = (0.1 + 0.2 - 1) ** 2 / (0.1 * 0.9 + 0.2 * 0.8)
    b1 = (0.9 + 0.95 + 0.55 - 2) ** 2 / (0.9 * 0.1 + 0.95 * 0.05 + 0.55 * 0.45)
    assert out["chi2"] == pytest.approx(b0 + b1) and out["df"] == 2
    assert out["p_value"] == pytest.approx(chi2.sf(b0 + b1, 2))
    # certain and wrong: impossible for a calibrated model, whatever the other bins say
    certain = metrics.calibration_test(np.array([1.0, 1.0, 0.6]), np.array([0, 1, 1]))
    assert certain["p_value"] == 0.0 and certain["chi2"] == np.inf
    assert metrics.calibration_test(np.ones(5), np.ones(5))["p_value"] == 1.0
    iv = stats.calibration_error_ci(np.ones(5), np.zeros(5), n_boot=50)
    assert iv.estimate == iv.low == iv.high == 1.0


def test_calibration_error_ci_reaches_zero_for_a_calibrated_model_and_not_for_a_miscalibrated_one():
    rng = np.random.default_rng(3)
    conf = 1 - 0.94 * rng.beta(1, 3, 1000)
    calibrated = rng.uniform(size=1000) < conf
    iv = stats.calibration_error_ci(conf, calibrated, n_boot=300, seed=1)
    assert iv.low == 0.0 < iv.high < 0.06
    assert iv.estimate == pytest.approx(metrics.debiased_calibration_error(conf, calibrated))
    over = rng.uniform(size=1000) < conf - 0.12
    iv = stats.calibration_error_ci(conf, over, n_boot=300, seed=1)
    assert 0.07 < iv.low < iv.estimate < iv.high < 0.17


def test_calibration_replicates_are_the_bootstrap_of_the_metric_and_models_share_resamples():
    rng = np.random.default_rng(4)
    conf = 1 - 0.94 * rng.beta(1, 3, (500, 2))
    correct = rng.uniform(size=(500, 2)) < conf - [0.0, 0.05]
    est, reps = stats.calibration_error_replicates(conf, correct, n_boot=60, seed=9)
    for j in range(2):
        e, r = stats.bootstrap_replicates(metrics.debiased_calibration_error, conf[:, j], correct[:, j], n_boot=60,
                                          seed=9)
        assert est[j] == pytest.approx(e, abs=1e-12)
        np.testing.assert_allclose(reps[:, j], r, atol=1e-12)
    one = stats.calibration_error_ci(conf[:, 1], correct[:, 1], n_boot=60, seed=9)
    both = stats.calibration_error_ci(conf, correct, n_boot=60, seed=9)
    assert (one.estimate, one.low, one.high) == pytest.approx((both.estimate[1], both.low[1], both.high[1]))


# ================================================================================ CKA


def _brute_force_hsic(k, l):
    """Song et al. (2012)'s U-statistic by its definition: the mean over ordered 4-tuples of
    distinct samples of h = (1/24) sum over their orderings of k_tu l_tu + k_tu l_vw - 2 k_tu l_tv."""
    n = len(k)
    total = 0.0
    count = 0
    for quad in itertools.permutations(range(n), 4):
        h = 0.0
        for a, b, c, d in itertools.permutations(quad):
            h += k[a, b] * l[a, b] + k[a, b] * l[c, d] - 2 * k[a, b] * l[a, c]
        total += h / 24
        count += 1
    return total / count


def test_unbiased_hsic_is_the_u_statistic():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(7, 3))
    y = x @ rng.normal(size=(3, 4)) + rng.normal(size=(7, 4))
    k, l = x @ x.T, y @ y.T
    assert metrics.hsic_unbiased(k, l) == pytest.approx(_brute_force_hsic(k, l), rel=1e-10)


def test_unbiased_cka_is_nearly_unbiased_where_linear_cka_is_not():
    """Independent features: the true CKA is 0. On 40 images linear CKA averages well above
    0, the unbiased one about 0."""
    rng = np.random.default_rng(6)
    plain, unbiased = [], []
    for _ in range(200):
        x, y = rng.normal(size=(40, 10)), rng.normal(size=(40, 10))
        plain.append(metrics.linear_cka(x, y))
        unbiased.append(metrics.unbiased_cka(x, y))
    assert np.mean(plain) > 0.15
    assert abs(np.mean(unbiased)) < 0.01
    x = rng.normal(size=(30, 5))
    assert metrics.unbiased_cka(x, 3 * x @ np.linalg.qr(rng.normal(size=(5, 5)))[0]) == pytest.approx(1.0)


def test_leave_one_out_cka_equals_recomputation_and_the_jackknife_interval():
    rng = np.random.default_rng(7)
    feats = [rng.normal(size=(12, 4)) for _ in range(3)]
    feats[1] += feats[0]
    grams = [f @ f.T for f in feats]
    cka, loo = metrics.unbiased_cka_matrix(grams, leave_one_out=True)
    for m in (0, 5, 11):
        keep = np.delete(np.arange(12), m)
        np.testing.assert_allclose(loo[m], metrics.unbiased_cka_matrix([g[np.ix_(keep, keep)] for g in grams]),
                                   atol=1e-12)
    est, left = metrics.mean_to_others(cka), metrics.mean_to_others(loo)
    np.testing.assert_allclose(est, [(cka[0, 1] + cka[0, 2]) / 2, (cka[1, 0] + cka[1, 2]) / 2,
                                     (cka[2, 0] + cka[2, 1]) / 2])
    iv = stats.jackknife_interval(est, left)
    se = np.sqrt(11 / 12 * ((left - left.mean(axis=0)) ** 2).sum(axis=0))
    np.testing.assert_allclose(iv.high - est, t.ppf(0.975, 11) * se)
    reps = stats.jackknife_replicates(est, left, n_boot=20000, seed=1)
    np.testing.assert_allclose(reps.std(axis=0), se, rtol=0.03)


# ================================================================ multiple comparisons


def test_holm_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4 * .005, 3 * .01, 2 * .03, 1 * .04 = .02, .03, .06, .04,
    # then the running maximum .02, .03, .06, .06, put back in the input's order
    np.testing.assert_allclose(stats.holm(p)[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(stats.holm(p)[4])
    assert stats.holm([0.5, 0.9]).tolist() == [1.0, 1.0]


def test_one_pair_simultaneous_interval_is_the_normal_one_and_identical_models_never_differ():
    rng = np.random.default_rng(8)
    reps = rng.normal(size=(20000, 2)) * [0.01, 0.02] + [0.7, 0.6]
    table = stats.simultaneous_differences({"a": 0.7, "b": 0.6}, reps)
    assert table.loc[0, "critical"] == pytest.approx(1.96, abs=0.05)
    assert table.loc[0, "se"] == pytest.approx(np.hypot(0.01, 0.02), rel=0.02)
    assert bool(table.loc[0, "holds"])
    same = np.repeat(reps[:, :1], 3, axis=1)
    same[:, 2] += 0.001 * rng.normal(size=len(same))
    table = stats.simultaneous_differences({"x": 0.7, "twin": 0.7, "other": 0.7}, same).set_index(["better", "worse"])
    pair = table.loc[("x", "twin")] if ("x", "twin") in table.index else table.loc[("twin", "x")]
    assert (pair["low"], pair["high"], pair["holds"]) == (0.0, 0.0, False)


def test_six_pairs_need_a_larger_critical_value():
    rng = np.random.default_rng(9)
    reps = rng.normal(size=(20000, 4)) * 0.01
    table = stats.simultaneous_differences({f"m{i}": 0.0 for i in range(4)}, reps)
    assert len(table) == 6 and 2.4 < table["critical"].iloc[0] < 2.8


def test_pairwise_ranking_is_simultaneous_by_default():
    rng = np.random.default_rng(10)
    u = rng.normal(size=1000)
    models = {f"m{i}": rng.uniform(size=1000) < 1 / (1 + np.exp(-(1.1 + 1.5 * u))) for i in range(4)}
    sim = stats.pairwise_ranking("mean", models, n_boot=400)
    raw = stats.pairwise_ranking("mean", models, n_boot=400, simultaneous=False)
    assert ((sim["high"] - sim["low"]) > (raw["high"] - raw["low"])).all()


# ============================================================== samples of one universe


def test_samples_of_one_universe_are_resampled_jointly():
    """Two datasets made of the same val images (one of them a subset): with one universe
    and one seed, replicate b of each is made of the same drawn images, so their replicate
    means correlate as the images do; a sample equal to the whole universe gets the same
    interval as without it."""
    rng = np.random.default_rng(11)
    ids = np.arange(3000)
    hard = rng.normal(size=3000)
    a = (rng.uniform(size=3000) < 1 / (1 + np.exp(-(1 + 2 * hard)))).astype(float)
    sub = np.sort(rng.choice(3000, 1000, replace=False))
    b = (rng.uniform(size=1000) < 1 / (1 + np.exp(-(0.5 + 2 * hard[sub])))).astype(float)
    _, ra = stats.bootstrap_replicates("mean", a, n_boot=800, seed=3, groups=ids, universe=ids)
    _, rb = stats.bootstrap_replicates("mean", b, n_boot=800, seed=3, groups=sub, universe=ids)
    _, rb_alone = stats.bootstrap_replicates("mean", b, n_boot=800, seed=4)
    # expected: the images' own correlation times sqrt(1000 / 3000), about 0.2
    expected = np.corrcoef(a[sub], b)[0, 1] * np.sqrt(1000 / 3000)
    assert np.corrcoef(ra, rb)[0, 1] == pytest.approx(expected, abs=0.08)
    assert abs(np.corrcoef(ra, rb_alone)[0, 1]) < 0.08
    assert rb.std() == pytest.approx(rb_alone.std(), rel=0.15)
    whole = stats.bootstrap_ci("mean", a, n_boot=300, seed=5, groups=ids, universe=ids)
    plain = stats.bootstrap_ci("mean", a, n_boot=300, seed=5, groups=ids)
    assert (whole.low, whole.high) == (plain.low, plain.high)
    with pytest.raises(ValueError, match="universe"):
        stats.bootstrap_replicates("mean", b, n_boot=10, groups=sub + 5000, universe=ids)


# ============================================================================ observers


def test_observer_consistency_estimate_and_levels():
    rng = np.random.default_rng(12)
    u = rng.normal(size=600)
    models = np.stack([rng.uniform(size=600) < 1 / (1 + np.exp(-(0.5 + u * s))) for s in (1.0, 2.0)], axis=1)
    people = np.stack([rng.uniform(size=600) < 1 / (1 + np.exp(-(rng.normal(0.5, 0.5) + u * rng.gamma(4, 0.4))))
                       for _ in range(8)], axis=1)
    est, reps = stats.observer_consistency(models, people, n_boot=400, seed=2, resample="stimuli")
    hand = [np.mean([metrics.error_consistency(models[:, m], people[:, j])["kappa"] for j in range(8)]) for m in (0, 1)]
    np.testing.assert_allclose(est, hand, atol=1e-12)
    # the stimulus replicates are the generic bootstrap of the same statistic, draw for draw
    def mean_kappa(a, h):
        return np.mean([metrics.error_consistency(a, h[:, j])["kappa"] for j in range(8)])

    _, generic = stats.bootstrap_replicates(mean_kappa, models[:, 1], people, n_boot=400, seed=2)
    np.testing.assert_allclose(reps[:, 1], generic, atol=1e-12)
    stim = stats.observer_consistency_ci(models, people, n_boot=400, seed=2, resample="stimuli")
    both = stats.observer_consistency_ci(models, people, n_boot=400, seed=2)
    assert both.resampled == "observers and stimuli" and stim.resampled == "stimuli"
    assert ((both.high - both.low) > (stim.high - stim.low)).all()
    with pytest.raises(ValueError, match="resample"):
        stats.observer_consistency(models, people, resample="people")
