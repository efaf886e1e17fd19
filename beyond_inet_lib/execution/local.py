"""The local engine: the work units computed one after another in this process (the
engine's model cache keeps the models loaded across units), with the same queue, retry
rules, progress view and rate records as the Ray engine."""

from __future__ import annotations

import time

from ..errors import DiskFull
from . import rates
from .progress import RunProgress
from .scheduler import RunReport, Scheduler
from .worker import execute_unit

WORKER = "local"


def describe_error(e: BaseException) -> str:
    """'<type>: <message>': the text a failed unit is reported with."""
    return f"{type(e).__name__}: {e}"


def record_rates(cache_dir, stats: dict) -> None:
    """Add a unit's measurement to ``<cache>/rates.json`` (estimates only: an unwritable
    file must not stop a run)."""
    try:
        rates.record(cache_dir, stats["device"], stats["evaluations"], stats["seconds"])
    except OSError:
        pass


def run_local(work, *, threads: int | None = None, progress: bool | None = None) -> RunReport:
    """Compute every work unit of ``work`` here; a unit failing the same way three times is
    given up and reported, the rest goes on. A full disk stops the run (nothing else can
    be written either)."""
    sched = Scheduler(work.units)
    cache_dir = work.plans[0].settings.cache_dir if work.plans else None
    view = RunProgress(len(work.units), "local", progress)
    t0 = time.perf_counter()
    try:
        while (wu := sched.next_for(WORKER)) is not None:
            view.update(sched.snapshot())
            try:
                stats = execute_unit(work.plans[wu.plan], wu, threads)
            except DiskFull:
                raise
            except Exception as e:  # noqa: BLE001 - a unit's failure is reported, the run goes on
                sched.failed(WORKER, describe_error(e))
            else:
                sched.done(WORKER, stats)
                record_rates(cache_dir, stats)
            view.update(sched.snapshot())
    finally:
        view.close()
        sched.report.seconds = time.perf_counter() - t0
    return sched.report
