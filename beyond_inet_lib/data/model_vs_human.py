"""model-vs-human's out-of-distribution benchmark (Geirhos et al., NeurIPS 2021, "Partial
success in closing the gap between human and machine vision"): its 17 datasets as datasets
of ours, and the human observers' per-trial decisions on each.

Every dataset holds 16-class stimuli (the 16 categories of cue-conflict, decided by a model
with the same mapping: ``metrics.cue_conflict_decisions``) and was shown to human observers
in the lab; their trials are model-vs-human's CSVs (``raw-data/<dataset>/``). Twelve
datasets are *parametric*: a distortion at several levels (contrast, noise width, blur ...),
the level written in each file name; five are not (edges, silhouettes, cue-conflict,
sketch, stylized).

Names. A stimulus file of a parametric dataset (and of sketch and stylized) is named as
model-vs-human writes it, ``<trial>_<tag>_<subject>_<condition>_<category>_<...>_<image>``
(``0001_cl_dnn_bw_boat_40_n02951358_5952.png``); model-vs-human reads the condition from the
4th and the category from the 5th ``_``-field of the name (its ``InfoMappingWithSessions``).
Edges and silhouettes are ``<category>/<category><n>.png``. An observer's trial names the
same stimulus with its own prefix (``0001_edg_s01_0_oven_00_oven10.png``). The stimulus a
trial and a model's image have in common is model-vs-human's *image id* (its
``get_short_imagename``): the last ``_``-field of the name, or the last two when the
second-to-last starts with ``n0`` (an ImageNet file name such as ``n02951358_5952.png``).
Conditions are written differently by different files (``0.90`` / ``0.9``, ``true`` /
``True``, ``1`` / ``1.0``); each is read as one of the dataset's levels, in model-vs-human's
spelling (``Experiment.data_conditions``).

Layouts below the data root:

- ``edges/<category>/<category><n>.png``, ``silhouettes/<category>/<category><n>.png``: the
  160 stimuli each of rgeirhos/texture-vs-shape (``stimuli/edges``,
  ``stimuli/filled-silhouettes``).
- ``<dataset>/dnn/session-1/<name>.png`` for the other 14 (cue-conflict: ``demo``): as
  model-vs-human's release archive ``<dataset>.tar.gz`` unpacks below its top folder
  (model-vs-human's loader reads ``<dataset>/dnn/session-1/``).
- ``reference/<source name>-humans/<source name>_subject-NN_session_1.csv``: the observers'
  trials (``<source name>`` is model-vs-human's name: ``edge``, ``silhouette``, ``colour``, ...).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .demo import CUE_CONFLICT_CATEGORIES, DECISION_COLUMNS
from .index import DatasetIndex, list_images
from .presence import files_presence
from .registry import DATASET_GROUPS, DATASETS, missing, register_dataset

#: the model-vs-human commit whose ``raw-data/`` the shipped trial checksums are of
MODEL_VS_HUMAN_COMMIT = "79ed7cd1d9ac3a114e71b6638f0a98bdd627316c"
#: the texture-vs-shape commit whose ``stimuli/edges`` and ``stimuli/filled-silhouettes``
#: the shipped manifests are of
TEXTURE_VS_SHAPE_COMMIT = "ccd0c01d42c0a8a834e90ec141e7f24fa915dc23"


@dataclass(frozen=True)
class BenchmarkDataset:
    """One dataset of model-vs-human's benchmark.

    ``levels``: the conditions of a parametric dataset in model-vs-human's spelling and
    order (``data_conditions``), ``level_labels`` as its plots print them, ``axis`` what they
    measure; ``excluded``: the levels model-vs-human leaves out of its summary (the
    undistorted control, and levels where the observers' mean accuracy is below 0.2;
    ``EXCLUDE_CONDITIONS`` of its plotting code). ``images``: stimuli; ``observers``: trial
    files; ``tag``: the 2nd field of the trial names."""

    name: str
    source_name: str
    title: str
    images: int
    observers: int
    tag: str
    levels: tuple[str, ...] = ()
    level_labels: tuple[str, ...] = ()
    axis: str = ""
    excluded: tuple[str, ...] = ()

    @property
    def parametric(self) -> bool:
        return bool(self.levels)

    @property
    def humans(self) -> str:
        """The name of the dataset of its observers' trials."""
        return f"{self.name}-humans"

    @property
    def trials_folder(self) -> str:
        return f"reference/{self.source_name}-humans"

    @property
    def trial_files(self) -> tuple[str, ...]:
        return tuple(f"{self.source_name}_subject-{i:02d}_session_1.csv" for i in range(1, self.observers + 1))

    @property
    def summary_levels(self) -> tuple[str, ...]:
        """The levels model-vs-human's summary averages over (all but ``excluded``);
        ('',) for a dataset without levels."""
        return tuple(lv for lv in self.levels if lv not in self.excluded) if self.levels else ("",)

    def label_of(self, level: str) -> str:
        return self.level_labels[self.levels.index(level)] if level in self.levels else level


def _eidolon(name: str, coherence: str, excluded: tuple[int, ...]) -> BenchmarkDataset:
    reach = (1, 2, 4, 8, 16, 32, 64, 128)
    return BenchmarkDataset(
        name, name, f"Eidolon {name[len('eidolon'):]} (coherence {int(coherence) / 10:g})", 1280, 4, "eid",
        tuple(f"{r}-{coherence}-10" for r in reach), tuple(str(i) for i in range(8)),
        "log2 of the eidolon 'reach'", tuple(f"{r}-{coherence}-10" for r in excluded))


#: the 17 datasets in model-vs-human's order (its ``DEFAULT_DATASETS``)
BENCHMARK: dict[str, BenchmarkDataset] = {d.name: d for d in (
    BenchmarkDataset("edges", "edge", "Edges", 160, 10, "edg"),
    BenchmarkDataset("silhouettes", "silhouette", "Silhouettes", 160, 10, "sif"),
    BenchmarkDataset("cue-conflict", "cue-conflict", "Cue-conflict", 1280, 10, "s5n"),
    BenchmarkDataset("colour", "colour", "Colour vs greyscale", 1280, 4, "cl", ("cr", "bw"),
                     ("colour", "greyscale"), "colour", ("cr",)),
    BenchmarkDataset("contrast", "contrast", "Contrast", 1280, 4, "cop",
                     ("c100", "c50", "c30", "c15", "c10", "c05", "c03", "c01"),
                     ("100", "50", "30", "15", "10", "5", "3", "1"), "contrast (%)", ("c100", "c03", "c01")),
    BenchmarkDataset("high-pass", "high-pass", "High-pass filter", 1280, 4, "hp",
                     ("inf", "3.0", "1.5", "1.0", "0.7", "0.55", "0.45", "0.4"),
                     ("inf", "3.0", "1.5", "1.0", ".7", ".55", ".45", ".4"), "filter standard deviation",
                     ("inf", "0.55", "0.45", "0.4")),
    BenchmarkDataset("low-pass", "low-pass", "Low-pass filter (blur)", 1280, 4, "lp",
                     ("0", "1", "3", "5", "7", "10", "15", "40"), ("0", "1", "3", "5", "7", "10", "15", "40"),
                     "filter standard deviation", ("0", "15", "40")),
    BenchmarkDataset("phase-scrambling", "phase-scrambling", "Phase scrambling", 1120, 4, "ps",
                     ("0", "30", "60", "90", "120", "150", "180"), ("0", "30", "60", "90", "120", "150", "180"),
                     "phase noise width (°)", ("0", "150", "180")),
    BenchmarkDataset("power-equalisation", "power-equalisation", "Power equalisation", 1120, 4, "pow",
                     ("0", "pow"), ("original", "equalised"), "power spectrum", ("0",)),
    BenchmarkDataset("false-colour", "false-colour", "False colour", 1120, 4, "fc", ("True", "False"),
                     ("true", "opponent"), "colour", ("True",)),
    BenchmarkDataset("rotation", "rotation", "Rotation", 1280, 4, "rot", ("0", "90", "180", "270"),
                     ("0", "90", "180", "270"), "rotation angle (°)", ("0",)),
    _eidolon("eidolonI", "10", (1, 64, 128)),
    _eidolon("eidolonII", "3", (1, 32, 64, 128)),
    _eidolon("eidolonIII", "0", (1, 16, 32, 64, 128)),
    BenchmarkDataset("uniform-noise", "uniform-noise", "Uniform noise", 1280, 4, "nse",
                     ("0.0", "0.03", "0.05", "0.1", "0.2", "0.35", "0.6", "0.9"),
                     ("0.0", ".03", ".05", ".1", ".2", ".35", ".6", ".9"), "uniform noise width",
                     ("0.0", "0.6", "0.9")),
    BenchmarkDataset("sketch", "sketch", "Sketch (ImageNet-Sketch, 16 classes)", 800, 7, "ske"),
    BenchmarkDataset("stylized", "stylized", "Stylized (Stylized-ImageNet, 16 classes)", 800, 5, "sty"),
)}


# --------------------------------------------------------------------------- names
def image_id(name: str) -> str:
    """model-vs-human's image id of a stimulus or trial name (``get_short_imagename``):
    ``0001_cl_s01_bw_boat_40_n02951358_5952.png`` -> ``n02951358_5952.png``,
    ``0001_edg_s01_0_oven_00_oven10.png`` -> ``oven10.png``, ``oven10.png`` -> itself."""
    parts = os.path.basename(str(name)).split("_")
    if len(parts) == 1:
        return parts[0]
    if parts[-2].startswith("n0"):
        return parts[-2] + "_" + parts[-1]
    return parts[-1]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def level_of(token, dataset: BenchmarkDataset) -> str:
    """The level of ``dataset`` that a condition as written in a file means (``0.90`` ->
    ``0.9``, ``true`` -> ``True``, ``1`` -> ``1.0``); '' for a dataset without levels.
    Raises ValueError for a condition that is none of its levels."""
    if not dataset.levels:
        return ""
    token = str(token).strip()
    for lv in dataset.levels:
        if token == lv or token.lower() == lv.lower():
            return lv
    x = _number(token)
    if x is not None:
        for lv in dataset.levels:
            y = _number(lv)
            if y is not None and (x == y or (math.isfinite(x) and math.isclose(x, y, abs_tol=1e-9))):
                return lv
    raise ValueError(f"{dataset.name}: condition {token!r} is none of its levels ({', '.join(dataset.levels)})")


def parse_stimulus(name: str, dataset: BenchmarkDataset, folder: str = "") -> dict:
    """(image id, level, category) of a stimulus or trial name. A model-vs-human name
    (7 or more ``_``-fields) gives its condition (4th field) and category (5th); a plain
    ``<category><n>.png`` takes its category from ``folder``. Raises ValueError when the
    category is not one of the 16 or the condition none of the levels."""
    base = os.path.basename(str(name))
    parts = base.split("_")
    if len(parts) >= 7:
        token, category = parts[3], parts[4]
    else:
        token, category = "", folder
    if category not in CUE_CONFLICT_CATEGORIES:
        raise ValueError(f"{dataset.name}: {base!r}: category {category!r} is not one of the 16")
    return {"stimulus": image_id(base), "level": level_of(token, dataset) if dataset.levels else "",
            "category": category}


# -------------------------------------------------------------------------- loaders
def _stimuli_layout(d: BenchmarkDataset) -> str:
    if d.name in ("edges", "silhouettes"):
        return f"{d.name}/<category>/<category><n>.png (16 folders, {d.images} PNGs)"
    return (f"{d.name}/dnn/session-1/<trial>_{d.tag}_dnn_<condition>_<category>_<...>.png "
            f"({d.images:,} PNGs, as {d.source_name}.tar.gz of model-vs-human's release unpacks)")


def _stimuli_source(d: BenchmarkDataset) -> str:
    if d.name == "edges":
        return "https://github.com/rgeirhos/texture-vs-shape (stimuli/edges)"
    if d.name == "silhouettes":
        return "https://github.com/rgeirhos/texture-vs-shape (stimuli/filled-silhouettes)"
    return f"https://github.com/bethgelab/model-vs-human (release v0.1, {d.source_name}.tar.gz)"


def load_stimuli(name: str, root: Path) -> DatasetIndex:
    """One row per stimulus: ``path``, ``label`` -1 (16-class decisions), ``category``,
    ``level`` ('' without levels), ``stimulus`` (the image id the trials name).
    ``meta['unparsed']``: image files whose names give no category or level (skipped)."""
    d = BENCHMARK[name]
    folder = DATASETS[name].folder_in(root)
    if folder is None:
        raise missing(name, root)
    rows, unparsed = [], []
    for p in list_images(folder):
        try:
            info = parse_stimulus(p.name, d, p.parent.name)
        except ValueError:
            unparsed.append(str(p.relative_to(root)))
            continue
        rows.append({"path": str(p.relative_to(root)), **info})
    if not rows:
        raise missing(name, root, found="no stimulus named as model-vs-human names them"
                      + (f" (e.g. {unparsed[0]})" if unparsed else ""))
    t = pd.DataFrame(rows)
    if t["stimulus"].duplicated().any():
        twice = t.loc[t["stimulus"].duplicated(), "path"].iloc[0]
        raise ValueError(f"{name}: two stimuli share the image id of {twice}; one dataset per folder")
    t["label"] = -1
    return DatasetIndex(name, root, t, description=d.title, meta={"unparsed": unparsed})


def read_trials(path, dataset: BenchmarkDataset) -> pd.DataFrame:
    """One model-vs-human CSV of ``dataset`` (columns lower-cased, as model-vs-human reads
    them), plus ``stimulus`` (the image id) and ``level`` (the condition as one of the
    dataset's levels, '' without). Responses are read as written: a human's "na" stays "na"
    (a wrong answer). Raises ValueError on a file that is not such a log, or whose
    ``condition`` or ``category`` column disagrees with its image names."""
    t = pd.read_csv(path, dtype=str, keep_default_na=False)
    t.columns = [c.lower() for c in t.columns]
    lacking = set(DECISION_COLUMNS) - set(t.columns)
    if lacking:
        raise ValueError(f"{path}: not a model-vs-human decision log (no column(s) {sorted(lacking)})")
    parsed = pd.DataFrame([parse_stimulus(n, dataset) for n in t["imagename"]])
    if dataset.levels:
        written = [level_of(c, dataset) for c in t["condition"]]
        if written != parsed["level"].tolist():
            raise ValueError(f"{path}: the condition column disagrees with the image names")
    if (parsed["category"] != t["category"]).any():
        raise ValueError(f"{path}: the category column disagrees with the image names")
    t["stimulus"], t["level"] = parsed["stimulus"].to_numpy(), parsed["level"].to_numpy()
    return t


def load_trial_files(name: str, root: Path) -> DatasetIndex:
    """The observers' trials of benchmark dataset ``name`` as one table: one row per trial,
    ``path`` = its CSV (a table, not images; ``label`` -1), the model-vs-human columns,
    ``stimulus``, ``level``."""
    d = BENCHMARK[name]
    folder = DATASETS[d.humans].folder_in(root)
    if folder is None:
        raise missing(d.humans, root)
    present = [f for f in d.trial_files if (folder / f).is_file()]
    if not present:
        raise missing(d.humans, root, found=f"none of {', '.join(d.trial_files)}")
    parts = []
    for f in present:
        t = read_trials(folder / f, d)
        t.insert(0, "path", str((folder / f).relative_to(root)))
        parts.append(t)
    t = pd.concat(parts, ignore_index=True)
    t["label"] = -1
    return DatasetIndex(d.humans, root, t, description=DATASETS[d.humans].title,
                        meta={"files": present, "absent_files": [f for f in d.trial_files if f not in present]})


def _register(d: BenchmarkDataset) -> None:
    if d.name != "cue-conflict":   # the demo's, registered there
        register_dataset(
            d.name, layout=_stimuli_layout(d), source=_stimuli_source(d), license="CC BY 4.0",
            how_to_get=f"beyond-inet data get {d.name} --root DATA_ROOT", expected_count=d.images,
            properties=("humans",), group="model-vs-human", title=d.title,
        )(lambda root, _n=d.name: load_stimuli(_n, root))
        register_dataset(
            d.humans,
            layout=f"{d.trials_folder}/{d.source_name}_subject-NN_session_1.csv, NN = 01..{d.observers:02d} "
                   "(model-vs-human CSV: " + ",".join(DECISION_COLUMNS) + ")",
            source=f"https://github.com/bethgelab/model-vs-human (raw-data/{d.source_name})",
            license="CC BY 4.0",
            how_to_get=f"beyond-inet data get {d.humans} --root DATA_ROOT",
            expected_count=d.observers, properties=("humans",), folders=(d.trials_folder,),
            group="model-vs-human", presence=files_presence(d.humans, d.trial_files),
            title=f"{d.title}: trials of {d.observers} human observers",
        )(lambda root, _n=d.name: load_trial_files(_n, root))


for _d in BENCHMARK.values():
    _register(_d)

DATASET_GROUPS["model-vs-human"] = tuple(BENCHMARK)
DATASET_GROUPS["model-vs-human-humans"] = tuple(d.humans for d in BENCHMARK.values())
