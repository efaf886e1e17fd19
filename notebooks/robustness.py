# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Robustness: how much accuracy survives a change of distribution?
#
# ImageNet val is drawn from the same distribution as the training set; deployment data is
# not. The paper evaluates seven ImageNet variants: a re-collection (V2), natural adversarial
# examples (A), renditions (R), sketches, synthetic corruptions (C), re-assessed labels (ReaL)
# and hard images (Hard). Supervised models lead on most; the CLIP models lead on R and Sketch,
# the variants furthest from photographs.

# %% tags=["parameters"]
profile = "demo"
data_root = None
report_dir = None

# %%
import pandas as pd

from beyond_inet_lib import charts, metrics, nb
from beyond_inet_lib.data import standins

study = nb.setup(profile, data_root, report_dir, "robustness")
settings = study.settings
study.describe_models()

# %% [markdown]
# ## Protocol
#
# Top-1 accuracy with each model's paper preprocessing. ImageNet-A and -R score only their 200
# classes: the argmax is taken over those 200 logits. ReaL counts a prediction as correct when
# it is in the image's re-assessed label set (images with an empty set are skipped); Hard is
# multi-label the same way. ImageNet-C: accuracy per corruption and severity, averaged over
# severities 1–5, then over the 15 corruptions. The paper's *average* is the mean of the seven
# variants (ImageNet val excluded).

# %%
rows, c_tables, headline = [], [], []


def score(variant, ds):
    res = study.predict(ds)
    for m in study.models:
        r = res.only(m.key)
        t = r.table
        if variant == "imagenet-c":
            t = t.assign(correct=(r.pred() == t["label"].to_numpy()))
            summary = metrics.imagenet_c_summary(t)
            acc = float(summary.loc["mean", "mean"])
            c = summary["mean"].drop("mean").rename("accuracy").rename_axis("corruption").reset_index()
            c["model"] = study.label(m.key)
            c_tables.append(c)
        elif "label_set" in t.columns:
            acc = metrics.multilabel_top1(r.pred(), t["label_set"].tolist())
        else:
            acc = metrics.top1(r.pred(ds.class_mask), t["label"].to_numpy())
        rows.append({"model": study.label(m.key), "variant": variant, "top-1": acc,
                     "paper": study.paper(f"top1_{variant}", m.key), "images": len(r),
                     "stand-in": ds.standin, "skipped": len(r.skipped)})


for variant in settings.variants:
    ds = study.dataset(variant, show_missing=False)
    if ds is None and variant == "imagenet-c" and study.profile.standins:
        samples = study.dataset("imagenet-samples")
        if samples is not None:
            ds = study.standin(standins.imagenet_c_standin, samples, n_images=settings.corruption_images,
                               corruptions=settings.corruptions)
    if ds is None:
        continue
    if settings.max_images and len(ds) > settings.max_images and variant != "imagenet-c":
        ds = ds.spread(settings.max_images)
    score(variant, ds)

# %%
study.show_missing(settings.variants, "Robustness variants not found")
table = pd.DataFrame(rows)
if len(table):
    charts.show(charts.robustness_bars(table))
    nb.table(table)
if c_tables:
    ct = pd.concat(c_tables)
    charts.show(charts.grouped_bars(ct, x="corruption", y="accuracy", color="model",
                                    title="Accuracy per corruption (mean over severities)"))

# %% [markdown]
# ## Finding

# %%
if len(table):
    real = table[~table["stand-in"]]
    variants_run = sorted(table["variant"].unique())
    text = f"Variants evaluated: {', '.join(variants_run)}. "
    for v, g in study.meaningful(table).groupby("variant"):
        best = g.sort_values("top-1", ascending=False).iloc[0]
        text += f"On {v}{' (stand-in)' if g['stand-in'].any() else ''} the most accurate is **{best['model']}** ({best['top-1']:.1%}). "
    full = set(settings.variants) <= set(real["variant"])
    for m in study.models:
        mine = table[table["model"] == study.label(m.key)]
        if full:
            avg = metrics.robustness_average(dict(zip(mine["variant"], mine["top-1"])))
            headline.append(study.headline_row(m.key, "robustness mean of 7", avg, "higher", "robustness_mean"))
        for _, r in mine.iterrows():
            note = "stand-in" if r["stand-in"] else ""
            headline.append(study.headline_row(m.key, f"top-1 {r['variant']}", r["top-1"], "higher",
                                               f"top1_{r['variant']}", note=note))
    if not full:
        text += ("The paper's average over the seven variants needs all seven; "
                 f"missing here: {', '.join(sorted(set(settings.variants) - set(real['variant'])))}.")
    nb.finding(text)
    study.record(headline)

# %% [markdown]
# ## Caveats
#
# - A stand-in ImageNet-C applies the same corruption functions to a few ImageNet *sample*
#   images (train split), not to ImageNet val: absolute numbers are not comparable to the paper.
# - ImageNet-A was collected adversarially against a ResNet-50: it is hard by construction for
#   models that err like one.
