"""The similarity page's build is pure: hand-built layer features in, CKA tables and the
headline (unbiased CKA with its jackknife interval over images) out, checked against an
independent computation leaving each image out in turn (metrics.unbiased_cka)."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

import page_inputs as P
from beyond_inet_lib import metrics, stats
from beyond_inet_lib.pages import base

from beyond_inet_lib.pages import similarity as SIM
KEYS = ("convnext_sup", "vit_sup", "vit_clip")


def features(n=120, seed=0):
    """Three models, three layers each: C's last layer is A's rotated and scaled (CKA 1 with
    A), B's last layer is unrelated noise (the most distinct)."""
    rng = np.random.default_rng(seed)
    base_x = rng.normal(size=(n, 24))
    q, _ = np.linalg.qr(rng.normal(size=(24, 24)))
    a = [base_x + rng.normal(scale=s, size=(n, 24)) for s in (0.2, 0.5)] + [base_x]
    c = [base_x @ q + rng.normal(scale=1.0, size=(n, 24)), np.tanh(base_x), 3.0 * base_x @ q]
    b = [base_x[:, :12] + rng.normal(size=(n, 12)), rng.normal(size=(n, 16)), rng.normal(size=(n, 30))]
    return {"convnext_sup": a, "vit_sup": b, "vit_clip": c}


def page_for(feats, n_boot=200):
    s = P.study("similarity", models=tuple(feats), n_boot=n_boot)
    n = len(next(iter(feats.values()))[0])
    ds = P.dataset("imagenet-samples", pd.DataFrame({"path": [f"{i}.jpg" for i in range(n)], "label": 0}))
    taps = {k: [f"{k}.layer{j}" for j in range(len(v))] for k, v in feats.items()}
    ans = P.answer("eval", ds, {k: np.zeros((n, 1000)) for k in feats}, outputs=("logits", "layers"), layers=taps)
    for k, v in feats.items():
        ans.results[(k, "default")].layers = dict(zip(taps[k], v))
    return s, SIM.build(s, {"eval": ans})


def test_the_pages_headline_is_the_metric_functions_output(monkeypatch):
    """The page computes no CKA itself: its headline and interval come from what
    ``metrics.unbiased_cka_matrix`` returns (patched here: model i's CKA to every other is
    i, and its leave-one-out values the same plus a small spread)."""
    feats = features(n=40)
    _, before = page_for(feats, n_boot=30)

    def patched(grams, leave_one_out=False):
        m = len(grams)
        mat = np.repeat(np.arange(1.0, m + 1)[:, None], m, axis=1)
        loo = mat[None] + 1e-4 * np.arange(len(grams[0]))[:, None, None]
        return (mat, loo) if leave_one_out else mat

    monkeypatch.setattr(metrics, "unbiased_cka_matrix", patched)
    s, after = page_for(feats, n_boot=30)
    heads = {h["model"]: h for h in after.headline}
    for i, k in enumerate(KEYS, 1):
        h = heads[s.label(k)]
        assert h["value"] == i != {g["model"]: g for g in before.headline}[s.label(k)]["value"]
        assert h["ci_low"] < i < h["ci_high"] < i + 0.5


def test_headline_is_the_mean_unbiased_cka_to_the_others_with_a_jackknife_interval():
    """The value is the mean CKA from unbiased HSIC (``metrics.unbiased_cka``, pair by pair);
    the interval the jackknife's, checked against leaving each image out and recomputing."""
    from scipy.stats import t

    feats = features(n=60)
    s, page = page_for(feats, n_boot=60)
    last = {k: v[-1] for k, v in feats.items()}
    n = len(last["vit_sup"])

    def mean_cka(rows):
        return np.array([np.mean([metrics.unbiased_cka(last[k][rows], last[o][rows]) for o in KEYS if o != k])
                         for k in KEYS])

    est = mean_cka(np.arange(n))
    left = np.stack([mean_cka(np.delete(np.arange(n), i)) for i in range(n)])
    se = np.sqrt((n - 1) / n * ((left - left.mean(axis=0)) ** 2).sum(axis=0))
    heads = {h["model"]: h for h in page.headline}
    for i, k in enumerate(KEYS):
        h = heads[s.label(k)]
        assert h["metric"] == SIM.METRIC.name and h["better"] is None
        assert h["value"] == pytest.approx(est[i], abs=1e-9)
        q = t.ppf(0.975, n - 1)
        assert (h["ci_low"], h["ci_high"]) == pytest.approx((est[i] - q * se[i], est[i] + q * se[i]), abs=1e-9)
    # unbiased: the unrelated model's CKA to the others is near 0, where linear CKA is not
    noise = heads[s.label("vit_sup")]
    assert noise["ci_low"] < 0.05 < metrics.linear_cka(last["vit_sup"], last["convnext_sup"])
    assert metrics.linear_cka(last["convnext_sup"], last["vit_clip"]) == pytest.approx(1.0)
    across = page.table("across")
    assert len(across) == 9 and across["CKA"].max() == pytest.approx(1.0)


def test_comparisons_are_simultaneous_intervals_of_jackknife_replicates():
    feats = features(n=60)
    # C's last layer a noisy copy of A's (exactly equal values make a pair whose difference
    # varies only by rounding)
    feats["vit_clip"][-1] = feats["vit_clip"][-1] + np.random.default_rng(9).normal(scale=1.0, size=(60, 24))
    s, page = page_for(feats, n_boot=500)
    grams = [metrics.gram(feats[k][-1]) for k in KEYS]
    cka, loo = metrics.unbiased_cka_matrix(grams, leave_one_out=True)
    est, left = metrics.mean_to_others(cka), metrics.mean_to_others(loo)
    reps = stats.jackknife_replicates(est, left, n_boot=500, seed=s.seed)
    ref = stats.simultaneous_differences({s.label(k): est[i] for i, k in enumerate(KEYS)}, reps,
                                         higher_is_better=False)
    got = {(r["better"], r["worse"]): r for r in page.comparisons}
    assert len(got) == 3
    for r in ref.to_dict("records"):
        g = got[(r["better"], r["worse"])]
        assert (g["low"], g["high"], g["holds"]) == pytest.approx((r["low"], r["high"], r["holds"]), abs=1e-12)


def test_too_few_images_give_no_headline_and_no_intervals_without_resamples():
    s, page = page_for(features(n=4), n_boot=30)
    assert page.headline == [] and page.comparisons == []
    s, page = page_for(features(n=30), n_boot=0)
    assert all(h["ci_low"] is None for h in page.headline) and len(page.headline) == 3


def test_the_most_distinct_model_is_named_only_when_every_paired_interval_holds():
    s, page = page_for(features())
    lowest = s.label("vit_sup")
    mine = [c for c in page.comparisons if c["better"] == lowest]
    assert len(mine) == 2 and all(c["holds"] and c["difference"] < 0 for c in mine)
    assert f"most distinct final representation is **{lowest}**" in page.findings[-1]
    # the same numbers with one pair not holding: no model is singled out
    tied = [dict(c, holds=False) if c["worse"] == s.label("vit_clip") else c for c in page.comparisons]
    sentence = SIM._distinct_sentence(tied, lowest, 3)
    assert "most distinct final representation is" not in sentence and "cannot be told apart" in sentence


def test_within_model_heatmaps_keep_depth_order():
    feats = features()
    s, page = page_for(feats)
    within = page.table("within")
    a = within[within["model"] == s.label("convnext_sup")]
    assert a["layer a"].unique().tolist() == [f"{j:02d} convnext_sup.layer{j}" for j in range(3)]
    k = metrics.cka_matrix(feats["convnext_sup"])
    assert a["CKA"].to_numpy() == pytest.approx(k.ravel(), abs=1e-12)
    summary = page.table("summary").set_index("model")
    assert summary.loc[s.label("convnext_sup"), "first vs last layer"] == pytest.approx(k[0, -1])
    pair = page.table("pair")
    assert pair["model a"].iloc[0] == s.label("convnext_sup") and pair["model b"].iloc[0] == s.label("vit_sup")


def test_layer_picks_spread_over_depth(monkeypatch):
    from beyond_inet_lib import engine

    seen = {}

    def fake_list_layers(spec, *, settings):
        seen[spec.key] = settings
        return pd.DataFrame({"name": [f"l{i}" for i in range(10)], "kind": "mlp"})

    monkeypatch.setattr(engine, "list_layers", fake_list_layers)
    s = P.study("similarity", models=("vit_sup",))
    s.profile.properties["similarity"] = type(s.settings)(max_images=8, max_layers=4)
    assert SIM.layer_picks(s) == {"vit_sup": ["l0", "l3", "l6", "l9"]}
    assert seen["vit_sup"] == s.profile.run_settings()


def test_every_headline_estimate_lies_inside_its_own_interval():
    """Near CKA 1 (two models alike, as the demo's were) a percentile interval of the biased
    linear CKA printed 0.928 [0.893, 0.920]; the jackknife interval is centred on the
    estimate, and the finding prints what the headline holds."""
    for seed in range(4):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(40, 16))
        feats = {"convnext_sup": [x], "vit_sup": [x + rng.normal(scale=0.1, size=x.shape)],
                 "vit_clip": [np.tanh(x) + rng.normal(scale=0.3, size=x.shape)]}
        s, page = page_for(feats, n_boot=60)
        for h in page.headline:
            assert h["ci_low"] <= h["value"] <= h["ci_high"], h
            assert f"{h['model']} {h['value']:.2f} [{h['ci_low']:.2f}, {h['ci_high']:.2f}]" in page.findings[-1]
