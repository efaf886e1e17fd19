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
# # Representations: do the models compute similar things, layer by layer?
#
# Centred kernel alignment (CKA; Kornblith et al., 2019) compares two sets of features of the
# same images, from different layers or different models, invariantly to rotations and
# isotropic scaling: 1 means the same representation up to those. The paper reports that the
# transformers' layers stay similar to each other across depth while the ConvNeXts change more
# from block to block, and that CLIP and supervised training lead to different late layers.

# %% tags=["parameters"]
profile = "demo"
data_root = None
report_dir = None

# %%
from beyond_inet_lib import charts, nb, pages, report

study = report.setup(profile, data_root, report_dir, "similarity")
study.describe_models()

# %% [markdown]
# ## Protocol
#
# A fixed subset of images is passed once through each model with forward hooks on its
# layers, grouped by module type (attention / MLP / norm for ViTs; conv / linear / norm for
# ConvNeXts; conv / norm for EfficientNets), at most `max_layers` spread evenly over depth.
# Convolutional maps are averaged over space; token sequences keep the class token and the
# mean of the patch tokens. Linear CKA is computed between every pair of tapped layers, within
# a model (a layer × layer heatmap) and across models. The authors released no code for this
# experiment.
#
# The headline, each model's mean CKA to the other models at the last tapped layer, is CKA
# from unbiased HSIC with a 95% jackknife interval over images. Linear CKA, which the heatmaps
# show as the paper does, is biased upwards on a finite sample (by about one standard error on
# 64 images), and no bootstrap interval of it covers its truth 95% of the time; the unbiased
# one's jackknife interval does (docs/protocols.md §8 and §0).

# %%
page = pages.similarity.compute(study)

# %% [markdown]
# ## Within each model

# %%
if page.has_numbers:
    for model, layers in page.table("within").groupby("model", sort=False):
        charts.show(charts.heatmap(layers, x="layer a", y="layer b", value="CKA",
                                   title=f"{model}: CKA between its layers"))

# %% [markdown]
# ## Across models

# %%
if not page.table("across").empty:
    charts.show(charts.heatmap(page.table("across"), x="model a", y="model b", value="CKA",
                               title="CKA between models (last tapped layer)"))
    pair = page.table("pair")
    charts.show(charts.heatmap(pair, x="layer a", y="layer b", value="CKA",
                               title=f"{pair['model a'][0]} (x) vs {pair['model b'][0]} (y), layer by layer"))
    charts.show(charts.bar_by_model(page.table("cka_bars"), value=pages.similarity.METRIC.name,
                                    title="Mean CKA to the other models (last tapped layer)"))
nb.table(page.table("summary"))

# %% [markdown]
# ## Finding

# %%
nb.findings(page)
report.record_page(page, report_dir);

# %% [markdown]
# ## Caveats
#
# - The heatmaps' linear CKA on a few dozen images is noisy and biased upwards for wide layers;
#   use hundreds of images (the paper profile uses 1,000) before reading fine differences. The
#   headline's CKA (from unbiased HSIC) removes that bias, and its interval the noise.
# - The pooling of token sequences and feature maps is a choice (the paper did not publish one);
#   it is the same for every model.
# - Untrained models show the CKA structure of their architecture alone.
