"""The ImageNet-C stand-in: sample images corrupted with Hendrycks & Dietterich's
corruption code (the ``imagecorruptions`` package), saved as JPEG quality 85."""

from __future__ import annotations

import os
import sys
import types
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from PIL import Image

from ..imagenet import IMAGENET_C_CORRUPTIONS, IMAGENET_C_SEVERITIES
from ..index import DatasetIndex
from .build import build_once, load_base_image, progress_bar, save_jpeg, spread_subset, stable_seed, stem

IMAGENET_C_JPEG_QUALITY = 85


_IC = None


class _NumpyWithAliases(types.ModuleType):
    """numpy as seen by imagecorruptions: numpy plus the ``float_`` alias that NumPy 2
    removed (the package's plasma fractal for ``fog`` still asks for it)."""

    float_ = np.float64

    def __getattr__(self, name):
        return getattr(np, name)


def _gaussian_compat(image, sigma=1, multichannel=None, **kw):
    """skimage.filters.gaussian accepting the ``multichannel`` keyword that scikit-image
    0.19 renamed to ``channel_axis`` (used by glass_blur)."""
    from skimage.filters import gaussian

    if multichannel:
        kw.setdefault("channel_axis", -1)
    return gaussian(image, sigma=sigma, **kw)


class _SkimageSeededNoise(types.ModuleType):
    """skimage as seen by imagecorruptions, except that ``util.random_noise`` (impulse
    noise) takes its seed from the legacy global ``np.random`` stream, which
    ``corrupt_image`` seeds per image. Since scikit-image 0.19 it draws from a fresh,
    unseeded generator when given none: impulse noise differed on every build."""

    def __init__(self):
        import skimage
        import skimage.util

        super().__init__("skimage")
        self._skimage = skimage
        self.util = types.SimpleNamespace(random_noise=self._random_noise)

    def _random_noise(self, image, mode="gaussian", rng=None, **kw):
        if rng is None:
            rng = int(np.random.randint(0, 2**31 - 1))
        return self._skimage.util.random_noise(image, mode=mode, rng=rng, **kw)

    def __getattr__(self, name):
        return getattr(self._skimage, name)


def imagecorruptions_module():
    """The ``imagecorruptions.corruptions`` module, made to run on today's stack.

    Four shims, none of which changes an algorithm: (1) it imports
    ``resource_filename`` from ``pkg_resources``, which setuptools >= 81 no longer ships --
    a throw-away stand-in module provides it during the import only; (2) ``np.float_``
    (removed in NumPy 2) -> ``float64``; (3) skimage's ``gaussian(multichannel=True)`` ->
    ``channel_axis=-1``; (4) impulse noise seeded from the legacy ``np.random`` stream
    (``_SkimageSeededNoise``) so that a build is reproducible.
    """
    global _IC
    if _IC is not None:
        return _IC
    shim_added = False
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        import importlib.util

        def resource_filename(package, rel):
            origin = importlib.util.find_spec(package).origin
            return os.path.join(os.path.dirname(origin), rel)

        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = resource_filename
        sys.modules["pkg_resources"] = shim
        shim_added = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy.ndimage.interpolation deprecation
            import imagecorruptions.corruptions as ic
    except ImportError as err:
        raise ImportError(f"the ImageNet-C stand-in needs the 'imagecorruptions' package "
                          f"({err}); install it with: pip install imagecorruptions==1.1.2") from err
    finally:
        if shim_added:  # other code must not mistake the stand-in for setuptools
            sys.modules.pop("pkg_resources", None)
    ic.np = _NumpyWithAliases("numpy")
    ic.gaussian = _gaussian_compat
    ic.sk = _SkimageSeededNoise()
    _IC = ic
    return ic


GLASS_BLUR_PARAMS = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)]  # sigma, max_delta, iterations


def glass_shuffle(x: np.ndarray, max_delta: int, rng_draws: np.ndarray) -> np.ndarray:
    """One pass of ImageNet-C's glass-blur pixel shuffle, vectorised, with the SAME result
    as the original double loop::

        for h in range(H - d, d, -1):
            for w in range(W - d, d, -1):
                dx, dy = np.random.randint(-d, d, size=(2,))
                x[h, w], x[h + dy, w + dx] = x[h + dy, w + dx], x[h, w]

    On numpy arrays that tuple "swap" is a copy: the right side holds views, so ``x[h, w]``
    receives the neighbour and the neighbour then receives its own value back. Step k thus
    sets pixel p_k to the CURRENT value of q_k: q_k's value from an earlier step j < k if
    q_k was visited before (p_j = q_k), else its value at the start of the pass. Following
    those links to the first unvisited source (pointer jumping, O(log chain) rounds) gives
    every step's source pixel at once.

    ``rng_draws``: (n_steps, 2) int array of (dx, dy), in loop order -- what one
    ``np.random.randint(-d, d, size=(n_steps, 2))`` returns, identical to the loop's
    per-pixel draws from the same legacy generator state.
    """
    H, W = x.shape[:2]
    hs = np.arange(H - max_delta, max_delta, -1)
    ws = np.arange(W - max_delta, max_delta, -1)
    hh, ww = (a.ravel() for a in np.meshgrid(hs, ws, indexing="ij"))  # loop order
    n = hh.size
    dx, dy = rng_draws[:n, 0], rng_draws[:n, 1]
    p = hh * W + ww
    q = (hh + dy) * W + (ww + dx)
    step_of_pixel = np.full(H * W, -1, dtype=np.int64)
    step_of_pixel[p] = np.arange(n)
    j = step_of_pixel[q]
    steps = np.arange(n)
    ptr = np.where((j >= 0) & (j < steps), j, steps)  # link to the earlier step, or self
    while True:
        nxt = ptr[ptr]
        if np.array_equal(nxt, ptr):
            break
        ptr = nxt
    flat = x.reshape(H * W, -1)
    out = flat.copy()
    out[p] = flat[q[ptr]]
    return out.reshape(x.shape)


def glass_blur_fast(x, severity: int = 1) -> np.ndarray:
    """ImageNet-C glass blur (Gaussian blur, local pixel shuffle, Gaussian blur) with the
    shuffle vectorised (``glass_shuffle``); consumes the legacy ``np.random`` stream
    exactly as imagecorruptions' ``glass_blur`` does, so the output is the same."""
    from skimage.filters import gaussian

    sigma, d, iterations = GLASS_BLUR_PARAMS[severity - 1]
    x = np.uint8(gaussian(np.array(x) / 255.0, sigma=sigma, channel_axis=-1) * 255)
    H, W = x.shape[:2]
    n_steps = len(range(H - d, d, -1)) * len(range(W - d, d, -1))
    for _ in range(iterations):
        x = glass_shuffle(x, d, np.random.randint(-d, d, size=(n_steps, 2)))
    return np.clip(gaussian(x / 255.0, sigma=sigma, channel_axis=-1), 0, 1) * 255


def corrupt_image(img: np.ndarray, corruption: str, severity: int, seed: int) -> np.ndarray:
    """One ImageNet-C corruption of a uint8 HxWx3 image, reproducible: the legacy global
    ``np.random`` (which the package draws from) is seeded with ``seed`` and restored after."""
    ic = imagecorruptions_module()
    if corruption not in IMAGENET_C_CORRUPTIONS:
        raise ValueError(f"unknown corruption {corruption!r}; choose from {', '.join(IMAGENET_C_CORRUPTIONS)}")
    if severity not in IMAGENET_C_SEVERITIES:
        raise ValueError(f"severity must be 1..5, got {severity!r}")
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn = glass_blur_fast if corruption == "glass_blur" else getattr(ic, corruption)
            out = fn(Image.fromarray(img), severity)
    finally:
        np.random.set_state(state)
    # as imagecorruptions.corrupt: uint8 cast (truncation) of the 0..255 float result
    return np.uint8(out)


def imagenet_c_standin(samples: DatasetIndex, cache_dir, n_images: int = 16,
                       corruptions: Iterable[str] | None = None,
                       severities: Iterable[int] = IMAGENET_C_SEVERITIES, seed: int = 0,
                       progress: bool = True) -> DatasetIndex:
    """ImageNet-C stand-in: ``n_images`` sample images x corruptions x severities.

    Each base image (Resize 256, CenterCrop 224) is corrupted with imagecorruptions' code
    (the maintained packaging of Hendrycks & Dietterich's ImageNet-C functions) and saved
    as JPEG quality 85, as the real benchmark is. numpy is seeded per (seed, image,
    corruption, severity). Layout ``<corruption>/<severity>/<nnnn>_<stem>.JPEG``.
    Columns: path, label, corruption, severity, source_path.
    """
    corruptions = list(IMAGENET_C_CORRUPTIONS if corruptions is None else corruptions)
    unknown = sorted(set(corruptions) - set(IMAGENET_C_CORRUPTIONS))
    if unknown:
        raise ValueError(f"unknown corruptions {unknown}; choose from {', '.join(IMAGENET_C_CORRUPTIONS)}")
    severities = [int(s) for s in severities]
    if not set(severities) <= set(IMAGENET_C_SEVERITIES):
        raise ValueError(f"severities must be within 1..5, got {severities}")
    base = spread_subset(samples, n_images, seed)
    params = {"n_images": n_images, "corruptions": corruptions, "severities": severities,
              "seed": seed, "quality": IMAGENET_C_JPEG_QUALITY}

    def build(out: Path) -> pd.DataFrame:
        rows = []
        bar = progress_bar(len(base) * len(corruptions) * len(severities), "imagenet-c stand-in", progress)
        for i, (rel, label) in enumerate(zip(base.table["path"], base.labels)):
            clean = np.asarray(load_base_image(base.root / rel))
            for corruption in corruptions:
                for sev in severities:
                    img = corrupt_image(clean, corruption, sev, stable_seed(seed, rel, corruption, sev))
                    path = f"{corruption}/{sev}/{stem(i, rel)}.JPEG"
                    save_jpeg(Image.fromarray(img), out / path, IMAGENET_C_JPEG_QUALITY)
                    rows.append({"path": path, "label": int(label), "corruption": corruption,
                                 "severity": sev, "source_path": rel})
                    bar.update()
        bar.close()
        return pd.DataFrame(rows)

    root, table, manifest = build_once(cache_dir, "imagenet-c", params, base.fingerprint(), build)
    description = (
        f"GENERATED STAND-IN for ImageNet-C: {len(base)} ImageNet *training* sample images "
        f"(one per class, classes spread evenly over the 1,000) x {len(corruptions)} corruptions "
        f"x severities {severities}, made with the imagecorruptions package (Hendrycks & "
        "Dietterich's corruption code; motion blur and frost differ slightly from the original "
        "ImageNet-C release, which used ImageMagick), after Resize(256)+CenterCrop(224), saved as "
        "JPEG q85. glass_blur: the same algorithm with its per-pixel loop vectorised; it "
        "reproduces the package's output exactly (same random draws, same copy-instead-of-swap "
        "behaviour), only faster. NOT ImageNet-C: not the 50,000 val images, far fewer images, "
        "train images the models may have seen; numbers are not comparable to the paper's.")
    return DatasetIndex("imagenet-c (stand-in)", root, table, standin=True, description=description,
                        meta={"params": params, "build_seconds": manifest.get("build_seconds"),
                              "source": samples.name, "n_base_images": len(base)})
