"""Transformation invariance: top-1 and true-class probability per transform value.

Protocol: ``docs/protocols.md``, section Transformation invariance.
"""

from __future__ import annotations

import pandas as pd


def invariance_curve(table: pd.DataFrame) -> pd.DataFrame:
    """Transformation invariance curves (docs/protocols.md, Transformation invariance).

    ``table``: rows model, transform (scale/shift/resolution), value, correct, true_prob.
    Returns one row per (model, transform, value): top1 = mean(correct),
    mean_true_prob = mean(true_prob), n_images; sorted by model, transform, value.
    """
    need = {"model", "transform", "value", "correct", "true_prob"}
    missing = need - set(table.columns)
    if missing:
        raise KeyError(f"invariance_curve: table lacks columns {sorted(missing)}")
    t = table.assign(correct=table["correct"].astype(float))
    return (t.groupby(["model", "transform", "value"], sort=True)
            .agg(top1=("correct", "mean"), mean_true_prob=("true_prob", "mean"),
                 n_images=("correct", "size"))
            .reset_index())
