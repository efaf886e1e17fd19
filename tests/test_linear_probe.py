"""The linear probe (metrics.linear_probe) on hand-built tasks with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from beyond_inet_lib import metrics as M
from beyond_inet_lib.metrics.linear_probe import (_fit_predict_sklearn, _fit_predict_torch,
                                                  _standardise)


def _blobs(rng, n, d=20, k=4, sep=4.0, prior=None):
    centres = np.random.default_rng(99).normal(size=(k, d))
    centres = sep * centres / np.linalg.norm(centres, axis=1, keepdims=True)
    y = rng.choice(k, size=n, p=prior)
    return centres[y] + rng.normal(size=(n, d)), y


@pytest.fixture(scope="module")
def probe_task():
    rng = np.random.default_rng(0)
    prior = [0.55, 0.15, 0.15, 0.15]   # imbalance: a heavily regularised model falls back to the prior
    return [_blobs(rng, n, prior=prior) for n in (400, 200, 400)]


C_GRID = (1e-5, 1e-3, 1e-1, 10.0)


def test_linear_probe_sklearn_recovers_separable_task(probe_task):
    (tx, ty), (vx, vy), (sx, sy) = probe_task
    out = M.linear_probe(tx, ty, vx, vy, sx, sy, c_grid=C_GRID)
    assert out["backend"] == "sklearn"
    assert out["test_accuracy"] > 0.95
    assert out["val_scores"][out["best_c"]] == max(out["val_scores"].values())
    assert out["best_c"] > 1e-5
    assert out["val_scores"][1e-5] < out["val_scores"][out["best_c"]] - 0.2   # underfits: the prior


def test_linear_probe_torch_backend_agrees_on_cpu(probe_task):
    pytest.importorskip("torch")
    (tx, ty), (vx, vy), (sx, sy) = probe_task
    sk = M.linear_probe(tx, ty, vx, vy, sx, sy, c_grid=C_GRID)
    th = M.linear_probe(tx, ty, vx, vy, sx, sy, c_grid=C_GRID, device="cpu", backend="torch")
    assert th["backend"] == "torch"
    assert th["test_accuracy"] == pytest.approx(sk["test_accuracy"], abs=0.02)
    for c in C_GRID:
        assert th["val_scores"][c] == pytest.approx(sk["val_scores"][c], abs=0.02)
    # same objective, same minimiser: predictions agree point for point
    (tz, vz) = _standardise(tx, tx, vx)
    (p_sk,) = _fit_predict_sklearn(tz, ty, [vz], 0.1, 1000)
    (p_th,) = _fit_predict_torch(tz, ty, [vz], 0.1, 1000, "cpu")
    assert np.mean(p_sk == p_th) >= 0.99
