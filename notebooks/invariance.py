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
# # Invariance: scale, shift and resolution
#
# A model should recognise an object whether it fills the frame or not, sits in the centre or
# not, and whether the image is small or large. The paper zooms in (scale), moves the crop
# window (shift) and changes the input resolution, and finds the supervised ConvNeXt the most
# invariant and the CLIP ConvNeXt collapsing at high resolution (19% top-1 at 640 px).

# %% tags=["parameters"]
profile = "demo"
data_root = None
report_dir = None

# %%
from beyond_inet_lib import charts, nb, pages, report

study = report.setup(profile, data_root, report_dir, "invariance")
study.describe_models()

# %% [markdown]
# ## Protocol
#
# - **Scale** s: Resize(int(s × B)) then the model's centre crop, where B is the model's own
#   resize size (256 for the supervised models, 224 for CLIP): s > 1 zooms in.
# - **Shift** d: the standard centre-crop window moved by d pixels *of the original image* along
#   its longer side; where the window runs past the border the missing pixels are black, as in
#   the authors' code.
# - **Resolution** R: the model rebuilt for R × R inputs (ViT position embeddings resampled
#   bicubically to the R/patch grid; convolutional models unchanged), with Resize(int(R × 256/224))
#   → CenterCrop(R) (supervised) or Resize(R) → CenterCrop(R) (CLIP). A ViT whose patch does
#   not divide R (a /32 at 112 or 336) runs at the nearest size it does divide, said below.
#
# Reported: top-1 and the mean probability of the true class, each point with a 95% interval
# over images (the bands; Wilson's for top-1, the bootstrap's for the probability). Every level scores the same images, so the drop from the
# untransformed level to the most extreme one is computed per image and its interval resamples
# images jointly across the two levels.

# %%
page = pages.invariance.compute(study)

# %% [markdown]
# ## Curves

# %%
if page.has_numbers:
    charts.show(charts.invariance_lines(page.table("top1")))
    charts.show(charts.invariance_lines(page.table("true_prob"), value="mean_true_prob",
                                        title="Mean probability of the true class"))
    nb.table(page.table("points"))
    if not page.table("drops").empty:
        nb.table(page.table("drops_shown"))

# %% [markdown]
# ## Finding

# %%
nb.findings(page)
report.record_page(page, report_dir);

# %% [markdown]
# ## Caveats
#
# - Without ImageNet val the sample images (train split) are used: levels are optimistic, the
#   *shape* of each curve is what to compare.
# - Shift: the paper's crops ran past the image border and were black-filled; so are these. A
#   100 px shift moves the window out of the image only when the image is narrow.
# - Resolution changes the compute cost as R²; the convolutional models were not adapted.
