"""Every property notebook runs through papermill on the tiny profile and exports a page
with real numbers and charts; one real page renders offline in headless Chromium."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from beyond_inet_lib import engine, execution, metrics
from beyond_inet_lib.config import load_profile, resolve_data_root
from beyond_inet_lib.pages import PROPERTIES
from beyond_inet_lib.report import build_report

from cachecmp import chunk_files, tiny_profile

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    """The tiny profile's report, built after `beyond-inet run` computed its cache (a fresh
    one): the notebooks then only read; the chunk files before and after are kept."""
    if resolve_data_root(None) is None:
        pytest.skip("no data root (DATA_ROOT or ./data): the notebooks need the sample images")
    folder = tmp_path_factory.mktemp("tiny")
    profile = tiny_profile(folder, "tiny", folder / "cache")
    _, run = execution.run(load_profile(profile), engine="local", progress=False)
    assert run.ok and run.done
    before = chunk_files(folder / "cache")
    result = build_report(str(profile), out_dir=folder / "report", progress=False)
    result["chunks"] = (before, chunk_files(folder / "cache"))
    return result


def test_report_after_run_computes_nothing(tiny_report):
    """`run` made exactly the notebooks' requests: the report wrote no chunk file, new or
    rewritten."""
    before, after = tiny_report["chunks"]
    assert before and after == before


def test_every_notebook_executes_and_exports(tiny_report):
    pages = tiny_report["pages"]
    assert sorted(pages) == sorted(PROPERTIES)
    failed = {p: (v["ename"], v["evalue"]) for p, v in pages.items() if v["status"] != "ok"}
    assert not failed, failed
    for prop, page in pages.items():
        html = Path(page["html"]).read_text()
        assert "vegaEmbed(" in html, f"{prop}: no chart"
        assert not re.search(r"<script[^>]+src=[\"']https?:", html), f"{prop}: loads a script from the network"
        assert "report.setup(" not in html and "import pandas" not in html, f"{prop}: code cells are shown"
        assert "Finding" in html and "Caveats" in html, f"{prop}: missing sections"
        assert "Traceback" not in html, f"{prop}: an error is shown"
        assert "PosixPath(" not in html, f"{prop}: a return value is printed under the findings"


def test_index_summarises_every_property_with_finite_numbers(tiny_report):
    out = Path(tiny_report["out_dir"])
    index = (out / "index.html").read_text()
    for prop in PROPERTIES:
        assert f'href="{prop}.html"' in index
        summary = json.loads((out / f"{prop}.summary.json").read_text())
        rows = summary["rows"] if isinstance(summary, dict) else summary
        assert rows, f"{prop}: no headline numbers"
        for row in rows:
            assert math.isfinite(row["value"]), (prop, row)
            assert "untrained" in row["note"], "tiny models must be marked untrained"


def test_calibration_headline_equals_an_independent_recomputation(tiny_report):
    """The page's number is the metric of the cached predictions, nothing else."""
    out = Path(tiny_report["out_dir"])
    summary = json.loads((out / "calibration.summary.json").read_text())
    rows = summary["rows"] if isinstance(summary, dict) else summary
    prof = load_profile("tiny")
    from beyond_inet_lib.data import load_dataset

    ds = load_dataset("imagenet-samples", resolve_data_root(None))
    ds = ds.spread(prof.settings("calibration").max_images)
    res = engine.predict(prof.models, ds, settings=prof.run_settings(), progress=False)
    for key in prof.models:
        r = res.only(key)
        p = r.probs()
        # the headline is the debiased ECE (docs/protocols.md §3), of the plug-in bins
        ece = metrics.debiased_calibration_error(p.max(1), p.argmax(1) == r.table["label"].to_numpy(),
                                                 prof.settings("calibration").n_bins)
        from beyond_inet_lib.models import get_model

        label = get_model(key).label
        shown = [row["value"] for row in rows if row["metric"].startswith("ECE") and row["model"].startswith(label)]
        assert shown and abs(shown[0] - ece) < 1e-9, (key, shown, ece)


def test_a_real_page_renders_offline(tiny_report, tmp_path):
    from test_browser import CHROMIUM, _network_namespace_available, chart_ids, load, rendered

    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (make browser)")
    ok, why = _network_namespace_available()
    if not ok:
        pytest.skip(why)
    page = Path(tiny_report["pages"]["calibration"]["html"])
    ids = chart_ids(page)
    assert len(ids) >= 2
    dom, console = load(CHROMIUM, page, tmp_path / "chromium")
    assert console == [], console
    assert all(rendered(dom, i) for i in ids)
