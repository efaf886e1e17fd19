"""Units of work: the report's requests as one plan per dataset, cut into work units.

- Requests on the same dataset (same name, file-list fingerprint and chunk size) become
  one ``engine.Plan`` whose cache units (model x view) are the union of theirs, each cache
  folder once (the invariance page's scale 1, shift 0 and native resolution are one
  folder), so each image is decoded once for every model and view that reads it.
- A work unit is a few consecutive chunks of one such plan x a group of its models (at
  most ``MODELS_PER_UNIT``, what one process keeps loaded) and the views of those models
  that still lack one of those chunks. ``engine.execute`` on it decodes each image once
  and checks each chunk file on disk first, so a unit done, or done in part (by this
  driver, a killed worker or another driver), is never computed again.

``Work.table()`` is the tidy view (one row per cache unit: what the cache holds, what is
left, the estimated cost from the measured rates); ``format_plan`` prints it by dataset.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from dataclasses import dataclass, field

import pandas as pd

from ..engine import Plan
from ..engine.cache import chunk_rows
from ..files import slug
from . import rates as _rates

#: models per work unit: at most what one process keeps loaded (engine.forward keeps 6), so
#: a worker never reloads a model within a unit
MODELS_PER_UNIT = 6
#: consecutive chunks per work unit by device kind: one CPU chunk is 256 images; on a GPU a
#: chunk is 4,096 images, and four of them amortise a pass's loader start-up
CHUNKS_PER_UNIT = {"cpu": 1, "cuda": 4}


@dataclass(frozen=True)
class WorkUnit:
    """``chunks`` of plan ``plan`` for its cache units ``units`` (indices into
    ``plan.units``; the models ``models``, group ``group`` of the plan). ``images``:
    images decoded; ``evaluations``: (image, cache unit) pairs lacking when planned."""

    id: str
    plan: int
    group: int
    units: tuple
    chunks: tuple
    models: tuple
    images: int
    evaluations: int


@dataclass
class Work:
    """The plans (one per dataset), the properties reading each cache unit (by folder),
    and the work units still to do, in order."""

    plans: list
    properties: list            # per plan: {unit dir: [properties]}
    units: list
    requests: list = field(default_factory=list)

    def sub_plan(self, wu: WorkUnit) -> Plan:
        return sub_plan(self.plans[wu.plan], wu)

    def table(self, rates: dict | None = None) -> pd.DataFrame:
        """One row per cache unit: properties, dataset, fingerprint, model, view,
        outputs, images, chunks (total / done / todo), images_todo, the rate used and
        the estimated seconds (NaN when the model was never measured on this device)."""
        rows = []
        for p_i, p in enumerate(self.plans):
            n = len(p.dataset)
            dev = _rates.device_label(p.settings.device)
            for u_i, u in enumerate(p.units):
                todo = p.missing.get(u_i, [])
                images_todo = sum(len(chunk_rows(c, p.chunk_size, n)) for c in todo)
                got = _rates.rate(rates, dev, u.spec.key) if rates is not None else None
                rows.append({
                    "properties": ",".join(self.properties[p_i].get(str(u.dir), [])),
                    "dataset": p.dataset.name, "fingerprint": p.fingerprint, "model": u.spec.key,
                    "view": u.view_name, "outputs": ",".join(u.outputs), "images": n,
                    "chunks": p.n_chunks, "chunks_done": p.n_chunks - len(todo), "chunks_todo": len(todo),
                    "images_todo": images_todo, "device": dev,
                    "rate_img_s": round(got[0], 2) if got else math.nan,
                    "rate_measured_on": got[1] if got else None,
                    "est_s": (images_todo / got[0] if got else (0.0 if not images_todo else math.nan)),
                    "dir": str(u.dir)})
        cols = ["properties", "dataset", "fingerprint", "model", "view", "outputs", "images", "chunks",
                "chunks_done", "chunks_todo", "images_todo", "device", "rate_img_s", "rate_measured_on",
                "est_s", "dir"]
        return pd.DataFrame(rows, columns=cols)

    def todo_pairs(self) -> set[tuple[str, int]]:
        """(cache unit folder, chunk) pairs lacking when planned."""
        return {(str(p.units[u_i].dir), c) for p in self.plans for u_i, cs in p.missing.items() for c in cs}


def sub_plan(plan: Plan, wu: WorkUnit) -> Plan:
    """The part of ``plan`` a work unit computes: its cache units, its chunks."""
    units = [plan.units[i] for i in wu.units]
    missing = {j: [c for c in plan.missing.get(i, []) if c in wu.chunks] for j, i in enumerate(wu.units)}
    return Plan(plan.dataset, plan.fingerprint, units, plan.chunk_size, plan.settings,
                {j: cs for j, cs in missing.items() if cs})


def merge_plans(plans_props: list[tuple[Plan, str]]) -> tuple[list[Plan], list[dict]]:
    """Plans on the same dataset (name, fingerprint, chunk size, settings) as one, each
    cache folder once (first occurrence kept); with the properties reading each folder."""
    groups: dict = collections.OrderedDict()
    for p, prop in plans_props:
        key = (p.dataset.name, p.fingerprint, p.chunk_size, p.settings)
        groups.setdefault(key, []).append((p, prop))
    plans, props = [], []
    for members in groups.values():
        first = members[0][0]
        units, missing, readers = [], {}, collections.defaultdict(list)
        index = {}
        for p, prop in members:
            for u_i, u in enumerate(p.units):
                d = str(u.dir)
                if prop not in readers[d]:
                    readers[d].append(prop)
                if d in index:
                    continue
                index[d] = len(units)
                units.append(u)
                if p.missing.get(u_i):
                    missing[index[d]] = list(p.missing[u_i])
        plans.append(Plan(first.dataset, first.fingerprint, units, first.chunk_size, first.settings, missing))
        props.append(dict(readers))
    return plans, props


def _plan_names(plans: list[Plan]) -> list[str]:
    """A unit-id prefix per plan: the dataset (slug and fingerprint), and, where plans on
    the same images differ in their run settings (a protocol variant: bf16, another resize
    path), the settings that differ, so that every unit id is unique."""
    base = [f"{slug(p.dataset.name, 40)}-{p.fingerprint[:6]}" for p in plans]
    first: dict = {}
    out = []
    for b, p in zip(base, plans):
        ref = first.setdefault(b, p.settings)
        diff = [f"{f.name}={getattr(p.settings, f.name)}" for f in dataclasses.fields(p.settings)
                if getattr(p.settings, f.name) != getattr(ref, f.name)]
        out.append(b + (f" [{', '.join(diff)}]" if diff else ""))
    return out


def work_units(plans: list[Plan], models_per_unit: int = MODELS_PER_UNIT,
               chunks_per_unit: int | None = None) -> list[WorkUnit]:
    """Each plan's lacking chunks cut into work units: model groups of at most
    ``models_per_unit`` models (in plan order), runs of ``chunks_per_unit`` lacking chunks
    (default by device: ``CHUNKS_PER_UNIT``). Ordered plan by plan, group by group, so a
    worker taking them in order keeps its models loaded."""
    out = []
    names = _plan_names(plans)
    for p_i, p in enumerate(plans):
        per_unit = chunks_per_unit or CHUNKS_PER_UNIT["cuda" if p.settings.device.startswith("cuda") else "cpu"]
        by_model = collections.OrderedDict()
        for u_i, u in enumerate(p.units):
            by_model.setdefault(u.spec.key, []).append(u_i)
        keys = list(by_model)
        groups = [keys[i:i + models_per_unit] for i in range(0, len(keys), models_per_unit)]
        n = len(p.dataset)
        name = names[p_i]
        for g, gkeys in enumerate(groups):
            members = [u_i for k in gkeys for u_i in by_model[k]]
            todo = sorted({c for u_i in members for c in p.missing.get(u_i, [])})
            for start in range(0, len(todo), per_unit):
                chunks = tuple(todo[start:start + per_unit])
                rows = {c: len(chunk_rows(c, p.chunk_size, n)) for c in chunks}
                evals = sum(rows[c] for u_i in members for c in p.missing.get(u_i, []) if c in rows)
                span = f"{chunks[0]}" if len(chunks) == 1 else f"{chunks[0]}-{chunks[-1]}"
                wid = f"{name}/chunk {span}" + (f"/models {g + 1} of {len(groups)}" if len(groups) > 1 else "")
                out.append(WorkUnit(wid, p_i, g, tuple(members), chunks, tuple(gkeys), sum(rows.values()), evals))
    return out


def build_work(requests: list, settings, *, check_device: bool = True, models_per_unit: int = MODELS_PER_UNIT,
               chunks_per_unit: int | None = None) -> Work:
    """The ``Work`` of ``requests`` (``workload.Request``) under ``settings``: plan each,
    merge by dataset, cut into work units. Reads which chunk files exist; writes nothing."""
    planned = [(r.plan(settings, check_device=check_device), r.property) for r in requests]
    plans, props = merge_plans(planned)
    return Work(plans, props, work_units(plans, models_per_unit, chunks_per_unit), list(requests))


def _seconds(s: float) -> str:
    if math.isnan(s):
        return "unknown (a model without a measured rate)"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else (f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s")


def format_plan(work: Work, table: pd.DataFrame) -> str:
    """The plan for people: per dataset, its models x views, chunks done / to do, the work
    units and the estimated time; then the totals and which models lack a measured rate."""
    lines = []
    for p_i, p in enumerate(work.plans):
        g = table[(table["dataset"] == p.dataset.name) & (table["fingerprint"] == p.fingerprint)]
        units = [wu for wu in work.units if wu.plan == p_i]
        readers = sorted({x for v in work.properties[p_i].values() for x in v})
        pairs = int(g["chunks"].sum())
        done = int(g["chunks_done"].sum())
        lines.append(f"{p.dataset.name} [{p.fingerprint[:8]}]: {len(p.dataset)} images, {p.n_chunks} chunk(s) of "
                     f"{p.chunk_size}; read by {', '.join(readers)}")
        views = g.groupby("model", sort=False)["view"].apply(list)
        lines.append("  models x views: " + "; ".join(f"{m} x {len(v)} ({', '.join(v)})" for m, v in views.items()))
        est = g["est_s"].sum() if g["est_s"].notna().all() else math.nan
        lines.append(f"  cache: {done} of {pairs} unit-chunks done; to do: {pairs - done} unit-chunks, "
                     f"{int(g['images_todo'].sum())} evaluations in {len(units)} work unit(s), est. {_seconds(est)}")
    total_est = table["est_s"].sum() if table["est_s"].notna().all() else math.nan
    lines.append(f"total: {len(work.units)} work unit(s) to do, {int(table['images_todo'].sum())} evaluations "
                 f"(image x model x view), {int(table['chunks_done'].sum())} of {int(table['chunks'].sum())} "
                 f"unit-chunks already in the cache; est. {_seconds(total_est)}")
    unmeasured = sorted(set(table.loc[table["est_s"].isna(), "model"]))
    if unmeasured:
        dev = table["device"].iloc[0]
        lines.append(f"no measured rate on {dev} yet for: {', '.join(unmeasured)} (rates are recorded in "
                     f"<cache>/{_rates.RATES_FILE} as units run; run a few units, then plan again)")
    return "\n".join(lines)
