"""Robustness page (docs/protocols.md §4): top-1 on the ImageNet variants the profile
names, each with its 95% bootstrap interval over images.

- ImageNet-C: one image is scored in up to 75 corruption x severity cells; whole images
  are resampled (all their cells together) and the statistic is the unweighted mean over
  the cells (= the mean over corruptions of the mean over severities when every corruption
  has the same severities).
- The paper's mean of seven: each dataset is resampled and the seven replicates are
  averaged replicate-wise (``stats.mean_of_independent``). ImageNet-C and ReaL are made of
  the same ImageNet val images (matched by val file name): they are resampled jointly, one
  draw of val images for both (``universe=``), so the mean keeps their covariance; the
  others (V2, A, R, Sketch, and Hard, whose converted files keep no val name) each on
  their own.
- ImageNet-A and -R: scored over their 200 classes (the protocol); how much the other
  convention (argmax over all 1,000) moves top-1 is shown too, from the same logits, with a
  paired interval; "moves top-1" is McNemar's test, Holm-adjusted over the table's rows.
- Published numbers (timm's tables for timm models, OpenCLIP's for CLIP models) beside the
  run for the same weights, flagged when this run's interval excludes them, with what in
  their preprocessing differs from this run's.
- ImageNet val, where the data root has it, for reference (not part of the mean).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from .. import metrics, stats
from ..data import DATASETS, IMAGENET_C_CORRUPTIONS, ROBUSTNESS_VARIANTS, standins
from ..errors import ProfileError, did_you_mean
from ..references import BENCHMARKS
from .base import (FIELD_NAMES, Answer, Page, Request, combined_headline, common_rows, compare, compare_combined,
                   compare_drawn, field_sentence, field_shown, field_table, frame, gather, headline,
                   headline_of, interval_text, published_sentence, rank_headline, ranking_sentence, resamples,
                   same_rows, sample, shown, threaded_map, trained_or_all, with_field, with_published)
from .schema import Metric, Property


@dataclass
class RobustnessSettings:
    variants: list[str] = field(default_factory=lambda: list(ROBUSTNESS_VARIANTS))
    max_images: int | None = None          # per variant
    corruption_images: int = 16            # demo stand-in: images per corruption x severity
    corruptions: list[str] | None = None   # None: the 15 of ImageNet-C
    # what the cache keeps of ImageNet-C's 3.75 M rows per model: "logits" (4 kB a row: 15 GB
    # per model) or "top" (the top-1 and its softmax probability, 8 bytes a row: the robustness
    # page and calibration's ECE as trained need no more; val's temperature cannot be applied)
    imagenet_c_outputs: str = "logits"

    def check(self, where: str) -> None:
        """Every variant a registered dataset, every corruption one of ImageNet-C's."""
        for v in self.variants:
            if v not in DATASETS:
                raise ProfileError(f"{where}.variants: unknown dataset {v!r}{did_you_mean(v, DATASETS)}; "
                                   f"known: {', '.join(sorted(DATASETS))}")
        if self.imagenet_c_outputs not in IMAGENET_C_OUTPUTS:
            raise ProfileError(f"{where}.imagenet_c_outputs: {self.imagenet_c_outputs!r} is not one of "
                               f"{', '.join(IMAGENET_C_OUTPUTS)}")
        for c in self.corruptions or ():
            if c not in IMAGENET_C_CORRUPTIONS:
                raise ProfileError(f"{where}.corruptions: unknown corruption {c!r}"
                                   f"{did_you_mean(c, IMAGENET_C_CORRUPTIONS)}; "
                                   f"accepted: {', '.join(IMAGENET_C_CORRUPTIONS)}")


#: what ``imagenet_c_outputs`` accepts (engine output kinds)
IMAGENET_C_OUTPUTS = ("logits", "top")
REFERENCE = "imagenet-val"       # shown beside the variants, not part of the mean
#: the variants made of ImageNet val images whose val file name the page can read: resampled jointly
FROM_VAL = ("imagenet-c", "imagenet-real")
TOP1_METRIC = Metric("top-1 {variant}", "higher", paper="top1_{variant}")
REFERENCE_METRIC = Metric(f"top-1 {REFERENCE}", "higher", paper="imagenet_top1")
MEAN_METRIC = Metric("robustness mean of 7", "higher", paper="robustness_mean")


# ------------------------------------------------------------------------ requests
def image_ids(table: pd.DataFrame) -> np.ndarray:
    """The image each ImageNet-C row is a cell of: the stand-in's source image, else the
    file's path below ``<corruption>/<severity>/`` (its WNID folder and file name), which
    is the same in all 75 cells."""
    if "source_path" in table.columns:
        return table["source_path"].astype(str).to_numpy()
    if {"wnid", "file_name"} <= set(table.columns):   # the loader's columns: no path parsing
        return (table["wnid"].astype(str) + "/" + table["file_name"].astype(str)).to_numpy()
    return np.array(["/".join(PurePosixPath(p).parts[-2:]) for p in table["path"]], dtype=object)


def _cap_images(ds, n: int | None):
    """At most ``n`` images of ImageNet-C (spread evenly over the sorted image ids), each
    with all its cells: capping rows would keep different images in different cells."""
    if n is None:
        return ds
    ids = image_ids(ds.table)
    uniq = np.unique(ids)
    if len(uniq) <= n:
        return ds
    keep = uniq[np.unique(np.linspace(0, len(uniq) - 1, n).round().astype(int))]
    return ds.subset(np.isin(ids, keep))


def imagenet_c_dataset(study, s):
    """ImageNet-C as the robustness settings ``s`` cap it, else its stand-in where the
    profile allows one, else None (the calibration page reads the same images)."""
    ds = study.dataset("imagenet-c", show_missing=False, corruptions=s.corruptions)
    if ds is not None:
        return _cap_images(ds, s.max_images)
    if not study.profile.standins:
        return None
    samples = study.dataset("imagenet-samples")
    if samples is None:
        return None
    return study.standin(standins.imagenet_c_standin, samples, n_images=s.corruption_images,
                         corruptions=s.corruptions)


def _reference(study):
    """ImageNet val, for reference, when the data root has it. It is optional here: its
    absence is not listed among the page's missing inputs."""
    if REFERENCE in study.settings.variants:
        return None
    before = list(study.inputs)
    val = study.dataset(REFERENCE, show_missing=False)
    if val is None:
        study.inputs = before
    return val


def variants(study) -> list[str]:
    """The profile's variants, then its own datasets of ImageNet classes (``datasets:``)
    not among them: each is scored like a variant (not part of the mean of seven)."""
    return list(dict.fromkeys([*study.settings.variants, *study.user_datasets(imagenet=True)]))


def scored_rows(ds):
    """A dataset's rows to score: its test split when it has splits (a user's dataset),
    else every row."""
    if "split" in ds.table.columns and (ds.table["split"] == "test").any():
        return ds.subset((ds.table["split"] == "test").to_numpy())
    return ds


def requests(study) -> list[Request]:
    s = study.settings
    out = []
    val = _reference(study)
    if val is not None:
        out.append(Request(REFERENCE, val.spread(s.max_images), study.models))
    names = variants(study)
    for variant in names:
        if variant == "imagenet-c":
            ds = imagenet_c_dataset(study, s)
            if ds is not None:
                out.append(Request(variant, ds, study.models, outputs=(s.imagenet_c_outputs,)))
            continue
        ds = study.dataset(variant, show_missing=False)
        ds = scored_rows(ds).spread(s.max_images) if ds is not None else None
        if ds is not None:
            out.append(Request(variant, ds, study.models))
    study.show_missing(names, "Robustness variants not found")
    return out


# --------------------------------------------------------------------------- build
def table_parts(t: pd.DataFrame) -> dict:
    """What ``score`` takes from a result's rows alone, the same for every model that scored
    them: paths; ImageNet-C's val file names, corruption, severity, image groups and cells;
    multi-label sets and the rows they keep."""
    out = {"paths": t["path"].to_numpy(), "groups": None, "cells": None, "val_ids": None, "sets": None}
    if "corruption" in t.columns:
        ids = image_ids(t)
        out["val_ids"] = (t["file_name"].astype(str).to_numpy() if "source_path" not in t.columns
                          and "file_name" in t.columns else
                          np.array([PurePosixPath(i).name for i in ids], dtype=object))
        out["corruption"] = t["corruption"].astype(str).to_numpy()
        out["severity"] = t["severity"].astype(int).to_numpy()
        # integer codes: every interval sorts its unit and cell labels, and 3.75 M strings
        # sort slowly (the same table gives every model the same codes)
        out["groups"] = pd.factorize(ids, sort=True)[0]
        out["cells"] = pd.factorize(out["corruption"])[0] * 10 + out["severity"]   # severity 1..5
        out["unbalanced"] = _unbalanced(out)
        # the cells of each corruption and of each severity, in order of appearance: their
        # means are means over those cells' columns of one resampling (``stats.CellMeans``)
        present = np.unique(out["cells"])
        out["slices"] = {
            "corruption": [(level, present[present // 10 == i])
                           for i, level in enumerate(pd.factorize(out["corruption"])[1])],
            "severity": [(int(level), present[present % 10 == level])
                         for level in pd.unique(out["severity"])]}
    elif "label_set" in t.columns:
        out["sets"] = [set(int(v) for v in s) for s in t["label_set"]]
        out["keep"] = np.array([bool(s) for s in out["sets"]])
        names = t["file_name"] if "file_name" in t.columns else [PurePosixPath(p).name for p in t["path"]]
        out["val_ids"] = np.asarray(names, dtype=object)[out["keep"]]
    return out


def score(ds, r, parts: dict | None = None) -> dict:
    """Per-image correctness of one model on one dataset: correct (bool, one per scored
    row), paths, groups / cells (ImageNet-C: image ids, corruption/severity cells, and the
    corruption and severity of each row),
    all_classes (ImageNet-A/R: correctness of the argmax over all 1,000 classes, from the
    same logits), skipped_sets (multi-label rows with an empty label set, not scored).
    ``parts``: ``table_parts(r.table)``, when already computed for another model."""
    t = r.table
    parts = table_parts(t) if parts is None else parts
    out = {"paths": parts["paths"], "groups": parts["groups"], "cells": parts["cells"], "all_classes": None,
           "skipped_sets": 0, "val_ids": parts["val_ids"]}
    if "corruption" in t.columns:
        out["correct"] = r.pred() == t["label"].to_numpy()
        for k in ("corruption", "severity", "unbalanced", "slices"):
            out[k] = parts[k]
        return out
    if parts["sets"] is not None:
        keep = parts["keep"]
        pred = r.pred()
        out["correct"] = np.array([int(p) in s for p, s, k in zip(pred, parts["sets"], keep) if k], dtype=bool)
        out["paths"] = out["paths"][keep]
        out["skipped_sets"] = int((~keep).sum())
        return out
    labels = t["label"].to_numpy()
    out["correct"] = r.pred(ds.class_mask) == labels
    if ds.class_mask is not None:
        out["all_classes"] = r.pred() == labels
    return out


def _scores(study, answer: Answer) -> dict:
    """model key -> ``score`` for every study model in the answer (the rows' parts computed
    once for the models that scored the same rows; several models scored at once in threads)."""
    results = {m.key: next(iter(rs.values())) for m in study.models if (rs := answer.results.for_model(m.key))}

    def arguments():
        shared = None
        for r in results.values():
            if shared is None or len(shared[0]) != len(r.table) or not shared[0].equals(r.table["path"]):
                shared = (r.table["path"], table_parts(r.table))
            yield answer.dataset, r, shared[1]

    return {key: {**sc, "result": r} for (key, r), sc in zip(results.items(), threaded_map(score, arguments()))}


def _unbalanced(parts: dict) -> bool:
    """True when the corruptions do not all have the same severities: then the mean over
    cells is not the mean over corruptions of the mean over severities."""
    pairs = pd.DataFrame({"c": parts["cells"] // 10, "s": parts["severity"]}).drop_duplicates()
    return pairs.groupby("c")["s"].apply(frozenset).nunique() > 1


def _metric(name: str, standin: bool) -> Metric:
    metric = REFERENCE_METRIC if name == REFERENCE else TOP1_METRIC.at(variant=name)
    return metric.without_paper() if standin else metric  # a stand-in's number is not the paper's


def _val_universe(answers: dict, all_scores: dict) -> pd.Index | None:
    """The val file names of the images ImageNet-C and ReaL scored (real data only), the
    units they are resampled by together; None when fewer than two of them ran."""
    ids = [sc["val_ids"] for name, scores in all_scores.items() if name in FROM_VAL
           and not answers[name].dataset.standin for sc in list(scores.values())[:1]
           if sc.get("val_ids") is not None]
    if len(ids) < 2:
        return None
    return pd.Index(np.unique(np.concatenate(ids).astype(str)))


def _variant_section(study, page: Page, name: str, answer: Answer, scores: dict,
                     samples: dict | None, universe: pd.Index | None = None) -> None:
    """Headline row, table row and published number per model; each model's sample for
    the mean of seven into ``samples`` (None: not part of the mean). ``universe``: the val
    images ImageNet-C and ReaL are resampled by, jointly (one stream for both)."""
    ds = answer.dataset
    standin = bool(ds.standin)
    metric = _metric(name, standin)
    stream = metrics.ROBUSTNESS_VARIANTS.index(name) if name in metrics.ROBUSTNESS_VARIANTS else 0
    yours = bool(ds.meta.get("user"))
    joint = universe is not None and name in FROM_VAL and not standin
    if joint:
        stream = metrics.ROBUSTNESS_VARIANTS.index(FROM_VAL[0])
    in_universe: dict = {}       # id of a rows' val names -> their positions in the universe

    def sample_of(sc) -> dict | None:
        """The keywords of ``sample`` for this model's part of the mean of seven (None: none)."""
        if samples is None or name not in metrics.ROBUSTNESS_VARIANTS:
            return None
        if not joint:
            return {"stream": stream, "groups": sc["groups"], "cells": sc["cells"]}
        # rows grouped by their val image, among all the val images of C and ReaL
        ids = sc["val_ids"]
        if id(ids) not in in_universe:           # models that scored the same rows share them
            in_universe[id(ids)] = (ids, universe.get_indexer(ids.astype(str)))
        return {"stream": stream, "cells": sc["cells"], "groups": in_universe[id(ids)][1],
                "universe": np.arange(len(universe))}

    # every model's resampling at once in threads: ImageNet-C's cell means, the sample
    resampled = threaded_map(_model_resamples, ((study, sc, sample_of(sc)) for sc in scores.values()))
    for (key, sc), (cell_means, own_sample) in zip(scores.items(), resampled):
        notes = ["stand-in"] if standin else ["your dataset"] if yours else []
        if sc["cells"] is not None and sc["unbalanced"]:
            notes.append("severities differ between corruptions: mean over the cells present")
        if name == REFERENCE:
            notes.append("reference, not part of the mean")
        if cell_means is not None:
            # every cell's mean on one resampling: the headline, the per-corruption and
            # per-severity tables and the comparisons all read it
            sc["cell_means"] = cell_means
            h = headline_of(study, key, metric, cell_means.mean()[0], cell_means.interval(), note="; ".join(notes))
        else:
            h = headline(study, key, metric, "mean", sc["correct"].astype(float), groups=sc["groups"],
                         note="; ".join(notes))
        if name in BENCHMARKS and not standin:
            with_published(h, study.spec(key), name, sc["result"].view)
        if not standin:
            with_field(study, h, key, metric, name)
        page.headline.append(h)
        if own_sample is not None:
            samples.setdefault(key, {})[name] = own_sample
        page.tables["top1"].append({
            "model": study.label(key), "variant": name, "data": ds.name, "images": len(sc["result"]),
            "scored": len(sc["correct"]), "top-1": h["value"], "ci_low": h["ci_low"], "ci_high": h["ci_high"],
            "top-1 [95% CI]": interval_text(h["value"], h["ci_low"], h["ci_high"]),
            "paper": h["paper"], "published": h.get("published"),
            "outside published": h.get("published_flag"), "stand-in": standin, "your dataset": yours,
            "skipped (unreadable)": len(sc["result"].skipped), "skipped (empty label set)": sc["skipped_sets"]})
    _compare(study, page, metric, scores)


def _model_resamples(study, sc: dict, sample_kw: dict | None) -> tuple:
    """(``stats.cell_means`` of ImageNet-C's cells or None, the model's ``sample`` for the
    mean of seven or None): one model's resampling, numpy alone (``threaded_map``)."""
    correct = sc["correct"].astype(float)
    cell_means = (None if sc["cells"] is None else
                  stats.cell_means(correct, cells=sc["cells"], groups=sc["groups"], n_boot=resamples(study),
                                   seed=study.seed))
    return cell_means, None if sample_kw is None else sample(study, "mean", correct, **sample_kw)


def _compare(study, page: Page, metric: Metric, scores: dict) -> None:
    """Paired comparisons on the images every model scored; McNemar where rows are
    independent images (not ImageNet-C's cells of one image)."""
    scores = trained_or_all(study, scores)
    if len(scores) < 2:
        return
    first = next(iter(scores.values()))
    if "cell_means" in first and study.n_boot and same_rows({k: sc["paths"] for k, sc in scores.items()}):
        # the same rows for every model: the headline's resamples are already paired
        page.comparisons += compare_drawn(study, metric, {k: sc["cell_means"].mean() for k, sc in scores.items()})
        return
    rows = common_rows({k: sc["paths"] for k, sc in scores.items()})
    correct = {k: scores[k]["correct"][rows[k]] for k in scores}
    first = next(iter(scores))
    groups, cells = (None if scores[first][c] is None else scores[first][c][rows[first]]
                     for c in ("groups", "cells"))
    page.comparisons += compare(study, metric, "mean", {k: c.astype(float) for k, c in correct.items()},
                                correct_by_key=correct if groups is None else None, groups=groups, cells=cells)


def _label_space_section(study, page: Page, name: str, scores: dict) -> None:
    """ImageNet-A/R: top-1 with the argmax over the 200 classes (the protocol) and over all
    1,000, from the same logits; the paired interval of the difference and McNemar's
    p-value ("moves top-1" is decided over the whole table: ``_label_space_verdicts``)."""
    for key, sc in scores.items():
        if sc["all_classes"] is None:
            continue
        c200, c1000 = sc["correct"].astype(float), sc["all_classes"].astype(float)
        d = (stats.paired_bootstrap("mean", c1000, c200, n_boot=study.n_boot, seed=study.seed)
             if study.n_boot else None)
        page.tables["label_space"].append({
            "model": study.label(key), "variant": name, "images": len(c200),
            "top-1, argmax over 200": float(c200.mean()), "top-1, argmax over 1,000": float(c1000.mean()),
            "Δ (1,000 − 200)": float(c1000.mean() - c200.mean()),
            "Δ low": d.low if d else None, "Δ high": d.high if d else None,
            "p_value": stats.mcnemar_exact(sc["all_classes"], sc["correct"])["p_value"] if d else None})


def _label_space_verdicts(rows: list[dict]) -> None:
    """"moves top-1" on every row of the label-space table: McNemar's p-value Holm-adjusted
    over the table's rows (several models x two datasets would otherwise flag some by
    chance)."""
    adjusted = stats.holm([np.nan if r["p_value"] is None else r["p_value"] for r in rows]) if rows else []
    for r, p in zip(rows, adjusted):
        del r["p_value"]
        r["p_value (Holm)"] = None if np.isnan(p) else float(p)
        r["moves top-1"] = bool(not np.isnan(p) and p <= 0.05)


def _imagenet_c_section(study, page: Page, scores: dict) -> None:
    """Per corruption (mean over its severities) and per severity (mean over corruptions),
    each with its interval over images."""
    for key, sc in scores.items():
        if sc["cells"] is None:
            continue
        for by, table in (("corruption", "imagenet_c"), ("severity", "imagenet_c_severity")):
            for level, cells in sc["slices"][by]:
                value, _ = sc["cell_means"].mean(cells)
                iv = sc["cell_means"].interval(cells)
                page.tables[table].append({
                    "model": study.label(key), by: level,
                    "top-1": value, "ci_low": iv.low if iv else None, "ci_high": iv.high if iv else None,
                    "top-1 [95% CI]": interval_text(value, *((iv.low, iv.high) if iv else ()))})


def _mean_section(study, page: Page, samples: dict) -> None:
    """The paper's mean of seven, only when all seven ran on real data."""
    full = {k: v for k, v in samples.items() if set(metrics.ROBUSTNESS_VARIANTS) <= set(v)}
    if not full:
        return
    ordered = {k: [v[name] for name in metrics.ROBUSTNESS_VARIANTS] for k, v in full.items()}
    for key, parts in ordered.items():
        h = combined_headline(study, key, MEAN_METRIC, parts)
        page.headline.append(h)
        page.tables["mean"].append({"model": study.label(key), "top-1": h["value"], "ci_low": h["ci_low"],
                                    "ci_high": h["ci_high"], "paper": h["paper"],
                                    "mean of 7 [95% CI]": interval_text(h["value"], h["ci_low"], h["ci_high"])})
    page.comparisons += compare_combined(study, MEAN_METRIC, trained_or_all(study, ordered))


def build(study, answers: dict[str, Answer]) -> Page:
    page = Page("robustness")
    page.inputs = list(study.inputs)
    for name in ("top1", "label_space", "imagenet_c", "imagenet_c_severity", "mean"):
        page.tables[name] = []
    samples: dict = {}
    all_scores = {name: _scores(study, answer) for name, answer in answers.items()}
    universe = _val_universe(answers, all_scores)
    for name, answer in answers.items():
        scores = all_scores[name]
        _variant_section(study, page, name, answer, scores, None if answer.dataset.standin else samples, universe)
        _label_space_section(study, page, name, scores)
        _imagenet_c_section(study, page, scores)
    _label_space_verdicts(page.tables["label_space"])
    _mean_section(study, page, samples)
    page.tables = {k: frame(v) if isinstance(v, list) else v for k, v in page.tables.items()}
    page.tables["published"] = _published_table(page)
    measured = {name for name, a in answers.items() if not a.dataset.standin}
    page.tables["field"] = field_table(study, page.headline, unmeasured=[
        (_metric(v, False), v) for v in (REFERENCE, *metrics.ROBUSTNESS_VARIANTS) if v not in measured])
    page.tables["field_shown"] = field_shown(page.tables["field"])
    for name in ("top1", "mean", "imagenet_c_severity"):     # the charts read the numbers, the tables the text
        page.tables[f"{name}_shown"] = shown(page.tables[name], "top-1", "ci_low", "ci_high")
    page.findings = findings(study, page)
    rank_headline(study, page.headline)
    return page


def _published_table(page: Page) -> pd.DataFrame:
    rows = [{"model": h["model"], "benchmark": h["metric"].removeprefix("top-1 "),
             "this run [95% CI]": interval_text(h["value"], h["ci_low"], h["ci_high"]),
             "published": h["published"], "outside the interval": bool(h.get("published_flag")),
             "published by; what differs": h["published_source"]}
            for h in page.headline if h.get("published") is not None]
    return frame(rows)


# ------------------------------------------------------------------------ findings
def findings(study, page: Page) -> list[str]:
    top1 = page.table("top1")
    if top1.empty:
        return []
    out = []
    variants = [v for v in dict.fromkeys(top1["variant"]) if v != REFERENCE]
    text = f"Variants evaluated: {', '.join(variants) or 'none'}. "
    for v in dict.fromkeys(top1["variant"]):
        sentence = ranking_sentence(page.comparisons, _metric(v, False))
        if not sentence:
            g = study.meaningful(top1[top1["variant"] == v]).sort_values("top-1", ascending=False)
            best = g.iloc[0]
            sentence = (f"On {v}{' (stand-in)' if best['stand-in'] else ''} the most accurate is "
                        f"**{best['model']}** ({best['top-1 [95% CI]']}).")
        text += sentence + " "
    out.append(text.strip())
    yours = study.user_datasets(imagenet=True)
    if yours:
        out.append(f"Your own datasets ({', '.join(yours)}) are scored like the variants (their test split "
                   f"when they have splits), over all 1,000 classes; they are not part of the paper's mean.")
    mean = page.table("mean")
    if not mean.empty:
        text = "Mean of the seven variants: " + ", ".join(
            f"{r['model']} {r['mean of 7 [95% CI]']}" for _, r in mean.iterrows()) + ". "
        out.append((text + ranking_sentence(page.comparisons, MEAN_METRIC)).strip())
    else:
        real = set(top1.loc[~top1["stand-in"].astype(bool), "variant"])
        missing = [v for v in metrics.ROBUSTNESS_VARIANTS if v not in real]
        out.append("The paper's mean needs all seven variants on real data; missing here: "
                   f"{', '.join(missing)}.")
    ls = page.table("label_space")
    if not ls.empty:
        parts = [f"{r['model']} on {r['variant']}: {100 * r['Δ (1,000 − 200)']:+.1f} points"
                 + (f" [{100 * r['Δ low']:+.1f}, {100 * r['Δ high']:+.1f}]" if pd.notna(r["Δ low"]) else "")
                 for _, r in ls.iterrows()]
        out.append("Label-space convention: taking the argmax over all 1,000 classes instead of the "
                   "benchmark's 200 changes top-1 by " + "; ".join(parts) + ".")
    for v in dict.fromkeys(top1["variant"]):
        sentence = field_sentence(page.headline, _metric(v, False).name)
        if sentence:
            out.append(sentence)
    unmeasured = page.table("field")
    unmeasured = unmeasured[(unmeasured["group"] == "published") & unmeasured["ci_low"].isna()
                            & ~unmeasured["metric"].isin([h["metric"] for h in page.headline])] if len(unmeasured) else unmeasured
    if len(unmeasured):
        out.append("Not measured here (the data is absent), but published for these weights, placed in the "
                   "same fields: " + "; ".join(
                       f"{r['model']} on {r['metric'].removeprefix('top-1 ')}: {r['value']:.3f}, better than "
                       f"{r['percentile']:.0f}% of {FIELD_NAMES.get(r['source'], r['source'])} {int(r['n']):,} models"
                       for r in unmeasured.to_dict("records")) + ".")
    pub = published_sentence(page.headline)
    if pub:
        out.append(pub)
    return out


def compute(study) -> Page:
    """The robustness page: requests, predictions, tables (the notebook's one call)."""
    return build(study, gather(study, requests(study)))


PROPERTY = Property("robustness", RobustnessSettings, requests, build, compute,
                    metrics=(TOP1_METRIC, REFERENCE_METRIC, MEAN_METRIC))
