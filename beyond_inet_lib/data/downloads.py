"""``beyond-inet data get``: fetch a dataset, verify it, install it into the data root.

``get_dataset(name, root)`` installs one dataset; ``fetch_missing(names, root)`` installs
every one of ``names`` that is not there yet and says, per dataset, what happened (the
report runs it before the notebooks). The plans (URLs, archive prefixes, checks) are in
``sources.DOWNLOADS``. The protocol:

1. Files go to ``<root>/.downloads/<filename>`` through ``<filename>.part``, resumed with
   HTTP Range after an interruption (``transfer.download``). A known checksum is verified
   before anything is unpacked; a mismatch deletes the file and raises ``ChecksumMismatch``.
2. Archives (zip, tar, tar.gz) and plain files are unpacked into a staging folder next to
   the target; the plan's check (``finish``) then verifies, and repairs where it can, the
   staged files. Only then is the folder renamed into place: an error leaves no
   half-written dataset. Members outside the staging folder (``..``, absolute paths) and
   links are never written.
3. Where the authors' files have no public URL (ImageNet val, ImageNet-Hard, VTAB-1k), or
   when asked (``source="hub"``), the dataset comes from its copy on the Hugging Face hub
   instead (``sources.HUB``, installed by ``hub_get``): listed at a fixed revision, each
   file verified against the hub's checksum, webdataset shards kept and read in place.

A file found already in ``<root>/.downloads/`` or ``<root>/`` is used as is: that is how
license-gated or hard-to-fetch files (ImageNet val's tar, vtab-1k.zip) get in, and how a
machine without internet is fed (copy the files there). ``BEYOND_INET_MIRROR`` (or ``mirror=``)
replaces every table URL by ``<mirror>/<filename>``; ``BEYOND_INET_URL_REWRITE`` (or
``rewrite=``) sends hosts elsewhere keeping each URL's path; ``urls={filename: url}``
overrides single files. Connecting gives up after ``BEYOND_INET_TIMEOUT`` seconds (default
5), so a machine without network fails in seconds with a message naming the URL and what
to do.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ChecksumMismatch, DownloadError, ManualDownloadRequired, UserError
from .archives import unpack
from .presence import dataset_presence
from .sources import (  # noqa: F401  (DOWNLOADS, plan_name_for, downloadable_names: this module's API)
    DOWNLOADS,
    HUB,
    SHIPPED,
    DownloadPlan,
    Source,
    downloadable_names,
    HUB_SHARED,
    hub_source_for,
    plan_datasets,
    plan_name_for,
)
from .transfer import HttpSettings, checksum_matches, download  # noqa: F401  (download: API)

MIRROR_ENV = "BEYOND_INET_MIRROR"
DOWNLOADS_DIR = ".downloads"
#: where ``data get`` takes a dataset from: ``auto`` (the authors' archive where it has a
#: public URL or its file was put in ``.downloads/``, else the hub copy), ``authors``, ``hub``
SOURCES = ("auto", "authors", "hub")


# ------------------------------------------------------------------- the files
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


def _advice(name: str, plan: DownloadPlan, root: Path, src: Source) -> str:
    return "\n" + "\n".join(offline_advice([name], root))


def _obtain(name: str, plan: DownloadPlan, src: Source, root: Path, http: HttpSettings,
            mirror: str | None, urls: dict | None) -> Path:
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
        return http.download(url, root / DOWNLOADS_DIR / src.filename, checksum=src.checksum)
    except ChecksumMismatch:
        raise
    except DownloadError as e:
        raise DownloadError(str(e) + _advice(name, plan, root, src)) from None


# --------------------------------------------------------------- which source
def _placed_by_hand(key: str, root: Path) -> bool:
    """The authors' files of plan ``key`` are already here (put in ``.downloads/`` or the
    root; for ImageNet-Hard, parquet shards below its folder)."""
    plan = DOWNLOADS[key]
    if plan.local_convert is not None:
        folder = root / plan.folder
        return folder.is_dir() and any(p for p in folder.rglob("*.parquet") if "images" not in p.parts)
    return bool(plan.sources) and all(find_local(root, s.filename) for s in plan.sources)


def prefers_hub(name: str, root: Path | None = None) -> bool:
    """Under the default source, is dataset ``name`` taken from its hub copy? Yes when it
    has one and its authors' files have no public URL (ImageNet val, ImageNet-Hard,
    VTAB-1k), unless those files were put here by hand."""
    if name in SHIPPED or hub_source_for(name) is None:
        return False
    key = plan_name_for(name)
    if DOWNLOADS[key].public:
        return False
    return root is None or not _placed_by_hand(key, Path(root))


def route(name: str, root: Path, source: str = "auto") -> str:
    """'hub' or 'authors': where ``data get`` takes dataset ``name`` from."""
    if source not in SOURCES:
        raise ValueError(f"source={source!r}; expected one of {', '.join(SOURCES)}")
    if name in SHIPPED or source == "authors" or hub_source_for(name) is None:
        return "authors"
    if source == "hub":
        return "hub"
    return "hub" if prefers_hub(name, root) else "authors"


def manual_alternative(name: str, root: Path) -> str:
    """The way around the hub for a dataset whose authors' file is placed by hand ('' if none)."""
    key = plan_name_for(name) if name not in SHIPPED else name
    plan = DOWNLOADS.get(key)
    if plan is None or plan.public or not plan.sources:
        return ""
    files = ", ".join(s.filename for s in plan.sources)
    return (f"put {files} in {Path(root) / DOWNLOADS_DIR}/ and run `beyond-inet data get {name} --root {root}`"
            + (" (the tar from image-net.org, after accepting its terms there)" if key == "imagenet-val" else ""))


def _hub_names(name: str) -> list[str]:
    """The datasets with a hub copy that ``name`` stands for (``vtab``: the 19 tasks)."""
    if name == "vtab":
        return list(plan_datasets("vtab"))
    found = hub_source_for(name)
    return [found[0]] if found else []


# ------------------------------------------------------------------ get_dataset
def get_dataset(name: str, root, *, force: bool = False, progress: bool = True,
                mirror: str | None = None, urls: dict | None = None, timeout: float | None = None,
                rewrite: dict | None = None, keep_archives: bool = False, source: str = "auto") -> Path:
    """Download, verify and install dataset ``name`` into ``root`` (see the module
    docstring); returns the dataset folder. ``source``: ``auto`` (the authors' archive
    where it has a public URL or was put in ``.downloads/``, else the hub copy),
    ``authors`` or ``hub`` (``route``). Already there and not ``force``: nothing is
    fetched. Archives downloaded by this call are deleted once unpacked unless
    ``keep_archives``. Raises ``ManualDownloadRequired`` (with the steps) for data with no
    automatic source, ``HubGated`` (what to do) for a gated hub copy without access,
    ``ChecksumMismatch``, or ``DownloadError`` (naming the URL and what to do)."""
    root = Path(root)
    if name in SHIPPED:
        from imagenet_x.utils import get_annotation_path

        return Path(str(get_annotation_path()))  # shipped with the imagenet-x package
    hub_names = _hub_names(name)
    if hub_names and all(route(n, root, source) == "hub" for n in hub_names):
        from .hub_get import get_from_hub

        http = HttpSettings(progress=progress, timeout=timeout, rewrite=rewrite)
        paths = []
        for n in hub_names:
            dest = root / HUB[n].folder
            if dest.exists() and not force:
                paths.append(dest)
                continue
            paths.append(get_from_hub(n, root, http, keep_archives=keep_archives).path)
        return paths[0] if len(paths) == 1 else root / DOWNLOADS[plan_name_for(name)].folder
    plan = DOWNLOADS[plan_name_for(name)]
    dest = root / plan.folder
    if plan.local_convert is not None:
        if (dest / "labels.json").is_file() and not force:
            return dest
        return plan.local_convert(root, progress)
    if dest.exists() and not force:
        return dest
    root.mkdir(parents=True, exist_ok=True)
    http = HttpSettings(progress=progress, timeout=timeout, rewrite=rewrite)
    fetched_here = [find_local(root, s.filename) is None for s in plan.sources]
    files = [_obtain(name, plan, s, root, http, mirror, urls) for s in plan.sources]
    staging = root / f".{plan.folder.replace('/', '_')}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for f, s in zip(files, plan.sources):
            unpack(f, s, staging)
        if plan.finish is not None:
            plan.finish(staging, http)
        replace_folder(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not keep_archives:  # archives this call downloaded; files placed by hand stay
        for f, here in zip(files, fetched_here):
            if here:
                f.unlink(missing_ok=True)
    return dest


def replace_folder(new: Path, dest: Path) -> None:
    """Rename ``new`` to ``dest``; an existing ``dest`` (force) is moved aside first and
    deleted only after the rename succeeded."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        os.replace(dest, old)
    os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- fetch_missing
@dataclass(frozen=True)
class FetchOutcome:
    """What ``fetch_missing`` did for one dataset (or one plan: ``vtab`` = 19 tasks)."""

    name: str
    status: str            # 'fetched' | 'present' | 'failed'
    reason: str            # one line
    path: Path | None = None
    message: str = ""      # the whole error message (failed only)


@dataclass
class FetchReport:
    """Per dataset: fetched, already there, or failed (with a one-line reason each), and
    the one command that gets the rest."""

    root: Path
    outcomes: list[FetchOutcome] = field(default_factory=list)
    source: str = "auto"

    def names(self, status: str) -> list[str]:
        return [o.name for o in self.outcomes if o.status == status]

    @property
    def fetched(self) -> list[str]:
        return self.names("fetched")

    @property
    def present(self) -> list[str]:
        return self.names("present")

    @property
    def failed(self) -> list[str]:
        return self.names("failed")

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def command(self) -> str:
        """The command that gets what failed ('' when nothing did)."""
        if not self.failed:
            return ""
        extra = "" if self.source == "auto" else f" --source {self.source}"
        return f"beyond-inet data get {' '.join(self.failed)} --root {self.root}{extra}"

    def __str__(self) -> str:
        labels = {"fetched": "fetched", "present": "already there", "failed": "FAILED"}
        w = max([len(o.name) for o in self.outcomes] + [4])
        lines = [f"{labels[o.status]:<13}  {o.name:<{w}}  {o.reason}" for o in self.outcomes]
        if self.command:
            lines.append(f"to get the rest: {self.command}")
        return "\n".join(lines)


def _unit_datasets(unit: str, via: str) -> tuple[str, ...]:
    """The registered datasets one fetch unit installs: a plan's, or a hub copy's (with
    the datasets that share it: imagenet-real is imagenet-val's images)."""
    if via != "hub":
        return plan_datasets(unit)
    return (unit,) + tuple(k for k, v in HUB_SHARED.items() if v == unit)


def _presence_line(names: tuple[str, ...], root: Path) -> tuple[str, str]:
    """(worst status over ``names``, a one-line count)."""
    pres = [dataset_presence(n, root) for n in names]
    found = sum(p.found_count for p in pres)
    expected = sum(p.expected_count or 0 for p in pres)
    statuses = {p.status for p in pres}
    status = "absent" if "absent" in statuses else "partial" if "partial" in statuses else "found"
    count = f"{found:,} of {expected:,}" if expected else f"{found:,}"
    return status, count


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def fetch_units(names, root: Path, source: str = "auto") -> list[tuple[str, str]]:
    """(unit, 'hub' | 'authors' | 'shipped') for each thing to fetch for ``names``, in
    order, each once: a plan of the authors' files (the 19 VTAB tasks share vtab-1k.zip),
    or one dataset's hub copy. ``KeyError`` for an unknown name (a typo, not a failure)."""
    units = []
    for name in names:
        if name in SHIPPED:
            found = [(name, "shipped")]
        else:
            key = plan_name_for(name)   # KeyError: a typo
            hub = [n for n in _hub_names(name) if route(n, root, source) == "hub"]
            found = [(n, "hub") for n in hub] or [(key, "authors")]
        units += [u for u in found if u not in units]
    return units


def fetch_missing(names, root, progress: bool = True, *, force: bool = False, mirror: str | None = None,
                  rewrite: dict | None = None, timeout: float | None = None, source: str = "auto",
                  verify: bool = False) -> FetchReport:
    """Install each dataset of ``names`` that is absent under ``root``; never raises for a
    dataset that cannot be had (no network, license-gated, checksum): it is reported as
    failed with a one-line reason, and ``report.command`` is the command that gets the
    rest. Names are datasets or plans (``vtab``); several names sharing one download
    (the 19 VTAB tasks in vtab-1k.zip) are fetched once. ``source``: see ``route``. A
    dataset found partially is left as it is (``--force`` replaces it). ``verify``: a hub
    copy already there is checked file by file against the hub's checksums, and the files
    that fail (truncated, corrupted) are fetched again. Offline, each source fails after
    the connect timeout (the hub: at once with HF_HUB_OFFLINE=1, else after its probe)."""
    root = Path(root)
    report = FetchReport(root, source=source)
    for unit, via in fetch_units(names, root, source):
        if via == "shipped":
            report.outcomes.append(FetchOutcome(unit, "present", SHIPPED[unit]))
            continue
        folder = HUB[unit].folder if via == "hub" else DOWNLOADS[unit].folder
        dest = root / folder
        status, count = _presence_line(_unit_datasets(unit, via), root)
        if status != "absent" and not force:
            note = "" if status == "found" else f" (partial; `beyond-inet data get {unit} --force` replaces it)"
            repaired = None
            if via == "hub" and verify:
                try:
                    repaired = _repair(unit, root, progress, timeout, rewrite)
                except UserError as e:
                    report.outcomes.append(FetchOutcome(unit, "failed", _first_line(e), None, str(e)))
                    continue
            if repaired:
                _status, count = _presence_line(_unit_datasets(unit, via), root)
                report.outcomes.append(FetchOutcome(
                    unit, "fetched", f"re-fetched {', '.join(repaired)} (failed the hub's checksum); "
                    f"{count} at {dest}", dest))
            else:
                checked = " (every file verified against the hub)" if via == "hub" and verify and \
                    repaired is not None else ""
                report.outcomes.append(FetchOutcome(unit, "present", f"{count} at {dest}{note}{checked}", dest))
            continue
        if via == "authors" and DOWNLOADS[unit].local_convert is None and dest.is_dir() and any(dest.iterdir()) \
                and not force:
            report.outcomes.append(FetchOutcome(
                unit, "failed", f"{dest} exists but holds none of the expected files: move it away, "
                f"or replace it with `beyond-inet data get {unit} --force`", dest))
            continue
        try:
            path = get_dataset(unit, root, force=True, progress=progress, mirror=mirror, rewrite=rewrite,
                               timeout=timeout, source="hub" if via == "hub" else "authors")
        except UserError as e:
            report.outcomes.append(FetchOutcome(unit, "failed", _first_line(e), None, str(e)))
            continue
        status, count = _presence_line(_unit_datasets(unit, via), root)
        where = f" from {HUB[unit].repo}" if via == "hub" else ""
        short = "; ".join(p.missing for p in (dataset_presence(n, root) for n in _unit_datasets(unit, via))
                          if p.missing)
        sizes = f" (fewer than the full dataset: {short})" if status == "partial" and short else ""
        report.outcomes.append(FetchOutcome(unit, "fetched", f"{count} at {path}{where}{sizes}", path))
    return report


def _repair(unit: str, root: Path, progress: bool, timeout, rewrite) -> list[str] | None:
    """The files of a hub copy fetched again after failing their check ([] when all pass;
    None when there is no record to check against)."""
    from .hub_get import repair_hub_copy

    done = repair_hub_copy(unit, root, HttpSettings(progress=progress, timeout=timeout, rewrite=rewrite))
    return None if done is None else list(done.refetched)


def public_plans(names) -> tuple[list[str], list[str]]:
    """(what of ``names`` ``data get`` fetches with no step by hand: the plans with public
    URLs and the datasets with a hub copy; the plans that need a file put here by hand).
    Shipped datasets are dropped; imagenet-real counts as imagenet-val (its images)."""
    public, manual = [], []
    for name in names:
        if name in SHIPPED:
            continue
        key = plan_name_for(name)
        if DOWNLOADS[key].public:
            item, bucket = key, public
        elif _hub_names(name):
            item, bucket = HUB_SHARED.get(name, name), public
        else:
            item, bucket = key, manual
        if item not in bucket:
            bucket.append(item)
    return public, manual


# ------------------------------------------------------------------ without network
def _files_text(names: list[str], limit: int = 3) -> str:
    """'a.csv, b.csv, ... j.csv (10 files)' for a long list, all of them for a short one."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:2])}, ... {names[-1]} ({len(names)} files)"


def offline_advice(names, root) -> list[str]:
    """The ways to get datasets ``names`` into ``root`` when this machine cannot download
    them, one per line: the command on a connected machine and the folders to copy; the
    files to place in ``<root>/.downloads/``; a mirror. What ``data get`` says after a failed
    download and the report says once before its pages."""
    root = Path(root)
    keys = list(dict.fromkeys(name if name in SHIPPED else plan_name_for(name) for name in names))
    keys = [k for k in keys if k not in SHIPPED]
    plans = [DOWNLOADS[k] for k in keys]
    command = f"beyond-inet data get {' '.join(keys)} --root {root}"
    folders = ", ".join(f"{f}/" for f in dict.fromkeys(p.folder for p in plans))
    files = [_files_text([src.filename for src in p.sources]) for p in plans]
    lines = ["This machine may have no internet access. Any one of these gets them:",
             "  - in a checkout on a connected machine run",
             f"      `beyond-inet data get {' '.join(keys)}` (into its data/),",
             f"    then copy {folders}",
             f"    from that data/ into {root}/ here;"]
    if len(files) == 1:
        lines.append(f"  - or copy {files[0]} into {root / DOWNLOADS_DIR}/ and run `{command}` here;")
    else:
        lines.append(f"  - or copy these files into {root / DOWNLOADS_DIR}/ and run `{command}` here:")
        lines += [f"      {f}" for f in files]
    lines += [f"  - or set {MIRROR_ENV} to a mirror that serves those files (or BEYOND_INET_URL_REWRITE to "
              "send their hosts to one)", f"    and run `{command}`."]
    return lines
