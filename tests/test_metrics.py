"""Tests for beyond_inet_lib.metrics: hand-computed cases, independent references
(torchmetrics, imagenet_x, the paper's own decision logs) and mathematical identities.
The linear probe has its own file (test_linear_probe.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from beyond_inet_lib import metrics as M

PROJECT_ROOT = Path(__file__).resolve().parent.parent
from conftest import TEST_DATA, need_data

DECISIONS = (TEST_DATA or Path("/nonexistent")) / "reference" / "cue-conflict-decisions"


@pytest.fixture
def decision_logs() -> Path:
    if not DECISIONS.is_dir() or not list(DECISIONS.glob("*.csv")):
        pytest.skip(f"cue-conflict decision logs absent at {DECISIONS} (test data root)")
    return DECISIONS


# ================================================================== softmax / top-1


def test_softmax_stable_and_normalised():
    z = np.array([[1000.0, 1001.0, 999.0], [0.0, 0.0, 0.0]])
    p = M.softmax(z)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    e = np.exp([-1.0, 0.0, -2.0])
    np.testing.assert_allclose(p[0], e / e.sum())
    np.testing.assert_allclose(p[1], [1 / 3] * 3)


def test_top1_with_class_mask_takes_argmax_inside_mask():
    logits = np.zeros((3, 10))
    logits[0, [9, 2]] = [5.0, 3.0]   # global argmax 9 is outside the mask; best inside is 2
    logits[1, [4, 6]] = [1.0, 2.0]   # best inside the mask: 6
    logits[2, [7, 1]] = [9.0, 8.0]   # inside: 1
    mask = np.array([1, 2, 4, 6])
    labels = np.array([2, 6, 1])
    assert M.top1(logits, labels) == pytest.approx(1 / 3)             # argmax 9, 6, 7: row 1
    assert M.top1(logits, labels, class_mask=mask) == pytest.approx(1.0)  # inside: 2, 6, 1
    assert M.top1(np.array([2, 6, 7]), labels) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="logits"):
        M.top1(np.array([2, 6, 7]), labels, class_mask=mask)


def test_masked_softmax_confidence_renormalises_over_the_mask():
    logits = np.log(np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]]))
    conf, correct = M.masked_softmax_confidence(logits, [1, 2], class_mask=[1, 2])
    # softmax over columns 1, 2 only: row 0 -> 0.3/0.5 on class 1, row 1 -> 0.6/0.9 on class 1
    np.testing.assert_allclose(conf, [0.6, 2 / 3])
    np.testing.assert_array_equal(correct, [True, False])
    conf_all, correct_all = M.masked_softmax_confidence(logits, [0, 1])
    np.testing.assert_allclose(conf_all, [0.5, 0.6])
    np.testing.assert_array_equal(correct_all, [True, True])


@pytest.mark.parametrize("temperature", [1.0, 0.37, 4.0])
def test_softmax_top_is_the_largest_softmax_probability_and_its_column(temperature):
    """Bit for bit the maximum and argmax of the full softmax of z / T (float32 logits as
    the cache holds them, large CLIP-like ones, a class mask), the caller's logits left as
    they were."""
    rng = np.random.default_rng(3)
    z = (rng.normal(scale=30.0, size=(300, 50))).astype(np.float32)
    before = z.copy()
    mask = np.array([3, 7, 11, 40, 41, 49])
    for m in (None, mask):
        conf, idx = M.softmax_top(z, m, temperature)
        p = M.softmax(np.asarray(z, dtype=np.float64) / temperature, axis=1, class_mask=m)
        np.testing.assert_array_equal(idx, p.argmax(axis=1))
        np.testing.assert_array_equal(conf, p.max(axis=1))
    np.testing.assert_array_equal(z, before)
    assert M.softmax_top(np.array([[1000.0, 1001.0, 999.0]]))[0][0] == pytest.approx(1 / (1 + np.exp(-1) + np.exp(-2)))


def test_label_probability_is_the_softmax_of_the_label_and_the_argmax():
    """Bit for bit the full softmax's probability of each row's label and its argmax
    (float32 logits as the cache holds them, large CLIP-like ones), the caller's logits left
    as they were; a hand case."""
    rng = np.random.default_rng(4)
    z = rng.normal(scale=30.0, size=(400, 60)).astype(np.float32)
    y = rng.integers(0, 60, len(z))
    before = z.copy()
    top, prob = M.label_probability(z, y)
    p = M.softmax(np.asarray(z, dtype=np.float64), axis=1)
    np.testing.assert_array_equal(top, p.argmax(axis=1))
    np.testing.assert_array_equal(prob, p[np.arange(len(y)), y])
    np.testing.assert_array_equal(z, before)
    top, prob = M.label_probability(np.array([[1000.0, 1001.0, 999.0]]), [2])
    assert top[0] == 1 and prob[0] == pytest.approx(np.exp(-2) / (1 + np.exp(-1) + np.exp(-2)))
    with pytest.raises(ValueError, match="N labels"):
        M.label_probability(z, y[:-1])


def test_multilabel_top1_skips_empty_sets():
    pred = np.array([1, 2, 3, 4, 5])
    sets = [[1, 5], [], [7], np.array([4, 9]), None]
    assert M.multilabel_top1(pred, sets) == pytest.approx(2 / 3)
    logits = np.eye(6)[pred]               # (N, C) scores give the same argmax
    assert M.multilabel_top1(logits, sets) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="empty"):
        M.multilabel_top1([1], [[]])


# ======================================================================= calibration

HAND_CONF = np.array([2 / 15, 0.1, 1.0, 0.95, 0.0, 0.5])
HAND_CORRECT = np.array([1, 0, 1, 0, 0, 1])
# right-closed bins: 2/15 and 0.1 share bin 1 = (1/15, 2/15]; 1.0 and 0.95 share bin 14;
# 0.0 goes to bin 0; 0.5 to bin 7 = (7/15, 8/15]
HAND_ECE = (2 / 6) * abs((2 / 15 + 0.1) / 2 - 0.5) + (1 / 6) * 0 + (1 / 6) * 0.5 \
    + (2 / 6) * abs((1.0 + 0.95) / 2 - 0.5)


def test_ece_hand_case_with_bin_edges():
    assert M.expected_calibration_error(HAND_CONF, HAND_CORRECT) == pytest.approx(HAND_ECE, abs=1e-12)
    bins = M.reliability_bins(HAND_CONF, HAND_CORRECT)
    assert len(bins) == 15
    assert bins["count"].tolist() == [1, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2]
    assert bins.loc[14, "mean_confidence"] == pytest.approx(0.975)
    assert bins.loc[14, "accuracy"] == pytest.approx(0.5)
    assert bins.loc[1, "gap"] == pytest.approx((2 / 15 + 0.1) / 2 - 0.5)
    assert np.isnan(bins.loc[3, "accuracy"])
    np.testing.assert_allclose(bins["lower"], np.arange(15) / 15)
    hist = M.confidence_histogram(HAND_CONF)
    assert hist["count"].tolist() == bins["count"].tolist()
    assert hist["share"].sum() == pytest.approx(1.0)


def test_ece_rejects_logits():
    with pytest.raises(ValueError, match="logits"):
        M.expected_calibration_error([3.2, 0.5], [1, 0])


def test_ece_matches_torchmetrics_away_from_edges():
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.classification")
    rng = np.random.default_rng(0)
    # binary form: torchmetrics takes the confidence and the 0/1 correctness directly
    conf = rng.uniform(0.0, 1.0, 5000).astype(np.float32)
    correct = (rng.uniform(size=5000) < conf**2).astype(np.int64)
    ref = tm.BinaryCalibrationError(n_bins=15, norm="l1")(torch.from_numpy(conf), torch.from_numpy(correct))
    assert M.expected_calibration_error(conf, correct) == pytest.approx(float(ref), abs=1e-5)
    # multiclass form: max softmax from logits
    logits = rng.normal(scale=2.0, size=(3000, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 3000)
    labels[:1500] = logits[:1500].argmax(axis=1)
    probs = torch.softmax(torch.from_numpy(logits), dim=1)
    ref = tm.MulticlassCalibrationError(num_classes=10, n_bins=15, norm="l1")(probs, torch.from_numpy(labels))
    c, ok = M.masked_softmax_confidence(logits, labels)
    assert M.expected_calibration_error(c, ok) == pytest.approx(float(ref), abs=1e-5)


def test_torchmetrics_bins_differ_on_edges_documented():
    """What we found: torchmetrics bins with bucketize(right=True) - 1, i.e. LEFT-closed
    bins [lower, upper), and 1.0 lands in an extra 16th bin of its own. The protocol's
    bins are right-closed (lower, upper]. Only values exactly on an edge differ."""
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.classification")
    conf = np.array([1.0, 0.95])
    correct = np.array([0, 1])
    ours = M.expected_calibration_error(conf, correct)            # one bin: |0.975 - 0.5|
    assert ours == pytest.approx(0.475)
    ref = float(tm.BinaryCalibrationError(n_bins=15, norm="l1")(
        torch.tensor(conf, dtype=torch.float64), torch.tensor(correct)))
    assert ref == pytest.approx(0.5 * 1.0 + 0.5 * 0.05)           # 1.0 alone in bin 16


def test_ece_matches_imagenet_x():
    agg = pytest.importorskip("imagenet_x.aggregate")
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.0, 1.0, 4000)
    # keep clear of the bin edges: imagenet_x uses np.linspace edges and searchsorted(side=left)
    conf = conf[np.abs(conf * 15 - np.round(conf * 15)) > 1e-6]
    correct = (rng.uniform(size=len(conf)) < conf).astype(float)
    assert M.expected_calibration_error(conf, correct) == pytest.approx(
        agg.estimated_calibration_error(correct, conf), abs=1e-12)
    # its searchsorted(side='left') is right-closed too, so on this numpy the edge case agrees
    assert M.expected_calibration_error(HAND_CONF, HAND_CORRECT) == pytest.approx(
        agg.estimated_calibration_error(HAND_CORRECT.astype(float), HAND_CONF), abs=1e-12)


# ====================================================================== shape bias


def _hand_shape_bias(path: Path) -> tuple[float, float, int]:
    """Plain loops over a model-vs-human log: shape = `category`, texture parsed from the
    image name's second part."""
    n_shape = n_texture = n_correct = n_all = 0
    with open(path) as f:
        for row in csv.DictReader(f):
            texture = row["imagename"].rsplit("-", 1)[1].removesuffix(".png").rstrip("0123456789")
            shape = row["category"]
            n_all += 1
            n_correct += row["object_response"] == shape
            if shape == texture:
                continue
            n_shape += row["object_response"] == shape
            n_texture += row["object_response"] == texture
    return n_shape / (n_shape + n_texture), n_correct / n_all, n_shape


def _read_log(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False)


def test_shape_bias_equals_hand_count_on_paper_logs(decision_logs):
    for path in sorted(decision_logs.glob("*.csv")):
        log = _read_log(path)
        bias, acc, n_shape = _hand_shape_bias(path)
        got = M.shape_bias(log["imagename"], log["object_response"])
        assert got["shape_bias"] == pytest.approx(bias, abs=1e-12), path.name
        assert got["accuracy"] == pytest.approx(acc, abs=1e-12), path.name
        assert got["n_shape"] == n_shape
        assert got["n_conflict"] == 1200 and got["n_images"] == 1280


@pytest.mark.parametrize("model,paper,tol", [
    ("deit3-21k", 39.9, 0.6), ("convnext-base-21k", 33.3, 0.6),
    ("vit-clip", 46.5, 0.6), ("convnext-clip", 44.7, 2.5),  # the log is ~2 points off the figure
])
def test_shape_bias_matches_paper_figure(decision_logs, model, paper, tol):
    log = _read_log(decision_logs / f"cue-conflict_{model}_session-1.csv")
    got = M.shape_bias(log["imagename"], log["object_response"])
    assert 100 * got["shape_bias"] == pytest.approx(paper, abs=tol)


def test_shape_bias_small_case_and_per_category():
    names = ["x/dog1-cat2.png", "dog2-bird1.png", "dog3-dog1.png", "prefix_cat1-dog3.png", "cat2-bird2.png"]
    decisions = ["dog", "bird", "dog", "cat", "clock"]
    got = M.shape_bias(names, decisions)
    # conflicts: rows 0, 1, 3, 4 -> shape hits rows 0, 3; texture hit row 1; row 4 neither
    assert (got["n_shape"], got["n_texture"], got["n_conflict"], got["n_images"]) == (2, 1, 4, 5)
    assert got["shape_bias"] == pytest.approx(2 / 3)
    assert got["accuracy"] == pytest.approx(3 / 5)   # includes the shape == texture image
    per = M.shape_bias_per_category(names, decisions).set_index("category")
    assert per.loc["dog", "shape_bias"] == pytest.approx(1 / 2)
    assert per.loc["cat", "shape_bias"] == pytest.approx(1.0)
    assert per.loc["cat", "n_conflict"] == 2
    shape, texture = M.cue_votes(names, decisions)            # the same trials, vote by vote
    assert shape.tolist() == [1, 0, 0, 1, 0] and texture.tolist() == [0, 1, 0, 0, 0]
    assert M.shape_bias_from_votes(shape, texture) == pytest.approx(2 / 3)
    assert M.shape_bias_from_votes(shape[[1, 4]], texture[[1, 4]]) == 0.0   # a resample: texture only
    assert np.isnan(M.shape_bias_from_votes(shape[[2, 4]], texture[[2, 4]]))  # nothing decided


def test_cue_conflict_table_shipped_and_categories():
    from beyond_inet_lib.data import CUE_CONFLICT_CATEGORIES

    assert M.cue_conflict_categories() == CUE_CONFLICT_CATEGORIES
    idx = M.cue_conflict_category_indices()
    assert sum(len(v) for v in idx.values()) == 207
    assert idx["airplane"] == (404,) and len(idx["dog"]) > 100
    ref = need_data("reference", "cue-conflict-16class-imagenet-indices.json")
    if ref.is_file():
        assert {k: tuple(v) for k, v in json.loads(ref.read_text()).items()} == idx


def test_cue_conflict_decisions_use_mean_not_sum_or_max():
    idx = M.cue_conflict_category_indices()
    used = {i for v in idx.values() for i in v}
    others = np.array(sorted(set(range(1000)) - used))

    def row(assign):
        p = np.zeros(1000)
        for cols, value in assign:
            p[list(cols)] = value
        p[others] = (1.0 - p.sum()) / len(others)
        return p

    dog, cat = idx["dog"], idx["cat"]
    # dog: 0.004 on each of its >100 indices (sum ~0.46, mean 0.004); airplane: 0.1 on its
    # single index; cat: 0.2 on one of its six (max 0.2, mean 0.033).
    r1 = row([(dog, 0.004), ((404,), 0.1), ((cat[0],), 0.2)])
    # bear (4 indices) 0.05 each: mean 0.05, sum 0.2; bird: 0.006 on each (sum ~0.29);
    # bottle: 0.15 on one of seven (max 0.15, mean ~0.021)
    r2 = row([(idx["bear"], 0.05), (idx["bird"], 0.006), ((idx["bottle"][0],), 0.15)])
    probs = np.stack([r1, r2])
    names = list(idx)
    by_sum = [names[int(np.argmax([p[list(idx[c])].sum() for c in names]))] for p in probs]
    by_max = [names[int(np.argmax([p[list(idx[c])].max() for c in names]))] for p in probs]
    assert by_sum == ["dog", "bird"] and by_max == ["cat", "bottle"]  # the constructions bite
    assert M.cue_conflict_decisions(probs).tolist() == ["airplane", "bear"]
    with pytest.raises(ValueError, match="softmax"):
        M.cue_conflict_decisions(np.log(probs + 1e-9))


# ====================================================================== ImageNet-X


def test_imagenet_x_error_ratios_equal_package(tmp_path):
    imagenet_x = pytest.importorskip("imagenet_x")
    from imagenet_x.utils import get_annotation_path

    # imagenet_x/utils.py load_model_predictions: every *.csv in the folder is a model,
    # read with read_csv(...).set_index("file_name"); it needs file_name and
    # predicted_class (predicted_probability is the third column of its format).
    labels = pd.read_csv(get_annotation_path() / "filename_label.csv")
    assert len(labels) == 50_000
    rng = np.random.default_rng(0)
    pred = labels["label"].to_numpy().copy()
    wrong = rng.uniform(size=len(pred)) < 0.3
    pred[wrong] = (pred[wrong] + rng.integers(1, 1000, wrong.sum())) % 1000
    table = pd.DataFrame({"file_name": labels["file_name"], "predicted_class": pred,
                          "predicted_probability": rng.uniform(size=len(pred))})
    table.to_csv(tmp_path / "mymodel.csv", index=False)

    accs = imagenet_x.get_factor_accuracies(str(tmp_path))
    ref = imagenet_x.error_ratio(accs).loc["mymodel"]
    ours = M.imagenet_x_error_ratios(table)
    assert list(ours.index) == list(imagenet_x.FACTORS)
    np.testing.assert_allclose(ours.to_numpy(), ref[list(imagenet_x.FACTORS)].to_numpy(), rtol=1e-12)
    assert M.mean_error_ratio(ours) == pytest.approx(float(ref.mean()))
    assert np.isfinite(ours).all()


def test_factor_error_ratios_hand_case():
    t = pd.DataFrame({"factor": ["a", "a", "a", "a", "b", "b", None, None],
                      "ok": [1, 1, 1, 0, 0, 0, 1, 1]})
    r = M.factor_error_ratios(t, "factor", "ok")
    # overall error 3/8 over all rows (incl. those without a factor); a: 1/4, b: 1
    assert r["a"] == pytest.approx((1 / 4) / (3 / 8))
    assert r["b"] == pytest.approx(1 / (3 / 8))
    assert M.mean_error_ratio(r) == pytest.approx(((1 / 4) + 1) / 2 / (3 / 8))


def test_error_ratios_of_every_model_at_once_hand_case():
    """(n, F) one-hot factors x (n, M) correctness -> (M, F); a factor without rows and a
    model without errors are NaN, and the mean over factors leaves the NaN factor out."""
    factors = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]])
    correct = np.array([[0, 1, 1], [1, 1, 1], [0, 1, 1], [0, 1, 1], [1, 1, 1], [1, 0, 1]])
    r = M.error_ratios(factors, correct)
    assert r.shape == (3, 3)
    # model 0: overall error 3/6; factor 0: 1/2, factor 1: 2/2; factor 2 has no rows
    assert r[0, :2] == pytest.approx([(1 / 2) / (3 / 6), 1 / (3 / 6)]) and np.isnan(r[0, 2])
    # model 1: its one error is on a row without a factor: both ratios 0
    assert r[1, :2] == pytest.approx([0, 0])
    assert np.isnan(r[2]).all()                                   # no error at all
    assert M.mean_error_ratios(factors, correct)[:2] == pytest.approx([(1 + 2) / 2, 0])
    assert np.isnan(M.mean_error_ratios(factors, correct)[2])
    assert M.error_ratios(factors, correct[:, 0]).shape == (1, 3)  # one model: (n,) correctness


# ================================================================= robustness et al.


def test_imagenet_c_summary_mean_of_means():
    rows = []
    def add(corr, sev, n, k):
        rows.extend({"corruption": corr, "severity": sev, "correct": i < k} for i in range(n))
    add("fog", 1, 4, 4); add("fog", 2, 1, 0)
    for s in (3, 4, 5):
        add("fog", s, 2, 1)
    add("blur", 1, 2, 2)
    for s in (2, 3, 4, 5):
        add("blur", s, 2, 1)
    out = M.imagenet_c_summary(pd.DataFrame(rows))
    assert out.loc["fog", "mean"] == pytest.approx(0.5)      # (1 + 0 + .5 + .5 + .5) / 5
    assert out.loc["blur", "mean"] == pytest.approx(0.6)
    assert out.loc["mean", "mean"] == pytest.approx(0.55)     # pooled would be 13/21
    assert out.attrs["mean"] == pytest.approx(0.55)
    assert out.loc["fog", 2] == 0.0 and out.loc["mean", 1] == pytest.approx(1.0)


def test_robustness_average_excludes_val():
    acc = {"imagenet-val": 0.9, "imagenet-v2": 0.7, "imagenet-a": 0.5, "imagenet-r": 0.6,
           "imagenet-sketch": 0.4, "imagenet-c": 0.55, "imagenet-real": 0.85, "imagenet-hard": 0.25}
    assert M.robustness_average(acc) == pytest.approx((0.7 + 0.5 + 0.6 + 0.4 + 0.55 + 0.85 + 0.25) / 7)
    del acc["imagenet-hard"]
    with pytest.raises(ValueError, match="imagenet-hard"):
        M.robustness_average(acc)
    assert M.robustness_average(acc, allow_missing=True) == pytest.approx((0.7 + 0.5 + 0.6 + 0.4 + 0.55 + 0.85) / 6)


def test_pug_factor_accuracy_shared_index():
    shirt = sweatshirt = [841]  # PUG maps both classes to ImageNet 841
    wolf = [269, 270, 271, 272]
    t = pd.DataFrame({
        "factor": ["Worlds", "Worlds", "Worlds", "Camera_Yaw", "Camera_Yaw"],
        "pred": [841, 841, 1, 271, 3],
        "label_set": [shirt, sweatshirt, [2], wolf, wolf],
    })
    out = M.pug_factor_accuracy(t).set_index("factor")
    assert out.loc["Worlds", "accuracy"] == pytest.approx(2 / 3)
    assert out.loc["Camera_Yaw", "accuracy"] == pytest.approx(0.5)
    assert out.loc["mean", "accuracy"] == pytest.approx((2 / 3 + 0.5) / 2)   # unweighted


def test_invariance_curve_groups():
    t = pd.DataFrame({"model": ["m"] * 4 + ["n"] * 2,
                      "transform": ["scale", "scale", "scale", "shift", "scale", "scale"],
                      "value": [1.0, 1.0, 2.0, 5, 1.0, 1.0],
                      "correct": [True, False, True, True, False, False],
                      "true_prob": [0.9, 0.1, 0.8, 0.7, 0.2, 0.4]})
    out = M.invariance_curve(t).set_index(["model", "transform", "value"])
    assert out.loc[("m", "scale", 1.0), "top1"] == pytest.approx(0.5)
    assert out.loc[("m", "scale", 1.0), "mean_true_prob"] == pytest.approx(0.5)
    assert out.loc[("n", "scale", 1.0), "mean_true_prob"] == pytest.approx(0.3)
    assert len(out) == 4


# ============================================================================ CKA


def _hsic_cka(x, y):
    """Direct formula: HSIC(K, L) = tr(K H L H) / (n-1)^2, linear kernels."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = x @ x.T, y @ y.T
    hsic = lambda a, b: np.trace(a @ h @ b @ h) / (n - 1) ** 2
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


@pytest.mark.parametrize("n,d1,d2", [(12, 40, 30), (60, 5, 8)])  # Gram path and feature path
def test_linear_cka_identities(n, d1, d2):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, d1))
    y = x[:, : min(d1, d2)] @ rng.normal(size=(min(d1, d2), d2)) + rng.normal(size=(n, d2))
    assert M.linear_cka(x, x) == pytest.approx(1.0)
    c = M.linear_cka(x, y)
    assert 0 < c < 1
    assert M.linear_cka(y, x) == pytest.approx(c)
    assert c == pytest.approx(_hsic_cka(x, y), rel=1e-9)
    q, _ = np.linalg.qr(rng.normal(size=(d1, d1)))
    assert M.linear_cka(x @ q * 7.5 + 3.0, y) == pytest.approx(c, rel=1e-9)  # rotation, scale, shift
    # not invariant to a general (anisotropic) linear map
    assert M.linear_cka(x * np.linspace(0.1, 10, d1), y) != pytest.approx(c, rel=1e-3)


def test_cka_matrix_equals_pairwise():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(20, 6))
    a = [base @ rng.normal(size=(6, d)) + 0.5 * rng.normal(size=(20, d)) for d in (4, 16, 9)]
    b = [rng.normal(size=(20, 3, 2)), base]       # extra dims are flattened
    m = M.cka_matrix(a, b)
    assert m.shape == (3, 2)
    for i, fa in enumerate(a):
        for j, fb in enumerate(b):
            assert m[i, j] == pytest.approx(M.linear_cka(fa, fb), rel=1e-9)
    within = M.cka_matrix(a)
    np.testing.assert_allclose(np.diag(within), 1.0)
    np.testing.assert_allclose(within, within.T)


def test_mean_cka_to_others_on_resampled_rows_is_the_direct_formula():
    """From each model's uncentred Gram, on a bootstrap resample (rows repeat): the mean
    over the other models of the HSIC form of CKA on the resampled features."""
    rng = np.random.default_rng(1)
    x, y, z = rng.normal(size=(50, 8)), rng.normal(size=(50, 30)) + 4.0, rng.normal(size=(50, 3))
    rows = rng.integers(0, 50, size=50)
    got = M.mean_cka_to_others([M.gram(v) for v in (x, y, z)], rows)
    cka = {(i, j): _hsic_cka(u[rows], v[rows]) for i, u in enumerate((x, y, z)) for j, v in enumerate((x, y, z))}
    assert got == pytest.approx([(cka[0, 1] + cka[0, 2]) / 2, (cka[1, 0] + cka[1, 2]) / 2,
                                 (cka[2, 0] + cka[2, 1]) / 2], abs=1e-12)
    xr = y[rows] - y[rows].mean(axis=0)
    np.testing.assert_allclose(M.centred_gram(M.gram(y), rows), xr @ xr.T, atol=1e-9)


# ==================================================================== package shape


def test_metrics_import_only_leaf_modules():
    """Metrics are pure: inside the package they may import each other and the leaf modules
    (paths, files, errors, run_settings), nothing that loads models or data."""
    import ast

    allowed = {"paths", "files", "errors", "run_settings"}
    folder = PROJECT_ROOT / "beyond_inet_lib" / "metrics"
    inside = 0
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:  # from ..x import / from .. import x
                targets = {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
                assert targets <= allowed, f"{path.name} imports {targets - allowed} of the package"
            elif isinstance(node, ast.ImportFrom) and node.level == 1:
                inside += 1
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(str(n).startswith("beyond_inet_lib") for n in names), f"{path.name}: {names}"
    assert inside >= 10  # the walk does see the package's own imports


# ================================================================ cue-conflict names


def test_cue_conflict_names_with_trial_prefix():
    name = "0001_s5n_s02_0_clock_00_clock4-chair1.png"
    assert M.cue_conflict_stimulus(name) == "clock4-chair1.png"
    assert M.cue_conflict_shape_texture(name) == ("clock", "chair")
    assert M.cue_conflict_shape_texture("x/y/dog10-bird2.png") == ("dog", "bird")
    with pytest.raises(ValueError, match="cue-conflict"):
        M.cue_conflict_stimulus("ILSVRC2012_val_00000001.JPEG")


def test_cue_conflict_names_agree_with_the_dataset_loader():
    from beyond_inet_lib.data import parse_cue_conflict_name

    files = sorted(need_data("cue-conflict").rglob("*.png"))
    assert len(files) == 1280
    assert all(M.cue_conflict_shape_texture(f) == parse_cue_conflict_name(f.name) for f in files)


def test_cue_conflict_correct_counts_every_trial_against_the_shape():
    names = ["dog1-cat2.png", "dog2-dog1.png", "cat1-dog3.png", "cat2-bird2.png"]
    decisions = ["dog", "dog", "dog", "na"]
    # shape classes dog, dog, cat, cat: right, right (shape == texture still counts), wrong, wrong
    assert M.cue_conflict_correct(names, decisions).tolist() == [True, True, False, False]


def test_factor_prevalence_top_factor_shares():
    pytest.importorskip("imagenet_x")
    prev = M.factor_prevalence()
    assert len(prev) == 16 and (prev["share"] >= 0).all()
    # one top factor per annotated image, except a handful with none: shares sum to ~1
    assert prev["share"].sum() == pytest.approx(1.0, abs=1e-3)
    assert prev.set_index("factor")["share"].idxmax() in ("pose", "background")


def test_robustness_variants_are_the_dataset_catalogues():
    from beyond_inet_lib import data

    assert M.ROBUSTNESS_VARIANTS == data.ROBUSTNESS_VARIANTS
