"""The exported pages render in a real browser with networking OFF.

Headless Chromium (Debian package, installed by `make browser`) runs under `unshare -n`
(a new, empty network namespace: no interface but a down loopback), so any script or
style the page tried to fetch would fail and be logged. We check the DOM after scripts ran
(every chart div holds a rendered <svg>/<canvas>) and that the console stayed silent: with
``--enable-logging=stderr`` Chromium prints every console message, error or not, and every
uncaught exception or failed resource load as a CONSOLE line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import report_project as fake

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.slow


def _network_namespace_available() -> tuple[bool, str]:
    if shutil.which("unshare") is None:
        return False, "`unshare` (util-linux) is not installed"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return False, f"`unshare -n` is not permitted here (needs root): {probe.stderr.strip()}"
    return True, ""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian chromium with `make browser` "
                    "(apt-get install chromium) to run the offline rendering test")
    ok, why = _network_namespace_available()
    if not ok:
        pytest.skip(f"cannot switch networking off for the browser: {why}")
    return CHROMIUM


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    result = fake.build(root)
    return Path(result["out_dir"])


def load(browser: Path, page: Path, profile_dir: Path) -> tuple[str, list[str]]:
    """Open ``page`` offline; return (DOM after scripts ran, console lines)."""
    cmd = ["unshare", "-n", str(browser), "--headless", "--no-sandbox", "--disable-gpu",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile_dir}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri()]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"chromium failed ({run.returncode}): {run.stderr[-2000:]}"
    # Chromium's own UI pages (chrome://...) log too, e.g. "Slow network is detected" on a
    # loaded machine: only messages from the page under test count.
    console = [line for line in run.stderr.splitlines()
               if ":CONSOLE" in line and "source: chrome://" not in line]
    return run.stdout, console


def chart_ids(page: Path) -> list[str]:
    return sorted(set(re.findall(r'<div [^>]*\bid="(bi-chart-[0-9a-f]{12})"', page.read_text())))


def rendered(dom: str, div_id: str) -> bool:
    """Whether the chart div (attributes in any order) holds an <svg> or <canvas>."""
    return re.search(rf'<div [^>]*\bid="{div_id}"[^>]*>\s*<(svg|canvas)\b', dom) is not None


def test_chart_page_renders_every_chart_offline_without_console_messages(browser, pages, tmp_path):
    page = pages / "shape_bias.html"
    ids = chart_ids(page)
    assert len(ids) == 2, "the fake notebook draws two charts"
    dom, console = load(browser, page, tmp_path / "chromium")
    assert console == [], "console messages while rendering offline:\n" + "\n".join(console)
    for div in ids:
        assert rendered(dom, div), f"chart {div} was not rendered (no <svg>/<canvas> inside its div)"
    assert ">The chart library is not loaded" not in dom


@pytest.mark.parametrize("name", ["calibration.html", "index.html"])
def test_other_pages_load_offline_without_console_messages(browser, pages, tmp_path, name):
    dom, console = load(browser, pages / name, tmp_path / "chromium")
    assert console == [], "console messages while loading offline:\n" + "\n".join(console)
    assert "<body" in dom


def test_the_check_detects_a_chart_that_cannot_render(browser, tmp_path):
    """Guard against a vacuous test: a chart whose bundle is missing is not counted as
    rendered, and script errors do reach the captured console."""
    import altair as alt
    import pandas as pd

    from beyond_inet_lib import charts

    chart = alt.Chart(pd.DataFrame({"a": [1]})).mark_bar().encode(y="a:Q")
    page = tmp_path / "broken.html"
    page.write_text("<html><body>" + charts.chart_html(chart, div_id="bi-chart-000000000000")
                    + "<script>console.error('boom-1'); undefinedFunction();</script></body></html>")
    dom, console = load(browser, page, tmp_path / "chromium")
    assert not rendered(dom, "bi-chart-000000000000")
    assert ">The chart library is not loaded" in dom
    assert any("boom-1" in line for line in console), console
    assert any("undefinedFunction" in line for line in console), console


def test_the_single_file_report_renders_every_chart_offline(browser, pages, tmp_path):
    """The one-file export: the index and every page, each page's charts drawn with the one
    chart library the file carries, nothing fetched, links within the file."""
    single = pages / "tiny-report.html"
    text = single.read_text()
    page_charts = chart_ids(pages / "shape_bias.html")
    assert sorted(set(re.findall(r'<div [^>]*\bid="(bi-chart-[0-9a-f]{12})"', text))) == page_charts
    dom, console = load(browser, single, tmp_path / "chromium")
    assert console == [], "console messages while rendering offline:\n" + "\n".join(console)
    for div in page_charts:
        assert rendered(dom, div), f"chart {div} was not rendered in the single file"
    assert 'id="index"' in dom and 'id="shape_bias"' in dom and 'id="calibration"' in dom
    assert fake.ERROR_TEXT in dom and "Narration that should appear on the page" in dom


def test_a_click_on_a_model_highlights_it_on_every_chart_of_the_page(browser, tmp_path):
    """Real mouse clicks (the DevTools protocol's input pipeline: hit testing as a user's
    click) on a page of two charts: a legend entry of one chart highlights its model on
    both; the same entry again clears; a bar picks its model; empty chart space clears."""
    import time

    import pandas as pd

    from beyond_inet_lib import charts
    from cdp import Browser

    bars = pd.DataFrame({"model": ["A", "B", "C"], "v": [0.3, 0.5, 0.7]})
    lines = pd.DataFrame({"transform": ["scale"] * 6, "model": ["A", "A", "B", "B", "C", "C"],
                          "level": [1, 2] * 3, "top1": [0.5, 0.4, 0.6, 0.5, 0.7, 0.6]})
    page = tmp_path / "two.html"
    page.write_text("<html><body>" + charts.chart_html(charts.bar_by_model(bars, "v", "bars"), include_bundle=True,
                                                       div_id="bi-chart-aaaaaaaaaaaa")
                    + charts.chart_html(charts.invariance_lines(lines), div_id="bi-chart-bbbbbbbbbbbb")
                    + "</body></html>")
    b = Browser(browser, tmp_path / "chromium")
    try:
        b.open(page.as_uri())
        b.wait_for("document.querySelectorAll('.bi-chart svg').length == 2")

        def centres(selector):
            return b.eval(f"""Array.from(document.querySelectorAll("{selector}")).map(e => {{
                var r = e.getBoundingClientRect(); return [e.textContent, r.x + r.width / 2, r.y + r.height / 2]; }})""")

        def bar_opacity():     # the bar chart's bars, top to bottom: A, B, C
            return b.eval("""Array.from(document.querySelectorAll("#bi-chart-aaaaaaaaaaaa .mark-rect path"))
                             .map(e => Number(e.getAttribute("opacity") || 1))""")

        def click(x, y):
            b.click(x, y)
            time.sleep(0.5)

        legend = {t: (x, y) for t, x, y in centres("#bi-chart-bbbbbbbbbbbb .role-legend-label text")}
        assert sorted(legend) == ["A", "B", "C"]
        assert bar_opacity() == [1, 1, 1]
        click(*legend["B"])
        assert b.eval("window.biHighlight.current()") == "B"
        assert bar_opacity() == [charts.HIGHLIGHT_FADE, 1, charts.HIGHLIGHT_FADE]
        line_points = b.eval("""Array.from(document.querySelectorAll("#bi-chart-bbbbbbbbbbbb .mark-symbol.role-mark path"))
                                .map(e => [e.getAttribute("fill") || e.getAttribute("stroke"), Number(e.getAttribute("opacity") || 1)])""")
        colours = charts.model_colors(["A", "B", "C"])
        assert {c: o for c, o in line_points} == {colours["A"]: charts.HIGHLIGHT_FADE, colours["B"]: 1,
                                                   colours["C"]: charts.HIGHLIGHT_FADE}
        click(*legend["B"])
        assert b.eval("window.biHighlight.current()") is None and bar_opacity() == [1, 1, 1]
        _, x, y = centres("#bi-chart-aaaaaaaaaaaa .mark-rect path")[2]
        click(x, y)
        assert b.eval("window.biHighlight.current()") == "C"
        assert bar_opacity() == [charts.HIGHLIGHT_FADE, charts.HIGHLIGHT_FADE, 1]
        box = b.eval("""(function () { var r = document.querySelector("#bi-chart-aaaaaaaaaaaa svg").getBoundingClientRect();
                         return [r.right - 4, r.top + 4]; })()""")
        click(*box)
        assert b.eval("window.biHighlight.current()") is None and bar_opacity() == [1, 1, 1]
    finally:
        b.close()


def test_every_legend_of_models_names_them_whole(browser, tmp_path):
    """Each builder that names models in a legend shows their whole names (long ones, as
    the paper's are), once each: no '…' and no legend dropped by a layer; the scatter names
    each point beside it instead."""
    import pandas as pd

    from beyond_inet_lib import charts
    from cdp import Browser

    models = ["ViT-B/16 supervised, DeiT-III (IN-21k -> IN-1k)", "OpenCLIP ConvNeXt-B (LAION-400M), a long tag"]
    two = pd.DataFrame({"model": models * 2, "x": ["val", "val", "v2", "v2"], "coverage": [0.5, 0.5, 1.0, 1.0],
                        "y": [0.8, 0.7, 0.6, 0.5], "ci_low": [0.7, 0.6, 0.5, 0.4], "ci_high": [0.9, 0.8, 0.7, 0.6],
                        "panel": ["a", "a", "b", "b"]})
    levels = pd.DataFrame({"model": models * 2, "level label": ["1", "1", "2", "2"], "level order": [0, 0, 1, 1],
                           "axis": ["contrast"] * 4, "accuracy": [0.9, 0.8, 0.5, 0.4],
                           "ci_low": [0.8, 0.7, 0.4, 0.3], "ci_high": [0.95, 0.9, 0.6, 0.5]})
    scatter = pd.DataFrame({"model": models, "a": [0.5, 0.6], "b": [0.2, 0.3], "a low": [0.4, 0.5],
                            "a high": [0.6, 0.7]})
    inv = pd.DataFrame({"model": models * 2, "transform": ["scale"] * 4, "level": [1, 1, 2, 2], "top1": [0.8, 0.7, 0.6, 0.5]})
    built = {"lines": charts.lines_by_model(two, "x", "y"),
             "risk": charts.lines_by_model(two, "coverage", "y", ordinal=False, points=False),
             "facets": charts.lines_by_model(two, "x", "y", facet="panel"),
             "levels": charts.level_lines(levels), "invariance": charts.invariance_lines(inv),
             "scatter": charts.benchmark_scatter(scatter, "a", "b")}
    page = tmp_path / "legends.html"
    page.write_text("<html><body>" + "".join(
        charts.chart_html(c, include_bundle=(i == 0), div_id=f"bi-chart-{i:012d}") for i, c in enumerate(built.values()))
        + "</body></html>")
    b = Browser(browser, tmp_path / "chromium")
    try:
        b.open(page.as_uri())
        b.wait_for(f"document.querySelectorAll('.bi-chart svg').length == {len(built)}")
        for i, name in enumerate(built):
            labels = b.eval(f"""Array.from(document.querySelectorAll("#bi-chart-{i:012d} .role-legend-label text"))
                                .map(e => e.textContent)""")
            if name == "scatter":       # no legend: each point is named beside it
                labels = b.eval(f"""Array.from(document.querySelectorAll("#bi-chart-{i:012d} .mark-text.role-mark text"))
                                    .map(e => e.textContent)""")
            assert labels == models, (name, labels)
    finally:
        b.close()
