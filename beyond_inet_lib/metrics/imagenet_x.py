"""ImageNet-X: error ratios per factor of variation (Idrissi et al. 2023), and how common
each factor is among the annotated val images.

Protocol: ``docs/protocols.md``, section Mistakes. ``error_ratios`` and
``mean_error_ratios`` are the formulas (arrays in, every model at once: what a bootstrap
resample calls); the DataFrame functions below wrap them. The annotations come from the
``imagenet-x`` package (imported lazily: only these functions need it).
"""

from __future__ import annotations

import os
import warnings
from typing import Sequence

import numpy as np
import pandas as pd


def error_ratios(factors, correct) -> np.ndarray:
    """Error ratio of every model on every factor (docs/protocols.md, Mistakes):

        ratio[m, f] = (1 - acc_m on the rows with factor f) / (1 - acc_m on all rows)

    ``factors``: (n, F) 0/1 (row i has factor f; a row may have none: it counts only in
    the overall accuracy); ``correct``: (n,) or (n, M) 0/1 per model. NaN for a factor
    without rows or a model without errors. Returns (M, F)."""
    f = np.asarray(factors, dtype=np.float64).reshape(len(factors), -1)
    err = 1.0 - np.asarray(correct, dtype=np.float64).reshape(len(f), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (err.T @ f / f.sum(axis=0)) / err.mean(axis=0)[:, None]


def mean_error_ratios(factors, correct) -> np.ndarray:
    """(M,) the unweighted mean over factors of ``error_ratios`` (the paper's plotted
    "average"), factors without rows (NaN) left out."""
    return _mean_over_factors(error_ratios(factors, correct))


def _mean_over_factors(ratios: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # no factor at all (a resample without one): NaN
        return np.nanmean(ratios, axis=1)


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
    column = table[factor_col]
    values = np.sort(column.dropna().unique())
    onehot = column.to_numpy()[:, None] == values[None, :]
    ratio = pd.Series(error_ratios(onehot, table[correct_col].to_numpy(dtype=np.float64))[0], index=values,
                      name="error_ratio")
    ratio.index.name = factor_col
    return ratio


def _onehot_error_ratios(table: pd.DataFrame, factors: Sequence[str], correct) -> pd.Series:
    """``error_ratios`` of the one-hot columns ``factors`` (1: the row has the factor)."""
    onehot = table[list(factors)].to_numpy() == 1
    return pd.Series(error_ratios(onehot, np.asarray(correct, dtype=np.float64))[0], index=list(factors),
                     name="error_ratio", dtype=float)


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
    correct = joined["predicted_class"].to_numpy() == joined["class"].to_numpy()
    return _onehot_error_ratios(joined, list(imagenet_x.FACTORS), correct)


def mean_error_ratio(series: pd.Series) -> float:
    """Unweighted mean of one model's factor error ratios (as ``mean_error_ratios``:
    factors without images (NaN) are left out)."""
    return float(_mean_over_factors(np.asarray(series, dtype=np.float64).reshape(1, -1))[0])


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
