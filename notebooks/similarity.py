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
import numpy as np
import pandas as pd

from beyond_inet_lib import charts, engine, metrics, nb
from beyond_inet_lib.data import spread_indices

study = nb.setup(profile, data_root, report_dir, "similarity")
settings = study.settings
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

# %%
ds = study.imagenet_eval_set(settings.max_images)
taps, kinds = {}, {}
if ds is not None:
    for m in study.models:
        layers = engine.list_layers(m, settings=study.profile.run_settings())
        pick = layers.iloc[spread_indices(len(layers), settings.max_layers)]
        taps[m.key] = pick["name"].tolist()
        kinds[m.key] = dict(zip(pick["name"], pick["kind"]))
    res = study.predict(ds, outputs=("logits", "layers"), layers=taps)

# %%
if taps:
    for m in study.models:
        r = res.only(m.key)
        names = taps[m.key]
        k = metrics.cka_matrix([r.layers[n] for n in names], [r.layers[n] for n in names])
        df = pd.DataFrame([{"layer a": f"{i:02d} {a}", "layer b": f"{j:02d} {b}", "CKA": k[i, j]}
                           for i, a in enumerate(names) for j, b in enumerate(names)])
        charts.show(charts.heatmap(df, x="layer a", y="layer b", value="CKA",
                                   title=f"{study.label(m.key)}: CKA between its layers"))

# %% [markdown]
# ## Across models

# %%
cross_rows, headline = [], []
if taps and len(study.models) > 1:
    last = {m.key: res.only(m.key).layers[taps[m.key][-1]] for m in study.models}
    keys = [m.key for m in study.models]
    mat = metrics.cka_matrix([last[k] for k in keys], [last[k] for k in keys])
    cross = pd.DataFrame([{"model a": study.label(a), "model b": study.label(b), "CKA": mat[i, j]}
                          for i, a in enumerate(keys) for j, b in enumerate(keys)])
    charts.show(charts.heatmap(cross, x="model a", y="model b", value="CKA",
                               title="CKA between models (last tapped layer)"))
    a, b = keys[0], keys[1]
    na, nb_ = taps[a], taps[b]
    ra, rb = res.only(a), res.only(b)
    km = metrics.cka_matrix([ra.layers[n] for n in na], [rb.layers[n] for n in nb_])
    pair = pd.DataFrame([{"layer a": f"{i:02d} {x}", "layer b": f"{j:02d} {y}", "CKA": km[i, j]}
                         for i, x in enumerate(na) for j, y in enumerate(nb_)])
    charts.show(charts.heatmap(pair, x="layer a", y="layer b", value="CKA",
                               title=f"{study.label(a)} (x) vs {study.label(b)} (y), layer by layer"))
    for i, k in enumerate(keys):
        others = [mat[i, j] for j in range(len(keys)) if j != i]
        headline.append(study.headline_row(k, "mean CKA to the other models (last layer)", float(np.mean(others))))
        cross_rows.append({"model": study.label(k), "mean CKA to others": float(np.mean(others))})
    nb.table(pd.DataFrame(cross_rows))

# %% [markdown]
# ## Finding

# %%
if taps:
    text = []
    for m in study.models:
        r = res.only(m.key)
        names = taps[m.key]
        k = metrics.cka_matrix([r.layers[n] for n in names], [r.layers[n] for n in names])
        adjacent = float(np.mean([k[i, i + 1] for i in range(len(names) - 1)])) if len(names) > 1 else 1.0
        text.append(f"{study.label(m.key)}: mean CKA between consecutive tapped layers {adjacent:.2f}, "
                    f"first vs last layer {k[0, -1]:.2f}.")
    if cross_rows:
        t = pd.DataFrame(cross_rows).sort_values("mean CKA to others")
        text.append(f"The most distinct final representation belongs to **{t.iloc[0]['model']}**.")
    nb.finding(" ".join(text))
    study.record(headline)

# %% [markdown]
# ## Caveats
#
# - CKA on a few dozen images is noisy and biased upwards for wide layers; use hundreds of images
#   (the paper profile uses 1,000) before reading fine differences.
# - The pooling of token sequences and feature maps is a choice (the paper did not publish one);
#   it is the same for every model.
# - Untrained models show the CKA structure of their architecture alone.
