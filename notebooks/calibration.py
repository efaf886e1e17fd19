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
nb.table(page.table("imagenet_r"), absent="Not measured in this run: ImageNet-R was not found in the data root "
         "(the panel at the top of the page says how to get it).")

# %% [markdown]
# ## Scores beyond ECE
#
# ECE looks only at the top-1 confidence, in fixed bins. The negative log-likelihood (NLL)
# and the Brier score are proper scores of the whole predicted distribution (lower is
# better; no binning). The equal-mass ECE puts the same number of images in every bin; the
# adaptive calibration error (ACE) does so for every class's probability; the classwise ECE
# averages the binned error of each class's probability over classes; QUBA's calibration
# error is the geometric mean of ECE and ACE, the number its public table reports.

# %%
nb.table(page.table("scores"))
if not page.table("score_bars").empty:
    charts.show(charts.grouped_bars(page.table("score_bars"), x="score", y="value",
                                    title="Calibration errors (lower is better)", y_title="error"))

# %% [markdown]
# ## Temperature scaling
#
# One number per model, T, divides the logits before the softmax: T > 1 softens an
# over-confident model, T < 1 sharpens an under-confident one; the top-1 prediction does not
# change. T is fitted by minimising NLL on one half of the images and scored on the other
# half, then the halves swap and the two scores are averaged, so no image is scored by the
# temperature it helped fit. "Scaling helps" when the paired interval of the ECE change
# lies below 0.

# %%
nb.table(page.table("temperature"))
if not page.table("bins_scaled").empty:
    charts.show(charts.reliability_diagram(page.table("bins_scaled"), title="After temperature scaling"))

# %% [markdown]
# ## Calibration under shift
#
# A model is calibrated where it was tuned and deployed elsewhere. The same ECE on every
# shifted dataset of the run (ImageNet-C per severity, each image's cells resampled
# together), as trained and with the temperature fitted on all the evaluation images. The
# first point of each line is the evaluation set itself.

# %%
if not page.table("shift_lines").empty:
    charts.show(charts.lines_by_model(page.table("shift_lines"), x="shift", y="ECE", facet="temperature",
                                      title="ECE against distribution shift", x_title=None))
nb.table(page.table("shift"))

# %% [markdown]
# ## Selective prediction
#
# A model that may abstain answers only its most confident images. The risk-coverage curve
# gives the error rate among the answered images against the share answered; its area
# (AURC) is lower when the errors are the least confident images; E-AURC subtracts the area
# of a confidence that ranks every error last. Accuracy at 80% and 90% coverage: answering
# only that share of the images.

# %%
if not page.table("risk_coverage").empty:
    charts.show(charts.lines_by_model(page.table("risk_coverage"), x="coverage", y="risk", ordinal=False,
                                      points=False, title="Risk against coverage (lower is better)"))
nb.table(page.table("selective"))

# %% [markdown]
# ## Out-of-distribution detection
#
# ImageNet-O holds images of none of ImageNet's classes that ResNet-50 confidently assigns to
# one of 200 of them. Each score (maximum softmax probability, maximum logit, energy: the
# log-sum-exp of the logits) over those 200 classes should be higher on the evaluation images
# of the 200 classes than on ImageNet-O. AUROC: the chance an in-distribution image scores
# above an out-of-distribution one (0.5: chance); FPR@95: the share of out-of-distribution
# images kept when 95% of in-distribution images are kept. The two sets are resampled
# separately for the intervals.

# %%
if not page.table("ood_bars").empty:
    charts.show(charts.grouped_bars(page.table("ood_bars"), x="score", y="AUROC",
                                    title="AUROC, ImageNet-O against the evaluation images", rule_at=0.5))
nb.table(page.table("ood"))

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
report.record_page(page, report_dir);

# %% [markdown]
# ## Caveats
#
# - ECE depends on the binning (15 equal-width bins here, as the paper) and on the sample;
#   the intervals say how much the sample alone moves it.
# - The ImageNet sample images come from the training split: models are more accurate and more
#   confident on them than on ImageNet val.
# - CLIP calibration depends on the logit scale; the paper's fixed 100 is used here
#   (`clip_logit_scale: model` in the profile uses each model's learned temperature instead).
