"""Chart builders map the right columns to the right channels; show() embeds the JS once."""

from __future__ import annotations

import json
import re

import altair as alt
import numpy as np
import pandas as pd
import pytest

from beyond_inet_lib import charts

MODELS = ["convnext_sup", "vit_sup", "vit_clip"]


def spec_of(chart) -> dict:
    """The Vega-Lite spec, validated against the schema (altair raises when invalid)."""
    return chart.to_dict(validate=True)


def dataset(spec: dict) -> list[dict]:
    (values,) = spec["datasets"].values() if len(spec["datasets"]) == 1 else [None]
    assert values is not None, "expected exactly one dataset in the spec"
    return values


def layers(spec: dict) -> list[dict]:
    inner = spec.get("spec", spec)     # faceted charts keep their layers under "spec"
    return inner.get("layer", [inner])


# ------------------------------------------------------------------------------ colours
def test_model_color_scale_is_stable_per_model_and_distinct():
    a = charts.model_color_scale(MODELS).to_dict()
    b = charts.model_color_scale(MODELS + ["convnext_sup"]).to_dict()  # duplicates ignored
    assert a == b
    assert a["domain"] == MODELS
    assert len(set(a["range"])) == len(MODELS)
    assert a["range"][0] == charts.MODEL_PALETTE[0]


# ------------------------------------------------------------------------------ builders
def test_bar_by_model_draws_paper_ticks_only_where_a_paper_column_has_values():
    df = pd.DataFrame({"model": MODELS, "top-1": [0.85, 0.84, 0.67], "paper": [0.855, np.nan, 0.670]})
    spec = spec_of(charts.bar_by_model(df, "top-1", "ImageNet top-1"))
    bars, ticks = layers(spec)
    assert bars["mark"]["type"] == "bar" and ticks["mark"]["type"] == "tick"
    assert bars["encoding"]["x"]["field"] == "top-1"           # horizontal: names whole on the left
    assert ticks["encoding"]["x"]["field"] == "paper"
    assert bars["encoding"]["y"]["sort"] == MODELS
    assert bars["encoding"]["color"]["scale"]["domain"] == MODELS
    assert {t["field"] for t in bars["encoding"]["tooltip"]} == {"model", "top-1", "paper"}

    no_paper = spec_of(charts.bar_by_model(df.drop(columns="paper"), "top-1", "t"))
    assert no_paper["mark"]["type"] == "bar" and "layer" not in no_paper
    all_nan = spec_of(charts.bar_by_model(df.assign(paper=np.nan), "top-1", "t"))
    assert "layer" not in all_nan


def test_bar_by_model_with_category_and_colour_columns():
    df = pd.DataFrame({"model": ["a", "a", "b"], "source": ["run", "log", "run"], "v": [0.3, 0.35, 0.4]})
    spec = spec_of(charts.bar_by_model(df, "v", "t", color="source"))
    assert spec["encoding"]["yOffset"]["field"] == "source"
    assert spec["encoding"]["color"]["field"] == "source"
    prev = pd.DataFrame({"factor": ["pose", "texture"], "share": [0.6, 0.4]})
    spec = spec_of(charts.bar_by_model(prev, value="share", title="t", category="factor"))
    assert spec["encoding"]["y"]["field"] == "factor"
    assert spec["encoding"]["color"] == {"value": charts.MODEL_PALETTE[0]}


def test_field_names_with_dots_are_escaped():
    df = pd.DataFrame({"model": ["a"], "acc. (%)": [50.0]})
    spec = spec_of(charts.bar_by_model(df, "acc. (%)", "t"))
    assert spec["encoding"]["x"]["field"] == "acc\\. (%)"
    assert spec["encoding"]["x"]["title"] == "acc. (%)"


def test_grouped_bars_offsets_by_model_and_keeps_table_order():
    df = pd.DataFrame({"task": ["svhn", "svhn", "dtd", "dtd"], "model": ["b", "a", "b", "a"],
                       "acc": [0.9, 0.8, 0.6, 0.7]})
    spec = spec_of(charts.grouped_bars(df, "task", "acc", "model"))
    enc = spec["encoding"]
    assert enc["x"]["field"] == "task" and enc["x"]["sort"] == ["svhn", "dtd"]
    assert enc["xOffset"]["field"] == "model" and enc["xOffset"]["sort"] == ["b", "a"]
    assert enc["y"]["field"] == "acc"


def test_error_ratio_bars_has_reference_line_at_one():
    df = pd.DataFrame({"factor": ["texture", "pose"] * 2, "model": ["a", "a", "b", "b"],
                       "error ratio": [2.37, 1.1, 1.71, 0.9]})
    spec = spec_of(charts.error_ratio_bars(df))
    bars, rule = layers(spec)
    assert bars["encoding"]["y"]["field"] == "error ratio"
    assert bars["encoding"]["x"]["field"] == "factor"
    assert rule["mark"]["type"] == "rule"
    rule_data = spec["datasets"][rule["data"]["name"]]
    assert rule_data == [{"ref": 1.0}]


def test_robustness_bars_accepts_variant_and_top_1_columns():
    df = pd.DataFrame({"model": ["a", "b"], "variant": ["imagenet-v2"] * 2, "top-1": [0.75, 0.59],
                       "paper": [0.756, 0.595]})
    spec = spec_of(charts.robustness_bars(df))
    bars, ticks = layers(spec)
    assert bars["encoding"]["x"]["field"] == "variant"
    assert bars["encoding"]["y"]["field"] == "top-1"
    assert ticks["encoding"]["y"]["field"] == "paper"
    with pytest.raises(ValueError, match="dataset"):
        charts.robustness_bars(df.drop(columns="variant"))


def test_grouped_bars_draw_each_interval_at_its_bar():
    df = pd.DataFrame({"model": ["a", "b"], "variant": ["imagenet-a"] * 2, "top-1": [0.75, 0.57],
                       "ci_low": [0.6, 0.42], "ci_high": [0.88, 0.72], "paper": [0.529, None]})
    spec = spec_of(charts.robustness_bars(df))
    bars, errors, ticks = layers(spec)
    assert errors["mark"]["type"] == "errorbar"
    assert errors["encoding"]["y"]["field"] == "ci_low" and errors["encoding"]["y2"]["field"] == "ci_high"
    assert errors["encoding"]["xOffset"]["field"] == bars["encoding"]["xOffset"]["field"] == "model"  # on its bar
    assert ticks["encoding"]["y"]["field"] == "paper"
    no_ci = spec_of(charts.robustness_bars(df.drop(columns=["ci_low", "ci_high"])))
    assert [lay["mark"]["type"] for lay in layers(no_ci)] == ["bar", "tick"]


def test_invariance_lines_draw_a_band_when_the_interval_columns_exist():
    df = pd.DataFrame({"model": ["a"] * 2, "transform": ["scale"] * 2, "value": [1.0, 3.0],
                       "top1": [0.8, 0.5], "ci_low": [0.7, 0.4], "ci_high": [0.9, 0.6]})
    band, line = layers(spec_of(charts.invariance_lines(df)))
    assert band["mark"]["type"] == "area"
    assert band["encoding"]["y"]["field"] == "ci_low" and band["encoding"]["y2"]["field"] == "ci_high"
    assert line["encoding"]["y"]["field"] == "top1"


def test_reliability_diagram_facets_per_model_drops_empty_bins_and_draws_diagonal():
    edges = np.linspace(0, 1, 4)
    rows = [{"model": m, "lower": edges[i], "upper": edges[i + 1], "count": c,
             "accuracy": (np.nan if c == 0 else acc), "mean_confidence": (edges[i] + edges[i + 1]) / 2}
            for m in ["a", "b"] for i, (c, acc) in enumerate([(0, 0), (5, 0.4), (10, 0.9)])]
    spec = spec_of(charts.reliability_diagram(pd.DataFrame(rows)))
    assert spec["facet"]["field"] == "model" and spec["columns"] == charts.PANELS_PER_ROW
    bars, diagonal = spec["spec"]["layer"]
    assert bars["encoding"]["x"]["field"] == "lower" and bars["encoding"]["x2"]["field"] == "upper"
    assert bars["encoding"]["y"]["field"] == "accuracy"
    assert bars["encoding"]["y2"] == {"datum": 0}
    facet_data = spec["datasets"][spec["data"]["name"]]
    assert len(facet_data) == 4 and all(r["count"] > 0 for r in facet_data)
    assert spec["datasets"][diagonal["data"]["name"]] == [{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 1.0}]


def test_confidence_histogram_bins_raw_confidences():
    # 10 bins: 0.05 and 0.06 in bin 0, 0.95 in bin 9 -> shares 2/3 and 1/3.
    df = pd.DataFrame({"model": ["a", "a", "a"], "confidence": [0.05, 0.06, 0.95]})
    spec = spec_of(charts.confidence_histogram(df, n_bins=10))
    data = dataset(spec)
    assert len(data) == 10
    counts = [r["count"] for r in data]
    assert counts == [2, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert data[0]["share"] == pytest.approx(2 / 3) and data[9]["share"] == pytest.approx(1 / 3)
    assert spec["spec"]["encoding"]["y"]["field"] == "share"


def test_confidence_histogram_accepts_prebinned_rows():
    df = pd.DataFrame({"model": ["a", "a"], "lower": [0.0, 0.5], "upper": [0.5, 1.0], "count": [1, 3]})
    data = dataset(spec_of(charts.confidence_histogram(df)))
    assert [r["share"] for r in data] == [0.25, 0.75]


def test_shape_bias_plot_dots_per_category_and_overall_rules():
    df = pd.DataFrame({"category": ["cat", "dog"] * 2, "model": ["a", "a", "b", "b"],
                       "shape_bias": [0.2, 0.6, 0.5, 0.7]})
    overall = pd.DataFrame({"model": ["a", "b"], "shape_bias": [0.33, 0.45]})
    spec = spec_of(charts.shape_bias_plot(df, overall))
    dots, rules = layers(spec)
    assert dots["mark"]["type"] == "point"
    assert dots["encoding"]["x"]["field"] == "shape_bias"
    assert dots["encoding"]["x"]["scale"]["domain"] == [0, 1]
    assert dots["encoding"]["y"]["field"] == "category"
    assert rules["mark"]["type"] == "rule" and rules["encoding"]["x"]["field"] == "shape_bias"


def test_invariance_lines_facets_by_transform_with_independent_x():
    df = pd.DataFrame({"model": ["a"] * 4, "transform": ["scale", "scale", "shift", "shift"],
                       "value": [1.0, 2.0, 0, 100], "top1": [0.8, 0.6, 0.8, 0.7]})
    spec = spec_of(charts.invariance_lines(df))
    assert spec["facet"]["field"] == "transform"
    assert spec["resolve"]["scale"]["x"] == "independent"
    (line,) = spec["spec"]["layer"]
    assert line["encoding"]["x"]["field"] == "value" and line["encoding"]["y"]["field"] == "top1"
    with_paper = spec_of(charts.invariance_lines(df.assign(paper=[0.7, np.nan, np.nan, np.nan])))
    assert len(with_paper["spec"]["layer"]) == 2


def test_heatmap_keeps_layer_order_not_alphabetical():
    layers_ = ["block2", "block10", "block1"]
    df = pd.DataFrame([{"x": a, "y": b, "cka": float(a == b)} for a in layers_ for b in layers_])
    rect, text = layers(spec_of(charts.heatmap(df, "x", "y", "cka")))
    assert rect["mark"]["type"] == "rect" and text["mark"]["type"] == "text"   # 9 cells: numbers printed
    assert rect["encoding"]["x"]["sort"] == layers_ and rect["encoding"]["y"]["sort"] == layers_
    assert rect["encoding"]["color"]["field"] == "cka"
    assert rect["encoding"]["color"]["scale"]["domain"] == [0.0, 1.0]
    faceted = spec_of(charts.heatmap(df.assign(model="a"), "x", "y", "cka", facet="model"))
    assert faceted["facet"]["field"] == "model"


def test_bar_by_model_band_spans_the_chart_behind_the_bars():
    df = pd.DataFrame({"model": MODELS, "shape bias": [0.3, 0.4, 0.5], "ci_low": [0.25, 0.35, 0.45],
                       "ci_high": [0.35, 0.45, 0.55]})
    spec = spec_of(charts.bar_by_model(df, "shape bias", band=(0.92, 0.99), band_label="humans"))
    band, bars, errors = layers(spec)
    assert band["mark"]["type"] == "rect" and "y" not in band["encoding"]          # full height
    assert band["encoding"]["x"]["field"] == "low" and band["encoding"]["x2"]["field"] == "high"
    assert spec["datasets"][band["data"]["name"]] == [{"band": "humans", "low": 0.92, "high": 0.99}]
    assert bars["mark"]["type"] == "bar" and errors["mark"]["type"] == "errorbar"
    # a one-row table (a page's) gives the same band, named by its label; an empty one none
    table = pd.DataFrame({"low": [0.92], "high": [0.99], "label": ["humans"]})
    assert spec_of(charts.bar_by_model(df, "shape bias", band=table)) == spec
    assert len(layers(spec_of(charts.bar_by_model(df, "shape bias", band=table.iloc[:0])))) == 2


def test_charts_are_sized_by_their_content_within_the_page():
    def bars(n):
        return pd.DataFrame({"model": [f"model {i}" for i in range(n)], "v": np.linspace(0.1, 0.9, n)})
    two, thirty = spec_of(charts.bar_by_model(bars(2), "v")), spec_of(charts.bar_by_model(bars(30), "v"))
    assert two["width"] == thirty["width"] == charts.VALUE_AXIS      # the value axis: a readable length
    assert thirty["height"] == 15 * two["height"] >= 30 * charts.BAR_STEP   # a step per bar
    assert two["encoding"]["y"]["axis"]["labelLimit"] == 0               # names whole, never cut

    def grouped(n_groups, n_models):
        return pd.DataFrame([{"task": f"t{g}", "model": f"m{m}", "acc": 0.5}
                             for g in range(n_groups) for m in range(n_models)])
    widths = [spec_of(charts.grouped_bars(grouped(g, m), "task", "acc"))["width"] for g, m in ((1, 2), (15, 2), (19, 30))]
    assert widths[0] < widths[1] <= charts.PAGE_WIDTH and widths[2] == charts.PAGE_WIDTH
    assert widths[1] == 15 * (2 * charts.BAR_STEP + charts.GROUP_GAP)
    legend = spec_of(charts.grouped_bars(grouped(2, 2), "task", "acc"))["encoding"]["color"]["legend"]
    assert legend["labelLimit"] == 0 and legend["orient"] == "bottom"   # long model names whole

    rows = [f"factor {f}: level {lvl}" for f in range(4) for lvl in range(8)]
    spec = spec_of(charts.heatmap(pd.DataFrame([{"model": m, "level": r, "top-1": 0.5} for r in rows
                                                 for m in ("a", "b")]), "model", "level", "top-1"))
    assert spec["height"]["step"] >= charts.HEAT_STEP[0] >= 12      # 32 rows: a line each, no overlap


def test_invariance_lines_name_the_models_in_a_legend():
    df = pd.DataFrame({"model": ["a", "a", "b", "b"], "transform": ["scale"] * 4, "value": [1.0, 2.0] * 2,
                       "top1": [0.8, 0.6, 0.7, 0.5], "ci_low": [0.7, 0.5, 0.6, 0.4], "ci_high": [0.9, 0.7, 0.8, 0.6]})
    band, line = spec_of(charts.invariance_lines(df))["spec"]["layer"]
    # a legend=None on any layer would drop the merged legend
    assert band["encoding"]["color"]["legend"] == line["encoding"]["color"]["legend"]
    assert line["encoding"]["color"]["legend"]["title"] == charts.MODEL_LEGEND_TITLE


def test_kappa_and_cka_are_coloured_on_their_whole_range():
    one_pair = pd.DataFrame({"model a": ["a"], "model b": ["b"], "kappa": [0.70]})
    scale = spec_of(charts.heatmap(one_pair, "model a", "model b", "kappa", domain=None))
    color = layers(scale)[0]["encoding"]["color"]["scale"]
    assert color["domain"] == [-1.0, 1.0] and color["domainMid"] == 0.0   # not a legend of one tick
    cka = pd.DataFrame({"a": ["x", "y"], "b": ["x", "y"], "CKA": [0.93, 0.95]})
    assert layers(spec_of(charts.heatmap(cka, "a", "b", "CKA", domain=None)))[0]["encoding"]["color"]["scale"][
        "domain"] == [0.0, 1.0]
    other = pd.DataFrame({"a": ["x"], "b": ["y"], "score": [0.4]})       # no known range: widened
    dom = layers(spec_of(charts.heatmap(other, "a", "b", "score", domain=None)))[0]["encoding"]["color"]["scale"]["domain"]
    assert dom[0] < 0.4 < dom[1]


def test_heatmap_tooltip_shows_the_interval():
    df = pd.DataFrame({"a": ["x", "y"], "b": ["y", "x"], "kappa": [0.4, 0.4], "ci_low": [0.3, 0.3],
                       "ci_high": [0.5, 0.5]})
    spec = spec_of(charts.heatmap(df, "a", "b", "kappa", domain=None))
    assert {t["field"] for t in layers(spec)[0]["encoding"]["tooltip"]} == {"a", "b", "kappa", "ci_low", "ci_high"}


def test_missing_column_error_names_it():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['accuracy'\]"):
        charts.reliability_diagram(pd.DataFrame({"model": ["a"], "lower": [0], "upper": [1], "count": [1]}))


# ------------------------------------------------------------------------------ rendering
@pytest.fixture
def captured(monkeypatch):
    """Outputs of charts.show, in a fresh 'kernel' (bundle not yet emitted)."""
    out: list[dict] = []
    monkeypatch.setattr(charts, "_bundle_emitted", False)
    monkeypatch.setattr(charts, "_display", out.append)
    return out


def test_show_embeds_the_bundle_exactly_once(captured):
    df = pd.DataFrame({"model": MODELS, "v": [1.0, 2.0, 3.0]})
    chart = charts.bar_by_model(df, "v", "t")
    charts.show(chart)
    charts.show(chart)
    bundle = charts.javascript_bundle()
    assert len(bundle) > 100_000 and "vegaEmbed" in bundle
    htmls = [o["text/html"] for o in captured]
    probe = bundle[1000:1200]  # a slice of the minified bundle: present only where embedded
    assert [h.count(probe) for h in htmls] == [1, 0]
    for h in htmls:
        assert re.search(r'vegaEmbed\("#bi-chart-[0-9a-f]{12}"', h)
        assert '"actions": false' in h
        assert not re.search(r"<script[^>]*\bsrc\s*=", h), "charts must load no script by URL"
    for o in captured:
        assert o["application/vnd.vegalite.v5+json"] == charts.with_highlight(chart.to_dict())


def test_show_bundle_argument_forces_or_suppresses_it(captured):
    chart = charts.bar_by_model(pd.DataFrame({"model": ["a"], "v": [1.0]}), "v", "t")
    charts.show(chart, bundle=False)
    charts.show(chart)            # first automatic one still carries it
    charts.show(chart, bundle=True)
    probe = charts.javascript_bundle()[1000:1200]
    assert [o["text/html"].count(probe) for o in captured] == [0, 1, 1]


def test_data_cannot_close_the_script_element():
    df = pd.DataFrame({"model": ["</script><b>x"], "v": [1.0]})
    page = charts.chart_html(charts.bar_by_model(df, "v", "t"))
    assert "</script><b>" not in page
    assert page.count("</script>") == 1


def test_offline_bundle_html_is_one_guarded_script():
    page = charts.offline_bundle_html()
    assert page.startswith("<script") and page.rstrip().endswith("</script>")
    assert page.count("</script>") == 1
    assert "if (!window.vegaEmbed)" in page
    assert alt.VEGALITE_VERSION in page


def test_lines_by_model_keeps_the_shift_order_and_draws_the_interval_band():
    df = pd.DataFrame({"model": ["a"] * 3 + ["b"] * 3, "shift": ["val", "V2", "C sev 1"] * 2,
                       "ECE": [0.05, 0.08, 0.12, 0.03, 0.06, 0.2],
                       "ci_low": [0.04, 0.07, 0.1, 0.02, 0.05, 0.18], "ci_high": [0.06, 0.09, 0.14, 0.04, 0.07, 0.22]})
    band, line = layers(spec_of(charts.lines_by_model(df, "shift", "ECE", title="ECE under shift")))
    assert band["mark"]["type"] == "area" and band["encoding"]["y2"]["field"] == "ci_high"
    assert line["encoding"]["x"]["type"] == "ordinal"
    assert line["encoding"]["x"]["sort"] == ["val", "V2", "C sev 1"]      # the table's order, not a-z
    assert line["encoding"]["y"]["field"] == "ECE" and line["encoding"]["color"]["field"] == "model"
    # a quantity on x, without an interval: one line layer; a facet per panel column
    curve = df.drop(columns=["ci_low", "ci_high"]).assign(coverage=[0.2, 0.6, 1.0] * 2, panel="p")
    spec = spec_of(charts.lines_by_model(curve, "coverage", "ECE", ordinal=False, points=False, facet="panel"))
    assert spec["facet"]["column"]["field"] == "panel"
    (only,) = spec["spec"]["layer"]
    assert only["encoding"]["x"]["type"] == "quantitative" and only["mark"] == {"type": "line"}
    with pytest.raises(ValueError, match="lacks column"):
        charts.lines_by_model(df, "shift", "NLL")


# ------------------------------------------------------------- one model highlighted
def test_a_chart_of_models_fades_every_model_but_the_highlighted_one():
    df = pd.DataFrame({"model": ["a", "b"], "v": [0.4, 0.6], "ci_low": [0.3, 0.5], "ci_high": [0.5, 0.7]})
    spec = charts.with_highlight(charts.bar_by_model(df, "v", "t").to_dict())
    assert {"name": charts.HIGHLIGHT_PARAM, "value": None} in spec["params"]
    assert spec["usermeta"]["bi_models"] == ["a", "b"]
    bars, rules = spec["layer"]
    for unit in (bars, rules):          # the interval's rule reads the model of its y
        opacity = unit["encoding"]["opacity"]
        assert opacity["condition"]["value"] == 1.0 and opacity["value"] == charts.HIGHLIGHT_FADE
        assert "datum['model'] === bi_model" in opacity["condition"]["test"]
        assert "bi_model === null" in opacity["condition"]["test"]   # nothing picked: all at full


def test_a_band_fades_from_its_own_opacity_and_a_chart_without_models_is_left_alone():
    df = pd.DataFrame({"model": ["a", "a"], "transform": ["scale"] * 2, "value": [1.0, 2.0],
                       "top1": [0.8, 0.6], "ci_low": [0.7, 0.5], "ci_high": [0.9, 0.7]})
    band, line = charts.with_highlight(charts.invariance_lines(df).to_dict())["spec"]["layer"]
    assert band["encoding"]["opacity"]["condition"]["value"] == 0.18
    assert band["encoding"]["opacity"]["value"] == pytest.approx(0.18 * charts.HIGHLIGHT_FADE)
    assert line["encoding"]["opacity"]["condition"]["value"] == 1.0
    cka = pd.DataFrame({"a": ["x", "y"], "b": ["x", "y"], "CKA": [0.93, 0.95]})
    plain = charts.heatmap(cka, "a", "b", "CKA", domain=None).to_dict()
    assert charts.with_highlight(json.loads(json.dumps(plain))) == plain


def test_an_opacity_set_by_a_field_is_not_overridden():
    df = pd.DataFrame({"model": ["a", "b"], "v": [0.4, 0.6], "w": [0.2, 0.9]})
    chart = alt.Chart(df).mark_point().encode(x="v:Q", color="model:N", opacity="w:Q")
    spec = charts.with_highlight(chart.to_dict())
    assert spec["encoding"]["opacity"] == {"field": "w", "type": "quantitative"}
    assert "params" not in spec
