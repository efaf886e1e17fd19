"""Your own ``nn.Module``: ``models.register`` in this process and ``py:<module>:<function>``
from a profile. Scored through the engine it gives exactly the module's own output on the
view's tensors; its weights name its cache entries; a features-only module gives its
features; a module whose output is not ImageNet's 1,000 logits, or a view that cannot
batch, is refused with the fix. A profile naming one runs through ``beyond-inet report``
(what ``make report`` runs).
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from beyond_inet_lib import cli, engine, models
from beyond_inet_lib.data import DatasetIndex
from beyond_inet_lib.images import load_rgb
from beyond_inet_lib.models import MODELS, PyModel, get_model
from beyond_inet_lib.views import View

from conftest import need_data

VIEW = View(resize=40, crop=32, interpolation="bicubic")


class Tiny(nn.Module):
    """conv -> global pool -> 1000-way linear: the head's input is the pooled conv output."""

    def __init__(self, out: int = 1000):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.norm = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, out)

    def pooled(self, x):
        return torch.relu(self.norm(self.conv(x))).mean(dim=(2, 3))

    def forward(self, x):
        return self.fc(self.pooled(x))


def tiny(seed: int = 0, out: int = 1000):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Tiny(out).eval()


@pytest.fixture
def registered():
    """Keys registered by a test are forgotten after it."""
    before = set(MODELS)
    yield
    for k in set(MODELS) - before:
        del MODELS[k]


def _images(folder: Path, n: int = 6) -> DatasetIndex:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (40 + 3 * i, 60 - 2 * i, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return DatasetIndex("mine", folder, pd.DataFrame({"path": [f"{i}.png" for i in range(n)], "label": 0}))


def test_a_registered_module_scores_exactly_its_own_output(registered, tmp_path):
    spec = models.register("mine", build=tiny, view=VIEW, labels="imagenet")
    assert get_model("mine") == spec and spec.source == "py" and spec.view("library") == VIEW
    ds = _images(tmp_path / "img")
    res = engine.predict(["mine"], ds, outputs=("logits", "features"), cache_dir=tmp_path / "c", device="cpu",
                         num_workers=0, progress=False).only("mine")
    net = tiny()
    x = torch.stack([VIEW.transform()(load_rgb(p)) for p in ds.paths])
    with torch.no_grad():
        np.testing.assert_allclose(res.logits, net(x).numpy(), rtol=0, atol=1e-6)
        np.testing.assert_allclose(res.features, net.pooled(x).numpy(), rtol=0, atol=1e-6)  # the head's input
    # the layer taps of its architecture's rules, named as in the module
    taps = spec.load().layer_modules()
    assert list(taps) == ["conv", "norm", "fc"] and taps.kind["conv"] == "conv"


def test_its_weights_name_its_cache_entries(registered):
    a = models.register("mine", build=tiny, view=VIEW).weights_id
    assert a == models.register("mine", build=lambda: tiny(0), view=VIEW).weights_id   # same weights, same id
    b = models.register("mine", build=lambda: tiny(1), view=VIEW).weights_id
    assert a.startswith("py:") and a != b
    assert models.register("mine", build=tiny, view=VIEW, weights_id="resnet-v3").weights_id == "resnet-v3"


def test_features_only_and_custom_features(registered, tmp_path):
    spec = models.register("body", build=lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1)),
                           view=VIEW, labels="none")
    x = torch.randn(2, 3, 32, 32)
    model = spec.load()
    with torch.no_grad():
        assert model(x).shape == (2, 4) and torch.equal(model(x), model.features(x))
    with pytest.raises(ValueError, match="features-only"):
        engine.plan([spec], _images(tmp_path / "i", 1), outputs=("logits",), cache_dir=tmp_path / "c", device="cpu")
    custom = models.register("custom", build=tiny, view=VIEW, features=lambda net, x: net.conv(x).amax(dim=(2, 3)))
    with torch.no_grad():
        assert custom.load().features(x).shape == (2, 8)


def test_mistakes_are_refused_with_the_fix(registered):
    wrong = models.register("ten", build=lambda: tiny(out=10), view=VIEW, labels="imagenet")
    with pytest.raises(ValueError, match=r"gives \(2, 10\).*labels='none'"):
        wrong.load()(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"resize and then crop .*View\(resize=256, crop=224\)"):
        models.register("nocrop", build=tiny, view=View(resize=256, crop=None))
    with pytest.raises(ValueError, match="labels='imagenet'|labels="):
        models.register("bad", build=tiny, view=VIEW, labels="cifar")
    with pytest.raises(ValueError, match="plain name"):
        models.register("timm:x", build=tiny, view=VIEW)


MODULE = '''
import torch
from torch import nn
from beyond_inet_lib.models import PyModel
from beyond_inet_lib.views import View


def net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 5, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 1000)).eval()


def tiny_net():
    return PyModel(build=net, view=View(resize=64, crop=56), label="my tiny net")


def other_net():
    return PyModel(build=lambda: net(1), view=View(resize=48, crop=40, interpolation="bicubic"))


def not_a_model():
    return net()
'''


def test_a_function_named_by_a_py_key(tmp_path):
    path = tmp_path / "mymodels.py"
    path.write_text(MODULE)
    spec = get_model(f"py:{path}:tiny_net")
    assert spec.label == "my tiny net" and spec.resolution == 56 and spec.weights_id.startswith("py:")
    assert get_model(f"py:{path}:tiny_net@112").view("library") == View(resize=128, crop=112)
    with pytest.raises(ValueError, match="has no function 'nope'"):
        get_model(f"py:{path}:nope")
    with pytest.raises(ValueError, match=r"returned a Sequential; it must return .*PyModel"):
        get_model(f"py:{path}:not_a_model")
    with pytest.raises(ValueError, match="cannot import 'no_such_module_xyz'"):
        get_model("py:no_such_module_xyz:f")
    with pytest.raises(ValueError, match="expected 'py:<module>:<function>'"):
        get_model("py:justaname")


@pytest.mark.slow
def test_a_profile_with_a_python_module_runs_through_the_report(tmp_path):
    """``beyond-inet report`` (``make report``) on a profile whose models are
    ``py:<file>:<function>``: the pages that read logits, features and layer taps run and
    record finite numbers for them."""
    data_root = need_data("imagenet-samples").parent
    path = tmp_path / "mymodels.py"
    path.write_text(MODULE)
    keys = [f"py:{path}:tiny_net", f"py:{path}:other_net"]
    profile = tmp_path / "mine.yaml"
    profile.write_text(textwrap.dedent(f"""
        models: {json.dumps(keys)}
        cache_dir: {tmp_path / 'cache'}
        device: cpu
        batch_size: 16
        num_workers: 0
        bootstrap: 50
        properties:
          calibration: {{max_images: 48, shift: false, ood: false, class_resamples: 20}}   # logits reach the page: enough
          transfer: {{tasks: [digits], max_train: 60}}
          similarity: {{max_images: 12, max_layers: 3}}
    """))
    out = tmp_path / "report"
    assert cli.main(["report", "--profile", str(profile), "--data-root", str(data_root), "--out", str(out),
                     "--only", "calibration,transfer,similarity"]) == 0
    for prop in ("calibration", "transfer", "similarity"):
        rows = json.loads((out / f"{prop}.summary.json").read_text())["rows"]
        assert rows and all(math.isfinite(r["value"]) for r in rows), prop
        assert {r["model"] for r in rows} & {keys[0], "my tiny net"}, prop
    index = (out / "index.html").read_text()
    assert "my tiny net" in index and "other_net (mymodels)" in index
