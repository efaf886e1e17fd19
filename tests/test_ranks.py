"""Rank intervals among the run's models, on cases built so the answer is known: two models
with identical predictions share one rank interval, a model right on every image the
others get right (and on more) is rank [1, 1]; a page's headline rows carry the ranks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from page_cases import answer, dataset, logits_for, study

from beyond_inet_lib import stats
from beyond_inet_lib.pages import base
from beyond_inet_lib.pages.robustness import build
from beyond_inet_lib.pages.schema import Metric


def _built(n: int = 300, seed: int = 0) -> dict:
    """best: right wherever any other is, and on 30 more images; twin_a and twin_b: the same
    predictions; worst: right on a subset of the twins' images."""
    rng = np.random.default_rng(seed)
    twin = rng.random(n) < 0.6
    worst = twin & (rng.random(n) < 0.7)
    best = twin.copy()
    best[np.flatnonzero(~twin)[:30]] = True
    return {"best": best.astype(float), "twin_a": twin.astype(float), "twin_b": twin.astype(float).copy(),
            "worst": worst.astype(float)}


def test_identical_predictions_share_a_rank_interval_and_a_dominating_model_is_first():
    t = stats.rank_intervals("mean", _built(), n_boot=500, seed=1).set_index("model")
    assert (t.loc["best", "rank"], t.loc["best", "rank_low"], t.loc["best", "rank_high"]) == (1, 1, 1)
    # ties share the best rank on every resample, so the twins' ranks are equal on each
    assert t.loc["twin_a", ["rank", "rank_low", "rank_high"]].tolist() == \
        t.loc["twin_b", ["rank", "rank_low", "rank_high"]].tolist() == [2, 2, 2]
    # worst is right only where the twins are: never ahead of them, on some resample tied
    assert t.loc["worst", "rank"] == 4 and t.loc["worst", "rank_high"] == 4
    # lower is better (errors): the order turns over
    err = {k: 1 - v for k, v in _built().items()}
    t = stats.rank_intervals("mean", err, higher_is_better=False, n_boot=300, seed=1).set_index("model")
    assert t.loc["best", ["rank_low", "rank_high"]].tolist() == [1, 1] and t.loc["worst", "rank"] == 4


def test_models_that_cannot_be_told_apart_get_wide_rank_intervals():
    """Four models of the same accuracy on independent images: each rank interval spans
    nearly all four ranks (a hand-count of the ranks' spread, not a fixed order)."""
    rng = np.random.default_rng(4)
    models = {f"m{i}": (rng.random(200) < 0.7).astype(float) for i in range(4)}
    t = stats.rank_intervals("mean", models, n_boot=400, seed=2)
    assert (t["rank_high"] - t["rank_low"] >= 2).all()
    assert (t["rank_low"] <= t["rank"]).all() and (t["rank"] <= t["rank_high"]).all()


def test_compare_ranks_the_headline_rows():
    """base.compare ranks every model on the same resamples; rank_headline writes rank,
    rank_low, rank_high onto the rows of that metric only."""
    s = study("robustness", models=("convnext_sup", "vit_sup", "vit_clip"), n_boot=300)
    x = _built()
    arrays = {"convnext_sup": x["best"], "vit_sup": x["twin_a"], "vit_clip": x["twin_b"]}
    metric = Metric("acc", "higher")
    base.compare(s, metric, "mean", arrays)
    rows = [s.headline_row(k, metric, float(v.mean())) for k, v in arrays.items()]
    other = s.headline_row("vit_sup", Metric("other", "higher"), 0.5)
    base.rank_headline(s, rows + [other])
    got = {r["model"]: (r["rank"], r["rank_low"], r["rank_high"]) for r in rows}
    assert got[s.label("convnext_sup")] == (1, 1, 1)
    assert got[s.label("vit_sup")] == got[s.label("vit_clip")] == (2, 2, 2)
    assert (other["rank"], other["rank_low"], other["rank_high"]) == (None, None, None)


def _imagenet_r_page():
    """The robustness page on hand-made ImageNet-R predictions: ConvNeXt-B sup right
    wherever ViT-B/16 sup is, and on more images."""
    from beyond_inet_lib.data import imagenet_r_indices

    n = 200
    rng = np.random.default_rng(0)
    mask = imagenet_r_indices()
    labels = mask[rng.integers(0, len(mask), n)]
    right_b = rng.random(n) < 0.5
    right_a = right_b | (rng.random(n) < 0.5)
    wrong = mask[(np.searchsorted(mask, labels) + 1) % len(mask)]
    pred_a, pred_b = np.where(right_a, labels, wrong), np.where(right_b, labels, wrong)
    table = pd.DataFrame({"path": [f"imagenet-r/x/{i}.jpg" for i in range(n)], "label": labels})
    ds = dataset("imagenet-r", table, class_mask=mask)
    s = study("robustness", n_boot=300)
    page = build(s, {"imagenet-r": answer("imagenet-r", ds, {"convnext_sup": logits_for(pred_a),
                                                             "vit_sup": logits_for(pred_b)})})
    return s, page, (right_a, right_b)


def test_a_page_records_ranks_on_its_headline():
    """The model right wherever the other is, and on more, is rank [1, 1] on the index's row."""
    s, page, _ = _imagenet_r_page()
    rows = {h["model"]: h for h in page.headline if h["metric"] == "top-1 imagenet-r"}
    assert len(rows) == 2
    a, b = rows[s.label("convnext_sup")], rows[s.label("vit_sup")]
    assert (a["rank"], a["rank_low"], a["rank_high"]) == (1, 1, 1)
    assert (b["rank"], b["rank_low"], b["rank_high"]) == (2, 2, 2)
