"""Thirty models in one report: one colour per model on every chart whatever order a chart
sorts by, the paired comparisons as a matrix, a ranking said in counts instead of 435 pairs."""

from __future__ import annotations

import numpy as np
import pytest

from beyond_inet_lib import charts, stats
from beyond_inet_lib.pages import base

MODELS = [f"model-{i:02d}" for i in range(30)]


@pytest.fixture
def report_order():
    charts.use_model_order(MODELS)
    yield
    charts.use_model_order([])


def test_thirty_models_get_thirty_colours_the_same_on_every_chart(report_order):
    a = charts.model_color_scale(MODELS).to_dict()
    assert len(set(a["range"])) == 30                              # no two models share one
    shuffled = list(np.random.default_rng(0).permutation(MODELS))
    b = charts.model_color_scale(shuffled).to_dict()                # a chart sorted by value
    colour_a, colour_b = dict(zip(a["domain"], a["range"])), dict(zip(b["domain"], b["range"]))
    assert colour_a == colour_b
    few = charts.model_color_scale(["model-17", "model-03"]).to_dict()   # a page with two of them
    assert few["range"] == [colour_a["model-17"], colour_a["model-03"]]


def test_without_a_report_order_the_given_order_colours_as_before():
    charts.use_model_order([])
    a = charts.model_color_scale(["x", "y"]).to_dict()
    assert a["range"] == list(charts.MODEL_PALETTE[:2])


def _comparisons(n_models: int, n: int = 400):
    """Model i right on a share 0.2 + 0.02 i of the images, each on its own images:
    far-apart models' orders hold, neighbours' do not."""
    rng = np.random.default_rng(2)
    names = MODELS[:n_models]
    arrays = {m: (rng.random(n) < 0.2 + 0.02 * i).astype(float) for i, m in enumerate(names)}
    t = stats.pairwise_ranking("mean", arrays, n_boot=200, seed=1)
    return [{"metric": "acc", **r, "p_value": None} for r in t.to_dict("records")], names


def test_comparison_matrix_is_every_ordered_pair_once_in_rank_order():
    comps, names = _comparisons(8)
    m = base.comparison_matrix(comps, "acc")
    assert len(m) == 8 * 7 and not (m["model"] == m["versus"]).any()
    # rank order: most pairs won first (by point estimate, held or not)
    wins = {x: sum(c["better"] == x for c in comps) for x in names}
    order = m.drop_duplicates("model")["model"].tolist()
    assert [wins[x] for x in order] == sorted(wins.values(), reverse=True) and order[0] == names[-1]
    by = m.set_index(["model", "versus"])
    for c in comps:
        row, mirror = by.loc[(c["better"], c["worse"])], by.loc[(c["worse"], c["better"])]
        assert row["difference"] == c["difference"] == -mirror["difference"]
        assert row["verdict"] == ("ahead" if c["holds"] else "cannot tell")
        assert mirror["verdict"] == ("behind" if c["holds"] else "cannot tell")
    assert {"ahead", "cannot tell"} <= set(m["verdict"])
    spec = charts.comparison_matrix(m).to_dict()
    assert spec["encoding"]["y"]["sort"] == order


def test_ranking_of_many_models_is_said_in_counts():
    comps, names = _comparisons(30)
    sentence = base.ranking_sentence(comps, "acc")
    held = sum(c["holds"] for c in comps)
    assert f"of the 435 pairs of 30 models, {held} orders hold" in sentence
    assert "is ahead of" not in sentence.replace("is ahead of every other model", "")
    few, _ = _comparisons(3)
    assert "is ahead of" in base.ranking_sentence(few, "acc") or "cannot be told apart" in base.ranking_sentence(few, "acc")
