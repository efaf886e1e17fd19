"""The PUG-ImageNet stand-in: procedural variations of sample images along factors named
like PUG's (camera roll/pitch/yaw, object scale, scene light, worlds, texture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from ..index import DatasetIndex
from .build import as_float, build_once, load_base_image, render_all, save_png, spread_subset, stable_seed, stem, to_image

SYNTHETIC_LEVELS = {
    "Camera_Roll": ["0", "30", "60", "90", "180"],                 # degrees, black fill
    "Camera_Pitch": ["0", "15", "30", "45"],                       # degrees of perspective tilt
    "Camera_Yaw": ["0", "15", "30", "45"],
    "Object_Scale": ["1.0", "0.75", "0.5", "0.25"],                # side fraction on grey
    "Scene_Light": ["normal", "dim", "bright", "warm", "cool"],
    "Worlds": ["solid", "gradient", "stripes", "checkerboard", "noise"],
    "Object_Texture": ["0", "0.25", "0.5", "0.75"],                # texture overlay opacity
}
LIGHT_GAINS = {"normal": (1.0, 1.0, 1.0), "dim": (0.35, 0.35, 0.35), "warm": (1.2, 0.95, 0.6),
               "cool": (0.6, 0.9, 1.25)}


def perspective_coefficients(dst_quad, src_quad) -> list[float]:
    """The 8 coefficients of PIL's PERSPECTIVE transform that map output point ``dst_quad[i]``
    to input point ``src_quad[i]``: x = (aX + bY + c) / (gX + hY + 1), same for y."""
    A, b = [], []
    for (X, Y), (x, y) in zip(dst_quad, src_quad):
        A.append([X, Y, 1, 0, 0, 0, -X * x, -Y * x]); b.append(x)
        A.append([0, 0, 0, X, Y, 1, -X * y, -Y * y]); b.append(y)
    return np.linalg.solve(np.array(A, float), np.array(b, float)).tolist()


def tilt(img: Image.Image, degrees: float, axis: str) -> Image.Image:
    """Perspective warp that looks like turning the camera by ``degrees``: the far edge
    (top for pitch, left for yaw) shrinks by ``0.6 * degrees / 90`` of the side and the
    image is foreshortened along the tilt by ``cos(degrees)``; black fill."""
    w, h = img.size
    if degrees == 0:
        return img.copy()
    inset = 0.6 * degrees / 90 / 2
    fore = 1 - np.cos(np.radians(degrees))
    if axis == "pitch":
        dst = [(w * inset, h * fore), (w * (1 - inset), h * fore), (w, h), (0, h)]
    else:
        dst = [(w * fore, h * inset), (w, 0), (w, h), (w * fore, h * (1 - inset))]
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    return img.transform((w, h), Image.PERSPECTIVE, perspective_coefficients(dst, src),
                         Image.BILINEAR, fillcolor=(0, 0, 0))


def place_scaled(img: Image.Image, scale: float, background=(128, 128, 128)) -> Image.Image:
    """The image scaled to ``scale`` of its side, centred on a plain grey background."""
    w, h = img.size
    canvas = Image.new("RGB", (w, h), background)
    small = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
    canvas.paste(small, ((w - small.width) // 2, (h - small.height) // 2))
    return canvas


def light(img: Image.Image, level: str) -> Image.Image:
    """Scene light: per-channel gains (colour/intensity of the light) or, for 'bright',
    gamma 0.5 (over-exposure)."""
    x = as_float(img)
    if level == "bright":
        return to_image(255.0 * (x / 255.0) ** 0.5)
    return to_image(x * np.array(LIGHT_GAINS[level]))


def background(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A procedural background (HxWx3 float 0..255) with seeded colours."""
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    if kind == "solid":
        t = np.zeros((size, size))
    elif kind == "gradient":
        t = (xx + yy) / 2
    elif kind == "stripes":
        t = (np.floor(yy * 12) % 2).astype(float)
    elif kind == "checkerboard":
        t = ((np.floor(xx * 8) + np.floor(yy * 8)) % 2).astype(float)
    elif kind == "noise":
        coarse = rng.uniform(0, 1, (size // 16, size // 16))
        t = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC),
                       dtype=float) / 255
        return np.clip(t[..., None] * c1 + (1 - t[..., None]) * c2 + rng.normal(0, 20, (size, size, 3)), 0, 255)
    else:
        raise ValueError(f"unknown background {kind!r}")
    return t[..., None] * c1 + (1 - t[..., None]) * c2


def object_mask(size: int, radius: float = 0.36, feather: float = 0.06) -> np.ndarray:
    """Soft elliptical mask of the centre region (where ImageNet objects mostly are):
    1 inside ``radius`` (fraction of the side), falling to 0 over ``feather``."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
    r = np.hypot(xx, yy)
    return np.clip((radius + feather - r) / feather, 0, 1)[..., None]


def composite(img: Image.Image, bg: np.ndarray) -> Image.Image:
    """The centre region of ``img`` pasted (soft mask) onto background ``bg``."""
    m = object_mask(img.size[0])
    return to_image(m * as_float(img) + (1 - m) * bg)


def texture_overlay(img: Image.Image, opacity: float, rng: np.random.Generator) -> Image.Image:
    """Blend a seeded colourful blotch texture over the image with ``opacity``."""
    if opacity == 0:
        return img.copy()
    size = img.size[0]
    coarse = rng.uniform(0, 255, (size // 8, size // 8, 3)).astype(np.uint8)
    tex = np.asarray(Image.fromarray(coarse, "RGB").resize((size, size), Image.NEAREST)
                     .filter(ImageFilter.GaussianBlur(2)), dtype=np.float64)
    return to_image((1 - opacity) * as_float(img) + opacity * tex)


def apply_synthetic(img: Image.Image, factor: str, level: str, rng: np.random.Generator) -> Image.Image:
    """The PUG-like variation (factor, level) of a 224x224 base image."""
    if factor == "Camera_Roll":
        return img.rotate(float(level), Image.BILINEAR, fillcolor=(0, 0, 0))
    if factor == "Camera_Pitch":
        return tilt(img, float(level), "pitch")
    if factor == "Camera_Yaw":
        return tilt(img, float(level), "yaw")
    if factor == "Object_Scale":
        return place_scaled(img, float(level))
    if factor == "Scene_Light":
        return light(img, level)
    if factor == "Worlds":
        return composite(img, background(level, img.size[0], rng))
    if factor == "Object_Texture":
        return texture_overlay(img, float(level), rng)
    raise ValueError(f"unknown synthetic factor {factor!r}; choose from {', '.join(SYNTHETIC_LEVELS)}")


def synthetic_standin(samples: DatasetIndex, cache_dir, n_images: int = 30, seed: int = 0,
                      progress: bool = True) -> DatasetIndex:
    """PUG-ImageNet-like stand-in: procedural variations of the sample images along factors
    named as PUG's where the analogy holds (``SYNTHETIC_LEVELS``).

    Layout ``<factor>/<level>/<nnnn>_<stem>.png``; columns path, label, label_set ([label]),
    factor, level (str), source_path.
    """
    base = spread_subset(samples, n_images, seed)
    params = {"n_images": n_images, "seed": seed, "levels": SYNTHETIC_LEVELS}

    def build(out: Path) -> pd.DataFrame:
        def render_one(i: int, rel: str, label: int) -> list[dict]:
            clean, rows = load_base_image(base.root / rel), []
            for factor, levels in SYNTHETIC_LEVELS.items():
                for level in levels:
                    rng = np.random.default_rng(stable_seed(seed, rel, factor, level))
                    path = f"{factor}/{level}/{stem(i, rel)}.png"
                    save_png(apply_synthetic(clean, factor, level, rng), out / path)
                    rows.append({"path": path, "label": label, "label_set": [label],
                                 "factor": factor, "level": level, "source_path": rel})
            return rows

        return render_all(render_one, base, "pug-imagenet stand-in", progress)

    root, table, manifest = build_once(cache_dir, "pug-imagenet", params, base.fingerprint(), build)
    description = (
        f"GENERATED STAND-IN for PUG-ImageNet: {len(base)} real ImageNet *training* sample images "
        "varied procedurally along factors named like PUG's (camera roll = rotation, pitch/yaw = "
        "perspective warps, object scale on grey, scene light colour/intensity, 'worlds' = the "
        "centre region composited on generated backgrounds, texture overlays). NOT PUG: no "
        "rendered 3-D objects, no object pose changes, photographs not Unreal renders, 151-class "
        "mapping not used (labels are the samples' own ImageNet classes); numbers are not "
        "comparable to the paper's.")
    return DatasetIndex("pug-imagenet (stand-in)", root, table, standin=True, description=description,
                        meta={"params": params, "build_seconds": manifest.get("build_seconds"),
                              "source": samples.name, "n_base_images": len(base)})
