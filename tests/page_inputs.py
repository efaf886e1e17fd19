"""Hand-built inputs for the pages' pure ``build`` functions: a Study without notebook
display, and engine Results whose logits encode chosen decisions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from beyond_inet_lib import engine, pages
from beyond_inet_lib.config import load_profile
from beyond_inet_lib.data import DatasetIndex
from beyond_inet_lib.models import get_model
from beyond_inet_lib.pages import Answer, Request
from beyond_inet_lib.views import View


def study(prop: str, models=("convnext_sup", "vit_sup", "vit_clip"), *, n_boot: int = 300, seed: int = 0,
          data_root=None) -> pages.Study:
    """A Study of ``models`` (registry keys: specs only, nothing is loaded), ``n_boot``
    resamples per interval, no panels shown."""
    profile = replace(load_profile("tiny"), bootstrap=n_boot, seed=seed)
    return pages.Study(profile, data_root, None, prop, [get_model(k) for k in models], show=False)


def logits_for(classes, n_classes: int = 1000, margin: float = 12.0) -> np.ndarray:
    """(n, 1000) logits whose argmax is ``classes[i]`` with probability close to 1."""
    classes = np.asarray(classes)
    out = np.zeros((len(classes), n_classes), dtype=np.float32)
    out[np.arange(len(classes)), classes] = margin
    return out


def answer(name: str, dataset: DatasetIndex, logits_by_key: dict, table=None, **request) -> Answer:
    """An Answer with one Result per model (view 'default'); ``table``: per-model tables
    (default: the dataset's)."""
    results = engine.Results()
    for key, logits in logits_by_key.items():
        t = dataset.table if table is None else table[key]
        results[(key, "default")] = engine.Result(key, "default", View(), dataset.name, t.reset_index(drop=True),
                                                  logits=np.asarray(logits, dtype=np.float32))
    models = [get_model(k) for k in logits_by_key]
    return Answer(Request(name, dataset, models, **request), results)


def dataset(name: str, table: pd.DataFrame, root=".", **kw) -> DatasetIndex:
    return DatasetIndex(name, root, table, **kw)
