"""The driver's queue of work units: who does what next, retries, and the run's report.

Work is pulled, not pushed: a worker that is free asks ``next_for(worker)`` and gets the
next pending unit, so fast and slow workers (and fast and slow models) balance by
themselves. A worker is given, when there is one, a unit of the same plan and model group
as its last (its models are loaded already); otherwise the oldest pending unit.

Failures:

- an exception in a unit (``failed``): the unit goes to the back of the queue and is
  preferably given to another worker next; after ``MAX_SAME_FAILURES`` attempts that failed
  with the same error (type and message), or ``MAX_ATTEMPTS`` in all, it is given up and
  reported with its error; the rest of the run goes on.
- a worker lost mid-unit (``lost``: its process died): the unit goes back to the queue and
  runs elsewhere. A loss counts as an attempt ("worker lost: ..."), so a unit that kills
  every worker that touches it is given up too instead of killing them all.

Pure bookkeeping: no Ray, no torch; the local and the Ray engines share it.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

#: a unit is given up after this many attempts failing with the same error ...
MAX_SAME_FAILURES = 3
#: ... or after this many attempts in all
MAX_ATTEMPTS = 6


@dataclass
class Failure:
    """A unit given up: its id, its attempts' errors (worker, error), the last one's text."""

    unit: str
    attempts: list
    error: str


@dataclass
class RunReport:
    """What a run did: units computed (with their stats), units given up, workers lost."""

    done: dict = field(default_factory=dict)        # unit id -> stats
    failed: list = field(default_factory=list)      # Failure
    lost_workers: list = field(default_factory=list)  # (worker, unit id, why)
    retried: dict = field(default_factory=dict)     # unit id -> attempts before it succeeded
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        images = sum(s.get("images", 0) for s in self.done.values())
        text = (f"{len(self.done)} work unit(s) done ({images} images decoded) in {self.seconds:.1f} s; "
                f"{len(self.failed)} failed")
        if self.lost_workers:
            text += f"; {len(self.lost_workers)} worker(s) lost, their units retried"
        for f in self.failed:
            text += f"\nFAILED {f.unit} after {len(f.attempts)} attempt(s): {f.error}"
        return text


def error_signature(text: str) -> str:
    """What makes two failures 'the same way': the error's first line (type and message)."""
    return (text.strip().splitlines() or [""])[0][:500]


class Scheduler:
    """Pending / running / done / failed work units (module docstring)."""

    def __init__(self, units: list):
        self.units = {u.id: u for u in units}
        self.pending: collections.OrderedDict = collections.OrderedDict((u.id, None) for u in units)
        self.running: dict = {}                       # worker -> (unit id, started)
        self.attempts = collections.defaultdict(list)  # unit id -> [(worker, error)]
        self.report = RunReport()
        self.workers = collections.defaultdict(lambda: {"images": 0, "seconds": 0.0, "units": 0})
        self._last_group: dict = {}
        self._t0 = time.monotonic()

    # ------------------------------------------------------------------ handing out
    def _group(self, uid):
        u = self.units[uid]
        return (u.plan, u.group)

    def _failed_on(self, uid, worker) -> bool:
        return any(w == worker for w, _ in self.attempts.get(uid, ()))

    def next_for(self, worker: str):
        """The next unit for ``worker`` (now running on it), or None when nothing is pending."""
        if not self.pending:
            return None
        same = self._last_group.get(worker)
        pick = None
        if same is not None:
            pick = next((uid for uid in self.pending if self._group(uid) == same
                         and not self._failed_on(uid, worker)), None)
        if pick is None:
            pick = next((uid for uid in self.pending if not self._failed_on(uid, worker)), None)
        if pick is None:  # everything left failed here before: retry here rather than idle
            pick = next(iter(self.pending))
        del self.pending[pick]
        self.running[worker] = (pick, time.monotonic())
        self._last_group[worker] = self._group(pick)
        return self.units[pick]

    # -------------------------------------------------------------------- outcomes
    def done(self, worker: str, stats: dict) -> None:
        uid, _ = self.running.pop(worker)
        self.report.done[uid] = stats
        if uid in self.attempts:
            self.report.retried[uid] = len(self.attempts[uid])
        w = self.workers[worker]
        w["images"] += int(stats.get("images", 0))
        w["seconds"] += float(stats.get("seconds", 0.0))
        w["units"] += 1

    def failed(self, worker: str, error: str) -> Failure | None:
        """Record a failed attempt of ``worker``'s unit; requeue it, or give it up (and
        return its ``Failure``) per the module's rules."""
        uid, _ = self.running.pop(worker)
        return self._attempt_failed(uid, worker, error)

    def lost(self, worker: str, why: str) -> Failure | None:
        """``worker`` died; its unit (if any) goes back to the queue (or is given up)."""
        self._last_group.pop(worker, None)
        if worker not in self.running:
            self.report.lost_workers.append((worker, None, why))
            return None
        uid, _ = self.running.pop(worker)
        self.report.lost_workers.append((worker, uid, why))
        return self._attempt_failed(uid, worker, f"worker lost: {why}")

    def _attempt_failed(self, uid, worker, error) -> Failure | None:
        self.attempts[uid].append((worker, error))
        errors = [e for _, e in self.attempts[uid]]
        same = collections.Counter(error_signature(e) for e in errors)
        if max(same.values()) >= MAX_SAME_FAILURES or len(errors) >= MAX_ATTEMPTS:
            f = Failure(uid, list(self.attempts[uid]), error)
            self.report.failed.append(f)
            return f
        self.pending[uid] = None  # to the back of the queue
        return None

    # ---------------------------------------------------------------------- status
    @property
    def finished(self) -> bool:
        return not self.pending and not self.running

    def snapshot(self) -> dict:
        """Counts, per-worker rates and an ETA for the progress view. The ETA divides the
        evaluations left by the evaluations done per second of the run so far."""
        elapsed = time.monotonic() - self._t0
        done_evals = sum(self.units[u].evaluations for u in self.report.done)
        left = [self.units[u] for u in self.pending] + [self.units[u] for u, _ in self.running.values()]
        left_evals = sum(u.evaluations for u in left)
        eta = left_evals * elapsed / done_evals if done_evals else None
        rates = {w: (s["images"] / s["seconds"] if s["seconds"] > 0 else 0.0) for w, s in self.workers.items()}
        return {"done": len(self.report.done), "failed": len(self.report.failed), "running": len(self.running),
                "left": len(self.pending), "total": len(self.units), "worker_rates": rates, "eta_s": eta,
                "elapsed_s": elapsed}
