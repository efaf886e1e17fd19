"""pages.invariance.build on hand-made predictions per level: each point's top-1 and mean
true-class probability against an independent softmax, the paired (per-image) interval of
a drop between levels, resolution variants mapped back to their model, the paper's points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from page_cases import answer, dataset, logits_for, study
from scipy.special import softmax

from beyond_inet_lib import stats
from beyond_inet_lib.pages.invariance import build

N = 100
LABELS = np.arange(N) * 7 % 1000


def _ds():
    return dataset("imagenet-val", pd.DataFrame({"path": [f"val/{i}.JPEG" for i in range(N)], "label": LABELS}))


def _logits(n_right, true_logit=2.0):
    """The first n_right images right; the others' true class gets ``true_logit``."""
    pred = np.where(np.arange(N) < n_right, LABELS, (LABELS + 1) % 1000)
    return logits_for(pred, true=LABELS, true_logit=true_logit)


def _study():
    return study("invariance", scales=[1.0, 3.0], shifts=[0, 100], resolutions=[112, 224])


def test_points_are_top1_and_true_class_probability_with_intervals():
    z1, z3 = _logits(60), _logits(40, true_logit=4.0)
    page = build(_study(), {"scale": answer("scale", _ds(), {"convnext_sup": {"1": z1, "3": z3}}, views=True)})
    curve = page.table("curve").set_index("value")
    for level, z in ((1.0, z1), (3.0, z3)):
        p = softmax(z.astype(np.float64), axis=1)
        assert curve.loc[level, "top1"] == pytest.approx(np.mean(p.argmax(1) == LABELS))
        assert curve.loc[level, "mean_true_prob"] == pytest.approx(p[np.arange(N), LABELS].mean())
        assert curve.loc[level, "top1_low"] < curve.loc[level, "top1"] < curve.loc[level, "top1_high"]
        assert curve.loc[level, "prob_low"] < curve.loc[level, "mean_true_prob"] < curve.loc[level, "prob_high"]
    assert curve.loc[3.0, "paper"] == pytest.approx(0.676)        # the paper's scale-3 point
    assert pd.isna(curve.loc[1.0, "paper"])
    (h,) = page.headline
    assert h["metric"] == "top-1 at scale 3" and h["value"] == pytest.approx(0.4) and h["paper"] == pytest.approx(0.676)
    # chart-ready tables: one interval per point, for each quantity
    assert {"ci_low", "ci_high", "top1"} <= set(page.table("top1").columns)
    assert {"ci_low", "ci_high", "mean_true_prob"} <= set(page.table("true_prob").columns)


def test_a_drop_is_resampled_jointly_across_levels():
    """Right at scale 3 only where right at scale 1: the per-image drop (0.2) has a paired
    interval much narrower than the two levels' errors combined as if independent."""
    page = build(_study(), {"scale": answer("scale", _ds(), {"convnext_sup": {"1": _logits(60), "3": _logits(40)},
                                                             "vit_sup": {"1": _logits(60), "3": _logits(60)}},
                                            views=True)})
    drops = page.table("drops").set_index("model")
    cnx = drops.loc[drops.index.str.startswith("ConvNeXt-B sup")].iloc[0]
    diff = (np.arange(N) < 60).astype(float) - (np.arange(N) < 40).astype(float)
    paired = stats.bootstrap_ci("mean", diff, n_boot=1000)
    assert cnx["top-1 drop"] == pytest.approx(0.2)
    assert (cnx["drop low"], cnx["drop high"]) == pytest.approx((paired.low, paired.high))
    unpaired_width = 2 * 1.96 * np.sqrt(2 * 0.6 * 0.4 / N)
    assert cnx["drop high"] - cnx["drop low"] < 0.7 * unpaired_width
    # ViT-B/16 does not drop at all: the paired comparison of drops holds, lower is better
    (c,) = [c for c in page.comparisons if c["metric"] == "top-1 drop (scale)"]
    assert c["better"].startswith("ViT-B/16 sup") and c["holds"]
    assert any("**ViT-B/16 supervised" in f and "is ahead of" in f for f in page.findings)


def test_resolution_variants_map_back_to_their_model():
    page = build(_study(), {"resolution": answer("resolution", _ds(),
                                                 {"convnext_sup@112": _logits(30), "convnext_sup": _logits(80)})})
    curve = page.table("curve")
    assert set(curve["model"]) == {"ConvNeXt-B supervised (IN-21k -> IN-1k)"}
    by = curve.set_index("value")
    assert by.loc[112.0, "top1"] == pytest.approx(0.3) and by.loc[224.0, "top1"] == pytest.approx(0.8)
    assert by.loc[112.0, "paper"] == pytest.approx(0.769)
    (h,) = page.headline
    assert h["metric"] == "top-1 at resolution 224"
    assert page.table("drops").empty        # 224 is the model's own resolution: nothing to drop to
    points = page.table("points")
    assert list(points["level"]) == ["112", "224"] and points.iloc[0, 2].startswith("0.300 [")


B32 = "timm:vit_small_patch32_224:random"      # a /32 ViT: 112 and 336 are 3.5 and 10.5 patches


def test_a_vit_whose_patch_does_not_divide_r_runs_at_the_nearest_r_and_the_page_says_so():
    from beyond_inet_lib.pages.invariance import resolution_specs

    st = study("invariance", models=("convnext_sup", B32), resolutions=[112, 224, 336])
    runs = {(k, R): spec.key for k, R, spec in resolution_specs(st)}
    assert runs == {("convnext_sup", 112): "convnext_sup@112", ("convnext_sup", 224): "convnext_sup",
                    ("convnext_sup", 336): "convnext_sup@336",
                    (B32, 128): f"{B32}@128", (B32, 224): B32, (B32, 352): f"{B32}@352"}
    page = build(st, {"resolution": answer("resolution", _ds(), {
        "convnext_sup@112": _logits(30), "convnext_sup": _logits(80), "convnext_sup@336": _logits(70),
        f"{B32}@128": _logits(20), B32: _logits(50), f"{B32}@352": _logits(45)})})
    by = page.table("curve").set_index(["model", "value"])["top1"]
    label = st.label(B32)
    assert by[(label, 128.0)] == pytest.approx(0.2) and by[(label, 352.0)] == pytest.approx(0.45)
    assert (label, 112.0) not in by.index
    (note,) = [f for f in page.findings if "in place of" in f]
    assert note.startswith(f"{label} runs at 128 px, 352 px in place of 112, 336") and "32-px patches" in note
    # the extreme levels differ (336 vs 352): the two are not ranked on a level only one of them has
    assert not [c for c in page.comparisons if c["metric"].startswith("top-1 at resolution")]


def test_a_model_whose_own_resolution_is_not_swept_has_its_curve_and_the_page_says_why_no_drop():
    """EfficientNet-Lite1 was trained at 240 px: a sweep of 112 and 224 px gives its curve
    but no drop from its own resolution, and the page says so (the row was missing silently)."""
    from beyond_inet_lib.pages.invariance import resolution_specs

    st = study("invariance", models=("efficientnet_lite1",), resolutions=[112, 224])
    keys = {R: spec.key for _, R, spec in resolution_specs(st)}
    assert st.spec("efficientnet_lite1").resolution == 240 and set(keys) == {112, 224}
    page = build(st, {"resolution": answer("resolution", _ds(), {keys[112]: _logits(30), keys[224]: _logits(70)})})
    assert sorted(page.table("curve")["value"]) == [112.0, 224.0]
    assert page.table("drops").empty
    (note,) = [f for f in page.findings if "not among the sweep" in f]
    assert note.startswith(f"{st.label('efficientnet_lite1')} was trained at 240 px") and "112, 224 px" in note
    # a model whose own resolution is swept gets no such sentence
    st2 = study("invariance", resolutions=[112, 224])
    page2 = build(st2, {"resolution": answer("resolution", _ds(), {"convnext_sup@112": _logits(30),
                                                                     "convnext_sup": _logits(80)})})
    assert not [f for f in page2.findings if "not among the sweep" in f]
