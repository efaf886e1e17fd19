"""ImageNet-1k label facts that ship with installed packages: the class order (WNIDs),
class names, the 200-class lists of ImageNet-A/R, the ReaL label sets, the val labels and
the ImageNet-X annotations; ImageNet-O's 200 class folders (shipped in ``assets/``). Nothing
here reads the data root.

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

from .registry import assets_dir

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
def imagenet_o_wnids() -> tuple[str, ...]:
    """The 200 WNIDs ImageNet-O's images are filed under: ImageNet-1k classes a ResNet-50
    confidently (and wrongly) predicted for these images of other classes. The list of the
    authors' evaluation code (github.com/hendrycks/natural-adv-examples,
    ``eval_many_models.py``, MIT), shipped in ``assets/imagenet_o_wnids.txt``."""
    return tuple((assets_dir() / "imagenet_o_wnids.txt").read_text().split())


def imagenet_o_indices() -> np.ndarray:
    """The 200 ImageNet-1k indices of ImageNet-O's folders (ascending): the columns its
    out-of-distribution scores use, and the classes of its in-distribution val images."""
    index = wnid_to_index()
    return np.array(sorted(index[w] for w in imagenet_o_wnids()), dtype=np.int64)


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


# ------------------------------------------------------------- names -> class indices
@functools.lru_cache(maxsize=None)
def _imagenet_lemmas() -> tuple[str, ...]:
    lemma = dict(line.split("\t", 1) for line in timm_info_file("imagenet_synset_to_lemma.txt").read_text().splitlines()
                 if "\t" in line)
    return tuple(lemma[w] for w in _imagenet_wnids())


def imagenet_lemmas() -> list[str]:
    """The WordNet lemmas of the 1,000 classes in class-index order ('tench, Tinca tinca'),
    from timm's ``imagenet_synset_to_lemma.txt``: the strings most ``id2label`` tables of
    ImageNet models on the Hugging Face hub hold."""
    return list(_imagenet_lemmas())


def _norm_name(name) -> str:
    return " ".join(str(name).replace("_", " ").casefold().split())


@functools.lru_cache(maxsize=None)
def _name_tables() -> tuple[dict, dict]:
    """(whole names, single lemmas): normalised name -> ImageNet indices. Whole names are
    the WNIDs, open_clip's class names and the full lemma strings; single lemmas are the
    comma-separated parts of the lemma strings ('white shark')."""
    whole: dict[str, set] = {}
    single: dict[str, set] = {}
    for i, (wnid, name, lemma) in enumerate(zip(_imagenet_wnids(), imagenet_class_names(), _imagenet_lemmas())):
        for key in (wnid, name, lemma):
            whole.setdefault(_norm_name(key), set()).add(i)
        for part in lemma.split(","):
            single.setdefault(_norm_name(part), set()).add(i)
    return whole, single


def imagenet_indices_of_names(names, positional: bool = False) -> tuple[np.ndarray, dict[int, str]]:
    """The ImageNet-1k index of each of ``names`` (a WNID, open_clip's class name, the full
    WordNet lemma string or one of its lemmas; case, spaces and underscores ignored) and,
    for those not matched (index -1), why: no such class (with the closest names), or a
    name several classes share ('crane': the bird 134 and the machine 517). With
    ``positional`` (a model's ``id2label``, entry i meant to be class i) a shared name is
    resolved to i when i is one of its classes."""
    import difflib

    whole, single = _name_tables()
    out = np.full(len(names), -1, dtype=np.int64)
    why: dict[int, str] = {}
    for i, name in enumerate(names):
        key = _norm_name(name)
        candidates = whole.get(key) or single.get(key) or set()
        if len(candidates) == 1:
            out[i] = next(iter(candidates))
        elif positional and i in candidates:
            out[i] = i
        elif candidates:
            shared = ", ".join(f"{c} ({_imagenet_wnids()[c]}: {_imagenet_lemmas()[c]})" for c in sorted(candidates))
            why[i] = f"{name!r} names {len(candidates)} ImageNet classes: {shared}; use the WNID"
        else:
            close = difflib.get_close_matches(key, list(whole) + list(single), n=3, cutoff=0.75)
            why[i] = f"{name!r} is not an ImageNet class name" + (
                f" (closest: {', '.join(repr(c) for c in close)})" if close else "")
    return out, why
