"""``beyond-inet data check`` / ``data get``: torch-free checks, several names, profiles."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from beyond_inet_lib.data.model_vs_human import BENCHMARK
from beyond_inet_lib import cli
from beyond_inet_lib import data as D
from beyond_inet_lib.config import load_profile
from beyond_inet_lib.data.downloads import public_plans
from beyond_inet_lib.paths import program

import github_server as G
from conftest import need_data

PROJECT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("profile", [None, "paper"])
def test_data_check_does_not_import_torch(tmp_path, profile):
    child = (
        "import json, sys\n"
        "from beyond_inet_lib import cli\n"
        f"argv = ['data', 'check', '--root', {str(tmp_path)!r}] + ({['--profile', profile] if profile else []!r})\n"
        "code = cli.main(argv)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'timm', 'open_clip'))\n"
        "print('RESULT ' + json.dumps({'code': code, 'heavy': heavy}))\n")
    proc = subprocess.run([sys.executable, "-c", child], cwd=PROJECT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(PROJECT)})
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, proc.stderr[-2000:]
    out = json.loads(line[0][len("RESULT "):])
    assert out == {"code": 0, "heavy": []}
    assert "datasets found" in proc.stdout


def test_public_plans_of_the_paper_profile():
    public, manual = public_plans(D.datasets_for_profile(load_profile("paper", check_models=False)))
    vtab = [f"vtab-{t}" for t in D.VTAB_TASKS]                      # each task: its own hub copy
    benchmark = [n for d in BENCHMARK.values() if d.name != "cue-conflict" for n in (d.name, d.humans)]
    assert public == ["cue-conflict", "imagenet-samples", "cue-conflict-humans", "cue-conflict-decisions",
                      "imagenet-val", "imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-c",
                      "imagenet-hard", "imagenet-o"] + vtab + ["pug-imagenet",
                      *benchmark]      # model-vs-human's 16 other datasets and their observers (humans page)
    assert len(benchmark) == 32 and benchmark[:2] == ["edges", "edges-humans"]
    assert manual == []                                             # nothing placed by hand any more


@pytest.fixture
def csv_site(monkeypatch):
    data_root = need_data("reference", "cue-conflict-humans").parent.parent
    need_data("cue-conflict")
    server = G.Server()
    rewrite = G.github_site(server, data_root, cue_conflict_archive=b"not fetched in these tests")
    monkeypatch.setenv("BEYOND_INET_URL_REWRITE", ",".join(f"{k}={v}" for k, v in rewrite.items()))
    yield server
    server.close()


def test_cli_data_get_several_names(csv_site, tmp_path, capsys):
    code = cli.main(["data", "get", "cue-conflict-humans", "cue-conflict-decisions", "--root", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "fetched        cue-conflict-humans     10 of 10" in out
    assert "fetched        cue-conflict-decisions  6 of 6" in out
    assert cli.main(["data", "get", "cue-conflict-humans", "--root", str(tmp_path)]) == 0
    assert "already there  cue-conflict-humans" in capsys.readouterr().out


def test_cli_data_get_offline_exits_2_with_the_command(tmp_path, monkeypatch, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("BEYOND_INET_URL_REWRITE", f"https://raw.githubusercontent.com={dead}")
    code = cli.main(["data", "get", "cue-conflict-humans", "imagenet-x", "--root", str(tmp_path)])
    cap = capsys.readouterr()
    assert code == 2
    assert "FAILED         cue-conflict-humans" in cap.out and "already there  imagenet-x" in cap.out
    assert f"to get the rest: {program()} data get cue-conflict-humans --root {tmp_path}" in cap.out
    assert "connected machine" in cap.err
    assert not (tmp_path / "reference").exists()


def test_cli_data_get_needs_a_name_or_profile(capsys):
    assert cli.main(["data", "get"]) == 2
    assert "--profile" in capsys.readouterr().err
