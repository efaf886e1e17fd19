"""Dataset registry: every layout, built in miniature with the real folder and file names.

Labels are checked against independent references: timm's ImageNet-A/R synset and index
lists, imagenet-x's val labels and its own copy of the ReaL labels, the PUG reference map
of the test data root, and hand-picked classes (stingray = 6, goldfinch = 11, ...).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from beyond_inet_lib import data as D
from beyond_inet_lib import metrics
from beyond_inet_lib.config import validate_profile

PROJECT = Path(__file__).resolve().parent.parent
from conftest import need_data


@pytest.fixture
def shared_data() -> Path:
    need_data("cue-conflict")
    return need_data("imagenet-samples").parent


def img(path: Path, color=(200, 30, 30)) -> Path:
    """A tiny real image file at ``path`` (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}[path.suffix.lower()]
    Image.new("RGB", (4, 4), color).save(path, fmt)
    return path


def timm_list(name: str) -> list[str]:
    return D.timm_info_file(name).read_text().split()


# ------------------------------------------------------------------- A, R: WNID mapping
def test_timm_a_r_index_lists_agree_with_wnid_order():
    """timm's 200 synsets, looked up in the 1,000-WNID order, give exactly timm's indices."""
    wnids = D.imagenet_wnids()
    for kind, indices in (("a", D.imagenet_a_indices()), ("r", D.imagenet_r_indices())):
        synsets = timm_list(f"imagenet_{kind}_synsets.txt")
        assert len(synsets) == len(indices) == 200
        assert [wnids.index(w) for w in synsets] == indices.tolist()


def test_imagenet_a_labels_by_wnid_and_class_mask(tmp_path):
    img(tmp_path / "imagenet-a/n01498041/0.000116_digital clock _ digital clock_0.865662.jpg")
    img(tmp_path / "imagenet-a/n01498041/second.jpg")
    img(tmp_path / "imagenet-a/n01531178/a.jpg")          # goldfinch; n01440764.. absent: shifts nothing
    img(tmp_path / "imagenet-a/n12267677/b.jpg")          # acorn
    (tmp_path / "imagenet-a/not-a-class").mkdir()
    ds = D.load_dataset("imagenet-a", tmp_path)
    got = dict(zip(ds.table["wnid"], ds.table["label"]))
    assert got["n01498041"] == 6 and got["n01531178"] == 11
    assert got["n12267677"] == D.imagenet_wnids().index("n12267677") == 988
    assert ds.labels.tolist() == [6, 6, 11, 988]
    assert ds.class_mask.tolist() == D.imagenet_a_indices().tolist()
    assert set(ds.labels) <= set(ds.class_mask.tolist())
    assert ds.meta["unknown_folders"] == ["not-a-class"]
    assert all((tmp_path / p).is_file() for p in ds.table["path"])


def test_imagenet_r_labels_and_mask(tmp_path):
    img(tmp_path / "imagenet-r/n01443537/art_0.jpg")       # goldfish = 1
    img(tmp_path / "imagenet-r/n12267677/cartoon_3.jpg")   # acorn = 988
    ds = D.load_dataset("imagenet-r", tmp_path)
    assert ds.labels.tolist() == [1, 988]
    assert len(ds.class_mask) == 200 and {1, 988} <= set(ds.class_mask.tolist())
    assert 0 not in set(ds.class_mask.tolist())            # tench is not an ImageNet-R class


# -------------------------------------------------------------------- V2, Sketch, C
def test_imagenet_v2_folders_are_class_indices(tmp_path):
    base = tmp_path / "imagenet-v2"
    for k in (0, 2, 10, 999):  # string order would put 10 before 2: labels must not care
        img(base / str(k) / "7e2b1b1ea0d9f5d3b9a1.jpeg")
    ds = D.load_dataset("imagenet-v2", tmp_path)
    assert sorted(ds.labels.tolist()) == [0, 2, 10, 999]
    for p, lab in zip(ds.table["path"], ds.labels):
        assert Path(p).parent.name == str(lab)
    wnids = D.imagenet_wnids()
    assert ds.table.set_index("label").loc[999, "wnid"] == wnids[999]


def test_imagenet_v2_release_folder_name_accepted(tmp_path):
    img(tmp_path / "imagenetv2-matched-frequency-format-val/5/x.jpeg")
    assert D.load_dataset("imagenet-v2", tmp_path).labels.tolist() == [5]


@pytest.mark.parametrize("top", ["imagenet-sketch/sketch", "imagenet-sketch"])
def test_imagenet_sketch_layouts(tmp_path, top):
    img(tmp_path / top / "n01440764" / "sketch_0.JPEG")
    img(tmp_path / top / "n01498041" / "sketch_1.jpg")
    ds = D.load_dataset("imagenet-sketch", tmp_path)
    assert ds.labels.tolist() == [0, 6] and ds.class_mask is None


def test_imagenet_sketch_is_not_model_vs_humans_sketch(tmp_path):
    """A root's `sketch/` is model-vs-human's sketch dataset: ImageNet-Sketch is not found there."""
    img(tmp_path / "sketch" / "n01440764" / "sketch_0.JPEG")
    assert D.dataset_presence("imagenet-sketch", tmp_path).status == "absent"


def test_imagenet_c_columns_and_filters(tmp_path):
    for c in ("fog", "gaussian_noise"):
        for s in (1, 3):
            img(tmp_path / f"imagenet-c/{c}/{s}/n01498041/ILSVRC2012_val_00000001.JPEG")
    img(tmp_path / "imagenet-c/fog/5/n01531178/ILSVRC2012_val_00000002.JPEG")
    ds = D.load_dataset("imagenet-c", tmp_path)
    t = ds.table
    assert len(t) == 5
    assert {"corruption", "severity", "wnid", "file_name"} <= set(t.columns)
    assert t["severity"].dtype.kind == "i"
    assert sorted(zip(t["corruption"], t["severity"])) == [
        ("fog", 1), ("fog", 3), ("fog", 5), ("gaussian_noise", 1), ("gaussian_noise", 3)]
    assert t.loc[t["severity"] == 5, "label"].tolist() == [11]
    assert set(t.loc[t["severity"] < 5, "label"]) == {6}
    only = D.load_dataset("imagenet-c", tmp_path, corruptions=["fog"], severities=[3, 5])
    assert sorted(only.table["severity"]) == [3, 5]
    assert "fog/1" not in only.meta["absent"] and "fog/2" not in only.meta["absent"]
    assert len(D.IMAGENET_C_CORRUPTIONS) == 15
    with pytest.raises(ValueError, match="unknown corruptions"):
        D.load_dataset("imagenet-c", tmp_path, corruptions=["fogg"])


# ------------------------------------------------------------------------ ImageNet val
def test_imagenet_val_class_folder_layout(tmp_path):
    img(tmp_path / "imagenet-val/n01751748/ILSVRC2012_val_00000001.JPEG")
    img(tmp_path / "imagenet-val/n09193705/ILSVRC2012_val_00000002.JPEG")
    ds = D.load_dataset("imagenet-val", tmp_path)
    assert ds.labels.tolist() == [65, 970]
    assert ds.table["file_name"].tolist() == ["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000002.JPEG"]
    assert ds.meta["layout"] == "class-folders"


def test_imagenet_val_flat_uses_shipped_labels(tmp_path):
    """No label file: imagenet-x's filename_label.csv (image 1 = sea snake 65, 2 = alp 970)."""
    for n in (1, 2, 50000):
        img(tmp_path / f"imagenet-val/ILSVRC2012_val_{n:08d}.JPEG")
    ds = D.load_dataset("imagenet-val", tmp_path)
    ref = pd.read_csv(Path(__import__("imagenet_x").__file__).parent / "annotations/filename_label.csv")
    ref = ref.set_index("file_name")["label"]
    assert ds.labels.tolist() == [65, 970, int(ref["ILSVRC2012_val_00050000.JPEG"])]
    assert ds.table["wnid"].tolist()[:2] == ["n01751748", "n09193705"]
    assert ds.meta["layout"] == "flat"


def test_imagenet_val_flat_label_files(tmp_path):
    folder = tmp_path / "imagenet-val"
    img(folder / "ILSVRC2012_val_00000001.JPEG")
    img(folder / "ILSVRC2012_val_00000002.jpeg")   # other extension: canonical file_name still .JPEG
    (folder / "val_labels.txt").write_text("5\n7\n")
    ds = D.load_dataset("imagenet-val", tmp_path)
    assert ds.labels.tolist() == [5, 7]
    assert ds.table["file_name"].tolist()[1] == "ILSVRC2012_val_00000002.JPEG"
    (folder / "val_labels.txt").write_text("ILSVRC2012_val_00000002.JPEG 9\nILSVRC2012_val_00000001.JPEG 3\n")
    assert D.load_dataset("imagenet-val", tmp_path).labels.tolist() == [3, 9]
    # LOC_val_solution.csv wins over val_labels.txt; the first WNID of the boxes is the class
    (folder / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n"
        "ILSVRC2012_val_00000002,n01531178 10 20 30 40 n01531178 1 2 3 4 \n"
        "ILSVRC2012_val_00000001,n01498041 5 5 50 50 \n")
    assert D.load_dataset("imagenet-val", tmp_path).labels.tolist() == [6, 11]
    (folder / "LOC_val_solution.csv").unlink()
    (folder / "val_labels.txt").write_text("1000\n490\n")  # devkit numbering: refused, not misread
    with pytest.raises(ValueError, match="devkit"):
        D.load_dataset("imagenet-val", tmp_path)


def test_imagenet_real_label_sets_keep_empty(tmp_path):
    for n in (1, 2, 17):
        img(tmp_path / f"imagenet-val/ILSVRC2012_val_{n:08d}.JPEG")
    ds = D.load_dataset("imagenet-real", tmp_path)
    # independent copy: the imagenet-x package ships the same ReaL labels as one JSON line
    ref = json.loads((Path(__import__("imagenet_x").__file__).parent
                      / "annotations/imagenet_real_labels.jsonl").read_text())
    assert ds.table["label_set"].tolist() == [ref[0], ref[1], ref[16]]
    assert ds.table["label_set"].tolist()[0] == []          # image 1 has no valid ReaL label: kept
    assert sorted(ds.table["label_set"].tolist()[1]) == [795, 970]
    assert ds.meta["empty_label_sets"] == 1
    assert ds.labels.tolist() == [65, 970, int(pd.read_csv(
        Path(__import__("imagenet_x").__file__).parent / "annotations/filename_label.csv"
    ).set_index("file_name").loc["ILSVRC2012_val_00000017.JPEG", "label"])]


def test_imagenet_x_annotations_and_join(tmp_path):
    ann = D.load_dataset("imagenet-x", tmp_path, images=False)  # always there: shipped
    assert ann.meta["annotations_only"] and len(ann) > 40_000
    assert {"file_name", "label", "texture", "pose", "background"} <= set(ann.table.columns)
    picks = ann.table.head(3)
    for f in picks["file_name"]:
        img(tmp_path / "imagenet-val" / f)
    img(tmp_path / "imagenet-val/ILSVRC2012_val_00007197.JPEG")  # a prototype: filtered out
    ds = D.load_dataset("imagenet-x", tmp_path)
    assert sorted(ds.table["file_name"]) == sorted(picks["file_name"])
    # the val label of each image equals ImageNet-X's own class column
    merged = ds.table.merge(picks[["file_name", "label"]], on="file_name", suffixes=("", "_x"))
    assert (merged["label"] == merged["label_x"]).all()


# ---------------------------------------------------------------------- ImageNet-Hard
def test_imagenet_hard_json_and_csv(tmp_path):
    folder = tmp_path / "imagenet-hard"
    img(folder / "images/00000.jpg")
    img(folder / "images/00001.png")
    img(folder / "images/00002.jpg")
    (folder / "labels.json").write_text(json.dumps(
        {"images/00000.jpg": [6, 11], "images/00001.png": [], "images/00002.jpg": [970],
         "images/gone.jpg": [1]}))
    ds = D.load_dataset("imagenet-hard", tmp_path)
    assert ds.table["label_set"].tolist() == [[6, 11], [], [970]]
    assert ds.labels.tolist() == [6, -1, 970]
    assert ds.meta == {"missing_files": 1, "empty_label_sets": 1}
    (folder / "labels.json").unlink()
    (folder / "labels.csv").write_text('file,labels,origin\nimages/00000.jpg,"[6, 11]",imagenet\n'
                                       "images/00001.png,,objectnet\nimages/00002.jpg,970 971,imagenet_v2\n")
    ds = D.load_dataset("imagenet-hard", tmp_path)
    assert ds.table["label_set"].tolist() == [[6, 11], [], [970, 971]]
    assert ds.table["origin"].tolist() == ["imagenet", "objectnet", "imagenet_v2"]


def test_imagenet_hard_parquet_only_says_what_to_run(tmp_path):
    (tmp_path / "imagenet-hard/hf/data").mkdir(parents=True)
    (tmp_path / "imagenet-hard/hf/data/validation-00000-of-00009.parquet").write_bytes(b"x")
    with pytest.raises(D.DatasetMissing, match="data get imagenet-hard"):
        D.load_dataset("imagenet-hard", tmp_path)


# ------------------------------------------------------------------------------- PUG
def pug_reference() -> dict:
    ref = need_data("reference", "pug-imagenet", "class_to_imagenet_idx.json")
    return json.loads(ref.read_text()) if ref.is_file() else D.pug_class_to_indices()


def test_pug_asset_matches_reference():
    ref = pug_reference()
    assert D.pug_class_to_indices() == ref and len(ref) == 151
    assert ref["Shirt"] == ref["Sweatshirt"] == [841]


def test_pug_labels_by_class_name_missing_class_shifts_nothing(tmp_path):
    ref = pug_reference()
    root = tmp_path / "pug"
    # Great_white_shark is missing on purpose: sorted-folder labels would shift Goldfish etc.
    for factor, cls in [("Worlds", "Goldfish"), ("Worlds", "Shirt"), ("Worlds", "Sweatshirt"),
                        ("Worlds", "Wolf"), ("Camera_Yaw", "Chicken_hen"), ("Scene_Light", "Kangarou")]:
        img(root / f"pug-imagenet/{factor}/{cls}/{cls}_0.png")
        img(root / f"pug-imagenet/{factor}/{cls}/{cls}_1.png")
    img(root / "pug-imagenet/Worlds/Unicorn/u.png")
    ds = D.load_dataset("pug-imagenet", root)
    t = ds.table
    assert len(t) == 12 and {"factor", "class_name", "label_set"} <= set(t.columns)
    for _, r in t.iterrows():
        assert r["label_set"] == ref[r["class_name"]]
        assert r["label"] == ref[r["class_name"]][0]
        assert Path(r["path"]).parts[-2] == r["class_name"] and Path(r["path"]).parts[-3] == r["factor"]
    by = t.groupby("class_name")["label"].first()
    assert by["Goldfish"] == 1 and by["Chicken_hen"] == 8 and by["Shirt"] == by["Sweatshirt"] == 841
    assert t.set_index("class_name").loc["Wolf", "label_set"].iloc[0] == [269, 270, 271, 272]
    assert ds.meta["unknown_classes"] == ["Unicorn"]
    assert "Object_Pitch" in ds.meta["absent_factors"]
    only = D.load_dataset("pug-imagenet", root, factors=["Camera_Yaw"])
    assert only.table["class_name"].tolist() == ["Chicken_hen"] * 2


# ------------------------------------------------------------------------------ VTAB
def test_vtab_folder_layout_int_labels(tmp_path):
    base = tmp_path / "vtab/dtd"
    for split, labels in (("train800", (0, 2, 10)), ("val200", (2,)), ("test", (10, 0))):
        for k in labels:
            img(base / split / str(k) / f"{split}_{k}.png")
    ds = D.load_dataset("vtab-dtd", tmp_path)
    t = ds.table
    assert t.groupby("split").size().to_dict() == {"test": 2, "train": 3, "val": 1}
    for p, lab in zip(t["path"], t["label"]):
        assert Path(p).parent.name == str(lab)       # 10 stays 10 (not its sorted position)
    assert ds.meta["label_space"] == "vtab:dtd" and ds.meta["group"] == "natural"


def test_vtab_list_files_short_names_and_class_names(tmp_path):
    base = tmp_path / "vtab-1k/cifar"                     # vtab-1k.zip's name for cifar100
    img(base / "images/a.jpg"), img(base / "images/b.jpg"), img(base / "images/c.jpg")
    (base / "train800.txt").write_text("images/a.jpg 3\nimages/b.jpg 41\n")
    (base / "val200.txt").write_text("images/b.jpg 41\n")
    (base / "test.txt").write_text("images/c.jpg 99\n")
    ds = D.load_dataset("vtab-cifar100", tmp_path)
    assert ds.table[["split", "label"]].values.tolist() == [["train", 3], ["train", 41],
                                                             ["val", 41], ["test", 99]]
    assert (tmp_path / ds.table["path"][0]).is_file()
    # class-name folders: one sorted mapping across splits (test lacks 'ant', zebra stays 1)
    eu = tmp_path / "vtab/eurosat"
    img(eu / "train800/ant/0.png"), img(eu / "train800/zebra/1.png")
    img(eu / "val200/ant/2.png"), img(eu / "test/zebra/3.png")
    e = D.load_dataset("vtab-eurosat", tmp_path)
    assert e.table.set_index("path")["label"].to_dict() == {
        "vtab/eurosat/train800/ant/0.png": 0, "vtab/eurosat/train800/zebra/1.png": 1,
        "vtab/eurosat/val200/ant/2.png": 0, "vtab/eurosat/test/zebra/3.png": 1}
    assert e.meta["class_names"] == ["ant", "zebra"]


def vtab1k_task(base: Path, labels: dict[str, list[int]]) -> None:
    """A task folder as vtab-1k.zip unpacks (written by NOAH's data/vtab-source/get_vtab1k.py):
    images/<split>/<nnnnnn>.jpg and <split>.txt with '<image path> <label>' lines, for
    train800, val200, test and their union train800val200 (its own copies of the images)."""
    for split, labs in labels.items():
        lines = []
        for i, lab in enumerate(labs):
            rel = f"images/{split}/{i:06d}.jpg"
            img(base / rel, color=(40 * lab, 30, 30))
            lines.append(f"{rel} {lab}")
        (base / f"{split}.txt").write_text("\n".join(lines) + "\n")


def test_real_vtab1k_layout_gives_train_val_test_like_the_transfer_notebook_selects(tmp_path):
    """notebooks/transfer.py selects split == 'train' / 'val' / 'test' (and caps each by
    name): on the real vtab-1k layout those must be the 800 / 200 / test images."""
    labels = {"train800": [0, 1, 2, 0, 1, 2], "val200": [0, 1, 2], "test": [2, 1, 0, 0]}
    labels["train800val200"] = labels["train800"] + labels["val200"]
    vtab1k_task(tmp_path / "vtab-1k/dmlab", labels)
    ds = D.load_dataset("vtab-dmlab", tmp_path)
    caps = {"train": 4, "val": 1, "test": 4}                     # the notebook's max_train caps
    keep = ds.table.groupby("split").cumcount() < ds.table["split"].map(caps)
    split = ds.subset(keep.to_numpy()).table["split"].to_numpy()
    assert [(split == s).sum() for s in ("train", "val", "test")] == [4, 1, 4]
    split, y = ds.table["split"].to_numpy(), ds.labels
    tr, va, te = split == "train", split == "val", split == "test"
    assert [tr.sum(), va.sum(), te.sum()] == [6, 3, 4]            # the union listing is not read twice
    assert y[tr].tolist() == labels["train800"] and y[te].tolist() == labels["test"]
    assert all(Path(p).parts[-2] == {"train": "train800", "val": "val200", "test": "test"}[s]
               for p, s in zip(ds.table["path"], split))           # on-disk names stay as they are
    x = np.eye(3)[y]                                              # separable features: a probe scores 1.0
    out = metrics.linear_probe(x[tr], y[tr], x[va], y[va], x[te], y[te], protocol="logreg", c_grid=[1.0], backend="sklearn")
    assert out["test_accuracy"] == 1.0 and (out["n_train"], out["n_test"]) == (6, 4)


def test_vtab_missing_split_is_named(tmp_path):
    img(tmp_path / "vtab/svhn/train800/1/a.png")
    with pytest.raises(D.DatasetMissing, match="val200, test"):
        D.load_dataset("vtab-svhn", tmp_path)


def test_vtab_registry_and_groups():
    assert len(D.VTAB_TASKS) == 19
    counts = {g: len(D.DATASET_GROUPS[f"vtab-{g}"]) for g in ("natural", "specialized", "structured")}
    assert counts == {"natural": 7, "specialized": 4, "structured": 8}
    assert len(D.DATASET_GROUPS["vtab"]) == 19
    assert set(D.DATASET_GROUPS["robustness"]) == {
        "imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-c", "imagenet-real", "imagenet-hard"}
    for names in D.DATASET_GROUPS.values():
        assert all(n in D.DATASETS for n in names)
    assert D.DATASETS["vtab-kitti_distance"].expected_count == 1000 + 711


# ------------------------------------------------------------------ presence / check
def test_missing_dataset_message_says_where_and_how(tmp_path):
    with pytest.raises(D.DatasetMissing) as e:
        D.load_dataset("imagenet-a", tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "imagenet-a") in msg and "<wnid>" in msg
    assert f"beyond-inet data get imagenet-a --root {tmp_path}" in msg


def test_check_datasets_partial_and_counts(tmp_path):
    img(tmp_path / "imagenet-a/n01498041/a.jpg")
    img(tmp_path / "imagenet-a/n01498041/b.jpg")
    img(tmp_path / "vtab/dtd/train800/0/a.png")
    df = D.check_datasets(tmp_path)
    assert list(df.columns) == list(D.CHECK_COLUMNS)
    assert set(df["name"]) == set(D.DATASETS)
    a = df.set_index("name").loc["imagenet-a"]
    assert (a["status"], a["found_count"], a["expected_count"]) == ("partial", 2, 7500)
    assert a["missing"] == "7,498 of 7,500 images missing"
    d = df.set_index("name").loc["vtab-dtd"]
    assert d["status"] == "partial" and d["missing"] == "train800 1/800; val200 0/200; test 0/1880"
    r = df.set_index("name").loc["imagenet-r"]
    assert r["status"] == "absent" and r["found_count"] == 0
    assert df.set_index("name").loc["imagenet-x", "status"] == "found"


def test_check_datasets_on_shared_data(shared_data):
    df = D.check_datasets(shared_data).set_index("name")
    assert df.loc["cue-conflict", ["status", "found_count"]].tolist() == ["found", 1280]
    assert df.loc["imagenet-samples", ["status", "found_count"]].tolist() == ["found", 1000]
    assert df.loc["imagenet-x", "status"] == "found"
    assert df.loc["cue-conflict-humans", ["status", "found_count"]].tolist() == ["found", 10]
    assert df.loc["cue-conflict-decisions", ["status", "found_count"]].tolist() == ["found", 6]
    for name, count in (("edges", 160), ("silhouettes", 160), ("edges-humans", 10), ("silhouettes-humans", 10)):
        assert df.loc[name, ["status", "found_count"]].tolist() == ["found", count]
    others = df.drop(index=["cue-conflict", "imagenet-samples", "imagenet-x", "cue-conflict-humans",
                            "cue-conflict-decisions", "edges", "silhouettes", "edges-humans", "silhouettes-humans"])
    assert (others["status"] == "absent").all()
    assert (others["how_to_get"].str.len() > 20).all()
    assert "image-net.org" in df.loc["imagenet-val", "how_to_get"]
    text = D.format_check_table(df.reset_index())
    lines = text.splitlines()
    assert any(ln.startswith("cue-conflict") and "found" in ln and "1,280 / 1,280" in ln for ln in lines)
    assert any(ln.startswith("imagenet-a ") and "absent" in ln for ln in lines)
    assert f"get it:  beyond-inet data get imagenet-a --root {shared_data}" in text
    assert lines[-1] == f"9 of {len(df)} datasets found"


def test_check_datasets_for_a_profile(tmp_path):
    prof = validate_profile({"name": "t", "models": ["m"], "properties": {
        "robustness": {"variants": ["imagenet-a", "imagenet-c"]},
        "transfer": {"tasks": ["dtd", "digits"]}, "humans": {"datasets": ["colour", "edges"]}}},
        check_models=False, check_paths=False)
    df = D.check_datasets(tmp_path, prof)
    assert df["name"].tolist() == ["cue-conflict", "imagenet-samples", "cue-conflict-humans",
                                   "cue-conflict-decisions", "imagenet-val", "imagenet-x",
                                   "imagenet-a", "imagenet-c", "imagenet-r", "imagenet-o", "vtab-dtd", "pug-imagenet",
                                   "edges", "edges-humans", "colour", "colour-humans"]


def test_the_default_how_to_get_is_the_download_of_the_datasets_own_source():
    """A dataset registered without ``how_to_get`` is told to be fetched with `data get`:
    that holds only where its source has a public download (no hand-placed file)."""
    from beyond_inet_lib.data.downloads import public_plans
    from beyond_inet_lib.data.registry import DATA_GET

    default = [n for n, info in D.DATASETS.items() if info.how_to_get == DATA_GET.format(name=n)]
    assert {"cue-conflict", "imagenet-samples", "imagenet-r", "pug-imagenet"} <= set(default)
    public, manual = public_plans(default)
    assert manual == [] and public
    assert D.DATASETS["imagenet-r"].how_to_get == "beyond-inet data get imagenet-r --root DATA_ROOT"
