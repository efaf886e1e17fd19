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
# # Shape or texture: what does a model look at?
#
# Humans recognise objects mostly by shape; ImageNet-trained CNNs were found to lean on texture
# (Geirhos et al., 2019). On cue-conflict images, whose shape comes from one class and texture
# from another (a cat shape with elephant skin), the fraction of decisions that follow the
# shape is the model's *shape bias*. The paper found the transformers and the CLIP models more
# shape-biased (ViT-sup 39.9%, CLIP 44.7–46.5%) than the supervised ConvNeXt (33.3%), all far
# below humans (~96%). This page also asks whether a model gets the *same* stimuli wrong as
# people do.

# %% tags=["parameters"]
profile = "demo"
data_root = None
report_dir = None

# %%
from beyond_inet_lib import charts, nb, pages, report

study = report.setup(profile, data_root, report_dir, "shape_bias")
study.describe_models()

# %% [markdown]
# ## Protocol
#
# The 1,280 stimuli (16 classes × 80) are classified by each model over the 1,000 ImageNet
# classes; for each of the 16 categories the softmax probability is *averaged* over the
# ImageNet classes that belong to it, and the decision is the category with the highest mean.
# Over the 1,200 images whose shape and texture classes differ, shape bias = (number of shape
# decisions) / (number of shape + texture decisions). Supervised models see the 224 px stimuli as
# they are; CLIP models go through their own transform (which leaves 224 px images unchanged
# apart from normalisation).
#
# The same code scores the paper's published decision logs and the per-trial decisions of
# the ten human observers of Geirhos et al. Error consistency with an observer is Cohen's κ
# on right/wrong per stimulus (right = the decision is the shape class, on all 1,280 trials,
# aligned by stimulus): 0 = no more shared errors than chance, 1 = the same errors. Every
# number carries a 95% interval over stimuli; a model's mean κ with the observers has an
# interval for people in general (the stimuli resampled plus the observers' own spread), the
# observers among themselves one for these observers, and the table says which. Two models are
# ranked only when the interval of their difference, simultaneous over the metric's pairs,
# excludes 0 (docs/protocols.md §2 and §0).

# %%
page = pages.shape_bias.compute(study)

# %% [markdown]
# ## Shape bias, beside the paper's logs and the human range
#
# The grey band spans the ten observers (least to most shape-biased); error bars are 95%
# intervals, black ticks the paper's figure.

# %%
if not page.table("bias_bars").empty:
    charts.show(charts.bar_by_model(page.table("bias_bars"), value="shape bias", title="Shape bias",
                                    band=page.table("human_band")))
    nb.table(page.table("scores"))
    nb.table(page.table("human_range"))
if not page.table("per_category").empty:
    charts.show(charts.shape_bias_plot(page.table("per_category"), page.table("overall")))

# %% [markdown]
# ## Among 326 published models
#
# QUBA (Hesse et al., TMLR 2026) measured shape bias with the same cue-conflict protocol for
# 326 models; each grey tick is one of them, the gold ticks the ten human observers. Coloured
# points: this run's models with their 95% interval; black diamonds: QUBA's number for a run
# model that is in its table. "Better than" is the share of QUBA's models with a lower shape
# bias (ties count half), with the share each end of the interval beats.

# %%
field = page.table("field")
if len(field):
    charts.show(charts.field_strip(field))
    nb.table(page.table("field_shown"))

# %% [markdown]
# ## The human observers

# %%
nb.table(page.table("humans"))

# %% [markdown]
# ## Error consistency with humans
#
# Bars: mean κ over the ten observers with its 95% interval; the grey band spans the
# observers' consistency with one another (lowest to highest pair).

# %%
if not page.table("kappa_bars").empty:
    charts.show(charts.bar_by_model(page.table("kappa_bars"), value="mean κ", band=page.table("human_kappa_band"),
                                    title="Error consistency with the human observers"))
    charts.show(charts.heatmap(page.table("kappa_pairs"), x="observer", y="model", value="kappa", domain=None,
                               title="κ of each model with each observer"))
    nb.table(page.table("kappa_summary"))

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
# - Shape bias says which cue wins when the two conflict, not how accurate a model is: a model
#   can be shape-biased and still wrong on most stimuli (see the 16-class accuracy).
# - The 80 images whose shape and texture agree count for accuracy and error consistency, not
#   for the bias.
# - The ConvNeXt-CLIP decision log comes from a different run than the paper's figure and
#   differs from it by about two points.
# - Error consistency is bounded by the accuracies: a model far less accurate than an observer
#   cannot reach κ = 1 with them. Humans answered "na" on some trials; those count as wrong.
