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

Intervals (docs/protocols.md §0, each method's coverage measured by tests/test_coverage.py):
a share of independent images gets Wilson's interval (``stats.proportion_ci``), anything
else the expanded percentile bootstrap over images (``stats.bootstrap_ci``), seeded with
the profile's seed, ``profile.bootstrap`` resamples (0: no intervals); an interval from
fewer than six images carries the coverage measured for it in its note. Rankings: a model
is said to be ahead of another only when the SIMULTANEOUS interval of their difference
excludes 0 (``stats.simultaneous_differences``: all pairs of a metric covered together, so
a metric's words are wrong for any pair with probability at most 5%), in the direction its
``schema.Metric`` declares.
"""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

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

    def comparison_matrices(self, min_models: int = 2) -> dict[str, pd.DataFrame]:
        """metric -> its paired comparisons as a matrix table (``comparison_matrix``), for
        each metric that compares at least ``min_models`` models."""
        out = {}
        for metric in dict.fromkeys(c["metric"] for c in self.comparisons):
            m = comparison_matrix(self.comparisons, metric)
            if m["model"].nunique() >= min_models:
                out[metric] = m
        return out


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
def model_threads() -> int:
    """Worker threads for per-model work that is numpy alone: the processor cores this
    process may use, at most 4 (each holds a model's outputs and their temporaries)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores))


def threaded_map(fn: Callable, arguments: Iterable[tuple], workers: int | None = None) -> list:
    """[fn(*a) for a in arguments], up to ``workers`` (``model_threads()``) calls at once in
    threads: numpy releases the interpreter's lock in its loops, so per-model numpy work
    runs on several cores. ``arguments`` is advanced in the caller's thread only (reading a
    model's outputs from the engine's cache stays there), and at most ``workers`` + 1 of its
    items are alive at once. Results in order; the first error is raised."""
    workers = model_threads() if workers is None else int(workers)
    if workers <= 1:
        return [fn(*a) for a in arguments]
    from concurrent.futures import ThreadPoolExecutor

    out, pending = [], deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="beyond-inet-model") as pool:
        for a in arguments:
            if len(pending) >= workers:
                out.append(pending.popleft().result())
            pending.append(pool.submit(fn, *a))
        while pending:
            out.append(pending.popleft().result())
    return out


def resamples(study, n_boot: int | None = None) -> int:
    """Resamples per interval: the profile's, or ``n_boot`` (for a statistic too costly to
    recompute a thousand times), 0 when the profile asks for no intervals."""
    return 0 if not study.n_boot else int(n_boot or study.n_boot)


def is_share(statistic, arrays, groups=None, cells=None) -> bool:
    """True for the mean of one 0/1 array whose rows are independent images (no groups, no
    cells): a share, which gets Wilson's interval."""
    if not (statistic == "mean" or statistic is np.mean) or len(arrays) != 1 or groups is not None \
            or cells is not None:
        return False
    a = np.asarray(arrays[0])
    return a.ndim == 1 and (a.dtype == bool or bool(np.isin(a, (0, 1)).all()))


def interval(study, statistic, *arrays, groups=None, cells=None, n_boot: int | None = None,
             share: bool = True) -> stats.Interval | None:
    """The interval of ``statistic(*arrays)``: Wilson's for a share of independent images
    (``is_share``), else ``stats.bootstrap_ci`` with the profile's resamples (or
    ``n_boot``) and seed; None when the profile asks for no intervals (``bootstrap: 0``)
    or there is nothing to resample. ``share=False``: never Wilson's (a mean of per-image
    differences that happen to be 0 or 1 is not a share)."""
    n_boot = resamples(study, n_boot)
    if not n_boot or not arrays or len(arrays[0]) == 0:
        return None
    if share and is_share(statistic, arrays, groups, cells):
        return stats.proportion_ci(np.asarray(arrays[0]))
    return stats.bootstrap_ci(statistic, *arrays, n_boot=n_boot, seed=study.seed, groups=groups, cells=cells)


def coverage_note(iv: stats.Interval | None) -> str:
    """What a page says beside an interval whose measured coverage falls short of 95%
    (fewer than six resampled images: ``stats.stated_coverage``); '' otherwise."""
    if iv is None or not iv.n_boot:
        return ""
    c = stats.stated_coverage(iv.n_units)
    if c is None:
        return ""
    return (f"95% interval from {iv.n_units} images: it covers the truth about {c:.0%} of the time "
            f"(measured); too few images for more")


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
    return headline_of(study, key, metric, value, iv, note)


def headline_of(study, key: str, metric: Metric, value: float, iv: stats.Interval | None, note: str = "") -> dict:
    """A headline row of ``metric`` for model ``key`` from a value and its interval computed
    already (``headline`` computes them); the note says when the interval's coverage falls short."""
    return study.headline_row(key, metric, value, iv, "; ".join(n for n in (note, coverage_note(iv)) if n))


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
def sample(study, statistic, *arrays, stream: int = 0, groups=None, cells=None, universe=None) -> tuple:
    """(estimate, replicates) of one of several samples whose statistics a headline
    averages (the seven robustness datasets, the VTAB tasks' test sets); replicates is None
    without intervals. ``stream``: the sample's number: each sample draws from its own seed
    (``study.seed + stream``), the same for every model, so two models' means are compared
    sample by sample on the same resamples. Samples made of one population's images
    (ImageNet-C and ReaL, of val) pass that population's ids as ``universe`` (``groups``:
    each row's id) and one stream: they are then resampled jointly
    (``stats.bootstrap_replicates``)."""
    # without intervals (bootstrap: 0) one replicate is drawn and dropped: the estimate is
    # the same statistic, computed the same way, as with them
    est, reps = stats.bootstrap_replicates(statistic, *arrays, n_boot=study.n_boot or 1,
                                           seed=study.seed + stream, groups=groups, cells=cells, universe=universe)
    return est, (reps if study.n_boot else None)


def combined_headline(study, key: str, metric: Metric, samples: list[tuple], *, note: str = "") -> dict:
    """A headline row of ``metric`` for the mean of several samples' statistics
    (``sample``), its interval by averaging replicate-wise (``stats.mean_of_independent``:
    right for independent samples, and for samples of one universe resampled jointly)."""
    iv = _combined(samples)
    value = float(np.mean([float(e) for e, _ in samples]))
    return study.headline_row(key, metric, value, iv, note)


def _combined(samples) -> stats.Interval | None:
    if not samples or any(r is None for _, r in samples):
        return None
    return stats.mean_of_independent(samples)


def compare_combined(study, metric: Metric, samples_by_key: Mapping[str, list[tuple]]) -> list[dict]:
    """``compare`` for a mean over samples: each model's replicates of the mean (its
    samples' replicates averaged replicate-wise, every model on the same resamples), then
    ``compare_replicates``. [] with fewer than two models or no intervals."""
    keys = list(samples_by_key)
    if len(keys) < 2 or not study.n_boot or any(r is None for k in keys for _, r in samples_by_key[k]):
        return []
    point = {k: float(np.mean([float(e) for e, _ in samples_by_key[k]])) for k in keys}
    reps = np.stack([np.mean(np.stack([np.asarray(r, dtype=np.float64) for _, r in samples_by_key[k]]), axis=0)
                     for k in keys], axis=1)
    return compare_replicates(study, metric, point, reps)


# ------------------------------------------------------------------------ comparisons
def compare_replicates(study, metric: Metric, estimates: Mapping[str, float], replicates, *,
                       correct_by_key: Mapping[str, np.ndarray] | None = None) -> list[dict]:
    """Comparison rows of every pair of the models ``estimates`` (key -> point estimate)
    from their replicates ((B, M), column m the m-th key's, every model on the same
    resamples: bootstrap, or ``stats.jackknife_replicates``), with simultaneous intervals
    (``stats.simultaneous_differences``) in ``metric``'s direction: metric, better, worse
    (labels, better first), difference, low, high, holds, p_value; with ``correct_by_key``
    (top-1 correctness per image, the same images for every model) p_value is McNemar's
    exact p-value, Holm-adjusted over the metric's pairs, else None."""
    keys = list(estimates)
    if len(keys) < 2:
        return []
    labels = {k: study.label(k) for k in keys}
    by_label = {v: k for k, v in labels.items()}
    named = {labels[k]: estimates[k] for k in keys}
    if metric.better is not None:
        _keep_ranks(study, metric, stats.ranks_from_replicates(named, replicates,
                                                               higher_is_better=metric.higher_is_better))
    table = stats.simultaneous_differences(named, replicates, higher_is_better=metric.higher_is_better)
    rows = []
    for r in table.to_dict("records"):
        row = {"metric": metric.name, "better": r["better"], "worse": r["worse"],
               "difference": float(r["difference"]), "low": finite_or_none(r["low"]),
               "high": finite_or_none(r["high"]), "holds": bool(r["holds"]), "p_value": None}
        if correct_by_key is not None:
            a, b = correct_by_key[by_label[r["better"]]], correct_by_key[by_label[r["worse"]]]
            row["p_value"] = stats.mcnemar_exact(a, b)["p_value"]
        rows.append(row)
    if correct_by_key is not None and rows:
        for row, p in zip(rows, stats.holm([row["p_value"] for row in rows])):
            row["p_value"] = float(p)
    return rows


def compare_drawn(study, metric: Metric, drawn: Mapping[str, tuple], *,
                  correct_by_key: Mapping[str, np.ndarray] | None = None) -> list[dict]:
    """``compare_replicates`` from each model's (estimate, replicates (B,)) in ``drawn``
    (key -> pair), drawn for each model alone on the same resamples (``same_rows``)."""
    return compare_replicates(study, metric, {k: float(est) for k, (est, _) in drawn.items()},
                              np.stack([np.asarray(reps, dtype=np.float64) for _, reps in drawn.values()], axis=1),
                              correct_by_key=correct_by_key)


def compare(study, metric: Metric, statistic, arrays_by_key: Mapping[str, object], *,
            correct_by_key: Mapping[str, np.ndarray] | None = None, groups=None, cells=None) -> list[dict]:
    """Paired comparisons of every pair of models on the same images (``stats.pairwise_ranking``,
    simultaneous intervals over the metric's pairs), in ``metric``'s direction: metric (its
    name), better, worse (model labels, better first by point estimate), difference, low,
    high, holds (the interval excludes 0); with ``correct_by_key`` (top-1 correctness per
    image) also McNemar's exact p-value, Holm-adjusted over the metric's pairs. [] with
    fewer than two models or no intervals."""
    keys = [k for k in arrays_by_key]
    if len(keys) < 2 or not study.n_boot:
        return []
    # every model's replicates once, on the same resamples: the ranks and the pairs read them
    estimates, reps = stats.model_replicates(statistic, {k: arrays_by_key[k] for k in keys},
                                             n_boot=study.n_boot, seed=study.seed, groups=groups, cells=cells)
    return compare_replicates(study, metric, estimates, reps, correct_by_key=correct_by_key)


def same_rows(paths_by_key: Mapping[str, object]) -> bool:
    """Whether every model scored the same images in the same order (paths): then
    replicates drawn for each model alone with one seed are paired, and ``compare_replicates``
    can compare them without drawing again."""
    paths = [np.asarray(p) for p in paths_by_key.values()]
    return all(len(p) == len(paths[0]) and (p is paths[0] or np.array_equal(p, paths[0])) for p in paths[1:])


def joint(study, statistic, keys, *arrays, metric: Metric | None, compared=None,
          groups=None, n_boot: int | None = None) -> tuple[dict, dict, list[dict]]:
    """Intervals and comparisons of a statistic computed for all models at once.

    ``statistic(*arrays)`` returns one value per model of ``keys`` (the arrays hold every
    model's rows for the same images: e.g. an (n, k) correctness matrix). Each bootstrap
    resample is drawn once and scores every model on it: each model's interval is the
    expanded percentile interval of its replicates, and the comparisons between two of
    ``compared`` (default: all) are ``compare_replicates``'s simultaneous intervals, at one
    evaluation of the statistic per resample. ``metric``: whose direction orders the
    comparisons (None: intervals only, ``compared`` empty).

    Returns (values: key -> point estimate, intervals: key -> ``stats.Interval`` or None,
    comparisons: rows as ``compare`` makes them, better first, p_value None)."""
    keys = list(keys)
    pos = {k: i for i, k in enumerate(keys)}
    point = np.asarray(statistic(*arrays), dtype=np.float64).ravel()
    values = {k: float(point[i]) for k, i in pos.items()}
    if metric is None and compared is None:
        compared = []
    chosen = [k for k in (keys if compared is None else compared) if math.isfinite(values[k])]
    n_boot = resamples(study, n_boot)
    if not n_boot or not arrays or len(arrays[0]) == 0:
        return values, {k: None for k in keys}, []
    _, reps = stats.bootstrap_replicates(statistic, *arrays, n_boot=n_boot, seed=study.seed, groups=groups)
    reps = np.asarray(reps, dtype=np.float64).reshape(n_boot, len(keys))
    units = len(arrays[0]) if groups is None else len(np.unique(np.asarray(groups)))
    intervals = {k: stats.interval_from_replicates(values[k], reps[:, i], n_units=units, n_boot=n_boot)
                 for k, i in pos.items()}
    rows = [] if metric is None else compare_replicates(study, metric, {k: values[k] for k in chosen},
                                                        reps[:, [pos[k] for k in chosen]])
    return values, intervals, rows


def _keep_ranks(study, metric: Metric, table: pd.DataFrame) -> None:
    """Remember each model's rank among the run's models on ``metric`` with its 95% rank
    interval (``stats.ranks_from_replicates``'s table) for ``rank_headline``."""
    study.ranks[metric.name] = {r["model"]: (r["rank"], r["rank_low"], r["rank_high"])
                                for r in table.to_dict("records")}


def rank_headline(study, rows: list[dict]) -> list[dict]:
    """The headline ``rows`` with each model's rank among the run's models on its metric
    and the 95% rank interval (``rank``, ``rank_low``, ``rank_high``; 1 is the best): each
    bootstrap resample, drawn once for every model, ranks all of them, ties sharing the
    best rank (``stats.rank_intervals``). Ranked where a page compares its models
    (``compare``, ``compare_combined``, ``joint``); a row of a metric no comparison ranked
    keeps None. A page's ``build`` calls this last."""
    for r in rows:
        got = study.ranks.get(r["metric"], {}).get(r["model"])
        if got is not None and all(math.isfinite(x) for x in got):
            r["rank"], r["rank_low"], r["rank_high"] = (int(x) for x in got)
    return rows


#: above this many models a ranking is said in counts and shown as a matrix (``comparison_matrix``):
#: 30 models make 435 pairs, too many to list in a sentence
LISTED_MODELS = 6


def comparison_matrix(comparisons: list[dict], metric: Metric | str) -> pd.DataFrame:
    """The paired comparisons of one metric as a square table for a matrix chart: one row
    per ordered pair of models (model, versus), ``verdict`` 'ahead' (the paired interval of
    model - versus excludes 0 in model's favour), 'behind' or 'cannot tell', the
    difference of model minus versus (in the metric's direction: positive = model ahead)
    with its interval; models ordered as they rank (the first is the best by point
    estimate)."""
    metric = metric.name if isinstance(metric, Metric) else metric
    rows = [c for c in comparisons if c["metric"] == metric]
    cols = ["metric", "model", "versus", "verdict", "difference", "low", "high", "order"]
    if not rows:
        return pd.DataFrame(columns=cols)
    wins = {}
    for c in rows:
        wins.setdefault(c["better"], 0)
        wins.setdefault(c["worse"], 0)
        wins[c["better"]] += 1
    order = {m: i for i, m in enumerate(sorted(wins, key=lambda m: -wins[m]))}
    out = []
    for c in rows:
        held = bool(c["holds"])
        for a, b, sign in ((c["better"], c["worse"], 1), (c["worse"], c["better"], -1)):
            lo, hi = (c["low"], c["high"]) if sign == 1 else (
                None if c["high"] is None else -c["high"], None if c["low"] is None else -c["low"])
            out.append({"metric": metric, "model": a, "versus": b,
                        "verdict": "cannot tell" if not held else ("ahead" if sign == 1 else "behind"),
                        "difference": sign * c["difference"], "low": lo, "high": hi, "order": order[a]})
    return pd.DataFrame(out, columns=cols).sort_values(["order", "versus"]).reset_index(drop=True)


def ranking_sentence(comparisons: list[dict], metric: Metric | str, *, what: str = "") -> str:
    """Words for a ranking that say only what holds: 'A is ahead of B and C; B and C cannot
    be told apart on these images.' '' when there is nothing to compare. ``metric``: a
    ``Metric`` or the name a row carries. Every "ahead" comes from an interval that holds
    simultaneously for all of the metric's pairs (``compare``, ``compare_replicates``). With
    more than ``LISTED_MODELS`` models, counts: how many of the pairs' orders hold, and who
    is ahead of every other model if one is (the matrix, ``comparison_matrix``, shows which)."""
    metric = metric.name if isinstance(metric, Metric) else metric
    rows = [c for c in comparisons if c["metric"] == metric]
    if not rows:
        return ""
    models = set(c["better"] for c in rows) | set(c["worse"] for c in rows)
    if len(models) > LISTED_MODELS:
        held = sum(bool(c["holds"]) for c in rows)
        subject = f" on {what}" if what else ""
        ahead_of_all = [m for m in models
                        if sum(1 for c in rows if c["better"] == m and c["holds"]) == len(models) - 1]
        lead = f" **{ahead_of_all[0]}** is ahead of every other model." if ahead_of_all else ""
        return (f"{metric}{subject}: of the {len(rows):,} pairs of {len(models)} models, {held:,} orders hold "
                f"(the paired 95% interval of the difference excludes 0), {len(rows) - held:,} cannot be told "
                f"apart.{lead} The matrix of the comparisons shows which.")
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
        parts.append(f"{_join(pairs, sep='; ')} cannot be told apart (the 95% interval of the difference, "
                     f"simultaneous over this metric's {len(rows)} pair{'s' if len(rows) > 1 else ''}, contains 0)")
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


# ------------------------------------------------------------------------ the field
#: a field's source as the page names it
FIELD_NAMES = {"quba": "QUBA's", "timm": "timm's", "open_clip": "OpenCLIP's"}
FIELD_GROUPS = ("field", "this run", "published", "humans")


def with_field(study, row: dict, key: str, metric: Metric, dataset: str) -> dict:
    """Place model ``key``'s headline number in the published field that measured the same
    thing on the same benchmark (``references.place_in_fields``: supervised models among
    timm's results, CLIP models among OpenCLIP's, shape bias among QUBA's 326 models): the
    percent of the field it is better than, with the interval its own interval implies,
    the field's size and source, and the field's own number for the model when it is in
    the field. A stand-in's number (a metric without its paper key) or one on another
    dataset is not placed. The field used is remembered on the study (``field_table``)."""
    from ..references import field_queries, place_in_fields

    spec = study.spec(key)
    placed = place_in_fields(spec, metric.paper, row["value"], dataset=dataset, low=row.get("ci_low"),
                             high=row.get("ci_high"), better=metric.better or "higher",
                             size=getattr(spec, "resolution", None))
    if not placed:
        return row
    for k in ("field_percentile", "field_percentile_low", "field_percentile_high", "field_n", "field_source",
              "field_published"):
        row[k] = placed.get(k)
    query = next(q for q in field_queries(metric.paper, spec, dataset) if q.source == placed["field_source"])
    study.fields[(row["metric"], query.source)] = query
    return row


def field_table(study, rows: list[dict], *, humans: Mapping[str, float] | None = None,
                unmeasured: list[tuple[Metric, str]] = ()) -> pd.DataFrame:
    """The field behind the placed headline rows (``with_field``), tidy for a strip chart:
    for each metric and source, one row per model of the field (group 'field'), the
    field's own number of each run model that is in it (group 'published'), the run's
    models with their intervals and percentiles (group 'this run'); ``humans``: observer
    -> value, added to every metric as group 'humans' (the shape-bias page's ten
    observers). ``unmeasured``: (metric, dataset) this run has no number for (its data is
    absent): the field is shown with the run's models that are in it placed by their
    published numbers alone (group 'published', with that number's percentile). Columns:
    metric, source, group, model, value, ci_low, ci_high, percentile, percentile_low,
    percentile_high, n."""
    from ..references import distribution, field_queries, find, place

    out = []
    for metric, dataset in unmeasured:
        for m in study.models:
            q = next(iter(field_queries(metric.paper, m, dataset)), None)
            mine = None if q is None else find(m, q.metric, q.benchmark, source=q.source, size=m.resolution)
            if mine is None or any(r["metric"] == metric.name for r in rows):
                continue
            study.fields.setdefault((metric.name, q.source), q)
            p = place(m, mine["value"], metric=q.metric, benchmark=q.benchmark, source=q.source,
                      better=metric.better or "higher", size=m.resolution)
            out.append({"metric": metric.name, "source": q.source, "group": "published", "model": study.label(m.key),
                        "value": float(mine["value"]), "percentile": p["field_percentile"], "n": p["field_n"]})
    shown_metrics = {(r["metric"], r["source"]) for r in out}
    for (metric, source), q in study.fields.items():
        mine = [r for r in rows if r["metric"] == metric and r.get("field_source") == source]
        if not mine and (metric, source) not in shown_metrics:
            continue
        dist = distribution(q.metric, q.benchmark, source=source)
        names = (dist["model"] + np.where(dist["pretrained"] != "", " " + dist["pretrained"], "")
                 + np.where(dist["training"] != "", " (" + dist["training"] + ")", ""))
        out += [{"metric": metric, "source": source, "group": "field", "model": m, "value": float(v),
                 "n": len(dist)} for m, v in zip(names, dist["value"])]
        for k, v in (humans or {}).items():
            out.append({"metric": metric, "source": source, "group": "humans", "model": k, "value": float(v)})
        for r in mine:
            out.append({"metric": metric, "source": source, "group": "this run", "model": r["model"],
                        "value": r["value"], "ci_low": r.get("ci_low"), "ci_high": r.get("ci_high"),
                        "percentile": r.get("field_percentile"), "percentile_low": r.get("field_percentile_low"),
                        "percentile_high": r.get("field_percentile_high"), "n": r.get("field_n")})
            if r.get("field_published") is not None:
                out.append({"metric": metric, "source": source, "group": "published", "model": r["model"],
                            "value": r["field_published"]})
    cols = ["metric", "source", "group", "model", "value", "ci_low", "ci_high", "percentile", "percentile_low",
            "percentile_high", "n"]
    return frame(out, cols)


def field_shown(field: pd.DataFrame) -> pd.DataFrame:
    """The run's models' places in the field (``field_table``) as a reader's table: model,
    metric, the run's value with its interval, the field (source and size), the percentile
    with its interval, and the field's own number for the model where it has one."""
    cols = ["model", "metric", "this run [95% CI]", "field", "better than [95% CI]", "the field's number"]
    if field.empty:
        return pd.DataFrame(columns=cols)
    pub = {(r["metric"], r["model"]): r["value"] for r in field[field["group"] == "published"].to_dict("records")}
    out = []
    for r in field[field["group"] == "this run"].to_dict("records"):
        pct = None if r["percentile"] is None or pd.isna(r["percentile"]) else r["percentile"]
        low, high = (r.get("percentile_low"), r.get("percentile_high"))
        has_iv = low is not None and not pd.isna(low)
        out.append({"model": r["model"], "metric": r["metric"],
                    "this run [95% CI]": interval_text(r["value"], *((r["ci_low"], r["ci_high"])
                                                                     if not pd.isna(r["ci_low"]) else (None, None))),
                    "field": f"{FIELD_NAMES.get(r['source'], r['source'])} {int(r['n']):,} models",
                    "better than [95% CI]": "–" if pct is None else
                    interval_text(pct, *((low, high) if has_iv else (None, None)), fmt="{:.0f}%"),
                    "the field's number": interval_text(pub.get((r["metric"], r["model"])))})
    return pd.DataFrame(out, columns=cols)


def field_sentence(rows: list[dict], metric_name: str) -> str:
    """Where the run's models stand in the published field on one metric: 'Among timm's
    1,265 models on top-1 imagenet-a, A is better than 61% [58%, 64%] of them (timm
    publishes 0.571 for its weights) ...'. '' when no row of that metric is placed."""
    placed = [r for r in rows if r["metric"] == metric_name and r.get("field_source")]
    if not placed:
        return ""
    parts = []
    for source in dict.fromkeys(r["field_source"] for r in placed):
        mine = sorted((r for r in placed if r["field_source"] == source), key=lambda r: -r["field_percentile"])
        n = max(r["field_n"] for r in mine)
        said, rest = [], ""
        if len(mine) > LISTED_MODELS:      # many models: the first three and the last; the table has each
            rest = (f" The run's {len(mine)} models span {mine[-1]['field_percentile']:.0f}% to "
                    f"{mine[0]['field_percentile']:.0f}% (the table gives each)")
            mine = [*mine[:3], mine[-1]]
        for r in mine:
            text = f"**{r['model']}** is better than {r['field_percentile']:.0f}%"
            if r.get("field_percentile_low") is not None:
                text += f" [{r['field_percentile_low']:.0f}%, {r['field_percentile_high']:.0f}%]"
            if r.get("field_published") is not None:
                text += f" ({source} publishes {r['field_published']:.3f} for its weights)"
            said.append(text)
        parts.append(f"Among {FIELD_NAMES.get(source, source)} {n:,} models on {metric_name}: " + "; ".join(said)
                     + "." + (rest + "." if rest else ""))
    return " ".join(parts) + (" (Percent of the field's models a value beats, ties half; the bracket is where "
                              "the ends of its 95% interval fall.)")


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
