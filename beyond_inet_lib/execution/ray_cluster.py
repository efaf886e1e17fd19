"""The Ray engine: one long-lived actor per GPU (or per CPU worker when the cluster has
no GPU), fed work units by the driver, writing chunk files straight into the cache
directory (on a cluster: a shared filesystem path every node mounts at the same place).

- Actors keep their models and CLIP zero-shot heads loaded across units (the engine's
  model cache lives in the actor process) and each plan once (sent through the object
  store, kept by the actor).
- The queue is the driver's (``scheduler.Scheduler``): an actor that finishes a unit gets
  the next one at once, so fast and slow workers balance.
- A dead actor (its process killed, its node gone): its unit goes back to the queue, a new
  actor replaces it (at most ``2 x workers`` replacements in a run; after that the
  others take over). Chunk files are written atomically, so a unit cut short left whole
  chunk files or none, and its retry computes only what is missing.
- The cache is the only shared state: two drivers on one cache at once compute some
  units twice at worst, each chunk written atomically with the same numbers.

Ray is optional (``pip install -e '.[cluster]'``) and imported only here, lazily.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from ..errors import DiskFull, EngineError
from .local import describe_error, record_rates
from .progress import RunProgress
from .scheduler import RunReport, Scheduler

INSTALL_HINT = ("the ray engine needs Ray: pip install -e '.[cluster]' (or pip install ray==2.60.0), "
                "or use --engine local")


def import_ray():
    try:
        import ray
    except ImportError:
        raise EngineError(INSTALL_HINT) from None
    return ray


class UnitWorker:
    """The actor: executes work units in its process, keeping models and plans loaded."""

    def __init__(self, name: str, threads: int | None):
        self.name, self.threads = name, threads
        self.plans: dict = {}
        if threads:
            import torch

            torch.set_num_threads(int(threads))

    def ready(self) -> dict:
        return {"name": self.name, "host": socket.gethostname(), "pid": os.getpid()}

    def list_layers(self, spec, settings):
        from ..engine import list_layers

        return list_layers(spec, settings=settings)

    def run_unit(self, plan_index: int, plan_box: list, wu) -> dict:
        """``plan_box``: [object ref of the plan], boxed so that Ray hands the ref over
        instead of the plan: it is fetched once, on this actor's first unit of it."""
        from .worker import execute_unit

        if plan_index not in self.plans:
            import ray

            self.plans[plan_index] = ray.get(plan_box[0])
        return execute_unit(self.plans[plan_index], wu, self.threads)


class RayCluster:
    """A connection to a Ray cluster (``address``; None: ``RAY_ADDRESS``, else the cluster
    ``ray start`` made on this machine, else a new local one) and the actors of one run."""

    def __init__(self, address: str | None = None, workers: int | None = None, threads: int | None = None):
        self.ray = ray = import_ray()
        self.started_here = not ray.is_initialized()
        if self.started_here:
            try:
                ray.init(address=address, logging_level=logging.WARNING)
            except ConnectionError as e:
                raise EngineError(f"cannot reach the Ray cluster at {address}: {e}. Start it with "
                                  f"`ray start --head` (README: many GPUs) or leave --address out for a "
                                  f"local cluster") from None
        res = ray.cluster_resources()
        self.gpus, self.cpus = int(res.get("GPU", 0)), int(res.get("CPU", 0))
        self.requested, self.threads = workers, threads
        self.actors: dict = {}      # name -> actor handle
        self._made = 0
        self.device = None

    # ---------------------------------------------------------------- set-up
    def device_for(self, device: str) -> str:
        """The device the actors compute on: 'cuda' (each actor's one GPU) when the cluster
        has GPUs and the profile allows them, else 'cpu'."""
        if device == "cpu":
            return "cpu"
        if self.gpus:
            return "cuda"
        if device == "auto":
            return "cpu"
        raise EngineError(f"device {device!r} but the Ray cluster has no GPU; use device: auto or cpu, "
                          f"or start the workers on GPU nodes")

    def start(self, device: str) -> int:
        """Start the actors for ``device``: one per GPU (``workers`` at most), or
        ``workers`` CPU actors (default: one per CPU of the cluster); returns how many."""
        self.device = device
        capacity = self.gpus if device.startswith("cuda") else max(1, self.cpus)
        n = min(self.requested or capacity, capacity)
        if self.requested and self.requested > capacity:
            print(f"[beyond-inet] the cluster has room for {capacity} {'GPU' if self.gpus else 'CPU'} "
                  f"worker(s); starting {n}", flush=True)
        self.max_made = 3 * n  # n, then at most 2 x n replacements
        for _ in range(n):
            self._new_actor()
        return n

    def _new_actor(self):
        if self._made >= self.max_made:
            return None
        name = f"w{self._made}"
        self._made += 1
        gpu = self.device.startswith("cuda")
        threads = self.threads or (None if gpu else 1)
        cls = self.ray.remote(UnitWorker).options(
            num_cpus=1, num_gpus=1 if gpu else 0, max_restarts=0, max_task_retries=0)
        self.actors[name] = cls.remote(name, threads)
        return name

    def list_layers(self, settings):
        """``spec -> DataFrame`` of its tap layers, computed on a worker (which has the
        device the plan names, and keeps the model loaded for its units)."""
        def remote(spec):
            actor = next(iter(self.actors.values()))
            return self.ray.get(actor.list_layers.remote(spec, settings))
        return remote

    # ------------------------------------------------------------------- the run
    def run(self, work, progress: bool | None = None) -> RunReport:
        """Compute every work unit of ``work`` on the actors (module docstring)."""
        ray = self.ray
        from ray.exceptions import RayActorError

        sched = Scheduler(work.units)
        cache_dir = work.plans[0].settings.cache_dir if work.plans else None
        plan_refs = [ray.put(p) for p in work.plans]
        inflight: dict = {}  # object ref -> actor name
        view = RunProgress(len(work.units), f"ray ({len(self.actors)} workers)", progress)
        t0 = time.perf_counter()

        def assign(name):
            wu = sched.next_for(name)
            if wu is not None:
                ref = self.actors[name].run_unit.remote(wu.plan, [plan_refs[wu.plan]], wu)
                inflight[ref] = name

        try:
            for name in list(self.actors):
                assign(name)
            while inflight:
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
                for ref in ready:
                    name = inflight.pop(ref)
                    try:
                        stats = ray.get(ref)
                    except RayActorError as e:
                        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                        sched.lost(name, why)
                        self.actors.pop(name, None)
                        self._new_actor()
                        if not self.actors and sched.pending:
                            raise EngineError(f"every Ray worker died (last: {why}); {len(sched.pending)} "
                                              f"unit(s) not computed. The workers' logs: `ray logs` on the head")
                    except Exception as e:  # noqa: BLE001 - the unit's error, raised on the worker
                        cause = getattr(e, "cause", None) or e
                        if isinstance(cause, DiskFull):
                            raise cause from None
                        sched.failed(name, describe_error(cause))
                    else:
                        sched.done(name, stats)
                        record_rates(cache_dir, stats)
                for name in self._idle(inflight):  # a requeued unit goes to whoever is free
                    assign(name)
                view.update(sched.snapshot())
        finally:
            view.close()
            sched.report.seconds = time.perf_counter() - t0
        return sched.report

    def _idle(self, inflight) -> list:
        busy = set(inflight.values())
        return [n for n in self.actors if n not in busy]

    def close(self):
        for actor in self.actors.values():
            try:
                self.ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors.clear()
        if self.started_here:
            self.ray.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
