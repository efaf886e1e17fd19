"""Dataset registry: layouts, label mappings, presence checks.

Every dataset is a function registered with ``@register_dataset`` that, given a data root,
returns a ``DatasetIndex``: a table with one row per image (relative path, integer label
in the ImageNet-1k index space, and whatever extra columns the experiment needs), or
raises ``DatasetMissing`` with a message that says where it looked, the layout it
expects, and how to get it. Nothing here decodes an image: the engine does.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .errors import DatasetMissing
from .paths import resolve_data_root

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class DatasetIndex:
    """The files of one dataset and their labels.

    ``table`` columns: ``path`` (str, relative to ``root``), ``label`` (int ImageNet-1k
    index, -1 when an image has no single label), plus dataset-specific columns
    (``texture``/``shape`` for cue-conflict, ``factor``/``level`` for stand-ins,
    ``corruption``/``severity`` for ImageNet-C, ``label_set`` for multi-label sets ...).
    ``class_mask``: the ImageNet indices a benchmark scores over (ImageNet-A/R: 200), or
    None for all 1,000. ``standin``: generated data standing in for a real benchmark; every
    page that shows its numbers says so.
    """

    name: str
    root: Path
    table: pd.DataFrame
    class_mask: np.ndarray | None = None
    standin: bool = False
    description: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.root = Path(self.root)
        missing = {"path", "label"} - set(self.table.columns)
        if missing:
            raise ValueError(f"DatasetIndex {self.name!r} table lacks columns {sorted(missing)}")
        self.table = self.table.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def paths(self) -> list[Path]:
        return [self.root / p for p in self.table["path"]]

    @property
    def labels(self) -> np.ndarray:
        return self.table["label"].to_numpy()

    def fingerprint(self) -> str:
        """Hash of the file list (relative path + size): part of every cache key, so a
        changed or re-ordered dataset is never served stale results."""
        h = hashlib.sha1(self.name.encode())
        for rel in self.table["path"]:
            try:
                size = os.path.getsize(self.root / rel)
            except OSError:
                size = -1
            h.update(f"{rel}\0{size}\n".encode())
        return h.hexdigest()[:16]

    def subset(self, rows) -> "DatasetIndex":
        """A new index over the selected rows (boolean mask, index array or slice)."""
        table = self.table.iloc[rows] if not isinstance(rows, pd.Series) else self.table[rows]
        return DatasetIndex(self.name, self.root, table.reset_index(drop=True), self.class_mask,
                            self.standin, self.description, dict(self.meta))

    def per_class(self, n: int | None, seed: int = 0) -> "DatasetIndex":
        """First ``n`` images per class after a seeded shuffle (stable across runs)."""
        if n is None:
            return self
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(self.table))
        t = self.table.iloc[order]
        keep = t.groupby("label", sort=False).head(n).index
        return self.subset(np.sort(keep.to_numpy()))

    def spread(self, n: int | None) -> "DatasetIndex":
        """``n`` rows spread evenly over the table (all when n is None): deterministic and
        class-balanced for class-sorted datasets."""
        return self.subset(spread_indices(len(self), n))

    def head(self, n: int | None) -> "DatasetIndex":
        return self if n is None or n >= len(self) else self.subset(slice(0, n))


def spread_indices(n: int, k: int | None) -> np.ndarray:
    """Indices of ``k`` of ``n`` items spread evenly, first and last included (all when
    ``k`` is None or >= n)."""
    if k is None or k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(int))


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Presence:
    """What ``check_datasets`` reports for one dataset: how many images were found where,
    against how many the full benchmark has, and a short text of what is missing."""

    found_count: int
    expected_count: int | None
    path: Path | None
    missing: str = ""

    @property
    def status(self) -> str:
        """'found' (all there), 'partial' (some images), 'absent' (none)."""
        if self.found_count <= 0:
            return "absent"
        if self.expected_count and self.found_count < self.expected_count:
            return "partial"
        return "found"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    loader: Callable[..., DatasetIndex]
    layout: str
    source: str
    license: str
    how_to_get: str
    expected_count: int | None = None
    properties: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()     # candidate folders below the data root, first = canonical
    group: str = ""                   # see DATASET_GROUPS
    presence: Callable[[Path], Presence] | None = None  # custom presence check (default: count images)
    title: str = ""                   # display name ("ImageNet-A")

    def folder_in(self, root) -> Path | None:
        """The first candidate folder that exists below ``root``, or None."""
        return first_existing(Path(root), self.folders or (self.name,))

    def canonical_folder(self, root) -> Path:
        """Where ``data get`` puts the dataset: ``root / folders[0]``."""
        return Path(root) / (self.folders or (self.name,))[0]


DATASETS: dict[str, DatasetInfo] = {}


def register_dataset(name: str, *, layout: str, source: str, license: str, how_to_get: str,
                     expected_count: int | None = None, properties: tuple[str, ...] = (),
                     folders: tuple[str, ...] = (), group: str = "",
                     presence: Callable[[Path], Presence] | None = None, title: str = ""):
    """Decorator: ``loader(root: Path, **kwargs) -> DatasetIndex``, ``root`` being the
    data root (the dataset folder is found inside it, among ``folders``)."""

    def wrap(fn):
        DATASETS[name] = DatasetInfo(name, fn, layout, source, license, how_to_get,
                                     expected_count, tuple(properties), tuple(folders) or (name,),
                                     group, presence, title or name)
        return fn

    return wrap


def first_existing(root: Path, candidates) -> Path | None:
    """The first ``root / c`` that is a folder, or None."""
    for c in candidates:
        p = Path(root) / c
        if p.is_dir():
            return p
    return None


def _missing(name: str, root: Path, found: str = "") -> DatasetMissing:
    """A ``DatasetMissing`` built from the registry entry of ``name``."""
    info = DATASETS[name]
    looked = " or ".join(str(Path(root) / f) for f in info.folders)
    return DatasetMissing(name, looked, info.layout, info.how_to_get.replace("DATA_ROOT", str(root)), found)


def load_dataset(name: str, root, **kwargs) -> DatasetIndex:
    """Load a registered dataset from the data root; raises ``DatasetMissing``."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    if root is None:
        info = DATASETS[name]
        raise DatasetMissing(name, "(no data root set)", info.layout, info.how_to_get)
    return DATASETS[name].loader(Path(root), **kwargs)


def list_images(folder: Path) -> list[Path]:
    """Image files below ``folder``, sorted by relative path (a stable order)."""
    out = []
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."):
                out.append(Path(dirpath) / f)
    return sorted(out, key=lambda p: str(p.relative_to(folder)))


# ------------------------------------------------------------------- reference tables
def reference_dir() -> Path:
    """The folder of small reference tables shipped with the package."""
    return Path(__file__).parent / "assets"


def imagenet_class_names() -> list[str]:
    """Human-readable names of the 1,000 ImageNet classes (open_clip's list)."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return list(IMAGENET_CLASSNAMES)


def imagenet_wnids() -> list[str]:
    """The 1,000 WordNet ids in class-index order (from the imagenet-x package)."""
    return list(_imagenet_wnids())


@functools.lru_cache(maxsize=None)
def _imagenet_wnids() -> tuple[str, ...]:
    from imagenet_x.utils import get_annotation_path

    labels = pd.read_csv(get_annotation_path() / "imagenet_labels.txt", names=["wnid", "name"])
    return tuple(labels["wnid"].tolist())


@functools.lru_cache(maxsize=None)
def wnid_to_index() -> dict[str, int]:
    """WNID -> ImageNet-1k class index (the sorted-WNID order used by timm and torchvision)."""
    return {w: i for i, w in enumerate(_imagenet_wnids())}


# --------------------------------------------------------------------- cue-conflict
CUE_CONFLICT_CATEGORIES = (
    "airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat",
    "chair", "clock", "dog", "elephant", "keyboard", "knife", "oven", "truck",
)
_CUE_NAME = re.compile(r"^([a-z]+)\d+-([a-z]+)\d+\.png$")


def parse_cue_conflict_name(name: str) -> tuple[str, str]:
    """``dog10-bird2.png`` -> (shape ``dog``, texture ``bird``); any leading path or
    prefix (model-vs-human logs write ``..._dog10-bird2.png``) is ignored."""
    base = os.path.basename(str(name))
    m = re.search(r"([a-z]+)\d+-([a-z]+)\d+\.png$", base)
    if not m:
        raise ValueError(f"not a cue-conflict file name: {name!r} (expected e.g. dog10-bird2.png)")
    return m.group(1), m.group(2)


@register_dataset(
    "cue-conflict",
    layout="cue-conflict/<category>/<shape><n>-<texture><m>.png (16 folders, 1,280 PNGs)",
    source="https://github.com/rgeirhos/texture-vs-shape (stimuli/style-transfer-preprocessed-512)",
    license="CC BY 4.0",
    how_to_get="beyond-inet data get cue-conflict --root DATA_ROOT",
    expected_count=1280,
    properties=("shape_bias",),
    group="shape",
    title="Cue-conflict stimuli",
)
def load_cue_conflict(root: Path) -> DatasetIndex:
    folder = root / "cue-conflict"
    info = DATASETS["cue-conflict"]
    if not folder.is_dir():
        raise DatasetMissing("cue-conflict", folder, info.layout, info.how_to_get)
    files = [p for p in list_images(folder) if p.suffix.lower() == ".png"]
    if not files:
        raise DatasetMissing("cue-conflict", folder, info.layout, info.how_to_get, found="no PNG files")
    rows = []
    for p in files:
        shape, texture = parse_cue_conflict_name(p.name)
        rows.append({"path": str(p.relative_to(root)), "shape": shape, "texture": texture,
                     "category": p.parent.name})
    t = pd.DataFrame(rows)
    t["label"] = -1  # 16-class decisions, not 1,000-class labels
    return DatasetIndex("cue-conflict", root, t, description="Geirhos et al. cue-conflict stimuli")


# ------------------------------------------------------------------ imagenet-samples
@register_dataset(
    "imagenet-samples",
    layout="imagenet-samples/<wnid>_<name>.JPEG (1,000 files, one per class; sorted = class index)",
    source="https://github.com/EliSchwartz/imagenet-sample-images",
    license="ImageNet terms (non-commercial research)",
    how_to_get="beyond-inet data get imagenet-samples --root DATA_ROOT",
    expected_count=1000,
    properties=("calibration", "invariance", "similarity", "mistakes", "robustness", "synthetic"),
    group="demo",
    title="ImageNet samples (1 per class)",
)
def load_imagenet_samples(root: Path) -> DatasetIndex:
    folder = root / "imagenet-samples"
    info = DATASETS["imagenet-samples"]
    if not folder.is_dir():
        raise DatasetMissing("imagenet-samples", folder, info.layout, info.how_to_get)
    wnid_to_idx = {w: i for i, w in enumerate(imagenet_wnids())}
    rows = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        wnid = p.name.split("_", 1)[0]
        if wnid not in wnid_to_idx:
            continue
        # labelled by WNID, never by position: a missing file shifts nothing
        rows.append({"path": str(p.relative_to(root)), "label": wnid_to_idx[wnid], "wnid": wnid})
    if not rows:
        raise DatasetMissing("imagenet-samples", folder, info.layout, info.how_to_get,
                             found="no <wnid>_<name>.JPEG files")
    return DatasetIndex("imagenet-samples", root, pd.DataFrame(rows),
                        description="one ImageNet training image per class (train images: optimistic)")


# ============================================================================
# Shared helpers for the ImageNet-family layouts
# ============================================================================
WNID_RE = re.compile(r"^n\d{8}$")
VAL_FILE_RE = re.compile(r"^ILSVRC2012_val_(\d{8})\.[A-Za-z]+$")
N_VAL = 50_000


def count_images(folder: Path | None) -> int:
    """Number of image files below ``folder`` (0 when it is None or absent)."""
    if folder is None or not Path(folder).is_dir():
        return 0
    n = 0
    for _dirpath, _dirs, files in os.walk(folder):
        n += sum(1 for f in files if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
    return n


def val_file_name(number: int) -> str:
    """The canonical ImageNet val file name of image ``number`` (1-based)."""
    return f"ILSVRC2012_val_{number:08d}.JPEG"


def val_number(file_name: str) -> int | None:
    """``ILSVRC2012_val_00000042.JPEG`` -> 42 (any extension); None for other names."""
    m = VAL_FILE_RE.match(os.path.basename(str(file_name)))
    return int(m.group(1)) if m else None


def _timm_info_file(name: str) -> Path:
    """A file of timm's ``timm/data/_info`` folder (class lists timm ships). Located
    without importing timm (which would import torch: seconds)."""
    import importlib.util

    spec = importlib.util.find_spec("timm")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("timm is not installed; it ships the ImageNet-A/R/ReaL class lists")
    return Path(spec.origin).parent / "data" / "_info" / name


@functools.lru_cache(maxsize=None)
def _read_int_lines(name: str) -> tuple[int, ...]:
    return tuple(int(x) for x in _timm_info_file(name).read_text().split())


def imagenet_a_indices() -> np.ndarray:
    """The 200 ImageNet-1k indices of ImageNet-A's classes (timm's list, ascending)."""
    return np.array(_read_int_lines("imagenet_a_indices.txt"), dtype=np.int64)


def imagenet_r_indices() -> np.ndarray:
    """The 200 ImageNet-1k indices of ImageNet-R's classes (timm's list, ascending)."""
    return np.array(_read_int_lines("imagenet_r_indices.txt"), dtype=np.int64)


@functools.lru_cache(maxsize=None)
def _real_labels() -> tuple[tuple[int, ...], ...]:
    with open(_timm_info_file("imagenet_real_labels.json")) as f:
        return tuple(tuple(x) for x in json.load(f))


def imagenet_real_labels() -> list[list[int]]:
    """ReaL label sets (Beyer et al. 2020) of the 50,000 val images, in file-number order
    (entry i belongs to ``ILSVRC2012_val_{i+1:08d}``); an empty set = no valid label."""
    return [list(x) for x in _real_labels()]


def _wnid_folder_rows(root: Path, folder: Path) -> tuple[list[dict], list[str]]:
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


def _default_presence(name: str) -> Callable[[Path], Presence]:
    """Count the images in the dataset's folder against its expected count."""

    def check(root: Path) -> Presence:
        info = DATASETS[name]
        folder = info.folder_in(root)
        n = count_images(folder)
        return Presence(n, info.expected_count, folder or info.canonical_folder(root),
                        _missing_text(n, info.expected_count, folder, info.canonical_folder(root)))

    return check


def _missing_text(found: int, expected: int | None, folder: Path | None, canonical: Path) -> str:
    if folder is None:
        return f"no folder {canonical}"
    if found == 0:
        return f"no images in {folder}"
    if expected and found < expected:
        return f"{expected - found:,} of {expected:,} images missing"
    return ""


# ============================================================================
# ImageNet val, ReaL, ImageNet-X
# ============================================================================
VAL_LABEL_FILES = ("LOC_val_solution.csv", "val_labels.txt")
VAL_LAYOUT = (
    "imagenet-val/<wnid>/ILSVRC2012_val_XXXXXXXX.JPEG (class folders) OR flat "
    "imagenet-val/ILSVRC2012_val_00000001.JPEG ... (as ILSVRC2012_img_val.tar unpacks). Flat "
    "layout labels, first found in imagenet-val/ or the data root: LOC_val_solution.csv (Kaggle: "
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


def _labels_from_imagenet_x() -> dict[int, int]:
    from imagenet_x.utils import get_annotation_path

    t = pd.read_csv(get_annotation_path() / "filename_label.csv")
    return {val_number(f): int(lab) for f, lab in zip(t["file_name"], t["label"])}


def read_val_labels(folder: Path, root: Path) -> tuple[dict[int, int], str]:
    """Val labels for the flat layout: (file number -> class index, where they came from).
    Looked for in ``folder`` then ``root``: LOC_val_solution.csv, val_labels.txt; else the
    50,000 labels shipped in the imagenet-x package (``filename_label.csv``)."""
    for base in (folder, root):
        if (base / "LOC_val_solution.csv").is_file():
            return _labels_from_loc_csv(base / "LOC_val_solution.csv"), str(base / "LOC_val_solution.csv")
        if (base / "val_labels.txt").is_file():
            return _labels_from_txt(base / "val_labels.txt"), str(base / "val_labels.txt")
    return _labels_from_imagenet_x(), "imagenet-x package (filename_label.csv)"


def _val_rows_class_folders(root: Path, folder: Path) -> list[dict]:
    rows, _unknown = _wnid_folder_rows(root, folder)
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
    source="https://image-net.org/download.php (ILSVRC2012_img_val.tar, 6.3 GB; needs an account)",
    license="ImageNet terms of access (non-commercial research; registration required)",
    how_to_get=("license-gated: log in at image-net.org, download ILSVRC2012_img_val.tar, then either "
                "`mkdir -p DATA_ROOT/imagenet-val && tar -xf ILSVRC2012_img_val.tar -C DATA_ROOT/imagenet-val` "
                "or put the tar in DATA_ROOT/.downloads/ and run `beyond-inet data get imagenet-val --root DATA_ROOT`"),
    expected_count=N_VAL,
    properties=("mistakes", "calibration", "invariance", "similarity"),
    folders=("imagenet-val", "imagenet/val", "val"),
    group="imagenet",
    title="ImageNet-1k val",
)
def load_imagenet_val(root: Path) -> DatasetIndex:
    """ImageNet val in either layout; columns path, label, wnid, file_name (the canonical
    ``ILSVRC2012_val_XXXXXXXX.JPEG``, the key of ImageNet-X and ReaL joins)."""
    info = DATASETS["imagenet-val"]
    folder = info.folder_in(root)
    if folder is None:
        raise _missing("imagenet-val", root)
    has_class_folders = any(p.is_dir() and WNID_RE.match(p.name) for p in folder.iterdir())
    if has_class_folders:
        rows, source = _val_rows_class_folders(root, folder), "class folders"
    else:
        rows, source = _val_rows_flat(root, folder)
    if not rows:
        raise _missing("imagenet-val", root, found=f"no ILSVRC2012_val_*.JPEG files in {folder}")
    return DatasetIndex("imagenet-val", root, pd.DataFrame(rows),
                        description="ImageNet-1k validation set",
                        meta={"label_source": source, "layout": "class-folders" if has_class_folders else "flat"})


def _val_presence(root: Path) -> Presence:
    info = DATASETS["imagenet-val"]
    folder = info.folder_in(root)
    n = count_images(folder)
    return Presence(n, N_VAL, folder or info.canonical_folder(root),
                    _missing_text(n, N_VAL, folder, info.canonical_folder(root)))


@register_dataset(
    "imagenet-real",
    layout="the imagenet-val images (any accepted layout); labels ship with timm (imagenet_real_labels.json)",
    source="https://github.com/google-research/reassessed-imagenet (labels, via timm); images = ImageNet val",
    license="labels Apache-2.0; images ImageNet terms",
    how_to_get="get imagenet-val (license-gated, see `beyond-inet data get imagenet-val`); the ReaL labels are shipped",
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
        raise _missing("imagenet-real", root, found=e.found) from None
    real = _real_labels()
    t = val.table.copy()
    t["label_set"] = [list(real[val_number(f) - 1]) for f in t["file_name"]]
    n_empty = int((t["label_set"].str.len() == 0).sum())
    return DatasetIndex("imagenet-real", root, t, description="ImageNet val with ReaL label sets",
                        meta={**val.meta, "empty_label_sets": n_empty})


def imagenet_x_annotations(which_factor: str = "top", filter_prototypes: bool = True) -> pd.DataFrame:
    """ImageNet-X annotations from the imagenet-x package: one row per annotated val image,
    ``file_name``, ``class`` and the 16 factor columns (0/1); prototypes dropped by default."""
    return _imagenet_x_annotations(which_factor, filter_prototypes).copy()


@functools.lru_cache(maxsize=4)
def _imagenet_x_annotations(which_factor: str, filter_prototypes: bool) -> pd.DataFrame:
    from imagenet_x import load_annotations

    return load_annotations(which_factor=which_factor, partition="val",
                            filter_prototypes=filter_prototypes).reset_index(drop=True)


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
    layout="imagenet-v2/<class index 0..999>/*.jpeg (matched-frequency, 10,000 images; folder names are class indices)",
    source="https://github.com/modestyachts/ImageNetV2 (HF mirror vaishaal/ImageNetV2)",
    license="MIT (code); images: the ImageNetV2 terms (research)",
    how_to_get="beyond-inet data get imagenet-v2 --root DATA_ROOT",
    expected_count=10_000,
    properties=("robustness",),
    folders=("imagenet-v2", "imagenetv2-matched-frequency-format-val", "imagenet-v2/imagenetv2-matched-frequency-format-val"),
    group="robustness",
    title="ImageNet-V2",
)
def load_imagenet_v2(root: Path) -> DatasetIndex:
    folder = DATASETS["imagenet-v2"].folder_in(root)
    if folder is None:
        raise _missing("imagenet-v2", root)
    wnids = _imagenet_wnids()
    rows = []
    for sub in sorted((p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
        label = int(sub.name)  # ImageNetV2's folders ARE class indices (0..999), not positions
        if not 0 <= label < 1000:
            continue
        for img in list_images(sub):
            rows.append({"path": str(img.relative_to(root)), "label": label, "wnid": wnids[label]})
    if not rows:
        raise _missing("imagenet-v2", root, found=f"no <0..999>/ class folders with images in {folder}")
    return DatasetIndex("imagenet-v2", root, pd.DataFrame(rows), description="ImageNetV2 matched-frequency")


def _wnid_dataset(name: str, root: Path, class_mask: np.ndarray | None, description: str) -> DatasetIndex:
    folder = DATASETS[name].folder_in(root)
    if folder is None:
        raise _missing(name, root)
    rows, unknown = _wnid_folder_rows(root, folder)
    if not rows:
        raise _missing(name, root, found=f"no <wnid>/ folders with images in {folder}")
    return DatasetIndex(name, root, pd.DataFrame(rows), class_mask=class_mask, description=description,
                        meta={"unknown_folders": unknown})


@register_dataset(
    "imagenet-a",
    layout="imagenet-a/<wnid>/*.jpg (200 classes, 7,500 images; labels by WNID)",
    source="https://github.com/hendrycks/natural-adv-examples",
    license="MIT",
    how_to_get="beyond-inet data get imagenet-a --root DATA_ROOT",
    expected_count=7_500,
    properties=("robustness",),
    group="robustness",
    title="ImageNet-A",
)
def load_imagenet_a(root: Path) -> DatasetIndex:
    """Labels by WNID -> 1,000-class index; ``class_mask`` = the 200 ImageNet-A indices."""
    return _wnid_dataset("imagenet-a", root, imagenet_a_indices(), "ImageNet-A (natural adversarial)")


@register_dataset(
    "imagenet-r",
    layout="imagenet-r/<wnid>/*.jpg (200 classes, 30,000 images; labels by WNID)",
    source="https://github.com/hendrycks/imagenet-r",
    license="MIT",
    how_to_get="beyond-inet data get imagenet-r --root DATA_ROOT",
    expected_count=30_000,
    properties=("robustness", "calibration"),
    group="robustness",
    title="ImageNet-R",
)
def load_imagenet_r(root: Path) -> DatasetIndex:
    """Labels by WNID -> 1,000-class index; ``class_mask`` = the 200 ImageNet-R indices."""
    return _wnid_dataset("imagenet-r", root, imagenet_r_indices(), "ImageNet-R (renditions)")


@register_dataset(
    "imagenet-sketch",
    layout="imagenet-sketch/<wnid>/*.JPEG (or imagenet-sketch/sketch/<wnid>/, or sketch/<wnid>/; 50,889 images)",
    source="https://github.com/HaohanWang/ImageNet-Sketch (HF mirror songweig/imagenet_sketch)",
    license="MIT",
    how_to_get="beyond-inet data get imagenet-sketch --root DATA_ROOT",
    expected_count=50_889,
    properties=("robustness",),
    folders=("imagenet-sketch/sketch", "imagenet-sketch", "sketch"),
    group="robustness",
    title="ImageNet-Sketch",
)
def load_imagenet_sketch(root: Path) -> DatasetIndex:
    return _wnid_dataset("imagenet-sketch", root, None, "ImageNet-Sketch")


IMAGENET_C_CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
IMAGENET_C_SEVERITIES = (1, 2, 3, 4, 5)


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
        raise _missing("imagenet-c", root)
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
            part, _unknown = _wnid_folder_rows(root, sub)
            for r in part:
                r.update(corruption=c, severity=s, file_name=os.path.basename(r["path"]))
            rows += part
    if not rows:
        raise _missing("imagenet-c", root, found=f"none of the asked <corruption>/<severity>/ folders in {folder}")
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
    how_to_get=("`huggingface-cli download taesiri/imagenet-hard --repo-type dataset --local-dir "
                "DATA_ROOT/imagenet-hard/hf` on a connected machine, then `beyond-inet data get imagenet-hard "
                "--root DATA_ROOT` (converts the parquet shards to images + labels.json, offline)"),
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
        raise _missing("imagenet-hard", root)
    labels = read_hard_labels(folder)
    if labels is None:
        shards = list(folder.rglob("*.parquet"))
        found = (f"{len(shards)} parquet shards but no labels.json: run `beyond-inet data get imagenet-hard "
                 f"--root {root}` to unpack them" if shards else "no labels.json or labels.csv")
        raise _missing("imagenet-hard", root, found=found)
    exists = [(folder / f).is_file() for f in labels["file"]]
    t = labels[exists].copy()
    if t.empty:
        raise _missing("imagenet-hard", root, found="a label file but none of its images")
    t.insert(0, "path", [str((folder / f).relative_to(root)) for f in t["file"]])
    t["label"] = [s[0] if s else -1 for s in t["label_set"]]
    return DatasetIndex("imagenet-hard", root, t, description="ImageNet-Hard (multi-label)",
                        meta={"missing_files": int(len(exists) - sum(exists)),
                              "empty_label_sets": int((t["label_set"].str.len() == 0).sum())})


# ============================================================================
# PUG-ImageNet (synthetic)
# ============================================================================
PUG_FACTORS = (
    "Worlds", "Camera_Pitch", "Camera_Yaw", "Camera_Roll", "Object_Pitch",
    "Object_Yaw", "Object_Roll", "Object_Scale", "Object_Texture", "Scene_Light",
)


@functools.lru_cache(maxsize=None)
def _pug_map() -> tuple[tuple[str, tuple[int, ...]], ...]:
    data = json.loads((reference_dir() / "pug_class_to_imagenet_idx.json").read_text())
    return tuple((k, tuple(v)) for k, v in data.items())


def pug_class_to_indices() -> dict[str, list[int]]:
    """The 151 PUG-ImageNet class names -> their ImageNet-1k indices (facebookresearch/PUG;
    Shirt and Sweatshirt both map to 841)."""
    return {k: list(v) for k, v in _pug_map()}


@register_dataset(
    "pug-imagenet",
    layout="pug-imagenet/<Factor>/<ClassName>/*.png, Factor in " + ", ".join(PUG_FACTORS) +
           " (88,328 images; labels by class NAME via the shipped class_to_imagenet_idx map)",
    source="https://github.com/facebookresearch/PUG (PUG: ImageNet)",
    license="CC BY-NC 4.0",
    how_to_get="beyond-inet data get pug-imagenet --root DATA_ROOT",
    expected_count=88_328,
    properties=("synthetic",),
    folders=("pug-imagenet", "PUG_ImageNet", "pug-imagenet/PUG_ImageNet"),
    group="synthetic",
    title="PUG-ImageNet",
)
def load_pug_imagenet(root: Path, factors=None) -> DatasetIndex:
    """Columns factor, class_name, label_set (all ImageNet indices of the class), label (the
    first). Labels come from the class NAME, so a missing class folder shifts nothing (the
    authors' sorted-folder labels did). Folders of unknown classes are left out and listed
    in ``meta['unknown_classes']``."""
    folder = DATASETS["pug-imagenet"].folder_in(root)
    if folder is None:
        raise _missing("pug-imagenet", root)
    mapping = pug_class_to_indices()
    rows, unknown, absent = [], set(), []
    for factor in factors or PUG_FACTORS:
        fdir = folder / factor
        if not fdir.is_dir():
            absent.append(factor)
            continue
        for cdir in sorted(p for p in fdir.iterdir() if p.is_dir()):
            if cdir.name not in mapping:
                unknown.add(cdir.name)
                continue
            idx = mapping[cdir.name]
            for img in list_images(cdir):
                rows.append({"path": str(img.relative_to(root)), "label": idx[0], "label_set": list(idx),
                             "factor": factor, "class_name": cdir.name})
    if not rows:
        raise _missing("pug-imagenet", root, found=f"no <Factor>/<ClassName>/ images in {folder}")
    return DatasetIndex("pug-imagenet", root, pd.DataFrame(rows), description="PUG: ImageNet (rendered)",
                        meta={"unknown_classes": sorted(unknown), "absent_factors": absent})


# ============================================================================
# VTAB-1k
# ============================================================================
VTAB_TASKS = {
    "caltech101": "natural", "cifar100": "natural", "dtd": "natural", "oxford_flowers102": "natural",
    "oxford_iiit_pet": "natural", "sun397": "natural", "svhn": "natural",
    "patch_camelyon": "specialized", "eurosat": "specialized", "resisc45": "specialized",
    "diabetic_retinopathy": "specialized",
    "clevr_count": "structured", "clevr_distance": "structured", "dmlab": "structured",
    "dsprites_location": "structured", "dsprites_orientation": "structured", "kitti_distance": "structured",
    "smallnorb_azimuth": "structured", "smallnorb_elevation": "structured",
}
# folder names used by the widely shared vtab-1k.zip (NOAH / VPT / RepAdapter)
VTAB_FOLDER_ALIASES = {
    "cifar100": ("cifar",), "clevr_distance": ("clevr_dist",), "dsprites_location": ("dsprites_loc",),
    "dsprites_orientation": ("dsprites_ori",), "kitti_distance": ("kitti",),
    "smallnorb_azimuth": ("smallnorb_azi",), "smallnorb_elevation": ("smallnorb_ele",),
}
VTAB_SPLITS = ("train800", "val200", "test")
# test-split sizes of VTAB-1k (Zhai et al. 2019; as tabulated by VPT)
VTAB_TEST_SIZES = {
    "caltech101": 6084, "cifar100": 10000, "dtd": 1880, "oxford_flowers102": 6149, "oxford_iiit_pet": 3669,
    "sun397": 21750, "svhn": 26032, "patch_camelyon": 32768, "eurosat": 5400, "resisc45": 6300,
    "diabetic_retinopathy": 42670, "clevr_count": 15000, "clevr_distance": 15000, "dmlab": 22735,
    "dsprites_location": 73728, "dsprites_orientation": 73728, "kitti_distance": 711,
    "smallnorb_azimuth": 12150, "smallnorb_elevation": 12150,
}
VTAB_LAYOUT = (
    "vtab/<task>/{train800,val200,test}/<label>/*.png|jpg (label = task class index, or class names, "
    "sorted) OR vtab/<task>/{train800,val200,test}.txt with '<image path relative to the task folder> <label>' "
    "lines (the vtab-1k.zip of NOAH/VPT, unpacked as vtab/ or vtab-1k/; its short folder names such as "
    "cifar, clevr_dist, kitti, smallnorb_azi are accepted)"
)


VTAB_HOW_TO_GET = (
    "one archive for all 19 tasks: on a connected machine `pip install gdown && gdown "
    "1yZKwiKdsBzTfBgnStRveYMokc7GMMd5p` (vtab-1k.zip, as shared by NOAH/VPT/RepAdapter), put it in "
    "DATA_ROOT/.downloads/, then `beyond-inet data get vtab --root DATA_ROOT` (unpacks, offline)")


def vtab_dataset_name(task: str) -> str:
    """'dtd' -> 'vtab-dtd' (the registry name of a VTAB-1k task)."""
    if task not in VTAB_TASKS:
        raise KeyError(f"unknown VTAB task {task!r}; known: {', '.join(VTAB_TASKS)}")
    return f"vtab-{task}"


def _vtab_folders(task: str) -> tuple[str, ...]:
    names = (task,) + VTAB_FOLDER_ALIASES.get(task, ())
    return tuple(f"{top}/{n}" for top in ("vtab", "vtab-1k") for n in names)


def _vtab_split_rows(root: Path, folder: Path, split: str) -> list[dict] | None:
    """Rows of one split (label kept raw: int or class name), or None when absent."""
    sdir, listing = folder / split, folder / f"{split}.txt"
    if sdir.is_dir() and any(p.is_dir() for p in sdir.iterdir()):
        return [{"path": str(img.relative_to(root)), "label": cdir.name, "split": split}
                for cdir in sorted(p for p in sdir.iterdir() if p.is_dir()) for img in list_images(cdir)]
    if listing.is_file():
        rows = []
        for ln in listing.read_text().splitlines():
            if ln.strip():
                rel, lab = ln.rsplit(maxsplit=1)
                rows.append({"path": str((folder / rel).relative_to(root)), "label": lab, "split": split})
        return rows
    return None


def _vtab_labels_to_int(labels: pd.Series) -> tuple[pd.Series, list[str] | None]:
    """Integer task labels: as written when they all are integers, else the index of the
    class name in the sorted union of names over all splits (one mapping for every split)."""
    if labels.str.fullmatch(r"\d+").all():
        return labels.astype(int), None
    names = sorted(labels.unique())
    pos = {n: i for i, n in enumerate(names)}
    return labels.map(pos).astype(int), names


def load_vtab(root: Path, task: str, splits=VTAB_SPLITS) -> DatasetIndex:
    """One VTAB-1k task: columns path, label (the TASK's class index, not ImageNet's:
    ``meta['label_space']``), split (train800 / val200 / test)."""
    name = vtab_dataset_name(task)
    folder = DATASETS[name].folder_in(root)
    if folder is None:
        raise _missing(name, root)
    rows, absent = [], []
    for split in splits:
        part = _vtab_split_rows(root, folder, split)
        if part is None or not part:
            absent.append(split)
        else:
            rows += part
    if absent:
        raise _missing(name, root, found=f"{folder} lacks the split(s) {', '.join(absent)}")
    t = pd.DataFrame(rows)
    t["label"], class_names = _vtab_labels_to_int(t["label"].astype(str))
    return DatasetIndex(name, root, t, description=f"VTAB-1k {task} ({VTAB_TASKS[task]})",
                        meta={"label_space": f"vtab:{task}", "task": task, "group": VTAB_TASKS[task],
                              "class_names": class_names})


def _vtab_presence(task: str) -> Callable[[Path], Presence]:
    def check(root: Path) -> Presence:
        info = DATASETS[vtab_dataset_name(task)]
        folder = info.folder_in(root)
        expected = {"train800": 800, "val200": 200, "test": VTAB_TEST_SIZES[task]}
        if folder is None:
            return Presence(0, info.expected_count, info.canonical_folder(root), f"no folder {info.canonical_folder(root)}")
        found = {s: len(_vtab_split_rows(root, folder, s) or []) for s in VTAB_SPLITS}
        short = [f"{s} {found[s]}/{expected[s]}" for s in VTAB_SPLITS if found[s] < expected[s]]
        return Presence(sum(found.values()), info.expected_count, folder, "; ".join(short))

    return check


for _task, _group in VTAB_TASKS.items():
    register_dataset(
        vtab_dataset_name(_task),
        layout=VTAB_LAYOUT.replace("<task>", _task),
        source="https://github.com/google-research/task_adaptation (VTAB-1k splits; images from the public source datasets)",
        license="per source dataset (research use; see the VTAB paper)",
        how_to_get=VTAB_HOW_TO_GET,
        expected_count=1000 + VTAB_TEST_SIZES[_task],
        properties=("transfer",),
        folders=_vtab_folders(_task),
        group=f"vtab-{_group}",
        presence=_vtab_presence(_task),
        title=f"VTAB {_task}",
    )(functools.partial(load_vtab, task=_task))


# ============================================================================
# Groups, presence checks, the `data check` table
# ============================================================================
DATASET_GROUPS: dict[str, tuple[str, ...]] = {
    "demo": ("cue-conflict", "imagenet-samples"),
    "imagenet": ("imagenet-val", "imagenet-x"),
    # the seven variants of the paper's robustness average, in the paper's order
    "robustness": ("imagenet-v2", "imagenet-a", "imagenet-c", "imagenet-hard",
                   "imagenet-r", "imagenet-sketch", "imagenet-real"),
    "synthetic": ("pug-imagenet",),
    "vtab-natural": tuple(vtab_dataset_name(t) for t, g in VTAB_TASKS.items() if g == "natural"),
    "vtab-specialized": tuple(vtab_dataset_name(t) for t, g in VTAB_TASKS.items() if g == "specialized"),
    "vtab-structured": tuple(vtab_dataset_name(t) for t, g in VTAB_TASKS.items() if g == "structured"),
}
DATASET_GROUPS["vtab"] = DATASET_GROUPS["vtab-natural"] + DATASET_GROUPS["vtab-specialized"] + \
    DATASET_GROUPS["vtab-structured"]


def dataset_presence(name: str, root) -> Presence:
    """How much of dataset ``name`` is below ``root`` (no image is decoded)."""
    info = DATASETS[name]
    check = info.presence or _default_presence(name)
    return check(Path(root))


def datasets_for_profile(profile) -> list[str]:
    """The datasets a profile's report reads: the demo data, ImageNet val + ImageNet-X,
    the profile's robustness variants, ImageNet-R (calibration), the VTAB tasks among
    its transfer tasks (stand-in tasks such as 'digits' need no data) and PUG-ImageNet."""
    names = list(DATASET_GROUPS["demo"]) + list(DATASET_GROUPS["imagenet"])
    names += list(profile.settings("robustness").variants) + ["imagenet-r"]
    names += [vtab_dataset_name(t) for t in profile.settings("transfer").tasks if t in VTAB_TASKS]
    names += list(DATASET_GROUPS["synthetic"])
    return list(dict.fromkeys(n for n in names if n in DATASETS))


CHECK_COLUMNS = ("name", "status", "found_count", "expected_count", "missing", "path",
                 "how_to_get", "license", "source")


def check_datasets(root, profile=None) -> pd.DataFrame:
    """One row per registered dataset (or per dataset the ``profile`` uses): status
    'found' | 'partial' | 'absent', counts, what is missing, where, and how to get it.
    ``root`` None: the profile's data root (or the default one)."""
    if root is None:
        root = profile.resolved_data_root() if profile is not None else resolve_data_root(None)
    names = datasets_for_profile(profile) if profile is not None else list(DATASETS)
    rows = []
    for name in names:
        info = DATASETS[name]
        if root is None:
            pres = Presence(0, info.expected_count, None, "no data root set")
        else:
            pres = dataset_presence(name, root)
        rows.append({
            "name": name, "status": pres.status, "found_count": pres.found_count,
            "expected_count": pres.expected_count, "missing": pres.missing,
            "path": str(pres.path) if pres.path else "",
            "how_to_get": info.how_to_get.replace("DATA_ROOT", str(root) if root else "DATA_ROOT"),
            "license": info.license, "source": info.source,
        })
    return pd.DataFrame(rows, columns=list(CHECK_COLUMNS))


def format_check_table(df: pd.DataFrame) -> str:
    """The ``check_datasets`` table as plain text: one line per dataset, and under every
    dataset that is not complete, what is missing and how to get it."""
    def count(row) -> str:
        exp = row["expected_count"]
        exp = f"{int(exp):,}" if exp is not None and not pd.isna(exp) else "?"
        return f"{int(row['found_count']):,} / {exp}"

    counts = [count(r) for _, r in df.iterrows()]
    previous_how = None
    w_name = max([len("dataset")] + [len(n) for n in df["name"]])
    w_count = max([len("found / expected")] + [len(c) for c in counts])
    lines = [f"{'dataset':<{w_name}}  {'status':<7}  {'found / expected':>{w_count}}  path",
             f"{'-' * w_name}  {'-' * 7}  {'-' * w_count}  {'-' * 4}"]
    for (_, r), c in zip(df.iterrows(), counts):
        lines.append(f"{r['name']:<{w_name}}  {r['status']:<7}  {c:>{w_count}}  {r['path']}")
        if r["status"] != "found":
            pad = " " * (w_name + 2)
            if r["missing"]:
                lines.append(f"{pad}missing: {r['missing']}")
            same = r["how_to_get"] == previous_how
            lines.append(f"{pad}get it:  " + ("as above" if same else r["how_to_get"]))
            previous_how = r["how_to_get"]
    n_found = int((df["status"] == "found").sum())
    lines.append(f"{n_found} of {len(df)} datasets found")
    return "\n".join(lines)
