"""The paper's reference numbers (Vishniakov, Shen, Liu, arXiv 2311.09215), as read from
its figures and tables (docs/protocols.md lists them per experiment). Keyed by the paper's
model key, so a run of any of the four models shows the paper's number beside its own.

Values are fractions where the paper plots percentages (0.855 = 85.5%), except error
ratios and ECE, which are plain numbers.
"""

from __future__ import annotations

PAPER_MODELS = ("convnext_sup", "vit_sup", "convnext_clip", "vit_clip")


def _four(a, b, c, d, pct=True):
    s = 100.0 if pct else 1.0
    return dict(zip(PAPER_MODELS, (a / s, b / s, c / s, d / s)))


PAPER: dict[str, dict[str, float]] = {
    "imagenet_top1": _four(85.5, 85.5, 66.3, 67.0),
    "ece_imagenet": _four(0.028, 0.041, 0.141, 0.133, pct=False),
    "ece_imagenet_r": _four(0.025, 0.043, 0.085, 0.073, pct=False),
    "shape_bias": _four(33.3, 39.9, 44.7, 46.5),
    "top1_imagenet-v2": _four(75.6, 76.2, 58.6, 59.5),
    "top1_imagenet-a": _four(52.9, 60.0, 30.9, 33.2),
    "top1_imagenet-c": _four(66.8, 59.8, 39.0, 40.8),
    "top1_imagenet-hard": _four(29.4, 28.5, 5.8, 5.5),
    "top1_imagenet-r": _four(62.3, 61.6, 75.8, 77.8),
    "top1_imagenet-sketch": _four(48.6, 46.1, 52.0, 52.3),
    "top1_imagenet-real": _four(89.5, 89.2, 73.8, 74.3),
    "robustness_mean": _four(60.7, 60.2, 48.0, 49.1),
    "vtab_mean": _four(71.0, 67.8, 72.2, 72.2),
    "pug_mean": _four(32.2, 29.5, 27.0, 25.1),
    "imagenet_x_mean_error_ratio": _four(1.43, 1.45, 1.24, 1.19, pct=False),
    "imagenet_x_texture_error_ratio": _four(2.37, 2.37, 1.71, 1.65, pct=False),
    "invariance_scale_3": _four(67.6, 54.5, 33.0, 36.0),
    "invariance_shift_100": _four(82.9, 82.6, 61.8, 62.3),
    "invariance_resolution_112": _four(76.9, 69.0, 51.6, 39.0),
    "invariance_resolution_336": _four(85.9, 84.6, 59.8, 65.5),
    "invariance_resolution_512": _four(83.8, 79.1, 32.2, 58.6),
    "invariance_resolution_640": _four(81.5, 75.2, 19.0, 52.0),
}


def paper_value(metric: str, paper_key: str | None) -> float | None:
    """The paper's number for ``metric`` and model, or None (not one of the four / not reported)."""
    if paper_key is None:
        return None
    return PAPER.get(metric, {}).get(paper_key)
