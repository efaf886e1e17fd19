"""VTAB-1k: 19 transfer tasks, 800 train + 200 val images each and the full test split.

Labels are in each TASK's own class space (``meta['label_space']``), not ImageNet's. The
``split`` column says ``train`` / ``val`` / ``test`` like every table of the package; on
disk the splits keep VTAB-1k's names (``train800`` / ``val200`` / ``test`` folders or
``.txt`` listings; the ``train800val200`` union listing is not read), or are CLIP_benchmark's
webdataset copy from the Hugging Face hub (``train/`` and ``test/`` shards, read in place),
whose rows map to VTAB-1k's splits as ``VTAB_HUB_SPLITS`` says; ``meta['hub_splits']`` then
says so for the page.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import pandas as pd

from .index import DatasetIndex, list_images
from .presence import Presence
from ..errors import DatasetMissing
from .registry import DATASET_GROUPS, DATASETS, missing, register_dataset, webdataset_rows

VTAB_TASKS = {
    "caltech101": "natural", "cifar100": "natural", "dtd": "natural", "oxford_flowers102": "natural",
    "oxford_iiit_pet": "natural", "sun397": "natural", "svhn": "natural",
    "patch_camelyon": "specialized", "eurosat": "specialized", "resisc45": "specialized",
    "diabetic_retinopathy": "specialized",
    "clevr_count": "structured", "clevr_distance": "structured", "dmlab": "structured",
    "dsprites_location": "structured", "dsprites_orientation": "structured", "kitti_distance": "structured",
    "smallnorb_azimuth": "structured", "smallnorb_elevation": "structured",
}
# folder names used by the widely shared vtab-1k.zip (NOAH / VPT / RepAdapter)
VTAB_FOLDER_ALIASES = {
    "cifar100": ("cifar",), "clevr_distance": ("clevr_dist",), "dsprites_location": ("dsprites_loc",),
    "dsprites_orientation": ("dsprites_ori",), "kitti_distance": ("kitti",),
    "smallnorb_azimuth": ("smallnorb_azi",), "smallnorb_elevation": ("smallnorb_ele",),
}
#: split name in the tables -> its name on disk (folder or ``<name>.txt`` listing)
VTAB_SPLIT_FILES = {"train": "train800", "val": "val200", "test": "test"}
#: split name in the tables -> the split of a hub webdataset copy (CLIP_benchmark's
#: wds_vtab-<task>: VTAB's train and test splits, no val split) whose rows it takes:
#: train800 = train rows 0-799, val200 = train rows 800-999 (``hub_train_val_counts``),
#: test = every test row. VTAB-1k's own val200 comes from VTAB's val split, which the hub
#: copy does not hold: the hub's val200 is other images of the same distribution.
VTAB_HUB_SPLITS = {"train": "train", "val": "train", "test": "test"}
VTAB_HUB_TRAIN_ROWS = 1000
HUB_SPLITS_NOTE = ("read from the task's copy on the Hugging Face hub (CLIP_benchmark's webdataset of VTAB's "
                   "train and test splits): train800 = its first 800 train rows, val200 = the next 200 (the copy "
                   "has no val split, so these are not VTAB-1k's own val200 images), test = VTAB's full test split")
VTAB_SPLITS = tuple(VTAB_SPLIT_FILES)
# test-split sizes of VTAB-1k (Zhai et al. 2019; as tabulated by VPT)
VTAB_TEST_SIZES = {
    "caltech101": 6084, "cifar100": 10000, "dtd": 1880, "oxford_flowers102": 6149, "oxford_iiit_pet": 3669,
    "sun397": 21750, "svhn": 26032, "patch_camelyon": 32768, "eurosat": 5400, "resisc45": 6300,
    "diabetic_retinopathy": 42670, "clevr_count": 15000, "clevr_distance": 15000, "dmlab": 22735,
    "dsprites_location": 73728, "dsprites_orientation": 73728, "kitti_distance": 711,
    "smallnorb_azimuth": 12150, "smallnorb_elevation": 12150,
}
# classes per task (the label space of each task's own labels; as the VTAB-1k users tabulate them)
VTAB_NUM_CLASSES = {
    "caltech101": 102, "cifar100": 100, "dtd": 47, "oxford_flowers102": 102, "oxford_iiit_pet": 37,
    "sun397": 397, "svhn": 10, "patch_camelyon": 2, "eurosat": 10, "resisc45": 45, "diabetic_retinopathy": 5,
    "clevr_count": 8, "clevr_distance": 6, "dmlab": 6, "dsprites_location": 16, "dsprites_orientation": 16,
    "kitti_distance": 4, "smallnorb_azimuth": 18, "smallnorb_elevation": 9,
}
VTAB_LAYOUT = (
    "vtab/<task>/{train800,val200,test}/<label>/*.png|jpg (label = task class index, or class names, "
    "sorted) OR vtab/<task>/{train800,val200,test}.txt with '<image path relative to the task folder> <label>' "
    "lines (the vtab-1k.zip of NOAH/VPT, unpacked as vtab/ or vtab-1k/; its short folder names such as "
    "cifar, clevr_dist, kitti, smallnorb_azi are accepted) OR CLIP_benchmark's webdataset copy "
    "vtab/<task>/{train,test}/<n>.tar (read in place: train800 = train rows 0-799, val200 = rows 800-999, "
    "test = all; label = the cls member)"
)
VTAB_HOW_TO_GET = (
    "beyond-inet data get vtab-<task> --root DATA_ROOT  (its copy on the Hugging Face hub; "
    "`beyond-inet data get vtab` gets all 19; vtab-1k.zip put in DATA_ROOT/.downloads/ is used instead)")


def vtab_dataset_name(task: str) -> str:
    """'dtd' -> 'vtab-dtd' (the registry name of a VTAB-1k task)."""
    if task not in VTAB_TASKS:
        raise KeyError(f"unknown VTAB task {task!r}; known: {', '.join(VTAB_TASKS)}")
    return f"vtab-{task}"


def vtab_folder_names(task: str) -> tuple[str, ...]:
    """The task's folder names: its own, then the vtab-1k.zip short name, if any."""
    return (task,) + VTAB_FOLDER_ALIASES.get(task, ())


def _vtab_folders(task: str) -> tuple[str, ...]:
    return tuple(f"{top}/{n}" for top in ("vtab", "vtab-1k") for n in vtab_folder_names(task))


def hub_train_val_counts(n: int) -> tuple[int, int]:
    """(train800 rows, val200 rows) taken from the start of a hub copy's train split of
    ``n`` rows: the first 800 and the next 200; a train split of fewer than 1,000 rows (a
    miniature) is cut 80 / 20 so that both splits hold rows."""
    m = min(n, VTAB_HUB_TRAIN_ROWS)
    n_train = min(800, 4 * m // 5)
    return n_train, min(200, m - n_train)


def _vtab_split_rows(root: Path, folder: Path, split: str, name: str) -> list[dict] | None:
    """Rows of one split ('train' | 'val' | 'test'; label kept raw: int or class name), or
    None when absent."""
    on_disk = VTAB_SPLIT_FILES[split]
    sdir, listing = folder / on_disk, folder / f"{on_disk}.txt"
    if sdir.is_dir() and any(p.is_dir() for p in sdir.iterdir()):
        return [{"path": str(img.relative_to(root)), "label": cdir.name, "split": split}
                for cdir in sorted(p for p in sdir.iterdir() if p.is_dir()) for img in list_images(cdir)]
    if listing.is_file():
        rows = []
        for ln in listing.read_text().splitlines():
            if ln.strip():
                rel, lab = ln.rsplit(maxsplit=1)
                rows.append({"path": str((folder / rel).relative_to(root)), "label": lab, "split": split})
        return rows
    # CLIP_benchmark's webdataset copy: VTAB's train and test splits as <split>/<n>.tar
    rows = webdataset_rows(name, root, folder / VTAB_HUB_SPLITS[split])
    if rows is None:
        return None
    if split != "test":
        n_train, n_val = hub_train_val_counts(len(rows))
        rows = rows[:n_train] if split == "train" else rows[n_train:n_train + n_val]
    return [{**r, "split": split} for r in rows]


def _vtab_labels_to_int(labels: pd.Series) -> tuple[pd.Series, list[str] | None]:
    """Integer task labels: as written when they all are integers, else the index of the
    class name in the sorted union of names over all splits (one mapping for every split)."""
    if labels.str.fullmatch(r"\d+").all():
        return labels.astype(int), None
    names = sorted(labels.unique())
    pos = {n: i for i, n in enumerate(names)}
    return labels.map(pos).astype(int), names


def load_vtab(root: Path, task: str, splits=VTAB_SPLITS) -> DatasetIndex:
    """One VTAB-1k task: columns path, label (the TASK's class index, not ImageNet's:
    ``meta['label_space']``), split (train / val / test: the 800 / 200 / test images)."""
    name = vtab_dataset_name(task)
    folder = DATASETS[name].folder_in(root)
    if folder is None:
        raise missing(name, root)
    unknown = [s for s in splits if s not in VTAB_SPLIT_FILES]
    if unknown:
        raise ValueError(f"{name}: unknown split(s) {unknown}; known: {', '.join(VTAB_SPLITS)}")
    rows, absent = [], []
    for split in splits:
        part = _vtab_split_rows(root, folder, split, name)
        if part is None or not part:
            absent.append(VTAB_SPLIT_FILES[split])
        else:
            rows += part
    if absent:
        raise missing(name, root, found=f"{folder} lacks the split(s) {', '.join(absent)}")
    t = pd.DataFrame(rows)
    t["label"], class_names = _vtab_labels_to_int(t["label"].astype(str))
    meta = {"label_space": f"vtab:{task}", "task": task, "group": VTAB_TASKS[task], "class_names": class_names}
    if t["path"].str.contains(".tar#", regex=False).any():
        meta["hub_splits"] = HUB_SPLITS_NOTE
    return DatasetIndex(name, root, t, description=f"VTAB-1k {task} ({VTAB_TASKS[task]})", meta=meta)


def _vtab_presence(task: str) -> Callable[[Path], Presence]:
    def check(root: Path) -> Presence:
        info = DATASETS[vtab_dataset_name(task)]
        folder = info.folder_in(root)
        expected = {"train": 800, "val": 200, "test": VTAB_TEST_SIZES[task]}
        if folder is None:
            return Presence(0, info.expected_count, info.canonical_folder(root), f"no folder {info.canonical_folder(root)}")
        try:
            found = {s: len(_vtab_split_rows(root, folder, s, info.name) or []) for s in VTAB_SPLITS}
        except DatasetMissing as e:   # a truncated shard
            return Presence(0, info.expected_count, folder, e.found)
        # named as on disk: that is where the user looks
        short = [f"{VTAB_SPLIT_FILES[s]} {found[s]}/{expected[s]}" for s in VTAB_SPLITS if found[s] < expected[s]]
        return Presence(sum(found.values()), info.expected_count, folder, "; ".join(short))

    return check


for _task, _group in VTAB_TASKS.items():
    register_dataset(
        vtab_dataset_name(_task),
        layout=VTAB_LAYOUT.replace("<task>", _task),
        source="https://github.com/google-research/task_adaptation (VTAB-1k splits; images from the public source datasets)",
        license="per source dataset (research use; see the VTAB paper)",
        how_to_get=VTAB_HOW_TO_GET.replace("<task>", _task),
        expected_count=1000 + VTAB_TEST_SIZES[_task],
        properties=("transfer",),
        folders=_vtab_folders(_task),
        group=f"vtab-{_group}",
        presence=_vtab_presence(_task),
        title=f"VTAB {_task}",
    )(functools.partial(load_vtab, task=_task))

for _group in ("natural", "specialized", "structured"):
    DATASET_GROUPS[f"vtab-{_group}"] = tuple(vtab_dataset_name(t) for t, g in VTAB_TASKS.items() if g == _group)
DATASET_GROUPS["vtab"] = DATASET_GROUPS["vtab-natural"] + DATASET_GROUPS["vtab-specialized"] + \
    DATASET_GROUPS["vtab-structured"]
