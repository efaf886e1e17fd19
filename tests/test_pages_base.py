"""The shared pieces the mistakes, shape-bias and similarity pages use: joint intervals and
paired comparisons from one resample per replicate, aligned rows, embedded thumbnails."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import page_inputs as P
from beyond_inet_lib import engine, stats
from beyond_inet_lib.pages import base
from beyond_inet_lib.pages.schema import Metric
from beyond_inet_lib.views import View


def _column_means(x):
    return np.asarray(x, dtype=float).mean(axis=0)


def test_joint_intervals_are_the_separate_and_the_paired_bootstrap():
    """Each model's interval equals its own bootstrap, each difference's interval the paired
    bootstrap of the two models (same seed, same resamples): one pass gives both."""
    rng = np.random.default_rng(1)
    n = 400
    a = rng.random(n) < 0.80          # clearly the best
    b = rng.random(n) < 0.60
    c = b.copy()
    c[:4] = ~c[:4]                    # nearly the same as b: their order must not be claimed
    x = np.stack([a, b, c], axis=1).astype(float)
    s = P.study("mistakes", models=("convnext_sup", "vit_sup", "vit_clip"), n_boot=400, seed=3)
    keys = ["convnext_sup", "vit_sup", "vit_clip"]
    values, ivs, comps = base.joint(s, _column_means, keys, x, metric=Metric("acc", "higher"))
    for i, k in enumerate(keys):
        alone = stats.bootstrap_ci("mean", x[:, i], n_boot=400, seed=3)
        assert values[k] == pytest.approx(x[:, i].mean())
        assert (ivs[k].low, ivs[k].high) == pytest.approx((alone.low, alone.high), abs=1e-12)
    by_pair = {(r["better"], r["worse"]): r for r in comps}
    la, lb, lc = (s.label(k) for k in keys)
    ab = by_pair[(la, lb)]
    paired = stats.paired_bootstrap("mean", x[:, 0], x[:, 1], n_boot=400, seed=3)
    assert (ab["low"], ab["high"]) == pytest.approx((paired.low, paired.high), abs=1e-12)
    assert ab["holds"] and ab["difference"] > 0
    # b and c: the better one first, its difference positive, the interval oriented the same way
    (bc,) = [r for r in comps if {r["better"], r["worse"]} == {lb, lc}]
    first, second = (1, 2) if bc["better"] == lb else (2, 1)
    paired = stats.paired_bootstrap("mean", x[:, first], x[:, second], n_boot=400, seed=3)
    assert bc["difference"] >= 0 and (bc["low"], bc["high"]) == pytest.approx((paired.low, paired.high), abs=1e-12)
    assert not bc["holds"]
    sentence = base.ranking_sentence(comps, "acc")
    assert f"**{la}** is ahead of" in sentence
    assert f"**{lb}** is ahead" not in sentence and f"**{lc}** is ahead" not in sentence
    assert "cannot be told apart" in sentence


def test_joint_lower_is_better_orients_the_difference_and_respects_compared():
    rng = np.random.default_rng(2)
    x = np.stack([rng.normal(1.0, 0.1, 300), rng.normal(2.0, 0.1, 300), rng.normal(1.5, 0.1, 300)], axis=1)
    s = P.study("mistakes", n_boot=200)
    keys = ["convnext_sup", "vit_sup", "vit_clip"]
    values, ivs, comps = base.joint(s, _column_means, keys, x, metric=Metric("err", "lower"),
                                    compared=["convnext_sup", "vit_sup"])
    assert len(comps) == 1                       # vit_clip has an interval but is not compared
    (r,) = comps
    assert r["better"] == s.label("convnext_sup") and r["difference"] < 0 and r["high"] < 0 and r["holds"]
    assert all(ivs[k].low <= values[k] <= ivs[k].high for k in keys)


def test_joint_without_intervals_still_gives_the_values():
    s = P.study("mistakes", n_boot=0)
    values, ivs, comps = base.joint(s, _column_means, ["convnext_sup", "vit_sup"], np.eye(2), metric=Metric("m", "higher"))
    assert values == {"convnext_sup": 0.5, "vit_sup": 0.5}
    assert ivs == {"convnext_sup": None, "vit_sup": None} and comps == []


def test_common_rows_pairs_the_same_images():
    table = pd.DataFrame({"path": ["a", "b", "c", "d"], "label": [0, 1, 2, 3]})
    r1 = engine.Result("m1", "default", View(), "d", table, logits=np.arange(4.0)[:, None])
    r2 = engine.Result("m2", "default", View(), "d", table.iloc[[3, 2, 0]].reset_index(drop=True),
                       logits=np.array([[3.0], [2.0], [0.0]]))   # b unreadable, another order
    rows_table, rows = base.common_result_rows({"m1": r1, "m2": r2})
    assert rows_table["path"].tolist() == ["a", "c", "d"]
    assert (r1.logits[rows["m1"], 0] == r2.logits[rows["m2"], 0]).all()


def test_thumbnail_is_a_small_embedded_jpeg(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (300, 150), (200, 10, 10)).save(path)
    uri = base.thumbnail(path, size=96)
    assert uri.startswith("data:image/jpeg;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert img.format == "JPEG" and img.size == (96, 48)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert base.thumbnail(tmp_path / "broken.png") is None


def test_gallery_embeds_only_data_uris_and_escapes_captions(monkeypatch):
    from beyond_inet_lib import nb

    shown = []
    monkeypatch.setattr(nb, "_display", shown.append)
    nb.gallery(pd.DataFrame({"image": ["data:image/jpeg;base64,AAAA", "https://example.com/x.jpg"],
                             "caption": ["true: <tabby>\nA: cat", "remote"]}))
    (out,) = shown
    page = out.data
    assert page.count("<img ") == 1 and 'src="data:image/jpeg;base64,AAAA"' in page
    assert "example.com" not in page                       # nothing is loaded from the network
    assert "true: &lt;tabby&gt;<br>A: cat" in page
    nb.gallery(pd.DataFrame(columns=["image", "caption"]))
    assert len(shown) == 1                                 # nothing to show: no output


def test_notebooks_show_page_tables_as_the_page_made_them():
    """A notebook narrates: no column surgery on a page's tables (a table to show comes from
    the page ready to show)."""
    import re

    from beyond_inet_lib.paths import PROJECT_ROOT

    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.py")):
        code = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("#"))
        surgery = re.findall(r"\.(?:drop|rename|reindex|assign|pivot|pivot_table|melt|merge)\(|\]\[\[", code)
        assert not surgery, f"{path.name}: {surgery}"
