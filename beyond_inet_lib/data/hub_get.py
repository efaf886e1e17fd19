"""Installing a dataset from its copy on the Hugging Face hub (``sources.HUB``), and
checking an installed copy against the hub's checksums.

``get_from_hub(name, root, http)``:

1. A gated repository without a token stops here with what to do (no request is made).
2. The repository's listing at the source's revision gives the files (by the source's
   patterns) and each one's LFS sha256 or git blob id; for a ``prefix`` pattern only the
   first files (natural order) that hold the samples the dataset needs are taken.
3. Each file goes to a staging folder beside the target, ``.<folder>.hub-staging`` (a
   fixed name, so an interrupted run resumes its ``.part`` files and keeps the files it
   verified), and is verified against the listing before it gets its name; a file that
   fails its checksum is deleted and fetched once more, then named in the error.
4. Webdataset shards stay as they are (read in place); an archive is unpacked; parquet
   shards are converted. The staged folder is checked (every shard readable, no split
   empty) and renamed into place, with ``.hub-source.json`` (repository, revision, each
   file's size and checksum) for later checks.

``repair_hub_copy(name, root, http)`` checks an installed webdataset copy file by file
against that record (size, then checksum) and fetches again only the files that fail,
replacing them in place; a shard replaced so is a new file, so no cached result computed
from the bad one is used again (``DatasetIndex.fingerprint``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ChecksumMismatch, DownloadError
from . import webdataset
from .archives import unpack
from .hub import HubFile, HubGated, fetch_file, gated_message, hub_token, list_repo_files, select
from .sources import HubSource, Source, hub_source_for
from .transfer import HttpSettings, checksum_matches

MANIFEST = ".hub-source.json"
DOWNLOADS_DIR = ".downloads"
_SET_RE = re.compile(r"-of-(\d+)")


@dataclass(frozen=True)
class HubInstall:
    """What ``get_from_hub`` / ``repair_hub_copy`` did: the dataset folder, the files
    fetched, and those fetched again after failing their checksum."""

    path: Path
    fetched: tuple[str, ...] = ()
    refetched: tuple[str, ...] = ()


def command_for(name: str, root: Path) -> str:
    """The command that gets dataset ``name`` from its hub copy."""
    from .downloads import prefers_hub

    return f"beyond-inet data get {name} --root {root}" + ("" if prefers_hub(name) else " --source hub")


def _gated_help(name: str, src: HubSource, root: Path):
    from .downloads import manual_alternative

    def message(status: int | None = None) -> str:
        return gated_message(src.repo, name, command_for(name, root), token=bool(hub_token()),
                             alternative=manual_alternative(name, root), status=status)

    return message


# --------------------------------------------------------------------- choosing
def newest_complete_set(files: list[HubFile]) -> list[HubFile]:
    """Of shards named ``...-NNNNN-of-MMMMM...``, the complete set (MMMMM files) whose
    newest file was committed last: a repository can hold the shards of an earlier push
    beside the current ones (taesiri/imagenet-hard does), and reading both would count
    every image twice. Files of no set are kept."""
    sets: dict[str, list[HubFile]] = {}
    loose = []
    for f in files:
        m = _SET_RE.search(f.path)
        (sets.setdefault(m.group(1), []) if m else loose).append(f)
    complete = {n: fs for n, fs in sets.items() if len(fs) == int(n)}
    if not complete:
        return files
    best = max(complete.values(), key=lambda fs: max(f.last_commit for f in fs))
    return sorted(loose + best, key=lambda f: f.path)


def _natural(path: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]


def _samples_in(path: Path, layout: str) -> int:
    if layout == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return sum(1 for s in webdataset.read_shard(path) if s.image is not None)


# --------------------------------------------------------------------- fetching
def _fetch_verified(src: HubSource, f: HubFile, dest: Path, http: HttpSettings, gated_help,
                    refetched: list[str]) -> bool:
    """``dest`` holds ``f`` verified; True when it was downloaded now. A file already there
    that verifies is kept; one that fails its checksum (there, or as downloaded) is fetched
    once more."""
    if dest.is_file() and dest.stat().st_size == f.size and checksum_matches(dest, f.checksum):
        return False
    if dest.is_file():
        dest.unlink()
        refetched.append(f.path)
    for attempt in (1, 2):
        try:
            fetch_file(src.repo, src.revision, f, dest, http, gated_help=gated_help)
            return True
        except ChecksumMismatch as e:
            if attempt == 2:
                raise ChecksumMismatch(f"{src.repo}/{f.path}: fetched twice, both times with other bytes than "
                                       f"the hub lists ({f.checksum}); nothing was installed. {e}") from None
            refetched.append(f.path)
    return True


def _plan_files(src: HubSource, listing: list[HubFile]) -> tuple[list[HubFile], list[tuple[list[HubFile], int]]]:
    """(files fetched whole, [(files of a prefix pattern in natural order, samples needed)])."""
    chosen = select(listing, src.files)
    if src.newest_set:
        chosen = newest_complete_set(chosen)
    prefixed, taken = [], set()
    for pattern, n in src.prefix:
        part = sorted(select(chosen, [pattern]), key=lambda f: _natural(f.path))
        prefixed.append((part, n))
        taken |= {f.path for f in part}
    return [f for f in chosen if f.path not in taken], prefixed


def _check_staged(name: str, src: HubSource, staging: Path) -> None:
    """Every staged shard readable (``ShardError`` otherwise); no split folder of shards
    without image samples."""
    if src.layout != "webdataset":
        return
    for split in sorted({p.parent for p in staging.rglob("*.tar")}):
        shards = webdataset.list_shards(split)
        if not any(s.image is not None for s in webdataset.iter_samples(shards)):
            raise DownloadError(f"{name}: {src.repo} {split.relative_to(staging).as_posix()}/ holds no image "
                                f"samples (shards: {', '.join(p.name for p in shards)}); nothing was installed")


def get_from_hub(name: str, root, http: HttpSettings, *, keep_archives: bool = False) -> HubInstall:
    """Install dataset ``name`` (or the dataset whose copy provides it) from its hub copy
    into ``root`` (see the module docstring); replaces what is at its folder."""
    from .downloads import replace_folder

    root = Path(root)
    found = hub_source_for(name)
    if found is None:
        raise KeyError(f"{name}: no copy on the Hugging Face hub is known")
    key, src = found
    gated_help = _gated_help(key, src, root) if src.gated else None
    if src.gated and not hub_token():
        raise HubGated(gated_help())
    try:
        listing = list_repo_files(src.repo, src.revision, expand=src.newest_set)
    except HubGated:
        raise
    except DownloadError as e:
        raise DownloadError(
            f"{e}\nThis machine may have no access to the hub. Either run `{command_for(key, root)}` on a "
            f"connected machine and copy {src.folder}/ into {root}, or set HF_ENDPOINT to a mirror of the "
            "hub that serves this repository.") from None
    whole, prefixed = _plan_files(src, listing)
    if not whole and not any(part for part, _n in prefixed):
        shown = ", ".join(f.path for f in listing[:8]) or "nothing"
        raise DownloadError(f"{key}: {src.repo}@{src.revision} holds no file matching {', '.join(src.files)} "
                            f"(it lists {shown}); the repository's layout may have changed. Nothing was installed.")
    dest = root / src.folder
    staging = root / f".{src.folder.replace('/', '_')}.hub-staging"
    files_dir = staging / "hf" if src.layout == "parquet" else staging
    fetched, refetched, kept = [], [], []
    root.mkdir(parents=True, exist_ok=True)
    try:
        archives = []
        for f in whole:
            if src.layout == "archive":
                target = root / DOWNLOADS_DIR / Path(f.path).name
                archives.append(target)
            else:
                target = files_dir / f.path
            if _fetch_verified(src, f, target, http, gated_help, refetched):
                fetched.append(f.path)
            kept.append(f)
        for part, need in prefixed:
            have = 0
            for f in part:
                if have >= need:
                    break
                target = files_dir / f.path
                if _fetch_verified(src, f, target, http, gated_help, refetched):
                    fetched.append(f.path)
                kept.append(f)
                have += _samples_in(target, src.layout)
        # a file staged by an earlier run that this listing no longer selects is not installed
        wanted = {(files_dir / f.path).resolve() for f in kept}
        for p in sorted(files_dir.rglob("*"), reverse=True):
            if p.is_file() and p.resolve() not in wanted:
                p.unlink()
        if src.layout == "archive":
            for a in archives:
                unpack(a, Source(None, a.name, strip=src.strip), staging)
        elif src.layout == "parquet":
            src.convert(staging, http.progress)
        _check_staged(key, src, staging)
        record = {"repo": src.repo, "revision": src.revision, "layout": src.layout,
                  "files": [{"path": f.path, "size": f.size, "checksum": f.checksum} for f in kept]}
        (staging / MANIFEST).write_text(json.dumps(record, indent=1))
        replace_folder(staging, dest)
    except webdataset.ShardError as e:
        raise DownloadError(f"{key}: {e}; it passed its checksum, so the hub copy itself is broken. "
                            "Nothing was installed.") from None
    if src.layout == "archive" and not keep_archives:
        for a in archives:
            a.unlink(missing_ok=True)
    return HubInstall(dest, tuple(fetched), tuple(refetched))


def read_manifest(folder: Path) -> dict | None:
    """The ``.hub-source.json`` record of an installed hub copy, or None."""
    p = Path(folder) / MANIFEST
    return json.loads(p.read_text()) if p.is_file() else None


def repair_hub_copy(name: str, root, http: HttpSettings) -> HubInstall | None:
    """Check the installed webdataset copy of ``name`` against its record and fetch again
    the files that are missing, have another size or fail their checksum (each replaced
    in place, verified first). None when ``name`` has no installed
    hub copy to check (not from the hub, or unpacked / converted files)."""
    found = hub_source_for(name)
    if found is None:
        return None
    key, src = found
    dest = Path(root) / src.folder
    record = read_manifest(dest)
    if record is None or record.get("layout") != "webdataset":
        return None
    bad = []
    for entry in record["files"]:
        p = dest / entry["path"]
        if not p.is_file() or p.stat().st_size != entry["size"] or not checksum_matches(p, entry["checksum"]):
            bad.append(entry)
    if not bad:
        return HubInstall(dest)
    gated_help = _gated_help(key, src, Path(root)) if src.gated else None
    refetched = []
    for entry in bad:
        algo, _, digest = entry["checksum"].partition(":")
        f = HubFile(entry["path"], entry["size"], digest if algo == "sha256" else None,
                    digest if algo == "git-sha1" else "")
        tmp = dest / f"{entry['path']}.refetch"
        tmp.unlink(missing_ok=True)
        _fetch_verified(src, f, tmp, http, gated_help, [])
        os.replace(tmp, dest / entry["path"])   # a new file: the cache keys of its images change
        refetched.append(entry["path"])
    return HubInstall(dest, (), tuple(refetched))


def remove_staging(root, name: str) -> None:
    """Forget a half-done hub install of ``name`` (its staged, verified files included)."""
    found = hub_source_for(name)
    if found:
        shutil.rmtree(Path(root) / f".{found[1].folder.replace('/', '_')}.hub-staging", ignore_errors=True)
