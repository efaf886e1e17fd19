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


# ------------------------------------------------------------------- unbiased CKA
def _zero_diagonal(k) -> tuple[np.ndarray, np.ndarray]:
    """(K~, K~1): the Gram with a zero diagonal, and its row sums."""
    kt = np.array(k, dtype=np.float64)
    np.fill_diagonal(kt, 0.0)
    return kt, kt.sum(axis=1)


def _hsic_parts(kt, kr, lt, lr, leave_one_out: bool = False) -> dict:
    """The sums unbiased HSIC is made of, from zero-diagonal Grams K~, L~ and their row
    sums k = K~1, l = L~1: T = sum(K~ o L~), S_K = 1'k, S_L = 1'l, P = k'l, and per sample
    r (row sums of K~ o L~) and q = L~k + K~l, which leaving it out needs."""
    r = np.einsum("ij,ij->i", kt, lt)
    return {"T": r.sum(), "SK": kr.sum(), "SL": lr.sum(), "P": kr @ lr, "r": r, "kr": kr, "lr": lr,
            "q": lt @ kr + kt @ lr if leave_one_out else None}


def _hsic_u(T, SK, SL, P, n):
    """Song et al. (2012), eq. 5: [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3))."""
    return (T + SK * SL / ((n - 1) * (n - 2)) - 2.0 * P / (n - 2)) / (n * (n - 3))


def hsic_unbiased(k, l) -> float:
    """Unbiased HSIC of two uncentred Gram matrices of the same n >= 4 samples (Song et al.
    2012, eq. 5; K~, L~ the Grams with a zero diagonal):

        HSIC_1 = [tr(K~ L~) + (1'K~1)(1'L~1) / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3))

    a U-statistic: its expectation is the population HSIC exactly, where the centred
    <HKH, HLH> / (n-1)^2 behind ``linear_cka`` is biased upwards by O(1/n)."""
    k, l = np.asarray(k, dtype=np.float64), np.asarray(l, dtype=np.float64)
    n = len(k)
    if n < 4 or k.shape != (n, n) or l.shape != (n, n):
        raise ValueError("hsic_unbiased needs two n x n Gram matrices of the same n >= 4 samples")
    p = _hsic_parts(*_zero_diagonal(k), *_zero_diagonal(l))
    return float(_hsic_u(p["T"], p["SK"], p["SL"], p["P"], n))


def _cka_from_hsic(h: np.ndarray) -> np.ndarray:
    """CKA_ij = HSIC_ij / sqrt(HSIC_ii HSIC_jj) over the last two axes (NaN where a
    self-HSIC is not positive: no similarity structure to compare)."""
    d = np.einsum("...ii->...i", h)
    with np.errstate(invalid="ignore", divide="ignore"):
        root = np.sqrt(np.where(d > 0, d, np.nan))
        return h / (root[..., :, None] * root[..., None, :])


def unbiased_cka_matrix(grams: list, *, leave_one_out: bool = False):
    """Linear CKA from unbiased HSIC (Song et al. 2012; "debiased CKA", Nguyen, Raghu &
    Kornblith 2021) between every pair of ``grams`` (uncentred linear Grams X X' of the same
    n >= 5 images, one per model or layer):

        CKA_u(K, L) = HSIC_1(K, L) / sqrt(HSIC_1(K, K) HSIC_1(L, L))

    The numerator and denominators are unbiased, so the ratio is nearly so (O(1/n^2)), where
    ``linear_cka`` is biased upwards by O(1/n): on 64 images by about as much as its
    standard error. Returns the (M, M) matrix; with ``leave_one_out``, also the (n, M, M)
    matrices with each image left out in turn (what a jackknife needs), from the same
    sums in O(n^2) per pair: leaving sample m out of the sums of ``hsic_unbiased``,

        T' = T - 2 r_m,  S_K' = S_K - 2 k_m,
        P' = P - (L~k)_m - (K~l)_m + r_m - k_m l_m,   n' = n - 1,

    with k = K~1, l = L~1 and r the row sums of K~ o L~."""
    n = len(grams[0])
    if n < 5 or any(np.shape(g) != (n, n) for g in grams):
        raise ValueError("unbiased_cka_matrix needs n x n Gram matrices of the same n >= 5 images")
    m = len(grams)
    zeroed = [_zero_diagonal(g) for g in grams]
    h = np.empty((m, m))
    loo = np.empty((n, m, m)) if leave_one_out else None
    for i in range(m):
        for j in range(i, m):
            p = _hsic_parts(*zeroed[i], *zeroed[j], leave_one_out=leave_one_out)
            h[i, j] = h[j, i] = _hsic_u(p["T"], p["SK"], p["SL"], p["P"], n)
            if leave_one_out:
                t = p["T"] - 2 * p["r"]
                sk, sl = p["SK"] - 2 * p["kr"], p["SL"] - 2 * p["lr"]
                pp = p["P"] - p["q"] + p["r"] - p["kr"] * p["lr"]
                loo[:, i, j] = loo[:, j, i] = _hsic_u(t, sk, sl, pp, n - 1)
    cka = _cka_from_hsic(h)
    return (cka, _cka_from_hsic(loo)) if leave_one_out else cka


def unbiased_cka(x, y) -> float:
    """``unbiased_cka_matrix`` of two feature matrices (N, D1), (N, D2) of the same images."""
    x = as_numpy(x).astype(np.float64)
    y = as_numpy(y).astype(np.float64)
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    if len(x) != len(y):
        raise ValueError(f"unbiased_cka: {len(x)} vs {len(y)} samples; both need the same images")
    return float(unbiased_cka_matrix([x @ x.T, y @ y.T])[0, 1])


def mean_to_others(matrix) -> np.ndarray:
    """(..., M): for each model, the mean of its row of an (..., M, M) CKA matrix over the
    other models (the diagonal left out); the similarity page's headline."""
    m = np.asarray(matrix, dtype=np.float64)
    k = m.shape[-1]
    if k < 2:
        raise ValueError("mean_to_others needs at least two models")
    return (np.nansum(m, axis=-1) - np.einsum("...ii->...i", m)) / (k - 1)
