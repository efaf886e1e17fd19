"""Writing files so that a reader never sees half of one, and naming things on disk.

A leaf module (imports nothing of the package). Every file the package writes for later
reading (result chunks, manifests, zero-shot heads, summaries, pages) goes through
``atomic_write_bytes``: a temp file beside the target, fsync, rename. A crash leaves the old
file or the new one, never a partial file; two writers of the same file never interleave.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import DiskFull


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Write ``path`` through ``write(fileobj)`` into a temp file beside it, fsync, rename.

    The file gets the usual permissions (0666 minus the umask: caches and reports are
    shared like any file). On a full disk the temp file is removed and ``DiskFull`` says
    what to do; files written before are untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise DiskFull(
                f"disk full while writing {path}. Results written before this are intact; "
                f"free space on {path.parent} (or set cache_dir in the profile to a larger disk) "
                f"and run again: it resumes where it stopped.") from e
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """``atomic_write_bytes`` of ``text`` encoded as UTF-8."""
    return atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))


def short_hash(text: str, n: int = 10) -> str:
    """The first ``n`` hex digits of the SHA-1 of ``text`` (stable across processes)."""
    return hashlib.sha1(text.encode()).hexdigest()[:n]


def slug(text: str, max_len: int = 60) -> str:
    """A file-name-safe form of ``text``: letters, digits and ``-_.@`` kept, anything else
    ``_``; cut to ``max_len``. When anything was changed or cut, a short hash of the
    original is appended, so two different texts never share a slug."""
    keep = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in text)
    changed = len(keep) > max_len or keep != text
    return keep[:max_len] + ("-" + short_hash(text, 6) if changed else "")


def file_checksum(path, algo: str = "sha256") -> str:
    """Hex digest of a file, read in 16 MiB blocks (a weights file never sits in memory whole).
    ``algo`` is a hashlib name, or ``git-sha1``: git's blob id (SHA-1 of ``blob <size>\\0``
    and the bytes), what the Hugging Face hub lists for a file not stored in LFS."""
    if algo == "git-sha1":
        h = hashlib.sha1(b"blob %d\0" % os.path.getsize(path))
    else:
        h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()
