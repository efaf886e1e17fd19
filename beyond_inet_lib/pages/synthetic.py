"""Synthetic-data page (docs/protocols.md §6): top-1 per varied factor on PUG-ImageNet (or
the stand-in) and the unweighted mean over factors, each with its 95% bootstrap interval.

A prediction (argmax over 1,000) is correct when it is one of the ImageNet indices of the
image's class (``label_set``). The resampling unit is the image: PUG renders a new image
per factor value, so each row is its own unit; the stand-in varies the same photograph
along every factor, so its rows are grouped by their source image and resampled together.
The mean over factors is the ``cells=`` statistic (the mean over factors of each factor's
accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import stats
from ..data import standins
from .base import (Answer, Page, Request, common_rows, compare, compare_drawn, coverage_note, frame, gather,
                   headline_of, interval, interval_text, rank_headline, ranking_sentence, resamples, same_rows,
                   trained_or_all)
from .schema import Metric, Property


@dataclass
class SyntheticSettings:
    max_images: int | None = None          # PUG-ImageNet images per factor
    standin_images: int = 30               # demo: base images rendered per factor level


#: on PUG-ImageNet or its stand-in ({dataset}: its name)
MEAN_METRIC = Metric("mean top-1 over factors ({dataset})", "higher", paper="pug_mean")


# ------------------------------------------------------------------------ requests
def requests(study) -> list[Request]:
    s = study.settings
    ds = study.dataset("pug-imagenet")
    if ds is not None and s.max_images:
        ds = ds.per_class(max(1, s.max_images // 151), seed=study.seed)
    if ds is None and study.profile.standins:
        samples = study.dataset("imagenet-samples")
        if samples is not None:
            ds = study.standin(standins.synthetic_standin, samples, n_images=s.standin_images)
    return [] if ds is None else [Request("synthetic", ds, study.models)]


# --------------------------------------------------------------------------- build
def correct_in_label_set(pred, label_sets) -> np.ndarray:
    """correct_i = pred_i in label_set_i (PUG classes may map to several ImageNet indices)."""
    return np.array([int(p) in {int(v) for v in s} for p, s in zip(pred, label_sets)], dtype=bool)


def image_groups(table: pd.DataFrame) -> np.ndarray | None:
    """The stand-in's source image per row (its variations are one image's), else None:
    every PUG rendering is its own image."""
    return table["source_path"].astype(str).to_numpy() if "source_path" in table.columns else None


def _metric(ds) -> Metric:
    metric = MEAN_METRIC.at(dataset=ds.name)
    return metric.without_paper() if ds.standin else metric


def build(study, answers: dict[str, Answer]) -> Page:
    page = Page("synthetic")
    page.inputs = list(study.inputs)
    if "synthetic" not in answers:
        page.findings = findings(study, page)
        return page
    ans = answers["synthetic"]
    ds = ans.dataset
    factors_rows, level_rows, scored = [], [], {}
    for m in study.models:
        rs = ans.results.for_model(m.key)
        if not rs:
            continue
        r = next(iter(rs.values()))
        t = r.table
        correct = correct_in_label_set(r.pred(), t["label_set"])
        groups, factor = image_groups(t), t["factor"].astype(str).to_numpy()
        # every factor's mean on one resampling: the headline (their mean) and the comparisons read it
        means = stats.cell_means(correct.astype(float), cells=factor, groups=groups, n_boot=resamples(study),
                                 seed=study.seed)
        scored[m.key] = (correct, groups, factor, t["path"].to_numpy(), means)
        label = study.label(m.key)
        h = headline_of(study, m.key, _metric(ds), means.mean()[0], means.interval(),
                        note="stand-in" if ds.standin else "")
        page.headline.append(h)
        for f in dict.fromkeys(factor):
            factors_rows.append(_point(study, label, {"factor": f}, correct, groups, factor == f))
        factors_rows.append({"model": label, "factor": "mean", "top-1": h["value"], "ci_low": h["ci_low"],
                             "ci_high": h["ci_high"], "top-1 [95% CI]": interval_text(h["value"], h["ci_low"], h["ci_high"]),
                             "images": len(correct), "paper": h["paper"], "note": h["note"]})
        if "level" in t.columns:
            level = t["level"].astype(str).to_numpy()
            for f, lv in dict.fromkeys(zip(factor, level)):
                level_rows.append(_point(study, label, {"factor": f, "level": lv, "factor: level": f"{f}: {lv}"},
                                         correct, groups, (factor == f) & (level == lv)))
    page.tables["factors"] = frame(factors_rows)
    page.tables["by_factor"] = _by_factor(page.tables["factors"])
    page.tables["levels"] = frame(level_rows)
    _compare(study, page, _metric(ds), trained_or_all(study, scored))
    page.findings = findings(study, page)
    rank_headline(study, page.headline)
    return page


def _by_factor(factors: pd.DataFrame) -> pd.DataFrame:
    """factor rows (table order, the mean last) x model columns of 'top-1 [95% CI]'."""
    if factors.empty:
        return factors
    wide = factors.pivot_table(index="factor", columns="model", values="top-1 [95% CI]", aggfunc="first",
                               sort=False).reset_index()
    wide.columns.name = None
    return wide


def _compare(study, page: Page, metric: Metric, scored: dict) -> None:
    """Paired comparisons on the images every model scored; McNemar only where each row is
    its own image (PUG), not for the stand-in's variations of one photograph."""
    if len(scored) < 2:
        return
    first = next(iter(scored.values()))
    if study.n_boot and same_rows({k: v[3] for k, v in scored.items()}):
        # the same images for every model: the headlines' resamples are paired already
        mcnemar = {k: v[0] for k, v in scored.items()} if first[1] is None else None   # one row per image
        page.comparisons += compare_drawn(study, metric, {k: v[4].mean() for k, v in scored.items()},
                                          correct_by_key=mcnemar)
        return
    rows = common_rows({k: v[3] for k, v in scored.items()})
    correct = {k: v[0][rows[k]] for k, v in scored.items()}
    first = next(iter(scored))
    groups = None if scored[first][1] is None else scored[first][1][rows[first]]
    page.comparisons += compare(study, metric, "mean", {k: c.astype(float) for k, c in correct.items()},
                                correct_by_key=correct if groups is None else None, groups=groups,
                                cells=scored[first][2][rows[first]])


def _point(study, label: str, keys: dict, correct, groups, mask) -> dict:
    """One table row: top-1 of the rows in ``mask`` with its interval over images (and,
    from fewer than six images, the coverage measured for it: ``coverage_note``)."""
    c = correct[mask].astype(float)
    iv = interval(study, "mean", c, groups=None if groups is None else groups[mask])
    value = float(c.mean())
    return {"model": label, **keys, "top-1": value, "ci_low": iv.low if iv else None,
            "ci_high": iv.high if iv else None,
            "top-1 [95% CI]": interval_text(value, *((iv.low, iv.high) if iv else ())) + _shortfall(iv),
            "images": int(mask.sum()), "paper": None, "note": coverage_note(iv)}


def _shortfall(iv) -> str:
    """' (covers 50%)' after an interval from fewer than six images: the coverage measured
    for it (``stats.stated_coverage``), where no interval can reach 95%."""
    c = stats.stated_coverage(iv.n_units) if iv is not None and iv.n_boot else None
    return "" if c is None else f" (covers {c:.0%})"


# ------------------------------------------------------------------------ findings
def findings(study, page: Page) -> list[str]:
    table = page.table("factors")
    if table.empty:
        return []
    table = study.meaningful(table)
    means = table[table["factor"] == "mean"].sort_values("top-1", ascending=False)
    per = table[table["factor"] != "mean"]
    hardest = per.groupby("factor")["top-1"].mean().sort_values()
    metric = page.headline[0]["metric"] if page.headline else ""
    text = ("Mean top-1 over factors: " + ", ".join(f"{r['model']} {r['top-1 [95% CI]']}" for _, r in means.iterrows())
            + f". The factor that hurts most on average is **{hardest.index[0]}** ({hardest.iloc[0]:.1%}), "
            f"the least **{hardest.index[-1]}** ({hardest.iloc[-1]:.1%}).")
    ranking = ranking_sentence(page.comparisons, metric)
    out = [text + (" " + ranking if ranking else "")]
    for h in page.headline:
        if h.get("paper") is not None:
            out.append(f"{h['model']}: {h['value']:.1%} [{_pct(h['ci_low'])}, {_pct(h['ci_high'])}] here vs "
                       f"{h['paper']:.1%} in the paper.")
    return out


def _pct(x) -> str:
    return "–" if x is None else f"{x:.1%}"


def compute(study) -> Page:
    """The synthetic-data page: requests, predictions, tables (the notebook's one call)."""
    return build(study, gather(study, requests(study)))


PROPERTY = Property("synthetic", SyntheticSettings, requests, build, compute, metrics=(MEAN_METRIC,))
