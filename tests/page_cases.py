"""Hand-made studies, datasets and engine results for the page tests: a page's ``build`` is
pure, so it is tested on predictions whose right answers are known, with no model run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from beyond_inet_lib import engine, pages
from beyond_inet_lib.config import load_profile
from beyond_inet_lib.data import DatasetIndex
from beyond_inet_lib.models import get_model
from beyond_inet_lib.pages import Answer, Request


def study(prop: str, models=("convnext_sup", "vit_sup"), n_boot: int = 1000, **settings) -> pages.Study:
    """A Study of ``models`` (specs only: nothing is loaded) on the tiny profile, panels
    off, ``n_boot`` resamples, the property's settings overridden by ``settings``."""
    prof = load_profile("tiny")
    prof.bootstrap = n_boot
    if settings:
        prof.properties[prop] = pages.PROPERTIES[prop].settings(**settings)
    return pages.Study(prof, None, None, prop, [get_model(k) for k in models], show=False)


def logits_for(pred, n_classes: int = 1000, true=None, true_logit: float = 0.0) -> np.ndarray:
    """(N, n_classes) logits whose argmax is ``pred`` (logit 5 there, 0 elsewhere); with
    ``true``, that class gets ``true_logit`` (below 5 unless it is the prediction)."""
    pred = np.asarray(pred)
    z = np.zeros((len(pred), n_classes), dtype=np.float32)
    if true is not None:
        z[np.arange(len(pred)), np.asarray(true)] = true_logit
    z[np.arange(len(pred)), pred] = 5.0
    return z


def dataset(name: str, table: pd.DataFrame, **kw) -> DatasetIndex:
    return DatasetIndex(name, "/nonexistent", table, **kw)


def answer(name: str, ds: DatasetIndex, per_model: dict, *, views=None, outputs="logits",
           models=None) -> Answer:
    """An Answer for request ``name``: ``per_model`` maps model key -> array (logits or
    features, by ``outputs``) or, with ``views``, model key -> {view name: array}."""
    results = engine.Results()
    for key, value in per_model.items():
        spec = get_model(key.split("@")[0])
        by_view = value if views else {"default": value}
        for view_name, arr in by_view.items():
            kw = {"logits": arr} if outputs == "logits" else {"features": arr}
            results[(key, view_name)] = engine.Result(key, view_name, spec.view("paper"), ds.name,
                                                      ds.table, **kw)
    return Answer(Request(name, ds, models or []), results)


def top_only(ans: Answer) -> Answer:
    """``ans`` with each result's logits replaced by what the ``top`` output keeps: the
    argmax and its softmax probability."""
    results = engine.Results()
    for key, r in ans.results.items():
        z = np.asarray(r.logits, dtype=np.float64)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        results[key] = engine.Result(r.model, r.view_name, r.view, r.dataset, r.table,
                                     top_index=p.argmax(axis=1).astype(np.int32),
                                     top_prob=p.max(axis=1).astype(np.float32))
    return Answer(ans.request, results)
