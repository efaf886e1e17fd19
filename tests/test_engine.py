"""Engine: decode once, cache, resume, skip bad files, back off on OOM, atomic writes."""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from beyond_inet_lib import engine
from beyond_inet_lib.data import DatasetIndex
from beyond_inet_lib.views import View

from fakes import FakeSpec

ROOT = Path(__file__).resolve().parent.parent


def make_images(folder: Path, n: int, seed: int = 0) -> DatasetIndex:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        h, w = int(rng.integers(36, 60)), int(rng.integers(36, 60))
        arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        name = f"img{i:03d}.png"
        Image.fromarray(arr).save(folder / name)
        rows.append({"path": name, "label": i % 10})
    return DatasetIndex("tiny", folder, pd.DataFrame(rows))


def run(spec, ds, cache, **kw):
    kw.setdefault("batch_size", 4)
    kw.setdefault("num_workers", 0)
    kw.setdefault("chunk_size", 8)
    kw.setdefault("progress", False)
    return engine.predict([spec], ds, cache_dir=cache, device="cpu", **kw)


def _fixed_files(folder: Path) -> DatasetIndex:
    """Five small PPM images whose bytes (hence sizes, hence the dataset fingerprint) are
    the same on every machine and library version."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(5):
        w, h = 30 + i, 20 + 2 * i
        body = bytes((7 * i + j) % 256 for j in range(w * h * 3))
        (folder / f"p{i}.ppm").write_bytes(b"P6\n%d %d\n255\n" % (w, h) + body)
    return DatasetIndex("pinset", folder, pd.DataFrame({"path": [f"p{i}.ppm" for i in range(5)], "label": 0}))


def test_unit_folder_names_are_pinned(tmp_path):
    """Existing caches stay valid only while the unit folder names do not move: dataset
    name + fingerprint, model slug + weights hash, view key + outputs/layers/chunk/extra key
    (CLIP logit scale, decode unless 'pil', precision unless 'fp32'). Pinned values were
    computed by the engine before it became a package."""
    ds = _fixed_files(tmp_path / "img")
    cache = tmp_path / "c"
    kw = dict(cache_dir=cache, device="cpu", batch_size=4, num_workers=0, progress=False)
    engine.predict([FakeSpec(key="pinned")], ds, {"v": View(resize=40, crop=32)}, chunk_size=8, **kw)
    clip = FakeSpec(key="timm:pin/clip", training="clip", weights_id="w-2")
    engine.predict([clip], ds, outputs=("logits", "features", "layers"), layers={clip.key: ["norm"]},
                   clip_logit_scale="model", decode="hybrid", precision="bf16", **kw)
    assert ds.fingerprint() == "19a72bf0380003a2"
    assert sorted(str(m.parent.relative_to(cache)) for m in cache.rglob("unit.json")) == [
        "results/pinset-19a72bf0380003a2/pinned-78902fd0/4f29a98f1ad9-93a666af",
        "results/pinset-19a72bf0380003a2/timm_pin_clip-808e87-940924b6/4f29a98f1ad9-1844b77f",
    ]


def test_cached_pass_is_not_recomputed(tmp_path):
    ds = make_images(tmp_path / "img", 20)
    spec = FakeSpec(key="cached")
    engine.clear_model_cache()
    before = engine.FORWARD_CALLS["cached"]
    r1 = run(spec, ds, tmp_path / "cache")
    first = engine.FORWARD_CALLS["cached"] - before
    assert first == 5  # 20 images in chunks of 8 -> batches of 4: 2 + 2 + 1
    r2 = run(spec, ds, tmp_path / "cache")
    assert engine.FORWARD_CALLS["cached"] - before == first  # nothing recomputed
    a, b = r1.only("cached"), r2.only("cached")
    np.testing.assert_array_equal(a.logits, b.logits)
    assert a.logits.shape == (20, 10)
    assert list(a.table["path"]) == list(ds.table["path"])


def test_explicit_arguments_win_over_the_settings(tmp_path, monkeypatch):
    """Arguments given to predict override the settings (a profile's): batch size (seen in
    the forward calls), workers (decoding in this process or not), preprocessing (the view)
    and CLIP logit scale (the logits)."""
    from beyond_inet_lib.config import Profile

    ds = make_images(tmp_path / "img", 12)
    spec = FakeSpec(key="explicit", training="clip")
    want = dict(batch_size=4, num_workers=0, preprocessing="library", clip_logit_scale="model")
    ref = engine.predict([spec], ds, cache_dir=tmp_path / "ref", device="cpu", chunk_size=8, progress=False,
                         **want).only("explicit")
    prof = Profile(name="p", models=[], cache_dir=str(tmp_path / "c"), device="cpu", batch_size=16,
                   num_workers=2, preprocessing="paper", clip_logit_scale="paper")
    decoded_here = []
    real = engine.decode.load_rgb
    monkeypatch.setattr(engine.decode, "load_rgb", lambda p: (decoded_here.append(p), real(p))[1])
    before = engine.FORWARD_CALLS["explicit"]
    got = engine.predict([spec], ds, settings=prof.run_settings(), chunk_size=8, progress=False,
                         **want).only("explicit")
    observed = {"forward calls": engine.FORWARD_CALLS["explicit"] - before,  # 12 images, chunks of 8
                "decoded in this process": len(decoded_here), "view": got.view,
                "logits as without the profile": np.array_equal(got.logits, ref.logits)}
    assert observed == {"forward calls": 3, "decoded in this process": 12, "view": spec.view("library"),
                        "logits as without the profile": True}


def test_decode_once_for_all_models_and_views(tmp_path, monkeypatch):
    ds = make_images(tmp_path / "img", 12)
    calls = []
    real = engine.decode.load_rgb
    monkeypatch.setattr(engine.decode, "load_rgb", lambda p: (calls.append(p), real(p))[1])
    specs = [FakeSpec(key="m1"), FakeSpec(key="m2", weights_id="other")]
    views = {"a": View(resize=40, crop=32), "b": View(resize=48, crop=32, interpolation="bicubic")}
    res = engine.predict(specs, ds, views, cache_dir=tmp_path / "c", device="cpu", batch_size=4,
                         num_workers=0, chunk_size=8, progress=False)
    assert len(calls) == 12  # each image decoded once for 2 models x 2 views
    assert set(res) == {("m1", "a"), ("m1", "b"), ("m2", "a"), ("m2", "b")}
    # the two views really differ, and each matches a direct computation
    ra, rb = res[("m1", "a")], res[("m1", "b")]
    assert not np.allclose(ra.logits, rb.logits)
    net = specs[0].load()
    x = torch.stack([views["b"].transform()(real(p)) for p in ds.paths])
    np.testing.assert_allclose(rb.logits, net(x).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_interrupted_pass_resumes_to_same_results(tmp_path):
    ds = make_images(tmp_path / "img", 30)
    ref = run(FakeSpec(key="resume"), ds, tmp_path / "ref").only("resume")
    engine.clear_model_cache()
    with pytest.raises(KeyboardInterrupt):
        run(FakeSpec(key="resume", fail_after=5), ds, tmp_path / "c")
    engine.clear_model_cache()
    done = list((tmp_path / "c").rglob("chunk-*.npz"))
    assert 0 < len(done) < 4  # some chunks were written, not all
    before = engine.FORWARD_CALLS["resume"]
    again = run(FakeSpec(key="resume"), ds, tmp_path / "c").only("resume")
    # only the missing chunks were computed: 30 images = 8 batches; done chunks skipped
    assert engine.FORWARD_CALLS["resume"] - before == 8 - 2 * len(done)
    np.testing.assert_array_equal(again.logits, ref.logits)
    assert list(again.table["path"]) == list(ref.table["path"])
    assert not list((tmp_path / "c").rglob(".tmp-*"))


def _odd_images(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "a_ok.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "b_cmyk.jpg")
    Image.fromarray(rgb).convert("L").save(folder / "c_gray.jpg")
    Image.fromarray(np.dstack([rgb, np.full((40, 50), 128, np.uint8)])).save(folder / "d_rgba.png")
    Image.fromarray((rng.integers(0, 65535, size=(40, 50))).astype(np.uint16)).save(folder / "e_16bit.png")
    (folder / "f_empty.jpg").write_bytes(b"")
    good = folder / "g_trunc.jpg"
    Image.fromarray(rgb).save(good, quality=95)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    (folder / "h_garbage.png").write_bytes(b"this is not an image at all" * 10)
    names = sorted(p.name for p in folder.iterdir())
    return DatasetIndex("odd", folder, pd.DataFrame({"path": names, "label": 0}))


def test_unreadable_images_are_skipped_and_listed(tmp_path):
    ds = _odd_images(tmp_path / "odd")
    res = run(FakeSpec(key="odd"), ds, tmp_path / "c").only("odd")
    assert sorted(res.skipped["path"]) == ["f_empty.jpg", "g_trunc.jpg", "h_garbage.png"]
    assert all(isinstance(r, str) and r for r in res.skipped["reason"])
    assert "empty" in res.skipped.set_index("path").loc["f_empty.jpg", "reason"]
    assert list(res.table["path"]) == ["a_ok.png", "b_cmyk.jpg", "c_gray.jpg", "d_rgba.png", "e_16bit.png"]
    assert np.isfinite(res.logits).all()


def test_sixteen_bit_png_is_rescaled_not_clipped(tmp_path):
    from beyond_inet_lib.images import load_rgb

    a = np.full((8, 8), 32768, dtype=np.uint16)  # half of full scale
    Image.fromarray(a).save(tmp_path / "x.png")
    rgb = np.asarray(load_rgb(tmp_path / "x.png"))
    assert rgb.shape == (8, 8, 3) and abs(int(rgb[0, 0, 0]) - 128) <= 1  # naive convert gives 255


def test_out_of_memory_backs_off_and_completes(tmp_path, capsys):
    ds = make_images(tmp_path / "img", 16)
    ref = run(FakeSpec(key="oomref"), ds, tmp_path / "ref", batch_size=8).only("oomref")
    got = run(FakeSpec(key="oom", oom_above=3), ds, tmp_path / "c", batch_size=8).only("oom")
    np.testing.assert_allclose(got.logits, ref.logits, rtol=1e-5, atol=1e-6)
    assert "micro-batch -> 2" in capsys.readouterr().err


def test_disk_full_is_a_clear_error_and_earlier_chunks_survive(tmp_path, monkeypatch):
    ds = make_images(tmp_path / "img", 24)
    real = np.savez
    n = {"calls": 0}

    def savez(f, **arrays):
        n["calls"] += 1
        if n["calls"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(f, **arrays)

    monkeypatch.setattr(np, "savez", savez)
    with pytest.raises(engine.EngineError, match="disk full"):
        run(FakeSpec(key="full"), ds, tmp_path / "c")
    chunks = list((tmp_path / "c").rglob("chunk-*.npz"))
    assert len(chunks) == 1 and engine.cache.load_chunk(chunks[0])["logits"].shape == (8, 10)
    assert not list((tmp_path / "c").rglob(".tmp-*"))
    monkeypatch.setattr(np, "savez", real)
    res = run(FakeSpec(key="full"), ds, tmp_path / "c").only("full")
    assert res.logits.shape == (24, 10)


def test_features_and_layers(tmp_path):
    ds = make_images(tmp_path / "img", 10)
    res = engine.predict([FakeSpec(key="feat")], ds, outputs=("logits", "features", "layers"),
                         layers={"feat": ["norm", "proj"]}, cache_dir=tmp_path / "c", device="cpu",
                         batch_size=4, num_workers=0, progress=False).only("feat")
    assert res.features.shape == (10, 6)
    np.testing.assert_allclose(res.layers["norm"], res.features, rtol=1e-6)
    np.testing.assert_allclose(res.layers["proj"], res.logits, rtol=1e-6)


def test_the_top_output_is_the_argmax_and_its_softmax_probability(tmp_path):
    """8 bytes an image instead of the logits: what ImageNet-C keeps for many models. Checked
    against the logits of the same model on the same images, from a separate unit."""
    ds = make_images(tmp_path / "img", 10)
    spec = FakeSpec(key="top")
    full = run(spec, ds, tmp_path / "c").only("top")
    top = run(spec, ds, tmp_path / "c", outputs=("top",)).only("top")
    p = np.exp(full.logits - full.logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert top.logits is None and top.top_index.dtype == np.int32
    np.testing.assert_array_equal(top.top_index, full.logits.argmax(1))
    np.testing.assert_allclose(top.top_prob, p.max(1), rtol=1e-6)
    np.testing.assert_array_equal(top.pred(), full.pred())
    with pytest.raises(engine.EngineError, match=r"outputs=\('logits',\)"):
        top.probs()
    with pytest.raises(engine.EngineError, match="class mask"):
        top.pred(class_mask=np.arange(5))
    assert len(list((tmp_path / "c").glob("results/*/*/*/chunk-*.npz"))) == 4    # two units of two chunks


def test_stored_outputs_are_read_when_asked_and_only_the_recent_ones_kept(tmp_path, monkeypatch):
    """A page holding 30 models' results holds their rows, not their outputs: an output is
    read from the chunk files when asked for, and the recently read stay within a budget
    (the last one read always stays)."""
    from beyond_inet_lib.engine import cache

    ds = make_images(tmp_path / "img", 10)
    specs = [FakeSpec(key=f"m{i}") for i in range(3)]
    engine.predict(specs, ds, outputs=("logits", "features"), cache_dir=tmp_path / "c", device="cpu",
                   batch_size=4, num_workers=0, chunk_size=4, progress=False)
    monkeypatch.setattr(cache, "RECENT", cache._Recent(budget=10 * 10 * 4 + 1))   # one model's logits
    res = engine.predict(specs, ds, outputs=("logits", "features"), cache_dir=tmp_path / "c", device="cpu",
                         batch_size=4, num_workers=0, chunk_size=4, progress=False)
    assert cache.RECENT.size == 0                       # nothing read yet
    first = res.only("m0").logits
    assert first.shape == (10, 10) and cache.RECENT.size == first.nbytes
    assert res.only("m0").logits is first               # read once while it is recent
    res.only("m1").logits
    assert res.only("m0").logits is not first           # pushed out by m1's: read again, the same values
    np.testing.assert_array_equal(res.only("m0").logits, first)
    res.only("m2").features                             # larger than the budget: kept as the last one read
    assert len(cache.RECENT.items) == 1 and res.only("m2").features.shape == (10, 6)
    assert {p.parent for p in res.only("m1")._chunks}.isdisjoint({p.parent for p in res.only("m0")._chunks})
    r = res.only("m1")
    r.logits = np.zeros((10, 10), dtype=np.float32)     # an output can be replaced (as a test's cases do)
    assert r.logits.sum() == 0 and r.features.shape == (10, 6)


_CHILD_HEAD = """
import os, signal, sys, time
sys.path.insert(0, {tests!r})
from pathlib import Path
import numpy as np
import pandas as pd
from beyond_inet_lib import engine
from beyond_inet_lib.data import DatasetIndex
from fakes import FakeSpec

# Ctrl-C as in a terminal: a child of a background job (`make test &`, nohup) starts with
# SIGINT ignored, and Python then installs no KeyboardInterrupt handler of its own
signal.signal(signal.SIGINT, signal.default_int_handler)
IMG, CACHE = Path({img!r}), Path({cache!r})
ds = DatasetIndex("tiny", IMG, pd.DataFrame({{"path": sorted(p.name for p in IMG.iterdir()), "label": 0}}))


def wait_for(condition, what):
    deadline = time.monotonic() + 120
    while not condition():
        if time.monotonic() > deadline:
            sys.exit("gave up waiting for " + what)
        time.sleep(0.01)


def predict(**kw):
    engine.predict([FakeSpec(key="killme", **kw)], ds, cache_dir=CACHE, device="cpu", batch_size=2,
                   num_workers=0, chunk_size=4, progress=False)
"""

# 24 images, chunks of 4, batches of 2: forward call 7 is batch 6, the first of chunk 3.
# By then chunks 0 and 1 are complete and queued for writing, and chunk 2's last batch is
# in flight. The child waits until the writer has written chunks 0 and 1, then signals
# itself from inside that forward: the signal lands at the same point of the pass on any
# machine, however loaded.
_SIGNAL_CHILD = _CHILD_HEAD + """

def hook(call):
    if call == 7:
        wait_for(lambda: len(list(CACHE.rglob("chunk-*.npz"))) == 2, "chunks 0 and 1")
        os.kill(os.getpid(), {sig})


predict(before_forward=hook)
sys.exit("the signal did not stop the pass")
"""


def _child(script: str, tmp_path: Path, **kw) -> str:
    return script.format(tests=str(ROOT / "tests"), img=str(tmp_path / "img"), cache=str(tmp_path / "c"), **kw)


def _wait_for_file(path: Path, proc):
    while not path.exists():
        assert proc.poll() is None, f"child exited ({proc.returncode}) before {path.name}"
        time.sleep(0.01)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killed_process_resumes_without_duplicates(tmp_path, sig):
    ds = make_images(tmp_path / "img", 24)
    ref = run(FakeSpec(key="killme"), ds, tmp_path / "ref", batch_size=2, chunk_size=4).only("killme")
    proc = subprocess.run([sys.executable, "-c", _child(_SIGNAL_CHILD, tmp_path, sig=int(sig))], cwd=ROOT,
                          timeout=300, capture_output=True, text=True)
    assert proc.returncode == -sig, proc.stderr[-2000:]  # killed by that very signal
    chunks = sorted(f.name for f in (tmp_path / "c").rglob("chunk-*.npz"))
    # SIGKILL / SIGTERM: gone at once, the two chunks written stay. SIGINT: the interrupted
    # pass first collects the batch in flight (chunk 2's last) and finishes queued writes.
    assert chunks == [f"chunk-{c:05d}.npz" for c in range(3 if sig == signal.SIGINT else 2)]
    for f in (tmp_path / "c").rglob("chunk-*.npz"):
        assert engine.cache.load_chunk(f) is not None  # never a half-written chunk
    assert not list((tmp_path / "c").rglob("*.tmp"))
    engine.clear_model_cache()
    before = engine.FORWARD_CALLS["killme"]
    again = run(FakeSpec(key="killme"), ds, tmp_path / "c", batch_size=2, chunk_size=4).only("killme")
    assert engine.FORWARD_CALLS["killme"] - before == 2 * (6 - len(chunks))  # only the missing chunks
    np.testing.assert_array_equal(again.logits, ref.logits)
    assert again.table["path"].is_unique and len(again.table) == 24


# Writer A stops inside its first chunk write (bytes in its temp file, not yet renamed)
# until writer B has run the whole pass on the same cache; then A finishes.
_WRITER_CHILD = _CHILD_HEAD + """
real_savez = np.savez
paused = []


def savez(f, **arrays):
    real_savez(f, **arrays)
    if {pause} and not paused:
        paused.append(1)
        f.flush()
        (CACHE.parent / "a_paused").touch()
        wait_for((CACHE.parent / "b_done").exists, "writer B")


np.savez = savez
predict()
"""


def test_two_concurrent_writers_do_not_corrupt(tmp_path):
    ds = make_images(tmp_path / "img", 24)
    ref = run(FakeSpec(key="killme"), ds, tmp_path / "ref", batch_size=2, chunk_size=4).only("killme")
    a = subprocess.Popen([sys.executable, "-c", _child(_WRITER_CHILD, tmp_path, pause=True)], cwd=ROOT)
    try:
        _wait_for_file(tmp_path / "a_paused", a)
        b = subprocess.run([sys.executable, "-c", _child(_WRITER_CHILD, tmp_path, pause=False)], cwd=ROOT,
                           timeout=300)
        assert b.returncode == 0
        # while A is half way through writing chunk 0, B has written every chunk, whole
        assert len(list((tmp_path / "c").rglob(".chunk-00000.npz.*.tmp"))) == 1
        chunks = sorted((tmp_path / "c").rglob("chunk-*.npz"))
        assert len(chunks) == 6 and all(engine.cache.load_chunk(f) is not None for f in chunks)
        (tmp_path / "b_done").touch()
        assert a.wait(timeout=300) == 0
    finally:
        if a.poll() is None:
            a.kill()
    assert not list((tmp_path / "c").rglob("*.tmp"))
    again = run(FakeSpec(key="killme"), ds, tmp_path / "c", batch_size=2, chunk_size=4).only("killme")
    np.testing.assert_array_equal(again.logits, ref.logits)


def test_cache_table_lists_units_and_their_progress(tmp_path, capsys):
    ds = make_images(tmp_path / "img", 20)
    run(FakeSpec(key="listed"), ds, tmp_path / "cache")
    run(FakeSpec(key="listed"), ds, tmp_path / "cache", precision="bf16")
    # a unit interrupted after its first chunk: 1 of 3 chunks written
    with pytest.raises(KeyboardInterrupt):
        run(FakeSpec(key="halfdone", fail_after=2), ds, tmp_path / "cache")
    t = engine.cache_table(tmp_path / "cache").sort_values(["model", "precision"])
    assert list(t["model"]) == ["halfdone", "listed", "listed"]
    assert list(t["precision"]) == ["fp32", "bf16", "fp32"]
    assert list(t["chunks"]) == ["1/3", "3/3", "3/3"]  # 20 images in chunks of 8
    assert set(t["images"]) == {20} and set(t["device"]) == {"cpu"} and set(t["dataset"]) == {"tiny"}

    from beyond_inet_lib import cli

    prof = tmp_path / "p.yaml"
    prof.write_text(f"name: p\nmodels: [tiny_vit_untrained]\ncache_dir: {tmp_path / 'cache'}\n")
    assert cli.main(["cache", "info", "--profile", str(prof)]) == 0
    out = capsys.readouterr().out
    assert "halfdone" in out and "1/3" in out and "bf16" in out


# ------------------------------------------------------------ plan / execute / collect
def test_plan_loads_no_model_and_decodes_nothing(tmp_path, monkeypatch):
    ds = make_images(tmp_path / "img", 20)

    def refuse(*a, **k):
        raise AssertionError("plan must not load a model or decode an image")

    monkeypatch.setattr(FakeSpec, "load", refuse)
    monkeypatch.setattr(engine.decode, "load_rgb", refuse)
    views = {"a": View(resize=40, crop=32), "b": View(resize=48, crop=32)}
    p = engine.plan([FakeSpec(key="p1"), FakeSpec(key="p2", weights_id="w2")], ds, views,
                    cache_dir=tmp_path / "c", device="cpu", chunk_size=8)
    assert [(u.spec.key, u.view_name) for u in p.units] == [("p1", "a"), ("p1", "b"), ("p2", "a"), ("p2", "b")]
    assert len({u.dir for u in p.units}) == 4
    assert p.n_chunks == 3 and p.todo_chunks == [0, 1, 2]  # 20 rows in chunks of 8
    assert p.missing == {i: [0, 1, 2] for i in range(4)}
    assert (p.settings.device, p.settings.decode, p.settings.precision) == ("cpu", "pil", "fp32")
    assert not (tmp_path / "c").exists()  # planning writes nothing either


def test_execute_chosen_chunks_then_the_rest(tmp_path, monkeypatch):
    """execute(plan, [1]) computes chunk 1 for every unit, decoding its images once; a later
    execute computes only what is still missing; collect equals a plain predict."""
    ds = make_images(tmp_path / "img", 20)
    decoded = []
    real = engine.decode.load_rgb
    monkeypatch.setattr(engine.decode, "load_rgb", lambda p: (decoded.append(Path(p).name), real(p))[1])
    specs = [FakeSpec(key="x1"), FakeSpec(key="x2", weights_id="w2")]
    kw = dict(cache_dir=tmp_path / "c", device="cpu", batch_size=4, num_workers=0, chunk_size=8)
    p = engine.plan(specs, ds, **kw)
    calls0 = {k: engine.FORWARD_CALLS[k] for k in ("x1", "x2")}
    assert engine.execute(p, [1], progress=False).chunks == [1]
    assert sorted(decoded) == [f"img{i:03d}.png" for i in range(8, 16)]  # once, for both models
    assert {k: engine.FORWARD_CALLS[k] - calls0[k] for k in calls0} == {"x1": 2, "x2": 2}
    assert engine.execute(p, [1], progress=False).chunks == []  # on disk now: never recomputed
    with pytest.raises(engine.EngineError, match="has not been computed"):
        engine.collect(p)
    with pytest.raises(ValueError, match="outside"):
        engine.execute(p, [3])
    again = engine.plan(specs, ds, **kw)
    assert again.todo_chunks == [0, 2]
    decoded.clear()
    assert engine.execute(again, progress=False).chunks == [0, 2]
    assert len(decoded) == 12
    assert {k: engine.FORWARD_CALLS[k] - calls0[k] for k in calls0} == {"x1": 5, "x2": 5}
    got = engine.collect(again)
    ref = engine.predict(specs, ds, **{**kw, "cache_dir": tmp_path / "ref"}, progress=False)
    for k in ref:
        np.testing.assert_array_equal(got[k].logits, ref[k].logits)
        assert list(got[k].table["path"]) == list(ds.table["path"])


def test_a_unit_with_the_chunk_is_not_recomputed_beside_one_without(tmp_path):
    ds = make_images(tmp_path / "img", 12)
    kw = dict(cache_dir=tmp_path / "c", device="cpu", batch_size=4, num_workers=0, chunk_size=8, progress=False)
    old, new = FakeSpec(key="had"), FakeSpec(key="lacks")
    engine.predict([old], ds, **kw)
    p = engine.plan([old, new], ds, **{k: v for k, v in kw.items() if k != "progress"})
    assert p.missing == {1: [0, 1]}
    before = (engine.FORWARD_CALLS["had"], engine.FORWARD_CALLS["lacks"])
    engine.execute(p, progress=False)
    assert (engine.FORWARD_CALLS["had"] - before[0], engine.FORWARD_CALLS["lacks"] - before[1]) == (0, 3)


def test_a_plan_travels_to_another_process(tmp_path):
    """A Plan is a plain value: pickled (as a distributed runner would send it) and executed
    elsewhere, it writes the same cache the planning process then collects."""
    import pickle

    ds = make_images(tmp_path / "img", 10)
    p = engine.plan([FakeSpec(key="travel")], ds, cache_dir=tmp_path / "c", device="cpu", batch_size=4,
                    num_workers=0, chunk_size=4)
    blob = tmp_path / "plan.pkl"
    blob.write_bytes(pickle.dumps(p))
    code = ("import pickle, sys; sys.path.insert(0, {t!r}); from beyond_inet_lib import engine; "
            "engine.execute(pickle.load(open({b!r}, 'rb')), [0, 2], progress=False)").format(
                t=str(ROOT / "tests"), b=str(blob))
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
    assert engine.plan([FakeSpec(key="travel")], ds, cache_dir=tmp_path / "c", device="cpu",
                       chunk_size=4).todo_chunks == [1]
    engine.execute(p, progress=False)
    ref = run(FakeSpec(key="travel"), ds, tmp_path / "ref", chunk_size=4).only("travel")
    np.testing.assert_array_equal(engine.collect(p).only("travel").logits, ref.logits)


def test_an_empty_dataset_gives_an_empty_result(tmp_path, monkeypatch):
    """It used to fail with 'cache chunk ... missing': the one chunk an empty dataset was
    said to have was never written."""
    monkeypatch.setattr(FakeSpec, "load", lambda *a, **k: pytest.fail("nothing to run"))
    ds = DatasetIndex("empty", tmp_path, pd.DataFrame({"path": [], "label": []}))
    r = run(FakeSpec(key="nothing"), ds, tmp_path / "c").only("nothing")
    assert len(r) == 0 and r.logits is None and len(r.skipped) == 0
    assert not (tmp_path / "c").exists()
