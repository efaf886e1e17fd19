"""The page context: what a property page reads and records in one object (``Study``):
the profile, its models, the data root, the engine's run settings; datasets (or a clear
panel when one is absent), cached predictions, the paper's numbers, headline rows.

    study = report.setup(profile, data_root, report_dir, "calibration")   # a notebook's
    page = pages.calibration.compute(study)
    report.record_page(page, report_dir)

A quiet study (``show=False``: what ``workload`` plans a run with) records its panels in
``notes`` and what it read in ``inputs`` and displays nothing; a notebook's study shows
its panels through the display helpers of ``nb``. A study is made from a loaded profile
(``config.Profile``); this module reads no profile file itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from ..data import DatasetIndex, DatasetMissing, load_dataset
from ..errors import DatasetInvalid
from ..paths import progress_enabled
from ..references import paper_value
from ..run_settings import RunSettings
from .schema import HeadlineRow, Metric, headline_row


@dataclass
class Study:
    """One property's view of a run: the profile, its models, the data root; what the page
    read (``inputs``: each dataset looked up, with its status) and the panels it showed.

    ``settings``: the property's settings (``properties.<property>`` of the profile);
    ``run_settings``: the engine's (given for a run on other workers, else the profile's);
    ``list_layers``: spec -> its tap layers (None: the engine's own); ``progress``:
    progress bars for stand-in builds (None: the environment's switch); ``show``: display
    panels (in a notebook); off, they are only recorded (``notes``)."""

    profile: object                     # config.Profile
    data_root: Path | None
    report_dir: Path | None
    property: str
    models: list = field(default_factory=list)
    standins_used: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    show: bool = True
    run_settings: RunSettings | None = None
    list_layers: Callable | None = None
    progress: bool | None = None
    not_applicable: list = field(default_factory=list, init=False)   # features-only models left out
    fields: dict = field(default_factory=dict)   # (metric name, source) -> the FieldQuery a page placed it in
    ranks: dict = field(default_factory=dict)    # metric name -> model label -> (rank, low, high)

    def __post_init__(self):
        if self.run_settings is None:
            self.run_settings = self.profile.run_settings()
        # features-only models (no ImageNet-1k logits) only where the page uses features
        from .properties import PROPERTIES

        prop = PROPERTIES.get(self.property)
        self.not_applicable = [m for m in self.models if getattr(m, "labels", "imagenet") == "none"
                               and not (prop is not None and prop.features_only)]
        self.models = [m for m in self.models if m not in self.not_applicable]

    # ------------------------------------------------------------------ settings
    @property
    def settings(self):
        """The property's settings dataclass (``properties.<property>`` of the profile)."""
        return self.profile.settings(self.property)

    @property
    def n_boot(self) -> int:
        """Bootstrap resamples per interval (0: no intervals)."""
        return self.profile.bootstrap

    @property
    def seed(self) -> int:
        return self.profile.seed

    @property
    def cache_dir(self) -> Path:
        return Path(self.run_settings.cache_dir)

    def layers_of(self, spec) -> pd.DataFrame:
        """The layers ``spec`` can tap (name, kind), in depth order."""
        if self.list_layers is not None:
            return self.list_layers(spec)
        from .. import engine

        return engine.list_layers(spec, settings=self.run_settings)

    # -------------------------------------------------------------------- panels
    def panel(self, title: str, body: str, kind: str = "info"):
        """Show (in a notebook) and record a panel."""
        self.notes.append({"title": title, "body": body, "kind": kind})
        if self.show:
            from .. import nb

            nb.panel(title, body, kind)

    def _input(self, name: str, status: str, images: int | None = None, note: str = ""):
        """Record what the page read; one row per dataset, the latest status wins."""
        self.inputs = [i for i in self.inputs if i["dataset"] != name]
        self.inputs.append({"dataset": name, "status": status, "images": images, "note": note})

    # -------------------------------------------------------------------- models
    def label(self, key: str) -> str:
        spec = self.spec(key)
        untrained = not spec.trained and "untrained" not in spec.label
        return spec.label + (" (untrained)" if untrained else "")

    def spec(self, key: str):
        for m in self.models:
            if m.key == key:
                return m
        from ..models import get_model

        return get_model(key)

    def meaningful(self, df: pd.DataFrame, col: str = "model") -> pd.DataFrame:
        """Rows of trained models only, when the run has any: findings rank real models,
        not untrained stand-ins (whose rows stay in the tables and charts)."""
        trained = {self.label(m.key) for m in self.models if m.trained}
        keep = df[col].isin(trained)
        return df[keep] if keep.any() else df

    def model_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"model": self.label(m.key), "key": m.key, "architecture": m.arch,
                              "training": m.training, "paper model": m.paper_key or "–",
                              "weights": "pretrained" if m.trained else "untrained (random init)",
                              "preprocessing": m.view(self.profile.preprocessing).describe()}
                             for m in self.models])

    def describe_models(self):
        if self.show:
            from .. import nb

            nb.table(self.model_frame())
        if self.not_applicable:
            self.panel("Not applicable here: features-only models",
                       f"{', '.join(m.label for m in self.not_applicable)} "
                       f"{'has' if len(self.not_applicable) == 1 else 'have'} no ImageNet-1k classifier (a backbone, "
                       f"or a classifier of other classes): this page needs ImageNet predictions. The transfer and "
                       f"similarity pages use their features.", "info")
        untrained = [self.label(m.key) for m in self.models if not m.trained]
        if untrained:
            self.panel("Untrained stand-ins",
                       f"{', '.join(untrained)} are randomly initialised small models that exercise the code "
                       f"paths of the paper's architectures. Their numbers are shown for completeness and mean "
                       f"nothing about those architectures.", "warn")

    # ------------------------------------------------------------------ datasets
    def user_datasets(self, imagenet: bool) -> list[str]:
        """The names of the profile's own datasets (``datasets:``) whose labels are
        ImageNet classes (``imagenet``) or classes of their own."""
        return [name for name, d in (getattr(self.profile, "datasets", None) or {}).items()
                if d.imagenet == imagenet]

    def dataset(self, name: str, *, show_missing: bool = True, **kw) -> DatasetIndex | None:
        """The dataset, or None after showing a panel that says where it was looked for,
        the layout expected and how to get it."""
        try:
            ds = load_dataset(name, self.data_root, **kw)
        except DatasetInvalid as e:   # there, but not usable as it is (a user's dataset): say what to fix
            self._input(name, "absent", 0, e.problem)
            self.panel(f"Dataset not usable: {name}", f"{e.problem}\nFix: {e.fix}", "missing")
            return None
        except DatasetMissing as e:
            self.missing.append(e)
            if not any(i["dataset"] == name and i["status"] != "absent" for i in self.inputs):
                self._input(name, "absent", 0, str(e.looked_at))
            if show_missing:
                self.panel(f"Dataset not found: {name}",
                           f"Looked at: {e.looked_at}\n" + (f"Found: {e.found}\n" if e.found else "")
                           + f"Expected layout: {e.layout}\nGet it with: {self.how_to_get(e)}", "missing")
            return None
        self._input(name, "ok", len(ds))
        return ds

    def how_to_get(self, missing: DatasetMissing) -> str:
        """A dataset's remedy as a shell in the project runs it: this run's data root in place
        of the DATA_ROOT placeholder, the command as ``paths.program`` says."""
        from ..paths import data_root_or_default, runnable

        return runnable(missing.how_to_get, data_root_or_default(self.data_root or self.profile.data_root))

    def show_missing(self, names=None, title: str = "Datasets not found"):
        """One panel listing several absent datasets (those looked up with
        ``show_missing=False``), each with where it was looked for and how to get it."""
        errs = [e for e in self.missing if names is None or e.name in names]
        if errs and self.show:
            from .. import nb

            nb.missing_panel(title, [(e.name, str(e.looked_at), self.how_to_get(e)) for e in errs])

    def imagenet_eval_set(self, max_images: int | None = None) -> DatasetIndex | None:
        """ImageNet-1k val when the data root has it; else the 1,000 ImageNet sample images
        (one per class, from the train split: accuracy is optimistic), said on the page."""
        val = self.dataset("imagenet-val", show_missing=False)
        if val is not None:
            return val.spread(max_images)
        samples = self.dataset("imagenet-samples", show_missing=False)
        if samples is None:
            self.dataset("imagenet-val")  # shows the panel for the real thing
            return None
        self._input("imagenet-val", "absent", 0, "the ImageNet sample images (train split) stand in")
        self.panel("ImageNet val not found: using the 1,000 ImageNet sample images",
                   "One image per class, from the ImageNet train split (so models have seen them: "
                   "accuracy and calibration are optimistic). Point the data root at ImageNet val "
                   "(`beyond-inet data check`) for the paper's protocol.", "warn")
        return samples.spread(max_images)

    def standin(self, build, *args, take=None, **kw) -> DatasetIndex:
        """Build (or reuse) a generated stand-in and say so on the page. ``take``: the part
        of it this run uses (a function of the built dataset; the panel counts that part,
        per split where it has splits), returned instead of the whole."""
        kw.setdefault("progress", progress_enabled(self.progress))
        whole = build(*args, cache_dir=self.cache_dir, seed=self.profile.seed, **kw)
        ds = take(whole) if take else whole
        self.standins_used.append(ds.name)
        self._input(ds.name, "stand-in", len(ds), ds.description)
        count = f"{len(ds)} images"
        if "split" in ds.table:
            per = ds.table["split"].value_counts()
            count += " (" + " / ".join(f"{per[s]} {s}" for s in ("train", "val", "test") if s in per) + ")"
        if len(ds) != len(whole):
            count = f"This run uses {count} of its {len(whole)}"
        self.panel(f"Stand-in data: {ds.name}",
                   f"{ds.description}\n{count}. Numbers on this data are not comparable to the paper's.", "warn")
        return ds

    # --------------------------------------------------------------- predictions
    def predict(self, dataset: DatasetIndex, views=None, models=None, **kw):
        from .. import engine

        specs = models if models is not None else self.models
        return engine.predict(specs, dataset, views, settings=self.run_settings, **kw)

    # ------------------------------------------------------------------ headline
    def paper(self, paper_key: str | None, key: str) -> float | None:
        """The paper's number ``paper_key`` (a key of ``references.PAPER``) for model
        ``key``; None when the paper has none (or the model is not one of the paper's)."""
        return paper_value(paper_key, self.spec(key).paper_key) if paper_key else None

    def headline_row(self, key: str, metric: Metric, value: float, interval=None, note: str = "") -> HeadlineRow:
        """The headline row of ``metric`` for model ``key``: its label, ``value``, the 95%
        ``interval`` (a ``stats.Interval`` or None), the paper's number where the metric
        has a paper key and the model is one of the paper's, 'untrained' in the notes of
        an untrained model."""
        notes = [n for n in (note, "" if self.spec(key).trained else "untrained") if n]
        return headline_row(self.label(key), metric, value, interval, paper=self.paper(metric.paper, key),
                            note="; ".join(notes))
