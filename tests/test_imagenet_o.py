"""ImageNet-O, the out-of-distribution set: its layout (the authors' archive), the download
through the one table of sources (a loopback server, md5 verified), the mock's copy in the
rehearsal root and the demo's generated stand-in."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from beyond_inet_lib import data as D
from beyond_inet_lib.data import downloads as DL
from beyond_inet_lib.data.imagenet_labels import imagenet_o_wnids
from beyond_inet_lib.data.standins import OOD_STANDIN_KINDS, imagenet_o_standin

from github_server import Server


def _jpeg(color=(40, 90, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (6, 5), color).save(buf, "JPEG")
    return buf.getvalue()


def _img(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_jpeg())


def test_the_200_classes_are_imagenet_classes_of_the_authors_list():
    wnids = imagenet_o_wnids()
    assert len(wnids) == len(set(wnids)) == 200
    index = D.wnid_to_index()
    assert all(w in index for w in wnids)               # filed under ImageNet-1k classes
    mask = D.imagenet_o_indices()
    assert mask.tolist() == sorted(index[w] for w in wnids)
    assert wnids[0] == "n01443537" and index["n01443537"] == 1     # goldfish: the first folder
    # it is not ImageNet-A's list (59 classes in common)
    assert len(set(mask.tolist()) & set(D.imagenet_a_indices().tolist())) == 59


def test_loader_reads_the_wnid_folders_without_a_class(tmp_path):
    _img(tmp_path / "imagenet-o/n01443537/a.jpg")
    _img(tmp_path / "imagenet-o/n01443537/b.JPEG")
    _img(tmp_path / "imagenet-o/n13052670/c.jpg")        # the last of the 200 (hen-of-the-woods)
    _img(tmp_path / "imagenet-o/n01440764/tench.jpg")    # an ImageNet class not among the 200
    (tmp_path / "imagenet-o/README.txt").write_text("ImageNet-O")
    ds = D.load_dataset("imagenet-o", tmp_path)
    assert len(ds) == 3 and (ds.labels == -1).all()
    assert ds.table["wnid"].tolist() == ["n01443537", "n01443537", "n13052670"]
    assert ds.table["confused_with"].tolist() == [1, 1, D.wnid_to_index()["n13052670"]]
    assert ds.meta["unknown_folders"] == ["n01440764"]
    np.testing.assert_array_equal(ds.class_mask, D.imagenet_o_indices())
    assert D.DATASETS["imagenet-o"].properties == ("calibration",)
    assert D.DATASET_GROUPS["ood"] == ("imagenet-o",)


def test_missing_imagenet_o_says_where_and_how(tmp_path):
    with pytest.raises(D.DatasetMissing) as e:
        D.load_dataset("imagenet-o", tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "imagenet-o") in msg and "<wnid>" in msg
    assert f"beyond-inet data get imagenet-o --root {tmp_path}" in msg
    (tmp_path / "imagenet-o/n01440764").mkdir(parents=True)
    _img(tmp_path / "imagenet-o/n01440764/a.jpg")
    with pytest.raises(D.DatasetMissing, match="ImageNet-O's 200"):
        D.load_dataset("imagenet-o", tmp_path)


def test_download_from_the_source_table_verifies_the_md5(tmp_path, monkeypatch):
    """The authors' tar unpacks to imagenet-o/<wnid>/; data get strips the top folder and
    checks the archive's md5 before anything is installed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in {"imagenet-o/n01443537/o_1.jpg": _jpeg(), "imagenet-o/n04591157/o_2.jpg": _jpeg((1, 2, 3)),
                           "imagenet-o/README.txt": b"ImageNet-O"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    archive = buf.getvalue()
    plan = DL.DOWNLOADS["imagenet-o"]
    assert plan.sources[0].url == "https://people.eecs.berkeley.edu/~hendrycks/imagenet-o.tar"
    assert plan.sources[0].checksum == "md5:86bd7a50c1c4074fb18fc5f219d6d50b"
    assert D.DATASETS["imagenet-o"].how_to_get.startswith("beyond-inet data get imagenet-o")
    server = Server()
    try:
        server.files["imagenet-o.tar"] = archive
        # the shipped md5 is the real archive's: this miniature fails it, and nothing is installed
        with pytest.raises(DL.ChecksumMismatch, match="checksum mismatch"):
            DL.get_dataset("imagenet-o", tmp_path, mirror=server.url, progress=False)
        assert not (tmp_path / "imagenet-o").exists()
        src = dataclasses.replace(plan.sources[0], checksum="md5:" + hashlib.md5(archive).hexdigest())
        monkeypatch.setitem(DL.DOWNLOADS, "imagenet-o", dataclasses.replace(plan, sources=(src,)))
        dest = DL.get_dataset("imagenet-o", tmp_path, mirror=server.url, progress=False)
    finally:
        server.close()
    assert dest == tmp_path / "imagenet-o"
    ds = D.load_dataset("imagenet-o", tmp_path)
    assert ds.table["wnid"].tolist() == ["n01443537", "n04591157"] and (ds.labels == -1).all()


def test_profiles_read_imagenet_o_for_the_calibration_page():
    from beyond_inet_lib.config import load_profile

    for name in ("demo", "paper"):
        assert "imagenet-o" in D.datasets_for_profile(load_profile(name, check_models=False))


def test_standin_images_of_no_imagenet_class(tmp_path):
    ds = imagenet_o_standin(tmp_path, n_images=9, seed=3, progress=False)
    assert ds.standin and len(ds) == 9 and (ds.labels == -1).all()
    assert ds.table["kind"].tolist() == list(OOD_STANDIN_KINDS) * 3
    assert (ds.table.loc[ds.table["kind"] == "handwritten digit", "digit"].between(0, 9)).all()
    assert (ds.table.loc[ds.table["kind"] != "handwritten digit", "digit"] == -1).all()
    np.testing.assert_array_equal(ds.class_mask, D.imagenet_o_indices())
    assert "NOT ImageNet-O" in ds.description and "STAND-IN" in ds.description
    for p in ds.paths:
        with Image.open(p) as im:
            assert im.size == (224, 224) and im.mode == "RGB"
    pixels = [np.asarray(Image.open(p)) for p in ds.paths]
    assert len({a.tobytes() for a in pixels}) == 9                    # nine different images
    again = imagenet_o_standin(tmp_path / "again", n_images=9, seed=3, progress=False)
    assert [np.asarray(Image.open(p)).tobytes() for p in again.paths] == [a.tobytes() for a in pixels]
