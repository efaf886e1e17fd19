"""PUG-ImageNet: 88,328 rendered images of 151 ImageNet classes, varied one factor at a
time (Bordes et al. 2023). Labels come from the class NAME through the authors'
``class_to_imagenet_idx.json`` (shipped in the package's assets)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pandas as pd

from .index import DatasetIndex, list_images
from .registry import DATASET_GROUPS, DATASETS, assets_dir, missing, register_dataset

PUG_FACTORS = (
    "Worlds", "Camera_Pitch", "Camera_Yaw", "Camera_Roll", "Object_Pitch",
    "Object_Yaw", "Object_Roll", "Object_Scale", "Object_Texture", "Scene_Light",
)


@functools.lru_cache(maxsize=None)
def _pug_map() -> tuple[tuple[str, tuple[int, ...]], ...]:
    data = json.loads((assets_dir() / "pug_class_to_imagenet_idx.json").read_text())
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
        raise missing("pug-imagenet", root)
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
        raise missing("pug-imagenet", root, found=f"no <Factor>/<ClassName>/ images in {folder}")
    return DatasetIndex("pug-imagenet", root, pd.DataFrame(rows), description="PUG: ImageNet (rendered)",
                        meta={"unknown_classes": sorted(unknown), "absent_factors": absent})


DATASET_GROUPS["synthetic"] = ("pug-imagenet",)
