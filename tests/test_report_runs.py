"""A report directory shows this run only, and a report gets its profile's data first.

On a fake project (one notebook that counts the human observers it finds under the data
root and records that count): the profile's ``fetch`` datasets are downloaded into an empty
data root before the notebook runs, from a loopback server that answers GitHub's raw URL
shapes, and the page computes on them; with the server down the report still renders and
says, once, what was not fetched and the command that gets it; a run after a run with other
data shows none of the earlier run's numbers, pages or parameters.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from beyond_inet_lib import report

import github_server as G
import report_project as fake
from conftest import need_data

OBSERVERS_NOTEBOOK = f'''# %% tags=["parameters"]
profile = "unset"
data_root = None
report_dir = None

# %%
import pandas as pd
from beyond_inet_lib import report
from beyond_inet_lib.data import DatasetMissing, load_dataset

try:
    n = load_dataset("cue-conflict-humans", data_root).table["subj"].nunique()
except DatasetMissing:
    n = None
if n is not None:
    report.record("shape_bias", pd.DataFrame({{"model": ["{fake.MODEL}"], "metric": ["observers found"],
                  "value": [float(n)], "paper": [None], "better": [None], "note": [""]}}), report_dir)
'''


def project(root: Path, data_root: Path) -> tuple[Path, Path]:
    notebooks = root / "notebooks"
    notebooks.mkdir(parents=True)
    data_root.mkdir(parents=True, exist_ok=True)      # empty
    (notebooks / "shape_bias.py").write_text(OBSERVERS_NOTEBOOK)
    profile = root / "fetching.yaml"
    profile.write_text(f"models: [{fake.MODEL}]\ndescription: fetches its data\n"
                       f"data_root: {data_root}\nfetch: [cue-conflict-humans]\n")
    return notebooks, profile


def build(notebooks: Path, profile: Path, out: Path) -> dict:
    return report.build_report(str(profile), out_dir=out, properties=["shape_bias"], notebooks_dir=notebooks,
                               check_models=False, progress=False)


def rows(out: Path) -> list[dict]:
    return json.loads((out / "shape_bias.summary.json").read_text())["rows"]


@pytest.fixture
def site():
    need_data("reference", "cue-conflict-humans")
    data = need_data("cue-conflict").parent
    server = G.Server()
    rewrite = G.github_site(server, data, b"")
    yield server, ",".join(f"{k}={v}" for k, v in rewrite.items())
    server.close()


@pytest.mark.slow
def test_an_empty_data_root_is_filled_before_the_pages_run(site, tmp_path, monkeypatch):
    server, rewrite = site
    monkeypatch.setenv("BEYOND_INET_URL_REWRITE", rewrite)
    data = tmp_path / "data"
    notebooks, profile = project(tmp_path / "project", data)
    result = build(notebooks, profile, tmp_path / "out")
    assert result["ok"]
    assert len(list((data / "reference" / "cue-conflict-humans").glob("*.csv"))) == 10
    assert [(r["metric"], r["value"]) for r in rows(tmp_path / "out")] == [("observers found", 10.0)]
    assert any(p.endswith("cue-conflict_subject-10_session_1.csv") for p in server.paths_requested())
    index = Path(result["index"]).read_text()
    assert "Not fetched" not in index

    n = len(server.requests)          # a second report finds the data and fetches nothing
    build(notebooks, profile, tmp_path / "out")
    assert len(server.requests) == n


@pytest.mark.slow
def test_no_network_the_report_says_what_is_missing_once_and_renders(tmp_path, monkeypatch, capsys):
    with socket.socket() as s:        # a port that was free a moment ago: nothing listens
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("BEYOND_INET_URL_REWRITE", f"https://raw.githubusercontent.com={dead}/raw")
    data = tmp_path / "data"
    notebooks, profile = project(tmp_path / "project", data)
    result = build(notebooks, profile, tmp_path / "out")
    printed = capsys.readouterr().out
    command = f"beyond-inet data get cue-conflict-humans --root {data}"
    assert printed.count("Not fetched") == 1 and command in printed
    assert result["pages"]["shape_bias"]["status"] == "ok"          # the page rendered, without data
    assert not (tmp_path / "out" / "shape_bias.summary.json").exists()
    index = Path(result["index"]).read_text()
    assert "Not fetched" in index and command in index
    assert list(data.iterdir()) in ([], [data / ".downloads"]) and not (data / "reference").exists()


@pytest.mark.slow
def test_a_run_after_a_run_with_other_data_shows_none_of_its_numbers(tmp_path, monkeypatch):
    out = tmp_path / "first" / "reports" / "tiny"
    first = fake.build(tmp_path / "first")              # records 0.4321 (shown as 0.432), a failed page
    assert Path(first["out_dir"]) == out and (out / "shape_bias.summary.json").exists()
    assert "0.432" in (out / "index.html").read_text()

    # the same report directory, another data root without the observers, nothing to fetch
    monkeypatch.setenv("BEYOND_INET_URL_REWRITE", "https://raw.githubusercontent.com=http://127.0.0.1:9/raw")
    other = tmp_path / "other-data"
    notebooks, profile = project(tmp_path / "second", other)
    profile.write_text(profile.read_text().replace("fetch: [cue-conflict-humans]\n", ""))
    second = build(notebooks, profile, out)
    index = (out / "index.html").read_text()
    assert second["ok"] and "0.432" not in index and "observers found" not in index
    assert not (out / "shape_bias.summary.json").exists()
    assert not (out / "calibration.html").exists() and "calibration" not in json.loads(
        (out / "run.json").read_text())["pages"]
    assert str(other) in index
