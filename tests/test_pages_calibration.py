"""pages.calibration.build on hand-made predictions whose answers are known: the scores
beyond ECE equal the metrics on the same arrays and their intervals the bootstrap of the
metric itself; temperature scaling finds the temperature the logits were made with;
calibration under shift scores each variant as its protocol says (the 200-class softmax of
ImageNet-R, ImageNet-C per severity with whole images resampled, multi-label sets); the
selective and out-of-distribution numbers equal independent computations, and models are
ranked only where the paired interval holds. The ECE headline is ``stats.calibration_error_ci``
(the debiased ECE and its interval), a perfectly calibrated model's interval reaches its
true 0, an over-confident one's does not, and the ECE comparisons are simultaneous
intervals of the debiased ECE's paired replicates."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest
from page_cases import answer, dataset, study, top_only

from beyond_inet_lib import metrics, stats
from beyond_inet_lib.data import imagenet_o_indices, imagenet_r_indices
from beyond_inet_lib.pages import calibration as C

N = 600
MASK_O = imagenet_o_indices()
MASK_R = imagenet_r_indices()


def _labels_from(z: np.ndarray, rng) -> np.ndarray:
    p = metrics.softmax(z, axis=1)
    return (p.cumsum(axis=1) > rng.uniform(size=(len(p), 1))).argmax(axis=1)


@pytest.fixture(scope="module")
def case():
    """ViT: labels drawn from its own softmax (calibrated, T = 1); ConvNeXt: the same
    logits times 3 (over-confident, T = 3). A third of the images are of ImageNet-O's
    classes; ImageNet-O itself gets flat logits (nothing stands out)."""
    rng = np.random.default_rng(0)
    classes = np.where(np.arange(N) % 3 == 0, MASK_O[np.arange(N) % len(MASK_O)],
                       rng.integers(0, 1000, N))
    z = rng.normal(size=(N, 1000)) * 0.5
    z[np.arange(N), classes] += 6.0
    y = _labels_from(z, rng)
    table = pd.DataFrame({"path": [f"val/{i}.JPEG" for i in range(N)], "label": y})
    logits = {"vit_sup": z.astype(np.float32), "convnext_sup": (3 * z).astype(np.float32)}
    ood_table = pd.DataFrame({"path": [f"o/{i}.jpg" for i in range(150)], "label": -1})
    z_out = rng.normal(size=(150, 1000)) * 0.5
    z_out[np.arange(150), MASK_O[rng.integers(0, 200, 150)]] += 3.0
    ood = dataset("imagenet-o", ood_table, class_mask=MASK_O)
    return {"table": table, "logits": logits, "y": y,
            "eval": answer("eval", dataset("imagenet-val", table), logits),
            "ood": answer("ood", ood, {"vit_sup": z_out.astype(np.float32),
                                       "convnext_sup": (3 * z_out).astype(np.float32)})}


@pytest.fixture(scope="module")
def page(case):
    st = study("calibration", n_boot=200, class_resamples=40)
    return st, C.build(st, {"eval": case["eval"], "ood": case["ood"]})


def _h(page, model_prefix, metric):
    (h,) = [h for h in page.headline if h["metric"] == metric and h["model"].startswith(model_prefix)]
    return h


def _row(table, model_prefix, **where):
    t = table[table["model"].str.startswith(model_prefix)]
    for k, v in where.items():
        t = t[t[k] == v]
    assert len(t) == 1, t
    return t.iloc[0]


# ====================================================================== scores beyond ECE


def test_scores_equal_the_metrics_and_their_intervals_the_bootstrap_of_the_metric(case, page):
    st, pg = page
    for key, prefix in (("vit_sup", "ViT"), ("convnext_sup", "ConvNeXt")):
        p = metrics.softmax(case["logits"][key].astype(np.float64), axis=1)
        y = case["y"]
        nll = _h(pg, prefix, "NLL (imagenet-val)")
        assert nll["value"] == pytest.approx(metrics.negative_log_likelihood(p, y), abs=1e-9)
        iv = stats.bootstrap_ci("mean", metrics.nll_terms(p, y), n_boot=200, seed=st.seed)
        assert (nll["ci_low"], nll["ci_high"]) == pytest.approx((iv.low, iv.high), abs=1e-12)
        brier = _h(pg, prefix, "Brier (imagenet-val)")
        assert brier["value"] == pytest.approx(metrics.brier_score(p, y), abs=1e-9)
        quba = _h(pg, prefix, "calibration error, QUBA (imagenet-val)")
        assert quba["value"] == pytest.approx(metrics.quba_calibration_error(p, y), abs=1e-12)
        # its interval: QUBA's error recomputed on the very resamples every interval draws
        ref = stats.bootstrap_ci(metrics.quba_calibration_error, p, y, n_boot=40, seed=st.seed)
        assert (quba["ci_low"], quba["ci_high"]) == pytest.approx((ref.low, ref.high), abs=1e-9)
        row = _row(pg.table("scores"), prefix)
        assert row["ACE [95% CI]"].startswith(f"{metrics.adaptive_calibration_error(p, y):.3g} [")
        assert row["classwise ECE [95% CI]"].startswith(f"{metrics.classwise_calibration_error(p, y):.3g} [")
        conf, ok = p.max(axis=1), p.argmax(axis=1) == y
        assert row["ECE, equal-mass [95% CI]"].startswith(f"{metrics.equal_mass_calibration_error(conf, ok):.3f} [")
    # the over-confident copy is worse on the proper scores, and the page says so only as
    # far as the paired interval holds
    assert _h(pg, "ConvNeXt", "NLL (imagenet-val)")["value"] > _h(pg, "ViT", "NLL (imagenet-val)")["value"]
    (cmp,) = [c for c in pg.comparisons if c["metric"] == "NLL (imagenet-val)"]
    assert cmp["better"].startswith("ViT") and cmp["holds"] and cmp["low"] < 0


# ==================================================================== temperature scaling


def test_temperature_scaling_finds_the_temperature_the_logits_were_made_with(case, page):
    st, pg = page
    t = pg.table("temperature")
    assert _row(t, "ConvNeXt")["T (mean of the two halves)"] == pytest.approx(3.0, rel=0.15)
    assert _row(t, "ViT")["T (mean of the two halves)"] == pytest.approx(1.0, rel=0.15)
    assert bool(_row(t, "ConvNeXt")["scaling helps"])
    # the headline is the two-fold protocol computed here independently
    z, y = case["logits"]["convnext_sup"].astype(np.float64), case["y"]
    fold = metrics.two_fold_split(N, st.seed)
    t0 = metrics.fit_temperature(z[fold == 0], y[fold == 0])
    t1 = metrics.fit_temperature(z[fold == 1], y[fold == 1])
    ece = []
    for k, other in ((0, t1), (1, t0)):
        p = metrics.softmax(z[fold == k] / other, axis=1)
        ece.append(metrics.expected_calibration_error(p.max(axis=1), p.argmax(axis=1) == y[fold == k]))
    h = _h(pg, "ConvNeXt", "ECE after temperature scaling (imagenet-val)")
    assert h["value"] == pytest.approx(np.mean(ece), abs=1e-12)
    assert _h(pg, "ConvNeXt", "temperature (imagenet-val)")["value"] == pytest.approx((t0 + t1) / 2)
    assert _h(pg, "ConvNeXt", "temperature (imagenet-val)")["better"] is None
    before = _h(pg, "ConvNeXt", "ECE (imagenet-val)")["value"]
    assert h["value"] < before / 2
    assert not pg.table("bins_scaled").empty


# =================================================================== calibration under shift


def _shift_answers(case):
    rng = np.random.default_rng(1)
    n = 90
    out = {}
    # ImageNet-R: the 200-class softmax; labels among its classes
    y_r = MASK_R[rng.integers(0, 200, n)]
    z_r = rng.normal(size=(n, 1000))
    z_r[np.arange(n), y_r] += 2.0
    z_r[:, 0] += 8.0                      # a class outside R's 200: the 1,000-way argmax would pick it
    t_r = pd.DataFrame({"path": [f"r/{i}.jpg" for i in range(n)], "label": y_r})
    out["imagenet-r"] = answer("imagenet-r", dataset("imagenet-r", t_r, class_mask=MASK_R),
                               {"vit_sup": z_r, "convnext_sup": 3 * z_r})
    # ImageNet-C: 20 images x 2 corruptions x severities 1 and 5, the noise growing with severity
    rows, zs = [], []
    for c in ("fog", "snow"):
        for sev in (1, 5):
            for i in range(20):
                rows.append({"path": f"c/{c}/{sev}/{i}.JPEG", "label": i, "corruption": c, "severity": sev,
                             "source_path": f"img{i}"})
                z = rng.normal(size=1000) * (0.5 + sev)
                z[i] += 4.0
                zs.append(z)
    t_c = pd.DataFrame(rows)
    z_c = np.array(zs)
    out["shift:imagenet-c"] = answer("shift:imagenet-c", dataset("imagenet-c (stand-in)", t_c, standin=True),
                                     {"vit_sup": z_c, "convnext_sup": 3 * z_c})
    # ImageNet-Hard: multi-label, one empty set
    sets = [[i, i + 1] for i in range(30)] + [[]]
    z_h = rng.normal(size=(31, 1000))
    z_h[np.arange(30), np.arange(30) + 1] += 3.0
    t_h = pd.DataFrame({"path": [f"h/{i}.png" for i in range(31)], "label": [s[0] if s else -1 for s in sets],
                        "label_set": sets})
    out["shift:imagenet-hard"] = answer("shift:imagenet-hard", dataset("imagenet-hard", t_h),
                                        {"vit_sup": z_h, "convnext_sup": 3 * z_h})
    return out


def test_calibration_under_shift_follows_each_variants_protocol(case):
    st = study("calibration", n_boot=100, class_resamples=10)
    shifted = _shift_answers(case)
    pg = C.build(st, {"eval": case["eval"], **shifted})
    shift = pg.table("shift")
    fitted_t = metrics.fit_temperature(case["logits"]["convnext_sup"].astype(np.float64), case["y"])
    assert _row(pg.table("temperature"), "ConvNeXt")["T on all images (applied under shift)"] == \
        pytest.approx(fitted_t)
    ece = C._ece(15)
    # ImageNet-R: the softmax over its 200 columns, as trained and with the val temperature
    z_r = shifted["imagenet-r"].results.only("convnext_sup").logits.astype(np.float64)
    y_r = shifted["imagenet-r"].dataset.table["label"].to_numpy()
    conf, ok = metrics.masked_softmax_confidence(z_r, y_r, MASK_R)
    row = _row(shift, "ConvNeXt", shift="imagenet-r")
    assert row["ECE [95% CI]"].startswith(f"{ece(conf, ok):.3f} [")
    conf_t, ok_t = metrics.masked_softmax_confidence(z_r / fitted_t, y_r, MASK_R)
    assert row["ECE, T from imagenet-val [95% CI]"].startswith(f"{ece(conf_t, ok_t):.3f} [")
    # ImageNet-C: pooled over every cell for the headline, per severity in the chart, whole
    # images resampled (all their cells together)
    t_c = shifted["shift:imagenet-c"].dataset.table
    z_c = shifted["shift:imagenet-c"].results.only("vit_sup").logits.astype(np.float64)
    p = metrics.softmax(z_c, axis=1)
    conf, ok = p.max(axis=1), p.argmax(axis=1) == t_c["label"].to_numpy()
    h = _h(pg, "ViT", "ECE imagenet-c")
    assert h["value"] == pytest.approx(ece(conf, ok)) and h["note"] == "stand-in"
    ids = pd.factorize(t_c["source_path"])[0]
    ref = stats.bootstrap_ci(ece, conf, ok, n_boot=100, seed=st.seed, groups=ids)
    assert (h["ci_low"], h["ci_high"]) == pytest.approx((ref.low, ref.high), abs=1e-12)
    sev5 = (t_c["severity"] == 5).to_numpy()
    line = pg.table("shift_lines")
    point = _row(line, "ViT", shift="imagenet-c severity 5", temperature="as trained")
    assert point["ECE"] == pytest.approx(ece(conf[sev5], ok[sev5]))
    ref5 = stats.bootstrap_ci(ece, conf[sev5], ok[sev5], n_boot=100, seed=st.seed, groups=ids[sev5])
    assert (point["ci_low"], point["ci_high"]) == pytest.approx((ref5.low, ref5.high), abs=1e-12)
    assert _row(shift, "ViT", shift="imagenet-c severity 5")["images"] == len(np.unique(ids[sev5]))
    assert "imagenet-c" not in set(line["shift"])        # the chart shows C by severity only
    assert list(dict.fromkeys(line["shift"]))[0] == "imagenet-val (in distribution)"
    # the in-distribution point: the same plug-in ECE as every shifted point
    p0 = metrics.softmax(case["logits"]["vit_sup"].astype(np.float64), axis=1)
    point = _row(line, "ViT", shift="imagenet-val (in distribution)", temperature="as trained")
    assert point["ECE"] == pytest.approx(ece(p0.max(axis=1), p0.argmax(axis=1) == case["y"]), abs=1e-12)
    # ImageNet-Hard: right when the top-1 is in the set; the empty set is not scored
    row = _row(shift, "ViT", shift="imagenet-hard")
    assert row["images"] == 30
    z_h = shifted["shift:imagenet-hard"].results.only("vit_sup").logits[:30].astype(np.float64)
    p = metrics.softmax(z_h, axis=1)
    ok = np.array([q in (i, i + 1) for i, q in enumerate(p.argmax(axis=1))])
    assert row["top-1"] == pytest.approx(ok.mean())
    assert _h(pg, "ViT", "ECE imagenet-hard")["value"] == pytest.approx(ece(p.max(axis=1), ok))
    # ImageNet-R keeps its paper row and gets no second headline
    assert not [h for h in pg.headline if h["metric"] == "ECE imagenet-r"]
    assert any(f.startswith("Under distribution shift") for f in pg.findings)


def test_calibration_under_shift_from_imagenet_c_top_only(case):
    """With ImageNet-C's top output only (robustness.imagenet_c_outputs: top), its ECE as
    trained is the one from the logits (the top probability is the softmax maximum); the
    ECE at val's temperature needs every logit: the table says so and how to get it, the
    chart has no such point, and the other variants keep theirs."""
    st = study("calibration", n_boot=100, class_resamples=10)
    shifted = _shift_answers(case)
    full = C.build(st, {"eval": case["eval"], **shifted})
    top = C.build(st, {"eval": case["eval"], **shifted, "shift:imagenet-c": top_only(shifted["shift:imagenet-c"])})
    for model in ("ViT", "ConvNeXt"):
        a, b = _h(full, model, "ECE imagenet-c"), _h(top, model, "ECE imagenet-c")
        assert b["value"] == pytest.approx(a["value"], abs=1e-6)
        assert (b["ci_low"], b["ci_high"]) == pytest.approx((a["ci_low"], a["ci_high"]), abs=1e-6)
    t_col = "ECE, T from imagenet-val [95% CI]"
    rows = top.table("shift")
    c_rows = rows[rows["shift"].str.startswith("imagenet-c")]
    assert len(c_rows) == 6 and set(c_rows[t_col]) == {C.TOP_ONLY}
    assert "imagenet_c_outputs: logits" in C.TOP_ONLY
    assert not rows.loc[~rows["shift"].str.startswith("imagenet-c"), t_col].eq(C.TOP_ONLY).any()
    lines = top.table("shift_lines")
    c_lines = lines[lines["shift"].str.startswith("imagenet-c")]
    assert set(c_lines["temperature"]) == {"as trained"} and len(c_lines) == 4
    assert (lines["temperature"] != "as trained").any()


# ===================================================================== selective prediction


def test_selective_prediction_numbers_and_rankings(case, page):
    st, pg = page
    for key, prefix in (("vit_sup", "ViT"), ("convnext_sup", "ConvNeXt")):
        p = metrics.softmax(case["logits"][key].astype(np.float64), axis=1)
        conf, ok = p.max(axis=1), p.argmax(axis=1) == case["y"]
        assert _h(pg, prefix, "AURC (imagenet-val)")["value"] == pytest.approx(metrics.aurc(conf, ok))
        h = _h(pg, prefix, "accuracy at 90% coverage (imagenet-val)")
        assert h["value"] == pytest.approx(metrics.selective_accuracy(conf, ok, 0.9))
        ref = stats.bootstrap_ci(partial(metrics.selective_accuracy, coverage=0.9), conf, ok, n_boot=200,
                                 seed=st.seed)
        assert (h["ci_low"], h["ci_high"]) == pytest.approx((ref.low, ref.high), abs=1e-12)
    # the two models predict the same classes and nearly rank them alike (the softmax of
    # 3z is not a monotone map of that of z, so AURC differs a little): the order is
    # claimed only as far as the interval of the difference holds: the simultaneous interval
    # of the two models' AURC replicates, recomputed here on the images each resample repeats
    conf_ok = {}
    for key in ("vit_sup", "convnext_sup"):
        p = metrics.softmax(case["logits"][key].astype(np.float64), axis=1)
        conf_ok[key] = (p.max(axis=1), p.argmax(axis=1) == case["y"])
    (cmp,) = [c for c in pg.comparisons if c["metric"] == "AURC (imagenet-val)"]
    a, b = (("vit_sup", "convnext_sup") if cmp["better"].startswith("ViT") else ("convnext_sup", "vit_sup"))
    assert metrics.aurc(*conf_ok[a]) <= metrics.aurc(*conf_ok[b])
    reps = np.array([[metrics.aurc(np.repeat(conf_ok[k][0], w), np.repeat(conf_ok[k][1], w)) for k in (a, b)]
                     for w in stats.resample_counts(N, 200, st.seed)])
    (ref,) = stats.simultaneous_differences({"a": metrics.aurc(*conf_ok[a]), "b": metrics.aurc(*conf_ok[b])}, reps,
                                            higher_is_better=False).to_dict("records")
    assert cmp["difference"] == pytest.approx(ref["difference"], abs=1e-12)
    assert (cmp["low"], cmp["high"]) == pytest.approx((ref["low"], ref["high"]), abs=1e-12)
    assert cmp["holds"] == bool(ref["holds"])
    for c in pg.comparisons:
        if c["metric"].startswith(("AURC", "accuracy at")):
            assert c["holds"] == (c["low"] > 0 or c["high"] < 0) and abs(c["difference"]) < 0.01
    curve = pg.table("risk_coverage")
    assert set(curve.columns) >= {"model", "coverage", "risk", "accuracy"}
    assert curve.groupby("model")["coverage"].max().eq(1.0).all()


def test_selective_ranking_holds_when_one_confidence_ranks_the_errors(case):
    """Same predictions, one confidence that puts every error last and one that ignores
    them: the first has the lower AURC, and the page says so."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 1000, 400)
    pred = np.where(rng.uniform(size=400) < 0.7, y, (y + 1) % 1000)
    good = np.zeros((400, 1000), dtype=np.float32)
    good[np.arange(400), pred] = np.where(pred == y, 8.0, 1.0) + rng.uniform(0, 0.1, 400)
    blind = np.zeros_like(good)
    blind[np.arange(400), pred] = rng.uniform(1.0, 8.0, 400)
    table = pd.DataFrame({"path": [f"v/{i}" for i in range(400)], "label": y})
    st = study("calibration", n_boot=200, class_resamples=5)
    pg = C.build(st, {"eval": answer("eval", dataset("imagenet-val", table),
                                     {"vit_sup": good, "convnext_sup": blind})})
    (cmp,) = [c for c in pg.comparisons if c["metric"] == "AURC (imagenet-val)"]
    assert cmp["better"].startswith("ViT") and cmp["holds"]
    assert "**ViT" in C.ranking_sentence(pg.comparisons, "AURC (imagenet-val)")


# ======================================================= out-of-distribution detection


def test_ood_detection_against_the_eval_images_of_imagenet_o_classes(case, page):
    from sklearn.metrics import roc_auc_score, roc_curve

    st, pg = page
    inside = np.isin(case["y"], MASK_O)
    ood = pg.table("ood")
    assert set(ood["in-distribution images"]) == {int(inside.sum())}
    z_out = case["ood"].results.only("vit_sup").logits.astype(np.float64)
    z_in = case["logits"]["vit_sup"].astype(np.float64)[inside]
    for score, fn in (("MSP", lambda z: metrics.softmax(z[:, MASK_O], axis=1).max(axis=1)),
                      ("max logit", lambda z: z[:, MASK_O].max(axis=1))):
        a, b = fn(z_in), fn(z_out)
        truth = np.r_[np.ones(len(a)), np.zeros(len(b))]
        h = _h(pg, "ViT", f"AUROC imagenet-o, {score}")
        assert h["value"] == pytest.approx(roc_auc_score(truth, np.r_[a, b]), abs=1e-12)
        fpr, tpr, _ = roc_curve(truth, np.r_[a, b], drop_intermediate=False)
        assert _h(pg, "ViT", f"FPR@95 imagenet-o, {score}")["value"] == pytest.approx(fpr[np.argmax(tpr >= 0.95)])
        # the interval: in- and out-of-distribution images resampled separately
        c_in = stats.resample_counts(len(a), 200, st.seed)
        c_out = stats.resample_counts(len(b), 200, st.seed + 1)
        reps = [metrics.auroc(np.repeat(a, ci), np.repeat(b, co)) for ci, co in zip(c_in, c_out)]
        assert (h["ci_low"], h["ci_high"]) == pytest.approx(tuple(np.quantile(reps, [0.025, 0.975])), abs=1e-12)
    assert _h(pg, "ViT", "AUROC imagenet-o, energy")["better"] == "higher"
    assert _h(pg, "ViT", "FPR@95 imagenet-o, energy")["better"] == "lower"
    assert not pg.table("ood_bars").empty


def test_ood_standin_is_said(case):
    ds = dataset("imagenet-o (stand-in)", case["ood"].dataset.table, class_mask=MASK_O, standin=True)
    ood = answer("ood", ds, {k: r.logits for (k, _), r in case["ood"].results.items()})
    st = study("calibration", n_boot=50, class_resamples=5)
    pg = C.build(st, {"eval": case["eval"], "ood": ood})
    h = _h(pg, "ViT", "AUROC imagenet-o (stand-in), MSP")
    assert h["note"] == "stand-in"
    assert any("generated stand-in" in f for f in pg.findings)


def test_a_page_without_intervals_still_has_every_number(case):
    st = study("calibration", n_boot=0)
    pg = C.build(st, {"eval": case["eval"], "ood": case["ood"]})
    for metric in ("NLL (imagenet-val)", "calibration error, QUBA (imagenet-val)",
                   "ECE after temperature scaling (imagenet-val)", "AURC (imagenet-val)",
                   "AUROC imagenet-o, energy"):
        h = _h(pg, "ViT", metric)
        assert np.isfinite(h["value"]) and h["ci_low"] is None
    assert not [c for c in pg.comparisons]


def test_every_headline_metric_is_declared_with_its_direction(page):
    _, pg = page
    declared = [m.name.split("{", 1)[0] for m in C.PROPERTY.metrics]
    for h in pg.headline:
        assert any(h["metric"].startswith(d) for d in declared), h["metric"]
        assert h["better"] in ("higher", "lower", None)


# ============================================================= the ECE headline


def _logits(conf, correct, labels):
    """(n, 1000) logits whose softmax maximum is ``conf`` on a class that is the label
    where ``correct`` (else the next class): logit L on it, 0 elsewhere, e^L / (e^L + 999) = conf."""
    n = len(conf)
    pred = np.where(correct, labels, (labels + 1) % 1000)
    z = np.zeros((n, 1000), dtype=np.float64)
    z[np.arange(n), pred] = np.log(999 * conf / (1 - conf))
    return z


def _models(n=1000, seed=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 1000, n)
    conf = rng.uniform(0.3, 0.97, n)
    u = rng.uniform(size=n)
    calibrated = u < conf                                 # right with probability = confidence
    over = u < conf - 0.15                                # 0.15 less often right than it says
    table = pd.DataFrame({"path": [f"val/{i}.JPEG" for i in range(n)], "label": labels})
    return table, labels, conf, {"convnext_sup": calibrated, "vit_sup": over}


def test_the_ece_headline_is_calibration_error_ci_and_covers_a_calibrated_models_zero():
    table, labels, conf, right = _models()
    s = study("calibration", n_boot=300)
    logits = {k: _logits(conf, ok, labels) for k, ok in right.items()}
    page = C.build(s, {"eval": answer("eval", dataset("imagenet-val", table), logits)})
    heads = {h["model"]: h for h in page.headline if h["metric"] == "ECE (imagenet-val)"}
    for key, ok in right.items():
        c, correct = metrics.masked_softmax_confidence(logits[key], labels)
        assert c == pytest.approx(conf, abs=1e-9) and (correct == ok).all()
        ref = stats.calibration_error_ci(c, correct, n_bins=s.settings.n_bins, n_boot=300, seed=s.seed)
        h = heads[s.label(key)]
        assert (h["value"], h["ci_low"], h["ci_high"]) == pytest.approx((ref.estimate, ref.low, ref.high), abs=1e-12)
        assert h["value"] == pytest.approx(metrics.debiased_calibration_error(c, correct, s.settings.n_bins))
    calibrated, over = heads[s.label("convnext_sup")], heads[s.label("vit_sup")]
    assert calibrated["ci_low"] == 0.0 <= calibrated["ci_high"] < 0.05        # the truth 0 is inside
    assert 0.10 < over["ci_low"] <= 0.15 <= over["ci_high"]                   # its truth, 0.15, too
    # the paper's plug-in ECE stays in the table, beside the paper's number
    summary = page.table("summary").set_index("model")
    plug = metrics.expected_calibration_error(conf, right["vit_sup"], n_bins=s.settings.n_bins)
    assert summary.loc[s.label("vit_sup"), "ECE (plug-in, as the paper)"] == pytest.approx(plug)
    # the comparison: simultaneous intervals of the paired debiased-ECE replicates
    (row,) = [r for r in page.comparisons if r["metric"] == "ECE (imagenet-val)"]
    est, reps = stats.calibration_error_replicates(np.stack([conf, conf], axis=1),
                                                   np.stack([right["convnext_sup"], right["vit_sup"]], axis=1),
                                                   n_bins=s.settings.n_bins, n_boot=300, seed=s.seed)
    (ref,) = stats.simultaneous_differences({"a": est[0], "b": est[1]}, reps, higher_is_better=False
                                            ).to_dict("records")
    assert row["better"] == s.label("convnext_sup") and row["holds"]
    assert (row["low"], row["high"]) == pytest.approx((ref["low"], ref["high"]), abs=1e-12)
    text = " ".join(page.findings)
    assert "perfect calibration is not rejected" in text and "is ahead of" in text


def test_without_intervals_the_headline_is_the_debiased_ece_alone():
    table, labels, conf, right = _models(400, seed=4)
    s = study("calibration", n_boot=0)
    page = C.build(s, {"eval": answer("eval", dataset("imagenet-val", table),
                                      {"vit_sup": _logits(conf, right["vit_sup"], labels)})})
    (h,) = [h for h in page.headline if h["metric"] == "ECE (imagenet-val)"]
    assert h["ci_low"] is None and h["value"] == pytest.approx(
        metrics.debiased_calibration_error(conf, right["vit_sup"], s.settings.n_bins))


def test_bf16_sensitivity_is_left_out_on_a_cpu_that_emulates_it_and_the_table_says_why(monkeypatch):
    """bf16 autocast on a CPU without native bf16 runs ~10x slower than fp32: the precision
    switch is not requested there, and the sensitivity table and findings say why."""
    from types import SimpleNamespace

    import torch

    from beyond_inet_lib.engine import device
    from beyond_inet_lib.pages import calibration as cal
    from beyond_inet_lib.pages.base import Page

    assert device.slow_bf16("cpu") == (not torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert device.slow_bf16("cuda") is False
    study = SimpleNamespace(run_settings=SimpleNamespace(precision="fp32", device="cpu"),
                            settings=SimpleNamespace(sensitivity=True, n_bins=15), n_boot=0, seed=0)
    for slow in (True, False):
        monkeypatch.setattr(device, "slow_bf16", lambda dev, slow=slow: slow)
        assert cal._bf16_skipped(study) is slow
        page = Page("calibration")
        cal._sensitivity_section(study, page, {}, {})
        sens = page.table("sensitivity")
        assert (len(sens) == 1 and "no native bf16" in sens["note"].iloc[0]) if slow else sens.empty
    study.run_settings.precision = "bf16"          # the switch is then to fp32: always run
    monkeypatch.setattr(device, "slow_bf16", lambda dev: True)
    assert cal._bf16_skipped(study) is False


def test_the_finding_says_when_every_model_is_under_confident():
    """Mean confidence 0.73 / 0.58 at 88-89% top-1 (the demo's models): the finding says both
    are under-confident; a model whose confidence matches its accuracy is named neither way."""
    import pandas as pd

    from beyond_inet_lib.pages import calibration as cal
    from beyond_inet_lib.pages.base import Page
    from types import SimpleNamespace

    def page(confidences):
        p = Page("calibration")
        p.tables["summary"] = pd.DataFrame({"model": ["A", "B"], "mean confidence": confidences,
                                            "ECE (plug-in, as the paper)": [0.1, 0.2]})
        for m, ece in (("A", 0.1), ("B", 0.2)):
            p.headline += [{"model": m, "metric": "ECE (imagenet-val)", "value": ece, "ci_low": 0.05,
                            "ci_high": 0.3, "note": "", "paper": None},
                           {"model": m, "metric": "top-1 (imagenet-val)", "value": 0.885, "ci_low": 0.8,
                            "ci_high": 0.9, "note": "", "paper": None}]
        return " ".join(cal.findings(SimpleNamespace(settings=SimpleNamespace(), meaningful=lambda t: t), p))

    text = page([0.73, 0.58])
    assert "Under-confident on average (mean confidence below accuracy): every model (A, B)" in text
    assert "Over-confident" not in text
    text = page([0.73, 0.88])
    assert "Under-confident on average (mean confidence below accuracy): A." in text
    assert "every model" not in text
