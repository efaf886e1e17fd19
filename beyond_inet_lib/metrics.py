"""Pure metric functions: arrays / DataFrames in, numbers / DataFrames out.

Each function implements one rule of ``PROTOCOLS.md`` (the section is named in its
docstring) and states its formula. Nothing here loads a model, reads an image or touches a
GPU, with one exception: ``linear_probe(..., backend="torch")`` may fit on a CUDA device.

Conventions
-----------
- Accuracies, biases and calibration errors are fractions in [0, 1] (the paper prints %).
- Class indices are ImageNet-1k indices (0..999) unless a function says otherwise.
- ``class_mask`` is an array of ImageNet indices a benchmark scores over (ImageNet-A/R: 200).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

# ============================================================================ basics


def softmax(logits, axis: int = -1, class_mask=None) -> np.ndarray:
    """Numerically stable softmax: ``exp(z - max z) / sum exp(z - max z)`` along ``axis``.

    Subtracting the row maximum leaves the result unchanged and keeps ``exp`` from
    overflowing on large logits (CLIP logits are 100 x cosine, up to ~100).
    Float inputs keep their dtype; integer inputs become float64. With ``class_mask``
    (ImageNet indices; rows of (N, C) logits) only those columns are kept and the softmax
    is over them: the result has ``len(class_mask)`` columns, in mask order.
    """
    z = _as_numpy(logits)
    if class_mask is not None:
        z = z[:, np.asarray(class_mask, dtype=np.int64)]
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def _as_numpy(x) -> np.ndarray:
    """numpy view of an array-like or a torch tensor (detached, on the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def argmax_over_mask(scores: np.ndarray, class_mask) -> np.ndarray:
    """Top-1 ImageNet index of each row, the argmax taken over ``class_mask`` columns only.

    ImageNet-A/R score 200 classes: the prediction is the best of those 200 columns,
    mapped back to its ImageNet index (``class_mask[argmax]``), never a class outside them.
    """
    if class_mask is None:
        return scores.argmax(axis=1)
    mask = np.asarray(class_mask, dtype=np.int64)
    if mask.ndim != 1 or mask.size == 0:
        raise ValueError("class_mask must be a non-empty 1-D array of ImageNet indices")
    if mask.max() >= scores.shape[1] or mask.min() < 0:
        raise ValueError(f"class_mask holds indices outside 0..{scores.shape[1] - 1}")
    return mask[scores[:, mask].argmax(axis=1)]


def top1(pred_or_logits, labels, class_mask=None) -> float:
    """Top-1 accuracy = mean(prediction == label)  (PROTOCOLS.md 4, Robustness).

    ``pred_or_logits``: (N,) predicted indices, or (N, C) logits / probabilities.
    With ``class_mask`` (ImageNet-A/R: their 200 ImageNet indices) the argmax is taken over
    the masked columns only and mapped back to ImageNet indices, so ``labels`` stay
    ImageNet indices. A mask needs scores: with (N,) predictions it raises.
    """
    x = _as_numpy(pred_or_logits)
    y = _as_numpy(labels).astype(np.int64)
    if x.ndim == 2:
        pred = argmax_over_mask(x, class_mask)
    elif x.ndim == 1:
        if class_mask is not None:
            raise ValueError("top1: a class_mask needs (N, C) logits, not (N,) predictions; "
                             "pass the logits so the argmax can be restricted to the mask")
        pred = x.astype(np.int64)
    else:
        raise ValueError(f"top1: expected (N,) predictions or (N, C) logits, got shape {x.shape}")
    if len(pred) != len(y):
        raise ValueError(f"top1: {len(pred)} predictions but {len(y)} labels")
    if len(y) == 0:
        raise ValueError("top1: no samples")
    return float(np.mean(pred == y))


def masked_softmax_confidence(logits, labels, class_mask=None) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) for calibration  (PROTOCOLS.md 3, Calibration).

    confidence_i = max_k softmax(z_i[mask])_k ; correct_i = [mask[argmax_k] == label_i].
    On ImageNet-R the 200 ImageNet-R columns are kept and the softmax is over those 200
    (not over 1,000 then restricted), as the paper does. Without a mask: all columns.
    """
    z = _as_numpy(logits).astype(np.float64)
    y = _as_numpy(labels).astype(np.int64)
    if z.ndim != 2 or len(z) != len(y):
        raise ValueError(f"expected (N, C) logits and N labels, got {z.shape} and {y.shape}")
    p = softmax(z, axis=1, class_mask=class_mask)
    idx = p.argmax(axis=1)
    pred = idx if class_mask is None else np.asarray(class_mask, dtype=np.int64)[idx]
    return p[np.arange(len(p)), idx], pred == y


def multilabel_top1(pred, label_sets) -> float:
    """Multi-label top-1 (PROTOCOLS.md 4: ImageNet-ReaL, ImageNet-Hard).

    correct_i = [top-1_i in label_set_i]; accuracy = mean over images whose set is NOT
    empty (ReaL gives some images no valid label: they are skipped, not counted wrong).
    ``pred``: (N,) indices or (N, C) scores (argmax taken).
    """
    p = _as_numpy(pred)
    if p.ndim == 2:
        p = p.argmax(axis=1)
    sets = list(label_sets)
    if len(sets) != len(p):
        raise ValueError(f"multilabel_top1: {len(p)} predictions but {len(sets)} label sets")
    hits, scored = 0, 0
    for guess, labels in zip(p, sets):
        labels = _label_set(labels)
        if not labels:
            continue
        scored += 1
        hits += int(guess) in labels
    if scored == 0:
        raise ValueError("multilabel_top1: every label set is empty; nothing to score")
    return hits / scored


def _label_set(labels) -> set[int]:
    """A label set as python ints; None/NaN -> empty."""
    if labels is None or (isinstance(labels, float) and np.isnan(labels)):
        return set()
    if np.isscalar(labels):
        return {int(labels)}
    return {int(v) for v in np.asarray(labels).ravel()}


# ====================================================================== calibration


def _bin_edges(n_bins: int) -> np.ndarray:
    """k / n_bins for k = 0..n_bins, each a correctly rounded division, so a confidence
    written as ``k/15`` in code sits exactly on its edge (np.linspace can be 1 ulp off)."""
    if int(n_bins) < 1:
        raise ValueError("n_bins must be >= 1")
    return np.arange(n_bins + 1) / n_bins


def _check_confidence(confidence) -> np.ndarray:
    c = _as_numpy(confidence).astype(np.float64).ravel()
    if np.isnan(c).any():
        raise ValueError("confidence holds NaN values")
    # float32 softmax maxima can exceed 1 by an ulp: tolerate that, reject real errors
    if (c < -1e-6).any() or (c > 1 + 1e-6).any():
        raise ValueError("confidence must lie in [0, 1] (pass max softmax probabilities, not logits)")
    return np.clip(c, 0.0, 1.0)


def _bin_index(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin i of (i/n, (i+1)/n]: i = number of inner edges strictly below the confidence.

    ``searchsorted(inner_edges, c, side='left')`` counts inner edges < c, so a value on an
    edge goes to the bin it closes (right-closed bins); 0 goes to the first bin, 1.0 to
    the last. imagenet_x's ``estimated_calibration_error`` bins the same way.
    """
    return np.searchsorted(_bin_edges(n_bins)[1:-1], confidence, side="left")


def reliability_bins(confidence, correct, n_bins: int = 15) -> pd.DataFrame:
    """Per-bin calibration table (PROTOCOLS.md 3): one row per bin, empty bins included.

    Columns: lower, upper, count, share (count / N), mean_confidence, accuracy,
    gap = mean_confidence - accuracy (> 0: over-confident). Sample j is in bin i when
    lower_i < confidence_j <= upper_i (confidence 0 goes to the first bin).
    Empty bins have NaN mean_confidence / accuracy / gap.
    """
    c = _check_confidence(confidence)
    ok = _as_numpy(correct).astype(np.float64).ravel()
    if len(ok) != len(c):
        raise ValueError(f"{len(c)} confidences but {len(ok)} correctness values")
    if len(c) == 0:
        raise ValueError("no samples to bin")
    idx = _bin_index(c, n_bins)
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    conf_sum = np.bincount(idx, weights=c, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=ok, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        acc = np.where(count > 0, acc_sum / count, np.nan)
    edges = _bin_edges(n_bins)
    return pd.DataFrame({
        "lower": edges[:-1], "upper": edges[1:], "count": count, "share": count / len(c),
        "mean_confidence": mean_conf, "accuracy": acc, "gap": mean_conf - acc,
    })


def expected_calibration_error(confidence, correct, n_bins: int = 15) -> float:
    """ECE (PROTOCOLS.md 3, Calibration).

    ECE = sum over non-empty bins b of (|b| / N) * |mean confidence(b) - accuracy(b)|,
    with ``n_bins`` equal-width bins over (0, 1]; sample in bin i when
    lower < confidence <= upper (confidence exactly 0 goes to the first bin).
    ``confidence``: max softmax probability; ``correct``: bool / 0-1 per sample.
    """
    bins = reliability_bins(confidence, correct, n_bins)
    used = bins["count"] > 0
    return float(np.sum(bins.loc[used, "share"] * np.abs(bins.loc[used, "gap"])))


def confidence_histogram(confidence, n_bins: int = 15) -> pd.DataFrame:
    """How many samples fall in each confidence bin (same bins as the ECE).

    Columns: lower, upper, count, share.
    """
    c = _check_confidence(confidence)
    if len(c) == 0:
        raise ValueError("no confidences to histogram")
    count = np.bincount(_bin_index(c, n_bins), minlength=n_bins).astype(np.int64)
    edges = _bin_edges(n_bins)
    return pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "count": count,
                         "share": count / len(c)})


# ===================================================================== shape bias


def _asset(name: str) -> Path:
    return Path(__file__).parent / "assets" / name


@lru_cache(maxsize=1)
def _cue_conflict_index_map() -> dict[str, tuple[int, ...]]:
    path = _asset("cue_conflict_16class_indices.json")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the package was installed without its "
                                "assets; reinstall it with `pip install -e .`")
    table = json.loads(path.read_text())
    return {name: tuple(int(i) for i in table[name]) for name in sorted(table)}


def cue_conflict_categories() -> tuple[str, ...]:
    """The 16 cue-conflict categories, alphabetical (the order of the decision columns)."""
    return tuple(_cue_conflict_index_map())


def cue_conflict_category_indices() -> dict[str, tuple[int, ...]]:
    """Category -> its ImageNet-1k indices (Geirhos et al., ``human_categories.py``)."""
    return dict(_cue_conflict_index_map())


def cue_conflict_decisions(probabilities) -> np.ndarray:
    """16-class decisions from 1,000-class softmax rows (PROTOCOLS.md 2, Shape bias).

    score_c = MEAN over i in indices(c) of p_i  (not the sum: "dog" has 116 indices and
    would win by sheer count; not the max);  decision = argmax_c score_c over the 16
    categories (ties: the alphabetically first). Returns an (N,) array of category names.
    """
    p = _as_numpy(probabilities).astype(np.float64)
    if p.ndim != 2 or p.shape[1] != 1000:
        raise ValueError(f"expected (N, 1000) softmax probabilities, got shape {p.shape}")
    sums = p.sum(axis=1)
    if (p < 0).any() or (np.abs(sums - 1) > 1e-3).any():
        raise ValueError("rows are not probabilities (negative or not summing to 1): "
                         "pass softmax(logits), not logits")
    table = _cue_conflict_index_map()
    names = list(table)
    scores = np.stack([p[:, list(table[c])].mean(axis=1) for c in names], axis=1)
    return np.asarray(names, dtype=object)[scores.argmax(axis=1)].astype(str)


def _cue_conflict_frame(image_names, decisions) -> pd.DataFrame:
    from .data import parse_cue_conflict_name

    names = [str(n) for n in image_names]
    dec = [str(d) for d in _as_numpy(decisions).ravel()]
    if len(names) != len(dec):
        raise ValueError(f"{len(names)} image names but {len(dec)} decisions")
    if not names:
        raise ValueError("no cue-conflict images given")
    parsed = [parse_cue_conflict_name(n) for n in names]
    t = pd.DataFrame({"shape": [s for s, _ in parsed], "texture": [x for _, x in parsed],
                      "decision": dec})
    t["conflict"] = t["shape"] != t["texture"]
    t["is_shape"] = t["decision"] == t["shape"]
    t["is_texture"] = t["decision"] == t["texture"]
    return t


def _bias_counts(t: pd.DataFrame) -> dict:
    conflict = t[t["conflict"]]
    n_shape = int(conflict["is_shape"].sum())
    n_texture = int(conflict["is_texture"].sum())
    decided = n_shape + n_texture
    return {
        "shape_bias": n_shape / decided if decided else float("nan"),
        "accuracy": float(t["is_shape"].mean()),
        "n_shape": n_shape, "n_texture": n_texture, "n_conflict": int(len(conflict)),
        "n_images": int(len(t)),
        "shape_match": n_shape / len(conflict) if len(conflict) else float("nan"),
        "texture_match": n_texture / len(conflict) if len(conflict) else float("nan"),
    }


def shape_bias(image_names, decisions) -> dict:
    """Shape bias (PROTOCOLS.md 2; Geirhos et al. 2019, model-vs-human ``ShapeBias``).

    Over images whose shape class != texture class (parsed from ``dog10-bird2.png``:
    shape dog, texture bird; any leading path/prefix ignored):
        shape_bias = n_shape / (n_shape + n_texture)
    where n_shape / n_texture count decisions equal to the shape / texture class.
    accuracy = 16-class accuracy over ALL images given (decision == shape class).
    Also: n_shape, n_texture, n_conflict, n_images, shape_match = n_shape / n_conflict,
    texture_match = n_texture / n_conflict. Fractions, not %.
    """
    return _bias_counts(_cue_conflict_frame(image_names, decisions))


def shape_bias_per_category(image_names, decisions) -> pd.DataFrame:
    """``shape_bias`` per SHAPE category (model-vs-human groups by the image's ``category``
    column, which is its shape class). One row per category present, alphabetical."""
    t = _cue_conflict_frame(image_names, decisions)
    rows = [{"category": cat, **_bias_counts(g)} for cat, g in t.groupby("shape", sort=True)]
    return pd.DataFrame(rows)


# ===================================================================== ImageNet-X


def factor_error_ratios(table: pd.DataFrame, factor_col: str, correct_col: str) -> pd.Series:
    """Error ratio per value of a factor column (PROTOCOLS.md 1; used by the demo stand-in).

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
    """ImageNet-X error ratio per factor (PROTOCOLS.md 1, Mistakes).

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


# ===================================================================== robustness

ROBUSTNESS_VARIANTS = ("imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch",
                       "imagenet-c", "imagenet-real", "imagenet-hard")


def _variant_key(name: str) -> str:
    """'ImageNet_A', 'a', 'imagenet-a' -> 'imagenet-a'."""
    key = str(name).lower().replace("_", "-")
    return key if key.startswith("imagenet-") else f"imagenet-{key}"


def imagenet_c_summary(table: pd.DataFrame) -> pd.DataFrame:
    """ImageNet-C accuracy (PROTOCOLS.md 4).

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
    """The paper's robustness "average" (PROTOCOLS.md 4): mean top-1 of the seven variants
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


# ======================================================================== PUG / invariance


def pug_factor_accuracy(table: pd.DataFrame) -> pd.DataFrame:
    """PUG-ImageNet top-1 per factor (PROTOCOLS.md 6, Synthetic data).

    ``table``: columns factor, pred (argmax over 1,000), label_set (the true class's
    ImageNet indices: Shirt and Sweatshirt both [841]). correct = pred in label_set.
    Returns columns factor, accuracy, n_images, one row per factor (first-seen order),
    then a row factor="mean" = unweighted mean of the factor accuracies
    (also ``result.attrs["mean"]``).
    """
    missing = {"factor", "pred", "label_set"} - set(table.columns)
    if missing:
        raise KeyError(f"pug_factor_accuracy: table lacks columns {sorted(missing)}")
    correct = [int(p) in _label_set(s) for p, s in zip(table["pred"], table["label_set"])]
    t = pd.DataFrame({"factor": table["factor"].to_numpy(), "correct": correct})
    per = (t.groupby("factor", sort=False)["correct"].agg(accuracy="mean", n_images="size")
           .reset_index())
    mean = float(per["accuracy"].mean())
    out = pd.concat([per, pd.DataFrame([{"factor": "mean", "accuracy": mean,
                                         "n_images": int(per["n_images"].sum())}])],
                    ignore_index=True)
    out.attrs["mean"] = mean
    return out


def invariance_curve(table: pd.DataFrame) -> pd.DataFrame:
    """Transformation invariance curves (PROTOCOLS.md 7).

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


# =========================================================================== CKA


def _centred_gram(x) -> np.ndarray:
    """K = Xc Xc^T with Xc = X minus its column means (float64, (N, D) -> (N, N)).

    Centring the features is the same as H K H with H = I - 11^T/N (Kornblith et al. 2019).
    """
    x = _as_numpy(x).astype(np.float64)
    x = x.reshape(len(x), -1)
    xc = x - x.mean(axis=0, keepdims=True)
    return xc @ xc.T


def linear_cka(x, y) -> float:
    """Linear CKA (Kornblith et al. 2019; PROTOCOLS.md 8), float64, centred features.

        CKA(X, Y) = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F * ||Yc^T Yc||_F)
                  = <K, L>_F / (||K||_F ||L||_F),  K = Xc Xc^T, L = Yc Yc^T

    x: (N, D1), y: (N, D2) (extra dims are flattened). The Gram form is used when N is
    smaller than the feature widths, the feature form otherwise (same number).
    """
    x = _as_numpy(x).astype(np.float64)
    y = _as_numpy(y).astype(np.float64)
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    if len(x) != len(y):
        raise ValueError(f"linear_cka: {len(x)} vs {len(y)} samples; both need the same images")
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    if len(x) < max(x.shape[1], y.shape[1]):
        k, l = xc @ xc.T, yc @ yc.T
        num, dx, dy = np.sum(k * l), np.linalg.norm(k), np.linalg.norm(l)
    else:
        num = np.linalg.norm(yc.T @ xc) ** 2
        dx, dy = np.linalg.norm(xc.T @ xc), np.linalg.norm(yc.T @ yc)
    if dx == 0 or dy == 0:
        return float("nan")  # a constant layer has no similarity structure
    return float(num / (dx * dy))


def cka_matrix(feats_a: list, feats_b: list | None = None) -> np.ndarray:
    """Linear CKA between every layer of ``feats_a`` and every layer of ``feats_b``.

    M[i, j] = <K_i, L_j>_F / (||K_i||_F ||L_j||_F), each centred Gram computed once per
    layer and normalised, so the matrix is one product of flattened (N^2) Grams.
    ``feats_b`` None: the within-model matrix of ``feats_a`` (symmetric, unit diagonal).
    """
    def normalised_grams(feats):
        grams = []
        for f in feats:
            k = _centred_gram(f)
            norm = np.linalg.norm(k)
            grams.append((k / norm if norm > 0 else np.full_like(k, np.nan)).ravel())
        return np.stack(grams)

    ga = normalised_grams(feats_a)
    gb = ga if feats_b is None else normalised_grams(feats_b)
    if ga.shape[1] != gb.shape[1]:
        raise ValueError("cka_matrix: both feature lists must come from the same images")
    return ga @ gb.T


# ====================================================================== linear probe

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
    """Linear probe on frozen features (PROTOCOLS.md 5, Transferability).

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
    tx, vx, sx = (_as_numpy(a).astype(np.float64) for a in (train_x, val_x, test_x))
    ty, vy, sy = (_as_numpy(a).ravel() for a in (train_y, val_y, test_y))
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
