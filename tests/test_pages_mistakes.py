"""The mistakes page's build is pure: hand-built predictions in, the numbers a reader sees
out, each checked against an independent computation."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import page_inputs as P
from beyond_inet_lib import metrics, stats

from beyond_inet_lib.pages import mistakes as M

FACTORS = ["pose", "background", "pattern", "color", "smaller", "shape", "partial_view", "subcategory",
           "texture", "larger", "darker", "object_blocking", "person_blocking", "style", "brighter",
           "multiple_objects"]   # imagenet_x.FACTORS


def hand_ratios(factor_of_row, ok) -> dict:
    """Error ratio per factor counted by hand, one factor at a time (an independent
    computation: no matrix product, no shared code): errors among the factor's rows over
    errors among all rows. ``factor_of_row``: per row a factor name (or None: counts only
    in the overall rate); ``ok``: per row right (True) / wrong."""
    rows = list(zip(factor_of_row, ok))
    overall = sum(not o for _, o in rows) / len(rows)
    out = {}
    for f in sorted({f for f, _ in rows if f is not None}):
        mine = [o for g, o in rows if g == f]
        out[f] = (sum(not o for o in mine) / len(mine)) / overall
    return out


def imagenet_x_case(n=2000, seed=0):
    """Val images with one annotated top factor each (10 of the 16 occur; texture is rare);
    model A errs mostly on texture (a high mean ratio: its errors pile up on a rare factor),
    B evenly (mean ratio about 1), C makes exactly B's predictions."""
    rng = np.random.default_rng(seed)
    share = np.r_[np.full(9, 0.95 / 9), 0.05]
    factor = rng.choice([f for f in FACTORS[:10] if f != "texture"] + ["texture"], size=n, p=share)
    label = rng.integers(0, 1000, size=n)
    files = [f"ILSVRC2012_val_{i + 1:08d}.JPEG" for i in range(n)]
    table = pd.DataFrame({"path": [f"val/{f}" for f in files], "label": label, "file_name": files,
                          "x_class": label.astype(float)})
    for f in FACTORS:
        table[f] = (factor == f).astype(np.int8)
    wrong_a = np.where(factor == "texture", rng.random(n) < 0.6, rng.random(n) < 0.1)
    wrong_b = rng.random(n) < 0.2
    pred_a = np.where(wrong_a, (label + 1) % 1000, label)
    pred_b = np.where(wrong_b, (label + 2) % 1000, label)
    ds = P.dataset("imagenet-val", table, meta={"factors": FACTORS})
    logits = {"convnext_sup": P.logits_for(pred_a), "vit_sup": P.logits_for(pred_b), "vit_clip": P.logits_for(pred_b)}
    return ds, table, logits, {"convnext_sup": pred_a, "vit_sup": pred_b, "vit_clip": pred_b}


def test_imagenet_x_ratios_are_the_hand_count_and_carry_intervals():
    ds, table, logits, preds = imagenet_x_case()
    s = P.study("mistakes", n_boot=200)
    page = M.build(s, {"imagenet-x": P.answer("imagenet-x", ds, logits)})
    ann = table[["file_name", "x_class", *FACTORS]].rename(columns={"x_class": "class"})
    heads = {(h["model"], h["metric"]): h for h in page.headline}
    factor_of_row = [next(f for f in FACTORS if r[f] == 1) for r in table.to_dict("records")]
    for key, pred in preds.items():
        ref = pd.Series(hand_ratios(factor_of_row, pred == table["x_class"].to_numpy()))
        mean = heads[(s.label(key), "ImageNet-X mean error ratio")]
        texture = heads[(s.label(key), "ImageNet-X texture error ratio")]
        assert mean["value"] == pytest.approx(ref.mean(), rel=1e-12)    # the 10 factors with images
        assert texture["value"] == pytest.approx(ref["texture"], rel=1e-12)
        assert mean["ci_low"] < mean["value"] < mean["ci_high"]
        assert texture["ci_low"] < texture["value"] < texture["ci_high"]
        assert mean["paper"] == s.paper("imagenet_x_mean_error_ratio", key)
        ratios = page.table("ratios")
        mine = ratios[ratios["model"] == s.label(key)].set_index("factor")["error ratio"]
        # factors without images have no bar; the others equal the metric's
        assert sorted(mine.index) == sorted(ref.dropna().index)
        assert mine.to_dict() == pytest.approx(ref.dropna().to_dict(), rel=1e-12)
    assert heads[(s.label("convnext_sup"), "ImageNet-X mean error ratio")]["paper"] == 1.43
    # the texture interval: the bootstrap of the metric itself over images
    pred = preds["convnext_sup"]

    def texture(idx):
        """(1 - acc on texture images) / (1 - acc), an image drawn k times weighing k."""
        counts = pd.Series(idx).value_counts()
        a = ann.set_index("file_name").loc[table["file_name"].to_numpy()[counts.index]]
        w = counts.to_numpy()
        ok = pred[counts.index] == a["class"].to_numpy()
        tex = a["texture"].to_numpy() == 1
        return (1 - np.average(ok[tex], weights=w[tex])) / (1 - np.average(ok, weights=w))

    ref = stats.bootstrap_ci(texture, np.arange(len(table)), n_boot=200, seed=s.seed)
    h = heads[(s.label("convnext_sup"), "ImageNet-X texture error ratio")]
    assert (h["ci_low"], h["ci_high"]) == pytest.approx((ref.low, ref.high), rel=1e-9)


def test_a_model_is_ranked_only_where_the_paired_interval_holds():
    ds, _, logits, _ = imagenet_x_case()
    s = P.study("mistakes", n_boot=200)
    page = M.build(s, {"imagenet-x": P.answer("imagenet-x", ds, logits)})
    rows = [c for c in page.comparisons if c["metric"] == "ImageNet-X mean error ratio"]
    pair = {frozenset((c["better"], c["worse"])): c for c in rows}
    same = pair[frozenset((s.label("vit_sup"), s.label("vit_clip")))]
    assert same["difference"] == 0 and not same["holds"]          # identical predictions
    text = page.findings[0]
    b, c, a = s.label("vit_sup"), s.label("vit_clip"), s.label("convnext_sup")
    assert not claims(text, b, c) and not claims(text, c, b)
    # A errs on a rare factor: its mean ratio is higher than B's and C's, and that order holds
    ab = pair[frozenset((a, b))]
    assert ab["better"] == b and ab["holds"] and claims(text, b, a)
    for r in rows:
        assert claims(text, r["better"], r["worse"]) == r["holds"]


def claims(text: str, lead: str, behind: str) -> bool:
    """Whether a finding's ranking sentence says ``lead`` is ahead of ``behind``."""
    for who, others in re.findall(r"\*\*(.+?)\*\* is ahead of (.+?)(?:;|\.(?: |$))", text):
        if who == lead and behind in others:
            return True
    return False


def test_standin_ratios_resample_base_images_with_all_their_variants():
    """The page's interval is the bootstrap over base images of the mean ratio (counted by
    hand on the resampled rows), not over rows."""
    rng = np.random.default_rng(4)
    n_base, factors = 30, ["none", "darker", "smaller"]
    rows = [{"path": f"{f}/{i:04d}.png", "label": i, "factor": f, "source_path": f"s/{i}.jpg"}
            for i in range(n_base) for f in factors]
    table = pd.DataFrame(rows)
    hard = (table["factor"] != "none") & (rng.random(len(table)) < 0.5)
    base_wrong = np.repeat(rng.random(n_base) < 0.2, len(factors))
    wrong = (hard | base_wrong).to_numpy()
    pred = np.where(wrong, (table["label"] + 1) % 1000, table["label"])
    ds = P.dataset("imagenet-x factors (stand-in)", table, standin=True)
    s = P.study("mistakes", models=("convnext_sup",), n_boot=150)
    page = M.build(s, {"stand-in": P.answer("stand-in", ds, {"convnext_sup": P.logits_for(pred)})})
    (h,) = [h for h in page.headline if h["metric"] == "mean error ratio (simulated factors)"]
    assert "stand-in" in h["note"] and h["paper"] is None

    def independent(path_idx):
        ratios = hand_ratios([None if f == "none" else f for f in table["factor"].to_numpy()[path_idx]],
                             ~wrong[path_idx])
        return float(np.mean(list(ratios.values())))

    ref = stats.bootstrap_ci(independent, np.arange(len(table)), n_boot=150, seed=s.seed,
                             groups=table["source_path"].to_numpy())
    assert h["value"] == pytest.approx(ref.estimate, rel=1e-12)
    assert (h["ci_low"], h["ci_high"]) == pytest.approx((ref.low, ref.high), rel=1e-9)
    by_rows = stats.bootstrap_ci(independent, np.arange(len(table)), n_boot=150, seed=s.seed)
    assert (h["ci_low"], h["ci_high"]) != pytest.approx((by_rows.low, by_rows.high), rel=1e-9)


def test_pair_intervals_in_batches_are_each_pairs_own_interval(monkeypatch):
    """κ intervals are computed a batch of pairs per call (one pass over the resampling
    weights): with batches of two, every pair's interval is the one its own call gives."""
    from beyond_inet_lib import stats
    from beyond_inet_lib.pages import mistakes

    rng = np.random.default_rng(2)
    correct = {k: rng.uniform(size=300) < p for k, p in zip("wxyz", (0.5, 0.6, 0.7, 0.8))}
    pairs = [("w", "x"), ("w", "y"), ("w", "z"), ("x", "y"), ("x", "z")]
    monkeypatch.setattr(mistakes, "PAIRS_PER_CALL", 2)
    got = mistakes._pair_intervals(correct, pairs, 150, 3, None)
    assert list(got) == pairs
    for a, b in pairs:
        one = stats.error_consistency_ci(correct[a], correct[b], n_boot=150, seed=3)
        assert (got[(a, b)].estimate, got[(a, b)].low, got[(a, b)].high) == (one.estimate, one.low, one.high)


def test_error_consistency_between_every_pair():
    ds, table, logits, preds = imagenet_x_case()
    s = P.study("mistakes", n_boot=200)
    page = M.build(s, {"imagenet-x": P.answer("imagenet-x", ds, logits)})
    kappa = {(r["model a"], r["model b"]): r for r in page.table("kappa").to_dict("records")}
    assert len(kappa) == 3
    same = kappa[(s.label("vit_sup"), s.label("vit_clip"))]
    assert same["kappa"] == 1.0 and same["ci_low"] == same["ci_high"] == 1.0   # the same predictions
    # kappa by hand (Cohen's kappa on right/wrong)
    a, b = preds["convnext_sup"] == table["label"], preds["vit_sup"] == table["label"]
    p_a, p_b, c_obs = a.mean(), b.mean(), (a == b).mean()
    c_exp = p_a * p_b + (1 - p_a) * (1 - p_b)
    ab = kappa[(s.label("convnext_sup"), s.label("vit_sup"))]
    assert ab["kappa"] == pytest.approx((c_obs - c_exp) / (1 - c_exp), abs=1e-12)
    assert ab["ci_low"] <= ab["kappa"] <= ab["ci_high"]
    assert len(page.table("kappa_matrix")) == 6                      # both orders for the heatmap


def test_disagreement_images_are_the_ones_built_to_disagree(tmp_path):
    n = 40
    label = np.arange(n) * 7 % 1000
    for i in range(n):
        Image.new("RGB", (160, 120), (i * 6, 80, 200 - i * 4)).save(tmp_path / f"{i:03d}.png")
    table = pd.DataFrame({"path": [f"{i:03d}.png" for i in range(n)], "label": label,
                          "file_name": [f"ILSVRC2012_val_{i + 1:08d}.JPEG" for i in range(n)],
                          "x_class": label.astype(float), **{f: np.int8(f == "pose") for f in FACTORS}})
    ds = P.dataset("imagenet-val", table, root=tmp_path, meta={"factors": FACTORS})
    disputed = [3, 11, 17, 25, 31]          # A confidently right, B confidently wrong
    pred_a = label.copy()
    pred_a[[0, 1]] = (label[[0, 1]] + 1) % 1000    # both wrong, the same way: no disagreement
    pred_b = pred_a.copy()
    pred_b[disputed] = (label[disputed] + 5) % 1000
    logits_a, logits_b = P.logits_for(pred_a), P.logits_for(pred_b)
    logits_b[37, :] = 0.0                    # B unsure on 37 (p(true) = 1/1000), A sure: a smaller gap
    s = P.study("mistakes", models=("convnext_sup", "vit_sup"), n_boot=50)
    page = M.build(s, {"imagenet-x": P.answer("imagenet-x", ds, {"convnext_sup": logits_a, "vit_sup": logits_b})})
    dis = page.table("disagreements")
    assert len(dis) == M.N_DISAGREEMENTS
    shown = dis["path"].tolist()
    # the five disputed images first (their gaps tie but for rounding), then 037
    assert sorted(shown[:len(disputed)]) == [f"{i:03d}.png" for i in disputed]
    assert shown[len(disputed)] == "037.png"
    first = dis.iloc[0]
    i = int(first["path"][:3])
    assert (dis["p_true a"].iloc[:5] > 0.99).all() and (dis["p_true b"].iloc[:5] < 0.01).all()
    from beyond_inet_lib.data import imagenet_class_names

    names = imagenet_class_names()
    assert first["true class"] == names[label[i]] and first["prediction b"] == names[(label[i] + 5) % 1000]
    assert names[(label[i] + 5) % 1000] in first["caption"] and "wrong" in first["caption"]
    assert all(u.startswith("data:image/jpeg;base64,") for u in dis["image"])
    assert "disagree most" in page.findings[-1]


def test_no_data_gives_an_empty_page_that_says_which_inputs_were_absent():
    s = P.study("mistakes")
    s._input("imagenet-val", "absent", 0, "/nowhere")
    page = M.build(s, {})
    assert not page.has_numbers and page.findings == [] and page.comparisons == []
    assert page.inputs == [{"dataset": "imagenet-val", "status": "absent", "images": 0, "note": "/nowhere"}]


def test_every_factor_interval_is_the_bootstrap_of_its_ratio_rare_factors_included():
    """Rare factors are missing from many resamples (NaN there): each factor's interval is
    still its own bootstrap over the resamples that hold it, common or rare."""
    rng = np.random.default_rng(8)
    rare = [f"rare{i:02d}" for i in range(14)]
    factor = np.array(["none"] * 100 + ["common"] * 80 + rare)          # one image per rare factor
    table = pd.DataFrame({"path": [f"{i}.png" for i in range(len(factor))], "label": np.arange(len(factor)) % 1000,
                          "factor": factor, "source_path": [f"{i}.jpg" for i in range(len(factor))]})
    wrong = rng.random(len(table)) < np.where(factor == "common", 0.5, 0.2)
    pred = np.where(wrong, (table["label"] + 1) % 1000, table["label"])
    ds = P.dataset("imagenet-x factors (stand-in)", table, standin=True)
    s = P.study("mistakes", models=("convnext_sup",), n_boot=100)
    page = M.build(s, {"stand-in": P.answer("stand-in", ds, {"convnext_sup": P.logits_for(pred)})})
    ratios = page.table("ratios").set_index("factor")
    assert sorted(ratios.index) == sorted(["common", *rare])
    for f in ["common", "rare00", "rare13"]:
        def ratio(idx, f=f):
            return hand_ratios(table["factor"].to_numpy()[idx], ~wrong[idx]).get(f, np.nan)

        ref = stats.bootstrap_ci(ratio, np.arange(len(table)), n_boot=100, seed=s.seed,
                                 groups=table["source_path"].to_numpy())
        assert ratios.loc[f, "error ratio"] == pytest.approx(ref.estimate, rel=1e-12)
        assert (ratios.loc[f, "ci_low"], ratios.loc[f, "ci_high"]) == pytest.approx((ref.low, ref.high), rel=1e-9)


def test_the_pages_ratios_are_the_metric_functions_output(monkeypatch):
    """The page computes no ratio itself: what ``metrics.error_ratios`` and
    ``metrics.mean_error_ratios`` return is what it shows (patched here to known values)."""
    ds, _, logits, _ = imagenet_x_case(n=400)
    s = P.study("mistakes", n_boot=0)
    before = M.build(s, {"imagenet-x": P.answer("imagenet-x", ds, logits)})
    monkeypatch.setattr(metrics, "mean_error_ratios", lambda factors, correct: np.arange(correct.shape[1]) + 7.0)
    monkeypatch.setattr(metrics, "error_ratios", lambda factors, correct: np.full((correct.shape[1],
                                                                                   factors.shape[1]), 0.25))
    after = M.build(s, {"imagenet-x": P.answer("imagenet-x", ds, logits)})
    means = [h["value"] for h in after.headline if h["metric"] == "ImageNet-X mean error ratio"]
    assert means == [7.0, 8.0, 9.0] != [h["value"] for h in before.headline
                                        if h["metric"] == "ImageNet-X mean error ratio"]
    assert [h["value"] for h in after.headline if h["metric"] == "ImageNet-X texture error ratio"] == [0.25] * 3
    assert set(after.table("ratios")["error ratio"]) == {0.25}
