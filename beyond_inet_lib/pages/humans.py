"""Models against humans (docs/protocols.md §9): model-vs-human's out-of-distribution
benchmark. On each of its datasets found (edges, silhouettes, cue-conflict, sketch,
stylized and twelve distortions at several levels), the 16-class accuracy of each model and
of each human observer, the error consistency of each model with the observers and of the
observers with one another; across the datasets, model-vs-human's summary (OOD accuracy,
observed and error consistency) and its plots, drawn from these numbers.

Every source is a trial log (``references.humans``): a model's 16-class decisions on the
stimuli (``metrics.cue_conflict_decisions`` of its softmax), an observer's trials as read.
Logs are paired by stimulus (model-vs-human's image id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import metrics, stats
from ..data.model_vs_human import BENCHMARK
from ..errors import ProfileError, did_you_mean
from ..references import humans as refs
from .base import (Page, Request, combined_headline, compare_combined, frame, gather, interval_text,
                   rank_headline, ranking_sentence, sample)
from .schema import Metric, Property

OOD_METRIC = Metric("OOD accuracy (model-vs-human)", "higher")
KAPPA_METRIC = Metric("error consistency with humans (model-vs-human)", "higher", "kappa")
DATASET_METRIC = Metric("16-class accuracy ({dataset})", "higher")
#: per-dataset headline rows: the two datasets where Geirhos et al. (2019) showed humans near
#: ceiling and texture-biased models falling apart
DATASET_METRICS = {name: DATASET_METRIC.at(dataset=name) for name in ("edges", "silhouettes")}
MODEL, OBSERVER, HUMANS = "this run", "human observer", refs.HUMANS


@dataclass
class HumansSettings:
    datasets: list[str] = field(default_factory=lambda: list(BENCHMARK))  # of model-vs-human's 17
    max_images: int | None = None   # stimuli per dataset (None: all)

    def check(self, where: str) -> None:
        """Every dataset one of the benchmark's."""
        for d in self.datasets:
            if d not in BENCHMARK:
                raise ProfileError(f"{where}.datasets: {d!r} is not a dataset of model-vs-human's benchmark"
                                   f"{did_you_mean(d, BENCHMARK)}; known: {', '.join(BENCHMARK)}")


#: the benchmark's distortions with levels (every dataset but edges, silhouettes, cue-conflict,
#: sketch and stylized), and the command that fetches them with their observers' trials
LEVELLED = tuple(name for name, d in BENCHMARK.items() if d.levels)
LEVELLED_HOW_TO_GET = ("beyond-inet data get " + " ".join(f"{n} {BENCHMARK[n].humans}" for n in LEVELLED)
                       + " --root DATA_ROOT")


# ------------------------------------------------------------------------ requests
def _stimuli_views(study):
    """As on the shape-bias page: supervised models see the 224 px stimuli as they are, CLIP
    models through their own transform (which leaves a 224 px image unchanged but for
    normalisation)."""
    def views(spec):
        v = spec.view(study.profile.preprocessing)
        return {"stimuli": v if spec.training == "clip" else v.replace(resize=None, crop=None)}
    return views


def _datasets(study) -> list[str]:
    """The profile's datasets of the benchmark, in the benchmark's order."""
    wanted = set(study.settings.datasets)
    return [n for n in BENCHMARK if n in wanted]


def requests(study) -> list[Request]:
    """One request per dataset of the benchmark found (all models, the stimuli's views); one
    panel lists those not found."""
    settings = study.settings
    names = _datasets(study)
    out = []
    for name in names:
        ds = study.dataset(name, show_missing=False)
        if ds is not None:
            out.append(Request(name, ds.spread(settings.max_images), study.models, views=_stimuli_views(study)))
    study.show_missing(names, title="Datasets of model-vs-human's benchmark not found")
    return out


def observer_trials(study, names) -> dict[str, dict[str, pd.DataFrame]]:
    """dataset -> subject -> trials, for the datasets whose observers' trials are under
    the data root (recorded as the page's inputs; one panel names those absent)."""
    out, absent = {}, []
    for name in names:
        d = BENCHMARK[name]
        logs = refs.load_trials(name, study.data_root)
        if logs:
            study._input(d.humans, "ok", len(logs), "observers")
            out[name] = logs
        else:
            study._input(d.humans, "absent", 0, str(Path(study.data_root or "DATA_ROOT") / d.trials_folder))
            absent.append(d.humans)
    if absent:
        study.panel("Human observers' trials not found",
                    f"Without them these datasets show the models alone: {', '.join(absent)}.\n"
                    f"Get them with: beyond-inet data get {' '.join(absent)} --root {study.data_root or 'DATA_ROOT'}",
                    "missing")
    return out


# --------------------------------------------------------------------------- build
def _model_logs(study, answers: dict) -> dict[str, dict[str, pd.DataFrame]]:
    """dataset -> model key -> its trial log."""
    out = {}
    for name, ans in answers.items():
        logs = {}
        for m in study.models:
            rs = ans.results.for_model(m.key)
            if rs:
                r = next(iter(rs.values()))
                logs[m.key] = refs.model_trials(r.table, metrics.cue_conflict_decisions(r.probs()))
        if logs:
            out[name] = logs
    return out


def _kept(log: pd.DataFrame, name: str) -> pd.DataFrame:
    keep = BENCHMARK[name].summary_levels
    return log if keep == ("",) else log[log["level"].astype(str).isin(keep)]


def build(study, answers: dict, *, trials: dict | None = None) -> Page:
    """The page from the engine's answers (one per dataset) and the observers' trials
    (dataset -> subject -> trials; None or {} when absent)."""
    page = Page("humans")
    page.inputs = list(study.inputs)
    trials = {k: v for k, v in (trials or {}).items() if v}
    models = _model_logs(study, answers)
    names = [n for n in BENCHMARK if n in models or n in trials]
    if not names:
        page.findings = findings(study, page)
        return page
    label = {m.key: study.label(m.key) for m in study.models}
    acc_rows, kappa_rows, pair_rows = [], [], []
    ood: dict[str, list] = {}
    kappa: dict[str, list] = {}
    for stream, name in enumerate(names):
        seed = study.seed + stream          # each dataset its own resamples, the same for every model
        mine, observers = models.get(name, {}), trials.get(name, {})
        n_boot = study.n_boot
        if mine:
            t = refs.accuracy_table(mine, name, by_level=True, n_boot=n_boot, seed=seed)
            acc_rows.append(t.assign(dataset=name, source=MODEL, model=t["decision_maker"].map(label)))
            for key, log in mine.items():
                ood.setdefault(key, []).append(sample(study, "mean", _kept(log, name)["correct"].to_numpy(float),
                                                      stream=stream))
        if observers:
            t = refs.accuracy_table(observers, name, by_level=True, group=HUMANS, n_boot=n_boot, seed=seed)
            src = np.where(t["decision_maker"] == HUMANS, HUMANS, OBSERVER)
            acc_rows.append(t.assign(dataset=name, source=src, model=t["decision_maker"]))
            pooled = _kept(pd.concat(list(observers.values()), ignore_index=True), name)
            ood.setdefault(HUMANS, []).append(sample(study, "mean", pooled["correct"].to_numpy(float),
                                                     groups=pooled["stimulus"].to_numpy(), stream=stream))
        if mine and observers:
            c = refs.consistency_table(mine, observers, dataset=name, n_boot=n_boot, seed=seed)
            kappa_rows.append(c.means.assign(dataset=name, source=MODEL, model=c.means["decision_maker"].map(label)))
            pair_rows.append(c.pairs.assign(dataset=name, model=c.pairs["a"].map(label), observer=c.pairs["b"]))
            for key in mine:
                kappa.setdefault(key, []).append(c.samples[key]["kappa"])
        if len(observers) > 1:
            c = refs.consistency_table(observers, dataset=name, n_boot=n_boot, seed=seed)
            kappa_rows.append(c.means.assign(dataset=name, source=HUMANS, model=HUMANS))
            kappa.setdefault(HUMANS, []).append(c.samples[HUMANS]["kappa"])
    acc = pd.concat(acc_rows, ignore_index=True) if acc_rows else pd.DataFrame()
    _dataset_tables(page, acc, kappa_rows, pair_rows)
    _summary(study, page, models, trials, ood, kappa, label)
    _headline(study, page, acc, ood, kappa)
    page.findings = findings(study, page)
    rank_headline(study, page.headline)
    return page


def _title(name: str) -> str:
    return BENCHMARK[name].title


def _dataset_tables(page: Page, acc: pd.DataFrame, kappa_rows: list, pair_rows: list) -> None:
    """Per dataset: accuracy of every decision maker (and per level), error consistency."""
    if acc.empty:
        return
    whole = acc[acc["level"] == ""].copy()
    whole["dataset title"] = whole["dataset"].map(_title)
    page.tables["accuracy"] = frame(whole.to_dict("records"),
                                    ["dataset", "dataset title", "model", "source", "accuracy", "ci_low", "ci_high",
                                     "trials"])
    bars = page.tables["accuracy"]
    page.tables["accuracy_bars"] = bars[bars["source"] != OBSERVER].reset_index(drop=True)   # observers pooled
    levels = acc[acc["level"] != ""].copy()
    if len(levels):
        levels = levels[levels["source"] != OBSERVER]
        levels["level label"] = [BENCHMARK[n].label_of(lv) for n, lv in zip(levels["dataset"], levels["level"])]
        levels["level order"] = [BENCHMARK[n].levels.index(lv) for n, lv in zip(levels["dataset"], levels["level"])]
        levels["axis"] = [f"{_title(n)}: {BENCHMARK[n].axis}" for n in levels["dataset"]]
        levels["in summary"] = [lv not in BENCHMARK[n].excluded for n, lv in zip(levels["dataset"], levels["level"])]
        page.tables["per_level"] = levels[["dataset", "axis", "level", "level label", "level order", "in summary",
                                           "model", "source", "accuracy", "ci_low", "ci_high", "trials"]
                                          ].reset_index(drop=True)
    kappas = pd.concat(kappa_rows, ignore_index=True) if kappa_rows else pd.DataFrame()
    if len(kappas):
        kappas["dataset title"] = kappas["dataset"].map(_title)
        page.tables["kappa"] = kappas.rename(columns={"mean_kappa": "kappa"})[
            ["dataset", "dataset title", "model", "source", "kappa", "ci_low", "ci_high", "mean_c_obs", "lowest",
             "highest", "pairs", "trials"]]
    if pair_rows:
        page.tables["kappa_pairs"] = pd.concat(pair_rows, ignore_index=True)[
            ["dataset", "model", "observer", "kappa", "ci_low", "ci_high", "c_obs", "c_exp", "trials"]]
    # the table a reader scans: one row per dataset and decision maker
    shown = []
    k = page.table("kappa").set_index(["dataset", "model"]) if len(kappas) else None
    for r in whole[whole["source"] != OBSERVER].to_dict("records"):
        row = {"dataset": _title(r["dataset"]), "model": r["model"],
               "16-class accuracy [95% CI]": interval_text(r["accuracy"], r["ci_low"], r["ci_high"]),
               "trials": r["trials"]}
        if k is not None and (r["dataset"], r["model"]) in k.index:
            kr = k.loc[(r["dataset"], r["model"])]
            what = "among themselves" if r["model"] == HUMANS else "with the observers"
            row["error consistency κ [95% CI]"] = f"{interval_text(kr['kappa'], kr['ci_low'], kr['ci_high'])} ({what})"
        shown.append(row)
    page.tables["per_dataset"] = pd.DataFrame(shown)
    observers = whole[whole["source"] == OBSERVER]
    if len(observers):
        wide = observers.pivot(index="model", columns="dataset", values="accuracy")
        wide = wide[[n for n in BENCHMARK if n in set(observers["dataset"])]].rename(columns=_title)
        wide.columns.name = None
        page.tables["observers"] = wide.rename_axis("observer").reset_index()


def _summary(study, page: Page, models: dict, trials: dict, ood: dict, kappa: dict, label: dict) -> None:
    """model-vs-human's summary over the datasets (``metrics.benchmark_summary``), its
    intervals (each dataset resampled on its own, averaged replicate-wise), the scatter's
    points and the line of consistency expected by chance."""
    pairs, accuracy = refs.benchmark_tables(models, trials)
    summary = metrics.benchmark_summary(pairs, accuracy)
    rows = []
    for r in summary.to_dict("records"):
        who = r["decision_maker"]
        row = {"model": HUMANS if who == HUMANS else label[who], "source": HUMANS if who == HUMANS else MODEL,
               **{k: r[k] for k in ("OOD accuracy", "accuracy difference", "observed consistency",
                                    "error consistency")}, "datasets": int(r["datasets"])}
        for metric, samples in (("OOD accuracy", ood.get(who)), ("error consistency", kappa.get(who))):
            iv = _over_datasets(samples)
            row[f"{metric} low"], row[f"{metric} high"] = (iv.low, iv.high) if iv else (None, None)
        rows.append(row)
    order = [label[m] for m in label] + [HUMANS]        # the run's models in their order, the humans last
    rows.sort(key=lambda r: order.index(r["model"]))
    table = pd.DataFrame(rows)
    if table.empty:
        return
    page.tables["summary"] = table
    page.tables["summary_shown"] = pd.DataFrame([{
        "model": r["model"],
        "OOD accuracy [95% CI]": interval_text(r["OOD accuracy"], r["OOD accuracy low"], r["OOD accuracy high"]),
        "accuracy difference": _fmt(r["accuracy difference"]),
        "observed consistency": _fmt(r["observed consistency"]),
        "error consistency [95% CI]": interval_text(r["error consistency"], r["error consistency low"],
                                                    r["error consistency high"]),
        "datasets": r["datasets"]} for r in rows])
    h = table[table["source"] == HUMANS]
    if len(h):
        x = np.linspace(0, 1, 51)
        page.tables["expected"] = pd.DataFrame({"OOD accuracy": x, "observed consistency":
                                                metrics.expected_consistency(x, float(h["OOD accuracy"].iloc[0])),
                                                "error consistency": 0.0})


def _over_datasets(samples) -> stats.Interval | None:
    """The interval of a mean over datasets, each resampled on its own
    (``stats.mean_of_independent``); None without intervals."""
    if not samples or any(r is None for _, r in samples):
        return None
    return stats.mean_of_independent(samples)


def _fmt(x) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.3f}"


def _headline(study, page: Page, acc: pd.DataFrame, ood: dict, kappa: dict) -> None:
    keys = [m.key for m in study.models]
    meaningful = [k for k in keys if study.spec(k).trained] or keys
    for metric, samples in ((OOD_METRIC, ood), (KAPPA_METRIC, kappa)):
        mine = {k: samples[k] for k in keys if k in samples}
        for k, s in mine.items():
            page.headline.append(combined_headline(study, k, metric, s, note=f"mean over {len(s)} datasets"))
        page.comparisons += compare_combined(study, metric, {k: mine[k] for k in meaningful if k in mine})
    if acc.empty:
        return
    for name, metric in DATASET_METRICS.items():
        rows = acc[(acc["dataset"] == name) & (acc["level"] == "") & (acc["source"] == MODEL)]
        for key in keys:
            r = rows[rows["decision_maker"] == key]
            if len(r):
                r = r.iloc[0]
                iv = None if r["ci_low"] is None or pd.isna(r["ci_low"]) else stats.Interval(
                    r["accuracy"], r["ci_low"], r["ci_high"], 0.95, study.n_boot, int(r["trials"]))
                page.headline.append(study.headline_row(key, metric, r["accuracy"], iv))


# ------------------------------------------------------------------------ findings
def findings(study, page: Page) -> list[str]:
    out = []
    summary = page.table("summary")
    if summary.empty:
        out.append("No dataset of model-vs-human's benchmark was found, so this page has no numbers "
                   "(`beyond-inet data get edges silhouettes edges-humans silhouettes-humans --root DATA_ROOT`).")
        return out
    runs = study.meaningful(summary[summary["source"] == MODEL])
    h = summary[summary["source"] == HUMANS]
    n = int(summary["datasets"].max())
    text = f"Across the {n} datasets of the benchmark found, OOD accuracy (the mean of the 16-class accuracies): "
    text += ", ".join(f"{r['model']} {interval_text(r['OOD accuracy'], r['OOD accuracy low'], r['OOD accuracy high'])}"
                      for r in runs.sort_values("OOD accuracy", ascending=False).to_dict("records"))
    if len(h):
        r = h.iloc[0]
        text += f"; the human observers {interval_text(r['OOD accuracy'], r['OOD accuracy low'], r['OOD accuracy high'])}"
    out.append(" ".join([text + ".", ranking_sentence(page.comparisons, OOD_METRIC)]).strip())
    if summary["error consistency"].notna().any():
        text = ("Error consistency with the observers (Cohen's κ on right/wrong per stimulus, averaged over "
                "observers and datasets; 0 = no more shared errors than chance): ")
        text += ", ".join(f"{r['model']} {interval_text(r['error consistency'], r['error consistency low'], r['error consistency high'])}"
                          for r in runs.sort_values("error consistency", ascending=False).to_dict("records"))
        if len(h) and pd.notna(h.iloc[0]["error consistency"]):
            r = h.iloc[0]
            text += (f"; the observers among themselves "
                     f"{interval_text(r['error consistency'], r['error consistency low'], r['error consistency high'])}")
        out.append(" ".join([text + ".", ranking_sentence(page.comparisons, KAPPA_METRIC),
                             "Observed consistency above the dashed line of the scatter plot is consistency "
                             "beyond what the accuracies alone give."]).replace("  ", " "))
    acc = page.table("accuracy")
    for name in ("edges", "silhouettes", "sketch", "stylized"):
        rows = acc[acc["dataset"] == name]
        hum = rows[rows["source"] == HUMANS]
        mod = study.meaningful(rows[rows["source"] == MODEL])
        if len(hum) and len(mod):
            hv = float(hum["accuracy"].iloc[0])
            parts = ", ".join(f"{r['model']} {interval_text(r['accuracy'], r['ci_low'], r['ci_high'])} "
                              f"({100 * (r['accuracy'] - hv):+.0f} points)" for r in mod.to_dict("records"))
            out.append(f"{_title(name)}: the observers reach {hv:.1%} (pooled); {parts}.")
    return out


def compute(study) -> Page:
    """The page: requests, predictions, the observers' trials, tables (the notebook's one call)."""
    answers = gather(study, requests(study))
    return build(study, answers, trials=observer_trials(study, _datasets(study)))


PROPERTY = Property("humans", HumansSettings, requests, build, compute,
                    metrics=(OOD_METRIC, KAPPA_METRIC, *DATASET_METRICS.values()))
