"""Your own datasets, named in a profile's ``datasets:`` section, loaded into the usual
``DatasetIndex``::

    datasets:
      shop:                         # the name pages and the index show
        path: shop/                 # a folder or a file; relative paths are below the data root
        format: imagefolder         # imagefolder | csv | parquet | webdataset
        labels: names               # imagenet-wnid | imagenet-index | imagenet-name | names
        splits: {train: train, val: 0.2, test: test}   # optional (see below)
        columns: {image: file, label: category}         # optional: csv / parquet / webdataset fields
        classes: [cat, dog]         # optional: the names of integer labels (labels: names)
        description: "..."          # optional: a line for the pages

Formats:

- ``imagefolder``: ``<path>/<class>/<image>``, or ``<path>/<split>/<class>/<image>``; the
  class is the folder's name.
- ``csv``: one row per image, a column of image paths (relative to the CSV's folder, or
  absolute), one of labels, optionally one of splits. Columns are found by name
  (``image``/``path``/``file``/``filepath``; ``label``/``class``/``target``;
  ``split``/``subset``) unless ``columns`` names them.
- ``parquet``: a file, or a folder of ``*.parquet`` files, read through pyarrow; the image
  column holds paths (as in a CSV) or the encoded images themselves (bytes, or the
  ``{bytes, path}`` structs of Hugging Face datasets), read in place. Integer labels take
  their names from a Hugging Face ``ClassLabel`` in the file's metadata.
- ``webdataset``: tar shards (``<path>/*.tar`` or ``<path>/<split>/*.tar``) read in place;
  a sample's label is its ``cls`` file (an integer), else its ``txt`` (a name), unless
  ``columns: {label: <extension>}`` says which; ``classnames.txt`` in the folder (one name
  per line, CLIP_benchmark's convention) names integer labels.

Labels: ``imagenet-wnid`` (``n01440764``), ``imagenet-index`` (0..999) or
``imagenet-name`` (a class name matched to the 1,000: WordNet lemma, open_clip's name or
one lemma of it) make a dataset of ImageNet classes, scored like a robustness variant
(``table.label`` = the ImageNet index; every image is scored, or its ``test`` split when it
has splits). ``names``: the dataset's own classes (``meta['classes']``, label = position in
that list: ``classes`` when given, else the sorted names), a transfer task with the
splits ``train`` / ``val`` / ``test``.

Splits: ``{train: X, val: Y, test: Z}``, each a folder (imagefolder, webdataset) or a value
of the split column (csv, parquet), or a fraction: of the train split for ``val`` when train
is named, else of all images (seeded, per class). Without ``splits``, folders or values
named ``train`` / ``val`` (``valid``, ``validation``) / ``test`` are used; a transfer task
with train and test but no val takes 20 % of train as val.

Bad input fails before anything runs, with the fix: a missing path is a
``DatasetMissing`` (the page shows where it looked); an unknown label, an empty split, a
missing image or a corrupt shard a ``DatasetInvalid`` naming the values or files.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetInvalid, DatasetMissing, ProfileError, did_you_mean
from .index import DatasetIndex, count_images, is_image_name, list_images
from .registry import DATASETS, DatasetInfo, Presence

FORMATS = ("imagefolder", "csv", "parquet", "webdataset")
LABEL_KINDS = ("imagenet-wnid", "imagenet-index", "imagenet-name", "names")
SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "test": "test", "testing": "test"}
COLUMN_ROLES = ("image", "label", "split")
COLUMN_GUESSES = {"image": ("image", "path", "file", "filepath", "file_path", "filename", "image_path", "img"),
                  "label": ("label", "labels", "class", "target", "y", "category"),
                  "split": ("split", "subset", "fold")}
DEFAULT_VAL_FRACTION = 0.2
KEYS = ("path", "format", "labels", "splits", "columns", "classes", "description")
_NAME_RE = re.compile(r"[A-Za-z0-9][\w.-]*")


@dataclass(frozen=True)
class UserDataset:
    """One entry of a profile's ``datasets:`` (see the module docstring)."""

    name: str
    path: str
    format: str
    labels: str
    splits: dict | None = None
    columns: dict | None = None
    classes: tuple | None = None
    description: str = ""

    @property
    def imagenet(self) -> bool:
        """Its labels are ImageNet classes (scored like a robustness variant)."""
        return self.labels != "names"

    def location(self, data_root) -> Path:
        """The path, below ``data_root`` when relative (the current folder without one)."""
        p = Path(self.path).expanduser()
        return p if p.is_absolute() else Path(data_root or ".") / p

    def layout(self) -> str:
        how = {"imagefolder": "<path>/<class>/<image> or <path>/<split>/<class>/<image>",
               "csv": "a CSV file: one row per image, columns image path, label (and split)",
               "parquet": "a parquet file or a folder of them: one row per image (path or bytes), label (and split)",
               "webdataset": "tar shards <path>/*.tar or <path>/<split>/*.tar; samples with an image and a cls or txt file"}
        return f"{how[self.format]}; labels: {self.labels}"

    def how_to_get(self) -> str:
        return (f"put your {self.format} dataset at the path above, or change datasets.{self.name}.path in the "
                f"profile (relative paths are below the data root)")


# ------------------------------------------------------------------- the profile
def parse_user_datasets(raw) -> dict[str, UserDataset]:
    """The profile's ``datasets:`` mapping, validated (``ProfileError`` naming the key and
    what is accepted, with the closest accepted word)."""
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        raise ProfileError("profile.datasets: expected a mapping of name -> {path, format, labels, ...}")
    out = {}
    for name, entry in raw.items():
        where = f"datasets.{name}"
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ProfileError(f"profile.datasets: {name!r} is not a dataset name (letters, digits, '.', '_', '-')")
        if name in DATASETS and DATASETS[name].group != "user":
            raise ProfileError(f"{where}: {name!r} is a dataset of beyond-inet's own; give yours another name")
        if isinstance(entry, str):
            raise ProfileError(f"{where}: expected a mapping, e.g. {{path: {entry}, format: imagefolder, "
                               f"labels: imagenet-wnid}}")
        if not isinstance(entry, dict):
            raise ProfileError(f"{where}: expected a mapping with keys {', '.join(KEYS)}")
        for key in entry:
            if key not in KEYS:
                raise ProfileError(f"{where}: unknown key {key!r}{did_you_mean(key, KEYS)}; accepted keys: {', '.join(KEYS)}")
        for key in ("path", "format", "labels"):
            if key not in entry:
                raise ProfileError(f"{where}: missing required key {key!r} (needs path, format and labels)")
        if not isinstance(entry["path"], str) or not entry["path"].strip():
            raise ProfileError(f"{where}.path: expected a folder or file, got {entry['path']!r}")
        for key, accepted in (("format", FORMATS), ("labels", LABEL_KINDS)):
            if entry[key] not in accepted:
                raise ProfileError(f"{where}.{key}: {entry[key]!r}{did_you_mean(entry[key], accepted)}; "
                                   f"accepted: {', '.join(accepted)}")
        splits = _parse_splits(where, entry.get("splits"))
        columns = entry.get("columns")
        if columns is not None:
            if not isinstance(columns, dict):
                raise ProfileError(f"{where}.columns: expected a mapping, e.g. {{image: file, label: category}}")
            for role, col in columns.items():
                if role not in COLUMN_ROLES:
                    raise ProfileError(f"{where}.columns: unknown role {role!r}{did_you_mean(role, COLUMN_ROLES)}; "
                                       f"accepted: {', '.join(COLUMN_ROLES)}")
                if not isinstance(col, str):
                    raise ProfileError(f"{where}.columns.{role}: expected a column name, got {col!r}")
            if entry["format"] == "imagefolder":
                raise ProfileError(f"{where}.columns: an image folder has no columns (its folders are the classes)")
        classes = entry.get("classes")
        if classes is not None:
            if not isinstance(classes, list) or not classes or not all(isinstance(c, (str, int)) for c in classes):
                raise ProfileError(f"{where}.classes: expected a list of class names, e.g. [cat, dog]")
            if entry["labels"] != "names":
                raise ProfileError(f"{where}.classes: only for labels: names (ImageNet classes have their names)")
            if len(set(map(str, classes))) != len(classes):
                raise ProfileError(f"{where}.classes: a name appears twice")
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise ProfileError(f"{where}.description: expected a line of text")
        out[name] = UserDataset(name, entry["path"], entry["format"], entry["labels"], splits,
                                dict(columns) if columns else None,
                                tuple(str(c) for c in classes) if classes else None, description)
    return out


def _parse_splits(where: str, splits) -> dict | None:
    if splits is None:
        return None
    if not isinstance(splits, dict) or not splits:
        raise ProfileError(f"{where}.splits: expected a mapping, e.g. {{train: train, val: 0.2, test: test}}")
    out = {}
    for key, value in splits.items():
        if key not in SPLITS:
            raise ProfileError(f"{where}.splits: unknown split {key!r}{did_you_mean(key, SPLITS)}; accepted: "
                               f"{', '.join(SPLITS)}")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ProfileError(f"{where}.splits.{key}: expected a folder / split value or a fraction, got {value!r}")
        if isinstance(value, float) and not 0 < value < 1:
            raise ProfileError(f"{where}.splits.{key}: {value}; a fraction is between 0 and 1")
        out[key] = value if isinstance(value, float) else str(value)
    fractions = [v for v in out.values() if isinstance(v, float)]
    named = [k for k, v in out.items() if isinstance(v, str)]
    if fractions and not named and sum(fractions) > 1 + 1e-9:
        raise ProfileError(f"{where}.splits: the fractions add up to {sum(fractions):g}, more than 1")
    if named and any(isinstance(out.get(k), float) for k in ("train", "test")):
        raise ProfileError(f"{where}.splits: name every split or give fractions of all images; only val "
                           f"may be a fraction (of train) beside named splits")
    return out


def register_user_datasets(datasets: dict[str, UserDataset]) -> None:
    """Make the profile's datasets loadable by name (``load_dataset``, ``data check``,
    the pages) in this process, in the registry's group 'user'."""
    for name, spec in datasets.items():
        DATASETS[name] = DatasetInfo(
            name, functools.partial(_loader, spec), spec.layout(), source="yours (profile datasets:)",
            license="yours", how_to_get=spec.how_to_get(),
            properties=("robustness", "calibration") if spec.imagenet else ("transfer",),
            folders=(spec.path,), group="user", presence=functools.partial(user_presence, spec), title=name)


def _loader(spec: UserDataset, root, **kw) -> DatasetIndex:
    return load_user_dataset(spec, root, **kw)


def user_presence(spec: UserDataset, root) -> Presence:
    """How many images are there (image files, table rows, or shard samples)."""
    where = spec.location(root)
    n = 0
    try:
        if spec.format == "imagefolder":
            n = count_images(where)
        elif spec.format == "csv" and where.is_file():
            n = sum(1 for _ in open(where, encoding="utf-8", errors="replace")) - 1
        elif spec.format == "parquet" and where.exists():
            import pyarrow.parquet as pq

            n = sum(pq.ParquetFile(f).metadata.num_rows for f in _parquet_files(where))
        elif spec.format == "webdataset":
            from .webdataset import count_image_samples

            n = count_image_samples(where)
    except (OSError, ValueError):
        n = 0
    missing = "" if n > 0 else (f"no {spec.format} dataset at {where}" if not where.exists() else f"nothing read at {where}")
    return Presence(max(n, 0), None, where, missing)


# ---------------------------------------------------------------------- loading
def load_user_dataset(spec: UserDataset, data_root, seed: int = 0) -> DatasetIndex:
    """The ``DatasetIndex`` of a user's dataset (see the module docstring)."""
    where = spec.location(data_root)
    if not where.exists():
        raise DatasetMissing(spec.name, where, spec.layout(), spec.how_to_get())
    reader = {"imagefolder": _imagefolder, "csv": _csv, "parquet": _parquet, "webdataset": _webdataset}[spec.format]
    root, table, extra = reader(spec, where)
    if table.empty:
        raise DatasetInvalid(spec.name, f"no images found at {where}", f"check it holds a {spec.layout()}")
    labels, classes = _labels(spec, table["label_value"], extra.get("classes"))
    table = table.assign(label=labels)
    table = _assign_splits(spec, table, seed)
    if spec.imagenet:
        meta = {"label_space": "imagenet"}
    else:
        meta = {"label_space": f"{spec.name} ({len(classes)} classes)", "classes": list(classes),
                "num_classes": len(classes)}
    meta.update(user=True, format=spec.format, source=str(where), labels=spec.labels)
    table = table.drop(columns=["label_value"]).rename(columns={"raw_label": "class"})
    description = spec.description or (
        f"Your dataset {spec.name}: {len(table):,} images from {where} ({spec.format}), "
        + ("labelled with ImageNet classes." if spec.imagenet else f"{len(classes)} classes of its own."))
    return DatasetIndex(spec.name, root, table.reset_index(drop=True), description=description, meta=meta)


def _split_folders(spec: UserDataset, where: Path, is_split_folder) -> dict[str, Path] | None:
    """{split value: folder} of a folder whose subfolders are splits: those ``splits``
    names, else the ones called train / val / test (or their aliases), else None."""
    subs = sorted(p for p in where.iterdir() if p.is_dir() and not p.name.startswith("."))
    named = [v for v in (spec.splits or {}).values() if isinstance(v, str)]
    if named:
        missing = [v for v in named if not (where / v).is_dir()]
        if missing:
            raise DatasetInvalid(spec.name, f"no split folder {', '.join(repr(m) for m in missing)} in {where} "
                                 f"(folders there: {', '.join(p.name for p in subs) or 'none'})",
                                 f"name the folders holding each split in datasets.{spec.name}.splits")
        return {v: where / v for v in named}
    found = {p.name: p for p in subs if p.name.lower() in SPLIT_ALIASES and is_split_folder(p)}
    return found or None


def _imagefolder(spec: UserDataset, where: Path):
    if not where.is_dir():
        raise DatasetMissing(spec.name, where, spec.layout(), spec.how_to_get(), found="a file, not a folder")
    splits = _split_folders(spec, where, lambda p: any(q.is_dir() for q in p.iterdir()))
    rows = []
    for split, folder in (splits or {None: where}).items():
        classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        loose = [p.name for p in folder.iterdir() if p.is_file() and is_image_name(p.name)]
        if not classes:
            raise DatasetInvalid(spec.name, f"{folder} has no class folders" + (f" ({len(loose)} images lie in it "
                                 "directly)" if loose else ""),
                                 f"put each image in a folder named by its class: {folder}/<class>/<image>")
        for c in classes:
            for img in list_images(c):
                rows.append({"path": str(img.relative_to(where)), "label_value": c.name, "raw_label": c.name,
                             "split_value": split})
    return where, pd.DataFrame(rows, columns=["path", "label_value", "raw_label", "split_value"]), {}


def _column(spec: UserDataset, columns, role: str, where: Path, required: bool = True) -> str | None:
    given = (spec.columns or {}).get(role)
    if given is not None:
        if given not in columns:
            raise DatasetInvalid(spec.name, f"{where} has no column {given!r}{did_you_mean(given, columns)} "
                                 f"(columns: {', '.join(map(str, columns))})",
                                 f"set datasets.{spec.name}.columns.{role} to one of them")
        return given
    lower = {str(c).lower(): c for c in columns}
    for guess in COLUMN_GUESSES[role]:
        if guess in lower:
            return lower[guess]
    if required:
        raise DatasetInvalid(spec.name, f"{where}: no {role} column found among {', '.join(map(str, columns))}",
                             f"name it: datasets.{spec.name}.columns: {{{role}: <column>}}")
    return None


def _path_rows(spec: UserDataset, paths: pd.Series, base: Path, where: Path) -> pd.Series:
    """Image paths of a table: relative to ``base`` (the table's folder) or absolute;
    every file must be there."""
    paths = paths.astype(str)
    exists = np.array([os.path.isfile(p if os.path.isabs(p) else base / p) for p in paths])
    if not exists.all():
        bad = paths[~exists]
        raise DatasetInvalid(spec.name, f"{len(bad):,} of {len(paths):,} images named in {where} are not there "
                             f"(looked relative to {base}): {', '.join(bad.head(3))}" + (" ..." if len(bad) > 3 else ""),
                             "fix those paths (relative to the table's folder, or absolute) or drop their rows")
    return paths


def _csv(spec: UserDataset, where: Path):
    if not where.is_file():
        raise DatasetMissing(spec.name, where, spec.layout(), spec.how_to_get(), found="a folder, not a CSV file")
    try:
        df = pd.read_csv(where, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise DatasetInvalid(spec.name, f"{where} is not a readable CSV ({e})", "save it as a comma-separated "
                             "UTF-8 file with a header row") from None
    return _table_rows(spec, df, where, where.parent)


def _table_rows(spec: UserDataset, df: pd.DataFrame, where: Path, base: Path):
    image = _column(spec, list(df.columns), "image", where)
    label = _column(spec, list(df.columns), "label", where)
    split = _column(spec, list(df.columns), "split", where, required=False)
    paths = _path_rows(spec, df[image], base, where)
    table = pd.DataFrame({"path": paths.to_numpy(), "label_value": df[label].to_numpy(),
                          "raw_label": df[label].astype(str).to_numpy(),
                          "split_value": df[split].astype(str).to_numpy() if split else None})
    return base, table, {}


def _parquet_files(where: Path) -> list[Path]:
    return sorted(where.rglob("*.parquet")) if where.is_dir() else [where]


def _parquet(spec: UserDataset, where: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = _parquet_files(where)
    if not files:
        raise DatasetMissing(spec.name, where, spec.layout(), spec.how_to_get(), found="no .parquet file")
    base = where if where.is_dir() else where.parent
    try:
        schema = pq.ParquetFile(files[0]).schema_arrow
    except (OSError, pa.ArrowInvalid) as e:
        raise DatasetInvalid(spec.name, f"{files[0]} is not a readable parquet file ({e})",
                             "write it again (pyarrow / pandas to_parquet / datasets)") from None
    names = list(schema.names)
    image = _column(spec, names, "image", where)
    label = _column(spec, names, "label", where)
    split = _column(spec, names, "split", where, required=False)
    kind = schema.field(image).type
    bytes_images = pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or (
        pa.types.is_struct(kind) and kind.get_field_index("bytes") >= 0)
    parts = []
    for f in files:
        cols = [label] + ([split] if split else []) + ([] if bytes_images else [image])
        try:
            t = pq.read_table(f, columns=cols).to_pandas()
        except (OSError, pa.ArrowInvalid, KeyError) as e:
            raise DatasetInvalid(spec.name, f"{f} cannot be read ({e})", "write it again, with the same "
                                 "columns as the other files") from None
        if bytes_images:
            from .parquet_images import row_ref

            t["path"] = [row_ref(f.relative_to(base), image, i) for i in range(len(t))]
        else:
            t["path"] = _path_rows(spec, t[image], base, f).to_numpy()
        parts.append(t)
    df = pd.concat(parts, ignore_index=True)
    table = pd.DataFrame({"path": df["path"].to_numpy(), "label_value": df[label].to_numpy(),
                          "raw_label": df[label].astype(str).to_numpy(),
                          "split_value": df[split].astype(str).to_numpy() if split else None})
    return base, table, {"classes": _class_label_names(schema, label)}


def _class_label_names(schema, column: str) -> list[str] | None:
    """The names of a Hugging Face ``ClassLabel`` column, from the parquet metadata."""
    import json

    meta = (schema.metadata or {}).get(b"huggingface")
    if not meta:
        return None
    try:
        feature = json.loads(meta)["info"]["features"][column]
    except (KeyError, TypeError, ValueError):
        return None
    names = feature.get("names") if isinstance(feature, dict) else None
    return [str(n) for n in names] if names else None


def _webdataset(spec: UserDataset, where: Path):
    from .webdataset import ShardError, list_shards, read_shard

    if not where.is_dir():
        raise DatasetMissing(spec.name, where, spec.layout(), spec.how_to_get(), found="a file, not a folder of shards")
    splits = _split_folders(spec, where, lambda p: bool(list_shards(p)))
    label_ext = (spec.columns or {}).get("label")
    rows = []
    for split, folder in (splits or {None: where}).items():
        shards = list_shards(folder)
        if not shards:
            raise DatasetInvalid(spec.name, f"no .tar shards in {folder}", f"put the shards there: {folder}/0.tar, ...")
        for shard in shards:
            try:
                samples = read_shard(shard)
            except ShardError as e:
                raise DatasetInvalid(spec.name, f"a corrupt shard: {e}", f"fetch or write {shard.name} again "
                                     f"(or move it out of {folder}); every other shard reads") from None
            for s in samples:
                if s.image is None:
                    continue
                ext = label_ext or next((e for e in ("cls", "txt", "label") if e in s.members), None)
                if ext is None or ext not in s.members:
                    raise DatasetInvalid(spec.name, f"{shard}: sample {s.key!r} has no label file "
                                         f"({label_ext or 'cls or txt'}; it has {', '.join(sorted(s.members))})",
                                         f"name the label's extension: datasets.{spec.name}.columns: {{label: <ext>}}")
                value = s.text(ext)
                rows.append({"path": os.path.relpath(s.ref(), where), "label_value": value, "raw_label": value,
                             "split_value": split})
    names_file = where / "classnames.txt"
    classes = [ln.strip() for ln in names_file.read_text().splitlines() if ln.strip()] if names_file.is_file() else None
    return where, pd.DataFrame(rows, columns=["path", "label_value", "raw_label", "split_value"]), {"classes": classes}


# ----------------------------------------------------------------------- labels
def _labels(spec: UserDataset, values: pd.Series, found_classes=None) -> tuple[np.ndarray, list[str] | None]:
    """(label per row, the class names of a dataset of its own classes)."""
    from .imagenet_labels import imagenet_indices_of_names, imagenet_wnids, wnid_to_index

    text = values.astype(str).str.strip()
    uniq = list(dict.fromkeys(text))
    fix_kind = (f"use the labels kind that matches them (datasets.{spec.name}.labels: "
                f"{' | '.join(LABEL_KINDS)})")
    if spec.labels == "imagenet-wnid":
        index = wnid_to_index()
        bad = [u for u in uniq if u not in index]
        if bad:
            hints = [f"{b!r}" + did_you_mean(b, imagenet_wnids()) for b in bad[:5]]
            raise DatasetInvalid(spec.name, f"{len(bad)} label(s) are not ImageNet WNIDs: {', '.join(hints)}"
                                 + (" ..." if len(bad) > 5 else ""), f"correct them, or {fix_kind}")
        return text.map(index).to_numpy(np.int64), None
    if spec.labels == "imagenet-index":
        bad = [u for u in uniq if not (u.isdigit() and int(u) < 1000)]
        if bad:
            raise DatasetInvalid(spec.name, f"label(s) {', '.join(repr(b) for b in bad[:5])} are not ImageNet "
                                 f"class indices (0..999)", f"correct them, or {fix_kind}")
        return text.astype(int).to_numpy(np.int64), None
    if spec.labels == "imagenet-name":
        index, why = imagenet_indices_of_names(uniq)
        if why:
            problems = "; ".join(why[i] for i in sorted(why)[:5])
            raise DatasetInvalid(spec.name, f"{len(why)} class name(s) do not name one ImageNet class: {problems}"
                                 + (" ..." if len(why) > 5 else ""),
                                 f"rename them (or use WNIDs with labels: imagenet-wnid), or {fix_kind}")
        return text.map(dict(zip(uniq, index.tolist()))).to_numpy(np.int64), None
    classes = list(spec.classes or found_classes or [])
    numeric = all(u.lstrip("-").isdigit() for u in uniq)
    if classes and numeric:
        bad = [u for u in uniq if not 0 <= int(u) < len(classes)]
        if bad:
            raise DatasetInvalid(spec.name, f"label(s) {', '.join(bad[:5])} outside the {len(classes)} classes named",
                                 f"name every class in datasets.{spec.name}.classes (label i is the i-th name)")
        return text.astype(int).to_numpy(np.int64), classes
    if classes:
        bad = [u for u in uniq if u not in classes]
        if bad:
            hints = [f"{b!r}" + did_you_mean(b, classes) for b in bad[:5]]
            raise DatasetInvalid(spec.name, f"label(s) not among datasets.{spec.name}.classes: {', '.join(hints)}",
                                 "add them to classes, or correct the labels")
        return text.map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64), classes
    classes = sorted(uniq, key=lambda u: (0, int(u), "") if numeric else (1, 0, u))
    return text.map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64), classes


# ----------------------------------------------------------------------- splits
def _assign_splits(spec: UserDataset, table: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The ``split`` column (train / val / test), or none for an ImageNet-labelled dataset
    without splits. Rows of no split are dropped."""
    raw = table.pop("split_value")
    has_raw = raw.notna().any() and (raw.astype(str) != "").any()
    named = {k: v for k, v in (spec.splits or {}).items() if isinstance(v, str)}
    fractions = {k: v for k, v in (spec.splits or {}).items() if isinstance(v, float)}
    split = pd.Series([None] * len(table), index=table.index, dtype=object)
    if named:
        if not has_raw:
            raise DatasetInvalid(spec.name, "splits are named but the dataset has no split folders or column",
                                 f"add a split column (or folders), or give fractions: splits: {{train: 0.6, val: 0.2, "
                                 f"test: 0.2}}")
        for key, value in named.items():
            split[raw.astype(str) == value] = key
    elif has_raw:
        mapped = raw.astype(str).str.lower().map(SPLIT_ALIASES)
        unknown = sorted(set(raw[mapped.isna()].astype(str)))
        if unknown:
            raise DatasetInvalid(spec.name, f"split values {', '.join(repr(u) for u in unknown[:5])} are not train / "
                                 f"val / test", f"name them: datasets.{spec.name}.splits: {{train: <value>, val: "
                                 f"<value>, test: <value>}}")
        split = mapped
    if fractions and not named:
        split = _fraction_split(table["label"].to_numpy(), fractions, seed)
    elif "val" in fractions or (not spec.imagenet and (split == "train").any() and (split == "test").any()
                                and not (split == "val").any()):
        val = _carve(table["label"].to_numpy(), (split == "train").to_numpy(),
                     fractions.get("val", DEFAULT_VAL_FRACTION), seed)
        split = split.where(~val, "val")
    if spec.imagenet and split.isna().all():
        return table
    if not spec.imagenet:
        if split.isna().all():
            raise DatasetInvalid(spec.name, "a dataset of its own classes needs train, val and test images (a "
                                 "linear probe is trained on train, tuned on val and scored on test)",
                                 f"name them: datasets.{spec.name}.splits: {{train: <folder or value>, test: <...>}} "
                                 f"or fractions {{train: 0.6, val: 0.2, test: 0.2}}")
        empty = [s for s in SPLITS if not (split == s).any()]
        if empty:
            raise DatasetInvalid(spec.name, f"the {', '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} "
                                 f"empty (images per split: {split.value_counts().to_dict()})",
                                 f"add images to it, or set datasets.{spec.name}.splits")
    keep = split.notna().to_numpy()
    return table.assign(split=split.to_numpy())[keep]


def _fraction_split(labels: np.ndarray, fractions: dict, seed: int) -> pd.Series:
    """Seeded split of all rows by fractions, class by class (each class's rows shuffled,
    then cut at its share of each split: largest remainders); rows past the fractions'
    sum get no split."""
    rng = np.random.default_rng(seed)
    out = np.full(len(labels), None, dtype=object)
    order = [s for s in SPLITS if s in fractions]
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        counts = _shares(len(rows), [fractions[s] for s in order])
        start = 0
        for s, n in zip(order, counts):
            out[rows[start:start + n]] = s
            start += n
    return pd.Series(out)


def _carve(labels: np.ndarray, train: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A seeded, per-class ``fraction`` of the train rows (the val split)."""
    rng = np.random.default_rng(seed)
    val = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels[train]):
        rows = rng.permutation(np.flatnonzero(train & (labels == c)))
        n = int(round(fraction * len(rows)))
        val[rows[:min(n, len(rows) - 1)]] = True  # leave each class one train image
    return val


def _shares(n: int, fractions: list[float]) -> list[int]:
    """Whole numbers near n * f for each fraction, summing to round(n * sum(f))
    (largest remainders)."""
    raw = [n * f for f in fractions]
    base = [int(np.floor(r)) for r in raw]
    left = int(round(n * sum(fractions))) - sum(base)
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - base[i], reverse=True)[:max(left, 0)]:
        base[i] += 1
    return base
