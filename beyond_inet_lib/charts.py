"""Altair chart builders and the offline renderer.

Two jobs, kept apart:

1. **Builders** take a tidy DataFrame (one row per observation, columns named below) and
   return an Altair chart (``alt.Chart`` or a layered / faceted top-level chart). They never
   compute a metric: ``metrics`` does that; a builder only maps columns to channels.
   Colours are per model and consistent across every chart of a report (``model_colors``,
   the one mapping). Charts are sized by their content (a step per bar, row or cell, within
   ``PAGE_WIDTH``), labels and legends are never cut, and a quantity with a known range
   (CKA, Cohen's kappa) is always coloured on that whole range. Where a ``paper`` column is present, the paper's number is drawn
   as a hollow black tick beside the run's bar / point, so a run can be read against the
   paper at a glance.

2. **Rendering** (``show``) displays a chart so that the exported HTML page works with no
   network: the output carries ``text/html`` (a div plus a ``vegaEmbed`` call) and the
   Vega-Lite JSON mimetype (JupyterLab's own renderer, for untrusted notebooks). The
   vega + vega-lite + vega-embed JavaScript bundle (from ``vl_convert``, the same one
   Altair's ``inline`` HTML template uses) is embedded ONCE per kernel: the first ``show``
   in a kernel carries the ~900 kB bundle, later ones call the global ``vegaEmbed`` it
   defines. A notebook is executed in one kernel and exported as one page, so each page
   holds the bundle exactly once.

   Every chart that draws models can highlight one (``with_highlight``): a click on a model
   (a legend entry, a bar, a point, a line) shows it at full strength and fades the others
   on every chart of the page; a second click on it, or a click on empty space, clears.
   Each chart holds a variable ``bi_model`` that its model marks' opacity reads; a small
   script (``HIGHLIGHT_JS``) keeps the page's charts on the same value.
"""

from __future__ import annotations

import functools
import html
import json
import uuid
from collections.abc import Iterable, Sequence

import altair as alt
import numpy as np
import pandas as pd

# Tableau-10: distinct, colour-blind tolerable, and what Vega users expect.
MODEL_PALETTE = (
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2",
    "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
)
PAPER_MARK_COLOR = "black"

# Sizes (px). A page's text column is about 900 px wide: no chart is wider than PAGE_WIDTH;
# within it each chart takes the room its content needs.
PAGE_WIDTH = 860
VALUE_AXIS = 420            # the length of a value axis (horizontal bars, dot plots)
BAR_STEP = 20               # one bar
GROUP_GAP = 16              # between two groups of bars
PANEL = 220                 # one panel of small multiples (reliability, invariance)
PANELS_PER_ROW = 3
HEAT_STEP = (14, 34)        # a heatmap cell: at least, at most
HEAT_SIDE = 320             # a heatmap's side when its cells can be that small
TEXT_CELLS = 36             # a heatmap with at most this many cells prints each number
PAPER_LEGEND_NOTE = "black marks: the paper's numbers"

# Embed options for every chart: no export menu (it would offer to open the online editor);
# SVG so the rendered page holds inspectable, crisp vector graphics.
EMBED_OPTIONS = {"actions": False, "renderer": "svg"}

# Vega-Lite mimetypes for JupyterLab's own renderer (used when the HTML output is untrusted):
# v6 (Altair 6's Vega-Lite) and v5 (the newest JupyterLab 4 renders natively; it draws these
# specs too). "+json" so nbformat stores the spec as a JSON object: Altair's own
# "application/vnd.vegalite.v6.json" fails nbformat validation when saved by papermill.
VEGALITE_MIME_TYPES = ("application/vnd.vegalite.v6+json", "application/vnd.vegalite.v5+json")

_bundle_emitted = False  # True once this kernel has displayed the JS bundle


# ---------------------------------------------------------------------------- rendering
@functools.lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """The vega + vega-lite + vega-embed bundle for Altair's Vega-Lite version (no network).

    Same call as Altair's ``inline`` template (``altair/utils/html.py``).
    """
    import vl_convert as vlc
    from altair.utils._importers import vl_version_for_vl_convert

    bundle = vlc.javascript_bundle(vl_version=vl_version_for_vl_convert())
    # The bundle is inlined in a <script> element: a literal "</script" would end it early.
    return bundle.replace("</script", "<\\/script")


def offline_bundle_html() -> str:
    """A ``<script>`` element that defines ``window.vegaEmbed`` (and vega, vegaLite) offline.

    Wrapped in a function scope and guarded, so loading it twice in one page (a re-run cell
    in JupyterLab) neither re-declares the bundle's top-level constants nor errors.
    """
    return (
        f'<script type="text/javascript">\n'
        f"/* vega-embed bundle, Vega-Lite {alt.VEGALITE_VERSION}, embedded for offline use */\n"
        f"if (!window.vegaEmbed) {{ (function () {{\n{javascript_bundle()}\n}})(); }}\n"
        f"</script>"
    )


def _spec_dict(chart) -> dict:
    # Charts here are aggregated tables; never refuse one for having > 5,000 rows.
    with alt.data_transformers.enable("default", max_rows=None):
        return with_highlight(chart.to_dict())


# --------------------------------------------------------------- one model highlighted
HIGHLIGHT_PARAM = "bi_model"
HIGHLIGHT_FADE = 0.15        # a faded model's opacity, as a share of its own
_HIGHLIGHT_TEST = f"{HIGHLIGHT_PARAM} === null || datum['model'] === {HIGHLIGHT_PARAM}"
_CHANNELS = ("color", "fill", "stroke", "detail", "shape", "x", "y", "yOffset", "xOffset", "text")


def _model_channel(encoding: dict) -> bool:
    return any(isinstance(encoding.get(c), dict) and encoding[c].get("field") == "model" for c in _CHANNELS)


def _fadeable(unit: dict, encoding: dict) -> float | None:
    """The unit's own opacity when its marks can fade (none of it set by a field or a
    condition), else None."""
    current = encoding.get("opacity")
    if current is not None:
        plain = set(current) == {"value"} and isinstance(current["value"], (int, float))
        return float(current["value"]) if plain else None
    mark = unit.get("mark")
    opacity = mark.get("opacity", 1.0) if isinstance(mark, dict) else 1.0
    return float(opacity) if isinstance(opacity, (int, float)) else None     # not an expression


def with_highlight(spec: dict) -> dict:
    """``spec`` (a Vega-Lite dict) with one model highlightable: a top-level variable
    ``bi_model`` (null: none), and the opacity of every mark that encodes the ``model``
    field conditioned on it (full where ``bi_model`` is null or the mark's model, else
    ``HIGHLIGHT_FADE`` of it). ``usermeta.bi_models``: the models of its colour scales, so
    that a click on their legend entries picks one. A spec without a model field is
    returned as it is."""
    models: list = []
    touched = False

    def visit(node: dict, inherited: dict) -> None:
        nonlocal touched
        encoding = {**inherited, **(node.get("encoding") or {})}
        if "mark" in node and _model_channel(encoding):
            base = _fadeable(node, encoding)
            if base is not None:
                node.setdefault("encoding", {})["opacity"] = {
                    "condition": {"test": _HIGHLIGHT_TEST, "value": base},
                    "value": round(base * HIGHLIGHT_FADE, 4)}
                touched = True
        for channel in ("color", "fill", "stroke"):
            enc = encoding.get(channel)
            if isinstance(enc, dict) and enc.get("field") == "model":
                domain = (enc.get("scale") or {}).get("domain")
                if isinstance(domain, list):
                    models.extend(str(m) for m in domain if str(m) not in models)
        for child in node.get("layer", []):
            visit(child, encoding)
        for key in ("hconcat", "vconcat", "concat"):
            for child in node.get(key, []):
                visit(child, {})
        if isinstance(node.get("spec"), dict):        # facet / repeat
            visit(node["spec"], {})

    visit(spec, {})
    if not touched:
        return spec
    spec["params"] = [p for p in spec.get("params", []) if p.get("name") != HIGHLIGHT_PARAM] + [
        {"name": HIGHLIGHT_PARAM, "value": None}]
    spec["usermeta"] = {**spec.get("usermeta", {}), "bi_models": models}
    return spec


#: one per page (guarded): the page's charts and the model highlighted on all of them. A
#: click on a mark with a model, or on a legend entry naming one of the chart's models,
#: picks it (again: clears); a click on empty space clears; anything else changes nothing.
#: Vega draws legend entries without pointer events, so a click on the chart is matched
#: against the entries' boxes here.
HIGHLIGHT_JS = """window.biHighlight = window.biHighlight || (function () {
  var views = [], current = null;
  function legendPick(root, event, models) {
    var texts = root.querySelectorAll(".role-legend-label text");
    for (var i = 0; i < texts.length; i++) {
      var label = texts[i].textContent;
      if (models.indexOf(label) < 0) continue;
      var row = texts[i].parentNode.parentNode.parentNode.getBoundingClientRect();
      if (event.clientX >= row.left - 2 && event.clientX <= row.right + 2 &&
          event.clientY >= row.top - 1 && event.clientY <= row.bottom + 1) return label;
    }
    return undefined;
  }
  function modelOf(item) {
    var d = item && item.datum;
    if (!d) return null;
    if (d.model !== undefined && d.model !== null) return String(d.model);
    return undefined;
  }
  function show(model) {
    current = model;
    views.forEach(function (v) { v.signal("%(param)s", current).runAsync(); });
  }
  function pick(model) { show(model === current ? null : model); }
  function register(view, models) {
    var root = view.container();
    models = models || [];
    views.push(view);
    if (current !== null) view.signal("%(param)s", current).runAsync();
    root.addEventListener("click", function (event) {
      var m = legendPick(root, event, models);
      if (m !== undefined) pick(m);
    });
    view.addEventListener("click", function (event, item) {
      if (legendPick(root, event, models) !== undefined) return;
      var m = modelOf(item);
      if (m === null) show(null);
      else if (m !== undefined) pick(m);
    });
  }
  return {register: register, show: show, current: function () { return current; }};
})();""" % {"param": HIGHLIGHT_PARAM}


def _script_json(obj) -> str:
    """JSON safe to place inside a <script> element."""
    return json.dumps(obj).replace("</", "<\\/")


def chart_html(chart, *, include_bundle: bool = False, div_id: str | None = None) -> str:
    """The HTML that renders ``chart``: a div and a script that calls ``vegaEmbed`` on it.

    When the bundle is not in this fragment it waits (up to 5 s) for ``window.vegaEmbed``
    defined by an earlier output, then writes a message that says what to do.
    """
    div_id = div_id or f"bi-chart-{uuid.uuid4().hex[:12]}"
    opts = _script_json(EMBED_OPTIONS)
    missing = html.escape(
        "The chart library is not loaded on this page: re-run the first cell that draws a "
        "chart, or call charts.show(chart, bundle=True).")
    spec_dict = _spec_dict(chart)
    highlight = "bi_models" in spec_dict.get("usermeta", {})
    spec = _script_json(spec_dict)
    register = (f"\n{HIGHLIGHT_JS}\n  var register = function (r) {{ window.biHighlight.register(r.view, spec.usermeta.bi_models); }};"
                if highlight else "\n  var register = function (r) {};")
    render = f"""<div id="{div_id}" class="bi-chart"></div>
<script type="text/javascript">
(function () {{
  var spec = {spec};
  var tries = 0;{register}
  function render() {{
    if (window.vegaEmbed) {{
      window.vegaEmbed("#{div_id}", spec, {opts}).then(register).catch(function (err) {{
        console.error(err);
        document.getElementById("{div_id}").textContent = "chart failed: " + err;
      }});
    }} else if (tries++ < 100) {{
      setTimeout(render, 50);
    }} else {{
      document.getElementById("{div_id}").textContent = "{missing}";
    }}
  }}
  render();
}})();
</script>"""
    return (offline_bundle_html() + "\n" + render) if include_bundle else render


def mimebundle(chart, *, bundle: bool | None = None) -> dict:
    """The display data of ``chart``: ``text/html`` (offline) plus the Vega-Lite JSON mimetypes.

    ``bundle``: embed the JS bundle in this output. None (default): only if this kernel has
    not emitted it yet.
    """
    global _bundle_emitted
    include = (not _bundle_emitted) if bundle is None else bool(bundle)
    data = {"text/html": chart_html(chart, include_bundle=include)}
    spec = _spec_dict(chart)
    for mime in VEGALITE_MIME_TYPES:
        data[mime] = spec
    if include:
        _bundle_emitted = True
    return data


def _display(data: dict) -> None:
    from IPython.display import display

    display(data, raw=True)


def show(chart, *, bundle: bool | None = None) -> None:
    """Display ``chart`` so that it renders in JupyterLab and in the exported offline HTML."""
    _display(mimebundle(chart, bundle=bundle))


# ---------------------------------------------------------------------------- colours
def model_colors(models: Iterable[str]) -> dict[str, str]:
    """model -> colour, in the given order: THE mapping every chart uses (the same list
    gives the same colours on every chart of a report). A model of the report's order
    (``use_model_order``) keeps its colour there, whatever order the chart sorts by."""
    models = list(dict.fromkeys(models))
    return {m: _model_color(m, i) for i, m in enumerate(models)}


def model_color_scale(models: Iterable[str]) -> alt.Scale:
    """``model_colors`` as an Altair colour scale."""
    colors = model_colors(models)
    return alt.Scale(domain=list(colors), range=list(colors.values()))


#: the title of a legend of models: it says what a click on an entry does (``with_highlight``)
MODEL_LEGEND_TITLE = "model (click one to highlight it)"


def model_legend(title: str | None = MODEL_LEGEND_TITLE) -> alt.Legend:
    """The legend of a colour per model: below the chart, one model per line, never cut."""
    return alt.Legend(title=title, orient="bottom", direction="vertical", labelLimit=0, titleLimit=0,
                      symbolOpacity=1)   # a layer's light fill (an interval band) would fade the swatches


# ---------------------------------------------------------------------------- sizes
def _clamp(v: float, low: float, high: float) -> int:
    return int(max(low, min(high, v)))


def group_width(n_groups: int, per_group: int) -> int:
    """Width of vertical bars in ``n_groups`` groups of ``per_group`` bars: a step per
    bar and a gap per group, within the page."""
    return _clamp(n_groups * (max(1, per_group) * BAR_STEP + GROUP_GAP), 160, PAGE_WIDTH)


def bars_height(n_rows: int, per_row: int = 1) -> int:
    """Height of horizontal bars: ``n_rows`` rows of ``per_row`` bars each."""
    return max(1, n_rows) * (max(1, per_row) * BAR_STEP + (GROUP_GAP if per_row > 1 else 4))


def heat_step(n: int) -> int:
    """The side of one heatmap cell for ``n`` rows (or columns)."""
    return _clamp(HEAT_SIDE / max(1, n), *HEAT_STEP)


def _label_angle(labels, room: float) -> int:
    """0 when the longest label fits in ``room`` px (about 6.5 px a character), else -40."""
    longest = max((len(str(x)) for x in labels), default=0)
    return 0 if longest * 6.5 <= room else -40


#: quantities with a known range: always coloured on all of it, whatever the run's values
#: (a heatmap of one pair has one value: a scale fitted to it says nothing)
VALUE_SCALES = {
    "cka": {"domain": [0.0, 1.0], "scheme": "viridis"},
    "kappa": {"domain": [-1.0, 1.0], "scheme": "redblue", "domainMid": 0.0},
}


def _value_scale(value: str, domain, data: pd.Series) -> alt.Scale:
    """The colour scale of a heatmap's ``value``: a known quantity's whole range (see
    ``VALUE_SCALES``: CKA, kappa / κ), else ``domain``, else the data's range (widened when
    all values are equal, so the legend still reads)."""
    name = str(value).strip().lower().replace("κ", "kappa")
    known = next((v for k, v in VALUE_SCALES.items() if name == k or name.startswith(k + " ")), None)
    if known is not None and (domain is None or list(domain) == [0.0, 1.0]):
        return alt.Scale(**known)
    if domain:
        return alt.Scale(scheme="viridis", domain=list(domain))
    vals = pd.to_numeric(data, errors="coerce").dropna()
    if len(vals) and vals.min() == vals.max():
        v = float(vals.iloc[0])
        pad = abs(v) * 0.1 or 0.1
        return alt.Scale(scheme="viridis", domain=[v - pad, v + pad])
    return alt.Scale(scheme="viridis")


# ---------------------------------------------------------------------------- helpers
def _models(df: pd.DataFrame, models: Sequence[str] | None, col: str = "model") -> list[str]:
    return list(models) if models is not None else _order(df, col)


def _order(df: pd.DataFrame, col: str) -> list[str]:
    """Categories in order of first appearance (the table's order, not alphabetical)."""
    return pd.unique(df[col]).tolist()


def _require(df: pd.DataFrame, cols: Iterable[str], builder: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{builder}: the table lacks column(s) {missing}; it has {list(df.columns)}")


def _pick(df: pd.DataFrame, given: str | None, candidates: Sequence[str], builder: str, what: str) -> str:
    """The column to use: the one given, else the first candidate present."""
    if given is not None:
        _require(df, [given], builder)
        return given
    for c in candidates:
        if c in df.columns:
            return c
    raise ValueError(f"{builder}: no {what} column; pass {what}=... or name one of "
                     f"{list(candidates)} (the table has {list(df.columns)})")


def _paper_col(df: pd.DataFrame, paper_col: str | None) -> str | None:
    """The paper column to draw: the one named, else ``paper`` when present with any value."""
    col = paper_col or ("paper" if "paper" in df.columns else None)
    if col is None:
        return None
    _require(df, [col], "paper numbers")
    return col if pd.to_numeric(df[col], errors="coerce").notna().any() else None


def _field(col: str) -> str:
    """A column name as a Vega-Lite field: '.', '[' and ']' would otherwise mean nesting."""
    return str(col).replace("\\", "\\\\").replace(".", "\\.").replace("[", "\\[").replace("]", "\\]")


def _enc(col: str, kind: str, **kw) -> dict:
    """Channel keyword arguments for a column of type ``kind`` (N, O, Q), titled by its name."""
    types = {"N": "nominal", "O": "ordinal", "Q": "quantitative"}
    kw.setdefault("title", str(col))
    return {"field": _field(col), "type": types[kind], **kw}


def _tooltip(df: pd.DataFrame, cols: Iterable[str | None]) -> list:
    out = []
    for c in dict.fromkeys(c for c in cols if c is not None):
        if c not in df.columns:
            continue
        numeric = pd.to_numeric(df[c], errors="coerce")
        if df[c].dtype == object and numeric.notna().sum() == df[c].notna().sum() > 0:
            out.append(alt.Tooltip(**_enc(c, "Q", format=".3~f")))   # numbers with None gaps
        elif pd.api.types.is_float_dtype(df[c]):
            out.append(alt.Tooltip(**_enc(c, "Q", format=".3~f")))
        elif pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]):
            out.append(alt.Tooltip(**_enc(c, "Q")))
        else:
            out.append(alt.Tooltip(**_enc(c, "N")))
    return out


def _paper_ticks(base, paper: str, tips: list, axis: str = "y"):
    """The paper's number as a black tick at the same category (and offset) as the run's
    bar; ``axis``: the value axis ('y': vertical bars, 'x': horizontal)."""
    channel = alt.Y if axis == "y" else alt.X
    return base.mark_tick(color=PAPER_MARK_COLOR, thickness=2).encode(
        **{axis: channel(**_enc(paper, "Q"))}, tooltip=tips)


#: the columns of a 95% interval (pages.base.with_interval), drawn as error bars when present
CI_LOW, CI_HIGH = "ci_low", "ci_high"


def _has_interval(df: pd.DataFrame, low: str = CI_LOW, high: str = CI_HIGH) -> bool:
    return (low in df.columns and high in df.columns
            and pd.to_numeric(df[low], errors="coerce").notna().any())


def _error_bars(base, low: str = CI_LOW, high: str = CI_HIGH, tips: list | None = None, axis: str = "y"):
    """The 95% interval of each bar / point as a rule with caps along the value axis
    (``axis``), at the same category (and offset) as the mark it belongs to."""
    channel, channel2 = (alt.Y, alt.Y2) if axis == "y" else (alt.X, alt.X2)
    return base.mark_errorbar(ticks=True, color="#333").encode(
        **{axis: channel(**_enc(low, "Q", title=None)), f"{axis}2": channel2(_field(high))},
        tooltip=tips or alt.Undefined)


def _title(title: str, with_paper: bool):
    if not with_paper:
        return title
    return alt.TitleParams(text=title, subtitle=PAPER_LEGEND_NOTE)


# ---------------------------------------------------------------------------- builders
def bar_by_model(df: pd.DataFrame, value: str, title: str = "", paper_col: str | None = None, *,
                 models: Sequence[str] | None = None, category: str = "model",
                 color: str | None = None, band: tuple[float, float] | pd.DataFrame | None = None,
                 band_label: str = "reference range"):
    """One horizontal bar per ``category`` (default: model) of ``value``, its name whole on
    the left; the paper's number as a black tick where a paper column has values.

    ``color``: a second column (e.g. 'source': this run vs the paper's decision log) drawn as
    bars side by side within each category. Without it, bars are coloured per model when the
    categories are models, else in one colour. ``band``: (low, high), or a one-row table with
    low and high columns (and optionally label; empty: no band), drawn as a grey band across
    the chart behind the bars (e.g. the range of ten human observers), named ``band_label``
    (or the table's label) in its tooltip. Sized by its content: a step per bar.
    """
    _require(df, [category, value], "bar_by_model")
    cats = _models(df, models, category) if category == "model" else _order(df, category)
    paper = _paper_col(df, paper_col)
    tips = _tooltip(df, [category, color, value, CI_LOW, CI_HIGH, paper, "note"])
    enc = {"y": alt.Y(**_enc(category, "N", sort=cats, title=None, axis=alt.Axis(labelLimit=0)))}
    per_row = 1
    if color is not None and color != category:
        _require(df, [color], "bar_by_model")
        offsets = _order(df, color)
        per_row = len(offsets)
        enc["yOffset"] = alt.YOffset(**_enc(color, "N", sort=offsets))
        bar_color = alt.Color(**_enc(color, "N", legend=model_legend(str(color))))
    elif category == "model":
        bar_color = alt.Color(**_enc(category, "N", scale=model_color_scale(cats), legend=None))
    else:
        bar_color = alt.value(MODEL_PALETTE[0])
    base = alt.Chart(df).encode(**enc)
    layers = [base.mark_bar().encode(x=alt.X(**_enc(value, "Q")), color=bar_color, tooltip=tips)]
    if isinstance(band, pd.DataFrame):
        if "label" in band.columns and len(band):
            band_label = str(band["label"].iloc[0])
        band = (band["low"].iloc[0], band["high"].iloc[0]) if len(band) else None
    if band is not None:
        layers.insert(0, _band(band, band_label))
    if _has_interval(df):
        layers.append(_error_bars(base, tips=tips, axis="x"))
    if paper is not None:
        layers.append(_paper_ticks(base, paper, tips, axis="x"))
    chart = layers[0] if len(layers) == 1 else alt.layer(*layers)
    return chart.properties(title=_title(title, paper is not None), width=VALUE_AXIS,
                            height=bars_height(len(cats), per_row))


def _band(band: tuple[float, float], label: str):
    """A grey vertical band from band[0] to band[1] along the value axis, over the whole
    height (no y channel: a rect without one spans the plot)."""
    low, high = (float(b) for b in band)
    data = pd.DataFrame({"band": [label], "low": [low], "high": [high]})
    return alt.Chart(data).mark_rect(color="#999", opacity=0.22).encode(
        x=alt.X("low:Q", title=None), x2=alt.X2("high"),
        tooltip=[alt.Tooltip("band:N", title=""), alt.Tooltip("low:Q", format=".3~f"),
                 alt.Tooltip("high:Q", format=".3~f")])


def grouped_bars(df: pd.DataFrame, x: str, y: str, color: str = "model", *, title: str = "",
                 paper_col: str | None = None, models: Sequence[str] | None = None,
                 x_sort: Sequence[str] | None = None, y_title: str | None = None,
                 rule_at: float | None = None):
    """Bars of ``y`` per ``x`` category, one bar per ``color`` (model) side by side, in the
    table's order, as wide as the bars need (within the page). ``rule_at``: a dashed
    horizontal reference line (e.g. 1 for error ratios).
    """
    _require(df, [x, y, color], "grouped_bars")
    order = _models(df, models, color)
    xs = list(x_sort) if x_sort is not None else _order(df, x)
    paper = _paper_col(df, paper_col)
    tips = _tooltip(df, [x, color, y, CI_LOW, CI_HIGH, paper, "note"])
    width = group_width(len(xs), len(order))
    angle = _label_angle(xs, width / max(1, len(xs)))
    base = alt.Chart(df).encode(
        x=alt.X(**_enc(x, "N", sort=xs, title=None, axis=alt.Axis(labelAngle=angle, labelLimit=0))),
        xOffset=alt.XOffset(**_enc(color, "N", sort=order)),
    )
    layers = [base.mark_bar().encode(
        y=alt.Y(**_enc(y, "Q", title=y_title or str(y))),
        color=alt.Color(**_enc(color, "N", scale=model_color_scale(order),
                               legend=model_legend() if color == "model" else model_legend(str(color)))),
        tooltip=tips,
    )]
    if _has_interval(df):
        layers.append(_error_bars(base, tips=tips))
    if paper is not None:
        layers.append(_paper_ticks(base, paper, tips))
    if rule_at is not None:
        layers.append(alt.Chart(pd.DataFrame({"ref": [rule_at]})).mark_rule(
            strokeDash=[4, 4], color="gray").encode(y=alt.Y("ref:Q")))
    chart = layers[0] if len(layers) == 1 else alt.layer(*layers)
    return chart.properties(title=_title(title, paper is not None), width=width, height=240)


def error_ratio_bars(df: pd.DataFrame, value: str | None = None, *, factor: str = "factor",
                     title: str = "ImageNet-X error ratio per factor (lower is better)",
                     models: Sequence[str] | None = None):
    """ImageNet-X: error ratio = (1 - acc_factor) / (1 - acc_overall) per factor x model.

    ``value``: default the first of 'error_ratio', 'error ratio', 'value'. A dashed line at
    1 marks "as often wrong as overall"; bars above it are factors the model finds harder.
    """
    value = _pick(df, value, ("error_ratio", "error ratio", "value"), "error_ratio_bars", "value")
    return grouped_bars(df, factor, value, "model", title=title, models=models,
                        y_title="error ratio", rule_at=1.0)


def robustness_bars(df: pd.DataFrame, value: str | None = None, *, dataset: str | None = None,
                    title: str = "Top-1 accuracy on ImageNet variants",
                    models: Sequence[str] | None = None):
    """Top-1 per robustness dataset (V2, A, R, Sketch, C, ReaL, Hard, ...) per model.

    Columns: model; dataset (or 'variant'); value (default 'top1', 'top-1' or 'accuracy');
    optional paper.
    """
    value = _pick(df, value, ("top1", "top-1", "accuracy", "value"), "robustness_bars", "value")
    dataset = _pick(df, dataset, ("dataset", "variant"), "robustness_bars", "dataset")
    return grouped_bars(df, dataset, value, "model", title=title, models=models)


def _panels(models: Sequence[str]) -> dict:
    """Small multiples, one per model, ``PANELS_PER_ROW`` to a row (30 models wrap)."""
    return {"facet": alt.Facet("model:N", sort=list(models), title=None, header=alt.Header(labelLimit=0)),
            "columns": PANELS_PER_ROW}


def reliability_diagram(bins_df: pd.DataFrame, *, models: Sequence[str] | None = None,
                        title: str = "Reliability diagram"):
    """Accuracy per confidence bin, one panel per model, with the diagonal y = x.

    ``bins_df``: ``metrics.reliability_bins`` rows plus a model column (model, lower, upper,
    accuracy, count; mean_confidence shown in the tooltip). A perfectly calibrated model has
    every bar top on the diagonal; bars below it are over-confident bins, bars above it
    under-confident ones. Empty bins are not drawn.
    """
    _require(bins_df, ["model", "lower", "upper", "accuracy", "count"], "reliability_diagram")
    order = _models(bins_df, models)
    data = bins_df[bins_df["count"] > 0]
    tips = _tooltip(data, ["model", "lower", "upper", "mean_confidence", "confidence", "accuracy", "count"])
    bars = alt.Chart().mark_bar(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("lower:Q", scale=alt.Scale(domain=[0, 1]), title="confidence"),
        x2="upper:Q",
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="accuracy"),
        y2=alt.datum(0),  # with x..x2 given, a bar needs an explicit base or it is drawn as a band
        color=alt.Color("model:N", scale=model_color_scale(order), legend=None),
        tooltip=tips,
    )
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})).mark_line(
        color="gray", strokeDash=[4, 4]).encode(x="x:Q", y="y:Q")
    return alt.layer(bars, diagonal, data=data).properties(width=PANEL, height=PANEL).facet(
        **_panels(order), title=title)


def confidence_histogram(df: pd.DataFrame, *, n_bins: int = 15, models: Sequence[str] | None = None,
                         title: str = "Confidence histogram"):
    """Share of samples per confidence bin, one panel per model.

    Accepts pre-binned rows (model, lower, upper, count: ``metrics.confidence_histogram``
    plus a model column) or per-sample rows (model, confidence), binned here with
    ``n_bins`` equal-width bins over [0, 1] so the chart's data stays small.
    """
    if "count" in df.columns:
        _require(df, ["model", "lower", "upper", "count"], "confidence_histogram")
        binned = df[["model", "lower", "upper", "count"]].copy()
    else:
        _require(df, ["model", "confidence"], "confidence_histogram")
        binned = _histogram(df, n_bins)
    binned["share"] = binned["count"] / binned.groupby("model")["count"].transform("sum")
    order = _models(binned, models)
    return alt.Chart(binned).mark_bar(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("lower:Q", scale=alt.Scale(domain=[0, 1]), title="confidence"),
        x2="upper:Q",
        y=alt.Y("share:Q", axis=alt.Axis(format="%"), title="share of samples"),
        y2=alt.datum(0),
        color=alt.Color("model:N", scale=model_color_scale(order), legend=None),
        tooltip=_tooltip(binned, ["model", "lower", "upper", "count", "share"]),
    ).properties(width=PANEL, height=int(PANEL * 0.7)).facet(**_panels(order), title=title)


def _histogram(df: pd.DataFrame, n_bins: int) -> pd.DataFrame:
    """Counts per equal-width bin over [0, 1] (numpy's rule: bins closed on the left, the
    last also on the right), per model in order of appearance."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    rows = []
    for model, group in df.groupby("model", sort=False):
        counts, _ = np.histogram(group["confidence"].to_numpy(dtype=float), bins=edges)
        rows += [{"model": model, "lower": edges[i], "upper": edges[i + 1], "count": int(c)}
                 for i, c in enumerate(counts)]
    return pd.DataFrame(rows)


def shape_bias_plot(df: pd.DataFrame, overall: pd.DataFrame | None = None, *,
                    value: str | None = None, models: Sequence[str] | None = None,
                    title: str = "Shape vs texture decisions per category"):
    """Geirhos-style shape-bias plot as a dot plot: one row per category, x = fraction of
    shape decisions (#shape / (#shape + #texture)), 1 = all shape, 0 = all texture.

    ``df`` columns: category, model, value (default 'shape_fraction' or 'shape_bias', as
    ``metrics.shape_bias_per_category`` names it). ``overall`` (optional; model,
    shape_bias): each model's overall bias drawn as a dashed vertical line.
    """
    value = _pick(df, value, ("shape_fraction", "shape_bias"), "shape_bias_plot", "value")
    _require(df, ["category", "model"], "shape_bias_plot")
    order = _models(df, models)
    scale = model_color_scale(order)
    x = alt.X(**_enc(value, "Q", scale=alt.Scale(domain=[0, 1]),
                     title="fraction of shape decisions (0 = texture, 1 = shape)"))
    layers = [alt.Chart(df).mark_point(filled=True, size=70, opacity=0.85).encode(
        x=x, y=alt.Y("category:N", title=None, sort=_order(df, "category")),
        color=alt.Color("model:N", scale=scale, legend=model_legend()),
        shape=alt.Shape("model:N", sort=order, legend=None),
        tooltip=_tooltip(df, ["category", "model", value, "n_shape", "n_texture"]),
    )]
    if overall is not None:
        _require(overall, ["model", "shape_bias"], "shape_bias_plot(overall=)")
        layers.append(alt.Chart(overall).mark_rule(strokeDash=[4, 3]).encode(
            x=alt.X("shape_bias:Q"), color=alt.Color("model:N", scale=scale, legend=model_legend()),
            tooltip=_tooltip(overall, ["model", "shape_bias"])))
    chart = layers[0] if len(layers) == 1 else alt.layer(*layers)
    return chart.properties(title=title, width=VALUE_AXIS, height=bars_height(df["category"].nunique()))


def invariance_lines(df: pd.DataFrame, value: str = "top1", *, level: str | None = None,
                     models: Sequence[str] | None = None,
                     title: str = "Accuracy under transformations"):
    """``value`` against the transformation's level, one line per model (named in the
    legend below), one panel per transform (independent x scales: scale factor, pixels,
    resolution).

    ``df`` columns: transform, model, ``value`` (y), level (x; default 'level', else
    'value' as ``metrics.invariance_curve`` names it); optional paper (hollow black points).
    """
    level = _pick(df, level, ("level", "value"), "invariance_lines", "level")
    _require(df, ["transform", "model", value], "invariance_lines")
    if level == value:
        raise ValueError(f"invariance_lines: level and value are both {value!r}; name the y column")
    order = _models(df, models)
    paper = _paper_col(df, None)
    tips = _tooltip(df, ["transform", level, "model", value, paper])
    # every layer coloured by model with the same scale and legend: Vega-Lite merges their
    # legends into one, and drops it when any layer says legend=None
    color = alt.Color("model:N", scale=model_color_scale(order), legend=model_legend())
    base = alt.Chart().encode(x=alt.X(**_enc(level, "Q", title="level")))
    layers = [base.mark_line(point=True).encode(y=alt.Y(**_enc(value, "Q")), color=color, tooltip=tips)]
    if _has_interval(df):  # the 95% interval as a band around each line
        layers.insert(0, base.mark_area(opacity=0.18).encode(
            y=alt.Y(**_enc(CI_LOW, "Q", title=None)), y2=alt.Y2(CI_HIGH), color=color))
    if paper is not None:
        layers.append(base.mark_point(filled=False, color=PAPER_MARK_COLOR, size=50).encode(
            y=alt.Y(**_enc(paper, "Q")), detail="model:N", tooltip=tips))
    transforms = _order(df, "transform")
    return alt.layer(*layers, data=df).properties(width=PANEL, height=int(PANEL * 0.85)).facet(
        facet=alt.Facet("transform:N", title=None, sort=transforms), columns=PANELS_PER_ROW,
        title=_title(title, paper is not None),
    ).resolve_scale(x="independent")


def heatmap(df: pd.DataFrame, x: str, y: str, value: str, *, title: str = "",
            facet: str | None = None, domain: Sequence[float] | None = (0.0, 1.0)):
    """A ``value`` heatmap over ``x`` x ``y`` (e.g. linear CKA, layer x layer), a cell per
    pair sized so that every row label has its own line.

    Axis categories keep the table's order (layer depth), not alphabetical order.
    ``domain``: colour range; (0, 1) suits accuracies, None fits the data. A quantity with a
    known range (``VALUE_SCALES``: CKA, kappa) is coloured on all of it unless another
    ``domain`` is given. ``facet``: one panel per value of that column (e.g. model).
    """
    _require(df, [x, y, value] + ([facet] if facet else []), "heatmap")
    xs, ys = _order(df, x), _order(df, y)
    y_step = min(heat_step(len(xs)), heat_step(len(ys)))
    # a few columns (models) get cells wide enough for their names to read across
    longest = max((len(str(v)) for v in xs), default=0)
    x_step = max(y_step, min(int(longest * 6.5) + 12, (PAGE_WIDTH - 320) // max(1, len(xs))))
    chart = alt.Chart(df).mark_rect().encode(
        x=alt.X(**_enc(x, "O", sort=xs, axis=alt.Axis(labelAngle=_label_angle(xs, x_step), labelLimit=0))),
        y=alt.Y(**_enc(y, "O", sort=ys, axis=alt.Axis(labelLimit=0))),
        color=alt.Color(**_enc(value, "Q", scale=_value_scale(value, domain, df[value]),
                               legend=alt.Legend(gradientLength=max(120, min(260, y_step * len(ys)))))),
        tooltip=_tooltip(df, [facet, x, y, value, CI_LOW, CI_HIGH]),
    ).properties(width=alt.Step(x_step), height=alt.Step(y_step))
    if len(xs) * len(ys) <= TEXT_CELLS and y_step >= 20:   # a few cells: their numbers too
        text = alt.Chart(df).mark_text(fontSize=11).encode(
            x=alt.X(**_enc(x, "O", sort=xs)), y=alt.Y(**_enc(y, "O", sort=ys)),
            text=alt.Text(**_enc(value, "Q", format=".2f")),
            color=alt.value("black"))
        chart = alt.layer(chart, text)
    if facet:
        return chart.facet(facet=alt.Facet(**_enc(facet, "N", title=None, sort=_order(df, facet),
                                                   header=alt.Header(labelLimit=0))),
                           columns=max(1, PAGE_WIDTH // max(1, x_step * len(xs) + 80)), title=title)
    return chart.properties(title=title)


# ---------------------------------------------------------------------------- the field
#: how each group of a field table (pages.base.field_table) is drawn
FIELD_GROUP_ORDER = ("field", "humans", "published", "this run")
FIELD_COLOR = "#9a9a9a"
HUMAN_COLOR = "#d4a017"


def field_strip(df: pd.DataFrame, *, title: str = "Where the run's models stand in the published field",
                models: Sequence[str] | None = None, width: int = 560):
    """The published field as a strip per metric: on the top row one grey tick per model of
    the field, below it the observers (group 'humans') in gold, then one row per run model
    (group 'this run'), best first, its value as a point in its model colour with its 95%
    interval, and the field's own number for it (group 'published') as a black diamond on
    the same row; the tooltip gives the percentile in the field and its interval. ``df``:
    ``pages.base.field_table`` (columns metric, source, group, model, value, ci_low,
    ci_high, percentile, percentile_low, percentile_high, n). One panel per metric, each
    with its own value axis and rows."""
    _require(df, ["metric", "group", "model", "value"], "field_strip")
    df = df.copy()
    sizes = df[df["group"] == "field"].groupby("metric").size()
    field_row = "field (" + df["metric"].map(sizes).fillna(0).astype(int).map("{:,}".format) + " models)"
    df["row"] = np.where(df["group"] == "field", field_row, np.where(df["group"] == "humans", "humans", df["model"]))
    run = df[df["group"] == "this run"].sort_values("value", ascending=False)
    rows = list(dict.fromkeys([*df.loc[df["group"] == "field", "row"], "humans", *run["model"],
                               *df.loc[df["group"] == "published", "model"]]))
    order = _models(run, models) if len(run) else []
    y = alt.Y("row:N", sort=rows, title=None, axis=alt.Axis(labelLimit=260))
    base = alt.Chart().encode(x=alt.X("value:Q", title=None, scale=alt.Scale(zero=False)), y=y)
    tip = _tooltip(df, ["model", "metric", "value", "ci_low", "ci_high", "percentile", "percentile_low",
                        "percentile_high", "n", "source"])
    layers = [
        base.transform_filter(alt.datum.group == "field").mark_tick(color=FIELD_COLOR, opacity=0.5, thickness=1)
        .encode(tooltip=[alt.Tooltip("model:N"), alt.Tooltip("value:Q", format=".3~f")]),
        base.transform_filter(alt.datum.group == "humans").mark_tick(color=HUMAN_COLOR, thickness=2)
        .encode(tooltip=[alt.Tooltip("model:N", title="observer"), alt.Tooltip("value:Q", format=".3~f")]),
    ]
    if order:
        color = alt.Color("model:N", scale=model_color_scale(order), legend=None)
        layers.append(base.transform_filter(alt.datum.group == "this run").mark_rule(strokeWidth=2)
                      .encode(x=alt.X("ci_low:Q"), x2="ci_high:Q", color=color, tooltip=tip))
        layers.append(base.transform_filter(alt.datum.group == "this run").mark_point(filled=True, size=60)
                      .encode(color=color, tooltip=tip))
    layers.append(base.transform_filter(alt.datum.group == "published")
                  .mark_point(shape="diamond", color=PAPER_MARK_COLOR, size=60, filled=False).encode(tooltip=tip))
    return (alt.layer(*layers, data=df).properties(width=width, height=alt.Step(16))
            .facet(row=alt.Row("metric:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left",
                                                                         labelFontWeight="bold")))
            .resolve_scale(x="independent", y="independent")
            .properties(title=alt.TitleParams(title, subtitle="grey: the field's models; gold: human observers; "
                                                              "points: this run (95% interval); black diamond: the "
                                                              "field's own number for that model")))


# ------------------------------------------------------------- colours for many models
#: after Tableau-10, for reports of up to 30 models: Tableau-20's light shades and ten
#: darker ones (d3's category20b/c), so no two of 30 models share a colour
MODEL_PALETTE_30 = MODEL_PALETTE + (
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#c7c7c7",
    "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363",
)
_MODEL_ORDER: dict[str, int] = {}


def use_model_order(models: Iterable[str]) -> None:
    """Fix each model's colour for the rest of the kernel by its place in ``models`` (the
    profile's order: ``report.setup`` calls this), so a model has the same colour on every
    chart of every page even where a chart sorts its models by value."""
    _MODEL_ORDER.clear()
    _MODEL_ORDER.update({m: i for i, m in enumerate(dict.fromkeys(models))})


def _model_color(model: str, position: int) -> str:
    i = _MODEL_ORDER.get(model, position)
    palette = MODEL_PALETTE_30 if len(_MODEL_ORDER) > len(MODEL_PALETTE) else MODEL_PALETTE
    return palette[i % len(palette)]



# ------------------------------------------------------------- paired comparisons
VERDICT_COLORS = {"ahead": "#1a7f37", "behind": "#c62828", "cannot tell": "#e0e0e0"}


def comparison_matrix(df: pd.DataFrame, *, title: str = ""):
    """The paired comparisons of one metric as a matrix (``pages.base.comparison_matrix``):
    a cell per ordered pair, green where the row's model is ahead of the column's (the
    paired 95% interval of the difference excludes 0), red where it is behind, grey where
    the two cannot be told apart; models in rank order, the best first. Legible for 30
    models, where a list of 435 pairs is not."""
    _require(df, ["model", "versus", "verdict", "order"], "comparison_matrix")
    order = df.drop_duplicates("model").sort_values("order")["model"].tolist()
    step = max(9, min(22, 540 // max(len(order), 1)))
    tips = _tooltip(df, ["model", "versus", "verdict", "difference", "low", "high"])
    return alt.Chart(df).mark_rect(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("versus:N", sort=order, title=None, axis=alt.Axis(labelAngle=-60, labelLimit=160)),
        y=alt.Y("model:N", sort=order, title=None, axis=alt.Axis(labelLimit=200)),
        color=alt.Color("verdict:N", scale=alt.Scale(domain=list(VERDICT_COLORS), range=list(VERDICT_COLORS.values())),
                        legend=alt.Legend(title="row vs column", orient="bottom")),
        tooltip=tips,
    ).properties(width=alt.Step(step), height=alt.Step(step), title=title or str(df["metric"].iloc[0]))


def lines_by_model(df: pd.DataFrame, x: str, y: str, *, ordinal: bool = True,
                   models: Sequence[str] | None = None, points: bool = True, title: str = "",
                   x_title: str | None = None, y_title: str | None = None, facet: str | None = None):
    """``y`` against ``x``, one line per model, the 95% interval as a band when the table
    has ``ci_low`` / ``ci_high``.

    ``ordinal``: ``x`` is a category kept in the table's order (the shifts of a calibration
    page: val, V2, ..., C severity 1..5); else a quantity (a risk-coverage curve's coverage).
    ``facet``: one panel per value of that column, in table order.
    """
    _require(df, ["model", x, y] + ([facet] if facet else []), "lines_by_model")
    order = _models(df, models)
    kind = "O" if ordinal else "Q"
    x_kw = {"sort": _order(df, x), "axis": alt.Axis(labelAngle=-40)} if ordinal else {}
    base = alt.Chart().encode(x=alt.X(**_enc(x, kind, title=x_title or str(x), **x_kw)))
    # one colour encoding on every layer (as in invariance_lines): the legend below, whole names
    color = alt.Color("model:N", scale=model_color_scale(order), legend=model_legend())
    tips = _tooltip(df, [facet, "model", x, y, CI_LOW, CI_HIGH, "images"])
    line = base.mark_line(point=points) if points else base.mark_line()
    layers = [line.encode(y=alt.Y(**_enc(y, "Q", title=y_title or str(y))), color=color, tooltip=tips)]
    if _has_interval(df):
        layers.insert(0, base.mark_area(opacity=0.15).encode(
            y=alt.Y(**_enc(CI_LOW, "Q", title=None)), y2=alt.Y2(CI_HIGH), color=color))
    chart = alt.layer(*layers, data=df).properties(width=420 if not facet else 260, height=220)
    if facet:
        return chart.facet(column=alt.Column(f"{_field(facet)}:N", title=None, sort=_order(df, facet)),
                           title=title)
    return chart.properties(title=title)


def benchmark_scatter(df: pd.DataFrame, x: str, y: str, *, expected: pd.DataFrame | None = None,
                      models: Sequence[str] | None = None, title: str = "",
                      expected_label: str = "expected by chance"):
    """model-vs-human's summary scatter: one point per decision maker (``model`` column:
    the models and the humans), ``y`` against ``x``, each labelled; the 95% intervals as
    error bars where ``<x> low`` / ``<x> high`` (and the same for ``y``) have values.
    ``expected``: a table with columns ``x`` and ``y`` drawn as a dashed grey line (the
    consistency two decision makers reach by chance), named ``expected_label``."""
    _require(df, ["model", x, y], "benchmark_scatter")
    order = _models(df, models)
    scale = model_color_scale(order)
    tips = _tooltip(df, ["model", x, y, f"{x} low", f"{x} high", f"{y} low", f"{y} high"])
    base = alt.Chart(df).encode(x=alt.X(**_enc(x, "Q", scale=alt.Scale(zero=False))),
                                y=alt.Y(**_enc(y, "Q", scale=alt.Scale(zero=False))))
    layers = []
    if expected is not None and len(expected):
        _require(expected, [x, y], "benchmark_scatter(expected=)")
        line = expected.assign(line=expected_label)
        layers.append(alt.Chart(line).mark_line(strokeDash=[5, 4], color="gray").encode(
            x=alt.X(**_enc(x, "Q")), y=alt.Y(**_enc(y, "Q")),
            tooltip=[alt.Tooltip("line:N", title="")]))
    for axis, other in ((x, "x"), (y, "y")):
        low, high = f"{axis} low", f"{axis} high"
        if _has_interval(df, low, high):
            enc = ({"x": alt.X(**_enc(low, "Q", title=x)), "x2": alt.X2(_field(high))} if other == "x" else
                   {"y": alt.Y(**_enc(low, "Q", title=y)), "y2": alt.Y2(_field(high))})
            layers.append(base.mark_rule(opacity=0.6).encode(
                color=alt.Color("model:N", scale=scale, legend=None), **enc))
    # every point is named beside it (a click on it highlights it): no legend
    layers.append(base.mark_point(filled=True, size=90).encode(
        color=alt.Color("model:N", scale=scale, legend=None), tooltip=tips))
    layers.append(base.mark_text(align="left", dx=7, dy=-7, fontSize=11).encode(
        text="model:N", color=alt.Color("model:N", scale=scale, legend=None)))
    return alt.layer(*layers).properties(title=title, width=320, height=280)


def level_lines(df: pd.DataFrame, value: str = "accuracy", *, level: str = "level label",
                order: str = "level order", facet: str = "axis", models: Sequence[str] | None = None,
                title: str = "", rule_at: float | None = None):
    """``value`` per level of a parametric distortion, one line per model, one panel per
    ``facet`` (a dataset and what its levels measure), the levels in ``order`` (ordinal:
    contrast 100 % ... 1 %); the 95% interval as a band where ``ci_low`` / ``ci_high`` have
    values; ``rule_at``: a dotted horizontal line (chance: 1/16)."""
    _require(df, [level, order, facet, "model", value], "level_lines")
    names = _models(df, models)
    scale = model_color_scale(names)
    tips = _tooltip(df, [facet, level, "model", value, CI_LOW, CI_HIGH, "trials"])
    base = alt.Chart().encode(x=alt.X(**_enc(level, "O", sort=alt.EncodingSortField(order), title="level")))
    # the same colour encoding on both layers: a faceted chart drops a legend a layer hides
    color = alt.Color("model:N", scale=scale, legend=model_legend())
    layers = [base.mark_line(point=True).encode(
        y=alt.Y(**_enc(value, "Q", scale=alt.Scale(domain=[0, 1]))), color=color, tooltip=tips)]
    if _has_interval(df):
        layers.insert(0, base.mark_area(opacity=0.15).encode(
            y=alt.Y(**_enc(CI_LOW, "Q", title=None)), y2=alt.Y2(CI_HIGH), color=color))
    if rule_at is not None:
        layers.append(alt.Chart().mark_rule(strokeDash=[2, 3], color="gray").encode(y=alt.datum(rule_at)))
    return alt.layer(*layers, data=df).properties(width=190, height=150).facet(
        facet=alt.Facet(**_enc(facet, "N", title=None, sort=_order(df, facet))), columns=4, title=title,
    ).resolve_scale(x="independent")
