"""One pass over a dataset: decode each needed chunk once, feed every unit that lacks it,
write its chunk files.

The loop keeps one batch in flight: batch b's forwards are queued before batch b-1's
outputs are collected, so on CUDA the GPU has work while the host waits for copies,
decodes and writes; chunk files are written by a background thread (``ChunkWriter``) so
neither the host copies nor the disk stall the GPU. With ``compile`` a short last batch is
padded to the batch size (``forward.Runner``). An interruption keeps what was computed:
the batch in flight is collected and queued chunk writes finish before the error goes on.
Where the host's time went is measured per stage (``Stages``) and returned by ``run_pass``.
"""

from __future__ import annotations

import collections
import contextlib
import time
from pathlib import Path

import numpy as np

from ..paths import progress_enabled
from .cache import Plan, chunk_rows, save_chunk, write_manifest
from .decode import decoded_batches
from .forward import Runner, load_model


class Stages:
    """Host seconds per stage of a pass. On a GPU the work is asynchronous, so where the
    host WAITS says what limits the pass: ``loader_wait`` (workers not decoding fast
    enough), ``collect_wait`` (the GPU: the good case), ``writer_wait`` (the disk)."""

    NAMES = ("loader_wait", "decode", "preprocess", "load_models", "queue_forward", "collect_wait",
             "writer_wait", "loader_shutdown")

    def __init__(self):
        self.seconds = dict.fromkeys(self.NAMES, 0.0)
        self.t0 = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, name: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t

    def summary(self, images: int) -> dict:
        out = {f"{k}_s": round(v, 3) for k, v in self.seconds.items()}
        out.update(wall_s=round(time.perf_counter() - self.t0, 3), images=images)
        return out


class ChunkWriter:
    """Writes chunk files on one background thread, in order, so the GPU never waits for
    the disk. After a failed write (a full disk) it writes nothing more; ``check()``
    re-raises that error in the caller, ``close()`` waits for queued writes."""

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1, thread_name_prefix="beyond-inet-writer")
        self.error: BaseException | None = None

    def _write(self, path, arrays):
        if self.error is not None:
            return
        try:
            save_chunk(path, arrays)
        except BaseException as e:
            self.error = e

    def save(self, path: Path, arrays: dict):
        self._pool.submit(self._write, path, arrays)

    def check(self):
        if self.error is not None:
            raise self.error

    def close(self):
        self._pool.shutdown(wait=True)


def run_pass(plan: Plan, work: dict[int, list[int]], progress: bool | None = None) -> dict:
    """Compute and write, for each unit index in ``work``, the chunks listed for it (each
    chunk's images decoded once for all the units that need it). Returns where the host's
    time went (``Stages.summary``)."""
    import torch

    from ..progress import bar as progress_bar, models_label

    s, units, dataset, chunk_size = plan.settings, plan.units, plan.dataset, plan.chunk_size
    device = s.device
    n = len(dataset)
    for u_i in work:
        write_manifest(units[u_i], dataset, plan.fingerprint)
    # the decode work: union of views still needed, each decoded once per image
    need_views = {units[u_i].view.key(): units[u_i].view for u_i in work}
    paths = [str(p) for p in dataset.paths]
    batches, chunk_of_batch = [], []
    for c in sorted({c for cs in work.values() for c in cs}):
        rows = chunk_rows(c, chunk_size, n)
        for start in range(rows.start, rows.stop, s.batch_size):
            batches.append(list(range(start, min(rows.stop, start + s.batch_size))))
            chunk_of_batch.append(c)
    runners: dict[str, Runner] = {}
    work_sets = {u_i: set(cs) for u_i, cs in work.items()}  # chunk membership per batch
    pending = collections.defaultdict(lambda: collections.defaultdict(list))  # (u_i) -> key -> parts
    pend_rows: dict = collections.defaultdict(list)
    pend_skip: dict = collections.defaultdict(list)
    n_imgs = sum(len(b) for b in batches)
    models_desc = models_label(sorted({units[u_i].spec.key for u_i in work}))
    bar = progress_bar(total=n_imgs, unit="img", desc=f"{dataset.name} [{models_desc}]",
                       enabled=progress_enabled(progress), dynamic_ncols=True)
    writer = ChunkWriter()
    stages = Stages()

    def runner(spec) -> Runner:
        if spec.key not in runners:
            with stages("load_models"):
                model = load_model(spec, device, s.clip_logit_scale, s.cache_dir, compile=s.compile)
                if s.channels_last:  # faster convs on GPU and on CPU (oneDNN) alike
                    model = model.to(memory_format=torch.channels_last)
                runners[spec.key] = Runner(model, device, s.precision, s.channels_last, pad=s.compile)
        return runners[spec.key]

    def finish(job):
        """Collect a queued batch's outputs; write the chunk files it completes."""
        b_i, c, idx, bad, copies, active = job
        pend_skip[c].extend(bad)
        for u_i, copy in copies.items():
            with stages("collect_wait"):
                arrays = copy.result()
            for k, v in arrays.items():
                pending[u_i][k].append(v)
        pend_rows[c].extend(idx)
        bar.update(len(idx) + len(bad))
        if b_i + 1 == len(batches) or chunk_of_batch[b_i + 1] != c:  # last batch of chunk c
            for u_i in active:
                arrays = {"rows": np.asarray(pend_rows[c], dtype=np.int64),
                          "skipped_rows": np.asarray([r for r, _ in pend_skip[c]], dtype=np.int64),
                          "skipped_reasons": np.asarray([r for _, r in pend_skip[c]], dtype=str)}
                for k, parts in pending[u_i].items():
                    joined = np.concatenate(parts)
                    arrays[k] = joined.astype(np.float32, copy=False) if joined.dtype.kind == "f" else joined
                writer.save(units[u_i].chunk_path(c), arrays)
                pending[u_i].clear()
            pend_rows.pop(c, None)
            pend_skip.pop(c, None)

    # One batch in flight: batch b's forwards are queued before batch b-1's outputs are
    # collected, so the GPU has work while the host waits for copies, decodes and writes.
    inflight = None
    decoded = decoded_batches(paths, need_views, s.decode, batches, s.batch_size, s.num_workers, device,
                              stages)
    try:
        for b_i, (idx, tensors, bad) in enumerate(decoded):
            writer.check()
            c = chunk_of_batch[b_i]
            active = [u_i for u_i, cs in work_sets.items() if c in cs]
            copies = {}
            if idx:
                for u_i in active:
                    u = units[u_i]
                    want = tuple(o for o in u.outputs if o != "layers")
                    run = runner(u.spec)
                    with stages("queue_forward"):
                        copies[u_i] = run.run_async(tensors[u.view.key()], want, u.layers)
            job, inflight = inflight, (b_i, c, idx, bad, copies, active)
            if job is not None:
                finish(job)
        if inflight is not None:
            job, inflight = inflight, None
            finish(job)
    except BaseException:
        if inflight is not None:  # an interruption: keep what the GPU already computed
            with contextlib.suppress(Exception):
                finish(inflight)
        raise
    finally:
        bar.close()
        with stages("loader_shutdown"):  # workers stop here, not whenever the GC gets to them
            decoded.close()
        with stages("writer_wait"):
            writer.close()  # queued chunk writes finish: nothing computed is lost
    writer.check()
    return stages.summary(n_imgs)
