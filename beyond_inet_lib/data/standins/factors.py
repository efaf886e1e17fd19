"""The ImageNet-X stand-in: sample images under simulated ImageNet-X factors (darker,
smaller, partial view, other colours, a pattern, a cartoon style, an occluding block)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter, ImageOps

from ..index import DatasetIndex
from .build import as_float, build_once, load_base_image, render_all, save_png, spread_subset, stable_seed, stem, to_image

IMAGENET_X_FACTORS = (
    "none", "darker", "brighter", "smaller", "larger", "partial_view", "color", "pattern",
    "style", "object_blocking",
)


def make_darker(img: Image.Image) -> Image.Image:
    """Gamma 1.6 then x0.55: a dim, under-exposed photo."""
    return to_image(255.0 * (as_float(img) / 255.0) ** 1.6 * 0.55)


def make_brighter(img: Image.Image) -> Image.Image:
    """Gamma 0.55 then lift the shadows by 20% towards white: an over-exposed photo."""
    x = 255.0 * (as_float(img) / 255.0) ** 0.55
    return to_image(255.0 - (255.0 - x) * 0.8)


def make_smaller(img: Image.Image, fraction: float = 0.4) -> Image.Image:
    """The whole image shrunk to ``fraction`` of its side, centred on a canvas of its mean
    colour (a small object in an empty scene)."""
    w, h = img.size
    mean = tuple(int(round(v)) for v in as_float(img).reshape(-1, 3).mean(0))
    canvas = Image.new("RGB", (w, h), mean)
    small = img.resize((round(w * fraction), round(h * fraction)), Image.BILINEAR)
    canvas.paste(small, ((w - small.width) // 2, (h - small.height) // 2))
    return canvas


def make_larger(img: Image.Image, fraction: float = 0.5) -> Image.Image:
    """Centre crop of ``fraction`` of the side, zoomed back to full size."""
    w, h = img.size
    cw, ch = round(w * fraction), round(h * fraction)
    left, top = (w - cw) // 2, (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch)).resize((w, h), Image.BILINEAR)


def make_partial_view(img: Image.Image, rng: np.random.Generator, area: float = 0.4) -> Image.Image:
    """A crop holding ``area`` of the image taken at a (seeded) corner, zoomed to full size:
    only part of the centred object stays in view."""
    w, h = img.size
    cw, ch = round(w * area ** 0.5), round(h * area ** 0.5)
    corner = int(rng.integers(4))
    left = 0 if corner in (0, 2) else w - cw
    top = 0 if corner in (0, 1) else h - ch
    return img.crop((left, top, left + cw, top + ch)).resize((w, h), Image.BILINEAR)


def make_color(img: Image.Image) -> Image.Image:
    """Hue rotated by 180 degrees (HSV): unusual object colours. A grayscale source has
    no hue and stays as it is."""
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + 128) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def make_pattern(img: Image.Image, period: int = 16) -> Image.Image:
    """Diagonal stripes multiplied into the image (dark bands at 45% brightness)."""
    w, h = img.size
    yy, xx = np.mgrid[0:h, 0:w]
    bands = ((xx + yy) // (period // 2)) % 2
    gain = np.where(bands == 1, 0.45, 1.0)[..., None]
    return to_image(as_float(img) * gain)


def make_style(img: Image.Image) -> Image.Image:
    """Cartoon-like: box-smoothed, posterised to 3 bits per channel, dark outlines.
    (A box blur, not a median: PIL's 5x5 median costs ~10x more and looks alike here.)"""
    smooth = img.filter(ImageFilter.BoxBlur(2))
    poster = as_float(ImageOps.posterize(smooth, 3))
    edges = np.asarray(smooth.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float64)
    poster[edges > 40] *= 0.15
    return to_image(poster)


def make_object_blocking(img: Image.Image, rng: np.random.Generator, area: float = 0.3) -> Image.Image:
    """A solid grey block covering ``area`` of the image, placed (seeded) so that it
    overlaps the centre, where the object is."""
    w, h = img.size
    bw, bh = round(w * area ** 0.5), round(h * area ** 0.5)
    left = int(rng.integers(max(0, w // 2 - bw), min(w - bw, w // 2) + 1))
    top = int(rng.integers(max(0, h // 2 - bh), min(h - bh, h // 2) + 1))
    out = img.copy()
    out.paste((128, 128, 128), (left, top, left + bw, top + bh))
    return out


def apply_factor(img: Image.Image, factor: str, rng: np.random.Generator) -> Image.Image:
    """The simulated ImageNet-X factor ``factor`` applied to a 224x224 base image."""
    simple = {"none": lambda im: im.copy(), "darker": make_darker, "brighter": make_brighter,
              "smaller": make_smaller, "larger": make_larger, "color": make_color,
              "pattern": make_pattern, "style": make_style}
    if factor in simple:
        return simple[factor](img)
    if factor == "partial_view":
        return make_partial_view(img, rng)
    if factor == "object_blocking":
        return make_object_blocking(img, rng)
    raise ValueError(f"unknown factor {factor!r}; choose from {', '.join(IMAGENET_X_FACTORS)}")


def factor_standin(samples: DatasetIndex, cache_dir, n_images: int = 200, seed: int = 0,
                   factors: Iterable[str] | None = None, progress: bool = True) -> DatasetIndex:
    """ImageNet-X-like stand-in: every base image under each simulated factor.

    Layout ``<factor>/<nnnn>_<stem>.png``; columns path, label, factor, source_path. The
    ``none`` factor (plain image) is the baseline an error ratio divides by.
    """
    factors = list(IMAGENET_X_FACTORS if factors is None else factors)
    unknown = sorted(set(factors) - set(IMAGENET_X_FACTORS))
    if unknown:
        raise ValueError(f"unknown factors {unknown}; choose from {', '.join(IMAGENET_X_FACTORS)}")
    base = spread_subset(samples, n_images, seed)
    params = {"n_images": n_images, "seed": seed, "factors": factors}

    def build(out: Path) -> pd.DataFrame:
        def render_one(i: int, rel: str, label: int) -> list[dict]:
            clean, rows = load_base_image(base.root / rel), []
            for factor in factors:
                rng = np.random.default_rng(stable_seed(seed, rel, factor))
                path = f"{factor}/{stem(i, rel)}.png"
                save_png(apply_factor(clean, factor, rng), out / path)
                rows.append({"path": path, "label": label, "factor": factor, "source_path": rel})
            return rows

        return render_all(render_one, base, "imagenet-x factor stand-in", progress)

    root, table, manifest = build_once(cache_dir, "imagenet-x-factors", params, base.fingerprint(), build)
    description = (
        f"GENERATED STAND-IN for ImageNet-X: {len(base)} ImageNet *training* sample images, each "
        f"also transformed to simulate ImageNet-X factors ({', '.join(f for f in factors if f != 'none')}); "
        "'none' is the plain image. Simulated, not annotated: real ImageNet-X labels which factor "
        "makes a val image unusual (pose, background, texture ... 16 factors, most of which cannot "
        "be simulated); here a transform CAUSES the factor. Error ratios are not comparable to the paper's.")
    return DatasetIndex("imagenet-x factors (stand-in)", root, table, standin=True, description=description,
                        meta={"params": params, "build_seconds": manifest.get("build_seconds"),
                              "source": samples.name, "n_base_images": len(base)})
