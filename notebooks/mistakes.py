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
# # Mistakes: which kinds of images does a model get wrong?
#
# Two models with the same ImageNet accuracy can fail on different images. ImageNet-X
# (Idrissi et al., 2023) annotates ImageNet val images with the factor that makes each one
# unusual: pose, background, pattern, colour, small or large object, partial view, texture,
# darkness, occlusion and more. The *error ratio* of a factor is the model's error rate on
# images with that factor divided by its overall error rate: 1 means the factor is no harder
# than average. The paper found the CLIP models' mistakes spread more evenly across factors
# (mean ratio 1.19–1.24) than the supervised models' (1.43–1.45), with texture the hardest
# factor for all. This page also asks whether two models make the *same* mistakes.

# %% tags=["parameters"]
profile = "demo"
data_root = None
report_dir = None

# %%
from beyond_inet_lib import charts, nb, pages, report

study = report.setup(profile, data_root, report_dir, "mistakes")
study.describe_models()

# %% [markdown]
# ## Protocol
#
# Predictions (argmax over 1,000 classes) on ImageNet val are joined with the ImageNet-X
# annotations (top factor per image, prototypical images removed, exact top-1 correctness).
# Error ratio per factor = (1 − accuracy on the factor) / (1 − accuracy on all annotated
# images). The paper's "average" is the unweighted mean of the 16 ratios; lower is better.
# Without ImageNet val, simulated factors are applied to the ImageNet sample images instead.
#
# Every ratio carries a 95% bootstrap interval over images (a stand-in image is resampled
# with all its simulated variants); two models are ranked only when the interval of their
# difference, simultaneous over the metric's pairs, excludes 0. *Error consistency* (Geirhos et al., 2020) is Cohen's κ on
# right/wrong over the same images: with c_obs the share of images both get right or both
# get wrong and c_exp = p_a p_b + (1 − p_a)(1 − p_b) from their accuracies,
# κ = (c_obs − c_exp) / (1 − c_exp); 0 means no more shared mistakes than two independent
# models with these accuracies, 1 the same mistakes (docs/protocols.md §1 and §0).

# %%
page = pages.mistakes.compute(study)

# %% [markdown]
# ## How common each factor is
#
# The share of annotated ImageNet val images whose top factor is each of the 16 (from the
# ImageNet-X annotations; shown whether or not ImageNet val itself is present).

# %%
if not page.table("prevalence").empty:
    charts.show(charts.bar_by_model(page.table("prevalence"), value="share", category="factor",
                                    title="ImageNet-X (val): share of images per top factor"))

# %% [markdown]
# ## Error ratio per factor
#
# Bars above the dashed line are factors the model finds harder than its average image;
# error bars are 95% intervals, black ticks the paper's numbers.

# %%
if page.has_numbers:
    charts.show(charts.error_ratio_bars(page.table("ratios")))
    nb.table(page.table("ratios_wide"), caption="error ratio [95% interval] per factor; images: with that factor")
    nb.table(page.table("summary"))

# %% [markdown]
# ## Do two models make the same mistakes?

# %%
if not page.table("kappa").empty:
    charts.show(charts.heatmap(page.table("kappa_matrix"), x="model a", y="model b", value="kappa",
                               title="Error consistency κ between models", domain=None))
    nb.table(page.table("consistency"))

# %% [markdown]
# ## Where two models disagree most
#
# The images on which the two least consistent models give the true class the most
# different probabilities: one is (confidently) right where the other is wrong.

# %%
nb.gallery(page.table("disagreements"))

# %% [markdown]
# ## Finding

# %%
nb.findings(page)
report.record_page(page, report_dir);

# %% [markdown]
# ## Caveats
#
# - Without ImageNet val the page uses *simulated* factors: darker, brighter, smaller, larger,
#   partial view and colour changes applied to the ImageNet sample images (train split). They
#   mimic some ImageNet-X factors, not their real distribution; the real annotations are shown
#   above only as prevalences.
# - An error ratio is relative to the model's own error: a very accurate model can have high
#   ratios and still make fewer mistakes on every factor.
# - Rare factors rest on few images: their intervals are wide, and a resample without any
#   image of a factor leaves that factor out of the mean ratio for that resample.
# - κ depends on both models' accuracies only through c_exp; two models far apart in accuracy
#   cannot reach κ = 1.
