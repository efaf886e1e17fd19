"""stats.rank_intervals: each bootstrap resample ranks all models (ties share the best
rank); built cases with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from beyond_inet_lib import metrics, stats


def _correct(p, n, rng):
    return rng.uniform(size=n) < p


def test_competition_ranks_by_hand():
    np.testing.assert_array_equal(stats._ranks(np.array([0.5, 0.7, 0.7, 0.1]), True), [3, 1, 1, 4])
    np.testing.assert_array_equal(stats._ranks(np.array([0.5, 0.7, 0.7, 0.1]), False), [2, 3, 3, 1])
    r = stats._ranks(np.array([[1.0, np.nan, 0.0]]), True)
    assert r[0, 0] == 1 and np.isnan(r[0, 1]) and r[0, 2] == 2


def test_identical_predictions_share_a_rank_interval():
    rng = np.random.default_rng(0)
    a = _correct(0.7, 1000, rng)
    c = _correct(0.5, 1000, rng)
    table = stats.rank_intervals("mean", {"a": a, "twin": a.copy(), "c": c}, n_boot=300).set_index("model")
    assert table.loc["a", "rank"] == table.loc["twin", "rank"] == 1
    assert (table.loc["a", ["rank_low", "rank_high"]] == table.loc["twin", ["rank_low", "rank_high"]]).all()
    assert (table.loc["a", "rank_low"], table.loc["a", "rank_high"]) == (1, 1)   # never behind c
    assert (table.loc["c", "rank"], table.loc["c", "rank_low"], table.loc["c", "rank_high"]) == (3, 3, 3)


def test_a_model_right_wherever_the_others_are_and_more_is_rank_one_to_one():
    rng = np.random.default_rng(1)
    others = {f"m{k}": _correct(0.6 + 0.05 * k, 400, rng) for k in range(3)}
    best = np.logical_or.reduce(list(others.values()))
    best[np.flatnonzero(~best)[:2]] = True          # and right on two images none of them gets
    table = stats.rank_intervals("mean", {**others, "best": best}, n_boot=500).set_index("model")
    assert (table.loc["best", "rank"], table.loc["best", "rank_low"], table.loc["best", "rank_high"]) == (1, 1, 1)
    assert (table.drop("best")["rank_low"] >= 2).all()


def test_clearly_separated_models_get_exact_ranks_and_lower_is_better_flips_them():
    rng = np.random.default_rng(2)
    arrays = {"good": _correct(0.9, 2000, rng), "mid": _correct(0.7, 2000, rng), "bad": _correct(0.5, 2000, rng)}
    table = stats.rank_intervals("mean", arrays, n_boot=200)
    assert table["model"].tolist() == ["good", "mid", "bad"]
    assert table["rank"].tolist() == table["rank_low"].tolist() == table["rank_high"].tolist() == [1, 2, 3]
    errors = {k: (~v).astype(float) for k, v in arrays.items()}
    table = stats.rank_intervals("mean", errors, higher_is_better=False, n_boot=200)
    assert table["model"].tolist() == ["good", "mid", "bad"] and table["rank"].tolist() == [1, 2, 3]


def test_models_that_cannot_be_told_apart_have_overlapping_intervals():
    """Two models 0.2 points apart on 1,000 images: each resample may put either first, so
    both intervals are [1, 2]; the third, far behind, is [3, 3]."""
    rng = np.random.default_rng(3)
    a = _correct(0.75, 1000, rng)
    b = a.copy()
    b[np.flatnonzero(a)[:12]] = False
    b[np.flatnonzero(~a)[:10]] = True
    c = _correct(0.4, 1000, rng)
    table = stats.rank_intervals("mean", {"a": a, "b": b, "c": c}, n_boot=500).set_index("model")
    assert table.loc["a", "rank"] == 1 and table.loc["b", "rank"] == 2
    for m in ("a", "b"):
        assert (table.loc[m, "rank_low"], table.loc[m, "rank_high"]) == (1, 2)
    assert (table.loc["c", "rank_low"], table.loc["c", "rank_high"]) == (3, 3)


def test_a_statistic_of_several_arrays_and_the_replicates_form_agree():
    rng = np.random.default_rng(4)
    conf = rng.uniform(0.3, 1.0, 600)
    arrays = {"calibrated": (conf, rng.uniform(size=600) < conf),
              "over": (conf, rng.uniform(size=600) < conf - 0.25)}
    table = stats.rank_intervals(metrics.expected_calibration_error, arrays, higher_is_better=False, n_boot=100, seed=5)
    assert table["model"].tolist() == ["calibrated", "over"]
    reps = np.stack([stats.bootstrap_replicates(metrics.expected_calibration_error, *arrays[m], n_boot=100, seed=5)[1]
                     for m in ("calibrated", "over")], axis=1)
    again = stats.ranks_from_replicates({m: metrics.expected_calibration_error(*arrays[m]) for m in arrays}, reps,
                                        higher_is_better=False)
    assert again[["model", "rank", "rank_low", "rank_high"]].equals(table[["model", "rank", "rank_low", "rank_high"]])


def test_nan_models_and_failed_resamples():
    est = {"a": 0.8, "b": float("nan"), "c": 0.6}
    reps = np.array([[0.8, 0.1, 0.6], [0.7, 0.2, 0.75], [0.9, np.nan, 0.5]])
    table = stats.ranks_from_replicates(est, reps).set_index("model")
    assert np.isnan(table.loc["b", "rank"]) and np.isnan(table.loc["b", "rank_low"])
    assert table.loc["a", "n_failed"] == 1 and table.loc["a", "n_boot"] == 3
    with pytest.raises(ValueError, match="one number"):
        stats.rank_intervals(lambda v: np.array([v.mean(), v.max()]), {"a": np.ones(5), "b": np.zeros(5)}, n_boot=10)
