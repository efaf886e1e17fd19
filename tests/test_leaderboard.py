"""The index's leaderboard: one row per model, one column per headline metric with a
direction, each cell the value, its interval, the rank with its rank interval and the
field's percentile, sortable offline by a click on a column."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from test_browser import browser, load  # noqa: F401  (the offline Chromium fixture)

from beyond_inet_lib import report
from beyond_inet_lib.pages.schema import HEADLINE_FIELDS


def _rows():
    base = dict.fromkeys(HEADLINE_FIELDS)
    rows = [
        {**base, "property": "robustness", "model": "A", "metric": "top-1 imagenet-r", "value": 0.61, "ci_low": 0.55,
         "ci_high": 0.66, "better": "higher", "rank": 1, "rank_low": 1, "rank_high": 1, "field_percentile": 72.4,
         "field_source": "timm"},
        {**base, "property": "robustness", "model": "B", "metric": "top-1 imagenet-r", "value": 0.40, "ci_low": 0.34,
         "ci_high": 0.46, "better": "higher", "rank": 2, "rank_low": 2, "rank_high": 3},
        {**base, "property": "robustness", "model": "C", "metric": "top-1 imagenet-r", "value": 0.39, "ci_low": 0.33,
         "ci_high": 0.45, "better": "higher", "rank": 3, "rank_low": 2, "rank_high": 3},
        {**base, "property": "calibration", "model": "B", "metric": "ECE", "value": 0.02, "better": "lower"},
        {**base, "property": "calibration", "model": "A", "metric": "ECE", "value": 0.05, "better": "lower"},
        {**base, "property": "similarity", "model": "A", "metric": "mean CKA", "value": 0.9, "better": None},
    ]
    return pd.DataFrame(rows)


def test_leaderboard_has_a_row_per_model_and_a_column_per_directed_metric():
    html = report.leaderboard_html(_rows(), ["C", "B", "A"])
    head = re.search(r"<thead>(.*?)</thead>", html).group(1)
    assert head.count("<th") == 3 and "top-1 imagenet-r" in head and "ECE" in head and "mean CKA" not in head
    body = re.findall(r"<tr>(.*?)</tr>", re.search(r"<tbody>(.*?)</tbody>", html).group(1))
    assert [re.search(r'data-sort="([^"]*)"', r).group(1) for r in body] == ["C", "B", "A"]   # the profile's order
    a = body[2]
    assert "0.61" in a and "[0.55, 0.66]" in a and "#1 [1]" in a and "p72" in a
    b = body[1]
    assert "#2 [2&ndash;3]" in b
    # sort keys: the rank where ranked; else the value turned so that the better sorts first
    keys = [re.findall(r'data-sort="([^"]*)"', r) for r in body]
    assert keys[2][1:] == ["1", "0.05"] and keys[1][1:] == ["2", "0.02"] and keys[0][1:] == ["3", ""]
    assert "<script>" in html and "src=" not in html


def test_index_shows_the_leaderboard_only_with_directed_metrics():
    assert report.leaderboard_html(_rows().query("better != better or better not in ['higher', 'lower']"), []) == ""
    assert report.leaderboard_html(pd.DataFrame(), []) == ""


@pytest.mark.slow
def test_a_click_on_a_column_sorts_the_leaderboard_offline(browser, tmp_path):
    """In headless Chromium with networking off: a click on 'top-1 imagenet-r' puts the
    models in rank order (A, B, C), a second click turns it over, a click on ECE sorts
    by ECE, lower first, and a model without a number last."""
    clicks = {"rank": "h[1].click();", "twice": "h[1].click(); h[1].click();", "ece": "h[2].click();"}
    got = {}
    for name, js in clicks.items():
        page = tmp_path / f"{name}.html"
        page.write_text("<!DOCTYPE html><html><body>" + report.leaderboard_html(_rows(), ["C", "B", "A"])
                        + f"<script>var h = document.querySelectorAll('th'); {js}</script></body></html>")
        dom, console = load(browser, page, tmp_path / f"profile-{name}")
        body = re.search(r"<tbody>(.*?)</tbody>", dom, re.S).group(1)
        got[name] = re.findall(r'<tr><td data-sort="([^"]*)"', body)
        assert not [c for c in console if "CONSOLE" in c and "error" in c.lower()]
    assert got == {"rank": ["A", "B", "C"], "twice": ["C", "B", "A"], "ece": ["B", "A", "C"]}
