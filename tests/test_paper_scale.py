"""benchmarks/paper_scale.py at a reduced size: a cache filled directly in the engine's
format holds exactly what every page asks for (the pages build without one forward pass),
the datasets have their real sizes times the scale, and a page's number equals the one
computed straight from the chunk files. The full size (30 models, the study's real counts)
runs by hand: ``make scale``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from beyond_inet_lib.pages import PROPERTIES
from beyond_inet_lib.data import VTAB_TEST_SIZES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCALE = 0.0005


@pytest.fixture(scope="module")
def ps():
    spec = importlib.util.spec_from_file_location("paper_scale", PROJECT_ROOT / "benchmarks" / "paper_scale.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["paper_scale"] = mod          # its dataclass looks its module up there
    spec.loader.exec_module(mod)
    return mod


pytestmark = pytest.mark.slow        # every page built once (about a minute on 2 cores)


@pytest.fixture(scope="module")
def filled(ps, tmp_path_factory):
    """Three models' random outputs for every page's requests, every page built from them
    with the engine's forward pass disabled."""
    from beyond_inet_lib.engine import planning

    args = ps.parse(["--models", "3", "--scale", str(SCALE), "--bootstrap", "20", "--vtab-tasks", "1",
                     "--in-process", "--work", str(tmp_path_factory.mktemp("paper-scale"))])
    real_pass = planning.run_pass

    def no_forward(*a, **kw):
        raise AssertionError("a page asked the engine for a chunk the fill did not write")

    planning.run_pass = no_forward
    try:
        result = ps.run(args)
    finally:
        planning.run_pass = real_pass
    return ps, args, result


def test_every_page_builds_from_the_filled_cache(filled):
    ps, args, result = filled
    assert result["failed"] == [], {p: b.get("stderr_tail") for p, b in result["build"].items()}
    assert list(result["build"]) == list(PROPERTIES)
    for prop, b in result["build"].items():
        assert b["headline_rows"] >= 3, prop          # every model has its headline number
        assert result["fill"][prop]["units_written"] >= 3, prop
    # val + 5 variants per model (Hard absent): the calibration page's shift section asks for
    # the variants first, so the two fills write them between them (a unit is written once)
    assert result["fill"]["calibration"]["units_written"] + result["fill"]["robustness"]["units_written"] >= 3 * 6
    assert (args.work / "paper-scale.json").is_file()


def test_datasets_have_their_real_sizes_times_the_scale(filled):
    ps, args, _ = filled
    study = ps.make_study("robustness", args)
    val = study.dataset("imagenet-val")
    assert len(val) == round(50_000 * SCALE) and val.table["path"].is_unique
    c = study.dataset("imagenet-c")
    assert len(c) == 75 * round(3_750_000 * SCALE / 75)
    per_cell = c.table.groupby(["corruption", "severity"])["file_name"].apply(frozenset)
    assert per_cell.nunique() == 1 and len(per_cell.iloc[0]) == round(50_000 * SCALE)   # the same images in every cell
    assert len(study.dataset("imagenet-sketch")) == round(50_889 * SCALE)
    task = ps.make_study("transfer", args).dataset("vtab-caltech101")
    counts = task.table["split"].value_counts().to_dict()
    least = ps.MIN_ROWS // 2          # each split keeps a few rows however small the scale
    assert counts == {"train": max(least, round(800 * SCALE)), "val": max(least, round(200 * SCALE)),
                      "test": max(least, round(VTAB_TEST_SIZES["caltech101"] * SCALE))}


def test_a_page_number_equals_the_cache(filled):
    """The robustness page's ImageNet-V2 top-1 of each model equals argmax == label counted
    from that model's chunk files, read with numpy alone."""
    ps, args, _ = filled
    _, page = ps.build_page("robustness", args)
    study = ps.make_study("robustness", args)
    req = next(r for r in PROPERTIES["robustness"].requests(study) if r.name == "imagenet-v2")
    plan = req.plan(study.run_settings, chunk_size=ps.CHUNK)
    labels = plan.dataset.table["label"].to_numpy()
    for unit in plan.units:
        chunks = sorted(unit.dir.glob("chunk-*.npz"))
        logits = np.concatenate([np.load(f)["logits"] for f in chunks])
        expected = float(np.mean(logits.argmax(1) == labels))
        row = next(h for h in page.headline
                   if h["model"] == study.label(unit.spec.key) and "v2" in h["metric"].lower())
        assert row["value"] == pytest.approx(expected, abs=1e-12)


def test_imagenet_c_keeps_its_top_one_and_hard_links_join_models(ps, tmp_path):
    """The scale run keeps ImageNet-C's top-1 and its probability only (the README's setting
    for many models), and --distinct 4 gives models 4..7 hard links to the files of models
    0..3 (same inode) while each model reads its own unit folder; the page's ImageNet-C
    top-1 equals the count from the chunk files."""
    args = ps.parse(["--models", "8", "--distinct", "4", "--scale", str(SCALE), "--bootstrap", "20",
                     "--in-process", "--properties", "robustness", "--work", str(tmp_path)])
    result = ps.run(args)
    f = result["fill"]["robustness"]
    assert result["failed"] == [] and f["bytes_on_disk"] < 0.6 * f["bytes_written"]
    study = ps.make_study("robustness", args)
    req = next(r for r in PROPERTIES["robustness"].requests(study) if r.name == "imagenet-c")
    assert req.outputs == ("top",)
    units = req.plan(study.run_settings, chunk_size=ps.CHUNK).units
    assert len({u.dir for u in units}) == 8
    for i, unit in enumerate(units):
        first = unit.chunk_path(0)
        assert set(np.load(first).files) == {"rows", "skipped_rows", "skipped_reasons", "top_index", "top_prob"}
        if i >= 4:
            assert first.stat().st_ino == units[i - 4].chunk_path(0).stat().st_ino
        else:
            assert first.stat().st_nlink == 2
    _, page = ps.build_page("robustness", args)
    labels = req.dataset.table["label"].to_numpy()
    for unit in units[:4]:
        top = np.concatenate([np.load(f)["top_index"] for f in sorted(unit.dir.glob("chunk-*.npz"))])
        row = next(h for h in page.headline
                   if h["model"] == study.label(unit.spec.key) and h["metric"] == "top-1 imagenet-c")
        assert row["value"] == pytest.approx(float(np.mean(top == labels)), abs=1e-12)   # 75 equal cells


def test_inflated_cue_conflict_names_stay_cue_conflict_names(ps):
    """The 1,280 stimuli of the real benchmark from a miniature root's few: each copy's name
    still reads as shape + index - texture + index (the shape-bias page parses it), and no
    two rows share a name."""
    import pandas as pd

    from beyond_inet_lib.data import DatasetIndex
    from beyond_inet_lib.metrics.shape_bias import cue_conflict_shape_texture

    t = pd.DataFrame({"path": ["cue-conflict/dog/dog10-bird2.png", "cue-conflict/cat/cat1-clock3.png"], "label": -1})
    big = ps.inflate(DatasetIndex("cue-conflict", "/nonexistent", t), 1280).table
    assert big["path"].is_unique and len(big) == 1280
    assert {cue_conflict_shape_texture(p) for p in big["path"]} == {("dog", "bird"), ("cat", "clock")}
