"""ImageNet-1k label facts that ship with installed packages: the class order (WNIDs),
class names, the 200-class lists of ImageNet-A/R, the ReaL label sets, the val labels and
the ImageNet-X annotations. Nothing here reads the data root.

Class indices are in sorted-WNID order (timm's, torchvision's and imagenet-x's).
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

N_VAL = 50_000
# ILSVRC2012_val_00000042.JPEG as the ILSVRC tar holds it, or ILSVRC2012_val_00000042_n01751748.JPEG
# as the Hugging Face copy (ILSVRC/imagenet-1k, data/val_images.tar.gz) names it
VAL_FILE_RE = re.compile(r"^ILSVRC2012_val_(\d{8})(?:_n\d{8})?\.[A-Za-z]+$")


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


def val_file_name(number: int) -> str:
    """The canonical ImageNet val file name of image ``number`` (1-based)."""
    return f"ILSVRC2012_val_{number:08d}.JPEG"


def val_number(file_name: str) -> int | None:
    """``ILSVRC2012_val_00000042.JPEG`` (or ``..._00000042_<wnid>.JPEG``) -> 42 (any
    extension); None for other names."""
    m = VAL_FILE_RE.match(os.path.basename(str(file_name)))
    return int(m.group(1)) if m else None


def timm_info_file(name: str) -> Path:
    """A file of timm's ``timm/data/_info`` folder (class lists timm ships). Located
    without importing timm (which would import torch: seconds)."""
    import importlib.util

    spec = importlib.util.find_spec("timm")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("timm is not installed; it ships the ImageNet-A/R/ReaL class lists")
    return Path(spec.origin).parent / "data" / "_info" / name


@functools.lru_cache(maxsize=None)
def _read_lines(name: str) -> tuple[str, ...]:
    return tuple(timm_info_file(name).read_text().split())


def imagenet_a_indices() -> np.ndarray:
    """The 200 ImageNet-1k indices of ImageNet-A's classes (timm's list, ascending)."""
    return np.array([int(x) for x in _read_lines("imagenet_a_indices.txt")], dtype=np.int64)


def imagenet_r_indices() -> np.ndarray:
    """The 200 ImageNet-1k indices of ImageNet-R's classes (timm's list, ascending)."""
    return np.array([int(x) for x in _read_lines("imagenet_r_indices.txt")], dtype=np.int64)


def imagenet_a_wnids() -> list[str]:
    """The 200 WNIDs of ImageNet-A (the folder names of the release)."""
    return list(_read_lines("imagenet_a_synsets.txt"))


def imagenet_r_wnids() -> list[str]:
    """The 200 WNIDs of ImageNet-R (the folder names of the release)."""
    return list(_read_lines("imagenet_r_synsets.txt"))


@functools.lru_cache(maxsize=None)
def real_label_sets() -> tuple[tuple[int, ...], ...]:
    with open(timm_info_file("imagenet_real_labels.json")) as f:
        return tuple(tuple(x) for x in json.load(f))


def imagenet_real_labels() -> list[list[int]]:
    """ReaL label sets (Beyer et al. 2020) of the 50,000 val images, in file-number order
    (entry i belongs to ``ILSVRC2012_val_{i+1:08d}``); an empty set = no valid label."""
    return [list(x) for x in real_label_sets()]


@functools.lru_cache(maxsize=None)
def _shipped_val_labels() -> tuple[tuple[int, int], ...]:
    from imagenet_x.utils import get_annotation_path

    t = pd.read_csv(get_annotation_path() / "filename_label.csv")
    return tuple((val_number(f), int(lab)) for f, lab in zip(t["file_name"], t["label"]))


def shipped_val_labels() -> dict[int, int]:
    """The 50,000 ImageNet val labels shipped in the imagenet-x package: file number ->
    class index."""
    return dict(_shipped_val_labels())


def imagenet_x_annotations(which_factor: str = "top", filter_prototypes: bool = True) -> pd.DataFrame:
    """ImageNet-X annotations from the imagenet-x package: one row per annotated val image,
    ``file_name``, ``class`` and the 16 factor columns (0/1); prototypes dropped by default."""
    return _imagenet_x_annotations(which_factor, filter_prototypes).copy()


@functools.lru_cache(maxsize=4)
def _imagenet_x_annotations(which_factor: str, filter_prototypes: bool) -> pd.DataFrame:
    from imagenet_x import load_annotations

    return load_annotations(which_factor=which_factor, partition="val",
                            filter_prototypes=filter_prototypes).reset_index(drop=True)
