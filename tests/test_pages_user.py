"""Your models and datasets through the pages. A dataset of ImageNet classes is scored like
a robustness variant and has its ECE on the calibration page, and the same images as an
image folder, a CSV, a parquet file of the encoded images and webdataset shards give the
same headline rows (what the index shows). A dataset of its own classes is a transfer
task: the linear probe on its splits, and CLIP models zero-shot from its class names (the
number equal to an independent computation). A features-only model is named as not
applicable on the pages that need ImageNet predictions and used by transfer and similarity.
"""

from __future__ import annotations

import io
import tarfile
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from beyond_inet_lib import pages
from beyond_inet_lib.config import validate_profile
from beyond_inet_lib.data import DATASETS
from beyond_inet_lib.data.imagenet_labels import imagenet_wnids
from beyond_inet_lib.models import get_model

CLASSES = [1, 33, 207, 340, 409, 817]


@pytest.fixture(autouse=True)
def _forget_registered_datasets(monkeypatch):
    before = dict(DATASETS)
    monkeypatch.setenv("BEYOND_INET_PROMPT_TEMPLATES", "1")   # CLIP heads from one template
    monkeypatch.setenv("BEYOND_INET_PROGRESS", "0")
    yield
    DATASETS.clear()
    DATASETS.update(before)


def _jpeg(path, seed, size=(56, 44)):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path, quality=90)


def _imagenet_formats(root):
    """Three images per class in WNID folders, and the same images as a CSV, a parquet
    file of the encoded images and tar shards."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / "folder"
    for c in CLASSES:
        for k in range(3):
            _jpeg(folder / imagenet_wnids()[c] / f"{k}.jpg", 7 * c + k, (56, 44) if k % 2 else (40, 60))
    files = sorted(folder.rglob("*.jpg"))
    pd.DataFrame({"image": [f"folder/{p.relative_to(folder)}" for p in files],
                  "label": [p.parent.name for p in files]}).to_csv(root / "list.csv", index=False)
    pq.write_table(pa.table({"image": [{"bytes": p.read_bytes(), "path": p.name} for p in files],
                             "label": [p.parent.name for p in files]}), root / "images.parquet", row_group_size=4)
    formats = {"folder": ("folder", "imagefolder"), "csv": ("list.csv", "csv"),
               "parquet": ("images.parquet", "parquet")}
    try:
        import beyond_inet_lib.data.webdataset  # noqa: F401
    except ImportError:
        return formats
    (root / "shards").mkdir()
    for s in range(0, len(files), 5):
        with tarfile.open(root / "shards" / f"{s // 5}.tar", "w") as tf:
            for i, p in enumerate(files[s:s + 5], start=s):
                for name, data in ((f"{i:04d}.jpg", p.read_bytes()), (f"{i:04d}.txt", p.parent.name.encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
    formats["shards"] = ("shards", "webdataset")
    return formats


def _profile(tmp_path, models, datasets, **properties):
    return validate_profile({"name": "yours", "models": models, "data_root": str(tmp_path), "device": "cpu",
                             "num_workers": 0, "batch_size": 8, "bootstrap": 100,
                             "cache_dir": str(tmp_path / "cache"), "datasets": datasets,
                             "properties": {"robustness": {"variants": []}, **properties}})


def _study(profile, prop):
    return pages.Study(profile, profile.resolved_data_root(), None, prop, profile.model_specs(), show=False)


def test_the_same_images_in_every_format_give_the_same_index_rows(tmp_path):
    formats = _imagenet_formats(tmp_path)
    datasets = {f"shelf-{k}": {"path": p, "format": fmt, "labels": "imagenet-wnid"} for k, (p, fmt) in formats.items()}
    profile = _profile(tmp_path, ["tiny_convnext_untrained", "tiny_vit_untrained"], datasets)
    rob = pages.robustness.compute(_study(profile, "robustness"))
    cal = pages.calibration.compute(_study(profile, "calibration"))

    def rows(page, metric):
        out = {}
        for k in formats:
            got = [(h["model"], h["value"], h["ci_low"], h["ci_high"], h["note"]) for h in page.headline
                   if h["metric"] == metric.format(f"shelf-{k}")]
            assert len(got) == 2, (k, metric)
            out[k] = got
        return out

    for page, metric in ((rob, "top-1 {}"), (cal, "ECE on {}")):
        got = rows(page, metric)
        assert all(v == got["folder"] for v in got.values()), (metric, got)
        assert all(r[4].startswith("your dataset") or "your dataset" in r[4] for r in got["folder"])
        assert all(r[2] is not None and r[2] <= r[1] <= r[3] for r in got["folder"])
    assert set(rob.table("top1")["your dataset"]) == {True}
    assert len(cal.table("yours")) == 2 * len(formats)
    assert any("Your own datasets" in f for f in rob.findings)
    assert any(f.startswith("On your dataset shelf-folder") for f in cal.findings)


def _own_classes(root, n=8):
    for ci, name in enumerate(("red apple", "parking meter", "tabby cat")):
        for k in range(n):
            _jpeg(root / ("train" if k < n - 3 else "test") / name / f"{k}.jpg", 100 * ci + k)


def test_a_dataset_of_its_own_classes_is_a_transfer_task_with_zero_shot_for_clip(tmp_path):
    _own_classes(tmp_path / "own")
    profile = _profile(tmp_path, ["tiny_vit_untrained", "tiny_clip_untrained"],
                       {"produce": {"path": "own", "format": "imagefolder", "labels": "names"}},
                       transfer={"tasks": [], "protocol": "logreg"})
    study = _study(profile, "transfer")
    page = pages.transfer.compute(study)
    tasks = page.table("tasks")
    assert sorted(tasks["model"]) == sorted(study.label(m.key) for m in study.models)
    assert set(tasks["task"]) == {"produce"} and set(tasks["group"]) == {"your dataset"}
    assert set(tasks["test"]) == {9} and set(tasks["val"]) == {3}     # 5 train per class: 1 to val
    zs = page.table("zero_shot")
    assert list(zs["model"]) == [study.label("tiny_clip_untrained")] and zs["classes"].tolist() == [3]
    # the number: the same embeddings against class embeddings encoded here by open_clip itself
    spec = get_model("tiny_clip_untrained")
    built = spec.builder()
    res = study.predict(pages.transfer._capped(study.dataset("produce"), None), outputs=("features",),
                        models=[spec]).only("tiny_clip_untrained")
    names = ["red apple", "parking meter", "tabby cat"]
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    with torch.no_grad():
        text = built.clip.encode_text(built.tokenizer([OPENAI_IMAGENET_TEMPLATES[0](c) for c in names]))
    head = F.normalize(text, dim=-1).T
    test = (res.table["split"] == "test").to_numpy()
    pred = (F.normalize(torch.from_numpy(res.features[test]), dim=-1) @ head).argmax(1).numpy()
    want = float((pred == res.table["label"].to_numpy()[test]).mean())
    row = [h for h in page.headline if h["metric"] == "zero-shot produce"]
    assert len(row) == 1 and row[0]["value"] == pytest.approx(want)
    assert any(f.startswith("Zero-shot on produce") for f in page.findings)


FEATURES_ONLY = '''
import torch
from torch import nn
from beyond_inet_lib.models import PyModel
from beyond_inet_lib.views import View


def body():
    def net():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 8, 5, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    return PyModel(build=net, view=View(resize=40, crop=32), labels="none", label="a backbone")
'''


def test_a_features_only_model_is_not_applicable_where_imagenet_logits_are_needed(tmp_path):
    (tmp_path / "body.py").write_text(textwrap.dedent(FEATURES_ONLY))
    key = f"py:{tmp_path / 'body.py'}:body"
    _own_classes(tmp_path / "own", n=6)
    formats = _imagenet_formats(tmp_path)
    profile = _profile(tmp_path, ["tiny_vit_untrained", key],
                       {"produce": {"path": "own", "format": "imagefolder", "labels": "names"},
                        "shelf": {"path": formats["folder"][0], "format": "imagefolder", "labels": "imagenet-wnid"}},
                       transfer={"tasks": [], "protocol": "logreg"})
    rob = _study(profile, "robustness")
    assert [m.key for m in rob.models] == ["tiny_vit_untrained"] and [m.key for m in rob.not_applicable] == [key]
    rob.describe_models()
    assert any(n["title"].startswith("Not applicable here") and "a backbone" in n["body"] for n in rob.notes)
    page = pages.robustness.compute(rob)
    assert {h["model"] for h in page.headline} == {rob.label("tiny_vit_untrained")}
    transfer = _study(profile, "transfer")
    assert key in [m.key for m in transfer.models] and not transfer.not_applicable
    probe = pages.transfer.compute(transfer).table("tasks")
    assert "a backbone" in set(probe["model"])
    sim = _study(profile, "similarity")
    assert key in [m.key for m in sim.models]
    shelf = sim.dataset("shelf")
    sim.imagenet_eval_set = lambda n=None: shelf.head(n)
    page = pages.similarity.compute(sim)                 # layer taps of both, no logits asked
    assert pages.similarity.requests(sim)[0].outputs == ("layers",)
    assert {"a backbone", sim.label("tiny_vit_untrained")} <= set(page.table("summary")["model"])
