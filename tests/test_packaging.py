"""pip users install from pyproject.toml, conda users from environment.yml: both must pin the
same versions of the same packages, extras included (transformers for hf: models, ray for the
cluster engine), or the two installs score with different libraries."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)$")


def _pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        m = PIN.match(line.strip())
        assert m or line.startswith(("beyond-inet[", "-e ")), f"not an exact pin: {line!r}"
        if m:
            name = re.sub(r"[-_.]+", "-", m.group(1)).lower()     # PEP 503 normalised
            assert name not in out, f"{name} pinned twice"
            out[name] = m.group(2)
    return out


def _pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return project, _pins(project["dependencies"] + [d for deps in extras.values() for d in deps])


def _conda():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    return python.split("=", 1)[1], _pins(pip)


def test_pyproject_and_environment_pin_the_same_versions():
    _, pip_pins = _pyproject()
    _, conda_pins = _conda()
    assert pip_pins == conda_pins, {k: (pip_pins.get(k), conda_pins.get(k))
                                    for k in pip_pins.keys() | conda_pins.keys()
                                    if pip_pins.get(k) != conda_pins.get(k)}


def test_the_hf_extra_pins_transformers_and_the_test_extra_installs_it():
    project, pins = _pyproject()
    extras = project["optional-dependencies"]
    assert any(d.startswith("transformers==") for d in extras["hf"])
    assert "transformers" in pins and "beyond-inet[hf]" in extras["test"]
    assert not any(d.startswith("transformers") for d in project["dependencies"]), \
        "transformers is an optional extra, not a core dependency"


def test_the_conda_python_satisfies_requires_python():
    project, _ = _pyproject()
    python, _ = _conda()
    lowest = tuple(int(x) for x in re.match(r">=\s*([\d.]+)", project["requires-python"]).group(1).split("."))
    assert tuple(int(x) for x in python.split(".")[:2]) >= lowest
