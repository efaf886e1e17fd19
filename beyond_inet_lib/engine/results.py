"""What a pass returns: ``Result`` (one model under one view on one dataset) and ``Results``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import metrics
from ..views import View


@dataclass
class Result:
    """Outputs of one model under one view on one dataset, in dataset order.

    ``table``: the dataset rows that were scored (unreadable images removed);
    ``logits``: (N, C) float32 or None; ``features``: (N, D) or None; ``layers``: dict
    layer name -> (N, D) pooled taps; ``skipped``: DataFrame (path, reason)."""

    model: str
    view_name: str
    view: View
    dataset: str
    table: pd.DataFrame
    logits: np.ndarray | None = None
    features: np.ndarray | None = None
    layers: dict = field(default_factory=dict)
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["path", "reason"]))

    def __len__(self):
        return len(self.table)

    def probs(self, class_mask=None) -> np.ndarray:
        """Softmax (float64) over all columns, or over the ``class_mask`` columns only
        (``metrics.softmax``)."""
        return metrics.softmax(np.asarray(self.logits, dtype=np.float64), axis=1, class_mask=class_mask)

    def pred(self, class_mask=None) -> np.ndarray:
        """Top-1 ImageNet index (argmax over the ``class_mask`` columns when given;
        ``metrics.argmax_over_mask``)."""
        return metrics.argmax_over_mask(self.logits, class_mask)


class Results(dict):
    """``{(model_key, view_name): Result}`` with a few conveniences."""

    def for_model(self, model_key: str) -> dict[str, Result]:
        return {v: r for (m, v), r in self.items() if m == model_key}

    def only(self, model_key: str) -> Result:
        rs = self.for_model(model_key)
        if len(rs) != 1:
            raise KeyError(f"{model_key}: {len(rs)} views ({list(rs)}); index by (model, view)")
        return next(iter(rs.values()))

    @property
    def skipped(self) -> pd.DataFrame:
        frames = [r.skipped for r in self.values() if len(r.skipped)]
        if not frames:
            return pd.DataFrame(columns=["path", "reason"])
        return pd.concat(frames).drop_duplicates("path").reset_index(drop=True)
