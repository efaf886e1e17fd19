"""Invariance page (docs/protocols.md §7): top-1 and the mean probability of the true class
as scale, shift and resolution grow, each point with its 95% interval over images (top-1:
Wilson's; the mean probability: the bootstrap's).

Every level of a transform scores the same images, so a change between two levels (the
drop from the reference level to the most extreme one) is a per-image difference and its
interval resamples images jointly across the levels (paired). Models are ranked on that
drop only where the interval of their difference, simultaneous over the metric's pairs,
excludes 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ProfileError
from .base import (Answer, Page, Request, common_rows, compare, frame, gather, headline, interval,
                   interval_text, ranking_sentence, shown, trained_or_all,
                   rank_headline)
from .schema import Metric, Property


@dataclass
class InvarianceSettings:
    max_images: int | None = 100
    scales: list[float] = field(default_factory=lambda: [1.0, 1.25, 1.5, 2.0, 3.0])
    shifts: list[int] = field(default_factory=lambda: [0, 5, 30, 75, 100])
    resolutions: list[int] = field(default_factory=lambda: [112, 224, 336, 512, 640])

    def check(self, where: str) -> None:
        """Scales and resolutions > 0, shifts (pixels) >= 0."""
        for name in ("scales", "resolutions"):
            if any(x <= 0 for x in getattr(self, name)):
                raise ProfileError(f"{where}.{name}: {getattr(self, name)}; every entry must be > 0")
        if any(x < 0 for x in self.shifts):
            raise ProfileError(f"{where}.shifts: {self.shifts}; every entry must be >= 0")


TRANSFORMS = ("scale", "shift", "resolution")
#: top-1 at the most extreme level of a transform ({level}: formatted with :g)
EXTREME_METRIC = Metric("top-1 at {transform} {level}", "higher", paper="invariance_{transform}_{level}")
#: top-1 at the reference level minus at the most extreme one, per image
DROP_METRIC = Metric("top-1 drop ({transform})", "lower")


# ------------------------------------------------------------------------ requests
def resolution_specs(study) -> list[tuple[str, int, object]]:
    """(model key, R, spec at R) for every model and resolution; at its native resolution a
    model is itself (same weights, same view: the pass is reused). A ViT runs at the
    nearest R its patch size divides (ViT-B/32: 128 for 112, 352 for 336), once per R."""
    return [(m.key, R, m if R == m.resolution else m.at_resolution(R))
            for m in study.models
            for R in dict.fromkeys(m.nearest_resolution(asked) for asked in study.settings.resolutions)]


def resolution_substitutes(study) -> dict[str, list[tuple[int, int]]]:
    """model key -> [(R asked, R run)] where a ViT's patch size does not divide R asked."""
    out = {}
    for m in study.models:
        pairs = [(a, m.nearest_resolution(a)) for a in study.settings.resolutions if m.nearest_resolution(a) != a]
        if pairs:
            out[m.key] = pairs
    return out


def _scale_views(study):
    def views(spec):
        v = spec.view(study.profile.preprocessing)
        return {f"{s:g}": v.replace(resize=int(s * v.resize)) for s in study.settings.scales}
    return views


def _shift_views(study):
    def views(spec):
        v = spec.view(study.profile.preprocessing)
        return {str(d): v.replace(shift=int(d)) for d in study.settings.shifts}
    return views


def requests(study) -> list[Request]:
    ds = study.imagenet_eval_set(study.settings.max_images)
    if ds is None:
        return []
    return [Request("scale", ds, study.models, views=_scale_views(study)),
            Request("shift", ds, study.models, views=_shift_views(study)),
            Request("resolution", ds, [spec for _, _, spec in resolution_specs(study)])]


# --------------------------------------------------------------------------- build
def levels(study, transform: str, results) -> dict[str, dict[float, object]]:
    """model key -> {level: Result} for one transform's results."""
    out: dict = {}
    if transform == "resolution":
        variant = {spec.key: (key, R) for key, R, spec in resolution_specs(study)}
        for (mkey, _), r in results.items():
            if mkey in variant:
                key, R = variant[mkey]
                out.setdefault(key, {})[float(R)] = r
    else:
        for (mkey, view_name), r in results.items():
            out.setdefault(mkey, {})[float(view_name)] = r
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def per_image(by_level: dict) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]]:
    """(paths, {level: (correct, true-class probability)}) on the images every level
    scored, in the same order at every level (so levels can be differenced per image)."""
    rows = common_rows({lv: r.table["path"].to_numpy() for lv, r in by_level.items()})
    out, paths = {}, None
    for lv, r in by_level.items():
        idx = rows[lv]
        top, prob = r.label_probability()
        out[lv] = (top[idx] == r.table["label"].to_numpy()[idx], prob[idx])
        paths = r.table["path"].to_numpy()[idx]
    return paths, out


def reference_level(study, transform: str, key: str) -> float:
    """The untransformed level: scale 1, shift 0, the model's own resolution."""
    if transform == "scale":
        return 1.0
    if transform == "shift":
        return 0.0
    return float(study.spec(key).resolution)


def _extreme_metric(transform: str, level: float) -> Metric:
    return EXTREME_METRIC.at(transform=transform, level=f"{level:g}")


def _curve_rows(study, key: str, transform: str, data: dict) -> list[dict]:
    rows = []
    for lv, (correct, prob) in data.items():
        c, pr = correct.astype(float), prob.astype(float)
        iv_c, iv_p = interval(study, "mean", c), interval(study, "mean", pr, share=False)
        rows.append({"model": study.label(key), "transform": transform, "value": lv,
                     "top1": float(c.mean()), "top1_low": iv_c.low if iv_c else None,
                     "top1_high": iv_c.high if iv_c else None,
                     "mean_true_prob": float(pr.mean()), "prob_low": iv_p.low if iv_p else None,
                     "prob_high": iv_p.high if iv_p else None,
                     "paper": study.paper(_extreme_metric(transform, lv).paper, key), "n_images": len(c)})
    return rows


def _drop_rows(study, key: str, transform: str, data: dict, drops: dict) -> list[dict]:
    """Top-1 at the reference level minus at the most extreme one, per image (paired)."""
    ref, ext = reference_level(study, transform, key), max(data)
    if ref not in data or ref == ext:
        return []
    diff = data[ref][0].astype(float) - data[ext][0].astype(float)
    iv = interval(study, "mean", diff, share=False)     # a paired difference, even when no image gains
    drops[key] = diff
    return [{"model": study.label(key), "transform": transform, "from": f"{ref:g}", "to": f"{ext:g}",
             "top-1 drop": float(diff.mean()), "drop low": iv.low if iv else None,
             "drop high": iv.high if iv else None,
             "top-1 drop [95% CI]": interval_text(float(diff.mean()), *((iv.low, iv.high) if iv else ()))}]


def _transform_section(study, page: Page, transform: str, results) -> None:
    by_model = levels(study, transform, results)
    extreme_correct, drops, paths = {}, {}, {}
    for key, by_level in by_model.items():
        paths[key], data = per_image(by_level)
        page.tables["curve"] += _curve_rows(study, key, transform, data)
        page.tables["drops"] += _drop_rows(study, key, transform, data, drops)
        ext = max(data)
        correct = data[ext][0]
        page.headline.append(headline(study, key, _extreme_metric(transform, ext), "mean", correct.astype(float)))
        extreme_correct[key] = (ext, correct)
    # models are compared where they share the extreme level and the images
    exts = {ext for ext, _ in extreme_correct.values()}
    meaningful = trained_or_all(study, extreme_correct)
    if len(exts) == 1 and len(meaningful) >= 2:
        rows = common_rows({k: paths[k] for k in meaningful})
        correct = {k: meaningful[k][1][rows[k]] for k in meaningful}
        page.comparisons += compare(study, _extreme_metric(transform, exts.pop()), "mean",
                                    {k: c.astype(float) for k, c in correct.items()}, correct_by_key=correct)
        d = {k: drops[k][rows[k]] for k in meaningful if k in drops}
        if len(d) >= 2:
            page.comparisons += compare(study, DROP_METRIC.at(transform=transform), "mean", d)


def build(study, answers: dict[str, Answer]) -> Page:
    page = Page("invariance")
    page.inputs = list(study.inputs)
    page.tables = {"curve": [], "drops": []}
    for transform in TRANSFORMS:
        if transform in answers:
            _transform_section(study, page, transform, answers[transform].results)
    curve = frame(page.tables["curve"])
    drops = frame(page.tables["drops"])
    page.tables = {"curve": curve, "drops": drops, "drops_shown": shown(drops, "top-1 drop", "drop low", "drop high")}
    if not curve.empty:
        page.tables["top1"] = curve.rename(columns={"top1_low": "ci_low", "top1_high": "ci_high"})[
            ["model", "transform", "value", "top1", "ci_low", "ci_high", "paper"]]
        page.tables["true_prob"] = curve.rename(columns={"prob_low": "ci_low", "prob_high": "ci_high"})[
            ["model", "transform", "value", "mean_true_prob", "ci_low", "ci_high"]]
        page.tables["points"] = _points_table(curve)
    page.findings = findings(study, page)
    rank_headline(study, page.headline)
    return page


def _points_table(curve: pd.DataFrame) -> pd.DataFrame:
    """transform, level, then per model 'top-1 [95% CI]' (and the paper's where it has one)."""
    c = curve.assign(text=[interval_text(v, lo, hi) if pd.notna(lo) else interval_text(v)
                           for v, lo, hi in zip(curve["top1"], curve["top1_low"], curve["top1_high"])])
    wide = c.pivot_table(index=["transform", "value"], columns="model", values="text", aggfunc="first",
                         sort=False).reset_index()
    wide.columns.name = None
    order = {t: i for i, t in enumerate(TRANSFORMS)}
    wide = wide.sort_values(["transform", "value"], key=lambda s: s.map(order) if s.name == "transform" else s,
                            ignore_index=True)
    return wide.assign(value=[f"{v:g}" for v in wide["value"]]).rename(columns={"value": "level"})


# ------------------------------------------------------------------------ findings
def native_resolution_absent(study, curve: pd.DataFrame) -> list[str]:
    """A sentence per model whose own resolution is not a point of its resolution curve:
    its drop from the reference has no start, so the drops table has no row for it."""
    res = curve[curve["transform"] == "resolution"] if not curve.empty else curve
    out = []
    for m in study.models:
        points = res.loc[res["model"] == study.label(m.key), "value"]
        if len(points) and float(m.resolution) not in set(points.astype(float)):
            out.append(f"{study.label(m.key)} was trained at {m.resolution} px, which is not among the sweep's "
                       f"resolutions ({', '.join(f'{v:g}' for v in sorted(points))} px): its resolution curve "
                       f"is shown, but it has no drop from its own resolution (add {m.resolution} to the "
                       f"profile's invariance resolutions to measure it).")
    return out


def findings(study, page: Page) -> list[str]:
    drops = page.table("drops")
    if page.table("curve").empty:
        return []
    out = []
    for key, pairs in resolution_substitutes(study).items():
        p = study.spec(key).patch_size
        out.append(f"{study.label(key)} runs at " + ", ".join(f"{run} px" for _, run in pairs)
                   + " in place of " + ", ".join(f"{asked}" for asked, _ in pairs)
                   + f": a ViT's input must be a whole number of its {p}-px patches, so its resolution "
                   f"curve has its own points there.")
    out += native_resolution_absent(study, page.table("curve"))
    for transform in TRANSFORMS:
        d = study.meaningful(drops[drops["transform"] == transform]) if not drops.empty else drops
        if d.empty:
            continue
        d = d.sort_values("top-1 drop")
        first, last = d.iloc[0], d.iloc[-1]
        text = (f"From {transform} {first['from']} to {first['to']}, top-1 drops by "
                + ", ".join(f"{r['model']} {_points(r)}" for _, r in d.iterrows()) + ". ")
        ranking = ranking_sentence(page.comparisons, DROP_METRIC.at(transform=transform))
        if ranking:
            text += ranking
        elif len(d) > 1:
            text += f"Least: **{first['model']}**, most: **{last['model']}**."
        out.append(text.strip())
    for h in page.headline:
        if h.get("paper") is not None:
            out.append(f"{h['model']}: {h['metric']} {h['value']:.1%} here vs {h['paper']:.1%} in the paper.")
    return out


def _points(r) -> str:
    text = f"{100 * r['top-1 drop']:.1f} points"
    if pd.notna(r["drop low"]):
        text += f" [{100 * r['drop low']:.1f}, {100 * r['drop high']:.1f}]"
    return text


def compute(study) -> Page:
    """The invariance page: requests, predictions, tables (the notebook's one call)."""
    return build(study, gather(study, requests(study)))


PROPERTY = Property("invariance", InvarianceSettings, requests, build, compute, metrics=(EXTREME_METRIC, DROP_METRIC))
