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
import pandas as pd

from beyond_inet_lib import charts, metrics, nb
from beyond_inet_lib.data import standins

study = nb.setup(profile, data_root, report_dir, "synthetic")
settings = study.settings
study.describe_models()

# %% [markdown]
# ## Protocol
#
# Each image is classified over the 1,000 ImageNet classes; a prediction is correct when it is
# one of the ImageNet classes mapped to the image's PUG class (some PUG classes map to several
# ImageNet classes; Shirt and Sweatshirt both map to index 841). Labels come from the class
# *name* of each folder, never from folder order, so a missing class shifts nothing. Top-1 is
# reported per factor and as the mean over the factors.

# %%
ds = study.dataset("pug-imagenet")
if ds is not None and settings.max_images:
    ds = ds.per_class(max(1, settings.max_images // 151), seed=study.profile.seed)
if ds is None and study.profile.standins:
    samples = study.dataset("imagenet-samples")
    if samples is not None:
        ds = study.standin(standins.synthetic_standin, samples, n_images=settings.standin_images)

rows, levels, headline = [], [], []
if ds is not None:
    res = study.predict(ds)
    for m in study.models:
        r = res.only(m.key)
        t = r.table.assign(pred=r.pred())
        acc = metrics.pug_factor_accuracy(t)
        acc["model"] = study.label(m.key)
        rows.append(acc)
        if "level" in t.columns:
            t["correct"] = [p in set(ls) for p, ls in zip(t["pred"], t["label_set"])]
            lv = t.groupby(["factor", "level"], sort=False)["correct"].mean().reset_index()
            lv["model"] = study.label(m.key)
            levels.append(lv)
        mean = float(acc.loc[acc["factor"] == "mean", "accuracy"].iloc[0])
        headline.append(study.headline_row(m.key, f"mean top-1 over factors ({ds.name})", mean, "higher",
                                           None if ds.standin else "pug_mean",
                                           note="stand-in" if ds.standin else ""))

# %%
if rows:
    table = pd.concat(rows)
    charts.show(charts.grouped_bars(table, x="factor", y="accuracy", color="model",
                                    title="Top-1 per varied factor"))
    nb.table(table.pivot(index="factor", columns="model", values="accuracy").reset_index())
if levels:
    lv = pd.concat(levels)
    lv["factor: level"] = lv["factor"] + ": " + lv["level"].astype(str)
    charts.show(charts.heatmap(lv.rename(columns={"correct": "top-1"}), x="model", y="factor: level",
                               value="top-1", title="Top-1 per factor level"))

# %% [markdown]
# ## Finding

# %%
if rows:
    table = study.meaningful(pd.concat(rows))
    per = table[table["factor"] != "mean"]
    means = table[table["factor"] == "mean"].sort_values("accuracy", ascending=False)
    hardest = per.groupby("factor")["accuracy"].mean().sort_values()
    text = (f"Mean top-1 over factors: " + ", ".join(f"{r['model']} {r['accuracy']:.1%}" for _, r in means.iterrows())
            + f". The factor that hurts most on average is **{hardest.index[0]}** "
            f"({hardest.iloc[0]:.1%}), the least **{hardest.index[-1]}** ({hardest.iloc[-1]:.1%}).")
    nb.finding(text)
    study.record(headline)

# %% [markdown]
# ## Caveats
#
# - The stand-in varies real photographs procedurally (rotation, scale on a plain canvas,
#   light colour, synthetic backgrounds, texture overlays): it probes the same kinds of
#   invariance as PUG but its numbers are not PUG's.
# - PUG images are rendered: accuracy mixes the factor's effect with the synthetic-to-real gap.
