"""One progress view for a whole run: work units done / running / left, images per second
of each worker, ETA. A tqdm bar over the work units whose postfix carries the rest; the
engines refresh it when a unit ends and, while units run, about once a second."""

from __future__ import annotations

from ..paths import progress_enabled


def _eta(seconds) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def status_line(snap: dict) -> str:
    """The postfix: '2 running, 26 left, 1 failed | w0 85 img/s, w1 80 img/s | ETA 3m20s'."""
    rates = ", ".join(f"{w} {r:.0f} img/s" for w, r in sorted(snap["worker_rates"].items()))
    parts = [f"{snap['running']} running, {snap['left']} left" + (f", {snap['failed']} failed" if snap["failed"] else "")]
    if rates:
        parts.append(rates)
    parts.append(f"ETA {_eta(snap['eta_s'])}")
    return " | ".join(parts)


class RunProgress:
    """The bar: ``update(scheduler.snapshot())``, ``close()``. Silent when progress is off
    (``BEYOND_INET_PROGRESS=0``)."""

    def __init__(self, total: int, desc: str, progress: bool | None = None):
        from ..progress import bar

        self.bar = bar(total=total, desc=desc, unit="unit", dynamic_ncols=True,
                       enabled=progress_enabled(progress),
                       bar_format="{desc}: {n_fmt}/{total_fmt} units |{bar:20}|{postfix}")

    def update(self, snap: dict) -> None:
        finished = snap["done"] + snap["failed"]
        if finished != self.bar.n:
            self.bar.update(finished - self.bar.n)
        self.bar.set_postfix_str(status_line(snap), refresh=True)

    def close(self) -> None:
        self.bar.close()
