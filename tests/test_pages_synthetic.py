"""pages.synthetic.build on hand-made PUG-like predictions: per-factor top-1 with label
sets, the unweighted mean over factors (not the pooled mean), the paper's number only on
real PUG, the stand-in's variations of one photograph resampled together."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from page_cases import answer, dataset, logits_for, study

from beyond_inet_lib import metrics, stats
from beyond_inet_lib.pages.base import compare
from beyond_inet_lib.pages.synthetic import MEAN_METRIC, build


def _pug():
    """Worlds: 10 images, 9 right; Camera_Yaw: 30 images, 6 right; Shirt/Sweatshirt-like
    label sets: a prediction of either index is right."""
    rows, pred = [], []
    for factor, n, n_right in (("Worlds", 10, 9), ("Camera_Yaw", 30, 6)):
        for i in range(n):
            label_set = [841, 610] if i % 2 else [7]
            rows.append({"path": f"pug/{factor}/c/{i}.png", "label": label_set[0], "label_set": label_set,
                         "factor": factor})
            pred.append(label_set[-1] if i < n_right else 999)   # the SECOND index of a set counts too
    return dataset("pug-imagenet", pd.DataFrame(rows)), logits_for(pred)


def test_factor_accuracy_and_the_unweighted_mean_over_factors():
    ds, z = _pug()
    page = build(study("synthetic"), {"synthetic": answer("synthetic", ds, {"convnext_sup": z, "vit_sup": z})})
    ref = metrics.pug_factor_accuracy(ds.table.assign(pred=z.argmax(1)))
    f = page.table("factors")
    mine = f[f["model"].str.startswith("ConvNeXt-B sup")].set_index("factor")
    assert mine.loc["Worlds", "top-1"] == pytest.approx(0.9)
    assert mine.loc["Camera_Yaw", "top-1"] == pytest.approx(0.2)
    assert mine.loc["mean", "top-1"] == pytest.approx(ref.attrs["mean"]) == pytest.approx(0.55)
    (h,) = [h for h in page.headline if h["model"].startswith("ConvNeXt-B sup")]
    assert h["value"] == pytest.approx(0.55)            # the pooled mean would be 15/40 = 0.375
    assert h["paper"] == pytest.approx(0.322) and h["note"] == ""
    assert h["ci_low"] < 0.55 < h["ci_high"]
    assert mine.loc["Worlds", "ci_low"] < 0.9 <= mine.loc["Worlds", "ci_high"]
    (c,) = page.comparisons                              # PUG: one row per image, McNemar applies
    assert c["difference"] == 0 and c["p_value"] == 1.0
    assert any("here vs 32.2% in the paper" in x for x in page.findings)
    by_factor = page.table("by_factor")
    assert list(by_factor["factor"]) == ["Worlds", "Camera_Yaw", "mean"]      # table order, mean last
    assert by_factor.iloc[2, 1].startswith("0.550 [")


def test_comparisons_read_the_headlines_resamples_and_equal_a_fresh_paired_bootstrap():
    """Two models that differ: the comparison from the headlines' replicates is the one the
    paired bootstrap of the factor means gives, McNemar's p-value included."""
    ds, z = _pug()
    other = z.copy()
    other[::3] = z[::3][:, ::-1]                 # another model: some answers change
    st = study("synthetic")
    page = build(st, {"synthetic": answer("synthetic", ds, {"convnext_sup": z, "vit_sup": other})})
    (c,) = page.comparisons
    correct = {k: np.array([int(p) in set(s) for p, s in zip(v.argmax(1), ds.table["label_set"])])
               for k, v in (("convnext_sup", z), ("vit_sup", other))}
    ref = compare(st, MEAN_METRIC.at(dataset=ds.name), "mean", {k: v.astype(float) for k, v in correct.items()},
                  correct_by_key=correct, cells=ds.table["factor"].to_numpy())
    assert len(ref) == 1 and ref[0]["difference"] != 0
    assert {k: c[k] for k in ("better", "worse", "holds")} == {k: ref[0][k] for k in ("better", "worse", "holds")}
    assert (c["difference"], c["low"], c["high"], c["p_value"]) == pytest.approx(
        (ref[0]["difference"], ref[0]["low"], ref[0]["high"], ref[0]["p_value"]), abs=1e-12)


def test_stand_in_rows_of_one_photograph_are_resampled_together():
    """Each of 40 photographs is varied along 3 factors and is right in all or none: the
    interval is the one over photographs (groups), wider than over rows; no paper number."""
    outcome = np.random.default_rng(5).permutation(np.arange(40) < 20)
    rows, pred = [], []
    for factor in ("Camera_Roll", "Object_Scale", "Scene_Light"):
        for i, ok in enumerate(outcome):
            rows.append({"path": f"{factor}/lv/{i}.png", "label": i, "label_set": [i], "factor": factor,
                         "level": "lv", "source_path": f"img{i}.JPEG"})
            pred.append(i if ok else i + 1)
    ds = dataset("pug-imagenet (stand-in)", pd.DataFrame(rows), standin=True)
    z = logits_for(pred)
    page = build(study("synthetic", models=("convnext_sup",)), {"synthetic": answer("synthetic", ds, {"convnext_sup": z})})
    (h,) = page.headline
    assert h["paper"] is None and "stand-in" in h["note"]
    correct = (z.argmax(1) == ds.table["label"]).to_numpy().astype(float)
    grouped = stats.bootstrap_ci("mean", correct, groups=ds.table["source_path"], cells=ds.table["factor"], n_boot=1000)
    by_row = stats.bootstrap_ci("mean", correct, cells=ds.table["factor"], n_boot=1000)
    assert (h["ci_low"], h["ci_high"]) == pytest.approx((grouped.low, grouped.high))
    assert (h["ci_high"] - h["ci_low"]) > 1.4 * (by_row.high - by_row.low)
    levels = page.table("levels")
    assert set(levels["factor: level"]) == {"Camera_Roll: lv", "Object_Scale: lv", "Scene_Light: lv"}
    assert levels["top-1"].tolist() == pytest.approx([0.5] * 3)


def test_an_interval_from_three_photographs_states_its_measured_coverage():
    """Three photographs varied along two factors: no bootstrap interval from three units can
    cover 95% of the time, so each row says the coverage measured for three (0.77)."""
    rows, pred = [], []
    for factor in ("Camera_Roll", "Object_Scale"):
        for i, ok in enumerate((True, False, True)):
            rows.append({"path": f"{factor}/lv/{i}.png", "label": i, "label_set": [i], "factor": factor,
                         "level": "lv", "source_path": f"img{i}.JPEG"})
            pred.append(i if ok else i + 1)
    ds = dataset("pug-imagenet (stand-in)", pd.DataFrame(rows), standin=True)
    page = build(study("synthetic", models=("convnext_sup",)),
                 {"synthetic": answer("synthetic", ds, {"convnext_sup": logits_for(pred)})})
    factors = page.table("factors").set_index("factor")
    assert factors.loc["Camera_Roll", "top-1 [95% CI]"].endswith(f"(covers {stats.stated_coverage(3):.0%})")
    assert "3 images" in factors.loc["Camera_Roll", "note"] and "3 images" in factors.loc["mean", "note"]
    (h,) = page.headline
    assert "covers the truth about 77%" in h["note"]
