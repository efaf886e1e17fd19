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


def expected_consistency(p_a, p_b):
    """The consistency two independent decision makers with accuracies p_a and p_b reach by
    chance: c_exp = p_a p_b + (1 - p_a)(1 - p_b). Arrays broadcast."""
    p_a, p_b = np.asarray(p_a, dtype=np.float64), np.asarray(p_b, dtype=np.float64)
    return p_a * p_b + (1 - p_a) * (1 - p_b)


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
    c_exp = float(expected_consistency(p_a, p_b))
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


def consistency_matrix(correct_a, correct_b) -> dict:
    """``error_consistency`` of every column i of ``correct_a`` (n, m) with every column j
    of ``correct_b`` (n, h) at once (row t the same stimulus for all; a 1-D argument is
    one decision maker):

        p_i = (1/n) sum_t a_ti,   c_obs_ij = (1/n) sum_t [a_ti == b_tj],
        c_exp_ij = expected_consistency(p_i, p_j),   kappa_ij = kappa(c_obs_ij, c_exp_ij),
        acc_diff_ij = (p_i - p_j)^2   (model-vs-human's "accuracy difference")

    Returns {'kappa', 'c_obs', 'c_exp', 'acc_diff'} as (m, h) arrays, 'p_a' (m,), 'p_b'
    (h,) and 'n'."""
    a, b = _columns(correct_a), _columns(correct_b)
    if len(a) != len(b):
        raise ValueError(f"{len(a)} vs {len(b)} trials; both need the same stimuli in the same order")
    n = len(a)
    if n == 0:
        raise ValueError("no trials")
    p_a, p_b = a.mean(axis=0), b.mean(axis=0)
    # a count over n, exactly 1.0 when both agree on every trial (kappa's rule needs it exact)
    c_obs = (a.T @ b + (1 - a).T @ (1 - b)) / n
    c_exp = expected_consistency(p_a[:, None], p_b[None, :])
    return {"kappa": kappa(c_obs, c_exp), "c_obs": c_obs, "c_exp": c_exp,
            "acc_diff": (p_a[:, None] - p_b[None, :]) ** 2, "p_a": p_a, "p_b": p_b, "n": n}
