"""Preprocessing recipes: the paper's (PROTOCOLS.md) and the libraries' own.

A ``Preprocess`` is resolution-free; ``.view(R)`` makes the ``View`` for R x R input. The
paper's two recipes are constants; timm's and open_clip's come from their pretrained
configs (no weights are read), as do the models' native resolutions.
"""

from __future__ import annotations

import functools

import math
from dataclasses import dataclass

from ..views import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, INTERPOLATIONS, View


@dataclass(frozen=True)
class Preprocess:
    """Resolution-free preprocessing recipe: at resolution R the view is
    Resize(floor(R / crop_pct), interpolation) -> CenterCrop(R) -> Normalize(mean, std)
    (timm's eval transform; crop_pct = 224/256 gives the paper's supervised
    Resize(int(R * 256/224)), crop_pct = 1 the CLIP Resize(R)). ``squash``: the resize makes
    both sides floor(R / crop_pct) (many Hugging Face image processors, e.g. ViT's)."""

    crop_pct: float
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    squash: bool = False

    def view(self, resolution: int) -> View:
        return View(resize=int(math.floor(resolution / self.crop_pct)), crop=int(resolution),
                    interpolation=self.interpolation, mean=tuple(self.mean), std=tuple(self.std),
                    squash=self.squash)


SUPERVISED_PAPER = Preprocess(224 / 256, "bilinear", IMAGENET_MEAN, IMAGENET_STD)
CLIP_PAPER = Preprocess(1.0, "bicubic", CLIP_MEAN, CLIP_STD)


def _interpolation(name: str) -> str:
    return name if name in INTERPOLATIONS else "bicubic"


def timm_pretrained_cfg(name: str) -> dict:
    """timm's pretrained config of ``name[.tag]`` as a dict ({} when timm has none)."""
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(name)
    except RuntimeError:
        cfg = None
    return cfg.to_dict() if cfg is not None else {}


def timm_preprocess(name: str) -> Preprocess:
    """timm's own eval preprocessing (``resolve_data_config``) for a model name[.tag].
    A crop mode other than 'center' (squash / border) is approximated by a centre crop."""
    from timm.data import resolve_data_config

    cfg = resolve_data_config(pretrained_cfg=timm_pretrained_cfg(name))
    return Preprocess(float(cfg["crop_pct"]), _interpolation(cfg["interpolation"]),
                      tuple(cfg["mean"]), tuple(cfg["std"]))


def timm_native_resolution(name: str) -> int:
    size = timm_pretrained_cfg(name).get("input_size") or (3, 224, 224)
    return int(size[-1])


def _patch_side(size) -> int | None:
    """A patch size as configured (an int, a (h, w) pair, or nothing) -> its side."""
    return int(size[0] if isinstance(size, (tuple, list)) else size) if size else None


@functools.lru_cache(maxsize=None)
def timm_patch_size(name: str) -> int | None:
    """The patch size of a timm ViT (None for a model without a patch embedding): the
    architecture built on the meta device (no memory, no weights: milliseconds; once per
    name, as every ``get_model`` of a ViT key asks)."""
    import timm
    import torch

    try:
        with torch.device("meta"):
            net = timm.create_model(name.split(".")[0], pretrained=False)
    except Exception:  # an architecture that cannot be built on meta: resizing checks it at load
        return None
    return _patch_side(getattr(getattr(net, "patch_embed", None), "patch_size", None))


def open_clip_patch_size(arch: str) -> int | None:
    """The patch size of an open_clip ViT tower, from its model config (a timm tower: the
    timm model's)."""
    import open_clip

    vision = (open_clip.get_model_config(arch) or {}).get("vision_cfg", {})
    if vision.get("timm_model_name"):
        return timm_patch_size(vision["timm_model_name"])
    return _patch_side(vision.get("patch_size"))


def open_clip_preprocess(arch: str, tag: str | None) -> Preprocess:
    """open_clip's val transform: Resize(image_size, interp) -> CenterCrop(image_size); mean
    and std from the pretrained tag (OpenAI's by default). 'squash' resize modes are
    approximated by a centre crop."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag) if tag else {}
    return Preprocess(1.0, _interpolation(cfg.get("interpolation", "bicubic")),
                      tuple(cfg.get("mean", CLIP_MEAN)), tuple(cfg.get("std", CLIP_STD)))


def open_clip_native_resolution(arch: str) -> int:
    import open_clip

    size = (open_clip.get_model_config(arch) or {}).get("vision_cfg", {}).get("image_size", 224)
    return int(size[-1] if isinstance(size, (tuple, list)) else size)


def crop_fraction(crop: int, resize: int) -> float:
    """crop / resize, nudged where floating point would make floor(crop / fraction) one
    pixel short of ``resize`` (so that ``Preprocess.view(crop)`` resizes to ``resize``)."""
    pct = crop / resize
    return pct if int(math.floor(crop / pct)) == resize else crop / (resize + 0.5)


def preprocess_from_view(view: View) -> tuple[Preprocess, int]:
    """(the resolution-free recipe of a fixed ``View``, its input side): Resize(r) ->
    CenterCrop(c) is the recipe with crop fraction c / r at resolution c; a squash without
    a crop, crop fraction 1. ``view`` must give square tensors of one size (a crop, or a
    squash) and carry no shift; ``ValueError`` otherwise."""
    if view.shift:
        raise ValueError(f"a model's view cannot carry a shift ({view.describe()})")
    if not view.resize or not (view.crop or view.squash):
        raise ValueError(f"a model's view must resize and then crop (or squash) to one square size, so that "
                         f"images batch; got {view.describe()}. E.g. View(resize=256, crop=224)")
    side = view.crop or view.resize
    return Preprocess(crop_fraction(side, view.resize), view.interpolation, view.mean, view.std,
                      squash=view.squash), side
