"""Models against humans on model-vs-human's out-of-distribution benchmark (Geirhos et al.,
NeurIPS 2021): 16-class accuracy, error consistency of many decision makers at once, and the
benchmark's summary over its datasets. Protocol: ``docs/protocols.md``, section 9.

A decision maker (a model or a human observer) answers one of the 16 categories on each
stimulus (a model through ``cue_conflict_decisions``, model-vs-human's mapping of the
1,000-class softmax); a trial is correct when the answer is the stimulus's category. Trials
of two decision makers are compared on the same stimuli, in the same order; error
consistency itself is ``consistency`` (``error_consistency``, ``consistency_matrix``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._arrays import as_numpy
from .consistency import consistency_matrix


def sixteen_class_correct(decisions, categories) -> np.ndarray:
    """Per trial: correct_i = [decision_i == category_i] (model-vs-human's
    ``SixteenClassAccuracy``; a human's "na" is wrong). Bool (N,)."""
    d = np.asarray([str(x) for x in as_numpy(decisions).ravel()], dtype=object)
    c = np.asarray([str(x) for x in as_numpy(categories).ravel()], dtype=object)
    if len(d) != len(c):
        raise ValueError(f"{len(d)} decisions but {len(c)} categories")
    return d == c


def sixteen_class_accuracy(decisions, categories) -> float:
    """16-class accuracy = (1/N) sum_i [decision_i == category_i], over all N trials given."""
    correct = sixteen_class_correct(decisions, categories)
    if not len(correct):
        raise ValueError("no trials")
    return float(correct.mean())


def consistency_over_levels(correct_a, correct_b, levels, keep=None) -> dict:
    """``consistency_matrix`` averaged over the levels of a parametric dataset, as model-vs-human
    averages over its conditions: for each level l in ``keep`` (default: every level
    present), the trials of level l alone give kappa_l, c_obs_l, c_exp_l, acc_diff_l; each
    returned (m, h) array is their unweighted mean over the levels, with 'p_a' / 'p_b' the
    mean of the per-level accuracies. ``levels``: the level of each trial (n,). A level in
    ``keep`` with no trial is skipped; 'levels' lists those used."""
    a, b = np.asarray(correct_a), np.asarray(correct_b)
    lv = np.asarray(levels).astype(str).ravel()
    if len(lv) != len(a):
        raise ValueError(f"{len(lv)} levels for {len(a)} trials")
    wanted = list(dict.fromkeys(lv.tolist())) if keep is None else [str(k) for k in keep]
    parts, used = [], []
    for level in wanted:
        rows = lv == level
        if rows.any():
            parts.append(consistency_matrix(a[rows], b[rows]))
            used.append(level)
    if not parts:
        raise ValueError(f"no trial at any of the levels {wanted}")
    keys = ("kappa", "c_obs", "c_exp", "acc_diff", "p_a", "p_b")
    out = {k: parts[0][k] for k in keys} if len(parts) == 1 else {k: np.mean([p[k] for p in parts], axis=0)
                                                                    for k in keys}
    return {**out, "n": int(sum(p["n"] for p in parts)), "levels": used}


def benchmark_summary(pairs: pd.DataFrame, accuracy: pd.DataFrame) -> pd.DataFrame:
    """model-vs-human's summary of each decision maker over the benchmark's datasets (its
    ``format_benchmark_df`` and ``get_mean_over_datasets``).

    ``pairs``: one row per (decision_maker, observer, dataset, level) with columns
    ``kappa``, ``c_obs``, ``acc_diff``; a model against each observer, and the observers
    among themselves as one decision maker (a group name such as "humans") whose
    ``observer`` names each pair once (model-vs-human averages over all pairs alike).
    ``accuracy``: one row per
    (decision_maker, dataset) with ``accuracy``: its 16-class accuracy over the trials of the
    dataset's summarised levels, an observer group's trials pooled.

        error consistency(m)    = mean_datasets mean_observers mean_levels kappa
        observed consistency(m) = the same means of c_obs
        accuracy difference(m)  = the same means of acc_diff
        OOD accuracy(m)         = mean_datasets accuracy

    Returns one row per decision maker: decision_maker, 'OOD accuracy', 'accuracy
    difference', 'observed consistency', 'error consistency', datasets (how many entered).
    """
    metrics = {"kappa": "error consistency", "c_obs": "observed consistency", "acc_diff": "accuracy difference"}
    per_pair = pairs.groupby(["decision_maker", "observer", "dataset"], sort=False)[list(metrics)].mean()
    per_dataset = per_pair.groupby(["decision_maker", "dataset"], sort=False).mean()
    out = per_dataset.groupby("decision_maker", sort=False).mean().rename(columns=metrics)
    acc = accuracy.groupby("decision_maker", sort=False)["accuracy"].agg(["mean", "size"])
    out = out.join(acc.rename(columns={"mean": "OOD accuracy", "size": "datasets"}), how="outer")
    cols = ["OOD accuracy", "accuracy difference", "observed consistency", "error consistency", "datasets"]
    return out.reindex(columns=cols).rename_axis("decision_maker").reset_index()
