"""The demo data: the cue-conflict stimuli and one ImageNet sample image per class.

Both have a public source and are fetched on first use (``beyond-inet data get``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from .imagenet_labels import wnid_to_index
from .index import IMAGE_EXTENSIONS, DatasetIndex, list_images
from .registry import DATASET_GROUPS, missing, register_dataset

# --------------------------------------------------------------------- cue-conflict
CUE_CONFLICT_CATEGORIES = (
    "airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat",
    "chair", "clock", "dog", "elephant", "keyboard", "knife", "oven", "truck",
)
_CUE_NAME = re.compile(r"([a-z]+)\d+-([a-z]+)\d+\.png$")


def parse_cue_conflict_name(name: str) -> tuple[str, str]:
    """``dog10-bird2.png`` -> (shape ``dog``, texture ``bird``); any leading path or
    prefix (model-vs-human logs write ``..._dog10-bird2.png``) is ignored."""
    m = _CUE_NAME.search(os.path.basename(str(name)))
    if not m:
        raise ValueError(f"not a cue-conflict file name: {name!r} (expected e.g. dog10-bird2.png)")
    return m.group(1), m.group(2)


def cue_conflict_stimulus(name: str) -> str:
    """The stimulus file a decision-log image name refers to:
    ``0001_s5n_s02_0_clock_00_clock4-chair1.png`` -> ``clock4-chair1.png``."""
    m = re.search(r"[a-z]+\d+-[a-z]+\d+\.png$", os.path.basename(str(name)))
    if not m:
        raise ValueError(f"not a cue-conflict file name: {name!r} (expected e.g. dog10-bird2.png)")
    return m.group(0)


@register_dataset(
    "cue-conflict",
    layout="cue-conflict/<category>/<shape><n>-<texture><m>.png (16 folders, 1,280 PNGs)",
    source="https://github.com/rgeirhos/texture-vs-shape (stimuli/style-transfer-preprocessed-512)",
    license="CC BY 4.0",
    how_to_get="beyond-inet data get cue-conflict --root DATA_ROOT",
    expected_count=1280,
    properties=("shape_bias",),
    group="demo",
    title="Cue-conflict stimuli",
)
def load_cue_conflict(root: Path) -> DatasetIndex:
    folder = root / "cue-conflict"
    if not folder.is_dir():
        raise missing("cue-conflict", root)
    files = [p for p in list_images(folder) if p.suffix.lower() == ".png"]
    if not files:
        raise missing("cue-conflict", root, found="no PNG files")
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
    if not folder.is_dir():
        raise missing("imagenet-samples", root)
    wnid_to_idx = wnid_to_index()
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
        raise missing("imagenet-samples", root, found="no <wnid>_<name>.JPEG files")
    return DatasetIndex("imagenet-samples", root, pd.DataFrame(rows),
                        description="one ImageNet training image per class (train images: optimistic)")


DATASET_GROUPS["demo"] = ("cue-conflict", "imagenet-samples")
