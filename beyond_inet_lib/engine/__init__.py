"""Batched inference with an on-disk result cache: the only place that touches a GPU.

``predict(models, dataset, views)`` returns, for every (model, view), per-image outputs
(logits, pooled features, layer taps) in dataset order. It is built around three rules:

1. Each image is decoded once per pass and fed to every model and every view that still
   needs it (decoding, not the model, is the bottleneck on a GPU).
2. Results are cached on disk in chunks, keyed by (model key + weights id, dataset name +
   file-list fingerprint, view, outputs, decode path, precision), each chunk file written
   atomically, so an interrupted pass resumes where it stopped and two runs writing the
   same cache never leave a half-written file. Nothing computed is computed again.
3. Unreadable images are skipped and listed, never fatal; odd image modes are converted.

How a pass runs comes from a ``RunSettings`` (``Profile.run_settings()``; default
``RunSettings()``); any argument of ``predict`` that is not None overrides its field. The
engine never reads a profile.

Where to look (one job per module):

- ``planning``: ``plan`` (the cache units: model x view, each one cache folder, and the
  chunks each lacks; settings resolved), ``execute`` (compute chunks; returns the chunks
  computed and the pass's stage timings), ``collect``.
- ``passes``: the pass loop (one batch in flight, background chunk writer, stage timing).
- ``decode``: the three decode paths ``pil`` / ``hybrid`` / ``tensor`` (its docstring is
  the reference), worker shares, JPEG triage.
- ``forward``: the model cache, ``Runner`` (async host copies, OOM back-off, padding for
  compiled models), ``list_layers``.
- ``cache``: ``CacheUnit`` and ``Plan``, folder names (the cache key), chunk files,
  manifests, ``cache_table``.
- ``results``: ``Result``, ``Results``. ``device``: device resolution, out-of-memory.
- The tensor implementation of a ``View`` lives beside it, in ``views.preprocess_tensors``.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from ..errors import EngineError
from ..run_settings import RunSettings
from ..views import preprocess_tensors
from .cache import CacheUnit, Plan, cache_table
from .decode import resolve_decode
from .device import resolve_device
from .forward import FORWARD_CALLS, Runner, clear_model_cache, list_layers, load_model
from .planning import OUTPUT_KINDS, Executed, collect, execute, plan
from .results import Result, Results

__all__ = ["predict", "plan", "execute", "collect", "Plan", "CacheUnit", "Executed", "Result", "Results",
           "cache_table", "list_layers", "EngineError", "FORWARD_CALLS", "resolve_device",
           "resolve_decode", "clear_model_cache", "load_model", "Runner", "preprocess_tensors",
           "OUTPUT_KINDS"]


def predict(models, dataset, views=None, *, outputs: Iterable[str] = ("logits",),
            layers: Mapping | None = None, settings: RunSettings | None = None, cache_dir=None,
            device: str | None = None, batch_size: int | None = None, num_workers: int | None = None,
            precision: str | None = None, decode: str | None = None, compile: bool | None = None,
            channels_last: bool | None = None, preprocessing: str | None = None,
            clip_logit_scale: str | None = None, chunk_size: int | None = None,
            progress: bool | None = None) -> Results:
    """Per-image outputs of every model under every view on ``dataset``; cached, resumable.
    ``plan`` + ``execute`` + ``collect``.

    models: ModelSpec objects or registry keys. views: None (each model's own view, by
    ``preprocessing``), a ``View``, a dict name -> View for all models, or a callable
    spec -> dict name -> View. outputs: any of "logits", "features", "layers". layers:
    dict model key -> list of layer names (from ``LoadedModel.layer_modules()``) tapped
    when "layers" is requested. settings: a ``RunSettings`` (default ``RunSettings()``);
    every other argument that is not None overrides its field. decode: "auto" | "pil" |
    "tensor" | "hybrid" (``engine.decode``; part of the cache key, like precision).
    compile: ``torch.compile`` each model (same numbers up to float reassociation; not in
    the cache key). chunk_size: rows per cache chunk (default 256 on CPU, 4096 on CUDA;
    part of the key). progress: show a progress bar (default: the BEYOND_INET_PROGRESS
    switch).
    """
    p = plan(models, dataset, views, outputs=outputs, layers=layers, settings=settings,
             cache_dir=cache_dir, device=device, batch_size=batch_size, num_workers=num_workers,
             precision=precision, decode=decode, compile=compile, channels_last=channels_last,
             preprocessing=preprocessing, clip_logit_scale=clip_logit_scale, chunk_size=chunk_size)
    execute(p, progress=progress)
    return collect(p)
