"""Models on the device: loading them once per session, running a batch through one.

``load_model`` keeps the last few loaded models (per model, weights, device, CLIP logit
scale and compile setting), so a notebook's second ``predict`` does not load again.
``Runner`` runs one model's requested outputs (logits, pooled features, layer taps) on a
batch: on CUDA asynchronously, the outputs travelling to pinned host memory while the
caller queues the next batch (``HostCopy``); on out-of-memory it halves the micro-batch
and goes on; with ``pad`` a short batch is padded to the size already seen so a compiled
model never recompiles.
"""

from __future__ import annotations

import collections
import contextlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..run_settings import RunSettings
from .device import cat, empty_cache, is_oom, resolve_device

#: forward calls per model key (tests use it to prove a cached pass is not recomputed)
FORWARD_CALLS: collections.Counter = collections.Counter()

_LOADED: "collections.OrderedDict[tuple, object]" = collections.OrderedDict()
_MAX_LOADED = 6


def as_spec(m):
    """A ModelSpec for a registry key; anything else as it is."""
    if isinstance(m, str):
        from ..models import get_model

        return get_model(m)
    return m


def load_model(spec, device: str, clip_logit_scale: str, cache_dir: Path, compile: bool = False):
    """The loaded model, once per session per (model, weights, device, logit scale, compile).

    ``compile``: ``nn.Module.compile()`` in place, so ``model(x)`` runs the compiled graph
    while the model keeps its own attributes (spec, features, layer_modules); compilation
    itself happens lazily on the first forward. A compiled and an eager copy are separate
    cache entries (compiling in place must not change what an eager caller gets)."""
    key = (spec.key, str(spec.weights_id), device, clip_logit_scale, bool(compile))
    if key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    model = spec.load(device=device, clip_logit_scale=clip_logit_scale, cache_dir=cache_dir)
    model.eval()
    if compile:
        model.compile()
    _LOADED[key] = model
    while len(_LOADED) > _MAX_LOADED:
        _LOADED.popitem(last=False)
    return model


def clear_model_cache():
    """Forget the loaded models (the next pass loads them again)."""
    _LOADED.clear()


def list_layers(spec, device: str | None = None, kinds=None, cache_dir=None,
                clip_logit_scale: str | None = None, *, settings: RunSettings | None = None) -> pd.DataFrame:
    """The layers a model offers for taps (name, kind), in forward order. Loads the model
    (once per session) but runs nothing. Device, cache dir and logit scale come from
    ``settings`` (default ``RunSettings()``) unless given."""
    s = (settings or RunSettings()).override(device=device, cache_dir=cache_dir,
                                             clip_logit_scale=clip_logit_scale)
    model = load_model(as_spec(spec), resolve_device(s.device), s.clip_logit_scale, s.cache_dir)
    mods = model.layer_modules(kinds) if kinds is not None else model.layer_modules()
    kind = getattr(mods, "kind", {})
    return pd.DataFrame({"name": list(mods), "kind": [kind.get(n, "layer") for n in mods]})


def _pool_generic(out):
    """Fallback reduction of a hooked output to (N, D) for modules that do not say their
    layout: conv maps averaged over space, token sequences -> (CLS, mean of the rest)."""
    import torch

    if isinstance(out, (tuple, list)):
        out = out[0]
    if out.dim() == 4:
        return out.mean(dim=(2, 3))
    if out.dim() == 3 and out.shape[1] > 1:
        return torch.cat([out[:, 0], out[:, 1:].mean(dim=1)], dim=1)
    return out.flatten(1)


class HostCopy:
    """A batch's outputs on their way to the host: on CUDA a non-blocking copy into pinned
    memory and an event, so the caller can queue the next batch before waiting for it."""

    def __init__(self, tensors: dict):
        import torch

        self.event = None
        self.host = tensors
        if any(t.is_cuda for t in tensors.values()):
            self.host = {k: torch.empty(t.shape, dtype=t.dtype, pin_memory=True).copy_(t, non_blocking=True)
                         for k, t in tensors.items()}
            self.event = torch.cuda.Event()
            self.event.record()

    def result(self) -> dict[str, np.ndarray]:
        if self.event is not None:
            self.event.synchronize()
        return {k: v.numpy() for k, v in self.host.items()}


class Runner:
    """Runs one model's requested outputs on a batch, halving the micro-batch on OOM.

    ``pad``: pad a short batch (or micro-batch) with zeros to the size the model has seen,
    and drop the padding's outputs, so a compiled model never recompiles for the last
    batch of a pass."""

    def __init__(self, model, device: str, precision: str, channels_last: bool, pad: bool = False):
        self.model, self.device = model, device
        self.precision, self.channels_last = precision, channels_last
        self.pad = pad
        self.micro = None  # micro-batch size after a back-off (None: whole batch)
        self.seen = None   # largest batch seen (the padding target)

    def _autocast(self):
        import torch

        # An explicit bf16 runs under autocast on a CPU too ('auto' means fp32 there): the
        # cache key says bf16, so the numbers must be bf16's (protocol-sensitivity runs
        # compare them). CPU autocast has no fp16.
        if self.precision == "bf16" or (self.precision == "fp16" and self.device != "cpu"):
            dt = torch.bfloat16 if self.precision == "bf16" else torch.float16
            return torch.autocast(device_type=self.device.split(":")[0], dtype=dt)
        return contextlib.nullcontext()

    def _once(self, x, outputs, layer_names):
        """Outputs of one forward, as float32 tensors on the device (no host sync)."""
        import torch

        taps: dict = {}
        handles = []
        if layer_names:
            mods = self.model.layer_modules()
            pool = getattr(mods, "pool", lambda _name, out: _pool_generic(out))
            for name in layer_names:
                def hook(_m, _i, out, name=name):
                    taps[name] = pool(name, out).float()
                handles.append(mods[name].register_forward_hook(hook))
        try:
            FORWARD_CALLS[self.model.spec.key] += 1
            res = {}
            with torch.inference_mode(), self._autocast():
                z = None
                wants_z = "logits" in outputs or "top" in outputs
                if "features" in outputs and wants_z and hasattr(self.model, "features_and_logits"):
                    f, z = self.model.features_and_logits(x)
                    res["features"] = f.float()
                else:
                    if wants_z or layer_names:
                        z = self.model(x)
                    if "features" in outputs:
                        res["features"] = self.model.features(x).float()
                if "logits" in outputs:
                    res["logits"] = z.float()
                if "top" in outputs:     # 8 bytes per image instead of 4 kB of logits
                    prob, index = torch.softmax(z.float(), dim=1).max(dim=1)
                    res["top_prob"], res["top_index"] = prob, index.int()
            for name in layer_names or ():
                res[f"layer::{name}"] = taps[name]
            return res
        finally:
            for h in handles:
                h.remove()

    def _padded(self, xb, size):
        import torch

        n = xb.shape[0]
        if not self.pad or n >= size:
            return xb, n
        fill = xb.new_zeros((size - n, *xb.shape[1:]))
        xb = torch.cat([xb, fill])
        if self.channels_last and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb, n

    def run_async(self, x, outputs, layer_names) -> HostCopy:
        """Queue the batch; ``.result()`` of the returned object gives numpy arrays."""
        import torch

        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        n = x.shape[0]
        self.seen = max(self.seen or 0, n)
        size = self.micro or (self.seen if self.pad else n)
        parts, start = [], 0
        while start < n:
            xb, real = self._padded(x[start:start + size], size)
            try:
                out = self._once(xb, outputs, layer_names)
                parts.append({k: v[:real] for k, v in out.items()})
                start += real
            except BaseException as e:
                if not is_oom(e) or size == 1:
                    raise
                empty_cache(self.device)
                size = max(1, size // 2)
                self.micro = size
                print(f"[beyond-inet] out of memory on {self.model.spec.key}: micro-batch -> {size}",
                      file=sys.stderr)
        return HostCopy({k: cat([p[k] for p in parts]) for k in parts[0]})

    def run(self, x, outputs, layer_names) -> dict[str, np.ndarray]:
        """``run_async(...).result()``: the batch's outputs as numpy arrays."""
        return self.run_async(x, outputs, layer_names).result()
