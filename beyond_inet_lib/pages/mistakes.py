"""Mistakes page (docs/protocols.md §1): which kinds of images each model gets wrong.

- ImageNet-X error ratios per factor, each with its 95% bootstrap interval over images, the
  mean ratio ranked only where its interval holds (simultaneous over the metric's pairs). Without ImageNet val: simulated
  factors applied to the ImageNet sample images (a stand-in, said on the page), resampled
  by base image (an image comes with all its simulated variants).
- Error consistency (Cohen's kappa over trials, Geirhos et al. 2020) between every pair of
  models on the same images, with intervals.
- The images on which the two least consistent models disagree most: the largest
  |p_a(true class) - p_b(true class)|, as small embedded thumbnails with both predictions.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .. import metrics, stats
from .base import (Answer, Page, Request, common_result_rows, frame, gather, interval, interval_text, joint,
                   ranking_sentence, resamples, thumbnail, with_interval,
                   rank_headline)
from .schema import Metric, Property


@dataclass
class MistakesSettings:
    max_images: int | None = None   # ImageNet val images (None: all annotated)
    standin_images: int = 200       # demo: sample images per simulated factor


#: the mean-ratio headline per mode (ImageNet-X on val, or the simulated-factor stand-in)
MEAN_METRIC = {"imagenet-x": Metric("ImageNet-X mean error ratio", "lower", "ratio",
                                    paper="imagenet_x_mean_error_ratio"),
               "stand-in": Metric("mean error ratio (simulated factors)", "lower", "ratio")}
TEXTURE_METRIC = Metric("ImageNet-X texture error ratio", "lower", "ratio", paper="imagenet_x_texture_error_ratio")
#: disagreement images shown, and their size
N_DISAGREEMENTS = 8
THUMBNAIL_PX = 96


# ------------------------------------------------------------------------ requests
def _annotated(val):
    """``val`` with ImageNet-X's columns joined on ``file_name``: ``x_class`` (the annotated
    class; NaN for an image without annotation) and the 16 factor columns (0/1). A left join
    keeps the file list, hence the cache key: the predictions are those of every other page
    that runs on the same val images."""
    import imagenet_x

    from ..data import imagenet_x_annotations

    factors = list(imagenet_x.FACTORS)
    ann = imagenet_x_annotations()[["file_name", "class", *factors]].rename(columns={"class": "x_class"})
    table = val.table.drop(columns=[c for c in ann.columns if c != "file_name" and c in val.table.columns])
    table = table.merge(ann, on="file_name", how="left")
    table[factors] = table[factors].fillna(0).astype(np.int8)
    return replace(val, table=table, meta={**val.meta, "factors": factors})


def requests(study) -> list[Request]:
    s = study.settings
    val = study.dataset("imagenet-val", show_missing=False)
    if val is not None:
        return [Request("imagenet-x", _annotated(val.spread(s.max_images)), study.models)]
    study.dataset("imagenet-val")  # the panel: what is missing and how to get it
    if not study.profile.standins:
        return []
    samples = study.dataset("imagenet-samples")
    if samples is None:
        return []
    from ..data import standins

    ds = study.standin(standins.factor_standin, samples, n_images=s.standin_images)
    return [Request("stand-in", ds, study.models)]


# ---------------------------------------------------------------------- statistics
def _factor_ratio(factor, correct) -> np.ndarray:
    return metrics.error_ratios(factor, correct)[:, 0]


def _all_ratios(factors, correct) -> np.ndarray:
    return metrics.error_ratios(factors, correct).ravel()      # model-major: (m0 f0, m0 f1, ..., m1 f0, ...)


def _factor_intervals(study, keys, names, onehot, correct, groups) -> dict:
    """factor -> ({key: ratio}, {key: Interval or None}, images with the factor). One pass
    for every model x factor; a factor absent from a resample is NaN there and left out of
    its quantiles, but should every resample lack some factor (many factors with one or
    two images), each factor gets its own pass."""
    cells = [(k, f) for k in keys for f in names]
    values, ivs, _ = joint(study, _all_ratios, cells, onehot, correct, metric=None, groups=groups)
    out = {f: ({k: values[(k, f)] for k in keys}, {k: ivs[(k, f)] for k in keys}, int(onehot[:, j].sum()))
           for j, f in enumerate(names)}
    for j, f in enumerate(names):
        lost = [k for k in keys if ivs[(k, f)] is not None and np.isnan(ivs[(k, f)].low) and np.isfinite(values[(k, f)])]
        if lost:
            v, iv, _ = joint(study, _factor_ratio, keys, onehot[:, j], correct, metric=None, groups=groups)
            out[f] = (v, iv, out[f][2])
    return out


def _factor_matrix(mode: str, dataset, table: pd.DataFrame) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(rows used for ratios, factor names, (rows, F) one-hot factors) for either mode."""
    if mode == "imagenet-x":
        names = list(dataset.meta.get("factors") or [])
        rows = np.flatnonzero(table["x_class"].notna().to_numpy())
        onehot = table[names].to_numpy(dtype=np.float64)[rows]
    else:
        names = sorted(set(table["factor"]) - {"none"})
        rows = np.arange(len(table))
        onehot = (table["factor"].to_numpy()[:, None] == np.asarray(names, dtype=object)[None, :]).astype(np.float64)
    present = onehot.sum(axis=0) > 0
    return rows, [n for n, p in zip(names, present) if p], onehot[:, present]


# --------------------------------------------------------------------------- build
def _scored(study, results):
    """(table of the images every model scored, key -> (prediction, p(true class),
    p(predicted class)) on those rows)."""
    by_key = {}
    for m in study.models:
        rs = results.for_model(m.key)
        if rs:
            by_key[m.key] = next(iter(rs.values()))
    table, rows = common_result_rows(by_key)
    labels = table["label"].to_numpy() if len(table) else np.zeros(0, dtype=int)
    return table, {k: _probabilities(r, rows[k], labels) for k, r in by_key.items()}


def _probabilities(result, rows: np.ndarray, labels: np.ndarray, chunk: int = 4096):
    """(top-1, softmax probability of the label (NaN without one), of the top-1) per row,
    a chunk at a time: a float64 softmax of all ImageNet val is 400 MB per model."""
    pred = result.pred()[rows]
    p_true, p_top = np.full(len(rows), np.nan), np.empty(len(rows))
    for s in range(0, len(rows), chunk):
        part = slice(s, s + chunk)
        p = metrics.softmax(np.asarray(result.logits[rows[part]], dtype=np.float64), axis=1)
        at = np.arange(len(p))
        y = labels[part]
        p_top[part] = p[at, pred[part]]
        p_true[part] = np.where(y >= 0, p[at, np.clip(y, 0, None)], np.nan)
    return pred, p_true, p_top


def _meaningful(study, keys) -> list[str]:
    """Trained models when the run has any (findings rank real models, not stand-ins)."""
    trained = [k for k in keys if study.spec(k).trained]
    return trained or list(keys)


def _ratio_section(study, page: Page, mode: str, dataset, table, scored) -> None:
    keys = list(scored)
    rows, names, onehot = _factor_matrix(mode, dataset, table)
    if not len(rows) or not names:
        return
    truth = table["x_class"].to_numpy()[rows] if mode == "imagenet-x" else table["label"].to_numpy()
    correct = np.stack([scored[k][0][rows] == truth for k in keys], axis=1)
    groups = None if mode == "imagenet-x" else table["source_path"].to_numpy()[rows]
    metric = MEAN_METRIC[mode]
    means, mean_iv, page.comparisons = joint(study, metrics.mean_error_ratios, keys, onehot, correct, metric=metric,
                                             compared=_meaningful(study, keys), groups=groups)
    per_factor = _factor_intervals(study, keys, names, onehot, correct, groups)
    note = "" if mode == "imagenet-x" else "stand-in"
    paper = mode == "imagenet-x"
    ratio_rows, summary = [], []
    for i, k in enumerate(keys):
        label = study.label(k)
        h_mean = study.headline_row(k, metric, means[k], mean_iv[k], note)
        heads = [h_mean]
        if paper and "texture" in per_factor:
            values, ivs, _ = per_factor["texture"]
            heads.append(study.headline_row(k, TEXTURE_METRIC, values[k], ivs[k]))
        page.headline += [h for h in heads if np.isfinite(h["value"])]
        for name, (values, ivs, n) in per_factor.items():
            ratio_rows.append(with_interval(
                {"factor": name, "model": label, "error ratio": values[k], "images": n,
                 "paper": heads[1]["paper"] if name == "texture" and len(heads) > 1 else None}, ivs[k]))
        hardest = max(per_factor, key=lambda f: -np.inf if np.isnan(per_factor[f][0][k]) else per_factor[f][0][k])
        acc = interval(study, "mean", correct[:, i].astype(float), groups=groups)
        summary.append({
            "model": label, "images": len(rows),
            "top-1 [95% CI]": interval_text(float(correct[:, i].mean()), *(acc and (acc.low, acc.high) or ())),
            "mean error ratio [95% CI]": interval_text(h_mean["value"], h_mean["ci_low"], h_mean["ci_high"], "{:.2f}"),
            **({"texture error ratio [95% CI]": interval_text(heads[1]["value"], heads[1]["ci_low"],
                                                              heads[1]["ci_high"], "{:.2f}")} if len(heads) > 1 else {}),
            "hardest factor": f"{hardest} ({per_factor[hardest][0][k]:.2f})",
            "paper mean": h_mean["paper"], **({"paper texture": heads[1]["paper"]} if len(heads) > 1 else {})})
    page.tables["ratios"] = frame(ratio_rows)
    page.tables["summary"] = frame(summary)
    page.tables["ratios_wide"] = _wide(page.tables["ratios"])


def _wide(ratios: pd.DataFrame) -> pd.DataFrame:
    """factor x model: 'ratio [low, high]' (the table beside the chart)."""
    cells = ratios.assign(text=[interval_text(r["error ratio"], r["ci_low"], r["ci_high"], "{:.2f}")
                                for r in ratios.to_dict("records")])
    wide = cells.pivot(index="factor", columns="model", values="text")
    wide = wide.reindex(index=pd.unique(ratios["factor"]), columns=pd.unique(ratios["model"]))
    wide.insert(0, "images", ratios.groupby("factor")["images"].first().reindex(wide.index))
    return wide.reset_index()


#: pairs whose κ intervals are computed in one call (one pass over the resampling weights;
#: 435 pairs of 30 models on 50,000 images would otherwise draw them 435 times)
PAIRS_PER_CALL = 64


def _pair_intervals(correct: dict, pairs: list, n_boot: int, seed: int, groups) -> dict:
    """(a, b) -> ``stats.error_consistency_ci`` of the pair, a batch of pairs per call (the
    same resamples for every pair, as one call per pair would draw them)."""
    out = {}
    for start in range(0, len(pairs), PAIRS_PER_CALL):
        batch = pairs[start:start + PAIRS_PER_CALL]
        a = np.column_stack([correct[p] for p, _ in batch])
        b = np.column_stack([correct[q] for _, q in batch])
        iv = stats.error_consistency_ci(a, b, n_boot=n_boot, seed=seed, groups=groups)
        for j, pair in enumerate(batch):
            out[pair] = stats.Interval(float(iv.estimate[j]), float(iv.low[j]), float(iv.high[j]),
                                       iv.level, iv.n_boot, iv.n_units)
    return out


def _consistency_section(study, page: Page, mode: str, table, scored) -> tuple | None:
    """κ between every pair of models over all scored images; returns the least consistent
    pair of meaningful models (for the disagreement images), or None."""
    keys = list(scored)
    label = table["label"].to_numpy()
    keep = label >= 0
    correct = {k: scored[k][0][keep] == label[keep] for k in keys}
    groups = table["source_path"].to_numpy()[keep] if mode == "stand-in" else None
    n_boot = resamples(study)
    pairs = list(itertools.combinations(keys, 2))
    ivs = _pair_intervals(correct, pairs, n_boot, study.seed, groups) if n_boot else {}
    rows, shown, kappa = [], [], {}
    for a, b in pairs:
        ec = metrics.error_consistency(correct[a], correct[b])
        iv = ivs.get((a, b))
        kappa[(a, b)] = ec["kappa"]
        rows.append(with_interval({"model a": study.label(a), "model b": study.label(b), "kappa": ec["kappa"]}, iv))
        shown.append({"model a": study.label(a), "model b": study.label(b),
                      "κ [95% CI]": interval_text(ec["kappa"], *(iv and (iv.low, iv.high) or ())),
                      "observed agreement": ec["c_obs"], "expected agreement": ec["c_exp"],
                      "top-1 a": ec["p_a"], "top-1 b": ec["p_b"], "images": ec["n"]})
    if not rows:
        return None
    page.tables["kappa"] = frame(rows)
    page.tables["consistency"] = frame(shown)
    page.tables["kappa_matrix"] = frame(rows + [r | {"model a": r["model b"], "model b": r["model a"]} for r in rows])
    candidates = {p: v for p, v in kappa.items() if set(p) <= set(_meaningful(study, keys))} or kappa
    return min(candidates, key=lambda p: (np.nan_to_num(candidates[p], nan=np.inf)))


def _disagreement_section(study, page: Page, dataset, table, scored, pair) -> None:
    """The images where the pair's probabilities of the true class differ most."""
    from ..data import imagenet_class_names

    a, b = pair
    label = table["label"].to_numpy()
    idx = np.flatnonzero(label >= 0)
    (pred_a, true_a, top_a), (pred_b, true_b, top_b) = scored[a], scored[b]
    gap = np.abs(true_a[idx] - true_b[idx])
    order = idx[np.argsort(-gap, kind="stable")]
    if "source_path" in table.columns:   # stand-in: one variant per base image, the most disputed
        order = order[~table["source_path"].iloc[order].duplicated().to_numpy()]
    chosen = order[:N_DISAGREEMENTS]
    names = imagenet_class_names()
    la, lb = study.label(a), study.label(b)
    rows = []
    for i in chosen:
        y = int(label[i])
        factor = _factor_of(table, i, dataset)

        def line(model, pred, p_true, p_top):
            mark = "right" if pred[i] == y else "wrong"
            return f"{model}: {names[int(pred[i])]} ({p_top[i]:.2f}, {mark}); p(true) {p_true[i]:.2f}"

        caption = "\n".join([f"true: {names[y]}" + (f" · factor: {factor}" if factor else ""),
                             line(la, pred_a, true_a, top_a), line(lb, pred_b, true_b, top_b)])
        rows.append({"image": thumbnail(dataset.root / table["path"].iloc[i], THUMBNAIL_PX), "caption": caption,
                     "path": table["path"].iloc[i], "true class": names[y], "factor": factor,
                     "model a": la, "prediction a": names[int(pred_a[i])], "p_true a": float(true_a[i]),
                     "model b": lb, "prediction b": names[int(pred_b[i])], "p_true b": float(true_b[i]),
                     "|Δ p(true)|": float(abs(true_a[i] - true_b[i]))})
    page.tables["disagreements"] = frame(rows)


def _factor_of(table: pd.DataFrame, i: int, dataset) -> str:
    if "factor" in table.columns:
        return str(table["factor"].iloc[i])
    names = [f for f in dataset.meta.get("factors") or [] if table[f].iloc[i] == 1]
    return ", ".join(names)


def build(study, answers: dict[str, Answer], *, prevalence: pd.DataFrame | None = None) -> Page:
    """The page from the engine's answers; ``prevalence``: the share of annotated val images
    per ImageNet-X factor (``metrics.factor_prevalence``), shown when given."""
    page = Page("mistakes")
    page.inputs = list(study.inputs)
    if prevalence is not None and len(prevalence):
        page.tables["prevalence"] = prevalence
    mode = next((m for m in MEAN_METRIC if m in answers), None)
    if mode is not None:
        ans = answers[mode]
        table, scored = _scored(study, ans.results)
        if len(table):
            _ratio_section(study, page, mode, ans.dataset, table, scored)
            pair = _consistency_section(study, page, mode, table, scored)
            if pair is not None:
                _disagreement_section(study, page, ans.dataset, table, scored, pair)
    page.findings = findings(study, page)
    rank_headline(study, page.headline)
    return page


# ------------------------------------------------------------------------ findings
def findings(study, page: Page) -> list[str]:
    out = []
    heads = [h for h in page.headline if h["metric"] in {m.name for m in MEAN_METRIC.values()}]
    if heads:
        metric = heads[0]["metric"]
        shown = [h for h in heads if "untrained" not in h["note"]] or heads
        text = f"{metric}: " + ", ".join(
            f"{h['model']} {interval_text(h['value'], h['ci_low'], h['ci_high'], '{:.2f}')}"
            for h in sorted(shown, key=lambda h: h["value"])) + ". "
        text += ranking_sentence(page.comparisons, metric) + " "
        ratios = page.table("ratios")
        if not ratios.empty:
            worst = ratios.dropna(subset=["error ratio"]).sort_values("error ratio").groupby("model").tail(1)
            text += "Hardest factor per model: " + ", ".join(
                f"{r['model']}: {r['factor']} ({interval_text(r['error ratio'], r['ci_low'], r['ci_high'], '{:.2f}')})"
                for r in worst.to_dict("records")) + ". "
        for h in page.headline:
            if h.get("paper") is not None:
                text += f"{h['model']}: {h['metric']} {h['value']:.2f} here vs {h['paper']:.2f} in the paper. "
        out.append(text.strip())
    cons = page.table("kappa")
    if not cons.empty:
        ordered = cons.sort_values("kappa")
        lo, hi = ordered.iloc[0], ordered.iloc[-1]
        text = (f"Error consistency (Cohen's κ over the same images: 0 = no more shared mistakes than two "
                f"independent models with these accuracies, 1 = the same mistakes) ranges from "
                f"{interval_text(lo['kappa'], lo['ci_low'], lo['ci_high'], '{:.2f}')} ({lo['model a']} and "
                f"{lo['model b']}) to {interval_text(hi['kappa'], hi['ci_low'], hi['ci_high'], '{:.2f}')} "
                f"({hi['model a']} and {hi['model b']}).")
        if cons["ci_low"].notna().any():
            above, below = int((cons["ci_low"] > 0).sum()), int((cons["ci_high"] < 0).sum())
            text += (f" {above} of {len(cons)} pairs share more mistakes than chance (interval above 0)"
                     + (f", {below} fewer (interval below 0)" if below else "")
                     + ("; for the others the interval contains 0: on these images their shared mistakes "
                        "cannot be told from chance." if above + below < len(cons) else "."))
        out.append(text)
    dis = page.table("disagreements")
    if not dis.empty:
        a, b = dis["model a"].iloc[0], dis["model b"].iloc[0]
        a_right = int((dis["p_true a"] > dis["p_true b"]).sum())
        out.append(f"Where {a} and {b} disagree most (largest difference in the probability of the true "
                   f"class; the least consistent pair): {a} gives the true class more probability on "
                   f"{a_right} of these {len(dis)} images, {b} on {len(dis) - a_right}.")
    return out


def compute(study) -> Page:
    """The mistakes page: requests, predictions, tables (the notebook's one call)."""
    answers = gather(study, requests(study))
    return build(study, answers, prevalence=metrics.factor_prevalence())


PROPERTY = Property("mistakes", MistakesSettings, requests, build, compute,
                    metrics=(*MEAN_METRIC.values(), TEXTURE_METRIC))
