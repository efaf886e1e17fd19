"""Preprocessing as data, and its two implementations.

A ``View`` is the exact recipe from a decoded RGB image to the normalised tensor a model
sees. It is a frozen dataclass: printable, comparable, and hashable into the result-cache
key, so two notebooks asking for the same preprocessing share one forward pass.

Each View runs two ways, with the same geometry (``crop_box``):

- ``View.transform()``: PIL image in, normalised tensor out, one image at a time with
  torchvision's PIL transforms (the CPU reference; the engine's ``pil`` decode path).
- ``preprocess_tensors(images, views)``: uint8 (3, H, W) tensors on any device in, one
  normalised batch per view out, images of one size resized together (the engine's
  ``tensor`` and ``hybrid`` decode paths, on the GPU). Torch's antialiased interpolation
  and PIL's resampler round differently by a grey level here and there (mean |difference|
  ~1e-3 after normalisation); crops and black fill are the same pixels.

Resize follows torchvision's ``Resize(int)``: the shorter side becomes ``resize``; with
``squash`` both sides become ``resize`` (the aspect ratio is not kept: what the image
processors of many Hugging Face models do, e.g. ViT's and SigLIP's). The crop
is a centre crop of ``crop`` pixels, optionally moved by ``shift`` pixels *of the original
image* along its longer side (invariance experiment). Where the moved window runs past the
image border the missing pixels are black, as in the paper's code (PROTOCOLS.md, 7).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Callable, Mapping

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class View:
    """One preprocessing recipe. ``None`` for ``resize`` or ``crop`` skips that step."""

    resize: int | None = 256
    crop: int | None = 224
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    shift: int = 0
    antialias: bool = True
    squash: bool = False   # resize to resize x resize, aspect ratio not kept

    def __post_init__(self):
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"View.interpolation={self.interpolation!r}; expected one of {INTERPOLATIONS}"
            )
        for name in ("resize", "crop"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v <= 0):
                raise ValueError(f"View.{name} must be a positive int or None, got {v!r}")
        if self.squash and not self.resize:
            raise ValueError("View.squash needs a resize size (both sides become it)")
        # tuples, so that the dataclass stays hashable when built from lists (YAML)
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))

    # ----- identity -------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if not d["squash"]:  # every view that does not squash keeps the cache key it always had
            del d["squash"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "View":
        return cls(**d)

    def key(self) -> str:
        """Short stable hash of the recipe (part of every result-cache key)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:12]

    def describe(self) -> str:
        parts = []
        if self.resize:
            size = f"{self.resize}x{self.resize}" if self.squash else f"{self.resize}"
            parts.append(f"Resize({size}, {self.interpolation})")
        if self.crop:
            parts.append(
                f"CenterCrop({self.crop}" + (f", shift={self.shift}px" if self.shift else "") + ")"
            )
        parts.append(f"Normalize(mean={_fmt(self.mean)}, std={_fmt(self.std)})")
        return " -> ".join(parts)

    def replace(self, **changes) -> "View":
        return dataclasses.replace(self, **changes)

    @property
    def output_size(self) -> int | None:
        return self.crop or self.resize

    # ----- the transform --------------------------------------------------------------
    def geometry(self) -> Callable:
        """PIL RGB image -> PIL image: the resize and the (possibly shifted) centre crop,
        without tensor conversion or normalisation. The one resize + centre crop of the
        package (stand-in generators use it too)."""
        from torchvision import transforms as T
        from torchvision.transforms import InterpolationMode

        mode = InterpolationMode(self.interpolation)
        steps: list = []
        if self.shift and self.crop:
            steps.append(_ResizeShiftedCrop(self.resize, self.crop, self.shift, mode, self.antialias,
                                            self.squash))
        else:
            if self.resize:
                size = (self.resize, self.resize) if self.squash else self.resize
                steps.append(T.Resize(size, interpolation=mode, antialias=self.antialias))
            if self.crop:
                steps.append(T.CenterCrop(self.crop))
        return T.Compose(steps)

    def transform(self) -> Callable:
        """PIL RGB image -> float tensor (3, H, W), normalised. The CPU reference path.

        Without a shift this is exactly ``Resize -> CenterCrop -> ToTensor -> Normalize``
        from torchvision (tests compare against a hand-built pipeline)."""
        from torchvision import transforms as T

        return T.Compose([*self.geometry().transforms, T.ToTensor(), T.Normalize(self.mean, self.std)])

    def __call__(self, image):
        return self.transform()(image)


def crop_box(height: int, width: int, crop: int, shift: int = 0, scale: float = 1.0,
             horizontal: bool | None = None):
    """(top, left) of a ``crop`` x ``crop`` window centred in an (height, width) image and
    moved by ``shift * scale`` pixels along the longer side (``scale`` = resized/original;
    ``horizontal`` says which side when the resize did not keep the aspect ratio).
    Rounding as torchvision's ``center_crop``."""
    top = int(round((height - crop) / 2.0))
    left = int(round((width - crop) / 2.0))
    if shift:
        d = int(round(shift * scale))
        if (width >= height) if horizontal is None else horizontal:
            left += d
        else:
            top += d
    return top, left


class _ResizeShiftedCrop:
    """Resize the shorter side (or both, ``squash``), then a centre crop moved by ``shift``
    original-image pixels along the longer side; pixels beyond the border come out black
    (``F.crop`` pads)."""

    def __init__(self, resize, crop, shift, mode, antialias, squash=False):
        self.resize, self.crop, self.shift = resize, crop, shift
        self.mode, self.antialias, self.squash = mode, antialias, squash

    def __call__(self, img):
        from torchvision.transforms import functional as F

        w0, h0 = img.size
        if self.resize:
            size = [self.resize, self.resize] if self.squash else self.resize
            img = F.resize(img, size, interpolation=self.mode, antialias=self.antialias)
        w, h = img.size
        top, left = crop_box(h, w, self.crop, self.shift, **shift_scale(h0, w0, h, w, self.squash))
        return F.crop(img, top, left, self.crop, self.crop)

    def __repr__(self):
        return f"ResizeShiftedCrop(resize={self.resize}, crop={self.crop}, shift={self.shift})"


def shift_scale(h0: int, w0: int, h: int, w: int, squash: bool) -> dict:
    """``crop_box``'s ``scale`` (and, after a squash, ``horizontal``) for an (h0, w0)
    image resized to (h, w): the shift is in pixels of the original's longer side."""
    if not squash:
        return {"scale": min(w, h) / min(w0, h0)}
    horizontal = w0 >= h0
    return {"scale": (w / w0) if horizontal else (h / h0), "horizontal": horizontal}


def _fmt(t):
    return "(" + ", ".join(f"{x:.3g}" for x in t) + ")"


# ============================================================ the tensor implementation
def preprocess_tensors(images: list, views: Mapping[str, View], via_float: bool | None = None) -> dict:
    """uint8 (3, H, W) images (any sizes, one device) -> {view key: (N, 3, h, w) float32},
    normalised, on that device, in input order: ``View.transform()`` on tensors.

    Images of one size are stacked and resized together (one kernel per size group rather
    than per image: ImageNet is mostly 500x375 and 375x500), once per distinct (resize,
    interpolation, antialias), then cropped per view; the float conversion and
    normalisation run once per view. ``via_float`` defaults to True on CUDA."""
    import torch

    if not images:
        return {}
    if via_float is None:
        via_float = images[0].device.type == "cuda"
    groups: dict[tuple, list[int]] = collections.defaultdict(list)
    for i, img in enumerate(images):
        groups[tuple(img.shape)].append(i)
    crops: dict[str, list] = {k: [] for k in views}
    order: list[int] = []
    for shape, idx in groups.items():
        h0, w0 = shape[-2:]
        batch = images[idx[0]][None] if len(idx) == 1 else torch.stack([images[i] for i in idx])
        resized: dict = {}
        for k, v in views.items():
            rk = (v.resize, v.interpolation, v.antialias, v.squash)
            if rk not in resized:
                resized[rk] = (_resize_uint8(batch, v.resize, v.interpolation, v.antialias, via_float, v.squash)
                               if v.resize else batch)
            crops[k].append(_crop_view(resized[rk], v, h0, w0))
        order.extend(idx)
    device = images[0].device
    inverse = None
    if order != list(range(len(images))):
        # argsort of a permutation is its inverse; non_blocking: a blocking host-to-device
        # copy would wait for the models' queued work
        inverse = torch.tensor(order).argsort().to(device, non_blocking=True)
    out = {}
    for k, v in views.items():
        x = crops[k][0] if len(crops[k]) == 1 else torch.cat(crops[k])
        if inverse is not None:
            x = x.index_select(0, inverse)
        x = x.float().div_(255.0)
        out[k] = x.sub_(_channel_constant(v.mean, device)).div_(_channel_constant(v.std, device))
    return out


def _resize_uint8(img, size: int, interpolation: str, antialias: bool, via_float: bool = False,
                  squash: bool = False):
    """Shorter side -> ``size`` (torchvision ``Resize(int)`` geometry; both sides with
    ``squash``) on a uint8 (3, H, W) tensor; output uint8, rounded like PIL's. ``via_float``:
    interpolate in float32, then clamp and round (what torchvision does on CUDA, where
    uint8 kernels do not exist)."""
    from torchvision.transforms.v2 import functional as F

    mode = F.InterpolationMode(interpolation)
    sizes = [size, size] if squash else [size]
    if not via_float:
        return F.resize(img, sizes, interpolation=mode, antialias=antialias)
    out = F.resize(img.float(), sizes, interpolation=mode, antialias=antialias)
    return out.clamp_(0, 255).round_().to(img.dtype) if out.dtype != img.dtype else out


def _crop_view(img, view: View, h0: int, w0: int):
    """Crop of resized (..., 3, h, w) images as the PIL path does: ``CenterCrop`` (zero padding
    when the crop is larger) or, with a shift, the window of ``crop_box`` moved by ``shift``
    original pixels; anything outside the image is black (0)."""
    from torchvision.transforms.v2 import functional as F

    if not view.crop:
        return img
    if not view.shift:
        return F.center_crop(img, [view.crop, view.crop])
    h, w = img.shape[-2:]
    top, left = crop_box(h, w, view.crop, view.shift, **shift_scale(h0, w0, h, w, view.squash))
    return F.crop(img, top, left, view.crop, view.crop)


_CONSTANTS: dict = {}


def _channel_constant(values, device):
    """(1, 3, 1, 1) float32 tensor of ``values`` on ``device``, made once per device (a fresh
    host-to-device copy per batch would stall on the GPU's queued work)."""
    import torch

    key = (tuple(values), str(device))
    if key not in _CONSTANTS:
        _CONSTANTS[key] = torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1).to(device)
    return _CONSTANTS[key]
