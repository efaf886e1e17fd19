"""Error consistency (Geirhos, Meding & Wichmann 2020): do two observers (models or humans)
make their mistakes on the same trials?

Protocol: ``docs/protocols.md``, sections Mistakes and Shape bias. Trials are aligned: row i
is the same image for both. ``stats.error_consistency_ci`` puts an interval on the kappa.
"""

from __future__ import annotations

import itertools

import numpy as np


def _bools(x, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype != bool:
        if not np.isin(a, (0, 1)).all():
            raise ValueError(f"{name} must be booleans or 0/1 per image")
        a = a.astype(bool)
    return a.ravel()


def paired_trials(correct_a, correct_b) -> tuple[np.ndarray, np.ndarray]:
    """Two observers' right/wrong per trial as bool arrays of one length (ValueError when
    they are not 0/1, differ in length or are empty)."""
    a, b = _bools(correct_a, "correct_a"), _bools(correct_b, "correct_b")
    if len(a) != len(b):
        raise ValueError(f"{len(a)} vs {len(b)} trials; both need the same images in the same order")
    if len(a) == 0:
        raise ValueError("no trials")
    return a, b


def kappa(c_obs, c_exp):
    """kappa = (c_obs - c_exp) / (1 - c_exp), with model-vs-human's rule kappa = 1 when
    the observed consistency is 1 (also covers c_exp = 1, where the formula is 0/0).
    Elementwise on arrays (a bootstrap's replicates)."""
    c_obs, c_exp = np.asarray(c_obs, dtype=np.float64), np.asarray(c_exp, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = (c_obs - c_exp) / (1.0 - c_exp)
    return np.where(c_obs == 1.0, 1.0, k)


def error_consistency(correct_a, correct_b) -> dict:
    """Error consistency, as model-vs-human computes it.

        c_obs = mean_i [correct_a_i == correct_b_i]      (both right or both wrong)
        c_exp = p_a p_b + (1 - p_a)(1 - p_b),  p = accuracy
        kappa = (c_obs - c_exp) / (1 - c_exp);  kappa = 1 when c_obs = 1

    kappa is Cohen's kappa on the right/wrong labels: 0 = as consistent as two independent
    observers with these accuracies, 1 = the same errors. Trials must be aligned (same
    image at the same position). For cue-conflict, correct = decision equals the shape
    category, over all trials (``cue_conflict_correct``), as model-vs-human does.
    Returns dict: kappa, c_obs, c_exp, p_a, p_b, n.
    """
    a, b = paired_trials(correct_a, correct_b)
    p_a, p_b = float(a.mean()), float(b.mean())
    c_obs = float(np.mean(a == b))
    c_exp = p_a * p_b + (1 - p_a) * (1 - p_b)
    return {"kappa": float(kappa(c_obs, c_exp)), "c_obs": c_obs, "c_exp": c_exp,
            "p_a": p_a, "p_b": p_b, "n": int(len(a))}


def mean_kappas(models, observers) -> np.ndarray:
    """(M,) for each model's column of ``models`` (n, M), the mean over the observers'
    columns of ``observers`` (n, H) of the ``error_consistency`` kappa; rows are the same
    trials (the shape-bias page's "error consistency with humans")."""
    a, h = np.asarray(models).reshape(len(models), -1), np.asarray(observers)
    return np.array([np.mean([error_consistency(a[:, i], h[:, j])["kappa"] for j in range(h.shape[1])])
                     for i in range(a.shape[1])])


def pairwise_kappas(observers) -> np.ndarray:
    """The ``error_consistency`` kappa of every pair of the columns of ``observers`` (n, H),
    pairs in ``itertools.combinations`` order."""
    h = np.asarray(observers)
    return np.array([error_consistency(h[:, i], h[:, j])["kappa"]
                     for i, j in itertools.combinations(range(h.shape[1]), 2)])
