"""Out-of-distribution detection: does a model's score tell images of classes it was never
trained on (ImageNet-O) from images of its own classes (ImageNet val)?

Protocol: ``docs/protocols.md`` §3. Every score is "higher = more in-distribution", and
in-distribution images are the positives (OpenOOD's and Liu et al. 2020's convention):

- ``MSP``        maximum softmax probability, max_k softmax(z)_k (Hendrycks & Gimpel 2017)
- ``max logit``  max_k z_k (Hendrycks et al. 2022, "Scaling out-of-distribution detection")
- ``energy``     the negative free energy T logsumexp_k(z_k / T), T = 1 (Liu et al. 2020)

With a class mask (ImageNet-O's 200 classes, as its authors evaluate it) the scores use the
mask's columns only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from scipy.stats import rankdata

from ._arrays import as_numpy
from .classification import softmax

#: the scores ``ood_scores`` returns, in display order
OOD_SCORES = ("MSP", "max logit", "energy")


def ood_scores(logits, class_mask=None, temperature: float = 1.0) -> dict[str, np.ndarray]:
    """{score name: (N,) scores} for ``OOD_SCORES``, higher = more in-distribution.

    MSP_i = max_k softmax(z_i)_k ; maxlogit_i = max_k z_ik ; energy_i = T logsumexp_k(z_ik / T).
    ``class_mask``: ImageNet indices whose columns are kept (the softmax and the
    log-sum-exp run over them only).
    """
    z = as_numpy(logits).astype(np.float64)
    if z.ndim != 2:
        raise ValueError(f"expected (N, C) logits, got shape {z.shape}")
    if class_mask is not None:
        z = z[:, np.asarray(class_mask, dtype=np.int64)]
    return {"MSP": softmax(z, axis=1).max(axis=1),
            "max logit": z.max(axis=1),
            "energy": temperature * logsumexp(z / temperature, axis=1)}


def _two_samples(id_scores, ood_scores_) -> tuple[np.ndarray, np.ndarray]:
    a = as_numpy(id_scores).astype(np.float64).ravel()
    b = as_numpy(ood_scores_).astype(np.float64).ravel()
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"need in- and out-of-distribution scores, got {len(a)} and {len(b)}")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("scores hold NaN values")
    return a, b


def auroc(id_scores, ood_scores_) -> float:
    """AUROC = P(s_in > s_out) + P(s_in = s_out) / 2 over all (in, out) pairs: the
    Mann-Whitney U statistic / (n_in n_out), from mid-ranks of the pooled scores:

        U = sum of the in-distribution ranks - n_in (n_in + 1) / 2.

    0.5 = no better than chance; 1 = every in-distribution image scores above every
    out-of-distribution one. Equals scikit-learn's ``roc_auc_score`` with in = 1.
    """
    a, b = _two_samples(id_scores, ood_scores_)
    ranks = rankdata(np.concatenate([a, b]))
    u = ranks[:len(a)].sum() - len(a) * (len(a) + 1) / 2.0
    return float(u / (len(a) * len(b)))


def fpr_at_tpr(id_scores, ood_scores_, tpr: float = 0.95) -> float:
    """FPR at ``tpr`` TPR: the share of out-of-distribution images still accepted when the
    threshold keeps ``tpr`` of the in-distribution ones (lower is better).

    t = the k-th highest in-distribution score, k = ceil(tpr n_in) (the highest threshold
    whose TPR = #(s_in >= t) / n_in reaches ``tpr``); FPR = #(s_out >= t) / n_out. The same
    point as scikit-learn's ``roc_curve`` read at the first TPR >= ``tpr`` (OpenOOD's
    recipe). Hendrycks et al.'s ImageNet-O code takes the anomalies as positives instead,
    which is a different number.
    """
    if not 0 < tpr <= 1:
        raise ValueError(f"tpr must be in (0, 1], got {tpr}")
    a, b = _two_samples(id_scores, ood_scores_)
    k = int(np.ceil(tpr * len(a) - 1e-9))
    t = np.sort(a)[::-1][max(k, 1) - 1]
    return float(np.mean(b >= t))


def ood_detection(id_logits, ood_logits, class_mask=None, tpr: float = 0.95) -> pd.DataFrame:
    """One row per score of ``OOD_SCORES``: score, AUROC, FPR at ``tpr`` TPR (``fpr@95``
    for 0.95), from the in- and out-of-distribution logits."""
    s_in, s_out = ood_scores(id_logits, class_mask), ood_scores(ood_logits, class_mask)
    col = f"FPR@{round(100 * tpr)}"
    return pd.DataFrame([{"score": s, "AUROC": auroc(s_in[s], s_out[s]),
                          col: fpr_at_tpr(s_in[s], s_out[s], tpr)} for s in OOD_SCORES])


def ood_replicates(id_scores, ood_scores_, id_weights, ood_weights, tpr: float = 0.95) -> dict[str, np.ndarray]:
    """AUROC and FPR at ``tpr`` TPR of bootstrap resamples, without building them.

    ``id_weights`` (R, n_in) and ``ood_weights`` (R, n_out): how often each image is drawn
    in each of R resamples; the two sets are resampled separately (each keeps its size, as
    the study fixed it). Returns {"auroc": (R,), "fpr": (R,)}, replicate r equal to
    ``auroc`` and ``fpr_at_tpr`` of the images repeated that many times: both scores are
    sorted once, and a resample's weighted counts are cumulative sums read at fixed
    positions, O(n_in + n_out) per resample.
    """
    a, b = _two_samples(id_scores, ood_scores_)
    wa = np.atleast_2d(np.asarray(id_weights, dtype=np.float64))
    wb = np.atleast_2d(np.asarray(ood_weights, dtype=np.float64))
    if wa.shape[1] != len(a) or wb.shape[1] != len(b) or len(wa) != len(wb):
        raise ValueError(f"weights must be (R, {len(a)}) and (R, {len(b)}), got {wa.shape} and {wb.shape}")
    if not 0 < tpr <= 1:
        raise ValueError(f"tpr must be in (0, 1], got {tpr}")
    ob, oa = np.argsort(b, kind="stable"), np.argsort(-a, kind="stable")
    b_sorted, a_desc = b[ob], a[oa]
    below = np.searchsorted(b_sorted, a, side="left")      # out-of-distribution scores < a_i
    not_above = np.searchsorted(b_sorted, a, side="right")  # <= a_i
    auroc_r, fpr_r = np.empty(len(wa)), np.empty(len(wa))
    for r, (w_in, w_out) in enumerate(zip(wa, wb)):
        c_out = np.r_[0.0, np.cumsum(w_out[ob])]
        n_in, n_out = w_in.sum(), c_out[-1]
        # each in-distribution image beats the OOD images below it and ties half of the equal ones
        wins = c_out[below] + 0.5 * (c_out[not_above] - c_out[below])
        auroc_r[r] = np.dot(w_in, wins) / (n_in * n_out)
        # the threshold: the in-distribution score where the weighted count reaches ceil(tpr n_in)
        k = np.ceil(tpr * n_in - 1e-9)
        t = a_desc[np.searchsorted(np.cumsum(w_in[oa]), max(k, 1), side="left")]
        fpr_r[r] = (n_out - c_out[np.searchsorted(b_sorted, t, side="left")]) / n_out
    return {"auroc": auroc_r, "fpr": fpr_r}
