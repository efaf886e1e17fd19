"""beyond_inet_lib.references: the paper's numbers and the human observers' cue-conflict
decisions (counted directly from the CSV rows)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from beyond_inet_lib import references as R
from beyond_inet_lib import stats
from conftest import need_data

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# ============================================================================== paper


def test_paper_values_keyed_by_paper_model():
    assert R.paper_value("imagenet_top1", "vit_sup") == pytest.approx(0.855)
    assert R.paper_value("shape_bias", "vit_clip") == pytest.approx(0.465)
    assert R.paper_value("ece_imagenet", "convnext_clip") == pytest.approx(0.141)
    assert R.paper_value("imagenet_top1", None) is None
    assert R.paper_value("no-such-metric", "vit_sup") is None
    assert set(R.PAPER["vtab_mean"]) == set(R.PAPER_MODELS)


# ============================================================================= humans


def _hand_count(path: Path) -> tuple[int, int]:
    """(shape, texture) decisions on conflict trials, parsed as model-vs-human does: the
    texture is the last '-' part of the image name's last '_' part, digits removed."""
    n_shape = n_texture = 0
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            texture = re.sub(r"\d", "", r["imagename"].split("_")[-1].split(".")[0].split("-")[-1])
            if texture == r["category"]:
                continue
            n_shape += r["object_response"] == r["category"]
            n_texture += r["object_response"] == texture
    return n_shape, n_texture


def test_ten_observers_are_strongly_shape_biased():
    folder = need_data("reference", "cue-conflict-humans")
    humans = R.load_human_decisions(folder.parent.parent)
    assert sorted(humans) == [f"subject-{i:02d}" for i in range(1, 11)]
    table = R.shape_bias_table(humans).set_index("subject")
    hand = {}
    for subject in humans:
        n_shape, n_texture = _hand_count(folder / f"cue-conflict_{subject}_session_1.csv")
        hand[subject] = n_shape / (n_shape + n_texture)
        assert table.loc[subject, "shape_bias"] == pytest.approx(hand[subject], abs=1e-12)
        assert (table.loc[subject, "n_shape"], table.loc[subject, "n_texture"]) == (n_shape, n_texture)
        assert table.loc[subject, "n_images"] == 1280 and table.loc[subject, "n_conflict"] == 1200
    # by direct count every observer lies in 0.919..0.987, mean 0.958 (literature: ~0.96)
    assert all(0.9 < v < 0.99 for v in hand.values())
    rng = R.human_shape_bias_range(folder.parent.parent)
    assert rng["n_subjects"] == 10
    assert (rng["min"], rng["max"]) == (min(hand.values()), max(hand.values()))
    assert 0.95 < rng["mean"] < 0.965
    assert table["n_no_answer"].sum() > 0   # "na" answers exist and count for neither cue
    assert humans["subject-01"]["stimulus"].iloc[0] == "bird3-bird2.png"


def _hand_kappa(path_a: Path, path_b: Path) -> float:
    def correct(path):
        with open(path, newline="") as f:
            return {r["imagename"].split("_")[-1]: r["object_response"] == r["category"] for r in csv.DictReader(f)}

    a, b = correct(path_a), correct(path_b)
    keys = sorted(a)
    assert sorted(b) == keys
    n = len(keys)
    p_a = sum(a[k] for k in keys) / n
    p_b = sum(b[k] for k in keys) / n
    c_obs = sum(a[k] == b[k] for k in keys) / n
    c_exp = p_a * p_b + (1 - p_a) * (1 - p_b)
    return (c_obs - c_exp) / (1 - c_exp)


def test_error_consistency_between_two_observers():
    folder = need_data("reference", "cue-conflict-humans")
    humans = R.load_human_decisions(folder.parent.parent)
    out = R.observer_error_consistency(humans["subject-01"], humans["subject-02"], n_boot=300)
    expected = _hand_kappa(folder / "cue-conflict_subject-01_session_1.csv",
                           folder / "cue-conflict_subject-02_session_1.csv")
    assert out["kappa"] == pytest.approx(expected, abs=1e-12)
    assert out["n"] == 1280
    assert -1 <= out["low"] <= out["kappa"] <= out["high"] <= 1
    stimuli, a, b = R.aligned_correctness(humans["subject-03"], humans["subject-01"])
    assert len(stimuli) == 1280 and list(stimuli) == sorted(stimuli)
    assert -1 <= stats.error_consistency(a, b)["kappa"] <= 1


def test_reference_decision_logs():
    need_data("reference", "cue-conflict-decisions")
    from conftest import TEST_DATA

    logs = R.load_reference_decisions(TEST_DATA)
    assert {"ViT-B/16 CLIP (paper log)", "human subject-01"} <= set(logs)
    humans = R.load_human_decisions(TEST_DATA)
    if "subject-01" in humans:     # the paper ships observer 01's log unchanged
        assert logs["human subject-01"]["object_response"].tolist() == humans["subject-01"]["object_response"].tolist()
    assert R.load_reference_decisions(None) == {} and R.load_human_decisions(None) == {}
