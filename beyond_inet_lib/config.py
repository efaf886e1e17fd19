"""Profiles: ``params/<name>.yaml`` -> a validated ``Profile``.

A profile names the models, the data root, the sizes of each experiment and the compute
settings. Validation happens before anything runs: an unknown or mistyped key, a value of
the wrong type, an unknown model or a bad path is a ``ProfileError`` that names the key
and what is accepted.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PARAMS_DIR = PROJECT_ROOT / "params"

PROPERTIES = (
    "mistakes", "shape_bias", "calibration", "robustness",
    "transfer", "synthetic", "invariance", "similarity",
)


class ProfileError(ValueError):
    """A profile is invalid; the message names the key and the accepted values."""


# ------------------------------------------------------------------ per-property settings
@dataclass
class MistakesSettings:
    max_images: int | None = None   # ImageNet val images (None: all annotated)
    standin_images: int = 200       # demo: sample images per simulated factor


@dataclass
class ShapeBiasSettings:
    max_images: int | None = None   # cue-conflict stimuli (None: all 1,280)


@dataclass
class CalibrationSettings:
    max_images: int | None = None
    n_bins: int = 15


@dataclass
class RobustnessSettings:
    variants: list[str] = field(default_factory=lambda: [
        "imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch",
        "imagenet-c", "imagenet-real", "imagenet-hard"])
    max_images: int | None = None          # per variant
    corruption_images: int = 16            # demo stand-in: images per corruption x severity
    corruptions: list[str] | None = None   # None: the 15 of ImageNet-C


@dataclass
class TransferSettings:
    tasks: list[str] = field(default_factory=lambda: ["digits"])
    max_train: int | None = None
    c_grid: list[float] = field(default_factory=lambda: [1e-3, 1e-2, 1e-1, 1.0, 10.0])


@dataclass
class SyntheticSettings:
    max_images: int | None = None          # PUG-ImageNet images per factor
    standin_images: int = 30               # demo: base images rendered per factor level


@dataclass
class InvarianceSettings:
    max_images: int | None = 100
    scales: list[float] = field(default_factory=lambda: [1.0, 1.25, 1.5, 2.0, 3.0])
    shifts: list[int] = field(default_factory=lambda: [0, 5, 30, 75, 100])
    resolutions: list[int] = field(default_factory=lambda: [112, 224, 336, 512, 640])


@dataclass
class SimilaritySettings:
    max_images: int = 100
    max_layers: int = 24                   # layers sampled evenly per model


SETTINGS = {
    "mistakes": MistakesSettings, "shape_bias": ShapeBiasSettings,
    "calibration": CalibrationSettings, "robustness": RobustnessSettings,
    "transfer": TransferSettings, "synthetic": SyntheticSettings,
    "invariance": InvarianceSettings, "similarity": SimilaritySettings,
}


# ---------------------------------------------------------------------------- profile
@dataclass
class Profile:
    name: str
    models: list[str]
    description: str = ""
    data_root: str | None = None          # None: $DATA_ROOT, ./data, ../shared/data
    cache_dir: str = ".cache/beyond-inet"
    device: str = "auto"                  # auto | cpu | cuda | cuda:N
    precision: str = "auto"               # auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16
    compile: bool = False
    batch_size: int = 32
    num_workers: int = 2
    seed: int = 0
    preprocessing: str = "paper"          # paper | library
    clip_logit_scale: str = "paper"       # paper (fixed 100) | model (logit_scale.exp())
    standins: bool = True                 # generate stand-ins for absent benchmarks
    properties: dict = field(default_factory=dict)

    # ---- accessors used by notebooks
    def settings(self, prop: str):
        if prop not in SETTINGS:
            raise ProfileError(f"unknown property {prop!r}; known: {', '.join(PROPERTIES)}")
        return self.properties.get(prop) or SETTINGS[prop]()

    def resolved_data_root(self) -> Path | None:
        return resolve_data_root(self.data_root)

    def resolved_cache_dir(self) -> Path:
        p = Path(os.path.expanduser(self.cache_dir))
        return p if p.is_absolute() else PROJECT_ROOT / p

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["properties"] = {k: dataclasses.asdict(v) for k, v in self.properties.items()}
        return d


_CHOICES = {
    "device": None,  # checked separately (cuda:N)
    "precision": ("auto", "fp32", "bf16", "fp16"),
    "preprocessing": ("paper", "library"),
    "clip_logit_scale": ("paper", "model"),
}


def resolve_data_root(value: str | None) -> Path | None:
    """The data root: the given value, else $DATA_ROOT, else ./data, else ../shared/data."""
    candidates = [value] if value else [os.environ.get("DATA_ROOT"), PROJECT_ROOT / "data",
                                        PROJECT_ROOT.parent / "shared" / "data"]
    for c in candidates:
        if c and Path(c).expanduser().is_dir():
            return Path(c).expanduser().resolve()
    return None


def _type_ok(value, annotation) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (inner,) = typing.get_args(annotation) or (typing.Any,)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ProfileError(f"{where}: unknown key {key!r}{hint}; accepted keys: {', '.join(names)}")
    for key, value in data.items():
        if key == "properties":
            continue
        if not _type_ok(value, hints[key]):
            raise ProfileError(
                f"{where}.{key}: {value!r} is a {type(value).__name__}; expected {_type_name(hints[key])}")
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    for r in required:
        if r not in data:
            raise ProfileError(f"{where}: missing required key {r!r}")
    return cls(**data)


def _type_name(annotation) -> str:
    return str(annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")


def validate_profile(data: dict, *, check_models: bool = True, check_paths: bool = True) -> Profile:
    """Build a ``Profile`` from a parsed YAML mapping, or raise ``ProfileError``."""
    data = dict(data or {})
    props_raw = data.pop("properties", None) or {}
    prof = _build(Profile, data, "profile")
    if not isinstance(props_raw, dict):
        raise ProfileError("profile.properties: expected a mapping of property -> settings")
    props = {}
    for key, value in props_raw.items():
        if key not in SETTINGS:
            close = difflib.get_close_matches(str(key), PROPERTIES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ProfileError(f"profile.properties: unknown property {key!r}{hint}; accepted: {', '.join(PROPERTIES)}")
        props[key] = _build(SETTINGS[key], value or {}, f"properties.{key}")
    prof.properties = props
    for key, choices in _CHOICES.items():
        if choices and getattr(prof, key) not in choices:
            raise ProfileError(f"profile.{key}: {getattr(prof, key)!r}; accepted: {', '.join(choices)}")
    dev = prof.device
    if not (dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())):
        raise ProfileError(f"profile.device: {dev!r}; accepted: auto, cpu, cuda, cuda:N")
    if prof.batch_size < 1:
        raise ProfileError(f"profile.batch_size: {prof.batch_size}; must be >= 1")
    if prof.num_workers < 0:
        raise ProfileError(f"profile.num_workers: {prof.num_workers}; must be >= 0")
    if not prof.models:
        raise ProfileError("profile.models: empty; name at least one model (see `beyond-inet models`)")
    if check_models:
        from .models import validate_model_key

        for m in prof.models:
            try:
                validate_model_key(m)
            except (KeyError, ValueError) as e:
                raise ProfileError(f"profile.models: {e}") from None
    if check_paths and prof.data_root and not Path(prof.data_root).expanduser().is_dir():
        raise ProfileError(
            f"profile.data_root: {prof.data_root!r} is not a folder. Point it at your data root "
            f"(see `beyond-inet data check --root DIR`) or remove the key to use the default.")
    rob = prof.properties.get("robustness")
    if rob:
        from .data import DATASETS

        for v in rob.variants:
            if v not in DATASETS:
                raise ProfileError(f"properties.robustness.variants: unknown dataset {v!r}; "
                                   f"known: {', '.join(sorted(DATASETS))}")
    return prof


def load_profile(name_or_path: str | os.PathLike, overrides: dict | None = None, **kw) -> Profile:
    """Load ``params/<name>.yaml`` (or a path), apply ``overrides`` (top-level keys), validate."""
    p = Path(name_or_path)
    if not p.suffix:
        p = PARAMS_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        known = sorted(x.stem for x in PARAMS_DIR.glob("*.yaml"))
        raise ProfileError(f"profile {str(name_or_path)!r} not found at {p}; known profiles: {', '.join(known)}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ProfileError(f"{p}: not valid YAML: {e}") from None
    data.setdefault("name", p.stem)
    for k, v in (overrides or {}).items():
        if v is not None:
            data[k] = v
    return validate_profile(data, **kw)
