"""Dataset downloads: fetch an archive, verify it, unpack it into the data root's layout.

``get_dataset(name, root)`` is what ``beyond-inet data get NAME`` runs. For each dataset
with a public source the plan in ``DOWNLOADS`` (the one table of URLs) says which files to
fetch, which member prefix of each archive holds the images, and which folder below the
data root they land in. The protocol:

1. Files go to ``<root>/.downloads/<filename>`` through ``<filename>.part``. An interrupted
   transfer resumes with an HTTP ``Range: bytes=<size of .part>-`` request (a server that
   ignores it answers 200 and the file starts over), both within one call (a few retries
   when a connection drops after making progress) and across calls.
2. A file whose checksum is known (``"sha256:<hex>"`` or ``"md5:<hex>"``) is verified
   before anything is unpacked; a mismatch deletes it and raises ``ChecksumMismatch``.
3. Archives (zip, tar, tar.gz) are unpacked into a staging folder next to the target and
   renamed into place only when every archive unpacked and held files: an error leaves no
   half-unpacked dataset. Members outside the staging folder (``..``, absolute paths) and
   links are never written.

A file found already in ``<root>/.downloads/`` or ``<root>/`` is used as is: that is how
license-gated or hard-to-fetch files (ImageNet val, vtab-1k.zip) get in, and how a machine
without internet is fed (copy the files there). ``BEYOND_INET_MIRROR`` (or ``mirror=``)
replaces every URL by ``<mirror>/<filename>``; ``urls={filename: url}`` overrides single
files. Connections time out after ``BEYOND_INET_TIMEOUT`` seconds (default 15), so a
machine without network fails fast with a message naming the URL and what to do.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import socket
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import ChecksumMismatch, DownloadError, ManualDownloadRequired

MIRROR_ENV = "BEYOND_INET_MIRROR"
TIMEOUT_ENV = "BEYOND_INET_TIMEOUT"
DEFAULT_TIMEOUT_S = 15.0
CHUNK_BYTES = 1 << 20
RETRIES_AFTER_PROGRESS = 5
DOWNLOADS_DIR = ".downloads"


class _Truncated(ConnectionError):
    """The server closed the connection before sending all announced bytes."""


# ----------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Source:
    """One file of a plan. ``url`` None: no public direct URL; the file must be put in
    ``<root>/.downloads/`` by hand (or served by a mirror). ``strip``: the member prefix of
    the archive that holds the dataset (members outside it are skipped, the prefix is
    removed). ``include``: optional regex a member's path (after ``strip``) must match."""

    url: str | None
    filename: str
    checksum: str | None = None        # "sha256:<hex>" | "md5:<hex>" | None (unknown)
    strip: str = ""
    include: str | None = None


@dataclass(frozen=True)
class DownloadPlan:
    """How to get one dataset (or several sharing an archive: ``datasets``)."""

    folder: str                        # target below the data root
    sources: tuple[Source, ...]
    datasets: tuple[str, ...]
    manual: str = ""                   # the steps when a source has no URL
    local_convert: Callable[[Path, bool], Path] | None = None  # (root, progress) -> folder
    verified: bool = True              # URLs and member prefixes checked against the real files


_HF = "https://huggingface.co/datasets"
_VAL_MANUAL = (
    "ImageNet val is license-gated: no automatic download.\n"
    "  1. Log in at https://image-net.org (free account; accept the terms of access).\n"
    "  2. Download ILSVRC2012_img_val.tar (6.3 GB) from the ILSVRC 2012 page.\n"
    "  3. Either put it in {root}/.downloads/ and run `beyond-inet data get imagenet-val --root {root}`\n"
    "     (verifies its md5 and unpacks it), or unpack it yourself:\n"
    "     mkdir -p {root}/imagenet-val && tar -xf ILSVRC2012_img_val.tar -C {root}/imagenet-val\n"
    "  Labels: none needed for this flat layout (the imagenet-x package ships all 50,000);\n"
    "  LOC_val_solution.csv or val_labels.txt in {root}/imagenet-val/ take precedence.\n"
    "  ImageNet-ReaL and ImageNet-X use these same images."
)
_VTAB_MANUAL = (
    "VTAB-1k has no direct public URL (it is shared as vtab-1k.zip on Google Drive by NOAH/VPT/RepAdapter).\n"
    "  1. On a connected machine: pip install gdown && gdown 1yZKwiKdsBzTfBgnStRveYMokc7GMMd5p\n"
    "  2. Copy vtab-1k.zip to {root}/.downloads/ and run `beyond-inet data get vtab --root {root}`.\n"
    "  Or build vtab/<task>/{{train800,val200,test}}/<label>/*.png yourself (e.g. from a tfds export)."
)
_HARD_MANUAL = (
    "ImageNet-Hard is published as parquet shards on the Hugging Face hub (file names change between revisions).\n"
    "  1. On a connected machine: huggingface-cli download taesiri/imagenet-hard --repo-type dataset "
    "--local-dir {root}/imagenet-hard/hf\n"
    "  2. Run `beyond-inet data get imagenet-hard --root {root}`: it converts the shards to "
    "imagenet-hard/images/ + labels.json, offline."
)


def _convert_hard(root: Path, progress: bool) -> Path:
    return convert_imagenet_hard(Path(root) / "imagenet-hard", progress=progress)


DOWNLOADS: dict[str, DownloadPlan] = {
    "cue-conflict": DownloadPlan(
        "cue-conflict",
        (Source("https://github.com/rgeirhos/texture-vs-shape/archive/refs/heads/master.zip",
                "texture-vs-shape-master.zip",
                strip="texture-vs-shape-master/stimuli/style-transfer-preprocessed-512/", include=r".*\.png$"),),
        ("cue-conflict",)),
    "imagenet-samples": DownloadPlan(
        "imagenet-samples",
        (Source("https://github.com/EliSchwartz/imagenet-sample-images/archive/refs/heads/master.zip",
                "imagenet-sample-images-master.zip",
                strip="imagenet-sample-images-master/", include=r"n\d{8}_[^/]*\.JPEG$"),),
        ("imagenet-samples",)),
    "imagenet-val": DownloadPlan(
        "imagenet-val",
        (Source(None, "ILSVRC2012_img_val.tar", checksum="md5:29b22e2961454d5413ddabcf34fc5622"),),
        ("imagenet-val", "imagenet-real"), manual=_VAL_MANUAL),
    "imagenet-v2": DownloadPlan(
        "imagenet-v2",
        (Source(f"{_HF}/vaishaal/ImageNetV2/resolve/main/imagenetv2-matched-frequency.tar.gz",
                "imagenetv2-matched-frequency.tar.gz", strip="imagenetv2-matched-frequency-format-val/"),),
        ("imagenet-v2",)),
    "imagenet-a": DownloadPlan(
        "imagenet-a",
        (Source("https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar", "imagenet-a.tar",
                strip="imagenet-a/"),),
        ("imagenet-a",)),
    "imagenet-r": DownloadPlan(
        "imagenet-r",
        (Source("https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar", "imagenet-r.tar",
                strip="imagenet-r/"),),
        ("imagenet-r",)),
    "imagenet-sketch": DownloadPlan(
        "imagenet-sketch",
        (Source(f"{_HF}/songweig/imagenet_sketch/resolve/main/data/ImageNet-Sketch.zip",
                "ImageNet-Sketch.zip", strip="sketch/"),),
        ("imagenet-sketch",)),
    # the 15 corruptions of the benchmark live in four tars (extra.tar holds the 4 extra ones)
    "imagenet-c": DownloadPlan(
        "imagenet-c",
        tuple(Source(f"https://zenodo.org/records/2235448/files/{part}.tar?download=1", f"{part}.tar")
              for part in ("noise", "blur", "weather", "digital")),
        ("imagenet-c",)),
    "pug-imagenet": DownloadPlan(
        "pug-imagenet",
        (Source("https://dl.fbaipublicfiles.com/large_objects/pug/PUG_ImageNet.tar.gz",
                "PUG_ImageNet.tar.gz", strip="PUG_ImageNet/"),),
        ("pug-imagenet",), verified=False),
    "imagenet-hard": DownloadPlan(
        "imagenet-hard", (), ("imagenet-hard",), manual=_HARD_MANUAL, local_convert=_convert_hard),
    "vtab": DownloadPlan(
        "vtab",
        (Source(None, "vtab-1k.zip", strip="vtab-1k/"),),
        (), manual=_VTAB_MANUAL, verified=False),
}


def plan_name_for(name: str) -> str:
    """The plan that provides dataset ``name`` (``imagenet-real`` -> ``imagenet-val``,
    ``vtab-dtd`` -> ``vtab``)."""
    if name in DOWNLOADS:
        return name
    if name.startswith("vtab-"):
        return "vtab"
    for key, plan in DOWNLOADS.items():
        if name in plan.datasets:
            return key
    known = sorted(set(DOWNLOADS) | {"imagenet-real", "imagenet-x", "vtab-<task>"})
    raise KeyError(f"no download known for {name!r}; known: {', '.join(known)}")


def downloadable_names() -> list[str]:
    """Every name ``get_dataset`` accepts: the registered datasets plus ``vtab`` (all 19
    VTAB-1k tasks at once)."""
    from .registry import DATASETS

    return sorted(set(DATASETS) | {"vtab"})


# ----------------------------------------------------------------------------- fetching
def connect_timeout() -> float:
    """Seconds before a connection (or a stalled read) is given up."""
    return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))


def file_checksum(path: Path, algo: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            h.update(block)
    return h.hexdigest()


def checksum_matches(path: Path, checksum: str | None) -> bool:
    """True when ``checksum`` ("algo:hex") is None or equals the file's digest."""
    if not checksum:
        return True
    algo, _, expected = checksum.partition(":")
    return file_checksum(path, algo).lower() == expected.lower()


def _fetch_once(url: str, part: Path, progress: bool, timeout: float) -> None:
    """One request: append to ``part`` from its current size (Range) or restart it when
    the server ignores the range. Raises ``_Truncated`` when the body ends early."""
    from tqdm.auto import tqdm

    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "beyond-inet"}
    if start:
        headers["Range"] = f"bytes={start}-"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
        if start and getattr(resp, "status", None) != 206:
            start = 0  # the server sent the whole file: start over
        length = resp.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        with open(part, "ab" if start else "wb") as f, \
                tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                     desc=part.name[:-len(".part")], disable=not progress, leave=False) as bar:
            while chunk := resp.read(CHUNK_BYTES):
                f.write(chunk)
                bar.update(len(chunk))
    if total is not None and part.stat().st_size < total:
        raise _Truncated(f"connection closed after {part.stat().st_size:,} of {total:,} bytes")


def download(url: str, dest: Path, *, checksum: str | None = None, progress: bool = True,
             timeout: float | None = None, retries: int = RETRIES_AFTER_PROGRESS) -> Path:
    """Fetch ``url`` to ``dest`` through ``dest.part``, resuming with HTTP Range; retry
    (resuming) while attempts make progress; verify ``checksum``; rename into place."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    timeout = connect_timeout() if timeout is None else timeout
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            _fetch_once(url, part, progress, timeout)
            break
        except urllib.error.HTTPError as e:
            if e.code == 416 and before:  # range past the end: the .part is already whole
                break
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, OSError) as e:
            after = part.stat().st_size if part.exists() else 0
            if after > before and retries > 0:
                retries -= 1
                continue  # progress was made: resume from the new size
            reason = getattr(e, "reason", None) or e
            raise DownloadError(f"could not download {url}: {reason}") from None
    if not checksum_matches(part, checksum):
        part.unlink()
        raise ChecksumMismatch(f"{url}: checksum mismatch (expected {checksum}); the file was deleted. "
                               "Run again to re-download; if it persists the source changed or is corrupt.")
    os.replace(part, dest)
    return dest


def resolve_url(src: Source, mirror: str | None = None, urls: dict | None = None) -> str | None:
    """The URL a source is fetched from: ``urls[filename]``, else ``<mirror>/<filename>``
    (``mirror`` or $BEYOND_INET_MIRROR), else the table's URL (None: no public URL)."""
    if urls and src.filename in urls:
        return urls[src.filename]
    mirror = mirror or os.environ.get(MIRROR_ENV)
    if mirror:
        return f"{mirror.rstrip('/')}/{src.filename}"
    return src.url


def find_local(root: Path, filename: str) -> Path | None:
    """A complete copy of ``filename`` placed by hand in ``<root>/.downloads/`` or ``<root>/``."""
    for p in (Path(root) / DOWNLOADS_DIR / filename, Path(root) / filename):
        if p.is_file():
            return p
    return None


# ---------------------------------------------------------------------------- unpacking
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


def unpack(archive: Path, src: Source, target: Path) -> int:
    """Write the members of ``archive`` selected by ``src.strip``/``src.include`` below
    ``target``; returns the number of files written."""
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


# ------------------------------------------------------------------------- ImageNet-Hard
def convert_imagenet_hard(folder: Path, progress: bool = True) -> Path:
    """Parquet shards of ``taesiri/imagenet-hard`` below ``folder`` -> ``folder/images/`` +
    ``folder/labels.json`` (a list of {file, labels, origin}). Columns read: ``image``
    ({bytes, path}), ``label`` (list of ImageNet indices, or one int), ``origin`` if present.
    labels.json is written last (atomically), so an interrupted run leaves no label file."""
    import json

    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    folder = Path(folder)
    shards = sorted(p for p in folder.rglob("*.parquet") if "images" not in p.parts)
    if not shards:
        raise ManualDownloadRequired(_HARD_MANUAL.format(root=folder.parent))
    staging = folder / f".images.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    records = []
    try:
        for shard in tqdm(shards, desc="imagenet-hard shards", disable=not progress, leave=False):
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


# ---------------------------------------------------------------------------- get_dataset
def _advice(name: str, plan: DownloadPlan, root: Path, src: Source) -> str:
    return (f"\nThis machine may have no internet access. Either run `beyond-inet data get {name} --root ROOT` "
            f"on a connected machine and copy {plan.folder}/ into {root}, or copy {src.filename} into "
            f"{root / DOWNLOADS_DIR}/ and run the command again here (or set {MIRROR_ENV} to a mirror "
            f"that serves {src.filename}).")


def _obtain(name: str, plan: DownloadPlan, src: Source, root: Path, *, progress: bool,
            mirror: str | None, urls: dict | None, timeout: float | None) -> Path:
    """The verified local file of ``src``: one placed by hand, or a (resumed) download."""
    local = find_local(root, src.filename)
    if local is not None:
        if not checksum_matches(local, src.checksum):
            raise ChecksumMismatch(f"{local}: checksum mismatch (expected {src.checksum}); "
                                   "delete it and fetch it again")
        return local
    url = resolve_url(src, mirror, urls)
    if url is None:
        raise ManualDownloadRequired(plan.manual.format(root=root))
    try:
        return download(url, root / DOWNLOADS_DIR / src.filename, checksum=src.checksum,
                        progress=progress, timeout=timeout)
    except ChecksumMismatch:
        raise
    except DownloadError as e:
        raise DownloadError(str(e) + _advice(name, plan, root, src)) from None


def get_dataset(name: str, root, *, force: bool = False, progress: bool = True,
                mirror: str | None = None, urls: dict | None = None,
                timeout: float | None = None, keep_archives: bool = False) -> Path:
    """Download and unpack dataset ``name`` into ``root`` (see the module docstring);
    returns the dataset folder. Already there and not ``force``: nothing is fetched.
    Archives downloaded by this call are deleted once unpacked unless ``keep_archives``.
    Raises ``ManualDownloadRequired`` (with the steps) for license-gated data such as
    ImageNet val, ``ChecksumMismatch``, or ``DownloadError`` (naming the URL and what to do)."""
    root = Path(root)
    if name == "imagenet-x":
        from imagenet_x.utils import get_annotation_path

        return Path(str(get_annotation_path()))  # shipped with the imagenet-x package
    plan = DOWNLOADS[plan_name_for(name)]
    dest = root / plan.folder
    if plan.local_convert is not None:
        if (dest / "labels.json").is_file() and not force:
            return dest
        return plan.local_convert(root, progress)
    if dest.exists() and not force:
        return dest
    root.mkdir(parents=True, exist_ok=True)
    fetched_here = [find_local(root, s.filename) is None for s in plan.sources]
    files = [_obtain(name, plan, s, root, progress=progress, mirror=mirror, urls=urls, timeout=timeout)
             for s in plan.sources]
    staging = root / f".{plan.folder.replace('/', '_')}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for f, s in zip(files, plan.sources):
            unpack(f, s, staging)
        _replace_folder(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not keep_archives:  # archives this call downloaded; files placed by hand stay
        for f, here in zip(files, fetched_here):
            if here:
                f.unlink(missing_ok=True)
    return dest


def _replace_folder(new: Path, dest: Path) -> None:
    """Rename ``new`` to ``dest``; an existing ``dest`` (force) is moved aside first and
    deleted only after the rename succeeded."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        os.replace(dest, old)
    os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)
