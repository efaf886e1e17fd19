"""Models against humans on model-vs-human's out-of-distribution benchmark (Geirhos et al.,
NeurIPS 2021): 16-class accuracy, error consistency of many decision makers at once, and the
benchmark's summary over its datasets. Protocol: ``docs/protocols.md``, section 9.

A decision maker (a model or a human observer) answers one of the 16 categories on each
stimulus (a model through ``cue_conflict_decisions``, model-vs-human's mapping of the
1,000-class softmax); a trial is correct when the answer is the stimulus's category. Trials
of two decision makers are compared on the same stimuli, in the same order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._arrays import as_numpy


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


def expected_consistency(p_a, p_b):
    """The consistency two independent decision makers with accuracies p_a and p_b reach by
    chance: c_exp = p_a p_b + (1 - p_a)(1 - p_b) (Geirhos, Meding & Wichmann 2020). Arrays
    broadcast."""
    p_a, p_b = np.asarray(p_a, dtype=np.float64), np.asarray(p_b, dtype=np.float64)
    return p_a * p_b + (1 - p_a) * (1 - p_b)


def _columns(correct) -> np.ndarray:
    c = np.asarray(correct)
    if c.ndim == 1:
        c = c[:, None]
    if c.ndim != 2:
        raise ValueError(f"expected (trials, decision makers) right/wrong, got shape {c.shape}")
    if c.dtype != bool:
        if not np.isin(c, (0, 1)).all():
            raise ValueError("right/wrong must be booleans or 0/1 per trial")
        c = c.astype(bool)
    return c.astype(np.float64)


def consistency(correct_a, correct_b) -> dict:
    """Error consistency (Geirhos, Meding & Wichmann 2020; model-vs-human's
    ``ErrorConsistency``) of every column i of ``correct_a`` (n, m) with every column j of
    ``correct_b`` (n, h), row t being the same stimulus for all:

        p_i = (1/n) sum_t a_ti                                   (16-class accuracy)
        c_obs_ij = (1/n) sum_t [a_ti == b_tj]                     (observed consistency)
        c_exp_ij = p_i p_j + (1 - p_i)(1 - p_j)                  (expected by chance)
        kappa_ij = (c_obs_ij - c_exp_ij) / (1 - c_exp_ij);  kappa_ij = 1 when c_obs_ij = 1
        acc_diff_ij = (p_i - p_j)^2                              (model-vs-human's accuracy difference)

    ``stats.error_consistency`` is the same kappa for one pair. A 1-D argument is one
    decision maker. Returns {'kappa', 'c_obs', 'c_exp', 'acc_diff'} as (m, h) arrays and
    'p_a' (m,), 'p_b' (h,), 'n'."""
    a, b = _columns(correct_a), _columns(correct_b)
    if len(a) != len(b):
        raise ValueError(f"{len(a)} vs {len(b)} trials; both need the same stimuli in the same order")
    n = len(a)
    if n == 0:
        raise ValueError("no trials")
    p_a, p_b = a.mean(axis=0), b.mean(axis=0)
    c_obs = (a.T @ b + (1 - a).T @ (1 - b)) / n
    c_exp = expected_consistency(p_a[:, None], p_b[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = (c_obs - c_exp) / (1 - c_exp)
    kappa = np.where(c_obs >= 1.0 - 1e-12, 1.0, kappa)
    return {"kappa": kappa, "c_obs": c_obs, "c_exp": c_exp, "acc_diff": (p_a[:, None] - p_b[None, :]) ** 2,
            "p_a": p_a, "p_b": p_b, "n": n}


def consistency_over_levels(correct_a, correct_b, levels, keep=None) -> dict:
    """``consistency`` averaged over the levels of a parametric dataset, as model-vs-human
    averages over its conditions: for each level l in ``keep`` (default: every level
    present), the trials of level l alone give kappa_l, c_obs_l, c_exp_l, acc_diff_l; each
    returned (m, h) array is their unweighted mean over the levels, with 'p_a' / 'p_b' the
    mean of the per-level accuracies. ``levels``: the level of each trial (n,). A level in
    ``keep`` with no trial is skipped; 'levels' lists those used."""
    a, b = _columns(correct_a), _columns(correct_b)
    lv = np.asarray(levels).astype(str).ravel()
    if len(lv) != len(a):
        raise ValueError(f"{len(lv)} levels for {len(a)} trials")
    wanted = list(dict.fromkeys(lv.tolist())) if keep is None else [str(k) for k in keep]
    parts, used = [], []
    for level in wanted:
        rows = lv == level
        if rows.any():
            parts.append(consistency(a[rows], b[rows]))
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
