"""Where each dataset comes from: the one table of URLs (``DOWNLOADS``).

A plan says which files to fetch, which member prefix of each archive holds the data,
which folder below the data root it lands in, and what is checked before it is installed:

| dataset | source | verified how |
|---|---|---|
| cue-conflict | model-vs-human release asset ``cue-conflict.tar.gz`` | every stimulus against a shipped SHA-256 manifest; missing or different ones fetched from texture-vs-shape and verified |
| imagenet-samples | GitHub archive of EliSchwartz/imagenet-sample-images | structure: one decodable ``<wnid>_<name>.JPEG`` per class (no checksum is published) |
| cue-conflict-humans | model-vs-human ``raw-data/cue-conflict`` CSVs (10) | SHA-256 per file |
| cue-conflict-decisions | Beyond-INet ``inference/modelvshuman/raw-data/cue-conflict`` CSVs (5) + model-vs-human subject-01 | SHA-256 per file |
| edges, silhouettes | model-vs-human release assets ``edge.tar.gz``, ``silhouette.tar.gz`` | every stimulus against a shipped SHA-256 manifest; missing or different ones fetched from texture-vs-shape and verified |
| colour, contrast, ... stylized (14 more of model-vs-human's benchmark) | model-vs-human release assets ``<name>.tar.gz`` | structure: the benchmark's number of stimuli, each named with a category and a level (no checksum is published) |
| <dataset>-humans (16 more) | model-vs-human ``raw-data/<name>`` CSVs at a pinned commit | SHA-256 per file (shipped: ``assets/model_vs_human_trials.sha256``) |
| imagenet-o | the authors' archive ``imagenet-o.tar`` (beside ImageNet-A's) | md5 of the archive, as pytorch-ood and torch-uncertainty pin it |
| imagenet-val | license-gated: the hub's ILSVRC/imagenet-1k (HF_TOKEN), or a tar placed by hand | the hub's LFS sha256; md5 of ILSVRC2012_img_val.tar |
| V2, A, R, Sketch, C, PUG | the authors' archives (V2, A, R, Sketch also from the hub: ``--source hub``) | unpacks into the expected layout (no published checksum); the hub's LFS sha256 |
| imagenet-hard | the authors' parquet shards on the hub (taesiri/imagenet-hard), converted | the hub's LFS sha256 |
| vtab (19 tasks) | each task's copy on the hub (CLIP_benchmark's wds_vtab-*, SUN397 from dpdl-benchmark/sun397); vtab-1k.zip when placed by hand | the hub's LFS sha256 / git blob id |

The hub copies (``HUB``, one ``HubSource`` per dataset): repository, revision, the files
(patterns over the listing read at run time), the layout, how the copy's splits map to
ours, and what of it is a guess. ``data get`` takes the authors' archive where it has a
public URL (or was put in ``.downloads/``) and the hub copy where not; ``--source hub``
takes the hub copy wherever there is one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .demo import CUE_CONFLICT_DECISION_FILES, CUE_CONFLICT_HUMAN_FILES
from .imagenet_hard_parquet import HARD_MANUAL, convert_imagenet_hard
from .model_vs_human import BENCHMARK, MODEL_VS_HUMAN_COMMIT
from .registry import DATASET_GROUPS, DATASETS, assets_dir
from .transfer import HttpSettings
from .verify import verify_benchmark_stimuli, verify_cue_conflict, verify_imagenet_samples, verify_stimuli
from .vtab import VTAB_HUB_TRAIN_ROWS


@dataclass(frozen=True)
class Source:
    """One file of a plan. ``url`` None: no public direct URL; the file must be put in
    ``<root>/.downloads/`` by hand (or served by a mirror). ``strip``: the member prefix of
    the archive that holds the dataset (members outside it are skipped, the prefix is
    removed). ``include``: optional regex a member's path (after ``strip``) must match.
    A file that is not an archive is installed as ``<folder>/<filename>``."""

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
    # run on the unpacked staging folder before it is installed: repairs or raises
    finish: Callable[[Path, HttpSettings], dict] | None = None

    @property
    def public(self) -> bool:
        """Every file has a public URL: ``data get`` needs nothing placed by hand."""
        return bool(self.sources) and all(s.url for s in self.sources)


_HF = "https://huggingface.co/datasets"
_MVH_RAW = "https://raw.githubusercontent.com/bethgelab/model-vs-human/master/raw-data/cue-conflict"
_BEYOND_INET_RAW = ("https://raw.githubusercontent.com/kirill-vish/Beyond-INet/main/inference/"
                    "modelvshuman/raw-data/cue-conflict")
_VAL_MANUAL = (
    "ImageNet val is license-gated. Either:\n"
    "  a. from the Hugging Face hub: accept the terms at https://huggingface.co/datasets/ILSVRC/imagenet-1k,\n"
    "     create a read token at https://huggingface.co/settings/tokens, then run\n"
    "     HF_TOKEN=hf_... beyond-inet data get imagenet-val --root {root}\n"
    "  b. from image-net.org: log in (free account; accept the terms of access), download\n"
    "     ILSVRC2012_img_val.tar (6.3 GB) from the ILSVRC 2012 page, put it in {root}/.downloads/ and run\n"
    "     `beyond-inet data get imagenet-val --root {root}` (verifies its md5 and unpacks it), or unpack it yourself:\n"
    "     mkdir -p {root}/imagenet-val && tar -xf ILSVRC2012_img_val.tar -C {root}/imagenet-val\n"
    "  Labels: none needed for this flat layout (the imagenet-x package ships all 50,000);\n"
    "  LOC_val_solution.csv or val_labels.txt in {root}/imagenet-val/ take precedence.\n"
    "  ImageNet-ReaL and ImageNet-X use these same images."
)
_VTAB_MANUAL = (
    "VTAB-1k has no archive of its authors at a direct URL. `beyond-inet data get vtab --root {root}` fetches\n"
    "  the 19 tasks from their copies on the Hugging Face hub (`beyond-inet data get vtab-<task> --root {root}`\n"
    "  one task). A vtab-1k.zip (as shared by NOAH/VPT/RepAdapter) put in {root}/.downloads/ is unpacked instead.\n"
    "  Or build vtab/<task>/{{train800,val200,test}}/<label>/*.png yourself (e.g. from a tfds export)."
)
# SHA-256 of the published decision logs (model-vs-human: CC BY 4.0; Beyond-INet: MIT)
_CSV_SHA256 = {
    "cue-conflict_subject-01_session_1.csv": "8e100c7aad0e4ab891cb16a1fea9768edc882f9e47369549d45aa765b0897b1a",
    "cue-conflict_subject-02_session_1.csv": "e9988e3eee0d4f9500fdf626d043e8382e96032a3f791b0d4886807a46e632ad",
    "cue-conflict_subject-03_session_1.csv": "d3907fee2e612e6cd13c316a069f2e5fd41b0a55218b79be9537e1276c507d88",
    "cue-conflict_subject-04_session_1.csv": "1d7b093f1174229a68e3bfac2f68877b2747bac001ad4aadbff5d5f89a44630e",
    "cue-conflict_subject-05_session_1.csv": "f7e69864b7a981f6daaf51d9fc9945b185020e482956b38f477bf8eec9a5fa86",
    "cue-conflict_subject-06_session_1.csv": "b63d7b4c52374a583f5e342aab46de5c445ef314501abc4b36736531c4d5f532",
    "cue-conflict_subject-07_session_1.csv": "75959b12b8ccb9a265e20cb2beef05ac0dbf4052746742dd7e88818e69e2774c",
    "cue-conflict_subject-08_session_1.csv": "b50f6956933c0a20eaf19e846c1fb5896068550da4597e8a7fc30aaf557ea02f",
    "cue-conflict_subject-09_session_1.csv": "c94aba7fb9bf6887ec2fd0f554b145a6ed66c295b26a5c19594e1c0174253878",
    "cue-conflict_subject-10_session_1.csv": "aa7b4f124bf605fd614b704d7556bb1a8088364b3113f9f918257b5cd3925f1b",
    "cue-conflict_convnext-base-21k_session-1.csv": "0166fd349ec0aae9f03786fdf837f89a6189933b9a77d77127246f22b14edb5c",
    "cue-conflict_convnext-clip_session-1.csv": "10ff29ecfa193d5bf651c09b1a96d028ad52ee2cf546173c4c23cb92d8c93432",
    "cue-conflict_deit3-21k_session-1.csv": "df4bc05bc62442fcab0babafce3af5345f077767cdc1fff2ba4d73df5245a631",
    "cue-conflict_tv-resnet50_session-1.csv": "d4c2807b84b70cb29eb3262a4ca4d723ccdf473f0dd8747ba0d8f482e2710591",
    "cue-conflict_vit-clip_session-1.csv": "3a60eaa2be546c850379ab1bef6e3f0c4cc88ab11f3b822d34adbf44b70a659b",
}


def _decision_log(filename: str) -> Source:
    """One of the paper's decision logs; its human subject-01 is model-vs-human's file
    (same bytes), saved under the paper's naming."""
    if filename == "cue-conflict_subject-01_session-1.csv":
        human = "cue-conflict_subject-01_session_1.csv"
        return Source(f"{_MVH_RAW}/{human}", filename, "sha256:" + _CSV_SHA256[human])
    return Source(f"{_BEYOND_INET_RAW}/{filename}", filename, "sha256:" + _CSV_SHA256[filename])


def _convert_hard(root: Path, progress: bool) -> Path:
    return convert_imagenet_hard(Path(root) / "imagenet-hard", progress=progress)


DOWNLOADS: dict[str, DownloadPlan] = {
    # The 1,280 stimuli alone (model-vs-human's dataset release: the smallest public archive
    # that holds exactly them). Its bytes are not published, hence no checksum on the
    # archive: every stimulus is verified against the manifest instead (``finish``).
    "cue-conflict": DownloadPlan(
        "cue-conflict",
        (Source("https://github.com/bethgelab/model-vs-human/releases/download/v0.1/cue-conflict.tar.gz",
                "cue-conflict.tar.gz", strip="cue-conflict/", include=r"\.png$"),),
        ("cue-conflict",), finish=verify_cue_conflict),
    "imagenet-samples": DownloadPlan(
        "imagenet-samples",
        (Source("https://github.com/EliSchwartz/imagenet-sample-images/archive/refs/heads/master.zip",
                "imagenet-sample-images-master.zip",
                strip="imagenet-sample-images-master/", include=r"^n\d{8}_[^/]*\.JPEG$"),),
        ("imagenet-samples",), finish=verify_imagenet_samples),
    "cue-conflict-humans": DownloadPlan(
        "reference/cue-conflict-humans",
        tuple(Source(f"{_MVH_RAW}/{f}", f, "sha256:" + _CSV_SHA256[f]) for f in CUE_CONFLICT_HUMAN_FILES),
        ("cue-conflict-humans",)),
    "cue-conflict-decisions": DownloadPlan(
        "reference/cue-conflict-decisions",
        tuple(_decision_log(f) for f in CUE_CONFLICT_DECISION_FILES),
        ("cue-conflict-decisions",)),
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
    # 2,000 images of classes outside ImageNet-1k, in the WNID folders of the ImageNet-1k
    # classes a ResNet-50 took them for (Hendrycks et al. 2021, released beside ImageNet-A)
    "imagenet-o": DownloadPlan(
        "imagenet-o",
        (Source("https://people.eecs.berkeley.edu/~hendrycks/imagenet-o.tar", "imagenet-o.tar",
                checksum="md5:86bd7a50c1c4074fb18fc5f219d6d50b", strip="imagenet-o/"),),
        ("imagenet-o",), verified=False),   # URL, md5 and folder as public loaders use them
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
        "imagenet-hard", (), ("imagenet-hard",), manual=HARD_MANUAL, local_convert=_convert_hard),
    "vtab": DownloadPlan(
        "vtab",
        (Source(None, "vtab-1k.zip", strip="vtab-1k/"),),
        (), manual=_VTAB_MANUAL, verified=False),
}

# ------------------------------------------------- model-vs-human's benchmark
_MVH_RELEASE = "https://github.com/bethgelab/model-vs-human/releases/download/v0.1"
_MVH_RAW_DATA = f"https://raw.githubusercontent.com/bethgelab/model-vs-human/{MODEL_VS_HUMAN_COMMIT}/raw-data"
MODEL_VS_HUMAN_TRIALS = "model_vs_human_trials.sha256"


def _trial_checksums() -> dict[str, str]:
    """``<source name>/<file>.csv`` -> SHA-256 hex of the observers' trials at the pinned commit."""
    lines = (assets_dir() / MODEL_VS_HUMAN_TRIALS).read_text().splitlines()
    return {rel: digest for digest, rel in (ln.split(None, 1) for ln in lines if ln.strip())}


def _benchmark_plans() -> dict[str, DownloadPlan]:
    """The stimuli of each dataset of the benchmark (the release asset; edges and
    silhouettes verified against their manifests and repaired from texture-vs-shape, the
    others checked for structure), and each dataset's trials (cue-conflict's: above)."""
    sums = _trial_checksums()
    plans = {}
    for d in BENCHMARK.values():
        if d.name == "cue-conflict":
            continue
        manifest = d.name in ("edges", "silhouettes")
        plans[d.name] = DownloadPlan(
            d.name,
            (Source(f"{_MVH_RELEASE}/{d.source_name}.tar.gz", f"{d.source_name}.tar.gz", strip=f"{d.source_name}/",
                    include=r"\.png$" if manifest else r"(?i)\.(png|jpe?g)$"),),
            (d.name,),
            finish=functools.partial(verify_stimuli if manifest else verify_benchmark_stimuli, d.name),
            verified=False)   # the release assets' member layout is model-vs-human's loader's, not seen here
        plans[d.humans] = DownloadPlan(
            d.trials_folder,
            tuple(Source(f"{_MVH_RAW_DATA}/{d.source_name}/{f}", f, "sha256:" + sums[f"{d.source_name}/{f}"])
                  for f in d.trial_files),
            (d.humans,))
    return plans


DOWNLOADS.update(_benchmark_plans())

#: shipped with an installed package: nothing to fetch
SHIPPED = {"imagenet-x": "ships with the imagenet-x package"}


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


def plan_datasets(key: str) -> tuple[str, ...]:
    """The registered datasets plan ``key`` installs (``vtab``: all 19 tasks)."""
    return DATASET_GROUPS["vtab"] if key == "vtab" else DOWNLOADS[key].datasets


def downloadable_names() -> list[str]:
    """Every name ``get_dataset`` accepts: the registered datasets plus ``vtab`` (all 19
    VTAB-1k tasks at once)."""
    return sorted(set(DATASETS) | {"vtab"})


# ======================================================================= the hub
@dataclass(frozen=True)
class HubSource:
    """A dataset's copy on the Hugging Face hub (a dataset repository).

    ``files``: fnmatch patterns selecting files of the repository's listing, read at run
    time (shard names are never hard-coded). ``folder``: the dataset's folder below the
    data root. ``layout``: ``webdataset`` (files kept at their repository paths below
    ``folder``, shards read in place), ``archive`` (unpacked into ``folder`` with ``strip``),
    ``parquet`` (files kept below ``folder/hf/``, then ``convert(folder, progress)`` writes
    the layout the loader reads). ``prefix``: (pattern, n) pairs: files matching the pattern are fetched in
    natural order only until they hold ``n`` samples (VTAB-1k needs the first 1,000 of a
    train split that can hold 262,144). ``newest_set``: among several complete sets of
    ``*-of-NNNNN*`` shards in the listing, keep the one committed last. ``guess``: what of
    the layout was not confirmed against the repository itself (a test marks it too)."""

    repo: str
    revision: str
    files: tuple[str, ...]
    layout: str
    folder: str
    note: str
    gated: bool = False
    strip: str = ""
    prefix: tuple[tuple[str, int], ...] = ()
    newest_set: bool = False
    convert: Callable[[Path, bool], Path] | None = None
    guess: str = ""


#: VTAB-1k task -> the name of its CLIP_benchmark webdataset copy (``clip-benchmark/wds_vtab-<name>``,
#: as listed in CLIP_benchmark's benchmark/webdatasets.txt: the tasks under VTAB's own names)
VTAB_HUB_NAMES = {
    "caltech101": "caltech101", "cifar100": "cifar100", "dtd": "dtd", "oxford_flowers102": "flowers",
    "oxford_iiit_pet": "pets", "svhn": "svhn", "patch_camelyon": "pcam", "eurosat": "eurosat",
    "resisc45": "resisc45", "diabetic_retinopathy": "diabetic_retinopathy", "clevr_count": "clevr_count_all",
    "clevr_distance": "clevr_closest_object_distance", "dmlab": "dmlab",
    "dsprites_location": "dsprites_label_x_position", "dsprites_orientation": "dsprites_label_orientation",
    "kitti_distance": "kitti_closest_vehicle_distance", "smallnorb_azimuth": "smallnorb_label_azimuth",
    "smallnorb_elevation": "smallnorb_label_elevation",
}
_WDS_NOTE = "CLIP_benchmark's webdataset copy ({what}): shards read in place, label = the `cls` member"
_WDS_GUESS = "image member extension webp (the exporter's default) in the test miniature; any of webp/png/jpg is read"


def _convert_sun397(folder: Path, progress: bool) -> Path:
    from .vtab_parquet import convert_sun397_parquet

    return convert_sun397_parquet(folder, progress=progress)


def _vtab_hub(task: str) -> HubSource:
    if task == "sun397":
        # CLIP_benchmark's wds_sun397 holds a 15.8k test split of its own, not VTAB's;
        # dpdl-benchmark/sun397 holds TFDS sun397/tfds's three splits (76,128 / 10,875 /
        # 21,750 rows, as its viewer lists them): VTAB's train / val / test
        return HubSource(
            "dpdl-benchmark/sun397", "main",
            ("data/train-*.parquet", "data/validation-*.parquet", "data/test-*.parquet"), "parquet",
            "vtab/sun397",
            "TFDS sun397/tfds as parquet: train800 = its train rows 0-799, val200 = validation rows 0-199, "
            "test = the full test split (21,750)",
            prefix=(("data/train-*.parquet", 800), ("data/validation-*.parquet", 200)),
            convert=_convert_sun397,
            guess="file names data/<split>-NNNNN-of-NNNNN.parquet and columns image {bytes, path}, label "
                  "(the hub's usual parquet export); not seen in a listing")
    name = VTAB_HUB_NAMES[task]
    return HubSource(
        f"clip-benchmark/wds_vtab-{name}", "main",
        ("train/*.tar", "test/*.tar", "train/nshards.txt", "test/nshards.txt", "classnames.txt",
         "zeroshot_classification_templates.txt"),
        "webdataset", f"vtab/{task}",
        _WDS_NOTE.format(what=f"VTAB's train and test splits of {name}") + "; train800 = train rows 0-799, "
        "val200 = train rows 800-999 (the copy has no val split: not VTAB-1k's val200), test = the full "
        "VTAB test split",
        prefix=(("train/*.tar", VTAB_HUB_TRAIN_ROWS),), guess=_WDS_GUESS)


HUB: dict[str, HubSource] = {
    "imagenet-val": HubSource(
        "ILSVRC/imagenet-1k", "4603483700ee984ea9debe3ddbfdeae86f6489eb", ("data/val_images.tar.gz",),
        "archive", "imagenet-val",
        "the ILSVRC 2012 val images as ILSVRC2012_val_<n>_<wnid>.JPEG (gated: HF_TOKEN after accepting "
        "the terms); the revision that still holds the tar.gz archives",
        gated=True,
        guess="the revision and the members' names are read from public code that downloads this file, "
              "not from a listing"),
    "imagenet-v2": HubSource(
        "clip-benchmark/wds_imagenetv2", "main", ("test/*.tar", "test/nshards.txt", "classnames.txt"),
        "webdataset", "imagenet-v2",
        _WDS_NOTE.format(what="ImageNetV2 matched-frequency, cls = ImageNet class index"), guess=_WDS_GUESS),
    "imagenet-a": HubSource(
        "clip-benchmark/wds_imagenet-a", "main", ("test/*.tar", "test/nshards.txt", "classnames.txt"),
        "webdataset", "imagenet-a",
        _WDS_NOTE.format(what="cls = position among the 200 ImageNet-A WNIDs, sorted"), guess=_WDS_GUESS),
    "imagenet-r": HubSource(
        "clip-benchmark/wds_imagenet-r", "main", ("test/*.tar", "test/nshards.txt", "classnames.txt"),
        "webdataset", "imagenet-r",
        _WDS_NOTE.format(what="cls = position among the 200 ImageNet-R WNIDs, sorted"), guess=_WDS_GUESS),
    "imagenet-sketch": HubSource(
        "clip-benchmark/wds_imagenet_sketch", "main", ("test/*.tar", "test/nshards.txt", "classnames.txt"),
        "webdataset", "imagenet-sketch",
        _WDS_NOTE.format(what="cls = ImageNet class index"), guess=_WDS_GUESS),
    "imagenet-hard": HubSource(
        "taesiri/imagenet-hard", "main", ("data/validation-*.parquet",), "parquet", "imagenet-hard",
        "the authors' parquet shards (image, label list, origin), converted to images/ + labels.json; "
        "the repository holds two sets of shards, the newest is used",
        newest_set=True, convert=convert_imagenet_hard),
    **{f"vtab-{t}": _vtab_hub(t) for t in ("caltech101", "cifar100", "dtd", "oxford_flowers102",
                                           "oxford_iiit_pet", "sun397", "svhn", "patch_camelyon", "eurosat",
                                           "resisc45", "diabetic_retinopathy", "clevr_count", "clevr_distance",
                                           "dmlab", "dsprites_location", "dsprites_orientation", "kitti_distance",
                                           "smallnorb_azimuth", "smallnorb_elevation")},
}
#: datasets read from another's hub copy (imagenet-real is imagenet-val's images)
HUB_SHARED = {"imagenet-real": "imagenet-val"}


def hub_source_for(name: str) -> tuple[str, HubSource] | None:
    """(the dataset whose hub copy provides ``name``, its source), or None."""
    key = HUB_SHARED.get(name, name)
    return (key, HUB[key]) if key in HUB else None
