"""The demo data: the cue-conflict stimuli, one ImageNet sample image per class, and the
published per-image decisions on the stimuli (ten human observers; the paper's models).

All of it has a public source and is fetched on first use (``beyond-inet data get``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from .imagenet_labels import wnid_to_index
from .index import IMAGE_EXTENSIONS, DatasetIndex, list_images
from .presence import files_presence
from .registry import DATASET_GROUPS, DATASETS, missing, register_dataset

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


# ------------------------------------------------------------- decision logs (CSV)
DECISION_COLUMNS = ("subj", "session", "trial", "rt", "object_response", "category", "condition", "imagename")
#: the ten human observers of model-vs-human's cue-conflict experiment
CUE_CONFLICT_HUMAN_FILES = tuple(f"cue-conflict_subject-{i:02d}_session_1.csv" for i in range(1, 11))
#: the paper's own runs (its four models and a torchvision ResNet-50) and human subject-01
CUE_CONFLICT_DECISION_FILES = tuple(f"cue-conflict_{who}_session-1.csv" for who in (
    "convnext-base-21k", "deit3-21k", "convnext-clip", "vit-clip", "tv-resnet50", "subject-01"))


def _load_decisions(name: str, root: Path, files: tuple[str, ...]) -> DatasetIndex:
    """One row per decision: ``path`` is the CSV file (these are tables, not images;
    ``label`` -1), the model-vs-human columns, and ``stimulus``, ``shape``, ``texture``."""
    folder = DATASETS[name].folder_in(root)
    if folder is None:
        raise missing(name, root)
    present = [f for f in files if (folder / f).is_file()]
    if not present:
        raise missing(name, root, found=f"none of {', '.join(files)}")
    parts = []
    for f in present:
        t = pd.read_csv(folder / f)
        lacking = set(DECISION_COLUMNS) - set(t.columns)
        if lacking:
            raise ValueError(f"{folder / f}: not a model-vs-human decision log (no column(s) {sorted(lacking)})")
        t.insert(0, "path", str((folder / f).relative_to(root)))
        parts.append(t)
    t = pd.concat(parts, ignore_index=True)
    t["stimulus"] = [cue_conflict_stimulus(n) for n in t["imagename"]]
    t["shape"], t["texture"] = zip(*(parse_cue_conflict_name(n) for n in t["stimulus"]))
    t["label"] = -1
    return DatasetIndex(name, root, t, description=DATASETS[name].title,
                        meta={"files": present, "absent_files": [f for f in files if f not in present]})


@register_dataset(
    "cue-conflict-humans",
    layout="reference/cue-conflict-humans/cue-conflict_subject-NN_session_1.csv, NN = 01..10 "
           "(model-vs-human CSV: " + ",".join(DECISION_COLUMNS) + ")",
    source="https://github.com/bethgelab/model-vs-human (raw-data/cue-conflict)",
    license="CC BY 4.0",
    expected_count=len(CUE_CONFLICT_HUMAN_FILES),
    properties=("shape_bias",),
    folders=("reference/cue-conflict-humans",),
    group="demo",
    presence=files_presence("cue-conflict-humans", CUE_CONFLICT_HUMAN_FILES),
    title="Cue-conflict decisions of 10 human observers",
)
def load_cue_conflict_humans(root: Path) -> DatasetIndex:
    return _load_decisions("cue-conflict-humans", root, CUE_CONFLICT_HUMAN_FILES)


@register_dataset(
    "cue-conflict-decisions",
    layout="reference/cue-conflict-decisions/cue-conflict_<who>_session-1.csv, who in "
           "convnext-base-21k, deit3-21k, convnext-clip, vit-clip, tv-resnet50, subject-01 (model-vs-human CSV)",
    source="https://github.com/kirill-vish/Beyond-INet (inference/modelvshuman/raw-data/cue-conflict); "
           "subject-01 from https://github.com/bethgelab/model-vs-human",
    license="MIT (the paper's logs); CC BY 4.0 (subject-01)",
    expected_count=len(CUE_CONFLICT_DECISION_FILES),
    properties=("shape_bias",),
    folders=("reference/cue-conflict-decisions",),
    group="demo",
    presence=files_presence("cue-conflict-decisions", CUE_CONFLICT_DECISION_FILES),
    title="The paper's cue-conflict decision logs",
)
def load_cue_conflict_decisions(root: Path) -> DatasetIndex:
    return _load_decisions("cue-conflict-decisions", root, CUE_CONFLICT_DECISION_FILES)


DATASET_GROUPS["demo"] = ("cue-conflict", "imagenet-samples", "cue-conflict-humans", "cue-conflict-decisions")
