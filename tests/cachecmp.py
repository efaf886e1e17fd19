"""Comparing two result caches bit for bit, and tiny-profile copies with their own cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import yaml

PROJECT = Path(__file__).resolve().parent.parent


def cache_contents(cache, skip_datasets=()) -> dict:
    """``{path under the cache: contents}`` of every result file: a chunk as
    ``{array name: (dtype, shape, raw bytes)}`` (npz files carry timestamps, their arrays
    do not), a ``unit.json`` as its parsed JSON. ``skip_datasets``: dataset folder name
    prefixes left out."""
    out = {}
    for f in sorted(Path(cache).glob("results/*/*/*/*")):
        rel = f.relative_to(cache)
        if rel.parts[1].startswith(tuple(skip_datasets)) or f.name.startswith("."):
            continue
        if f.name.startswith("chunk-"):
            with np.load(f, allow_pickle=False) as z:
                out[str(rel)] = {k: (z[k].dtype.str, z[k].shape, z[k].tobytes()) for k in z.files}
        elif f.name == "unit.json":
            out[str(rel)] = json.loads(f.read_text())
    return out


def assert_same_cache(a, b, skip_datasets=()) -> int:
    """Every result file of ``a`` is in ``b`` with equal contents and vice versa; returns
    the number of chunk files compared."""
    ca, cb = cache_contents(a, skip_datasets), cache_contents(b, skip_datasets)
    assert sorted(ca) == sorted(cb), sorted(set(ca) ^ set(cb))
    differ = [k for k in ca if ca[k] != cb[k]]
    assert not differ, differ
    n = sum(k.rsplit("/", 1)[-1].startswith("chunk-") for k in ca)
    assert n > 0
    return n


def chunk_files(cache) -> dict[tuple[str, int], tuple[int, int]]:
    """(unit folder, chunk) -> (inode, mtime_ns) of every chunk file: a rewrite (atomic,
    by rename) changes both."""
    out = {}
    for f in Path(cache).glob("results/*/*/*/chunk-*.npz"):
        st = f.stat()
        out[(str(f.parent), int(f.stem.split("-")[1]))] = (st.st_ino, st.st_mtime_ns)
    return out


def tiny_profile(folder: Path, name: str, cache: Path, models=None, copy_from: Path | None = None,
                 copy=("zeroshot",)) -> Path:
    """params/tiny.yaml with its own cache (and ``models`` when given) as
    ``folder/<name>.yaml``; ``copy`` folders (e.g. the zero-shot heads, the stand-ins) taken
    from the cache ``copy_from`` to save their building."""
    data = yaml.safe_load((PROJECT / "params" / "tiny.yaml").read_text())
    data["cache_dir"] = str(cache)
    if models is not None:
        data["models"] = list(models)
    cache.mkdir(parents=True, exist_ok=True)
    for sub in copy if copy_from else ():
        if (Path(copy_from) / sub).is_dir():
            shutil.copytree(Path(copy_from) / sub, cache / sub)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
