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
from beyond_inet_lib import charts, nb, pages, report

study = report.setup(profile, data_root, report_dir, "calibration")
study.describe_models()

# %% [markdown]
# ## Protocol
#
# Confidence is the maximum softmax probability over the 1,000 ImageNet classes. The
# expected calibration error (ECE) puts predictions into 15 equal-width confidence bins over
# (0, 1] (a prediction is in bin *i* when lower < confidence ≤ upper) and sums, over non-empty
# bins, the bin's share of samples times |mean confidence − accuracy|. On ImageNet-R only
# the 200 ImageNet-R classes are kept and the softmax is taken over those 200 logits. CLIP
# logits are 100 × cosine similarity, as in the paper. The plug-in ECE is biased upwards on a
# finite sample (a perfectly calibrated model scores about 0.03 on 1,000 images), so the
# headline is the debiased ECE (Kumar et al. 2019) with an interval that covers the binned ECE
# 95% of the time, reaching 0 when perfect calibration is not rejected; the paper's plug-in ECE
# stays in the table beside the paper's number. Top-1 has Wilson's interval. Two models are
# ranked only when the interval of their difference, simultaneous over the metric's pairs,
# excludes 0 (docs/protocols.md §3 and §0).

# %%
page = pages.calibration.compute(study)

# %% [markdown]
# ## Reliability diagrams
#
# Bars show the accuracy within each confidence bin; a perfectly calibrated model follows the
# diagonal. Bars below the diagonal mean over-confidence.

# %%
if not page.table("summary").empty:   # ImageNet val (or the sample images) was there
    charts.show(charts.reliability_diagram(page.table("bins")))
    charts.show(charts.confidence_histogram(page.table("histogram")))
    charts.show(charts.bar_by_model(page.table("ece_bars"), value="ECE", title="ECE (lower is better)"))
    nb.table(page.table("summary"))

# %% [markdown]
# ## ImageNet-R: calibration under a distribution shift

# %%
nb.table(page.table("imagenet_r"))

# %% [markdown]
# ## Your datasets
#
# The profile's own datasets of ImageNet classes (`datasets:`), over all 1,000 classes: ECE and
# top-1 with their intervals (none when the profile names no such dataset).

# %%
if not page.table("yours").empty:
    nb.table(page.table("yours"))

# %% [markdown]
# ## Protocol sensitivity
#
# With `sensitivity: true` in the profile's calibration settings, the same images are also
# run under the competing conventions users meet (bilinear vs bicubic, crop fraction 0.875 vs
# 1.0, fp32 vs bf16, PIL vs on-device resize, CLIP's fixed vs learned logit scale). The table
# shows how much each moves top-1 and ECE, with paired 95% intervals; "moves top-1" is
# McNemar's test, Holm-adjusted over the table's switches.

# %%
nb.table(page.table("sensitivity"))

# %% [markdown]
# ## Finding

# %%
nb.findings(page)
report.record_page(page, report_dir)

# %% [markdown]
# ## Caveats
#
# - ECE depends on the binning (15 equal-width bins here, as the paper) and on the sample;
#   the intervals say how much the sample alone moves it.
# - The ImageNet sample images come from the training split: models are more accurate and more
#   confident on them than on ImageNet val.
# - CLIP calibration depends on the logit scale; the paper's fixed 100 is used here
#   (`clip_logit_scale: model` in the profile uses each model's learned temperature instead).
