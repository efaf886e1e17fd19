"""What a pass returns: ``Result`` (one model under one view on one dataset) and ``Results``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import metrics
from ..errors import EngineError
from ..views import View


@dataclass
class Result:
    """Outputs of one model under one view on one dataset, in dataset order.

    ``table``: the dataset rows that were scored (unreadable images removed);
    ``logits``: (N, C) float32 or None; ``top_index`` / ``top_prob``: (N,) argmax of the
    logits and its softmax probability, or None (the ``top`` output: what is left of the
    logits where only the top-1 and its confidence are needed); ``features``: (N, D) or
    None; ``layers``: dict layer name -> (N, D) pooled taps; ``skipped``: DataFrame (path,
    reason)."""

    model: str
    view_name: str
    view: View
    dataset: str
    table: pd.DataFrame
    logits: np.ndarray | None = None
    top_index: np.ndarray | None = None
    top_prob: np.ndarray | None = None
    features: np.ndarray | None = None
    layers: dict = field(default_factory=dict)
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["path", "reason"]))

    def __len__(self):
        return len(self.table)

    def probs(self, class_mask=None) -> np.ndarray:
        """Softmax (float64) over all columns, or over the ``class_mask`` columns only
        (``metrics.softmax``)."""
        return metrics.softmax(np.asarray(self._logits("probabilities"), dtype=np.float64), axis=1,
                               class_mask=class_mask)

    def label_probability(self) -> tuple[np.ndarray, np.ndarray]:
        """(top-1 column, the softmax probability of each row's label), the values ``probs()``
        gives of them, without the (N, C) probabilities (``metrics.label_probability``)."""
        return metrics.label_probability(self._logits("probabilities"), self.table["label"].to_numpy())

    def pred(self, class_mask=None) -> np.ndarray:
        """Top-1 ImageNet index (argmax over the ``class_mask`` columns when given;
        ``metrics.argmax_over_mask``); from ``top_index`` when only the top output was kept."""
        if self.logits is None and self.top_index is not None and class_mask is None:
            return self.top_index.astype(np.int64)
        return metrics.argmax_over_mask(self._logits("the top-1 over a class mask"), class_mask)

    def _logits(self, need: str) -> np.ndarray:
        if self.logits is None:
            kept = "only the top-1 and its probability" if self.top_index is not None else "no logits"
            raise EngineError(f"{self.model} on {self.dataset}: {need} needs the logits, and this "
                              f"result kept {kept} (outputs=('top',)); ask for outputs=('logits',)")
        return self.logits


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
