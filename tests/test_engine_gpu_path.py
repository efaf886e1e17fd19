"""The engine's GPU decode paths: decode='tensor' (batched decode_jpeg in the main process)
and decode='hybrid' (decode_jpeg/PIL in the workers), both with views as tensor ops.

Run here on CPU (CI has no GPU): the same code runs on CUDA with nvJPEG. They must give the
PIL path's rows and skipped files, nearly the PIL path's numbers, the PIL path's crop
geometry (black fill included), decode each file once, and keep their own cache entries.
The tests at the end marked ``cuda`` run only where a GPU is visible.

Why the numbers differ at all: on CPU both paths decode with the same libjpeg-turbo, so
pixels are identical; the resize differs (PIL's uint8 resampler vs torch's antialiased
interpolate, rounded to uint8 in both) by at most a grey level or so at some pixels:
mean |diff| ~1e-3 after normalisation. On CUDA torch interpolates in float and rounds
(``via_float=True``, emulated below) and nvJPEG's IDCT/chroma upsampling differ from
libjpeg's by a grey level or two here and there; the 0.02 bound leaves room for both.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from beyond_inet_lib import engine
from beyond_inet_lib.data import DatasetIndex
from beyond_inet_lib.images import load_rgb
from beyond_inet_lib.views import CLIP_MEAN, CLIP_STD, INCEPTION_MEAN, INCEPTION_STD, View

from fakes import FakeSpec

ROOT = Path(__file__).resolve().parent.parent
# BEYOND_INET_SAMPLES: where a GPU machine finds them (benchmarks/gpu_node.sh)
from conftest import TEST_DATA

SAMPLES = Path(os.environ.get("BEYOND_INET_SAMPLES") or (TEST_DATA or ROOT / "data") / "imagenet-samples")
N_JPEG = 12

VIEWS = {
    "bicubic_incep": View(resize=256, crop=224, interpolation="bicubic", mean=INCEPTION_MEAN,
                          std=INCEPTION_STD),
    "bilinear_in": View(resize=232, crop=224),
    "clip_224": View(resize=224, crop=224, interpolation="bicubic", mean=CLIP_MEAN, std=CLIP_STD),
    "shifted": View(resize=256, crop=224, shift=48),
}


@pytest.fixture(scope="module")
def samples():
    if not SAMPLES.is_dir():
        pytest.skip(f"real ImageNet samples not found at {SAMPLES} (set DATA_ROOT or BEYOND_INET_SAMPLES)")
    files = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in (".jpeg", ".jpg"))[:N_JPEG]
    if len(files) < N_JPEG:
        pytest.skip(f"need {N_JPEG} JPEGs in {SAMPLES}, found {len(files)}")
    return files


@pytest.fixture(scope="module")
def mixed(samples, tmp_path_factory) -> DatasetIndex:
    """12 real JPEGs + a PNG + a CMYK JPEG (both readable) + a truncated JPEG (unreadable),
    interleaved by name so odd files sit inside batches."""
    folder = tmp_path_factory.mktemp("mixed")
    for i, f in enumerate(samples):
        shutil.copy(f, folder / f"{i:02d}_{f.name}")
    rgb = load_rgb(samples[0])
    rgb.save(folder / "03a_png.png")
    rgb.convert("CMYK").save(folder / "07a_cmyk.jpg", quality=95)
    data = samples[1].read_bytes()
    (folder / "09a_trunc.jpg").write_bytes(data[: len(data) // 2])
    names = sorted(p.name for p in folder.iterdir())
    return DatasetIndex("mixed", folder, pd.DataFrame({"path": names, "label": 0}))


def predict(specs, ds, cache, decode, views=VIEWS, **kw):
    kw.setdefault("batch_size", 6)
    return engine.predict(specs, ds, views, cache_dir=cache, device="cpu", num_workers=0,
                          chunk_size=8, progress=False, decode=decode, **kw)


# ------------------------------------------------------------------- file triage
def test_plain_jpeg_triage(mixed, samples, tmp_path):
    p = {name: mixed.root / f"{prefix}_{name}"
         for prefix, name in (("03a", "png.png"), ("07a", "cmyk.jpg"), ("09a", "trunc.jpg"))}
    frame = engine.decode.jpeg_frame(engine.decode.read_bytes(str(samples[0])))
    assert frame[1] == 8 and frame[3] == 3 and frame[2] == Image.open(samples[0]).size[1]
    assert engine.decode.jpeg_frame(engine.decode.read_bytes(str(p["cmyk.jpg"])))[3] == 4
    Image.open(samples[0]).convert("L").save(tmp_path / "gray.jpg")
    assert engine.decode.is_plain_jpeg(engine.decode.read_bytes(str(samples[0])))
    assert engine.decode.is_plain_jpeg(engine.decode.read_bytes(str(tmp_path / "gray.jpg")))  # 1 component: fine
    assert not engine.decode.is_plain_jpeg(engine.decode.read_bytes(str(p["cmyk.jpg"])))      # 4 components: PIL
    assert not engine.decode.is_plain_jpeg(engine.decode.read_bytes(str(p["png.png"])))
    assert not engine.decode.is_plain_jpeg(engine.decode.read_bytes(str(p["trunc.jpg"])))     # no FFD9 at the end
    assert not engine.decode.is_plain_jpeg(b"") and not engine.decode.is_plain_jpeg(b"\xff\xd8\xff\xd9")


def test_resolve_decode():
    assert engine.resolve_decode("auto", "cpu") == "pil"
    assert engine.resolve_decode("auto", "cuda") == "hybrid"
    assert engine.resolve_decode("auto", "cuda:1") == "hybrid"  # any CUDA device
    assert engine.resolve_decode("tensor", "cpu") == "tensor"
    assert engine.resolve_decode("hybrid", "cpu") == "hybrid"
    with pytest.raises(ValueError, match="decode="):
        engine.resolve_decode("nvjpeg", "cuda")


# ---------------------------------------------------------------- same results
@pytest.mark.parametrize("decode", ["tensor", "hybrid"])
def test_tensor_paths_same_rows_and_skips_as_pil(mixed, tmp_path, decode):
    spec = FakeSpec(key="gpupath")
    pil = predict([spec], mixed, tmp_path / "c", "pil")
    ten = predict([spec], mixed, tmp_path / "c", decode)
    for name in VIEWS:
        a, b = pil[("gpupath", name)], ten[("gpupath", name)]
        assert list(b.table["path"]) == list(a.table["path"])
        assert len(a.table) == N_JPEG + 2  # PNG and CMYK read, truncated file skipped
        pd.testing.assert_frame_equal(b.skipped, a.skipped)
        assert list(a.skipped["path"]) == ["09a_trunc.jpg"] and "cannot decode" in a.skipped["reason"][0]
        # FakeSpec logits are a linear map of per-channel mean/std of the input
        np.testing.assert_allclose(b.logits, a.logits, atol=0.02)


def test_hybrid_equals_tensor_on_cpu(mixed, tmp_path):
    """On a CPU both decode with libjpeg-turbo and share the view code: identical numbers,
    though each keeps its own cache entry (on CUDA, nvJPEG differs)."""
    spec = FakeSpec(key="hyb")
    ten = predict([spec], mixed, tmp_path / "c", "tensor")
    hyb = predict([spec], mixed, tmp_path / "c", "hybrid")
    for k in ten:
        np.testing.assert_array_equal(hyb[k].logits, ten[k].logits)
        pd.testing.assert_frame_equal(hyb[k].skipped, ten[k].skipped)
    decodes = sorted(pd.read_json(m, typ="series")["decode"] for m in (tmp_path / "c").rglob("unit.json"))
    assert decodes == ["hybrid"] * len(VIEWS) + ["tensor"] * len(VIEWS)


def test_grouped_preprocessing_equals_one_image_at_a_time():
    """Images of one size are resized as one stack; the result, in input order, must be
    exactly what each image alone gives (interpolation is per image)."""
    rng = np.random.default_rng(3)
    sizes = [(60, 80), (80, 60), (60, 80), (45, 45), (60, 80), (80, 60), (33, 70)]
    imgs = [torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8)) for h, w in sizes]
    views = {"c": View(resize=40, crop=32, interpolation="bicubic"), "s": View(resize=48, crop=40, shift=9),
             "n": View(resize=36, crop=32, shift=-7, antialias=False)}
    for via_float in (False, True):
        together = engine.preprocess_tensors(imgs, views, via_float=via_float)
        for k in views:
            alone = torch.cat([engine.preprocess_tensors([im], {k: views[k]}, via_float=via_float)[k]
                               for im in imgs])
            assert together[k].shape == (len(imgs), 3, views[k].crop, views[k].crop)
            torch.testing.assert_close(together[k], alone, rtol=0, atol=0)
    # and the order is the input order, not the grouping order
    one = engine.preprocess_tensors([imgs[3]], views)["c"][0]
    torch.testing.assert_close(engine.preprocess_tensors(imgs, views)["c"][3], one, rtol=0, atol=0)


def _pil_tensor(path, view):
    return view.transform()(load_rgb(path))


def _tensor_path(path, views, via_float):
    data = torch.from_numpy(engine.decode.read_bytes(str(path)))
    if engine.decode.is_plain_jpeg(data.numpy()):
        img = engine.decode.decode_jpegs([data], "cpu")[0]
    else:
        img = engine.decode.pil_to_chw(load_rgb(path))
    return engine.preprocess_tensors([img], views, via_float=via_float)


@pytest.mark.parametrize("via_float", [False, True], ids=["cpu_uint8_resize", "cuda_float_resize"])
def test_preprocessed_tensors_close_to_pil(mixed, via_float):
    readable = [mixed.root / p for p in mixed.table["path"] if "trunc" not in p]
    worst = {}
    for path in readable:
        got = _tensor_path(path, VIEWS, via_float)
        for k, v in VIEWS.items():
            ref = _pil_tensor(path, v)
            assert got[k].shape == (1, *ref.shape)
            d = (got[k][0] - ref).abs()
            worst[k] = max(worst.get(k, 0.0), float(d.mean()))
            # one resize rounding apart: at most a few grey levels anywhere
            assert float(d.max()) * min(v.std) * 255 < 12, (path.name, k)
    assert max(worst.values()) < 0.02, worst
    assert min(worst.values()) > 0  # the paths do differ (so the cache key must too)


def test_real_model_top1_agrees(mixed, tmp_path):
    from beyond_inet_lib.models import get_model

    try:
        spec = get_model("efficientnet_lite0")
        spec.weights_id  # noqa: B018 - raises when the pip weights package is missing
    except Exception as e:  # pragma: no cover - depends on the environment
        pytest.skip(f"efficientnet_lite0 weights not available: {e}")
    jpgs = mixed.table[mixed.table["path"].str.endswith(".JPEG")].reset_index(drop=True)
    ds = DatasetIndex("jpgs", mixed.root, jpgs)
    pil = predict([spec], ds, tmp_path / "c", "pil", views=None, batch_size=12).only(spec.key)
    ten = predict([spec], ds, tmp_path / "c", "tensor", views=None, batch_size=12).only(spec.key)
    assert len(pil) == len(ten) == N_JPEG
    assert (pil.pred() == ten.pred()).sum() >= N_JPEG - 1
    np.testing.assert_allclose(ten.probs().max(1), pil.probs().max(1), atol=0.05)


# -------------------------------------------------------------- crop geometry
@pytest.mark.parametrize("size", [(300, 200), (200, 300)], ids=["landscape", "portrait"])
@pytest.mark.parametrize("shift", [80, -80, 0])
def test_shifted_crop_black_fill_matches_pil(size, shift):
    """A white image: every black pixel of the crop is fill. Same fill mask as the PIL path,
    and where it is: 300x200 -> resize 100 -> 150x100; crop 96 at left round(54/2)=27,
    moved by 80 * (100/200) = 40 -> 67, so columns 150..162 of the window (13) are fill."""
    view = View(resize=100, crop=96, shift=shift, interpolation="bicubic")
    white = Image.new("RGB", size, (255, 255, 255))
    ref = view.transform()(white)
    got = engine.preprocess_tensors([engine.decode.pil_to_chw(white)], {"v": view})["v"][0]
    black = -torch.tensor(view.mean) / torch.tensor(view.std)

    def fill_mask(x):
        return torch.isclose(x, black.view(3, 1, 1), atol=1e-5).all(0)

    m_ref, m_got = fill_mask(ref), fill_mask(got)
    assert torch.equal(m_got, m_ref)
    landscape = size[0] > size[1]
    cols = m_got.all(0) if landscape else m_got.all(1)  # fill lines across the long side
    expect = {80: slice(96 - 13, 96), -80: slice(0, 13), 0: slice(0, 0)}[shift]
    want = torch.zeros(96, dtype=torch.bool)
    want[expect] = True
    assert torch.equal(cols, want)
    assert int(m_got.sum()) == 13 * 96 * (shift != 0)


def test_crop_larger_than_image_pads_like_center_crop():
    view = View(resize=None, crop=40)
    img = Image.fromarray(np.full((21, 33, 3), 200, np.uint8))  # odd margins: 19 and 7
    ref = view.transform()(img)
    got = engine.preprocess_tensors([engine.decode.pil_to_chw(img)], {"v": view})["v"][0]
    torch.testing.assert_close(got, ref)


# --------------------------------------------------------------- decode once
def test_each_file_read_and_decoded_once_for_all_models_and_views(mixed, tmp_path, monkeypatch):
    reads, decoded, pil, batches = [], [], [], []
    real_read, real_dec, real_pil = engine.decode.read_bytes, engine.decode.decode_jpegs, engine.decode.load_rgb
    monkeypatch.setattr(engine.decode, "read_bytes", lambda p: (reads.append(Path(p).name), real_read(p))[1])

    def dec(datas, device):
        batches.append(len(datas))
        out = real_dec(datas, device)
        decoded.extend(tuple(t.shape) for t in out)
        return out

    monkeypatch.setattr(engine.decode, "decode_jpegs", dec)
    monkeypatch.setattr(engine.decode, "load_rgb", lambda p: (pil.append(Path(p).name), real_pil(p))[1])
    specs = [FakeSpec(key="once1"), FakeSpec(key="once2", weights_id="other")]
    views = {"a": VIEWS["bilinear_in"], "b": VIEWS["shifted"]}
    res = predict(specs, mixed, tmp_path / "c", "tensor", views=views)
    names = list(mixed.table["path"])
    assert sorted(reads) == sorted(names)  # every file read exactly once
    assert sorted(pil) == ["03a_png.png", "07a_cmyk.jpg", "09a_trunc.jpg"]  # PIL only for odd files
    assert len(decoded) == N_JPEG and sum(batches) == N_JPEG
    # one batched decode per loader batch: chunks of 8 rows cut into batches of <= 6 ->
    # rows 0-5 | 6-7 | 8-13 | 14, holding 5, 2, 4 and 1 plain JPEGs (odd files: rows 4, 9, 12)
    assert batches == [5, 2, 4, 1]
    assert set(res) == {(m, v) for m in ("once1", "once2") for v in views}
    np.testing.assert_array_equal(res[("once1", "a")].logits, res[("once2", "a")].logits)


def test_hybrid_decodes_each_file_once_in_the_workers(mixed, tmp_path, monkeypatch):
    decoded, pil = [], []
    real_dec, real_pil = engine.decode.decode_jpegs, engine.decode.load_rgb

    def dec(datas, device):
        assert device == "cpu"  # hybrid: the workers decode, never the GPU
        decoded.append(len(datas))
        return real_dec(datas, device)

    monkeypatch.setattr(engine.decode, "decode_jpegs", dec)
    monkeypatch.setattr(engine.decode, "load_rgb", lambda p: (pil.append(Path(p).name), real_pil(p))[1])
    specs = [FakeSpec(key="honce1"), FakeSpec(key="honce2", weights_id="other")]
    predict(specs, mixed, tmp_path / "c", "hybrid", views={"a": VIEWS["bilinear_in"], "b": VIEWS["shifted"]})
    assert decoded == [1] * N_JPEG  # one decode per plain JPEG, for two models x two views
    assert sorted(pil) == ["03a_png.png", "07a_cmyk.jpg", "09a_trunc.jpg"]


def test_batch_decode_failure_falls_back_per_image_then_to_pil(mixed, tmp_path, monkeypatch):
    ref = predict([FakeSpec(key="fb")], mixed, tmp_path / "ref", "tensor")
    real_dec = engine.decode.decode_jpegs
    bad_name = mixed.table["path"][0]
    bad_bytes = engine.decode.read_bytes(str(mixed.root / bad_name))

    def flaky(datas, device):  # a batch with the first file fails; alone, that file fails too
        if any(len(d) == len(bad_bytes) and torch.equal(d, torch.from_numpy(bad_bytes)) for d in datas):
            raise RuntimeError("simulated nvJPEG failure")
        return real_dec(datas, device)

    monkeypatch.setattr(engine.decode, "decode_jpegs", flaky)
    got = predict([FakeSpec(key="fb")], mixed, tmp_path / "c", "tensor")
    for k in ref:
        assert list(got[k].table["path"]) == list(ref[k].table["path"])
        pd.testing.assert_frame_equal(got[k].skipped, ref[k].skipped)
        np.testing.assert_allclose(got[k].logits, ref[k].logits, atol=1e-6)  # same libjpeg pixels


def test_out_of_memory_back_off_on_tensor_path(mixed, tmp_path, capsys):
    views = {"a": VIEWS["bilinear_in"]}
    a = predict([FakeSpec(key="toomref")], mixed, tmp_path / "r", "tensor", views=views).only("toomref")
    b = predict([FakeSpec(key="toom", oom_above=2)], mixed, tmp_path / "c", "tensor", views=views).only("toom")
    np.testing.assert_allclose(b.logits, a.logits, rtol=1e-5, atol=1e-6)
    assert "micro-batch -> 3" in capsys.readouterr().err  # 6 -> 3 -> 1 (still > 2 at 3)


# ------------------------------------------------------------------ cache keys
def test_decode_mode_is_part_of_the_cache_key(mixed, tmp_path):
    spec, views = FakeSpec(key="keyed"), {"a": VIEWS["bicubic_incep"]}
    calls = lambda: engine.FORWARD_CALLS["keyed"]  # noqa: E731
    n0 = calls()
    pil = predict([spec], mixed, tmp_path / "c", "pil", views=views).only("keyed")
    n1 = calls()
    ten = predict([spec], mixed, tmp_path / "c", "tensor", views=views).only("keyed")
    n2 = calls()
    assert n1 - n0 == 4 and n2 - n1 == 4  # 4 batches each: the tensor pass reused nothing
    assert not np.array_equal(pil.logits, ten.logits)
    again_t = predict([spec], mixed, tmp_path / "c", "tensor", views=views).only("keyed")
    again_p = predict([spec], mixed, tmp_path / "c", "pil", views=views).only("keyed")
    assert calls() == n2  # each mode reuses its own results only
    np.testing.assert_array_equal(again_t.logits, ten.logits)
    np.testing.assert_array_equal(again_p.logits, pil.logits)
    manifests = sorted((tmp_path / "c").rglob("unit.json"))
    assert len(manifests) == 2
    assert sorted(pd.read_json(m, typ="series")["decode"] for m in manifests) == ["pil", "tensor"]
    # 'pil' keeps the key caches had before the tensor path existed
    assert engine.cache.extra_key("", "pil") == "" and engine.cache.extra_key("scaled", "pil") == "scaled"


def test_compiled_and_eager_models_are_cached_apart(tmp_path):
    spec = FakeSpec(key="compiled")
    engine.clear_model_cache()
    eager = engine.load_model(spec, "cpu", "paper", tmp_path)
    comp = engine.load_model(spec, "cpu", "paper", tmp_path, compile=True)
    assert comp is not eager
    assert engine.load_model(spec, "cpu", "paper", tmp_path, compile=True) is comp
    assert engine.load_model(spec, "cpu", "paper", tmp_path) is eager
    assert getattr(comp, "_compiled_call_impl", None) is not None  # nn.Module.compile() in place
    assert getattr(eager, "_compiled_call_impl", None) is None
    assert comp.spec is spec and hasattr(comp, "layer_modules")  # attributes kept


# ----------------------------------------------------------------------- bench
def test_bench_reports_decode_mode_and_settings(tmp_path):
    from beyond_inet_lib import bench
    from beyond_inet_lib.cli import build_parser

    out = bench.run_bench(models=["tiny_vit_untrained"], n=8, device="cpu", batch_size=4, workers=0,
                          workdir=tmp_path, decode="tensor")
    assert out["decode"] == "tensor" and out["b_settings"]["decode"] == "tensor"
    assert out["a_settings"]["precision"] == out["b_settings"]["precision"] == "fp32"
    assert out["a_settings"]["compile"] is out["b_settings"]["compile"] is False
    assert out["b_end_to_end_all_models_img_s"] > 0
    assert build_parser().parse_args(["bench", "--decode", "tensor"]).decode == "tensor"
    assert build_parser().parse_args(["bench", "--decode", "hybrid, tensor"]).decode == "hybrid,tensor"
    assert build_parser().parse_args(["bench"]).decode == "auto"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--decode", "nvjpeg"])


def test_bench_measures_each_decode_path_and_reports_the_fastest(tmp_path):
    from beyond_inet_lib import bench

    out = bench.run_bench(models=["tiny_vit_untrained"], n=8, device="cpu", batch_size=4, workers=0,
                          workdir=tmp_path, decode="pil,hybrid")
    rates = out["b_by_decode_img_s"]
    assert set(rates) == {"pil", "hybrid"} and min(rates.values()) > 0
    assert out["decode"] == max(rates, key=rates.get)
    assert out["b_end_to_end_all_models_img_s"] == rates[out["decode"]]
    assert set(out["b_stages_s"]) == {"pil", "hybrid"}
    assert all(st["images"] == 8 for st in out["b_stages_s"].values())
    assert not list(tmp_path.glob("cache-*"))  # each measured pass starts and ends with no cache


# ------------------------------------------------------- compile padding, precision
class _SizeRecorder(torch.nn.Module):
    """Logits = a per-image function of the input; records the batch sizes it was given."""

    def __init__(self, spec):
        super().__init__()
        self.spec, self.sizes = spec, []

    def forward(self, x):
        self.sizes.append(x.shape[0])
        return torch.stack([x.mean(dim=(1, 2, 3)), x.amax(dim=(1, 2, 3))], dim=1)


def test_padded_runner_never_shows_the_model_a_new_batch_size():
    spec = FakeSpec(key="pad")
    x = torch.randn(10, 3, 8, 8)
    plain, padded = _SizeRecorder(spec), _SizeRecorder(spec)
    r_plain = engine.Runner(plain, "cpu", "fp32", channels_last=True)
    r_pad = engine.Runner(padded, "cpu", "fp32", channels_last=True, pad=True)
    ref = [r_plain.run(x[s:s + 4], ("logits",), None)["logits"] for s in (0, 4, 8)]
    got = [r_pad.run(x[s:s + 4], ("logits",), None)["logits"] for s in (0, 4, 8)]
    assert plain.sizes == [4, 4, 2]
    assert padded.sizes == [4, 4, 4]  # the last batch of 2 was padded with 2 zero images
    for a, b in zip(ref, got):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)  # the padding's outputs are dropped


def test_compiled_pass_pads_the_last_batch(mixed, tmp_path, monkeypatch):
    """predict(compile=True): every forward gets the full batch size; same numbers as the
    eager pass. (Module.compile is stubbed: what is tested is the padding, not inductor.)"""
    seen = []
    real_once = engine.Runner._once

    def once(self, x, outputs, layer_names):
        seen.append(x.shape[0])
        return real_once(self, x, outputs, layer_names)

    monkeypatch.setattr(engine.Runner, "_once", once)
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: None)
    ds = DatasetIndex("ten", mixed.root, mixed.table.head(10))  # all ten readable
    spec, views = FakeSpec(key="padpass"), {"a": VIEWS["bilinear_in"]}
    eager = predict([spec], ds, tmp_path / "e", "hybrid", views=views, batch_size=4).only("padpass")
    assert seen == [4, 4, 2]  # chunks of 8 rows: 4 + 4 | 2
    seen.clear()
    comp = predict([spec], ds, tmp_path / "c", "hybrid", views=views, batch_size=4,
                   compile=True).only("padpass")
    assert seen == [4, 4, 4]
    assert len(comp) == 10
    np.testing.assert_allclose(comp.logits, eager.logits, rtol=1e-6, atol=1e-6)


def test_precision_is_in_the_cache_key_and_the_manifest_says_where_it_ran(mixed, tmp_path):
    ds = DatasetIndex("six", mixed.root, mixed.table.head(6))
    spec, views = FakeSpec(key="prec"), {"a": VIEWS["bilinear_in"]}
    predict([spec], ds, tmp_path / "c", "pil", views=views, precision="fp32")
    predict([spec], ds, tmp_path / "c", "pil", views=views, precision="bf16")
    info = sorted((pd.read_json(m, typ="series") for m in (tmp_path / "c").rglob("unit.json")),
                  key=lambda m: m["precision"])
    assert [m["precision"] for m in info] == ["bf16", "fp32"]  # two entries, not one reused
    assert {m["device"] for m in info} == {"cpu"}
    # fp32 keeps the key caches had before precision was part of it
    assert engine.cache.extra_key("", "pil", "fp32") == engine.cache.extra_key("", "pil") == ""
    assert engine.cache.extra_key("", "pil", "bf16") != ""


def test_settings_supply_decode_and_compile(mixed, tmp_path, monkeypatch):
    """The settings (a profile's) give decode and compile to the pass; explicit arguments
    win; the plan holds them resolved, and the pass really uses them."""
    from beyond_inet_lib.config import Profile

    prof = Profile(name="p", models=[], cache_dir=str(tmp_path / "c"), device="cpu", decode="hybrid",
                   compile=True, num_workers=0, batch_size=4)
    ds = DatasetIndex("four", mixed.root, mixed.table.head(4))
    views = {"a": VIEWS["bilinear_in"]}
    p = engine.plan([FakeSpec(key="profd")], ds, views, settings=prof.run_settings())
    assert (p.settings.decode, p.settings.compile, p.settings.device, p.settings.precision) == \
        ("hybrid", True, "cpu", "fp32")
    assert [u.decode for u in p.units] == ["hybrid"]
    p2 = engine.plan([FakeSpec(key="profd")], ds, views, settings=prof.run_settings(), decode="pil",
                     compile=False)
    assert (p2.settings.decode, p2.settings.compile) == ("pil", False)  # explicit arguments win
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(self.spec.key))
    engine.clear_model_cache()
    engine.execute(p, progress=False)
    assert compiled == ["profd"]
    assert [m.parent.name for m in (tmp_path / "c").rglob("unit.json")] == [p.units[0].dir.name]
    assert pd.read_json(p.units[0].dir / "unit.json", typ="series")["decode"] == "hybrid"


# ------------------------------------------------------------------ on a GPU only
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
@pytest.mark.parametrize("decode", ["tensor", "hybrid"])
def test_cuda_paths_match_the_cpu_reference(mixed, tmp_path, decode):
    """nvJPEG / GPU resize / bf16 autocast / pinned host copies: same rows and skips as the
    CPU PIL reference, numbers within the bound the module docstring explains."""
    spec = FakeSpec(key="cudaref")
    ref = predict([spec], mixed, tmp_path / "cpu", "pil")
    got = engine.predict([spec], mixed, VIEWS, cache_dir=tmp_path / "gpu", device="cuda", num_workers=2,
                         chunk_size=8, batch_size=6, progress=False, decode=decode, precision="fp32")
    for k in ref:
        assert list(got[k].table["path"]) == list(ref[k].table["path"])
        pd.testing.assert_frame_equal(got[k].skipped, ref[k].skipped)
        np.testing.assert_allclose(got[k].logits, ref[k].logits, atol=0.05)


@cuda
def test_cuda_one_batch_in_flight_gives_the_synchronous_numbers(tmp_path):
    """The pipelined pass (outputs copied to pinned memory while the next batch runs) must
    give exactly what one synchronous forward per batch gives."""
    from beyond_inet_lib.models import get_model

    spec = get_model("tiny_vit_untrained")
    model = spec.load(device="cuda").eval()
    x = torch.randn(40, 3, spec.resolution, spec.resolution, device="cuda")
    runner = engine.Runner(model, "cuda", "bf16", channels_last=True)
    queued = [runner.run_async(x[s:s + 8], ("logits",), None) for s in range(0, 40, 8)]
    got = np.concatenate([q.result()["logits"] for q in queued])
    ref = np.concatenate([runner.run(x[s:s + 8], ("logits",), None)["logits"] for s in range(0, 40, 8)])
    np.testing.assert_array_equal(got, ref)


@cuda
def test_cuda_compiled_pass_matches_eager(mixed, tmp_path):
    """torch.compile on the GPU path, last batch padded: same rows, numbers within bf16."""
    from beyond_inet_lib.models import get_model

    spec = get_model("tiny_vit_untrained")
    kw = dict(cache_dir=tmp_path, device="cuda", num_workers=2, chunk_size=8, batch_size=6,
              progress=False, decode="hybrid", precision="bf16")
    eager = engine.predict([spec], mixed, **kw, compile=False).only(spec.key)
    engine.clear_model_cache()
    comp = engine.predict([spec], mixed, **{**kw, "cache_dir": tmp_path / "c"}, compile=True).only(spec.key)
    assert list(comp.table["path"]) == list(eager.table["path"])
    np.testing.assert_allclose(comp.logits, eager.logits, atol=0.1)


def test_resizing_out_of_memory_splits_the_batch(mixed, tmp_path, monkeypatch, capsys):
    """A batch of huge images that does not fit for resizing is resized in parts: same
    numbers, same order, and the pass goes on."""
    views = {"a": VIEWS["shifted"], "b": VIEWS["clip_224"]}
    ref = predict([FakeSpec(key="rsz")], mixed, tmp_path / "ref", "hybrid", views=views)
    real = engine.preprocess_tensors

    def tight(images, vs, via_float=None):
        if len(images) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(images, vs, via_float)

    monkeypatch.setattr(engine.decode, "preprocess_tensors", tight)
    got = predict([FakeSpec(key="rsz")], mixed, tmp_path / "c", "hybrid", views=views)
    for k in ref:
        assert list(got[k].table["path"]) == list(ref[k].table["path"])
        np.testing.assert_array_equal(got[k].logits, ref[k].logits)
    assert "at most 2 images per step" in capsys.readouterr().err


def test_a_batch_crosses_from_the_workers_as_two_tensors(mixed, tmp_path):
    """Whatever the batch size, a tensor/hybrid batch holds two tensors (JPEG bytes, decoded
    images), so worker -> main process transfer needs two shared-memory blocks, not one per
    image; unpacking gives back every image exactly. A pass with real worker processes
    gives the in-process numbers."""
    items = [engine.decode.ByteSet([str(mixed.root / p) for p in mixed.table["path"]], decode_here=d)[i]
             for d in (False, True) for i in range(len(mixed))]
    batch = engine.decode.collate_bytes(items)
    assert sum(isinstance(v, torch.Tensor) for v in batch.values()) == 2
    originals = [t for _, k, t in items if k == "rgb"]
    assert len(originals) == N_JPEG + 4  # hybrid: 12 JPEGs + PNG + CMYK; bytes-only: PNG + CMYK
    for a, b in zip(engine.decode.unpack(batch["rgb"], batch["rgb_shapes"]), originals):
        assert torch.equal(a, b)
    views = {"a": VIEWS["shifted"]}
    inproc = predict([FakeSpec(key="workers")], mixed, tmp_path / "a", "hybrid", views=views).only("workers")
    spawned = engine.predict([FakeSpec(key="workers")], mixed, views, cache_dir=tmp_path / "b", device="cpu",
                             num_workers=2, chunk_size=8, batch_size=6, progress=False,
                             decode="hybrid").only("workers")
    np.testing.assert_array_equal(spawned.logits, inproc.logits)
    pd.testing.assert_frame_equal(spawned.skipped, inproc.skipped)


def test_worker_shares_of_a_batch():
    assert engine.decode.worker_batches(list(range(10)), 10, 0) == [list(range(10))]
    assert engine.decode.worker_batches(list(range(10)), 10, 1) == [list(range(10))]
    # 256 rows, 16 workers: 16 shares of 16
    shares = engine.decode.worker_batches(list(range(256)), 256, 16)
    assert [len(s) for s in shares] == [16] * 16 and sum(shares, []) == list(range(256))
    # never below MIN_WORKER_BATCH rows; a short last batch keeps the share size
    assert [len(s) for s in engine.decode.worker_batches(list(range(20)), 32, 16)] == [8, 8, 4]


@pytest.mark.parametrize("decode", ["pil", "hybrid", "tensor"])
def test_batches_shared_by_workers_give_the_in_process_results(mixed, tmp_path, monkeypatch, decode):
    """2 workers, batch 16: each model batch is prepared as two shares of 8 by two worker
    processes and joined again; the model still sees whole batches, the numbers are the
    in-process ones."""
    sizes = []
    real_once = engine.Runner._once
    monkeypatch.setattr(engine.Runner, "_once",
                        lambda self, x, o, l: (sizes.append(x.shape[0]), real_once(self, x, o, l))[1])
    views = {"a": VIEWS["bicubic_incep"], "b": VIEWS["shifted"]}
    kw = dict(device="cpu", chunk_size=16, batch_size=16, progress=False, decode=decode)
    ref = engine.predict([FakeSpec(key="share")], mixed, views, cache_dir=tmp_path / "a", num_workers=0, **kw)
    assert sizes == [len(mixed) - 1] * 2  # 15 files, 1 unreadable: one batch of 14, two views
    sizes.clear()
    got = engine.predict([FakeSpec(key="share")], mixed, views, cache_dir=tmp_path / "b", num_workers=2, **kw)
    assert sizes == [len(mixed) - 1] * 2
    for k in ref:
        np.testing.assert_array_equal(got[k].logits, ref[k].logits)
        assert list(got[k].table["path"]) == list(ref[k].table["path"])
        pd.testing.assert_frame_equal(got[k].skipped, ref[k].skipped)


def test_next_batch_is_queued_before_the_previous_one_is_collected(mixed, tmp_path, monkeypatch):
    """The pass keeps one batch in flight: batch b+1's forwards are queued (on a GPU:
    launched, asynchronous) before batch b's outputs are waited for, so the GPU has work
    while the host collects, decodes and writes."""
    log = []
    real_once, real_result = engine.Runner._once, engine.forward.HostCopy.result
    monkeypatch.setattr(engine.Runner, "_once",
                        lambda self, x, o, l: (log.append("forward"), real_once(self, x, o, l))[1])
    monkeypatch.setattr(engine.forward.HostCopy, "result", lambda self: (log.append("collect"), real_result(self))[1])
    predict([FakeSpec(key="inflight")], mixed, tmp_path / "c", "hybrid", views={"a": VIEWS["bilinear_in"]},
            batch_size=4)
    # 15 files in chunks of 8 -> batches 4, 4 | 4, 3 (one file unreadable)
    assert log == ["forward", "forward", "collect", "forward", "collect", "forward", "collect", "collect"]


def test_pass_reports_where_the_host_time_went(mixed, tmp_path):
    """A model that takes 50 ms per batch: its time shows up as forward time (on a CPU the
    forward runs inside queue_forward; on a GPU it would be collect_wait), the stages do
    not add up to more than the pass's wall time (the bench reports them per decode path)."""
    views = {"a": VIEWS["bilinear_in"]}
    st = engine.execute(engine.plan([FakeSpec(key="slowstage", sleep=0.05)], mixed, views, cache_dir=tmp_path / "c",
                                    device="cpu", num_workers=0, chunk_size=8, decode="hybrid", batch_size=4),
                        progress=False).stages
    assert set(st) == {f"{n}_s" for n in engine.passes.Stages.NAMES} | {"wall_s", "images"}
    assert st["images"] == len(mixed)
    assert st["queue_forward_s"] >= 4 * 0.05  # 4 batches (15 files, chunks of 8, batches of 4)
    assert sum(v for k, v in st.items() if k.endswith("_s") and k != "wall_s") <= st["wall_s"] + 1e-3


@pytest.mark.parametrize("decode", ["pil", "hybrid", "tensor"])
def test_a_batch_of_only_unreadable_files_is_skipped_not_fatal(tmp_path, decode):
    folder = tmp_path / "bad"
    folder.mkdir()
    for i in range(3):
        (folder / f"b{i}.jpg").write_bytes(b"not a jpeg at all")
    ds = DatasetIndex("allbad", folder, pd.DataFrame({"path": ["b0.jpg", "b1.jpg", "b2.jpg"], "label": 0}))
    res = predict([FakeSpec(key="allbad")], ds, tmp_path / "c", decode, views={"a": VIEWS["bilinear_in"]})
    r = res.only("allbad")
    assert len(r) == 0 and list(r.skipped["path"]) == ["b0.jpg", "b1.jpg", "b2.jpg"]


# ------------------------------------------------------------ webdataset members
@pytest.mark.parametrize("decode", ["pil", "tensor", "hybrid"])
def test_webdataset_members_decode_like_the_files(mixed, tmp_path, decode):
    """The same images packed into a webdataset shard, read in place by member ref: the
    same numbers and the same unreadable image as the files, on every decode path, and a
    fingerprint that follows the shard's bytes."""
    import io
    import tarfile

    from beyond_inet_lib.data import webdataset as W

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name in mixed.table["path"]:
            data = (mixed.root / name).read_bytes()
            assert name.count(".") == 1       # <key>.<ext>
            info = tarfile.TarInfo("s" + name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    shard = tmp_path / "wds/test/0.tar"
    shard.parent.mkdir(parents=True)
    shard.write_bytes(buf.getvalue())
    samples = W.read_shard(shard)
    refs = [str(Path(s.ref()).relative_to(tmp_path / "wds")) for s in samples]
    assert all(r.startswith("test/0.tar#s") for r in refs) and len(refs) == len(mixed)
    wds = DatasetIndex("mixed-wds", tmp_path / "wds", pd.DataFrame({"path": refs, "label": 0}))
    spec = FakeSpec(key="wdspath")
    files = predict([spec], mixed, tmp_path / "c", decode)
    members = predict([spec], wds, tmp_path / "c", decode)
    for name in VIEWS:
        a, b = files[("wdspath", name)], members[("wdspath", name)]
        np.testing.assert_array_equal(b.logits, a.logits)
        assert list(b.skipped["path"]) == ["test/0.tar#s09a_trunc.jpg"]
        assert b.skipped["reason"].tolist() == a.skipped["reason"].tolist()
    before = wds.fingerprint()
    assert wds.fingerprint() == before                           # stable
    shard.write_bytes(buf.getvalue() + b"\0" * 10240)          # another size: every key changes
    assert wds.fingerprint() != before
