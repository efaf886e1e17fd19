"""pages.calibration.build on hand-made logits whose calibration is known: the ECE headline
is ``stats.calibration_error_ci`` (the debiased ECE and its interval), a perfectly
calibrated model's interval reaches its true 0, an over-confident one's does not, and the
ECE comparisons are simultaneous intervals of the debiased ECE's paired replicates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from page_cases import answer, dataset, study

from beyond_inet_lib import metrics, stats
from beyond_inet_lib.pages import calibration as C


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
