"""The published field on the pages: a run model's shape bias placed among QUBA's 326 (its
own QUBA row left out, QUBA's number beside the run's), the field charted with the run's
models and the observers, the percentile a hand count of the shipped table."""

from __future__ import annotations

import numpy as np
import pytest
from test_pages_shape_bias import decide, page_for, stimuli

from beyond_inet_lib import charts
from beyond_inet_lib import references as R
from beyond_inet_lib.pages import shape_bias as S


def test_shape_bias_page_places_its_models_in_quba():
    table = stimuli(320, n_same=16)
    s, page = page_for(table, {"vit_sup": decide(table, 0.5, 0.4, 3), "efficientnet_lite0": decide(table, 0.2, 0.7, 4)})
    rows = {h["model"]: h for h in page.headline if h["metric"] == S.BIAS_METRIC.name}
    vit, lite = rows[s.label("vit_sup")], rows[s.label("efficientnet_lite0")]
    quba = R.distribution("shape_bias", source="quba")
    # ViT-B/16 sup is QUBA's DeiT3-b (ImageNet-21k): left out of its own field, its number beside
    others = quba[~((quba["model"] == "DeiT3-b") & (quba["training"] == "ImageNet-21k"))]["value"].to_numpy()
    below, ties = (others < vit["value"]).sum(), (others == vit["value"]).sum()
    assert vit["field_source"] == "quba" and vit["field_n"] == 325 == len(others)
    assert vit["field_percentile"] == pytest.approx(100 * (below + ties / 2) / 325)
    assert vit["field_published"] == 0.3986
    assert vit["field_percentile_low"] == pytest.approx(100 * ((others < vit["ci_low"]).sum()
                                                               + (others == vit["ci_low"]).sum() / 2) / 325)
    assert vit["field_percentile_low"] <= vit["field_percentile"] <= vit["field_percentile_high"]
    assert lite["field_n"] == 326 and lite["field_published"] is None and lite["field_percentile"] < vit["field_percentile"]
    field = page.table("field")
    assert (field["group"] == "field").sum() == 326                  # the whole field is drawn
    run = field[field["group"] == "this run"].set_index("model")
    assert run.loc[vit["model"], "percentile"] == vit["field_percentile"]
    pub = field[field["group"] == "published"]
    assert pub["model"].tolist() == [vit["model"]] and pub["value"].tolist() == [0.3986]
    shown = page.table("field_shown").set_index("model")
    assert shown.loc[vit["model"], "the field's number"] == "0.399"
    assert shown.loc[vit["model"], "field"] == "QUBA's 325 models"
    assert any("Among QUBA's" in f for f in page.findings)
    chart = charts.field_strip(field).to_dict()                    # builds a valid spec
    assert chart["facet"]["row"]["field"] == "metric"


def test_robustness_page_places_a_supervised_model_among_timms():
    """ImageNet-R top-1 of ConvNeXt-B sup placed among timm's ImageNet-R table, its own
    timm row left out and timm's number beside it; the field chart's 'this run' row carries it."""
    from test_ranks import _imagenet_r_page

    s, page, _ = _imagenet_r_page()
    (h,) = [h for h in page.headline if h["metric"] == "top-1 imagenet-r" and h["model"] == s.label("convnext_sup")]
    mine = R.find(s.spec("convnext_sup"), "top1", "imagenet-r", source="timm", size=224)
    field = R.distribution("top1", "imagenet-r", source="timm")
    others = field[field["model"] != mine["model"]]["value"].to_numpy()
    assert h["field_source"] == "timm" and h["field_n"] == len(others) == len(field) - 1
    assert h["field_percentile"] == pytest.approx(100 * ((others < h["value"]).sum()
                                                         + (others == h["value"]).sum() / 2) / len(others))
    assert h["field_published"] == mine["value"]
    run = page.table("field").query("group == 'this run' and metric == 'top-1 imagenet-r'")
    assert set(run["model"]) == {s.label("convnext_sup"), s.label("vit_sup")}
