"""The linear probe (metrics.linear_probe): CLIP_benchmark's protocol and the logistic
regression, on hand-built tasks with known answers and on a small real task."""

from __future__ import annotations

import numpy as np
import pytest

from beyond_inet_lib import metrics as M
from beyond_inet_lib.metrics.linear_probe import (_fit_predict_sklearn, _fit_predict_torch,
                                                  _standardise)

torch = pytest.importorskip("torch")


def _blobs(rng, n, d=20, k=4, sep=4.0, prior=None):
    centres = np.random.default_rng(99).normal(size=(k, d))
    centres = sep * centres / np.linalg.norm(centres, axis=1, keepdims=True)
    y = rng.choice(k, size=n, p=prior)
    return centres[y] + rng.normal(size=(n, d)), y


@pytest.fixture(scope="module")
def separable():
    """4 classes on 4 orthogonal axes, far apart: any sane probe is perfect on test."""
    rng = np.random.default_rng(0)

    def draw(n):
        y = rng.integers(0, 4, n)
        return 10.0 * np.eye(4, 16)[y] + 0.5 * rng.normal(size=(n, 16)), y + 10  # labels 10..13

    return draw(200), draw(60), draw(200)


def test_both_protocols_solve_a_separable_task(separable):
    (tx, ty), (vx, vy), (sx, sy) = separable
    cb = M.linear_probe(tx, ty, vx, vy, sx, sy)
    lr = M.linear_probe(tx, ty, vx, vy, sx, sy, protocol="logreg")
    assert cb["test_accuracy"] == 1.0 and lr["test_accuracy"] == 1.0
    assert (cb["protocol"], cb["hyperparameter"]) == ("clip_benchmark", "weight_decay")
    assert (lr["protocol"], lr["hyperparameter"]) == ("logreg", "C")
    assert cb["best_value"] == cb["weight_decay"] in M.CLIP_BENCHMARK_WEIGHT_DECAYS
    assert lr["best_value"] == lr["best_c"] in M.DEFAULT_C_GRID
    assert (cb["n_train"], cb["n_val"], cb["n_test"]) == (200, 60, 200)


def test_clip_benchmark_grid_is_theirs():
    grid = np.array(M.CLIP_BENCHMARK_WEIGHT_DECAYS)
    assert len(grid) == 97 and grid[0] == pytest.approx(1e-6) and grid[-1] == pytest.approx(100.0)
    np.testing.assert_allclose(np.diff(np.log10(grid)), 1 / 12)


def test_same_seed_same_model_other_seed_other_model(separable):
    (tx, ty), _, _ = separable
    x = M.l2_normalise(tx)
    w1, b1 = M.train_linear_adamw(x, ty - 10, 4, 1e-3, seed=3)
    w2, b2 = M.train_linear_adamw(x, ty - 10, 4, 1e-3, seed=3)
    w3, _ = M.train_linear_adamw(x, ty - 10, 4, 1e-3, seed=4)
    assert torch.equal(w1, w2) and torch.equal(b1, b2)
    assert not torch.equal(w1, w3)
    # the global RNG is neither used nor disturbed
    state = torch.random.get_rng_state()
    M.train_linear_adamw(x, ty - 10, 4, 1e-3, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())


def test_same_seed_same_accuracy_on_a_noisy_task():
    rng = np.random.default_rng(5)
    (tx, ty), (vx, vy), (sx, sy) = (_blobs(rng, n, sep=1.5) for n in (150, 60, 200))
    a = M.linear_probe(tx, ty, vx, vy, sx, sy, seed=7)
    b = M.linear_probe(tx, ty, vx, vy, sx, sy, seed=7)
    assert 0.3 < a["test_accuracy"] < 1.0   # noisy enough that the seed could matter
    assert a["test_accuracy"] == b["test_accuracy"] and a["val_scores"] == b["val_scores"]


def test_weight_decay_search_finds_a_known_peak():
    """CLIP_benchmark's coarse-to-fine search on a unimodal score peaking at index 37:
    coarse 32 -> [24, 32, 40] -> 40 -> [36, 40, 44] -> 36 -> [34, 36, 38] -> 36 (tie with 38:
    the first scored stays) -> [35, 36, 37] -> 37. Each step asks for its new indices at once."""
    calls = []

    def score(indices):
        calls.append(list(indices))
        return [-abs(i - 37) for i in indices]

    best, scores = M.search_weight_decay(score)
    assert best == 37
    assert calls == [[0, 16, 32, 48, 64, 80, 96], [24, 40], [36, 44], [34, 38], [35, 37]]
    assert sorted(scores) == [0, 16, 24, 32, 34, 35, 36, 37, 38, 40, 44, 48, 64, 80, 96]


def test_layers_trained_together_equal_torch_adamw_one_at_a_time():
    """``train_linear_adamw_many`` against CLIP_benchmark's loop written with torch's own
    ``AdamW`` and autograd, one weight decay at a time, across the sweep: the same weights
    (float32 rounding apart) and the same predictions; the largest decay diverges in both."""
    import math
    import torch.nn.functional as F

    def reference(x, y, k, wd, lr=0.1, epochs=10, batch_size=64, seed=0):
        gen = torch.Generator().manual_seed(seed)
        xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
        n, d = xt.shape
        w = ((torch.rand(k, d, generator=gen) * 2 - 1) / math.sqrt(d)).requires_grad_()
        b = ((torch.rand(k, generator=gen) * 2 - 1) / math.sqrt(d)).requires_grad_()
        opt = torch.optim.AdamW([w, b], lr=lr, weight_decay=wd)
        per_epoch = math.ceil(n / batch_size)
        step = 0
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            for i in range(per_epoch):
                for group in opt.param_groups:
                    group["lr"] = 0.5 * (1 + math.cos(math.pi * step / (epochs * per_epoch))) * lr
                idx = order[i * batch_size:(i + 1) * batch_size]
                loss = F.cross_entropy(xt[idx] @ w.T + b, yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
        return w.detach(), b.detach()

    rng = np.random.default_rng(3)
    x, y = _blobs(rng, 300, d=32, k=5, sep=1.5)
    x = M.l2_normalise(x)
    decays = [M.CLIP_BENCHMARK_WEIGHT_DECAYS[i] for i in (0, 24, 48, 60, 72, 84, 96)]
    w, b = M.train_linear_adamw_many(x, y, 5, decays, seed=4)
    assert w.shape == (7, 5, 32) and b.shape == (7, 5)
    xt = torch.as_tensor(x, dtype=torch.float32)
    for j, wd in enumerate(decays):
        rw, rb = reference(x, y, 5, wd, seed=4)
        if not torch.isfinite(rw).all():
            assert wd == 100.0 and not torch.isfinite(w[j]).all()
            continue
        torch.testing.assert_close(w[j], rw, atol=2e-4, rtol=1e-3)
        torch.testing.assert_close(b[j], rb, atol=2e-4, rtol=1e-3)
        assert torch.equal((xt @ w[j].T + b[j]).argmax(1), (xt @ rw.T + rb).argmax(1))
    one_w, one_b = M.train_linear_adamw(x, y, 5, decays[2], seed=4)   # alone: the same layer
    torch.testing.assert_close(one_w, w[2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(one_b, b[2], atol=1e-5, rtol=1e-5)


def test_weight_decay_is_chosen_on_val():
    """Same train set, two val sets. Val = the train set itself: every decay too small to
    matter fits it equally well, so the first of the sweep (1e-6) is chosen. Val = the train
    images with every label shifted by one class: a model that fits train is always wrong
    there, so the search must move to decays large enough to break the fit, and the test
    accuracy collapses with it. The choice follows val, not train."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    x = 3.0 * np.eye(4, 20)[y] + rng.normal(size=(200, 20))
    sy = rng.integers(0, 4, 200)
    sx = 3.0 * np.eye(4, 20)[sy] + rng.normal(size=(200, 20))
    honest = M.linear_probe(x, y, x, y, sx, sy)
    shifted = M.linear_probe(x, y, x, (y + 1) % 4, sx, sy)
    assert honest["best_value"] == M.CLIP_BENCHMARK_WEIGHT_DECAYS[0]
    assert shifted["best_value"] >= 10.0
    for out in (honest, shifted):
        assert out["val_scores"][out["best_value"]] == max(out["val_scores"].values())
    assert honest["test_accuracy"] > 0.8 and shifted["test_accuracy"] < 0.5
    # the recorded val score is what a model trained on train alone scores on that val
    model = M.train_linear_adamw(M.l2_normalise(x), y, 4, honest["best_value"])
    with torch.no_grad():
        pred = (torch.as_tensor(M.l2_normalise(x), dtype=torch.float32) @ model[0].T + model[1]).argmax(1).numpy()
    assert honest["val_scores"][honest["best_value"]] == pytest.approx(np.mean(pred == y))


def test_protocol_arguments_are_checked(separable):
    (tx, ty), (vx, vy), (sx, sy) = separable
    with pytest.raises(ValueError, match="protocol"):
        M.linear_probe(tx, ty, vx, vy, sx, sy, protocol="sgd")
    with pytest.raises(ValueError, match="c_grid"):
        M.linear_probe(tx, ty, vx, vy, sx, sy, c_grid=(1.0,))


def test_an_unseen_test_class_counts_as_wrong(separable):
    (tx, ty), (vx, vy), (sx, sy) = separable
    sy = sy.copy()
    sy[:20] = 99                                   # a class train and val never show
    out = M.linear_probe(tx, ty, vx, vy, sx, sy)
    assert out["test_accuracy"] == pytest.approx(180 / 200)


# Measured here (test split of 797): clip_benchmark - logreg = -3.3, -1.9, -1.4 points on
# the three splits; both protocols score 93-97%.
@pytest.mark.parametrize("split_seed", [0, 1, 2])
def test_protocols_agree_on_real_digits(split_seed):
    """scikit-learn's handwritten digits (8x8 pixels as 64 raw features; 800 train / 200
    val / 797 test): a real, small task. The two protocols land within a few points."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    p = np.random.default_rng(split_seed).permutation(len(x))
    tr, va, te = p[:800], p[800:1000], p[1000:]
    cb = M.linear_probe(x[tr], y[tr], x[va], y[va], x[te], y[te])
    lr = M.linear_probe(x[tr], y[tr], x[va], y[va], x[te], y[te], protocol="logreg")
    assert cb["test_accuracy"] > 0.9 and lr["test_accuracy"] > 0.9
    assert abs(cb["test_accuracy"] - lr["test_accuracy"]) < 0.05


# ========================================================================= logreg


@pytest.fixture(scope="module")
def probe_task():
    rng = np.random.default_rng(0)
    prior = [0.55, 0.15, 0.15, 0.15]   # imbalance: a heavily regularised model falls back to the prior
    return [_blobs(rng, n, prior=prior) for n in (400, 200, 400)]


C_GRID = (1e-5, 1e-3, 1e-1, 10.0)


def test_logreg_recovers_separable_task(probe_task):
    (tx, ty), (vx, vy), (sx, sy) = probe_task
    out = M.linear_probe(tx, ty, vx, vy, sx, sy, protocol="logreg", c_grid=C_GRID)
    assert out["backend"] == "sklearn"
    assert out["test_accuracy"] > 0.95
    assert out["val_scores"][out["best_c"]] == max(out["val_scores"].values())
    assert out["best_c"] > 1e-5
    assert out["val_scores"][1e-5] < out["val_scores"][out["best_c"]] - 0.2   # underfits: the prior


def test_logreg_torch_backend_agrees_on_cpu(probe_task):
    (tx, ty), (vx, vy), (sx, sy) = probe_task
    sk = M.linear_probe(tx, ty, vx, vy, sx, sy, protocol="logreg", c_grid=C_GRID)
    th = M.linear_probe(tx, ty, vx, vy, sx, sy, protocol="logreg", c_grid=C_GRID, device="cpu",
                        backend="torch")
    assert th["backend"] == "torch"
    assert th["test_accuracy"] == pytest.approx(sk["test_accuracy"], abs=0.02)
    for c in C_GRID:
        assert th["val_scores"][c] == pytest.approx(sk["val_scores"][c], abs=0.02)
    # same objective, same minimiser: predictions agree point for point
    (tz, vz) = _standardise(tx, tx, vx)
    (p_sk,) = _fit_predict_sklearn(tz, ty, [vz], 0.1, 1000)
    (p_th,) = _fit_predict_torch(tz, ty, [vz], 0.1, 1000, "cpu")
    assert np.mean(p_sk == p_th) >= 0.99
