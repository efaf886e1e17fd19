"""Display helpers for notebooks: panels, findings, tables, galleries. Nothing here
computes; a page's numbers and tables come from ``pages`` (its context, ``pages.Study``,
shows its panels through these).

    nb.table(page.table("summary"))
    nb.findings(page)
"""

from __future__ import annotations

import html

import pandas as pd

from .paths import runnable

#: the data root of the notebook's study (``report.setup``): printed commands name it
_where = {"data_root": None}


def _display(obj):
    try:
        from IPython.display import display

        display(obj)
    except ImportError:  # plain Python: print something sensible
        print(obj)


def panel(title: str, body: str, kind: str = "info"):
    """A boxed note on the page (missing dataset, stand-in, untrained models)."""
    from IPython.display import HTML

    colours = {"info": ("#eef4fb", "#3b6ea8"), "warn": ("#fff6e5", "#b7791f"),
               "missing": ("#fdecec", "#b83232")}
    bg, fg = colours.get(kind, colours["info"])
    body_html = html.escape(runnable(body, _where["data_root"])).replace("\n", "<br>")
    _display(HTML(f'<div class="bi-panel bi-{kind}" style="background:{bg};border-left:4px solid {fg};'
                  f'padding:0.6em 1em;margin:0.8em 0;font-family:sans-serif">'
                  f'<b style="color:{fg}">{html.escape(title)}</b><br>{body_html}</div>'))


def finding(markdown_text: str):
    """Show a finding computed from the numbers (a Markdown paragraph)."""
    from IPython.display import Markdown

    _display(Markdown(runnable(markdown_text, _where["data_root"])))


def findings(page):
    """A page's findings (Markdown paragraphs computed from its numbers), or a line saying
    there is nothing to conclude from."""
    if not page.findings:
        finding("_No finding: the data this page needs was not found (see the panels above)._")
    for text in page.findings:
        finding(text)


def table(df: pd.DataFrame, floatfmt: str = "{:.3f}", caption: str | None = None, absent: str | None = None):
    """A compact HTML table (no index) for the page. An empty one draws nothing (a page
    without its data says so in its panels), or, with ``absent``, that one line in its
    place: a section whose data is missing says so instead of standing empty."""
    from IPython.display import HTML

    if df.empty:
        if absent:
            _display(HTML(f"<p class='bi-absent' style='color:#555;font-style:italic'>{html.escape(absent)}</p>"))
        return

    df = df.astype(object).where(df.notna(), None).map(lambda v: "–" if v is None else v)
    df.columns.name = None  # pivot tables carry a columns name that renders as an empty column
    from .report import unsigned_zero

    styled = df.to_html(index=False, float_format=lambda x: unsigned_zero(floatfmt.format(x)), na_rep="–",
                        border=0, classes="bi-table")
    cap = f"<p style='font-size:90%;color:#555'>{html.escape(caption)}</p>" if caption else ""
    _display(HTML(TABLE_CSS + styled + cap))


def gallery(df: pd.DataFrame, image: str = "image", caption: str = "caption"):
    """Small images side by side, each with its caption (lines of text). ``image`` holds
    ``data:image/...`` URIs (the page embeds its thumbnails: nothing is loaded from
    anywhere); rows without one are shown as captions only."""
    from IPython.display import HTML

    cells = []
    for row in df.to_dict("records"):
        src = row.get(image)
        img = (f'<img src="{html.escape(src)}" style="display:block;margin-bottom:4px" alt="">'
               if isinstance(src, str) and src.startswith("data:image/") else "")
        text = html.escape(str(row.get(caption) or "")).replace("\n", "<br>")
        cells.append(f'<figure style="margin:0;width:190px;font:12px sans-serif">{img}'
                     f"<figcaption>{text}</figcaption></figure>")
    if cells:
        _display(HTML('<div class="bi-gallery" style="display:flex;flex-wrap:wrap;gap:12px;margin:0.6em 0">'
                      + "".join(cells) + "</div>"))


TABLE_CSS = """<style>
.bi-table {border-collapse: collapse; font-family: sans-serif; font-size: 13px; margin: 0.5em 0}
.bi-table th {background: #f0f0f0; padding: 4px 10px; text-align: left}
.bi-table td {padding: 3px 10px; border-bottom: 1px solid #e5e5e5; text-align: right}
.bi-table td:first-child {text-align: left}
</style>"""


def missing_panel(title: str, rows):
    """One panel listing several absent datasets: ``rows`` of (name, looked at, how to get it)."""
    from IPython.display import HTML

    if not rows:
        return
    cells = "".join(f"<tr><td><b>{html.escape(name)}</b></td><td>{html.escape(looked)}</td>"
                    f"<td><code>{html.escape(how)}</code></td></tr>" for name, looked, how in rows)
    _display(HTML(
        '<div class="bi-panel bi-missing" style="background:#fdecec;border-left:4px solid #b83232;'
        'padding:0.6em 1em;margin:0.8em 0;font-family:sans-serif">'
        f'<b style="color:#b83232">{html.escape(title)}</b> (the rest of the page uses what was found; '
        f'`{html.escape(runnable("beyond-inet data check"))}` shows the expected layouts)'
        '<table style="font-size:12px;margin-top:0.4em"><tr><th align=left>dataset</th>'
        f'<th align=left>looked at</th><th align=left>get it with</th></tr>{cells}</table></div>'))


def comparison_matrices(page, *, min_models: int = 4) -> None:
    """Each metric's paired comparisons as a matrix (``charts.comparison_matrix`` of
    ``page.comparison_matrices``) when it compares at least ``min_models`` models; fewer
    are said in the findings' words."""
    from . import charts

    for m in page.comparison_matrices(min_models).values():
        charts.show(charts.comparison_matrix(m))
