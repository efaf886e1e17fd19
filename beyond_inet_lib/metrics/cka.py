"""Representation similarity: linear CKA between layers (Kornblith et al. 2019).

Protocol: ``docs/protocols.md``, section Representation similarity. Every CKA here is the
cosine of two centred Gram matrices, <K, L>_F / (||K||_F ||L||_F) (``_unit``: a centred
Gram flattened and normalised); the Grams are centred from the features
(``_centred_gram``) or, for a bootstrap resample whose rows repeat, from the uncentred
Gram computed once per model (``gram``, ``centred_gram``: O(n^2) per resample instead of
O(n^2 D)).
"""

from __future__ import annotations

import numpy as np

from ._arrays import as_numpy


def _centred_gram(x) -> np.ndarray:
    """K = Xc Xc^T with Xc = X minus its column means (float64, (N, D) -> (N, N)).

    Centring the features is the same as H K H with H = I - 11^T/N (Kornblith et al. 2019).
    """
    x = as_numpy(x).astype(np.float64)
    x = x.reshape(len(x), -1)
    xc = x - x.mean(axis=0, keepdims=True)
    return xc @ xc.T


def linear_cka(x, y) -> float:
    """Linear CKA (Kornblith et al. 2019; docs/protocols.md, Representation similarity).

    Float64, centred features.

        CKA(X, Y) = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F * ||Yc^T Yc||_F)
                  = <K, L>_F / (||K||_F ||L||_F),  K = Xc Xc^T, L = Yc Yc^T

    x: (N, D1), y: (N, D2) (extra dims are flattened). The Gram form is used when N is
    smaller than the feature widths, the feature form otherwise (same number).
    """
    x = as_numpy(x).astype(np.float64)
    y = as_numpy(y).astype(np.float64)
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    if len(x) != len(y):
        raise ValueError(f"linear_cka: {len(x)} vs {len(y)} samples; both need the same images")
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    if len(x) < max(x.shape[1], y.shape[1]):
        k, l = xc @ xc.T, yc @ yc.T
        num, dx, dy = np.sum(k * l), np.linalg.norm(k), np.linalg.norm(l)
    else:
        num = np.linalg.norm(yc.T @ xc) ** 2
        dx, dy = np.linalg.norm(xc.T @ xc), np.linalg.norm(yc.T @ yc)
    if dx == 0 or dy == 0:
        return float("nan")  # a constant layer has no similarity structure
    return float(num / (dx * dy))


def _unit(k: np.ndarray) -> np.ndarray:
    """A centred Gram flattened and scaled to unit Frobenius norm (NaN for a constant
    layer, which has no similarity structure): CKA is the dot product of two of these."""
    norm = np.linalg.norm(k)
    return (k / norm if norm > 0 else np.full_like(k, np.nan)).ravel()


def cka_matrix(feats_a: list, feats_b: list | None = None) -> np.ndarray:
    """Linear CKA between every layer of ``feats_a`` and every layer of ``feats_b``.

    M[i, j] = <K_i, L_j>_F / (||K_i||_F ||L_j||_F), each centred Gram computed once per
    layer and normalised, so the matrix is one product of flattened (N^2) Grams.
    ``feats_b`` None: the within-model matrix of ``feats_a`` (symmetric, unit diagonal).
    """
    ga = np.stack([_unit(_centred_gram(f)) for f in feats_a])
    gb = ga if feats_b is None else np.stack([_unit(_centred_gram(f)) for f in feats_b])
    if ga.shape[1] != gb.shape[1]:
        raise ValueError("cka_matrix: both feature lists must come from the same images")
    return ga @ gb.T


def gram(features) -> np.ndarray:
    """Uncentred Gram matrix G = X X^T (float64, (N, D) -> (N, N)), computed once per model
    so that a bootstrap resample only gathers and centres it (``centred_gram``)."""
    x = as_numpy(features).astype(np.float64)
    x = x.reshape(len(x), -1)
    return x @ x.T


def centred_gram(g: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The centred Gram of the images ``rows`` (repeats allowed) from the uncentred ``g``:
    H G_rr H with H = I - 11^T/n, i.e. G_rr minus its row and column means plus its grand
    mean; equal to Xc Xc^T for the column-centred features of those rows."""
    g = g[np.ix_(rows, rows)]
    m = g.mean(axis=0)
    return g - m[None, :] - m[:, None] + m.mean()


def mean_cka_to_others(grams: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """(M,) for each model, the mean over the other models of linear CKA on the images
    ``rows``, from each model's uncentred Gram (``gram``): what the similarity page's
    headline and each of its bootstrap resamples compute."""
    k = np.stack([_unit(centred_gram(g, rows)) for g in grams])
    m = k @ k.T
    n = len(grams)
    return np.array([np.mean([m[i, j] for j in range(n) if j != i]) for i in range(n)])
