"""Your own datasets (a profile's ``datasets:``): the same images as an ImageFolder of WNID
folders, a CSV of paths and labels, a parquet file of paths and one of the encoded images
themselves (read in place) load into the same table and give identical predictions, top-1
and ECE; labels given as WNIDs, indices or names reach the same ImageNet classes; a dataset
of its own classes gets train / val / test splits (named, automatic or by fractions); bad
input fails with the fix before anything runs; the profile section is strict.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from beyond_inet_lib import engine, metrics
from beyond_inet_lib.config import validate_profile
from beyond_inet_lib.data import DATASETS, DatasetMissing, check_datasets, load_dataset
from beyond_inet_lib.data.imagenet_labels import imagenet_class_names, imagenet_lemmas, imagenet_wnids
from beyond_inet_lib.data.user import load_user_dataset, parse_user_datasets
from beyond_inet_lib.errors import DatasetInvalid, ProfileError
from beyond_inet_lib.images import load_rgb

from conftest import need_data

CLASSES = [0, 1, 7, 134, 340, 517]        # tench, goldfish, cock, crane (bird), zebra, crane (machine)


@pytest.fixture(autouse=True)
def _forget_registered_datasets():
    """A profile's datasets join the process-wide registry: take them out after each test,
    so no other test sees them."""
    before = dict(DATASETS)
    yield
    DATASETS.clear()
    DATASETS.update(before)


def _spec(**kw):
    entry = {"path": "x", "format": "imagefolder", "labels": "imagenet-wnid", **kw}
    return parse_user_datasets({"mine": entry})["mine"]


def _jpeg(path, seed, size=(48, 40)):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path, quality=90)


@pytest.fixture
def folder(tmp_path):
    """Two images per class in WNID folders, one landscape and one portrait."""
    root = tmp_path / "folder"
    for c in CLASSES:
        for k in range(2):
            _jpeg(root / imagenet_wnids()[c] / f"img{k}.jpg", seed=10 * c + k, size=(48, 40) if k else (40, 52))
    return root


def _jpegs(folder):
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))


def _as_csv(folder, path, label_of=lambda w: w):
    rows = [{"file": str(p.relative_to(folder)), "label": label_of(p.parent.name)} for p in _jpegs(folder)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _as_parquet(folder, path, label_of=lambda w: w, inline=False):
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = _jpegs(folder)
    image = ([{"bytes": p.read_bytes(), "path": p.name} for p in files] if inline
             else [str(p.relative_to(folder)) for p in files])
    table = pa.table({"image": image, "label": [label_of(p.parent.name) for p in files]})
    pq.write_table(table, path, row_group_size=5)   # several row groups
    return path


# ---------------------------------------------------------------- formats agree
def test_every_format_gives_the_same_table_and_pixels(folder, tmp_path):
    csv = _as_csv(folder, folder / "labels.csv")
    by_path = _as_parquet(folder, folder / "paths.parquet")
    inline = _as_parquet(folder, tmp_path / "images.parquet", inline=True)
    tables = {fmt: load_user_dataset(_spec(path=str(p), format=fmt.split("-")[0]), None)
              for fmt, p in (("imagefolder", folder), ("csv", csv), ("parquet", by_path), ("parquet-inline", inline))}
    want = [c for c in CLASSES for _ in range(2)]
    for fmt, ds in tables.items():
        assert sorted(ds.labels.tolist()) == want, fmt
        assert "split" not in ds.table and ds.meta["label_space"] == "imagenet", fmt
    ref = tables["imagefolder"]
    for fmt, ds in tables.items():
        for a, b in zip(ref.paths, ds.paths):   # row i is the same image
            assert np.array_equal(np.asarray(load_rgb(a)), np.asarray(load_rgb(b))), (fmt, b)
    assert str(tables["parquet-inline"].paths[0]).endswith("images.parquet#image@0")
    # an image inside a parquet file counts in the fingerprint with the file's size: the
    # same rows written again uncompressed are another file, never served its results
    fp = tables["parquet-inline"].fingerprint()
    import pyarrow.parquet as pq

    pq.write_table(pq.read_table(inline), inline, row_group_size=5, compression="none")
    again = load_user_dataset(_spec(path=str(inline), format="parquet"), None)
    assert list(again.table["path"]) == list(tables["parquet-inline"].table["path"]) and again.fingerprint() != fp


def test_the_engine_decodes_parquet_images_in_place_on_every_path(folder, tmp_path):
    inline = _as_parquet(folder, tmp_path / "images.parquet", inline=True)
    files = load_user_dataset(_spec(path=str(folder)), None)
    rows = load_user_dataset(_spec(path=str(inline), format="parquet"), None)
    from beyond_inet_lib.models import register
    from beyond_inet_lib.views import View
    import torch

    def build():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.AdaptiveAvgPool2d(1),
                                   torch.nn.Flatten(), torch.nn.Linear(4, 1000)).eval()

    register("parquet-probe", build=build, view=View(resize=36, crop=32))
    for decode in ("pil", "hybrid", "tensor"):
        kw = dict(cache_dir=tmp_path / "c", device="cpu", num_workers=0, progress=False, decode=decode)
        a = engine.predict(["parquet-probe"], files, **kw).only("parquet-probe")
        b = engine.predict(["parquet-probe"], rows, **kw).only("parquet-probe")
        assert a.skipped.empty and b.skipped.empty
        np.testing.assert_array_equal(a.logits, b.logits)


def _as_webdataset(folder, out, label_of=lambda w: str(imagenet_wnids().index(w)), per_shard=5):
    """The images of ``folder`` (in its row order) as tar shards of ``per_shard`` samples:
    ``<key>.jpg`` and ``<key>.cls``."""
    import io
    import tarfile

    out.mkdir(parents=True, exist_ok=True)
    files = _jpegs(folder)
    for s in range(0, len(files), per_shard):
        with tarfile.open(out / f"{s // per_shard}.tar", "w") as tf:
            for i, p in enumerate(files[s:s + per_shard], start=s):
                for name, data in ((f"s{i:05d}.jpg", p.read_bytes()), (f"s{i:05d}.cls", label_of(p.parent.name).encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
    return out


def test_webdataset_shards_read_in_place_give_the_same_table_and_pixels(folder, tmp_path):
    pytest.importorskip("beyond_inet_lib.data.webdataset")
    shards = _as_webdataset(folder, tmp_path / "shards")
    ref = load_user_dataset(_spec(path=str(folder)), None)
    ds = load_user_dataset(_spec(path=str(shards), format="webdataset", labels="imagenet-index"), None)
    assert ds.labels.tolist() == ref.labels.tolist()
    assert str(ds.table["path"][0]) == "0.tar#s00000.jpg"
    for a, b in zip(ref.paths, ds.paths):
        assert np.array_equal(np.asarray(load_rgb(a)), np.asarray(load_rgb(b)))
    # a truncated shard is named, with the fix; nothing is read from the others
    shard = shards / "1.tar"
    shard.write_bytes(shard.read_bytes()[:3000])
    with pytest.raises(DatasetInvalid) as err:
        load_user_dataset(_spec(path=str(shards), format="webdataset", labels="imagenet-index"), None)
    assert "corrupt shard" in str(err.value) and "1.tar" in str(err.value) and "Fix:" in str(err.value)


# ---------------------------------------------------------------------- labels
def test_wnids_indices_and_names_reach_the_same_classes(folder, tmp_path):
    wnid = {w: i for i, w in enumerate(imagenet_wnids())}
    lemmas, names = imagenet_lemmas(), imagenet_class_names()
    ways = {"imagenet-index": lambda w: str(wnid[w]),
            "imagenet-name": lambda w: names[wnid[w]] if wnid[w] not in (134, 517) else imagenet_wnids()[wnid[w]]}
    for kind, label_of in ways.items():
        ds = load_user_dataset(_spec(path=str(_as_csv(folder, folder / f"{kind}.csv", label_of)),
                                     format="csv", labels=kind), None)
        assert sorted(ds.labels.tolist()) == [c for c in CLASSES for _ in range(2)], kind
    # a lemma string names a class too; a name two classes share is refused with both
    lemma_csv = _as_csv(folder, folder / "lemma.csv", lambda w: lemmas[wnid[w]])
    with pytest.raises(DatasetInvalid) as err:
        load_user_dataset(_spec(path=str(lemma_csv), format="csv", labels="imagenet-name"), None)
    msg = str(err.value)
    assert "'crane' names 2 ImageNet classes" in msg and "n02012849" in msg and "n03126707" in msg
    assert "Fix:" in msg and "imagenet-wnid" in msg


def test_unknown_labels_missing_images_and_missing_folders_say_the_fix(folder, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    (bad / "n01440764").rename(bad / "n0144076")
    with pytest.raises(DatasetInvalid, match=r"not ImageNet WNIDs: 'n0144076' \(did you mean 'n01440764'\?\)"):
        load_user_dataset(_spec(path=str(bad)), None)
    csv = _as_csv(folder, folder / "l.csv")
    pd.read_csv(csv).assign(file=lambda d: d["file"].str.replace("img0", "gone")).to_csv(csv, index=False)
    with pytest.raises(DatasetInvalid, match=r"6 of 12 images named in .* are not there .*gone"):
        load_user_dataset(_spec(path=str(csv), format="csv"), None)
    with pytest.raises(DatasetInvalid, match=r"not ImageNet class indices"):
        load_user_dataset(_spec(path=str(_as_csv(folder, folder / "i.csv", lambda w: "1000")),
                                format="csv", labels="imagenet-index"), None)
    with pytest.raises(DatasetMissing) as err:
        load_user_dataset(_spec(path="nowhere"), tmp_path)
    assert str(tmp_path / "nowhere") in str(err.value) and "datasets.mine.path" in str(err.value)
    with pytest.raises(DatasetInvalid, match="no column 'lbl'"):
        load_user_dataset(_spec(path=str(csv), format="csv", columns={"label": "lbl"}), None)


# ---------------------------------------------------------------- own classes
def _own(tmp_path, per_class=10, classes=("cat", "dog", "fox"), splits=None):
    root = tmp_path / "own"
    for ci, c in enumerate(classes):
        for k in range(per_class):
            split = (splits or {}).get(k)
            _jpeg(root / (split or "") / c / f"{k}.jpg", seed=100 * ci + k)
    return root


def test_named_split_folders_and_a_val_carved_from_train(tmp_path):
    root = _own(tmp_path, splits={k: ("train" if k < 7 else "test") for k in range(10)})
    ds = load_user_dataset(_spec(path=str(root), labels="names"), None)
    assert ds.meta["classes"] == ["cat", "dog", "fox"] and ds.meta["num_classes"] == 3
    counts = ds.table.groupby(["split", "class"]).size().unstack()
    # 7 train images per class: 20 % (1.4 -> 1) become val; the 3 test ones stay
    assert counts.loc["val"].tolist() == [1, 1, 1] and counts.loc["train"].tolist() == [6, 6, 6]
    assert counts.loc["test"].tolist() == [3, 3, 3]
    again = load_user_dataset(_spec(path=str(root), labels="names"), None)
    assert again.table.equals(ds.table)                          # seeded: the same split every run


def test_fractions_split_every_class_and_classes_name_integer_labels(tmp_path):
    root = _own(tmp_path, per_class=10)
    ds = load_user_dataset(_spec(path=str(root), labels="names", splits={"train": 0.5, "val": 0.2, "test": 0.3}), None)
    assert ds.table.groupby(["split", "label"]).size().unstack().to_numpy().tolist() == [[3] * 3, [5] * 3, [2] * 3]
    csv = tmp_path / "ints.csv"
    pd.DataFrame({"image": [str(p) for p in sorted(root.rglob("*.jpg"))],
                  "label": [["cat", "dog", "fox"].index(p.parent.name) for p in sorted(root.rglob("*.jpg"))],
                  "split": ["train", "train", "train", "train", "train", "val", "val", "test", "test", "test"] * 3}
                 ).to_csv(csv, index=False)
    named = load_user_dataset(_spec(path=str(csv), format="csv", labels="names", classes=["kitty", "doggy", "foxy"]),
                              None)
    assert named.meta["classes"] == ["kitty", "doggy", "foxy"]
    assert named.table.groupby("label")["class"].first().tolist() == ["0", "1", "2"]


def test_own_classes_without_splits_or_with_an_empty_one_say_how(tmp_path):
    root = _own(tmp_path, per_class=3)
    with pytest.raises(DatasetInvalid, match=r"(?s)needs train, val and test .*splits: \{train"):
        load_user_dataset(_spec(path=str(root), labels="names"), None)
    only_train = _own(tmp_path / "t", per_class=3, splits={0: "train", 1: "train", 2: "train"})
    with pytest.raises(DatasetInvalid, match="the val, test splits are empty"):
        load_user_dataset(_spec(path=str(only_train), labels="names"), None)


def test_parquet_class_label_names_come_from_its_metadata(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = _own(tmp_path, per_class=4)
    files = sorted(root.rglob("*.jpg"))
    meta = {"info": {"features": {"image": {"_type": "Image"},
                                  "label": {"_type": "ClassLabel", "names": ["cat", "dog", "fox"]}}}}
    table = pa.table({"image": [{"bytes": p.read_bytes(), "path": None} for p in files],
                      "label": [["cat", "dog", "fox"].index(p.parent.name) for p in files]})
    table = table.replace_schema_metadata({b"huggingface": json.dumps(meta).encode()})
    pq.write_table(table, tmp_path / "hf.parquet")
    ds = load_user_dataset(_spec(path=str(tmp_path / "hf.parquet"), format="parquet", labels="names",
                                 splits={"train": 0.5, "val": 0.25, "test": 0.25}), None)
    assert ds.meta["classes"] == ["cat", "dog", "fox"]
    assert ds.table.groupby("label")["class"].first().tolist() == ["0", "1", "2"]


# --------------------------------------------------------------------- profile
def test_the_profile_section_is_strict_and_registers_the_datasets(folder, tmp_path):
    base = {"name": "mine", "models": ["tiny_vit_untrained"], "data_root": str(tmp_path)}
    with pytest.raises(ProfileError, match=r"datasets.mine: unknown key 'lables' \(did you mean 'labels'\?\)"):
        validate_profile({**base, "datasets": {"mine": {"path": "f", "format": "imagefolder", "lables": "names"}}})
    with pytest.raises(ProfileError, match=r"format: 'imagefoldr' \(did you mean 'imagefolder'\?\)"):
        validate_profile({**base, "datasets": {"mine": {"path": "f", "format": "imagefoldr", "labels": "names"}}})
    with pytest.raises(ProfileError, match="a dataset of beyond-inet's own"):
        validate_profile({**base, "datasets": {"imagenet-a": {"path": "f", "format": "csv", "labels": "names"}}})
    with pytest.raises(ProfileError, match=r"splits: unknown split 'tset' \(did you mean 'test'\?\)"):
        validate_profile({**base, "datasets": {"mine": {"path": "f", "format": "csv", "labels": "names",
                                                        "splits": {"tset": "test"}}}})
    shutil.copytree(folder, tmp_path / "shop")
    prof = validate_profile({**base, "datasets": {"shop": {"path": "shop", "format": "imagefolder",
                                                           "labels": "imagenet-wnid"}},
                             "properties": {"robustness": {"variants": ["imagenet-v2", "shop"]}}})
    assert DATASETS["shop"].group == "user"
    assert len(load_dataset("shop", tmp_path)) == 12                    # relative: below the data root
    check = check_datasets(tmp_path, prof).set_index("name")
    assert check.loc["shop", "status"] == "found" and check.loc["shop", "found_count"] == 12


# -------------------------------------------------- real images, every format
def test_twenty_imagenet_classes_score_the_same_in_every_format(tmp_path):
    """20 of the ImageNet sample images in WNID folders, the same as a CSV, a parquet file
    of the encoded images and webdataset shards: identical predictions, top-1 and ECE."""
    samples = sorted(need_data("imagenet-samples").glob("*.JPEG"))[::50][:20]
    folder = tmp_path / "samples"
    for p in samples:
        (folder / p.name.split("_")[0]).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, folder / p.name.split("_")[0] / p.name)
    csv = _as_csv(folder, tmp_path / "samples.csv")
    pd.read_csv(csv).assign(file=lambda d: "samples/" + d["file"]).to_csv(csv, index=False)
    datasets = {"imagefolder": load_user_dataset(_spec(path=str(folder)), None),
                "csv": load_user_dataset(_spec(path=str(csv), format="csv"), None),
                "parquet": load_user_dataset(_spec(path=str(_as_parquet(folder, tmp_path / "p.parquet", inline=True)),
                                                   format="parquet"), None)}
    try:
        import beyond_inet_lib.data.webdataset  # noqa: F401
        datasets["webdataset"] = load_user_dataset(_spec(path=str(_as_webdataset(folder, tmp_path / "wds")),
                                                         format="webdataset", labels="imagenet-index"), None)
    except ImportError:
        pass
    out = {}
    for fmt, ds in datasets.items():
        r = engine.predict(["tiny_convnext_untrained"], ds, cache_dir=tmp_path / "c", device="cpu", num_workers=0,
                           progress=False).only("tiny_convnext_untrained")
        confidence, correct = metrics.masked_softmax_confidence(r.logits, ds.labels)
        out[fmt] = (r.logits, metrics.top1(r.logits, ds.labels), metrics.expected_calibration_error(confidence, correct))
    want = sorted(imagenet_wnids().index(p.name.split("_")[0]) for p in samples)
    assert sorted(datasets["imagefolder"].labels.tolist()) == want
    ref = out["imagefolder"]
    for fmt, (logits, top1, ece) in out.items():
        np.testing.assert_array_equal(logits, ref[0], err_msg=fmt)
        assert (top1, ece) == ref[1:], fmt
