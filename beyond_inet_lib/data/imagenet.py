"""The ImageNet family: val (and ReaL, ImageNet-X on its images), V2, A, R, Sketch, C, Hard;
and ImageNet-O, images of classes outside ImageNet-1k for out-of-distribution detection.

Labels are always ImageNet-1k indices found by NAME (a WNID folder, a class-index folder,
a file number in a label table), never by a folder's position, so a missing class shifts
nothing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetMissing
from .imagenet_labels import (
    N_VAL,
    _imagenet_wnids,
    imagenet_a_indices,
    imagenet_o_indices,
    imagenet_o_wnids,
    imagenet_r_indices,
    imagenet_x_annotations,
    real_label_sets,
    shipped_val_labels,
    val_file_name,
    val_number,
    wnid_to_index,
)
from .index import DatasetIndex, count_images, list_images
from .presence import Presence, missing_text
from .registry import DATASET_GROUPS, DATASETS, missing, register_dataset, webdataset_rows

WNID_RE = re.compile(r"^n\d{8}$")

#: the 15 corruptions of the ImageNet-C benchmark (the 4 "extra" ones are not scored)
IMAGENET_C_CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
IMAGENET_C_SEVERITIES = (1, 2, 3, 4, 5)

#: the seven variants of the paper's robustness average (the one list: the robustness
#: profile default, the metric's check and the page's order all read it)
ROBUSTNESS_VARIANTS = ("imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch",
                       "imagenet-c", "imagenet-real", "imagenet-hard")


def wnid_folder_rows(root: Path, folder: Path) -> tuple[list[dict], list[str]]:
    """Rows for ``folder/<wnid>/*``: label = the WNID's ImageNet-1k index (by name, never
    by folder position, so a missing class shifts nothing). Returns (rows, unknown folders)."""
    index = wnid_to_index()
    rows, unknown = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name not in index:
            unknown.append(sub.name)
            continue
        label = index[sub.name]
        for img in list_images(sub):
            rows.append({"path": str(img.relative_to(root)), "label": label, "wnid": sub.name})
    return rows, unknown


# ============================================================================
# ImageNet val, ReaL, ImageNet-X
# ============================================================================
VAL_LABEL_FILES = ("LOC_val_solution.csv", "val_labels.txt")
VAL_LAYOUT = (
    "imagenet-val/<wnid>/ILSVRC2012_val_XXXXXXXX.JPEG (class folders) OR flat "
    "imagenet-val/ILSVRC2012_val_00000001.JPEG ... (as ILSVRC2012_img_val.tar unpacks; or "
    "ILSVRC2012_val_00000001_<wnid>.JPEG, as the hub's val_images.tar.gz holds them). Flat layout labels, "
    "first found in imagenet-val/ or the data root: LOC_val_solution.csv (Kaggle: "
    "ImageId,PredictionString; the first WNID counts), val_labels.txt (one class index 0-999 per "
    "line in file-number order, or '<file name> <index>' lines; indices in sorted-WNID order), "
    "else the val labels shipped in the imagenet-x package (all 50,000)"
)


def _labels_from_loc_csv(path: Path) -> dict[int, int]:
    """Kaggle ``LOC_val_solution.csv``: ImageId,PredictionString ('n01751748 x0 y0 x1 y1 ...');
    every box names the same class, so the first WNID is the label."""
    t = pd.read_csv(path)
    index = wnid_to_index()
    out = {}
    for image_id, pred in zip(t["ImageId"], t["PredictionString"]):
        n = val_number(f"{image_id}.JPEG")
        if n is not None:
            out[n] = index[str(pred).split()[0]]
    return out


def _labels_from_txt(path: Path) -> dict[int, int]:
    """``val_labels.txt``: either one index per line (line i -> image i) or
    '<file name> <index>' per line (caffe's val.txt). Indices 0..999, sorted-WNID order."""
    out = {}
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    for i, parts in enumerate(lines, start=1):
        if len(parts) == 1:
            out[i] = int(parts[0])
        else:
            n = val_number(parts[0])
            if n is None:
                raise ValueError(f"{path}: line {i}: {parts[0]!r} is not an ILSVRC2012_val_ file name")
            out[n] = int(parts[1])
    values = set(out.values())
    if values and (min(values) < 0 or max(values) > 999):
        raise ValueError(
            f"{path}: class indices must be 0..999 in sorted-WNID order (found {min(values)}..{max(values)}); "
            "the devkit's ILSVRC2012_validation_ground_truth.txt uses another numbering (1..1000): "
            "convert it, or delete the file to use the labels shipped with imagenet-x")
    return out


def read_val_labels(folder: Path, root: Path) -> tuple[dict[int, int], str]:
    """Val labels for the flat layout: (file number -> class index, where they came from).
    Looked for in ``folder`` then ``root``: LOC_val_solution.csv, val_labels.txt; else the
    50,000 labels shipped in the imagenet-x package (``filename_label.csv``)."""
    for base in (folder, root):
        if (base / "LOC_val_solution.csv").is_file():
            return _labels_from_loc_csv(base / "LOC_val_solution.csv"), str(base / "LOC_val_solution.csv")
        if (base / "val_labels.txt").is_file():
            return _labels_from_txt(base / "val_labels.txt"), str(base / "val_labels.txt")
    return shipped_val_labels(), "imagenet-x package (filename_label.csv)"


def _val_rows_class_folders(root: Path, folder: Path) -> list[dict]:
    rows, _unknown = wnid_folder_rows(root, folder)
    for r in rows:
        r["file_name"] = os.path.basename(r["path"])
    return rows


def _val_rows_flat(root: Path, folder: Path) -> tuple[list[dict], str]:
    labels, source = read_val_labels(folder, root)
    wnids = _imagenet_wnids()
    rows = []
    for p in sorted(folder.iterdir()):
        n = val_number(p.name)
        if n is None or not p.is_file():
            continue
        if n not in labels:
            raise ValueError(f"imagenet-val: no label for {p.name} in {source}")
        lab = labels[n]
        rows.append({"path": str(p.relative_to(root)), "label": lab, "wnid": wnids[lab],
                     "file_name": val_file_name(n)})
    return rows, source


@register_dataset(
    "imagenet-val",
    layout=VAL_LAYOUT,
    source=("https://image-net.org/download.php (ILSVRC2012_img_val.tar, 6.3 GB; needs an account), or the hub's "
            "ILSVRC/imagenet-1k data/val_images.tar.gz (gated)"),
    license="ImageNet terms of access (non-commercial research; registration required)",
    how_to_get=("needs HF_TOKEN (license-gated): accept the terms at https://huggingface.co/datasets/ILSVRC/imagenet-1k, "
                "then `HF_TOKEN=hf_... beyond-inet data get imagenet-val --root DATA_ROOT` (6.7 GB); or put the tar "
                "here: ILSVRC2012_img_val.tar (image-net.org) in DATA_ROOT/.downloads/, then "
                "`beyond-inet data get imagenet-val --root DATA_ROOT`"),
    expected_count=N_VAL,
    properties=("mistakes", "calibration", "invariance", "similarity"),
    folders=("imagenet-val", "imagenet/val", "val"),
    group="imagenet",
    title="ImageNet-1k val",
)
def load_imagenet_val(root: Path) -> DatasetIndex:
    """ImageNet val in either layout; columns path, label, wnid, file_name (the canonical
    ``ILSVRC2012_val_XXXXXXXX.JPEG``, the key of ImageNet-X and ReaL joins)."""
    folder = DATASETS["imagenet-val"].folder_in(root)
    if folder is None:
        raise missing("imagenet-val", root)
    has_class_folders = any(p.is_dir() and WNID_RE.match(p.name) for p in folder.iterdir())
    if has_class_folders:
        rows, source = _val_rows_class_folders(root, folder), "class folders"
    else:
        rows, source = _val_rows_flat(root, folder)
    if not rows:
        raise missing("imagenet-val", root, found=f"no ILSVRC2012_val_*.JPEG files in {folder}")
    return DatasetIndex("imagenet-val", root, pd.DataFrame(rows),
                        description="ImageNet-1k validation set",
                        meta={"label_source": source, "layout": "class-folders" if has_class_folders else "flat"})


def _val_presence(root: Path) -> Presence:
    info = DATASETS["imagenet-val"]
    folder = info.folder_in(root)
    n = count_images(folder)
    return Presence(n, N_VAL, folder or info.canonical_folder(root),
                    missing_text(n, N_VAL, folder, info.canonical_folder(root)))


@register_dataset(
    "imagenet-real",
    layout="the imagenet-val images (any accepted layout); labels ship with timm (imagenet_real_labels.json)",
    source="https://github.com/google-research/reassessed-imagenet (labels, via timm); images = ImageNet val",
    license="labels Apache-2.0; images ImageNet terms",
    how_to_get=("the imagenet-val images (license-gated): `HF_TOKEN=hf_... beyond-inet data get imagenet-val --root "
                "DATA_ROOT` (see imagenet-val); the ReaL labels are shipped"),
    expected_count=N_VAL,
    properties=("robustness",),
    folders=("imagenet-val", "imagenet/val", "val"),
    group="robustness",
    presence=_val_presence,
    title="ImageNet-ReaL",
)
def load_imagenet_real(root: Path) -> DatasetIndex:
    """ImageNet val with a ``label_set`` column (ReaL). Images whose set is empty are kept:
    the metric skips them (the paper's protocol), and the count it skipped is visible."""
    try:
        val = load_imagenet_val(root)
    except DatasetMissing as e:
        raise missing("imagenet-real", root, found=e.found) from None
    real = real_label_sets()
    t = val.table.copy()
    t["label_set"] = [list(real[val_number(f) - 1]) for f in t["file_name"]]
    n_empty = int((t["label_set"].str.len() == 0).sum())
    return DatasetIndex("imagenet-real", root, t, description="ImageNet val with ReaL label sets",
                        meta={**val.meta, "empty_label_sets": n_empty})


def _imagenet_x_presence(root: Path) -> Presence:
    from imagenet_x.utils import get_annotation_path

    n = len(imagenet_x_annotations())
    return Presence(n, n, Path(str(get_annotation_path())), "")


@register_dataset(
    "imagenet-x",
    layout="annotations ship in the imagenet-x package; images = imagenet-val (joined on file_name)",
    source="https://github.com/facebookresearch/imagenetx (PyPI imagenet-x 0.0.7)",
    license="CC BY-NC 4.0",
    how_to_get="nothing to get: installed with the imagenet-x package (the images are imagenet-val's)",
    properties=("mistakes",),
    folders=("imagenet-val",),
    group="imagenet",
    presence=_imagenet_x_presence,
    title="ImageNet-X annotations",
)
def load_imagenet_x(root: Path, which_factor: str = "top", filter_prototypes: bool = True,
                    images: bool = True) -> DatasetIndex:
    """ImageNet-X: the annotated val images with their factor columns. ``images=False``:
    the annotations only (``path`` = file name, nothing to decode; ``meta['annotations_only']``)."""
    ann = imagenet_x_annotations(which_factor, filter_prototypes)
    if not images:
        t = ann.rename(columns={"class": "label"}).assign(path=ann["file_name"])
        return DatasetIndex("imagenet-x", root, t, description="ImageNet-X annotations (no images)",
                            meta={"annotations_only": True, "which_factor": which_factor})
    val = load_imagenet_val(root)
    t = val.table.merge(ann.drop(columns=["class"]), on="file_name", how="inner")
    return DatasetIndex("imagenet-x", root, t, description="ImageNet val images annotated by ImageNet-X",
                        meta={**val.meta, "which_factor": which_factor})


# ============================================================================
# Robustness variants
# ============================================================================
@register_dataset(
    "imagenet-v2",
    layout=("imagenet-v2/<class index 0..999>/*.jpeg (matched-frequency, 10,000 images; folder names are class "
            "indices) OR CLIP_benchmark's webdataset copy imagenet-v2/test/<n>.tar (read in place; cls = class index)"),
    source="https://github.com/modestyachts/ImageNetV2 (HF mirror vaishaal/ImageNetV2)",
    license="MIT (code); images: the ImageNetV2 terms (research)",
    expected_count=10_000,
    properties=("robustness",),
    folders=("imagenet-v2", "imagenetv2-matched-frequency-format-val",
             "imagenet-v2/imagenetv2-matched-frequency-format-val"),
    group="robustness",
    title="ImageNet-V2",
)
def load_imagenet_v2(root: Path) -> DatasetIndex:
    folder = DATASETS["imagenet-v2"].folder_in(root)
    if folder is None:
        raise missing("imagenet-v2", root)
    wnids = _imagenet_wnids()
    hub = _hub_copy_rows("imagenet-v2", root, folder, lambda cls: cls)
    if hub is not None:
        return DatasetIndex("imagenet-v2", root, pd.DataFrame(hub), description="ImageNetV2 matched-frequency",
                            meta={"layout": "webdataset"})
    rows = []
    for sub in sorted((p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
        label = int(sub.name)  # ImageNetV2's folders ARE class indices (0..999), not positions
        if not 0 <= label < 1000:
            continue
        for img in list_images(sub):
            rows.append({"path": str(img.relative_to(root)), "label": label, "wnid": wnids[label]})
    if not rows:
        raise missing("imagenet-v2", root, found=f"no <0..999>/ class folders with images in {folder}")
    return DatasetIndex("imagenet-v2", root, pd.DataFrame(rows), description="ImageNetV2 matched-frequency")


def _hub_copy_rows(name: str, root: Path, folder: Path, to_index) -> list[dict] | None:
    """Rows of CLIP_benchmark's webdataset copy of ``name`` (``folder/test/*.tar``, read in
    place), each ``cls`` turned into an ImageNet-1k index by ``to_index``; None when the
    folder holds no such copy."""
    rows = webdataset_rows(name, root, folder / "test")
    if rows is None:
        return None
    wnids = _imagenet_wnids()
    out = []
    for r in rows:
        try:
            cls = int(r["label"])
            label = int(to_index(cls)) if cls >= 0 else -1
            if not 0 <= label < 1000:
                raise ValueError(label)
        except (ValueError, IndexError):
            raise missing(name, root, found=f"{r['path']}: label {r['label']!r} is not a class of this "
                                            "copy") from None
        out.append({"path": r["path"], "label": label, "wnid": wnids[label]})
    if not out:
        raise missing(name, root, found=f"shards in {folder / 'test'} without image samples")
    return out


def _wnid_dataset(name: str, root: Path, class_mask: np.ndarray | None, description: str,
                  cls_to_index=lambda cls: cls) -> DatasetIndex:
    """A dataset in WNID folders, or in CLIP_benchmark's webdataset copy (whose ``cls`` is
    mapped to an ImageNet index by ``cls_to_index``)."""
    folder = DATASETS[name].folder_in(root)
    if folder is None:
        raise missing(name, root)
    hub = _hub_copy_rows(name, root, folder, cls_to_index)
    if hub is not None:
        return DatasetIndex(name, root, pd.DataFrame(hub), class_mask=class_mask, description=description,
                            meta={"layout": "webdataset"})
    rows, unknown = wnid_folder_rows(root, folder)
    if not rows:
        raise missing(name, root, found=f"no <wnid>/ folders with images in {folder}")
    return DatasetIndex(name, root, pd.DataFrame(rows), class_mask=class_mask, description=description,
                        meta={"unknown_folders": unknown})


@register_dataset(
    "imagenet-a",
    layout=("imagenet-a/<wnid>/*.jpg (200 classes, 7,500 images; labels by WNID) OR CLIP_benchmark's webdataset "
            "copy imagenet-a/test/<n>.tar (read in place; cls = position among the 200 WNIDs)"),
    source="https://github.com/hendrycks/natural-adv-examples",
    license="MIT",
    expected_count=7_500,
    properties=("robustness",),
    group="robustness",
    title="ImageNet-A",
)
def load_imagenet_a(root: Path) -> DatasetIndex:
    """Labels by WNID -> 1,000-class index (CLIP_benchmark's copy: ``cls`` = the position
    among the 200 WNIDs, sorted, as torchvision's ImageFolder numbers them); ``class_mask``
    = the 200 ImageNet-A indices."""
    mask = imagenet_a_indices()
    return _wnid_dataset("imagenet-a", root, mask, "ImageNet-A (natural adversarial)", lambda cls: mask[cls])


@register_dataset(
    "imagenet-r",
    layout=("imagenet-r/<wnid>/*.jpg (200 classes, 30,000 images; labels by WNID) OR CLIP_benchmark's webdataset "
            "copy imagenet-r/test/<n>.tar (read in place; cls = position among the 200 WNIDs)"),
    source="https://github.com/hendrycks/imagenet-r",
    license="MIT",
    expected_count=30_000,
    properties=("robustness", "calibration"),
    group="robustness",
    title="ImageNet-R",
)
def load_imagenet_r(root: Path) -> DatasetIndex:
    """Labels by WNID -> 1,000-class index (CLIP_benchmark's copy: ``cls`` = the position
    among the 200 WNIDs, sorted); ``class_mask`` = the 200 ImageNet-R indices."""
    mask = imagenet_r_indices()
    return _wnid_dataset("imagenet-r", root, mask, "ImageNet-R (renditions)", lambda cls: mask[cls])


@register_dataset(
    "imagenet-sketch",
    layout=("imagenet-sketch/<wnid>/*.JPEG (or imagenet-sketch/sketch/<wnid>/, or sketch/<wnid>/; 50,889 images) "
            "OR CLIP_benchmark's webdataset copy imagenet-sketch/test/<n>.tar (read in place; cls = class index)"),
    source="https://github.com/HaohanWang/ImageNet-Sketch (HF mirror songweig/imagenet_sketch)",
    license="MIT",
    expected_count=50_889,
    properties=("robustness",),
    folders=("imagenet-sketch/sketch", "imagenet-sketch"),  # `sketch/` is model-vs-human's sketch
    group="robustness",
    title="ImageNet-Sketch",
)
def load_imagenet_sketch(root: Path) -> DatasetIndex:
    return _wnid_dataset("imagenet-sketch", root, None, "ImageNet-Sketch")


@register_dataset(
    "imagenet-c",
    layout="imagenet-c/<corruption>/<severity 1-5>/<wnid>/*.JPEG (15 corruptions x 5 x 50,000)",
    source="https://zenodo.org/records/2235448 (Hendrycks & Dietterich 2019)",
    license="CC BY 4.0",
    how_to_get="beyond-inet data get imagenet-c --root DATA_ROOT  (~65 GB: noise, blur, weather, digital tars)",
    expected_count=len(IMAGENET_C_CORRUPTIONS) * len(IMAGENET_C_SEVERITIES) * N_VAL,
    properties=("robustness",),
    group="robustness",
    title="ImageNet-C",
)
def load_imagenet_c(root: Path, corruptions=None, severities=None) -> DatasetIndex:
    """Columns corruption, severity (int 1-5), wnid, file_name; only the folders of the
    asked corruptions/severities are walked (the full set is 3.75 M files)."""
    folder = DATASETS["imagenet-c"].folder_in(root)
    if folder is None:
        raise missing("imagenet-c", root)
    corruptions = list(corruptions or IMAGENET_C_CORRUPTIONS)
    severities = [int(s) for s in (severities or IMAGENET_C_SEVERITIES)]
    unknown = sorted(set(corruptions) - set(IMAGENET_C_CORRUPTIONS))
    if unknown:
        raise ValueError(f"imagenet-c: unknown corruptions {unknown}; known: {', '.join(IMAGENET_C_CORRUPTIONS)}")
    rows, absent = [], []
    for c in corruptions:
        for s in severities:
            sub = folder / c / str(s)
            if not sub.is_dir():
                absent.append(f"{c}/{s}")
                continue
            part, _unknown = wnid_folder_rows(root, sub)
            for r in part:
                r.update(corruption=c, severity=s, file_name=os.path.basename(r["path"]))
            rows += part
    if not rows:
        raise missing("imagenet-c", root, found=f"none of the asked <corruption>/<severity>/ folders in {folder}")
    return DatasetIndex("imagenet-c", root, pd.DataFrame(rows), description="ImageNet-C (common corruptions)",
                        meta={"absent": absent})


# ---------------------------------------------------------------- ImageNet-Hard
HARD_LAYOUT = (
    "imagenet-hard/ with image files anywhere below it and a label file: labels.json "
    "({\"<path relative to imagenet-hard/>\": [indices...]} or a list of {\"file\", \"labels\"}) or "
    "labels.csv (columns file,labels; labels a JSON list like [1, 2] or space-separated ints). The HF "
    "dataset taesiri/imagenet-hard (parquet shards) is converted to that by `beyond-inet data get imagenet-hard`"
)


def read_hard_labels(folder: Path) -> pd.DataFrame | None:
    """The ImageNet-Hard label file of ``folder`` as a table (file, label_set, extra columns),
    or None when there is none."""
    if (folder / "labels.json").is_file():
        data = json.loads((folder / "labels.json").read_text())
        if isinstance(data, dict):
            return pd.DataFrame({"file": list(data), "label_set": [list(map(int, v)) for v in data.values()]})
        t = pd.DataFrame(data)
        return t.assign(label_set=[list(map(int, v)) for v in t.pop("labels")])
    if (folder / "labels.csv").is_file():
        t = pd.read_csv(folder / "labels.csv", dtype={"labels": str}, keep_default_na=False)
        return t.assign(label_set=[_parse_int_list(v) for v in t.pop("labels")])
    return None


def _parse_int_list(text: str) -> list[int]:
    """'[1, 2]' or '1 2' or '1;2' or '' -> list of ints."""
    text = str(text).strip()
    if text.startswith("["):
        return [int(x) for x in json.loads(text)]
    return [int(x) for x in re.split(r"[\s;,]+", text) if x]


@register_dataset(
    "imagenet-hard",
    layout=HARD_LAYOUT,
    source="https://huggingface.co/datasets/taesiri/imagenet-hard (Taesiri et al. 2023)",
    license="MIT",
    how_to_get=("beyond-inet data get imagenet-hard --root DATA_ROOT  (the authors' parquet shards from the hub, "
                "taesiri/imagenet-hard, converted to images + labels.json)"),
    expected_count=10_980,
    properties=("robustness",),
    group="robustness",
    title="ImageNet-Hard",
)
def load_imagenet_hard(root: Path) -> DatasetIndex:
    """Multi-label: ``label_set`` = the list of valid indices, ``label`` = its first (or -1
    when empty; empty sets are kept and scored as skipped)."""
    folder = DATASETS["imagenet-hard"].folder_in(root)
    if folder is None:
        raise missing("imagenet-hard", root)
    labels = read_hard_labels(folder)
    if labels is None:
        shards = list(folder.rglob("*.parquet"))
        found = (f"{len(shards)} parquet shards but no labels.json: run `beyond-inet data get imagenet-hard "
                 f"--root {root}` to unpack them" if shards else "no labels.json or labels.csv")
        raise missing("imagenet-hard", root, found=found)
    exists = [(folder / f).is_file() for f in labels["file"]]
    t = labels[exists].copy()
    if t.empty:
        raise missing("imagenet-hard", root, found="a label file but none of its images")
    t.insert(0, "path", [str((folder / f).relative_to(root)) for f in t["file"]])
    t["label"] = [s[0] if s else -1 for s in t["label_set"]]
    return DatasetIndex("imagenet-hard", root, t, description="ImageNet-Hard (multi-label)",
                        meta={"missing_files": int(len(exists) - sum(exists)),
                              "empty_label_sets": int((t["label_set"].str.len() == 0).sum())})


# ---------------------------------------------------------------- ImageNet-O
IMAGENET_O_LAYOUT = (
    "imagenet-o/<wnid>/*.jpg (2,000 images in 200 folders, as imagenet-o.tar unpacks). The images "
    "show classes OUTSIDE ImageNet-1k; each folder is named after the ImageNet-1k class a ResNet-50 "
    "mistook its images for (the authors' list of 200 WNIDs ships with this package)"
)


@register_dataset(
    "imagenet-o",
    layout=IMAGENET_O_LAYOUT,
    source="https://github.com/hendrycks/natural-adv-examples (imagenet-o.tar; Hendrycks et al. 2021)",
    license="MIT",
    how_to_get="beyond-inet data get imagenet-o --root DATA_ROOT",
    expected_count=2_000,
    properties=("calibration",),
    group="ood",
    title="ImageNet-O",
)
def load_imagenet_o(root: Path) -> DatasetIndex:
    """ImageNet-O: ``label`` -1 (no ImageNet-1k class is right), ``wnid`` the folder, and
    ``confused_with`` its ImageNet index; ``class_mask`` = the 200 ImageNet-O indices, the
    columns its out-of-distribution scores use (docs/protocols.md §3). Folders outside the
    200 are listed in ``meta['unknown_folders']`` and skipped."""
    folder = DATASETS["imagenet-o"].folder_in(root)
    if folder is None:
        raise missing("imagenet-o", root)
    index, known = wnid_to_index(), set(imagenet_o_wnids())
    rows, unknown = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name not in known:
            unknown.append(sub.name)
            continue
        for img in list_images(sub):
            rows.append({"path": str(img.relative_to(root)), "label": -1, "wnid": sub.name,
                         "confused_with": index[sub.name]})
    if not rows:
        raise missing("imagenet-o", root, found=f"no <wnid>/ folders of ImageNet-O's 200 with images in {folder}")
    return DatasetIndex("imagenet-o", root, pd.DataFrame(rows), class_mask=imagenet_o_indices(),
                        description="ImageNet-O (out-of-distribution: classes outside ImageNet-1k)",
                        meta={"unknown_folders": unknown})


DATASET_GROUPS["imagenet"] = ("imagenet-val", "imagenet-x")
DATASET_GROUPS["robustness"] = ROBUSTNESS_VARIANTS
DATASET_GROUPS["ood"] = ("imagenet-o",)
