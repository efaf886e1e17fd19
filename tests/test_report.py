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
                                  "published_flag": None, "better": "lower", "note": ""}
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
    assert "<script" not in index


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
