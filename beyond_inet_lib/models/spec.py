"""``ModelSpec``: a model described without loading it (key, label, source, architecture,
training, the paper's key, weights id, resolution, preprocessing), its views and its
variants (``at_resolution``, ``with_prompts``); ``load`` builds the ``LoadedModel``.

Cheap and frozen: a spec is what the result cache keys on and what a worker unpickles. How
a key becomes a spec is ``registry``'s job.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

from ..run_settings import CLIP_LOGIT_SCALES
from ..views import View
from .loaded import Built, LoadedModel, resize_vit_input
from .preprocess import CLIP_PAPER, Preprocess
from .zeroshot import clip_classifier, prompt_variant

SOURCES = ("timm", "open_clip", "pip", "file", "random", "hf", "py")
ARCHS = ("vit", "convnext", "efficientnet", "other")
TRAININGS = ("supervised", "clip", "other")
#: what a model's forward gives: ImageNet-1k logits, or (features-only) its pooled features
LABEL_KINDS = ("imagenet", "none")
PAPER_KEYS = ("convnext_sup", "vit_sup", "convnext_clip", "vit_clip")


@dataclass(frozen=True)
class ModelSpec:
    """A model, described without loading it (``registry.get_model`` makes one from a key)."""

    key: str
    label: str
    source: str
    arch: str
    training: str
    paper_key: str | None
    trained: bool
    weights_id: str
    resolution: int
    native_resolution: int = 224
    paper_preprocess: Preprocess = CLIP_PAPER
    library_preprocess: Preprocess = CLIP_PAPER
    base_key: str = ""
    description: str = ""
    patch_size: int | None = None   # a ViT's: an input side must be a whole number of patches
    prompts: str = "paper"          # a CLIP model's zero-shot prompt set (``with_prompts``)
    builder: Callable[[], Built] | None = field(default=None, compare=False, repr=False)
    labels: str = "imagenet"        # 'none': features only (no ImageNet-1k logits)

    def __post_init__(self):
        for name, allowed in (("source", SOURCES), ("arch", ARCHS), ("training", TRAININGS),
                              ("labels", LABEL_KINDS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"ModelSpec.{name}={getattr(self, name)!r}; expected one of {allowed}")
        if self.paper_key is not None and self.paper_key not in PAPER_KEYS:
            raise ValueError(f"ModelSpec.paper_key={self.paper_key!r}; expected one of {PAPER_KEYS}")
        if not self.base_key:
            object.__setattr__(self, "base_key", self.key)

    # ----- preprocessing
    def view(self, preprocessing: str = "paper") -> View:
        """The view at this spec's resolution: 'paper' (PROTOCOLS.md) or 'library' (timm's
        ``resolve_data_config`` / open_clip's preprocess config)."""
        if preprocessing == "paper":
            return self.paper_preprocess.view(self.resolution)
        if preprocessing == "library":
            return self.library_preprocess.view(self.resolution)
        raise ValueError(f"preprocessing={preprocessing!r}; expected 'paper' or 'library'")

    # ----- resolution variants
    def at_resolution(self, resolution: int) -> "ModelSpec":
        """The same weights at R x R input: key ``<base key>@R``. ViTs get their position
        embeddings resampled to the R/patch grid at load (bicubic, antialias); conv nets
        run unchanged. The views follow the recipe: Resize(floor(R / crop_pct)) -> Crop(R)."""
        if not isinstance(resolution, int) or resolution < 16:
            raise ValueError(f"resolution must be an int >= 16, got {resolution!r}")
        if resolution != self.nearest_resolution(resolution):
            raise ValueError(f"{self.base_key}@{resolution}: this ViT takes whole {self.patch_size}-px "
                             f"patches; the nearest resolution it accepts is "
                             f"{self.nearest_resolution(resolution)}")
        return dataclasses.replace(self, key=f"{self.base_key}@{resolution}", resolution=resolution)

    def with_prompts(self, prompts: str) -> "ModelSpec":
        """A CLIP model whose zero-shot head encodes the prompt set ``prompts``
        (``CLIP_PROMPTS``); its weights_id names the set, so results never mix. Any other
        model is returned as it is."""
        if self.training != "clip" or prompts == self.prompts:
            return self
        base = self.weights_id.removesuffix(prompt_variant(self.prompts))
        return dataclasses.replace(self, prompts=prompts, weights_id=base + prompt_variant(prompts))

    def nearest_resolution(self, resolution: int) -> int:
        """``resolution``, or for a ViT whose patch size does not divide it the nearest
        multiple of the patch size (halfway: the larger), e.g. 112 -> 128 for a /32 ViT."""
        p = self.patch_size
        if self.arch != "vit" or not p or resolution % p == 0:
            return resolution
        return max(p, p * int(resolution / p + 0.5))

    # ----- loading
    def load(self, device="cpu", clip_logit_scale: str = "paper", cache_dir=None) -> LoadedModel:
        """Build the network with its weights and return it in eval mode on ``device``.
        Pretrained weights absent here are downloaded into the Hugging Face cache when this
        machine may and can reach the hub, else ``WeightsNotFound`` says what to do, within
        seconds (``weights.py``, ``hub.py``). A CLIP model gets its zero-shot head
        (``zeroshot.py``), cached under ``cache_dir``."""
        if clip_logit_scale not in CLIP_LOGIT_SCALES:
            raise ValueError(f"clip_logit_scale={clip_logit_scale!r}; expected one of {CLIP_LOGIT_SCALES}")
        if self.builder is None:
            raise RuntimeError(f"{self.key}: this spec has no builder; get it with get_model(key)")
        built = self.builder()
        net = built.net
        if self.resolution != self.native_resolution and self.arch == "vit":
            resize_vit_input(net, self.resolution)
        head = scale = None
        if self.training == "clip":
            head, scale = clip_classifier(self, built, device=device, cache_dir=cache_dir,
                                          clip_logit_scale=clip_logit_scale)
        model = LoadedModel(self, net, zeroshot_head=head, logit_scale=scale)
        return model.to(device).eval()

    def describe(self) -> str:
        flag = "" if self.trained else " [UNTRAINED]"
        return f"{self.key}: {self.label}{flag} ({self.source}, {self.arch}, {self.training}, {self.resolution}px)"
