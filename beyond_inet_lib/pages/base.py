"""What every page is made of, and the helpers that put an interval on every number.

A property page is built in two steps, both in the library so both are tested:

1. ``requests(study) -> list[Request]``: what to predict (the datasets, already subset as
   the profile says, the models, the views, the outputs). Absent datasets are recorded on
   the study (and shown as a panel in a notebook); stand-ins are built where the profile
   allows them.
2. ``build(study, answers) -> Page``: pure. From the engine's answers (``{request name:
   Answer(request, results)}``) to the tidy tables a page charts, the headline rows for the report's index
   (each with its 95% bootstrap interval and, where the model is one of the paper's, the
   paper's number), the paired comparisons between models, and the findings in words.

``gather(study, requests)`` runs the predictions; ``compute(study)`` in each page module is
``build(study, gather(study, requests(study)))``, the one call a notebook makes.

Intervals (docs/protocols.md §0): ``stats.bootstrap_ci`` over images, seeded with the
profile's seed, ``profile.bootstrap`` resamples (0: no intervals). Rankings: a model is
said to be ahead of another only when the paired interval of their difference excludes 0,
in the direction its ``schema.Metric`` declares.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from .. import stats
from .schema import Metric, finite_or_none


@dataclass
class Request:
    """One prediction a page needs: ``study.predict(dataset, views, models, outputs=..., layers=...,
    **settings)``. ``name`` keys the results; ``settings`` overrides the run settings (a
    protocol-sensitivity variant: precision, decode, CLIP logit scale)."""

    name: str
    dataset: object                       # data.DatasetIndex
    models: list
    views: object = None                  # None | dict name -> View | callable spec -> dict
    outputs: tuple = ("logits",)
    layers: Mapping | None = None
    settings: Mapping = field(default_factory=dict)
    property: str = ""                    # the page that asked (set when a run collects requests)

    def plan(self, settings, **kw):
        """The engine's ``Plan`` of this request under ``settings`` (a ``RunSettings``, this
        request's own overrides applied; keyword arguments as ``engine.plan``'s): what
        ``gather`` would compute, without computing it."""
        from .. import engine

        return engine.plan(self.models, self.dataset, self.views, outputs=self.outputs, layers=self.layers,
                           settings=settings.override(**dict(self.settings)), **kw)


@dataclass
class Answer:
    """A request and the engine's ``Results`` for it."""

    request: Request
    results: object                       # engine.Results

    @property
    def dataset(self):
        return self.request.dataset


@dataclass
class Page:
    """What a property page shows.

    ``tables``: tidy DataFrames by name (charted and shown by the notebook);
    ``headline``: rows for the report index (``schema.HeadlineRow``);
    ``comparisons``: paired comparisons (metric, better, worse, difference, low, high,
    holds, p_value); ``findings``: Markdown paragraphs computed from the numbers;
    ``inputs``: the datasets the page read (dataset, status, images, note)."""

    property: str
    tables: dict = field(default_factory=dict)
    headline: list = field(default_factory=list)
    comparisons: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    inputs: list = field(default_factory=list)

    def table(self, name: str) -> pd.DataFrame:
        """The table ``name`` (an empty frame when the page has none: no data)."""
        return self.tables.get(name, pd.DataFrame())

    @property
    def has_numbers(self) -> bool:
        return bool(self.headline)


def gather(study, requests: list[Request]) -> dict[str, Answer]:
    """``{request.name: Answer}`` for every request (cached: nothing is computed twice)."""
    out = {}
    for r in requests:
        kw = dict(r.settings)
        if r.layers is not None:
            kw["layers"] = r.layers
        out[r.name] = Answer(r, study.predict(r.dataset, r.views, r.models, outputs=r.outputs, **kw))
    return out


# ------------------------------------------------------------------------- intervals
def resamples(study, n_boot: int | None = None) -> int:
    """Resamples per interval: the profile's, or ``n_boot`` (for a statistic too costly to
    recompute a thousand times), 0 when the profile asks for no intervals."""
    return 0 if not study.n_boot else int(n_boot or study.n_boot)


def interval(study, statistic, *arrays, groups=None, cells=None, n_boot: int | None = None
             ) -> stats.Interval | None:
    """``stats.bootstrap_ci`` with the profile's resamples (or ``n_boot``) and seed; None
    when the profile asks for no intervals (``bootstrap: 0``) or there is nothing to resample."""
    n_boot = resamples(study, n_boot)
    if not n_boot or not arrays or len(arrays[0]) == 0:
        return None
    return stats.bootstrap_ci(statistic, *arrays, n_boot=n_boot, seed=study.seed, groups=groups, cells=cells)


def with_interval(row: dict, iv: stats.Interval | None) -> dict:
    """``row`` with ``ci_low`` / ``ci_high`` from ``iv`` (None without one)."""
    row["ci_low"] = None if iv is None else finite_or_none(iv.low)
    row["ci_high"] = None if iv is None else finite_or_none(iv.high)
    return row


def headline(study, key: str, metric: Metric, statistic, *arrays, note: str = "", groups=None, cells=None,
             value: float | None = None, n_boot: int | None = None) -> dict:
    """A headline row of ``metric``: ``statistic(*arrays)`` (or ``value`` when given) for
    model ``key``, its bootstrap interval, the paper's number where it has one."""
    iv = interval(study, statistic, *arrays, groups=groups, cells=cells, n_boot=n_boot)
    if value is None:
        value = iv.estimate if iv is not None else _evaluate(statistic, arrays)
    return study.headline_row(key, metric, value, iv, note)


def _evaluate(statistic, arrays) -> float:
    if statistic == "mean" or statistic is np.mean:
        return float(np.mean(np.asarray(arrays[0], dtype=np.float64)))
    return float(statistic(*arrays))


def interval_text(value, low=None, high=None, fmt: str = "{:.3f}") -> str:
    """'0.876 [0.855, 0.896]' (just the value without an interval)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = fmt.format(value)
    if low is not None and high is not None:
        text += f" [{fmt.format(low)}, {fmt.format(high)}]"
    return text


# ------------------------------------------------ means over independent samples
def sample(study, statistic, *arrays, stream: int = 0, groups=None, cells=None) -> tuple:
    """(estimate, replicates) of one of several independent samples whose statistics a
    headline averages (the seven robustness datasets, the VTAB tasks' test sets);
    replicates is None without intervals. ``stream``: the sample's number: each sample
    draws from its own seed (``study.seed + stream``), the same for every model, so two
    models' means are compared sample by sample on the same resamples."""
    # without intervals (bootstrap: 0) one replicate is drawn and dropped: the estimate is
    # the same statistic, computed the same way, as with them
    est, reps = stats.bootstrap_replicates(statistic, *arrays, n_boot=study.n_boot or 1,
                                           seed=study.seed + stream, groups=groups, cells=cells)
    return est, (reps if study.n_boot else None)


def combined_headline(study, key: str, metric: Metric, samples: list[tuple], *, note: str = "") -> dict:
    """A headline row of ``metric`` for the mean of several independent samples'
    statistics (``sample``), its interval by averaging replicate-wise
    (``stats.mean_of_independent``)."""
    iv = _combined(samples)
    value = float(np.mean([float(e) for e, _ in samples]))
    return study.headline_row(key, metric, value, iv, note)


def _combined(samples) -> stats.Interval | None:
    if not samples or any(r is None for _, r in samples):
        return None
    return stats.mean_of_independent(samples)


def compare_combined(study, metric: Metric, samples_by_key: Mapping[str, list[tuple]]) -> list[dict]:
    """``compare`` for a mean over independent samples: for every pair of models the
    paired interval of the difference of their means (per sample the difference of the
    two models' replicates, drawn on the same resamples, then averaged replicate-wise).
    [] with fewer than two models or no intervals."""
    keys = list(samples_by_key)
    if len(keys) < 2 or not study.n_boot:
        return []
    point = {k: float(np.mean([float(e) for e, _ in samples_by_key[k]])) for k in keys}
    ranked = sorted(keys, key=lambda k: point[k], reverse=metric.higher_is_better)
    rows = []
    for i, a in enumerate(ranked):
        for b in ranked[i + 1:]:
            diffs = [(float(ea) - float(eb), np.asarray(ra) - np.asarray(rb))
                     for (ea, ra), (eb, rb) in zip(samples_by_key[a], samples_by_key[b])]
            iv = _combined(diffs)
            if iv is None:
                return []
            rows.append({"metric": metric.name, "better": study.label(a), "worse": study.label(b),
                         "difference": float(iv.estimate), "low": finite_or_none(iv.low), "high": finite_or_none(iv.high),
                         "holds": bool(stats.is_significant(iv)), "p_value": None})
    return rows


# ------------------------------------------------------------------------ comparisons
def compare(study, metric: Metric, statistic, arrays_by_key: Mapping[str, object], *,
            correct_by_key: Mapping[str, np.ndarray] | None = None, groups=None, cells=None) -> list[dict]:
    """Paired comparisons of every pair of models on the same images (``stats.pairwise_ranking``),
    in ``metric``'s direction: metric (its name), better, worse (model labels, better first
    by point estimate), difference, low,
    high, holds (the paired interval excludes 0); with ``correct_by_key`` (top-1
    correctness per image) also McNemar's exact p-value. [] with fewer than two models or
    no intervals."""
    keys = [k for k in arrays_by_key]
    if len(keys) < 2 or not study.n_boot:
        return []
    labels = {k: study.label(k) for k in keys}
    ranking = stats.pairwise_ranking(statistic, {labels[k]: arrays_by_key[k] for k in keys},
                                     higher_is_better=metric.higher_is_better, n_boot=study.n_boot,
                                     seed=study.seed, groups=groups, cells=cells)
    by_label = {v: k for k, v in labels.items()}
    rows = []
    for r in ranking.to_dict("records"):
        row = {"metric": metric.name, "better": r["better"], "worse": r["worse"],
               "difference": float(r["difference"]), "low": finite_or_none(r["low"]),
               "high": finite_or_none(r["high"]), "holds": bool(r["holds"]), "p_value": None}
        if correct_by_key is not None:
            a, b = correct_by_key[by_label[r["better"]]], correct_by_key[by_label[r["worse"]]]
            row["p_value"] = stats.mcnemar_exact(a, b)["p_value"]
        rows.append(row)
    return rows


def joint(study, statistic, keys, *arrays, metric: Metric | None, compared=None,
          groups=None, n_boot: int | None = None, basic: bool = False) -> tuple[dict, dict, list[dict]]:
    """Intervals and paired comparisons of a statistic computed for all models at once.

    ``statistic(*arrays)`` returns one value per model of ``keys`` (the arrays hold every
    model's rows for the same images: e.g. an (n, k) correctness matrix, or features whose
    Gram matrices are shared). Each bootstrap resample is drawn once and scores every model
    and every difference between two of ``compared`` (default: all) on it, so the interval
    of a difference is the paired interval ``compare`` gives, at one evaluation of the
    statistic per resample instead of two per pair. ``metric``: whose direction orders the
    comparisons (None: intervals only, ``compared`` empty).

    ``basic``: the basic (reverse-percentile) interval [2 est - q_high, 2 est - q_low]
    (Davison & Hinkley 1997, eq. 5.6) instead of the percentile one, for a statistic whose
    resamples are biased (CKA: an image drawn twice inflates it, as a small sample does).
    The percentile interval then sits beside the estimate, shifted by that bias, and may
    not even contain it; the basic interval subtracts the shift.

    Returns (values: key -> point estimate, intervals: key -> ``stats.Interval`` or None,
    comparisons: rows as ``compare`` makes them, better first, p_value None)."""
    keys = list(keys)
    pos = {k: i for i, k in enumerate(keys)}
    point = np.asarray(statistic(*arrays), dtype=np.float64).ravel()
    values = {k: float(point[i]) for k, i in pos.items()}
    if metric is None and compared is None:
        compared = []
    chosen = [k for k in (keys if compared is None else compared) if math.isfinite(values[k])]
    pairs = list(itertools.combinations(sorted(pos[k] for k in chosen), 2))
    n_boot = resamples(study, n_boot)
    if not n_boot or not arrays or len(arrays[0]) == 0:
        return values, {k: None for k in keys}, []

    def with_differences(*a):
        v = np.asarray(statistic(*a), dtype=np.float64).ravel()
        return np.concatenate([v, [v[i] - v[j] for i, j in pairs]])

    iv = stats.bootstrap_ci(with_differences, *arrays, n_boot=n_boot, seed=study.seed, groups=groups)
    low, high = np.atleast_1d(iv.low), np.atleast_1d(iv.high)
    if basic:
        est = np.atleast_1d(iv.estimate)
        low, high = 2 * est - high, 2 * est - low
    intervals = {k: replace(iv, estimate=values[k], low=float(low[i]), high=float(high[i]))
                 for k, i in pos.items()}
    ranked = sorted(chosen, key=lambda k: values[k], reverse=metric is not None and metric.higher_is_better)
    rows = []
    for b, w in itertools.combinations(ranked, 2):
        i, j = pos[b], pos[w]
        p = len(keys) + pairs.index((min(i, j), max(i, j)))
        lo, hi = (low[p], high[p]) if i < j else (-high[p], -low[p])   # of value(b) - value(w)
        rows.append({"metric": metric.name, "better": study.label(b), "worse": study.label(w),
                     "difference": values[b] - values[w], "low": finite_or_none(lo), "high": finite_or_none(hi),
                     "holds": bool(lo > 0 or hi < 0), "p_value": None})
    return values, intervals, rows


def ranking_sentence(comparisons: list[dict], metric: Metric | str, *, what: str = "") -> str:
    """Words for a ranking that say only what holds: 'A is ahead of B and C; B and C cannot
    be told apart on these images.' '' when there is nothing to compare. ``metric``: a
    ``Metric`` or the name a row carries."""
    metric = metric.name if isinstance(metric, Metric) else metric
    rows = [c for c in comparisons if c["metric"] == metric]
    if not rows:
        return ""
    held = [c for c in rows if c["holds"]]
    tied = [c for c in rows if not c["holds"]]
    parts = []
    leaders: dict[str, list[str]] = {}
    for c in held:
        leaders.setdefault(c["better"], []).append(c["worse"])
    for lead, behind in leaders.items():
        parts.append(f"**{lead}** is ahead of {_join(behind)}")
    if tied:
        pairs = [f"{c['better']} and {c['worse']}" for c in tied]
        parts.append(f"{_join(pairs, sep='; ')} cannot be told apart (the paired 95% interval of the "
                     f"difference contains 0)")
    subject = f" on {what}" if what else ""
    return f"{metric}{subject}: " + "; ".join(parts) + "."


def _join(items: list[str], sep: str = ", ") -> str:
    items = list(dict.fromkeys(items))
    if len(items) <= 1:
        return "".join(items)
    return sep.join(items[:-1]) + (" and " if sep == ", " else sep) + items[-1]


# ------------------------------------------------------------------- published numbers
def with_published(row: dict, spec, benchmark: str, view) -> dict:
    """Add the number another harness published for this model and benchmark (OpenCLIP's
    or timm's results table): ``published`` (a fraction), ``published_source`` (who, and
    what in their protocol differs from this run's view), ``published_flag`` (True when
    this run's interval excludes it)."""
    from ..references import protocol_differences, published

    rows = published(spec, benchmark)
    if not rows:
        return row
    # timm may list a model at several sizes: the one closest to this run's input
    size = view.crop or view.resize or 224
    pub = min(rows, key=lambda r: abs(r.img_size - size))
    diffs = protocol_differences(pub, view)
    if getattr(spec, "prompts", "paper") != "paper":  # a CLIP head from a shorter prompt set
        diffs.append(f"zero-shot prompts: {pub.source} encodes OpenAI's 80 templates, this run "
                     f"the {spec.prompts} set")
    row["published"] = pub.value
    row["published_source"] = (f"{pub.harness} ({pub.name})"
                               + (": " + "; ".join(diffs) if diffs else ": same preprocessing"))
    lo, hi = row.get("ci_low"), row.get("ci_high")
    row["published_flag"] = bool(lo is not None and hi is not None and not lo <= pub.value <= hi)
    return row


def published_sentence(rows: list[dict]) -> str:
    """Words for run numbers whose interval excludes the published one, naming the
    protocol differences that could explain it."""
    flagged = [r for r in rows if r.get("published_flag")]
    if not flagged:
        return ""
    return " ".join(f"{r['model']}: {r['metric']} {r['value']:.3f} "
                    f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] excludes the {r['published']:.3f} published by "
                    f"{r['published_source']}." for r in flagged)


# ------------------------------------------------------------------------------ misc
def thumbnail(path, size: int = 96, quality: int = 80) -> str | None:
    """A ``data:image/jpeg;base64,...`` URI of the image at ``path``, at most ``size`` px on
    its longer side (a few kB: a page embeds its images and loads nothing); None when the
    file cannot be read."""
    import base64
    import io

    from ..images import UnreadableImage, load_rgb

    try:
        img = load_rgb(path)
    except UnreadableImage:
        return None
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def common_result_rows(results_by_key: Mapping[str, object]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The images every model scored, in the first model's order: (their table rows, key ->
    row positions in that model's ``Result``). Paired statistics need the same images at
    the same positions; an image one model could not read is left out for all."""
    if not results_by_key:
        return pd.DataFrame(), {}
    rows = common_rows({k: r.table["path"].to_numpy() for k, r in results_by_key.items()})
    first = next(iter(results_by_key))
    return results_by_key[first].table.iloc[rows[first]].reset_index(drop=True), rows


def frame(rows: list[dict], columns: list[str] | None = None) -> pd.DataFrame:
    """A DataFrame of ``rows`` (with ``columns`` even when empty)."""
    df = pd.DataFrame(rows)
    if columns is not None:
        df = df.reindex(columns=columns)
    return df


def shown(table: pd.DataFrame, *chart_columns: str) -> pd.DataFrame:
    """The table as a page shows it: without the columns only its chart reads (the bare
    numbers beside their '[95% CI]' text)."""
    return table.drop(columns=[c for c in chart_columns if c in table.columns])


def per_model(study, results, fn: Callable) -> dict:
    """``{model key: fn(spec, result)}`` for the study's models present in ``results``
    (a ``Results`` with one view per model)."""
    out = {}
    for m in study.models:
        rs = results.for_model(m.key)
        if rs:
            out[m.key] = fn(m, next(iter(rs.values())))
    return out


def trained_or_all(study, by_key: Mapping) -> dict:
    """The entries of trained models when the run has any, else all: rankings compare real
    models, not untrained stand-ins (whose rows stay in the tables and charts)."""
    return {k: v for k, v in by_key.items() if study.spec(k).trained} or dict(by_key)


def common_rows(paths_by_key: Mapping[str, object]) -> dict[str, np.ndarray]:
    """``{key: row positions}`` of the images every model scored, in the first model's
    order: a paired comparison needs row i to be the same image for every model."""
    if not paths_by_key:
        return {}
    arrays = {k: np.asarray(p) for k, p in paths_by_key.items()}
    first = next(iter(arrays.values()))
    if all(len(a) == len(first) and np.array_equal(a, first) for a in arrays.values()):
        return {k: np.arange(len(first)) for k in arrays}     # the usual case, without an index
    series = {k: pd.Series(np.arange(len(a)), index=a) for k, a in arrays.items()}
    common = next(iter(series.values())).index
    for s in series.values():
        common = common[common.isin(s.index)]
    return {k: s[common].to_numpy() for k, s in series.items()}
