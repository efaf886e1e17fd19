"""A built network (``Built``), a loaded model (``LoadedModel``) and the one change made to a network at load: a ViT's
input resolution (``resize_vit_input``).

Whatever the model's kind, ``LoadedModel.forward`` gives ImageNet-1k logits: a supervised
classifier's own 1000-way head, or for CLIP s * (v / ||v||) @ head, v the image embedding,
head the zero-shot head (``zeroshot.py``), s the logit scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .taps import LayerTaps, layer_taps
from .zeroshot import zero_shot_logits


@dataclass(frozen=True)
class Built:
    """What a model builder returns: the image network, and for CLIP the full model (text
    tower needed once, to build the zero-shot head) and its tokenizer."""

    net: nn.Module
    clip: nn.Module | None = None
    tokenizer: Callable | None = None


class LoadedModel(nn.Module):
    """A loaded model (``spec``: its ``ModelSpec``): ``forward(x)`` -> (N, 1000) logits;
    ``features(x)`` -> (N, D) pooled pre-head features; ``layer_modules(kinds)`` -> CKA
    taps. In eval mode."""

    def __init__(self, spec, net: nn.Module, *, zeroshot_head=None, logit_scale=None):
        super().__init__()
        self.spec = spec
        self.net = net  # the image network: a timm model, or a CLIP visual tower
        self.is_clip = zeroshot_head is not None
        if self.is_clip:
            self.register_buffer("zeroshot_head", zeroshot_head.float())
            self.logit_scale = float(logit_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_clip:
            return zero_shot_logits(self.net(x), self.zeroshot_head, self.logit_scale)
        return self.net(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """timm: ``forward_head(forward_features(x), pre_logits=True)``; CLIP: the image
        embedding before normalisation; an adapter network (``hf.py``, ``python.py``): its
        ``pooled_features(x)``."""
        if self.is_clip:
            return self.net(x)
        if hasattr(self.net, "pooled_features"):
            return self.net.pooled_features(x)
        return self.net.forward_head(self.net.forward_features(x), pre_logits=True)

    def layer_modules(self, kinds=None) -> LayerTaps:
        """Modules to hook for CKA, in forward order, named relative to the image network
        (``blocks.3.attn``, ``transformer.resblocks.1.mlp``, ``stages.2.blocks.0.conv_dw``).
        ``kinds``: subset of TAP_KINDS; None = the paper's grouping for the architecture
        (ViT: attention, mlp, norm; ConvNeXt: conv, linear, norm; EfficientNet: conv, norm)."""
        return layer_taps(self.net, self.spec.arch, kinds)

    def extra_repr(self) -> str:
        return f"spec={self.spec.key!r}"


def resize_vit_input(net: nn.Module, resolution: int) -> None:
    """Make a ViT accept R x R input: position embeddings resampled to the R/patch grid
    (bicubic, antialias=True; timm's ``resample_abs_pos_embed``), prefix tokens kept."""
    from timm.layers import resample_abs_pos_embed

    if hasattr(net, "set_input_resolution"):                                 # an adapter (hf.py)
        net.set_input_resolution(resolution)
        return
    if hasattr(net, "set_input_size") and hasattr(net, "patch_embed"):      # timm ViT
        patch = net.patch_embed.patch_size[0]
        _check_divisible(resolution, patch)
        net.set_input_size(img_size=(resolution, resolution))
        return
    if hasattr(net, "positional_embedding") and hasattr(net, "conv1"):      # open_clip ViT
        patch = net.patch_size[0] if isinstance(net.patch_size, tuple) else net.patch_size
        _check_divisible(resolution, patch)
        grid = resolution // patch
        old = net.positional_embedding.detach()
        new = resample_abs_pos_embed(old.unsqueeze(0), new_size=[grid, grid],
                                     old_size=list(net.grid_size), num_prefix_tokens=1,
                                     interpolation="bicubic", antialias=True)[0]
        net.positional_embedding = nn.Parameter(new, requires_grad=net.positional_embedding.requires_grad)
        net.grid_size = (grid, grid)
        net.image_size = (resolution, resolution)
        return
    trunk = getattr(net, "trunk", None)                                       # open_clip timm tower
    if trunk is not None and hasattr(trunk, "set_input_size"):
        resize_vit_input(trunk, resolution)
        return
    raise ValueError(f"{type(net).__name__}: no known way to change the input size of this ViT")


def _check_divisible(resolution: int, patch: int) -> None:
    if resolution % patch:
        raise ValueError(f"resolution {resolution} is not a multiple of the patch size {patch}")
