"""Transfer page (docs/protocols.md §5): a linear probe on frozen features per task
(VTAB-1k, or the digits stand-in), by the protocol the profile names
(``properties.transfer.protocol``: ``clip_benchmark``, the paper's, or ``logreg``).

The probe is trained once per task and model; its test predictions are then fixed, so an
interval resamples the task's TEST images. The VTAB mean over the 19 tasks combines the
tasks as independent samples: each task's test set is resampled on its own and the
replicates are averaged replicate-wise (``stats.mean_of_independent``).

Splits are read from the dataset's ``split`` column by the names ``train`` / ``val`` /
``test`` only (one vocabulary for real VTAB-1k and the stand-in).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from .. import metrics
from ..data import DATASETS, VTAB_TASKS, standins, vtab_dataset_name
from ..engine.results import Result
from ..errors import ProfileError, did_you_mean
from .base import (Answer, Page, Request, combined_headline, compare, compare_combined, frame, gather,
                   headline, interval_text, ranking_sentence, sample, shown, trained_or_all,
                   rank_headline)
from .schema import Metric, Property

#: transfer tasks generated offline (no data root needed)
STANDIN_TASKS = ("digits",)


@dataclass
class TransferSettings:
    tasks: list[str] = field(default_factory=lambda: ["digits"])
    max_train: int | None = None
    protocol: str = "clip_benchmark"       # clip_benchmark | logreg (docs/protocols.md §5)
    c_grid: list[float] = field(default_factory=lambda: [1e-3, 1e-2, 1e-1, 1.0, 10.0])  # logreg only

    def check(self, where: str) -> None:
        """A known probe protocol; every task a stand-in task or a VTAB-1k task; C > 0."""
        if self.protocol not in metrics.PROBE_PROTOCOLS:
            raise ProfileError(f"{where}.protocol: {self.protocol!r}; accepted: {', '.join(metrics.PROBE_PROTOCOLS)}")
        accepted = list(STANDIN_TASKS) + list(VTAB_TASKS) + user_tasks()
        for t in self.tasks:
            if t not in accepted:
                raise ProfileError(f"{where}.tasks: unknown task {t!r}{did_you_mean(t, accepted)}; "
                                   f"accepted: {', '.join(accepted)}")
        if any(c <= 0 for c in self.c_grid):
            raise ProfileError(f"{where}.c_grid: {self.c_grid}; every entry must be > 0")


def user_tasks() -> list[str]:
    """The registered datasets of classes of their own (a profile's ``datasets:``)."""
    return [n for n, info in DATASETS.items() if info.group == "user" and "transfer" in info.properties]


SPLITS = ("train", "val", "test")
PROBE_METRIC = Metric("linear probe {task}", "higher")
#: a CLIP model's zero-shot top-1 on a task of named classes (a profile's own dataset)
ZERO_SHOT_METRIC = Metric("zero-shot {task}", "higher")
YOUR_DATASET = "your dataset"
MEAN_METRIC = Metric("VTAB-1k mean (19)", "higher", paper="vtab_mean")
HYPERPARAMETER_NAMES = {"weight_decay": "weight decay", "C": "C"}


# ------------------------------------------------------------------------ requests
def _cap_mask(table, max_train: int | None) -> np.ndarray:
    """Rows kept by a cap of ``max_train``: the first ``max_train`` train and test rows and
    a quarter as many val rows, in table order per split (same proportions as 800 / 200)."""
    if not max_train:
        return np.ones(len(table), dtype=bool)
    caps = {"train": max_train, "val": max(1, max_train // 4), "test": max_train}
    return (table.groupby("split").cumcount() < table["split"].map(caps).fillna(0)).to_numpy()


def _capped(ds, max_train: int | None):
    """A quick look: the task's rows ``_cap_mask`` keeps. A smaller cap keeps the first
    rows of a larger one in each split, so its images are a subset of the larger cap's."""
    return ds if not max_train else ds.subset(_cap_mask(ds.table, max_train))


def _recapped(result, max_train: int | None):
    """``result`` (features of a cap at least as large) cut to the cap ``max_train``."""
    keep = _cap_mask(result.table, max_train)
    if keep.all():
        return result
    return Result(result.model, result.view_name, result.view, result.dataset,
                  result.table[keep].reset_index(drop=True), features=result.features[keep], skipped=result.skipped)


def cached_superset(study, full, used):
    """The task under a larger cap than ``used`` whose features every model already has in
    the cache (the smallest such), else None: a smaller ``max_train`` then reads those
    features and ``build`` cuts them to its cap, instead of computing its subset again."""
    from .. import engine
    from ..files import slug

    if len(used) == len(full):
        return None
    sizes = set()
    for m in (study.cache_dir / "results").glob(f"{slug(full.name)}-*/*/*/unit.json"):
        try:
            sizes.add(int(json.loads(m.read_text())["n_images"]))
        except (OSError, ValueError, KeyError):
            continue
    largest_split = int(full.table["split"].value_counts().max())
    for n in sorted(x for x in sizes if len(used) < x <= len(full)):
        lo, hi = 1, largest_split           # the smallest cap that keeps n rows (a cap's size grows with it)
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if _cap_mask(full.table, mid).sum() < n else (lo, mid)
        candidate = _capped(full, lo)
        if len(candidate) != n:
            continue
        plan = engine.plan(study.models, candidate, outputs=("features",), settings=study.run_settings)
        if not plan.missing:
            return candidate
    return None


def task_names(study) -> list[str]:
    """The profile's tasks, then its own datasets of classes of their own (``datasets:``)."""
    return list(dict.fromkeys([*study.settings.tasks, *study.user_datasets(imagenet=False)]))


def requests(study) -> list[Request]:
    s = study.settings
    out = []
    yours = study.user_datasets(imagenet=False)
    for task in task_names(study):
        full = {}

        def cap(ds):
            full["ds"] = ds
            return _capped(ds, s.max_train)

        if task == "digits":
            ds = study.standin(standins.digits_task, take=cap)    # the panel counts the capped task
        else:
            ds = study.dataset(task if task in yours else vtab_dataset_name(task))
            ds = cap(ds) if ds is not None else None
        if ds is not None:
            ds = cached_superset(study, full["ds"], ds) or ds
            out.append(Request(task, ds, study.models, outputs=("features",)))
    return out


# --------------------------------------------------------------------------- build
def splits(table) -> dict[str, np.ndarray] | None:
    """Boolean row masks of the train / val / test splits, or None when one is empty."""
    split = table["split"].astype(str).to_numpy()
    masks = {name: split == name for name in SPLITS}
    return masks if all(m.any() for m in masks.values()) else None


def probe(study, result) -> dict | None:
    """``metrics.linear_probe`` on one model's features of one task, by the profile's
    protocol (seeded with the profile's seed); None when a split is missing."""
    s = study.settings
    masks = splits(result.table)
    if masks is None:
        return None
    x, y = result.features, result.table["label"].to_numpy()
    tr, va, te = (masks[n] for n in SPLITS)
    kw = {"c_grid": list(s.c_grid)} if s.protocol == "logreg" else {}
    out = metrics.linear_probe(x[tr], y[tr], x[va], y[va], x[te], y[te], protocol=s.protocol,
                               seed=study.seed, **kw)
    out["test_paths"] = result.table["path"].to_numpy()[te]
    return out


def _task_section(study, page: Page, task: str, answer: Answer, samples: dict, stream: int) -> None:
    ds = answer.dataset
    probes = {}
    for m in study.models:
        rs = answer.results.for_model(m.key)
        if not rs:
            continue
        out = probe(study, _recapped(next(iter(rs.values())), study.settings.max_train))
        if out is None:
            page.tables["missing_splits"].append({"task": task, "data": ds.name,
                                                  "splits found": ", ".join(sorted(ds.table["split"].astype(str).unique()))})
            return
        probes[m.key] = out
    metric = PROBE_METRIC.at(task=task)
    yours = bool(ds.meta.get("user"))
    for key, out in probes.items():
        correct = out["test_correct"].astype(float)
        h = headline(study, key, metric, "mean", correct,
                     note="stand-in" if ds.standin else YOUR_DATASET if yours else "")
        samples.setdefault(key, {})[task] = sample(study, "mean", correct, stream=stream)
        page.headline.append(h)
        page.tables["tasks"].append({
            "model": study.label(key), "task": task,
            "group": VTAB_TASKS.get(task, YOUR_DATASET if yours else "stand-in"),
            "test top-1": h["value"], "ci_low": h["ci_low"], "ci_high": h["ci_high"],
            "test top-1 [95% CI]": interval_text(h["value"], h["ci_low"], h["ci_high"]),
            "protocol": out["protocol"], "hyper-parameter": HYPERPARAMETER_NAMES[out["hyperparameter"]],
            "chosen": f"{out['best_value']:.3g}", "val top-1 at chosen": out["val_scores"][out["best_value"]],
            "train": out["n_train"], "val": out["n_val"], "test": out["n_test"], "stand-in": bool(ds.standin)})
    meaningful = trained_or_all(study, probes)
    page.comparisons += compare(study, metric, "mean",
                                {k: v["test_correct"].astype(float) for k, v in meaningful.items()},
                                correct_by_key={k: v["test_correct"] for k, v in meaningful.items()})


def zero_shot(study, spec, result, classes) -> np.ndarray:
    """Per test image of a task of named classes: is a CLIP model's zero-shot prediction
    right? Its image embeddings (the task's features) against a head of the class names
    in its prompt set's templates (``models.zeroshot.class_names_head``, cached);
    argmax of s * cos (any s > 0: the same argmax)."""
    import torch

    from ..engine import resolve_device
    from ..models.zeroshot import class_names_head, zero_shot_logits

    head, _learned = class_names_head(spec, classes, device=resolve_device(study.run_settings.device),
                                      cache_dir=study.cache_dir)
    test = splits(result.table)["test"]
    logits = zero_shot_logits(torch.from_numpy(np.asarray(result.features[test], dtype=np.float32)), head, 1.0)
    return logits.argmax(dim=1).numpy() == result.table["label"].to_numpy()[test]


def _zero_shot_section(study, page: Page, task: str, answer: Answer) -> None:
    """CLIP models on a task whose classes have names (a profile's own dataset): zero-shot
    top-1 on its test split, with its interval, beside the linear probe."""
    classes = answer.dataset.meta.get("classes")
    if not classes or splits(answer.dataset.table) is None:
        return
    metric = ZERO_SHOT_METRIC.at(task=task)
    correct = {}
    for m in study.models:
        rs = answer.results.for_model(m.key)
        if m.training != "clip" or not rs:
            continue
        correct[m.key] = zero_shot(study, m, _recapped(next(iter(rs.values())), study.settings.max_train), classes)
        h = headline(study, m.key, metric, "mean", correct[m.key].astype(float), note=YOUR_DATASET)
        page.headline.append(h)
        page.tables["zero_shot"].append({
            "model": study.label(m.key), "task": task, "classes": len(classes), "test": len(correct[m.key]),
            "zero-shot top-1": h["value"], "ci_low": h["ci_low"], "ci_high": h["ci_high"],
            "zero-shot top-1 [95% CI]": interval_text(h["value"], h["ci_low"], h["ci_high"])})
    meaningful = trained_or_all(study, correct)
    page.comparisons += compare(study, metric, "mean", {k: v.astype(float) for k, v in meaningful.items()},
                                correct_by_key=meaningful)


def build(study, answers: dict[str, Answer]) -> Page:
    page = Page("transfer")
    page.inputs = list(study.inputs)
    page.tables = {"tasks": [], "missing_splits": [], "mean": [], "zero_shot": []}
    samples: dict = {}
    vtab = list(VTAB_TASKS)
    for task, answer in answers.items():
        stream = vtab.index(task) if task in vtab else len(vtab)
        _task_section(study, page, task, answer, samples, stream)
        _zero_shot_section(study, page, task, answer)
    full = {k: [v[t] for t in vtab] for k, v in samples.items() if set(vtab) <= set(v)}
    if full:
        # the 19 per-task rows give way to their mean on the index; the page keeps them
        page.headline = [h for h in page.headline if not h["metric"].startswith(PROBE_METRIC.at(task="").name)]
        for key, parts in full.items():
            h = combined_headline(study, key, MEAN_METRIC, parts)
            page.headline.append(h)
            page.tables["mean"].append({"model": study.label(key), "mean test top-1": h["value"],
                                        "ci_low": h["ci_low"], "ci_high": h["ci_high"], "paper": h["paper"],
                                        "mean [95% CI]": interval_text(h["value"], h["ci_low"], h["ci_high"])})
        page.comparisons += compare_combined(study, MEAN_METRIC, trained_or_all(study, full))
    page.tables = {k: frame(v) for k, v in page.tables.items()}
    page.tables["tasks_shown"] = shown(page.tables["tasks"], "test top-1", "ci_low", "ci_high")
    page.tables["mean_shown"] = shown(page.tables["mean"], "mean test top-1", "ci_low", "ci_high")
    page.tables["zero_shot_shown"] = shown(page.tables["zero_shot"], "zero-shot top-1", "ci_low", "ci_high")
    page.findings = findings(study, page)
    rank_headline(study, page.headline)
    return page


# ------------------------------------------------------------------------ findings
def protocol_sentence(study) -> str:
    s = study.settings
    if s.protocol == "logreg":
        return ("Protocol run: `logreg` (features z-scored with the training statistics; multinomial "
                f"logistic regression, C chosen on val from {', '.join(f'{c:g}' for c in s.c_grid)}; refit on "
                "train + val; scored on test).")
    return ("Protocol run: `clip_benchmark` (CLIP_benchmark's linear probe: L2-normalised features, AdamW, "
            "weight decay chosen on val from a logarithmic sweep, retrained on train + val, scored on test).")


def findings(study, page: Page) -> list[str]:
    out = [protocol_sentence(study)]
    missing = page.table("missing_splits")
    for _, r in missing.iterrows():
        out.append(f"{r['task']}: not probed, its table needs the splits train, val and test "
                   f"(found: {r['splits found']}).")
    tasks = page.table("tasks")
    if tasks.empty:
        return out
    mean = page.table("mean")
    if not mean.empty:
        out.append("VTAB-1k mean over the 19 tasks: " + ", ".join(
            f"{r['model']} {r['mean [95% CI]']}" for _, r in mean.iterrows()) + ". "
            + ranking_sentence(page.comparisons, MEAN_METRIC))
    else:
        per = study.meaningful(tasks).groupby("model", sort=False)["test top-1"].mean().sort_values(ascending=False)
        out.append("Mean linear-probe top-1 over the tasks run: "
                   + ", ".join(f"{k} {v:.1%}" for k, v in per.items())
                   + ". The paper's VTAB-1k mean needs all 19 tasks under the data root; this run did not "
                   "have them.")
    for task in dict.fromkeys(tasks["task"]):
        sentence = ranking_sentence(page.comparisons, PROBE_METRIC.at(task=task))
        if sentence:
            out.append(sentence)
    zs = page.table("zero_shot")
    for task, g in (zs.groupby("task", sort=False) if not zs.empty else ()):
        out.append((f"Zero-shot on {task} (the CLIP models, from its {int(g['classes'].iloc[0])} class names): "
                    + ", ".join(f"{r['model']} {r['zero-shot top-1 [95% CI]']}" for _, r in g.iterrows()) + ". "
                    + ranking_sentence(page.comparisons, ZERO_SHOT_METRIC.at(task=task))).strip())
    return out


def compute(study) -> Page:
    """The transfer page: requests, features, probes, tables (the notebook's one call)."""
    return build(study, gather(study, requests(study)))


PROPERTY = Property("transfer", TransferSettings, requests, build, compute,
                    metrics=(PROBE_METRIC, MEAN_METRIC, ZERO_SHOT_METRIC), features_only=True)
