"""record() and build_report(): executed notebooks, HTML without code, a failure that does
not stop the others, and an index page that shows what the notebooks recorded."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pandas as pd
import pytest

import report_project as fake
from beyond_inet_lib import report
from beyond_inet_lib.config import ProfileError
from beyond_inet_lib.pages import HEADLINE_FIELDS, PROPERTIES


# ------------------------------------------------------------------------------ record
def headline(**extra) -> pd.DataFrame:
    return pd.DataFrame({"model": ["a", "b"], "metric": ["ECE", "ECE"], "value": [0.03, 0.14], **extra})


def test_properties_order_comes_from_the_one_registry():
    assert report.PROPERTIES is PROPERTIES
    assert list(PROPERTIES)[0] == "mistakes" and list(PROPERTIES)[-1] == "similarity" and len(PROPERTIES) == 9
    assert list(PROPERTIES).index("humans") == list(PROPERTIES).index("shape_bias") + 1


def test_record_writes_summary_json(tmp_path):
    path = report.record("calibration", headline(paper=[0.028, float("nan")], better=["lower", "lower"],
                                                 note=["", "untrained"]), tmp_path)
    assert path == tmp_path / "calibration.summary.json"
    payload = json.loads(path.read_text())
    assert payload["property"] == "calibration"
    assert payload["rows"][0] == {"model": "a", "metric": "ECE", "value": 0.03, "ci_low": None, "ci_high": None,
                                  "paper": 0.028, "published": None, "published_source": None,
                                  "published_flag": None, "better": "lower", "note": "",
                                  "rank": None, "rank_low": None, "rank_high": None, "field_percentile": None,
                                  "field_percentile_low": None, "field_percentile_high": None, "field_n": None,
                                  "field_source": None, "field_published": None}
    assert list(payload["rows"][0]) == list(HEADLINE_FIELDS)   # every row has every field, in order
    assert payload["rows"][1]["paper"] is None          # NaN -> null, valid JSON
    assert [p.name for p in tmp_path.iterdir()] == ["calibration.summary.json"]  # no temp left
    back = report.read_summaries(tmp_path)
    assert list(back["value"]) == [0.03, 0.14] and set(back["property"]) == {"calibration"}


def test_record_is_a_no_op_without_report_dir(tmp_path):
    assert report.record("calibration", headline(), None) is None


@pytest.mark.parametrize("table, message", [
    (pd.DataFrame({"model": ["a"], "value": [1.0]}), r"row 0: lacks field\(s\) \['metric'\]"),
    (headline(better=["up", "lower"]), "better='up'"),
    (headline(ci=[0.1, 0.2]), r"row 0: unknown field\(s\) \['ci'\]"),
    ([{"model": "a", "metric": "ECE", "value": "0.03"}], "value='0.03' is not a number"),
    (["not a row"], "expected a mapping"),
])
def test_record_rejects_bad_tables(tmp_path, table, message):
    with pytest.raises(ValueError, match=message):
        report.record("calibration", table, tmp_path)
    assert not (tmp_path / "calibration.summary.json").exists()


@pytest.mark.parametrize("empty", [[], pd.DataFrame([]), pd.DataFrame(columns=["model", "metric", "value"])])
def test_a_page_without_its_data_records_no_row_and_its_inputs(tmp_path, empty):
    """An empty headline is valid (a page whose data is absent): the summary holds no row,
    and says which inputs were absent (the index's "no numbers: its data was not found")."""
    inputs = [{"dataset": "imagenet-r", "status": "absent", "images": 0, "note": "/data/imagenet-r"}]
    path = report.record("calibration", empty, tmp_path, inputs=inputs)
    payload = json.loads(path.read_text())
    assert payload["rows"] == [] and payload["inputs"] == inputs
    assert report._no_numbers({"calibration": {"status": "ok"}}, {"calibration": payload}) == {
        "calibration": "its data was not found (imagenet-r)"}


def test_headline_rows_from_a_study_carry_the_metrics_direction_and_pass_the_schema(tmp_path):
    """A row is made in one place (``Study.headline_row``): the declared metric gives its
    name, direction and paper number; an untrained model is noted; the schema takes it as is."""
    from beyond_inet_lib import stats
    from beyond_inet_lib.pages.calibration import ECE_METRIC
    from page_inputs import study

    s = study("calibration", models=("convnext_sup", "tiny_vit_untrained"))
    iv = stats.Interval(estimate=0.05, low=0.04, high=float("inf"), level=0.95, n_boot=10, n_units=5)
    metric = ECE_METRIC.at(dataset="imagenet-val")
    sup, tiny = s.headline_row("convnext_sup", metric, 0.05, iv), s.headline_row("tiny_vit_untrained", metric, 0.2)
    assert sup["metric"] == "ECE (imagenet-val)" and sup["better"] == "lower" and sup["note"] == ""
    assert sup["paper"] == 0.028 and (sup["ci_low"], sup["ci_high"]) == (0.04, None)
    assert tiny["paper"] is None and tiny["note"] == "untrained" and tiny["ci_low"] is None
    payload = json.loads(report.record("calibration", [sup, tiny], tmp_path).read_text())
    assert payload["rows"] == [dict(sup), dict(tiny)]


def test_record_rejects_unknown_property(tmp_path):
    with pytest.raises(ValueError, match="unknown property 'calibraton'"):
        report.record("calibraton", headline(), tmp_path)


# ------------------------------------------------------------------------------ index pieces
@pytest.mark.parametrize("value, text", [
    (0.02834, "0.0283"), (1.4349, "1.43"), (85.52, "85.5"), (1234.5, "1,234"), (None, "–"),
    (float("nan"), "–"), (3, "3")])
def test_format_number(value, text):
    assert report.format_number(value) == text


def test_summary_table_rows_are_metrics_and_columns_are_models():
    s = pd.DataFrame([
        {"property": "calibration", "model": "b", "metric": "ECE", "value": 0.14, "paper": 0.133,
         "better": "lower", "note": None},
        {"property": "calibration", "model": "a", "metric": "ECE", "value": 0.03, "paper": math.nan,
         "better": "lower", "note": "untrained"},
        {"property": "robustness", "model": "a", "metric": "top-1 V2", "value": 75.6, "paper": None,
         "better": "higher", "note": None},
    ])
    page = report.summary_table_html(s, models=["a", "b"])
    header = re.search(r"<thead>(.*?)</thead>", page).group(1)
    assert re.findall(r"<th>(.*?)</th>", header) == ["property", "metric", "a", "b"]
    rows = re.findall(r"<tr>(.*?)</tr>", re.search(r"<tbody>(.*)</tbody>", page).group(1))
    assert len(rows) == 2
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[0])
    assert "0.03" in cells[2] and "untrained" in cells[2] and "paper" not in cells[2]
    assert "0.14" in cells[3] and "paper 0.133" in cells[3]
    assert "lower is better" in cells[1]
    assert re.findall(r"<td[^>]*>(.*?)</td>", rows[1])[3] == "–"   # b has no robustness number


# ------------------------------------------------------------------------------ build_report
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    return root, fake.build(root)


@pytest.mark.slow
def test_both_pages_exist_and_statuses_are_right(built):
    root, result = built
    out = root / "reports" / "tiny"
    assert result["out_dir"] == str(out) and result["profile"] == "tiny"
    assert result["ok"] is False
    assert result["pages"]["shape_bias"]["status"] == "ok"
    bad = result["pages"]["calibration"]
    assert (bad["status"], bad["ename"], bad["evalue"]) == ("failed", "RuntimeError", fake.ERROR_TEXT)
    for p in ("shape_bias", "calibration"):
        assert (out / f"{p}.html").is_file() and (out / f"{p}.ipynb").is_file()
    assert (out / "index.html").is_file()
    assert json.loads((out / "run.json").read_text())["pages"]["calibration"]["status"] == "failed"


@pytest.mark.slow
def test_pages_show_outputs_but_no_code(built):
    root, _ = built
    good = (root / "reports" / "tiny" / "shape_bias.html").read_text()
    assert fake.SOURCE_MARKER not in good
    assert "import pandas" not in good
    assert "Narration that should appear on the page." in good
    assert good.count("bi-chart-") >= 2            # both charts were displayed
    # papermill passed the profile path (absolute) into the parameters cell:
    assert f"profile parameter: {root / 'tiny.yaml'}" in good
    bad = (root / "reports" / "tiny" / "calibration.html").read_text()
    assert fake.ERROR_TEXT in bad                   # the failing page shows its error


@pytest.mark.slow
def test_no_page_loads_a_script_from_the_network(built):
    root, _ = built
    for page in (root / "reports" / "tiny").glob("*.html"):
        srcs = re.findall(r"<script[^>]*\bsrc\s*=\s*[\"']?([^\"' >]+)", page.read_text())
        assert not [s for s in srcs if s.startswith(("http:", "https:", "//"))], (page.name, srcs)


@pytest.mark.slow
def test_index_marks_failure_and_shows_recorded_numbers(built):
    root, _ = built
    index = (root / "reports" / "tiny" / "index.html").read_text()
    row = re.search(r'<tr><td><a href="calibration.html">calibration</a></td>(.*?)</tr>', index, re.S).group(1)
    assert "failed" in row and fake.ERROR_TEXT in row and "RuntimeError" in row
    ok_row = re.search(r'<tr><td><a href="shape_bias.html">shape_bias</a></td>(.*?)</tr>', index, re.S).group(1)
    assert ">ok<" in ok_row
    summary = re.search(r'<table class="summary">(.*?)</table>', index, re.S).group(1)
    assert f"<th>{fake.MODEL}</th>" in summary
    assert "0.432" in summary and "paper 0.399" in summary and "untrained" in summary
    assert "models:\n- tiny_vit_untrained" in index         # validated profile as YAML
    for name in ("python", "torch", "timm", "open_clip", "beyond_inet_lib"):
        assert f"<td>{name}</td>" in index
    # offline: no script is loaded from anywhere (the leaderboard's sort is inline)
    assert not re.search(r"<script[^>]+src=", index)


@pytest.mark.slow
def test_failed_notebook_leaves_no_summary(built):
    root, _ = built
    out = root / "reports" / "tiny"
    assert (out / "shape_bias.summary.json").is_file()
    assert not (out / "calibration.summary.json").exists()


def test_bad_profile_fails_before_anything_runs(tmp_path):
    notebooks, _ = fake.make_project(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [tiny_vit_untrained]\nbatch_sise: 8\n")
    with pytest.raises(ProfileError, match="batch_sise.*did you mean 'batch_size'"):
        report.build_report(str(bad), notebooks_dir=notebooks, reports_root=tmp_path / "reports",
                            check_models=False, progress=False)
    assert not (tmp_path / "reports").exists()


def test_unknown_property_fails_before_anything_runs(tmp_path):
    notebooks, profile = fake.make_project(tmp_path)
    with pytest.raises(ValueError, match="unknown property 'shapebias'"):
        report.build_report(str(profile), properties=["shapebias"], notebooks_dir=notebooks,
                            reports_root=tmp_path / "reports", check_models=False, progress=False)
    assert not (tmp_path / "reports").exists()


def test_kernels_talk_over_unix_sockets_not_tcp(tmp_path, capfd):
    """papermill's kernel runs with transport=ipc: no loopback port, and the terminal of
    `make report` does not get ipykernel's "running over TCP without encryption" warning.
    Its connection file and sockets live in a temporary folder, not in the kernel's working
    directory (the project), while it runs and after."""
    import json

    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import json, os; from ipykernel.kernelapp import IPKernelApp\n"
        "app = IPKernelApp.instance()\n"
        "print(json.dumps([app.transport, app.ip, app.connection_file, os.listdir('.')]))")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cwd = tmp_path / "project"
    cwd.mkdir()
    status = report._execute(nb, tmp_path / "out.ipynb", {}, kernel_name="python3", cwd=cwd,
                             timeout_per_cell=60)
    assert status["status"] == "ok", status
    transport, ip, connection_file, listed = json.loads(nbformat.read(tmp_path / "out.ipynb", 4).cells[0]
                                                        .outputs[0]["text"])
    assert transport == "ipc" and listed == []        # nothing in the working directory while it ran
    assert Path(ip).parent == Path(connection_file).parent != cwd and Path(ip).is_absolute()
    assert not Path(ip).parent.exists()               # the temporary folder is gone after the run
    assert "without encryption" not in capfd.readouterr().err
    assert list(cwd.iterdir()) == []


BAR_NOTEBOOK = '''# %% tags=["parameters"]
profile = "unset"
data_root = None
report_dir = None

# %%
from tqdm import tqdm
from beyond_inet_lib import report
from beyond_inet_lib.config import progress_enabled
report.setup(profile, data_root, report_dir, "shape_bias")
for _ in tqdm(range(3), desc="bar_probe_6612", disable=not progress_enabled()):
    pass
'''


@pytest.mark.parametrize("progress", [True, False])
def test_report_progress_goes_to_the_terminal_never_into_the_notebook(tmp_path, capfd, monkeypatch, progress):
    """A long cell (a zero-shot head: many minutes on a CPU) shows its own progress in the
    terminal that runs the report when asked to, none otherwise, and never in the notebook
    (whose page a reader gets)."""
    import nbformat

    monkeypatch.setenv("BEYOND_INET_PROGRESS", "yes-before")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "shape_bias.py").write_text(BAR_NOTEBOOK)
    profile = tmp_path / "bars.yaml"
    profile.write_text("models: [tiny_vit_untrained]\ndescription: progress bars\n")
    out = report.build_report(str(profile), properties=["shape_bias"], notebooks_dir=notebooks,
                              reports_root=tmp_path / "reports", progress=progress)
    assert out["ok"], out["pages"]
    err = capfd.readouterr().err
    assert ("bar_probe_6612" in err) is progress
    assert ("[1/1] shape_bias" in err) is progress
    executed = nbformat.read(out["pages"]["shape_bias"]["ipynb"], 4)
    assert "bar_probe_6612" not in json.dumps([c.get("outputs", []) for c in executed.cells])
    assert os.environ["BEYOND_INET_PROGRESS"] == "yes-before"   # this process's own switch is restored


# ------------------------------------------------------------------------------ verdicts and precision
def test_one_precision_per_metric_and_no_negative_zero():
    # one metric's numbers share the decimals that give its largest three significant digits
    fmt = report._metric_formatter([{"value": 0.5, "ci_low": 0.35, "ci_high": 0.65},
                                    {"value": 0.0727, "ci_low": 0.0586, "ci_high": 0.0892}])
    assert [fmt(v) for v in (0.5, 0.35, 0.0727, 0.0586)] == ["0.500", "0.350", "0.073", "0.059"]
    ece = report._metric_formatter([{"value": 0.0727, "ci_low": 0.0586, "ci_high": 0.0892}])
    assert ece(0.0727) == "0.0727" and ece(0.0586) == "0.0586"
    assert report.metric_decimals([85.52, 80.1]) == 1 and report.metric_decimals([1234.5]) == 0
    assert report.format_fixed(-0.00004, 3) == "0.000" and report.format_fixed(-0.0004, 4) == "-0.0004"
    assert report.format_fixed(1234.5, 0) == "1,234" and report.format_fixed(None, 3) == "–"


def _rows(values, better="higher"):
    return [{"model": m, "metric": "m", "value": v, "better": better} for m, v in values.items()]


def _cmp(better, worse, diff, low, high):
    return {"metric": "m", "better": better, "worse": worse, "difference": diff, "low": low, "high": high,
            "holds": not (low <= 0 <= high)}


def test_verdict_names_a_winner_only_where_the_paired_interval_holds():
    two = report.metric_verdict(_rows({"A": 0.27, "B": 0.22}), [_cmp("A", "B", 0.05, 0.02, 0.08)])
    assert two["winner"] == "A" and "<b>A</b> is better" in two["text"] and "[0.020, 0.080]" in two["text"]
    tie = report.metric_verdict(_rows({"A": 0.27, "B": 0.26}), [_cmp("A", "B", 0.01, -0.02, 0.04)])
    assert tie["winner"] is None and "cannot tell A and B apart" in tie["text"]
    lower = report.metric_verdict(_rows({"A": 0.07, "B": 0.15}, "lower"), [_cmp("A", "B", -0.08, -0.1, -0.05)])
    assert lower["winner"] == "A" and "lower is better" in lower["text"]
    # three models: A beats both, B and C tied -> A wins; A ~ B, both beat C -> no single best
    three = [_cmp("A", "B", 0.1, 0.05, 0.15), _cmp("A", "C", 0.12, 0.06, 0.18), _cmp("B", "C", 0.02, -0.01, 0.05)]
    assert report.metric_verdict(_rows({"A": 0.9, "B": 0.8, "C": 0.78}), three)["winner"] == "A"
    split = [_cmp("A", "B", 0.01, -0.02, 0.04), _cmp("A", "C", 0.2, 0.1, 0.3), _cmp("B", "C", 0.19, 0.1, 0.28)]
    v = report.metric_verdict(_rows({"A": 0.9, "B": 0.89, "C": 0.7}), split)
    assert v["winner"] is None and "no single best model: A, B" in v["text"] and "2 of 3 pairs" in v["text"]
    # a description (no direction) or a single model: no verdict
    assert report.metric_verdict(_rows({"A": 0.9, "B": 0.9}, None), [])["winner"] is None
    assert "nothing to compare" in report.metric_verdict(_rows({"A": 0.9}), [])["text"]


def test_summary_table_highlights_the_winner_and_the_index_has_verdicts():
    s = pd.DataFrame([{"property": "calibration", "model": m, "metric": "ECE", "value": v, "better": "lower",
                       "ci_low": v - 0.01, "ci_high": v + 0.01} for m, v in (("a", 0.0727), ("b", 0.15))])
    c = pd.DataFrame([{"property": "calibration", **_cmp("a", "b", -0.0773, -0.09, -0.06)}])
    c["metric"] = "ECE"
    page = report.summary_table_html(s, models=["a", "b"], comparisons=c)
    assert re.search(r'<td class="best"><span class="run">0\.073</span>', page)
    assert page.count('class="best"') == 1
    (v,) = report.verdicts(s, c)
    assert v["winner"] == "a" and v["property"] == "calibration"
    assert "a</b> is better" in report.verdict_html([v])


def test_page_tables_show_no_negative_zero(monkeypatch):
    from beyond_inet_lib import nb

    shown = []
    monkeypatch.setattr(nb, "_display", lambda obj: shown.append(obj.data))
    nb.table(pd.DataFrame({"model": ["a"], "difference": [-0.00004], "drop": [-0.0123]}))
    assert "-0.000" not in shown[0] and "<td>0.000</td>" in shown[0] and "-0.012" in shown[0]
    nb.table(pd.DataFrame())                      # a page without data: no empty table
    nb.table(pd.DataFrame(columns=["model", "ECE"]))
    assert len(shown) == 1
    # a section whose data is absent says so in one line, not with an empty heading
    nb.table(pd.DataFrame(columns=["model", "ECE"]), absent="ImageNet-R was not found <here>")
    assert len(shown) == 2 and "ImageNet-R was not found &lt;here&gt;" in shown[1] and "<table" not in shown[1]



@pytest.mark.slow
def test_the_report_is_also_one_file_to_share(built):
    """Index and pages in one file, links within it, the chart library and the notebook
    style once; the per-page files stay."""
    from beyond_inet_lib import charts

    root, result = built
    out = root / "reports" / "tiny"
    single = report.single_file_path(out, "tiny")
    text = single.read_text()
    probe = charts.javascript_bundle()[1000:1200]
    assert text.count(probe) == 1                                   # one chart library
    page = (out / "shape_bias.html").read_text()
    style = re.search(r"<style[^>]*>(.{2000})", page, re.S).group(1)  # a slice of the notebook style
    assert text.count(style) == 1
    assert 'href="#shape_bias"' in text and 'href="#index"' in text and 'href="shape_bias.html"' not in text
    assert fake.ERROR_TEXT in text and "Narration that should appear on the page" in text
    assert fake.SOURCE_MARKER not in text and not re.search(r"<script[^>]*\bsrc\s*=", text)
    assert (out / "shape_bias.html").is_file() and (out / "index.html").is_file()
    pages_size = sum((out / f"{p}.html").stat().st_size for p in ("shape_bias", "calibration"))
    assert single.stat().st_size < pages_size                        # not the pages glued together
