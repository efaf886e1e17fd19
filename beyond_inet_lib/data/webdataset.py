"""Webdataset shards read in place: an index of the samples in ``.tar`` files, and the
bytes of one member without unpacking anything.

A webdataset is a folder of uncompressed tar shards (CLIP_benchmark's copies on the hub:
``<split>/0.tar``, ``<split>/1.tar`` ...). The files of one sample sit next to each other
in a shard and share a key: the member name up to the first dot of its last path
component (``s0000042.webp`` and ``s0000042.cls`` are the image and the label of sample
``s0000042``); the rest is the sample's extension for that file (``webp``, ``cls``,
``jpg``, ``seg.png`` ...), lower-cased, as the webdataset library groups them.

A member is addressed by a *member ref*, a path string ``<shard>#<member name>``
(``vtab/dtd/test/0.tar#s0000042.webp``): it goes wherever a file path goes (a
``DatasetIndex``'s ``path`` column, the engine's decode), ``Path(ref).suffix`` is the
member's, and ``read_member(ref)`` returns its bytes with one seek and one read. The
shard's index (member -> offset, size) is read once per process from the tar headers
alone (a 1 GB shard of 10,000 images: a few ms) and cached until the shard file is
replaced.

A shard is checked when it is indexed: a member whose data runs past the end of the file,
a header cut short, or a missing end-of-archive marker (two zero blocks after the last
member, which every tar writer adds) mean a truncated shard, and ``ShardError`` names it.
Compressed shards (``.tar.gz``) cannot be read in place and are refused.

The API (a leaf module: it imports nothing of the package):

- ``list_shards(folder)``: the ``*.tar`` files of a folder in natural order
  (``0.tar, 1.tar, ..., 10.tar``)
- ``read_shard(path) -> list[Sample]``: the samples of one shard, in shard order
- ``iter_samples(folder or shards)``: the samples of a folder's shards, in order
- ``Sample``: ``key``, ``shard``, ``members`` (extension -> ``Member``); ``.image`` (the
  first image member), ``.ref(ext)``, ``.text(ext)``
- ``member_ref(shard, name)``, ``split_ref(path)``, ``is_member_ref(path)``
- ``read_member(ref) -> bytes``, ``member_stat(ref)`` (the shard's size, mtime, inode; the member's size)
- ``count_image_samples(folder)``
"""

from __future__ import annotations

import functools
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

SHARD_SUFFIX = ".tar"
#: image extensions looked for in a sample, in this order (CLIP_benchmark's loader reads
#: webp, png, jpg, jpeg)
IMAGE_EXTENSIONS = ("webp", "png", "jpg", "jpeg", "bmp", "tif", "tiff")
REF_SEPARATOR = "#"
_BLOCK = 512
_REF_RE = re.compile(r"^(.*?\.tar)#(.+)$", re.IGNORECASE)
_KEY_RE = re.compile(r"^((?:.*/|)[^./][^/]*?)\.([^/]*)$")


class ShardError(OSError):
    """A shard that cannot be read whole (truncated, not a tar, compressed); ``str()``
    names the shard and what is wrong."""


@dataclass(frozen=True)
class Member:
    """One file inside a shard: its name, where its data starts, how many bytes."""

    name: str
    offset: int
    size: int


@dataclass(frozen=True)
class Sample:
    """The files of one webdataset sample: ``members`` maps an extension (``webp``,
    ``cls``, ...) to its ``Member`` in ``shard``."""

    key: str
    shard: str
    members: dict = field(hash=False, compare=False)

    @property
    def image(self) -> Member | None:
        """The sample's image member (first of IMAGE_EXTENSIONS present), or None."""
        for ext in IMAGE_EXTENSIONS:
            if ext in self.members:
                return self.members[ext]
        return None

    def ref(self, ext: str | None = None) -> str:
        """Member ref of the file with extension ``ext`` (default: the image)."""
        m = self.image if ext is None else self.members[ext]
        if m is None:
            raise KeyError(f"{self.shard}: sample {self.key!r} has no image "
                           f"(files: {', '.join(sorted(self.members))})")
        return member_ref(self.shard, m.name)

    def text(self, ext: str) -> str:
        """The file ``ext`` of the sample decoded as UTF-8 and stripped (``cls``: '42')."""
        return read_range(self.shard, self.members[ext]).decode("utf-8").strip()


# --------------------------------------------------------------------- refs
def member_ref(shard, name: str) -> str:
    """``<shard>#<member name>``: a path string for one member of a shard."""
    return f"{shard}{REF_SEPARATOR}{name}"


def split_ref(path) -> tuple[str, str] | None:
    """(shard path, member name) of a member ref, or None for an ordinary path."""
    m = _REF_RE.match(str(path))
    return (m.group(1), m.group(2)) if m else None


def is_member_ref(path) -> bool:
    return split_ref(path) is not None


# ------------------------------------------------------------------- shards
def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def list_shards(folder) -> list[Path]:
    """The ``*.tar`` shards directly in ``folder``, in natural order (2 before 10)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_file() and p.name.endswith(SHARD_SUFFIX)
                   and not p.name.startswith(".")), key=_natural_key)


def split_name(name: str) -> tuple[str, str] | None:
    """(key, extension) of a member name as webdataset groups them, or None for names
    that belong to no sample (no dot, hidden files)."""
    m = _KEY_RE.match(name)
    if not m or "/." in name or name.startswith("."):
        return None
    return m.group(1), m.group(2).lower()


def _index(path: Path) -> dict[str, Member]:
    """Name -> ``Member`` of every regular member, in shard order, checked for truncation."""
    size = path.stat().st_size
    if path.name.endswith((".gz", ".tgz", ".bz2", ".xz", ".zst")):
        raise ShardError(f"{path}: a compressed tar cannot be read in place; unpack it or "
                         "recompress it as a plain .tar")
    out, end = {}, 0
    try:
        with tarfile.open(path, "r:") as tf:
            for m in tf:
                end = m.offset_data + (-(-m.size // _BLOCK) * _BLOCK)
                if m.offset_data + m.size > size:
                    raise ShardError(f"{path}: truncated ({size:,} bytes; member {m.name} needs "
                                     f"{m.offset_data + m.size:,})")
                if m.isfile():
                    out[m.name] = Member(m.name, m.offset_data, m.size)
    except tarfile.TarError as e:
        raise ShardError(f"{path}: not a readable tar shard ({e})") from None
    with open(path, "rb") as f:
        f.seek(end)
        marker = f.read(2 * _BLOCK)
    if len(marker) < 2 * _BLOCK or marker.strip(b"\0"):
        raise ShardError(f"{path}: truncated (no end-of-archive marker after its last member; "
                         f"{size:,} bytes)")
    return out


@functools.lru_cache(maxsize=1024)
def _cached_index(path: str, size: int, mtime_ns: int, inode: int) -> dict[str, Member]:
    return _index(Path(path))


def shard_index(path) -> dict[str, Member]:
    """Member name -> ``Member`` of a shard, in shard order (cached until the file changes:
    a shard replaced by a download is a new file, another inode). Do not modify it."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as e:
        raise ShardError(f"{p}: cannot read shard ({e.strerror or e})") from None
    return _cached_index(str(p), st.st_size, st.st_mtime_ns, st.st_ino)


def read_shard(path) -> list[Sample]:
    """The samples of one shard, in shard order. Files of one sample must be adjacent
    (as webdataset writes them); a key seen again later starts a new sample, as in the
    webdataset library. Raises ``ShardError`` for a truncated or unreadable shard."""
    shard = str(path)
    samples: list[Sample] = []
    for m in shard_index(path).values():
        parts = split_name(m.name)
        if parts is None:
            continue
        key, ext = parts
        if not samples or samples[-1].key != key:
            samples.append(Sample(key, shard, {}))
        samples[-1].members[ext] = m
    return samples


def iter_samples(shards: Path | str | Iterable) -> Iterator[Sample]:
    """The samples of a folder's shards (natural order) or of the given shard paths."""
    if isinstance(shards, (str, os.PathLike)):
        shards = list_shards(shards)
    for s in shards:
        yield from read_shard(s)


def count_image_samples(folder) -> int:
    """Samples with an image in the shards directly in ``folder`` and one level below
    (``<split>/*.tar``); unreadable shards count zero."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    n = 0
    for sub in [folder] + sorted(p for p in folder.iterdir() if p.is_dir()):
        for shard in list_shards(sub):
            try:
                n += sum(1 for s in read_shard(shard) if s.image is not None)
            except ShardError:
                pass
    return n


# -------------------------------------------------------------------- reads
def read_range(shard, member: Member) -> bytes:
    """The bytes of ``member`` of ``shard`` (one seek, one read)."""
    with open(shard, "rb") as f:
        f.seek(member.offset)
        data = f.read(member.size)
    if len(data) != member.size:
        raise ShardError(f"{shard}: truncated inside {member.name} ({len(data):,} of {member.size:,} bytes)")
    return data


def read_member(ref) -> bytes:
    """The bytes of the member a ref names. ``FileNotFoundError`` when the shard holds no
    such member; ``ShardError`` when the shard is truncated or unreadable."""
    parts = split_ref(ref)
    if parts is None:
        raise ValueError(f"{ref!r} is not a member ref (<shard>.tar#<member>)")
    shard, name = parts
    member = shard_index(shard).get(name)
    if member is None:
        raise FileNotFoundError(f"{shard} holds no member {name!r}")
    return read_range(shard, member)


def member_stat(ref) -> tuple[int, int, int, int]:
    """(size of the shard, its modification time in ns, its inode, size of the member) of
    a ref, for fingerprints: a shard replaced by another file (a download lands by rename)
    never looks like the one it replaced, whatever its size. (-1, -1, -1, -1) when the
    shard or member cannot be read."""
    parts = split_ref(ref)
    if parts is None:
        raise ValueError(f"{ref!r} is not a member ref")
    try:
        st = os.stat(parts[0])
        member = shard_index(parts[0]).get(parts[1])
        return st.st_size, st.st_mtime_ns, st.st_ino, (member.size if member else -1)
    except OSError:
        return -1, -1, -1, -1
