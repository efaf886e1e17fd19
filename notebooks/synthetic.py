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
# # Synthetic data: does the model still recognise an object when pose, scale or light change?
#
# PUG-ImageNet (Bordes et al., 2023) renders 151 ImageNet-like classes with a game engine and
# varies one factor at a time: the world (background), camera pitch/yaw/roll, object
# pitch/yaw/roll, object scale, object texture and scene light. Because every image is
# controlled, it isolates what a model is robust to. The paper found the supervised ConvNeXt
# best on average (32.2%) and the CLIP ViT worst (25.1%).

# %% tags=["parameters"]
profile = "demo"
data_root = None
report_dir = None

# %%
from beyond_inet_lib import charts, nb, pages, report

study = report.setup(profile, data_root, report_dir, "synthetic")
study.describe_models()

# %% [markdown]
# ## Protocol
#
# Each image is classified over the 1,000 ImageNet classes; a prediction is correct when it is
# one of the ImageNet classes mapped to the image's PUG class (some PUG classes map to several
# ImageNet classes; Shirt and Sweatshirt both map to index 841). Labels come from the class
# *name* of each folder, never from folder order, so a missing class shifts nothing. Top-1 is
# reported per factor and as the unweighted mean over the factors, each with a 95% bootstrap
# interval over images (the stand-in's variations of one photograph are resampled together).

# %%
page = pages.synthetic.compute(study)

# %% [markdown]
# ## Top-1 per varied factor

# %%
if page.has_numbers:
    charts.show(charts.grouped_bars(page.table("factors"), x="factor", y="top-1", color="model",
                                    title="Top-1 per varied factor (95% intervals)"))
    nb.table(page.table("by_factor"))

# %%
if not page.table("levels").empty:
    charts.show(charts.heatmap(page.table("levels"), x="model", y="factor: level", value="top-1",
                               title="Top-1 per factor level"))

# %% [markdown]
# ## Finding

# %%
nb.findings(page)
report.record_page(page, report_dir);

# %% [markdown]
# ## Caveats
#
# - The stand-in varies real photographs procedurally (rotation, scale on a plain canvas,
#   light colour, synthetic backgrounds, texture overlays): it probes the same kinds of
#   invariance as PUG but its numbers are not PUG's.
# - PUG images are rendered: accuracy mixes the factor's effect with the synthetic-to-real gap.
