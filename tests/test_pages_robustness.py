"""pages.robustness.build on hand-made predictions whose right answers are known: the
200-class top-1 of ImageNet-A/R against the 1,000-way argmax, ImageNet-C's mean of means
and its image-level resampling, the mean of seven, published numbers flagged only when
outside the interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from page_cases import answer, dataset, logits_for, study, top_only

from beyond_inet_lib import metrics, stats
from beyond_inet_lib.data import imagenet_a_indices, imagenet_r_indices
from beyond_inet_lib.pages.robustness import _cap_images, _reference, build, image_ids

MASK_A = imagenet_a_indices()
OUTSIDE_A = next(i for i in range(1000) if i not in set(MASK_A))


def _row(page, model_prefix, variant):
    t = page.table("top1")
    hit = t[(t["variant"] == variant) & t["model"].str.startswith(model_prefix)]
    assert len(hit) == 1
    return hit.iloc[0]


def _headline(page, model_prefix, metric):
    (h,) = [h for h in page.headline if h["metric"] == metric and h["model"].startswith(model_prefix)]
    return h


def _imagenet_a(n_right_both, n_right_200_only, n_wrong):
    """Logits where n_right_200_only images have their global argmax on a class outside
    the 200 (wrong 1,000-way) but the true class is the best of the 200 (right 200-way)."""
    n = n_right_both + n_right_200_only + n_wrong
    labels = MASK_A[np.arange(n) % len(MASK_A)]
    z = np.zeros((n, 1000), dtype=np.float32)
    z[np.arange(n), labels] = 5.0
    z[n_right_both:n_right_both + n_right_200_only, OUTSIDE_A] = 10.0
    wrong = np.arange(n_right_both + n_right_200_only, n)
    z[wrong, MASK_A[(np.searchsorted(MASK_A, labels[wrong]) + 1) % len(MASK_A)]] = 6.0
    table = pd.DataFrame({"path": [f"imagenet-a/x/{i}.jpg" for i in range(n)], "label": labels})
    return table, z


def test_masked_top1_on_imagenet_a_and_the_1000_way_convention():
    st = study("robustness")
    table, z_cnx = _imagenet_a(20, 10, 10)            # 200-way 30/40, 1,000-way 20/40
    _, z_vit = _imagenet_a(23, 0, 17)                 # 200-way = 1,000-way = 23/40
    ds = dataset("imagenet-a", table, class_mask=MASK_A)
    page = build(st, {"imagenet-a": answer("imagenet-a", ds, {"convnext_sup": z_cnx, "vit_sup": z_vit})})

    # an independent computation: the best of the 200 masked columns, mapped back
    expected = np.mean(MASK_A[z_cnx[:, MASK_A].argmax(1)] == table["label"].to_numpy())
    assert expected == 0.75
    row = _row(page, "ConvNeXt-B sup", "imagenet-a")
    assert row["top-1"] == pytest.approx(expected)
    assert row["ci_low"] < 0.75 < row["ci_high"]
    assert row["paper"] == pytest.approx(0.529)        # the paper's ConvNeXt-B supervised

    ls = page.table("label_space").set_index("model")
    cnx = ls.loc[ls.index.str.startswith("ConvNeXt-B sup")].iloc[0]
    assert cnx["top-1, argmax over 200"] == pytest.approx(0.75)
    assert cnx["top-1, argmax over 1,000"] == pytest.approx(0.5)
    assert cnx["Δ (1,000 − 200)"] == pytest.approx(-0.25)
    assert cnx["Δ low"] <= -0.25 <= cnx["Δ high"] and cnx["Δ high"] < 0 and cnx["moves top-1"]
    vit = ls.loc[ls.index.str.startswith("ViT-B/16 sup")].iloc[0]
    # identical predictions under both conventions: the paired interval is exactly 0
    assert vit["Δ (1,000 − 200)"] == 0 and vit["Δ low"] == 0 and vit["Δ high"] == 0 and not vit["moves top-1"]
    assert any("argmax over all 1,000" in f for f in page.findings)
    # the table a reader sees: the interval as text, not the chart's bare numbers
    shown = page.table("top1_shown")
    assert len(shown) == len(page.table("top1")) and not {"top-1", "ci_low", "ci_high"} & set(shown.columns)
    assert shown["top-1 [95% CI]"].tolist() == page.table("top1")["top-1 [95% CI]"].tolist()


def test_published_number_outside_the_interval_is_flagged_inside_is_not():
    """timm publishes 54.77% (ConvNeXt-B 224) and 57.15% (DeiT-III B) on ImageNet-A: this
    run's 75.0% [~61, ~88] excludes the first, 57.5% includes the second."""
    st = study("robustness")
    table, z_cnx = _imagenet_a(20, 10, 10)
    _, z_vit = _imagenet_a(23, 0, 17)
    ds = dataset("imagenet-a", table, class_mask=MASK_A)
    page = build(st, {"imagenet-a": answer("imagenet-a", ds, {"convnext_sup": z_cnx, "vit_sup": z_vit})})
    cnx, vit = (_headline(page, p, "top-1 imagenet-a") for p in ("ConvNeXt-B sup", "ViT-B/16 sup"))
    assert cnx["published"] == pytest.approx(0.54773) and cnx["published_flag"] is True
    assert vit["published"] == pytest.approx(0.57147) and vit["published_flag"] is False
    assert vit["ci_low"] <= 0.57147 <= vit["ci_high"]
    # timm evaluates DeiT-III at crop 1.0, bicubic; this run used Resize 256 bilinear + crop 224
    assert "crop fraction" in vit["published_source"] and "interpolation" in vit["published_source"]
    pub = page.table("published")
    assert set(pub["outside the interval"]) == {True, False}
    assert any("excludes the 0.548 published by timm" in f for f in page.findings)
    # the two models' top-1 differ by 17.5 points on the same 40 images: McNemar is computed
    (c,) = [c for c in page.comparisons if c["metric"] == "top-1 imagenet-a"]
    assert c["better"].startswith("ConvNeXt") and c["p_value"] is not None


def test_a_clip_head_from_the_short_prompt_set_names_that_beside_the_published_number():
    """OpenCLIP's table encodes the 80 templates: a run on the 7 says so where it sets the
    published number beside its own; a run on the 80 does not."""
    from beyond_inet_lib.models import get_model
    from beyond_inet_lib.pages.base import with_published

    spec = get_model("vit_clip")
    same = with_published({"ci_low": 0.6, "ci_high": 0.7}, spec, "imagenet-val", spec.view("library"))
    short = with_published({"ci_low": 0.6, "ci_high": 0.7}, spec.with_prompts("openai7"), "imagenet-val",
                           spec.view("library"))
    assert same["published"] == short["published"] == pytest.approx(0.6698)
    assert "prompts" not in same["published_source"]
    assert "zero-shot prompts: open_clip encodes OpenAI's 80 templates, this run the openai7 set" \
        in short["published_source"]


def _imagenet_c(correct_by_image, corruptions=("gaussian_noise", "fog", "pixelate"), severities=(1, 2, 3, 4, 5),
                flip=None):
    """Real-layout ImageNet-C rows: every image in every cell; ``correct_by_image`` (n,)
    is each image's outcome in every cell, ``flip(c, s, i)`` may override it."""
    rows, pred = [], []
    for c in corruptions:
        for s in severities:
            for i, ok in enumerate(correct_by_image):
                label = i % 1000
                ok = flip(c, s, i) if flip else ok
                rows.append({"path": f"imagenet-c/{c}/{s}/n{label:08d}/ILSVRC2012_val_{i:08d}.JPEG",
                             "label": label, "corruption": c, "severity": s})
                pred.append(label if ok else (label + 1) % 1000)
    return pd.DataFrame(rows), logits_for(pred)


def test_imagenet_c_headline_is_the_mean_over_corruptions_of_the_mean_over_severities():
    rng = np.random.default_rng(3)
    probs = {("gaussian_noise", s): 0.1 * s for s in range(1, 6)} | {("fog", s): 0.9 - 0.1 * s for s in range(1, 6)} \
        | {("pixelate", s): 0.5 for s in range(1, 6)}
    draws = {k: rng.random(60) < p for k, p in probs.items()}
    table, z = _imagenet_c(np.ones(60, bool), flip=lambda c, s, i: draws[(c, s)][i])
    ds = dataset("imagenet-c", table)
    page = build(study("robustness", models=("convnext_sup",)),
                            {"imagenet-c": answer("imagenet-c", ds, {"convnext_sup": z})})
    acc = {k: v.mean() for k, v in draws.items()}
    by_corruption = {c: np.mean([acc[(c, s)] for s in range(1, 6)]) for c in ("gaussian_noise", "fog", "pixelate")}
    expected = np.mean(list(by_corruption.values()))
    h = _headline(page, "ConvNeXt-B sup", "top-1 imagenet-c")
    assert h["value"] == pytest.approx(expected, abs=1e-12)
    summary = metrics.imagenet_c_summary(table.assign(correct=z.argmax(1) == table["label"]))
    assert h["value"] == pytest.approx(summary.loc["mean", "mean"], abs=1e-12)
    assert h["paper"] == pytest.approx(0.668)
    per = page.table("imagenet_c").set_index("corruption")["top-1"]
    for c, v in by_corruption.items():
        assert per[c] == pytest.approx(v, abs=1e-12)
    sev = page.table("imagenet_c_severity").set_index("severity")["top-1"]
    assert sev[1] == pytest.approx(np.mean([acc[(c, 1)] for c in by_corruption]), abs=1e-12)


def test_imagenet_c_from_the_top_output_equals_imagenet_c_from_the_logits():
    """robustness.imagenet_c_outputs: top keeps the argmax only: the same headline, interval
    and tables as from the logits."""
    rng = np.random.default_rng(5)
    table, z = _imagenet_c(rng.random(40) < 0.6, flip=lambda c, s, i: rng.random() < 0.9 - 0.1 * s)
    ds = dataset("imagenet-c", table)
    full = answer("imagenet-c", ds, {"convnext_sup": z, "vit_sup": np.roll(z, 1, axis=0)})
    st = study("robustness", models=("convnext_sup", "vit_sup"))
    a, b = build(st, {"imagenet-c": full}), build(st, {"imagenet-c": top_only(full)})
    for model in ("ConvNeXt-B sup", "ViT-B/16 sup"):
        ha, hb = _headline(a, model, "top-1 imagenet-c"), _headline(b, model, "top-1 imagenet-c")
        assert (ha["value"], ha["ci_low"], ha["ci_high"]) == (hb["value"], hb["ci_low"], hb["ci_high"])
    pd.testing.assert_frame_equal(a.table("imagenet_c"), b.table("imagenet_c"))


def test_imagenet_c_resamples_images_not_cells():
    """An image is right in all 15 cells or in none: 80 images of information, not 1,200
    rows. The page's interval (whole images, ids from the WNID/file path) is about sqrt(15)
    times wider than a row bootstrap of the same numbers."""
    outcome = np.random.default_rng(0).permutation(np.arange(80) < 40)
    table, z = _imagenet_c(outcome)
    page = build(study("robustness", models=("convnext_sup",)),
                            {"imagenet-c": answer("imagenet-c", dataset("imagenet-c", table), {"convnext_sup": z})})
    h = _headline(page, "ConvNeXt-B sup", "top-1 imagenet-c")
    correct = (z.argmax(1) == table["label"]).to_numpy().astype(float)
    cells = (table["corruption"] + "/" + table["severity"].astype(str)).to_numpy()
    by_row = stats.bootstrap_ci("mean", correct, cells=cells, n_boot=1000)
    assert len(set(image_ids(table))) == 80
    # the loader's wnid / file_name columns name the same images as the path does
    parts = table["path"].str.split("/")
    with_columns = table.assign(wnid=parts.str[-2], file_name=parts.str[-1])
    assert list(image_ids(with_columns)) == list(image_ids(table))
    assert (h["ci_high"] - h["ci_low"]) > 2.5 * (by_row.high - by_row.low)
    by_image = stats.bootstrap_ci("mean", correct, cells=cells, groups=image_ids(table), n_boot=1000)
    assert (h["ci_low"], h["ci_high"]) == pytest.approx((by_image.low, by_image.high))


def _variant(name, n, p, seed):
    """A variant dataset of n images where each model is right on a random share ~p."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 1000, n)
    table = pd.DataFrame({"path": [f"{name}/{i}.jpg" for i in range(n)], "label": labels})
    kw = {}
    if name in ("imagenet-a", "imagenet-r"):
        mask = imagenet_a_indices() if name == "imagenet-a" else imagenet_r_indices()
        labels = mask[rng.integers(0, len(mask), n)]
        table["label"] = labels
        kw["class_mask"] = mask
    if name in ("imagenet-real", "imagenet-hard"):
        table["label_set"] = [[int(x), (int(x) + 7) % 1000] if i % 10 else [] for i, x in enumerate(labels)]
    if name == "imagenet-c":
        table, _ = _imagenet_c(np.ones(n // 15, bool))
        labels = table["label"].to_numpy()
    right = rng.random(len(table)) < p
    pred = np.where(right, labels, (labels + 1) % 1000)
    if name in ("imagenet-a", "imagenet-r"):  # a wrong guess stays inside the 200
        mask = kw["class_mask"]
        pred = np.where(right, labels, mask[(np.searchsorted(mask, labels) + 1) % len(mask)])
    return dataset(name, table, **kw), logits_for(pred)


def test_mean_of_seven_combines_the_seven_samples_replicate_wise():
    st = study("robustness", n_boot=1000)
    answers, per_variant = {}, {}
    for i, name in enumerate(metrics.ROBUSTNESS_VARIANTS):
        ds, z = _variant(name, 300, 0.3 + 0.08 * i, seed=i)
        answers[name] = answer(name, ds, {"convnext_sup": z, "vit_sup": z.copy()})
    page = build(st, answers)
    for name in metrics.ROBUSTNESS_VARIANTS:
        per_variant[name] = _headline(page, "ConvNeXt-B sup", f"top-1 {name}")
    # ReaL: images with an empty label set are skipped, not counted wrong
    real = answers["imagenet-real"].dataset.table
    keep = real["label_set"].str.len() > 0
    pred = answers["imagenet-real"].results[("convnext_sup", "default")].pred()
    hits = [p in s for p, s, k in zip(pred, real["label_set"], keep) if k]
    assert per_variant["imagenet-real"]["value"] == pytest.approx(np.mean(hits))
    assert _row(page, "ConvNeXt-B sup", "imagenet-real")["skipped (empty label set)"] == (~keep).sum()

    h = _headline(page, "ConvNeXt-B sup", "robustness mean of 7")
    assert h["value"] == pytest.approx(metrics.robustness_average({k: v["value"] for k, v in per_variant.items()}))
    assert h["paper"] == pytest.approx(0.607)
    # seven independent samples: the mean's interval is about 1/sqrt(7) of one sample's width
    widths = np.mean([v["ci_high"] - v["ci_low"] for v in per_variant.values()])
    assert 0.28 < (h["ci_high"] - h["ci_low"]) / widths < 0.5
    assert h["ci_low"] < h["value"] < h["ci_high"]
    # two models with the same predictions: the paired difference is exactly 0
    (c,) = [c for c in page.comparisons if c["metric"] == "robustness mean of 7"]
    assert c["difference"] == 0 and c["low"] == 0 and c["high"] == 0 and not c["holds"]
    assert not page.table("mean").empty


def test_a_stand_in_imagenet_c_takes_no_paper_number_and_no_mean():
    table, z = _imagenet_c(np.ones(4, bool))
    table["source_path"] = [p.split("/")[-1] for p in table["path"]]
    ds = dataset("imagenet-c (stand-in)", table, standin=True)
    page = build(study("robustness", models=("convnext_sup",)),
                            {"imagenet-c": answer("imagenet-c", ds, {"convnext_sup": z})})
    h = _headline(page, "ConvNeXt-B sup", "top-1 imagenet-c")
    assert h["paper"] is None and "stand-in" in h["note"]
    assert page.table("mean").empty
    assert any("missing here" in f and "imagenet-c" in f for f in page.findings)


def test_max_images_caps_imagenet_c_by_image_keeping_all_its_cells():
    table, _ = _imagenet_c(np.ones(10, bool), corruptions=("fog", "snow"), severities=(1, 3))
    capped = _cap_images(dataset("imagenet-c", table), 4)
    ids = image_ids(capped.table)
    assert len(set(ids)) == 4 and len(capped) == 4 * 4
    assert pd.Series(ids).value_counts().eq(4).all()      # every kept image in all 4 cells


def test_an_absent_reference_imagenet_val_is_not_a_missing_input():
    """ImageNet val is optional on this page (shown for reference when present)."""
    st = study("robustness")                     # no data root: every dataset is absent
    assert _reference(st) is None and st.inputs == []
    st.dataset("imagenet-a", show_missing=False)
    assert [i["dataset"] for i in st.inputs] == ["imagenet-a"]


def test_imagenet_c_and_real_are_resampled_jointly_by_their_val_images():
    """ImageNet-C and ReaL score the same val images (matched by file name); an image wrong
    in one is wrong in the other. The mean of seven resamples the val images once for both:
    its interval equals a recomputation that draws C's and ReaL's replicates from one
    universe of val names with one seed, and the others each from their own; it is wider
    than with C and ReaL drawn apart (their covariance is positive)."""
    st = study("robustness", n_boot=400)
    rng = np.random.default_rng(7)
    n_val = 60
    hard = rng.random(n_val) < 0.4                           # wrong in C and in ReaL alike
    c_table, c_z = _imagenet_c(~hard)
    names = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(n_val)]
    real_labels = np.arange(n_val) % 1000
    real = pd.DataFrame({"path": [f"imagenet-real/{n}" for n in names], "file_name": names, "label": real_labels,
                         "label_set": [[int(x)] for x in real_labels]})
    real_z = logits_for(np.where(hard, (real_labels + 1) % 1000, real_labels))
    answers = {"imagenet-c": answer("imagenet-c", dataset("imagenet-c", c_table), {"convnext_sup": c_z}),
               "imagenet-real": answer("imagenet-real", dataset("imagenet-real", real), {"convnext_sup": real_z})}
    others = {}
    for i, name in enumerate(metrics.ROBUSTNESS_VARIANTS):
        if name not in answers:
            ds, z = _variant(name, 200, 0.5, seed=10 + i)
            answers[name] = answer(name, ds, {"convnext_sup": z})
            others[name] = ds
    page = build(st, answers)
    h = _headline(page, "ConvNeXt-B sup", "robustness mean of 7")

    universe = np.array(sorted(names))
    parts, apart = [], []
    for k, name in enumerate(metrics.ROBUSTNESS_VARIANTS):
        r = answers[name].results[("convnext_sup", "default")]
        t = r.table
        if name == "imagenet-c":
            correct = (r.pred() == t["label"].to_numpy()).astype(float)
            ids = [p.rsplit("/", 1)[1] for p in t["path"]]
            cells = pd.factorize(t["corruption"])[0] * 10 + t["severity"].to_numpy()
        elif name == "imagenet-real":
            correct = np.array([p in s for p, s in zip(r.pred(), t["label_set"])], dtype=float)
            ids, cells = list(t["file_name"]), None
        else:
            parts.append(None)
            continue
        groups = np.searchsorted(universe, ids)
        # one stream for both: ImageNet-C's (its place among the seven)
        joint_seed = st.seed + metrics.ROBUSTNESS_VARIANTS.index("imagenet-c")
        parts.append(stats.bootstrap_replicates("mean", correct, n_boot=400, seed=joint_seed, groups=groups,
                                                cells=cells, universe=np.arange(n_val)))
        apart.append(stats.bootstrap_replicates("mean", correct, n_boot=400, seed=st.seed + 100 + k,
                                                groups=np.asarray(ids), cells=cells))
    # the page's other five samples, recomputed as the page draws them (own stream each)
    from beyond_inet_lib.pages.robustness import score
    for k, name in enumerate(metrics.ROBUSTNESS_VARIANTS):
        if parts[k] is None:
            sc = score(answers[name].dataset, answers[name].results[("convnext_sup", "default")])
            parts[k] = stats.bootstrap_replicates("mean", sc["correct"].astype(float), n_boot=400,
                                                  seed=st.seed + k, groups=sc["groups"], cells=sc["cells"])
    ref = stats.mean_of_independent(parts)
    assert (h["ci_low"], h["ci_high"]) == pytest.approx((ref.low, ref.high), abs=1e-12)
    c_real = np.corrcoef(parts[metrics.ROBUSTNESS_VARIANTS.index("imagenet-c")][1],
                         parts[metrics.ROBUSTNESS_VARIANTS.index("imagenet-real")][1])[0, 1]
    c_apart = np.corrcoef(apart[0][1], apart[1][1])[0, 1]
    assert c_real > 0.9 and abs(c_apart) < 0.2


def test_a_corruption_missing_a_severity_is_said_and_a_balanced_one_is_not():
    """The mean over cells equals the mean of means only when every corruption has the same
    severities: the headline's note says when they differ."""
    notes = {}
    for name, severities in (("balanced", {"fog": (1, 2), "snow": (1, 2)}), ("unbalanced", {"fog": (1, 2), "snow": (1,)})):
        tables, zs = [], []
        for c, sev in severities.items():
            t, z = _imagenet_c(np.arange(12) % 2 == 0, corruptions=(c,), severities=sev)
            tables.append(t)
            zs.append(z)
        ds = dataset("imagenet-c", pd.concat(tables, ignore_index=True))
        page = build(study("robustness", models=("convnext_sup",)),
                     {"imagenet-c": answer("imagenet-c", ds, {"convnext_sup": np.concatenate(zs)})})
        notes[name] = _headline(page, "ConvNeXt-B sup", "top-1 imagenet-c")["note"]
    assert "severities differ" in notes["unbalanced"] and "severities differ" not in notes["balanced"]
