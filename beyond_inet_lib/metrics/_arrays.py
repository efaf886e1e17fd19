"""Array conversions every metric module shares (private: not part of the metrics API)."""

from __future__ import annotations

import numpy as np


def as_numpy(x) -> np.ndarray:
    """numpy view of an array-like or a torch tensor (detached, on the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def label_set(labels) -> set[int]:
    """A label set as python ints; None/NaN -> empty."""
    if labels is None or (isinstance(labels, float) and np.isnan(labels)):
        return set()
    if np.isscalar(labels):
        return {int(labels)}
    return {int(v) for v in np.asarray(labels).ravel()}
