"""Representation-similarity page (docs/protocols.md §8): linear CKA between the tapped
layers of each model, across models at the last tapped layer, and layer by layer for the
first two models; the headline "mean CKA to the other models (last layer)" with a 95%
interval over images.

The heatmaps show linear CKA, as the paper does. The headline is CKA from unbiased HSIC
(Song et al. 2012; ``metrics.unbiased_cka_matrix``): linear CKA is biased upwards on a
finite sample by about its own standard error on 64 images, and no bootstrap interval of
it covers (the basic interval measured 0.85-0.91, docs/protocols.md §0). Its interval is the
jackknife's, t x jackknife standard error, from the leave-one-out values the same sums
give in O(n^2) per pair (``stats.jackknife_interval``: 0.93-0.98 measured at 64 and 1,000
images); comparisons draw replicates from the jackknife covariance of the models' values
(``stats.jackknife_replicates``) for simultaneous intervals over the metric's pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .. import metrics, stats
from .base import (Answer, Page, Request, compare_replicates, frame, gather, interval_text, rank_headline, resamples,
                   threaded_map)
from .schema import Metric, Property


@dataclass
class SimilaritySettings:
    max_images: int = 100
    max_layers: int = 24                   # layers sampled evenly per model


#: no direction: a description of how alike the representations are, not a score (the
#: comparisons order it ascending, the most distinct first)
METRIC = Metric("mean CKA to the other models (last layer)", None, "cka")
#: the fewest images unbiased HSIC and its leave-one-out values are defined for
MIN_IMAGES = 5


# ------------------------------------------------------------------------ requests
def layer_picks(study) -> dict[str, list[str]]:
    """model key -> the tapped layers: at most ``max_layers`` of the layers the model offers
    (grouped by module type), spread evenly over depth."""
    from ..data import spread_indices

    picks = {}
    for m in study.models:
        layers = study.layers_of(m)
        picks[m.key] = layers.iloc[spread_indices(len(layers), study.settings.max_layers)]["name"].tolist()
    return picks


def requests(study) -> list[Request]:
    ds = study.imagenet_eval_set(study.settings.max_images)
    if ds is None:
        return []
    # layers only: the page reads no logits, and a features-only model has none
    return [Request("eval", ds, study.models, outputs=("layers",), layers=layer_picks(study))]


# --------------------------------------------------------------------------- build
def _layer_frame(mat: np.ndarray, names_a: list[str], names_b: list[str], **extra) -> pd.DataFrame:
    return pd.DataFrame([{**extra, "layer a": f"{i:02d} {a}", "layer b": f"{j:02d} {b}", "CKA": float(mat[i, j])}
                         for i, a in enumerate(names_a) for j, b in enumerate(names_b)])


def build(study, answers: dict[str, Answer]) -> Page:
    page = Page("similarity")
    page.inputs = list(study.inputs)
    if "eval" not in answers:
        page.findings = findings(study, page)
        return page
    ans = answers["eval"]
    taps = dict(ans.request.layers or {})
    feats = {}
    for m in study.models:
        rs = ans.results.for_model(m.key)
        if rs and taps.get(m.key):
            r = next(iter(rs.values()))
            feats[m.key] = [r.layers[n] for n in taps[m.key]]
    within, summary = [], []
    # each model's layer-by-layer matrix in a worker thread (the products release numpy's lock)
    for (key, fs), k in zip(feats.items(), threaded_map(metrics.cka_matrix, ((fs,) for fs in feats.values()))):
        within.append(_layer_frame(k, taps[key], taps[key], model=study.label(key)))
        n = len(fs)
        summary.append({"model": study.label(key), "layers": n,
                        "consecutive layers (mean CKA)": float(np.mean([k[i, i + 1] for i in range(n - 1)]))
                        if n > 1 else 1.0,
                        "first vs last layer": float(k[0, -1])})
    page.tables["within"] = pd.concat(within, ignore_index=True) if within else pd.DataFrame()
    keys = list(feats)
    if len(keys) > 1:
        _across_section(study, page, keys, feats, taps, summary)
    page.tables["summary"] = frame(summary)
    page.findings = findings(study, page)
    rank_headline(study, page.headline)
    return page


def _across_section(study, page: Page, keys: list, feats: dict, taps: dict, summary: list) -> None:
    last = [feats[k][-1] for k in keys]
    mat = metrics.cka_matrix(last)
    page.tables["across"] = frame([{"model a": study.label(a), "model b": study.label(b), "CKA": float(mat[i, j])}
                                   for i, a in enumerate(keys) for j, b in enumerate(keys)])
    a, b = keys[0], keys[1]
    page.tables["pair"] = _layer_frame(metrics.cka_matrix(feats[a], feats[b]), taps[a], taps[b],
                                       **{"model a": study.label(a), "model b": study.label(b)})
    trained = [k for k in keys if study.spec(k).trained] or keys
    values, ivs, page.comparisons = _mean_unbiased_cka(study, keys, last, trained)
    by_label = {r["model"]: r for r in summary}
    bars = []
    for k in keys:
        if not np.isfinite(values[k]):       # too few images (or no structure) for unbiased HSIC
            continue
        h = study.headline_row(k, METRIC, values[k], ivs[k])
        page.headline.append(h)
        by_label[h["model"]][f"{METRIC.name} [95% CI]"] = interval_text(h["value"], h["ci_low"], h["ci_high"])
        bars.append({"model": h["model"], METRIC.name: h["value"], "ci_low": h["ci_low"], "ci_high": h["ci_high"]})
    page.tables["cka_bars"] = frame(bars)


def _mean_unbiased_cka(study, keys: list, last: list, compared: list) -> tuple[dict, dict, list[dict]]:
    """(key -> each model's mean unbiased CKA to the others, key -> its jackknife interval
    or None, comparisons of the ``compared`` models). No intervals when the profile asks
    for none; no value either from fewer than ``MIN_IMAGES`` images. Comparisons:
    replicates drawn with the jackknife covariance of the models' leave-one-out values
    (``stats.jackknife_replicates``, seeded), simultaneous intervals over the pairs."""
    grams = [metrics.gram(x) for x in last]
    if len(grams[0]) < MIN_IMAGES:
        return {k: float("nan") for k in keys}, {k: None for k in keys}, []
    cka, loo = metrics.unbiased_cka_matrix(grams, leave_one_out=True)
    est, left = metrics.mean_to_others(cka), metrics.mean_to_others(loo)
    values = {k: float(est[i]) for i, k in enumerate(keys)}
    n_boot = resamples(study)
    if not n_boot:
        return values, {k: None for k in keys}, []
    iv = stats.jackknife_interval(est, left)
    ivs = {k: replace(iv, estimate=float(est[i]), low=float(iv.low[i]), high=float(iv.high[i]))
           for i, k in enumerate(keys)}
    chosen = [i for i, k in enumerate(keys) if k in compared and np.isfinite(est[i])]
    reps = stats.jackknife_replicates(est[chosen], left[:, chosen], n_boot=n_boot, seed=study.seed)
    rows = compare_replicates(study, METRIC, {keys[i]: values[keys[i]] for i in chosen}, reps)
    return values, ivs, rows


# ------------------------------------------------------------------------ findings
def findings(study, page: Page) -> list[str]:
    summary = page.table("summary")
    if summary.empty:
        return []
    text = " ".join(f"{r['model']}: mean CKA between consecutive tapped layers {r['consecutive layers (mean CKA)']:.2f}, "
                    f"first vs last layer {r['first vs last layer']:.2f}." for r in summary.to_dict("records"))
    out = [text]
    heads = [h for h in page.headline if h["metric"] == METRIC.name]
    if heads:
        shown = [h for h in heads if "untrained" not in h["note"]] or heads
        ordered = sorted(shown, key=lambda h: h["value"])
        text = "Mean CKA (from unbiased HSIC) to the other models at the last tapped layer: " + ", ".join(
            f"{h['model']} {interval_text(h['value'], h['ci_low'], h['ci_high'], '{:.2f}')}" for h in ordered) + ". "
        text += _distinct_sentence(page.comparisons, ordered[0]["model"], len(ordered))
        out.append(text.strip())
    return out


def _distinct_sentence(comparisons: list[dict], lowest: str, n_models: int) -> str:
    """Name the most distinct final representation only when it is lower than every other
    model's on the simultaneous intervals of the differences."""
    if n_models < 3 or not comparisons:
        return ("" if not comparisons else
                "With two models both numbers are the same CKA (the interval says how sure it is).")
    mine = [c for c in comparisons if c["better"] == lowest]
    if len(mine) == n_models - 1 and all(c["holds"] for c in mine):
        return (f"The most distinct final representation is **{lowest}**'s: its mean CKA is lower than each "
                f"other model's (the 95% intervals of the differences, simultaneous over the pairs, exclude 0).")
    tied = [c["worse"] for c in mine if not c["holds"]]
    return (f"{lowest} has the lowest mean CKA, but it cannot be told apart from {', '.join(tied)} on these "
            f"images (the 95% interval of the difference, simultaneous over the pairs, contains 0): no model is singled out as the most distinct.")


def compute(study) -> Page:
    """The similarity page: requests, predictions, tables (the notebook's one call)."""
    return build(study, gather(study, requests(study)))


PROPERTY = Property("similarity", SimilaritySettings, requests, build, compute, metrics=(METRIC,),
                    features_only=True)
