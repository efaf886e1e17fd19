"""The demo data on first run, against a loopback server that answers GitHub's URL shapes
(a release asset's 302 to a storage host, ``archive/refs/heads/master.zip``,
raw.githubusercontent paths), built from the test data root. The real hosts are sent to
it with the host rewrite, as a user behind a mirror would."""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path

import pytest

from beyond_inet_lib import data as D
from beyond_inet_lib.data import downloads as DL
from beyond_inet_lib.data.transfer import parse_rewrites, rewrite_url
from beyond_inet_lib.data.verify import cue_conflict_manifest
from beyond_inet_lib.errors import DownloadError

import github_server as G
from conftest import need_data

DEMO = D.DATASET_GROUPS["demo"]


@pytest.fixture(scope="module")
def data_root() -> Path:
    for part in ("cue-conflict", "imagenet-samples", "reference/cue-conflict-humans",
                 "reference/cue-conflict-decisions"):
        need_data(*part.split("/"))
    return need_data("cue-conflict").parent


@pytest.fixture(scope="module")
def archive(data_root) -> bytes:
    return G.tar_gz(data_root / "cue-conflict", "cue-conflict/")


@pytest.fixture
def site(data_root, archive):
    server = G.Server()
    rewrite = G.github_site(server, data_root, archive)
    yield server, rewrite
    server.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hidden_leftovers(root: Path) -> list[str]:
    """Staging / old folders and partial files anywhere below the root."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if (p.name.startswith(".") and p.name != DL.DOWNLOADS_DIR) or p.name.endswith(".part"))


def test_manifest_is_the_test_datas_stimuli(data_root):
    """The shipped manifest names exactly the 1,280 stimuli (16 x 80) with their bytes."""
    manifest = cue_conflict_manifest()
    assert len(manifest) == 1280
    assert {rel.split("/")[0] for rel in manifest} == set(D.CUE_CONFLICT_CATEGORIES)
    for rel in list(manifest)[::97]:
        assert sha256(data_root / "cue-conflict" / rel) == manifest[rel]


def test_empty_root_gets_the_four_demo_datasets(site, data_root, tmp_path):
    server, rewrite = site
    root = tmp_path / "data"
    report = DL.fetch_missing(DEMO, root, progress=False, rewrite=rewrite)
    assert report.ok and report.fetched == list(DEMO) and report.command == ""
    # the release asset was fetched through GitHub's redirect; no stimulus one by one
    asked = server.paths_requested()
    assert G.RELEASE in asked and G.RELEASE_STORAGE in asked
    assert not any(p.startswith(G.STIMULI_RAW) for p in asked)

    cue = D.load_dataset("cue-conflict", root)
    assert len(cue) == 1280
    assert {p: sha256(root / p) for p in cue.table["path"]} == \
        {f"cue-conflict/{rel}": sha256(data_root / "cue-conflict" / rel) for rel in cue_conflict_manifest()}
    samples = D.load_dataset("imagenet-samples", root)
    assert sorted(samples.labels.tolist()) == list(range(1000))
    assert not (root / "imagenet-samples" / "README.md").exists()
    humans = D.load_dataset("cue-conflict-humans", root)
    assert len(humans) == 10 * 1280 and humans.table["subj"].nunique() == 10
    first = humans.table[humans.table["subj"] == "subject-02"].iloc[0]   # 0001_s5n_s02_0_clock_00_clock4-chair1.png
    assert (first["stimulus"], first["shape"], first["texture"]) == ("clock4-chair1.png", "clock", "chair")
    logs = D.load_dataset("cue-conflict-decisions", root)
    assert len(logs) == 6 * 1280 and set(logs.table["stimulus"]) == {Path(r).name for r in cue_conflict_manifest()}
    for folder in ("cue-conflict-humans", "cue-conflict-decisions"):
        for f in (root / "reference" / folder).iterdir():
            assert sha256(f) == sha256(data_root / "reference" / folder / f.name)
    check = D.check_datasets(root).set_index("name")
    assert (check.loc[list(DEMO), "status"] == "found").all()
    assert hidden_leftovers(root) == [] and list((root / DL.DOWNLOADS_DIR).iterdir()) == []

    n = len(server.requests)            # a second run finds everything and fetches nothing
    again = DL.fetch_missing(DEMO, root, progress=False, rewrite=rewrite)
    assert again.present == list(DEMO) and len(server.requests) == n


def test_server_down_every_source_fails_in_seconds_and_writes_nothing(tmp_path):
    with socket.socket() as s:          # a port that was free a moment ago: nothing listens
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    rewrite = {"https://github.com": dead + "/github", "https://raw.githubusercontent.com": dead + "/raw"}
    root = tmp_path / "data"
    t0 = time.monotonic()
    report = DL.fetch_missing(DEMO, root, progress=False, rewrite=rewrite)
    assert time.monotonic() - t0 < 10
    assert report.failed == list(DEMO) and not report.ok
    reasons = {o.name: o.reason for o in report.outcomes}
    assert "https://github.com/bethgelab/model-vs-human/releases/download/v0.1/cue-conflict.tar.gz" \
        in reasons["cue-conflict"] and dead in reasons["cue-conflict"]
    assert "cue-conflict_subject-01_session_1.csv" in reasons["cue-conflict-humans"]
    assert all("\n" not in r for r in reasons.values())
    assert "connected machine" in report.outcomes[0].message
    assert report.command == f"beyond-inet data get {' '.join(DEMO)} --root {root}"
    assert report.command in str(report)
    for name in DEMO:
        assert not D.DATASETS[name].canonical_folder(root).exists()
    assert hidden_leftovers(root) == []


def test_stimulus_missing_or_altered_in_the_archive_is_fetched_from_its_source(data_root, tmp_path):
    manifest = cue_conflict_manifest()
    altered, dropped = sorted(manifest)[700], sorted(manifest)[-1]
    bad = G.tar_gz(data_root / "cue-conflict", "cue-conflict/", replace={altered: b"\x89PNG not the stimulus"},
                   drop={dropped}, extra={"dog/dog99-cat1.png": b"\x89PNG not a stimulus at all"})
    server = G.Server()
    try:
        rewrite = G.github_site(server, data_root, bad)
        dest = DL.get_dataset("cue-conflict", tmp_path, progress=False, rewrite=rewrite)
        refetched = sorted(p[len(G.STIMULI_RAW) + 1:] for p in server.paths_requested()
                           if p.startswith(G.STIMULI_RAW))
    finally:
        server.close()
    assert refetched == sorted([altered, dropped])
    for rel in (altered, dropped):
        assert sha256(dest / rel) == manifest[rel] == sha256(data_root / "cue-conflict" / rel)
    assert len(D.load_dataset("cue-conflict", tmp_path)) == 1280
    assert not (dest / "dog/dog99-cat1.png").exists()        # not a published stimulus: dropped


def test_stimulus_wrong_at_its_source_too_installs_nothing(site, data_root, tmp_path):
    server, rewrite = site
    rel = sorted(cue_conflict_manifest())[300]
    server.files[G.RELEASE_STORAGE] = G.tar_gz(data_root / "cue-conflict", "cue-conflict/", drop={rel})
    server.files[f"{G.STIMULI_RAW}/{rel}"] = b"other bytes"
    with pytest.raises(DL.ChecksumMismatch, match=rel):
        DL.get_dataset("cue-conflict", tmp_path, progress=False, rewrite=rewrite)
    assert not (tmp_path / "cue-conflict").exists() and hidden_leftovers(tmp_path) == []


def test_csv_with_wrong_bytes_raises_checksum_mismatch(site, tmp_path):
    server, rewrite = site
    path = f"{G.HUMANS_RAW}/cue-conflict_subject-07_session_1.csv"
    server.files[path] = server.files[path].replace(b"subject-07,1,1,", b"subject-07,1,9,", 1)
    with pytest.raises(DL.ChecksumMismatch, match="cue-conflict_subject-07_session_1.csv"):
        DL.get_dataset("cue-conflict-humans", tmp_path, progress=False, rewrite=rewrite)
    assert not (tmp_path / "reference" / "cue-conflict-humans").exists()
    assert hidden_leftovers(tmp_path) == []
    report = DL.fetch_missing(["cue-conflict-humans"], tmp_path, progress=False, rewrite=rewrite)
    assert report.failed == ["cue-conflict-humans"] and "checksum mismatch" in report.outcomes[0].reason


def test_samples_archive_lacking_a_class_installs_nothing(site, data_root, tmp_path):
    server, rewrite = site
    gone = sorted(p.name for p in (data_root / "imagenet-samples").iterdir())[417]
    server.files[G.SAMPLES_ZIP] = G.samples_zip(data_root / "imagenet-samples", drop={gone})
    with pytest.raises(DL.DownloadError, match=f"1 classes without an image \\(e.g. {gone.split('_')[0]}\\)"):
        DL.get_dataset("imagenet-samples", tmp_path, progress=False, rewrite=rewrite)
    assert not (tmp_path / "imagenet-samples").exists() and hidden_leftovers(tmp_path) == []


def test_samples_archive_with_a_broken_jpeg_installs_nothing(site, data_root, tmp_path):
    server, rewrite = site
    folder = tmp_path / "src"
    folder.mkdir()
    names = sorted(p.name for p in (data_root / "imagenet-samples").iterdir())
    for n in names:
        (folder / n).symlink_to(data_root / "imagenet-samples" / n)
    (folder / names[3]).unlink()
    (folder / names[3]).write_bytes((data_root / "imagenet-samples" / names[3]).read_bytes()[:2000])
    server.files[G.SAMPLES_ZIP] = G.samples_zip(folder)
    with pytest.raises(DL.DownloadError, match=f"1 files do not decode: {names[3]}"):
        DL.get_dataset("imagenet-samples", tmp_path / "root", progress=False, rewrite=rewrite)
    assert not (tmp_path / "root" / "imagenet-samples").exists()


def test_rewrite_rules():
    rules = parse_rewrites("https://github.com=http://m/gh, https://raw.githubusercontent.com=http://m/raw/")
    assert rules == {"https://github.com": "http://m/gh", "https://raw.githubusercontent.com": "http://m/raw"}
    assert rewrite_url("https://github.com/a/b/archive/x.zip", rules) == "http://m/gh/a/b/archive/x.zip"
    assert rewrite_url("https://github.company.com/x", rules) == "https://github.company.com/x"  # a / boundary
    assert rewrite_url("https://zenodo.org/x", rules) == "https://zenodo.org/x"
    longer = {**rules, "https://github.com/bethgelab": "http://other"}
    assert rewrite_url("https://github.com/bethgelab/m/x", longer) == "http://other/m/x"  # longest wins
    with pytest.raises(DownloadError, match="prefix"):
        parse_rewrites("https://github.com")


def test_rewrite_from_the_environment(site, tmp_path, monkeypatch):
    server, rewrite = site
    monkeypatch.setenv("BEYOND_INET_URL_REWRITE", ",".join(f"{k}={v}" for k, v in rewrite.items()))
    DL.get_dataset("cue-conflict-decisions", tmp_path, progress=False)
    assert len(D.load_dataset("cue-conflict-decisions", tmp_path).meta["files"]) == 6
    # subject-01 of the paper's logs is model-vs-human's file under the paper's name
    assert f"{G.HUMANS_RAW}/cue-conflict_subject-01_session_1.csv" in server.paths_requested()
