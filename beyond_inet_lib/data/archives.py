"""Unpacking archives (zip, tar, tar.gz ...) into a folder, safely: members outside the
chosen prefix are skipped, and absolute paths, ``..`` and links are never written."""

from __future__ import annotations

import re
import shutil
import tarfile
import zipfile
from pathlib import Path

from ..errors import DownloadError

CHUNK_BYTES = 1 << 20


def archive_kind(filename: str) -> str:
    """'zip' | 'tar' (any compression tarfile reads) | 'file' (copied as is)."""
    low = filename.lower()
    if low.endswith(".zip"):
        return "zip"
    if low.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return "tar"
    return "file"


def member_target(name: str, strip: str, include: str | None) -> str | None:
    """Path below the target folder for archive member ``name``, or None to skip it
    (outside ``strip``, not matching ``include``, or unsafe: absolute or with '..')."""
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    if strip and not name.startswith(strip):
        return None
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None  # absolute paths are never written
    parts = [p for p in name[len(strip):].split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    rel = "/".join(parts)
    if include and not re.search(include, rel):
        return None
    return rel


def _archive_members(archive: Path):
    """Yield (member name, opener) for the regular files of a zip or tar archive."""
    if archive_kind(archive.name) == "zip":
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    yield info.filename, (lambda i=info: zf.open(i))
    else:
        with tarfile.open(archive, "r:*") as tf:
            for m in tf:
                if m.isfile():  # links and devices are never written
                    yield m.name, (lambda m=m: tf.extractfile(m))


def unpack(archive: Path, src, target: Path) -> int:
    """Write the members of ``archive`` selected by ``src.strip``/``src.include`` (a
    ``sources.Source``) below ``target``; returns the number of files written. A plain
    file (not an archive) is copied as ``target / src.filename``."""
    target.mkdir(parents=True, exist_ok=True)
    if archive_kind(archive.name) == "file":
        shutil.copy2(archive, target / src.filename)
        return 1
    n, seen = 0, []
    try:
        for name, opener in _archive_members(archive):
            if len(seen) < 5:
                seen.append(name)
            rel = member_target(name, src.strip, src.include)
            if rel is None:
                continue
            out = target / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            with opener() as fin, open(out, "wb") as fout:
                shutil.copyfileobj(fin, fout, CHUNK_BYTES)
            n += 1
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise DownloadError(f"{archive}: not a readable {archive_kind(archive.name)} archive ({e}); "
                            f"delete it and run again") from None
    if n == 0:
        raise DownloadError(
            f"{archive}: no files under {src.strip or '(top level)'!r}"
            f"{' matching ' + repr(src.include) if src.include else ''} (first members: {seen}); "
            "the source layout may have changed. Nothing was installed.")
    return n
