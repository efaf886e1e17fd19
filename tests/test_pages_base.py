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


def test_joint_intervals_are_the_separate_bootstraps_and_simultaneous_differences():
    """Each model's interval equals its own bootstrap; the differences' intervals are the
    simultaneous (max-t) intervals of the models' own replicates (same seed, same
    resamples): one pass gives both."""
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
    reps = np.stack([stats.bootstrap_replicates("mean", x[:, i], n_boot=400, seed=3)[1] for i in range(3)], axis=1)
    ref = stats.simultaneous_differences({la: x[:, 0].mean(), lb: x[:, 1].mean(), lc: x[:, 2].mean()}, reps)
    ref = {(r["better"], r["worse"]): r for r in ref.to_dict("records")}
    assert set(by_pair) == set(ref)
    for pair, r in by_pair.items():
        assert (r["low"], r["high"], r["holds"]) == pytest.approx((ref[pair]["low"], ref[pair]["high"],
                                                                   ref[pair]["holds"]), abs=1e-12)
    ab = by_pair[(la, lb)]
    assert ab["holds"] and ab["difference"] > 0
    # three pairs, covered together: wider than the pair's own paired interval
    paired = stats.paired_bootstrap("mean", x[:, 0], x[:, 1], n_boot=400, seed=3)
    assert ab["high"] - ab["low"] > paired.high - paired.low
    # b and c: the better one first, its difference positive, the interval oriented the same way
    (bc,) = [r for r in comps if {r["better"], r["worse"]} == {lb, lc}]
    assert bc["difference"] >= 0 and bc["low"] < 0 < bc["high"]
    assert not bc["holds"]
    sentence = base.ranking_sentence(comps, "acc")
    assert f"**{la}** is ahead of" in sentence
    assert f"**{lb}** is ahead" not in sentence and f"**{lc}** is ahead" not in sentence
    assert "cannot be told apart" in sentence and "simultaneous over this metric's 3 pairs" in sentence


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


def test_a_share_gets_wilsons_interval_and_few_images_say_their_coverage():
    s = P.study("calibration", n_boot=200)
    right = np.ones(200, dtype=bool)
    iv = base.interval(s, "mean", right.astype(float))
    assert iv.high == 1.0 and iv.low == pytest.approx(stats.wilson_interval(200, 200)[0]) and iv.n_boot == 0
    assert base.is_share("mean", (right,)) and not base.is_share("mean", (right,), groups=np.arange(200))
    assert not base.is_share("mean", (np.linspace(0, 1, 5),))
    # a paired difference that happens to be 0/1 is not a share when the page says so
    iv = base.interval(s, "mean", right.astype(float), share=False)
    assert iv.n_boot == 200 and iv.low == iv.high == 1.0
    # a mean over the cells of two images: an interval, and the coverage measured for two
    values = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    h = base.headline(s, "convnext_sup", Metric("top-1 c", "higher"), "mean", values, groups=[0, 0, 0, 1, 1, 1])
    assert h["ci_low"] is not None and "2 images" in h["note"] and "50%" in h["note"]
    h = base.headline(s, "convnext_sup", Metric("top-1", "higher"), "mean", right.astype(float))
    assert h["note"] == ""


def test_compare_adjusts_mcnemar_by_holm():
    rng = np.random.default_rng(5)
    x = {k: rng.random(300) < p for k, p in (("convnext_sup", 0.8), ("vit_sup", 0.7), ("vit_clip", 0.65))}
    s = P.study("calibration", models=tuple(x), n_boot=200)
    rows = base.compare(s, Metric("top-1", "higher"), "mean", {k: v.astype(float) for k, v in x.items()},
                        correct_by_key=x)
    labels = {s.label(k): k for k in x}
    raw = [stats.mcnemar_exact(x[labels[r["better"]]], x[labels[r["worse"]]])["p_value"] for r in rows]
    assert [r["p_value"] for r in rows] == pytest.approx(list(stats.holm(raw)))


def test_threaded_map_keeps_order_bounds_items_alive_and_raises():
    """Results in the arguments' order, equal to the plain loop; the arguments are read no
    further ahead than ``workers`` calls not yet collected (a model's outputs are not all read
    at once); an error in a call reaches the caller."""
    import threading

    from beyond_inet_lib.pages.base import threaded_map

    lock, done, seen = threading.Lock(), [0], []

    def work(i, x):
        value = float(np.linalg.norm(x))
        with lock:
            done[0] += 1
        return i, value

    def arguments(workers):
        rng = np.random.default_rng(0)
        for i in range(12):
            with lock:
                seen.append(done[0] >= i - workers)
            yield i, rng.normal(size=20_000)

    expected = [work(*a) for a in arguments(99)]
    for workers in (1, 2, 3):
        seen.clear()
        done[0] = 0
        assert threaded_map(work, arguments(workers), workers) == expected
        assert all(seen)

    def fails(i):
        if i == 3:
            raise ValueError("model 3 broke")
        return i

    with pytest.raises(ValueError, match="model 3 broke"):
        threaded_map(fails, ((i,) for i in range(6)), 2)
