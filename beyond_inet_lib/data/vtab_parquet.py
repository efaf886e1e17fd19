"""A VTAB task published as parquet shards (SUN397: TFDS sun397/tfds as the hub holds it)
-> the split folders the vtab loader reads: ``train800/<label>/``, ``val200/<label>/``,
``test/<label>/``.

train800 = the first 800 rows of the train shards (natural order), val200 = the first 200
of the validation shards, test = every test row: VTAB-1k's definition over TFDS's splits.
Columns read: ``image`` ({bytes, path}) and ``label`` (the task's class index). Each split
is written to a staging folder and renamed into place, so an interrupted conversion
leaves no half split.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ..errors import DownloadError
from .imagenet_hard_parquet import image_suffix

#: split folder -> (parquet shard prefix, rows taken: None = all)
SPLIT_ROWS = {"train800": ("train", 800), "val200": ("validation", 200), "test": ("test", None)}


def _natural(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def convert_sun397_parquet(folder: Path, progress: bool = True) -> Path:
    """Parquet shards below ``folder/hf/`` -> ``folder/{train800,val200,test}/<label>/NNNNNN.<ext>``."""
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    folder = Path(folder)
    for split, (prefix, limit) in SPLIT_ROWS.items():
        shards = sorted((p for p in (folder / "hf").rglob(f"{prefix}-*.parquet")), key=_natural)
        if not shards:
            raise DownloadError(f"{folder}: no {prefix}-*.parquet shards below hf/; nothing converted")
        staging = folder / f".{split}.staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        n = 0
        try:
            with tqdm(total=limit, desc=f"sun397 {split}", unit="img", disable=not progress, leave=False) as bar:
                for shard in shards:
                    for batch in pq.ParquetFile(shard).iter_batches(batch_size=256, columns=["image", "label"]):
                        for row in batch.to_pylist():
                            if limit is not None and n >= limit:
                                break
                            data = row["image"]["bytes"]
                            out = staging / str(int(row["label"])) / f"{n:06d}{image_suffix(data)}"
                            out.parent.mkdir(parents=True, exist_ok=True)
                            out.write_bytes(data)
                            n += 1
                            bar.update(1)
                    if limit is not None and n >= limit:
                        break
            if n == 0:
                raise DownloadError(f"{folder}: the {prefix} shards hold no rows; nothing converted")
            shutil.rmtree(folder / split, ignore_errors=True)
            os.replace(staging, folder / split)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return folder
