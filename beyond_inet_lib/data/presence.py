"""How much of a dataset is below a data root, without decoding anything."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .index import count_images
from .registry import DATASETS, Presence
from .webdataset import count_image_samples


def missing_text(found: int, expected: int | None, folder: Path | None, canonical: Path,
                 what: str = "images") -> str:
    """'no folder X' | 'no images in X' | 'N of M images missing' | '' (complete)."""
    if folder is None:
        return f"no folder {canonical}"
    if found == 0:
        return f"no {what} in {folder}"
    if expected and found < expected:
        return f"{expected - found:,} of {expected:,} {what} missing"
    return ""


def count_presence(name: str, root: Path) -> Presence:
    """The default check: image files in the dataset's folder, or the images of the
    webdataset shards in it or its split folders (a hub copy), against its expected count."""
    info = DATASETS[name]
    folder = info.folder_in(root)
    n = count_images(folder) + (count_image_samples(folder) if folder is not None else 0)
    return Presence(n, info.expected_count, folder or info.canonical_folder(root),
                    missing_text(n, info.expected_count, folder, info.canonical_folder(root)))


def dataset_presence(name: str, root) -> Presence:
    """How much of dataset ``name`` is below ``root`` (no image is decoded)."""
    info = DATASETS[name]
    if info.presence is not None:
        return info.presence(Path(root))
    return count_presence(name, Path(root))


def files_presence(name: str, files: tuple[str, ...]) -> Callable[[Path], Presence]:
    """A check for datasets that are a fixed list of files (the reference tables)."""

    def check(root: Path) -> Presence:
        info = DATASETS[name]
        folder = info.folder_in(root)
        n = sum((folder / f).is_file() for f in files) if folder else 0
        return Presence(n, len(files), folder or info.canonical_folder(root),
                        missing_text(n, len(files), folder, info.canonical_folder(root), "files"))

    return check
