"""Profiles: ``params/<name>.yaml`` -> a validated ``Profile``.

A profile names the models, the data root, the sizes of each experiment (each property's
settings, declared by its page: ``pages.PROPERTIES``) and the compute settings. Validation happens before anything runs: an unknown or mistyped key, a value of
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

from .errors import ProfileError, did_you_mean
from .pages.properties import PROPERTIES
from .paths import PARAMS_DIR, PROJECT_ROOT, progress_enabled, resolve_cache_dir, resolve_data_root
from .run_settings import CLIP_LOGIT_SCALES, CLIP_PROMPTS, DECODE_MODES, PRECISIONS, PREPROCESSINGS, RunSettings

__all__ = ["Profile", "ProfileError", "load_profile", "validate_profile", "property_settings",
           "PROJECT_ROOT", "PARAMS_DIR", "resolve_data_root", "progress_enabled", "DECODE_MODES"]


def property_settings() -> dict[str, type]:
    """property -> its settings dataclass, in the report's order: each page declares its
    own (``pages.PROPERTIES``); a profile's ``properties`` section is checked against them."""
    return {name: prop.settings for name, prop in PROPERTIES.items()}


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
    properties: dict = field(default_factory=dict)   # property -> its settings (given ones)
    datasets: dict = field(default_factory=dict)     # your own datasets (data/user.py): name -> UserDataset

    # ---- accessors used by the pages
    def settings(self, prop: str):
        """The settings of property ``prop``: the profile's, else its defaults."""
        known = property_settings()
        if prop not in known:
            raise ProfileError(f"unknown property {prop!r}{did_you_mean(prop, known)}; known: {', '.join(known)}")
        return self.properties.get(prop) or known[prop]()

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


def _check_settings(prop: str, s) -> None:
    """Value checks of one property's settings (types are already checked): the counts,
    then the settings' own ``check(where)`` where the page declares one."""
    where = f"properties.{prop}"
    for f in dataclasses.fields(s):
        v = getattr(s, f.name)
        if f.name in _COUNT_FIELDS and v is not None and v < 1:
            nullable = f.default is None
            raise ProfileError(f"{where}.{f.name}: {v}; must be >= 1" + (" (or null for all)" if nullable else ""))
    if hasattr(s, "check"):
        s.check(where)


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
    known = property_settings()
    for key, value in props_raw.items():
        if key not in known:
            raise ProfileError(f"profile.properties: unknown property {key!r}{did_you_mean(key, known)}; "
                               f"accepted: {', '.join(known)}")
        props[key] = _build(known[key], {} if value is None else value, f"properties.{key}")
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
