"""Your own PyTorch model, with its transform.

From a notebook or a script::

    from beyond_inet_lib import models
    from beyond_inet_lib.views import View

    models.register("mine", build=make_net, view=View(resize=256, crop=224), labels="imagenet")

and ``"mine"`` is a model key like any other (``get_model``, ``engine.predict``, a study's
models) in that Python process. From a profile, which the report's notebooks read in their
own processes, name a function that returns the same description::

    # mymodels.py (importable, or name the file: py:/path/to/mymodels.py:resnet50)
    def resnet50():
        return models.PyModel(build=lambda: torchvision.models.resnet50(weights="IMAGENET1K_V2"),
                              view=View(resize=232, crop=224, interpolation="bilinear"))

    models: ["py:mymodels:resnet50"]

``build()`` returns the ``nn.Module``. ``labels='imagenet'``: its forward gives the 1,000
ImageNet-1k logits in class-index order (sorted WNIDs, timm's and torchvision's order);
``labels='none'``: features only (the transfer and similarity pages use it; the others say
it does not apply). Its features are the input of its last ``nn.Linear`` unless
``features(net, x)`` says otherwise. Unless ``weights_id`` names the weights, they are
identified by a hash of the state dict (the network is built once per process for it),
so results cached for other weights are never served.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..views import View
from .loaded import Built, resize_vit_input
from .preprocess import Preprocess, preprocess_from_view
from .taps import TAP_KINDS, layer_taps

PY_TRAININGS = ("supervised", "other")


@dataclass(frozen=True)
class PyModel:
    """A model of your own: ``build() -> nn.Module`` and its preprocessing ``view``.

    ``labels``: 'imagenet' (forward -> (N, 1000) ImageNet-1k logits) or 'none' (features
    only). ``features(net, x) -> (N, D)``: default, the input of the last ``nn.Linear``
    (for 'none': the forward's output). ``paper_view``: the view under
    ``preprocessing: paper`` (default: ``view``). ``arch`` ('vit', 'convnext',
    'efficientnet', 'other') picks the layer taps; ``patch_size`` a ViT's.
    ``weights_id``: what identifies the weights (default: a hash of the state dict)."""

    build: Callable[[], nn.Module]
    view: View
    labels: str = "imagenet"
    features: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None
    label: str = ""
    arch: str = "other"
    training: str = "supervised"
    paper_view: View | None = None
    weights_id: str | None = None
    patch_size: int | None = None
    description: str = ""

    def __post_init__(self):
        from .spec import ARCHS, LABEL_KINDS

        if not callable(self.build):
            raise ValueError(f"build must be a function returning the nn.Module, got {self.build!r}")
        for name, allowed in (("labels", LABEL_KINDS), ("arch", ARCHS), ("training", PY_TRAININGS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}; expected one of {allowed}")
        if self.view is None:
            raise ValueError("view is required: the preprocessing your model expects, e.g. "
                             "View(resize=256, crop=224) (ImageNet mean and std, bilinear)")
        for name in ("view", "paper_view"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, View):
                raise ValueError(f"{name} must be a beyond_inet_lib.views.View, e.g. View(resize=256, crop=224), "
                                 f"got {type(v).__name__}")
            if v is not None:
                preprocess_from_view(v)  # checks it batches (square, one size)


@dataclass(frozen=True)
class FixedViewRecipe:
    """A model's own ``View`` as a resolution-free recipe: that very view at its input
    side, the same resize-to-crop ratio at any other (``ModelSpec.at_resolution``)."""

    fixed: View
    side: int
    recipe: Preprocess

    @classmethod
    def of(cls, view: View) -> "FixedViewRecipe":
        recipe, side = preprocess_from_view(view)
        return cls(view, side, recipe)

    def view(self, resolution: int) -> View:
        return self.fixed if resolution == self.side else self.recipe.view(resolution)


# ------------------------------------------------------------------- the registry
def register(key: str, build: Callable[[], nn.Module] | None = None, view: View | None = None,
             labels: str = "imagenet", **kw):
    """Register your own model under ``key`` in this Python process (arguments: ``PyModel``'s)
    and return its ``ModelSpec``. A key already registered is replaced."""
    from .registry import MODELS, ModelEntry

    if not isinstance(key, str) or not key or ":" in key or "@" in key:
        raise ValueError(f"register: key {key!r} must be a plain name (no ':' or '@'; those start the "
                         f"generic keys)")
    model = PyModel(build=build, view=view, labels=labels, **kw)
    MODELS[key] = ModelEntry(key, _spec_maker(key, model))
    return MODELS[key].make_spec()


def _spec_maker(key: str, model: PyModel):
    memo: dict = {}

    def make_spec():
        if "weights_id" not in memo:
            memo["weights_id"] = model.weights_id or state_dict_id(model.build())
        return spec_of(key, model, memo["weights_id"])

    return make_spec


def state_dict_id(net: nn.Module) -> str:
    """'py:<sha1 of every tensor of the state dict>': what identifies a module's weights."""
    if not isinstance(net, nn.Module):
        raise ValueError(f"build() must return a torch.nn.Module, got {type(net).__name__}")
    h = hashlib.sha1()
    for name, t in net.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return f"py:{h.hexdigest()[:16]}"


def spec_of(key: str, model: PyModel, weights_id: str):
    from .spec import ModelSpec

    library = FixedViewRecipe.of(model.view)
    paper = FixedViewRecipe.of(model.paper_view) if model.paper_view is not None else library
    return ModelSpec(
        key=key, label=model.label or key, source="py", arch=model.arch, training=model.training,
        paper_key=None, trained=True, weights_id=weights_id, resolution=library.side,
        native_resolution=library.side, paper_preprocess=paper, library_preprocess=library,
        description=model.description or "your own PyTorch model", patch_size=model.patch_size,
        labels=model.labels,
        builder=lambda: Built(PyNet(key, model.build(), model.labels, model.features, model.arch)))


# ---------------------------------------------------------------- py:<module>:<function>
def python_spec(key: str):
    """The spec of ``py:<module>:<function>``: the function (no arguments) returns a
    ``PyModel``. ``<module>`` is an importable module name or a path to a .py file."""
    body = key[len("py:"):]
    module_name, _, function = body.rpartition(":")
    if not module_name or not function.isidentifier():
        raise ValueError(f"model key {key!r}: expected 'py:<module>:<function>' (e.g. py:mymodels:resnet50 "
                         f"or py:/path/to/mymodels.py:resnet50), the function returning a models.PyModel")
    module = _import(key, module_name)
    fn = getattr(module, function, None)
    if not callable(fn):
        raise ValueError(f"model key {key!r}: {module_name} has no function {function!r}")
    model = fn()
    if not isinstance(model, PyModel):
        raise ValueError(f"model key {key!r}: {function}() returned a {type(model).__name__}; it must return "
                         f"beyond_inet_lib.models.PyModel(build=..., view=View(...), labels='imagenet' | 'none')")
    if not model.label:
        model = dataclasses.replace(model, label=f"{function} ({Path(module_name).stem})")
    return _memo_spec(key, model, module)


_PY_IDS: dict = {}


def _memo_spec(key: str, model: PyModel, module):
    """One state-dict hash per key and module file version in this process."""
    path = getattr(module, "__file__", None)
    stamp = (key, path, Path(path).stat().st_mtime_ns if path and Path(path).is_file() else None)
    if stamp not in _PY_IDS:
        _PY_IDS[stamp] = model.weights_id or state_dict_id(model.build())
    return spec_of(key, model, _PY_IDS[stamp])


def _import(key: str, name: str):
    if name.endswith(".py") or "/" in name or "\\" in name:
        path = Path(name).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"model key {key!r}: no file {path}")
        mod_name = f"beyond_inet_user_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
        if mod_name in sys.modules and getattr(sys.modules[mod_name], "__file__", None) == str(path):
            return sys.modules[mod_name]
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        local = Path.cwd() / (name.replace(".", "/") + ".py")
        if e.name == name.split(".")[0] and local.is_file():
            return _import(key, str(local))
        raise ValueError(f"model key {key!r}: cannot import {name!r} ({e}); put it on PYTHONPATH or name "
                         f"the file: py:/path/to/{name.split('.')[-1]}.py:<function>") from None


# ----------------------------------------------------------------------- the adapter
class PyNet(nn.Module):
    """Your network as a loaded model expects it: ``forward`` -> ImageNet-1k logits (or,
    features-only, the features), ``pooled_features`` -> its features."""

    def __init__(self, key: str, net: nn.Module, labels: str, features=None, arch: str = "other"):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise ValueError(f"{key}: build() must return a torch.nn.Module, got {type(net).__name__}")
        self.key, self.net, self.labels, self._features, self._arch = key, net, labels, features, arch
        self.num_prefix_tokens = int(getattr(net, "num_prefix_tokens", 1))
        self._last_linear = next((m for m in reversed(list(net.modules())) if isinstance(m, nn.Linear)), None)
        self._captured = None
        if features is None and labels == "imagenet":
            if self._last_linear is None:
                raise ValueError(f"{key}: no nn.Linear head to take features from; pass "
                                 f"features=lambda net, x: ... (N, D) to register / PyModel")
            self._last_linear.register_forward_pre_hook(self._capture)

    def _capture(self, _module, inputs):
        self._captured = inputs[0]

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        if self._features is not None:
            return self._features(self.net, x)
        if self.labels == "none":
            return self.net(x).flatten(1)
        self._captured = None
        self.net(x)
        f, self._captured = self._captured, None
        return f.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.labels == "none":
            return self.pooled_features(x)
        out = self.net(x)
        if not torch.is_tensor(out) or out.ndim != 2 or out.shape[1] != 1000:
            shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            raise ValueError(f"{self.key}: registered with labels='imagenet', but its forward gives {shape}, "
                             f"not (N, 1000) ImageNet-1k logits; register it with labels='none' (features only) "
                             f"or return the logits")
        return out

    def find_taps(self, taps) -> None:
        """Your network's taps by the rules of its ``arch`` (``taps.py``), named as in it."""
        found = layer_taps(self.net, self._arch, TAP_KINDS)
        for name in found:
            taps.add(name, found[name], found.kind[name], found.layout[name])

    def set_input_resolution(self, resolution: int) -> None:
        resize_vit_input(self.net, resolution)
