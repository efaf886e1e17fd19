"""The dataset registry: what each dataset is, where it lives, how to get it.

Every dataset is a loader registered with ``@register_dataset`` that, given a data root,
returns a ``DatasetIndex`` or raises ``DatasetMissing`` with a message that says where it
looked, the layout it expects and how to get it. The catalogue modules (``demo``,
``imagenet``, ``pug``, ``vtab``) register theirs when the package is imported and add
their named groups to ``DATASET_GROUPS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import DatasetMissing
from .index import DatasetIndex, shard_rows


@dataclass(frozen=True)
class Presence:
    """What ``check_datasets`` reports for one dataset: how many items (images, or files
    for the reference tables) were found where, against how many the full dataset has,
    and a short text of what is missing."""

    found_count: int
    expected_count: int | None
    path: Path | None
    missing: str = ""

    @property
    def status(self) -> str:
        """'found' (all there), 'partial' (some), 'absent' (none)."""
        if self.found_count <= 0:
            return "absent"
        if self.expected_count and self.found_count < self.expected_count:
            return "partial"
        return "found"


#: how to get a dataset that has a download plan (``sources.DOWNLOADS``): the default
#: ``how_to_get`` of ``register_dataset``
DATA_GET = "beyond-inet data get {name} --root DATA_ROOT"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    loader: Callable[..., DatasetIndex]
    layout: str
    source: str
    license: str
    how_to_get: str
    expected_count: int | None = None
    properties: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()     # candidate folders below the data root, first = canonical
    group: str = ""                   # see DATASET_GROUPS
    presence: Callable[[Path], Presence] | None = None  # custom presence check (default: count images)
    title: str = ""                   # display name ("ImageNet-A")

    def folder_in(self, root) -> Path | None:
        """The first candidate folder that exists below ``root``, or None."""
        return first_existing(Path(root), self.folders or (self.name,))

    def canonical_folder(self, root) -> Path:
        """Where ``data get`` puts the dataset: ``root / folders[0]``."""
        return Path(root) / (self.folders or (self.name,))[0]


DATASETS: dict[str, DatasetInfo] = {}

#: named lists of datasets (``demo``, ``imagenet``, ``robustness``, ``synthetic``,
#: ``vtab``, ``vtab-natural`` ...), filled by the catalogue modules
DATASET_GROUPS: dict[str, tuple[str, ...]] = {}


def register_dataset(name: str, *, layout: str, source: str, license: str, how_to_get: str | None = None,
                     expected_count: int | None = None, properties: tuple[str, ...] = (),
                     folders: tuple[str, ...] = (), group: str = "",
                     presence: Callable[[Path], Presence] | None = None, title: str = ""):
    """Decorator: ``loader(root: Path, **kwargs) -> DatasetIndex``, ``root`` being the
    data root (the dataset folder is found inside it, among ``folders``). ``how_to_get``:
    the command or steps that get it (default: ``beyond-inet data get <name>``, for a
    dataset ``data get`` downloads from its source)."""

    def wrap(fn):
        DATASETS[name] = DatasetInfo(name, fn, layout, source, license, how_to_get or DATA_GET.format(name=name),
                                     expected_count, tuple(properties), tuple(folders) or (name,),
                                     group, presence, title or name)
        return fn

    return wrap


def first_existing(root: Path, candidates) -> Path | None:
    """The first ``root / c`` that is a folder, or None."""
    for c in candidates:
        p = Path(root) / c
        if p.is_dir():
            return p
    return None


def missing(name: str, root: Path, found: str = "") -> DatasetMissing:
    """A ``DatasetMissing`` built from the registry entry of ``name``."""
    info = DATASETS[name]
    looked = " or ".join(str(Path(root) / f) for f in info.folders)
    return DatasetMissing(name, looked, info.layout, info.how_to_get.replace("DATA_ROOT", str(root)), found)


def webdataset_rows(name: str, root: Path, folder: Path) -> list[dict] | None:
    """``index.shard_rows`` of dataset ``name``'s shards in ``folder`` (label = the ``cls``
    text); a truncated or unreadable shard is a ``DatasetMissing`` that names it and the
    command that fetches it again. None when ``folder`` holds no shard."""
    from .webdataset import ShardError

    try:
        return shard_rows(root, folder)
    except ShardError as e:
        raise missing(name, root, found=f"{e}. `beyond-inet data get {name} --root {root}` checks every "
                                        "shard against the hub's checksums and fetches the bad ones again") from None


def load_dataset(name: str, root, **kwargs) -> DatasetIndex:
    """Load a registered dataset from the data root; raises ``DatasetMissing``."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    if root is None:
        info = DATASETS[name]
        raise DatasetMissing(name, "(no data root set)", info.layout, info.how_to_get)
    return DATASETS[name].loader(Path(root), **kwargs)


def assets_dir() -> Path:
    """The folder of small reference tables shipped with the package."""
    return Path(__file__).resolve().parent.parent / "assets"
