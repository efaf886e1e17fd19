"""model-vs-human's benchmark as data: edges and silhouettes fetched like cue-conflict (the
release asset through GitHub's redirect, every stimulus checked against a shipped manifest
and repaired from texture-vs-shape at its pinned commit), the observers' trials fetched at
model-vs-human's pinned commit with a SHA-256 per file, the other release archives checked
for structure, and every dataset of the benchmark in the miniature data root."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from beyond_inet_lib import data as D
from beyond_inet_lib.data import downloads as DL
from beyond_inet_lib.data import mock
from beyond_inet_lib.data.model_vs_human import BENCHMARK
from beyond_inet_lib.data.sources import MODEL_VS_HUMAN_TRIALS, _trial_checksums
from beyond_inet_lib.data.verify import stimuli_manifest
from beyond_inet_lib.references import humans as H

import github_server as G
from conftest import need_data

FETCHED = ["edges", "edges-humans", "silhouettes", "silhouettes-humans"]


@pytest.fixture(scope="module")
def data_root() -> Path:
    for part in ("edges", "silhouettes", "reference/edge-humans", "reference/silhouette-humans"):
        need_data(*part.split("/"))
    return need_data("edges").parent


@pytest.fixture(scope="module")
def cue_conflict_archive(data_root) -> bytes:
    """The demo's release asset, built once (the site serves it beside the benchmark's)."""
    if not (data_root / "cue-conflict").is_dir() or not (data_root / "imagenet-samples").is_dir():
        pytest.skip("the GitHub-shaped site needs the demo data too")
    return G.tar_gz(data_root / "cue-conflict", "cue-conflict/")


@pytest.fixture
def site(data_root, cue_conflict_archive):
    server = G.Server()
    rewrite = G.github_site(server, data_root, cue_conflict_archive)
    yield server, rewrite
    server.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hidden_leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if (p.name.startswith(".") and p.name != DL.DOWNLOADS_DIR) or p.name.endswith(".part"))


# ------------------------------------------------------------------ shipped checksums
@pytest.mark.parametrize("dataset", ["edges", "silhouettes"])
def test_manifests_are_the_test_datas_stimuli(data_root, dataset):
    manifest = stimuli_manifest(dataset)
    assert len(manifest) == 160
    assert sorted({rel.split("/")[0] for rel in manifest}) == sorted(D.CUE_CONFLICT_CATEGORIES)
    for rel, digest in manifest.items():
        assert sha256((data_root / dataset / rel).read_bytes()) == digest


def test_trial_checksums_name_every_observers_file(data_root):
    sums = _trial_checksums()
    expected = {f"{d.source_name}/{f}" for d in BENCHMARK.values() if d.name != "cue-conflict"
                for f in d.trial_files}
    assert set(sums) == expected and len(sums) == 80, MODEL_VS_HUMAN_TRIALS
    for source_name in ("edge", "silhouette"):
        for f in (data_root / "reference" / f"{source_name}-humans").iterdir():
            assert sha256(f.read_bytes()) == sums[f"{source_name}/{f.name}"]


# ------------------------------------------------------------------------ fetching
def test_empty_root_gets_edges_silhouettes_and_their_observers(site, data_root, tmp_path):
    server, rewrite = site
    root = tmp_path / "data"
    report = DL.fetch_missing(FETCHED, root, progress=False, rewrite=rewrite)
    assert report.ok and report.fetched == FETCHED, str(report)
    asked = server.paths_requested()
    for name in ("edge", "silhouette"):
        assert G.release(name) in asked and G.release_storage(name) in asked
        assert f"{G.trials_raw(name)}/{name}_subject-07_session_1.csv" in asked   # at the pinned commit
    assert not any(p.startswith(G.stimuli_raw("edges")) for p in asked)          # nothing one by one
    for dataset in ("edges", "silhouettes"):
        ds = D.load_dataset(dataset, root)
        assert len(ds) == 160 and sorted(ds.table["category"].unique()) == sorted(D.CUE_CONFLICT_CATEGORIES)
        for p in ds.table["path"]:
            assert (root / p).read_bytes() == (data_root / p).read_bytes()
        trials = H.load_trials(dataset, root)
        assert len(trials) == 10 and set(trials["subject-05"]["stimulus"]) == set(ds.table["stimulus"])
    assert hidden_leftovers(root) == [] and list((root / DL.DOWNLOADS_DIR).iterdir()) == []
    check = D.check_datasets(root).set_index("name")
    assert (check.loc[FETCHED, "status"] == "found").all()


def test_edge_stimulus_missing_or_altered_is_fetched_at_the_pinned_commit(site, data_root, tmp_path):
    server, rewrite = site
    manifest = stimuli_manifest("edges")
    altered, dropped = sorted(manifest)[40], sorted(manifest)[-1]
    bad = G.tar_gz(data_root / "edges", "edge/", replace={altered: b"\x89PNG not the stimulus"}, drop={dropped},
                   extra={"oven/oven99.png": b"\x89PNG not a stimulus at all"})
    G.publish_release(server, "edge", bad)
    dest = DL.get_dataset("edges", tmp_path, progress=False, rewrite=rewrite)
    refetched = sorted(p[len(G.stimuli_raw("edges")) + 1:] for p in server.paths_requested()
                       if p.startswith(G.stimuli_raw("edges")))
    assert refetched == sorted([altered, dropped])
    for rel in (altered, dropped):
        assert sha256((dest / rel).read_bytes()) == manifest[rel]
    assert not (dest / "oven/oven99.png").exists() and len(D.load_dataset("edges", tmp_path)) == 160


def test_trials_with_other_bytes_install_nothing(site, tmp_path):
    server, rewrite = site
    path = f"{G.trials_raw('silhouette')}/silhouette_subject-03_session_1.csv"
    server.files[path] = server.files[path].replace(b"subject-03,1,1,", b"subject-03,1,2,", 1)
    report = DL.fetch_missing(["silhouettes-humans"], tmp_path, progress=False, rewrite=rewrite)
    assert report.failed == ["silhouettes-humans"] and "checksum mismatch" in report.outcomes[0].reason
    assert "silhouette_subject-03_session_1.csv" in report.outcomes[0].reason
    assert not (tmp_path / "reference" / "silhouette-humans").exists() and hidden_leftovers(tmp_path) == []


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (9, 9, 9)).save(buf, "PNG")
    return buf.getvalue()


def colour_archive(drop: int = 0, rename: str | None = None) -> bytes:
    """A colour.tar.gz in the layout model-vs-human's loader reads: colour/dnn/session-1/,
    1,280 stimuli, two levels."""
    members, png = {}, _png()
    for t in range(1, 1281 - drop):
        level, cat = ("cr", "bw")[t % 2], D.CUE_CONFLICT_CATEGORIES[t % 16]
        members[f"dnn/session-1/{t:04d}_cl_dnn_{level}_{cat}_40_n0{t:07d}_{t}.png"] = png
    if rename:
        members[f"dnn/session-1/{rename}"] = members.pop(next(iter(members)))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tf:
        for rel, data in members.items():
            info = tarfile.TarInfo("colour/" + rel)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_parametric_release_archive_is_checked_for_its_structure(tmp_path):
    server = G.Server()
    rewrite = {"https://github.com": server.url + "/github",
               "https://objects.githubusercontent.com": server.url + "/objects"}
    try:
        G.publish_release(server, "colour", colour_archive())
        DL.get_dataset("colour", tmp_path / "ok", progress=False, rewrite=rewrite)
        ds = D.load_dataset("colour", tmp_path / "ok")
        assert len(ds) == 1280 and ds.table["level"].value_counts().to_dict() == {"cr": 640, "bw": 640}
        assert ds.table["path"][0].startswith("colour/dnn/session-1/")
        G.publish_release(server, "colour", colour_archive(drop=1))
        with pytest.raises(DL.DownloadError, match="does not hold the benchmark's 1,280 stimuli: 1,279 images"):
            DL.get_dataset("colour", tmp_path / "short", progress=False, rewrite=rewrite)
        G.publish_release(server, "colour", colour_archive(rename="0001_cl_dnn_sepia_oven_40_n0_1.png"))
        with pytest.raises(DL.DownloadError, match="condition 'sepia' is none of its levels"):
            DL.get_dataset("colour", tmp_path / "odd", progress=False, rewrite=rewrite)
    finally:
        server.close()
    assert not (tmp_path / "short" / "colour").exists() and not (tmp_path / "odd" / "colour").exists()


def test_every_benchmark_dataset_has_a_public_source():
    for d in BENCHMARK.values():
        for name in (d.name, d.humans):
            plan = DL.DOWNLOADS[DL.plan_name_for(name)]
            assert plan.public, name
    assert all(s.checksum.startswith("sha256:") for s in DL.DOWNLOADS["colour-humans"].sources)
    assert all(f"/{G.MVH_COMMIT}/" in s.url for s in DL.DOWNLOADS["edges-humans"].sources)


# ---------------------------------------------------------------------- mock root
@pytest.fixture(scope="module")
def mock_root(tmp_path_factory) -> tuple[Path, Path]:
    source = need_data("imagenet-samples").parent
    out = tmp_path_factory.mktemp("mock") / "data"
    mock.write_mock_root(out, source)
    return out, source


def test_every_benchmark_dataset_in_the_mock_root(mock_root):
    root, source = mock_root
    for d in BENCHMARK.values():
        ds = D.load_dataset(d.name, root)
        logs = H.load_trials(d.name, root)
        assert len(logs) == d.observers, d.name
        stimuli, levels, table = H.aligned_trials(logs)
        mine = set(ds.table["stimulus"] if "stimulus" in ds.table else [Path(p).name for p in ds.table["path"]])
        assert mine <= set(stimuli), d.name          # every mock stimulus has its observers' trials
        if d.parametric:   # every level there, named as the benchmark names it
            assert sorted(set(ds.table["level"])) == sorted(d.levels), d.name
            assert sorted(set(levels)) == sorted(d.levels), d.name
        with Image.open(root / ds.table["path"].iloc[0]) as im:
            assert im.size == (224, 224), d.name
    if (source / "edges").is_dir():   # real stimuli and trials are copied byte for byte
        p = D.load_dataset("edges", root).table["path"].iloc[0]
        assert (root / p).read_bytes() == (source / p).read_bytes()
        f = "reference/edge-humans/edge_subject-01_session_1.csv"
        assert (root / f).read_bytes() == (source / f).read_bytes()
