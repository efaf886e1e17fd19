"""Representation-similarity page (docs/protocols.md §8): linear CKA between the tapped
layers of each model, across models at the last tapped layer, and layer by layer for the
first two models; the headline "mean CKA to the other models (last layer)" with a bootstrap
interval over images.

CKA is not a mean over images, so its interval recomputes it on each resample (the generic
bootstrap path). To keep that cheap, each model's uncentred Gram matrix of the last layer
is computed once (``metrics.gram``); a resample only gathers and centres it
(``metrics.mean_cka_to_others``: O(n^2) instead of O(n^2 D)).
Intervals use at most ``MAX_RESAMPLES`` resamples.

Linear CKA is biased upwards on a finite sample, and a resample, whose repeated images
make it smaller still, is biased more: the resampled values sit above the estimate (by
about the estimate's own bias). A percentile interval would then lie above the number it
belongs to, so the page gives the basic bootstrap interval (``base.joint(basic=True)``),
which subtracts that shift, and shows the shift ("bootstrap bias").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import metrics
from .base import Answer, Page, Request, frame, gather, interval_text, joint
from .schema import Metric, Property


@dataclass
class SimilaritySettings:
    max_images: int = 100
    max_layers: int = 24                   # layers sampled evenly per model


#: no direction: a description of how alike the representations are, not a score (the
#: comparisons order it ascending, the most distinct first)
METRIC = Metric("mean CKA to the other models (last layer)", None, "cka")
#: resamples per CKA interval (each recomputes every model's centred Gram matrix)
MAX_RESAMPLES = 200


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
    return [Request("eval", ds, study.models, outputs=("logits", "layers"), layers=layer_picks(study))]


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
    for key, fs in feats.items():
        k = metrics.cka_matrix(fs)
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
    return page


def _across_section(study, page: Page, keys: list, feats: dict, taps: dict, summary: list) -> None:
    last = [feats[k][-1] for k in keys]
    mat = metrics.cka_matrix(last)
    page.tables["across"] = frame([{"model a": study.label(a), "model b": study.label(b), "CKA": float(mat[i, j])}
                                   for i, a in enumerate(keys) for j, b in enumerate(keys)])
    a, b = keys[0], keys[1]
    page.tables["pair"] = _layer_frame(metrics.cka_matrix(feats[a], feats[b]), taps[a], taps[b],
                                       **{"model a": study.label(a), "model b": study.label(b)})
    grams = [metrics.gram(x) for x in last]
    images = np.arange(len(last[0]))
    trained = [k for k in keys if study.spec(k).trained] or keys
    values, ivs, page.comparisons = joint(
        study, lambda rows: metrics.mean_cka_to_others(grams, rows), keys, images, metric=METRIC, compared=trained,
        n_boot=min(study.n_boot, MAX_RESAMPLES), basic=True)
    by_label = {r["model"]: r for r in summary}
    bars = []
    for k in keys:
        h = study.headline_row(k, METRIC, values[k], ivs[k])
        page.headline.append(h)
        row = by_label[h["model"]]
        row[f"{METRIC.name} [95% CI]"] = interval_text(h["value"], h["ci_low"], h["ci_high"])
        if h["ci_low"] is not None and h["ci_high"] is not None:   # the resamples' shift: est - midpoint(basic)
            row["bootstrap bias"] = h["value"] - (h["ci_low"] + h["ci_high"]) / 2
        bars.append({"model": h["model"], METRIC.name: h["value"], "ci_low": h["ci_low"], "ci_high": h["ci_high"]})
    page.tables["cka_bars"] = frame(bars)


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
        text = "Mean CKA to the other models at the last tapped layer: " + ", ".join(
            f"{h['model']} {interval_text(h['value'], h['ci_low'], h['ci_high'], '{:.2f}')}" for h in ordered) + ". "
        text += _distinct_sentence(page.comparisons, ordered[0]["model"], len(ordered))
        out.append(text.strip())
    return out


def _distinct_sentence(comparisons: list[dict], lowest: str, n_models: int) -> str:
    """Name the most distinct final representation only when it is lower than every other
    model's on the paired intervals."""
    if n_models < 3 or not comparisons:
        return ("" if not comparisons else
                "With two models both numbers are the same CKA (the interval says how sure it is).")
    mine = [c for c in comparisons if c["better"] == lowest]
    if len(mine) == n_models - 1 and all(c["holds"] for c in mine):
        return (f"The most distinct final representation is **{lowest}**'s: its mean CKA is lower than each "
                f"other model's (paired 95% intervals of the differences exclude 0).")
    tied = [c["worse"] for c in mine if not c["holds"]]
    return (f"{lowest} has the lowest mean CKA, but it cannot be told apart from {', '.join(tied)} on these "
            f"images (paired 95% interval contains 0): no model is singled out as the most distinct.")


def compute(study) -> Page:
    """The similarity page: requests, predictions, tables (the notebook's one call)."""
    return build(study, gather(study, requests(study)))


PROPERTY = Property("similarity", SimilaritySettings, requests, build, compute, metrics=(METRIC,))
