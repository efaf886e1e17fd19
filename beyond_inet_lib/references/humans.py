"""Cue-conflict decisions recorded by others: ten human observers (model-vs-human) and the
paper's own model runs, in model-vs-human's CSV format
(subj, session, trial, rt, object_response, category, condition, imagename).

Under the data root: ``reference/cue-conflict-humans/cue-conflict_subject-NN_session_1.csv``
(Geirhos et al.'s observers; image names carry a trial prefix such as
``0001_s5n_s02_0_clock_00_clock4-chair1.png``) and
``reference/cue-conflict-decisions/cue-conflict_<subject>_session-1.csv`` (the paper's logs).
Loaders return {} when a folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np
import pandas as pd

from .. import metrics, stats

HUMANS_DIR = ("reference", "cue-conflict-humans")
DECISIONS_DIR = ("reference", "cue-conflict-decisions")

#: decision-log subject ids -> readable names
REFERENCE_NAMES = {
    "convnext-base-21k": "ConvNeXt-B sup (paper log)",
    "deit3-21k": "ViT-B/16 sup (paper log)",
    "convnext-clip": "ConvNeXt-B CLIP (paper log)",
    "vit-clip": "ViT-B/16 CLIP (paper log)",
    "tv-resnet50": "ResNet-50 torchvision (paper log)",
    "subject-01": "human subject-01",
}


def read_decision_log(path) -> pd.DataFrame:
    """One model-vs-human CSV, with a ``stimulus`` column (the image name without its trial
    prefix). Responses are read as written: a human's "na" stays the string "na"."""
    log = pd.read_csv(path, dtype={"object_response": str, "category": str, "imagename": str},
                      keep_default_na=False, na_values=["NaN"])
    log["stimulus"] = [metrics.cue_conflict_stimulus(n) for n in log["imagename"]]
    return log


def _load_logs(data_root, folder: tuple[str, ...], pattern: str, name) -> dict[str, pd.DataFrame]:
    if data_root is None:
        return {}
    files = sorted(Path(data_root).joinpath(*folder).glob(pattern))
    return {name(f.name[len("cue-conflict_"):]): read_decision_log(f) for f in files}


def load_reference_decisions(data_root) -> dict[str, pd.DataFrame]:
    """The paper's per-image cue-conflict decisions, keyed by a readable name."""
    def readable(rest):  # "vit-clip_session-1.csv" -> "ViT-B/16 CLIP (paper log)"
        subject = rest.rsplit("_session", 1)[0]
        return REFERENCE_NAMES.get(subject, subject)

    return _load_logs(data_root, DECISIONS_DIR, "cue-conflict_*_session-*.csv", readable)


def load_human_decisions(data_root) -> dict[str, pd.DataFrame]:
    """The human observers' per-trial decisions, keyed by subject ("subject-01", ...)."""
    return _load_logs(data_root, HUMANS_DIR, "cue-conflict_subject-*_session_*.csv",
                      lambda rest: rest.split("_session", 1)[0])


def shape_bias_table(decisions: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``metrics.shape_bias`` per observer (or decision log): one row each, columns subject,
    shape_bias, accuracy, n_shape, n_texture, n_conflict, n_images, n_no_answer (trials
    answered "na", which count for neither cue)."""
    rows = []
    for subject, log in decisions.items():
        sb = metrics.shape_bias(log["imagename"], log["object_response"])
        rows.append({"subject": subject, **sb, "n_no_answer": int((log["object_response"] == "na").sum())})
    return pd.DataFrame(rows)


def human_shape_bias_range(data_root) -> dict:
    """The human observers' shape bias: min, mean (of the per-subject values), max and the
    number of subjects; None values when the decisions are absent."""
    table = shape_bias_table(load_human_decisions(data_root))
    if table.empty:
        return {"min": None, "mean": None, "max": None, "n_subjects": 0}
    sb = table["shape_bias"]
    return {"min": float(sb.min()), "mean": float(sb.mean()), "max": float(sb.max()),
            "n_subjects": int(len(table))}


def aligned_correctness(log_a: pd.DataFrame, log_b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stimuli, correct_a, correct_b) over the stimuli both logs hold, sorted by stimulus
    (model-vs-human sorts both by image before comparing). correct = the decision equals the
    shape category, on every trial (``metrics.cue_conflict_correct``)."""
    def by_stimulus(log):
        s = pd.Series(metrics.cue_conflict_correct(log["imagename"], log["object_response"]),
                      index=log["stimulus"].to_numpy())
        if s.index.duplicated().any():
            raise ValueError("a decision log shows the same stimulus twice; pass one session")
        return s

    a, b = by_stimulus(log_a), by_stimulus(log_b)
    common = a.index.intersection(b.index).sort_values()
    if common.empty:
        raise ValueError("the two decision logs share no stimulus")
    return common.to_numpy(), a[common].to_numpy(), b[common].to_numpy()


def observer_error_consistency(log_a: pd.DataFrame, log_b: pd.DataFrame, *, n_boot: int = 1000,
                               level: float = 0.95, seed: int = 0) -> dict:
    """``metrics.error_consistency`` between two decision logs (humans or models), trials
    aligned by stimulus, with a bootstrap interval over trials: the error_consistency dict
    plus low, high, level."""
    _, a, b = aligned_correctness(log_a, log_b)
    iv = stats.error_consistency_ci(a, b, n_boot=n_boot, level=level, seed=seed)
    return {**metrics.error_consistency(a, b), "low": iv.low, "high": iv.high, "level": level}


# ===================================================== model-vs-human's benchmark (any dataset)
#: the observers of a dataset taken together, as model-vs-human's plots name them
HUMANS = "humans"


def load_trials(dataset: str, data_root) -> dict[str, pd.DataFrame]:
    """The observers' trials on ``dataset``, any of model-vs-human's benchmark
    (``data.model_vs_human.BENCHMARK``: edges, silhouettes, cue-conflict, colour, ...): subject
    ("subject-01", ...) -> its trials, the model-vs-human columns plus ``stimulus`` (image
    id), ``level`` and ``correct`` (``metrics.sixteen_class_correct``). {} when absent."""
    from ..data.model_vs_human import BENCHMARK, read_trials

    d = BENCHMARK[dataset]
    if data_root is None:
        return {}
    folder = Path(data_root).joinpath(*d.trials_folder.split("/"))
    parts: dict[str, list[pd.DataFrame]] = {}
    for f in sorted(folder.glob(f"{d.source_name}_subject-*_session_*.csv")):
        subject = f.name[len(d.source_name) + 1:].split("_session", 1)[0]
        parts.setdefault(subject, []).append(read_trials(f, d))
    out = {}
    for subject, frames in parts.items():
        t = pd.concat(frames, ignore_index=True)
        t["correct"] = metrics.sixteen_class_correct(t["object_response"], t["category"])
        out[subject] = t
    return out


def model_trials(table: pd.DataFrame, decisions) -> pd.DataFrame:
    """A model's 16-class decisions (``metrics.cue_conflict_decisions``) on a benchmark
    dataset's stimuli as a trial log: ``table`` is the dataset's (``path``, ``category``,
    and ``stimulus`` / ``level`` where its loader gives them; else the image id of the path
    and no level). Columns: imagename, stimulus, level, category, object_response, correct."""
    from ..data.model_vs_human import image_id

    names = [os.path.basename(str(p)) for p in table["path"]]
    stimulus = table["stimulus"].to_numpy() if "stimulus" in table else [image_id(n) for n in names]
    level = table["level"].to_numpy() if "level" in table else [""] * len(names)
    out = pd.DataFrame({"imagename": names, "stimulus": stimulus, "level": level,
                        "category": table["category"].to_numpy(), "object_response": [str(d) for d in decisions]})
    out["correct"] = metrics.sixteen_class_correct(out["object_response"], out["category"])
    return out


def aligned_trials(logs: Mapping[str, pd.DataFrame]) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(stimuli, their levels, right/wrong: one bool column per log) over the stimuli that
    every log holds, sorted by image id (model-vs-human sorts both logs by image id before
    comparing). Raises ValueError when a log holds a stimulus twice, logs disagree on a
    stimulus's level, or they share no stimulus."""
    correct, levels = {}, None
    for name, log in logs.items():
        s = log.set_index("stimulus")
        if s.index.duplicated().any():
            raise ValueError(f"{name}: the same stimulus twice ({s.index[s.index.duplicated()][0]}); pass one session")
        correct[name] = s["correct"].astype(bool)
        lv = s["level"].astype(str)
        if levels is None:
            levels = lv
        else:
            common = levels.index.intersection(lv.index)
            if (levels[common] != lv[common]).any():
                raise ValueError(f"{name}: the level of a stimulus differs from the other logs'")
            levels = pd.concat([levels, lv[lv.index.difference(levels.index)]])
    table = pd.DataFrame(correct).dropna()
    if table.empty:
        raise ValueError("the logs share no stimulus")
    table = table.sort_index().astype(bool)
    return table.index.to_numpy(), levels[table.index].to_numpy(), table


def _summary_rows(levels: np.ndarray, keep: tuple[str, ...]) -> np.ndarray:
    return np.isin(levels, keep) if keep != ("",) else np.ones(len(levels), bool)


def accuracy_table(logs: Mapping[str, pd.DataFrame], dataset: str, *, by_level: bool = False,
                   group: str | None = None, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """16-class accuracy of each log (``metrics.sixteen_class_accuracy``) on ``dataset``
    over its own trials of the dataset's summarised levels (model-vs-human leaves the
    undistorted control and the levels where humans fall below 0.2 out of its summary), with
    a percentile-bootstrap interval over trials; ``group``: one more row of that name with
    every log's trials pooled (model-vs-human's "humans"), its interval resampling stimuli
    with all their trials. ``by_level``: also one row per level of a parametric dataset.
    Columns: decision_maker, level ('' = the dataset summary), accuracy, ci_low, ci_high, trials."""
    from ..data.model_vs_human import BENCHMARK

    d = BENCHMARK[dataset]
    keep = d.summary_levels
    rows = []

    def add(name, lv, t, groups=None):
        ok = t["correct"].to_numpy(bool)
        iv = stats.bootstrap_ci("mean", ok.astype(float), n_boot=n_boot, level=level, seed=seed,
                                groups=groups) if n_boot else None
        rows.append({"decision_maker": name, "level": lv, "accuracy": float(ok.mean()),
                     "ci_low": iv.low if iv else None, "ci_high": iv.high if iv else None, "trials": int(len(t))})

    frames = dict(logs)
    if group is not None and frames:
        frames[group] = pd.concat(list(logs.values()), ignore_index=True)
    for name, t in frames.items():
        lv = t["level"].astype(str).to_numpy()
        # a pooled group holds several trials per stimulus: resample stimuli with all of theirs
        stimuli = t["stimulus"].to_numpy() if name == group else None
        parts = [("", _summary_rows(lv, keep))]
        if by_level and d.parametric:
            parts += [(x, lv == x) for x in d.levels]
        for x, rows_ in parts:
            if rows_.any():
                add(name, x, t[rows_], None if stimuli is None else stimuli[rows_])
    return pd.DataFrame(rows, columns=["decision_maker", "level", "accuracy", "ci_low", "ci_high", "trials"])


class Consistency(NamedTuple):
    """``consistency_table``'s answer. ``samples``: for each row of ``means``, by its
    decision maker, {'kappa': (estimate, replicates), 'c_obs': (estimate, replicates)} of its
    mean over the pairs (replicates None without intervals): what
    ``stats.mean_of_independent`` averages over datasets."""

    pairs: pd.DataFrame
    means: pd.DataFrame
    samples: dict


def consistency_table(logs_a: Mapping[str, pd.DataFrame], logs_b: Mapping[str, pd.DataFrame] | None = None, *,
                      dataset: str, group: str = HUMANS, n_boot: int = 1000, level: float = 0.95,
                      seed: int = 0) -> Consistency:
    """Error consistency on ``dataset`` of every log of ``logs_a`` with every log of
    ``logs_b`` (a model with each observer), or, without ``logs_b``, of the logs of
    ``logs_a`` among themselves (each pair once: the observers with one another), over the
    stimuli all logs share, averaged over the dataset's summarised levels as model-vs-human
    does (``metrics.consistency_over_levels``; one level: ``metrics.error_consistency``).

    Intervals: percentile bootstrap over stimuli, one resampling for every pair and every
    mean (the observers are held fixed); with one level each pair's interval is
    ``stats.error_consistency_ci``'s for the same seed.
    Returns ``Consistency``: pairs (a, b, kappa, ci_low, ci_high, c_obs, c_exp, acc_diff,
    p_a, p_b, trials); means (one row per log of ``logs_a``, its mean over ``logs_b``, or one
    row named ``group``, the mean over all pairs: decision_maker, mean_kappa, ci_low,
    ci_high, mean_c_obs, lowest, highest, pairs, trials); samples (see ``Consistency``)."""
    from ..data.model_vs_human import BENCHMARK

    d = BENCHMARK[dataset]
    among = logs_b is None
    names_a = list(logs_a)
    names_b = names_a if among else list(logs_b)
    both = dict(logs_a) if among else {**{("a", k): v for k, v in logs_a.items()},
                                       **{("b", k): v for k, v in logs_b.items()}}
    _, lv, table = aligned_trials(both)
    rows = _summary_rows(lv, d.summary_levels)
    lv = lv[rows]
    a = table[names_a if among else [("a", k) for k in names_a]].to_numpy(bool)[rows]
    b = table[names_b if among else [("b", k) for k in names_b]].to_numpy(bool)[rows]
    if among:
        ii, jj = np.triu_indices(len(names_a), k=1)
    else:
        ii, jj = (x.ravel() for x in np.meshgrid(np.arange(len(names_a)), np.arange(len(names_b)), indexing="ij"))
    if not len(ii):
        raise ValueError("error consistency needs two logs at least")
    owners = [group] if among else names_a
    mine = [np.ones(len(ii), bool)] if among else [ii == i for i in range(len(names_a))]

    def statistic(x, y, levels):
        c = metrics.consistency_over_levels(x, y, levels)
        k, o = c["kappa"][ii, jj], c["c_obs"][ii, jj]
        return np.concatenate([k, [k[m].mean() for m in mine], [o[m].mean() for m in mine]])

    point = metrics.consistency_over_levels(a, b, lv)
    estimate = statistic(a, b, lv)
    reps = None
    if n_boot:
        estimate, reps = stats.bootstrap_replicates(statistic, a, b, lv, n_boot=n_boot, seed=seed)
        ivs = [stats.mean_of_independent([(estimate[c], reps[:, c])], level=level, n_units=len(lv))
               for c in range(len(estimate))]
        low, high = np.array([iv.low for iv in ivs]), np.array([iv.high for iv in ivs])
    else:
        low = high = np.full(len(estimate), np.nan)
    k = point["kappa"][ii, jj]
    pairs = pd.DataFrame({
        "a": [names_a[i] for i in ii], "b": [names_b[j] for j in jj], "kappa": k,
        "ci_low": low[:len(ii)], "ci_high": high[:len(ii)], "c_obs": point["c_obs"][ii, jj],
        "c_exp": point["c_exp"][ii, jj], "acc_diff": point["acc_diff"][ii, jj],
        "p_a": point["p_a"][ii], "p_b": point["p_b"][jj], "trials": len(lv)})
    means, samples = [], {}
    n_pairs, n_owners = len(ii), len(owners)
    for m, owner in enumerate(owners):
        ck, co = n_pairs + m, n_pairs + n_owners + m
        means.append({"decision_maker": owner, "mean_kappa": float(estimate[ck]), "ci_low": float(low[ck]),
                      "ci_high": float(high[ck]), "mean_c_obs": float(estimate[co]),
                      "lowest": float(k[mine[m]].min()), "highest": float(k[mine[m]].max()),
                      "pairs": int(mine[m].sum()), "trials": len(lv)})
        samples[owner] = {"kappa": (float(estimate[ck]), None if reps is None else reps[:, ck]),
                          "c_obs": (float(estimate[co]), None if reps is None else reps[:, co])}
    return Consistency(pairs, pd.DataFrame(means), samples)


def benchmark_tables(model_logs: Mapping[str, Mapping[str, pd.DataFrame]],
                     observer_logs: Mapping[str, Mapping[str, pd.DataFrame]], *,
                     group: str = HUMANS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What ``metrics.benchmark_summary`` takes, over the datasets of ``observer_logs``
    (dataset -> subject -> trials) and ``model_logs`` (dataset -> model -> trials,
    ``model_trials``); a dataset without observers gives accuracies only. Returns
    (pairs, accuracy):

    - pairs: one row per (decision_maker, observer, dataset, level) over the dataset's
      summarised levels and the stimuli all its logs share: kappa, c_obs, c_exp, acc_diff,
      trials; each model against each observer, and ``group`` for the observers among
      themselves (``observer`` = "subject-a|subject-b", each pair once).
    - accuracy: one row per (decision_maker, dataset): 16-class accuracy over the trials
      of the summarised levels (``group``: every observer's trials pooled), trials.
    """
    from ..data.model_vs_human import BENCHMARK

    pair_rows, acc_rows = [], []
    for dataset in dict.fromkeys([*observer_logs, *model_logs]):
        keep = BENCHMARK[dataset].summary_levels
        models = dict(model_logs.get(dataset, {}))
        observers = dict(observer_logs.get(dataset, {}))
        subjects = list(observers)
        if subjects:
            everyone = {**{("m", k): v for k, v in models.items()}, **{("h", k): v for k, v in observers.items()}}
            _, lv, table = aligned_trials(everyone)
            h = table[[("h", s) for s in subjects]].to_numpy(bool)
            m = table[[("m", k) for k in models]].to_numpy(bool) if models else None
            ii, jj = np.triu_indices(len(subjects), k=1)
            for level in keep:
                rows = _summary_rows(lv, (level,)) if level else np.ones(len(lv), bool)
                if not rows.any():
                    continue
                if m is not None:
                    c = metrics.consistency_matrix(m[rows], h[rows])
                    for i, key in enumerate(models):
                        for j, s in enumerate(subjects):
                            pair_rows.append((key, s, dataset, level, c["kappa"][i, j], c["c_obs"][i, j],
                                              c["c_exp"][i, j], c["acc_diff"][i, j], int(rows.sum())))
                c = metrics.consistency_matrix(h[rows], h[rows])
                for i, j in zip(ii, jj):
                    pair_rows.append((group, f"{subjects[i]}|{subjects[j]}", dataset, level, c["kappa"][i, j],
                                      c["c_obs"][i, j], c["c_exp"][i, j], c["acc_diff"][i, j], int(rows.sum())))
        logs = {**models, **({group: pd.concat(list(observers.values()), ignore_index=True)} if subjects else {})}
        for name, log in logs.items():
            kept = log[_summary_rows(log["level"].astype(str).to_numpy(), keep)]
            acc_rows.append((name, dataset, metrics.sixteen_class_accuracy(kept["object_response"], kept["category"]),
                             int(len(kept))))
    pairs = pd.DataFrame(pair_rows, columns=["decision_maker", "observer", "dataset", "level", "kappa", "c_obs",
                                             "c_exp", "acc_diff", "trials"])
    accuracy = pd.DataFrame(acc_rows, columns=["decision_maker", "dataset", "accuracy", "trials"])
    return pairs, accuracy
