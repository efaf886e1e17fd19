"""What a report reads: every prediction request the eight property pages make, from a
profile and a data root, without running a model.

Each property has one function, ``<property>_requests(inputs) -> list[Request]``, that
makes exactly the requests its notebook makes: the same dataset (same subset rules:
``spread``, ``head``, ``per_class``, the transfer split caps; generated stand-ins where the
profile allows them, built from the sample images), the same models (resolution variants
``<key>@R`` included), views (the shape-bias stimuli view, the invariance scale / shift
sweeps), outputs and layer taps. Same requests, same cache keys: a run that computes every
request (``beyond-inet run``) leaves the notebooks nothing to compute.

``requests_for_profile(profile, data_root)`` is all of them. A ``Request`` turns into an
``engine.Plan`` with ``request.plan(settings)``.

Not free of side effects, on purpose: stand-ins are built (once, into the cache) because
their file list is part of the cache key, and the similarity page's layer picks load each
model once (``engine.list_layers``; a caller may pass another ``list_layers``, e.g. one
that asks a GPU worker). Datasets absent under the data root are recorded in
``Inputs.missing`` and skipped, as the pages skip them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .data import DatasetIndex, DatasetMissing, load_dataset, spread_indices
from .paths import progress_enabled, resolve_data_root
from .run_settings import RunSettings


@dataclass
class Request:
    """One ``predict`` call of a page: ``models`` x ``views`` on ``dataset`` (arguments as
    ``engine.predict``'s). ``property`` and ``role`` say which page and which call
    (e.g. 'invariance', 'scale')."""

    property: str
    role: str
    dataset: DatasetIndex
    models: list
    views: object = None
    outputs: tuple = ("logits",)
    layers: dict | None = None

    def plan(self, settings: RunSettings, **kw):
        """The engine's ``Plan`` of this request under ``settings`` (keyword arguments as
        ``engine.plan``'s)."""
        from . import engine

        return engine.plan(self.models, self.dataset, self.views, outputs=self.outputs,
                           layers=self.layers, settings=settings, **kw)


@dataclass
class Inputs:
    """What every property's requests start from: the profile, its data root, its models
    and run settings; and what was found missing or generated on the way."""

    profile: object                      # config.Profile
    data_root: Path | None
    models: list                         # ModelSpec, profile order
    settings: RunSettings
    list_layers: Callable | None = None  # spec -> DataFrame(name, kind); default engine.list_layers
    progress: bool = False
    missing: list = field(default_factory=list)   # DatasetMissing, in the order met
    standins: list = field(default_factory=list)  # DatasetIndex of the stand-ins built

    def dataset(self, name: str) -> DatasetIndex | None:
        """The dataset, or None (recorded in ``missing``) when it is absent."""
        try:
            return load_dataset(name, self.data_root)
        except DatasetMissing as e:
            self.missing.append(e)
            return None

    def imagenet_eval_set(self, max_images: int | None) -> DatasetIndex | None:
        """ImageNet val spread to ``max_images`` when present, else the sample images
        (as ``nb.Study.imagenet_eval_set``)."""
        val = self.dataset("imagenet-val")
        if val is not None:
            return val.spread(max_images)
        samples = self.dataset("imagenet-samples")
        return None if samples is None else samples.spread(max_images)

    def standin(self, build, *args, **kw) -> DatasetIndex:
        """A generated stand-in (built once into the cache; as ``nb.Study.standin``)."""
        kw.setdefault("progress", self.progress)
        ds = build(*args, cache_dir=self.settings.cache_dir, seed=self.profile.seed, **kw)
        self.standins.append(ds)
        return ds

    def layers_of(self, spec):
        if self.list_layers is not None:
            return self.list_layers(spec)
        from .engine import list_layers

        return list_layers(spec, settings=self.settings)


def inputs(profile, data_root=None, *, settings: RunSettings | None = None,
           list_layers: Callable | None = None, progress: bool | None = None) -> Inputs:
    """The ``Inputs`` of a (validated) profile: ``data_root`` wins over the profile's, as in
    ``nb.setup``; ``settings`` default ``profile.run_settings()``."""
    from .models import get_model

    root = resolve_data_root(data_root) if data_root else profile.resolved_data_root()
    return Inputs(profile, root, [get_model(k) for k in profile.models],
                  settings or profile.run_settings(), list_layers, progress_enabled(progress))


def _standins():
    # the stand-in generators: one import site, so a move of the module touches one line
    from .data import standins

    return standins


# ------------------------------------------------------------------------- the pages
def mistakes_requests(inp: Inputs) -> list[Request]:
    """ImageNet val (spread to max_images) joined with ImageNet-X; without it, the
    simulated-factor stand-in built from the sample images."""
    s = inp.profile.settings("mistakes")
    val = inp.dataset("imagenet-val")
    if val is not None:
        if s.max_images:
            val = val.spread(s.max_images)
        return [Request("mistakes", "imagenet-x", val, inp.models)]
    if inp.profile.standins:
        samples = inp.dataset("imagenet-samples")
        if samples is not None:
            ds = inp.standin(_standins().factor_standin, samples, n_images=s.standin_images)
            return [Request("mistakes", "stand-in", ds, inp.models)]
    return []


def stimuli_views(spec, preprocessing: str) -> dict:
    """The cue-conflict view: supervised models see the 224 px stimuli as they are (no
    resize, no crop), CLIP models go through their own transform."""
    v = spec.view(preprocessing)
    return {"stimuli": v if spec.training == "clip" else v.replace(resize=None, crop=None)}


def shape_bias_requests(inp: Inputs) -> list[Request]:
    """The first max_images cue-conflict stimuli under the stimuli view."""
    ds = inp.dataset("cue-conflict")
    if ds is None:
        return []
    pre = inp.profile.preprocessing
    return [Request("shape_bias", "stimuli", ds.head(inp.profile.settings("shape_bias").max_images),
                    inp.models, lambda spec: stimuli_views(spec, pre))]


def calibration_requests(inp: Inputs) -> list[Request]:
    """The ImageNet evaluation set, and ImageNet-R, each spread to max_images."""
    s = inp.profile.settings("calibration")
    out = []
    ds = inp.imagenet_eval_set(s.max_images)
    if ds is not None:
        out.append(Request("calibration", "imagenet", ds, inp.models))
    imr = inp.dataset("imagenet-r")
    if imr is not None:
        out.append(Request("calibration", "imagenet-r", imr.spread(s.max_images), inp.models))
    return out


def robustness_requests(inp: Inputs) -> list[Request]:
    """Each variant present (spread to max_images, ImageNet-C excepted); the ImageNet-C
    stand-in from the sample images when ImageNet-C is absent and stand-ins are allowed."""
    s = inp.profile.settings("robustness")
    out = []
    for variant in s.variants:
        ds = inp.dataset(variant)
        if ds is None and variant == "imagenet-c" and inp.profile.standins:
            samples = inp.dataset("imagenet-samples")
            if samples is not None:
                ds = inp.standin(_standins().imagenet_c_standin, samples, n_images=s.corruption_images,
                                 corruptions=s.corruptions)
        if ds is None:
            continue
        if s.max_images and len(ds) > s.max_images and variant != "imagenet-c":
            ds = ds.spread(s.max_images)
        out.append(Request("robustness", variant, ds, inp.models))
    return out


def transfer_split_caps(ds: DatasetIndex, max_train: int | None) -> DatasetIndex:
    """At most ``max_train`` train, ``max_train // 4`` val and ``max_train`` test images,
    the first of each split in table order (all when ``max_train`` is None)."""
    if not max_train:
        return ds
    caps = {"train": max_train, "val": max(1, max_train // 4), "test": max_train}
    keep = ds.table.groupby("split").cumcount() < ds.table["split"].map(caps)
    return ds.subset(keep.to_numpy())


def transfer_requests(inp: Inputs) -> list[Request]:
    """Features of each task's images ('digits': the scikit-learn digits task, generated
    whatever ``standins`` says, as the page does)."""
    from .data import vtab_dataset_name

    s = inp.profile.settings("transfer")
    out = []
    for task in s.tasks:
        if task == "digits":
            ds = inp.standin(_standins().digits_task)
        else:
            ds = inp.dataset(vtab_dataset_name(task))
            if ds is None:
                continue
        out.append(Request("transfer", task, transfer_split_caps(ds, s.max_train), inp.models,
                           outputs=("features",)))
    return out


def synthetic_requests(inp: Inputs) -> list[Request]:
    """PUG-ImageNet (max_images // 151 per class, seeded), else its stand-in."""
    s = inp.profile.settings("synthetic")
    ds = inp.dataset("pug-imagenet")
    if ds is not None and s.max_images:
        ds = ds.per_class(max(1, s.max_images // 151), seed=inp.profile.seed)
    if ds is None and inp.profile.standins:
        samples = inp.dataset("imagenet-samples")
        if samples is not None:
            ds = inp.standin(_standins().synthetic_standin, samples, n_images=s.standin_images)
    return [] if ds is None else [Request("synthetic", "pug", ds, inp.models)]


def scale_views(spec, preprocessing: str, scales) -> dict:
    """Resize(int(s x the model's resize)) then its crop, named ``f"{s:g}"``."""
    v = spec.view(preprocessing)
    return {f"{s:g}": v.replace(resize=int(s * v.resize)) for s in scales}


def shift_views(spec, preprocessing: str, shifts) -> dict:
    """The model's view with the crop window moved by d pixels, named ``str(d)``."""
    v = spec.view(preprocessing)
    return {str(d): v.replace(shift=int(d)) for d in shifts}


def resolution_specs(models, resolutions) -> list:
    """Each model at each resolution; at its native one the model itself (same weights,
    same view: that pass is shared)."""
    return [m if r == m.resolution else m.at_resolution(r) for m in models for r in resolutions]


def invariance_requests(inp: Inputs) -> list[Request]:
    """The scale sweep, the shift sweep and the resolution variants on the ImageNet
    evaluation set."""
    s = inp.profile.settings("invariance")
    ds = inp.imagenet_eval_set(s.max_images)
    if ds is None:
        return []
    pre = inp.profile.preprocessing
    return [Request("invariance", "scale", ds, inp.models, lambda spec: scale_views(spec, pre, s.scales)),
            Request("invariance", "shift", ds, inp.models, lambda spec: shift_views(spec, pre, s.shifts)),
            Request("invariance", "resolution", ds, resolution_specs(inp.models, s.resolutions))]


def layer_picks(inp: Inputs, max_layers: int) -> dict[str, list[str]]:
    """Per model, ``max_layers`` of its tap layers spread evenly over depth."""
    picks = {}
    for m in inp.models:
        layers = inp.layers_of(m)
        picks[m.key] = layers.iloc[spread_indices(len(layers), max_layers)]["name"].tolist()
    return picks


def similarity_requests(inp: Inputs) -> list[Request]:
    """Logits and the picked layer taps on the ImageNet evaluation set."""
    s = inp.profile.settings("similarity")
    ds = inp.imagenet_eval_set(s.max_images)
    if ds is None:
        return []
    return [Request("similarity", "layers", ds, inp.models, outputs=("logits", "layers"),
                    layers=layer_picks(inp, s.max_layers))]


#: property -> its requests, in the report's order
PROPERTY_REQUESTS = {
    "mistakes": mistakes_requests, "shape_bias": shape_bias_requests,
    "calibration": calibration_requests, "robustness": robustness_requests,
    "transfer": transfer_requests, "synthetic": synthetic_requests,
    "invariance": invariance_requests, "similarity": similarity_requests,
}


def requests_for_profile(profile, data_root=None, properties=None, *, settings: RunSettings | None = None,
                         list_layers: Callable | None = None, progress: bool | None = None,
                         inp: Inputs | None = None) -> list[Request]:
    """Every request the report of ``profile`` makes (``properties``: a subset, report
    order kept). Absent datasets are skipped (``inp.missing`` lists them when ``inp`` is
    given)."""
    inp = inp or inputs(profile, data_root, settings=settings, list_layers=list_layers, progress=progress)
    wanted = list(PROPERTY_REQUESTS) if properties is None else list(properties)
    unknown = [p for p in wanted if p not in PROPERTY_REQUESTS]
    if unknown:
        raise ValueError(f"unknown properties {unknown}; known: {', '.join(PROPERTY_REQUESTS)}")
    return [r for p in PROPERTY_REQUESTS if p in wanted for r in PROPERTY_REQUESTS[p](inp)]
