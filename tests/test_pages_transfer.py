"""pages.transfer.build on hand-made VTAB-like feature tables (splits ``train`` / ``val`` /
``test``): the probe is ``metrics.linear_probe`` on the same features by the profile's
protocol, its interval resamples test images, the VTAB mean combines the 19 tasks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from page_cases import answer, dataset, study

from beyond_inet_lib import metrics
from beyond_inet_lib.data import VTAB_TASKS
from beyond_inet_lib.pages.transfer import build


def _task(name, n=(60, 20, 80), n_classes=3, spread=1.5, seed=0, splits=("train", "val", "test")):
    """Gaussian blobs in 8-D: a linearly separable-ish task with a known structure."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (n_classes, 8))
    rows, feats = [], []
    for split, k in zip(splits, n):
        y = np.arange(k) % n_classes
        feats.append(centres[y] + rng.normal(0, spread, (k, 8)))
        rows += [{"path": f"{name}/{split}/{i}.png", "label": int(c), "split": split} for i, c in enumerate(y)]
    return dataset(f"vtab-{name}", pd.DataFrame(rows)), np.concatenate(feats).astype(np.float32)


def _probe_reference(ds, x, **kw):
    split = ds.table["split"].to_numpy()
    y = ds.table["label"].to_numpy()
    tr, va, te = (split == s for s in ("train", "val", "test"))
    return metrics.linear_probe(x[tr], y[tr], x[va], y[va], x[te], y[te], **kw)


def test_probe_equals_linear_probe_on_the_same_features_clip_benchmark():
    st = study("transfer", tasks=["dtd"])
    ds, x = _task("dtd")
    page = build(st, {"dtd": answer("dtd", ds, {"convnext_sup": x}, outputs="features")})
    ref = _probe_reference(ds, x, protocol="clip_benchmark", seed=st.seed)
    t = page.table("tasks").set_index("model")
    row = t.loc[t.index.str.startswith("ConvNeXt-B sup")].iloc[0]
    assert row["test top-1"] == pytest.approx(ref["test_accuracy"])
    assert row["protocol"] == "clip_benchmark" and row["hyper-parameter"] == "weight decay"
    assert row["chosen"] == f"{ref['best_value']:.3g}"
    assert (row["train"], row["val"], row["test"]) == (60, 20, 80)
    assert row["ci_low"] <= row["test top-1"] <= row["ci_high"] and row["ci_low"] < row["ci_high"]
    (h,) = [h for h in page.headline if h["model"].startswith("ConvNeXt-B sup")]
    assert h["metric"] == "linear probe dtd" and h["value"] == pytest.approx(ref["test_accuracy"])
    assert page.findings[0].startswith("Protocol run: `clip_benchmark`")


def test_logreg_protocol_and_its_grid_come_from_the_settings():
    st = study("transfer", tasks=["dtd"], protocol="logreg", c_grid=[0.01, 1.0])
    ds, x = _task("dtd", seed=2)
    x2 = x + np.random.default_rng(1).normal(0, 2.0, x.shape).astype(np.float32)   # a noisier model
    page = build(st, {"dtd": answer("dtd", ds, {"convnext_sup": x, "vit_sup": x2}, outputs="features")})
    ref = _probe_reference(ds, x, protocol="logreg", c_grid=[0.01, 1.0])
    row = page.table("tasks").iloc[0]
    assert row["model"].startswith("ConvNeXt-B sup")
    assert row["protocol"] == "logreg" and row["hyper-parameter"] == "C"
    assert row["chosen"] == f"{ref['best_value']:.3g}" and row["chosen"] in ("0.01", "1")
    assert row["test top-1"] == pytest.approx(ref["test_accuracy"])
    assert "`logreg`" in page.findings[0] and "0.01, 1" in page.findings[0]
    (c,) = page.comparisons
    assert c["metric"] == "linear probe dtd" and c["p_value"] is not None   # the same 80 test images


def test_splits_are_read_by_train_val_test_only():
    """A table labelled train800 / val200 / test is not probed (and the page says so):
    one vocabulary, no silent guess."""
    st = study("transfer", tasks=["dtd"], protocol="logreg", c_grid=[1.0])
    ds, x = _task("dtd", splits=("train800", "val200", "test"))
    page = build(st, {"dtd": answer("dtd", ds, {"convnext_sup": x}, outputs="features")})
    assert page.headline == [] and page.table("tasks").empty
    assert any("needs the splits train, val and test" in f and "train800" in f for f in page.findings)


def test_vtab_mean_over_19_tasks_averages_the_tasks_and_replicates():
    st = study("transfer", n_boot=400, tasks=list(VTAB_TASKS), protocol="logreg", c_grid=[1.0])
    answers = {}
    for i, task in enumerate(VTAB_TASKS):
        ds, x = _task(task, n=(30, 9, 40), spread=3.0, seed=i)
        answers[task] = answer(task, ds, {"convnext_sup": x, "vit_sup": x.copy()}, outputs="features")
    page = build(st, answers)
    tasks = page.table("tasks")
    mine = tasks[tasks["model"].str.startswith("ConvNeXt-B sup")]
    assert len(mine) == 19
    (h,) = [h for h in page.headline if h["model"].startswith("ConvNeXt-B sup")]
    assert h["metric"] == "VTAB-1k mean (19)"
    assert h["value"] == pytest.approx(mine["test top-1"].mean())
    assert h["paper"] == pytest.approx(0.71)
    # 19 independent test sets: the mean's interval is far narrower than one task's
    assert (h["ci_high"] - h["ci_low"]) < 0.5 * (mine["ci_high"] - mine["ci_low"]).mean()
    assert h["ci_low"] < h["value"] < h["ci_high"]
    (c,) = [c for c in page.comparisons if c["metric"] == "VTAB-1k mean (19)"]
    assert c["difference"] == 0 and not c["holds"]      # the same features: the same probe


def _digits_study(tmp_path, max_train):
    from beyond_inet_lib import pages
    from beyond_inet_lib.config import load_profile
    from beyond_inet_lib.models import get_model

    prof = load_profile("tiny")
    prof.properties["transfer"] = pages.PROPERTIES["transfer"].settings(tasks=["digits"], max_train=max_train,
                                                                         protocol="logreg", c_grid=[1.0])
    settings = prof.run_settings().override(cache_dir=tmp_path / "cache")
    return pages.Study(prof, None, None, "transfer", [get_model("tiny_convnext_untrained")], show=False,
                       run_settings=settings, progress=False)


def test_the_stand_in_panel_counts_what_the_run_used_and_a_smaller_cap_reads_a_larger_caps_features(tmp_path):
    """max_train 8: the panel says 18 of the 1,797 digits (8 train / 2 val / 8 test), not the
    task's 800 / 200 / 797. Then max_train 4 computes nothing: its images are the first of
    the cap-8 ones per split, read from that cache and cut; the probe is the one a pass on
    the cap-4 images themselves gives."""
    from beyond_inet_lib import engine
    from beyond_inet_lib.data import standins
    from beyond_inet_lib.pages import transfer as T

    st8 = _digits_study(tmp_path, 8)
    (req8,) = T.requests(st8)
    assert len(req8.dataset) == 18
    (panel,) = [n for n in st8.notes if n["title"].startswith("Stand-in data")]
    assert "This run uses 18 images (8 train / 2 val / 8 test) of its 1797" in panel["body"]
    assert [i["images"] for i in st8.inputs if i["status"] == "stand-in"] == [18]
    page8 = build(st8, T.gather(st8, [req8]))
    assert tuple(page8.table("tasks").iloc[0][["train", "val", "test"]]) == (8, 2, 8)

    st4 = _digits_study(tmp_path, 4)
    (req4,) = T.requests(st4)
    assert len(req4.dataset) == 18                       # the cap-8 images, already cached
    assert not engine.plan(st4.models, req4.dataset, outputs=("features",), settings=st4.run_settings).missing
    (panel,) = [n for n in st4.notes if n["title"].startswith("Stand-in data")]
    assert "This run uses 9 images (4 train / 1 val / 4 test) of its 1797" in panel["body"]
    page4 = build(st4, T.gather(st4, [req4]))
    row = page4.table("tasks").iloc[0]
    assert tuple(row[["train", "val", "test"]]) == (4, 1, 4)
    # the same numbers as features computed on the cap-4 images themselves
    own = T._capped(st4.standin(standins.digits_task), 4)
    direct = build(st4, {"digits": T.Answer(T.Request("digits", own, st4.models, outputs=("features",)),
                                             st4.predict(own, outputs=("features",)))})
    assert row["test top-1"] == pytest.approx(direct.table("tasks").iloc[0]["test top-1"])
    # with no larger cap cached, a cap computes its own images
    assert T.cached_superset(_digits_study(tmp_path / "other", 4), own, T._capped(own, 2)) is None


def test_the_stand_in_panel_counts_the_images_this_run_uses(tmp_path):
    """With max_train, the digits stand-in panel says how many images of each split the run
    read (it printed the stand-in's whole 800 / 200 / 797 while the run used fewer)."""
    from beyond_inet_lib.pages import transfer

    st = study("transfer", tasks=["digits"], max_train=40)
    st.run_settings = dataclasses.replace(st.run_settings, cache_dir=str(tmp_path / "cache"))
    (req,) = transfer.requests(st)
    counts = req.dataset.table["split"].value_counts()
    assert (counts["train"], counts["val"], counts["test"]) == (40, 10, 40)
    (panel,) = [p for p in st.notes if p["title"].startswith("Stand-in data")]
    assert "This run uses 90 images (40 train / 10 val / 40 test) of its 1797" in panel["body"]
    assert [i["images"] for i in st.inputs if i["status"] == "stand-in"] == [90]
