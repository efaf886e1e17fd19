"""ImageNet-X: error ratios per factor of variation (Idrissi et al. 2023), and how common
each factor is among the annotated val images.

Protocol: ``docs/protocols.md``, section Mistakes. The annotations come from the
``imagenet-x`` package (imported lazily: only these functions need it).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd


def factor_error_ratios(table: pd.DataFrame, factor_col: str, correct_col: str) -> pd.Series:
    """Error ratio per value of a factor column (docs/protocols.md, Mistakes; used by the demo stand-in).

    ratio_v = (1 - acc_v) / (1 - acc_overall), acc_v over rows with factor_col == v,
    acc_overall over ALL rows of ``table`` (rows with a missing factor still count there).
    Index: the factor values (sorted); name ``error_ratio``.
    """
    missing = {factor_col, correct_col} - set(table.columns)
    if missing:
        raise KeyError(f"factor_error_ratios: table lacks columns {sorted(missing)}")
    if len(table) == 0:
        raise ValueError("factor_error_ratios: empty table")
    correct = table[correct_col].astype(float)
    overall_error = 1.0 - correct.mean()
    acc = correct.groupby(table[factor_col], sort=True).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (1.0 - acc) / overall_error
    ratio.index.name = factor_col
    return ratio.rename("error_ratio")


def _onehot_error_ratios(table: pd.DataFrame, factors: Sequence[str], correct: pd.Series) -> pd.Series:
    """ratio_f = (1 - acc over rows with factor f == 1) / (1 - acc over all rows)."""
    overall_error = 1.0 - correct.mean()
    out = {}
    for f in factors:
        has = table[f].to_numpy() == 1
        acc_f = correct[has].mean() if has.any() else np.nan
        out[f] = (1.0 - acc_f) / overall_error if overall_error > 0 else np.nan
    return pd.Series(out, name="error_ratio", dtype=float)


def imagenet_x_error_ratios(predictions: pd.DataFrame, annotations: pd.DataFrame | None = None) -> pd.Series:
    """ImageNet-X error ratio per factor (docs/protocols.md, Mistakes).

    ``predictions``: DataFrame with ``file_name`` (``ILSVRC2012_val_00000001.JPEG``; a
    leading folder is stripped) and ``predicted_class``. Annotations: ``imagenet_x``
    ``load_annotations(which_factor="top", partition="val", filter_prototypes=True)``
    (or pass them). Inner join on file_name; correct = predicted_class == annotated class.
        ratio_f = (1 - acc_f) / (1 - acc_overall)
    acc_f over joined images annotated with factor f, acc_overall over the whole joined
    subset (the package's "average"). Index: the 16 ``imagenet_x.FACTORS``, in order.
    """
    import imagenet_x

    missing = {"file_name", "predicted_class"} - set(predictions.columns)
    if missing:
        raise KeyError(f"imagenet_x_error_ratios: predictions lack columns {sorted(missing)}")
    if annotations is None:
        annotations = imagenet_x.load_annotations(which_factor="top", partition="val",
                                                  filter_prototypes=True)
    pred = pd.DataFrame({
        "file_name": [os.path.basename(str(f)) for f in predictions["file_name"]],
        "predicted_class": predictions["predicted_class"].to_numpy().astype(np.int64),
    })
    if pred["file_name"].duplicated().any():
        raise ValueError("imagenet_x_error_ratios: some file names are predicted twice")
    joined = annotations.merge(pred, on="file_name", how="inner")
    if joined.empty:
        raise ValueError("no prediction matches an ImageNet-X annotated val image; file_name "
                         "must be the ImageNet val file name, e.g. ILSVRC2012_val_00000001.JPEG")
    correct = pd.Series(joined["predicted_class"].to_numpy() == joined["class"].to_numpy())
    return _onehot_error_ratios(joined, list(imagenet_x.FACTORS), correct)


def mean_error_ratio(series: pd.Series) -> float:
    """Unweighted mean of the factor error ratios (the paper's plotted "average").

    Factors without images (NaN) are left out of the mean.
    """
    return float(pd.Series(series, dtype=float).mean())


def factor_prevalence(which_factor: str = "top", filter_prototypes: bool = True) -> pd.DataFrame:
    """Share of annotated ImageNet val images carrying each of the 16 factors.

    share_f = #{annotated images with factor f} / #{annotated images}, with the
    ``imagenet_x`` annotations (``which_factor="top"``: one top factor per image, so the
    shares sum to about 1). Columns: factor, share, images (the number of annotated images).
    """
    from imagenet_x import FACTORS, load_annotations

    ann = load_annotations(which_factor=which_factor, partition="val", filter_prototypes=filter_prototypes)
    share = ann[FACTORS].astype(bool).mean()
    return pd.DataFrame({"factor": share.index, "share": share.to_numpy(), "images": len(ann)})
