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
# # Models against humans: out of distribution, and the same mistakes?
#
# ImageNet accuracy says nothing about what a model does with an image unlike its training
# data, nor whether it fails where people fail. *model-vs-human* (Geirhos et al., NeurIPS 2021)
# asks both on 17 datasets of 16-class stimuli that human observers classified in the lab:
# line drawings of edges, filled silhouettes, sketches, stylised photos, cue-conflict images, and
# photos under twelve distortions at growing strength (contrast, blur, noise, rotation,
# phase scrambling ...). Humans stay near their ceiling on edges and silhouettes, where
# texture-biased ImageNet models fall apart (Geirhos et al., 2019). This page sets this run's
# models beside the observers on every dataset of the benchmark found.

# %% tags=["parameters"]
profile = "demo"
data_root = None
report_dir = None

# %%
from beyond_inet_lib import charts, nb, pages, report

study = report.setup(profile, data_root, report_dir, "humans")
study.describe_models()

# %% [markdown]
# ## Protocol
#
# Each model's softmax over the 1,000 ImageNet classes is mapped to the 16 categories as on the
# shape-bias page (the mean probability over each category's ImageNet classes, then the
# highest); a trial is right when it names the stimulus's category (a human's "no answer" is
# wrong). **16-class accuracy** is the share of right trials; on a distortion with levels, over
# the levels model-vs-human summarises (it leaves out the undistorted control and the levels
# where humans fall below 20%), and per level in the plot below. **Error consistency** is
# Cohen's κ on right/wrong per stimulus between a model and an observer (or two observers): 0 =
# no more shared errors than two independent decision makers with these accuracies, 1 = the
# same errors; on a distortion it is computed per level and averaged. Across datasets the page
# takes model-vs-human's means (over levels, then observers, then datasets). Every number
# carries a 95% bootstrap interval over stimuli; the observers are held fixed
# (docs/protocols.md §9).

# %%
page = pages.humans.compute(study)

# %% [markdown]
# ## Across the benchmark
#
# Left: model-vs-human's scatter of observed consistency (the share of stimuli both get right
# or both get wrong, averaged over the observers) against OOD accuracy. The dashed line is
# what chance gives a decision maker of that accuracy against the humans: a point above it
# shares more errors with people than its accuracy explains. Right: error consistency itself
# (κ, 0 = chance).

# %%
if not page.table("summary").empty:
    nb.table(page.table("summary_shown"))
    charts.show(charts.benchmark_scatter(page.table("summary"), "OOD accuracy", "observed consistency",
                                         expected=page.table("expected"),
                                         title="Observed consistency vs OOD accuracy")
                | charts.benchmark_scatter(page.table("summary"), "OOD accuracy", "error consistency",
                                           expected=page.table("expected"), title="Error consistency vs OOD accuracy"))

# %% [markdown]
# ## Dataset by dataset
#
# Bars: 16-class accuracy with its 95% interval, for each model and for the observers pooled;
# then error consistency of each model with the observers (mean over observers) and of the
# observers with one another (mean over pairs).

# %%
if not page.table("accuracy_bars").empty:
    charts.show(charts.grouped_bars(page.table("accuracy_bars"), x="dataset title", y="accuracy", rule_at=1 / 16,
                                    title="16-class accuracy per dataset"))
if not page.table("kappa").empty:
    charts.show(charts.grouped_bars(page.table("kappa"), x="dataset title", y="kappa", rule_at=0.0,
                                    title="Error consistency with the observers (humans: among themselves)"))
nb.table(page.table("per_dataset"))

# %% [markdown]
# ## Distortions level by level
#
# Accuracy at each level of every distortion found (dotted: chance, 1/16); the observers'
# trials pooled.

# %%
if not page.table("per_level").empty:
    charts.show(charts.level_lines(page.table("per_level"), rule_at=1 / 16,
                                   title="16-class accuracy per level"))
else:
    nb.panel("No distortion with levels in this run",
             f"Get the {len(pages.humans.LEVELLED)} distortions with their observers' trials:\n"
             f"{pages.humans.LEVELLED_HOW_TO_GET}\n"
             "and list them under `properties.humans.datasets` in the profile (its default lists all 17).")

# %% [markdown]
# ## The observers, one by one

# %%
nb.table(page.table("observers"))

# %% [markdown]
# ## Finding

# %%
nb.findings(page)
report.record_page(page, report_dir);

# %% [markdown]
# ## Caveats
#
# - The intervals resample stimuli with the observers held fixed: they say how sure the numbers
#   are for these four to ten people, not for people in general.
# - Error consistency is bounded by the accuracies: a model far less accurate than the
#   observers cannot reach κ = 1 with them. At the extremes (near 0 or 100% accuracy) κ is
#   noisy.
# - The cue-conflict trials count as right when the answer is the shape's category, as on the
#   shape-bias page.
# - The stimuli of the twelve distortions, sketch and stylized come from model-vs-human's
#   release archives, for which no checksum is published (the edges, silhouettes and
#   cue-conflict stimuli are checked file by file).
