"""Cue-conflict decisions recorded by others: ten human observers (model-vs-human) and the
paper's own model runs, in model-vs-human's CSV format
(subj, session, trial, rt, object_response, category, condition, imagename).

Under the data root: ``reference/cue-conflict-humans/cue-conflict_subject-NN_session_1.csv``
(Geirhos et al.'s observers; image names carry a trial prefix such as
``0001_s5n_s02_0_clock_00_clock4-chair1.png``) and
``reference/cue-conflict-decisions/cue-conflict_<subject>_session-1.csv`` (the paper's logs).
Loaders return {} when a folder is absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .. import metrics, stats

HUMANS_DIR = ("reference", "cue-conflict-humans")
DECISIONS_DIR = ("reference", "cue-conflict-decisions")

#: decision-log subject ids -> readable names
REFERENCE_NAMES = {
    "convnext-base-21k": "ConvNeXt-B sup (paper log)",
    "deit3-21k": "ViT-B/16 sup (paper log)",
    "convnext-clip": "ConvNeXt-B CLIP (paper log)",
    "vit-clip": "ViT-B/16 CLIP (paper log)",
    "tv-resnet50": "ResNet-50 torchvision (paper log)",
    "subject-01": "human subject-01",
}


def read_decision_log(path) -> pd.DataFrame:
    """One model-vs-human CSV, with a ``stimulus`` column (the image name without its trial
    prefix). Responses are read as written: a human's "na" stays the string "na"."""
    log = pd.read_csv(path, dtype={"object_response": str, "category": str, "imagename": str},
                      keep_default_na=False, na_values=["NaN"])
    log["stimulus"] = [metrics.cue_conflict_stimulus(n) for n in log["imagename"]]
    return log


def _load_logs(data_root, folder: tuple[str, ...], pattern: str, name) -> dict[str, pd.DataFrame]:
    if data_root is None:
        return {}
    files = sorted(Path(data_root).joinpath(*folder).glob(pattern))
    return {name(f.name[len("cue-conflict_"):]): read_decision_log(f) for f in files}


def load_reference_decisions(data_root) -> dict[str, pd.DataFrame]:
    """The paper's per-image cue-conflict decisions, keyed by a readable name."""
    def readable(rest):  # "vit-clip_session-1.csv" -> "ViT-B/16 CLIP (paper log)"
        subject = rest.rsplit("_session", 1)[0]
        return REFERENCE_NAMES.get(subject, subject)

    return _load_logs(data_root, DECISIONS_DIR, "cue-conflict_*_session-*.csv", readable)


def load_human_decisions(data_root) -> dict[str, pd.DataFrame]:
    """The human observers' per-trial decisions, keyed by subject ("subject-01", ...)."""
    return _load_logs(data_root, HUMANS_DIR, "cue-conflict_subject-*_session_*.csv",
                      lambda rest: rest.split("_session", 1)[0])


def shape_bias_table(decisions: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``metrics.shape_bias`` per observer (or decision log): one row each, columns subject,
    shape_bias, accuracy, n_shape, n_texture, n_conflict, n_images, n_no_answer (trials
    answered "na", which count for neither cue)."""
    rows = []
    for subject, log in decisions.items():
        sb = metrics.shape_bias(log["imagename"], log["object_response"])
        rows.append({"subject": subject, **sb, "n_no_answer": int((log["object_response"] == "na").sum())})
    return pd.DataFrame(rows)


def human_shape_bias_range(data_root) -> dict:
    """The human observers' shape bias: min, mean (of the per-subject values), max and the
    number of subjects; None values when the decisions are absent."""
    table = shape_bias_table(load_human_decisions(data_root))
    if table.empty:
        return {"min": None, "mean": None, "max": None, "n_subjects": 0}
    sb = table["shape_bias"]
    return {"min": float(sb.min()), "mean": float(sb.mean()), "max": float(sb.max()),
            "n_subjects": int(len(table))}


def aligned_correctness(log_a: pd.DataFrame, log_b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stimuli, correct_a, correct_b) over the stimuli both logs hold, sorted by stimulus
    (model-vs-human sorts both by image before comparing). correct = the decision equals the
    shape category, on every trial (``metrics.cue_conflict_correct``)."""
    def by_stimulus(log):
        s = pd.Series(metrics.cue_conflict_correct(log["imagename"], log["object_response"]),
                      index=log["stimulus"].to_numpy())
        if s.index.duplicated().any():
            raise ValueError("a decision log shows the same stimulus twice; pass one session")
        return s

    a, b = by_stimulus(log_a), by_stimulus(log_b)
    common = a.index.intersection(b.index).sort_values()
    if common.empty:
        raise ValueError("the two decision logs share no stimulus")
    return common.to_numpy(), a[common].to_numpy(), b[common].to_numpy()


def observer_error_consistency(log_a: pd.DataFrame, log_b: pd.DataFrame, *, n_boot: int = 1000,
                               level: float = 0.95, seed: int = 0) -> dict:
    """``metrics.error_consistency`` between two decision logs (humans or models), trials
    aligned by stimulus, with a bootstrap interval over trials: the error_consistency dict
    plus low, high, level."""
    _, a, b = aligned_correctness(log_a, log_b)
    iv = stats.error_consistency_ci(a, b, n_boot=n_boot, level=level, seed=seed)
    return {**metrics.error_consistency(a, b), "low": iv.low, "high": iv.high, "level": level}
