"""Reliability: partial data, determinism, no network, full disks and odd image files.

The engine's own reliability tests (corrupt/truncated/empty images, resume after an
interrupt or a killed process, concurrent writers, OOM back-off, disk full while writing a
result chunk) live in test_engine.py; this file covers the rest:

* partial dataset folders are reported as 'partial' and never shift a label;
* two runs of real models give bit-identical logits and metrics;
* loading weights that are not cached, or downloading from an unreachable host, fails at
  once with a message saying what to run, and no connection is even attempted for weights;
* a full disk while building a stand-in or recording a report summary leaves nothing
  half-written and the earlier state intact;
* alpha, palette, CMYK and EXIF-tagged files decode to the pixels we claim.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from beyond_inet_lib import data as D
from beyond_inet_lib import engine, metrics, report
from beyond_inet_lib.data import downloads as DL
from beyond_inet_lib.data import standins
from beyond_inet_lib.errors import DiskFull
from beyond_inet_lib.images import load_rgb

from fakes import FakeSpec

PROJECT = Path(__file__).resolve().parent.parent
from conftest import need_data
ENOSPC = OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def samples() -> D.DatasetIndex:
    return D.load_dataset("imagenet-samples", need_data("imagenet-samples").parent)


def img(path: Path, color=(200, 30, 30), size=(8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


# ============================================================ partial dataset folders
def test_imagenet_c_missing_severities_partial_and_named(tmp_path):
    present = {("fog", 1), ("fog", 3), ("gaussian_noise", 5)}
    for c, s in present:
        img(tmp_path / f"imagenet-c/{c}/{s}/n01498041/ILSVRC2012_val_00000001.JPEG")  # stingray = 6
        img(tmp_path / f"imagenet-c/{c}/{s}/n01531178/ILSVRC2012_val_00000002.JPEG")  # goldfinch = 11
    row = D.check_datasets(tmp_path).set_index("name").loc["imagenet-c"]
    expected = 15 * 5 * 50_000
    assert (row["status"], row["found_count"]) == ("partial", 6)
    assert row["missing"] == f"{expected - 6:,} of {expected:,} images missing"
    ds = D.load_dataset("imagenet-c", tmp_path)
    # every absent (corruption, severity) folder is named, and only those
    all_pairs = {(c, s) for c in D.IMAGENET_C_CORRUPTIONS for s in (1, 2, 3, 4, 5)}
    assert set(ds.meta["absent"]) == {f"{c}/{s}" for c, s in all_pairs - present}
    # labels come from the WNID folder whatever severity folder is missing
    t = ds.table
    assert len(t) == 6
    assert set(t.loc[t["wnid"] == "n01498041", "label"]) == {6}
    assert set(t.loc[t["wnid"] == "n01531178", "label"]) == {11}


def test_pug_missing_class_is_partial_and_shifts_nothing(tmp_path):
    # the first class in sorted order (Airliner) is missing: a sorted-folder labelling
    # would give every later class its neighbour's label
    classes = ["Goldfish", "Chicken_hen", "Wolf"]
    for cls in classes:
        img(tmp_path / f"pug-imagenet/Worlds/{cls}/{cls}_0.png")
    row = D.check_datasets(tmp_path).set_index("name").loc["pug-imagenet"]
    assert (row["status"], row["found_count"], row["expected_count"]) == ("partial", 3, 88_328)
    ds = D.load_dataset("pug-imagenet", tmp_path)
    got = dict(zip(ds.table["class_name"], ds.table["label"]))
    assert got == {"Goldfish": 1, "Chicken_hen": 8, "Wolf": 269}
    assert set(ds.meta["absent_factors"]) == set(D.PUG_FACTORS) - {"Worlds"}


def test_partial_wnid_tree_with_unreadable_file_keeps_labels_aligned(tmp_path):
    """ImageNet-A-like tree, first WNIDs absent, one file corrupt: after the engine skips
    the bad file, every scored row still carries the label of its own WNID folder."""
    for wnid in ("n01498041", "n01531178", "n12267677"):   # 6, 11, 988
        for k in range(3):
            img(tmp_path / f"imagenet-a/{wnid}/{k}.png", color=(k * 60, 40, 90))
    (tmp_path / "imagenet-a/n01531178/1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ds = D.load_dataset("imagenet-a", tmp_path)
    res = engine.predict([FakeSpec(key="partial-a")], ds, cache_dir=tmp_path / "c", device="cpu",
                         batch_size=2, num_workers=0, chunk_size=4, progress=False).only("partial-a")
    assert res.skipped["path"].tolist() == ["imagenet-a/n01531178/1.png"]
    assert len(res) == 8 and len(res.logits) == 8
    wnids = D.imagenet_wnids()
    for p, label in zip(res.table["path"], res.table["label"]):
        assert wnids[label] == Path(p).parent.name


# ======================================================================= determinism
def test_two_runs_of_real_models_are_bit_identical(samples, tmp_path):
    ds = samples.head(16)
    keys = ["tiny_vit_untrained", "efficientnet_lite0"]
    runs = []
    for i in range(2):
        engine.clear_model_cache()  # the second run builds / loads the models afresh
        runs.append(engine.predict(keys, ds, cache_dir=tmp_path / f"cache{i}", device="cpu",
                                   batch_size=8, num_workers=0, progress=False))
    for k in keys:
        a, b = runs[0].only(k), runs[1].only(k)
        assert a.logits.shape == (16, 1000) and np.isfinite(a.logits).all()
        assert a.logits.tobytes() == b.logits.tobytes(), k
        ece_a, ece_b = (metrics.expected_calibration_error(r.probs().max(axis=1),
                                                           r.pred() == r.table["label"].to_numpy())
                        for r in (a, b))
        assert np.isfinite(ece_a) and ece_a == ece_b
    # the real weights really are real: EfficientNet-Lite0 gets most samples right
    lite = runs[0].only("efficientnet_lite0")
    assert (lite.pred() == lite.table["label"].to_numpy()).mean() >= 0.5


# ======================================================================== no network
_GUARDED_CHILD = textwrap.dedent("""
    import json, socket, sys, time
    attempts = []

    def refuse(self, address, *a, **k):       # ANY connection attempt is recorded and fails
        attempts.append(repr(address))
        raise OSError(101, "Network is unreachable (socket guard)")

    socket.socket.connect = refuse
    socket.socket.connect_ex = lambda self, address: (attempts.append(repr(address)), 101)[1]
    socket.create_connection = lambda address, *a, **k: refuse(None, address)

    from beyond_inet_lib import models
    from beyond_inet_lib.data import downloads
    out = {}
    for key in ("vit_sup", "vit_clip"):
        n0, t0 = len(attempts), time.monotonic()
        try:
            models.get_model(key).load()
            out[key] = {"error": None}
        except Exception as e:
            out[key] = {"error": type(e).__name__, "message": str(e)}
        out[key].update(seconds=time.monotonic() - t0, attempts=attempts[n0:])
    n0, t0 = len(attempts), time.monotonic()
    try:
        downloads.get_dataset("imagenet-r", sys.argv[1], progress=False,
                              urls={"imagenet-r.tar": "http://203.0.113.7:8080/imagenet-r.tar"})
        out["download"] = {"error": None}
    except Exception as e:
        out["download"] = {"error": type(e).__name__, "message": str(e)}
    out["download"].update(seconds=time.monotonic() - t0, attempts=attempts[n0:])
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.parametrize("hf_offline", [True, False])
def test_no_network_weights_fail_at_once_without_connecting(tmp_path, hf_offline):
    """HF_HUB_OFFLINE=1: not one connection is tried for weights. Without it: one, the hub
    probe, refused here; either way WeightsNotFound in seconds saying what to run."""
    home = tmp_path / "home"          # empty caches: the weights cannot be found locally
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "HF_HOME": str(home / "hf"), "TORCH_HOME": str(home / "torch"),
           "XDG_CACHE_HOME": str(home / "cache"), "PYTHONPATH": str(PROJECT)}
    for name in ("HF_HUB_CACHE", "HF_ENDPOINT", "HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy",
                 "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    if hf_offline:
        env["HF_HUB_OFFLINE"] = "1"
    proc = subprocess.run([sys.executable, "-c", _GUARDED_CHILD, str(tmp_path / "data")], cwd=PROJECT,
                          env=env, capture_output=True, text=True, timeout=120)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    out = json.loads(line[0][len("RESULT "):])
    for key, repo in (("vit_sup", "models--timm--deit3_base_patch16_224.fb_in22k_ft_in1k"),
                      ("vit_clip", "models--timm--vit_base_patch16_clip_224.laion400m_e31")):
        r = out[key]
        assert r["error"] == "WeightsNotFound", r
        # no wait on the network: the attempts below say so; the bound only catches a
        # client's own retries (minutes), not this machine's speed (model builds are slow under load)
        assert r["seconds"] < 60
        if hf_offline:
            assert r["attempts"] == []                   # not even one connection was tried
            assert "HF_HUB_OFFLINE=1" in r["message"]
        else:
            assert len(r["attempts"]) == 1 and "huggingface.co" in r["attempts"][0], r["attempts"]
            assert "https://huggingface.co did not answer" in r["message"]
        assert f"On a connected machine run:\n  beyond-inet models get {key}" in r["message"]
        assert repo in r["message"]
    d = out["download"]
    assert d["error"] == "DownloadError" and d["seconds"] < 10
    assert d["attempts"] == ["('203.0.113.7', 8080)"]   # exactly one try, refused by the guard
    assert "http://203.0.113.7:8080/imagenet-r.tar" in d["message"] and "connected machine" in d["message"]
    assert not (tmp_path / "data" / "imagenet-r").exists()
    assert not list((tmp_path / "data").rglob("*.part"))


def test_download_from_a_host_that_never_answers_times_out(tmp_path):
    """A black-holed address (TEST-NET-3: packets go nowhere) must not hang: the connect
    timeout bounds it and the message names the URL."""
    url = "http://203.0.113.7:8080/imagenet-r.tar"
    t0 = time.monotonic()
    with pytest.raises(DL.DownloadError) as e:
        DL.get_dataset("imagenet-r", tmp_path, progress=False, timeout=1.0, urls={"imagenet-r.tar": url})
    assert time.monotonic() - t0 < 8
    assert url in str(e.value) and "copy imagenet-r.tar into" in str(e.value)
    assert not (tmp_path / "imagenet-r").exists()


# ========================================================================= disk full
def _tiny_build(n_ok: int, fail_at: int | None = None):
    """A stand-in ``build``: writes PNGs, raising ENOSPC when writing file ``fail_at``."""

    def build(out: Path) -> pd.DataFrame:
        rows = []
        for i in range(n_ok):
            if i == fail_at:
                (out / f"{i}.png").write_bytes(b"\x89PNG half")   # the half-written file
                raise OSError(errno.ENOSPC, "No space left on device", str(out / f"{i}.png"))
            img(out / f"{i}.png", color=(i * 40, 0, 0))
            rows.append({"path": f"{i}.png", "label": i})
        return pd.DataFrame(rows)

    return build


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "standins").iterdir()) if (cache / "standins").exists() else []


def test_disk_full_during_standin_build_leaves_nothing_and_rebuilds(tmp_path):
    cache = tmp_path / "cache"
    params = {"n": 4}
    with pytest.raises(OSError) as e:
        standins.build_once(cache, "toy", params, "fp0", _tiny_build(4, fail_at=2))
    assert e.value.errno == errno.ENOSPC and "No space left on device" in str(e.value)
    assert _leftovers(cache) == []                     # no temp folder, no final folder
    folder, table, manifest = standins.build_once(cache, "toy", params, "fp0", _tiny_build(4))
    assert _leftovers(cache) == [folder.name] and table["path"].tolist() == ["0.png", "1.png", "2.png", "3.png"]
    assert manifest["rows"] == 4 and all(np.asarray(load_rgb(folder / p)).shape == (8, 8, 3) for p in table["path"])


def test_disk_full_writing_the_standin_table_leaves_nothing(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    real = pd.DataFrame.to_parquet

    def half_then_full(self, path, *a, **k):
        Path(path).write_bytes(b"PAR1 half a table")
        raise ENOSPC

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        standins.build_once(cache, "toy", {"n": 2}, "fp0", _tiny_build(2))
    assert _leftovers(cache) == []
    monkeypatch.setattr(pd.DataFrame, "to_parquet", real)
    folder, table, _ = standins.build_once(cache, "toy", {"n": 2}, "fp0", _tiny_build(2))
    assert standins.is_complete(folder) and len(table) == 2


def test_disk_full_recording_a_summary_keeps_the_previous_one(tmp_path, monkeypatch):
    first = pd.DataFrame({"model": ["m"], "metric": ["ECE"], "value": [0.05]})
    path = report.record("calibration", first, tmp_path)
    before = path.read_bytes()
    real_fdopen = os.fdopen

    class FullDisk:
        """A file that takes half of what it is given, then reports a full disk."""

        def __init__(self, f):
            self.f = f

        def write(self, text):
            self.f.write(text[: len(text) // 2])
            self.f.flush()
            raise ENOSPC

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(report.os, "fdopen", lambda fd, *a, **k: FullDisk(real_fdopen(fd, *a, **k)))
    second = first.assign(value=[0.07])
    with pytest.raises(DiskFull) as e:  # says what to do; the ENOSPC is its cause
        report.record("calibration", second, tmp_path)
    monkeypatch.undo()
    assert e.value.__cause__.errno == errno.ENOSPC and "free space" in str(e.value)
    assert path.read_bytes() == before                                  # old summary intact
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]    # no temp file left
    assert report.read_summaries(tmp_path)["value"].tolist() == [0.05]


# ====================================================================== image modes
def test_rgba_png_is_composited_on_white(tmp_path):
    a = np.zeros((2, 3, 4), np.uint8)
    a[0, 0] = (200, 10, 10, 0)      # fully transparent: white, whatever its colour
    a[0, 1] = (200, 10, 10, 255)    # opaque: its own colour
    a[0, 2] = (0, 0, 0, 128)        # half black over white: 255 * (1 - 128/255) = 127
    a[1, 0] = (0, 0, 255, 64)       # 0.251 blue over white: (191, 191, 255)
    a[1, 1:] = (10, 200, 30, 255)
    Image.fromarray(a, "RGBA").save(tmp_path / "x.png")
    got = np.asarray(load_rgb(tmp_path / "x.png")).astype(int)
    alpha = a[..., 3:].astype(float) / 255
    want = np.round(a[..., :3] * alpha + 255 * (1 - alpha))
    assert got.shape == (2, 3, 3)
    assert np.abs(got - want).max() <= 1
    assert got[0, 0].tolist() == [255, 255, 255] and got[0, 1].tolist() == [200, 10, 10]


def test_gray_with_alpha_is_composited_on_white(tmp_path):
    la = np.array([[[0, 0], [0, 255], [100, 128]]], np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    got = np.asarray(load_rgb(tmp_path / "la.png")).astype(int)
    assert got[0, 0].tolist() == [255] * 3 and got[0, 1].tolist() == [0] * 3
    assert np.abs(got[0, 2] - round(100 * 128 / 255 + 255 * 127 / 255)).max() <= 1


def test_palette_png_with_transparency(tmp_path):
    idx = np.array([[0, 1, 2, 3]], np.uint8)
    pal = Image.fromarray(idx, "P")
    pal.putpalette([255, 0, 0, 0, 0, 255, 0, 255, 0, 40, 40, 40] + [0] * (256 - 4) * 3)
    # tRNS: red fully transparent, blue opaque, green half, grey opaque (beyond the table)
    pal.save(tmp_path / "p.png", transparency=bytes([0, 255, 128]))
    assert Image.open(tmp_path / "p.png").mode == "P"
    got = np.asarray(load_rgb(tmp_path / "p.png")).astype(int)[0]
    assert got[0].tolist() == [255, 255, 255]           # not red: it is transparent
    assert got[1].tolist() == [0, 0, 255]
    assert np.abs(got[2] - [127, 255, 127]).max() <= 1  # half green over white
    assert got[3].tolist() == [40, 40, 40]
    # a single transparent index (the other tRNS form)
    pal.save(tmp_path / "q.png", transparency=1)
    q = np.asarray(load_rgb(tmp_path / "q.png")).astype(int)[0]
    assert q[0].tolist() == [255, 0, 0] and q[1].tolist() == [255, 255, 255]


def test_cmyk_jpeg_colours_survive_conversion(tmp_path):
    # hand-made CMYK patches with unambiguous RGB: pure inks and black
    patches = {(255, 0, 0, 0): (0, 255, 255), (0, 255, 0, 0): (255, 0, 255), (0, 0, 255, 0): (255, 255, 0),
               (0, 0, 0, 255): (0, 0, 0), (0, 0, 0, 0): (255, 255, 255), (0, 0, 0, 128): (127, 127, 127)}
    cmyk = np.repeat(np.array(list(patches), np.uint8)[None], 16, axis=0).repeat(16, axis=1)  # 16 x 96
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.jpg", quality=95)
    got = np.asarray(load_rgb(tmp_path / "c.jpg")).astype(int)
    for j, want in enumerate(patches.values()):
        centre = got[4:12, j * 16 + 4: j * 16 + 12].reshape(-1, 3).mean(axis=0)
        assert np.abs(centre - want).max() <= 6, (j, centre, want)
    # a smooth RGB picture through CMYK JPEG comes back close to the RGB source
    y, x = np.mgrid[0:48, 0:64]
    rgb = np.dstack([x * 4, y * 5, 255 - x * 2]).astype(np.uint8)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "s.jpg", quality=95)
    back = np.asarray(load_rgb(tmp_path / "s.jpg")).astype(int)
    assert np.abs(back - rgb).mean() < 3


def test_exif_orientation_is_not_applied(tmp_path):
    """Pinned on purpose (see images.py): torchvision / PIL ImageNet loaders ignore EXIF
    orientation, so the paper's models saw the stored pixels; so do we."""
    stored = np.zeros((32, 64, 3), np.uint8)   # landscape as stored
    stored[:, :32] = (255, 0, 0)               # left half red, right half blue
    stored[:, 32:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6                           # "rotate 90 degrees clockwise to display"
    Image.fromarray(stored).save(tmp_path / "e.jpg", exif=exif, quality=95)
    assert Image.open(tmp_path / "e.jpg").getexif()[0x0112] == 6
    got = np.asarray(load_rgb(tmp_path / "e.jpg")).astype(int)
    assert got.shape == (32, 64, 3)            # exif_transpose would give (64, 32, 3)
    assert np.abs(got - stored).mean() < 4
    assert got[16, 8, 0] > 200 and got[16, 56, 2] > 200
