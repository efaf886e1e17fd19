"""ImageNet-Hard as published (parquet shards on the Hugging Face hub) -> image files and
a ``labels.json`` the ``imagenet-hard`` loader reads."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..errors import ManualDownloadRequired

HARD_MANUAL = (
    "ImageNet-Hard is published as parquet shards on the Hugging Face hub (file names change between revisions).\n"
    "  1. On a connected machine: huggingface-cli download taesiri/imagenet-hard --repo-type dataset "
    "--local-dir {root}/imagenet-hard/hf\n"
    "  2. Run `beyond-inet data get imagenet-hard --root {root}`: it converts the shards to "
    "imagenet-hard/images/ + labels.json, offline."
)


def convert_imagenet_hard(folder: Path, progress: bool = True) -> Path:
    """Parquet shards of ``taesiri/imagenet-hard`` below ``folder`` -> ``folder/images/`` +
    ``folder/labels.json`` (a list of {file, labels, origin}). Columns read: ``image``
    ({bytes, path}), ``label`` (list of ImageNet indices, or one int), ``origin`` if present.
    labels.json is written last (atomically), so an interrupted run leaves no label file."""
    import pyarrow.parquet as pq

    from ..progress import bar

    folder = Path(folder)
    shards = sorted(p for p in folder.rglob("*.parquet") if "images" not in p.parts)
    if not shards:
        raise ManualDownloadRequired(HARD_MANUAL.format(root=folder.parent))
    staging = folder / f".images.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    records = []
    try:
        for shard in bar(shards, desc="imagenet-hard shards", enabled=progress, leave=False):
            pf = pq.ParquetFile(shard)
            cols = [c for c in ("image", "label", "origin") if c in pf.schema_arrow.names]
            for batch in pf.iter_batches(batch_size=256, columns=cols):
                for row in batch.to_pylist():
                    records.append(_write_hard_image(row, len(records), staging))
        images = folder / "images"
        shutil.rmtree(images, ignore_errors=True)
        os.replace(staging, images)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    tmp = folder / f".labels.json.{os.getpid()}"
    tmp.write_text(json.dumps(records))
    os.replace(tmp, folder / "labels.json")
    return folder


def _write_hard_image(row: dict, i: int, staging: Path) -> dict:
    img = row["image"]
    suffix = Path(str(img.get("path") or "")).suffix.lower() or _sniff_suffix(img["bytes"])
    name = f"{i:05d}{suffix}"
    (staging / name).write_bytes(img["bytes"])
    label = row.get("label")
    labels = [int(x) for x in label] if isinstance(label, (list, tuple)) else ([] if label is None else [int(label)])
    rec = {"file": f"images/{name}", "labels": labels}
    if "origin" in row:
        rec["origin"] = row["origin"]
    return rec


def _sniff_suffix(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    return ".img"
