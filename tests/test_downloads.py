"""Downloads against a local HTTP server (127.0.0.1, Range support): real archive formats
(zip, tar, tar.gz) unpacked into the layouts the loaders read, resume after a dropped
connection, checksum errors that leave nothing half-installed, fast failure offline."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import socket
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from beyond_inet_lib import data as D
from beyond_inet_lib.data import downloads as DL

from github_server import Server


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


# --------------------------------------------------------------------- archive fixtures
def image_bytes(fmt="PNG", color=(10, 200, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buf, fmt)
    return buf.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar(members: dict[str, bytes], mode="w", symlinks=()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in symlinks:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def imagenet_a_tar() -> bytes:
    return make_tar({
        "imagenet-a/n01498041/0.000116_stingray.jpg": image_bytes("JPEG"),
        "imagenet-a/n12267677/0.000222_acorn.jpg": image_bytes("JPEG", (1, 2, 3)),
        "imagenet-a/README.txt": b"ImageNet-A",
        "../evil.txt": b"outside",
        "imagenet-a/../../evil2.txt": b"outside",
        "/tmp/beyond-inet-evil-abs.txt": b"outside",
    }, symlinks=[("imagenet-a/n01498041/link.jpg", "/etc/passwd")])


def with_checksum(monkeypatch, plan_name: str, checksum: str | None):
    plan = DL.DOWNLOADS[plan_name]
    src = dataclasses.replace(plan.sources[0], checksum=checksum)
    monkeypatch.setitem(DL.DOWNLOADS, plan_name, dataclasses.replace(plan, sources=(src,) + plan.sources[1:]))


def leftovers(root: Path) -> list[str]:
    """Hidden staging / old folders left below the root (``.downloads`` excluded)."""
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".") and p.name != DL.DOWNLOADS_DIR)


# ------------------------------------------------------------------------ formats
def test_zip_sketch_unpacks_into_layout(server, tmp_path):
    server.files["ImageNet-Sketch.zip"] = make_zip({
        "sketch/n01440764/sketch_0.JPEG": image_bytes("JPEG"),
        "sketch/n01498041/sketch_1.JPEG": image_bytes("JPEG"),
        "sketch/n01498041/._sketch_1.JPEG": b"macOS resource fork",       # hidden: not an image
        "README.md": b"#",                                                # outside the prefix
    })
    dest = DL.get_dataset("imagenet-sketch", tmp_path, mirror=server.url, progress=False)
    assert dest == tmp_path / "imagenet-sketch"
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == ["n01440764/sketch_0.JPEG", "n01498041/._sketch_1.JPEG", "n01498041/sketch_1.JPEG"]
    assert D.load_dataset("imagenet-sketch", tmp_path).labels.tolist() == [0, 6]
    assert not (tmp_path / ".downloads/ImageNet-Sketch.zip").exists()  # archive removed
    assert leftovers(tmp_path) == []


def test_tar_imagenet_a_labels_and_unsafe_members_skipped(server, tmp_path):
    server.files["imagenet-a.tar"] = imagenet_a_tar()
    DL.get_dataset("imagenet-a", tmp_path / "root", mirror=server.url, progress=False)
    ds = D.load_dataset("imagenet-a", tmp_path / "root")
    assert ds.labels.tolist() == [6, 988]
    assert not list(tmp_path.rglob("evil*")) and not Path("/tmp/beyond-inet-evil-abs.txt").exists()
    assert not (tmp_path / "root/imagenet-a/n01498041/link.jpg").exists()


def test_tar_gz_imagenet_v2_and_env_mirror(server, tmp_path, monkeypatch):
    server.files["imagenetv2-matched-frequency.tar.gz"] = make_tar({
        "imagenetv2-matched-frequency-format-val/0/aa.jpeg": image_bytes("JPEG"),
        "imagenetv2-matched-frequency-format-val/999/bb.jpeg": image_bytes("JPEG"),
    }, mode="w:gz")
    monkeypatch.setenv(DL.MIRROR_ENV, server.url)
    DL.get_dataset("imagenet-v2", tmp_path, progress=False)
    assert sorted(D.load_dataset("imagenet-v2", tmp_path).labels.tolist()) == [0, 999]
    assert server.requests == [("imagenetv2-matched-frequency.tar.gz", None)]
    # already there: no request, same folder; force re-fetches and replaces
    assert DL.get_dataset("imagenet-v2", tmp_path, progress=False) == tmp_path / "imagenet-v2"
    assert len(server.requests) == 1
    (tmp_path / "imagenet-v2/stale.txt").write_text("old")
    DL.get_dataset("imagenet-v2", tmp_path, progress=False, force=True)
    assert len(server.requests) == 2 and not (tmp_path / "imagenet-v2/stale.txt").exists()
    assert leftovers(tmp_path) == []


def test_imagenet_c_four_tars_merge(server, tmp_path):
    for part, corruption in (("noise", "gaussian_noise"), ("blur", "defocus_blur"),
                             ("weather", "fog"), ("digital", "pixelate")):
        server.files[f"{part}.tar"] = make_tar(
            {f"{corruption}/{s}/n01498041/ILSVRC2012_val_00000001.JPEG": image_bytes("JPEG") for s in (1, 5)})
    DL.get_dataset("imagenet-c", tmp_path, mirror=server.url, progress=False)
    t = D.load_dataset("imagenet-c", tmp_path).table
    assert sorted(set(t["corruption"])) == ["defocus_blur", "fog", "gaussian_noise", "pixelate"]
    assert len(t) == 8 and set(t["label"]) == {6}


# ------------------------------------------------------------------------ resume
def test_interrupted_download_resumes_with_range(server, tmp_path, monkeypatch):
    data = imagenet_a_tar()
    k = 3000
    assert len(data) > 2 * k
    server.files["imagenet-a.tar"] = data
    server.cut["imagenet-a.tar"] = k
    with_checksum(monkeypatch, "imagenet-a", sha256(data))
    DL.get_dataset("imagenet-a", tmp_path, mirror=server.url, progress=False, keep_archives=True)
    assert server.requests == [("imagenet-a.tar", None), ("imagenet-a.tar", f"bytes={k}-")]
    assert sha256((tmp_path / ".downloads/imagenet-a.tar").read_bytes()) == sha256(data)
    assert D.load_dataset("imagenet-a", tmp_path).labels.tolist() == [6, 988]


def test_part_file_from_an_earlier_run_is_resumed(server, tmp_path):
    data = imagenet_a_tar()
    (tmp_path / ".downloads").mkdir(parents=True)
    (tmp_path / ".downloads/imagenet-a.tar.part").write_bytes(data[:2000])
    server.files["imagenet-a.tar"] = data
    got = DL.download(f"{server.url}/imagenet-a.tar", tmp_path / ".downloads/imagenet-a.tar",
                      checksum=sha256(data), progress=False)
    assert server.requests == [("imagenet-a.tar", "bytes=2000-")]
    assert got.read_bytes() == data and not (tmp_path / ".downloads/imagenet-a.tar.part").exists()


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    data = imagenet_a_tar()
    (tmp_path / "imagenet-a.tar.part").write_bytes(b"X" * 1500)   # garbage that must not be kept
    server.files["imagenet-a.tar"] = data
    server.ignore_range = True
    got = DL.download(f"{server.url}/imagenet-a.tar", tmp_path / "imagenet-a.tar",
                      checksum=sha256(data), progress=False)
    assert got.read_bytes() == data


# ------------------------------------------------------------------------ failures
def test_checksum_mismatch_installs_nothing(server, tmp_path, monkeypatch):
    server.files["imagenet-a.tar"] = imagenet_a_tar()
    with_checksum(monkeypatch, "imagenet-a", "sha256:" + "0" * 64)
    with pytest.raises(DL.ChecksumMismatch, match="checksum mismatch"):
        DL.get_dataset("imagenet-a", tmp_path, mirror=server.url, progress=False)
    assert not (tmp_path / "imagenet-a").exists()
    assert list((tmp_path / ".downloads").iterdir()) == []       # neither the file nor a .part
    assert leftovers(tmp_path) == []


def test_one_bad_archive_of_four_installs_nothing(server, tmp_path, monkeypatch):
    for part in ("noise", "blur", "weather"):
        server.files[f"{part}.tar"] = make_tar({f"fog/1/n01498041/{part}.JPEG": image_bytes("JPEG")})
    server.files["digital.tar"] = b"this is not a tar archive" * 50
    with pytest.raises(DL.DownloadError, match="not a readable tar archive"):
        DL.get_dataset("imagenet-c", tmp_path, mirror=server.url, progress=False)
    assert not (tmp_path / "imagenet-c").exists() and leftovers(tmp_path) == []


def test_archive_without_expected_prefix_installs_nothing(server, tmp_path):
    server.files["imagenet-r.tar"] = make_tar({"renditions/n01443537/a.jpg": image_bytes("JPEG")})
    with pytest.raises(DL.DownloadError, match="no files under 'imagenet-r/'.*renditions"):
        DL.get_dataset("imagenet-r", tmp_path, mirror=server.url, progress=False)
    assert not (tmp_path / "imagenet-r").exists() and leftovers(tmp_path) == []


def test_unreachable_url_fails_fast_with_advice(tmp_path):
    with socket.socket() as s:          # a port that was free a moment ago: nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mirror = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    with pytest.raises(DL.DownloadError) as e:
        DL.get_dataset("imagenet-sketch", tmp_path, mirror=mirror, progress=False)
    assert time.monotonic() - t0 < 5
    msg = str(e.value)
    assert f"{mirror}/ImageNet-Sketch.zip" in msg
    assert "connected machine" in msg and str(tmp_path / ".downloads") in msg
    assert not (tmp_path / "imagenet-sketch").exists()


def test_http_404_names_the_url(server, tmp_path):
    with pytest.raises(DL.DownloadError) as e:
        DL.get_dataset("pug-imagenet", tmp_path, mirror=server.url, progress=False)
    assert f"{server.url}/PUG_ImageNet.tar.gz: HTTP 404" in str(e.value)
    assert not (tmp_path / "pug-imagenet").exists()


# ------------------------------------------------------------------ manual / local files
def test_imagenet_val_is_manual_then_uses_a_placed_tar(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))         # no saved login either
    for name in ("imagenet-val", "imagenet-real"):
        for source in ("auto", "authors"):   # the hub needs HF_TOKEN: said before any request
            with pytest.raises(DL.ManualDownloadRequired) as e:
                DL.get_dataset(name, tmp_path, progress=False, source=source)
            assert "image-net.org" in str(e.value) and f"{tmp_path}/.downloads/" in str(e.value)
            assert f"HF_TOKEN=hf_... beyond-inet data get imagenet-val --root {tmp_path}" in str(e.value)
    tar = make_tar({f"ILSVRC2012_val_{n:08d}.JPEG": image_bytes("JPEG") for n in (1, 2)})
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads/ILSVRC2012_img_val.tar").write_bytes(tar)
    with pytest.raises(DL.ChecksumMismatch):   # not the real tar: its md5 differs
        DL.get_dataset("imagenet-val", tmp_path, progress=False)
    with_checksum(monkeypatch, "imagenet-val", "md5:" + hashlib.md5(tar).hexdigest())
    DL.get_dataset("imagenet-val", tmp_path, progress=False)
    assert D.load_dataset("imagenet-val", tmp_path).labels.tolist() == [65, 970]
    assert (tmp_path / ".downloads/ILSVRC2012_img_val.tar").exists()   # placed by hand: kept


def test_vtab_zip_placed_in_root(tmp_path):
    members = {"vtab-1k/dtd/images/a.jpg": image_bytes("JPEG"), "vtab-1k/dtd/images/b.jpg": image_bytes("JPEG"),
               "vtab-1k/dtd/train800.txt": b"images/a.jpg 0\n", "vtab-1k/dtd/val200.txt": b"images/b.jpg 46\n",
               "vtab-1k/dtd/test.txt": b"images/b.jpg 46\n"}
    with pytest.raises(DL.ManualDownloadRequired, match=f"beyond-inet data get vtab --root {tmp_path}"):
        DL.get_dataset("vtab-dtd", tmp_path, progress=False, source="authors")
    (tmp_path / "vtab-1k.zip").write_bytes(make_zip(members))
    assert DL.get_dataset("vtab-dtd", tmp_path, progress=False) == tmp_path / "vtab"
    ds = D.load_dataset("vtab-dtd", tmp_path)
    assert ds.table[["split", "label"]].values.tolist() == [["train", 0], ["val", 46], ["test", 46]]


def test_imagenet_hard_parquet_conversion(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [({"bytes": image_bytes("JPEG"), "path": "a.JPEG"}, [6, 11], "imagenet"),
            ({"bytes": image_bytes("PNG"), "path": None}, [], "objectnet"),
            ({"bytes": image_bytes("JPEG"), "path": "c.jpg"}, [970], "imagenet_v2")]
    table = pa.table({
        "image": pa.array([r[0] for r in rows], pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        "label": pa.array([r[1] for r in rows], pa.list_(pa.int64())),
        "origin": [r[2] for r in rows]})
    shard = tmp_path / "imagenet-hard/hf/data/validation-00000-of-00001.parquet"
    shard.parent.mkdir(parents=True)
    pq.write_table(table, shard)
    DL.get_dataset("imagenet-hard", tmp_path, progress=False)
    ds = D.load_dataset("imagenet-hard", tmp_path)
    assert ds.table["label_set"].tolist() == [[6, 11], [], [970]]
    assert ds.labels.tolist() == [6, -1, 970]
    assert ds.table["origin"].tolist() == ["imagenet", "objectnet", "imagenet_v2"]
    assert [Path(p).suffix for p in ds.table["path"]] == [".jpeg", ".png", ".jpg"]
    for p in ds.paths:
        assert Image.open(p).size == (4, 4)
    assert json.loads((tmp_path / "imagenet-hard/labels.json").read_text())[1]["labels"] == []


def test_every_registered_dataset_has_a_way_to_get_it():
    for name in D.DATASETS:
        if name == "imagenet-x":
            continue
        plan = DL.DOWNLOADS[DL.plan_name_for(name)]
        assert plan.sources or plan.local_convert, name
        assert name in plan.datasets or name.startswith("vtab-")
        for s in plan.sources:
            assert s.url or plan.manual, (name, s.filename)


def test_downloadable_names_and_unknown_name():
    names = DL.downloadable_names()
    assert "vtab" in names and "imagenet-val" in names and "vtab-dtd" in names
    assert DL.plan_name_for("vtab-dtd") == "vtab" and DL.plan_name_for("imagenet-real") == "imagenet-val"
    with pytest.raises(KeyError, match="no download known for 'imagenet-z'"):
        DL.plan_name_for("imagenet-z")
