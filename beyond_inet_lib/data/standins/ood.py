"""The ImageNet-O stand-in: images of things no ImageNet-1k class names, for the
out-of-distribution section of a run that has no ImageNet-O.

A third each: real handwritten digits (scikit-learn's 1,797 8x8 scans, upscaled and
coloured), sinusoidal gratings and smooth colour noise. Far easier to flag than ImageNet-O,
whose photos were chosen because a ResNet-50 was confidently wrong on them: the numbers show
how the section reads, not how a model does on ImageNet-O.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ..imagenet_labels import imagenet_o_indices
from ..index import DatasetIndex
from .build import BASE_CROP, build_once, progress_bar, save_png, stable_seed, to_image

#: what the stand-in's images are, in the order they alternate
OOD_STANDIN_KINDS = ("handwritten digit", "grating", "colour noise")


def _digit(pixels8x8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A digit scan (0..16) upscaled bicubically to 224 px, ink and paper in random colours."""
    ink = Image.fromarray(np.uint8(np.asarray(pixels8x8, float) * 255 / 16), "L")
    alpha = np.asarray(ink.resize((BASE_CROP, BASE_CROP), Image.BICUBIC), float)[..., None] / 255
    fg, bg = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    return alpha * fg + (1 - alpha) * bg


def _grating(rng: np.random.Generator) -> np.ndarray:
    """A sinusoidal grating: random orientation, 2-12 cycles per image, two random colours."""
    y, x = np.mgrid[0:BASE_CROP, 0:BASE_CROP] / BASE_CROP
    theta, cycles = rng.uniform(0, np.pi), rng.uniform(2, 12)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * cycles * (x * np.cos(theta) + y * np.sin(theta)))[..., None]
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    return wave * a + (1 - wave) * b


def _colour_noise(rng: np.random.Generator) -> np.ndarray:
    """Smooth colour noise: random 7x7x3 values upscaled bicubically to 224 px."""
    small = Image.fromarray(np.uint8(rng.uniform(0, 255, (7, 7, 3))), "RGB")
    return np.asarray(small.resize((BASE_CROP, BASE_CROP), Image.BICUBIC), float)


def imagenet_o_standin(cache_dir, n_images: int = 200, seed: int = 0, progress: bool = True) -> DatasetIndex:
    """``n_images`` generated out-of-distribution images, 224 x 224 PNG, cycling through
    ``OOD_STANDIN_KINDS``. Layout ``<kind>/<nnnn>.png``; columns path, label (-1: no
    ImageNet class), kind, digit (the scan's digit, -1 for patterns). Scored like
    ImageNet-O: ``class_mask`` = ImageNet-O's 200 classes."""
    from sklearn.datasets import load_digits

    if n_images < 1:
        raise ValueError(f"n_images must be positive, got {n_images}")
    digits = load_digits()
    params = {"n_images": n_images, "seed": seed, "kinds": OOD_STANDIN_KINDS, "size": BASE_CROP}
    input_fp = hashlib.sha1(digits.images.astype(np.uint8).tobytes()).hexdigest()[:16]

    def build(out: Path) -> pd.DataFrame:
        picks = np.random.default_rng(seed).permutation(len(digits.images))
        rows = []
        with progress_bar(n_images, "imagenet-o stand-in", progress) as bar:
            for i in range(n_images):
                kind = OOD_STANDIN_KINDS[i % len(OOD_STANDIN_KINDS)]
                rng = np.random.default_rng(stable_seed(seed, "imagenet-o", i))
                digit = -1
                if kind == "handwritten digit":
                    j = int(picks[(i // len(OOD_STANDIN_KINDS)) % len(picks)])
                    pixels, digit = _digit(digits.images[j], rng), int(digits.target[j])
                elif kind == "grating":
                    pixels = _grating(rng)
                else:
                    pixels = _colour_noise(rng)
                path = f"{kind.replace(' ', '-')}/{i:04d}.png"
                save_png(to_image(pixels), out / path)
                rows.append({"path": path, "label": -1, "kind": kind, "digit": digit})
                bar.update()
        return pd.DataFrame(rows)

    root, table, manifest = build_once(cache_dir, "imagenet-o", params, input_fp, build)
    description = (
        f"GENERATED STAND-IN for ImageNet-O: {len(table)} images of no ImageNet-1k class, a third "
        "each real handwritten digits (scikit-learn's 8x8 scans, upscaled, in random colours), "
        "sinusoidal gratings and smooth colour noise, 224 x 224. NOT ImageNet-O: its 2,000 photos "
        "were chosen because a ResNet-50 was confidently wrong on them; these are far easier to "
        "flag, so detection scores here are optimistic and not comparable to published ImageNet-O numbers.")
    return DatasetIndex("imagenet-o (stand-in)", root, table, class_mask=imagenet_o_indices(), standin=True,
                        description=description,
                        meta={"params": params, "build_seconds": manifest.get("build_seconds")})
