"""A pass as units of work: ``plan`` what is needed, ``execute`` it chunk by chunk,
``collect`` the results. ``predict`` is the three in a row.

- ``plan(models, dataset, views, ...) -> Plan``: the cache units (model x view, each with
  its folder) and which chunks each still lacks on disk. It loads no model and decodes no
  image. The settings are resolved here, not later: the device ('auto' -> cuda or cpu),
  the precision ('auto' -> bf16 on CUDA, fp32 on CPU), the decode path ('auto' -> hybrid
  on CUDA, pil on CPU) and the chunk size, because the decode path and the precision are
  part of each unit's cache key, and the chunk size of its folder name.
- ``execute(plan, chunks=None) -> Executed``: one pass over the given chunk indices
  (default: every chunk some unit lacks). Each chunk's images are decoded once and fed to every unit that
  lacks that chunk; whether a chunk is lacking is checked on disk at that moment, so a
  chunk already written (by this process or another) is never computed again. Separate
  processes may execute disjoint (or even the same) chunks of one plan on one cache.
- ``collect(plan) -> Results``: the units' results read from their chunk files.

A ``Plan`` is a plain picklable value (specs, views, dataset index, resolved settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from ..run_settings import RunSettings
from ..views import View
from .cache import DEFAULT_CHUNK, CacheUnit, Plan, extra_key, n_chunks, read_result, unit_dir
from .decode import resolve_decode
from .device import resolve_device
from .forward import as_spec
from .passes import run_pass
from .results import Results

#: what a unit can hold per image: the 1,000 logits; ``top``, their argmax and its softmax
#: probability only (8 bytes instead of 4 kB: ImageNet-C's 3.75 M rows); pooled features;
#: layer taps
OUTPUT_KINDS = ("logits", "top", "features", "layers")


@dataclass(frozen=True)
class Executed:
    """What ``execute`` did: the chunk indices it computed, ascending, and where the host's
    time went in that pass (``passes.Stages.summary``: seconds per stage, wall, images;
    {} when nothing was computed)."""

    chunks: list[int]
    stages: dict


def _resolve_views(spec, views, preprocessing: str) -> dict[str, View]:
    if views is None:
        return {"default": spec.view(preprocessing)}
    if callable(views) and not isinstance(views, Mapping):
        return dict(views(spec))
    if isinstance(views, View):
        return {"default": views}
    return dict(views)


def plan(models, dataset, views=None, *, outputs: Iterable[str] = ("logits",), layers: Mapping | None = None,
         settings: RunSettings | None = None, cache_dir=None, device: str | None = None,
         batch_size: int | None = None, num_workers: int | None = None, precision: str | None = None,
         decode: str | None = None, compile: bool | None = None, channels_last: bool | None = None,
         preprocessing: str | None = None, clip_logit_scale: str | None = None,
         chunk_size: int | None = None, check_device: bool = True) -> Plan:
    """The units of work for ``models`` x ``views`` on ``dataset`` (arguments as
    ``predict``'s). Resolves the settings, names each unit's cache folder and lists the
    chunks it lacks; loads no model and decodes no image. ``check_device=False``: the plan
    is executed elsewhere (GPU workers of a cluster whose driver has none), so a 'cuda'
    device is taken as given instead of checked here."""
    s = (settings or RunSettings()).override(
        cache_dir=cache_dir, device=device, batch_size=batch_size, num_workers=num_workers,
        precision=precision, decode=decode, compile=compile, channels_last=channels_last,
        preprocessing=preprocessing, clip_logit_scale=clip_logit_scale)
    outputs = tuple(sorted(set(outputs)))
    bad = set(outputs) - set(OUTPUT_KINDS)
    if bad:
        raise ValueError(f"unknown outputs {sorted(bad)}; accepted: {OUTPUT_KINDS}")
    if "layers" in outputs and not layers:
        raise ValueError("outputs includes 'layers': pass layers={model_key: [layer names]}")
    dev = resolve_device(s.device, check=check_device)
    cuda = dev.startswith("cuda")
    s = s.override(device=dev, precision=s.precision if s.precision != "auto" else ("bf16" if cuda else "fp32"),
                   decode=resolve_decode(s.decode, dev), compile=bool(s.compile))
    chunk_size = chunk_size or DEFAULT_CHUNK["cuda" if cuda else "cpu"]
    fingerprint = dataset.fingerprint()
    units: list[CacheUnit] = []
    for spec in (as_spec(m) for m in models):
        if {"logits", "top"} & set(outputs) and getattr(spec, "labels", "imagenet") == "none":
            raise ValueError(f"{spec.key} is a features-only model (no ImageNet-1k logits): ask it for "
                             f"outputs=('features',) or ('layers',)")
        for vname, view in _resolve_views(spec, views, s.preprocessing).items():
            lay = tuple(layers.get(spec.key, ())) if (layers and "layers" in outputs) else None
            extra = extra_key(s.clip_logit_scale if spec.training == "clip" else "", s.decode, s.precision)
            d = unit_dir(s.cache_dir, dataset, fingerprint, spec, view, outputs, lay, chunk_size, extra)
            units.append(CacheUnit(spec, vname, view, outputs, lay, d, chunk_size, s.decode, s.precision, dev))
    every = range(n_chunks(len(dataset), chunk_size))
    missing = {u_i: u.missing_chunks(every) for u_i, u in enumerate(units)}
    return Plan(dataset, fingerprint, units, chunk_size, s, {u_i: cs for u_i, cs in missing.items() if cs})


def execute(plan: Plan, chunks: Iterable[int] | None = None, progress: bool | None = None) -> Executed:
    """Compute the given chunks (default: ``plan.todo_chunks``) for every unit whose chunk
    file is not on disk now; returns the chunk indices that were computed and the pass's
    stage timings (``Executed``)."""
    if chunks is None:
        chunks = plan.todo_chunks
    chunks = sorted(set(chunks))
    out_of_range = [c for c in chunks if not 0 <= c < plan.n_chunks]
    if out_of_range:
        raise ValueError(f"chunks {out_of_range} outside 0..{plan.n_chunks - 1}")
    work = {u_i: cs for u_i, u in enumerate(plan.units) if (cs := u.missing_chunks(chunks))}
    if not work:
        return Executed([], {})
    stages = run_pass(plan, work, progress)
    return Executed(sorted({c for cs in work.values() for c in cs}), stages)


def collect(plan: Plan) -> Results:
    """``{(model key, view name): Result}`` read from the units' chunk files; raises
    ``EngineError`` when a chunk has not been computed or cannot be read."""
    results = Results()
    for u in plan.units:
        results[(u.spec.key, u.view_name)] = read_result(u, plan.dataset)
    return results
