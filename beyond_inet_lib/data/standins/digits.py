"""The transfer stand-in: scikit-learn's handwritten digits as a small real task with
VTAB-1k's 800 / 200 / rest split."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from ...progress import bar

from ..index import DatasetIndex
from .build import build_once, save_png

DIGITS_SPLIT = {"train": 800, "val": 200}  # VTAB-1k's 800/200; the rest (797) is test
DIGITS_SIZE = 64


def digits_split(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Seeded, stratified split labels ('train'/'val'/'test') of 800/200/rest."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    n_trainval = DIGITS_SPLIT["train"] + DIGITS_SPLIT["val"]
    trainval, _test = train_test_split(idx, train_size=n_trainval, stratify=labels, random_state=seed)
    train, _val = train_test_split(trainval, train_size=DIGITS_SPLIT["train"],
                                   stratify=labels[trainval], random_state=seed)
    split = np.full(len(labels), "test", dtype=object)
    split[trainval] = "val"
    split[train] = "train"
    return split


def digit_image(pixels8x8: np.ndarray) -> Image.Image:
    """An 8x8 digits image (values 0..16) as a 64x64 RGB image: value * 255 / 16,
    nearest-neighbour upscale x8, grey copied to three channels."""
    grey = np.round(np.asarray(pixels8x8, float) * 255.0 / 16.0).astype(np.uint8)
    big = np.kron(grey, np.ones((DIGITS_SIZE // 8, DIGITS_SIZE // 8), dtype=np.uint8))
    return Image.fromarray(np.stack([big] * 3, axis=-1), "RGB")


def digits_task(cache_dir, seed: int = 0, progress: bool = True) -> DatasetIndex:
    """scikit-learn's digits (1,797 real 8x8 scans, 10 classes) as a small transfer task.

    Layout ``<split>/<digit>/<nnnn>.png``; columns path, label (the digit 0-9, NOT an
    ImageNet index), split, sklearn_index.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    labels = digits.target.astype(int)
    params = {"seed": seed, "size": DIGITS_SIZE, "split": DIGITS_SPLIT}
    input_fp = hashlib.sha1(digits.images.astype(np.uint8).tobytes() + labels.tobytes()).hexdigest()[:16]

    def build(out: Path) -> pd.DataFrame:
        split = digits_split(labels, seed)
        rows = []
        for i in bar(range(len(labels)), desc="digits task", enabled=progress, leave=False):
            path = f"{split[i]}/{labels[i]}/{i:04d}.png"
            save_png(digit_image(digits.images[i]), out / path)
            rows.append({"path": path, "label": int(labels[i]), "split": split[i], "sklearn_index": i})
        return pd.DataFrame(rows)

    root, table, manifest = build_once(cache_dir, "digits", params, input_fp, build)
    description = (
        "REAL task, stand-in for VTAB-1k: scikit-learn's handwritten digits (1,797 8x8 images, "
        "10 classes) upscaled to 64x64, split stratified 800 train / 200 val / 797 test like "
        "VTAB-1k's 800/200. Labels are digits 0-9, not ImageNet classes. One easy task, not the "
        "19 VTAB tasks: numbers are not comparable to the paper's VTAB mean.")
    return DatasetIndex("digits (scikit-learn)", root, table, standin=True, description=description,
                        meta={"params": params, "build_seconds": manifest.get("build_seconds"),
                              "num_classes": 10, "label_space": "digits 0-9"})
