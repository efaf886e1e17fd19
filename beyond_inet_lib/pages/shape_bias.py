"""Shape-bias page (docs/protocols.md §2): which cue wins on the cue-conflict stimuli, for
this run's models, the paper's own decision logs and ten human observers, all scored by the
same code; where each model sits in the human range; and how consistent each model's
errors are with each observer's (error consistency, Geirhos et al. 2020).

Every source becomes a decision log in model-vs-human's format (``imagename``,
``object_response``, ``stimulus``): a model's 16-class decisions from its softmax, a
paper's log or an observer's as read. Trials are aligned by stimulus.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .. import metrics, stats
from ..references import aligned_correctness, observer_error_consistency, paper_value
from .base import (Answer, Page, Request, compare, compare_replicates, field_sentence, field_shown, field_table,
                   frame, gather, interval, interval_text, rank_headline, ranking_sentence,
                   resamples, with_field)
from .schema import Metric, Property


@dataclass
class ShapeBiasSettings:
    max_images: int | None = None   # cue-conflict stimuli (None: all 1,280)


BIAS_METRIC = Metric("shape bias (cue-conflict)", "higher", paper="shape_bias")
KAPPA_METRIC = Metric("error consistency with humans (mean κ)", "higher", "kappa")
RUN, PAPER_LOG, HUMAN = "this run", "paper's decision log", "human observer"
HUMANS_HOW_TO_GET = "beyond-inet data get cue-conflict-humans --root DATA_ROOT"
#: the paper's decision logs (``references.REFERENCE_NAMES``) -> the paper's model key
#: the levels of ``stats.OBSERVER_LEVELS``: a model's mean κ speaks for people in general
#: (observers and stimuli); the observers among themselves only for these observers
PEOPLE, THESE = "observers and stimuli", "stimuli"
LOG_PAPER_KEYS = {"ConvNeXt-B sup (paper log)": "convnext_sup", "ViT-B/16 sup (paper log)": "vit_sup",
                  "ConvNeXt-B CLIP (paper log)": "convnext_clip", "ViT-B/16 CLIP (paper log)": "vit_clip"}


# ------------------------------------------------------------------------ requests
def _stimuli_views(study):
    """Supervised models see the 224 px stimuli as they are; CLIP models through their own
    transform (which leaves a 224 px image unchanged but for normalisation)."""
    def views(spec):
        v = spec.view(study.profile.preprocessing)
        return {"stimuli": v if spec.training == "clip" else v.replace(resize=None, crop=None)}
    return views


def requests(study) -> list[Request]:
    ds = study.dataset("cue-conflict")
    if ds is None:
        return []
    return [Request("cue-conflict", ds.head(study.settings.max_images), study.models, views=_stimuli_views(study))]


def reference_decisions(study) -> tuple[dict, dict]:
    """(the ten observers' decision logs, the paper's logs) under the data root; a panel and
    an 'absent' input when the observers' folder is missing."""
    from ..references import humans as refs

    human_logs = refs.load_human_decisions(study.data_root)
    folder = Path(study.data_root or "DATA_ROOT").joinpath(*refs.HUMANS_DIR)
    if human_logs:
        study._input("cue-conflict-humans", "ok", len(human_logs), "observers")
    else:
        study._input("cue-conflict-humans", "absent", 0, str(folder))
        study.panel("Human observers' decisions not found",
                    f"Looked at: {folder}{os.sep}cue-conflict_subject-NN_session_1.csv\n"
                    f"Without them the page shows no human range and no error consistency with humans.\n"
                    f"Get them with: {HUMANS_HOW_TO_GET}", "missing")
    return human_logs, refs.load_reference_decisions(study.data_root)


# ---------------------------------------------------------------------- statistics
def decision_log(image_names, decisions) -> pd.DataFrame:
    """A model's decisions as a model-vs-human log (imagename, object_response, stimulus)."""
    names = [os.path.basename(str(n)) for n in image_names]
    return pd.DataFrame({"imagename": names, "object_response": [str(d) for d in decisions],
                         "stimulus": [metrics.cue_conflict_stimulus(n) for n in names]})


def cue_votes(log: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per trial of a decision log (shape vote, texture vote): ``metrics.cue_votes``."""
    return metrics.cue_votes(log["imagename"], log["object_response"])


def correct_by_stimulus(log: pd.DataFrame) -> pd.Series:
    """stimulus -> trial correct (decision == shape class, ``metrics.cue_conflict_correct``)."""
    s = pd.Series(metrics.cue_conflict_correct(log["imagename"], log["object_response"]),
                  index=log["stimulus"].to_numpy())
    if s.index.duplicated().any():
        raise ValueError("a decision log shows the same stimulus twice; pass one session")
    return s


def _mean_pairwise_kappa(observers) -> float:
    return float(np.mean(metrics.pairwise_kappas(observers)))


# --------------------------------------------------------------------------- build
def _run_logs(study, results) -> dict:
    """model key -> its decision log."""
    out = {}
    for m in study.models:
        rs = results.for_model(m.key)
        if rs:
            r = next(iter(rs.values()))
            out[m.key] = decision_log(r.table["path"], metrics.cue_conflict_decisions(r.probs()))
    return out


def _bias_interval(study, bias: float, shape_votes, texture_votes) -> stats.Interval | None:
    """Shape bias is the share of shape decisions among the decided conflict trials: Wilson's
    interval of n_shape of n_shape + n_texture (measured 0.95 at 1,280 trials; a model that
    always picks the shape gets [0.92, 1] from 45 decisions, where the bootstrap gave
    [1, 1]). None without intervals or decisions."""
    k, n = float(np.sum(shape_votes)), float(np.sum(shape_votes) + np.sum(texture_votes))
    if not resamples(study) or not n:
        return None
    low, high = stats.wilson_interval(k, n)
    return stats.Interval(bias, float(low), float(high), 0.95, 0, len(shape_votes))


def _score(study, name: str, source: str, log: pd.DataFrame, key: str | None, page: Page) -> dict:
    """One row of the scores table: shape bias and 16-class accuracy with their intervals
    over trials (and a headline row for this run's models)."""
    s, t = cue_votes(log)
    bias = metrics.shape_bias_from_votes(s, t)
    sb = metrics.shape_bias(log["imagename"], log["object_response"])   # the counts and 16-class accuracy
    iv = _bias_interval(study, bias, s, t)
    if key is not None:
        h = study.headline_row(key, BIAS_METRIC, bias, iv)
        if np.isfinite(h["value"]):
            page.headline.append(with_field(study, h, key, BIAS_METRIC, "cue-conflict"))
        low, high = h["ci_low"], h["ci_high"]
    else:
        low, high = (_finite(iv.low), _finite(iv.high)) if iv is not None else (None, None)
    acc = interval(study, "mean", correct_by_stimulus(log).to_numpy().astype(float))
    return {"model": name, "source": source, "trials": len(log), "shape bias": bias,
            "ci_low": low, "ci_high": high, "shape bias [95% CI]": interval_text(bias, low, high),
            "16-class accuracy [95% CI]": interval_text(sb["accuracy"], *(acc and (acc.low, acc.high) or ())),
            "shape decisions": sb["n_shape"], "texture decisions": sb["n_texture"],
            "no answer": int((log["object_response"] == "na").sum()),
            "paper": (study.paper(BIAS_METRIC.paper, key) if key
                      else paper_value(BIAS_METRIC.paper, LOG_PAPER_KEYS.get(name)))}


def _finite(x):
    return None if x is None or not np.isfinite(x) else float(x)


def _bias_section(study, page: Page, run: dict, paper_logs: dict, humans: dict) -> None:
    rows = [_score(study, study.label(k), RUN, log, k, page) for k, log in run.items()]
    rows += [_score(study, name, PAPER_LOG, log, None, page) for name, log in paper_logs.items()]
    human_rows = [_score(study, name, HUMAN, log, None, page) for name, log in humans.items()]
    chart_cols = ["model", "source", "shape bias", "ci_low", "ci_high", "paper"]
    shown = ["model", "source", "trials", "shape bias [95% CI]", "16-class accuracy [95% CI]", "shape decisions",
             "texture decisions", "paper"]
    page.tables["bias_bars"] = frame(rows, chart_cols)
    page.tables["scores"] = frame(rows, shown)
    page.tables["humans"] = frame(human_rows, shown[:1] + shown[2:-1] + ["no answer"])
    meaningful = {k: v for k, v in run.items() if study.spec(k).trained} or run
    page.comparisons += compare(study, BIAS_METRIC, metrics.shape_bias_from_votes,
                                {k: cue_votes(v) for k, v in meaningful.items()})
    if human_rows:
        hb = pd.Series([r["shape bias"] for r in human_rows], dtype=float)
        lo, mean, hi = float(hb.min()), float(hb.mean()), float(hb.max())
        page.tables["human_band"] = frame([{"low": lo, "high": hi, "mean": mean, "observers": len(hb),
                                            "label": f"the {len(hb)} human observers (min–max)"}])
        page.tables["human_range"] = frame([
            {"model": r["model"], "source": r["source"], "shape bias [95% CI]": r["shape bias [95% CI]"],
             "vs the human mean (points)": 100 * (r["shape bias"] - mean),
             "where": _where(r, lo, hi, len(human_rows))} for r in rows])
    page.tables["field"] = field_table(study, page.headline,
                                       humans={r["model"]: r["shape bias"] for r in human_rows})
    page.tables["field_shown"] = field_shown(page.tables["field"])
    per_cat = []
    for k, log in run.items():
        pc = metrics.shape_bias_per_category(log["imagename"], log["object_response"])
        per_cat.append(pc.assign(model=study.label(k)))
    if per_cat:
        page.tables["per_category"] = pd.concat(per_cat, ignore_index=True)
        page.tables["overall"] = frame([{"model": r["model"], "shape_bias": r["shape bias"]}
                                        for r in rows if r["source"] == RUN])


def _where(row: dict, lo: float, hi: float, n: int) -> str:
    """Where a shape bias (and its interval) sits in the observers' min..max range."""
    v, cl, ch = row["shape bias"], row["ci_low"], row["ci_high"]
    if not np.isfinite(v):
        return "–"
    if v < lo:
        return (f"below all {n} observers" + (" (whole interval)" if ch is not None and ch < lo else
                                               " (its interval reaches the range)"))
    if v > hi:
        return f"above all {n} observers" + (" (whole interval)" if cl is not None and cl > hi else "")
    return f"within the {n} observers' range"


def _people_in_general(study, keys: list, models: np.ndarray, observers: np.ndarray,
                       compared: list) -> tuple[dict, dict, list[dict]]:
    """Each model's mean κ with the observers, its interval for people in general (the
    stimuli resampled and the observers' own spread added: ``stats.observer_consistency``,
    measured 0.95; the stimuli alone speak only for these observers) and the comparisons of
    the ``compared`` models on the same replicates (simultaneous intervals over the pairs).
    ``models``: (n, M) right/wrong per stimulus, ``observers``: (n, H), rows aligned."""
    n_boot = resamples(study)
    if not n_boot or len(models) == 0:
        values = metrics.mean_kappas(models, observers) if len(models) else np.full(len(keys), np.nan)
        return {k: float(values[i]) for i, k in enumerate(keys)}, {k: None for k in keys}, []
    est, reps = stats.observer_consistency(models, observers, n_boot=n_boot, seed=study.seed, resample=PEOPLE)
    iv = replace(stats.normal_interval(est, reps, n_units=len(observers)), resampled=PEOPLE)
    values = {k: float(est[i]) for i, k in enumerate(keys)}
    ivs = {k: replace(iv, estimate=float(est[i]), low=float(iv.low[i]), high=float(iv.high[i]))
           for i, k in enumerate(keys)}
    chosen = [i for i, k in enumerate(keys) if k in compared and np.isfinite(est[i])]
    rows = compare_replicates(study, KAPPA_METRIC, {keys[i]: values[keys[i]] for i in chosen}, reps[:, chosen])
    return values, ivs, rows


def _level_note(iv) -> str:
    """What a κ interval speaks for, said beside it."""
    return "" if iv is None else f"interval for {stats.OBSERVER_LEVELS[iv.resampled]}"


def _consistency_section(study, page: Page, run: dict, paper_logs: dict, humans: dict) -> None:
    """kappa of every model (run and paper logs) with every observer, trials aligned by
    stimulus; the mean over observers per model with its interval; the observers among
    themselves for reference."""
    if not humans:
        return
    observers = pd.DataFrame({name: correct_by_stimulus(log) for name, log in humans.items()}).dropna()
    names = list(observers.columns)
    pair_rows, summary = [], []
    sources = [(study.label(k), RUN, k, log) for k, log in run.items()]
    sources += [(name, PAPER_LOG, None, log) for name, log in paper_logs.items()]
    for model, source, _, log in sources:
        for obs in names:
            if study.n_boot:
                ec = observer_error_consistency(log, humans[obs], n_boot=study.n_boot, seed=study.seed)
            else:
                ec = metrics.error_consistency(*aligned_correctness(log, humans[obs])[1:]) | {"low": None, "high": None}
            pair_rows.append({"model": model, "source": source, "observer": obs, "kappa": ec["kappa"],
                              "ci_low": _finite(ec["low"]), "ci_high": _finite(ec["high"]),
                              "c_obs": ec["c_obs"], "c_exp": ec["c_exp"], "trials": ec["n"]})
    pairs = frame(pair_rows)
    page.tables["kappa_pairs"] = pairs

    # this run's models: intervals for people in general and comparisons, over the trials they share
    run_keys = list(run)
    if run_keys:
        common = observers.index
        for log in run.values():
            common = common.intersection(correct_by_stimulus(log).index)
        common = common.sort_values()
        a = np.stack([correct_by_stimulus(run[k])[common].to_numpy(bool) for k in run_keys], axis=1)
        h = observers.loc[common].to_numpy(bool)
        meaningful = [k for k in run_keys if study.spec(k).trained] or run_keys
        values, ivs, comps = _people_in_general(study, run_keys, a, h, meaningful)
        page.comparisons += comps
        for k in run_keys:
            page.headline.append(study.headline_row(k, KAPPA_METRIC, values[k], ivs[k], note=_level_note(ivs[k])))
    heads = {h["model"]: h for h in page.headline if h["metric"] == KAPPA_METRIC.name}
    for model, source, key, log in sources:
        mine = pairs[pairs["model"] == model]
        if key is not None:
            h = heads[model]
            mean, lo, hi = h["value"], h["ci_low"], h["ci_high"]
        else:
            common = observers.index.intersection(correct_by_stimulus(log).index).sort_values()
            a = correct_by_stimulus(log)[common].to_numpy(bool)[:, None]
            h = observers.loc[common].to_numpy(bool)
            iv = _people_in_general(study, [model], a, h, [])[1][model]
            mean = float(mine["kappa"].mean())
            lo, hi = (iv.low, iv.high) if iv is not None else (None, None)
        summary.append({"model": model, "source": source, "mean κ": mean, "ci_low": _finite(lo),
                        "ci_high": _finite(hi), "mean κ [95% CI]": interval_text(mean, lo, hi),
                        "interval speaks for": stats.OBSERVER_LEVELS[PEOPLE] if lo is not None else "",
                        "lowest": float(mine["kappa"].min()), "highest": float(mine["kappa"].max()),
                        "trials": int(mine["trials"].max())})
    if len(names) > 1:
        hh = observers.to_numpy(bool)
        kappas = metrics.pairwise_kappas(hh)
        iv = interval(study, _mean_pairwise_kappa, hh)
        mean = float(kappas.mean())
        page.tables["human_kappa_band"] = frame([{"low": float(kappas.min()), "high": float(kappas.max()),
                                                  "label": "human–human κ (lowest–highest pair)"}])
        summary.append({"model": f"human observers (the {len(kappas)} pairs)", "source": HUMAN, "mean κ": mean,
                        "ci_low": _finite(iv.low) if iv else None, "ci_high": _finite(iv.high) if iv else None,
                        "mean κ [95% CI]": interval_text(mean, *(iv and (iv.low, iv.high) or ())),
                        "interval speaks for": stats.OBSERVER_LEVELS[THESE] if iv else "",
                        "lowest": float(kappas.min()), "highest": float(kappas.max()), "trials": len(hh)})
    page.tables["kappa_bars"] = frame(summary, ["model", "source", "mean κ", "ci_low", "ci_high", "lowest", "highest"])
    page.tables["kappa_summary"] = frame(summary, ["model", "source", "mean κ [95% CI]", "interval speaks for",
                                                   "lowest", "highest", "trials"])


def build(study, answers: dict[str, Answer], *, humans: dict | None = None,
          references: dict | None = None) -> Page:
    """The page from the engine's answers and the decision logs of others (``humans``: the
    observers' logs by subject; ``references``: the paper's logs by name; None or {} when
    absent)."""
    page = Page("shape_bias")
    page.inputs = list(study.inputs)
    humans = dict(humans or {})
    paper_logs = dict(references or {})
    if "subject-01" in humans:   # the paper ships observer 01's log unchanged: shown once, as an observer
        paper_logs = {k: v for k, v in paper_logs.items() if "subject" not in k}
    run = _run_logs(study, answers["cue-conflict"].results) if "cue-conflict" in answers else {}
    if run or paper_logs or humans:
        _bias_section(study, page, run, paper_logs, humans)
        _consistency_section(study, page, run, paper_logs, humans)
    page.findings = findings(study, page, humans_found=bool(humans))
    rank_headline(study, page.headline)
    return page


# ------------------------------------------------------------------------ findings
def findings(study, page: Page, humans_found: bool = True) -> list[str]:
    out = []
    scores = page.table("scores")
    run = [h for h in page.headline if h["metric"] == BIAS_METRIC.name]
    if run:
        shown = [h for h in run if "untrained" not in h["note"]] or run
        ordered = sorted(shown, key=lambda h: -h["value"])
        text = "Shape bias: " + ", ".join(
            f"{h['model']} {interval_text(h['value'], h['ci_low'], h['ci_high'])}" for h in ordered) + ". "
        text += ranking_sentence(page.comparisons, BIAS_METRIC) + " "
        for h in run:
            if h.get("paper") is not None:
                text += f"{h['model']}: {h['value']:.1%} here vs {h['paper']:.1%} in the paper. "
        out.append(text.strip())
        field = field_sentence(page.headline, BIAS_METRIC.name)
        if field:
            out.append(field)
    rng, band = page.table("human_range"), page.table("human_band")
    if not band.empty:
        mine = rng[rng["source"] == RUN]
        b = band.iloc[0]
        text = (f"The {b['observers']} human observers' shape bias ranges from {b['low']:.1%} to {b['high']:.1%} "
                f"(mean {b['mean']:.1%}). ")
        if len(mine):
            text += " ".join(f"{r['model']}: {r['where']}, {r['vs the human mean (points)']:+.1f} points from "
                             f"the human mean." for r in mine.to_dict("records"))
        out.append(text.strip())
    if not scores.empty:
        logs = scores[scores["source"] == PAPER_LOG]
        if len(logs):
            out.append("The paper's own decision logs, scored by the same code: " + ", ".join(
                f"{r['model']} {r['shape bias [95% CI]']}" for r in logs.to_dict("records")) + ".")
    summary = page.table("kappa_summary")
    if not summary.empty:
        mine = summary[summary["source"] == RUN]
        hh = summary[summary["source"] == HUMAN]
        text = ("Error consistency with the observers (Cohen's κ on right/wrong per trial; 0 = no more "
                "shared errors than chance, 1 = the same errors): ")
        text += "; ".join(f"{r['model']} {r['mean κ [95% CI]']} (from {r['lowest']:.2f} to {r['highest']:.2f} "
                          f"over the observers)" for r in mine.to_dict("records"))
        if len(hh):
            r = hh.iloc[0]
            text += (f"{'. ' if len(mine) else ''}Humans among themselves: {r['mean κ [95% CI]']} "
                     f"(from {r['lowest']:.2f} to {r['highest']:.2f} over the pairs).")
        if summary["interval speaks for"].astype(bool).any():
            text = text.rstrip(".") + (f". The models' intervals speak for {stats.OBSERVER_LEVELS[PEOPLE]}"
                     + (f"; the humans' among themselves for {stats.OBSERVER_LEVELS[THESE]}" if len(hh) else "")
                     + ".")
        sentence = ranking_sentence(page.comparisons, KAPPA_METRIC)
        out.append(text + (" " + sentence if sentence else ""))
    elif not humans_found:
        out.append("The human observers' decisions were not found, so this page has no human range and no "
                   f"error consistency with humans (`{HUMANS_HOW_TO_GET}`).")
    return out


def compute(study) -> Page:
    """The shape-bias page: requests, predictions, the decision logs of others, tables (the
    notebook's one call)."""
    answers = gather(study, requests(study))
    humans, references = reference_decisions(study)
    return build(study, answers, humans=humans, references=references)


PROPERTY = Property("shape_bias", ShapeBiasSettings, requests, build, compute, metrics=(BIAS_METRIC, KAPPA_METRIC))
