"""Linear probe on frozen features: the transfer experiment (VTAB-1k).

Protocol: ``docs/protocols.md``, section Transferability.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ._arrays import as_numpy

DEFAULT_C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


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


def linear_probe(train_x, train_y, val_x, val_y, test_x, test_y,
                 c_grid: Sequence[float] = DEFAULT_C_GRID, device=None,
                 backend: str = "auto", max_iter: int = 1000) -> dict:
    """Linear probe on frozen features (docs/protocols.md, Transferability).

    Multinomial logistic regression (L2, lbfgs) on standardised features:
    1. for each C in ``c_grid``: fit on train (standardised with train statistics),
       score top-1 on val;
    2. best C = highest val accuracy (ties: the smaller C, i.e. more regularisation);
    3. refit on train + val (re-standardised on train + val) with the best C; report top-1
       on test.
    backend: 'sklearn' (LogisticRegression), 'torch' (full-batch L-BFGS, same objective:
    weight decay = 1 / (C * N), see ``_fit_predict_torch``), or 'auto' (torch when
    ``device`` is a CUDA device, or features are very large and a GPU is present).
    Returns dict: test_accuracy, best_c, val_scores {C: val top-1}, backend, n_train,
    n_val, n_test.
    """
    tx, vx, sx = (as_numpy(a).astype(np.float64) for a in (train_x, val_x, test_x))
    ty, vy, sy = (as_numpy(a).ravel() for a in (train_y, val_y, test_y))
    for name, xa, ya in (("train", tx, ty), ("val", vx, vy), ("test", sx, sy)):
        if xa.ndim != 2 or len(xa) != len(ya) or len(xa) == 0:
            raise ValueError(f"linear_probe: {name} needs (N, D) features and N labels, "
                             f"got {xa.shape} and {ya.shape}")
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
    return {"test_accuracy": float(np.mean(pred == sy)), "best_c": best_c,
            "val_scores": val_scores, "backend": chosen,
            "n_train": len(tx), "n_val": len(vx), "n_test": len(sx)}
