"""Calibration page (docs/protocols.md §3): can a model's confidence be trusted?

- ECE, reliability diagrams and confidence histograms on ImageNet val (or the sample
  images) and ImageNet-R, as the paper;
- the scores beyond ECE on the same images: NLL, Brier, equal-mass ECE, ACE, classwise ECE
  and QUBA's calibration error;
- temperature scaling: T fitted on one half of the images and scored on the other
  (two-fold), ECE and NLL before and after;
- calibration under shift: ECE on every robustness variant the run has (ImageNet-C per
  severity), as trained and with the temperature fitted on the evaluation images;
- selective prediction: risk-coverage curves, AURC, accuracy at 80% and 90% coverage;
- out-of-distribution detection: ImageNet-O (or its stand-in) against the evaluation images
  of its 200 classes, AUROC and FPR at 95% TPR for three scores;
- with ``properties.calibration.sensitivity``, how much each competing evaluation
  convention moves top-1 and ECE (docs/protocols.md §0).

Every number carries its 95% bootstrap interval over images; models are ranked only where
the paired interval of their difference excludes 0.

The ECE headline is the debiased ECE with ``stats.calibration_error_ci``'s interval, which
covers the binned ECE (a perfectly calibrated model's 0 included); the paper's plug-in ECE
stays in the tables beside the paper's number, and it is the ECE of the shift section and of
temperature scaling (ImageNet-C's images are resampled whole, which the debiased interval
does not do). Comparisons of ECE use the debiased ECE's replicates on the same resamples
for every model."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from .. import metrics, stats
from ..data import standins
from ..references import NOT_COMPARABLE
from . import robustness
from .base import (Answer, Page, Request, compare, compare_drawn, compare_replicates, field_sentence, field_table,
                   frame, gather, headline, headline_of, interval, interval_text, model_threads, published_sentence,
                   rank_headline, ranking_sentence, resamples, same_rows, threaded_map, trained_or_all, with_field,
                   with_published)
from .schema import Metric, Property, finite_or_none


@dataclass
class CalibrationSettings:
    max_images: int | None = None
    n_bins: int = 15
    # protocol sensitivity: also run the competing conventions (interpolation, crop
    # fraction, precision, decode path, CLIP logit scale) and show how much each moves
    # top-1 and ECE (docs/protocols.md §0)
    sensitivity: bool = False
    # resamples of the scores over every class's probability (ACE, classwise ECE, QUBA's
    # error): each is a pass over images x classes (0: the profile's bootstrap)
    class_resamples: int = 200
    # ECE on the robustness variants the run has (the robustness settings choose them)
    shift: bool = True
    # ImageNet-O against the evaluation images of its 200 classes
    ood: bool = True
    ood_standin_images: int = 200          # the stand-in's size where ImageNet-O is absent


#: on ImageNet val, or the sample images standing in for it ({dataset}: its name). The value
#: is the debiased ECE; the paper's number is its plug-in ECE (at 50,000 images the two agree
#: to about 0.002: docs/protocols.md §3)
ECE_METRIC = Metric("ECE ({dataset})", "lower", paper="ece_imagenet")
TOP1_METRIC = Metric("top-1 ({dataset})", "higher", paper="imagenet_top1")
ECE_R_METRIC = Metric("ECE (ImageNet-R)", "lower", paper="ece_imagenet_r")
NLL_METRIC = Metric("NLL ({dataset})", "lower", unit="nats")
BRIER_METRIC = Metric("Brier ({dataset})", "lower", unit="score")
QUBA_METRIC = Metric("calibration error, QUBA ({dataset})", "lower")
ECE_SCALED_METRIC = Metric("ECE after temperature scaling ({dataset})", "lower")
TEMPERATURE_METRIC = Metric("temperature ({dataset})", None, unit="temperature")
ECE_SHIFT_METRIC = Metric("ECE {variant}", "lower")
AURC_METRIC = Metric("AURC ({dataset})", "lower")
ACCURACY_AT_METRIC = Metric("accuracy at {coverage}% coverage ({dataset})", "higher")
AUROC_METRIC = Metric("AUROC {ood}, {score}", "higher", unit="auroc")
FPR_METRIC = Metric("FPR@95 {ood}, {score}", "lower")

#: scores averaged over every class's probability: most are near 0, so they are shown to
#: three significant digits, not three decimals
SMALL_SCORES = ("ACE", "classwise ECE")
SMALL_SCORE_FORMAT = "{:.3g}"
#: the coverages of the selective-prediction headline (fractions of images answered)
COVERAGES = (0.8, 0.9)
#: the true-positive rate the FPR is read at
OOD_TPR = 0.95
#: variants the shift section leaves out: ReaL relabels val's images; ImageNet-R has its
#: own section (its numbers join the shift table)
SHIFT_SKIPPED = ("imagenet-real", "imagenet-r")
#: the dataset whose images are out of distribution, and the group it is found in
OOD_DATASET = "imagenet-o"
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


#: the sensitivity row of a convention left out, and why
BF16_SKIPPED = "not run: this CPU has no native bf16, so bf16 autocast would run about 10x slower than fp32"


def _bf16_skipped(study) -> bool:
    """The precision switch would be bf16 on a CPU that only emulates it."""
    from ..engine.device import slow_bf16

    rs = study.run_settings
    return _settings_variant(study, "precision").get("precision") == "bf16" and slow_bf16(rs.device)


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
    if ds is not None and s.shift:
        rs = study.profile.settings("robustness")
        for name, shifted in _shift_datasets(study).items():     # the robustness page's outputs: one cache
            outputs = (rs.imagenet_c_outputs,) if name == "imagenet-c" else ("logits",)
            out.append(Request(f"shift:{name}", shifted, study.models, outputs=outputs))
    if ds is not None and s.ood:
        ood = _ood_dataset(study)
        if ood is not None:
            out.append(Request("ood", ood, study.models))
    from .robustness import scored_rows

    for name in study.user_datasets(imagenet=True):
        own = study.dataset(name)
        if own is not None:
            out.append(Request(YOURS + name, scored_rows(own).spread(s.max_images), study.models))
    if ds is not None and s.sensitivity:
        for conv in ("interpolation", "crop fraction"):
            out.append(Request(f"sensitivity:{conv}", ds, study.models, views=_variant_views(study, conv)))
        for conv in ("precision", "resize path"):
            if conv == "precision" and _bf16_skipped(study):
                continue
            out.append(Request(f"sensitivity:{conv}", ds, study.models, settings=_settings_variant(study, conv)))
        clip = [m for m in study.models if m.training == "clip"]
        if clip:
            out.append(Request("sensitivity:CLIP logit scale", ds, clip,
                               settings=_settings_variant(study, "CLIP logit scale")))
    return out


def _shift_datasets(study) -> dict:
    """variant -> dataset: the robustness variants of the run, as the robustness page reads
    them (same images, so its predictions are reused), ImageNet-C's stand-in included."""
    rs = study.profile.settings("robustness")
    names = [v for v in rs.variants if v not in SHIFT_SKIPPED]
    out = {}
    for variant in names:
        if variant == "imagenet-c":
            ds = robustness.imagenet_c_dataset(study, rs)
        else:
            ds = study.dataset(variant, show_missing=False)
            ds = ds.spread(rs.max_images) if ds is not None else None
        if ds is not None:
            out[variant] = ds
    study.show_missing(names, "Shifted datasets not found")
    return out


def _ood_dataset(study):
    """ImageNet-O; else its generated stand-in where the profile allows one; else None
    (after a panel saying where it was looked for and how to get it)."""
    ds = study.dataset(OOD_DATASET, show_missing=False)
    if ds is not None:
        return ds
    if study.profile.standins:
        return study.standin(standins.imagenet_o_standin, n_images=study.settings.ood_standin_images)
    study.show_missing([OOD_DATASET], "Out-of-distribution images not found")
    return None


# --------------------------------------------------------------------------- build
def _ece(n_bins):
    """The plug-in ECE, a statistic of sums: its intervals take every resample at once."""
    return metrics.ExpectedCalibrationError(n_bins)


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
            with_field(study, h_top1, key, TOP1_METRIC.at(dataset=ds_name), ds_name)
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
    page.tables["field"] = field_table(study, page.headline)
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



# ------------------------------------------------------------- scores beyond the ECE
def _headline_value(page: Page, model: str, metric: str) -> dict | None:
    return next((h for h in page.headline if h["model"] == model and h["metric"] == metric), None)


def _ci(iv) -> tuple:
    return (None, None) if iv is None else (finite_or_none(iv.low), finite_or_none(iv.high))


def _text(value, iv) -> str:
    return interval_text(value, *_ci(iv)) if iv is not None else interval_text(value)


def _class_scores(probs: np.ndarray, labels: np.ndarray, n_bins: int, counts: np.ndarray | None) -> tuple[dict, dict | None]:
    """({score: (value, Interval or None)}, {score: replicates} or None) of the scores over
    every class's probability, their intervals from the resamples ``counts`` (drawn as
    counts: the same images as every other interval with the study's seed; None: none)."""
    if counts is None:
        return {"adaptive": (metrics.adaptive_calibration_error(probs, labels, n_bins), None),
                "classwise": (metrics.classwise_calibration_error(probs, labels, n_bins), None),
                "quba": (metrics.quba_calibration_error(probs, labels, n_bins), None)}, None
    # the sample itself is the resample that draws every image once: its scores come with
    # the replicates (equal to the functions', tested), not from a pass of their own
    drawn = metrics.class_calibration_replicates(probs, labels, np.vstack([np.ones(len(labels)), counts]), n_bins)
    reps = {k: v[1:] for k, v in drawn.items()}
    return {k: (float(drawn[k][0]), stats.interval_from_replicates(float(drawn[k][0]), reps[k], n_units=len(labels)))
            for k in ("adaptive", "classwise", "quba")}, reps


def _per_model_scores(r, conf, correct, n_bins: int, counts, n_boot: int, seed: int) -> dict:
    """A model's scores from its result ``r`` on the evaluation images, in a worker thread
    (``_start_scores``; the model's probabilities read there): its class scores
    (``_class_scores``; ``counts`` their resamples);
    its mean NLL and Brier score with their replicates, both from one resampling
    ("terms": (value, replicates or None) each, the per-image NLL terms in "nll"); its
    equal-mass ECE and interval ("equal_mass"). ``n_boot`` 0: no intervals."""
    probs, labels = r.probs(), r.table["label"].to_numpy()
    classes, reps = _class_scores(probs, labels, n_bins, counts)
    nll, brier = metrics.nll_terms(probs, labels), metrics.brier_terms(probs, labels)
    del probs                                # 400 MB at ImageNet val: gone before the intervals
    equal_mass = metrics.EqualMassCalibrationError(n_bins)    # its resamples from sorting once
    if n_boot:
        means, both = stats.bootstrap_replicates("mean", np.column_stack([nll, brier]), n_boot=n_boot, seed=seed)
        terms = {"nll": (float(means[0]), both[:, 0]), "brier": (float(means[1]), both[:, 1])}
        em = stats.bootstrap_ci(equal_mass, conf, correct, n_boot=n_boot, seed=seed)
        em = (em.estimate, em)
    else:
        terms = {"nll": (float(np.mean(nll)), None), "brier": (float(np.mean(brier)), None)}
        em = (equal_mass(conf, correct), None)
    return {"nll": nll, "brier": brier, "terms": terms, "equal_mass": em, "classes": classes, "reps": reps}


def _start_scores(pool, study, scored: dict) -> list:
    """Submit every model's ``_per_model_scores`` to the thread ``pool``: one future per
    model of ``scored``, in its order. They are most of the page's arithmetic (the class
    scores' resamples pass over images x classes), so they run beside the other sections."""
    n_boot = resamples(study, study.settings.class_resamples or None)
    counts = {n: stats.resample_counts(n, n_boot, study.seed) if n_boot else None
              for n in {len(r) for _, _, r in scored.values()}}
    return [pool.submit(_per_model_scores, r, conf, correct, study.settings.n_bins, counts[len(r)],
                        resamples(study), study.seed) for conf, correct, r in scored.values()]


def _scores_section(study, page: Page, scored: dict, ds_name: str, pending: list) -> None:
    """NLL, Brier, equal-mass ECE, ACE, classwise ECE and QUBA's calibration error per
    model on the evaluation images, from ``_start_scores``'s futures ``pending``."""
    rows, bars, per_image, terms, quba = [], [], {"nll": {}, "brier": {}}, {"nll": {}, "brier": {}}, {}
    for (key, (conf, correct, r)), future in zip(scored.items(), pending):
        done = future.result()
        label = study.label(key)
        y = r.table["label"].to_numpy()
        classes, reps, (em_value, em) = done["classes"], done["reps"], done["equal_mass"]
        h_nll, h_brier = (
            headline_of(study, key, metric.at(dataset=ds_name), value,
                        None if replicates is None else stats.interval_from_replicates(value, replicates,
                                                                                       n_units=len(y)))
            for metric, (value, replicates) in ((NLL_METRIC, done["terms"]["nll"]),
                                                (BRIER_METRIC, done["terms"]["brier"])))
        for name in terms:
            terms[name][key], per_image[name][key] = done["terms"][name], done[name]
        qv, qiv = classes["quba"]
        h_quba = study.headline_row(key, QUBA_METRIC.at(dataset=ds_name), qv, qiv)
        quba[key] = (qv, None if reps is None else reps["quba"])
        page.headline += [h_nll, h_brier, h_quba]
        h_ece = _headline_value(page, label, ECE_METRIC.at(dataset=ds_name).name)
        errors = {"ECE, debiased": (h_ece["value"], h_ece["ci_low"], h_ece["ci_high"]),
                  "ECE, equal-mass": (em_value, *_ci(em)),
                  "ACE": (classes["adaptive"][0], *_ci(classes["adaptive"][1])),
                  "classwise ECE": (classes["classwise"][0], *_ci(classes["classwise"][1])),
                  "calibration error, QUBA": (qv, *_ci(qiv))}
        rows.append({"model": label, "dataset": ds_name, "images": len(y),
                     "NLL [95% CI]": interval_text(h_nll["value"], h_nll["ci_low"], h_nll["ci_high"]),
                     "Brier [95% CI]": interval_text(h_brier["value"], h_brier["ci_low"], h_brier["ci_high"]),
                     **{f"{name} [95% CI]": interval_text(*v, fmt=SMALL_SCORE_FORMAT if name in SMALL_SCORES else "{:.3f}")
                        for name, v in errors.items()}})
        bars += [{"model": label, "score": name, "value": v[0], "ci_low": v[1], "ci_high": v[2]}
                 for name, v in errors.items()]
    page.tables["scores"] = frame(rows)
    page.tables["score_bars"] = frame(bars)
    meaningful = trained_or_all(study, scored)
    for metric, name in ((NLL_METRIC, "nll"), (BRIER_METRIC, "brier")):
        if _same_rows(scored, list(meaningful)):    # the headlines' replicates: the same resamples
            page.comparisons += _compare_replicates(study, metric.at(dataset=ds_name),
                                                    {k: terms[name][k] for k in meaningful}, scored)
        else:                                           # on the images every model scored
            page.comparisons += compare(study, metric.at(dataset=ds_name), "mean",
                                        {k: per_image[name][k] for k in meaningful})
    page.comparisons += _compare_replicates(study, QUBA_METRIC.at(dataset=ds_name),
                                            {k: quba[k] for k in meaningful}, scored)


def _same_rows(scored: dict, keys: list) -> bool:
    """``same_rows`` of the models ``keys`` of ``scored``."""
    return same_rows({k: scored[k][2].table["path"].to_numpy() for k in keys})


def _compare_replicates(study, metric: Metric, by_key: dict, scored: dict) -> list[dict]:
    """Paired comparisons from replicates every model drew on the same resamples (key ->
    (value, replicates)): ``compare_replicates``'s simultaneous intervals of the
    differences. [] without intervals, with fewer than two models, or when the models
    scored different images or the same in another order."""
    keys = [k for k, (_, reps) in by_key.items() if reps is not None]
    if len(keys) < 2 or not _same_rows(scored, keys):
        return []
    return compare_drawn(study, metric, {k: by_key[k] for k in keys})


# ------------------------------------------------------------------ temperature scaling
def _temperature_fits(logits, labels: np.ndarray, fold: np.ndarray) -> dict:
    """One model's temperatures, numpy alone (it runs in a worker thread, ``threaded_map``):
    T fitted on each half and applied to the other (``halves``), the scaled confidences and
    NLL terms that gives (``conf``, ``nll``; ``nll_before``: the terms as trained), and T
    fitted on all the images (``all``: the one applied under shift)."""
    per_image, halves = metrics.cross_fitted_temperatures(logits, labels, fold)
    conf, nll = metrics.scaled_confidence_and_nll(logits, labels, per_image)
    _, nll_before = metrics.scaled_confidence_and_nll(logits, labels, 1.0)
    return {"halves": halves, "conf": conf, "nll": nll, "nll_before": nll_before,
            "all": metrics.fit_temperature(logits, labels)}


def _temperature_section(study, page: Page, scored: dict, ds_name: str) -> dict:
    """Two-fold temperature scaling per model: T fitted on each half of the images,
    applied to the other; ECE and NLL (means of the two halves) before and after. Returns
    key -> (T fitted on all the images, the two-fold scaled confidences) for the shift
    section."""
    n_bins = study.settings.n_bins
    ece_two_fold = metrics.TwoFold(_ece(n_bins))
    mean_two_fold = metrics.TwoFold(metrics.Mean())      # a statistic of sums: every resample at once
    rows, bins, fitted, after_by_key = [], [], {}, {}
    folds = {n: metrics.two_fold_split(n, study.seed) for n in {len(r) for _, _, r in scored.values()}}
    # each model's logits are read here, in turn (as the cache holds them: each fit takes its
    # own float64 copy); its temperatures are fitted in a worker thread
    fits = threaded_map(_temperature_fits, ((r.logits, r.table["label"].to_numpy(), folds[len(r)])
                                            for _, _, r in scored.values()))
    for (key, (conf, correct, r)), fit in zip(scored.items(), fits):
        label = study.label(key)
        fold, (t0, t1), conf_ts, nll_after = folds[len(r)], fit["halves"], fit["conf"], fit["nll"]
        fitted[key] = (fit["all"], conf_ts)
        before, after = (interval(study, ece_two_fold, fold, c, correct) for c in (conf, conf_ts))
        nll0, nll1 = (interval(study, mean_two_fold, fold, t) for t in (fit["nll_before"], nll_after))
        values = {"ece0": before.estimate if before else ece_two_fold(fold, conf, correct),
                  "ece1": after.estimate if after else ece_two_fold(fold, conf_ts, correct),
                  "nll0": nll0.estimate if nll0 else mean_two_fold(fold, fit["nll_before"]),
                  "nll1": nll1.estimate if nll1 else mean_two_fold(fold, nll_after)}
        delta = (stats.paired_bootstrap(ece_two_fold, (fold, conf_ts, correct), (fold, conf, correct),
                                        n_boot=study.n_boot, seed=study.seed) if study.n_boot else None)
        after_by_key[key] = (fold, conf_ts, correct)
        page.headline.append(study.headline_row(key, ECE_SCALED_METRIC.at(dataset=ds_name), values["ece1"], after))
        page.headline.append(study.headline_row(key, TEMPERATURE_METRIC.at(dataset=ds_name), (t0 + t1) / 2))
        rows.append({"model": label, "T (mean of the two halves)": (t0 + t1) / 2, "T, half 1": t0, "T, half 2": t1,
                     "T on all images (applied under shift)": fitted[key][0],
                     "ECE before [95% CI]": _text(values["ece0"], before),
                     "ECE after [95% CI]": _text(values["ece1"], after),
                     "Δ ECE [95% CI]": _text(values["ece1"] - values["ece0"], delta),
                     "NLL before [95% CI]": _text(values["nll0"], nll0),
                     "NLL after [95% CI]": _text(values["nll1"], nll1),
                     "scaling helps": bool(delta is not None and delta.high < 0)})
        bins.append(metrics.reliability_bins(conf_ts, correct, n_bins=n_bins).assign(model=label))
    page.tables["temperature"] = frame(rows)
    page.tables["bins_scaled"] = pd.concat(bins, ignore_index=True) if bins else pd.DataFrame()
    meaningful = trained_or_all(study, after_by_key)
    page.comparisons += compare(study, ECE_SCALED_METRIC.at(dataset=ds_name), ece_two_fold, meaningful)
    return fitted


# --------------------------------------------------------------- calibration under shift
def _shift_outputs(r) -> tuple:
    """(table, logits, (top index, top probability) or None): what ``_shift_confidences``
    reads of a result, read here, in the caller's thread (the cache's reads stay there)."""
    logits = r.logits
    return r.table, logits, None if logits is not None else (r.top_index, r.top_prob)


def _shift_rows(t: pd.DataFrame) -> dict:
    """What the shift section reads of a shifted dataset's rows, the same for every model
    that scored them (computed once for them all): the rows scored (a multi-label row needs
    a non-empty set), the label sets, and on ImageNet-C each scored row's image (ids
    0, 1, ...) and severity, with the number of images of each severity ("images")."""
    keep = np.ones(len(t), dtype=bool)
    sets = None
    if "label_set" in t.columns:
        sets = [set(int(v) for v in s) for s in t["label_set"]]
        keep = np.array([bool(s) for s in sets])
    out = {"keep": keep, "sets": sets, "groups": None, "severity": None, "images": {}}
    if "corruption" in t.columns:
        out["groups"] = pd.factorize(robustness.image_ids(t))[0][keep]
        out["severity"] = t["severity"].astype(int).to_numpy()[keep]
        per = pd.DataFrame({"g": out["groups"], "s": out["severity"]}).drop_duplicates()
        out["images"] = {None: int(per["g"].nunique()), **per.groupby("s")["g"].size().astype(int).to_dict()}
    return out


def _shift_pair(ds, table, logits, top, rows: dict, temperature: float, ece, n_boot: int, seed: int) -> tuple:
    """(as trained, at ``temperature``, their ``_shift_ece``s): ``_shift_confidences`` twice
    and their ECEs, numpy and pandas alone, so that several models run at once in threads
    (``threaded_map``)."""
    raw = _shift_confidences(ds, table, logits, top, rows)
    cal = _shift_confidences(ds, table, logits, top, rows, temperature)
    return raw, cal, _shift_ece(ece, raw, n_boot, seed), _shift_ece(ece, cal, n_boot, seed)


def _shift_confidences(ds, t, logits, top, rows: dict, temperature: float = 1.0, chunk: int = 50_000) -> dict:
    """Per scored row of a shifted dataset: the top-1 confidence of softmax(z / T) (over
    the dataset's class mask where it has one) and its correctness (multi-label sets: the
    top-1 is in the set; empty sets are not scored); ImageNet-C's image ids and severities.
    A chunk of rows at a time: ImageNet-C holds 75 rows per image. None when the result
    kept only the top-1 and its probability (``robustness.imagenet_c_outputs: top``) and
    ``temperature`` is not 1: the confidence at another temperature needs every logit.
    ``t``: the result's table; ``logits``, or ``top`` (index, probability) when the cache
    kept only those (``_shift_outputs``); ``rows``: ``_shift_rows(t)``."""
    if logits is None and temperature != 1.0:
        return None
    mask = None if ds.class_mask is None else np.asarray(ds.class_mask, dtype=np.int64)
    conf, pred = np.empty(len(t)), np.empty(len(t), dtype=np.int64)
    for start in range(0, len(t) if logits is not None else 0, chunk):
        best, idx = metrics.softmax_top(logits[start:start + chunk], mask, temperature)
        conf[start:start + chunk] = best
        pred[start:start + chunk] = idx if mask is None else mask[idx]
    if logits is None:
        conf, pred = top[1].astype(np.float64), top[0].astype(np.int64)
    if rows["sets"] is not None:
        correct = np.array([int(q) in s for q, s in zip(pred, rows["sets"])])
    else:
        correct = pred == t["label"].to_numpy()
    keep = rows["keep"]
    return {"conf": conf[keep], "correct": correct[keep], "groups": rows["groups"], "severity": rows["severity"],
            "images": rows["images"]}


def _shift_inputs(study, ds, present: list, fitted: dict, ece):
    """``_shift_pair``'s arguments for each (key, result) of ``present``, read in the
    caller's thread; ``_shift_rows`` once for all the models that scored the same rows."""
    shared = None
    for key, r in present:
        t, logits, top = _shift_outputs(r)
        if shared is None or len(shared[0]) != len(t) or not shared[0]["path"].equals(t["path"]):
            shared = (t, _shift_rows(t))
        yield ds, t, logits, top, shared[1], fitted[key][0], ece, resamples(study), study.seed


def _shift_ece(ece, scored: dict | None, n_boot: int, seed: int) -> dict:
    """{part: (ECE, Interval or None)} of one model's shift confidences ``scored``: the
    whole dataset (None) and, on ImageNet-C, each severity, images resampled whole (all
    their cells together), every part from one resampling (``stats.replicates_by_cell``).
    ``n_boot`` 0: no intervals."""
    if scored is None:
        return {}
    if scored["severity"] is None:
        if not n_boot or not len(scored["conf"]):
            return {None: (ece(scored["conf"], scored["correct"]), None)}
        iv = stats.bootstrap_ci(ece, scored["conf"], scored["correct"], n_boot=n_boot, seed=seed)
        return {None: (iv.estimate, iv)}
    units, by = stats.replicates_by_cell(ece, scored["conf"], scored["correct"], cells=scored["severity"],
                                         groups=scored["groups"], n_boot=n_boot, seed=seed)
    return {part: (est, None if reps is None else stats.interval_from_replicates(est, reps, n_units=units))
            for part, (est, reps) in by.items()}


#: the shift table's cell where the cache kept only ImageNet-C's top-1 and its probability
TOP_ONLY = "not computed: the cache keeps ImageNet-C's top-1 only (robustness.imagenet_c_outputs: logits)"


def _shift_section(study, page: Page, answers: dict, ds_name: str, fitted: dict, scored: dict) -> None:
    """ECE on every shifted dataset, as trained and with the temperature fitted on the
    evaluation images; ImageNet-C per severity (whole images resampled, all their cells
    together). The evaluation images are the first point of the chart, scored by the same
    plug-in ECE as every shifted point (the grouped resampling of ImageNet-C has no
    debiased counterpart)."""
    ece = _ece(study.settings.n_bins)
    shifted = {name.split(":", 1)[1]: a for name, a in answers.items() if name.startswith("shift:")}
    if "imagenet-r" in answers:
        shifted = {"imagenet-r": answers["imagenet-r"], **shifted}
    if not shifted:
        return
    rows, points = [], []
    for key, (t_all, conf_ts) in fitted.items():
        label = study.label(key)
        conf, correct, _ = scored[key]
        iv = interval(study, ece, conf, correct)
        after = _headline_value(page, label, ECE_SCALED_METRIC.at(dataset=ds_name).name)
        points += [{"model": label, "shift": f"{ds_name} (in distribution)", "temperature": "as trained",
                    "ECE": iv.estimate if iv else ece(conf, correct), "ci_low": _ci(iv)[0], "ci_high": _ci(iv)[1]},
                   {"model": label, "shift": f"{ds_name} (in distribution)", "temperature": "T fitted on " + ds_name,
                    "ECE": after["value"], "ci_low": after["ci_low"], "ci_high": after["ci_high"]}]
    for name, answer in shifted.items():
        ds = answer.dataset
        present = [(key, next(iter(rs.values()))) for key in fitted if (rs := answer.results.for_model(key))]
        # each model's outputs are read here, in turn; its confidences computed in a worker thread
        pairs = threaded_map(_shift_pair, _shift_inputs(study, ds, present, fitted, ece))
        for (key, r), (raw, cal, *eces) in zip(present, pairs):
            label = study.label(key)
            parts = [(name, None, np.ones(len(raw["conf"]), dtype=bool))]
            if raw["severity"] is not None:
                parts += [(f"{name} severity {v}", v, raw["severity"] == v) for v in sorted(set(raw["severity"]))]
            for shift, part, sel in parts:
                (e0, iv0), (e1, iv1) = eces[0][part], eces[1].get(part, (None, None))
                whole = part is None
                if whole and name != "imagenet-r":      # ImageNet-R's ECE is the paper's row above
                    metric = ECE_SHIFT_METRIC.at(variant=name)
                    page.headline.append(study.headline_row(key, metric, e0, iv0,
                                                            note="stand-in" if ds.standin else ""))
                rows.append({"model": label, "shift": shift, "data": ds.name, "stand-in": bool(ds.standin),
                             "images": int(sel.sum()) if raw["groups"] is None else raw["images"][part],
                             "top-1": float(raw["correct"][sel].mean()),
                             "ECE [95% CI]": _text(e0, iv0),
                             f"ECE, T from {ds_name} [95% CI]": _text(e1, iv1) if cal is not None else TOP_ONLY,
                             "mean confidence": float(raw["conf"][sel].mean())})
                if not whole or raw["severity"] is None:     # the chart: ImageNet-C by severity
                    points.append({"model": label, "shift": shift, "temperature": "as trained", "ECE": e0,
                                   "ci_low": _ci(iv0)[0], "ci_high": _ci(iv0)[1]})
                    if cal is not None:
                        points.append({"model": label, "shift": shift, "temperature": "T fitted on " + ds_name,
                                       "ECE": e1, "ci_low": _ci(iv1)[0], "ci_high": _ci(iv1)[1]})
    page.tables["shift"] = frame(rows)
    page.tables["shift_lines"] = frame(points)


# ------------------------------------------------------------------ selective prediction
def _selective_section(study, page: Page, scored: dict, ds_name: str, points: int = 200) -> None:
    """Risk-coverage curve, AURC, E-AURC and accuracy at each of ``COVERAGES`` per model;
    paired comparisons of AURC and of the accuracies. Each statistic's replicates are drawn
    once for every model (the same resamples): its intervals and its comparisons read them."""
    rows, curves = [], []
    stats_of = {"AURC": metrics.SelectiveStatistic("aurc"), "E-AURC": metrics.SelectiveStatistic("excess_aurc"),
                **{f"acc@{round(100 * c)}": metrics.SelectiveStatistic("accuracy", c) for c in COVERAGES}}
    n_boot = resamples(study)
    drawn = _selective_replicates(stats_of, scored, n_boot, study.seed) if n_boot else {}
    for i, (key, (conf, correct, r)) in enumerate(scored.items()):
        label = study.label(key)
        row = {"model": label, "images": len(conf), "top-1": float(correct.mean())}
        for name, fn in stats_of.items():
            if name in drawn:
                estimates, reps = drawn[name]
                iv = stats.interval_from_replicates(estimates[key], reps[:, i], n_units=len(conf), n_boot=n_boot)
                value = iv.estimate
            else:
                iv, value = None, fn(conf, correct)
            row[f"{name} [95% CI]"] = _text(value, iv)
            if name == "AURC":
                page.headline.append(study.headline_row(key, AURC_METRIC.at(dataset=ds_name), value, iv))
            elif name.startswith("acc@"):
                metric = ACCURACY_AT_METRIC.at(coverage=name[4:], dataset=ds_name)
                page.headline.append(study.headline_row(key, metric, value, iv))
        rows.append(row)
        curve = metrics.risk_coverage_curve(conf, correct)
        pick = np.unique(np.linspace(0, len(curve) - 1, min(points, len(curve))).round().astype(int))
        curves.append(curve.iloc[pick].assign(model=label))
    page.tables["selective"] = frame(rows)
    page.tables["risk_coverage"] = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    if not drawn:
        return
    meaningful = list(trained_or_all(study, scored))
    columns = [list(scored).index(k) for k in meaningful]
    compared = {"AURC": AURC_METRIC.at(dataset=ds_name),
                **{f"acc@{round(100 * c)}": ACCURACY_AT_METRIC.at(coverage=round(100 * c), dataset=ds_name)
                   for c in COVERAGES}}
    for name, metric in compared.items():
        estimates, reps = drawn[name]
        page.comparisons += compare_replicates(study, metric, {k: estimates[k] for k in meaningful}, reps[:, columns])


def _selective_replicates(stats_of: dict, scored: dict, n_boot: int, seed: int) -> dict:
    """name -> ({model: estimate}, (n_boot, M) replicates): what ``stats.model_replicates``
    gives for each statistic (the same resamples for every model), the statistics of a
    model computed together (``metrics.SelectiveStatistics``: one pass per resample)."""
    together = metrics.SelectiveStatistics(*stats_of.values())
    draw = partial(stats.bootstrap_replicates, together, n_boot=n_boot, seed=seed)
    # several models at once in threads (their confidences are in memory already)
    per_model = dict(zip(scored, threaded_map(draw, ((conf, correct) for conf, correct, _r in scored.values()))))
    return {name: ({k: float(est[i]) for k, (est, _) in per_model.items()},
                   np.stack([reps[:, i] for _, reps in per_model.values()], axis=1))
            for i, name in enumerate(stats_of)}


# ------------------------------------------------------- out-of-distribution detection
def _ood_scores(logits_in, logits_out, mask: np.ndarray, counts: tuple | None) -> dict:
    """One model's OOD numbers, numpy alone (it runs in a worker thread, ``threaded_map``):
    {score: (AUROC, FPR at ``OOD_TPR``, replicates or None)} of each of
    ``metrics.OOD_SCORES``, the replicates from the resample ``counts`` (in, out) of the two
    sets."""
    s_in, s_out = metrics.ood_scores(logits_in, mask), metrics.ood_scores(logits_out, mask)
    return {s: (metrics.auroc(s_in[s], s_out[s]), metrics.fpr_at_tpr(s_in[s], s_out[s], OOD_TPR),
                None if counts is None else metrics.ood_replicates(s_in[s], s_out[s], *counts, OOD_TPR))
            for s in metrics.OOD_SCORES}


def _ood_section(study, page: Page, scored: dict, ood: Answer) -> None:
    """ImageNet-O (or its stand-in) against the evaluation images of its 200 classes:
    AUROC and FPR at 95% TPR for each of ``metrics.OOD_SCORES``, the softmax and scores
    over the 200 columns; the two sets resampled separately (``metrics.ood_replicates``)."""
    ds = ood.dataset
    mask = np.asarray(ds.class_mask, dtype=np.int64)
    rows, bars, by_score = [], [], {s: {} for s in metrics.OOD_SCORES}
    n_boot = resamples(study)
    present = []
    for key, (_, _, r) in scored.items():
        rs = ood.results.for_model(key)
        if not rs:
            continue
        r_out = next(iter(rs.values()))
        inside = np.isin(r.table["label"].to_numpy(), mask)
        if inside.any() and len(r_out):
            present.append((key, r, r_out, inside))
    counts: dict = {}          # the same resamples of the same two sizes for every model

    def inputs():
        for _, r, r_out, inside in present:
            sizes = (int(inside.sum()), len(r_out))
            if n_boot and sizes not in counts:
                counts[sizes] = (stats.resample_counts(sizes[0], n_boot, study.seed),
                                 stats.resample_counts(sizes[1], n_boot, study.seed + 1))
            yield np.asarray(r.logits)[inside], r_out.logits, mask, counts.get(sizes)

    for (key, r, r_out, inside), numbers in zip(present, threaded_map(_ood_scores, inputs())):
        label = study.label(key)
        note = "stand-in" if ds.standin else ""
        for score, (a, f, reps) in numbers.items():
            iv_a = stats.interval_from_replicates(a, reps["auroc"]) if reps else None
            iv_f = stats.interval_from_replicates(f, reps["fpr"]) if reps else None
            page.headline += [study.headline_row(key, AUROC_METRIC.at(ood=ds.name, score=score), a, iv_a, note),
                              study.headline_row(key, FPR_METRIC.at(ood=ds.name, score=score), f, iv_f, note)]
            by_score[score][key] = (a, reps["auroc"] if reps else None)
            rows.append({"model": label, "score": score, "in-distribution images": int(inside.sum()),
                         "out-of-distribution images": len(r_out), "data": ds.name, "stand-in": bool(ds.standin),
                         "AUROC [95% CI]": _text(a, iv_a), "FPR@95 [95% CI]": _text(f, iv_f)})
            bars.append({"model": label, "score": score, "AUROC": a, "ci_low": _ci(iv_a)[0], "ci_high": _ci(iv_a)[1]})
    page.tables["ood"] = frame(rows)
    page.tables["ood_bars"] = frame(bars)
    for score, by_key in by_score.items():
        page.comparisons += _compare_replicates(study, AUROC_METRIC.at(ood=ds.name, score=score),
                                                trained_or_all(study, by_key), scored)


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
    if study.settings.sensitivity and _bf16_skipped(study):
        rows.append({"convention": "precision", "variant": "precision=bf16", "model": "–",
                     "note": BF16_SKIPPED})
    page.tables["sensitivity"] = frame(rows)


def build(study, answers: dict[str, Answer]) -> Page:
    page = Page("calibration")
    page.inputs = list(study.inputs)
    base = {}
    pool = ThreadPoolExecutor(model_threads(), thread_name_prefix="beyond-inet-scores")
    try:
        if "eval" in answers:
            ds_name = answers["eval"].dataset.name
            base = _eval_section(study, page, answers["eval"].results, ds_name)
            # the scores over every class's probability start now, in the background; their
            # rows take their place after the evaluation's when they are done, at the end
            pending, at = _start_scores(pool, study, base), (len(page.headline), len(page.comparisons))
            fitted = _temperature_section(study, page, base, ds_name)
            _selective_section(study, page, base, ds_name)
        if "imagenet-r" in answers:
            ans = answers["imagenet-r"]
            _imagenet_r_section(study, page, ans.results, ans.dataset.class_mask)
        if base:
            _shift_section(study, page, answers, ds_name, fitted, base)
            if "ood" in answers:
                _ood_section(study, page, base, answers["ood"])
            _sensitivity_section(study, page, base, {k: a.results for k, a in answers.items()})
            ahead = (len(page.headline), len(page.comparisons))
            _scores_section(study, page, base, ds_name, pending)
            for rows, start, end in ((page.headline, at[0], ahead[0]), (page.comparisons, at[1], ahead[1])):
                rows[start:] = rows[end:] + rows[start:end]
    finally:        # on an error, the models not started yet are not waited for
        pool.shutdown(wait=True, cancel_futures=True)
    for name, ans in answers.items():
        if name.startswith(YOURS):
            _yours_section(study, page, name[len(YOURS):], ans.results)
    page.tables["yours"] = frame(page.tables.get("yours", []))
    page.findings = findings(study, page)
    rank_headline(study, page.headline)
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
        under = [r["model"] for _, r in summary.iterrows()
                 if r["mean confidence"] < _top1_value(page, r["model"]) - 0.02]
        if under:   # the reliability bars above the diagonal: the models know more than they say
            who = "every model" if len(under) == len(summary) > 1 else ", ".join(under)
            text += (f"Under-confident on average (mean confidence below accuracy): {who}"
                     + (f" ({', '.join(under)})" if who == "every model" else "") + ". ")
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
    top1 = next((h["metric"] for h in page.headline if h["metric"].startswith("top-1 (")), None)
    field = field_sentence(page.headline, top1) if top1 else ""
    if field:
        out.append(field)
    out.append("Calibration is not placed in a published field: " + NOT_COMPARABLE["ece_imagenet"])
    pub = published_sentence(page.headline)
    if pub:
        out.append(pub)
    out += [t for t in (_scores_finding(page), _temperature_finding(study, page), _shift_finding(study, page),
                        _selective_finding(study, page), _ood_finding(page)) if t]
    sens = page.table("sensitivity")
    if "note" in sens.columns:          # a convention left out: said in its row and here
        for note in sens["note"].dropna():
            out.append(f"Protocol sensitivity: bf16 precision {note}.")
        sens = sens[sens["note"].isna()]
    if not sens.empty:
        moved = sens[sens["moves top-1"].astype(bool)]
        if len(moved):
            big = moved.loc[moved["Δ top-1"].abs().idxmax()]
            out.append(f"Protocol sensitivity: {len(moved)} of {len(sens)} convention switches move top-1 "
                       f"(McNemar's test, Holm-adjusted over the {len(sens)} switches); the largest is "
                       f"{big['convention']} ({big['variant']}) for {big['model']}: {100 * big['Δ top-1']:+.1f} points.")
        else:
            out.append(f"Protocol sensitivity: no convention switch moves top-1 on these images (McNemar's test, "
                       f"Holm-adjusted over the {len(sens)} switches).")
    return out


def _metric_names(page: Page, metric: Metric) -> list[str]:
    """The names rows of ``metric`` carry on this page (its ``{fields}`` filled)."""
    head = metric.name.split("{", 1)[0]
    return list(dict.fromkeys(h["metric"] for h in page.headline if h["metric"].startswith(head)))


def _scores_finding(page: Page) -> str:
    parts = [ranking_sentence(page.comparisons, name)
             for m in (NLL_METRIC, BRIER_METRIC, QUBA_METRIC) for name in _metric_names(page, m)]
    parts = [p for p in parts if p]
    return ("Scores of the whole predicted distribution: " + " ".join(parts)) if parts else ""


def _temperature_finding(study, page: Page) -> str:
    t = study.meaningful(page.table("temperature"))
    if t.empty:
        return ""
    said = []
    for _, r in t.iterrows():
        verdict = "which the paired interval confirms" if r["scaling helps"] else "within the paired interval"
        said.append(f"{r['model']}: T = {r['T (mean of the two halves)']:.2f}, ECE {r['ECE before [95% CI]']} → "
                    f"{r['ECE after [95% CI]']} ({verdict})")
    return ("Temperature scaling, fitted on one half of the images and scored on the other: "
            + "; ".join(said) + ". T > 1 means the model was over-confident, T < 1 under-confident.")


def _shift_finding(study, page: Page) -> str:
    lines = page.table("shift_lines")
    if lines.empty:
        return ""
    lines = study.meaningful(lines)
    said = []
    for model, g in lines.groupby("model", sort=False):
        raw = g[g["temperature"] == "as trained"]
        inside, shifted = raw.iloc[0], raw.iloc[1:]
        if shifted.empty:
            continue
        worst = shifted.loc[shifted["ECE"].idxmax()]
        scaled = g[(g["temperature"] != "as trained") & (g["shift"] == worst["shift"])]
        said.append(f"{model}: ECE {inside['ECE']:.3f} in distribution, up to {worst['ECE']:.3f} on "
                    f"{worst['shift']}" + (f" ({scaled['ECE'].iloc[0]:.3f} with the in-distribution "
                                            f"temperature)" if len(scaled) else ""))
    standin = bool(page.table("shift").get("stand-in", pd.Series(dtype=bool)).any())
    return ("Under distribution shift: " + "; ".join(said) + "."
            + (" Shifted data here includes generated stand-ins." if standin else "")) if said else ""


def _selective_finding(study, page: Page) -> str:
    sel = study.meaningful(page.table("selective"))
    if sel.empty:
        return ""
    parts = [ranking_sentence(page.comparisons, name) for name in _metric_names(page, AURC_METRIC)]
    answered = "; ".join(f"{r['model']} {r['acc@90 [95% CI]']} (top-1 {r['top-1']:.3f})" for _, r in sel.iterrows())
    return " ".join(p for p in parts if p) + (f" Answering only its 90% most confident images, accuracy is "
                                              f"{answered}.")


def _ood_finding(page: Page) -> str:
    ood = page.table("ood")
    if ood.empty:
        return ""
    parts = [ranking_sentence(page.comparisons, name) for name in _metric_names(page, AUROC_METRIC)]
    parts = [p for p in parts if p]
    best = ood.assign(a=ood["AUROC [95% CI]"].str.split(" ").str[0].astype(float)).sort_values("a").iloc[-1]
    text = (f"Out-of-distribution detection ({best['out-of-distribution images']:,} images of {best['data']} "
            f"against {best['in-distribution images']:,} evaluation images of its 200 classes): the highest "
            f"AUROC is {best['model']}'s with the {best['score']} score, {best['AUROC [95% CI]']}. "
            + " ".join(parts))
    if best["stand-in"]:
        text += (" These out-of-distribution images are a generated stand-in, far easier to flag than "
                 "ImageNet-O's: the numbers show how the section reads, not how the models do on ImageNet-O.")
    return text.strip()


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
                    metrics=(ECE_METRIC, TOP1_METRIC, ECE_R_METRIC, NLL_METRIC, BRIER_METRIC, QUBA_METRIC,
                             ECE_SCALED_METRIC, TEMPERATURE_METRIC, ECE_SHIFT_METRIC, AURC_METRIC,
                             ACCURACY_AT_METRIC, AUROC_METRIC, FPR_METRIC, ECE_YOURS_METRIC))
