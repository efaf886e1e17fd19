"""Small stand-ins for ModelSpec / LoadedModel, so engine tests need no real weights."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch

from beyond_inet_lib.views import View


class TinyNet(torch.nn.Module):
    """Deterministic 'model': logits are a fixed linear map of per-channel means and stds.

    Hooks (``fail_after``, ``oom_above``, ``sleep``) simulate interruptions, GPU
    out-of-memory and slow models; ``before_forward(n)`` is called at the start of the
    n-th forward call (a test acts at a chosen point of a pass)."""

    def __init__(self, spec, num_classes=10, fail_after=None, oom_above=None, sleep=0.0, logit_scale=1.0,
                 before_forward=None):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.spec = spec
        self.proj = torch.nn.Linear(6, num_classes)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(num_classes, 6, generator=g))
            self.proj.bias.zero_()
        self.norm = torch.nn.Identity()
        self.calls = 0
        self.fail_after, self.oom_above, self.sleep = fail_after, oom_above, sleep
        self.logit_scale, self.before_forward = logit_scale, before_forward

    def _stats(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)

    def forward(self, x):
        self.calls += 1
        if self.before_forward is not None:
            self.before_forward(self.calls)
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        if self.oom_above is not None and x.shape[0] > self.oom_above:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        if self.sleep:
            time.sleep(self.sleep)
        return self.proj(self.norm(self._stats(x))) * self.logit_scale

    def features(self, x):
        return self._stats(x)

    def layer_modules(self, kinds=None):
        return {"norm": self.norm, "proj": self.proj}


@dataclass(frozen=True)
class FakeSpec:
    key: str = "fake"
    label: str = "Fake"
    source: str = "random"
    arch: str = "other"
    training: str = "supervised"
    paper_key: str | None = None
    trained: bool = False
    weights_id: str = "fake-v1"
    resolution: int = 32
    fail_after: int | None = None
    oom_above: int | None = None
    sleep: float = 0.0
    before_forward: Callable[[int], None] | None = None

    def view(self, preprocessing="paper"):
        if preprocessing == "library":  # a different recipe, so tests can tell which was used
            return View(resize=36, crop=32, interpolation="bicubic")
        return View(resize=40, crop=32)

    def load(self, device="cpu", clip_logit_scale="paper", cache_dir=None):
        # a CLIP model's logits depend on the logit scale asked for (here: halved for 'model')
        scale = 0.5 if self.training == "clip" and clip_logit_scale == "model" else 1.0
        return TinyNet(self, fail_after=self.fail_after, oom_above=self.oom_above, sleep=self.sleep,
                       logit_scale=scale, before_forward=self.before_forward).to(device)


def raise_boom(n_calls: int) -> None:
    """A ``before_forward`` hook that fails every forward the same way (a unit that can
    never succeed). Module-level, so Ray workers unpickle it by reference."""
    raise RuntimeError("boom: this model always fails")


class KillingView(View):
    """A ``View`` whose transform SIGKILLs its own process at the ``at``-th image it
    preprocesses, once per marker file (the first process to get there creates the marker;
    every later attempt runs normally). Same fields, same key as the plain view: the
    cache folder is the plain view's. ``killing_view(view, marker, at)`` builds one."""

    def transform(self):
        import os
        import signal

        inner = super().transform()
        marker, at, seen = self.__dict__["_marker"], self.__dict__["_at"], [0]

        def tf(img):
            seen[0] += 1
            if seen[0] == at:
                try:
                    open(marker, "x").close()
                except FileExistsError:
                    return inner(img)
                os.kill(os.getpid(), signal.SIGKILL)
            return inner(img)

        return tf


def killing_view(view: View, marker, at: int) -> KillingView:
    v = KillingView(**view.to_dict())
    v.__dict__.update(_marker=str(marker), _at=int(at))  # not fields: the view's key is unchanged
    return v
