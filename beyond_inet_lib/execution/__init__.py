"""Computing a whole study into the result cache, on this machine or on a Ray cluster;
``make report`` then only reads the cache.

    work = plan_work(profile, data_root)              # what the report needs, what is left
    report = run(profile, data_root, engine="ray")     # compute what is left

The requests come from ``workload`` (exactly the notebooks' requests), become one plan per
dataset and are cut into work units (``units``); a queue (``scheduler``) hands them to
workers: this process (``local``) or long-lived Ray actors (``ray_cluster``), each
executing units with ``worker.execute_unit``. ``progress`` shows the whole run; ``rates``
keeps the measured speed in ``<cache>/rates.json`` for the plan's estimates.

Where to look: ``units`` (Work, WorkUnit, merging, the plan table), ``scheduler`` (queue,
retries, RunReport), ``worker`` (one unit in a process), ``local``, ``ray_cluster``,
``progress``, ``rates``.
"""

from __future__ import annotations

from typing import Callable

from .. import workload
from ..run_settings import RunSettings
from .local import run_local
from .scheduler import MAX_SAME_FAILURES, RunReport
from .units import Work, WorkUnit, build_work, format_plan
from .worker import execute_unit, torch_threads

ENGINES = ("local", "ray")

__all__ = ["plan_work", "run", "run_study", "build_work", "format_plan", "execute_unit", "Work", "WorkUnit",
           "RunReport", "ENGINES", "MAX_SAME_FAILURES"]


def _local_device(device: str) -> str:
    """``device``, or 'cpu' where it names a GPU this machine does not have (planning for
    GPU workers elsewhere: layer names do not depend on the device)."""
    import torch

    return "cpu" if device.startswith("cuda") and not torch.cuda.is_available() else device


def plan_work(profile, data_root=None, *, properties=None, device: str | None = None,
              progress: bool | None = None, say: Callable[[str], None] | None = None) -> Work:
    """The work units the report of ``profile`` still needs (``device``: plan for that
    device instead of the profile's, e.g. 'cuda' for GPU workers from a machine without
    one). Builds stand-ins and lists the similarity layers (loads those models once);
    ``say``: one line per property as it is planned."""
    from .. import engine

    settings = profile.run_settings().override(device=device)
    here = settings.override(device=_local_device(settings.device))
    reqs = workload.requests_for_profile(profile, data_root, properties, settings=settings, progress=progress,
                                         say=say, list_layers=lambda spec: engine.list_layers(spec, settings=here))
    return build_work(reqs, settings, check_device=here.device == settings.device)


def run_study(make_requests: Callable, settings: RunSettings, *, engine: str = "local",
              address: str | None = None, workers: int | None = None, threads: int | None = None,
              progress: bool | None = None) -> tuple[Work, RunReport]:
    """Compute every work unit of the requests ``make_requests(settings, list_layers)``
    returns (``list_layers``: spec -> its tap layers, or None for the engine's own).
    engine 'local': in this process; 'ray': on the Ray cluster at ``address`` (module
    ``ray_cluster``), ``workers`` actors (default: one per GPU, else one per CPU).
    ``threads``: torch's intra-op threads in every worker (equal thread counts give equal
    bits on a CPU)."""
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r}; expected one of {ENGINES}")
    if engine == "local":
        with torch_threads(threads):
            work = build_work(make_requests(settings, None), settings)
            return work, run_local(work, threads=threads, progress=progress)
    from .ray_cluster import RayCluster

    with RayCluster(address, workers, threads) as cluster:
        settings = settings.override(device=cluster.device_for(settings.device))
        cluster.start(settings.device)
        work = build_work(make_requests(settings, cluster.list_layers(settings)), settings, check_device=False)
        return work, cluster.run(work, progress)


def run(profile, data_root=None, *, engine: str = "local", properties=None, device: str | None = None,
        address: str | None = None, workers: int | None = None, threads: int | None = None,
        progress: bool | None = None, say: Callable[[str], None] | None = None) -> tuple[Work, RunReport]:
    """Compute into the cache everything the report of ``profile`` reads (``run_study`` of
    ``workload.requests_for_profile``; ``say``: one line per property as it is planned)."""
    def make(settings, list_layers):
        return workload.requests_for_profile(profile, data_root, properties, settings=settings,
                                             list_layers=list_layers, progress=progress, say=say)

    return run_study(make, profile.run_settings().override(device=device), engine=engine, address=address,
                     workers=workers, threads=threads, progress=progress)
