"""What every notebook needs in one object: the profile, its models, datasets (or a clear
panel when one is absent), cached predictions, the paper's numbers, headline recording.

    study = nb.setup(profile, data_root, report_dir, "calibration")
    samples = study.dataset("imagenet-samples")
    res = study.predict(samples)

Notebooks narrate; everything that computes lives in the library.
"""

from __future__ import annotations

import html
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .references import paper_value
from .config import Profile, load_profile, progress_enabled
from .paths import PROGRESS_ENV, data_root_or_default, runnable
from .data import DatasetIndex, DatasetMissing, load_dataset


#: the data root of the notebook's study (``setup``): printed commands name it
_where = {"data_root": None}


def _display(obj):
    try:
        from IPython.display import display

        display(obj)
    except ImportError:  # plain Python: print something sensible
        print(obj)


def panel(title: str, body: str, kind: str = "info"):
    """A boxed note on the page (missing dataset, stand-in, untrained models)."""
    from IPython.display import HTML

    colours = {"info": ("#eef4fb", "#3b6ea8"), "warn": ("#fff6e5", "#b7791f"),
               "missing": ("#fdecec", "#b83232")}
    bg, fg = colours.get(kind, colours["info"])
    body_html = html.escape(runnable(body, _where["data_root"])).replace("\n", "<br>")
    _display(HTML(f'<div class="bi-panel bi-{kind}" style="background:{bg};border-left:4px solid {fg};'
                  f'padding:0.6em 1em;margin:0.8em 0;font-family:sans-serif">'
                  f'<b style="color:{fg}">{html.escape(title)}</b><br>{body_html}</div>'))


def finding(markdown_text: str):
    """Show a finding computed from the numbers (a Markdown paragraph)."""
    from IPython.display import Markdown

    _display(Markdown(runnable(markdown_text, _where["data_root"])))


def findings(page):
    """A page's findings (Markdown paragraphs computed from its numbers), or a line saying
    there is nothing to conclude from."""
    if not page.findings:
        finding("_No finding: the data this page needs was not found (see the panels above)._")
    for text in page.findings:
        finding(text)


def table(df: pd.DataFrame, floatfmt: str = "{:.3f}", caption: str | None = None):
    """A compact HTML table (no index) for the page; nothing for an empty one (a page
    without its data says so in its panels, not with an empty table)."""
    from IPython.display import HTML

    if df.empty:
        return

    df = df.astype(object).where(df.notna(), None).map(lambda v: "–" if v is None else v)
    df.columns.name = None  # pivot tables carry a columns name that renders as an empty column
    from .report import unsigned_zero

    styled = df.to_html(index=False, float_format=lambda x: unsigned_zero(floatfmt.format(x)), na_rep="–",
                        border=0, classes="bi-table")
    cap = f"<p style='font-size:90%;color:#555'>{html.escape(caption)}</p>" if caption else ""
    _display(HTML(TABLE_CSS + styled + cap))


def gallery(df: pd.DataFrame, image: str = "image", caption: str = "caption"):
    """Small images side by side, each with its caption (lines of text). ``image`` holds
    ``data:image/...`` URIs (the page embeds its thumbnails: nothing is loaded from
    anywhere); rows without one are shown as captions only."""
    from IPython.display import HTML

    cells = []
    for row in df.to_dict("records"):
        src = row.get(image)
        img = (f'<img src="{html.escape(src)}" style="display:block;margin-bottom:4px" alt="">'
               if isinstance(src, str) and src.startswith("data:image/") else "")
        text = html.escape(str(row.get(caption) or "")).replace("\n", "<br>")
        cells.append(f'<figure style="margin:0;width:190px;font:12px sans-serif">{img}'
                     f"<figcaption>{text}</figcaption></figure>")
    if cells:
        _display(HTML('<div class="bi-gallery" style="display:flex;flex-wrap:wrap;gap:12px;margin:0.6em 0">'
                      + "".join(cells) + "</div>"))


TABLE_CSS = """<style>
.bi-table {border-collapse: collapse; font-family: sans-serif; font-size: 13px; margin: 0.5em 0}
.bi-table th {background: #f0f0f0; padding: 4px 10px; text-align: left}
.bi-table td {padding: 3px 10px; border-bottom: 1px solid #e5e5e5; text-align: right}
.bi-table td:first-child {text-align: left}
</style>"""


@dataclass
class Study:
    """One property's view of a run: the profile, its models, the data root; what the page
    read (``inputs``: each dataset looked up, with its status) and the panels it showed.
    ``show``: display panels (in a notebook); off, they are only recorded (``notes``)."""

    profile: Profile
    data_root: Path | None
    report_dir: Path | None
    property: str
    models: list = field(default_factory=list)
    standins_used: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    show: bool = True
    run: object = None                  # RunSettings for the engine; None: the profile's
    list_layers: object = None          # spec -> its tap layers; None: the engine's own
    progress: bool | None = None        # progress bars for stand-in builds; None: the environment's

    # ------------------------------------------------------------------ settings
    @property
    def settings(self):
        return self.profile.settings(self.property)

    @property
    def n_boot(self) -> int:
        """Bootstrap resamples per interval (0: no intervals)."""
        return self.profile.bootstrap

    @property
    def seed(self) -> int:
        return self.profile.seed

    def panel(self, title: str, body: str, kind: str = "info"):
        """Show (in a notebook) and record a panel."""
        self.notes.append({"title": title, "body": body, "kind": kind})
        if self.show:
            panel(title, body, kind)

    def _input(self, name: str, status: str, images: int | None = None, note: str = ""):
        """Record what the page read; one row per dataset, the latest status wins."""
        self.inputs = [i for i in self.inputs if i["dataset"] != name]
        self.inputs.append({"dataset": name, "status": status, "images": images, "note": note})

    @property
    def cache_dir(self) -> Path:
        return Path(self.run_settings().cache_dir)

    def run_settings(self):
        """The engine's settings: ``run`` when given (a run for other workers), else the profile's."""
        return self.run if self.run is not None else self.profile.run_settings()

    def layers_of(self, spec) -> pd.DataFrame:
        """The layers ``spec`` can tap (name, kind), in depth order."""
        if self.list_layers is not None:
            return self.list_layers(spec)
        from . import engine

        return engine.list_layers(spec, settings=self.run_settings())

    # -------------------------------------------------------------------- models
    def label(self, key: str) -> str:
        spec = self.spec(key)
        untrained = not spec.trained and "untrained" not in spec.label
        return spec.label + (" (untrained)" if untrained else "")

    def spec(self, key: str):
        for m in self.models:
            if m.key == key:
                return m
        from .models import get_model

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
            table(self.model_frame())
        untrained = [self.label(m.key) for m in self.models if not m.trained]
        if untrained:
            self.panel("Untrained stand-ins",
                  f"{', '.join(untrained)} are randomly initialised small models that exercise the code "
                  f"paths of the paper's architectures. Their numbers are shown for completeness and mean "
                  f"nothing about those architectures.", "warn")

    # ------------------------------------------------------------------ datasets
    def dataset(self, name: str, *, show_missing: bool = True, **kw) -> DatasetIndex | None:
        """The dataset, or None after showing a panel that says where it was looked for,
        the layout expected and how to get it."""
        try:
            ds = load_dataset(name, self.data_root, **kw)
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
        return runnable(missing.how_to_get, data_root_or_default(self.data_root or self.profile.data_root))

    def show_missing(self, names=None, title: str = "Datasets not found"):
        """One panel listing several absent datasets (those looked up with
        ``show_missing=False``), each with where it was looked for and how to get it."""
        import html as _html

        from IPython.display import HTML

        errs = [e for e in self.missing if names is None or e.name in names]
        if not errs or not self.show:
            return
        rows = "".join(f"<tr><td><b>{_html.escape(e.name)}</b></td><td>{_html.escape(str(e.looked_at))}</td>"
                       f"<td><code>{_html.escape(self.how_to_get(e))}</code></td></tr>" for e in errs)
        _display(HTML(
            '<div class="bi-panel bi-missing" style="background:#fdecec;border-left:4px solid #b83232;'
            'padding:0.6em 1em;margin:0.8em 0;font-family:sans-serif">'
            f'<b style="color:#b83232">{_html.escape(title)}</b> (the rest of the page uses what was found; '
            f'`{_html.escape(runnable("beyond-inet data check"))}` shows the expected layouts)'
            '<table style="font-size:12px;margin-top:0.4em"><tr><th align=left>dataset</th>'
            f'<th align=left>looked at</th><th align=left>get it with</th></tr>{rows}</table></div>'))

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

    def standin(self, build, *args, **kw) -> DatasetIndex:
        """Build (or reuse) a generated stand-in and say so on the page."""
        kw.setdefault("progress", progress_enabled(self.progress))
        ds = build(*args, cache_dir=self.cache_dir, seed=self.profile.seed, **kw)
        self.standins_used.append(ds.name)
        self._input(ds.name, "stand-in", len(ds), ds.description)
        self.panel(f"Stand-in data: {ds.name}",
              f"{ds.description}\n{len(ds)} images. Numbers on this data are not comparable to the "
              f"paper's.", "warn")
        return ds

    # --------------------------------------------------------------- predictions
    def predict(self, dataset: DatasetIndex, views=None, models=None, **kw):
        from . import engine

        specs = models if models is not None else self.models
        return engine.predict(specs, dataset, views, settings=self.run_settings(), **kw)

    # ------------------------------------------------------------------ headline
    def paper(self, metric: str, key: str) -> float | None:
        return paper_value(metric, self.spec(key).paper_key)

    def headline_row(self, key: str, metric: str, value: float, better: str = "higher",
                     paper_metric: str | None = None, note: str = "") -> dict:
        spec = self.spec(key)
        notes = [n for n in (note, "" if spec.trained else "untrained") if n]
        return {"model": self.label(key), "metric": metric, "value": float(value),
                "paper": self.paper(paper_metric, key) if paper_metric else None,
                "better": better, "note": "; ".join(notes)}

    def record(self, page):
        """A page's headline numbers, comparisons and inputs for the report's index page
        (no-op outside a report run). ``page``: a ``pages.Page``."""
        from . import report

        report.record(self.property, pd.DataFrame(page.headline), self.report_dir,
                      comparisons=page.comparisons, inputs=self.inputs)


def setup(profile: str, data_root: str | None, report_dir: str | None, prop: str) -> Study:
    """Load and validate the profile, resolve the data root, build the model specs."""
    warnings.filterwarnings("ignore")
    os.environ.setdefault(PROGRESS_ENV, "0" if report_dir else "1")
    if report_dir and progress_enabled():
        # A report run that asked for progress (``build_report(progress=True)``): the bars
        # (predictions, zero-shot heads, stand-ins, downloads) go to the terminal running the
        # report, the kernel's inherited stderr, never into the notebook or its page.
        sys.stderr = sys.__stderr__
    overrides = {"data_root": data_root} if data_root else None
    prof = load_profile(profile, overrides)
    models = prof.model_specs()
    import numpy as np
    import torch

    torch.manual_seed(prof.seed)
    np.random.seed(prof.seed)
    _where["data_root"] = data_root_or_default(prof.data_root)
    return Study(prof, prof.resolved_data_root(), Path(report_dir) if report_dir else None, prop, models)
