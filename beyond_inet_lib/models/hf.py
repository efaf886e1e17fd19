"""Hugging Face ``transformers`` models: ``hf:<repo>[@<revision>]``.

What the repo's ``config.json`` names decides the kind:

- an image classifier (``*ForImageClassification``): its logits become ImageNet-1k logits
  when its ``id2label`` holds the 1,000 ImageNet classes (WordNet lemmas, open_clip's
  names or WNIDs, in any order; a leading 'background' class of 1,001 is dropped); any other
  label set makes it features-only (``ModelSpec.labels == 'none'``): its features are the
  input of its classification head;
- a dual encoder (``CLIPModel``, ``SiglipModel``): a CLIP model, classified zero-shot with
  the same prompt templates and head as open_clip's (``zeroshot.py``: the text tower
  encodes the prompts through ``HFTextEncoder``);
- any other vision model (a backbone such as ``Dinov2Model``): features-only, its pooled
  output.

Preprocessing: the repo's image processor (``preprocessor_config.json``) read by
transformers itself and written as a ``Preprocess`` (``preprocess_of``): shortest-edge
resize + centre crop, ConvNeXt's crop fraction, or the squash resize of ViT / SigLIP
(``View.squash``); that is the 'library' view. The 'paper' view of a supervised model is
the paper's supervised recipe with the processor's mean and std; of a CLIP model, its own.

Files come from the Hugging Face hub cache first, then the hub under the rules of
``hub.py`` (``HF_HUB_OFFLINE``, a 3 s answer deadline): ``config.json`` and the processor
config when the spec is made (they are small; the spec's ``weights_id`` is the commit they
belong to), the weights (one file or the shards of an index) and a dual encoder's
tokenizer files when it is built. transformers then loads the local snapshot folder with
``HF_HUB_OFFLINE=1`` in force.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import re
from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsNotFound
from .hub import HubUnavailable, download_first, hf_cache_dir, hub_offline, repo_folder
from .loaded import Built
from .preprocess import SUPERVISED_PAPER, Preprocess, crop_fraction
from .taps import TAP_KINDS, layer_taps

KEY_RE = re.compile(r"hf:(?P<repo>[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?)(?:@(?P<revision>[\w./-]+))?")
CONFIG = "config.json"
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                   "merges.txt", "spiece.model", "added_tokens.json")
#: dual encoders: model_type -> how its text tower pads prompts (SigLIP was trained on
#: prompts padded to the full length, and pools the last token)
DUAL_ENCODERS = {"clip": "longest", "siglip": "max_length"}
VIT_TYPES = {"vit", "deit", "beit", "data2vec-vision", "dinov2", "dinov2_with_registers", "dinov3_vit",
             "vit_msn", "vit_mae", "ijepa", "clip", "clip_vision_model", "siglip", "siglip_vision_model"}
CONVNEXT_TYPES = {"convnext", "convnextv2"}
# PIL resampling codes (image processors store these) -> View interpolation; Lanczos,
# box and Hamming have no View equivalent: their nearest kin is used
RESAMPLE = {0: "nearest", 1: "bicubic", 2: "bilinear", 3: "bicubic", 4: "bilinear", 5: "bilinear"}


# -------------------------------------------------------------------------- the key
def parse_key(key: str) -> tuple[str, str | None]:
    """``hf:<repo>[@<revision>]`` -> (repo id, revision or None)."""
    m = KEY_RE.fullmatch(key)
    if not m:
        raise ValueError(f"model key {key!r}: expected 'hf:<org>/<name>' or 'hf:<org>/<name>@<revision>' "
                         f"(a Hugging Face model repo, e.g. hf:google/vit-base-patch16-224)")
    return m.group("repo"), m.group("revision")


# ------------------------------------------------------------------------- the files
def _not_here(key: str, repo: str, what: str, reason: str) -> WeightsNotFound:
    cache = hf_cache_dir()
    return WeightsNotFound(
        f"{key}: {what} of {repo} are not on this machine and cannot be downloaded here: {reason}.\n"
        f"Looked in {repo_folder(repo, cache)}.\n"
        f"On a connected machine run:\n"
        f"  beyond-inet models get {key}\n"
        f"then copy the folder it prints ({repo_folder(repo).name}) into {cache} here "
        f"(or copy that machine's whole hub folder and set HF_HUB_CACHE to the copy).")


def _cached(repo: str, filename: str, revision: str | None) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(repo, filename, cache_dir=str(hf_cache_dir()), revision=revision)
    return hit if isinstance(hit, str) and Path(hit).is_file() else None


def hub_file(key: str, repo: str, filenames, revision: str | None, what: str) -> str | None:
    """The first of ``filenames`` the repo holds: from the hub cache, else downloaded
    (``hub.download_first``); None when the hub says the repo has none of them;
    ``WeightsNotFound`` when it is not here and cannot be fetched."""
    for name in filenames:
        hit = _cached(repo, name, revision)
        if hit:
            return hit
    try:
        return download_first(repo, filenames, revision, what=key, missing_ok=True)
    except HubUnavailable as e:
        raise _not_here(key, repo, what, str(e)) from None


def _snapshot_files(key: str, repo: str, snapshot: Path, names, what: str, *, optional: bool) -> list[Path]:
    """Each of ``names`` in the snapshot folder, downloaded into it when absent (the
    snapshot's commit pins the revision). ``optional``: names the repo may lack; offline,
    the ones not here are taken as absent."""
    out = []
    for name in names:
        local = snapshot / name
        absent = _absent_marker(snapshot, name)
        if local.is_file():
            out.append(local)
            continue
        if absent.is_file():
            continue
        try:
            got = download_first(repo, (name,), snapshot.name, what=key, missing_ok=True)
        except HubUnavailable as e:
            if optional:
                continue
            raise _not_here(key, repo, what, str(e)) from None
        if got is not None:
            out.append(Path(got))
        else:
            absent.parent.mkdir(parents=True, exist_ok=True)
            absent.touch()
    return out


def _absent_marker(snapshot: Path, name: str) -> Path:
    """Where huggingface_hub records that a commit has no file ``name``
    (``<repo folder>/.no_exist/<commit>/<name>``): asked once, never again."""
    return snapshot.parent.parent / ".no_exist" / snapshot.name / name


def weights_files(key: str, repo: str, snapshot: Path) -> list[Path]:
    """The weights of the snapshot: one file, or an index and every shard it names."""
    for name in WEIGHT_FILES:
        if (snapshot / name).is_file():
            found = snapshot / name
            break
    else:
        try:
            got = download_first(repo, WEIGHT_FILES, snapshot.name, what=key)
        except HubUnavailable as e:
            raise _not_here(key, repo, "the weights", str(e)) from None
        found = Path(got)
    if not found.name.endswith(".index.json"):
        return [found]
    shards = sorted(set(json.loads(found.read_text())["weight_map"].values()))
    return [found, *_snapshot_files(key, repo, snapshot, shards, "the weight shards", optional=False)]


def fetch_snapshot(key: str, dual: bool) -> Path:
    """Every file the model of ``key`` needs, in its snapshot folder of the hub cache:
    config, processor config, weights and, for a dual encoder, the tokenizer. Returns the
    snapshot folder (what transformers loads)."""
    repo, _ = parse_key(key)
    snapshot = Path(_config_path(key)).parent
    _snapshot_files(key, repo, snapshot, PROCESSOR_FILES, "the processor config", optional=True)
    weights_files(key, repo, snapshot)
    if dual:
        _snapshot_files(key, repo, snapshot, TOKENIZER_FILES, "the tokenizer", optional=True)
        if not any((snapshot / n).is_file() for n in ("tokenizer.json", "vocab.json", "spiece.model")):
            raise _not_here(key, repo, "the tokenizer files", "none is in the hub cache and the hub "
                            "could not be asked (or holds none)")
    return snapshot


# ----------------------------------------------------------------------- the spec
def _config_path(key: str) -> str:
    repo, revision = parse_key(key)
    path = hub_file(key, repo, (CONFIG,), revision, "the config")
    if path is None:
        raise ValueError(f"model key {key!r}: the Hugging Face repo {repo} has no config.json "
                         f"(is it a transformers model?)")
    return path


def _require_transformers(key: str):
    try:
        import transformers
    except ImportError:
        raise ValueError(f"model key {key!r}: Hugging Face models need the transformers package: "
                         f"pip install 'beyond-inet[hf]'") from None
    return transformers


def model_kind(config: dict) -> str:
    """'dual' (CLIP, SigLIP), 'classifier' (an image-classification head) or 'backbone'."""
    if config.get("model_type") in DUAL_ENCODERS:
        return "dual"
    if any(a.endswith(("ForImageClassification", "ForImageClassificationWithTeacher"))
           for a in config.get("architectures") or ()):
        return "classifier"
    return "backbone"


def _vision_config(config: dict) -> dict:
    return config.get("vision_config") or config


def arch_of(config: dict) -> str:
    mt = config.get("model_type", "")
    if mt in CONVNEXT_TYPES:
        return "convnext"
    if mt == "efficientnet":
        return "efficientnet"
    return "vit" if mt in VIT_TYPES else "other"


def imagenet_columns(config: dict) -> list[int] | None:
    """For each ImageNet-1k class (in index order) the model's logit column, when its
    ``id2label`` holds the 1,000 classes (a 'background' class 0 of 1,001 ignored); None
    for any other label set."""
    from ..data.imagenet_labels import imagenet_indices_of_names

    id2label = config.get("id2label") or {}
    labels = [id2label.get(str(i), id2label.get(i)) for i in range(len(id2label))]
    offset = 1 if len(labels) == 1001 and str(labels[0]).strip().lower() == "background" else 0
    labels = labels[offset:]
    if len(labels) != 1000 or any(x is None for x in labels):
        return None
    index, _why = imagenet_indices_of_names(labels, positional=True)
    if sorted(index.tolist()) != list(range(1000)):
        return None
    columns = [0] * 1000
    for column, cls in enumerate(index.tolist()):
        columns[cls] = column + offset
    return columns


def _size(value) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return {k: getattr(value, k) for k in ("height", "width", "shortest_edge", "longest_edge")
            if getattr(value, k, None) is not None}


def preprocess_of(processor, key: str) -> tuple[Preprocess, int]:
    """(the processor as a resolution-free ``Preprocess``, its input resolution): a
    transformers image processor's resize, crop, resampling and normalisation. A processor
    that keeps images at different sizes or makes them non-square is refused (``ValueError``)."""
    def refuse(why):
        return ValueError(f"model key {key!r}: its image processor ({type(processor).__name__}) {why}; "
                          f"load the model yourself and register it with its transform (py:<module>:<function>)")

    if getattr(processor, "do_resize", True) is False:
        raise refuse("does not resize images")
    if getattr(processor, "do_rescale", True) and abs(float(getattr(processor, "rescale_factor", 1 / 255))
                                                      - 1 / 255) > 1e-9:
        raise refuse("rescales pixels by other than 1/255")
    resample = getattr(processor, "resample", 2)
    interpolation = RESAMPLE.get(int(resample), "bilinear") if resample is not None else "bilinear"
    if getattr(processor, "do_normalize", True):
        mean, std = tuple(processor.image_mean), tuple(processor.image_std)
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    size, crop = _size(getattr(processor, "size", None)), _size(getattr(processor, "crop_size", None))
    crop_side = None
    if getattr(processor, "do_center_crop", False) and crop:
        if crop.get("height") != crop.get("width"):
            raise refuse(f"crops to a non-square {crop}")
        crop_side = int(crop["height"])
    crop_pct = getattr(processor, "crop_pct", None)
    if "shortest_edge" in size and "height" not in size:
        s = int(size["shortest_edge"])
        if crop_pct is not None and type(processor).__name__.startswith("ConvNext"):
            # ConvNeXt's rule: below 384 px, Resize(s / crop_pct) then CenterCrop(s); else squash to s
            return (Preprocess(float(crop_pct), interpolation, mean, std) if s < 384
                    else Preprocess(1.0, interpolation, mean, std, squash=True)), s
        side = crop_side or s
        return Preprocess(crop_fraction(side, s), interpolation, mean, std), side
    if "height" in size:
        if size["height"] != size.get("width"):
            raise refuse(f"resizes to a non-square {size}")
        h = int(size["height"])
        side = crop_side or h
        return Preprocess(crop_fraction(side, h), interpolation, mean, std, squash=True), side
    raise refuse(f"resizes by {size or 'nothing'} (neither a shortest edge nor a square size)")


def hf_spec(key: str):
    """The ``ModelSpec`` of an ``hf:`` key (reads the config and processor config; no weights)."""
    from .spec import ModelSpec

    repo, _revision = parse_key(key)
    transformers = _require_transformers(key)
    config_path = Path(_config_path(key))
    snapshot = config_path.parent
    config = json.loads(config_path.read_text())
    kind = model_kind(config)
    if config.get("model_type") == "siglip2":
        raise ValueError(f"model key {key!r}: SigLIP 2 NaFlex models (variable patch grids) are not supported; "
                         f"the fixed-resolution SigLIP 2 checkpoints (model_type 'siglip') are")
    hub_file(key, repo, PROCESSOR_FILES, snapshot.name, "the processor config")
    if not any((snapshot / n).is_file() for n in PROCESSOR_FILES):
        raise ValueError(f"model key {key!r}: the repo {repo} has no preprocessor_config.json, so its "
                         f"preprocessing is unknown; load it yourself and register it with its transform "
                         f"(py:<module>:<function>)")
    with hub_offline():
        processor = transformers.AutoImageProcessor.from_pretrained(str(snapshot), local_files_only=True)
    library, resolution = preprocess_of(processor, key)
    vision = _vision_config(config)
    arch = arch_of(vision if kind == "dual" else config)
    columns = imagenet_columns(config) if kind == "classifier" else None
    labels = "imagenet" if kind == "dual" or columns is not None else "none"
    training = {"dual": "clip", "classifier": "supervised"}.get(kind, "other")
    paper = library if kind == "dual" else Preprocess(SUPERVISED_PAPER.crop_pct, SUPERVISED_PAPER.interpolation,
                                                      library.mean, library.std)
    patch = vision.get("patch_size")
    patch = int(patch[0] if isinstance(patch, (list, tuple)) else patch) if patch and arch == "vit" else None
    what = {"dual": "zero-shot", "classifier": "ImageNet classifier" if columns else "features only",
            "backbone": "features only"}[kind]
    return ModelSpec(
        key=key, label=f"{repo} ({what})", source="hf", arch=arch, training=training, paper_key=None,
        trained=True, weights_id=f"hf:{repo}@{snapshot.name}", resolution=resolution,
        native_resolution=resolution, paper_preprocess=paper, library_preprocess=library, patch_size=patch,
        labels=labels, description=f"transformers {', '.join(config.get('architectures') or [config.get('model_type', '?')])} "
                                   f"from the Hugging Face hub",
        builder=functools.partial(build, key, kind, arch, columns))


# --------------------------------------------------------------------- building
def build(key: str, kind: str, arch: str, columns) -> Built:
    """Download what is missing, load the snapshot with transformers, wrap it."""
    transformers = _require_transformers(key)
    snapshot = fetch_snapshot(key, dual=kind == "dual")
    kw = dict(local_files_only=True, dtype=torch.float32)
    with hub_offline(), _no_progress_bars(transformers):
        if kind == "classifier":
            model = transformers.AutoModelForImageClassification.from_pretrained(str(snapshot), **kw)
            return Built(HFClassifier(model.eval(), arch, columns))
        model = transformers.AutoModel.from_pretrained(str(snapshot), **kw).eval()
        if kind == "backbone":
            return Built(HFBackbone(model, arch))
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(snapshot), local_files_only=True)
    padding = DUAL_ENCODERS[model.config.model_type]
    return Built(net=HFImageEmbedder(model, arch), clip=HFTextEncoder(model),
                 tokenizer=HFTokenize(tokenizer, model.config.text_config.max_position_embeddings, padding))


@contextlib.contextmanager
def _no_progress_bars(transformers):
    """transformers' per-load bars ('Loading weights') off: a load takes a moment, and a
    report's notebooks would show them."""
    logging = transformers.utils.logging
    was = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            logging.enable_progress_bar()


def _accepts(module: nn.Module, argument: str) -> bool:
    try:
        return argument in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False


class _Adapter(nn.Module):
    """What every adapter shares: the tower whose modules are tapped, its prefix tokens,
    and resolution changes by position-embedding interpolation."""

    def __init__(self, tower: nn.Module, arch: str):
        super().__init__()
        self.interpolate = False
        self.num_prefix_tokens = _prefix_tokens(tower) if arch == "vit" else 1
        self._tower_name = None
        self._arch = arch

    def _pixel_kwargs(self, module: nn.Module) -> dict:
        return {"interpolate_pos_encoding": True} if self.interpolate and _accepts(module, "interpolate_pos_encoding") else {}

    def set_input_resolution(self, resolution: int) -> None:
        """Run at another input size: transformers interpolates the position embeddings
        (bicubic) on every forward (``interpolate_pos_encoding``)."""
        self.interpolate = True

    def find_taps(self, taps) -> None:
        """The taps of the tower, named as in it (``taps.layer_taps`` asks)."""
        tower = self.get_submodule(self._tower_name)
        if self._arch == "vit":
            _vit_taps(tower, taps)
        elif self._arch == "convnext":
            _convnext_taps(tower, taps)
        else:  # the generic rules of taps.py, on the tower itself
            found = layer_taps(tower, "other", TAP_KINDS)
            for name in found:
                taps.add(name, found[name], found.kind[name], found.layout[name])


def _prefix_tokens(tower: nn.Module) -> int:
    """Tokens before the patch tokens: the class token (none in SigLIP) and registers."""
    cfg = getattr(tower, "config", None)
    if cfg is not None and getattr(cfg, "model_type", "").startswith("siglip"):
        return 0
    return 1 + int(getattr(cfg, "num_register_tokens", 0) or 0)


class HFClassifier(_Adapter):
    """An image classifier: ``forward`` -> its logits in ImageNet-1k order (``columns``),
    or, features-only, the features; ``pooled_features`` -> the input of its head."""

    HEADS = ("classifier", "cls_classifier", "head", "fc")

    def __init__(self, model: nn.Module, arch: str, columns):
        tower = model.base_model if model.base_model is not model else model
        super().__init__(tower, arch)
        self.model = model
        self._tower_name = "model." + _name_in(model, tower) if tower is not model else "model"
        self.register_buffer("columns", torch.tensor(columns) if columns else None, persistent=False)
        self._head = next((getattr(model, h) for h in self.HEADS if isinstance(getattr(model, h, None), nn.Module)), None)
        self._captured = None
        if self._head is not None:
            self._head.register_forward_pre_hook(self._capture)

    def _capture(self, _module, inputs):
        self._captured = inputs[0]

    def _run(self, x):
        return self.model(pixel_values=x, **self._pixel_kwargs(self.model))

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        if self._head is None:  # no head module found: the base model's pooled output
            return _pooled(self.model.base_model(pixel_values=x, **self._pixel_kwargs(self.model.base_model)))
        self._run(x)
        f, self._captured = self._captured, None
        return f.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.columns is None:
            return self.pooled_features(x)
        self._captured = None
        return self._run(x).logits.index_select(1, self.columns)


class HFBackbone(_Adapter):
    """A vision backbone (features only): its pooled output (``pooler_output``, else the
    class token, else the spatial mean)."""

    def __init__(self, model: nn.Module, arch: str):
        super().__init__(model, arch)
        self.model = model
        self._tower_name = "model"

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        return _pooled(self.model(pixel_values=x, **self._pixel_kwargs(self.model)))

    forward = pooled_features


def _pooled(out) -> torch.Tensor:
    pooled = getattr(out, "pooler_output", None)
    if pooled is not None:
        return pooled.flatten(1)
    h = out.last_hidden_state
    return h[:, 0] if h.ndim == 3 else h.mean(dim=(2, 3))


class HFImageEmbedder(_Adapter):
    """The image side of a dual encoder: ``forward`` -> the image embedding (what
    ``get_image_features`` gives: the vision tower's pooled output, projected)."""

    def __init__(self, model: nn.Module, arch: str):
        super().__init__(model.vision_model, arch)
        self.vision_model = model.vision_model
        self.projection = getattr(model, "visual_projection", None) or nn.Identity()
        self._tower_name = "vision_model"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.vision_model(pixel_values=x, **self._pixel_kwargs(self.vision_model))
        return self.projection(out.pooler_output)


class HFTextEncoder(nn.Module):
    """The text side of a dual encoder as ``zeroshot.py`` uses open_clip's:
    ``encode_text(tokens, normalize)`` and ``logit_scale``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.text_model = model.text_model
        self.projection = getattr(model, "text_projection", None) or nn.Identity()
        self.logit_scale = model.logit_scale

    def encode_text(self, tokens: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        # no attention mask: CLIP's text tower is causal and pools its (first) end token,
        # so padding after it changes nothing; SigLIP was trained on full-length padding
        x = self.projection(self.text_model(input_ids=tokens).pooler_output)
        return nn.functional.normalize(x, dim=-1) if normalize else x


class HFTokenize:
    """texts -> input ids (N, L): truncated to the text tower's length, padded as the model
    was trained (CLIP: to the longest prompt; SigLIP: to the full length)."""

    def __init__(self, tokenizer, max_length: int, padding: str):
        self.tokenizer, self.max_length, self.padding = tokenizer, int(max_length), padding

    def __call__(self, texts) -> torch.Tensor:
        return self.tokenizer(list(texts), padding=self.padding, truncation=True, max_length=self.max_length,
                              return_tensors="pt")["input_ids"]


def _name_in(root: nn.Module, module: nn.Module) -> str:
    return next(n for n, m in root.named_modules() if m is module)


# ------------------------------------------------------------------------ layer taps
_LAYER = r"(?:^|\.)(?:layers?)\.\d+"


def _vit_taps(tower: nn.Module, taps) -> None:
    """transformers' ViT-family names: blocks ``layers.N`` / ``encoder.layer.N``, attention
    ``attention`` / ``self_attn``, ``mlp``, the block norms and the tower's final norm."""
    norms = ("layernorm_before", "layernorm_after", "norm1", "norm2", "layer_norm1", "layer_norm2")
    for name, m in tower.named_modules():
        if re.search(_LAYER + r"$", name):
            taps.add(name, m, "block", "tokens")
        elif re.search(_LAYER + r"\.(attention|self_attn)$", name):
            taps.add(name, m, "attention", "tokens")
        elif re.search(_LAYER + r"\.mlp$", name):
            taps.add(name, m, "mlp", "tokens")
        elif isinstance(m, nn.LayerNorm) and (re.search(_LAYER + r"\.(" + "|".join(norms) + ")$", name)
                                              or name in ("layernorm", "post_layernorm")):
            taps.add(name, m, "norm", "tokens")


def _convnext_taps(tower: nn.Module, taps) -> None:
    """transformers' ConvNeXt names: ``stages.S.layers.L`` blocks, ``dwconv``, the
    channels-last ``pwconv1`` / ``pwconv2`` and layer norms."""
    for name, m in tower.named_modules():
        if re.search(r"stages\.\d+\.layers\.\d+$", name):
            taps.add(name, m, "block", "nchw")
        elif name.endswith(".dwconv"):
            taps.add(name, m, "conv", "nchw")
        elif re.search(r"\.pwconv[12]$", name):
            taps.add(name, m, "linear", "nhwc")
        elif isinstance(m, nn.LayerNorm):  # ConvNeXt's own says its layout; the final one is pooled
            taps.add(name, m, "norm", "nhwc" if getattr(m, "data_format", "channels_last") == "channels_last"
                     else "nchw")


# ------------------------------------------------------------- beyond-inet models get
def fetch(spec):
    """``weights.fetch_weights`` for an ``hf:`` spec: every file it needs, in the hub cache."""
    from .weights import Fetched

    repo, _ = parse_key(spec.base_key)
    snapshot = fetch_snapshot(spec.base_key, dual=spec.training == "clip")
    return Fetched(spec.key, "hub", path=snapshot, repo_id=repo, folder=repo_folder(repo))
