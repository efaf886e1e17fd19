"""``DatasetIndex``: the files of one dataset and their labels; and walking image folders.

Nothing here decodes an image (the engine does) or knows any particular dataset.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import webdataset
from .parquet_images import is_row_ref, row_file_size
from .webdataset import is_member_ref, member_stat

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class DatasetIndex:
    """The files of one dataset and their labels.

    ``table`` columns: ``path`` (str, relative to ``root``: a file, or a webdataset member
    ``<shard>.tar#<member>`` read in place), ``label`` (int ImageNet-1k
    index, -1 when an image has no single label), plus dataset-specific columns
    (``texture``/``shape`` for cue-conflict, ``factor``/``level`` for stand-ins,
    ``corruption``/``severity`` for ImageNet-C, ``label_set`` for multi-label sets,
    ``split`` = train / val / test for transfer tasks ...).
    ``class_mask``: the ImageNet indices a benchmark scores over (ImageNet-A/R: 200), or
    None for all 1,000. ``standin``: generated data standing in for a real benchmark; every
    page that shows its numbers says so.
    """

    name: str
    root: Path
    table: pd.DataFrame
    class_mask: np.ndarray | None = None
    standin: bool = False
    description: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.root = Path(self.root)
        missing = {"path", "label"} - set(self.table.columns)
        if missing:
            raise ValueError(f"DatasetIndex {self.name!r} table lacks columns {sorted(missing)}")
        self.table = self.table.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def paths(self) -> list[Path]:
        return [self.root / p for p in self.table["path"]]

    @property
    def labels(self) -> np.ndarray:
        return self.table["label"].to_numpy()

    def fingerprint(self) -> str:
        """Hash of the file list (relative path + size): part of every cache key, so a
        changed or re-ordered dataset is never served stale results. A webdataset member
        (``<shard>.tar#<member>``) counts with its shard's size, modification time and
        inode and its own size: a truncated shard, or one fetched again after failing its
        checksum (a new file), changes the key of every image in it (a copied data root
        recomputes the results of its shards once)."""
        h = hashlib.sha1(self.name.encode())
        root = str(self.root)
        lines = []
        for rel in self.table["path"]:
            # plain strings, not Path objects: ImageNet-C lists 3.75 million files
            if "#" in rel and is_member_ref(rel):
                size = "%d:%d:%d:%d" % member_stat(self.root / rel)
            else:
                try:
                    size = os.stat(os.path.join(root, rel)).st_size
                except OSError:  # an image inside a parquet file counts with the file's size
                    size = row_file_size(self.root / rel) if "#" in rel and is_row_ref(rel) else -1
            lines.append(f"{rel}\0{size}\n")
        h.update("".join(lines).encode())
        return h.hexdigest()[:16]

    def subset(self, rows) -> "DatasetIndex":
        """A new index over the selected rows (boolean mask, index array or slice)."""
        table = self.table.iloc[rows] if not isinstance(rows, pd.Series) else self.table[rows]
        return DatasetIndex(self.name, self.root, table.reset_index(drop=True), self.class_mask,
                            self.standin, self.description, dict(self.meta))

    def per_class(self, n: int | None, seed: int = 0) -> "DatasetIndex":
        """First ``n`` images per class after a seeded shuffle (stable across runs)."""
        if n is None:
            return self
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(self.table))
        t = self.table.iloc[order]
        keep = t.groupby("label", sort=False).head(n).index
        return self.subset(np.sort(keep.to_numpy()))

    def spread(self, n: int | None) -> "DatasetIndex":
        """``n`` rows spread evenly over the table (all when n is None): deterministic and
        class-balanced for class-sorted datasets."""
        return self.subset(spread_indices(len(self), n))

    def head(self, n: int | None) -> "DatasetIndex":
        return self if n is None or n >= len(self) else self.subset(slice(0, n))


def spread_indices(n: int, k: int | None) -> np.ndarray:
    """Indices of ``k`` of ``n`` items spread evenly, first and last included (all when
    ``k`` is None or >= n)."""
    if k is None or k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(int))


def is_image_name(name: str) -> bool:
    """An image file by its name (no hidden files: macOS archives carry ``._x.jpg``)."""
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    """Image files below ``folder``, sorted by relative path (a stable order)."""
    out = []
    for dirpath, _dirs, files in os.walk(folder):
        out += [Path(dirpath) / f for f in files if is_image_name(f)]
    return sorted(out, key=lambda p: str(p.relative_to(folder)))


def count_images(folder: Path | None) -> int:
    """Number of image files below ``folder`` (0 when it is None or absent)."""
    if folder is None or not Path(folder).is_dir():
        return 0
    return sum(sum(1 for f in files if is_image_name(f)) for _d, _s, files in os.walk(folder))


def shard_rows(root: Path, folder: Path, label_ext: str = "cls") -> list[dict] | None:
    """One row per image sample of the webdataset shards directly in ``folder`` (natural
    shard order, then shard order): ``path`` = its member ref relative to ``root``
    (``<shard>.tar#<member>``, read in place), ``label`` = the text of its ``label_ext``
    member ('' when absent). None when ``folder`` holds no shard; ``webdataset.ShardError``
    names a truncated one."""
    shards = webdataset.list_shards(folder)
    if not shards:
        return None
    root = Path(root)
    rows = []
    for smp in webdataset.iter_samples(shards):
        if smp.image is None:
            continue
        rel = Path(smp.shard).relative_to(root).as_posix()
        rows.append({"path": webdataset.member_ref(rel, smp.image.name),
                     "label": smp.text(label_ext) if label_ext in smp.members else ""})
    return rows
