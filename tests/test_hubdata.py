"""Datasets from the Hugging Face hub, against a hub on 127.0.0.1 (``hub_server``) serving
miniature copies of the real repositories (``mock.write_mock_hub_repos``: the published
file names, webdataset keys and parquet columns; where those are a guess, the source
table's ``guess`` says so and ``test_guessed_layouts_are_marked`` pins which).

Covered: the listing API (paginated), ``resolve/<revision>/<file>``, LFS sha256 and git
blob ids checked on arrival, a gated repository answering 401 / 403, the choice of source,
the VTAB-1k split mapping and its prefix fetch, shards read in place by the loaders and the
engine, a corrupted or truncated shard detected and fetched again, resumed downloads, and
the hub offline or down."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from beyond_inet_lib import cli, paths
from beyond_inet_lib import data as D
from beyond_inet_lib.config import load_profile
from beyond_inet_lib.data import downloads as DL
from beyond_inet_lib.data import hub_get, mock, sources, webdataset
from beyond_inet_lib.data.vtab import VTAB_NUM_CLASSES, hub_train_val_counts
from beyond_inet_lib.images import load_rgb
from hub_server import HubServer, free_port

from conftest import need_data

TOKEN = "hf_granted_test_token"
HUB_DATASETS = sorted({n for n in D.datasets_for_profile(load_profile("paper", check_models=False))
                       if sources.hub_source_for(n)})


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def source_root() -> Path:
    return need_data("imagenet-samples").parent


@pytest.fixture(scope="module")
def repos(source_root, tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("hub-datasets") / "repos"
    info = mock.write_mock_hub_repos(folder, source_root)
    return folder, info


@pytest.fixture(scope="module")
def served(repos, tmp_path_factory):
    folder, info = repos
    with HubServer(tmp_path_factory.mktemp("hub-models"), datasets=folder) as server:
        for repo, meta in info["repos"].items():
            server.revisions[repo] = [meta["revision"]]
            if meta["gated"]:
                server.gated[repo] = {TOKEN}
            server.commit_dates.update({(repo, path): date for path, date in meta["dates"].items()})
        yield server


@pytest.fixture
def online(served, tmp_path, monkeypatch):
    """This machine: the hub at the test server, a token granted the gated repository."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", served.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))     # no saved login
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("BEYOND_INET_PROGRESS", "0")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("BEYOND_INET_HUB_TIMEOUT", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    served.requests.clear()
    served.page_size = 1000
    return served


@pytest.fixture(scope="module")
def fetched(repos, served, source_root, tmp_path_factory):
    """`beyond-inet data get --profile paper --source hub` from the loopback hub into a root
    that holds only the datasets without a hub copy (their own sources are tested in
    test_demo_data / test_downloads): every dataset with a hub copy comes from the hub."""
    root = tmp_path_factory.mktemp("hub-root") / "data"
    mock.write_mock_root(root, source_root, without=HUB_DATASETS)
    mp = pytest.MonkeyPatch()
    try:
        from huggingface_hub import constants

        mp.setenv("HF_ENDPOINT", served.endpoint)
        mp.setenv("HF_HOME", str(root.parent / "hf-home"))
        mp.setenv("HF_TOKEN", TOKEN)
        mp.setenv("BEYOND_INET_PROGRESS", "0")
        mp.delenv("HF_HUB_OFFLINE", raising=False)
        mp.setattr(constants, "HF_HUB_OFFLINE", False)
        served.requests.clear()
        code = cli.main(["data", "get", "--profile", "paper", "--source", "hub", "--root", str(root)])
        requests = list(served.requests)
    finally:
        mp.undo()
    authors = tmp_path_factory.mktemp("authors-root") / "data"
    mock.write_mock_root(authors, source_root)
    return root, code, requests, authors


def tar_members(path: Path) -> list[tuple[str, bytes]]:
    """The members of a tar, read with tarfile (independently of the package's reader)."""
    with tarfile.open(path) as tf:
        return [(m.name, tf.extractfile(m).read()) for m in tf if m.isfile()]


# ------------------------------------------------------------------------ the table
def test_every_dataset_of_the_paper_needs_no_step_by_hand():
    names = D.datasets_for_profile(load_profile("paper", check_models=False))
    public, manual = DL.public_plans(names)
    assert manual == []
    assert {"imagenet-val", "imagenet-hard"} <= set(public)
    assert {f"vtab-{t}" for t in D.VTAB_TASKS} <= set(public)
    for name in HUB_DATASETS:
        key, src = sources.hub_source_for(name)
        assert src.revision == "main" or len(src.revision) == 40, name
        assert src.layout in ("webdataset", "archive", "parquet") and src.files, name


def test_guessed_layouts_are_marked():
    """What was not confirmed against a repository listing is marked in the table."""
    assert sources.HUB["imagenet-val"].guess and sources.HUB["vtab-sun397"].guess
    wds = [k for k, s in sources.HUB.items() if s.layout == "webdataset"]
    assert len(wds) == 22 and all("webp" in sources.HUB[k].guess for k in wds)


def test_default_source_prefers_the_authors_archive(tmp_path):
    assert DL.route("imagenet-v2", tmp_path) == "authors"
    assert DL.route("imagenet-v2", tmp_path, "hub") == "hub"
    assert DL.route("imagenet-c", tmp_path, "hub") == "authors"          # no hub copy
    for name in ("imagenet-val", "imagenet-real", "imagenet-hard", "vtab-dtd"):
        assert DL.route(name, tmp_path) == "hub", name
        assert DL.route(name, tmp_path, "authors") == "authors", name
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads/ILSVRC2012_img_val.tar").write_bytes(b"placed by hand")
    (tmp_path / "vtab-1k.zip").write_bytes(b"placed by hand")
    assert DL.route("imagenet-val", tmp_path) == "authors" and DL.route("vtab-dtd", tmp_path) == "authors"


def test_vtab_hub_rows_map():
    assert hub_train_val_counts(262_144) == (800, 200)
    assert hub_train_val_counts(1000) == (800, 200)
    assert hub_train_val_counts(5) == (4, 1)
    assert hub_train_val_counts(1) == (0, 1)


def test_newest_complete_set():
    F = hub_get.HubFile
    files = [F("data/validation-00000-of-00002-a.parquet", 1, "a" * 64, "x", "2023-05-02"),
             F("data/validation-00001-of-00002-b.parquet", 1, "b" * 64, "x", "2023-05-01"),
             F("data/validation-00000-of-00001-c.parquet", 1, "c" * 64, "x", "2023-04-10"),
             F("data/validation-00000-of-00003-d.parquet", 1, "d" * 64, "x", "2023-06-01")]  # incomplete
    assert [f.path[5:27] for f in hub_get.newest_complete_set(files)] == [
        "validation-00000-of-00", "validation-00001-of-00"]
    assert all("of-00002" in f.path for f in hub_get.newest_complete_set(files))


# ------------------------------------------------------------- the paper from the hub
def test_paper_profile_from_the_hub(fetched):
    root, code, requests, _authors = fetched
    assert code == 0
    for name in D.datasets_for_profile(load_profile("paper", check_models=False)):
        assert D.dataset_presence(name, root).status != "absent", name
    # each hub copy was listed at its revision and its files resolved there
    for name in HUB_DATASETS:
        _key, src = sources.hub_source_for(name)
        assert any(p.startswith(f"/api/datasets/{src.repo}/tree/{src.revision}") for _o, _m, p in requests), name
        assert any(p.startswith(f"/datasets/{src.repo}/resolve/{src.revision}/") for _o, _m, p in requests), name
    # never a stale shard set, never a file outside the patterns
    resolved = [p for _o, _m, p in requests if "/resolve/" in p]
    assert not any("of-00001" in p for p in resolved if "imagenet-hard" in p)
    assert not any("test_images" in p or "classes.py" in p for p in resolved)
    record = json.loads((root / "vtab/dtd/.hub-source.json").read_text())
    assert record["repo"] == "clip-benchmark/wds_vtab-dtd" and record["layout"] == "webdataset"
    assert {f["path"] for f in record["files"]} >= {"train/0.tar", "train/1.tar", "test/0.tar", "classnames.txt"}
    assert all(f["checksum"].startswith(("sha256:", "git-sha1:")) for f in record["files"])


def test_every_image_of_the_hub_root_reads(fetched):
    """Every dataset with a hub copy loads from its hub layout and every one of its images
    decodes; webdataset copies are read in place (member refs, no unpacked image)."""
    root = fetched[0]
    for name in HUB_DATASETS:
        ds = D.load_dataset(name, root)
        assert len(ds) > 0, name
        for p in ds.paths:
            assert load_rgb(p).size[0] > 0
        if sources.hub_source_for(name)[1].layout == "webdataset":
            assert all(webdataset.is_member_ref(p) for p in ds.table["path"]), name
            assert not D.list_images(root / sources.hub_source_for(name)[1].folder), name


def test_hub_labels_equal_the_authors_layout_labels(fetched):
    """The same images in the hub layout and in the authors' layout carry the same labels
    (ImageNet-A/R: cls = position among the 200 WNIDs, mapped back to ImageNet indices)."""
    root, _code, _req, authors = fetched
    for name in ("imagenet-val", "imagenet-real", "imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch"):
        hub, ref = D.load_dataset(name, root), D.load_dataset(name, authors)
        assert sorted(hub.labels.tolist()) == sorted(ref.labels.tolist()), name
        assert (hub.class_mask is None) == (ref.class_mask is None), name
    val = D.load_dataset("imagenet-val", root).table
    assert all(p.endswith(f"_{w}.JPEG") for p, w in zip(val["path"], val["wnid"]))   # the hub's file names
    assert sorted(val["file_name"]) == sorted(D.load_dataset("imagenet-val", authors).table["file_name"])
    hard, ref = D.load_dataset("imagenet-hard", root).table, D.load_dataset("imagenet-hard", authors).table
    assert sorted(map(tuple, hard["label_set"])) == sorted(map(tuple, ref["label_set"]))   # newest set only


def test_vtab_splits_are_the_documented_rows_of_the_hub_copy(fetched, repos):
    """train800 / val200 = the first rows of the copy's train split in shard order (0.tar,
    1.tar), test = all its test rows; labels = the cls members (read here with tarfile)."""
    root = fetched[0]
    repo_dir = repos[0]
    for task, name in sources.VTAB_HUB_NAMES.items():
        rows = {}
        for split in ("train", "test"):
            shards = sorted((repo_dir / f"clip-benchmark/wds_vtab-{name}/{split}").glob("*.tar"),
                            key=lambda p: int(p.stem))
            members = [m for s in shards for m in tar_members(s)]
            rows[split] = [int(d) for n, d in members if n.endswith(".cls")]
        n_train, n_val = hub_train_val_counts(len(rows["train"]))
        expected = ([("train", y) for y in rows["train"][:n_train]]
                    + [("val", y) for y in rows["train"][n_train:n_train + n_val]]
                    + [("test", y) for y in rows["test"]])
        t = D.load_dataset(f"vtab-{task}", root).table
        assert list(zip(t["split"], t["label"])) == expected, task
        assert set(t["label"]) == {0, VTAB_NUM_CLASSES[task] - 1}
        assert "val200 = the next 200" in D.load_dataset(f"vtab-{task}", root).meta["hub_splits"]
    sun = D.load_dataset("vtab-sun397", root).table           # parquet: converted to split folders
    assert sun["split"].value_counts().to_dict() == {"train": 4, "test": 2, "val": 1}
    assert D.load_dataset("vtab-dtd", root).table["split"].value_counts().to_dict() == {"train": 4, "val": 2, "test": 2}


def test_data_check_on_the_hub_root_finds_everything(fetched, capsys):
    root = fetched[0]
    assert cli.main(["data", "check", "--profile", "paper", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "absent" not in out


# --------------------------------------------------------------------- the gated repo
def test_gated_repo_without_a_token_says_what_to_do(online, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    code = cli.main(["data", "get", "imagenet-val", "--root", str(tmp_path)])
    cap = capsys.readouterr()
    assert code == 2
    assert "FAILED" in cap.out and f"beyond-inet data get imagenet-val --root {tmp_path}" in cap.out
    msg = cap.err
    for part in ("ILSVRC/imagenet-1k on the Hugging Face hub is gated: it needs HF_TOKEN",
                 f"{online.endpoint}/datasets/ILSVRC/imagenet-1k", "accept the terms",
                 f"HF_TOKEN=hf_... {paths.program()} data get imagenet-val --root {tmp_path}",
                 f"put ILSVRC2012_img_val.tar in {tmp_path}/.downloads/"):
        assert part in msg, part
    assert not any("/resolve/" in p for _o, _m, p in online.requests)     # nothing tried without a token
    assert not (tmp_path / "imagenet-val").exists()


def test_gated_repo_with_a_token_whose_terms_are_not_accepted(online, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_someone_else")
    with pytest.raises(D.downloads.UserError) as err:
        DL.get_dataset("imagenet-val", tmp_path, progress=False)
    msg = str(err.value)
    assert "has no access to ILSVRC/imagenet-1k: its account has not accepted the terms" in msg
    assert f"{online.endpoint}/datasets/ILSVRC/imagenet-1k" in msg
    assert ("hub", "GET", "/datasets/ILSVRC/imagenet-1k/resolve/4603483700ee984ea9debe3ddbfdeae86f6489eb/"
            "data/val_images.tar.gz") in online.requests
    assert not (tmp_path / "imagenet-val").exists()


def test_data_check_names_the_one_command_per_absent_dataset(tmp_path, capsys):
    assert cli.main(["data", "check", "--profile", "paper", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # commands are printed as they run from here (paths.runnable): the checkout's own script
    cmd = paths.program()
    assert "needs HF_TOKEN" in out and "put the tar" in out
    assert f"HF_TOKEN=hf_... {cmd} data get imagenet-val --root {tmp_path}" in out
    for task in D.VTAB_TASKS:
        assert f"{cmd} data get vtab-{task} --root {tmp_path}" in out, task
    assert f"{cmd} data get imagenet-hard --root {tmp_path}" in out
    assert "gdown" not in out and "huggingface-cli" not in out


# --------------------------------------------------------------- broken and resumed
def test_corrupted_shard_is_detected_and_fetched_again(online, repos, source_root, tmp_path, capsys):
    root = tmp_path / "data"
    DL.get_dataset("vtab-dtd", root, progress=False)
    shard = root / "vtab/dtd/test/0.tar"
    good = shard.read_bytes()
    before = D.load_dataset("vtab-dtd", root).fingerprint()
    bad = bytearray(good)
    bad[700] ^= 0xFF                                  # inside the first image: same size, other bytes
    shard.write_bytes(bytes(bad))
    code = cli.main(["data", "get", "vtab-dtd", "--root", str(root)])
    out = capsys.readouterr().out
    assert code == 0
    assert "re-fetched test/0.tar (failed the hub's checksum)" in out
    assert shard.read_bytes() == good == (repos[0] / "clip-benchmark/wds_vtab-dtd/test/0.tar").read_bytes()
    assert D.load_dataset("vtab-dtd", root).fingerprint() != before    # nothing cached from the bad shard is used
    code = cli.main(["data", "get", "vtab-dtd", "--root", str(root)])
    assert code == 0 and "every file verified against the hub" in capsys.readouterr().out


def test_truncated_shard_is_named_and_fetched_again(online, tmp_path):
    root = tmp_path / "data"
    DL.get_dataset("imagenet-a", root, progress=False, source="hub")
    shard = root / "imagenet-a/test/0.tar"
    shard.write_bytes(shard.read_bytes()[:1500])
    with pytest.raises(D.DatasetMissing) as err:
        D.load_dataset("imagenet-a", root)
    assert f"{shard}: truncated" in str(err.value)
    assert f"beyond-inet data get imagenet-a --root {root}" in str(err.value)
    report = DL.fetch_missing(["imagenet-a"], root, progress=False, source="hub", verify=True)
    assert report.ok and report.fetched == ["imagenet-a"], str(report)
    assert len(D.load_dataset("imagenet-a", root)) == 8


def test_download_fetching_other_bytes_is_fetched_once_more(online, tmp_path):
    online.corrupt[("clip-benchmark/wds_imagenet-r", "test/0.tar")] = 1
    root = tmp_path / "data"
    DL.get_dataset("imagenet-r", root, progress=False, source="hub")
    assert online.corrupt[("clip-benchmark/wds_imagenet-r", "test/0.tar")] == 0
    cdn = [p for o, _m, p in online.requests if o == "cdn"]
    assert len(cdn) == 2                                     # the bad answer, then the good one
    assert len(D.load_dataset("imagenet-r", root)) == 8


def test_download_corrupted_twice_installs_nothing(online, tmp_path):
    online.corrupt[("clip-benchmark/wds_imagenet-r", "test/0.tar")] = 2
    with pytest.raises(D.downloads.ChecksumMismatch, match="fetched twice"):
        DL.get_dataset("imagenet-r", tmp_path, progress=False, source="hub")
    assert not (tmp_path / "imagenet-r").exists()


def test_interrupted_download_resumes(online, tmp_path):
    online.cut[("clip-benchmark/wds_vtab-cifar100", "test/0.tar")] = 2000
    DL.get_dataset("vtab-cifar100", tmp_path, progress=False)
    ranges = [p for o, m, p in online.requests if o == "cdn"]
    assert len(ranges) >= 2
    assert len(D.load_dataset("vtab-cifar100", tmp_path)) == 8


def test_paginated_listing_is_read_whole(online, tmp_path):
    online.page_size = 2
    DL.get_dataset("vtab-svhn", tmp_path, progress=False)
    pages = [p for _o, _m, p in online.requests if "/tree/" in p]
    assert len(pages) > 2 and any("cursor=" in p for p in pages)
    assert len(D.load_dataset("vtab-svhn", tmp_path)) == 8


# ---------------------------------------------------------------- VTAB prefix fetch
def test_only_the_train_shards_vtab_1k_needs_are_fetched(online, repos, tmp_path, monkeypatch):
    """A train split of three 600-row shards: train800 + val200 are in the first two, so the
    third is never fetched; the rows are the first 1,000 in shard order."""
    folder = repos[0] / "clip-benchmark/wds_vtab-big"
    for split, shards in (("train", 3), ("test", 1)):
        for k in range(shards):
            members = []
            for i in range(600 * k, 600 * (k + 1)):
                members += [(f"s{i:07d}.cls", str(i % 7).encode()), (f"s{i:07d}.png", b"\x89PNG" + bytes(8))]
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tf:
                for n, d in members:
                    info = tarfile.TarInfo(n)
                    info.size = len(d)
                    tf.addfile(info, io.BytesIO(d))
            (folder / split).mkdir(parents=True, exist_ok=True)
            (folder / split / f"{k}.tar").write_bytes(buf.getvalue())
    monkeypatch.setitem(sources.HUB, "vtab-dtd", sources.HubSource(
        "clip-benchmark/wds_vtab-big", "main", ("train/*.tar", "test/*.tar"), "webdataset", "vtab/dtd", "test",
        prefix=(("train/*.tar", 1000),)))
    try:
        DL.get_dataset("vtab-dtd", tmp_path, progress=False)
    finally:
        import shutil

        shutil.rmtree(folder)
    fetched_paths = sorted(p.split("/resolve/main/")[1] for _o, _m, p in online.requests if "/resolve/" in p)
    assert fetched_paths == ["test/0.tar", "train/0.tar", "train/1.tar"]
    t = D.load_dataset("vtab-dtd", tmp_path).table
    assert t["split"].value_counts().to_dict() == {"train": 800, "test": 600, "val": 200}
    assert t.loc[t["split"] == "val", "label"].tolist() == [i % 7 for i in range(800, 1000)]


# ------------------------------------------------------------------------ no network
def test_hub_offline_fails_at_once_with_what_to_do(online, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    report = DL.fetch_missing(["vtab-dtd"], tmp_path, progress=False)
    assert report.failed == ["vtab-dtd"] and "HF_HUB_OFFLINE=1" in report.outcomes[0].message
    assert online.requests == []
    assert report.command == f"beyond-inet data get vtab-dtd --root {tmp_path}"


def test_hub_down_is_said_in_one_line(online, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    report = DL.fetch_missing(["imagenet-hard"], tmp_path, progress=False)
    assert report.failed == ["imagenet-hard"]
    assert "did not answer within 3 s" in report.outcomes[0].reason
    assert not (tmp_path / "imagenet-hard").exists()


def test_repository_without_the_expected_files_installs_nothing(online, tmp_path, monkeypatch):
    monkeypatch.setitem(sources.HUB, "vtab-dtd", sources.HubSource(
        "clip-benchmark/wds_vtab-dtd", "main", ("validation/*.tar",), "webdataset", "vtab/dtd", "test"))
    with pytest.raises(D.downloads.DownloadError, match="holds no file matching validation/.*layout may have changed"):
        DL.get_dataset("vtab-dtd", tmp_path, progress=False)
    assert not (tmp_path / "vtab/dtd").exists()


def test_an_interrupted_install_resumes_from_its_staged_files(online, repos, tmp_path):
    """Files verified by an earlier, interrupted run are kept (not fetched again); a file
    staged then that the listing does not select is not installed."""
    repo = repos[0] / "clip-benchmark/wds_vtab-eurosat"
    staging = tmp_path / ".vtab_eurosat.hub-staging"
    (staging / "test").mkdir(parents=True)
    (staging / "test/0.tar").write_bytes((repo / "test/0.tar").read_bytes())       # verified last time
    (staging / "train/9.tar").parent.mkdir(parents=True)
    (staging / "train/9.tar").write_bytes((repo / "train/0.tar").read_bytes())      # not in the listing
    DL.get_dataset("vtab-eurosat", tmp_path, progress=False)
    resolved = [p.split("/resolve/main/")[1] for _o, _m, p in online.requests if "/resolve/" in p]
    assert "test/0.tar" not in resolved and "train/0.tar" in resolved
    assert sorted(p.name for p in (tmp_path / "vtab/eurosat/train").iterdir()) == ["0.tar", "nshards.txt"]
    assert not staging.exists()
    assert len(D.load_dataset("vtab-eurosat", tmp_path)) == 8


def test_git_blob_id_is_gits_own(tmp_path):
    """A file the hub keeps in git (not LFS) is verified by its git blob id: the same id
    `git hash-object` computes."""
    import subprocess

    from beyond_inet_lib.files import file_checksum

    p = tmp_path / "classnames.txt"
    p.write_bytes("".join(f"class {i}\n" for i in range(47)).encode())
    expected = subprocess.run(["git", "hash-object", str(p)], capture_output=True, text=True, check=True).stdout.strip()
    assert file_checksum(p, "git-sha1") == expected
