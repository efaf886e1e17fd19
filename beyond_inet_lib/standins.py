"""Generated stand-ins for benchmarks the demo profile cannot have.

The demo runs offline on two CPU cores; ImageNet-C, ImageNet-X's val images, PUG-ImageNet
and VTAB are absent there. Each generator below builds a SMALL dataset from the 1,000 real
ImageNet sample images (or, for transfer, from scikit-learn's digits), writes it to disk as
ordinary image files (so the engine reads it like any dataset) and returns a
``DatasetIndex`` with ``standin=True`` and a ``description`` that says what the data is and
what it is not. Pages that show numbers on these say so.

Build protocol (all generators):

* Deterministic in (input file list, parameters, seed): every random draw comes from a seed
  derived by hashing ``(seed, source file, transform, level)``, never from global state.
* Output folder ``<cache_dir>/standins/<slug>-<hash>/`` where the hash covers the
  parameters, the input dataset's fingerprint and ``GENERATOR_VERSION``.
* Built in a temporary sibling folder and moved into place with ``os.replace`` only when
  complete (manifest written last), so an interrupted build never leaves a folder that is
  re-used. A complete folder (``manifest.json`` + ``index.parquet``) is re-used as it is.
* Base images: a seeded, class-spread subset of the samples, ``Resize(256)`` (bilinear,
  shorter side, torchvision's rounding) then ``CenterCrop(224)`` -- ImageNet-C's own
  preprocessing. Saved as PNG (lossless), except the ImageNet-C stand-in: JPEG quality 85
  like the real benchmark.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter, ImageOps
from tqdm.auto import tqdm

from .data import DatasetIndex
from .views import crop_box

# Bump when any algorithm below changes: every output folder name changes with it, so a
# stale stand-in is never re-used.
GENERATOR_VERSION = 1

BASE_RESIZE, BASE_CROP = 256, 224
IMAGENET_C_JPEG_QUALITY = 85
IMAGENET_C_CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression",
)
IMAGENET_X_FACTORS = (
    "none", "darker", "brighter", "smaller", "larger", "partial_view", "color", "pattern",
    "style", "object_blocking",
)
MANIFEST, TABLE_FILE = "manifest.json", "index.parquet"


# =============================================================================== build
def stable_seed(*parts) -> int:
    """A 32-bit seed from any printable parts (sha256, so equal across processes/runs;
    Python's ``hash`` is salted per process and would not be)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _folder_key(params: dict, input_fingerprint: str) -> str:
    blob = json.dumps({"version": GENERATOR_VERSION, "params": params,
                       "input": input_fingerprint}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def standin_folder(cache_dir, slug: str, params: dict, input_fingerprint: str) -> Path:
    """``<cache_dir>/standins/<slug>-<hash of params + input + version>``."""
    return Path(cache_dir).expanduser() / "standins" / f"{slug}-{_folder_key(params, input_fingerprint)}"


def is_complete(folder: Path) -> bool:
    """A stand-in folder is complete when its manifest (written last) and table exist."""
    return (folder / MANIFEST).is_file() and (folder / TABLE_FILE).is_file()


def _read_built(folder: Path) -> tuple[pd.DataFrame, dict]:
    table = pd.read_parquet(folder / TABLE_FILE)
    if "label_set" in table.columns:  # parquet gives numpy arrays back: keep plain lists
        table["label_set"] = [list(map(int, s)) for s in table["label_set"]]
    return table, json.loads((folder / MANIFEST).read_text())


def build_once(cache_dir, slug: str, params: dict, input_fingerprint: str,
               build: Callable[[Path], pd.DataFrame]) -> tuple[Path, pd.DataFrame, dict]:
    """Return (folder, table, manifest) of a stand-in, building it if not already complete.

    ``build(tmp_folder)`` writes the images into ``tmp_folder`` and returns the table
    (``path`` relative to the folder). The folder appears under its final name only via
    ``os.replace`` after the table and manifest are written; any exception (including
    KeyboardInterrupt) removes the temporary folder.
    """
    final = standin_folder(cache_dir, slug, params, input_fingerprint)
    if is_complete(final):
        table, manifest = _read_built(final)
        return final, table, manifest
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is meant to be shared
        t0 = time.perf_counter()
        table = build(tmp).reset_index(drop=True)
        manifest = {"name": slug, "version": GENERATOR_VERSION, "params": params,
                    "input_fingerprint": input_fingerprint, "rows": len(table),
                    "table": TABLE_FILE, "build_seconds": round(time.perf_counter() - t0, 2)}
        table.to_parquet(tmp / TABLE_FILE, index=False)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str))
        if final.exists() and not is_complete(final):
            # not made by this protocol (only complete folders ever get the final name,
            # atomically): a hand-made or foreign leftover, never to be mistaken for ours
            shutil.rmtree(final)
        try:
            os.replace(tmp, final)
        except OSError:
            if not is_complete(final):  # not "someone else finished first": a real error
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    table, manifest = _read_built(final)
    return final, table, manifest


# ========================================================================= base images
def spread_subset(samples: DatasetIndex, n: int, seed: int = 0) -> DatasetIndex:
    """``n`` images spread evenly over the classes: sort by (label, path), then take
    positions ``floor(offset + i * m / n)`` with a seeded offset in ``[0, m / n)``
    (every k-th class when there is one image per class)."""
    m = len(samples)
    if n is None or n >= m:
        return samples
    if n <= 0:
        raise ValueError(f"n_images must be positive, got {n}")
    order = samples.table.sort_values(["label", "path"], kind="stable").index.to_numpy()
    step = m / n
    offset = np.random.default_rng(seed).uniform(0, step)
    picks = np.floor(offset + np.arange(n) * step).astype(int)
    return samples.subset(np.sort(order[picks]))


def resize_center_crop(img: Image.Image, resize: int = BASE_RESIZE, crop: int = BASE_CROP) -> Image.Image:
    """torchvision ``Resize(resize)`` (shorter side; longer = int(resize * long / short);
    bilinear) then ``CenterCrop(crop)`` -- ImageNet-C's preprocessing -- on an RGB image."""
    img = img.convert("RGB")
    w, h = img.size
    if w <= h:
        size = (resize, int(resize * h / w))
    else:
        size = (int(resize * w / h), resize)
    img = img.resize(size, Image.BILINEAR)
    top, left = crop_box(size[1], size[0], crop)
    return img.crop((left, top, left + crop, top + crop))


def load_base_image(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return resize_center_crop(im)


def _stem(i: int, rel_path: str) -> str:
    """File stem of the i-th base image: index first, so names never collide."""
    return f"{i:04d}_{Path(rel_path).stem}"


def save_png(img: Image.Image, path: Path) -> None:
    """Lossless PNG; compress_level=1 because zlib's default level is ~4x slower and the
    bytes are still deterministic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", compress_level=1)


def save_jpeg(img: Image.Image, path: Path, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="JPEG", quality=quality)


def _to_image(arr) -> Image.Image:
    return Image.fromarray(np.clip(np.asarray(arr, dtype=np.float64), 0, 255).round().astype(np.uint8), "RGB")


def _as_float(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float64)


def _progress(total: int, desc: str, progress: bool):
    return tqdm(total=total, desc=desc, disable=not progress, leave=False)


def render_all(render_one: Callable[[int, str, int], list[dict]], base: DatasetIndex, desc: str,
               progress: bool, workers: int | None = None) -> pd.DataFrame:
    """Run ``render_one(i, rel_path, label) -> rows`` for every base image and stack the
    rows in image order. Threads (PIL decodes, filters and encodes without the GIL) give
    ~2x on two cores; the order of results, hence the table, does not depend on them.
    Only for renderers that draw from their own seeded Generator, never global state."""
    from concurrent.futures import ThreadPoolExecutor

    workers = workers or min(4, os.cpu_count() or 1)
    items = list(enumerate(zip(base.table["path"], base.labels)))
    rows = []
    pool = ThreadPoolExecutor(workers)
    try:
        with _progress(len(items), desc, progress) as bar:
            for out in pool.map(lambda it: render_one(it[0], it[1][0], int(it[1][1])), items):
                rows.extend(out)
                bar.update()
    except BaseException:
        # stop at once: drop queued images, let running ones finish before the caller
        # removes the temporary folder they write into
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return pd.DataFrame(rows)


# ================================================================= imagecorruptions
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


def imagecorruptions_module():
    """The ``imagecorruptions.corruptions`` module, made to run on today's stack.

    Three compatibility shims, none of which changes an algorithm: (1) it imports
    ``resource_filename`` from ``pkg_resources``, which setuptools >= 81 no longer ships --
    a throw-away stand-in module provides it during the import only; (2) ``np.float_``
    (removed in NumPy 2) -> ``float64``; (3) skimage's ``gaussian(multichannel=True)`` ->
    ``channel_axis=-1``.
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
    if severity not in (1, 2, 3, 4, 5):
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
                       severities: Iterable[int] = (1, 2, 3, 4, 5), seed: int = 0,
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
    if not set(severities) <= {1, 2, 3, 4, 5}:
        raise ValueError(f"severities must be within 1..5, got {severities}")
    base = spread_subset(samples, n_images, seed)
    params = {"n_images": n_images, "corruptions": corruptions, "severities": severities,
              "seed": seed, "quality": IMAGENET_C_JPEG_QUALITY}

    def build(out: Path) -> pd.DataFrame:
        rows = []
        bar = _progress(len(base) * len(corruptions) * len(severities), "imagenet-c stand-in", progress)
        for i, (rel, label) in enumerate(zip(base.table["path"], base.labels)):
            clean = np.asarray(load_base_image(base.root / rel))
            for corruption in corruptions:
                for sev in severities:
                    img = corrupt_image(clean, corruption, sev, stable_seed(seed, rel, corruption, sev))
                    path = f"{corruption}/{sev}/{_stem(i, rel)}.JPEG"
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


# ===================================================================== ImageNet-X factors
def make_darker(img: Image.Image) -> Image.Image:
    """Gamma 1.6 then x0.55: a dim, under-exposed photo."""
    return _to_image(255.0 * (_as_float(img) / 255.0) ** 1.6 * 0.55)


def make_brighter(img: Image.Image) -> Image.Image:
    """Gamma 0.55 then lift the shadows by 20% towards white: an over-exposed photo."""
    x = 255.0 * (_as_float(img) / 255.0) ** 0.55
    return _to_image(255.0 - (255.0 - x) * 0.8)


def make_smaller(img: Image.Image, fraction: float = 0.4) -> Image.Image:
    """The whole image shrunk to ``fraction`` of its side, centred on a canvas of its mean
    colour (a small object in an empty scene)."""
    w, h = img.size
    mean = tuple(int(round(v)) for v in _as_float(img).reshape(-1, 3).mean(0))
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
    return _to_image(_as_float(img) * gain)


def make_style(img: Image.Image) -> Image.Image:
    """Cartoon-like: box-smoothed, posterised to 3 bits per channel, dark outlines.
    (A box blur, not a median: PIL's 5x5 median costs ~10x more and looks alike here.)"""
    smooth = img.filter(ImageFilter.BoxBlur(2))
    poster = _as_float(ImageOps.posterize(smooth, 3))
    edges = np.asarray(smooth.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float64)
    poster[edges > 40] *= 0.15
    return _to_image(poster)


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
                path = f"{factor}/{_stem(i, rel)}.png"
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


# ======================================================================= PUG-like synthetic
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
    x = _as_float(img)
    if level == "bright":
        return _to_image(255.0 * (x / 255.0) ** 0.5)
    return _to_image(x * np.array(LIGHT_GAINS[level]))


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
    return _to_image(m * _as_float(img) + (1 - m) * bg)


def texture_overlay(img: Image.Image, opacity: float, rng: np.random.Generator) -> Image.Image:
    """Blend a seeded colourful blotch texture over the image with ``opacity``."""
    if opacity == 0:
        return img.copy()
    size = img.size[0]
    coarse = rng.uniform(0, 255, (size // 8, size // 8, 3)).astype(np.uint8)
    tex = np.asarray(Image.fromarray(coarse, "RGB").resize((size, size), Image.NEAREST)
                     .filter(ImageFilter.GaussianBlur(2)), dtype=np.float64)
    return _to_image((1 - opacity) * _as_float(img) + opacity * tex)


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
                    path = f"{factor}/{level}/{_stem(i, rel)}.png"
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


# ============================================================================ digits task
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
        for i in tqdm(range(len(labels)), desc="digits task", disable=not progress, leave=False):
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
