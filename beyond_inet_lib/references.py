"""Published reference results that ship beside the data (not in this repository)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: decision-log subject ids -> readable names
REFERENCE_NAMES = {
    "convnext-base-21k": "ConvNeXt-B sup (paper log)",
    "deit3-21k": "ViT-B/16 sup (paper log)",
    "convnext-clip": "ConvNeXt-B CLIP (paper log)",
    "vit-clip": "ViT-B/16 CLIP (paper log)",
    "tv-resnet50": "ResNet-50 torchvision (paper log)",
    "subject-01": "human subject-01",
}


def load_reference_decisions(data_root) -> dict[str, pd.DataFrame]:
    """The paper's per-image cue-conflict decisions (model-vs-human CSV format:
    subj, session, trial, rt, object_response, category, condition, imagename), keyed by a
    readable name. Empty when the folder is absent."""
    if data_root is None:
        return {}
    folder = Path(data_root) / "reference" / "cue-conflict-decisions"
    out = {}
    for f in sorted(folder.glob("cue-conflict_*_session-*.csv")):
        subject = f.name[len("cue-conflict_"):].rsplit("_session", 1)[0]
        out[REFERENCE_NAMES.get(subject, subject)] = pd.read_csv(f)
    return out
