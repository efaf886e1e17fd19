"""Facts about the ImageNet-X annotations themselves (from the `imagenet-x` package)."""

from __future__ import annotations

import pandas as pd


def factor_prevalence(which_factor: str = "top", filter_prototypes: bool = True) -> pd.DataFrame:
    """Share of annotated ImageNet val images whose (top) factor is each of the 16."""
    from imagenet_x import FACTORS, load_annotations

    ann = load_annotations(which_factor=which_factor, partition="val", filter_prototypes=filter_prototypes)
    share = ann[FACTORS].astype(bool).mean()
    return pd.DataFrame({"factor": share.index, "share": share.to_numpy(), "images": len(ann)})
