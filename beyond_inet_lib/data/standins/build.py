"""The stand-in build protocol and the base images every generator starts from.

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

import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image
from ...progress import bar

from ...views import View
from ..index import DatasetIndex

# Bump when any algorithm of the stand-ins changes: every output folder name changes with
# it, so a stale stand-in is never re-used. 2: impulse noise seeded (it was not).
GENERATOR_VERSION = 2

BASE_RESIZE, BASE_CROP = 256, 224
MANIFEST, TABLE_FILE = "manifest.json", "index.parquet"


def stable_seed(*parts) -> int:
    """A 32-bit seed from any printable parts (sha256, so equal across processes/runs;
    Python's ``hash`` is salted per process and would not be)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def folder_key(params: dict, input_fingerprint: str) -> str:
    blob = json.dumps({"version": GENERATOR_VERSION, "params": params,
                       "input": input_fingerprint}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def standin_folder(cache_dir, slug: str, params: dict, input_fingerprint: str) -> Path:
    """``<cache_dir>/standins/<slug>-<hash of params + input + version>``."""
    return Path(cache_dir).expanduser() / "standins" / f"{slug}-{folder_key(params, input_fingerprint)}"


def is_complete(folder: Path) -> bool:
    """A stand-in folder is complete when its manifest (written last) and table exist."""
    return (folder / MANIFEST).is_file() and (folder / TABLE_FILE).is_file()


def read_built(folder: Path) -> tuple[pd.DataFrame, dict]:
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
        table, manifest = read_built(final)
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
    table, manifest = read_built(final)
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


@functools.lru_cache(maxsize=None)
def _base_geometry():
    """The package's one resize + centre crop (``View.geometry``), built once."""
    return View(resize=BASE_RESIZE, crop=BASE_CROP).geometry()


def load_base_image(path: Path) -> Image.Image:
    """A sample image as RGB, ``Resize(256)`` (bilinear, shorter side) then ``CenterCrop(224)``
    -- ImageNet-C's preprocessing."""
    with Image.open(path) as im:
        return _base_geometry()(im.convert("RGB"))


def stem(i: int, rel_path: str) -> str:
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


def to_image(arr) -> Image.Image:
    return Image.fromarray(np.clip(np.asarray(arr, dtype=np.float64), 0, 255).round().astype(np.uint8), "RGB")


def as_float(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float64)


def progress_bar(total: int, desc: str, progress: bool):
    return bar(total=total, desc=desc, enabled=progress, leave=False)


def render_all(render_one: Callable[[int, str, int], list[dict]], base: DatasetIndex, desc: str,
               progress: bool, workers: int | None = None) -> pd.DataFrame:
    """Run ``render_one(i, rel_path, label) -> rows`` for every base image and stack the
    rows in image order. Threads (PIL decodes, filters and encodes without the GIL) give
    ~2x on two cores; the order of results, hence the table, does not depend on them.
    Only for renderers that draw from their own seeded Generator, never global state."""
    workers = workers or min(4, os.cpu_count() or 1)
    items = list(enumerate(zip(base.table["path"], base.labels)))
    rows = []
    pool = ThreadPoolExecutor(workers)
    try:
        with progress_bar(len(items), desc, progress) as bar:
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
