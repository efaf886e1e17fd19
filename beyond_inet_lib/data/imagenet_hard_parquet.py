"""ImageNet-Hard as published (parquet shards on the Hugging Face hub) -> image files and
a ``labels.json`` the ``imagenet-hard`` loader reads."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..errors import ManualDownloadRequired

HARD_MANUAL = (
    "ImageNet-Hard is published as parquet shards on the Hugging Face hub (taesiri/imagenet-hard).\n"
    "  `beyond-inet data get imagenet-hard --root {root}` fetches them (verified) and converts them to\n"
    "  imagenet-hard/images/ + labels.json. Shards copied by hand below {root}/imagenet-hard/ are converted\n"
    "  instead, offline."
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
    suffix = Path(str(img.get("path") or "")).suffix.lower() or image_suffix(img["bytes"])
    name = f"{i:05d}{suffix}"
    (staging / name).write_bytes(img["bytes"])
    label = row.get("label")
    labels = [int(x) for x in label] if isinstance(label, (list, tuple)) else ([] if label is None else [int(label)])
    rec = {"file": f"images/{name}", "labels": labels}
    if "origin" in row:
        rec["origin"] = row["origin"]
    return rec


def image_suffix(data: bytes) -> str:
    """The file suffix of encoded image bytes, from their magic number ('.img' if unknown)."""
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ".img"
