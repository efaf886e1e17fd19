"""Classification basics: softmax, top-1 (with a class mask), confidence, multi-label top-1.

Protocol: ``docs/protocols.md``, sections Robustness and Calibration. Class indices are
ImageNet-1k indices (0..999); ``class_mask`` is the array of ImageNet indices a benchmark
scores over (ImageNet-A/R: 200).
"""

from __future__ import annotations

import numpy as np

from ._arrays import as_numpy, label_set


def softmax(logits, axis: int = -1, class_mask=None) -> np.ndarray:
    """Numerically stable softmax: ``exp(z - max z) / sum exp(z - max z)`` along ``axis``.

    Subtracting the row maximum leaves the result unchanged and keeps ``exp`` from
    overflowing on large logits (CLIP logits are 100 x cosine, up to ~100).
    Float inputs keep their dtype; integer inputs become float64. With ``class_mask``
    (ImageNet indices; rows of (N, C) logits) only those columns are kept and the softmax
    is over them: the result has ``len(class_mask)`` columns, in mask order.
    """
    z = as_numpy(logits)
    dtype = z.dtype if np.issubdtype(z.dtype, np.floating) else np.float64
    if class_mask is not None:
        z = z[:, np.asarray(class_mask, dtype=np.int64)].astype(dtype, copy=False)   # already a new array
    else:
        z = z.astype(dtype, copy=True)
    # one array worked in place: at 50,000 x 1,000 float64 each temporary is 400 MB
    z -= np.max(z, axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= np.sum(z, axis=axis, keepdims=True)
    return z


def argmax_over_mask(scores: np.ndarray, class_mask) -> np.ndarray:
    """Top-1 ImageNet index of each row, the argmax taken over ``class_mask`` columns only.

    pred_i = mask[argmax_k scores[i, mask[k]]]: ImageNet-A/R score 200 classes, so the
    prediction is the best of those 200 columns mapped back to its ImageNet index, never a
    class outside them. Without a mask: the plain row argmax.
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
    """Top-1 accuracy = mean_i [pred_i == label_i]  (docs/protocols.md, Robustness).

    ``pred_or_logits``: (N,) predicted indices, or (N, C) logits / probabilities.
    With ``class_mask`` (ImageNet-A/R: their 200 ImageNet indices) the argmax is taken over
    the masked columns only and mapped back to ImageNet indices, so ``labels`` stay
    ImageNet indices. A mask needs scores: with (N,) predictions it raises.
    """
    x = as_numpy(pred_or_logits)
    y = as_numpy(labels).astype(np.int64)
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


def softmax_top(logits, class_mask=None, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, column): the largest probability of softmax(z[mask] / T) per row and its
    column (a position in ``class_mask`` where one is given). The largest probability is
    exp(0) / sum_k exp(z_k - max z) = 1 / sum_k exp(z_k - max z), so the (N, C) softmax is
    never divided out; the same floating-point values as ``softmax``'s, with one pass less."""
    z = as_numpy(logits)
    if class_mask is not None:
        z = z[:, np.asarray(class_mask, dtype=np.int64)]
    z = np.array(z, dtype=np.float64)          # a copy of our own, worked in place
    if temperature != 1.0:
        z /= temperature
    idx = z.argmax(axis=1)
    z -= z[np.arange(len(z)), idx][:, None]
    np.exp(z, out=z)
    return 1.0 / np.sum(z, axis=1, keepdims=True)[:, 0], idx


def label_probability(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    """(column, probability): each row's top-1 column and the probability the softmax gives
    its label, exp(z_y - max z) / sum_k exp(z_k - max z): the floating-point value of
    ``softmax(z)[i, y_i]``, without dividing out the (N, C) softmax (``labels``: column
    indices)."""
    z = np.array(as_numpy(logits), dtype=np.float64)          # a copy of our own, worked in place
    y = as_numpy(labels).astype(np.int64).ravel()
    if z.ndim != 2 or len(z) != len(y):
        raise ValueError(f"expected (N, C) logits and N labels, got {z.shape} and {y.shape}")
    rows = np.arange(len(z))
    idx = z.argmax(axis=1)
    z -= z[rows, idx][:, None]
    np.exp(z, out=z)
    return idx, z[rows, y] / np.sum(z, axis=1)


def masked_softmax_confidence(logits, labels, class_mask=None) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) for calibration  (docs/protocols.md, Calibration).

    confidence_i = max_k softmax(z_i[mask])_k ; correct_i = [mask[argmax_k] == label_i].
    On ImageNet-R the 200 ImageNet-R columns are kept and the softmax is over those 200
    (not over 1,000 then restricted), as the paper does. Without a mask: all columns.
    """
    z = as_numpy(logits)
    y = as_numpy(labels).astype(np.int64)
    if z.ndim != 2 or len(z) != len(y):
        raise ValueError(f"expected (N, C) logits and N labels, got {z.shape} and {y.shape}")
    conf, idx = softmax_top(z, class_mask)
    pred = idx if class_mask is None else np.asarray(class_mask, dtype=np.int64)[idx]
    return conf, pred == y


def multilabel_top1(pred, label_sets) -> float:
    """Multi-label top-1 (docs/protocols.md, Robustness: ImageNet-ReaL, ImageNet-Hard).

    correct_i = [top-1_i in label_set_i]; accuracy = mean over images whose set is NOT
    empty (ReaL gives some images no valid label: they are skipped, not counted wrong).
    ``pred``: (N,) indices or (N, C) scores (argmax taken).
    """
    p = as_numpy(pred)
    if p.ndim == 2:
        p = p.argmax(axis=1)
    sets = list(label_sets)
    if len(sets) != len(p):
        raise ValueError(f"multilabel_top1: {len(p)} predictions but {len(sets)} label sets")
    hits, scored = 0, 0
    for guess, labels in zip(p, sets):
        labels = label_set(labels)
        if not labels:
            continue
        scored += 1
        hits += int(guess) in labels
    if scored == 0:
        raise ValueError("multilabel_top1: every label set is empty; nothing to score")
    return hits / scored


def mask_positions(labels, class_mask) -> np.ndarray:
    """Column of each ImageNet label inside ``class_mask``: ``pos_i = k`` with
    ``mask[k] == label_i``, so labels index the columns of ``softmax(logits, class_mask=mask)``.
    Without a mask the labels are returned as they are. A label outside the mask raises:
    its probability is not among the columns."""
    y = as_numpy(labels).astype(np.int64).ravel()
    if class_mask is None:
        return y
    mask = np.asarray(class_mask, dtype=np.int64)
    lookup = np.full(max(int(mask.max()), int(y.max(initial=0))) + 1, -1, dtype=np.int64)
    lookup[mask] = np.arange(len(mask))
    pos = lookup[np.clip(y, 0, None)]
    bad = (y < 0) | (pos < 0)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} labels are not in the class mask "
                         f"(e.g. {int(y[bad][0])}): their probability is not among its columns")
    return pos
