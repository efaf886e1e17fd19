"""One work unit, executed in this process: what a local run and every Ray actor do.

``execute_unit(plan, unit)`` runs ``engine.execute`` on the unit's part of the plan (its
cache units, its chunks): each image decoded once for all of them, each chunk file checked
on disk first, models kept loaded by the engine's model cache across units. It returns
what the driver needs for the progress view and ``rates.json``.

Bit-for-bit equal caches from different processes need the same float summation order,
and torch's CPU kernels split their sums by the intra-op thread count: ``threads`` sets it
for the unit (the local engine and the actors take it from ``--threads``).
"""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import time

from ..engine.cache import chunk_rows
from .rates import device_label
from .units import WorkUnit, sub_plan


@contextlib.contextmanager
def torch_threads(n: int | None):
    """torch's intra-op thread count set to ``n`` inside (unchanged when None)."""
    import torch

    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def execute_unit(plan, wu: WorkUnit, threads: int | None = None) -> dict:
    """Compute the work unit; returns its stats: unit, chunks computed, images decoded,
    evaluations per model, compute seconds (model loading excluded), load seconds, device
    label, host and pid."""
    from .. import engine

    sub = sub_plan(plan, wu)
    n = len(plan.dataset)
    evals: collections.Counter = collections.Counter()
    for u in sub.units:  # what is lacking now (another driver may have written some since planning)
        for c in u.missing_chunks(wu.chunks):
            evals[u.spec.key] += len(chunk_rows(c, plan.chunk_size, n))
    t0 = time.perf_counter()
    with torch_threads(threads):
        done = engine.execute(sub, chunks=wu.chunks, progress=False)
    wall = time.perf_counter() - t0
    computed = done.chunks
    load_s = float(done.stages.get("load_models_s", 0.0))
    return {"unit": wu.id, "computed": computed,
            "images": sum(len(chunk_rows(c, plan.chunk_size, n)) for c in computed),
            "evaluations": dict(evals) if computed else {}, "seconds": max(wall - load_s, 1e-6),
            "load_s": load_s, "device": device_label(plan.settings.device), "host": socket.gethostname(),
            "pid": os.getpid()}
