"""A newcomer's first run: the README's first command on a machine whose downloads fail.

``make report`` runs ``.venv/bin/beyond-inet report --profile demo``. Here the same command
runs as a separate process on the demo profile (its models, fetch list and pages; smaller
sizes so the test takes minutes), with an empty data root, an empty result cache, every
download refused (a flat mirror and the GitHub hosts sent to a closed loopback port, the
hub offline) and the output going to a pipe, as in a log. Every page must render (status
ok) with its panels, the index must list what is absent, the command must exit 0, the log
must hold no carriage return, and the command the banner prints must run as printed from
the checkout.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from beyond_inet_lib.config import PROPERTIES
from beyond_inet_lib.paths import PROGRAM

PROJECT = Path(__file__).resolve().parent.parent
DEMO_FETCH = ("cue-conflict", "imagenet-samples", "cue-conflict-humans", "cue-conflict-decisions")


def _closed_port_url() -> str:
    with socket.socket() as s:          # a port that was free a moment ago: nothing listens
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _command() -> list[str]:
    """The installed ``beyond-inet`` beside this Python (what ``make report`` runs), else the module."""
    script = Path(sys.executable).parent / PROGRAM
    return [str(script)] if script.is_file() else [sys.executable, "-m", "beyond_inet_lib.cli"]


def _offline_env(tmp: Path) -> dict:
    dead = _closed_port_url()
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and k != "DATA_ROOT"}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    env.update(BEYOND_INET_MIRROR=f"{dead}/files", HF_HUB_OFFLINE="1", BEYOND_INET_TIMEOUT="2",
               BEYOND_INET_URL_REWRITE=f"https://github.com={dead}/gh,https://raw.githubusercontent.com={dead}/raw",
               HF_HUB_CACHE=str(tmp / "hub"))
    return env


def _demo_profile(tmp: Path) -> Path:
    """params/demo.yaml with a fresh cache and small sizes (the stand-ins still run)."""
    demo = yaml.safe_load((PROJECT / "params" / "demo.yaml").read_text())
    assert tuple(demo["fetch"]) == DEMO_FETCH and demo["models"] == ["efficientnet_lite0", "efficientnet_lite1"]
    demo.update(cache_dir=str(tmp / "cache"), bootstrap=50)
    demo["properties"]["transfer"].update(max_train=24)
    demo["properties"]["synthetic"].update(standin_images=2)
    path = tmp / "demo.yaml"
    path.write_text(yaml.safe_dump(demo, sort_keys=False))
    return path


@pytest.mark.slow
def test_the_first_report_without_network_renders_every_page(tmp_path):
    data, out = tmp_path / "data", tmp_path / "reports" / "demo"
    data.mkdir()                                        # empty
    env = _offline_env(tmp_path)
    proc = subprocess.run([*_command(), "report", "--profile", str(_demo_profile(tmp_path)),
                           "--data-root", str(data), "--out", str(out)],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=1500)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]

    run = json.loads((out / "run.json").read_text())
    assert {p: v["status"] for p, v in run["pages"].items()} == {p: "ok" for p in PROPERTIES}, log[-4000:]
    for prop in PROPERTIES:
        assert (out / f"{prop}.html").stat().st_size > 10_000

    # the pages without their data say so, and the index lists what was absent per page
    shape_bias = (out / "shape_bias.html").read_text()
    assert "Dataset not found: cue-conflict" in shape_bias
    index = (out / "index.html").read_text()
    for name in ("cue-conflict", "imagenet-val"):
        assert re.search(rf'<td class="data">[^<]*absent: [^<]*{name}', index), name
    assert "Not fetched into" in index and "FAILED" not in log

    # a log, not a terminal: whole lines, none of them a screenful
    assert "\r" not in log
    assert max(len(line) for line in log.splitlines()) < 400

    # the banner names the command that gets the data; pasted into a shell here, it runs
    # (and, still offline, fails the same way, naming the same data root)
    banner = log[log.index("Not fetched into"):]
    command = re.search(rf"`([^`]*data get [^`]*--root {re.escape(str(data))})`", banner).group(1)
    assert all(n in command for n in DEMO_FETCH)
    if shutil.which(PROGRAM, path=env["PATH"]) is None:    # not on this PATH: named by its path
        assert not command.startswith(f"{PROGRAM} ")
    again = subprocess.run(["bash", "-c", command], cwd=PROJECT, env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 2, again.stderr[-2000:]
    assert again.stdout.startswith(f"data root: {data}\n") and "FAILED" in again.stdout
    assert list(data.iterdir()) in ([], [data / ".downloads"])
    assert shlex.split(command)[-1] == str(data)
