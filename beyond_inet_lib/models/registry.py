"""From a model key to a ``ModelSpec``: the key grammar, the registry, the generic specs.

``get_model(key)`` is the one path from a name to a model: a frozen, printable
``ModelSpec`` (``spec.py``: no weights read); ``spec.load(...)`` builds the network and
returns a ``LoadedModel``; ``spec.view(...)`` its preprocessing.

Keys: the registered ones (``MODELS``, filled by ``catalog.py`` through
``register_model``), or generic ones (``KEY_PATTERNS``):
``timm:<name>`` (pretrained), ``timm:<name>:random`` (seeded random init),
``open_clip:<arch>:<pretrained tag>``, ``open_clip:<arch>:random``,
``file:<path>#timm:<name>`` and ``file:<path>#open_clip:<arch>`` (a state dict or a timm /
open_clip checkpoint), ``hf:<repo>[@<revision>]`` (a ``transformers`` image classifier,
backbone or CLIP / SigLIP model: ``hf.py``), ``py:<module>:<function>`` (any PyTorch
module with its view: ``python.py``). Any key takes a ``@<R>`` suffix: the same weights
evaluated at R x R pixels (``ModelSpec.at_resolution``).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from . import weights as W
from .loaded import Built
from .preprocess import (
    SUPERVISED_PAPER, Preprocess, open_clip_native_resolution, open_clip_patch_size, open_clip_preprocess,
    timm_native_resolution, timm_patch_size, timm_pretrained_cfg, timm_preprocess,
)
from .spec import ModelSpec
from .zeroshot import prompt_variant

KEY_PATTERNS = ("timm:<name>", "timm:<name>:random", "open_clip:<arch>:<pretrained>",
                "open_clip:<arch>:random", "file:<path>#timm:<name>",
                "file:<path>#open_clip:<arch>", "hf:<repo>[@<revision>]", "py:<module>:<function>",
                "<any key>@<resolution>")


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
                   description: str = "", patch_size: int | None = None):
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
                             description=description, patch_size=patch_size, builder=_as_built(fn))
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
    if spec.training == "clip" and prompt_variant():  # test-only shortened prompt set
        spec = dataclasses.replace(spec, weights_id=spec.weights_id + prompt_variant())
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
                     "training": s.training, "labels": s.labels, "paper_key": s.paper_key, "trained": s.trained,
                     "weights_id": s.weights_id, "resolution": s.resolution,
                     "paper_view": s.view("paper").describe(), "description": s.description})
    return pd.DataFrame(rows)


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
    if key.startswith("hf:"):
        from .hf import hf_spec

        return hf_spec(key)
    if key.startswith("py:"):
        from .python import python_spec

        return python_spec(key)
    if key in MODELS:
        return MODELS[key].make_spec()
    close = difflib.get_close_matches(key, list(MODELS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise KeyError(f"unknown model {key!r}{hint}. Registered: {', '.join(MODELS)}; "
                   f"or a generic key: {', '.join(KEY_PATTERNS)}")


def guess_arch(name: str) -> str:
    """The architecture family of a timm / open_clip name (drives taps and resizing)."""
    n = name.lower()
    if "convnext" in n:
        return "convnext"
    if "efficientnet" in n:
        return "efficientnet"
    if re.search(r"(^|[^a-z])(vit|deit)", n):
        return "vit"
    return "other"


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
    cfg = timm_pretrained_cfg(name)
    if not random_init and not cfg:
        raise ValueError(f"model key {key!r}: timm has no pretrained weights for {name!r} "
                         f"(use 'timm:{name}:random' for a random init)")
    library = timm_preprocess(name) if cfg else SUPERVISED_PAPER
    res = timm_native_resolution(name)
    full = f"{cfg['architecture']}.{cfg['tag']}" if cfg.get("tag") else name
    return ModelSpec(
        key=key, label=f"timm {full}" + (" (random init)" if random_init else ""), source="timm",
        arch=guess_arch(name), training="supervised", paper_key=None, trained=not random_init,
        weights_id=W.UNTRAINED_WEIGHTS_ID if random_init else f"timm:{full}",
        resolution=res, native_resolution=res,
        patch_size=timm_patch_size(name) if guess_arch(name) == "vit" else None,
        # the paper's supervised recipe, with the weights' own normalisation
        paper_preprocess=dataclasses.replace(SUPERVISED_PAPER, mean=library.mean, std=library.std),
        library_preprocess=library,
        builder=(lambda: Built(W.timm_random(name))) if random_init
        else (lambda: Built(W.load_timm_pretrained(full, key))))


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
    res = open_clip_native_resolution(arch)
    library = open_clip_preprocess(arch, None if random_init else tag)
    return ModelSpec(
        key=key, label=f"OpenCLIP {arch} {tag}", source="open_clip", arch=guess_arch(arch),
        training="clip", paper_key=None, trained=not random_init,
        weights_id=W.UNTRAINED_WEIGHTS_ID if random_init else f"open_clip:{arch}:{tag}",
        resolution=res, native_resolution=res, paper_preprocess=library, library_preprocess=library,
        patch_size=open_clip_patch_size(arch) if guess_arch(arch) == "vit" else None,
        builder=(lambda: W.open_clip_random(arch)) if random_init
        else (lambda: W.load_open_clip_pretrained(arch, tag, key)))


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
            W.load_file_into(lambda: load_checkpoint(net, str(path), strict=True), path, arch_key)
            return Built(net)
    else:
        arch = arch_key[len("open_clip:"):]
        arch_spec = _open_clip_spec(f"open_clip:{arch}:random")

        def build():
            import open_clip

            built = W.open_clip_random(arch)
            W.load_file_into(lambda: open_clip.load_checkpoint(built.clip, str(path), strict=True),
                             path, arch_key)
            return built
    return dataclasses.replace(
        arch_spec, key=key, base_key=key, label=f"{path.name} ({arch_key})", source="file",
        trained=True, weights_id=W.file_weights_id(path), builder=build)
