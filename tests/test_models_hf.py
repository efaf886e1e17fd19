"""``hf:<repo>`` models through a Hugging Face hub on 127.0.0.1: tiny random transformers
models saved in the hub's layout (``hf_models``) download, load and score, and give exactly
what the same weights give run through transformers directly: an ImageNet classifier's
logits in ImageNet order (its id2label permuted, or led by a 'background' class), a
features-only classifier's and a backbone's features, CLIP's and SigLIP's zero-shot logits
from the prompt templates. Their image processors become Views that match the processors'
own output on real images. Offline they fail in seconds with the command that fixes it;
``models get`` fetches what an air-gapped machine needs.
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("transformers")

from beyond_inet_lib import cli, engine  # noqa: E402
from beyond_inet_lib.data import DatasetIndex  # noqa: E402
from beyond_inet_lib.data.imagenet_labels import (  # noqa: E402
    imagenet_class_names, imagenet_indices_of_names, imagenet_lemmas, imagenet_wnids,
)
from beyond_inet_lib.models import WeightsNotFound, get_model  # noqa: E402
from beyond_inet_lib.models.hf import preprocess_of  # noqa: E402
from beyond_inet_lib.models.zeroshot import imagenet_prompts  # noqa: E402
from beyond_inet_lib.views import View, preprocess_tensors  # noqa: E402

import hf_models as H  # noqa: E402
from conftest import need_data  # noqa: E402
from hub_server import HubServer  # noqa: E402

# a permutation of the 1,000 classes, the labels written three ways (lemmas, open_clip
# names, WNIDs): the model's column j is ImageNet class PERM[j]
PERM = np.random.default_rng(3).permutation(1000)


def _labels_of(perm) -> dict:
    """Labels written three ways; a name two classes share ('crane') by its WNID, as
    nothing else tells them apart out of class order."""
    ways = (imagenet_lemmas(), imagenet_class_names(), imagenet_wnids())
    labels = {j: ways[j % 3][int(c)] for j, c in enumerate(perm)}
    _idx, ambiguous = imagenet_indices_of_names(list(labels.values()))
    return {j: imagenet_wnids()[int(perm[j])] if j in ambiguous else name for j, name in labels.items()}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A running hub with the tiny models; ``hub.ref[repo]`` is the model to compare with."""
    root = tmp_path_factory.mktemp("hf-hub")
    made = tmp_path_factory.mktemp("hf-made")
    ref, commits = {}, {}

    def add(repo, make):
        out = make(made / repo.replace("/", "--"))
        commits[repo] = H.publish(root, repo, made / repo.replace("/", "--"))
        ref[repo] = out

    add("test/vit-imagenet", lambda d: H.make_vit_classifier(d, _labels_of(PERM), seed=1))
    add("test/vit-ten", lambda d: H.make_vit_classifier(d, {i: f"thing {i}" for i in range(10)}, seed=2))
    background = {0: "background", **{i + 1: name for i, name in enumerate(imagenet_lemmas())}}
    add("test/convnext-1001", lambda d: H.make_convnext_classifier(d, background, seed=3))
    add("test/dinov2", lambda d: H.make_dinov2(d, seed=4))
    add("test/clip", lambda d: H.make_clip(d, seed=5))
    add("test/siglip", lambda d: H.make_siglip(d, [f"a photo of a {n}." for n in imagenet_class_names()], seed=6))
    with HubServer(root) as server:
        server.ref, server.commits = ref, commits
        yield server


@pytest.fixture
def online(hub, tmp_path, monkeypatch):
    """An empty hub cache on this machine, network allowed, the hub at the test server,
    CLIP heads from the first prompt template only."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "client-hub"))
    monkeypatch.setenv("BEYOND_INET_PROGRESS", "0")
    monkeypatch.setenv("BEYOND_INET_PROMPT_TEMPLATES", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("BEYOND_INET_HUB_TIMEOUT", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    hub.requests.clear()
    return tmp_path / "client-hub"


def _x(n=3, side=H.SIDE, seed=0):
    return torch.randn(n, 3, side, side, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ classifiers
def test_imagenet_classifier_logits_equal_transformers_in_imagenet_order(hub, online):
    spec = get_model("hf:test/vit-imagenet")
    assert (spec.source, spec.training, spec.labels, spec.arch, spec.patch_size) == ("hf", "supervised", "imagenet", "vit", 8)
    assert spec.weights_id == f"hf:test/vit-imagenet@{hub.commits['test/vit-imagenet']}"
    # the processor's squash resize as the library view; the paper's recipe with its normalisation
    assert spec.view("library") == View(resize=32, crop=32, interpolation="bilinear", mean=(0.5,) * 3,
                                        std=(0.5,) * 3, squash=True)
    assert spec.view("paper") == View(resize=36, crop=32, interpolation="bilinear", mean=(0.5,) * 3, std=(0.5,) * 3)
    model = spec.load()
    x = _x()
    with torch.no_grad():
        theirs = hub.ref["test/vit-imagenet"](pixel_values=x).logits
        ours = model(x)
        # ImageNet class c is the model's column j with PERM[j] == c
        torch.testing.assert_close(ours, theirs[:, np.argsort(PERM)], rtol=0, atol=0)
        # features: the head's input, the final-norm class token
        torch.testing.assert_close(model.features(x), hub.ref["test/vit-imagenet"].vit(pixel_values=x)
                                   .last_hidden_state[:, 0], rtol=0, atol=1e-6)
    # the hub's protocol: the probe, then files resolved on /resolve/, the weights from the CDN
    assert hub.requests[0] == ("hub", "HEAD", "/")
    gets = [r for r in hub.requests if r[1] == "GET"]
    assert any(r[0] == "cdn" for r in gets)
    assert ("hub", "HEAD", "/test/vit-imagenet/resolve/main/config.json") in hub.requests
    n = len(hub.requests)
    get_model("hf:test/vit-imagenet").load()          # everything is in the cache now
    assert len(hub.requests) == n


def test_a_background_class_is_dropped_and_convnext_taps_are_found(hub, online):
    spec = get_model("hf:test/convnext-1001")
    assert spec.labels == "imagenet" and spec.arch == "convnext"
    # ConvNeXt's processor below 384 px: Resize(side / crop_pct) -> CenterCrop(side)
    assert spec.view("library").describe().startswith("Resize(36, bicubic) -> CenterCrop(32)")
    model = spec.load()
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(model(x), hub.ref["test/convnext-1001"](pixel_values=x).logits[:, 1:],
                                   rtol=0, atol=0)
    taps = model.layer_modules(("block", "conv", "linear", "norm"))
    kinds = {k: taps.kind[k] for k in taps}
    assert kinds["encoder.stages.0.layers.0"] == "block" and kinds["encoder.stages.1.layers.0.dwconv"] == "conv"
    assert taps.layout["encoder.stages.1.layers.0.pwconv2"] == "nhwc"
    assert taps.layout["encoder.stages.1.downsampling_layer.0"] == "nchw"  # a channels-first norm
    layers = engine.list_layers(spec, device="cpu")
    assert list(layers["name"]) == list(model.layer_modules())


def test_a_classifier_of_other_classes_is_features_only(hub, online, tmp_path):
    spec = get_model("hf:test/vit-ten")
    assert spec.labels == "none" and "features only" in spec.label
    model = spec.load()
    x = _x()
    with torch.no_grad():
        want = hub.ref["test/vit-ten"].vit(pixel_values=x).last_hidden_state[:, 0]
        torch.testing.assert_close(model.features(x), want, rtol=0, atol=1e-6)
        torch.testing.assert_close(model(x), want, rtol=0, atol=1e-6)   # forward: the features
    ds = DatasetIndex("none", tmp_path, pd.DataFrame({"path": ["a.png"], "label": [0]}))
    with pytest.raises(ValueError, match="features-only model"):
        engine.plan([spec], ds, outputs=("logits",), cache_dir=tmp_path / "c", device="cpu")
    engine.plan([spec], ds, outputs=("features",), cache_dir=tmp_path / "c", device="cpu")


def test_a_backbone_is_features_only_its_pooled_output(hub, online):
    spec = get_model("hf:test/dinov2")
    assert (spec.labels, spec.training, spec.arch) == ("none", "other", "vit")
    assert spec.view("library").describe().startswith("Resize(36, bicubic) -> CenterCrop(32)")
    model = spec.load()
    x = _x()
    with torch.no_grad():
        want = hub.ref["test/dinov2"](pixel_values=x).pooler_output
        torch.testing.assert_close(model.features(x), want, rtol=0, atol=1e-6)
    taps = model.layer_modules()
    assert {taps.kind[n] for n in taps} == {"attention", "mlp", "norm"}
    assert "encoder.layer.1.attention" in taps and taps.prefix_tokens == 1


def test_a_vit_runs_at_another_resolution(hub, online):
    spec = get_model("hf:test/vit-imagenet@64")
    assert spec.view("library").crop == 64 and spec.nearest_resolution(60) == 64
    model = spec.load()
    x = _x(side=64)
    with torch.no_grad():
        want = hub.ref["test/vit-imagenet"](pixel_values=x, interpolate_pos_encoding=True).logits
        torch.testing.assert_close(model(x), want[:, np.argsort(PERM)], rtol=0, atol=0)


# ------------------------------------------------------------------ dual encoders
def _direct_zero_shot(model, tokenizer, x, padding):
    """100 * cos(image, class) with each class embedding from the first template: what
    the same weights give through transformers' own API."""
    names, templates = imagenet_prompts("paper")
    t = templates[0]
    texts = [t(c) if callable(t) else t.format(c) for c in names]
    enc = tokenizer(texts, padding=padding, truncation=True, max_length=H.TEXT_LEN, return_tensors="pt")
    with torch.no_grad():
        text = model.get_text_features(**({"input_ids": enc["input_ids"]} if padding == "max_length" else enc)).pooler_output
        image = model.get_image_features(pixel_values=x).pooler_output
    return 100 * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).T


@pytest.mark.parametrize("repo, padding", [("test/clip", "longest"), ("test/siglip", "max_length")])
def test_dual_encoder_zero_shot_logits_equal_transformers(hub, online, tmp_path, repo, padding):
    spec = get_model(f"hf:{repo}")
    assert (spec.training, spec.labels) == ("clip", "imagenet")
    assert spec.weights_id.endswith("+templates1")      # the test knob names itself in the cache key
    model = spec.load(cache_dir=tmp_path / "cache")
    assert model.zeroshot_head.shape == (hub.ref[repo][0].config.projection_dim
                                         if repo == "test/clip" else 32, 1000)
    x = _x()
    ref_model, tokenizer = hub.ref[repo]
    with torch.no_grad():
        torch.testing.assert_close(model(x), _direct_zero_shot(ref_model, tokenizer, x, padding),
                                   rtol=1e-5, atol=1e-4)
        # features: the image embedding
        torch.testing.assert_close(model.features(x), ref_model.get_image_features(pixel_values=x).pooler_output,
                                   rtol=0, atol=1e-6)
    # the learned temperature on request; the head comes from the cache the second time
    learned = spec.load(cache_dir=tmp_path / "cache", clip_logit_scale="model")
    assert learned.logit_scale == pytest.approx(float(ref_model.logit_scale.detach().exp()))
    assert len(list((tmp_path / "cache" / "zeroshot").iterdir())) == 1


# ------------------------------------------------------------ offline, models get
def test_offline_fails_at_once_with_the_command_that_fixes_it(hub, online, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.monotonic()
    with pytest.raises(WeightsNotFound) as err:
        get_model("hf:test/clip")
    assert time.monotonic() - t0 < 15
    assert hub.requests == []
    msg = str(err.value)
    for part in ("HF_HUB_OFFLINE=1", "beyond-inet models get hf:test/clip", "models--test--clip", str(online)):
        assert part in msg, part


def test_models_get_prefetches_what_an_air_gapped_machine_needs(hub, online, tmp_path, capsys, monkeypatch):
    assert cli.main(["models", "get", "hf:test/clip", "hf:test/vit-imagenet"]) == 0
    out = capsys.readouterr().out
    folders = sorted(online / f"models--test--{n}" for n in ("clip", "vit-imagenet"))
    printed = sorted(p for p in (line.strip() for line in out.splitlines()) if p.startswith(str(online / "models--")))
    assert [str(p) for p in folders] == printed
    other = tmp_path / "air-gapped"
    for folder in folders:
        shutil.copytree(folder, other / folder.name, symlinks=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(other))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.requests.clear()
    clip = get_model("hf:test/clip").load(cache_dir=tmp_path / "cache")      # the tokenizer came along
    vit = get_model("hf:test/vit-imagenet").load()
    assert hub.requests == []
    with torch.no_grad():
        assert torch.isfinite(clip(_x())).all() and vit(_x()).shape == (3, 1000)


def test_a_revision_pins_the_commit(hub, online):
    commit = hub.commits["test/vit-imagenet"]
    assert get_model(f"hf:test/vit-imagenet@{commit}").weights_id == f"hf:test/vit-imagenet@{commit}"
    with pytest.raises(WeightsNotFound, match="has no revision 'v9'"):
        get_model("hf:test/vit-imagenet@v9")
    with pytest.raises(WeightsNotFound, match="has no repository test/nothing"):
        get_model("hf:test/nothing")


@pytest.mark.parametrize("key", ["hf:", "hf:a/b/c", "hf:/x", "hf:org/name@"])
def test_malformed_keys_say_what_is_expected(key):
    with pytest.raises(ValueError, match=r"expected 'hf:<org>/<name>'"):
        get_model(key)


# ------------------------------------------------------------------- the views
def _processors():
    from transformers import (
        BitImageProcessor, CLIPImageProcessor, ConvNextImageProcessor, DeiTImageProcessor, SiglipImageProcessor,
        ViTImageProcessor,
    )

    return [ViTImageProcessor(size={"height": 224, "width": 224}), CLIPImageProcessor(), SiglipImageProcessor(),
            ConvNextImageProcessor(size={"shortest_edge": 224}), ConvNextImageProcessor(size={"shortest_edge": 384}),
            DeiTImageProcessor(), BitImageProcessor()]


def test_views_equal_the_image_processors_on_real_images():
    """Each processor's output and our View's on the same real photographs (landscape and
    portrait): the same geometry and normalisation, a resampler's rounding apart."""
    from beyond_inet_lib.images import load_rgb

    folder = need_data("imagenet-samples")
    images = [load_rgb(p) for p in sorted(folder.glob("*.JPEG"))[:6]]
    assert len({im.size[0] > im.size[1] for im in images}) == 2 or len(images) < 6
    for processor in _processors():
        pre, side = preprocess_of(processor, "test")
        view = pre.view(side)
        ours = torch.stack([view.transform()(im) for im in images])
        theirs = processor(images=images, return_tensors="pt")["pixel_values"]
        assert ours.shape == theirs.shape, type(processor).__name__
        d = (ours - theirs).abs()
        assert float(d.mean()) < 2e-3 and float(d.max()) < 0.1, (type(processor).__name__, float(d.mean()))


def test_a_non_square_processor_is_refused_with_the_way_out():
    from transformers import ViTImageProcessor

    with pytest.raises(ValueError, match=r"non-square .*py:<module>:<function>"):
        preprocess_of(ViTImageProcessor(size={"height": 224, "width": 160}), "hf:x/y")


def test_squash_view_both_paths_and_the_cache_key_of_other_views():
    rng = np.random.default_rng(0)
    from PIL import Image

    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in ((40, 64), (70, 30))]
    view = View(resize=32, crop=28, squash=True, interpolation="bicubic")
    for im in images:
        ref = view.transform()(im)
        assert ref.shape == (3, 28, 28)
        chw = torch.from_numpy(np.array(im)).permute(2, 0, 1).contiguous()
        got = preprocess_tensors([chw], {"v": view})["v"][0]
        assert float((got - ref).abs().mean()) < 0.02
    # the squash changes the pixels, so it is in the key; a view without it keeps its old key
    assert view.key() != view.replace(squash=False).key()
    assert "squash" not in View(resize=256, crop=224).to_dict()
    assert View(resize=40, crop=32).key() == "4f29a98f1ad9"   # pinned in test_engine's unit folder names


# ------------------------------------------------------------ ImageNet class names
def test_imagenet_names_are_matched_every_way_and_ambiguity_is_said():
    wnids, lemmas, names = imagenet_wnids(), imagenet_lemmas(), imagenet_class_names()
    idx, why = imagenet_indices_of_names([wnids[5], lemmas[7], names[9], "Great_White_Shark", "white shark"])
    assert idx.tolist() == [5, 7, 9, 2, 2] and why == {}
    idx, why = imagenet_indices_of_names(["crane", "tenchh", "zebra"])
    assert idx.tolist() == [-1, -1, 340]
    assert "134" in why[0] and "517" in why[0] and "WNID" in why[0]
    assert "closest: 'tench'" in why[1]
    # an id2label table in class order resolves the shared name by its position
    idx, why = imagenet_indices_of_names(lemmas, positional=True)
    assert idx.tolist() == list(range(1000)) and why == {}


def test_a_dual_encoder_classifies_a_datasets_own_classes_zero_shot(hub, online, tmp_path):
    """The head of a dataset's own class names: the prompt set's templates through the
    text tower, what transformers gives for the same prompts; cached with the learned scale."""
    from beyond_inet_lib.models.zeroshot import class_names_head, zero_shot_logits

    spec = get_model("hf:test/clip")
    classes = ["red apple", "parking meter", "tabby cat"]
    head, learned = class_names_head(spec, classes, cache_dir=tmp_path / "cache")
    model, tokenizer = hub.ref["test/clip"]
    _names, templates = imagenet_prompts("paper")          # the first template only (the test knob)
    texts = [templates[0](c) if callable(templates[0]) else templates[0].format(c) for c in classes]
    with torch.no_grad():
        enc = tokenizer(texts, padding=True, return_tensors="pt")
        want = F.normalize(model.get_text_features(**enc).pooler_output, dim=-1).T
        torch.testing.assert_close(head, want, rtol=1e-5, atol=1e-5)
        assert learned == pytest.approx(float(model.logit_scale.detach().exp()))
        x = _x()
        image = model.get_image_features(pixel_values=x).pooler_output
        torch.testing.assert_close(zero_shot_logits(image, head, 100.0),
                                   100 * F.normalize(image, dim=-1) @ want, rtol=1e-5, atol=1e-4)
    files = list((tmp_path / "cache" / "zeroshot").iterdir())
    assert len(files) == 1 and "classes" in files[0].name
    assert torch.equal(class_names_head(spec, classes, cache_dir=tmp_path / "cache")[0], head)
