"""Where things are: the project root, the data root, the result cache, the command as a
shell here runs it; and the progress switch.

A leaf module: it imports nothing of the package, so every room can use it without
importing (or being imported by) the others.

The data root is the folder that holds the datasets (``<root>/imagenet-val``,
``<root>/cue-conflict`` ...). It is, in order: the value given (a profile's ``data_root``,
``--data-root``), else ``$DATA_ROOT``, else ``data/`` in the project (where ``make report``
fetches the demo's data on first run).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PARAMS_DIR = PROJECT_ROOT / "params"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
REPORTS_DIR = PROJECT_ROOT / "reports"
DEFAULT_DATA_ROOT = PROJECT_ROOT / "data"
DEFAULT_CACHE_DIR = ".cache/beyond-inet"
DATA_ROOT_ENV = "DATA_ROOT"
PROGRESS_ENV = "BEYOND_INET_PROGRESS"


def resolve_data_root(value: str | os.PathLike | None = None) -> Path | None:
    """The data root as an absolute path: ``value`` if given, else ``$DATA_ROOT``, else the
    project's ``data/``; None when that folder does not exist."""
    candidates = [value] if value else [os.environ.get(DATA_ROOT_ENV), DEFAULT_DATA_ROOT]
    for c in candidates:
        if c and Path(c).expanduser().is_dir():
            return Path(c).expanduser().resolve()
    return None


def data_root_or_default(value: str | os.PathLike | None = None) -> Path:
    """Where datasets are (or will be put): ``resolve_data_root(value)``, else the folder
    named by ``value`` / ``$DATA_ROOT``, else the project's ``data/`` (it need not exist)."""
    found = resolve_data_root(value)
    if found is not None:
        return found
    named = value or os.environ.get(DATA_ROOT_ENV)
    return Path(named).expanduser().resolve() if named else DEFAULT_DATA_ROOT


def resolve_cache_dir(value: str | os.PathLike | None = None) -> Path:
    """The result cache: ``value`` (``~`` expanded; relative paths are relative to the project
    root, so notebooks and the CLI agree whatever their working directory), else
    ``<project>/.cache/beyond-inet``."""
    p = Path(os.path.expanduser(str(value or DEFAULT_CACHE_DIR)))
    return p if p.is_absolute() else PROJECT_ROOT / p


def progress_enabled(progress: bool | None = None) -> bool:
    """``progress`` when given, else the BEYOND_INET_PROGRESS switch (on unless "0"; the
    report turns it off so progress bars do not end up in exported pages)."""
    if progress is not None:
        return progress
    return os.environ.get(PROGRESS_ENV, "1") != "0"


@contextlib.contextmanager
def env_var(name: str, value: str):
    """``os.environ[name] = value`` for the duration, then as it was (unset if it was)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


# ------------------------------------------------------------------ the command, as printed
PROGRAM = "beyond-inet"
_SUBCOMMANDS = ("report", "data", "models", "bench", "cache", "plan", "run")
_COMMAND = re.compile(rf"(?<![\w./-]){PROGRAM}(?= (?:{'|'.join(_SUBCOMMANDS)})\b)")


def program() -> str:
    """How a shell in the project root runs the ``beyond-inet`` command of this
    installation: its name when the shell finds this one by it (an activated venv, a pip
    install on PATH), else its path (``.venv/bin/beyond-inet`` in a checkout set up by
    ``make``), else ``<this python> -m beyond_inet_lib.cli``."""
    script = Path(sys.executable).parent / PROGRAM      # console scripts sit beside the interpreter
    found = shutil.which(PROGRAM)
    if script.is_file():
        if found and Path(found).resolve() == script.resolve():
            return PROGRAM
        try:
            return str(script.relative_to(PROJECT_ROOT))
        except ValueError:
            return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m beyond_inet_lib.cli"


def interpreter() -> str:
    """This Python as a shell in the project root names it (``.venv/bin/python`` in a
    checkout set up by ``make``), for printed ``... -m pip install`` commands."""
    exe = Path(sys.executable)
    try:
        return str(exe.relative_to(PROJECT_ROOT))
    except ValueError:
        return shlex.quote(str(exe))


_DATA_ROOT_PLACEHOLDER = re.compile(r"(?<=--root )DATA_ROOT\b|\bDATA_ROOT(?=/)")


def runnable(text: str, data_root: str | os.PathLike | None = None) -> str:
    """``text`` with every ``beyond-inet <subcommand>`` it names written as ``program()``
    says, so that a printed command runs as printed (messages name the command by its name;
    this is applied where they reach the user: the command's output, the report, the pages).
    ``data_root``: put in place of the ``DATA_ROOT`` placeholder of a path or a ``--root``."""
    text = _COMMAND.sub(lambda _m: program(), str(text))
    if data_root is not None:
        text = _DATA_ROOT_PLACEHOLDER.sub(lambda _m: str(data_root), text)
    return text
