"""Measured speed, kept beside the results: ``<cache>/rates.json``.

After each executed work unit the driver records, per device and model, how many
evaluations (one image through one model under one view, decode included) were computed
and in how many seconds (the pass's wall time less model loading). A unit's seconds are
shared by the models it ran, in proportion to their evaluations, so a model run alone is
measured exactly and a model run beside others gets the unit's mean rate. The totals
accumulate across runs; ``rate`` is their ratio. ``beyond-inet plan`` divides what is left
by it.

The file is rewritten atomically by one driver at a time; two drivers on one cache may
lose each other's latest update, never the file (it is an estimate, not a result).
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from ..files import atomic_write_text

RATES_FILE = "rates.json"


def device_label(device: str) -> str:
    """'cpu', or 'cuda:<GPU name>' (rates are per kind of hardware, not per index)."""
    if not str(device).startswith("cuda"):
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        return "cuda"
    index = int(device.split(":")[1]) if ":" in device else torch.cuda.current_device()
    return f"cuda:{torch.cuda.get_device_name(index)}"


def load(cache_dir) -> dict:
    """``{device label: {model key: {"evaluations", "seconds", "updated"}}}`` ({} when
    nothing was measured or the file is unreadable)."""
    try:
        data = json.loads((Path(cache_dir) / RATES_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(cache_dir, device: str, evaluations: dict[str, int], seconds: float) -> None:
    """Add one unit's measurement: ``evaluations`` per model key, ``seconds`` of compute."""
    total = sum(evaluations.values())
    if total <= 0 or seconds <= 0:
        return
    data = load(cache_dir)
    per_model = data.setdefault(device, {})
    now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    for model, n in evaluations.items():
        m = per_model.setdefault(model, {"evaluations": 0, "seconds": 0.0})
        m["evaluations"] = int(m["evaluations"]) + int(n)
        m["seconds"] = round(float(m["seconds"]) + seconds * n / total, 6)
        m["updated"] = now
    atomic_write_text(Path(cache_dir) / RATES_FILE, json.dumps(data, indent=1, sort_keys=True))


def rate(rates: dict, device: str, model: str) -> tuple[float, str] | None:
    """(evaluations per second, which device label measured it) for ``model``: measured
    on ``device`` itself, else on the same kind of device ('cuda:*' for a plan made for
    GPUs elsewhere), most recently updated first; None when never measured."""
    kind = device.split(":")[0]
    candidates = [device] + sorted((d for d in rates if d != device and d.split(":")[0] == kind),
                                   key=lambda d: rates[d].get(model, {}).get("updated", ""), reverse=True)
    for d in candidates:
        m = rates.get(d, {}).get(model)
        if m and float(m.get("seconds", 0)) > 0:
            return float(m["evaluations"]) / float(m["seconds"]), d
    return None
