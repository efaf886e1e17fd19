"""What a report reads: every prediction request the property pages make, from a
profile and a data root, without running a model.

The requests are the pages' own: each property's ``requests(study)`` (``pages.PROPERTIES``)
called on a quiet ``pages.Study`` (no panels shown, the same datasets, subsets, stand-ins,
views, outputs, layer taps and run-settings variants). Same requests, same cache keys: a
run that computes every request (``beyond-inet run``) leaves the notebooks nothing to
compute. A ``pages.Request`` turns into an ``engine.Plan`` with ``request.plan(settings)``.

Not free of side effects, on purpose: stand-ins are built (once, into the cache) because
their file list is part of the cache key, and the similarity page's layer picks load each
model once (``engine.list_layers``; a caller may pass another ``list_layers``, e.g. one
that asks a GPU worker). Datasets absent under the data root are recorded on each study
(``Study.missing``) and skipped, as the pages skip them.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

from .pages import PROPERTIES, Study
from .paths import resolve_data_root
from .run_settings import RunSettings


def study(profile, prop: str, data_root=None, *, settings: RunSettings | None = None,
          list_layers: Callable | None = None, progress: bool | None = None) -> Study:
    """A quiet ``pages.Study`` of ``prop`` (``data_root`` wins over the profile's, as in
    ``report.setup``; ``settings``: the engine's run settings, default the profile's)."""
    root = resolve_data_root(data_root) if data_root else profile.resolved_data_root()
    return Study(profile, root, None, prop, profile.model_specs(), show=False,
                 run_settings=settings, list_layers=list_layers, progress=progress)


def requests_for_profile(profile, data_root=None, properties=None, *, settings: RunSettings | None = None,
                         list_layers: Callable | None = None, progress: bool | None = None,
                         say: Callable[[str], None] | None = None) -> list:
    """Every request (``pages.Request``, its ``property`` set) the report of ``profile``
    makes (``properties``: a subset, report order kept). Absent datasets are skipped.
    ``say``: called with one line per property as it is planned (a first plan builds
    stand-ins and loads models: minutes, which a caller should not spend in silence)."""
    wanted = list(PROPERTIES) if properties is None else list(properties)
    unknown = [p for p in wanted if p not in PROPERTIES]
    if unknown:
        raise ValueError(f"unknown properties {unknown}; known: {', '.join(PROPERTIES)}")
    out = []
    for prop in PROPERTIES:
        if prop in wanted:
            t0 = time.perf_counter()
            st = study(profile, prop, data_root, settings=settings, list_layers=list_layers, progress=progress)
            reqs = [dataclasses.replace(r, property=prop) for r in PROPERTIES[prop].requests(st)]
            out += reqs
            if say:
                absent = sorted({e.name for e in st.missing})
                absent = f"  (absent, skipped: {', '.join(absent)})" if absent else ""
                say(f"  {prop:<11} {len(reqs):>3} request(s)  {time.perf_counter() - t0:6.1f} s{absent}")
    return out
