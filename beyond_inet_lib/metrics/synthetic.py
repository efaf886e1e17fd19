"""Synthetic data: PUG-ImageNet top-1 per factor of variation.

Protocol: ``docs/protocols.md``, section Synthetic data.
"""

from __future__ import annotations

import pandas as pd

from ._arrays import label_set


def pug_factor_accuracy(table: pd.DataFrame) -> pd.DataFrame:
    """PUG-ImageNet top-1 per factor (docs/protocols.md, Synthetic data).

    ``table``: columns factor, pred (argmax over 1,000), label_set (the true class's
    ImageNet indices: Shirt and Sweatshirt both [841]). correct = pred in label_set.
    Returns columns factor, accuracy, n_images, one row per factor (first-seen order),
    then a row factor="mean" = unweighted mean of the factor accuracies
    (also ``result.attrs["mean"]``).
    """
    missing = {"factor", "pred", "label_set"} - set(table.columns)
    if missing:
        raise KeyError(f"pug_factor_accuracy: table lacks columns {sorted(missing)}")
    correct = [int(p) in label_set(s) for p, s in zip(table["pred"], table["label_set"])]
    t = pd.DataFrame({"factor": table["factor"].to_numpy(), "correct": correct})
    per = (t.groupby("factor", sort=False)["correct"].agg(accuracy="mean", n_images="size")
           .reset_index())
    mean = float(per["accuracy"].mean())
    out = pd.concat([per, pd.DataFrame([{"factor": "mean", "accuracy": mean,
                                         "n_images": int(per["n_images"].sum())}])],
                    ignore_index=True)
    out.attrs["mean"] = mean
    return out
