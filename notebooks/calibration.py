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
# # Calibration: when a model says 80%, is it right 80% of the time?
#
# A model used for decisions must know when it does not know. The paper found the supervised
# models well calibrated on ImageNet (ECE ≈ 0.03–0.04) and the CLIP models over-confident
# (≈ 0.13–0.14), while on ImageNet-R the CLIP models are both more accurate and better
# calibrated than on ImageNet itself. This page measures the same for the models of this run.

# %% tags=["parameters"]
profile = "demo"
data_root = None
report_dir = None

# %%
from beyond_inet_lib import charts, metrics, nb
from beyond_inet_lib.data import DATASETS

study = nb.setup(profile, data_root, report_dir, "calibration")
settings = study.settings
study.describe_models()

# %% [markdown]
# ## Protocol
#
# Confidence is the maximum softmax probability over the 1,000 ImageNet classes. The
# expected calibration error (ECE) puts predictions into 15 equal-width confidence bins over
# (0, 1] (a prediction is in bin *i* when lower < confidence ≤ upper) and sums, over non-empty
# bins, the bin's share of samples times |mean confidence − accuracy|. On ImageNet-R only
# the 200 ImageNet-R classes are kept and the softmax is taken over those 200 logits. CLIP
# logits are 100 × cosine similarity, as in the paper.

# %%
ds = study.imagenet_eval_set(settings.max_images)
rows, bins, hists, headline = [], [], [], []
if ds is not None:
    res = study.predict(ds)
    for m in study.models:
        r = res.only(m.key)
        conf, correct = metrics.masked_softmax_confidence(r.logits, r.table["label"].to_numpy())
        ece = metrics.expected_calibration_error(conf, correct, n_bins=settings.n_bins)
        acc = float(correct.mean())
        rows.append({"model": study.label(m.key), "dataset": ds.name, "top-1": acc, "ECE": ece,
                     "mean confidence": float(conf.mean()),
                     "paper ECE": study.paper("ece_imagenet", m.key), "images": len(r)})
        b = metrics.reliability_bins(conf, correct, n_bins=settings.n_bins)
        b["model"] = study.label(m.key)
        bins.append(b)
        h = metrics.confidence_histogram(conf, n_bins=settings.n_bins)
        h["model"] = study.label(m.key)
        hists.append(h)
        headline.append(study.headline_row(m.key, f"ECE ({ds.name})", ece, "lower", "ece_imagenet"))
        headline.append(study.headline_row(m.key, f"top-1 ({ds.name})", acc, "higher", "imagenet_top1"))

# %% [markdown]
# ## Reliability diagrams
#
# Bars show the accuracy within each confidence bin; a perfectly calibrated model follows the
# diagonal. Bars below the diagonal mean over-confidence.

# %%
import pandas as pd

if bins:
    charts.show(charts.reliability_diagram(pd.concat(bins)))
    charts.show(charts.confidence_histogram(pd.concat(hists)))
    nb.table(pd.DataFrame(rows))

# %% [markdown]
# ## ImageNet-R: calibration under a distribution shift

# %%
rrows = []
imr = study.dataset("imagenet-r")
if imr is not None:
    imr = imr.spread(settings.max_images)
    res_r = study.predict(imr)
    for m in study.models:
        r = res_r.only(m.key)
        conf, correct = metrics.masked_softmax_confidence(r.logits, r.table["label"].to_numpy(),
                                                          class_mask=imr.class_mask)
        ece = metrics.expected_calibration_error(conf, correct, n_bins=settings.n_bins)
        rrows.append({"model": study.label(m.key), "top-1 (200 classes)": float(correct.mean()),
                      "ECE": ece, "paper ECE": study.paper("ece_imagenet_r", m.key)})
        headline.append(study.headline_row(m.key, "ECE (ImageNet-R)", ece, "lower", "ece_imagenet_r"))
    nb.table(pd.DataFrame(rrows))

# %% [markdown]
# ## Finding

# %%
if rows:
    t = study.meaningful(pd.DataFrame(rows)).sort_values("ECE")
    best, worst = t.iloc[0], t.iloc[-1]
    over = [r["model"] for r in rows if r["model"] in set(t["model"]) and r["mean confidence"] > r["top-1"] + 0.02]
    under = [r["model"] for r in rows if r["model"] in set(t["model"]) and r["mean confidence"] < r["top-1"] - 0.02]
    text = (f"On {ds.name} ({len(ds)} images) the best calibrated model is **{best['model']}** "
            f"(ECE {best['ECE']:.3f}, top-1 {best['top-1']:.1%}); the worst is **{worst['model']}** "
            f"(ECE {worst['ECE']:.3f}). ")
    if over:
        text += f"Over-confident on average (mean confidence above accuracy): {', '.join(over)}. "
    if under:
        text += f"Under-confident on average: {', '.join(under)}. "
    with_paper = [r for r in rows if r["paper ECE"] is not None]
    for r in with_paper:
        text += f"{r['model']}: ECE {r['ECE']:.3f} here vs {r['paper ECE']:.3f} in the paper. "
    nb.finding(text)
    study.record(headline)

# %% [markdown]
# ## Caveats
#
# - ECE depends on the binning (15 equal-width bins here, as the paper) and on the sample: with
#   1,000 images each bin holds few samples, so differences below about 0.02 are noise.
# - The ImageNet sample images come from the training split: models are more accurate and more
#   confident on them than on ImageNet val.
# - CLIP calibration depends on the logit scale; the paper's fixed 100 is used here
#   (`clip_logit_scale: model` in the profile uses each model's learned temperature instead).
