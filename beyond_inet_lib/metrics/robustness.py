"""Robustness: ImageNet-C's mean of means and the paper's seven-variant average.

Protocol: ``docs/protocols.md``, section Robustness. Per-variant top-1 itself is
``classification.top1`` / ``multilabel_top1``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

# the same list, in the same order, as data.ROBUSTNESS_VARIANTS (metrics import leaf modules only;
# tests/test_metrics.py checks the two agree)
ROBUSTNESS_VARIANTS = ("imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch",
                       "imagenet-c", "imagenet-real", "imagenet-hard")


def _variant_key(name: str) -> str:
    """'ImageNet_A', 'a', 'imagenet-a' -> 'imagenet-a'."""
    key = str(name).lower().replace("_", "-")
    return key if key.startswith("imagenet-") else f"imagenet-{key}"


def imagenet_c_summary(table: pd.DataFrame) -> pd.DataFrame:
    """ImageNet-C accuracy (docs/protocols.md, Robustness).

    ``table``: rows with corruption, severity (1..5), correct. Returns a DataFrame indexed
    by corruption, columns = severities (accuracy per corruption x severity) and ``mean``
    (mean over that corruption's severities); a last row ``mean`` holds the mean over
    corruptions of each column. The headline number
        acc_C = mean_corruption( mean_severity( acc(corruption, severity) ) )
    is ``result.loc["mean", "mean"]`` (also ``result.attrs["mean"]``). A severity that is
    absent for a corruption is left out of that corruption's mean.
    """
    missing = {"corruption", "severity", "correct"} - set(table.columns)
    if missing:
        raise KeyError(f"imagenet_c_summary: table lacks columns {sorted(missing)}")
    sev = table["severity"].astype(int)
    if not sev.between(1, 5).all():
        raise ValueError("imagenet_c_summary: severities must be 1..5")
    acc = (table.assign(severity=sev, correct=table["correct"].astype(float))
           .pivot_table(index="corruption", columns="severity", values="correct", aggfunc="mean"))
    acc.columns = [int(c) for c in acc.columns]
    acc["mean"] = acc.mean(axis=1)
    acc.loc["mean"] = acc.mean(axis=0)
    acc.index.name = "corruption"
    acc.attrs["mean"] = float(acc.loc["mean", "mean"])
    return acc


def robustness_average(acc_by_variant: Mapping[str, float], allow_missing: bool = False) -> float:
    """The paper's robustness "average" (docs/protocols.md, Robustness): mean top-1 of the seven variants
    V2, A, C, Hard, R, Sketch, ReaL; ImageNet val is NOT part of it (ignored if given).

    Keys like 'imagenet-a', 'a' or 'ImageNet_A' are accepted. A missing variant raises
    unless ``allow_missing`` (then: mean over those present).
    """
    acc = {}
    for name, value in acc_by_variant.items():
        key = _variant_key(name)
        if key in ("imagenet-val", "imagenet-imagenet", "imagenet-1k", "imagenet-samples"):
            continue
        if key not in ROBUSTNESS_VARIANTS:
            raise KeyError(f"unknown robustness variant {name!r}; expected {ROBUSTNESS_VARIANTS}")
        acc[key] = float(value)
    absent = [v for v in ROBUSTNESS_VARIANTS if v not in acc]
    if absent and not allow_missing:
        raise ValueError(f"robustness_average needs all seven variants; missing {absent} "
                         "(pass allow_missing=True for the mean of those present)")
    if not acc:
        raise ValueError("robustness_average: no variant given")
    return float(np.mean(list(acc.values())))
