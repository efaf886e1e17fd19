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
from beyond_inet_lib import charts, nb, pages, report

study = report.setup(profile, data_root, report_dir, "robustness")
study.describe_models()

# %% [markdown]
# ## Protocol
#
# Top-1 accuracy with each model's paper preprocessing. ImageNet-A and -R score only their 200
# classes: the argmax is taken over those 200 logits. ReaL counts a prediction as correct when
# it is in the image's re-assessed label set (images with an empty set are skipped); Hard is
# multi-label the same way. ImageNet-C: accuracy per corruption and severity, averaged over
# severities 1–5, then over the 15 corruptions. The paper's *average* is the mean of the seven
# variants (ImageNet val, shown when the data root has it, is not part of it).
#
# Every number carries a 95% interval over images (Wilson's for a plain top-1). On ImageNet-C
# whole images are resampled, each with all its corruption × severity cells. For the mean of
# seven each dataset is resampled and the seven replicates are averaged; ImageNet-C and ReaL are
# made of the same val images, so they are resampled by one draw of val images and the mean keeps
# their covariance. Two models are ranked only when the interval of their difference,
# simultaneous over the metric's pairs, excludes 0 (with McNemar's exact test, Holm-adjusted,
# for top-1 where both scored the same images; docs/protocols.md §0, §4).

# %%
page = pages.robustness.compute(study)

# %% [markdown]
# ## Top-1 per variant
#
# Bars: this run, with its 95% interval; black ticks: the paper's number where the model is one
# of the paper's four.

# %%
if page.has_numbers:
    charts.show(charts.robustness_bars(page.table("top1")))
    nb.table(page.table("top1_shown"))
    if not page.table("mean").empty:
        nb.table(page.table("mean_shown"))

# %% [markdown]
# ## ImageNet-C per corruption and per severity

# %%
if not page.table("imagenet_c").empty:
    charts.show(charts.grouped_bars(page.table("imagenet_c"), x="corruption", y="top-1", color="model",
                                    title="Top-1 per corruption (mean over severities)"))
    nb.table(page.table("imagenet_c_severity_shown"))

# %% [markdown]
# ## ImageNet-A and -R: 200 classes or 1,000?
#
# Harnesses differ here: the benchmark's protocol takes the argmax over its 200 classes, some
# evaluations over all 1,000. Both come from the same logits; Δ is 1,000-way minus 200-way top-1
# with its paired 95% interval; "moves top-1" is McNemar's test, Holm-adjusted over the table.

# %%
label_space = page.table("label_space")
nb.table(label_space) if len(label_space) else nb.finding("_No ImageNet-A or -R in this run._")

# %% [markdown]
# ## Published numbers for the same weights
#
# timm's results tables (timm models) and OpenCLIP's (CLIP models), beside this run's number.
# Their preprocessing is the library's own, which may differ from this run's; the last column
# says how.

# %%
published = page.table("published")
nb.table(published) if len(published) else nb.finding("_No published number for these models and variants._")

# %% [markdown]
# ## Where these models stand in the published field
#
# Each grey tick is one model of a published field on the same benchmark: timm's results
# tables for supervised models (about 1,266 classifiers), OpenCLIP's zero-shot table for CLIP
# models (121 model and tag pairs). Coloured points: this run's models with their 95%
# interval; black diamonds: the field's own number for a run model that is in it. "Better
# than" is the share of the field's models the run's value beats (ties count half), with
# the share each end of its interval beats. The fields used other preprocessing and other
# images of the same benchmark; they place a number, they do not replace its interval.

# %%
field, placed = page.table("field"), page.table("field_shown")
if len(field):
    charts.show(charts.field_strip(field))
    nb.table(placed) if len(placed) else nb.finding("_Only published numbers are placed: this run measured none of these variants._")
else:
    nb.finding("_No published field measured these variants for these models._")

# %% [markdown]
# ## Which orders hold
#
# With many models, each metric's paired comparisons as a matrix: green where the row's model
# is ahead of the column's (the paired 95% interval of the difference excludes 0), red where
# it is behind, grey where the two cannot be told apart; models in rank order.

# %%
nb.comparison_matrices(page)

# %% [markdown]
# ## Finding

# %%
nb.findings(page)
report.record_page(page, report_dir);

# %% [markdown]
# ## Caveats
#
# - A stand-in ImageNet-C applies the same corruption functions to a few ImageNet *sample*
#   images (train split), not to ImageNet val: absolute numbers are not comparable to the paper.
# - ImageNet-A was collected adversarially against a ResNet-50: it is hard by construction for
#   models that err like one.
# - Published numbers come from other harnesses: a gap of a point or two can be preprocessing
#   (crop fraction, interpolation, image size), not a bug.
