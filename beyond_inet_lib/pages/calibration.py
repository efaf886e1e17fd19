"""Calibration page (docs/protocols.md §3): ECE, reliability diagrams and confidence
histograms on ImageNet val (or the sample images) and ImageNet-R; with
``properties.calibration.sensitivity``, how much each competing evaluation convention
moves top-1 and ECE (docs/protocols.md §0).

The ECE headline is the debiased ECE with ``stats.calibration_error_ci``'s interval, which
covers the binned ECE (a perfectly calibrated model's 0 included); the paper's plug-in ECE
stays in the tables beside the paper's number. Comparisons of ECE use the debiased ECE's
replicates on the same resamples for every model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from .. import metrics, stats
from .base import (Answer, Page, Request, compare, compare_replicates, frame, gather, headline, interval,
                   interval_text, published_sentence, ranking_sentence, resamples, with_published)
from .schema import Metric, Property


@dataclass
class CalibrationSettings:
    max_images: int | None = None
    n_bins: int = 15
    # protocol sensitivity: also run the competing conventions (interpolation, crop
    # fraction, precision, decode path, CLIP logit scale) and show how much each moves
    # top-1 and ECE (docs/protocols.md §0)
    sensitivity: bool = False


#: on ImageNet val, or the sample images standing in for it ({dataset}: its name). The value
#: is the debiased ECE; the paper's number is its plug-in ECE (at 50,000 images the two agree
#: to about 0.002: docs/protocols.md §3)
ECE_METRIC = Metric("ECE ({dataset})", "lower", paper="ece_imagenet")
TOP1_METRIC = Metric("top-1 ({dataset})", "higher", paper="imagenet_top1")
ECE_R_METRIC = Metric("ECE (ImageNet-R)", "lower", paper="ece_imagenet_r")
#: on a profile's own dataset of ImageNet classes (``datasets:``)
ECE_YOURS_METRIC = Metric("ECE on {dataset}", "lower")
YOURS = "yours:"   # request-name prefix of a profile's own datasets

#: sensitivity conventions: name -> what the variant changes (docs/protocols.md §0)
CONVENTIONS = {
    "interpolation": "bilinear vs bicubic resize",
    "crop fraction": "crop 224 of a 256 resize (0.875) vs of a 224 resize (1.0)",
    "precision": "fp32 vs bf16 autocast",
    "resize path": "PIL resize vs on-device tensor resize (the GPU decode path)",
    "CLIP logit scale": "fixed 100 (the paper) vs the model's learned scale",
}


# ------------------------------------------------------------------------ requests
def _variant_views(study, convention: str):
    """spec -> {view name: View}: the model's own view with one convention switched."""
    def views(spec):
        v = spec.view(study.profile.preprocessing)
        if convention == "interpolation":
            other = "bicubic" if v.interpolation == "bilinear" else "bilinear"
            return {other: v.replace(interpolation=other)}
        # crop fraction: the other of 0.875 and 1.0, same crop
        resize = v.crop if v.resize != v.crop else int(v.crop / 0.875)
        return {f"crop {v.crop / resize:.3f}": v.replace(resize=resize)}
    return views


def _settings_variant(study, convention: str) -> dict:
    rs = study.run_settings
    if convention == "precision":
        return {"precision": "bf16" if rs.precision in ("auto", "fp32") else "fp32"}
    if convention == "resize path":
        return {"decode": "pil" if rs.decode == "hybrid" else "hybrid"}
    return {"clip_logit_scale": "model" if rs.clip_logit_scale == "paper" else "paper"}


def requests(study) -> list[Request]:
    s = study.settings
    out = []
    ds = study.imagenet_eval_set(s.max_images)
    if ds is not None:
        out.append(Request("eval", ds, study.models))
    imr = study.dataset("imagenet-r")
    if imr is not None:
        out.append(Request("imagenet-r", imr.spread(s.max_images), study.models))
    from .robustness import scored_rows

    for name in study.user_datasets(imagenet=True):
        own = study.dataset(name)
        if own is not None:
            out.append(Request(YOURS + name, scored_rows(own).spread(s.max_images), study.models))
    if ds is not None and s.sensitivity:
        for conv in ("interpolation", "crop fraction"):
            out.append(Request(f"sensitivity:{conv}", ds, study.models, views=_variant_views(study, conv)))
        for conv in ("precision", "resize path"):
            out.append(Request(f"sensitivity:{conv}", ds, study.models, settings=_settings_variant(study, conv)))
        clip = [m for m in study.models if m.training == "clip"]
        if clip:
            out.append(Request("sensitivity:CLIP logit scale", ds, clip,
                               settings=_settings_variant(study, "CLIP logit scale")))
    return out


# --------------------------------------------------------------------------- build
def _ece(n_bins):
    return partial(_ece_of, n_bins=n_bins)


def _ece_of(confidence, correct, n_bins):
    return metrics.expected_calibration_error(confidence, correct, n_bins=n_bins)


def _ece_headline(study, key: str, metric: Metric, conf, correct) -> dict:
    """The ECE headline row: the debiased ECE and its interval (``stats.calibration_error_ci``;
    without intervals, the debiased ECE alone)."""
    n_bins = study.settings.n_bins
    if not resamples(study):
        return study.headline_row(key, metric, metrics.debiased_calibration_error(conf, correct, n_bins))
    iv = stats.calibration_error_ci(conf, correct, n_bins=n_bins, n_boot=study.n_boot, seed=study.seed)
    return study.headline_row(key, metric, iv.estimate, iv)


def _compare_ece(study, metric: Metric, scored: dict) -> list[dict]:
    """Comparisons of the debiased ECE: every model's replicates on the same resamples of
    the images they share (simultaneous intervals over the metric's pairs)."""
    if len(scored) < 2 or not study.n_boot:
        return []
    keys = list(scored)
    n = {len(scored[k][0]) for k in keys}
    if len(n) != 1:        # a model could not read some images: compare on none rather than unpaired
        return []
    conf = np.stack([scored[k][0] for k in keys], axis=1)
    correct = np.stack([scored[k][1] for k in keys], axis=1)
    est, reps = stats.calibration_error_replicates(conf, correct, n_bins=study.settings.n_bins,
                                                   n_boot=study.n_boot, seed=study.seed)
    return compare_replicates(study, metric, dict(zip(keys, map(float, est))), reps)


def _scored(study, results, class_mask=None) -> dict:
    """model key -> (confidence, correct, Result) for every model in ``results``."""
    out = {}
    for m in study.models:
        rs = results.for_model(m.key)
        if rs:
            r = next(iter(rs.values()))
            conf, correct = metrics.masked_softmax_confidence(r.logits, r.table["label"].to_numpy(),
                                                              class_mask=class_mask)
            out[m.key] = (conf, correct, r)
    return out


def _eval_section(study, page: Page, results, ds_name: str) -> dict:
    n_bins = study.settings.n_bins
    ece = _ece(n_bins)
    scored = _scored(study, results)
    rows, bins, hists = [], [], []
    for key, (conf, correct, r) in scored.items():
        label = study.label(key)
        h_ece = _ece_headline(study, key, ECE_METRIC.at(dataset=ds_name), conf, correct)
        h_top1 = headline(study, key, TOP1_METRIC.at(dataset=ds_name), "mean", correct.astype(float))
        if ds_name == "imagenet-val":  # published numbers are on ImageNet val only
            with_published(h_top1, study.spec(key), "imagenet-val", study.spec(key).view(study.profile.preprocessing))
        page.headline += [h_ece, h_top1]
        rows.append({"model": label, "dataset": ds_name, "images": len(r),
                     "top-1 [95% CI]": interval_text(h_top1["value"], h_top1["ci_low"], h_top1["ci_high"]),
                     "ECE, debiased [95% CI]": interval_text(h_ece["value"], h_ece["ci_low"], h_ece["ci_high"]),
                     "ECE (plug-in, as the paper)": ece(conf, correct),
                     "mean confidence": float(conf.mean()),
                     "paper ECE": h_ece["paper"], "paper top-1": h_top1["paper"],
                     "published top-1": h_top1.get("published")})
        b = metrics.reliability_bins(conf, correct, n_bins=n_bins)
        bins.append(b.assign(model=label))
        hists.append(metrics.confidence_histogram(conf, n_bins=n_bins).assign(model=label))
        page.tables.setdefault("ece_bars", [])
        page.tables["ece_bars"].append({"model": label, "ECE": h_ece["value"], "ci_low": h_ece["ci_low"],
                                        "ci_high": h_ece["ci_high"], "paper": h_ece["paper"]})
    page.tables["summary"] = frame(rows)
    page.tables["bins"] = pd.concat(bins, ignore_index=True) if bins else pd.DataFrame()
    page.tables["histogram"] = pd.concat(hists, ignore_index=True) if hists else pd.DataFrame()
    page.tables["ece_bars"] = frame(page.tables.get("ece_bars", []))
    meaningful = {k: v for k, v in scored.items() if study.spec(k).trained} or scored
    page.comparisons += _compare_ece(study, ECE_METRIC.at(dataset=ds_name), meaningful)
    page.comparisons += compare(study, TOP1_METRIC.at(dataset=ds_name), "mean",
                                {k: v[1].astype(float) for k, v in meaningful.items()},
                                correct_by_key={k: v[1] for k, v in meaningful.items()})
    return scored


def _imagenet_r_section(study, page: Page, results, class_mask) -> None:
    ece = _ece(study.settings.n_bins)
    scored = _scored(study, results, class_mask=class_mask)
    rows = []
    for key, (conf, correct, r) in scored.items():
        h = _ece_headline(study, key, ECE_R_METRIC, conf, correct)
        top1 = interval(study, "mean", correct.astype(float))
        page.headline.append(h)
        rows.append({"model": study.label(key), "images": len(r),
                     "top-1, 200 classes [95% CI]": interval_text(float(correct.mean()),
                                                                  *(top1 and (top1.low, top1.high) or ())),
                     "ECE, debiased [95% CI]": interval_text(h["value"], h["ci_low"], h["ci_high"]),
                     "ECE (plug-in, as the paper)": ece(conf, correct),
                     "paper ECE": h["paper"]})
    page.tables["imagenet_r"] = frame(rows)
    meaningful = {k: v for k, v in scored.items() if study.spec(k).trained} or scored
    page.comparisons += _compare_ece(study, ECE_R_METRIC, meaningful)


def _yours_section(study, page: Page, name: str, results) -> None:
    """A profile's own dataset of ImageNet classes: ECE (headline) and top-1 with their
    intervals, over all 1,000 classes."""
    ece = _ece(study.settings.n_bins)
    scored = _scored(study, results)
    metric = ECE_YOURS_METRIC.at(dataset=name)
    for key, (conf, correct, r) in scored.items():
        h = headline(study, key, metric, ece, conf, correct, note="your dataset")
        top1 = interval(study, "mean", correct.astype(float))
        page.headline.append(h)
        page.tables.setdefault("yours", []).append({
            "model": study.label(key), "dataset": name, "images": len(r),
            "top-1 [95% CI]": interval_text(float(correct.mean()), *(top1 and (top1.low, top1.high) or ())),
            "ECE [95% CI]": interval_text(h["value"], h["ci_low"], h["ci_high"]),
            "mean confidence": float(conf.mean())})
    meaningful = {k: v for k, v in scored.items() if study.spec(k).trained} or scored
    page.comparisons += compare(study, metric, ece, {k: (v[0], v[1]) for k, v in meaningful.items()})


def _aligned(base_result, variant_result):
    """Row positions of the images both results scored, in the same order."""
    a = pd.Series(np.arange(len(base_result)), index=base_result.table["path"].to_numpy())
    b = pd.Series(np.arange(len(variant_result)), index=variant_result.table["path"].to_numpy())
    common = a.index.intersection(b.index, sort=False)
    return a[common].to_numpy(), b[common].to_numpy()


def _sensitivity_section(study, page: Page, base: dict, results: dict) -> None:
    """Δ top-1 and Δ ECE (debiased) of each convention's variant vs the run's own setting,
    paired over the same images. "moves top-1": McNemar's exact test of the two settings'
    top-1, Holm-adjusted over the table's switches (a table of many switches would
    otherwise flag some by chance)."""
    n_bins = study.settings.n_bins
    ece = partial(metrics.debiased_calibration_error, n_bins=n_bins)
    rows = []
    for name, res in results.items():
        if not name.startswith("sensitivity:"):
            continue
        conv = name.split(":", 1)[1]
        for (key, view_name), r in res.items():
            if key not in base:
                continue
            conf0, ok0, r0 = base[key]
            ia, ib = _aligned(r0, r)
            conf1, ok1 = metrics.masked_softmax_confidence(r.logits, r.table["label"].to_numpy())
            variant = view_name if view_name != "default" else ", ".join(
                f"{k}={v}" for k, v in _settings_variant(study, conv).items())
            d_top1 = d_ece = None
            if study.n_boot:
                d_top1 = stats.paired_bootstrap("mean", ok1[ib].astype(float), ok0[ia].astype(float),
                                                n_boot=study.n_boot, seed=study.seed)
                est, reps = stats.calibration_error_replicates(np.stack([conf1[ib], conf0[ia]], axis=1),
                                                               np.stack([ok1[ib], ok0[ia]], axis=1), n_bins=n_bins,
                                                               n_boot=study.n_boot, seed=study.seed)
                d_ece = stats.normal_interval(est[0] - est[1], reps[:, 0] - reps[:, 1])
            dt = float(ok1[ib].mean() - ok0[ia].mean())
            de = ece(conf1[ib], ok1[ib]) - ece(conf0[ia], ok0[ia])
            rows.append({"convention": conv, "variant": variant, "model": study.label(key),
                         "images": len(ia), "top-1": float(ok1[ib].mean()), "ECE": ece(conf1[ib], ok1[ib]),
                         "Δ top-1": dt, "Δ top-1 low": d_top1.low if d_top1 else None,
                         "Δ top-1 high": d_top1.high if d_top1 else None,
                         "Δ ECE": de, "Δ ECE low": d_ece.low if d_ece else None,
                         "Δ ECE high": d_ece.high if d_ece else None,
                         "p_value": stats.mcnemar_exact(ok1[ib], ok0[ia])["p_value"] if study.n_boot else None})
    if rows and study.n_boot:
        for row, p in zip(rows, stats.holm([r["p_value"] for r in rows])):
            row["p_value (Holm)"] = float(p)
            row["moves top-1"] = bool(p <= 0.05)
            del row["p_value"]
    else:
        for row in rows:
            row.pop("p_value")
            row["moves top-1"] = False
    page.tables["sensitivity"] = frame(rows)


def build(study, answers: dict[str, Answer]) -> Page:
    page = Page("calibration")
    page.inputs = list(study.inputs)
    base = {}
    if "eval" in answers:
        base = _eval_section(study, page, answers["eval"].results, answers["eval"].dataset.name)
    if "imagenet-r" in answers:
        ans = answers["imagenet-r"]
        _imagenet_r_section(study, page, ans.results, ans.dataset.class_mask)
    if base:
        _sensitivity_section(study, page, base, {k: a.results for k, a in answers.items()})
    for name, ans in answers.items():
        if name.startswith(YOURS):
            _yours_section(study, page, name[len(YOURS):], ans.results)
    page.tables["yours"] = frame(page.tables.get("yours", []))
    page.findings = findings(study, page)
    return page


def findings(study, page: Page) -> list[str]:
    summary = page.table("summary")
    out = _yours_findings(page)
    if summary.empty:
        return out
    rows = [h for h in page.headline if h["metric"].startswith("ECE (") and h["metric"] != ECE_R_METRIC.name]
    if rows:
        metric = rows[0]["metric"]
        ranked = sorted([h for h in rows if "untrained" not in h["note"]] or rows, key=lambda h: h["value"])
        text = (f"Best calibrated on {metric[5:-1]}: **{ranked[0]['model']}** (debiased ECE "
                f"{interval_text(ranked[0]['value'], ranked[0]['ci_low'], ranked[0]['ci_high'])}). ")
        text += ranking_sentence(page.comparisons, metric) + " "
        if any(h["ci_low"] == 0.0 for h in rows):
            text += ("An interval reaching 0: perfect calibration is not rejected on these images "
                     "(Hosmer-Lemeshow's test at 5%). ")
        over = [r["model"] for _, r in summary.iterrows()
                if r["mean confidence"] > _top1_value(page, r["model"]) + 0.02]
        if over:
            text += f"Over-confident on average (mean confidence above accuracy): {', '.join(over)}. "
        plug = dict(zip(summary["model"], summary["ECE (plug-in, as the paper)"]))
        for h in rows:
            if h.get("paper") is not None:
                text += (f"{h['model']}: plug-in ECE {plug.get(h['model'], float('nan')):.3f} here vs "
                         f"{h['paper']:.3f} in the paper. ")
        if len(rows) > 1:
            text += (f"(A difference in ECE between a model near perfect calibration and a miscalibrated one "
                     f"is understated: its interval covered the truth "
                     f"{stats.STATED_ECE_DIFFERENCE_COVERAGE:.0%} of the time in simulation, because a "
                     f"calibrated model's debiased ECE stays a little above 0; it never invents a difference.)")
        out.append(text.strip())
    pub = published_sentence(page.headline)
    if pub:
        out.append(pub)
    sens = page.table("sensitivity")
    if not sens.empty:
        moved = sens[sens["moves top-1"]]
        if len(moved):
            big = moved.loc[moved["Δ top-1"].abs().idxmax()]
            out.append(f"Protocol sensitivity: {len(moved)} of {len(sens)} convention switches move top-1 "
                       f"(McNemar's test, Holm-adjusted over the {len(sens)} switches); the largest is "
                       f"{big['convention']} ({big['variant']}) for {big['model']}: {100 * big['Δ top-1']:+.1f} points.")
        else:
            out.append(f"Protocol sensitivity: no convention switch moves top-1 on these images (McNemar's test, "
                       f"Holm-adjusted over the {len(sens)} switches).")
    return out


def _yours_findings(page: Page) -> list[str]:
    """Per own dataset: the best calibrated model (trained ones first) and the ranking."""
    yours = page.table("yours")
    out = []
    for name in (dict.fromkeys(yours["dataset"]) if not yours.empty else ()):
        metric = ECE_YOURS_METRIC.at(dataset=name)
        rows = [h for h in page.headline if h["metric"] == metric.name]
        best = sorted([h for h in rows if "untrained" not in h["note"]] or rows, key=lambda h: h["value"])[0]
        out.append((f"On your dataset {name}: best calibrated **{best['model']}** (ECE "
                    f"{interval_text(best['value'], best['ci_low'], best['ci_high'])}). "
                    + ranking_sentence(page.comparisons, metric)).strip())
    return out


def _top1_value(page: Page, model: str) -> float:
    for h in page.headline:
        if h["model"] == model and h["metric"].startswith("top-1 ("):
            return h["value"]
    return float("nan")


def compute(study) -> Page:
    """The calibration page: requests, predictions, tables (the notebook's one call)."""
    return build(study, gather(study, requests(study)))


PROPERTY = Property("calibration", CalibrationSettings, requests, build, compute,
                    metrics=(ECE_METRIC, TOP1_METRIC, ECE_R_METRIC, ECE_YOURS_METRIC))
