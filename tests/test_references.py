"""beyond_inet_lib.references: the paper's numbers, the published top-1 rows of the field
(checked row by row against the source tables when the data root has them), the protocol
differences, and the human observers' cue-conflict decisions (counted directly from the
CSV rows)."""

from __future__ import annotations

import csv
import re
import types
from pathlib import Path

import pytest

from beyond_inet_lib import references as R
from beyond_inet_lib import metrics
from beyond_inet_lib.references.published import _rows
from beyond_inet_lib.views import View
from conftest import need_data

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# ============================================================================== paper


def test_paper_values_keyed_by_paper_model():
    assert R.paper_value("imagenet_top1", "vit_sup") == pytest.approx(0.855)
    assert R.paper_value("shape_bias", "vit_clip") == pytest.approx(0.465)
    assert R.paper_value("ece_imagenet", "convnext_clip") == pytest.approx(0.141)
    assert R.paper_value("imagenet_top1", None) is None
    assert R.paper_value("no-such-metric", "vit_sup") is None
    assert set(R.PAPER["vtab_mean"]) == set(R.PAPER_MODELS)


# ========================================================================= published


def _one(rows, img_size=None):
    rows = [r for r in rows if img_size is None or r.img_size == img_size]
    assert len(rows) == 1, rows
    return rows[0]


def test_openclip_zero_shot_imagenet():
    vit = _one(R.published("vit_clip", "imagenet"))
    assert vit.value == 0.6698 and (vit.model, vit.pretrained) == ("ViT-B-16", "laion400m_e31")
    assert vit.commit == "89fb801" and "openclip_results.csv" in vit.url
    assert _one(R.published("convnext_clip", "ImageNet-1k")).value == 0.6627
    assert _one(R.published("open_clip:ViT-B-16:laion400m_e31", "imagenet-val")).value == 0.6698
    assert _one(R.published("open_clip:ViT-B-32:laion400m_e32", "objectnet")).value == 0.4292
    assert R.published("open_clip:ViT-B-16:random", "imagenet") == []


def test_timm_imagenet_a_top1():
    deit = _one(R.published("vit_sup", "imagenet-a"))
    assert deit.model == "deit3_base_patch16_224.fb_in22k_ft_in1k" and deit.value == 0.57147
    assert round(100 * deit.value, 2) == 57.15
    assert (deit.img_size, deit.crop_pct, deit.interpolation) == (224, 1.0, "bicubic")
    assert deit.commit == "aa4b585" and deit.url.endswith("results-imagenet-a.csv")
    convnext = R.published("convnext_sup", "a")          # timm lists it at 224 and at 288
    assert sorted(r.img_size for r in convnext) == [224, 288]
    c224 = _one(convnext, 224)
    assert c224.value == 0.54773 and round(100 * c224.value, 2) == 54.77
    assert (c224.crop_pct, c224.resize) == (0.875, 256)


def test_model_keys_map_to_the_tables():
    assert _one(R.published("efficientnet_lite0", "imagenet")).model == "tf_efficientnet_lite0.in1k"
    assert _one(R.published("timm:tf_efficientnet_lite2", "real")).img_size == 260
    assert _one(R.published("timm:deit3_small_patch16_224.fb_in22k_ft_in1k", "sketch")).value == 0.40184
    spec = types.SimpleNamespace(key="my_local_copy", weights_id="timm:convnext_tiny.fb_in22k_ft_in1k")
    assert _one(R.published(spec, "imagenet-v2"), 224).value == 0.7258
    assert _one(R.published("vit_sup@336", "imagenet")).img_size == 224   # resolution variants: the base model
    assert R.published("timm:convnext_base.fb_in22k_ft_in1k:random", "imagenet") == []
    assert R.published("tiny_vit_untrained", "imagenet") == []
    with pytest.raises(ValueError, match="did you mean imagenet-r"):
        R.published("vit_sup", "imagenet-rr")


def test_protocol_differences_against_the_papers_view():
    deit = _one(R.published("vit_sup", "imagenet-a"))
    paper_view = View(resize=256, crop=224, interpolation="bilinear")   # the paper's supervised recipe
    diffs = R.protocol_differences(deit, paper_view)
    text = " ".join(diffs)
    assert any(d.startswith("crop fraction") for d in diffs) and "1.000" in text and "0.875" in text
    assert any(d.startswith("interpolation") for d in diffs) and "bicubic" in text and "bilinear" in text
    assert any(d.startswith("resize") for d in diffs)
    assert not any(d.startswith("image size") for d in diffs)
    # timm's own recipe for the model: nothing differs
    assert R.protocol_differences(deit, View(resize=224, crop=224, interpolation="bicubic")) == []
    # ConvNeXt's 224 row uses Resize 256 like the paper: only the interpolation differs
    c224 = _one(R.published("convnext_sup", "imagenet-a"), 224)
    assert [d.split(":")[0] for d in R.protocol_differences(c224, paper_view)] == ["interpolation"]
    c288 = _one(R.published("convnext_sup", "imagenet-a"), 288)
    assert "image size" in [d.split(":")[0] for d in R.protocol_differences(c288, paper_view)]
    # the cue-conflict view does not resize at all
    assert any("does not resize" in d for d in R.protocol_differences(deit, View(resize=None, crop=None)))


def _percent_to_fraction(text: str) -> float:
    return float(text) / 100


def test_asset_rows_equal_the_source_tables():
    """Every shipped row equals its source table's cell (the tables under the data root are
    the files at the commits the rows name)."""
    folder = need_data("reference", "published-results")
    with open(folder / "openclip_results.csv", newline="") as f:
        openclip = {(r["name"], r["pretrained"]): r for r in csv.DictReader(f)}
    columns = {"imagenet-val": "ImageNet 1k", "imagenet-v2": "ImageNet v2", "imagenet-a": "ImageNet-A",
               "imagenet-r": "ImageNet-R", "imagenet-sketch": "ImageNet Sketch", "objectnet": "ObjectNet"}
    files = {"imagenet-val": "imagenet", "imagenet-v2": "imagenetv2-matched-frequency",
             "imagenet-a": "imagenet-a", "imagenet-r": "imagenet-r", "imagenet-sketch": "sketch",
             "imagenet-real": "imagenet-real"}
    timm = {}
    for bench, suffix in files.items():
        with open(folder / f"timm-results-{suffix}.csv", newline="") as f:
            for r in csv.DictReader(f):
                timm[(r["model"], bench, int(r["img_size"]))] = r
    rows = _rows()
    assert sum(r.source == "open_clip" for r in rows) == 121 * 6   # every model/tag x 6 benchmarks
    shipped = {r.model for r in rows if r.source == "timm"}
    assert len(shipped) == 1267   # 1,266 per table; A lists resmlp_24_224.fb_dino, the others resnet50.tv_in1k
    # complete: every image size timm lists for a model is shipped, once
    timm_rows = [(r.model, r.benchmark, r.img_size) for r in rows if r.source == "timm"]
    assert len(timm_rows) == len(set(timm_rows)) and set(timm) == set(timm_rows)
    for row in rows:
        if row.source == "open_clip":
            assert row.value == float(openclip[(row.model, row.pretrained)][columns[row.benchmark]])
        else:
            src = timm[(row.model, row.benchmark, row.img_size)]
            assert row.value == pytest.approx(_percent_to_fraction(src["top1"]), abs=1e-12)
            assert (row.crop_pct, row.interpolation) == (float(src["crop_pct"]), src["interpolation"])


# ============================================================================= humans


def _hand_count(path: Path) -> tuple[int, int]:
    """(shape, texture) decisions on conflict trials, parsed as model-vs-human does: the
    texture is the last '-' part of the image name's last '_' part, digits removed."""
    n_shape = n_texture = 0
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            texture = re.sub(r"\d", "", r["imagename"].split("_")[-1].split(".")[0].split("-")[-1])
            if texture == r["category"]:
                continue
            n_shape += r["object_response"] == r["category"]
            n_texture += r["object_response"] == texture
    return n_shape, n_texture


def test_ten_observers_are_strongly_shape_biased():
    folder = need_data("reference", "cue-conflict-humans")
    humans = R.load_human_decisions(folder.parent.parent)
    assert sorted(humans) == [f"subject-{i:02d}" for i in range(1, 11)]
    table = R.shape_bias_table(humans).set_index("subject")
    hand = {}
    for subject in humans:
        n_shape, n_texture = _hand_count(folder / f"cue-conflict_{subject}_session_1.csv")
        hand[subject] = n_shape / (n_shape + n_texture)
        assert table.loc[subject, "shape_bias"] == pytest.approx(hand[subject], abs=1e-12)
        assert (table.loc[subject, "n_shape"], table.loc[subject, "n_texture"]) == (n_shape, n_texture)
        assert table.loc[subject, "n_images"] == 1280 and table.loc[subject, "n_conflict"] == 1200
    # by direct count every observer lies in 0.919..0.987, mean 0.958 (literature: ~0.96)
    assert all(0.9 < v < 0.99 for v in hand.values())
    rng = R.human_shape_bias_range(folder.parent.parent)
    assert rng["n_subjects"] == 10
    assert (rng["min"], rng["max"]) == (min(hand.values()), max(hand.values()))
    assert 0.95 < rng["mean"] < 0.965
    assert table["n_no_answer"].sum() > 0   # "na" answers exist and count for neither cue
    assert humans["subject-01"]["stimulus"].iloc[0] == "bird3-bird2.png"


def _hand_kappa(path_a: Path, path_b: Path) -> float:
    def correct(path):
        with open(path, newline="") as f:
            return {r["imagename"].split("_")[-1]: r["object_response"] == r["category"] for r in csv.DictReader(f)}

    a, b = correct(path_a), correct(path_b)
    keys = sorted(a)
    assert sorted(b) == keys
    n = len(keys)
    p_a = sum(a[k] for k in keys) / n
    p_b = sum(b[k] for k in keys) / n
    c_obs = sum(a[k] == b[k] for k in keys) / n
    c_exp = p_a * p_b + (1 - p_a) * (1 - p_b)
    return (c_obs - c_exp) / (1 - c_exp)


def test_error_consistency_between_two_observers():
    folder = need_data("reference", "cue-conflict-humans")
    humans = R.load_human_decisions(folder.parent.parent)
    out = R.observer_error_consistency(humans["subject-01"], humans["subject-02"], n_boot=300)
    expected = _hand_kappa(folder / "cue-conflict_subject-01_session_1.csv",
                           folder / "cue-conflict_subject-02_session_1.csv")
    assert out["kappa"] == pytest.approx(expected, abs=1e-12)
    assert out["n"] == 1280
    assert -1 <= out["low"] <= out["kappa"] <= out["high"] <= 1
    stimuli, a, b = R.aligned_correctness(humans["subject-03"], humans["subject-01"])
    assert len(stimuli) == 1280 and list(stimuli) == sorted(stimuli)
    assert -1 <= metrics.error_consistency(a, b)["kappa"] <= 1


def test_reference_decision_logs():
    need_data("reference", "cue-conflict-decisions")
    from conftest import TEST_DATA

    logs = R.load_reference_decisions(TEST_DATA)
    assert {"ViT-B/16 CLIP (paper log)", "human subject-01"} <= set(logs)
    humans = R.load_human_decisions(TEST_DATA)
    if "subject-01" in humans:     # the paper ships observer 01's log unchanged
        assert logs["human subject-01"]["object_response"].tolist() == humans["subject-01"]["object_response"].tolist()
    assert R.load_reference_decisions(None) == {} and R.load_human_decisions(None) == {}
