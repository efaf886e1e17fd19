"""The result cache on disk: one folder per cache unit, its key, its chunk files, its
manifest; and a ``Plan``: the cache units of one pass and the chunks each lacks.

A cache unit (``CacheUnit``) is one model under one view on one dataset, with the outputs
asked for. Layout::

    <cache>/results/<dataset>-<fingerprint>/<model>-<weights>/<view>-<outputs>/
        unit.json                       what this folder holds (for humans, cache_table)
        chunk-00000.npz ...             rows, skipped rows + reasons, and the outputs

The folder name is the key: dataset name + file-list fingerprint (``DatasetIndex
.fingerprint``: relative paths and sizes), model key + a hash of its weights id, the
view's hash (``View.key``), and a hash of (outputs, layers, chunk size, extra key). The
extra key (``extra_key``) holds the CLIP logit scale (CLIP models only), the decode mode
unless it is 'pil' and the precision unless it is 'fp32', so caches written before
either existed keep their keys. The device is not in the key (fp32 on a CPU and on a GPU
differ only by float summation order); the manifest records it. These rules must not
move: tests pin two folder names.

Chunk ``c`` holds dataset rows ``c * chunk_size`` to ``(c + 1) * chunk_size``. Each file is
written atomically (``files.atomic_write_bytes``: temp file, fsync, rename), so an
interrupted pass resumes where it stopped and two runs writing the same cache never leave
a half-written file. A chunk file that exists is never computed again.
"""

from __future__ import annotations

import collections
import itertools
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import EngineError
from ..files import atomic_write_bytes, short_hash, slug
from ..run_settings import RunSettings
from ..views import View
from .results import Result

#: rows per chunk file, by device kind, unless predict/plan is given ``chunk_size``
DEFAULT_CHUNK = {"cpu": 256, "cuda": 4096}


@dataclass(frozen=True)
class CacheUnit:
    """One model under one view with its outputs: one cache folder (``dir``). ``decode``,
    ``precision`` and ``device`` are the resolved settings it is computed with (the
    first two are in its key, all three in its manifest)."""

    spec: object            # models.ModelSpec (or anything with key, weights_id, training, load)
    view_name: str
    view: View
    outputs: tuple
    layers: tuple | None
    dir: Path
    chunk_size: int
    decode: str = "pil"
    precision: str = "fp32"
    device: str = "cpu"

    def chunk_path(self, i: int) -> Path:
        return self.dir / f"chunk-{i:05d}.npz"

    def missing_chunks(self, chunks) -> list[int]:
        """Those of ``chunks`` whose file is not (yet) on disk."""
        return [c for c in chunks if not self.chunk_path(c).exists()]


@dataclass
class Plan:
    """The cache units of one pass and the chunks each lacked when planned
    (``planning.plan`` makes one; a plain picklable value).

    ``units``: one per (model, view), in models order then views order. ``missing``: unit
    index -> chunk indices without a file at planning time. ``settings``: resolved (device,
    precision and decode are concrete). Chunk ``c`` holds dataset rows ``c * chunk_size``
    up to ``(c + 1) * chunk_size``."""

    dataset: object          # data.DatasetIndex
    fingerprint: str
    units: list[CacheUnit]
    chunk_size: int
    settings: RunSettings
    missing: dict[int, list[int]]

    @property
    def n_chunks(self) -> int:
        return n_chunks(len(self.dataset), self.chunk_size)

    @property
    def todo_chunks(self) -> list[int]:
        """Chunk indices some unit lacked at planning time, ascending."""
        return sorted({c for cs in self.missing.values() for c in cs})


def extra_key(clip_part: str, decode: str, precision: str = "fp32") -> str:
    """Unit-key extra: the CLIP logit scale, plus the decode mode unless it is 'pil' and
    the precision unless it is 'fp32' (so caches written before either existed keep their
    keys). The device is not in the key; the manifest records it."""
    key = clip_part if decode == "pil" else f"{clip_part}|decode={decode}"
    return key if precision == "fp32" else f"{key}|precision={precision}"


def unit_dir(cache: Path, dataset, fingerprint: str, spec, view: View, outputs: tuple, layers,
             chunk_size: int, extra: str) -> Path:
    """The unit's folder (module docstring: the folder name is the key)."""
    out_key = short_hash(json.dumps([sorted(outputs), list(layers) if layers else None, chunk_size, extra]), 8)
    return (cache / "results" / f"{slug(dataset.name)}-{fingerprint}"
            / f"{slug(spec.key)}-{short_hash(str(spec.weights_id), 8)}" / f"{view.key()}-{out_key}")


def n_chunks(n: int, chunk_size: int) -> int:
    """Chunk files a unit of ``n`` images has (none for an empty dataset)."""
    return -(-n // chunk_size)


def chunk_rows(c: int, chunk_size: int, n: int) -> range:
    """The dataset rows chunk ``c`` holds."""
    return range(c * chunk_size, min(n, (c + 1) * chunk_size))


def save_chunk(path: Path, arrays: dict) -> None:
    atomic_write_bytes(path, lambda f: np.savez(f, **arrays))


def load_chunk(path: Path, only=None) -> dict | None:
    """The chunk's arrays (``only``: those named, plus ``files``: the names of all it
    holds), or None when the file is absent or unreadable (a foreign or corrupt file is not
    trusted)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if only is None:
                return {k: z[k] for k in z.files}
            return {**{k: z[k] for k in only}, "files": list(z.files)}
    except Exception:
        return None


def write_manifest(u: CacheUnit, dataset, fingerprint: str) -> None:
    """``unit.json``: what the folder holds, written once."""
    m = u.dir / "unit.json"
    if m.exists():
        return
    info = {"model": u.spec.key, "weights_id": str(u.spec.weights_id), "dataset": dataset.name,
            "fingerprint": fingerprint, "n_images": len(dataset), "view": u.view.to_dict(),
            "view_name": u.view_name, "outputs": list(u.outputs),
            "layers": list(u.layers) if u.layers else None, "chunk_size": u.chunk_size,
            "decode": u.decode, "precision": u.precision, "device": u.device}
    atomic_write_bytes(m, lambda f: f.write(json.dumps(info, indent=1).encode()))


#: outputs kept in memory once read, across every stored result of this process: the least
#: recently read are dropped first, the last one read always stays
RECENT_BYTES = 2 * 2**30
#: what a chunk file holds besides the outputs
ROW_ARRAYS = ("rows", "skipped_rows", "skipped_reasons")
#: the outputs a ``Result`` has, by attribute
_OUTPUT_ATTRS = ("logits", "top_index", "top_prob", "features", "layers")


class _Recent:
    """The outputs read most recently, up to ``budget`` bytes (``RECENT_BYTES``). Safe to
    use from several threads (a page may read models' outputs in worker threads); two
    threads asking for the same output at once may both read it, and one copy is kept."""

    def __init__(self, budget: int):
        self.budget, self.items, self.size = budget, collections.OrderedDict(), 0
        self.lock = threading.Lock()

    @staticmethod
    def _nbytes(value) -> int:
        if isinstance(value, dict):
            return sum(v.nbytes for v in value.values())
        return 0 if value is None else value.nbytes

    def get(self, key, load):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = load()                       # outside the lock: reads of other outputs go on
        with self.lock:
            if key in self.items:            # another thread read it meanwhile
                return self.items[key]
            self.items[key] = value
            self.size += self._nbytes(value)
            while self.size > self.budget and len(self.items) > 1:
                _, old = self.items.popitem(last=False)
                self.size -= self._nbytes(old)
        return value

    def drop(self, token) -> None:
        """Forget the outputs of one stored result (it is gone)."""
        with self.lock:
            for key in [k for k in self.items if k[0] == token]:
                self.size -= self._nbytes(self.items.pop(key))


RECENT = _Recent(RECENT_BYTES)
_TOKENS = itertools.count()


class StoredResult(Result):
    """A ``Result`` whose outputs stay in the unit's chunk files until asked for: reading
    ``logits`` (or ``features``, ``layers``, ``top_index``, ``top_prob``) loads that output
    alone and keeps it among the recently read (``RECENT``), so a page that takes one model
    at a time holds about one model's outputs at a time (30 models' ImageNet val logits
    would be 6 GB). Assigning an output replaces it in this object only."""

    def __init__(self, u: CacheUnit, dataset, table: pd.DataFrame, skipped: pd.DataFrame,
                 chunks: list[Path], names: set):
        self.model, self.view_name, self.view, self.dataset = u.spec.key, u.view_name, u.view, dataset.name
        self.table, self.skipped = table, skipped
        self._chunks, self._names, self._set = chunks, names, {}
        self._token = next(_TOKENS)

    def __repr__(self) -> str:
        return f"StoredResult({self.model!r}, {self.view_name!r}, {self.dataset!r}, {len(self.table)} rows)"

    def _read(self, attr: str):
        if attr in self._set:
            return self._set[attr]
        if attr == "layers":
            keys = sorted(k for k in self._names if k.startswith("layer::"))
            if not keys:
                return {}
            return RECENT.get((self._token, attr), lambda: {k[len("layer::"):]: _concat(self._chunks, k) for k in keys})
        if attr not in self._names:
            return None
        return RECENT.get((self._token, attr), lambda: _concat(self._chunks, attr))

    def __del__(self):
        RECENT.drop(self._token)


def _output_property(attr: str) -> property:
    def get(self):
        return self._read(attr)

    def put(self, value):
        self._set[attr] = value
    return property(get, put)


for _attr in _OUTPUT_ATTRS:
    setattr(StoredResult, _attr, _output_property(_attr))


def _concat(chunks: list[Path], name: str) -> np.ndarray:
    """Output ``name`` of every chunk file, joined in chunk order."""
    parts = []
    for path in chunks:
        try:
            with np.load(path, allow_pickle=False) as z:
                parts.append(z[name])
        except Exception as e:
            raise EngineError(f"cache chunk {path} is unreadable ({e}); delete {path.parent} and run again") from e
    return np.concatenate(parts)


def read_result(u: CacheUnit, dataset) -> Result:
    """The unit's ``Result`` (a ``StoredResult``: its rows and skipped rows read now, its
    outputs when asked for), rows in dataset order. Raises ``EngineError`` when a chunk is
    not on disk (the pass has not run for it) or cannot be read."""
    rows, skipped_rows, reasons, chunks = [], [], [], []
    names: set = set()
    for c in range(n_chunks(len(dataset), u.chunk_size)):
        path = u.chunk_path(c)
        z = load_chunk(path, only=ROW_ARRAYS)
        if z is None:
            if not path.exists():
                raise EngineError(f"cache chunk {path} has not been computed: run the pass "
                                  f"(engine.execute(plan) or engine.predict) first")
            raise EngineError(f"cache chunk {path} is unreadable; delete {u.dir} and run again")
        rows.append(z["rows"])
        skipped_rows.append(z["skipped_rows"])
        reasons.append(z["skipped_reasons"])
        names |= set(z["files"]) - set(ROW_ARRAYS)
        chunks.append(path)
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    sk = np.concatenate(skipped_rows) if skipped_rows else np.zeros(0, dtype=np.int64)
    rs = np.concatenate(reasons) if reasons else np.zeros(0, dtype=str)
    table = dataset.table.iloc[rows].reset_index(drop=True)
    skipped = pd.DataFrame({"path": dataset.table["path"].to_numpy()[sk] if len(sk) else [],
                            "reason": rs.tolist()})
    return StoredResult(u, dataset, table, skipped, chunks, names)


def cache_table(cache_dir) -> pd.DataFrame:
    """One row per cached (dataset, model, view, outputs) unit under ``cache_dir``: what it
    holds (from its ``unit.json``), how many of its chunks are written, and its size."""
    rows = []
    for m in sorted(Path(cache_dir).glob("results/*/*/*/unit.json")):
        try:
            info = json.loads(m.read_text())
        except (OSError, ValueError):
            continue
        n, chunk = int(info.get("n_images", 0)), int(info.get("chunk_size", 1)) or 1
        files = [f for f in m.parent.iterdir() if f.is_file()]
        rows.append({"dataset": info.get("dataset"), "model": info.get("model"),
                     "view": info.get("view_name"), "outputs": ",".join(info.get("outputs") or []),
                     "decode": info.get("decode", "pil"), "precision": info.get("precision", "fp32"),
                     "device": info.get("device", "?"), "images": n,
                     "chunks": f"{sum(f.name.startswith('chunk-') for f in files)}/{n_chunks(n, chunk)}",
                     "MB": round(sum(f.stat().st_size for f in files) / 1e6, 2), "dir": str(m.parent)})
    cols = ["dataset", "model", "view", "outputs", "decode", "precision", "device", "images", "chunks",
            "MB", "dir"]
    return pd.DataFrame(rows, columns=cols)
