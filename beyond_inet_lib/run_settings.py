"""How a pass runs: the small frozen settings object the engine takes.

A leaf module (imports nothing of the package but ``paths``). A profile gives one with
``Profile.run_settings()``; a caller of ``engine.predict`` may pass one, and explicit
arguments to ``predict`` override its fields (``RunSettings.override``). The engine never
reads a profile.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from .paths import resolve_cache_dir

#: decode paths of the engine (engine.decode): auto = hybrid on CUDA, pil on CPU
DECODE_MODES = ("auto", "pil", "tensor", "hybrid")
#: auto = bf16 autocast on a GPU, fp32 on a CPU
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: 'paper': the paper's transforms (docs/protocols.md); 'library': timm's / open_clip's defaults
PREPROCESSINGS = ("paper", "library")
#: 'paper': CLIP logits = 100 x cosine; 'model': each model's learned logit_scale.exp()
CLIP_LOGIT_SCALES = ("paper", "model")
#: the CLIP zero-shot prompt set (models.zeroshot): 'paper', OpenAI's 80 ImageNet templates;
#: 'openai7', the 7 of them OpenAI's prompt-engineering notebook selected (~11x quicker to
#: encode, which matters on a CPU). A model's spec carries it (``ModelSpec.with_prompts``).
CLIP_PROMPTS = ("paper", "openai7")


@dataclass(frozen=True)
class RunSettings:
    """Compute settings of a pass (what ``engine.predict`` needs beyond models, data, views)."""

    cache_dir: Path = dataclasses.field(default_factory=resolve_cache_dir)
    device: str = "auto"              # auto | cpu | cuda | cuda:N
    precision: str = "auto"           # PRECISIONS
    batch_size: int = 32
    num_workers: int = 2
    decode: str = "auto"              # DECODE_MODES
    compile: bool = False             # torch.compile each model
    channels_last: bool = True
    preprocessing: str = "paper"      # PREPROCESSINGS
    clip_logit_scale: str = "paper"   # CLIP_LOGIT_SCALES

    def __post_init__(self):
        object.__setattr__(self, "cache_dir", resolve_cache_dir(self.cache_dir))
        for name, allowed in (("precision", PRECISIONS), ("decode", DECODE_MODES),
                              ("preprocessing", PREPROCESSINGS), ("clip_logit_scale", CLIP_LOGIT_SCALES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"RunSettings.{name}={getattr(self, name)!r}; expected one of {allowed}")
        if self.batch_size < 1 or self.num_workers < 0:
            raise ValueError(f"RunSettings: batch_size must be >= 1 and num_workers >= 0, got "
                             f"{self.batch_size} and {self.num_workers}")

    def override(self, **changes) -> "RunSettings":
        """A copy with the given fields replaced; ``None`` values are ignored (so a
        function's unset keyword arguments leave the settings as they are)."""
        given = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **given) if given else self
