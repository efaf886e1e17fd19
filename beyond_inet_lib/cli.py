"""The ``beyond-inet`` command.

    beyond-inet report [--profile demo] [--data-root DIR] [--only calibration,...]
    beyond-inet data check [--root DIR] [--profile P]
    beyond-inet data get NAME [--root DIR] [--force]
    beyond-inet models
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


def _cmd_report(a):
    from .report import build_report

    props = [p.strip() for p in a.only.split(",")] if a.only else None
    out = build_report(a.profile, data_root=a.data_root, properties=props)
    failed = [p for p, v in out["pages"].items() if v["status"] != "ok"]
    print(f"report: {out['index']}  ({out['duration_s']:.0f} s"
          + (f"; FAILED: {', '.join(failed)})" if failed else ")"))
    return 1 if failed else 0


def _cmd_data_check(a):
    from .config import load_profile, resolve_data_root
    from .data import check_datasets, format_check_table

    prof = load_profile(a.profile, check_models=False) if a.profile else None
    root = Path(a.root) if a.root else resolve_data_root(prof.data_root if prof else None)
    if root is None:
        print("no data root: pass --root DIR (or create ./data)", file=sys.stderr)
        return 2
    print(f"data root: {root}")
    print(format_check_table(check_datasets(root, profile=prof)))
    return 0


def _cmd_data_get(a):
    from .config import resolve_data_root
    from .downloads import get_dataset

    root = Path(a.root) if a.root else resolve_data_root(None) or Path("data")
    path = get_dataset(a.name, root, force=a.force)
    print(f"{a.name}: ready at {path}")
    return 0


def _cmd_models(a):
    from .models import list_models

    import pandas as pd

    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        print(list_models().to_string(index=False))
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

    return load_profile(a.profile, {"data_root": a.data_root} if a.data_root else None)


def _properties(a):
    return [p.strip() for p in a.only.split(",")] if a.only else None


def _cmd_plan(a):
    import json

    from . import execution
    from .execution import rates

    prof = _study_profile(a)
    work = execution.plan_work(prof, a.data_root, properties=_properties(a), device=a.device)
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
                                 address=a.address, workers=a.workers, threads=a.threads)
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
    r.add_argument("--only", default=None, help="comma-separated properties (default: all eight)")
    r.set_defaults(fn=_cmd_report)

    d = sub.add_parser("data", help="check or get datasets")
    dsub = d.add_subparsers(dest="data_cmd", required=True)
    c = dsub.add_parser("check", help="which datasets are found under the data root")
    c.add_argument("--root", default=None)
    c.add_argument("--profile", default=None)
    c.set_defaults(fn=_cmd_data_check)
    g = dsub.add_parser("get", help="download and unpack a dataset with a public source")
    g.add_argument("name")
    g.add_argument("--root", default=None)
    g.add_argument("--force", action="store_true")
    g.set_defaults(fn=_cmd_data_get)

    m = sub.add_parser("models", help="list the registered models")
    m.set_defaults(fn=_cmd_models)

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
        q.add_argument("--only", default=None, help="comma-separated properties (default: all eight)")
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
        print(f"beyond-inet: {e}", file=sys.stderr)
        return 2
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
