"""Simulated data with a known truth, for measuring the coverage of the report's intervals
(tests/test_coverage.py).

Each simulator draws R datasets at once as columns of (n, R) arrays (or a list over
models of them) and returns the truth the interval is meant to cover: the population value
of the statistic, computed exactly (by enumeration or Gauss-Hermite quadrature) or from a
fixed, very large sample where no closed form exists. The data are shaped like the
report's: ImageNet-like confidences, correlated errors of several models on the same
images, crossed observers and stimuli, corruption cells of one image, validation images
shared by several benchmarks.

Coverage is a proportion over R datasets: its Monte-Carlo standard error is
sqrt(c (1 - c) / R), reported beside it. Where the R datasets are passed as columns of one
call, they share that call's bootstrap resamples (the resamples' image indices, not the
data): the datasets are independent of the indices, so each dataset's interval is a draw
of the method's interval and the average of the R indicators is unbiased for its coverage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit
from scipy.stats import binom

# Gauss-Hermite nodes for E[f(U)], U ~ N(0, 1): sum_k w_k f(x_k)
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(80)
_GH_W = _GH_W / _GH_W.sum()


def normal_expectation(f) -> float:
    """E f(U) for U ~ N(0, 1), by 80-point Gauss-Hermite quadrature (f vectorised)."""
    return float(np.sum(_GH_W * f(_GH_X)))


#: a normal discretised to 4,096 equally likely values (the quantiles at (g + 1/2)/4096):
#: draws are table look-ups, and the truth of a simulated world built on it is an exact
#: average over the table
NORMAL_TABLE = __import__("scipy.stats", fromlist=["norm"]).norm.ppf((np.arange(4096) + 0.5) / 4096)


def discrete_normal_index(rng, shape) -> np.ndarray:
    return rng.integers(0, len(NORMAL_TABLE), size=shape)


# =============================================================================== table


@dataclass
class Row:
    """One line of the coverage table."""

    interval: str          # what the report prints
    data: str              # where (which profile's size, which benchmark)
    size: str              # images (and models, observers ...)
    truth: str             # the simulated truth
    method: str            # the interval method, as the product computes it
    coverage: float
    se: float              # Monte-Carlo standard error of the coverage (0: exact)
    datasets: int          # simulated datasets R (0: exact enumeration)
    resamples: int = 0     # bootstrap resamples per interval (0: none)
    target: bool = True    # a method the report uses (False: the one it replaced, for reference)
    notes: list = field(default_factory=list)

    def band(self, low: float = 0.93, high: float = 0.97, z: float = 2.58) -> tuple[float, float]:
        """The acceptance band for the MEASURED coverage: [low, high] widened by z Monte-Carlo
        standard errors (z = 2.58: a method whose true coverage is in [low, high] passes
        with probability >= 0.99)."""
        return low - z * self.se, high + z * self.se

    def line(self) -> str:
        mc = "exact" if self.datasets == 0 else f"±{self.se:.3f}"
        reps = "–" if self.datasets == 0 else str(self.datasets)
        boot = str(self.resamples) if self.resamples else "–"
        role = "" if self.target else " (was)"
        return (f"| {self.interval}{role} | {self.data} | {self.size} | {self.truth} | {self.method} | "
                f"{self.coverage:.3f} | {mc} | {reps} | {boot} |")


HEADER = ("| interval | data | size | truth | method | coverage | MC s.e. | datasets | resamples |\n"
          "|---|---|---|---|---|---|---|---|---|")


def coverage(low, high, truth) -> tuple[float, float, int]:
    """(share of intervals with low <= truth <= high, its Monte-Carlo s.e., datasets). NaN
    intervals count as not covering. (R, M) intervals: M statistics of each of R datasets
    (every model's), the s.e. from the spread of the R per-dataset shares."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    hit = (low <= truth) & (truth <= high)
    if hit.ndim == 2:   # (datasets, statistics per dataset): the statistics of one dataset are not independent
        per = hit.mean(axis=1)
        r = len(per)
        return float(per.mean()), float(max(per.std(ddof=1), 1e-6) / np.sqrt(r)), r
    r = hit.size
    c = float(hit.mean())
    return c, float(np.sqrt(max(c * (1 - c), 1e-12) / r)), r


# ========================================================================= proportions


def binomial_coverage(interval, n: int, p: float) -> float:
    """Exact coverage of a proportion interval at truth p: sum_k P(Bin(n, p) = k) 1[p in CI(k)].
    ``interval(k, n) -> (low, high)`` vectorised over k."""
    k = np.arange(n + 1)
    low, high = interval(k, n)
    return float(np.sum(binom.pmf(k, n, p) * ((low <= p) & (p <= high))))


def local_binomial_coverage(interval, n: int, p: float, width: float = 0.02, points: int = 41) -> float:
    """Coverage averaged over truths within +/- ``width`` of p (clipped to [0, 1]): a
    proportion's coverage oscillates with the truth on the lattice k/n, by several points
    at tens of images, and a user's truth is not known to that precision."""
    ps = np.clip(np.linspace(p - width, p + width, points), 0.0, 1.0)
    return float(np.mean([binomial_coverage(interval, n, q) for q in ps]))


# ================================================================ correlated classifiers


def correlated_correct(rng, n: int, r: int, alphas, beta: float = 1.5) -> list[np.ndarray]:
    """Correctness (n, R) of models m = 0..M-1 on the same images: image i has a difficulty
    u_i ~ N(0, 1) shared by all models, and model m is right with probability
    sigmoid(alpha_m + beta u_i), independently given u (shared hard images: correlated
    errors, as real models have)."""
    u = rng.normal(size=(n, r))
    return [rng.uniform(size=(n, r)) < expit(a + beta * u) for a in alphas]


def accuracy(alpha: float, beta: float = 1.5) -> float:
    return normal_expectation(lambda u: expit(alpha + beta * u))


def kappa_truth(alpha_a: float, alpha_b: float, beta_a: float = 1.5, beta_b: float = 1.5) -> float:
    """Population error consistency of two ``correlated_correct`` models."""
    p_a = normal_expectation(lambda u: expit(alpha_a + beta_a * u))
    p_b = normal_expectation(lambda u: expit(alpha_b + beta_b * u))
    both = normal_expectation(lambda u: expit(alpha_a + beta_a * u) * expit(alpha_b + beta_b * u))
    c_obs = 1 - p_a - p_b + 2 * both
    c_exp = p_a * p_b + (1 - p_a) * (1 - p_b)
    return (c_obs - c_exp) / (1 - c_exp)


def alpha_for(acc: float, beta: float = 1.5) -> float:
    """The alpha whose ``correlated_correct`` model has accuracy ``acc`` (bisection)."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if accuracy(mid, beta) < acc else (lo, mid)
    return (lo + hi) / 2


# ============================================================================ calibration

#: the simulated confidence: c = 1 - 0.94 B, B ~ Beta(1, 3): most mass near 1, as a
#: classifier's maximum softmax probability on ImageNet (mean 0.77)
_CONF_SHIFT, _CONF_A, _CONF_B = 0.94, 1.0, 3.0


def draw_confidence(rng, n: int, r: int) -> np.ndarray:
    return 1.0 - _CONF_SHIFT * rng.beta(_CONF_A, _CONF_B, size=(n, r))


def accuracy_at(c, kind: str, gap: float):
    """P(correct | confidence c): 'perfect' c; 'over' c - gap (over-confident everywhere);
    'mixed' over-confident by ``gap`` above 0.7 and under-confident below (gaps of both
    signs, as a real reliability diagram has)."""
    c = np.asarray(c, dtype=np.float64)
    if kind == "perfect":
        return c
    if kind == "over":
        return np.clip(c - gap, 0.0, 1.0)
    if kind == "mixed":
        return np.clip(c - gap * np.sign(c - 0.7), 0.0, 1.0)
    raise ValueError(kind)


def calibration_truth(kind: str, gap: float, n_bins: int = 15, grid: int = 400_001) -> float:
    """The binned ECE of the population: sum_b P(b) |E[c - acc(c) | b]|, by the trapezoid
    rule on the confidence's density (exact up to ~1e-7)."""
    from scipy.stats import beta as beta_dist

    c = np.linspace(1.0 - _CONF_SHIFT, 1.0, grid)
    dens = beta_dist.pdf((1.0 - c) / _CONF_SHIFT, _CONF_A, _CONF_B) / _CONF_SHIFT
    b = np.searchsorted(np.arange(n_bins + 1)[1:-1] / n_bins, c, side="left")
    f = dens * (c - accuracy_at(c, kind, gap))
    total = 0.0
    for j in range(n_bins):
        m = b == j
        if m.sum() < 2:
            continue
        idx = np.flatnonzero(m)
        seg = slice(idx[0], idx[-1] + 1)
        total += abs(np.trapezoid(f[seg], c[seg]))
    return float(total)


def calibration_data(rng, n: int, r: int, kind: str, gap: float) -> tuple[np.ndarray, np.ndarray]:
    c = draw_confidence(rng, n, r)
    return c, rng.uniform(size=c.shape) < accuracy_at(c, kind, gap)


# ==================================================================================== CKA


def cka_population(loadings: list[np.ndarray], latent_var: np.ndarray, noise: float) -> np.ndarray:
    """Population linear CKA of features X_m = Z A_m + E_m (Z ~ N(0, diag(latent_var)),
    E_m ~ N(0, noise I)): CKA_ab = ||S_ab||_F^2 / (||S_aa||_F ||S_bb||_F) with the
    cross-covariances S_ab = A_a' diag(latent_var) A_b (+ noise I when a = b)."""
    m = len(loadings)
    s = {}
    for i in range(m):
        for j in range(m):
            s[i, j] = loadings[i].T @ np.diag(latent_var) @ loadings[j]
            if i == j:
                s[i, j] = s[i, j] + noise * np.eye(loadings[i].shape[1])
    out = np.empty((m, m))
    for i in range(m):
        for j in range(m):
            out[i, j] = np.sum(s[i, j] ** 2) / np.sqrt(np.sum(s[i, i] ** 2) * np.sum(s[j, j] ** 2))
    return out


def cka_models(rng, m: int, dim: int = 24, rank: int = 12, spread: float = 0.8):
    """M models' loadings: a shared part plus a model's own (CKA about 0.8 between models)."""
    shared = rng.normal(size=(rank, dim))
    latent_var = 1.0 / np.arange(1, rank + 1) ** 0.7
    return [shared + spread * rng.normal(size=(rank, dim)) for _ in range(m)], latent_var


def cka_features(rng, n: int, loadings, latent_var, noise: float = 1.0) -> list[np.ndarray]:
    z = rng.normal(size=(n, len(latent_var))) * np.sqrt(latent_var)
    return [z @ a + np.sqrt(noise) * rng.normal(size=(n, a.shape[1])) for a in loadings]


# ============================================================================ observers


@dataclass
class ObserverPopulation:
    """Crossed observers x stimuli: stimulus i has a difficulty u_i ~ N(0, 1); a person or
    model with ability alpha and reliance beta is right with probability
    sigmoid(alpha + beta u_i), independently given u. People differ in (alpha, beta):
    ``people`` is a large fixed population drawn once; a study tests ten of them."""

    people: np.ndarray          # (P, 2): alpha, beta per person
    model: tuple                # (alpha, beta) of the model

    @classmethod
    def make(cls, seed: int = 7, size: int = 2000, model=(0.2, 1.2)):
        rng = np.random.default_rng(seed)
        people = np.column_stack([rng.normal(0.6, 0.5, size), rng.gamma(4.0, 0.45, size)])
        return cls(people, model)

    def truth(self) -> float:
        """E over people of the population kappa between the model and that person."""
        a_m, b_m = self.model
        return float(np.mean([kappa_truth(a_m, a, b_m, b) for a, b in self.people]))

    def draw(self, rng, n: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """(model correct (n,), observers correct (n, h)) of one study."""
        u = rng.normal(size=n)
        who = self.people[rng.integers(0, len(self.people), size=h)]
        a_m, b_m = self.model
        model = rng.uniform(size=n) < expit(a_m + b_m * u)
        obs = rng.uniform(size=(n, h)) < expit(who[:, 0][None, :] + who[:, 1][None, :] * u[:, None])
        return model, obs
