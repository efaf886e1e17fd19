"""The shape-bias page's build is pure: hand-built decisions (models' logits, observers' and
the paper's logs) in, shape bias, the human range and error consistency out, each checked
against a hand count."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

import page_inputs as P
from beyond_inet_lib import metrics, stats

from beyond_inet_lib.pages import shape_bias as S
CATS = ("airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat", "chair", "clock", "dog",
        "elephant", "keyboard", "knife", "oven", "truck")
INDICES = metrics.cue_conflict_category_indices()


def stimuli(n: int, n_same: int = 0) -> pd.DataFrame:
    """n conflict stimuli (shape != texture) and n_same with shape == texture."""
    rows = []
    for i in range(n + n_same):
        shape = CATS[i % 16]
        texture = shape if i >= n else CATS[(i + 1 + i // 16) % 16]
        if texture == shape and i < n:
            texture = CATS[(i + 2) % 16]
        rows.append({"path": f"cue-conflict/{shape}/{shape}{i}-{texture}{i % 7}.png", "label": -1,
                     "shape": shape, "texture": texture})
    return pd.DataFrame(rows)


def decide(table: pd.DataFrame, shape_share: float, texture_share: float, seed: int = 0) -> np.ndarray:
    """Decisions: the shape class on about shape_share of the conflict stimuli, the texture
    class on texture_share, another category on the rest; the shape class on the others."""
    rng = np.random.default_rng(seed)
    u = rng.random(len(table))
    other = [CATS[(CATS.index(s) + 5) % 16] if CATS[(CATS.index(s) + 5) % 16] != t else CATS[(CATS.index(s) + 6) % 16]
             for s, t in zip(table["shape"], table["texture"])]
    out = np.where(u < shape_share, table["shape"], np.where(u < shape_share + texture_share, table["texture"], other))
    return np.where(table["shape"] == table["texture"], table["shape"], out).astype(str)


def logits_deciding(decisions) -> np.ndarray:
    """1000-class logits whose 16-class decision (mean probability per category) is given."""
    out = np.zeros((len(decisions), 1000), dtype=np.float32)
    for i, d in enumerate(decisions):
        out[i, list(INDICES[d])] = 10.0
    return out


def log_of(table: pd.DataFrame, decisions, subject: str = "subject-01") -> pd.DataFrame:
    """A model-vs-human decision log (trial-prefixed image names, as the observers' files)."""
    names = [f"{i + 1:04d}_s5n_s01_0_{s}_00_{p.rsplit('/', 1)[1]}"
             for i, (p, s) in enumerate(zip(table["path"], table["shape"]))]
    log = pd.DataFrame({"subj": subject, "object_response": list(decisions), "category": table["shape"].to_numpy(),
                        "imagename": names})
    log["stimulus"] = [metrics.cue_conflict_stimulus(n) for n in names]
    return log


def page_for(table, decisions_by_key, n_boot=300, humans=None, references=None):
    s = P.study("shape_bias", models=tuple(decisions_by_key), n_boot=n_boot)
    ds = P.dataset("cue-conflict", table)
    ans = P.answer("cue-conflict", ds, {k: logits_deciding(d) for k, d in decisions_by_key.items()})
    return s, S.build(s, {"cue-conflict": ans}, humans=humans, references=references)


def test_shape_bias_is_the_hand_count_with_an_interval_that_shrinks_with_n():
    widths = []
    for n in (48, 480):
        table = stimuli(n, n_same=n // 6)
        dec = decide(table, 0.6, 0.25, seed=n)
        s, page = page_for(table, {"vit_clip": dec})
        (h,) = [h for h in page.headline if h["metric"] == S.BIAS_METRIC.name]
        conflict = (table["shape"] != table["texture"]).to_numpy()
        n_shape = int(((dec == table["shape"]) & conflict).sum())
        n_texture = int(((dec == table["texture"]) & conflict).sum())
        assert h["value"] == pytest.approx(n_shape / (n_shape + n_texture), abs=1e-12)
        assert h["ci_low"] < h["value"] < h["ci_high"]
        assert h["paper"] == pytest.approx(0.465)              # the paper's ViT-B/16 CLIP
        widths.append(h["ci_high"] - h["ci_low"])
    assert widths[1] < widths[0] / 2                          # ~1/sqrt(10) of the width


def test_the_pages_shape_bias_is_the_metric_functions_output(monkeypatch):
    """The page counts no vote itself: the headline and the scores table are what
    ``metrics.shape_bias_from_votes`` returns (patched here to shape votes only); the
    interval is Wilson's of the shape votes among the decided trials (``metrics.cue_votes``)."""
    table = stimuli(96, n_same=16)
    dec = decide(table, 0.6, 0.25, seed=1)
    _, before = page_for(table, {"vit_clip": dec}, n_boot=50)
    monkeypatch.setattr(metrics, "shape_bias_from_votes", lambda s, t: float(np.sum(s)) / len(s))
    _, after = page_for(table, {"vit_clip": dec}, n_boot=50)
    (h0,), (h1,) = ([h for h in p.headline if h["metric"] == S.BIAS_METRIC.name] for p in (before, after))
    conflict = (table["shape"] != table["texture"]).to_numpy()
    assert h1["value"] == pytest.approx(((dec == table["shape"]) & conflict).sum() / len(table)) != h0["value"]
    n_shape = int(((dec == table["shape"]) & conflict).sum())
    n_texture = int(((dec == table["texture"]) & conflict).sum())
    low, high = stats.wilson_interval(n_shape, n_shape + n_texture)
    assert (h1["ci_low"], h1["ci_high"]) == pytest.approx((float(low), float(high)), abs=1e-12)
    assert h0["ci_low"] < h0["value"] < h0["ci_high"]
    assert after.table("bias_bars")["shape bias"].iloc[0] == h1["value"]


def test_a_shape_bias_order_is_claimed_only_where_it_holds():
    big = stimuli(480)
    _, page = page_for(big, {"convnext_sup": decide(big, 0.2, 0.7, 1), "vit_sup": decide(big, 0.7, 0.2, 2)})
    (c,) = page.comparisons[:1]
    assert c["metric"] == S.BIAS_METRIC.name and c["holds"]
    assert f"**{c['better']}** is ahead of {c['worse']}" in page.findings[0]
    small = stimuli(12)
    _, page = page_for(small, {"convnext_sup": decide(small, 0.5, 0.5, 1), "vit_sup": decide(small, 0.6, 0.4, 2)})
    (c,) = [c for c in page.comparisons if c["metric"] == S.BIAS_METRIC.name]
    assert not c["holds"] and "is ahead of" not in page.findings[0] and "cannot be told apart" in page.findings[0]


def test_observers_range_and_error_consistency():
    table = stimuli(160, n_same=16)
    humans = {f"subject-0{i}": log_of(table, decide(table, share, 0.05, seed=10 + i), f"subject-0{i}")
              for i, share in ((1, 0.90), (2, 0.80), (3, 0.95))}
    humans["subject-01"].loc[:9, "object_response"] = "na"       # no answer: counts for neither cue, and wrong
    model = humans["subject-02"]["object_response"].to_numpy()   # the model decides as observer 02
    other = decide(table, 0.3, 0.6, seed=99)
    shuffled = {k: v.sample(frac=1.0, random_state=5) for k, v in humans.items()}   # trials align by stimulus
    s, page = page_for(table, {"convnext_sup": model, "vit_sup": other}, humans=shuffled)
    pairs = page.table("kappa_pairs")
    twin = pairs[(pairs["model"] == s.label("convnext_sup")) & (pairs["observer"] == "subject-02")].iloc[0]
    assert twin["kappa"] == 1.0 and twin["ci_low"] == twin["ci_high"] == 1.0
    # the headline: mean over observers of kappa by hand
    heads = {h["model"]: h for h in page.headline if h["metric"] == S.KAPPA_METRIC.name}
    for key, dec in (("convnext_sup", model), ("vit_sup", other)):
        right = dec == table["shape"].to_numpy()
        kappas = []
        for log in humans.values():
            h = log["object_response"].to_numpy() == table["shape"].to_numpy()
            p_a, p_b, c_obs = right.mean(), h.mean(), (right == h).mean()
            c_exp = p_a * p_b + (1 - p_a) * (1 - p_b)
            kappas.append(1.0 if c_obs == 1 else (c_obs - c_exp) / (1 - c_exp))
        head = heads[s.label(key)]
        assert head["value"] == pytest.approx(np.mean(kappas), abs=1e-12)
        assert head["ci_low"] <= head["value"] <= head["ci_high"]
    # the human range: the observers' own shape bias, "na" counting for neither cue
    band = page.table("human_band").iloc[0]
    biases = [metrics.shape_bias(log["imagename"], log["object_response"])["shape_bias"] for log in humans.values()]
    assert (band["low"], band["high"], band["mean"]) == pytest.approx((min(biases), max(biases), np.mean(biases)))
    where = page.table("human_range").set_index("model")["where"]
    assert where[s.label("vit_sup")].startswith("below all 3 observers")
    assert where[s.label("convnext_sup")] == "within the 3 observers' range"
    hh = page.table("kappa_summary").iloc[-1]
    assert hh["source"] == S.HUMAN and "3 pairs" in hh["model"]
    # the models' intervals speak for people in general: the two-level interval (stimuli
    # resampled, the observers' spread added), wider than for these three observers alone
    obs = pd.DataFrame({k: S.correct_by_stimulus(v) for k, v in humans.items()}).dropna()
    runs = {k: S.correct_by_stimulus(log_of(table, d)) for k, d in (("convnext_sup", model), ("vit_sup", other))}
    common = obs.index.intersection(runs["convnext_sup"].index).sort_values()
    a = np.stack([runs[k][common].to_numpy(bool) for k in ("convnext_sup", "vit_sup")], axis=1)
    h = obs.loc[common].to_numpy(bool)
    iv = stats.observer_consistency_ci(a, h, n_boot=s.n_boot, seed=s.seed)
    these = stats.observer_consistency_ci(a, h, n_boot=s.n_boot, seed=s.seed, resample="stimuli")
    for i, key in enumerate(("convnext_sup", "vit_sup")):
        head = heads[s.label(key)]
        assert (head["ci_low"], head["ci_high"]) == pytest.approx((iv.low[i], iv.high[i]), abs=1e-12)
        assert head["ci_high"] - head["ci_low"] > these.high[i] - these.low[i]
        assert "people in general" in head["note"]
    speaks = page.table("kappa_summary").set_index("source")["interval speaks for"]
    assert "people in general" in speaks[S.RUN].iloc[0] and "these observers" in speaks[S.HUMAN]
    assert "intervals speak for people in general" in page.findings[-1]


def test_paper_logs_scored_by_the_same_code_beside_the_paper_number():
    table = stimuli(64)
    humans = {"subject-01": log_of(table, decide(table, 0.9, 0.05, 1))}
    refs = {"ViT-B/16 CLIP (paper log)": log_of(table, decide(table, 0.45, 0.5, 2), "vit-clip"),
            "human subject-01": humans["subject-01"]}
    s, page = page_for(table, {"convnext_sup": decide(table, 0.3, 0.6, 3)}, humans=humans, references=refs)
    scores = page.table("scores").set_index("model")
    log = refs["ViT-B/16 CLIP (paper log)"]
    expected = metrics.shape_bias(log["imagename"], log["object_response"])["shape_bias"]
    assert scores.loc["ViT-B/16 CLIP (paper log)", "shape bias [95% CI]"].startswith(f"{expected:.3f} [")
    assert scores.loc["ViT-B/16 CLIP (paper log)", "paper"] == pytest.approx(0.465)
    assert "human subject-01" not in scores.index       # observer 01 is shown once, as an observer
    assert not any(h["model"].endswith("(paper log)") for h in page.headline)   # the index: this run only


def test_absent_observers_panel_input_and_finding(tmp_path):
    s = P.study("shape_bias", models=("vit_sup",), data_root=tmp_path)
    humans, refs = S.reference_decisions(s)
    assert humans == {} and refs == {}
    (note,) = s.notes
    assert note["kind"] == "missing" and S.HUMANS_HOW_TO_GET in note["body"]
    assert str(tmp_path / "reference" / "cue-conflict-humans") in note["body"]
    table = stimuli(32)
    ans = P.answer("cue-conflict", P.dataset("cue-conflict", table), {"vit_sup": logits_deciding(decide(table, 0.5, 0.4))})
    page = S.build(s, {"cue-conflict": ans}, humans=humans, references=refs)
    assert {"dataset": "cue-conflict-humans", "status": "absent", "images": 0,
            "note": str(tmp_path / "reference" / "cue-conflict-humans")} in page.inputs
    assert page.table("kappa_summary").empty and page.table("human_band").empty
    assert [h["metric"] for h in page.headline] == [S.BIAS_METRIC.name]
    assert "were not found" in page.findings[-1]


def test_a_model_that_always_picks_the_shape_gets_an_interval_with_width():
    """Every decided conflict trial goes to the shape: shape bias 1, and Wilson's interval
    reaches below 1 (the bootstrap of trials gave [1, 1])."""
    table = stimuli(64)
    _, page = page_for(table, {"vit_sup": table["shape"].to_numpy()})
    (h,) = [h for h in page.headline if h["metric"] == S.BIAS_METRIC.name]
    low, _ = stats.wilson_interval(64, 64)
    assert h["value"] == 1.0 and h["ci_high"] == 1.0 and h["ci_low"] == pytest.approx(float(low))
    assert h["ci_low"] < 0.95
