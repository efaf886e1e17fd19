"""The webdataset reader: samples grouped as the webdataset library groups them, member
bytes read in place equal the bytes written, truncated shards named."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from beyond_inet_lib.data import webdataset as W


def write_shard(path: Path, members: list[tuple[str, bytes]], end_marker: bool = True) -> Path:
    """A tar shard as webdataset's TarWriter writes one (ustar, members in order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    if not end_marker:  # cut right after the last member's padded data
        data = data.rstrip(b"\0")
        data += b"\0" * (-len(data) % 512)
    path.write_bytes(data)
    return path


def clip_benchmark_members(n: int, start: int = 0) -> list[tuple[str, bytes]]:
    """CLIP_benchmark's export: key s%07d, the image (webp) and its label (cls, text)."""
    out = []
    for i in range(start, start + n):
        out += [(f"s{i:07d}.cls", str(i % 3).encode()), (f"s{i:07d}.webp", bytes([i % 256]) * (100 + i))]
    return out


def test_samples_grouped_by_key_in_shard_order(tmp_path):
    shard = write_shard(tmp_path / "test/0.tar", clip_benchmark_members(3) + [
        ("README", b"no dot: belongs to no sample"), (".hidden.jpg", b"x"),
        ("dir/k1.seg.png", b"mask"), ("dir/k1.JPG", b"jpeg-bytes")])
    samples = W.read_shard(shard)
    assert [s.key for s in samples] == ["s0000000", "s0000001", "s0000002", "dir/k1"]
    assert sorted(samples[0].members) == ["cls", "webp"]
    assert sorted(samples[3].members) == ["jpg", "seg.png"]          # lower-cased, first dot splits
    assert [s.text("cls") for s in samples[:3]] == ["0", "1", "2"]
    assert samples[3].image.name == "dir/k1.JPG"
    for i, s in enumerate(samples[:3]):
        ref = s.ref()
        assert ref == f"{shard}#s{i:07d}.webp" and Path(ref).suffix == ".webp"
        assert W.read_member(ref) == bytes([i]) * (100 + i)
        assert W.split_ref(ref) == (str(shard), f"s{i:07d}.webp")
    assert W.read_member(samples[3].ref("seg.png")) == b"mask"


def test_offsets_are_the_tar_members_own(tmp_path):
    """Each member's (offset, size) is where tarfile itself finds its data."""
    shard = write_shard(tmp_path / "0.tar", clip_benchmark_members(5))
    index = W.shard_index(shard)
    with tarfile.open(shard) as tf:
        for m in tf:
            assert (index[m.name].offset, index[m.name].size) == (m.offset_data, m.size)
            assert W.read_member(W.member_ref(shard, m.name)) == tf.extractfile(m).read()


def test_natural_shard_order_and_iteration(tmp_path):
    for k in (10, 2, 0, 1):
        write_shard(tmp_path / f"train/{k}.tar", clip_benchmark_members(2, start=10 * k))
    (tmp_path / "train/nshards.txt").write_text("4\n")
    assert [p.name for p in W.list_shards(tmp_path / "train")] == ["0.tar", "1.tar", "2.tar", "10.tar"]
    keys = [s.key for s in W.iter_samples(tmp_path / "train")]
    assert keys == ["s0000000", "s0000001", "s0000010", "s0000011", "s0000020", "s0000021",
                    "s0000100", "s0000101"]
    assert W.count_image_samples(tmp_path) == 8


def test_refs_and_plain_paths(tmp_path):
    assert W.split_ref("vtab/dtd/test/0.tar#s0000001.webp") == ("vtab/dtd/test/0.tar", "s0000001.webp")
    assert W.split_ref("imagenet-a/n01498041/a.jpg") is None
    assert not W.is_member_ref("x/0.tar")
    with pytest.raises(FileNotFoundError, match="no member 'nope.jpg'"):
        W.read_member(str(write_shard(tmp_path / "0.tar", clip_benchmark_members(1))) + "#nope.jpg")


@pytest.mark.parametrize("cut", ["inside the last member", "inside a header", "at a member boundary"])
def test_truncated_shard_is_named(tmp_path, cut):
    good = write_shard(tmp_path / "good.tar", clip_benchmark_members(4))
    data = good.read_bytes()
    last = W.shard_index(good)["s0000003.webp"]
    if cut == "inside the last member":
        cut_at = last.offset + last.size // 2
    elif cut == "inside a header":
        cut_at = W.shard_index(good)["s0000002.cls"].offset - 300
    else:  # every member whole, the end-of-archive marker lost
        cut_at = last.offset + -(-last.size // 512) * 512
    bad = tmp_path / "bad.tar"
    bad.write_bytes(data[:cut_at])
    with pytest.raises(W.ShardError, match=r"bad\.tar: (truncated|not a readable tar)"):
        W.read_shard(bad)


def test_shard_without_end_marker_is_truncated(tmp_path):
    bad = write_shard(tmp_path / "0.tar", clip_benchmark_members(2), end_marker=False)
    with pytest.raises(W.ShardError, match="no end-of-archive marker"):
        W.read_shard(bad)


def test_index_follows_a_replaced_shard(tmp_path):
    """A re-fetched shard is re-indexed (the cache is keyed on size and mtime)."""
    shard = write_shard(tmp_path / "0.tar", clip_benchmark_members(2))
    assert len(W.read_shard(shard)) == 2
    os.replace(write_shard(tmp_path / "new.tar", clip_benchmark_members(3)), shard)   # as a download lands
    assert len(W.read_shard(shard)) == 3


def test_compressed_shard_is_refused(tmp_path):
    p = tmp_path / "0.tar.gz"
    with tarfile.open(p, "w:gz") as tf:
        info = tarfile.TarInfo("a.jpg")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(W.ShardError, match="compressed tar cannot be read in place"):
        W.read_shard(p)
