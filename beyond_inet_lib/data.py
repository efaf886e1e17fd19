"""Dataset registry: layouts, label mappings, presence checks.

Every dataset is a function registered with ``@register_dataset`` that, given a data root,
returns a ``DatasetIndex``: a table with one row per image (relative path, integer label
in the ImageNet-1k index space, and whatever extra columns the experiment needs), or
raises ``DatasetMissing`` with a message that says where it looked, the layout it
expects, and how to get it. Nothing here decodes an image: the engine does.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class DatasetMissing(FileNotFoundError):
    """A dataset is absent or incomplete. ``str(err)`` is the whole user-facing message."""

    def __init__(self, name: str, looked_at, layout: str, how_to_get: str, found: str = ""):
        self.name, self.looked_at, self.layout, self.how_to_get = name, looked_at, layout, how_to_get
        self.found = found
        msg = f"{name}: not found at {looked_at}."
        if found:
            msg += f" Found: {found}."
        msg += f"\nExpected layout: {layout}\nGet it with: {how_to_get}"
        super().__init__(msg)


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

    def head(self, n: int | None) -> "DatasetIndex":
        return self if n is None or n >= len(self) else self.subset(slice(0, n))


# ----------------------------------------------------------------------------- registry
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


DATASETS: dict[str, DatasetInfo] = {}


def register_dataset(name: str, *, layout: str, source: str, license: str, how_to_get: str,
                     expected_count: int | None = None, properties: tuple[str, ...] = ()):
    """Decorator: ``loader(root: Path, **kwargs) -> DatasetIndex``, ``root`` being the
    data root (the dataset folder is found inside it)."""

    def wrap(fn):
        DATASETS[name] = DatasetInfo(name, fn, layout, source, license, how_to_get,
                                     expected_count, tuple(properties))
        return fn

    return wrap


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
    from imagenet_x.utils import get_annotation_path

    labels = pd.read_csv(get_annotation_path() / "imagenet_labels.txt", names=["wnid", "name"])
    return labels["wnid"].tolist()


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
