"""The paper's scale without a model or an image: does every page build from a full study's
cache in reasonable time and memory?

A report of 30 models at the study's full sizes (ImageNet val 50,000 images; ImageNet-C
3.75 M per model; every other benchmark at its real count) is expensive to predict but
should be cheap to turn into pages. This script measures the second half alone:

1. a miniature data root in every real layout (``data.mock``, from real ImageNet sample
   images when ``--source`` has them, else from generated ones) whose datasets are
   inflated, in memory, to their real sizes (``expected_count`` of the dataset registry,
   times ``--scale``): rows repeated under new file names, ImageNet-C as N images x its 75
   corruption cells, VTAB as 800 / 200 / its test size;
2. ``--models`` model specs of the paper's four architectures (never loaded) under their
   own keys;
3. for every page, its own requests (``pages.<property>.requests``) planned by the engine
   (``Request.plan``: the same unit folders a real run writes) and every chunk written
   directly in the engine's cache format (``engine.cache.save_chunk``, ``write_manifest``)
   with random outputs of the right shapes: logits whose argmax is the label with a
   per-model probability (so accuracies differ between models), features, layer taps;
4. every page built from that cache (``build(study, gather(study, requests))``), each in
   its own process as a report runs each notebook in its own kernel, with the kernel's
   environment (numpy's BLAS on one thread unless ``OPENBLAS_NUM_THREADS`` says otherwise):
   its wall time and peak resident memory (``ru_maxrss``) are measured.

Usage (``make scale`` runs the full size)::

    python benchmarks/paper_scale.py [--models 30] [--scale 1.0] [--bootstrap 1000]
        [--work .cache/paper-scale] [--source DATA_ROOT] [--properties robustness ...]

It prints one JSON object (and writes it to ``<work>/paper-scale.json``): per page the
rows, units and bytes written, the fill time, the build time and peak memory, and the
totals. The cache stays in ``<work>`` (``--fresh`` deletes it first).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from beyond_inet_lib.config import load_profile  # noqa: E402
from beyond_inet_lib.pages import PROPERTIES, Study  # noqa: E402
from beyond_inet_lib.data.index import DatasetIndex  # noqa: E402
from beyond_inet_lib.report import BLAS_THREADS_ENV  # noqa: E402

#: the architectures the scale models take turns at (the paper's four, never loaded)
ARCHITECTURES = ("convnext_sup", "vit_sup", "convnext_clip", "vit_clip")
#: rows per chunk file: what a GPU run writes (engine.cache.DEFAULT_CHUNK['cuda'])
CHUNK = 4096
#: ImageNet-X annotates every val image
IMAGENET_X_IMAGES = 50_000
#: width of the random features and layer taps (ViT-B's and ConvNeXt-B's last stage)
FEATURE_DIM = {"vit": 768, "convnext": 1024}
#: layers offered per model for taps (the similarity page picks max_layers of them)
N_LAYERS = 60


# ---------------------------------------------------------------------------- the data
def synthetic_samples(folder: Path) -> Path:
    """A ``imagenet-samples`` folder with one small generated image for each class the
    mock data root uses (``data.mock`` needs only those)."""
    from PIL import Image

    from beyond_inet_lib.data import mock
    from beyond_inet_lib.data.imagenet_labels import imagenet_wnids

    out = folder / "imagenet-samples"
    out.mkdir(parents=True, exist_ok=True)
    wnids = imagenet_wnids()
    for c in mock.choose_classes(4, 2):
        Image.new("RGB", (48, 40), (c % 251, 90, 160)).save(out / f"{wnids[c]}_sample.JPEG")
    return folder


def mock_root(work: Path, source: Path | None) -> Path:
    """The miniature data root under ``work`` (made once)."""
    from beyond_inet_lib.data import mock

    root = work / "data"
    if (root / "imagenet-val").is_dir():
        return root
    if source is None or not (source / "imagenet-samples").is_dir():
        source = synthetic_samples(work / "samples")
    mock.write_mock_root(root, source)
    return root


#: rows a dataset keeps at the least, however small ``scale`` (an interval needs some)
MIN_ROWS = 8


def target_size(name: str, scale: float) -> int | None:
    """The dataset's real size times ``scale``, at least ``MIN_ROWS`` (None: keep it as it
    is: the decision logs are tables of trials, not images)."""
    from beyond_inet_lib.data.registry import DATASETS

    if name.startswith("cue-conflict-"):
        return None
    full = IMAGENET_X_IMAGES if name == "imagenet-x" else DATASETS[name].expected_count
    return None if full is None else max(MIN_ROWS, round(full * scale))


def n_full(name: str) -> int:
    from beyond_inet_lib.data.registry import DATASETS

    return DATASETS[name].expected_count


def _renamed(paths: pd.Series, copy: np.ndarray, sep: str = "~") -> np.ndarray:
    """'a/b/c.JPEG' -> 'a/b/c~000012.JPEG' (copy 0 keeps its name; ``sep=""``: digits only,
    as a cue-conflict name must end: 'dog10-bird2.png' -> 'dog10-bird2000012.png')."""
    p = paths.astype(str).to_numpy()
    stem_ext = np.char.rpartition(p.astype(np.str_), ".")
    tag = np.char.add(sep, np.char.zfill(copy.astype(str), 6))
    renamed = np.char.add(np.char.add(np.char.add(stem_ext[:, 0], tag), "."), stem_ext[:, 2])
    return np.where(copy == 0, p, renamed.astype(object))


def _tiled(t: pd.DataFrame, n: int, sep: str = "~") -> pd.DataFrame:
    """``t``'s rows repeated in order to ``n`` rows, each copy under a new file name
    (``file_name`` too where the table has it)."""
    idx = np.arange(n) % len(t)
    copy = np.arange(n) // len(t)
    out = t.iloc[idx].reset_index(drop=True)
    out["path"] = _renamed(out["path"], copy, sep)
    if "file_name" in out.columns:
        out["file_name"] = _renamed(out["file_name"], copy, sep)
    return out


def inflate(ds: DatasetIndex, n: int) -> DatasetIndex:
    """``ds`` with ``n`` rows (``_tiled``; cue-conflict names stay parseable)."""
    return dataclasses.replace(ds, table=_tiled(ds.table, n, "" if ds.name.startswith("cue-conflict") else "~"))


def inflate_splits(ds: DatasetIndex, test: int, scale: float) -> DatasetIndex:
    """A transfer task at VTAB-1k's sizes times ``scale``: 800 train, 200 val and its
    ``test`` images (each split at least a few)."""
    sizes = {"train": 800, "val": 200, "test": test}
    parts = [_tiled(ds.table[ds.table["split"] == split].reset_index(drop=True),
                    max(MIN_ROWS // 2, round(size * scale)))
             for split, size in sizes.items()]
    return dataclasses.replace(ds, table=pd.concat(parts, ignore_index=True))


def inflate_imagenet_c(ds: DatasetIndex, n_images: int) -> DatasetIndex:
    """ImageNet-C with ``n_images`` val images in each of its corruption x severity cells
    (the same images in every cell, as the real benchmark)."""
    t = ds.table
    cells = t[["corruption", "severity"]].drop_duplicates().to_numpy()
    first = t[(t["corruption"] == cells[0][0]) & (t["severity"] == cells[0][1])].reset_index(drop=True)
    base = first.iloc[np.arange(n_images) % len(first)].reset_index(drop=True)
    names = _renamed(base["file_name"], np.arange(n_images) // len(first))
    wnid, label = base["wnid"].to_numpy(), base["label"].to_numpy()
    frames = []
    for corruption, severity in cells:
        prefix = f"{corruption}/{severity}/"
        frames.append(pd.DataFrame({
            "path": np.char.add(np.char.add(prefix, wnid.astype(np.str_)),
                                np.char.add("/", names.astype(np.str_))).astype(object),
            "label": label, "wnid": wnid, "corruption": corruption, "severity": int(severity),
            "file_name": names}))
    return dataclasses.replace(ds, table=pd.concat(frames, ignore_index=True))


# --------------------------------------------------------------------------- the study
def scale_models(n: int) -> list:
    """``n`` specs of the paper's four architectures in turn, each under its own key,
    label and weights id (so each has its own cache units); never loaded."""
    from beyond_inet_lib.models import get_model

    out = []
    for i in range(n):
        base = get_model(ARCHITECTURES[i % len(ARCHITECTURES)])
        key = f"scale{i:02d}_{base.key}"
        out.append(dataclasses.replace(base, key=key, base_key=key, label=f"{base.label} #{i:02d}",
                                       weights_id=f"{base.weights_id}#scale{i:02d}", paper_key=None))
    return out


@dataclasses.dataclass
class ScaleStudy(Study):
    """A Study whose datasets are the mock root's, inflated to their real sizes times
    ``scale``, whose predictions read chunks of ``CHUNK`` rows, and whose models offer
    ``N_LAYERS`` tap layers without being loaded."""

    scale: float = 1.0

    def dataset(self, name: str, *, show_missing: bool = True, **kw):
        ds = super().dataset(name, show_missing=show_missing, **kw)
        if ds is None:
            return None
        n = target_size(name, self.scale)
        if n is None:
            return ds
        if "split" in ds.table.columns:
            ds = inflate_splits(ds, n_full(name) - 1000, self.scale)
        elif name == "imagenet-c":
            cells = ds.table[["corruption", "severity"]].drop_duplicates().shape[0]
            ds = inflate_imagenet_c(ds, max(1, n // cells))
        elif n != len(ds):
            ds = inflate(ds, n)
        self._input(name, "ok", len(ds))
        return ds

    def predict(self, dataset, views=None, models=None, **kw):
        kw.setdefault("chunk_size", CHUNK)
        return super().predict(dataset, views, models, **kw)


def layer_list(spec) -> pd.DataFrame:
    return pd.DataFrame({"name": [f"blocks.{i}" for i in range(N_LAYERS)], "kind": "block"})


def make_study(prop: str, args) -> ScaleStudy:
    """The paper profile's settings, its cache in the work folder, on the CPU; with
    ``--vtab-tasks N`` only the first N of its transfer tasks."""
    props = load_profile("paper").to_dict()["properties"]
    props["robustness"]["imagenet_c_outputs"] = "top"    # README: a study of many models keeps C's top-1 only
    if args.vtab_tasks is not None:
        props["transfer"]["tasks"] = props["transfer"]["tasks"][:args.vtab_tasks]
    overrides = {"data_root": str(args.data_root), "cache_dir": str(args.work / "cache"),
                 "bootstrap": args.bootstrap, "device": "cpu", "properties": props}
    profile = load_profile("paper", overrides=overrides)
    return ScaleStudy(profile, args.data_root, None, prop, scale_models(args.models), show=False,
                      list_layers=layer_list, progress=False, scale=args.scale)


# ------------------------------------------------------------------------------ the fill
def _random_outputs(unit, table: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator,
                    skill: float) -> dict:
    """Random outputs of ``unit`` for the dataset ``rows``: logits (N, 1000) whose argmax
    is the row's label with probability about ``skill``; features (N, D); layer taps."""
    n = len(rows)
    dim = FEATURE_DIM.get(unit.spec.arch, 768)
    out = {}
    for kind in unit.outputs:
        if kind == "logits":
            z = rng.standard_normal((n, 1000), dtype=np.float32)
            labels = table["label"].to_numpy()[rows]
            hit = (rng.random(n) < skill) & (labels >= 0)
            z[np.flatnonzero(hit), labels[hit]] += 8.0
            out["logits"] = z
        elif kind == "top":
            labels = table["label"].to_numpy()[rows]
            hit = (rng.random(n) < skill) & (labels >= 0)
            out["top_index"] = np.where(hit, labels, rng.integers(0, 1000, n)).astype(np.int32)
            out["top_prob"] = rng.beta(2 + 3 * hit, 2, n).astype(np.float32)   # the right ones surer
        elif kind == "features":
            out["features"] = rng.standard_normal((n, dim), dtype=np.float32)
        elif kind == "layers":
            for name in unit.layers or ():
                out[f"layer::{name}"] = rng.standard_normal((n, dim), dtype=np.float32)
        else:
            raise ValueError(f"paper_scale: no random generator for output kind {kind!r}")
    return out


def fill(study: ScaleStudy, requests, distinct: int | None = None) -> dict:
    """Write every chunk the requests' units lack; returns units, rows and bytes written
    (``bytes_on_disk``: without the hard links). ``distinct``: only the first ``distinct``
    models get outputs of their own; model i's chunk files are hard links to those of model
    i mod ``distinct`` (same architecture, so same shapes): 30 models' files at the disk
    cost of a few, each model still reading its own files."""
    from beyond_inet_lib.engine.cache import chunk_rows, save_chunk, write_manifest

    units = rows = size = on_disk = 0
    settings = study.run_settings
    models = [m.key for m in study.models]
    order = {k: i for i, k in enumerate(models)}
    n_own = len(models) if not distinct else distinct
    for req in requests:
        plan = req.plan(settings, chunk_size=CHUNK)
        n = len(plan.dataset)
        by_key = {(u.spec.key, u.view_name): u for u in plan.units}
        for u_i, chunks in sorted(plan.missing.items()):
            unit = plan.units[u_i]
            unit.dir.mkdir(parents=True, exist_ok=True)
            write_manifest(unit, plan.dataset, plan.fingerprint)
            i = order.get(unit.spec.base_key, 0)
            twin = by_key.get((models[i % n_own], unit.view_name)) if i >= n_own else None
            rng = np.random.default_rng(zlib.crc32(f"{unit.spec.key}|{unit.view_name}|{plan.dataset.name}".encode()))
            skill = 0.4 + 0.5 * i / max(1, n_own - 1)       # the later a model, the more it gets right
            for c in chunks:
                path = unit.chunk_path(c)
                if twin is not None and twin.chunk_path(c).exists() and twin.layers == unit.layers:
                    os.link(twin.chunk_path(c), path)
                else:
                    idx = np.asarray(chunk_rows(c, CHUNK, n), dtype=np.int64)
                    save_chunk(path, {"rows": idx, "skipped_rows": np.zeros(0, dtype=np.int64),
                                      "skipped_reasons": np.zeros(0, dtype=str),
                                      **_random_outputs(unit, plan.dataset.table, idx, rng, skill)})
                    on_disk += path.stat().st_size
                size += path.stat().st_size
                rows += len(chunk_rows(c, CHUNK, n))
            units += 1
    return {"units_written": units, "rows_written": rows, "bytes_written": size, "bytes_on_disk": on_disk}


# --------------------------------------------------------------------------- the pages
def _page_module(prop: str):
    """The property's declaration (``pages.PROPERTIES``): its requests and build."""
    return PROPERTIES[prop]


def fill_page(prop: str, args) -> dict:
    study = make_study(prop, args)
    t0 = time.perf_counter()
    reqs = _page_module(prop).requests(study)
    out = fill(study, reqs, args.distinct)
    out.update(requests=len(reqs), fill_s=round(time.perf_counter() - t0, 1))
    return out


def build_page(prop: str, args) -> tuple[dict, object]:
    """Build one page from the cache (in this process): (its times and this process's
    peak resident memory, the ``Page``)."""
    from beyond_inet_lib.pages.base import gather

    study = make_study(prop, args)
    mod = _page_module(prop)
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    reqs = mod.requests(study)
    t1 = time.perf_counter()
    answers = gather(study, reqs)
    t2 = time.perf_counter()
    page = mod.build(study, answers)
    t3 = time.perf_counter()
    return {"property": prop, "requests_s": round(t1 - t0, 1), "read_s": round(t2 - t1, 1),
            "build_s": round(t3 - t2, 1), "total_s": round(t3 - t0, 1),
            "cpu_s": round(_cpu_seconds() - cpu0, 1), "peak_rss_gb": round(_peak_rss_bytes() / 2**30, 2), "headline_rows": len(page.headline),
            "comparisons": len(page.comparisons)}, page


def _cpu_seconds() -> float:
    """This process's user + system CPU time: the measure that does not depend on what
    else the machine runs (wall time does)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_rss_bytes() -> int:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb if sys.platform == "darwin" else kb * 1024


def _in_child(prop: str, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--build-one", prop, "--models", str(args.models),
           "--scale", str(args.scale), "--bootstrap", str(args.bootstrap), "--work", str(args.work)]
    if args.vtab_tasks is not None:
        cmd += ["--vtab-tasks", str(args.vtab_tasks)]
    # the environment a report gives its kernels: numpy / scipy's BLAS on one thread
    # unless the caller chose (report.build_report)
    env = {**os.environ, BLAS_THREADS_ENV: os.environ.get(BLAS_THREADS_ENV) or "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"property": prop, "failed": done.stderr.strip().splitlines()[-1:] or ["?"],
                "stderr_tail": done.stderr[-3000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args) -> dict:
    if args.distinct is not None and (args.distinct < 1 or args.distinct % len(ARCHITECTURES)):
        raise SystemExit(f"--distinct {args.distinct}: a positive multiple of {len(ARCHITECTURES)} "
                         f"(each hard link joins models of one architecture)")
    args.work.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        shutil.rmtree(args.work / "cache", ignore_errors=True)
    args.data_root = mock_root(args.work, args.source)
    props = args.properties or list(PROPERTIES)
    fills, builds = {}, {}
    for prop in props:
        print(f"fill {prop} ...", file=sys.stderr, flush=True)
        fills[prop] = f = fill_page(prop, args)
        print(f"  {prop}: {f['units_written']} units, {f['bytes_written'] / 2**30:.2f} GB written "
              f"({f['bytes_on_disk'] / 2**30:.2f} GB on disk), {f['fill_s']} s", file=sys.stderr, flush=True)
    for prop in props:
        print(f"build {prop} ...", file=sys.stderr, flush=True)
        builds[prop] = b = _in_child(prop, args) if args.processes else build_page(prop, args)[0]
        print(f"  {prop}: " + (f"failed: {b['failed']}" if "failed" in b else
                               f"{b['total_s']} s (reading {b['read_s']} s), peak {b['peak_rss_gb']} GB"),
              file=sys.stderr, flush=True)
    ok = [b for b in builds.values() if "failed" not in b]
    result = {
        "models": args.models, "scale": args.scale, "bootstrap": args.bootstrap,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(), "fill": fills, "build": builds,
        "fill_s": round(sum(f["fill_s"] for f in fills.values()), 1),
        "distinct": args.distinct,
        "cache_gb": round(sum(f["bytes_written"] for f in fills.values()) / 2**30, 2),
        "disk_gb": round(sum(f["bytes_on_disk"] for f in fills.values()) / 2**30, 2),
        "build_s": round(sum(b["total_s"] for b in ok), 1),
        "build_cpu_s": round(sum(b["cpu_s"] for b in ok), 1),
        "peak_rss_gb": max((b["peak_rss_gb"] for b in ok), default=None),
        "failed": [b["property"] for b in builds.values() if "failed" in b],
    }
    (args.work / "paper-scale.json").write_text(json.dumps(result, indent=1))
    return result


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=30)
    p.add_argument("--scale", type=float, default=1.0, help="fraction of every dataset's real size")
    p.add_argument("--bootstrap", type=int, default=1000, help="resamples per interval (the paper profile's)")
    p.add_argument("--work", type=Path, default=PROJECT / ".cache" / "paper-scale")
    p.add_argument("--source", type=Path, default=None,
                   help="a data root with imagenet-samples/ (and cue-conflict/, reference/) for the mock root")
    p.add_argument("--properties", nargs="*", default=None, choices=PROPERTIES)
    p.add_argument("--vtab-tasks", type=int, default=None, help="only the first N transfer tasks")
    p.add_argument("--distinct", type=int, default=None,
                   help="only this many models get outputs of their own, the others hard links to them "
                        "(a multiple of 4: same architectures); make scale: 4, so 30 models fit on a disk")
    p.add_argument("--fresh", action="store_true", help="delete the work folder's cache first")
    p.add_argument("--in-process", dest="processes", action="store_false",
                   help="build the pages in this process (default: one process each, as a report)")
    p.add_argument("--build-one", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    args.work = args.work.resolve()
    if args.build_one:
        args.data_root = args.work / "data"
        print(json.dumps(build_page(args.build_one, args)[0]))
        return
    print(json.dumps(run(args), indent=1))


if __name__ == "__main__":
    main()
