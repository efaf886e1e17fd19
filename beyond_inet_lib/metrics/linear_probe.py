"""Linear probe on frozen features: the transfer experiment (VTAB-1k).

Protocol: ``docs/protocols.md``, section Transferability. The paper shipped no code for it and
points at OpenCLIP's evaluation; two protocols are offered and the result says which ran:

``"clip_benchmark"`` (default; LAION's CLIP_benchmark ``metrics/linear_probe.py``)
    features L2-normalised, x / max(||x||_2, 1e-12); one linear layer z = W x + b trained
    with AdamW (lr 0.1, 10 epochs, batch 64, reshuffled each epoch, cosine schedule
    lr_t = lr * (1 + cos(pi * t / T)) / 2 over all T steps, no warm-up; decoupled weight
    decay on W and b) on the cross-entropy; weight decay chosen on val from
    logspace(-6, 2, 97) by their coarse-to-fine search; retrained on train + val with the
    chosen value, scored on test.
``"logreg"``
    features z-scored with the train statistics; multinomial L2 logistic regression
    (scikit-learn lbfgs, or the same objective in torch); C chosen on val from a 5-value
    grid; refit on train + val; scored on test.

Measured on scikit-learn's digits (raw pixels, 800 / 200 / 797, three random splits) the
AdamW probe scores 1.4 to 3.3 points below the logistic regression (93-95% vs 95-97%;
tests/test_linear_probe.py): say on a page which protocol ran.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ._arrays import as_numpy

PROTOCOLS = ("clip_benchmark", "logreg")
DEFAULT_C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
#: CLIP_benchmark's sweep: 97 values, 12 per decade, from 1e-6 to 1e2
CLIP_BENCHMARK_WEIGHT_DECAYS = tuple(float(v) for v in np.logspace(-6, 2, num=97))
#: its first pass: every 16th value of the sweep (1e-6, 2.15e-5, ..., 1e2)
_COARSE = tuple(range(0, len(CLIP_BENCHMARK_WEIGHT_DECAYS), 16))


def linear_probe(train_x, train_y, val_x, val_y, test_x, test_y,
                 protocol: str = "clip_benchmark", *, seed: int = 0, lr: float = 0.1,
                 epochs: int = 10, batch_size: int = 64,
                 c_grid: Sequence[float] | None = None, device=None,
                 backend: str = "auto", max_iter: int = 1000) -> dict:
    """Top-1 of a linear classifier on frozen features (docs/protocols.md, Transferability).

    ``protocol``: ``"clip_benchmark"`` (the paper's; ``seed``, ``lr``, ``epochs``,
    ``batch_size``, ``device`` apply) or ``"logreg"`` (``c_grid``, ``backend``,
    ``max_iter``, ``device`` apply); the module docstring states both. Labels may be any
    integers; a test label never seen in train + val counts as wrong.

    Returns dict: protocol, test_accuracy, test_correct (per test image, bool: what an
    interval over test images resamples; test_accuracy is its mean), hyperparameter
    ("weight_decay" or "C"), best_value (the chosen one), val_scores {value: val top-1} for
    every value tried, n_train, n_val, n_test; clip_benchmark adds weight_decay, seed, lr, epochs,
    batch_size; logreg adds best_c and backend.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"linear_probe: protocol must be one of {PROTOCOLS}, not {protocol!r}")
    tx, vx, sx = (as_numpy(a) for a in (train_x, val_x, test_x))
    ty, vy, sy = (as_numpy(a).ravel() for a in (train_y, val_y, test_y))
    for name, xa, ya in (("train", tx, ty), ("val", vx, vy), ("test", sx, sy)):
        if xa.ndim != 2 or len(xa) != len(ya) or len(xa) == 0:
            raise ValueError(f"linear_probe: {name} needs (N, D) features and N labels, "
                             f"got {xa.shape} and {ya.shape}")
    sizes = {"n_train": len(tx), "n_val": len(vx), "n_test": len(sx)}
    if protocol == "logreg":
        tx, vx, sx = (a.astype(np.float64) for a in (tx, vx, sx))
        out = _logreg_probe(tx, ty, vx, vy, sx, sy, DEFAULT_C_GRID if c_grid is None else c_grid,
                            device, backend, max_iter)
        return {"protocol": protocol, "test_accuracy": out["test_accuracy"], "hyperparameter": "C",
                "best_value": out["best_c"], **out, **sizes}
    if c_grid is not None:
        raise ValueError("linear_probe: c_grid belongs to protocol='logreg'; the clip_benchmark "
                         "protocol sweeps its own weight-decay grid")
    out = _clip_benchmark_probe(tx, ty, vx, vy, sx, sy, seed, lr, epochs, batch_size, device)
    return {"protocol": protocol, "test_accuracy": out["test_accuracy"],
            "hyperparameter": "weight_decay", "best_value": out["weight_decay"], **out, **sizes,
            "seed": seed, "lr": lr, "epochs": epochs, "batch_size": batch_size}


# ================================================================== clip_benchmark


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """x / max(||x||_2, 1e-12) per row (torch's ``F.normalize``, as CLIP_benchmark's featurizer),
    as float32, the precision the linear layer computes in; the norm and the quotient are
    computed in float64 and rounded once. One pass over the features, no float64 copy of
    them: a test split of 75,000 x 768 takes 0.1 s instead of 1.1 s."""
    x = as_numpy(x)
    norm = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    out = np.empty(x.shape, dtype=np.float32)
    return np.divide(x, np.maximum(norm, 1e-12)[:, None], out=out, casting="unsafe")


def train_linear_adamw(x, y, n_classes: int, weight_decay: float, *, lr: float = 0.1,
                       epochs: int = 10, batch_size: int = 64, seed: int = 0, device=None):
    """One linear layer trained as CLIP_benchmark's ``train``: returns (W (K, D), b (K,)).
    ``train_linear_adamw_many`` with one weight decay (its docstring states the training)."""
    w, b = train_linear_adamw_many(x, y, n_classes, [weight_decay], lr=lr, epochs=epochs,
                                   batch_size=batch_size, seed=seed, device=device)
    return w[0], b[0]


def train_linear_adamw_many(x, y, n_classes: int, weight_decays, *, lr: float = 0.1,
                            epochs: int = 10, batch_size: int = 64, seed: int = 0, device=None):
    """M linear layers, one per weight decay, trained together as CLIP_benchmark's ``train``
    trains one: returns (W (M, K, D), b (M, K)).

    Each layer: init as ``torch.nn.Linear`` (W, b ~ U(-1/sqrt(D), 1/sqrt(D))), mini-batches
    of a fresh permutation each epoch (the last one short), lr set per step by the cosine
    schedule lr_t = lr (1 + cos(pi t / T)) / 2 before the step, on the mean cross-entropy,
    whose gradient is (softmax(z) - onehot(y)) / B; then ``torch.optim.AdamW``'s step
    (betas 0.9 / 0.999, eps 1e-8, decoupled decay on W and b):

        theta <- theta (1 - lr_t wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
        theta <- theta - lr_t / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    All randomness comes from one generator seeded with ``seed``, not torch's global RNG:
    every layer starts from the same init and sees the same batches, as M separate seeded
    runs would (the same layers up to float32 rounding; the tests compare with
    ``torch.optim.AdamW``). A step's work is a few small matrix products, so its fixed cost
    is paid once for all M: the 7 coarse decays of the search train in about 4 times the
    time of one, not 7.
    """
    import torch

    dev = torch.device(device or "cpu")
    gen = torch.Generator().manual_seed(int(seed))
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=dev)
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64), device=dev)
    n, d = xt.shape
    decay = torch.as_tensor(np.asarray(weight_decays, dtype=np.float32).ravel(), device=dev)
    m, k = len(decay), int(n_classes)
    bound = 1.0 / math.sqrt(d)
    w0 = (torch.rand(k, d, generator=gen) * 2 - 1) * bound
    b0 = (torch.rand(k, generator=gen) * 2 - 1) * bound
    params = [w0.to(dev).expand(m, k, d).clone(), b0.to(dev).expand(m, k).clone()]
    decays = [decay[:, None, None], decay[:, None]]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    per_epoch = math.ceil(n / batch_size)
    total = epochs * per_epoch
    step = 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(dev)
        for i in range(per_epoch):
            rate = 0.5 * (1 + math.cos(math.pi * step / total)) * lr
            idx = order[i * batch_size:(i + 1) * batch_size]
            xb, yb = xt[idx], yt[idx]
            w, b = params
            z = (xb @ w.reshape(m * k, d).T).view(len(idx), m, k) + b
            g = torch.softmax(z, dim=2)
            g[torch.arange(len(idx), device=dev), :, yb] -= 1.0
            g /= len(idx)
            grads = [(g.reshape(len(idx), m * k).T @ xb).view(m, k, d), g.sum(dim=0)]
            step += 1
            c1, c2 = 1 - beta1 ** step, math.sqrt(1 - beta2 ** step)
            for p, grad, wd, (avg, avg_sq) in zip(params, grads, decays, moments):
                p.mul_(1 - rate * wd)
                avg.lerp_(grad, 1 - beta1)
                avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                p.addcdiv_(avg, (avg_sq.sqrt() / c2).add_(eps), value=-rate / c1)
    return params[0], params[1]


def _predict(wb, x: np.ndarray) -> np.ndarray:
    """Class index per row; -1 (never correct) where the logits are not finite: the largest
    decays of the sweep make AdamW's decoupled step (1 - lr * wd) < -1 and the weights blow
    up. Such a model scores 0 instead of whatever argmax makes of NaN."""
    import torch

    w, b = wb
    with torch.no_grad():
        logits = (torch.as_tensor(np.asarray(x, dtype=np.float32), device=w.device) @ w.T + b).cpu().numpy()
    pred = logits.argmax(axis=1)
    pred[~np.isfinite(logits).all(axis=1)] = -1
    return pred


def search_weight_decay(val_accuracies) -> tuple[int, dict[int, float]]:
    """CLIP_benchmark's coarse-to-fine search over ``CLIP_BENCHMARK_WEIGHT_DECAYS``.

    1. score the 7 coarse indices 0, 16, ..., 96; peak = best;
    2. for span 8, 4, 2, 1: score [peak - span, peak, peak + span] (clipped to the grid),
       peak = best of the three.
    "Best" = highest val accuracy, ties to the first scored in that order (their
    ``find_peak`` keeps a strict ``<``). ``val_accuracies(indices) -> accuracies`` is called
    once per step with the indices that step has not scored yet (the 7 coarse ones together,
    then at most two), so a step's layers can train together; seeded training makes a
    repeat identical, so none is repeated. Returns (peak index, {index: accuracy} of every
    index scored).
    """
    scores: dict[int, float] = {}

    def peak(indices):
        new = [i for i in dict.fromkeys(indices) if i not in scores]
        if new:
            scores.update(zip(new, (float(a) for a in val_accuracies(new))))
        best, best_acc = indices[0], -math.inf
        for i in indices:
            if scores[i] > best_acc:
                best, best_acc = i, scores[i]
        return best

    last = len(CLIP_BENCHMARK_WEIGHT_DECAYS) - 1
    p = peak(list(_COARSE))
    span = 8
    while span > 0:
        p = peak([max(p - span, 0), p, min(p + span, last)])
        span //= 2
    return p, scores


def _clip_benchmark_probe(tx, ty, vx, vy, sx, sy, seed, lr, epochs, batch_size, device) -> dict:
    classes = np.unique(np.concatenate([ty, vy]))
    ti, vi = np.searchsorted(classes, ty), np.searchsorted(classes, vy)
    tx, vx, sx = l2_normalise(tx), l2_normalise(vx), l2_normalise(sx)
    k = len(classes)

    def fit(x, y, decays):
        return train_linear_adamw_many(x, y, k, decays, lr=lr, epochs=epochs, batch_size=batch_size,
                                       seed=seed, device=device)

    def val_accuracies(indices):
        w, b = fit(tx, ti, [CLIP_BENCHMARK_WEIGHT_DECAYS[i] for i in indices])
        return [float(np.mean(_predict((w[j], b[j]), vx) == vi)) for j in range(len(indices))]

    best, scores = search_weight_decay(val_accuracies)
    wd = CLIP_BENCHMARK_WEIGHT_DECAYS[best]
    w, b = fit(np.concatenate([tx, vx]), np.concatenate([ti, vi]), [wd])
    pred = _predict((w[0], b[0]), sx)
    correct = (pred >= 0) & (classes[np.clip(pred, 0, k - 1)] == sy)
    return {"test_accuracy": float(np.mean(correct)), "test_correct": correct, "weight_decay": wd,
            "val_scores": {CLIP_BENCHMARK_WEIGHT_DECAYS[i]: a for i, a in sorted(scores.items())}}


# ========================================================================== logreg


def _standardise(fit_on: np.ndarray, *arrays):
    """z = (x - mean) / std with the train statistics (population std; a constant feature
    keeps scale 1, as sklearn's StandardScaler)."""
    mean = fit_on.mean(axis=0)
    std = fit_on.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return [(a - mean) / std for a in arrays]


def _fit_predict_sklearn(x, y, x_eval_list, c, max_iter):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, solver="lbfgs", max_iter=max_iter)
    clf.fit(x, y)
    return [clf.predict(xe) for xe in x_eval_list]


def _fit_predict_torch(x, y, x_eval_list, c, max_iter, device):
    """Multinomial logistic regression by full-batch L-BFGS in torch.

    sklearn minimises  C * sum_i CE_i + 1/2 ||W||^2  (bias not penalised); dividing by N
    gives the same minimiser as   mean_i CE_i + (lambda / 2) ||W||^2  with
    lambda = weight decay = 1 / (C * N).  That is what is minimised here.
    """
    import torch

    dev = torch.device(device or "cpu")
    dtype = torch.float64 if dev.type == "cpu" else torch.float32
    classes = np.unique(y)
    yi = torch.as_tensor(np.searchsorted(classes, y), device=dev)
    xt = torch.as_tensor(x, dtype=dtype, device=dev)
    n, d = xt.shape
    w = torch.zeros(d, len(classes), dtype=dtype, device=dev, requires_grad=True)
    b = torch.zeros(len(classes), dtype=dtype, device=dev, requires_grad=True)
    wd = 1.0 / (c * n)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20,
                            tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yi) + 0.5 * wd * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    out = []
    with torch.no_grad():
        for xe in x_eval_list:
            logits = torch.as_tensor(xe, dtype=dtype, device=dev) @ w + b
            out.append(classes[logits.argmax(dim=1).cpu().numpy()])
    return out


def _pick_backend(backend: str, device, n_values: int) -> str:
    if backend in ("sklearn", "torch"):
        return backend
    if backend != "auto":
        raise ValueError(f"backend must be 'auto', 'sklearn' or 'torch', not {backend!r}")
    if device is not None and str(device).startswith("cuda"):
        return "torch"
    if device is None and n_values >= 50_000_000:
        try:
            import torch
            return "torch" if torch.cuda.is_available() else "sklearn"
        except ImportError:
            return "sklearn"
    return "sklearn"


def _logreg_probe(tx, ty, vx, vy, sx, sy, c_grid, device, backend, max_iter) -> dict:
    """The "logreg" protocol:
    1. for each C in ``c_grid``: fit on train (standardised with train statistics),
       score top-1 on val;
    2. best C = highest val accuracy (ties: the smaller C, i.e. more regularisation);
    3. refit on train + val (re-standardised on train + val) with the best C; report top-1
       on test.
    backend: 'sklearn' (LogisticRegression), 'torch' (full-batch L-BFGS, same objective:
    weight decay = 1 / (C * N), see ``_fit_predict_torch``), or 'auto' (torch when
    ``device`` is a CUDA device, or features are very large and a GPU is present).
    """
    if not len(c_grid):
        raise ValueError("linear_probe: c_grid is empty")
    chosen = _pick_backend(backend, device, tx.size)
    if chosen == "torch" and device is None and backend == "auto":
        device = "cuda"  # auto picked torch because a GPU is present and the features are large

    def fit_predict(x, y, evals, c):
        if chosen == "torch":
            return _fit_predict_torch(x, y, evals, c, max_iter, device)
        return _fit_predict_sklearn(x, y, evals, c, max_iter)

    val_scores = {}
    tx_s, vx_s = _standardise(tx, tx, vx)
    for c in sorted(float(c) for c in c_grid):
        (pred,) = fit_predict(tx_s, ty, [vx_s], c)
        val_scores[c] = float(np.mean(pred == vy))
    best_c = max(val_scores, key=lambda c: (val_scores[c], -c))
    all_x, all_y = np.concatenate([tx, vx]), np.concatenate([ty, vy])
    all_s, sx_s = _standardise(all_x, all_x, sx)
    (pred,) = fit_predict(all_s, all_y, [sx_s], best_c)
    correct = np.asarray(pred == sy)
    return {"test_accuracy": float(np.mean(correct)), "test_correct": correct, "best_c": best_c,
            "val_scores": val_scores, "backend": chosen}
