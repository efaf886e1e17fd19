"""Can a model's confidence be trusted: proper scores (NLL, Brier), calibration errors under
other binnings (equal-mass ECE, ACE, classwise ECE, QUBA's calibration error), temperature
scaling, selective prediction (AURC, accuracy at a coverage) and out-of-distribution
detection (AUROC, FPR at 95% TPR), each checked against an independent reference on the same
arrays (scikit-learn, torchmetrics, netcal) or a case computed by hand.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from beyond_inet_lib import metrics as M


def _classifier(n: int, c: int, seed: int, scale: float = 2.0, share_right: float = 0.5):
    """Continuous synthetic probabilities (no ties, no value on a bin edge) and labels, of
    which ``share_right`` are the argmax."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=scale, size=(n, c))
    y = rng.integers(0, c, n)
    right = int(share_right * n)
    y[:right] = z[:right].argmax(axis=1)
    return z, M.softmax(z, axis=1), y


# ===================================================================== NLL and Brier


def test_nll_and_brier_by_formula_on_a_hand_case():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    y = np.array([0, 1, 2])
    nll = -(math.log(0.7) + math.log(0.1) + math.log(0.3)) / 3
    brier = ((0.3**2 + 0.2**2 + 0.1**2) + (0.1**2 + 0.9**2 + 0.8**2) + (0.3**2 + 0.4**2 + 0.7**2)) / 3
    assert M.negative_log_likelihood(p, y) == pytest.approx(nll, abs=1e-12)
    assert M.brier_score(p, y) == pytest.approx(brier, abs=1e-12)
    np.testing.assert_allclose(M.nll_terms(p, y), [-math.log(0.7), -math.log(0.1), -math.log(0.3)])
    np.testing.assert_allclose(M.brier_terms(p, y), [0.14, 1.46, 0.74])


def test_nll_and_brier_equal_scikit_learn():
    from sklearn.metrics import brier_score_loss, log_loss

    _z, p, y = _classifier(3000, 12, seed=3)
    assert M.negative_log_likelihood(p, y) == pytest.approx(log_loss(y, p, labels=range(12)), rel=1e-10)
    assert M.brier_score(p, y) == pytest.approx(brier_score_loss(y, p, labels=range(12)), rel=1e-10)
    # the terms are what a bootstrap resamples: their mean is the score
    assert M.nll_terms(p, y).mean() == pytest.approx(M.negative_log_likelihood(p, y), rel=1e-12)


def test_proper_scores_reject_logits_and_unmapped_labels():
    z, _p, y = _classifier(50, 5, seed=0)
    with pytest.raises(ValueError, match="not logits"):
        M.brier_score(z, y)
    with pytest.raises(ValueError, match="mask_positions"):
        M.negative_log_likelihood(M.softmax(z, axis=1), y + 100)
    # a hard zero on the true class costs a finite ~708 nats, not infinity
    assert np.isfinite(M.negative_log_likelihood(np.array([[1.0, 0.0]]), np.array([1])))


def test_mask_positions_index_the_masked_softmax():
    mask = np.array([7, 2, 40])
    labels = np.array([40, 7, 2, 40])
    pos = M.mask_positions(labels, mask)
    assert pos.tolist() == [2, 0, 1, 2]
    z = np.random.default_rng(0).normal(size=(4, 50))
    p = M.softmax(z, axis=1, class_mask=mask)
    full = M.softmax(z[:, mask], axis=1)
    assert M.negative_log_likelihood(p, pos) == pytest.approx(
        -np.mean(np.log(full[np.arange(4), pos])))
    with pytest.raises(ValueError, match="not in the class mask"):
        M.mask_positions([3], mask)
    assert M.mask_positions(labels, None).tolist() == labels.tolist()


# ================================================================ equal-mass ECE, ACE


def test_equal_mass_ece_hand_case():
    # 6 confidences, 3 bins: cuts at round(2), round(4) -> sorted chunks of 2
    conf = np.array([0.95, 0.3, 0.6, 0.9, 0.35, 0.55])
    ok = np.array([1, 0, 1, 0, 1, 0])
    # chunks: (0.3, 0.35) acc 1/2; (0.55, 0.6) acc 1/2; (0.9, 0.95) acc 1/2
    hand = (abs(0.325 - 0.5) + abs(0.575 - 0.5) + abs(0.925 - 0.5)) / 3
    assert M.equal_mass_calibration_error(conf, ok, n_bins=3) == pytest.approx(hand, abs=1e-12)
    # tied values share a bin even when the cut falls inside the tie
    tied = np.array([0.2, 0.5, 0.5, 0.5, 0.8, 0.9])
    ok2 = np.array([0, 1, 0, 1, 1, 1])
    # cuts at positions 2 and 4 -> edges 0.5 and 0.8: bins {0.2}, {0.5 x3}, {0.8, 0.9}
    hand2 = (abs(0.2 - 0) + 3 * abs(0.5 - 2 / 3) + 2 * abs(0.85 - 1)) / 6
    assert M.equal_mass_calibration_error(tied, ok2, n_bins=3) == pytest.approx(hand2, abs=1e-12)


def test_equal_mass_ece_equals_netcal_when_bins_divide_n():
    """netcal's equal-mass ECE puts its edges at linear-interpolation quantiles; with
    N = 100 x n_bins and distinct confidences they fall between the same samples as our
    cuts, so the two agree to rounding."""
    netcal = pytest.importorskip("netcal.metrics")
    _z, p, y = _classifier(1500, 10, seed=1)
    conf, ok = p.max(axis=1), p.argmax(axis=1) == y
    ref = netcal.ECE(15, equal_intervals=False).measure(p, y)
    assert M.equal_mass_calibration_error(conf, ok) == pytest.approx(ref, abs=1e-12)


def test_equal_mass_ece_differs_from_netcal_by_one_boundary_sample_otherwise():
    """With N = 1507 the quantile edges sit at (N-1) j / 15 and our cuts at round(N j / 15):
    a bin boundary can move by one sample. That changes the ECE only where the two bins'
    gaps have opposite signs (moving a sample keeps their sum), so the data is calibrated
    on average (correctness drawn with probability = confidence), and the difference is
    bounded by one sample per boundary: 14 x 2 / N."""
    netcal = pytest.importorskip("netcal.metrics")
    rng = np.random.default_rng(2)
    conf = rng.uniform(0.05, 1.0, 1507)
    ok = (rng.uniform(size=1507) < conf).astype(int)
    ours = M.equal_mass_calibration_error(conf, ok)
    ref = netcal.ECE(15, equal_intervals=False).measure(conf, ok)   # binary mode: conf vs ok as given
    assert ours != pytest.approx(ref, abs=1e-9)
    assert abs(ours - ref) <= 14 * 2 / 1507
    # with N a multiple of 15 the same data agrees again
    ref = netcal.ECE(15, equal_intervals=False).measure(conf[:1500], ok[:1500])
    assert M.equal_mass_calibration_error(conf[:1500], ok[:1500]) == pytest.approx(ref, abs=1e-12)


def _ace_by_definition(p: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """Nixon et al.'s ACE written from the paper's description, one class at a time:
    positive probabilities only, equal-mass upper edges read off the sorted values at
    round(j n / n_bins), numpy.digitize, a weighted L1 gap, the mean over classes."""
    errors = []
    for k in range(p.shape[1]):
        v = p[:, k]
        t = (y == k).astype(float)
        t, v = t[v > 0], v[v > 0]
        if len(v) == 0:
            errors.append(0.0)
            continue
        idx = np.minimum(np.round(np.linspace(0, len(v), n_bins, endpoint=False)).astype(int), len(v) - 1)
        upper = np.concatenate([np.sort(v)[idx][1:], [1.0]])
        b = np.digitize(v, upper)
        err = 0.0
        for j in np.unique(b):
            sel = b == j
            err += sel.sum() / len(v) * abs(v[sel].mean() - t[sel].mean())
        errors.append(err)
    return float(np.mean(errors))


def test_ace_equals_netcal_equal_mass_ece_per_class():
    """Per class, ACE is netcal's equal-mass ECE of the binary problem "is it class k" (its
    binary mode scores p_k against [y = k] as given); ACE is their mean over classes."""
    netcal = pytest.importorskip("netcal.metrics")
    _z, p, y = _classifier(1500, 8, seed=4)
    ref = np.mean([netcal.ECE(15, equal_intervals=False).measure(p[:, k], (y == k).astype(int))
                   for k in range(8)])
    assert M.adaptive_calibration_error(p, y) == pytest.approx(ref, abs=1e-12)


def test_ace_follows_its_definition_with_ties_zeros_and_ones():
    rng = np.random.default_rng(5)
    n, c = 403, 6
    # rows drawn from a few distributions: many ties, exact zeros, and one-hot rows (p = 1.0)
    protos = np.array([[1, 0, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0, 0], [0.2, 0.2, 0.2, 0.2, 0.1, 0.1],
                       [0, 0, 0.7, 0.1, 0.1, 0.1], [0.05, 0.05, 0.1, 0.1, 0.3, 0.4], [0, 0, 0, 0, 0, 1]])
    p = protos[rng.integers(0, len(protos), n)]
    y = rng.integers(0, c, n)
    assert (p == 0).any() and (p == 1).any() and len(np.unique(p)) < 10
    assert M.adaptive_calibration_error(p, y) == pytest.approx(_ace_by_definition(p, y), abs=1e-12)
    # blocks of classes (memory-bounded) give the same number as one block
    _z, big, yb = _classifier(500, 40, seed=6)
    assert M.adaptive_calibration_error(big, yb) == pytest.approx(_ace_by_definition(big, yb), abs=1e-12)


def test_ace_hand_case():
    # two classes, 4 samples, 2 bins; class 0 probabilities 0.9, 0.8, 0.3, 0.2 (class 1: 1 - p)
    p0 = np.array([0.9, 0.8, 0.3, 0.2])
    p = np.stack([p0, 1 - p0], axis=1)
    y = np.array([0, 1, 1, 0])
    # class 0: sorted 0.2 0.3 | 0.8 0.9, targets (y == 0) 1 0 | 1 0 -> |0.25 - 0.5|, |0.85 - 0.5|
    ace0 = 0.5 * 0.25 + 0.5 * 0.35
    # class 1: sorted 0.1 0.2 | 0.7 0.8 (p1 = 1 - p0), targets 0 1 | 1 0 -> |0.15 - .5|, |0.75 - .5|
    ace1 = 0.5 * 0.35 + 0.5 * 0.25
    assert M.adaptive_calibration_error(p, y, n_bins=2) == pytest.approx((ace0 + ace1) / 2, abs=1e-12)


# ========================================================================= classwise ECE


def test_classwise_ece_equals_per_class_references():
    """Mean over classes of the binary equal-width ECE of p_k against [y = k]: torchmetrics'
    BinaryCalibrationError and netcal's ECE (binary mode). Both bin left-closed; ours is
    right-closed: continuous probabilities never sit on an edge, so the three agree."""
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.classification")
    netcal = pytest.importorskip("netcal.metrics")
    _z, p, y = _classifier(2000, 7, seed=7)
    ours = M.classwise_calibration_error(p, y)
    ref_tm = np.mean([float(tm.BinaryCalibrationError(n_bins=15)(torch.from_numpy(p[:, k]),
                                                                 torch.from_numpy((y == k).astype(np.int64))))
                      for k in range(7)])
    ref_nc = np.mean([netcal.ECE(15).measure(p[:, k], (y == k).astype(int)) for k in range(7)])
    assert ours == pytest.approx(ref_tm, abs=1e-9)
    assert ours == pytest.approx(ref_nc, abs=1e-9)


def test_classwise_ece_hand_case_and_edges():
    p = np.array([[2 / 3, 1 / 3], [0.9, 0.1], [0.4, 0.6]])
    y = np.array([0, 1, 1])
    # 3 bins, right-closed: class 0 values 2/3 (bin 1 = (1/3, 2/3]), 0.9 (bin 2), 0.4 (bin 1)
    c0 = (2 * abs((2 / 3 + 0.4) / 2 - 0.5) + abs(0.9 - 0)) / 3
    # class 1 values 1/3 (bin 0 = (0, 1/3]), 0.1 (bin 0), 0.6 (bin 1)
    c1 = (2 * abs((1 / 3 + 0.1) / 2 - 0.5) + abs(0.6 - 1)) / 3
    assert M.classwise_calibration_error(p, y, n_bins=3) == pytest.approx((c0 + c1) / 2, abs=1e-12)


# =================================================================== QUBA's calibration error


def test_quba_calibration_error_is_the_geometric_mean_of_its_two_references():
    """QUBA: gmean(torchmetrics' MulticlassCalibrationError, ACE). With continuous
    probabilities (no confidence on an edge or at 1.0) torchmetrics' ECE equals ours, and
    ACE equals the per-class netcal mean: their geometric mean is our number."""
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.classification")
    netcal = pytest.importorskip("netcal.metrics")
    _z, p, y = _classifier(1500, 10, seed=8)
    ece = float(tm.MulticlassCalibrationError(num_classes=10, n_bins=15, norm="l1")(
        torch.from_numpy(p), torch.from_numpy(y)))
    ace = np.mean([netcal.ECE(15, equal_intervals=False).measure(p[:, k], (y == k).astype(int))
                   for k in range(10)])
    assert M.quba_calibration_error(p, y) == pytest.approx(math.sqrt(ece * ace), rel=1e-6)   # torchmetrics: float32 inside


# ========================================================== bootstrap replicates of the (N, C) scores


@pytest.mark.parametrize("case", ["ties, zeros and ones", "continuous, several class blocks"])
def test_replicates_equal_the_scores_of_the_resampled_images(case, monkeypatch):
    """A resample given by draw counts scores what the same images repeated that many times
    score, for all four errors (exactly; ACE and QUBA's to float32 rounding of ACE's block
    sums, 1e-7 relative, where a cut one image off moves ACE 1e-2 relative here); with ties
    (cuts inside a block of equal values), exact zeros (left out of ACE), probabilities of
    exactly 1.0 (a bin of their own), and
    with the classes split into several memory blocks; ACE's block sums with a last block
    cut short (403 images, blocks of 32) and whole (700, blocks of 7), the resamples in
    several sparse products."""
    from beyond_inet_lib.metrics import calibration as C

    rng = np.random.default_rng(40)
    if case.startswith("ties"):
        protos = np.array([[1, 0, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0, 0], [0.2, 0.2, 0.2, 0.2, 0.1, 0.1],
                           [0, 0, 0.7, 0.1, 0.1, 0.1], [0.05, 0.05, 0.1, 0.1, 0.3, 0.4], [0, 0, 0, 0, 0, 1]])
        p = protos[rng.integers(0, len(protos), 403)]
        y = rng.integers(0, 6, 403)
    else:
        _z, p, y = _classifier(700, 30, seed=41)
        monkeypatch.setattr(C, "_BLOCK_CELLS", 5000)          # 7 classes per block
        monkeypatch.setattr(C, "_ACE_BLOCK", 7)
    monkeypatch.setattr(C, "_ACE_RESAMPLES", 3)
    draws = rng.multinomial(len(y), np.full(len(y), 1 / len(y)), size=4)
    reps = M.class_calibration_replicates(p, y, draws)
    for r, counts in enumerate(draws):
        rows = np.repeat(np.arange(len(y)), counts)
        conf, ok = p[rows].max(axis=1), p[rows].argmax(axis=1) == y[rows]
        assert reps["ece"][r] == pytest.approx(M.expected_calibration_error(conf, ok), abs=1e-12)
        assert reps["adaptive"][r] == pytest.approx(M.adaptive_calibration_error(p[rows], y[rows]), rel=1e-7)
        assert reps["classwise"][r] == pytest.approx(M.classwise_calibration_error(p[rows], y[rows]), abs=1e-12)
        assert reps["quba"][r] == pytest.approx(M.quba_calibration_error(p[rows], y[rows]), rel=1e-7)
    # all-ones weights are the sample itself (the calibration page reads its values there)
    ones = M.class_calibration_replicates(p, y, np.ones(len(y)))
    assert ones["adaptive"][0] == pytest.approx(M.adaptive_calibration_error(p, y), rel=1e-7)
    assert ones["classwise"][0] == pytest.approx(M.classwise_calibration_error(p, y), abs=1e-12)
    assert ones["quba"][0] == pytest.approx(M.quba_calibration_error(p, y), rel=1e-7)
    assert ones["ece"][0] == pytest.approx(M.expected_calibration_error(p.max(axis=1), p.argmax(axis=1) == y), abs=1e-12)


# ===================================================================== temperature scaling


def _labels_drawn_from(logits: np.ndarray, temperature: float, seed: int) -> np.ndarray:
    """Labels sampled from softmax(logits / T): T is then the true temperature."""
    p = M.softmax(logits / temperature, axis=1)
    u = np.random.default_rng(seed).uniform(size=(len(p), 1))
    return (p.cumsum(axis=1) > u).argmax(axis=1)


@pytest.mark.parametrize("true_t", [0.5, 2.5])
def test_temperature_scaling_recovers_a_known_temperature(true_t):
    z = np.random.default_rng(10).normal(scale=3.0, size=(20000, 50))
    y = _labels_drawn_from(z, true_t, seed=11)
    t = M.fit_temperature(z, y)
    assert t == pytest.approx(true_t, rel=0.03)
    # it is the minimum of the NLL, which equals scikit-learn's log loss of softmax(z / T)
    from sklearn.metrics import log_loss

    assert M.temperature_nll(z, y, t) == pytest.approx(log_loss(y, M.softmax(z / t, axis=1),
                                                               labels=range(50)), rel=1e-9)
    for other in (t * 0.98, t * 1.02):
        assert M.temperature_nll(z, y, other) > M.temperature_nll(z, y, t)


def test_temperature_nll_equals_scipy_logsumexp_and_leaves_the_logits_alone():
    """NLL(T) against scipy's ``logsumexp`` written out, from a cold T that would overflow a
    naive exp(z / T) to a hot one; the caller's logits are not shifted in place."""
    from scipy.special import logsumexp

    rng = np.random.default_rng(12)
    z = rng.normal(scale=30.0, size=(400, 50))
    y = rng.integers(0, 50, 400)
    before = z.copy()
    for t in (0.05, 0.7, 1.0, 3.0, 20.0):
        expected = np.mean(logsumexp(z / t, axis=1) - z[np.arange(400), y] / t)
        assert M.temperature_nll(z, y, t) == pytest.approx(expected, rel=1e-12)
    assert np.isfinite(M.temperature_nll(z, y, 0.05))
    M.fit_temperature(z, y)
    np.testing.assert_array_equal(z, before)
    with pytest.raises(ValueError, match="positive"):
        M.temperature_nll(z, y, 0.0)


def test_scaled_confidence_and_nll_equal_the_scaled_softmax():
    """Bit for bit the largest probability and the label's NLL term of the full softmax of
    z / t_i (a temperature per image, or one for all; float32 logits as cached; a label
    whose probability underflows gets nll_terms' clipped value), the logits left alone."""
    rng = np.random.default_rng(14)
    z = rng.normal(scale=40.0, size=(500, 30)).astype(np.float32)
    z[0, :] = 0.0
    z[0, 1] = 2000.0                           # label 0's probability underflows to 0
    y = rng.integers(0, 30, 500)
    y[0] = 0
    before = z.copy()
    for t in (rng.uniform(0.2, 5.0, 500), 1.7):
        conf, nll = M.scaled_confidence_and_nll(z, y, t)
        scaled = M.softmax(np.asarray(z, dtype=np.float64) / np.broadcast_to(t, (500,))[:, None], axis=1)
        np.testing.assert_array_equal(conf, scaled.max(axis=1))
        np.testing.assert_array_equal(nll, M.nll_terms(scaled, y))
    assert nll[0] == pytest.approx(-np.log(np.finfo(np.float64).tiny))
    np.testing.assert_array_equal(z, before)


def test_two_fold_temperature_protocol():
    z = np.random.default_rng(12).normal(scale=3.0, size=(4001, 20)) * 3.0   # over-confident
    y = _labels_drawn_from(z, 3.0, seed=13)
    fold = M.two_fold_split(len(y), seed=0)
    assert sorted(np.bincount(fold).tolist()) == [2000, 2001]
    assert not (fold[:2000] == 0).all()                 # random halves, not the first half
    per_image, (t0, t1) = M.cross_fitted_temperatures(z, y, fold)
    assert t0 == pytest.approx(M.fit_temperature(z[fold == 0], y[fold == 0]))
    assert t1 == pytest.approx(M.fit_temperature(z[fold == 1], y[fold == 1]))
    assert (per_image[fold == 0] == t1).all() and (per_image[fold == 1] == t0).all()
    assert t0 == pytest.approx(3.0, rel=0.08) and t1 == pytest.approx(3.0, rel=0.08)

    def ece(logits, labels):
        conf, ok = M.masked_softmax_confidence(logits, labels)
        return M.expected_calibration_error(conf, ok)

    before = M.two_fold_score(ece, fold, z, y)
    after = M.two_fold_score(ece, fold, z / per_image[:, None], y)
    manual = (ece(z[fold == 0] / t1, y[fold == 0]) + ece(z[fold == 1] / t0, y[fold == 1])) / 2
    assert after == pytest.approx(manual, abs=1e-12)
    assert before > 0.1 and after < before / 3
    # temperature never changes a prediction
    assert ((z / per_image[:, None]).argmax(axis=1) == z.argmax(axis=1)).all()


def test_temperature_input_errors():
    with pytest.raises(ValueError, match="column indices"):
        M.fit_temperature(np.zeros((3, 4)), [0, 1, 9])
    with pytest.raises(ValueError, match="both folds"):
        M.cross_fitted_temperatures(np.zeros((3, 4)), [0, 1, 2], [0, 0, 0])


# ====================================================================== selective prediction

# ten images, given out of order; by falling confidence their correctness is
# 1 1 0 1 1 0 1 0 0 1, so the errors after the k most confident are
# k:      1  2  3  4  5  6  7  8  9  10
# E(k):   0  0  1  1  1  2  2  3  4  4
TEN_CONF = np.array([0.62, 0.99, 0.41, 0.95, 0.20, 0.71, 0.88, 0.55, 0.30, 0.80])
TEN_OK = np.array([1, 1, 0, 1, 1, 0, 1, 0, 0, 1])
#          sorted:   0.99 0.95 0.88 0.80 0.71 0.62 0.55 0.41 0.30 0.20
#          correct:  1    1    1    1    0    1    0    0    0    1   <- from TEN_OK by position
TEN_SORTED_OK = TEN_OK[np.argsort(-TEN_CONF)]


def test_aurc_hand_computed_ten_samples():
    assert TEN_SORTED_OK.tolist() == [1, 1, 1, 1, 0, 1, 0, 0, 0, 1]
    errors = np.cumsum(1 - TEN_SORTED_OK)
    assert errors.tolist() == [0, 0, 0, 0, 1, 1, 2, 3, 4, 4]
    hand = (0 + 0 + 0 + 0 + 1 / 5 + 1 / 6 + 2 / 7 + 3 / 8 + 4 / 9 + 4 / 10) / 10
    assert M.aurc(TEN_CONF, TEN_OK) == pytest.approx(hand, abs=1e-12)
    # the oracle answers the 6 right ones first: errors 0 x6, then 1 2 3 4
    oracle = (1 / 7 + 2 / 8 + 3 / 9 + 4 / 10) / 10
    assert M.oracle_aurc(TEN_OK) == pytest.approx(oracle, abs=1e-12)
    assert M.excess_aurc(TEN_CONF, TEN_OK) == pytest.approx(hand - oracle, abs=1e-12)
    assert M.selective_accuracy(TEN_CONF, TEN_OK, 0.8) == pytest.approx(1 - 3 / 8)
    assert M.selective_accuracy(TEN_CONF, TEN_OK, 0.9) == pytest.approx(1 - 4 / 9)
    assert M.selective_accuracy(TEN_CONF, TEN_OK, 0.5) == pytest.approx(1 - 1 / 5)
    assert M.selective_accuracy(TEN_CONF, TEN_OK, 1.0) == pytest.approx(0.6)      # top-1
    # a fractional count: 8.5 images answered, the 9th half the time
    assert M.selective_accuracy(TEN_CONF, TEN_OK, 0.85) == pytest.approx(1 - 3.5 / 8.5)
    curve = M.risk_coverage_curve(TEN_CONF, TEN_OK)
    np.testing.assert_allclose(curve["risk"], errors / np.arange(1, 11))
    np.testing.assert_allclose(curve["coverage"], np.arange(1, 11) / 10)
    assert curve["threshold"].tolist() == sorted(TEN_CONF.tolist(), reverse=True)


def test_aurc_is_one_minus_hendrycks_aurra_without_ties():
    """Hendrycks et al.'s calibration tools define AURRA = mean over response rates of the
    accuracy of the most confident answers; with distinct confidences AURC = 1 - AURRA."""
    rng = np.random.default_rng(20)
    conf = rng.uniform(size=3000)
    ok = rng.uniform(size=3000) < conf
    aurra = np.mean(np.cumsum(ok[np.argsort(conf)[::-1]]) / np.arange(1, 3001))
    assert M.aurc(conf, ok) == pytest.approx(1 - aurra, abs=1e-12)


def test_selective_scores_average_over_the_orders_of_tied_confidences():
    """Tied images cannot be ordered: the score is the mean over every order of the ties,
    computed here by enumerating them (3! x 2! = 12 orders)."""
    conf = np.array([0.9, 0.7, 0.7, 0.7, 0.5, 0.5, 0.2, 0.1])
    ok = np.array([1, 0, 1, 1, 0, 1, 1, 0])
    aurcs, acc75 = [], []
    for a in itertools.permutations([1, 2, 3]):
        for b in itertools.permutations([4, 5]):
            order = [0, *a, *b, 6, 7]
            errs = np.cumsum(1 - ok[order])
            aurcs.append(np.mean(errs / np.arange(1, 9)))
            acc75.append(1 - errs[5] / 6)
    assert M.aurc(conf, ok) == pytest.approx(np.mean(aurcs), abs=1e-12)
    assert M.selective_accuracy(conf, ok, 0.75) == pytest.approx(np.mean(acc75), abs=1e-12)
    # and it does not depend on the order of the input rows
    perm = np.random.default_rng(0).permutation(8)
    assert M.aurc(conf[perm], ok[perm]) == pytest.approx(M.aurc(conf, ok), abs=1e-15)


@pytest.mark.parametrize("tied", [False, True])
def test_selective_replicates_equal_the_scores_of_the_resampled_images(tied):
    """``SelectiveStatistic.weighted``: each row of draw counts gives the score of the images
    repeated that often (the resample itself), ties within and across images included; and
    the bootstrap takes that path and lands on the same interval as calling the function on
    every resample."""
    from beyond_inet_lib import stats

    rng = np.random.default_rng(8)
    n = 300
    conf = rng.choice(np.linspace(0.1, 1.0, 7), n) if tied else rng.uniform(size=n)
    ok = rng.uniform(size=n) < conf
    counts = rng.multinomial(n, np.full(n, 1 / n), size=6)
    cases = [("aurc", None, M.aurc), ("excess_aurc", None, M.excess_aurc),
             ("accuracy", 0.8, lambda c, o: M.selective_accuracy(c, o, 0.8)),
             ("accuracy", 0.333, lambda c, o: M.selective_accuracy(c, o, 0.333))]
    for kind, coverage, fn in cases:
        statistic = M.SelectiveStatistic(kind, coverage)
        reps = statistic.weighted(counts, conf, ok)
        expected = [fn(np.repeat(conf, w), np.repeat(ok, w)) for w in counts]
        np.testing.assert_allclose(reps, expected, atol=1e-12)
        assert statistic(conf, ok) == pytest.approx(fn(conf, ok), abs=1e-15)
        fast = stats.bootstrap_ci(statistic, conf, ok, n_boot=40, seed=3)
        slow = stats.bootstrap_ci(lambda c, o: fn(c, o), conf, ok, n_boot=40, seed=3)
        assert (fast.low, fast.high) == pytest.approx((slow.low, slow.high), abs=1e-12)
    # all four in one pass: a column each, the same values as each alone
    each = [M.SelectiveStatistic(kind, coverage) for kind, coverage, _ in cases]
    together = M.SelectiveStatistics(*each)
    np.testing.assert_array_equal(together.weighted(counts, conf, ok),
                                  np.stack([s.weighted(counts, conf, ok) for s in each], axis=1))
    np.testing.assert_array_equal(together(conf, ok), [s(conf, ok) for s in each])
    with pytest.raises(ValueError, match="coverage"):
        M.SelectiveStatistic("accuracy", 1.5)


@pytest.mark.parametrize("tied", [False, True])
def test_equal_mass_replicates_equal_the_scores_of_the_resampled_images(tied, monkeypatch):
    """``EqualMassCalibrationError.weighted``: each row of draw counts gives the equal-mass
    ECE of the images repeated that often (ties that a cut falls inside, confidences of 0
    and exactly 1.0 included, several passes of rows), and the bootstrap takes that path to
    the same interval as calling the function on every resample."""
    from beyond_inet_lib import stats
    from beyond_inet_lib.metrics import calibration as C

    monkeypatch.setattr(C, "_EQUAL_MASS_ROWS", 4)
    rng = np.random.default_rng(9)
    n = 301
    conf = rng.choice(np.r_[0.0, np.linspace(0.1, 1.0, 7)], n) if tied else rng.uniform(size=n)
    ok = rng.uniform(size=n) < conf
    counts = rng.multinomial(n, np.full(n, 1 / n), size=9)
    for n_bins in (15, 4, 1):
        statistic = M.EqualMassCalibrationError(n_bins)
        reps = statistic.weighted(counts, conf, ok)
        expected = [M.equal_mass_calibration_error(np.repeat(conf, w), np.repeat(ok, w), n_bins) for w in counts]
        np.testing.assert_allclose(reps, expected, atol=1e-12)
        assert statistic(conf, ok) == M.equal_mass_calibration_error(conf, ok, n_bins)
    statistic = M.EqualMassCalibrationError(15)
    fast = stats.bootstrap_ci(statistic, conf, ok, n_boot=40, seed=3)
    slow = stats.bootstrap_ci(lambda c, o: M.equal_mass_calibration_error(c, o, 15), conf, ok, n_boot=40, seed=3)
    assert (fast.estimate, fast.low, fast.high) == pytest.approx((slow.estimate, slow.low, slow.high), abs=1e-12)


# ========================================================================== OOD detection


def test_auroc_equals_scikit_learn_with_and_without_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(30)
    for a, b in ((rng.normal(1, 1, 3000), rng.normal(0, 1, 500)),
                 (rng.integers(0, 5, 400).astype(float), rng.integers(0, 4, 300).astype(float))):
        ref = roc_auc_score(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b])
        assert M.auroc(a, b) == pytest.approx(ref, abs=1e-12)
    assert M.auroc([2, 3], [0, 1]) == 1.0 and M.auroc([0, 1], [2, 3]) == 0.0
    assert M.auroc([1, 1], [1, 1]) == 0.5


def test_fpr_at_95_tpr_equals_openood_recipe():
    """OpenOOD reads scikit-learn's ROC (in-distribution = positive) at the first TPR >= 0.95."""
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(31)
    cases = [(rng.normal(1.5, 1, 2000), rng.normal(0, 1, 700)), (rng.normal(0, 1, 20), rng.normal(0, 1, 20)),
             (rng.integers(0, 6, 333).astype(float), rng.integers(0, 5, 111).astype(float))]
    for a, b in cases:
        fpr, tpr, _ = roc_curve(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b], drop_intermediate=False)
        assert M.fpr_at_tpr(a, b) == pytest.approx(fpr[np.argmax(tpr >= 0.95)], abs=1e-12)
    # by hand: 20 in-distribution scores 1..20; 95% TPR keeps the 19 highest (t = 2);
    # out-of-distribution 0, 1.5, 2, 2.5, 30: three of five score >= 2
    assert M.fpr_at_tpr(np.arange(1, 21), [0, 1.5, 2, 2.5, 30]) == pytest.approx(3 / 5)


def test_ood_scores_msp_max_logit_energy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(32)
    z = rng.normal(scale=5, size=(64, 30)) + 80.0        # large logits: the log-sum-exp stays finite
    s = M.ood_scores(z)
    assert list(s) == list(M.OOD_SCORES)
    t = torch.from_numpy(z)
    np.testing.assert_allclose(s["MSP"], torch.softmax(t, 1).max(1).values.numpy(), rtol=1e-12)
    np.testing.assert_allclose(s["max logit"], z.max(axis=1))
    np.testing.assert_allclose(s["energy"], torch.logsumexp(t, 1).numpy(), rtol=1e-12)
    mask = np.array([3, 9, 12, 29])
    masked = M.ood_scores(z, class_mask=mask)
    np.testing.assert_allclose(masked["energy"], torch.logsumexp(t[:, mask], 1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(masked["MSP"], M.softmax(z[:, mask], axis=1).max(axis=1))


def test_ood_detection_table():
    rng = np.random.default_rng(33)
    id_logits = rng.normal(size=(300, 10))
    id_logits[np.arange(300), rng.integers(0, 10, 300)] += 6.0     # confident on its classes
    ood_logits = rng.normal(size=(200, 10))                        # nothing stands out
    t = M.ood_detection(id_logits, ood_logits)
    assert t["score"].tolist() == list(M.OOD_SCORES)
    assert list(t.columns) == ["score", "AUROC", "FPR@95"]
    assert (t["AUROC"] > 0.9).all() and (t["FPR@95"] < 0.5).all()
    s_in, s_out = M.ood_scores(id_logits), M.ood_scores(ood_logits)
    assert t.loc[2, "AUROC"] == pytest.approx(M.auroc(s_in["energy"], s_out["energy"]))


@pytest.mark.parametrize("discrete", [False, True])
def test_ood_replicates_equal_the_scores_of_the_resampled_images(discrete):
    """In- and out-of-distribution images resampled separately by draw counts: each
    replicate equals auroc / fpr_at_tpr of the images repeated that many times (ties
    included: discrete scores)."""
    rng = np.random.default_rng(34)
    a, b = rng.normal(1, 1, 300), rng.normal(0, 1, 120)
    if discrete:
        a, b = np.round(a), np.round(b)
    wa = rng.multinomial(len(a), np.full(len(a), 1 / len(a)), size=5)
    wb = rng.multinomial(len(b), np.full(len(b), 1 / len(b)), size=5)
    reps = M.ood_replicates(a, b, wa, wb)
    for r in range(5):
        ra, rb = np.repeat(a, wa[r]), np.repeat(b, wb[r])
        assert reps["auroc"][r] == pytest.approx(M.auroc(ra, rb), abs=1e-12)
        assert reps["fpr"][r] == pytest.approx(M.fpr_at_tpr(ra, rb), abs=1e-12)
    one = M.ood_replicates(a, b, np.ones(len(a)), np.ones(len(b)), tpr=0.8)
    assert one["fpr"][0] == pytest.approx(M.fpr_at_tpr(a, b, 0.8))
