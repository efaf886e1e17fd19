"""Layer taps for CKA: which modules of an image network to hook, and how to pool them.

``layer_taps(net, arch, kinds)`` returns the modules in forward order, each with a kind
(``TAP_KINDS``) and the layout of its output. The engine reduces a hooked output ``out``
with ``taps.pool(name, out)`` (= ``pool_tap_output(out, taps.layout[name], ...)``), which
gives (N, D): conv maps (N, C, H, W) -> mean over H, W; channels-last maps (N, H, W, C)
(ConvNeXt's norm and MLP linears) -> mean over H, W; ViT token sequences (N, T, C) ->
concat(CLS token, mean of the patch tokens) = (N, 2C) (the paper shipped no CKA code: this
keeps both the global token and the spatial content); anything else -> ``flatten(1)``.
"""

from __future__ import annotations

import re
from collections import OrderedDict

import torch
from torch import nn

TAP_KINDS = ("attention", "mlp", "norm", "conv", "linear", "block")
#: the paper's grouping of layers per architecture
DEFAULT_TAP_KINDS = {"vit": ("attention", "mlp", "norm"), "convnext": ("conv", "linear", "norm"),
                     "efficientnet": ("conv", "norm"), "other": ("conv", "linear", "norm")}


class LayerTaps(OrderedDict):
    """name -> module, in forward order; ``kind[name]`` in TAP_KINDS, ``layout[name]`` in
    ('nchw', 'nhwc', 'tokens', 'flat') telling ``pool`` how to reduce a hooked output."""

    def __init__(self):
        super().__init__()
        self.kind: dict[str, str] = {}
        self.layout: dict[str, str] = {}
        self.prefix_tokens = 1

    def add(self, name, module, kind, layout):
        self[name], self.kind[name], self.layout[name] = module, kind, layout

    def of_kind(self, kind: str) -> list[str]:
        return [n for n in self if self.kind[n] == kind]

    def pool(self, name: str, output) -> torch.Tensor:
        return pool_tap_output(output, self.layout[name], prefix_tokens=self.prefix_tokens)


def pool_tap_output(t, layout: str = "nchw", prefix_tokens: int = 1) -> torch.Tensor:
    """A hooked output -> (N, D). Tuples (nn.MultiheadAttention) -> first element.
    4-D 'nchw' -> mean over (H, W); 4-D 'nhwc' -> mean over (H, W); 3-D token sequences
    (N, T, C) -> concat(token 0 = CLS, mean of tokens[prefix_tokens:]) = (N, 2C);
    anything else -> flatten(1)."""
    if isinstance(t, (tuple, list)):
        t = t[0]
    if t.ndim == 4:
        return t.mean(dim=(1, 2)) if layout == "nhwc" else t.mean(dim=(2, 3))
    if t.ndim == 3 and layout == "tokens":
        return torch.cat([t[:, 0], t[:, prefix_tokens:].mean(dim=1)], dim=1)
    return t.flatten(1)


def layer_taps(net: nn.Module, arch: str, kinds=None) -> LayerTaps:
    """The taps of ``net`` (an image network of architecture family ``arch``) whose kind is
    in ``kinds`` (None: ``DEFAULT_TAP_KINDS[arch]``), in forward order."""
    kinds = DEFAULT_TAP_KINDS[arch] if kinds is None else tuple([kinds] if isinstance(kinds, str) else kinds)
    bad = [k for k in kinds if k not in TAP_KINDS]
    if bad:
        raise ValueError(f"unknown tap kinds {bad}; accepted: {', '.join(TAP_KINDS)}")
    everything = LayerTaps()
    if hasattr(net, "find_taps"):  # an adapter (hf.py): its library names its modules its own way
        net.find_taps(everything)
    else:
        {"vit": _vit_taps, "convnext": _convnext_taps}.get(arch, _generic_taps)(net, everything)
    taps = LayerTaps()
    taps.prefix_tokens = int(getattr(net, "num_prefix_tokens", 1))
    for name in everything:
        if everything.kind[name] in kinds:
            taps.add(name, everything[name], everything.kind[name], everything.layout[name])
    return taps


_NORM_TYPES = (nn.LayerNorm, nn.BatchNorm2d, nn.GroupNorm)


def _is_channels_last_norm(m: nn.Module) -> bool:
    return isinstance(m, nn.LayerNorm) and "2d" not in type(m).__name__.lower()


def _vit_taps(net: nn.Module, taps: LayerTaps) -> None:
    final_norms = {"norm", "fc_norm", "ln_post"}
    for name, m in net.named_modules():
        if re.fullmatch(r"(blocks|transformer\.resblocks)\.\d+", name):
            taps.add(name, m, "block", "tokens")
        elif re.search(r"(blocks|resblocks)\.\d+\.attn$", name):
            taps.add(name, m, "attention", "tokens")
        elif re.search(r"(blocks|resblocks)\.\d+\.mlp$", name):
            taps.add(name, m, "mlp", "tokens")
        elif isinstance(m, _NORM_TYPES) and (re.search(r"\.\d+\.(norm1|norm2|ln_1|ln_2)$", name)
                                             or name in final_norms):
            # the final norm of timm ViTs outputs all tokens; open_clip's ln_post the pooled one
            taps.add(name, m, "norm", "tokens")


def _convnext_taps(net: nn.Module, taps: LayerTaps) -> None:
    for name, m in net.named_modules():
        if re.search(r"stages\.\d+\.blocks\.\d+$", name):
            taps.add(name, m, "block", "nchw")
        elif name.endswith(".conv_dw"):
            taps.add(name, m, "conv", "nchw")
        elif re.search(r"\.mlp\.fc[12]$", name):
            taps.add(name, m, "linear", "nhwc" if isinstance(m, nn.Linear) else "nchw")
        elif isinstance(m, _NORM_TYPES):
            taps.add(name, m, "norm", "nhwc" if _is_channels_last_norm(m) else "nchw")


def _generic_taps(net: nn.Module, taps: LayerTaps) -> None:
    for name, m in net.named_modules():
        if re.fullmatch(r"(.*\.)?blocks\.\d+(\.\d+)?", name):
            taps.add(name, m, "block", "nchw")
        elif isinstance(m, nn.Conv2d):
            taps.add(name, m, "conv", "nchw")
        elif isinstance(m, _NORM_TYPES):
            taps.add(name, m, "norm", "nhwc" if _is_channels_last_norm(m) else "nchw")
        elif isinstance(m, nn.Linear):
            taps.add(name, m, "linear", "flat")
