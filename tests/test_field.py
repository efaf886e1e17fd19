"""beyond_inet_lib.references.field: the shipped published field (QUBA, timm, OpenCLIP)
equals its source tables row for row, a run model is matched to its rows, and a value's
percentile in the field equals a hand count."""

from __future__ import annotations

import csv
import importlib.util
import types
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from beyond_inet_lib import references as R
from beyond_inet_lib.references import field as F
from conftest import need_data

PROJECT_ROOT = Path(__file__).resolve().parent.parent
QUBA_METRICS = {"Accuracy": "top1", "Adversarial Robustness": "adversarial_robustness",
                "Corruption Robustness": "corruption_robustness", "OOD Robustness": "ood_robustness",
                "Calibration Error": "calibration_error", "Class Balance": "class_balance",
                "Object Focus": "object_focus", "Shape Bias": "shape_bias", "Parameters": "parameters_m"}
TIMM_FILES = {"imagenet-val": "imagenet", "imagenet-v2": "imagenetv2-matched-frequency",
              "imagenet-a": "imagenet-a", "imagenet-r": "imagenet-r", "imagenet-sketch": "sketch",
              "imagenet-real": "imagenet-real"}


def _generator():
    spec = importlib.util.spec_from_file_location("make_published_field",
                                                  PROJECT_ROOT / "docs" / "make_published_field.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ==================================================================== the shipped facts


def test_field_holds_the_published_numbers():
    """Values read off the sources by hand (QUBA's project page; timm's results-imagenet-a.csv)."""
    quba = R.distribution("shape_bias", "cue-conflict", source="quba")
    assert len(quba) == 326
    deit3 = quba[(quba["model"] == "DeiT3-b")].set_index("training")["value"]
    assert deit3["ImageNet-21k"] == 0.3986 and deit3["ImageNet-1k"] == 0.4319   # one name, two rows
    convnext = quba[(quba["model"] == "ConvNext-B")].set_index("training")["value"]
    assert convnext["ImageNet-21k"] == 0.3348
    a = R.model_rows("timm:convnext_base.fb_in22k_ft_in1k", "timm")
    a = a[a["benchmark"] == "imagenet-a"].set_index("img_size")
    assert a.loc[224, "value"] == 0.54773 and a.loc[288, "value"] == 0.61253
    assert (a.loc[224, "crop_pct"], a.loc[288, "crop_pct"]) == (0.875, 1.0)
    assert (a.loc[224, "commit"], a.loc[224, "licence"]) == ("aa4b585", "Apache-2.0")
    clip = R.find("vit_clip", "top1", "imagenet-val", source="open_clip")
    assert (clip["value"], clip["commit"], clip["licence"]) == (0.6698, "89fb801", "MIT")


def test_shipped_asset_is_small_and_complete():
    size = F.ASSET.stat().st_size
    assert size < 500_000          # about 170 kB gzipped (2.1 MB as text)
    t = R.field_table()
    counts = t.groupby("source").size().to_dict()
    assert counts == {"quba": 326 * 9, "timm": 1556 * 6, "open_clip": 121 * 39}   # 38 tasks + their average
    assert t["value"].notna().all()
    assert set(t["licence"]) == {"Apache-2.0", "MIT"}
    # one row per model: timm's second image size does not count a model twice
    a = R.distribution("top1", "imagenet-a", source="timm")
    assert len(a) == 1266 and a["model"].is_unique
    assert a.set_index("model").loc["convnext_base.fb_in22k_ft_in1k", "img_size"] == 224
    assert len(R.distribution("top1", "imagenet-val", source="open_clip")) == 121
    assert R.distribution("shape_bias", source="timm").empty


def test_shipped_field_equals_its_sources_row_for_row():
    """Every shipped value equals its source's cell, in the source's row order; timm's
    percentages as fractions (the exact decimal, 54.773 -> 0.54773)."""
    folder = need_data("reference", "published-results")
    t = R.field_table()
    q = t[t["source"] == "quba"]
    source = _read(folder / "quba-field.csv")
    assert len(source) == 326
    for (row, metric), got in zip(q[["row", "metric"]].itertuples(index=False), q.itertuples(index=False)):
        src = source[row - 1]
        column = next(c for c, m in QUBA_METRICS.items() if m == metric)
        assert (got.model, got.training, got.setup, got.family) == (
            src["Model"], src["Dataset"], src["Setup"], src["Architecture"])
        assert got.value == float(src[column])
    for bench, suffix in TIMM_FILES.items():
        source = _read(folder / f"timm-results-{suffix}.csv")
        shipped = t[(t["source"] == "timm") & (t["benchmark"] == bench)]
        assert shipped["row"].tolist() == list(range(1, len(source) + 1))
        for got, src in zip(shipped.itertuples(index=False), source):
            assert (got.model, int(got.img_size), got.crop_pct, got.interpolation) == (
                src["model"], int(src["img_size"]), float(src["crop_pct"]), src["interpolation"])
            assert Decimal(repr(got.value)) * 100 == Decimal(src["top1"])
    source = _read(folder / "openclip_results.csv")
    shipped = t[t["source"] == "open_clip"]
    columns = [c for c in source[0] if c not in ("name", "pretrained", "params (M)", "FLOPs (B)")]
    assert len(columns) == 39
    for i, src in enumerate(source, 1):
        mine = shipped[shipped["row"] == i]
        assert set(zip(mine["model"], mine["pretrained"])) == {(src["name"], src["pretrained"])}
        assert mine["value"].tolist() == [float(src[c]) for c in columns]


def test_generator_reproduces_the_shipped_asset(tmp_path):
    """docs/make_published_field.py on the source tables writes the shipped bytes."""
    folder = need_data("reference", "published-results")
    out = tmp_path / "field.csv.gz"
    _generator().main([str(folder), "--out", str(out)])
    assert out.read_bytes() == F.ASSET.read_bytes()


def test_generator_moves_the_decimal_point():
    gen = _generator()
    assert [gen.pct_to_fraction(x) for x in ("54.773", "100.000", "5.1", "0.004")] == [
        "0.54773", "1.00000", "0.051", "0.00004"]
    assert gen.slug("Oxford-IIIT Pet") == "oxford-iiit-pet"


# ======================================================================== the match


def test_run_models_matched_to_their_rows():
    # the paper's supervised models: QUBA's names through the explicit table
    assert R.quba_name("convnext_sup") == ("ConvNext-B", "ImageNet-21k", "Supervised learning")
    assert R.quba_name("vit_sup@336") == ("DeiT3-b", "ImageNet-21k", "Supervised learning")
    assert R.find("vit_sup", "shape_bias", source="quba")["value"] == 0.3986
    # the small profile's supervised models, as timm keys
    assert R.find("timm:convnext_tiny.fb_in22k_ft_in1k", "shape_bias", source="quba")["value"] == 0.2865
    assert R.find("timm:deit3_small_patch16_224.fb_in22k_ft_in1k", "shape_bias", source="quba")["value"] == 0.3502
    # not in QUBA: the LAION-400M CLIP checkpoints and the EfficientNet-Lite (said, not guessed)
    for key in ("convnext_clip", "vit_clip", "open_clip:ViT-B-32:laion400m_e32", "efficientnet_lite0",
                "efficientnet_lite1"):
        assert R.table_identity(key) is not None and R.quba_name(key) is None
        assert R.model_rows(key, "quba").empty
    # every entry of the explicit table names exactly one QUBA row
    for (source, name), quba in R.QUBA_NAMES.items():
        key = f"{source}:{name}"
        rows = R.model_rows(key, "quba")
        assert (rows["row"].nunique() == 1) == (quba is not None), key
    # timm: by name, an untagged name through its one tag; OpenCLIP: arch + tag
    rows = R.model_rows("efficientnet_lite0", "timm")
    assert set(rows["model"]) == {"tf_efficientnet_lite0.in1k"} and len(rows) == 6
    assert R.find("timm:tf_efficientnet_lite2", "top1", "imagenet-real", source="timm")["img_size"] == 260
    assert R.find("convnext_sup", "top1", "imagenet-a", source="timm", size=288)["value"] == 0.61253
    assert R.find("convnext_sup", "top1", "imagenet-a", source="timm")["value"] == 0.54773   # the smaller
    assert R.find("convnext_clip", "top1", "imagenet-a", source="open_clip")["pretrained"] == "laion400m_s13b_b51k"
    spec = types.SimpleNamespace(key="my_copy", weights_id="timm:deit3_base_patch16_224.fb_in22k_ft_in1k")
    assert R.quba_name(spec) == ("DeiT3-b", "ImageNet-21k", "Supervised learning")
    assert R.model_rows("timm:convnext_base.fb_in22k_ft_in1k:random", "timm").empty
    assert R.model_rows("tiny_vit_untrained", "quba").empty
    with pytest.raises(ValueError, match="known: quba, timm, open_clip"):
        R.distribution("top1", source="qubaa")


# ==================================================================== the percentile


def test_percentile_equals_a_hand_count():
    field = [0.1, 0.2, 0.3, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, np.nan]   # NaN: not part of the field
    # 0.3: below it 0.1, 0.2 (2), ties 0.3, 0.3 (2, half each) -> 3 of 9
    p = R.percentile(0.3, field)
    assert p.n == 9 and p.value == pytest.approx(100 * 3 / 9)
    # its interval [0.25, 0.55]: 2 of 9 below 0.25, 5 of 9 below 0.55
    p = R.percentile(0.3, field, low=0.25, high=0.55)
    assert (p.low, p.high) == (pytest.approx(100 * 2 / 9), pytest.approx(100 * 5 / 9))
    assert p.low <= p.value <= p.high
    # lower is better: the share above it; the interval's ends swap
    q = R.percentile(0.3, field, low=0.25, high=0.55, better="lower")
    assert q.value == pytest.approx(100 * 6 / 9)
    assert (q.low, q.high) == (pytest.approx(100 * 4 / 9), pytest.approx(100 * 7 / 9))
    assert R.percentile(2.0, field).value == 100.0 and R.percentile(0.0, field).value == 0.0
    assert R.percentile(0.3, field).low is None
    with pytest.raises(ValueError, match="empty"):
        R.percentile(0.3, [np.nan])


def test_percentile_in_quba_by_direct_count():
    """A model's place among QUBA's 326 shape biases, counted row by row from the table."""
    values = R.distribution("shape_bias", source="quba")["value"].tolist()
    v = 0.42
    below, ties = sum(x < v for x in values), sum(x == v for x in values)
    assert R.percentile(v, values).value == pytest.approx(100 * (below + ties / 2) / len(values))
    # placed: a model of the field is placed among the others (its own row left out) and its
    # published number is set beside the run's
    placed = R.place("vit_sup", 0.45, low=0.40, high=0.50, metric="shape_bias", source="quba")
    others = [x for x, m, tr in zip(values, *(R.distribution("shape_bias", source="quba")[c] for c in ("model", "training")))
              if not (m == "DeiT3-b" and tr == "ImageNet-21k")]
    assert placed["field_n"] == 325
    assert placed["field_percentile"] == pytest.approx(100 * sum(x < 0.45 for x in others) / 325)
    assert placed["field_published"] == 0.3986 and placed["field_model"].startswith("DeiT3-b (ImageNet-21k")
    lite = R.place("efficientnet_lite0", 0.22, metric="shape_bias", source="quba")
    assert lite["field_n"] == 326 and "field_published" not in lite and lite["field_percentile_low"] is None
    assert R.place("vit_sup", 0.4, metric="shape_bias", source="timm") == {}


def test_each_page_metric_has_its_field():
    """Supervised models are placed among timm's classifiers, CLIP models among OpenCLIP's
    zero-shot ones, shape bias among QUBA's; ECE is not placed in QUBA's field (another
    number under the same name)."""
    from beyond_inet_lib.models import get_model

    assert set(R.FIELDS) | set(R.NOT_COMPARABLE) <= set(R.PAPER)   # the paper's metric ids
    sup, clip = get_model("efficientnet_lite0"), get_model("vit_clip")
    assert [q.source for q in R.field_queries("top1_imagenet-a", sup)] == ["timm"]
    assert [q.source for q in R.field_queries("top1_imagenet-a", clip)] == ["open_clip"]
    assert R.field_queries("top1_imagenet-real", clip) == []          # OpenCLIP has no ReaL
    assert [q.source for q in R.field_queries("shape_bias", clip)] == ["quba"]
    assert R.field_queries("ece_imagenet", sup) == [] and "geometric mean" in R.NOT_COMPARABLE["ece_imagenet"]
    # a model of the field: among the 1,265 other models of timm's ImageNet-A table
    placed = R.place_in_fields(sup, "top1_imagenet-a", 0.05, low=0.04, high=0.06, size=224)
    others = R.distribution("top1", "imagenet-a", source="timm")
    others = others[others["model"] != "tf_efficientnet_lite0.in1k"]["value"]
    assert placed["field_n"] == len(others) == 1265 and placed["field_source"] == "timm"
    assert placed["field_percentile"] == pytest.approx(100 * (others < 0.05).mean())
    assert placed["field_published"] == R.find(sup, "top1", "imagenet-a", source="timm")["value"]
    clip_placed = R.place_in_fields(clip, "top1_imagenet-a", 0.33)
    assert clip_placed["field_n"] == 120 and clip_placed["field_published"] == 0.3327
