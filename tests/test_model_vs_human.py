"""Models against humans on model-vs-human's benchmark: the catalogue's names and levels,
the observers' trials on the real edge and silhouette stimuli scored by our code and checked
against hand counts and against model-vs-human's own formulas written out here again, the
vectorised error consistency against the pairwise one, the benchmark summary against hand-made
means."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from beyond_inet_lib import data as D
from beyond_inet_lib import metrics as M
from beyond_inet_lib import stats
from beyond_inet_lib.data.model_vs_human import BENCHMARK, image_id, level_of, parse_stimulus, read_trials
from beyond_inet_lib.references import humans as H

from conftest import need_data

COLUMNS = "subj,session,trial,rt,object_response,category,condition,imagename\n"


# ===================================================================== the catalogue
def test_the_seventeen_datasets_in_model_vs_humans_order():
    assert list(BENCHMARK) == ["edges", "silhouettes", "cue-conflict", "colour", "contrast", "high-pass",
                               "low-pass", "phase-scrambling", "power-equalisation", "false-colour", "rotation",
                               "eidolonI", "eidolonII", "eidolonIII", "uniform-noise", "sketch", "stylized"]
    assert sum(d.parametric for d in BENCHMARK.values()) == 12
    for d in BENCHMARK.values():
        assert set(d.excluded) <= set(d.levels) and len(d.level_labels) == len(d.levels)
        assert d.name in D.DATASETS and d.humans in D.DATASETS
    # what model-vs-human's summary keeps, e.g. contrast 50..5 %, uniform noise .03 .. .35
    assert BENCHMARK["contrast"].summary_levels == ("c50", "c30", "c15", "c10", "c05")
    assert BENCHMARK["uniform-noise"].summary_levels == ("0.03", "0.05", "0.1", "0.2", "0.35")
    assert BENCHMARK["edges"].summary_levels == ("",)


def test_image_ids_as_model_vs_human_shortens_names():
    # model-vs-human's own checks of get_short_imagename
    assert image_id("0000_cl_s01_bw_boat_40_n02951358_5952.JPEG") == "n02951358_5952.JPEG"
    assert image_id("airplane1-bicycle2.png") == "airplane1-bicycle2.png"
    assert image_id("0001_edg_s01_0_oven_00_oven10.png") == "oven10.png"
    assert image_id("edges/oven/oven10.png") == "oven10.png"
    assert image_id("0001_ske_s01_0_boat_00_boat-0068-sketch-23.png") == "boat-0068-sketch-23.png"


def test_levels_however_a_file_spells_them():
    noise, hp, fc = BENCHMARK["uniform-noise"], BENCHMARK["high-pass"], BENCHMARK["false-colour"]
    assert [level_of(t, noise) for t in ("0.90", "0.9", "0.00", "0.35")] == ["0.9", "0.9", "0.0", "0.35"]
    assert [level_of(t, hp) for t in ("1", "3", "inf", "0.55")] == ["1.0", "3.0", "inf", "0.55"]
    assert [level_of(t, fc) for t in ("true", "False")] == ["True", "False"]
    assert level_of("c05", BENCHMARK["contrast"]) == "c05"
    assert level_of("0", BENCHMARK["edges"]) == ""
    with pytest.raises(ValueError, match="none of its levels"):
        level_of("0.7", noise)
    got = parse_stimulus("0002_nse_dnn_0.90_knife_10_n03041632_82878.png", noise)
    assert got == {"stimulus": "n03041632_82878.png", "level": "0.9", "category": "knife"}
    assert parse_stimulus("oven10.png", BENCHMARK["edges"], "oven")["category"] == "oven"
    with pytest.raises(ValueError, match="not one of the 16"):
        parse_stimulus("oven10.png", BENCHMARK["edges"], "toaster")


def test_trials_of_a_parametric_dataset_read_with_their_levels(tmp_path):
    d = BENCHMARK["uniform-noise"]
    f = tmp_path / "t.csv"
    f.write_text(COLUMNS + "subject-01,1,1,0.8,oven,elephant,0.03,0001_nse_s01_0.03_elephant_10_n02504458_7209.png\n"
                 "subject-01,1,2,1.3,knife,knife,0.90,0002_nse_s01_0.90_knife_10_n03041632_82878.png\n"
                 "subject-01,1,3,1.1,na,oven,0.00,0003_nse_s01_0.00_oven_10_n04111531_1.png\n")
    t = read_trials(f, d)
    assert t["level"].tolist() == ["0.03", "0.9", "0.0"]
    assert t["stimulus"].tolist() == ["n02504458_7209.png", "n03041632_82878.png", "n04111531_1.png"]
    assert t["object_response"].tolist() == ["oven", "knife", "na"]          # "na" read as written
    assert M.sixteen_class_correct(t["object_response"], t["category"]).tolist() == [False, True, False]
    f.write_text(COLUMNS + "subject-01,1,1,0.8,oven,elephant,0.05,0001_nse_s01_0.03_elephant_10_n02504458_7209.png\n")
    with pytest.raises(ValueError, match="condition column disagrees"):
        read_trials(f, d)


# ================================================ the observers on the real edges and silhouettes
def trials(dataset: str) -> dict[str, pd.DataFrame]:
    d = BENCHMARK[dataset]
    need_data(*d.trials_folder.split("/"))
    out = H.load_trials(dataset, need_data(d.trials_folder.split("/")[0]).parent)
    assert sorted(out) == [f"subject-{i:02d}" for i in range(1, 11)]
    return out


#: subject-01's 17 wrong answers on the 160 edge stimuli, read off its CSV one by one
SUBJECT_01_EDGE_ERRORS = {
    "airplane2.png": "bird", "airplane4.png": "knife", "bear1.png": "cat", "bear3.png": "cat", "bear4.png": "dog",
    "bear5.png": "cat", "bear6.png": "bird", "bear8.png": "cat", "bear9.png": "elephant", "bird2.png": "cat",
    "dog2.png": "elephant", "elephant4.png": "bird", "oven1.png": "keyboard", "oven10.png": "knife",
    "oven6.png": "chair", "truck4.png": "car", "truck6.png": "car"}


def test_edges_accuracy_hand_counted():
    t = trials("edges")["subject-01"].set_index("stimulus")
    assert len(t) == 160
    wrong = t.index[~t["correct"]]
    assert dict(t.loc[wrong, "object_response"]) == SUBJECT_01_EDGE_ERRORS
    acc = H.accuracy_table(trials("edges"), "edges", n_boot=0).set_index("decision_maker")
    assert acc.loc["subject-01", "accuracy"] == (160 - 17) / 160
    # subject-03 answered "na" on bear10: a wrong trial
    s3 = trials("edges")["subject-03"].set_index("stimulus")
    assert s3.loc["bear10.png", "object_response"] == "na" and not s3.loc["bear10.png", "correct"]


def test_edges_error_consistency_hand_counted_on_eight_stimuli():
    """subject-01 and subject-02 on eight edge stimuli, answers read off their CSVs:
    both wrong on bear4, bear6, bird2, oven6; only 02 right on oven10; only 01 right on
    bear7; both right on cat3, car7. p_a = p_b = 3/8, c_obs = 6/8,
    c_exp = (3/8)^2 + (5/8)^2 = 34/64, kappa = (48/64 - 34/64) / (30/64) = 7/15."""
    logs = trials("edges")
    picked = ["bear4.png", "bear6.png", "bird2.png", "oven6.png", "oven10.png", "bear7.png", "cat3.png", "car7.png"]
    sub = {s: logs[s][logs[s]["stimulus"].isin(picked)] for s in ("subject-01", "subject-02")}
    right = {s: sub[s].set_index("stimulus").loc[picked, "correct"].tolist() for s in sub}
    assert right["subject-01"] == [False] * 5 + [True] * 3
    assert right["subject-02"] == [False] * 4 + [True, False, True, True]
    pairs = H.consistency_table(sub, dataset="edges", n_boot=0).pairs
    row = pairs.iloc[0]
    assert (row["p_a"], row["p_b"], row["c_obs"], row["c_exp"]) == (3 / 8, 3 / 8, 6 / 8, 34 / 64)
    assert row["kappa"] == pytest.approx(7 / 15, abs=1e-15)


# --- model-vs-human's formulas, written out again from its code (plotting/analyses.py) ------
def mvh_short_imagename(name: str) -> str:
    splits = name.split("_")
    if len(splits) > 1:
        tail = splits[-2:]
        return tail[0] + "_" + tail[1] if tail[0].startswith("n0") else tail[1]
    return splits[0]


def mvh_read(dataset: str) -> pd.DataFrame:
    """All observers' CSVs of a dataset as model-vs-human reads them (get_experimental_data)."""
    d = BENCHMARK[dataset]
    folder = need_data(*d.trials_folder.split("/"))
    frames = []
    for f in sorted(os.listdir(folder)):
        df = pd.read_csv(folder / f)
        df.columns = [c.lower() for c in df.columns]
        frames.append(df)
    df = pd.concat(frames)
    df["image_id"] = df["imagename"].apply(mvh_short_imagename)
    return df


def mvh_accuracy(df: pd.DataFrame) -> float:   # SixteenClassAccuracy.analysis
    return len(df.loc[df.object_response == df.category]) / len(df)


def mvh_error_consistency(df1: pd.DataFrame, df2: pd.DataFrame) -> dict:   # ErrorConsistency.analysis
    assert len(df1) == len(df2)
    p1, p2 = mvh_accuracy(df1), mvh_accuracy(df2)
    expected = p1 * p2 + (1 - p1) * (1 - p2)
    df1 = df1.sort_values(by="image_id").reset_index()
    df2 = df2.sort_values(by="image_id").reset_index()
    assert df1["image_id"].equals(df2["image_id"])
    observed = ((df1.object_response == df1.category) == (df2.object_response == df2.category)).sum() / len(df1)
    kappa = 1.0 if observed == 1.0 else (observed - expected) / (1.0 - expected)
    return {"observed": observed, "expected": expected, "kappa": kappa}


@pytest.mark.parametrize("dataset", ["edges", "silhouettes"])
def test_observers_accuracy_and_mutual_consistency_equal_model_vs_humans(dataset):
    df = mvh_read(dataset)
    subjects = sorted(df["subj"].unique())
    logs = trials(dataset)
    acc = H.accuracy_table(logs, dataset, group=H.HUMANS, n_boot=0).set_index("decision_maker")
    for s in subjects:
        assert acc.loc[s, "accuracy"] == pytest.approx(mvh_accuracy(df[df.subj == s]), abs=1e-15)
    # model-vs-human's "humans": every observer's trials pooled
    assert acc.loc[H.HUMANS, "accuracy"] == pytest.approx(mvh_accuracy(df), abs=1e-15)
    assert acc.loc[H.HUMANS, "trials"] == 10 * 160

    pairs, means, _ = H.consistency_table(logs, dataset=dataset, n_boot=0)
    assert len(pairs) == 45
    got = pairs.set_index(["a", "b"])
    expected = {}
    for s1, s2 in itertools.combinations(subjects, 2):   # model-vs-human: each pair once (i < j)
        ref = mvh_error_consistency(df[df.subj == s1], df[df.subj == s2])
        expected[(s1, s2)] = ref["kappa"]
        assert got.loc[(s1, s2), "kappa"] == pytest.approx(ref["kappa"], abs=1e-12)
        assert got.loc[(s1, s2), "c_obs"] == pytest.approx(ref["observed"], abs=1e-12)
        assert got.loc[(s1, s2), "c_exp"] == pytest.approx(ref["expected"], abs=1e-12)
    # the humans' error consistency model-vs-human summarises: the mean over the 45 pairs
    assert means.iloc[0]["mean_kappa"] == pytest.approx(np.mean(list(expected.values())), abs=1e-12)
    assert means.iloc[0]["decision_maker"] == H.HUMANS and means.iloc[0]["pairs"] == 45
    assert 0.1 < means.iloc[0]["mean_kappa"] < 0.7          # observers agree on their errors, far from 1


def test_pair_intervals_are_stats_error_consistency_ci():
    """One bootstrap over stimuli for all pairs: each pair's interval is the one
    ``stats.error_consistency_ci`` gives that pair with the same seed."""
    logs = trials("silhouettes")
    pairs, means, samples = H.consistency_table(logs, dataset="silhouettes", n_boot=300, seed=7)
    _, _, table = H.aligned_trials(logs)
    for _, r in pairs.iloc[[0, 17, 44]].iterrows():
        iv = stats.error_consistency_ci(table[r["a"]], table[r["b"]], n_boot=300, seed=7)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((iv.low, iv.high), abs=1e-12)
        assert r["ci_low"] < r["kappa"] < r["ci_high"]
    m = means.iloc[0]
    assert m["ci_low"] < m["mean_kappa"] < m["ci_high"] and m["lowest"] < m["mean_kappa"] < m["highest"]
    # the mean's replicates are the pairs' replicates averaged, resample by resample
    est, reps = samples[H.HUMANS]["kappa"]
    assert est == pytest.approx(pairs["kappa"].mean()) and reps.shape == (300,)
    a = stats.tail_probability(0.95, len(table))          # the expanded percentile tail of every interval
    assert (np.quantile(reps, a), np.quantile(reps, 1 - a)) == pytest.approx((m["ci_low"], m["ci_high"]))


def test_a_model_answering_as_an_observer_is_consistent_with_them():
    """A 'model' that copies subject-04's answers (in another order, from the stimuli
    table) has kappa 1 with subject-04 and subject-04's kappas with the others."""
    logs = trials("edges")
    need_data("edges")
    stimuli = D.load_dataset("edges", need_data("edges").parent).table
    answers = logs["subject-04"].set_index("stimulus")["object_response"]
    model = H.model_trials(stimuli.iloc[::-1], answers[stimuli["stimulus"].iloc[::-1]].to_numpy())
    pairs, means, _ = H.consistency_table({"copy": model}, logs, dataset="edges", n_boot=200)
    by_b = pairs.set_index("b")["kappa"]
    assert by_b["subject-04"] == 1.0
    humans = H.consistency_table(logs, dataset="edges", n_boot=0).pairs
    kappa = humans.set_index(["a", "b"])["kappa"]
    assert by_b["subject-01"] == pytest.approx(kappa[("subject-01", "subject-04")])
    assert by_b["subject-09"] == pytest.approx(kappa[("subject-04", "subject-09")])
    assert means.iloc[0]["decision_maker"] == "copy" and means.iloc[0]["highest"] == 1.0


# ======================================================================= the metrics
def test_consistency_matrix_equals_error_consistency_per_pair():
    rng = np.random.default_rng(0)
    a = rng.random((200, 3)) < [[0.9, 0.5, 0.2]]
    b = rng.random((200, 4)) < [[0.8, 0.6, 0.99, 0.3]]
    b[:, 2] = True                                  # an always-right observer
    got = M.consistency_matrix(a, b)
    for i in range(3):
        for j in range(4):
            ref = M.error_consistency(a[:, i], b[:, j])
            for k in ("kappa", "c_obs", "c_exp"):
                assert got[k][i, j] == pytest.approx(ref[k], abs=1e-12), (i, j, k)
            assert got["acc_diff"][i, j] == pytest.approx((ref["p_a"] - ref["p_b"]) ** 2)
    same = M.consistency_matrix(b[:, 2], b[:, 2])
    assert same["kappa"][0, 0] == 1.0 and same["c_exp"][0, 0] == 1.0  # model-vs-human's rule at c_obs = 1


def test_consistency_over_levels_is_the_mean_of_each_levels():
    rng = np.random.default_rng(1)
    levels = np.repeat(["c50", "c30", "c10"], [40, 60, 50])
    a, b = rng.random(150) < 0.7, rng.random(150) < 0.6
    got = M.consistency_over_levels(a, b, levels, keep=["c50", "c10", "c01"])
    refs = [M.error_consistency(a[levels == lv], b[levels == lv]) for lv in ("c50", "c10")]
    assert got["levels"] == ["c50", "c10"] and got["n"] == 90
    assert got["kappa"][0, 0] == pytest.approx(np.mean([r["kappa"] for r in refs]))
    assert got["c_obs"][0, 0] == pytest.approx(np.mean([r["c_obs"] for r in refs]))
    assert got["kappa"][0, 0] != pytest.approx(M.error_consistency(a, b)["kappa"])  # not the pooled kappa


def test_benchmark_summary_is_model_vs_humans_order_of_means():
    """Means over levels, then observers, then datasets: a dataset with more levels or
    more observers does not weigh more."""
    pairs = pd.DataFrame([
        # model m against two observers on d1 (two levels) and one observer on d2 (one level)
        ("m", "s1", "d1", "a", 0.2, 0.8, 0.01), ("m", "s1", "d1", "b", 0.4, 0.6, 0.03),
        ("m", "s2", "d1", "a", 0.0, 0.7, 0.02), ("m", "s2", "d1", "b", 0.2, 0.9, 0.00),
        ("m", "s1", "d2", "", 0.9, 0.95, 0.04),
        # the observers among themselves: one pair on d1, one on d2
        ("humans", "s1|s2", "d1", "a", 0.5, 0.9, 0.0), ("humans", "s1|s2", "d1", "b", 0.7, 0.9, 0.0),
        ("humans", "s1|s2", "d2", "", 0.3, 0.8, 0.0),
    ], columns=["decision_maker", "observer", "dataset", "level", "kappa", "c_obs", "acc_diff"])
    acc = pd.DataFrame([("m", "d1", 0.5), ("m", "d2", 0.9), ("humans", "d1", 0.7), ("humans", "d2", 0.8)],
                       columns=["decision_maker", "dataset", "accuracy"])
    out = M.benchmark_summary(pairs, acc).set_index("decision_maker")
    # m: d1 = mean(s1: 0.3, s2: 0.1) = 0.2; d2 = 0.9 -> 0.55
    assert out.loc["m", "error consistency"] == pytest.approx(0.55)
    assert out.loc["m", "observed consistency"] == pytest.approx(((0.7 + 0.8) / 2 + 0.95) / 2)
    assert out.loc["m", "accuracy difference"] == pytest.approx(((0.02 + 0.01) / 2 + 0.04) / 2)
    assert out.loc["m", "OOD accuracy"] == pytest.approx(0.7) and out.loc["m", "datasets"] == 2
    assert out.loc["humans", "error consistency"] == pytest.approx((0.6 + 0.3) / 2)
    assert out.loc["humans", "OOD accuracy"] == pytest.approx(0.75)


def test_expected_consistency_line():
    assert M.expected_consistency(0.9, 0.9) == pytest.approx(0.82)
    np.testing.assert_allclose(M.expected_consistency(np.array([0, 0.5, 1]), 0.8), [0.2, 0.5, 0.8])


def test_accuracy_per_level_and_the_summary_leaves_out_excluded_levels(tmp_path):
    d = BENCHMARK["contrast"]
    rows = []
    for t, (lv, ok) in enumerate([("c100", 1), ("c100", 1), ("c50", 1), ("c50", 0), ("c01", 0), ("c01", 0)], 1):
        cat = "oven"
        rows.append(f"subject-01,1,{t},1.0,{cat if ok else 'knife'},{cat},{lv},{t:04d}_cop_s01_{lv}_{cat}_10_n04111531_{t}.png")
    folder = tmp_path / d.trials_folder
    folder.mkdir(parents=True)
    (folder / d.trial_files[0]).write_text(COLUMNS + "\n".join(rows) + "\n")
    logs = H.load_trials("contrast", tmp_path)
    acc = H.accuracy_table(logs, "contrast", by_level=True, n_boot=0).set_index("level")
    # the summary keeps c50 .. c05 only: one right, one wrong
    assert acc.loc["", "accuracy"] == 0.5 and acc.loc["", "trials"] == 2
    assert (acc.loc["c100", "accuracy"], acc.loc["c01", "accuracy"]) == (1.0, 0.0)
    assert "c30" not in acc.index                    # no trial at that level


# ====================================================== the benchmark summary, end to end
#: model-vs-human's EXCLUDE_CONDITIONS for contrast (plotting/plot.py)
MVH_EXCLUDED = {"contrast": ["c100", "c03", "c01"]}


def mvh_summary(df: pd.DataFrame, datasets: list[str], conditions: dict) -> pd.DataFrame:
    """model-vs-human's get_raw_benchmark_df + format_benchmark_df + get_mean_over_datasets
    for one model ("model") and the observers ("subject-*"), written out again: per
    condition kept, the model against each observer and each pair of observers once; means
    over conditions, then observers (pairs), then datasets; OOD accuracy pooled over the kept
    conditions (the observers' trials pooled), then the mean over datasets."""
    rows, acc = [], []
    for ds in datasets:
        d = df[df.dataset == ds]
        subjects = sorted(s for s in d.subj.unique() if s.startswith("subject-"))
        kept = conditions.get(ds)
        for dm, group in (("model", ["model"]), ("humans", subjects)):
            sel = d[d.subj.isin(group) & (d.condition.isin(kept) if kept else True)]
            acc.append((dm, ds, mvh_accuracy(sel)))
        for cond in (kept or [None]):
            dc = d if cond is None else d[d.condition == cond]
            for h in subjects:
                r = mvh_error_consistency(dc[dc.subj == "model"], dc[dc.subj == h])
                p1, p2 = mvh_accuracy(dc[dc.subj == "model"]), mvh_accuracy(dc[dc.subj == h])
                rows.append(("model", h, ds, cond, r["kappa"], r["observed"], (p1 - p2) ** 2))
            for i, j in itertools.combinations(range(len(subjects)), 2):
                a, b = dc[dc.subj == subjects[i]], dc[dc.subj == subjects[j]]
                r = mvh_error_consistency(a, b)
                rows.append((subjects[i], subjects[j], ds, cond, r["kappa"], r["observed"],
                             (mvh_accuracy(a) - mvh_accuracy(b)) ** 2))
    raw = pd.DataFrame(rows, columns=["model", "human", "dataset", "condition", "error consistency",
                                      "observed consistency", "accuracy difference"])
    cols = ["error consistency", "observed consistency", "accuracy difference"]
    is_h = raw.model.str.startswith("subject-")
    m = raw[~is_h].groupby(["model", "human", "dataset"])[cols].mean().groupby(["model", "dataset"]).mean()
    m = m.groupby("model").mean()
    h = raw[is_h].groupby(["model", "human", "dataset"])[cols].mean().groupby("dataset").mean().mean()
    out = pd.concat([m, h.to_frame("humans").T])
    acc = pd.DataFrame(acc, columns=["dm", "dataset", "acc"]).groupby("dm")["acc"].mean()
    return out.assign(**{"OOD accuracy": acc})


def synthetic_contrast(tmp_path) -> Path:
    """Four observers and one model on contrast: 5 stimuli per level, answers drawn at
    random (each level its own accuracy), conditions spelled as the CSVs spell them."""
    d = BENCHMARK["contrast"]
    rng = np.random.default_rng(3)
    folder = tmp_path / d.trials_folder
    folder.mkdir(parents=True)
    stimuli = [(lv, D.CUE_CONFLICT_CATEGORIES[(k * 7 + i) % 16], f"n0{i:03d}{k}_{i}{k}.png")
               for i, lv in enumerate(d.levels) for k in range(5)]
    logs = {}
    for who in [f"subject-{s:02d}" for s in range(1, 5)] + ["model"]:
        lines = []
        for t, idx in enumerate(rng.permutation(len(stimuli)), 1):
            lv, cat, img = stimuli[idx]
            p = 0.9 - 0.1 * d.levels.index(lv)
            ans = cat if rng.random() < p else ("na" if who != "model" and rng.random() < 0.2 else "knife")
            tag = "dnn" if who == "model" else "s" + who[-2:]
            lines.append(f"{who},1,{t},1.0,{ans},{cat},{lv},{t:04d}_cop_{tag}_{lv}_{cat}_10_{img}")
        logs[who] = COLUMNS + "\n".join(lines) + "\n"
        if who != "model":
            (folder / f"contrast_{who}_session_1.csv").write_text(logs[who])
    (tmp_path / "model.csv").write_text(logs["model"])
    return tmp_path


def test_benchmark_summary_equals_model_vs_humans_on_three_datasets(tmp_path):
    """A model that answers as subject-04 did on edges but wrong on every 5th stimulus, as
    subject-02 did on silhouettes, and at random on a synthetic contrast experiment (levels,
    three of them excluded): our summary equals model-vs-human's, recomputed here."""
    edges, silhouettes = trials("edges"), trials("silhouettes")
    model_edges = edges["subject-04"].copy()
    flip = np.arange(len(model_edges)) % 5 == 0
    model_edges.loc[flip, "object_response"] = "bottle"
    model_edges["correct"] = M.sixteen_class_correct(model_edges["object_response"], model_edges["category"])
    root = synthetic_contrast(tmp_path)
    contrast = H.load_trials("contrast", root)
    model_contrast = read_trials(root / "model.csv", BENCHMARK["contrast"])
    model_contrast["correct"] = M.sixteen_class_correct(model_contrast["object_response"], model_contrast["category"])
    models = {"edges": {"model": model_edges}, "silhouettes": {"model": silhouettes["subject-02"]},
              "contrast": {"model": model_contrast}}
    observers = {"edges": edges, "silhouettes": silhouettes, "contrast": contrast}
    pairs, accuracy = H.benchmark_tables(models, observers)
    ours = M.benchmark_summary(pairs, accuracy).set_index("decision_maker")

    frames = []
    for ds, logs in observers.items():
        for who, log in {**logs, "model": models[ds]["model"]}.items():
            f = log[["object_response", "category", "condition", "imagename"]].copy()
            f["subj"], f["dataset"] = who, ds
            f["image_id"] = f["imagename"].apply(mvh_short_imagename)
            frames.append(f)
    df = pd.concat(frames, ignore_index=True)
    kept = {"contrast": [c for c in BENCHMARK["contrast"].levels if c not in MVH_EXCLUDED["contrast"]]}
    ref = mvh_summary(df, list(observers), kept)
    for who in ("model", "humans"):
        for col in ("OOD accuracy", "accuracy difference", "observed consistency", "error consistency"):
            assert ours.loc[who, col] == pytest.approx(ref.loc[who, col], abs=1e-12), (who, col)
    assert ours.loc["model", "datasets"] == 3
    # subject-02 as the model on silhouettes: kappa 1 with subject-02 enters the mean
    sil = pairs[(pairs.dataset == "silhouettes") & (pairs.decision_maker == "model")].set_index("observer")
    assert sil.loc["subject-02", "kappa"] == 1.0
    assert set(pairs.loc[pairs.dataset == "contrast", "level"]) == {"c50", "c30", "c15", "c10", "c05"}
