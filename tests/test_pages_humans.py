"""The models-against-humans page's build is pure: models' logits that encode chosen
16-class decisions on the real edge and silhouette stimuli, the observers' real trials, and
a synthetic parametric experiment in; accuracies, error consistency, model-vs-human's
summary and the headline rows out, each checked against a computation made here."""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pandas as pd
import pytest

import page_inputs as P
from beyond_inet_lib import data as D
from beyond_inet_lib import metrics
from beyond_inet_lib.data.model_vs_human import BENCHMARK
from beyond_inet_lib.references import humans as H

from conftest import need_data

HP = importlib.import_module("beyond_inet_lib.pages.humans")
INDICES = metrics.cue_conflict_category_indices()
COLUMNS = "subj,session,trial,rt,object_response,category,condition,imagename\n"


def logits_deciding(decisions) -> np.ndarray:
    """1000-class logits whose 16-class decision (mean probability per category) is given."""
    out = np.zeros((len(decisions), 1000), dtype=np.float32)
    for i, d in enumerate(decisions):
        out[i, list(INDICES[d])] = 10.0
    return out


@pytest.fixture(scope="module")
def real():
    """(stimuli tables, observers' trials) of edges and silhouettes from the test data."""
    root = need_data("edges").parent
    need_data("silhouettes"), need_data("reference", "edge-humans"), need_data("reference", "silhouette-humans")
    tables = {n: D.load_dataset(n, root).table for n in ("edges", "silhouettes")}
    return tables, {n: H.load_trials(n, root) for n in tables}


def page_for(tables, decisions, trials, n_boot=200, models=("convnext_sup", "vit_clip")):
    """decisions: dataset -> model key -> (N,) decisions in the table's order."""
    s = P.study("humans", models=models, n_boot=n_boot)
    answers = {name: P.answer(name, P.dataset(name, t), {k: logits_deciding(decisions[name][k]) for k in models})
               for name, t in tables.items()}
    return s, HP.build(s, answers, trials=trials)


def copying(table, log, flip_every=0):
    """An observer's answers on each stimulus of ``table``; every ``flip_every``-th one
    replaced by a wrong category."""
    ans = log.set_index("stimulus").loc[table["stimulus"], "object_response"].to_numpy().astype(object)
    if flip_every:
        for i in range(0, len(ans), flip_every):
            ans[i] = "oven" if table["category"].iloc[i] != "oven" else "knife"
    return np.where(ans == "na", "bottle", ans).astype(str)


@pytest.fixture(scope="module")
def built(real):
    tables, trials = real
    decisions = {
        "edges": {"convnext_sup": copying(tables["edges"], trials["edges"]["subject-04"]),
                  "vit_clip": np.full(160, "oven")},
        "silhouettes": {"convnext_sup": copying(tables["silhouettes"], trials["silhouettes"]["subject-02"], 4),
                        "vit_clip": np.full(160, "oven")}}
    s, page = page_for(tables, decisions, trials)
    return s, page, decisions


def test_accuracies_are_the_hand_counts(built, real):
    tables, trials = real
    s, page, decisions = built
    acc = page.table("accuracy").set_index(["dataset", "model"])
    for name in ("edges", "silhouettes"):
        for key in ("convnext_sup", "vit_clip"):
            expected = np.mean(decisions[name][key] == tables[name]["category"].to_numpy())
            assert acc.loc[(name, s.label(key)), "accuracy"] == pytest.approx(expected)
        pooled = pd.concat(list(trials[name].values()))
        assert acc.loc[(name, "humans"), "accuracy"] == pytest.approx((pooled.object_response == pooled.category).mean())
        assert acc.loc[(name, "subject-03"), "source"] == HP.OBSERVER
    assert acc.loc[("edges", s.label("vit_clip")), "accuracy"] == 10 / 160       # "oven" is right on the 10 ovens
    lo, hi = acc.loc[("edges", s.label("convnext_sup")), ["ci_low", "ci_high"]]
    assert lo < acc.loc[("edges", s.label("convnext_sup")), "accuracy"] < hi


def test_error_consistency_with_the_observers(built, real):
    tables, trials = real
    s, page, _ = built
    k = page.table("kappa").set_index(["dataset", "model"])
    _, _, table = H.aligned_trials(trials["edges"])
    own = table["subject-04"].to_numpy()
    others = [metrics.error_consistency(own, table[c])["kappa"] if c != "subject-04" else 1.0 for c in table.columns]
    assert k.loc[("edges", s.label("convnext_sup")), "kappa"] == pytest.approx(np.mean(others))
    assert k.loc[("edges", s.label("convnext_sup")), "highest"] == 1.0
    mutual = [metrics.error_consistency(table[a], table[b])["kappa"] for a, b in itertools.combinations(table.columns, 2)]
    assert k.loc[("edges", "humans"), "kappa"] == pytest.approx(np.mean(mutual))
    assert k.loc[("edges", "humans"), "pairs"] == 45
    pairs = page.table("kappa_pairs")
    assert len(pairs) == 2 * 2 * 10       # two datasets x two models x ten observers


def test_summary_headline_and_rankings(built):
    s, page, _ = built
    summ = page.table("summary").set_index("model")
    acc = page.table("accuracy").set_index(["dataset", "model"])["accuracy"]
    kap = page.table("kappa").set_index(["dataset", "model"])["kappa"]
    heads = {(h["model"], h["metric"]): h for h in page.headline}
    for who in (s.label("convnext_sup"), s.label("vit_clip"), "humans"):
        ood = np.mean([acc[("edges", who)], acc[("silhouettes", who)]])
        ec = np.mean([kap[("edges", who)], kap[("silhouettes", who)]])
        assert summ.loc[who, "OOD accuracy"] == pytest.approx(ood)
        assert summ.loc[who, "error consistency"] == pytest.approx(ec)
        assert summ.loc[who, "OOD accuracy low"] < ood < summ.loc[who, "OOD accuracy high"]
        if who != "humans":
            h = heads[(who, HP.OOD_METRIC.name)]
            assert h["value"] == pytest.approx(ood) and (h["ci_low"], h["ci_high"]) == pytest.approx(
                (summ.loc[who, "OOD accuracy low"], summ.loc[who, "OOD accuracy high"]))
            assert heads[(who, HP.KAPPA_METRIC.name)]["value"] == pytest.approx(ec)
            assert heads[(who, HP.DATASET_METRICS["edges"].name)]["value"] == pytest.approx(acc[("edges", who)])
    assert summ.loc["humans", "datasets"] == 2
    (c,) = [c for c in page.comparisons if c["metric"] == HP.OOD_METRIC.name]
    assert c["better"] == s.label("convnext_sup") and c["holds"]
    # the line of chance consistency, at the humans' OOD accuracy h: x h + (1 - x)(1 - h)
    h = summ.loc["humans", "OOD accuracy"]
    line = page.table("expected").set_index("OOD accuracy")["observed consistency"]
    assert line.loc[1.0] == pytest.approx(h) and line.loc[0.0] == pytest.approx(1 - h)
    text = " ".join(page.findings)
    assert "Edges: the observers reach" in text and "Silhouettes" in text and "2 datasets" in text


def test_a_parametric_dataset_per_level(tmp_path):
    """Contrast with two observers and a model right on every stimulus but at 3 % and 1 %:
    per-level accuracy, the summary's levels (50 % .. 5 %) and the humans' pooled values."""
    d = BENCHMARK["contrast"]
    rows, stimuli = [], []
    for i, lv in enumerate(d.levels):
        for k in range(3):
            cat = D.CUE_CONFLICT_CATEGORIES[(3 * i + k) % 16]
            stimuli.append({"path": f"contrast/dnn/session-1/{len(stimuli) + 1:04d}_cop_dnn_{lv}_{cat}_10_n0{i}{k}_{k}.png",
                            "stimulus": f"n0{i}{k}_{k}.png", "level": lv, "category": cat, "label": -1})
    table = pd.DataFrame(stimuli)
    folder = tmp_path / d.trials_folder
    folder.mkdir(parents=True)
    for sub in (1, 2):
        lines = []
        for t, r in enumerate(table.to_dict("records"), 1):
            wrong = r["level"] in ("c01",) or (sub == 2 and r["level"] == "c05" and r["stimulus"].endswith("_0.png"))
            ans = "knife" if wrong and r["category"] != "knife" else ("oven" if wrong else r["category"])
            lines.append(f"subject-0{sub},1,{t},1.0,{ans},{r['category']},{r['level']},"
                         f"{t:04d}_cop_s0{sub}_{r['level']}_{r['category']}_10_{r['stimulus']}")
        (folder / d.trial_files[sub - 1]).write_text(COLUMNS + "\n".join(lines) + "\n")
    trials = {"contrast": {k: v for k, v in H.load_trials("contrast", tmp_path).items()}}
    dec = np.where(table["level"].isin(["c03", "c01"]), "bottle", table["category"])
    dec = np.where((table["level"].isin(["c03", "c01"])) & (table["category"] == "bottle"), "oven", dec)
    s, page = page_for({"contrast": table}, {"contrast": {"convnext_sup": dec}}, trials, models=("convnext_sup",))
    per = page.table("per_level")
    mine = per[per["model"] == s.label("convnext_sup")].set_index("level")
    assert mine.loc["c100", "accuracy"] == 1.0 and mine.loc["c03", "accuracy"] == 0.0
    assert list(per[per["model"] == "humans"].sort_values("level order")["level label"]) == list(d.level_labels)
    assert per.set_index(["model", "level"]).loc[("humans", "c05"), "accuracy"] == pytest.approx(5 / 6)
    assert not per.set_index(["model", "level"]).loc[("humans", "c100"), "in summary"]
    acc = page.table("accuracy").set_index("model")["accuracy"]
    assert acc[s.label("convnext_sup")] == 1.0                 # c03 and c01 are outside the summary
    assert acc["humans"] == pytest.approx(29 / 30)               # 5 levels x 3 stimuli x 2 observers, one wrong
    assert page.table("summary").set_index("model").loc["humans", "datasets"] == 1


def test_models_alone_without_the_observers(real):
    tables, _ = real
    s, page = page_for({"edges": tables["edges"]}, {"edges": {"convnext_sup": tables["edges"]["category"].to_numpy(),
                                                              "vit_clip": np.full(160, "oven")}}, {})
    assert page.table("kappa").empty and page.table("expected").empty
    summ = page.table("summary").set_index("model")
    assert summ.loc[s.label("convnext_sup"), "OOD accuracy"] == 1.0 and "humans" not in summ.index
    assert {h["metric"] for h in page.headline} == {HP.OOD_METRIC.name, HP.DATASET_METRICS["edges"].name}
    empty = HP.build(s, {}, trials={})
    assert not empty.headline and "No dataset" in empty.findings[0]
