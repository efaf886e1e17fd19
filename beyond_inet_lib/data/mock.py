"""A miniature data root in every real layout: a few small images for a handful of
classes, for every dataset of the paper, so the full study can be rehearsed on a CPU.

``write_mock_root(dir, source_root)`` copies (shrunk) the real ImageNet sample images of
``source_root/imagenet-samples`` into each layout under the file names the real data
uses, with labels kept consistent across datasets: the val images get file numbers that
ImageNet-X annotates, whose shipped val label is the class of the copied sample and whose
ReaL set holds it; A and R get classes of their 200-class lists; PUG a class whose index
set holds it. Where each layout comes from:

- ``imagenet-val/ILSVRC2012_val_XXXXXXXX.JPEG`` flat: as ILSVRC2012_img_val.tar unpacks
  (the file names ImageNet-X's and ReaL's tables key on).
- ``imagenet-v2/<class index>/<40 hex digits>.jpeg``: class-index folders as
  ``imagenetv2-matched-frequency-format-val/<i>/`` of the HF tar (ImageNetV2's own loader
  reads the folder name as the label), top folder as ``data get`` strips it; the hex file
  names are a guess.
- ``imagenet-a/<wnid>/<...>.jpg`` and ``imagenet-r/<wnid>/<rendition>_<n>.jpg``: WNID
  folders of the 200-class lists (timm's synset lists); file names a guess.
- ``imagenet-sketch/<wnid>/sketch_<n>.JPEG``: the HF zip's ``sketch/<wnid>/`` with the
  prefix stripped by ``data get``; file names a guess.
- ``imagenet-c/<corruption>/<severity>/<wnid>/ILSVRC2012_val_XXXXXXXX.JPEG``: all 15
  corruptions x 5 severities (the Zenodo tars' folder levels as ``data get`` merges them);
  val file names inside a guess. One image per class, for the first two classes only: every
  one of the 75 cells is there, and ImageNet-C stays the rehearsal's largest pass without
  doubling its CPU time (ImageNet-C holds 75 copies of each val image).
  The mock images are not corrupted.
- ``imagenet-o/<wnid>/<...>.jpg``: WNID folders of ImageNet-O's 200-class list (the
  authors' ``imagenet-o.tar`` unpacks to ``imagenet-o/<wnid>/``; file names a guess), two
  folders of classes the mock's other datasets do not hold, filled (as ImageNet-O's are)
  with images of other classes: the mock's samples, a layout, not anomalies.
- ``imagenet-hard/images/NNNNN.<ext>`` + ``labels.json``: what ``data get imagenet-hard``
  writes from the published parquet shards (this package's own conversion).
- ``pug-imagenet/<Factor>/<ClassName>/*.png``, all 10 factors: the folder levels the
  paper's code reads (Beyond-INet ``inference/pug_imagenet.py``: one ImageFolder per
  factor); file names a guess.
- ``vtab-1k/<task>/{train800,val200,train800val200,test}.txt`` + ``images/<split>/NNNNNN.jpg``
  with ``images/<split>/<n>.jpg <label>`` lines, for all 19 tasks under the zip's short
  names (cifar, clevr_dist, kitti ...), labels in each task's own class space: as written
  by the script that made vtab-1k.zip (NOAH ``data/vtab-source/get_vtab1k.py``) and read by
  its users (RepAdapter ``dataset.py``); not checked against the zip's own listing.
- ``cue-conflict/<category>/<shape><n>-<texture><m>.png``: real stimuli copied from the
  source root when it has them (else sample images under such names: a guess at nothing,
  the names are the published ones' pattern).
- ``reference/cue-conflict-humans/`` and ``reference/cue-conflict-decisions/``: the real
  CSVs copied from the source root when present, else decision logs in the same CSV
  columns over the mock's stimuli.
- ``imagenet-samples/<wnid>_<name>.JPEG``: the chosen classes' samples (shrunk).
- model-vs-human's benchmark (``model_vs_human``): ``edges/`` and ``silhouettes/`` as
  ``<category>/<category><n>.png``, real stimuli copied from the source root when it has
  them (two per category), else sample images under such names; the 14 others as
  ``<dataset>/dnn/session-1/<trial>_<tag>_dnn_<condition>_<category>_00_<image>.png``, one
  stimulus per level (two per category for sketch and stylized), the categories cycling
  over the 16: the names model-vs-human's loader parses (the file names inside its release
  archives are a guess that follows them). All 224 x 224 PNGs, as the benchmark's are. The
  observers' trials: the real CSVs copied when the source root has them, else synthetic
  trials (one file per observer, trials shuffled) over the mock's stimuli.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from ..errors import DatasetMissing, UserError
from .demo import (
    CUE_CONFLICT_CATEGORIES,
    CUE_CONFLICT_DECISION_FILES,
    CUE_CONFLICT_HUMAN_FILES,
    DECISION_COLUMNS,
    parse_cue_conflict_name,
)
from .imagenet import IMAGENET_C_CORRUPTIONS, IMAGENET_C_SEVERITIES
from .imagenet_labels import (
    imagenet_a_indices,
    imagenet_class_names,
    imagenet_o_indices,
    imagenet_r_indices,
    imagenet_wnids,
    imagenet_x_annotations,
    real_label_sets,
    shipped_val_labels,
    val_file_name,
    val_number,
)
from .index import spread_indices
from .model_vs_human import BENCHMARK, image_id
from .pug import PUG_FACTORS, pug_class_to_indices
from .vtab import VTAB_NUM_CLASSES, VTAB_SPLIT_FILES, VTAB_TASKS, vtab_folder_names

MOCK_SIDE = 64           # shorter side of the mock JPEGs, pixels
STIMULUS_SIDE = 224      # model-vs-human's stimuli: 224 x 224 PNGs
VTAB_COUNTS = {"train": 4, "val": 2, "test": 2}   # images per split and task
RENDITIONS = ("art", "cartoon", "sketch", "origami", "painting", "toy")


def _val_numbers(classes: list[int], n: int) -> dict[int, list[int]]:
    """For each class, ``n`` val file numbers that ImageNet-X annotates (prototypes
    excluded), whose shipped val label is the class and whose ReaL set holds it."""
    ann = imagenet_x_annotations()
    labels, real = shipped_val_labels(), real_label_sets()
    out = {}
    for c in classes:
        nums = sorted(val_number(f) for f in ann.loc[ann["class"] == c, "file_name"])
        good = [k for k in nums if labels[k] == c and c in real[k - 1]]
        if len(good) < n:
            raise ValueError(f"class {c}: only {len(good)} annotated val images with a consistent label")
        out[c] = good[:n]
    return out


def choose_classes(n_classes: int, images_per_class: int) -> list[int]:
    """``n_classes`` ImageNet classes spread over those in ImageNet-A's and -R's lists that
    PUG-ImageNet renders (so every dataset can hold each class)."""
    pug = {i for v in pug_class_to_indices().values() for i in v}
    cands = sorted(set(imagenet_a_indices().tolist()) & set(imagenet_r_indices().tolist()) & pug)
    if n_classes > len(cands):
        raise ValueError(f"n_classes={n_classes}: at most {len(cands)} classes are in every dataset")
    return [cands[i] for i in spread_indices(len(cands), n_classes)]


class _Writer:
    """Shrunk JPEG / PNG bytes of the sample image of each class, written under any name."""

    def __init__(self, root: Path, samples: dict[int, Path]):
        self.root, self.samples, self.files = root, samples, 0
        self._cache: dict[tuple, bytes] = {}

    def image_bytes(self, label: int, k: int = 0, fmt: str = "JPEG") -> bytes:
        key = (label, k % 2, fmt)
        if key not in self._cache:
            with Image.open(self.samples[label]) as im:
                im = ImageOps.exif_transpose(im).convert("RGB")
                im.thumbnail((MOCK_SIDE * 4, MOCK_SIDE * 4))
                w, h = im.size
                s = MOCK_SIDE / min(w, h)
                im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR)
                if k % 2:
                    im = ImageOps.mirror(im)   # two distinct images per class
                buf = io.BytesIO()
                im.save(buf, fmt, **{"JPEG": {"quality": 85}, "WEBP": {"lossless": True}}.get(fmt, {}))
                self._cache[key] = buf.getvalue()
        return self._cache[key]

    def stimulus_bytes(self, label: int, k: int = 0) -> bytes:
        """A 224 x 224 PNG of the class's sample (upscaled from the shrunk one: small files)."""
        key = (label, k % 2, "stimulus")
        if key not in self._cache:
            with Image.open(io.BytesIO(self.image_bytes(label, k, "PNG"))) as im:
                im = ImageOps.fit(im.convert("RGB"), (STIMULUS_SIDE, STIMULUS_SIDE), Image.BILINEAR)
                buf = io.BytesIO()
                im.save(buf, "PNG")
                self._cache[key] = buf.getvalue()
        return self._cache[key]

    def put(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files += 1

    def image(self, rel: str, label: int, k: int = 0) -> None:
        fmt = "PNG" if rel.lower().endswith(".png") else "JPEG"
        self.put(rel, self.image_bytes(label, k, fmt))


def _hex_name(*parts) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def _samples(source: Path, n_classes: int, images_per_class: int) -> tuple[dict[int, Path], list[int]]:
    """(class -> its sample image under ``source/imagenet-samples``, the chosen classes)."""
    sample_dir = source / "imagenet-samples"
    wnids = imagenet_wnids()
    samples = {}
    for p in sorted(sample_dir.glob("*")) if sample_dir.is_dir() else []:
        w = p.name.split("_", 1)[0]
        if w in wnids and p.suffix.lower() in (".jpeg", ".jpg", ".png"):
            samples.setdefault(wnids.index(w), p)
    classes = choose_classes(n_classes, images_per_class)
    lacking = [wnids[c] for c in classes if c not in samples]
    if lacking:
        raise DatasetMissing("imagenet-samples", sample_dir, "imagenet-samples/<wnid>_<name>.JPEG",
                             f"beyond-inet data get imagenet-samples --root {source}",
                             found=f"no sample image for {', '.join(lacking)}")
    return samples, classes


def _new_folder(dest: Path, what: str) -> Path:
    """A staging folder beside ``dest`` (which must not exist, or be empty)."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(f"{dest} exists and is not empty: pick a new folder for the {what}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(f".{dest.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    return staging


def _into_place(staging: Path, dest: Path) -> None:
    if dest.exists():
        dest.rmdir()
    os.replace(staging, dest)


def write_mock_root(dir, source_root, images_per_class: int = 2, n_classes: int = 4, without=()) -> dict:
    """Write the miniature data root ``dir`` (which must not exist, or be empty) from
    ``source_root`` (needs ``imagenet-samples/``; ``cue-conflict/`` and ``reference/`` are
    copied when present). Built in a staging folder and renamed into place. ``without``:
    datasets left out (their folders are not written: the rehearsal fetches those from
    the loopback hub's miniature repositories instead). Returns {'files': n, 'classes':
    [...], 'datasets': [...]}."""
    from .registry import DATASETS

    dest, source = Path(dir), Path(source_root)
    samples, classes = _samples(source, n_classes, images_per_class)
    staging = _new_folder(dest, "mock data root")
    try:
        w = _Writer(staging, samples)
        _write_imagenet(w, classes, images_per_class, imagenet_wnids())
        _write_pug(w, classes, images_per_class)
        _write_vtab(w, classes)
        stimuli = _write_cue_conflict(w, source / "cue-conflict", classes, images_per_class)
        _write_reference(w, source / "reference", stimuli)
        _write_model_vs_human(w, source, classes)
        for name in without:
            for folder in DATASETS[name].folders:
                if (staging / folder).is_dir():
                    shutil.rmtree(staging / folder)
        files = sum(1 for p in staging.rglob("*") if p.is_file())
        _into_place(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"files": files, "classes": classes, "datasets": sorted(set(DATASETS) - set(without))}


#: the classes (first of those chosen) that ImageNet-C's 75 cells hold
IMAGENET_C_CLASSES = 2
#: how many of ImageNet-O's folders the mock fills
IMAGENET_O_FOLDERS = 2


def imagenet_o_folders(classes: list[int]) -> list[int]:
    """The ImageNet-O folders (ImageNet indices) the mock fills: the first of its 200 that
    are not among the mock's classes, so no image is both in and out of distribution."""
    return [int(c) for c in imagenet_o_indices() if c not in classes][:IMAGENET_O_FOLDERS]


def _write_imagenet(w: _Writer, classes: list[int], ipc: int, wnids: list[str]) -> None:
    names = {c: w.samples[c].stem.split("_", 1)[-1].replace("_", " ") for c in classes}
    val = _val_numbers(classes, ipc)
    hard = []
    for c in classes:
        wnid = wnids[c]
        w.image(f"imagenet-samples/{w.samples[c].name}", c)
        for k, num in enumerate(val[c]):
            w.image(f"imagenet-val/{val_file_name(num)}", c, k)
        for k in range(ipc):
            w.image(f"imagenet-v2/{c}/{_hex_name('v2', c, k)}.jpeg", c, k)
            w.image(f"imagenet-a/{wnid}/0.{k:06d}_{names[c]} _ {names[c]}_0.{500 + k}.jpg", c, k)
            w.image(f"imagenet-r/{wnid}/{RENDITIONS[k % len(RENDITIONS)]}_{k}.jpg", c, k)
            w.image(f"imagenet-sketch/{wnid}/sketch_{k}.JPEG", c, k)
            ext = ".png" if k % 2 else ".jpg"
            hard.append({"file": f"images/{len(hard):05d}{ext}", "labels": [c],
                         "origin": ("imagenet", "imagenet_v2", "imagenet_sketch", "objectnet")[len(hard) % 4]})
            w.image(f"imagenet-hard/{hard[-1]['file']}", c, k)
        if c in classes[:IMAGENET_C_CLASSES]:
            for corruption in IMAGENET_C_CORRUPTIONS:
                for s in IMAGENET_C_SEVERITIES:
                    w.image(f"imagenet-c/{corruption}/{s}/{wnid}/{val_file_name(val[c][0])}", c)
    for j, folder in enumerate(imagenet_o_folders(classes)):
        for k in range(ipc):
            w.image(f"imagenet-o/{wnids[folder]}/imagenet-o_{folder}_{k}.jpg", classes[-1 - j], k)
    hard.append({"file": "images/no-label.jpg", "labels": [], "origin": "objectnet"})  # Hard has empty sets
    w.image(f"imagenet-hard/{hard[-1]['file']}", classes[0], 1)
    w.put("imagenet-hard/labels.json", json.dumps(hard).encode())


def _write_pug(w: _Writer, classes: list[int], ipc: int) -> None:
    mapping = pug_class_to_indices()
    for c in classes:
        name = next(n for n, idx in sorted(mapping.items()) if c in idx)
        for factor in PUG_FACTORS:
            for k in range(ipc):
                w.image(f"pug-imagenet/{factor}/{name}/{name}_{factor.lower()}_{k}.png", c, k)


def _write_vtab(w: _Writer, classes: list[int]) -> None:
    """Every task: a train / val / test split whose labels alternate between the first
    and the last class of the task's own label space (both in every split)."""
    for task in VTAB_TASKS:
        folder = f"vtab-1k/{vtab_folder_names(task)[-1]}"
        n_cls = VTAB_NUM_CLASSES[task]
        rows = {}
        for split, count in VTAB_COUNTS.items():
            rows[split] = [(i, (0, n_cls - 1)[i % 2]) for i in range(count)]
        listing = {**{VTAB_SPLIT_FILES[s]: r for s, r in rows.items()},
                   "train800val200": rows["train"] + rows["val"]}
        for on_disk, items in listing.items():
            lines = []
            for j, (_i, lab) in enumerate(items):
                rel = f"images/{on_disk}/{j:06d}.jpg"
                w.image(f"{folder}/{rel}", classes[lab % len(classes)], j)
                lines.append(f"{rel} {lab}")
            w.put(f"{folder}/{on_disk}.txt", ("\n".join(lines) + "\n").encode())


def _write_cue_conflict(w: _Writer, real: Path, classes: list[int], ipc: int) -> list[str]:
    """``ipc`` stimuli per category (shape != texture first); returns their file names."""
    names = []
    for i, cat in enumerate(CUE_CONFLICT_CATEGORIES):
        if real.is_dir() and (real / cat).is_dir():
            files = sorted((real / cat).glob("*.png"), key=lambda p: (parse_cue_conflict_name(p.name)[1] == cat, p.name))
            for p in files[:ipc]:
                w.put(f"cue-conflict/{cat}/{p.name}", p.read_bytes())
                names.append(p.name)
        else:
            for k in range(ipc):
                other = CUE_CONFLICT_CATEGORIES[(i + k + 1) % len(CUE_CONFLICT_CATEGORIES)]
                name = f"{cat}{k + 1}-{other}{k + 1}.png"
                w.image(f"cue-conflict/{cat}/{name}", classes[i % len(classes)], k)
                names.append(name)
    return names


def _write_reference(w: _Writer, real: Path, stimuli: list[str]) -> None:
    for folder, files in (("cue-conflict-humans", CUE_CONFLICT_HUMAN_FILES),
                          ("cue-conflict-decisions", CUE_CONFLICT_DECISION_FILES)):
        for j, f in enumerate(files):
            src = real / folder / f
            if src.is_file():
                w.put(f"reference/{folder}/{f}", src.read_bytes())
                continue
            rng = np.random.default_rng(j)
            rows = []
            for t, name in enumerate(stimuli, start=1):
                shape, texture = parse_cue_conflict_name(name)
                answer = (shape, texture, CUE_CONFLICT_CATEGORIES[int(rng.integers(16))])[int(rng.integers(3))]
                rows.append([f"subject-{j + 1:02d}", 1, t, 1.0, answer, shape, 0, f"{t:04d}_mock_{shape}_00_{name}"])
            w.put(f"reference/{folder}/{f}", pd.DataFrame(rows, columns=DECISION_COLUMNS).to_csv(index=False).encode())


# =================================================================== the hub's copies
#: webdataset samples per split of a VTAB task's miniature hub copy (train: 4 train800 + 2 val200)
VTAB_HUB_COUNTS = {"train": 6, "test": 2}
#: VTAB tasks whose miniature train split spans two shards (natural shard order is exercised)
VTAB_TWO_SHARDS = ("dtd", "svhn")
HUB_DATE_OLD, HUB_DATE_NEW = "2023-04-10T12:00:00.000Z", "2023-05-02T09:30:00.000Z"


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o444
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _wds_members(items: list[tuple[int, bytes]], start: int = 0) -> list[tuple[str, bytes]]:
    """CLIP_benchmark's export of (cls, image) pairs: key s%07d, files in sorted extension
    order (cls, webp), the label as text."""
    out = []
    for i, (cls, image) in enumerate(items, start=start):
        out += [(f"s{i:07d}.cls", str(cls).encode()), (f"s{i:07d}.webp", image)]
    return out


def _parquet(rows: list[dict], schema) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buf)
    return buf.getvalue()


def write_mock_hub_repos(dir, source_root, images_per_class: int = 2, n_classes: int = 4) -> dict:
    """Write miniature copies of the hub repositories of ``sources.HUB`` into ``dir`` (which
    must not exist, or be empty): ``dir/<org>/<name>/`` holds a repository's files at their
    repository paths, in the file names and webdataset key conventions of the published
    repositories (where those are a guess, ``HubSource.guess`` says so), with the same
    classes, images and labels as ``write_mock_root``'s. Returns {'repos': {repo:
    {'revision', 'gated', 'dates': {path: commit date}}}, 'files': n}."""
    from .sources import HUB, VTAB_HUB_NAMES

    dest, source = Path(dir), Path(source_root)
    samples, classes = _samples(source, n_classes, images_per_class)
    staging = _new_folder(dest, "miniature hub repositories")
    wnids = imagenet_wnids()
    ipc = images_per_class
    repos = {src.repo: {"revision": src.revision, "gated": src.gated, "dates": {}} for src in HUB.values()}
    try:
        w = _Writer(staging, samples)

        def put(repo: str, rel: str, data: bytes) -> None:
            w.put(f"{repo}/{rel}", data)

        names = imagenet_class_names()
        a_idx, r_idx = imagenet_a_indices().tolist(), imagenet_r_indices().tolist()
        for repo, to_cls, cls_names in (
                ("clip-benchmark/wds_imagenetv2", lambda c: c, names),
                ("clip-benchmark/wds_imagenet-a", a_idx.index, [names[i] for i in a_idx]),
                ("clip-benchmark/wds_imagenet-r", r_idx.index, [names[i] for i in r_idx]),
                ("clip-benchmark/wds_imagenet_sketch", lambda c: c, names)):
            items = [(to_cls(c), w.image_bytes(c, k, "WEBP")) for c in classes for k in range(ipc)]
            put(repo, "test/0.tar", _tar(_wds_members(items)))
            put(repo, "test/nshards.txt", b"1\n")
            put(repo, "classnames.txt", ("\n".join(cls_names) + "\n").encode())
            put(repo, "zeroshot_classification_templates.txt", b"a photo of a {c}.\n")
        # ImageNet-1k (gated): the val images as data/val_images.tar.gz, named <image>_<wnid>.JPEG,
        # with the same file numbers as the mock's flat imagenet-val (ImageNet-X annotates them)
        val = _val_numbers(classes, ipc)
        members = [(f"{val_file_name(n)[:-5]}_{wnids[c]}.JPEG", w.image_bytes(c, k))
                   for c in classes for k, n in enumerate(val[c])]
        put("ILSVRC/imagenet-1k", "data/val_images.tar.gz", gzip.compress(_tar(members), mtime=0))
        put("ILSVRC/imagenet-1k", "data/test_images.tar.gz",
            gzip.compress(_tar([("ILSVRC2012_test_00000001.JPEG", w.image_bytes(classes[0]))]), mtime=0))
        put("ILSVRC/imagenet-1k", "classes.py", b"IMAGENET2012_CLASSES = {}\n")
        put("ILSVRC/imagenet-1k", "README.md", b"---\nextra_gated_prompt: terms of access\n---\n")
        _write_hub_hard(put, w, classes, ipc, repos["taesiri/imagenet-hard"]["dates"])
        for task, name in VTAB_HUB_NAMES.items():
            repo = f"clip-benchmark/wds_vtab-{name}"
            n_cls = VTAB_NUM_CLASSES[task]
            for split, count in VTAB_HUB_COUNTS.items():
                labels = [(0, n_cls - 1)[i % 2] for i in range(count)]
                items = [(lab, w.image_bytes(classes[lab % len(classes)], i, "WEBP")) for i, lab in enumerate(labels)]
                cuts = [0, 3, count] if split == "train" and task in VTAB_TWO_SHARDS else [0, count]
                for shard, (lo, hi) in enumerate(zip(cuts, cuts[1:])):
                    put(repo, f"{split}/{shard}.tar", _tar(_wds_members(items[lo:hi], start=lo)))
                put(repo, f"{split}/nshards.txt", f"{len(cuts) - 1}\n".encode())
            put(repo, "classnames.txt", "".join(f"class {i}\n" for i in range(n_cls)).encode())
            put(repo, "zeroshot_classification_templates.txt", b"a photo of a {c}.\n")
        _write_hub_sun397(put, w, classes)
        files = sum(1 for p in staging.rglob("*") if p.is_file())
        _into_place(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"repos": repos, "files": files}


def _write_hub_hard(put, w: _Writer, classes: list[int], ipc: int, dates: dict) -> None:
    """taesiri/imagenet-hard: the current set of parquet shards (two, committed last) and a
    stale earlier set (one shard, other rows) beside it, as the published repository holds
    two sets; columns image {bytes, path}, label (list), origin, english_label."""
    import pyarrow as pa

    schema = pa.schema([("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                        ("label", pa.list_(pa.int64())), ("origin", pa.string()), ("english_label", pa.list_(pa.string()))])
    names = imagenet_class_names()
    rows = []
    for c in classes:
        for k in range(ipc):
            fmt = ("JPEG", "PNG")[k % 2]
            rows.append({"image": {"bytes": w.image_bytes(c, k, fmt), "path": None}, "label": [c],
                         "origin": ("imagenet", "imagenet_v2", "imagenet_sketch", "objectnet")[len(rows) % 4],
                         "english_label": [names[c]]})
    rows.append({"image": {"bytes": w.image_bytes(classes[0], 1), "path": None}, "label": [],
                 "origin": "objectnet", "english_label": []})     # ImageNet-Hard has empty label sets
    half = len(rows) // 2
    for i, part in enumerate((rows[:half], rows[half:])):
        rel = f"data/validation-{i:05d}-of-00002-{hashlib.sha1(bytes([i])).hexdigest()[:16]}.parquet"
        put("taesiri/imagenet-hard", rel, _parquet(part, schema))
        dates[rel] = HUB_DATE_NEW
    stale = "data/validation-00000-of-00001-0123456789abcdef.parquet"
    put("taesiri/imagenet-hard", stale, _parquet(rows[:2] * 3, schema))
    dates[stale] = HUB_DATE_OLD
    put("taesiri/imagenet-hard", "README.md", b"---\nlicense: mit\n---\n")


def _write_hub_sun397(put, w: _Writer, classes: list[int]) -> None:
    """dpdl-benchmark/sun397 (layout a guess): data/<split>-00000-of-00001.parquet with
    image {bytes, path} and label (the class index)."""
    import pyarrow as pa

    schema = pa.schema([("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                        ("label", pa.int64())])
    n_cls = VTAB_NUM_CLASSES["sun397"]
    for split, count in (("train", 4), ("validation", 1), ("test", 2)):
        rows = [{"image": {"bytes": w.image_bytes(classes[i % len(classes)], i), "path": None},
                 "label": (0, n_cls - 1)[i % 2]} for i in range(count)]
        put("dpdl-benchmark/sun397", f"data/{split}-00000-of-00001.parquet", _parquet(rows, schema))


def _write_model_vs_human(w: _Writer, source: Path, classes: list[int]) -> None:
    """Every dataset of model-vs-human's benchmark but cue-conflict (written above) and its
    observers' trials (see the module docstring)."""
    for d in BENCHMARK.values():
        if d.name == "cue-conflict":
            continue
        if d.name in ("edges", "silhouettes"):
            names = _copy_stimuli(w, d.name, source / d.name, classes)
        else:
            names = _write_session_stimuli(w, d, classes)
        real = source / d.trials_folder
        for j, f in enumerate(d.trial_files):
            if (real / f).is_file():
                w.put(f"{d.trials_folder}/{f}", (real / f).read_bytes())
            else:
                w.put(f"{d.trials_folder}/{f}", _synthetic_trials(d, j + 1, names))


def _copy_stimuli(w: _Writer, name: str, real: Path, classes: list[int], per_category: int = 2) -> list[str]:
    """Two stimuli per category, copied when the source root has them; their names."""
    names = []
    for i, cat in enumerate(CUE_CONFLICT_CATEGORIES):
        files = sorted((real / cat).glob("*.png"))[:per_category] if (real / cat).is_dir() else []
        if files:
            for p in files:
                w.put(f"{name}/{cat}/{p.name}", p.read_bytes())
                names.append(f"{cat}/{p.name}")
        else:
            for k in range(per_category):
                w.put(f"{name}/{cat}/{cat}{k + 1}.png", w.stimulus_bytes(classes[i % len(classes)], k))
                names.append(f"{cat}/{cat}{k + 1}.png")
    return names


def _write_session_stimuli(w: _Writer, d, classes: list[int]) -> list[str]:
    """One stimulus per level (a dataset without levels: two per category), named as
    model-vs-human's loader parses them; their names."""
    items = ([(lv, CUE_CONFLICT_CATEGORIES[i % 16]) for i, lv in enumerate(d.levels)] if d.parametric
             else [("0", cat) for cat in CUE_CONFLICT_CATEGORIES for _ in range(2)])
    names = []
    for t, (level, cat) in enumerate(items, start=1):
        if d.parametric:
            image = f"n0{t:07d}_{t}.png"
        else:
            image = f"{cat}-{t:04d}-{d.source_name}-{t % 2}.png"
        name = f"{t:04d}_{d.tag}_dnn_{level}_{cat}_00_{image}"
        w.put(f"{d.name}/dnn/session-1/{name}", w.stimulus_bytes(classes[t % len(classes)], t))
        names.append(name)
    return names


def _synthetic_trials(d, subject: int, stimuli: list[str]) -> bytes:
    """One observer's trials over ``stimuli`` in model-vs-human's CSV format: right about
    three times in four, otherwise another category or "na"; in a shuffled order."""
    from .model_vs_human import parse_stimulus

    rng = np.random.default_rng(1000 + subject)
    rows = []
    for t, k in enumerate(rng.permutation(len(stimuli)), start=1):
        rel = stimuli[k]
        info = parse_stimulus(rel, d, rel.split("/")[0] if "/" in rel else "")
        level = rel.split("_")[3] if d.parametric else "0"
        draw = rng.random()
        answer = info["category"] if draw < 0.75 else "na" if draw > 0.97 else \
            CUE_CONFLICT_CATEGORIES[int(rng.integers(16))]
        rows.append([f"subject-{subject:02d}", 1, t, 1.0, answer, info["category"], level,
                     f"{t:04d}_{d.tag}_s{subject:02d}_{level}_{info['category']}_00_{image_id(rel)}"])
    return pd.DataFrame(rows, columns=DECISION_COLUMNS).to_csv(index=False).encode()
