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

from .errors import ProfileError
from .paths import PARAMS_DIR, PROJECT_ROOT, progress_enabled, resolve_cache_dir, resolve_data_root
from .run_settings import CLIP_LOGIT_SCALES, CLIP_PROMPTS, DECODE_MODES, PRECISIONS, PREPROCESSINGS, RunSettings

PROPERTIES = (
    "mistakes", "shape_bias", "calibration", "robustness",
    "transfer", "synthetic", "invariance", "similarity",
)
__all__ = ["PROPERTIES", "Profile", "ProfileError", "load_profile", "validate_profile",
           "PROJECT_ROOT", "PARAMS_DIR", "resolve_data_root", "progress_enabled", "DECODE_MODES"]


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
    # protocol sensitivity: also run the competing conventions (interpolation, crop
    # fraction, precision, decode path, CLIP logit scale) and show how much each moves
    # top-1 and ECE (docs/protocols.md §0)
    sensitivity: bool = False


def _robustness_variants() -> tuple[str, ...]:
    from .data.imagenet import ROBUSTNESS_VARIANTS   # on use: a profile loads without the data package

    return ROBUSTNESS_VARIANTS


@dataclass
class RobustnessSettings:
    variants: list[str] = field(default_factory=lambda: list(_robustness_variants()))
    max_images: int | None = None          # per variant
    corruption_images: int = 16            # demo stand-in: images per corruption x severity
    corruptions: list[str] | None = None   # None: the 15 of ImageNet-C


@dataclass
class TransferSettings:
    tasks: list[str] = field(default_factory=lambda: ["digits"])
    max_train: int | None = None
    protocol: str = "clip_benchmark"       # clip_benchmark | logreg (docs/protocols.md §5)
    c_grid: list[float] = field(default_factory=lambda: [1e-3, 1e-2, 1e-1, 1.0, 10.0])  # logreg only


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
    data_root: str | None = None          # None: $DATA_ROOT, else ./data
    cache_dir: str = ".cache/beyond-inet"
    device: str = "auto"                  # auto | cpu | cuda | cuda:N
    precision: str = "auto"               # auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16
    compile: bool = False                 # torch.compile each model (GPU: faster after warm-up)
    decode: str = "auto"                  # auto | pil | tensor | hybrid (engine module docstring)
    batch_size: int = 32
    num_workers: int = 2
    seed: int = 0
    preprocessing: str = "paper"          # paper | library
    clip_logit_scale: str = "paper"       # paper (fixed 100) | model (logit_scale.exp())
    clip_prompts: str = "paper"           # paper (OpenAI's 80 templates) | openai7 (7 of them)
    standins: bool = True                 # generate stand-ins for absent benchmarks
    bootstrap: int = 1000                 # resamples per 95% interval (0: no intervals)
    fetch: list[str] = field(default_factory=list)  # datasets `make report` downloads when absent
    properties: dict = field(default_factory=dict)
    datasets: dict = field(default_factory=dict)    # your own datasets (data/user.py): name -> UserDataset

    # ---- accessors used by notebooks
    def settings(self, prop: str):
        if prop not in SETTINGS:
            raise ProfileError(f"unknown property {prop!r}; known: {', '.join(PROPERTIES)}")
        return self.properties.get(prop) or SETTINGS[prop]()

    def resolved_data_root(self) -> Path | None:
        return resolve_data_root(self.data_root)

    def resolved_cache_dir(self) -> Path:
        return resolve_cache_dir(self.cache_dir)

    def run_settings(self) -> RunSettings:
        """The engine's settings for this profile (the engine never reads a profile)."""
        return RunSettings(cache_dir=self.resolved_cache_dir(), device=self.device,
                           precision=self.precision, batch_size=self.batch_size,
                           num_workers=self.num_workers, decode=self.decode, compile=self.compile,
                           preprocessing=self.preprocessing, clip_logit_scale=self.clip_logit_scale)

    def model_specs(self) -> list:
        """The profile's models as specs (cheap: nothing loaded), CLIP models with the
        profile's zero-shot prompt set."""
        from .models import get_model

        return [get_model(k).with_prompts(self.clip_prompts) for k in self.models]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["properties"] = {k: dataclasses.asdict(v) for k, v in self.properties.items()}
        return d


_CHOICES = {
    "device": None,  # checked separately (cuda:N)
    "precision": PRECISIONS,
    "decode": DECODE_MODES,
    "preprocessing": PREPROCESSINGS,
    "clip_logit_scale": CLIP_LOGIT_SCALES,
    "clip_prompts": CLIP_PROMPTS,
}


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
            raise ProfileError(_type_error(f"{where}.{key}", value, hints[key]))
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    for r in required:
        if r not in data:
            raise ProfileError(f"{where}: missing required key {r!r}")
    return cls(**data)


def _type_name(annotation) -> str:
    return str(annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")


def _list_type(annotation):
    """``list[X]`` inside ``annotation`` (``list[X] | None`` included), or None."""
    if typing.get_origin(annotation) is list:
        return annotation
    for a in typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ():
        if typing.get_origin(a) is list:
            return a
    return None


def _type_error(where: str, value, annotation) -> str:
    """The message for a value of the wrong type: for a list, the first bad element (by
    index); for a scalar where a list belongs, how to write the list in YAML."""
    lst = _list_type(annotation)
    if lst is not None and isinstance(value, list):
        (inner,) = typing.get_args(lst) or (typing.Any,)
        for i, v in enumerate(value):
            if not _type_ok(v, inner):
                return f"{where}[{i}]: {v!r} is a {type(v).__name__}; expected {_type_name(inner)}"
    msg = f"{where}: {value!r} is a {type(value).__name__}; expected {_type_name(annotation)}"
    if lst is not None and not isinstance(value, (list, dict)):
        key = where.rsplit(".", 1)[-1]
        msg += f" (write a YAML list, e.g. `{key}: [{value}]`)"
    return msg


# Settings that count something (images, bins, layers): at least 1 when given.
_COUNT_FIELDS = ("max_images", "standin_images", "n_bins", "corruption_images", "max_train", "max_layers")
# List settings whose entries must be > 0 (a scale, a resolution, a regularisation strength)
# or >= 0 (a shift in pixels).
_POSITIVE_LISTS = {("invariance", "scales"), ("invariance", "resolutions"), ("transfer", "c_grid")}
_NONNEGATIVE_LISTS = {("invariance", "shifts")}
STANDIN_TASKS = ("digits",)   # transfer tasks generated offline (no data root needed)


def _check_settings(prop: str, s) -> None:
    """Value checks of one property's settings (types are already checked)."""
    where = f"properties.{prop}"
    for f in dataclasses.fields(s):
        v = getattr(s, f.name)
        if f.name in _COUNT_FIELDS and v is not None and v < 1:
            nullable = f.default is None
            raise ProfileError(f"{where}.{f.name}: {v}; must be >= 1" + (" (or null for all)" if nullable else ""))
        if (prop, f.name) in _POSITIVE_LISTS and any(x <= 0 for x in v):
            raise ProfileError(f"{where}.{f.name}: {v}; every entry must be > 0")
        if (prop, f.name) in _NONNEGATIVE_LISTS and any(x < 0 for x in v):
            raise ProfileError(f"{where}.{f.name}: {v}; every entry must be >= 0")
    if prop == "robustness":
        from .data import DATASETS, IMAGENET_C_CORRUPTIONS

        for v in s.variants:
            if v not in DATASETS:
                close = difflib.get_close_matches(v, list(DATASETS), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ProfileError(f"{where}.variants: unknown dataset {v!r}{hint}; "
                                   f"known: {', '.join(sorted(DATASETS))}")
        for c in s.corruptions or ():
            if c not in IMAGENET_C_CORRUPTIONS:
                close = difflib.get_close_matches(c, IMAGENET_C_CORRUPTIONS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ProfileError(f"{where}.corruptions: unknown corruption {c!r}{hint}; "
                                   f"accepted: {', '.join(IMAGENET_C_CORRUPTIONS)}")
    if prop == "transfer":
        from .data import VTAB_TASKS
        from .metrics import PROBE_PROTOCOLS

        if s.protocol not in PROBE_PROTOCOLS:
            raise ProfileError(f"{where}.protocol: {s.protocol!r}; accepted: {', '.join(PROBE_PROTOCOLS)}")

        accepted = list(STANDIN_TASKS) + list(VTAB_TASKS)
        for t in s.tasks:
            if t not in accepted:
                close = difflib.get_close_matches(t, accepted, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ProfileError(f"{where}.tasks: unknown task {t!r}{hint}; accepted: {', '.join(accepted)}")


def validate_profile(data: dict, *, check_models: bool = True, check_paths: bool = True) -> Profile:
    """Build a ``Profile`` from a parsed YAML mapping, or raise ``ProfileError``."""
    if data is not None and not isinstance(data, dict):
        raise ProfileError(f"profile: expected a mapping of key: value lines, got a {type(data).__name__}")
    data = dict(data or {})
    props_raw = data.pop("properties", None) or {}
    datasets_raw = data.pop("datasets", None) or {}
    prof = _build(Profile, data, "profile")
    if datasets_raw:  # before the properties: a robustness variant may be one of them
        from .data.user import parse_user_datasets, register_user_datasets

        prof.datasets = parse_user_datasets(datasets_raw)
        register_user_datasets(prof.datasets)
    if not isinstance(props_raw, dict):
        raise ProfileError("profile.properties: expected a mapping of property -> settings")
    props = {}
    for key, value in props_raw.items():
        if key not in SETTINGS:
            close = difflib.get_close_matches(str(key), PROPERTIES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ProfileError(f"profile.properties: unknown property {key!r}{hint}; accepted: {', '.join(PROPERTIES)}")
        props[key] = _build(SETTINGS[key], {} if value is None else value, f"properties.{key}")
        _check_settings(key, props[key])
    prof.properties = props
    for key, choices in _CHOICES.items():
        if choices and getattr(prof, key) not in choices:
            raise ProfileError(f"profile.{key}: {getattr(prof, key)!r}; accepted: {', '.join(choices)}")
    dev = prof.device
    if not (dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())):
        raise ProfileError(f"profile.device: {dev!r}; accepted: auto, cpu, cuda, cuda:N")
    if prof.batch_size < 1:
        raise ProfileError(f"profile.batch_size: {prof.batch_size}; must be >= 1")
    if prof.fetch:
        from .data.sources import downloadable_names

        known = downloadable_names()
        for name in prof.fetch:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ProfileError(f"profile.fetch: no download known for {name!r}{hint}; known: {', '.join(known)}")
    if prof.bootstrap < 0:
        raise ProfileError(f"profile.bootstrap: {prof.bootstrap}; must be >= 0 (0 turns intervals off)")
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
                # str(KeyError) is the repr of its message: use the message itself
                raise ProfileError(f"profile.models: {e.args[0] if e.args else e}") from None
    if check_paths and prof.data_root and not Path(prof.data_root).expanduser().is_dir():
        raise ProfileError(
            f"profile.data_root: {prof.data_root!r} is not a folder. Point it at your data root "
            f"(see `beyond-inet data check --root DIR`) or remove the key to use the default.")
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
    if not isinstance(data, dict):
        raise ProfileError(f"{p}: expected a mapping of `key: value` lines at the top level, "
                           f"got a {type(data).__name__}; see params/demo.yaml for an example")
    data.setdefault("name", p.stem)
    for k, v in (overrides or {}).items():
        if v is not None:
            data[k] = v
    return validate_profile(data, **kw)
