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
# factor for all.

# %% tags=["parameters"]
profile = "demo"
data_root = None
report_dir = None

# %%
import pandas as pd

from beyond_inet_lib import charts, metrics, nb
from beyond_inet_lib.data import standins

study = nb.setup(profile, data_root, report_dir, "mistakes")
settings = study.settings
study.describe_models()

# %% [markdown]
# ## Protocol
#
# Predictions (argmax over 1,000 classes) on ImageNet val are joined with the ImageNet-X
# annotations (top factor per image, prototypical images removed, exact top-1 correctness).
# Error ratio per factor = (1 − accuracy on the factor) / (1 − accuracy on all annotated
# images). The paper's "average" is the unweighted mean of the 16 ratios; lower is better.

# %%
prev = metrics.factor_prevalence()
charts.show(charts.bar_by_model(prev, value="share", title="ImageNet-X (val): share of images per top factor",
                                category="factor"))

# %%
ratios, headline, mode = [], [], None
val = study.dataset("imagenet-val", show_missing=False)
if val is not None:
    mode = "imagenet-x"
    if settings.max_images:
        val = val.spread(settings.max_images)
    res = study.predict(val)
    for m in study.models:
        r = res.only(m.key)
        preds = pd.DataFrame({"file_name": r.table["file_name"], "predicted_class": r.pred()})
        s = metrics.imagenet_x_error_ratios(preds)
        ratios.append(pd.DataFrame({"factor": s.index, "error ratio": s.to_numpy(),
                                    "model": study.label(m.key)}))
        headline.append(study.headline_row(m.key, "ImageNet-X mean error ratio", metrics.mean_error_ratio(s),
                                           "lower", "imagenet_x_mean_error_ratio"))
        headline.append(study.headline_row(m.key, "ImageNet-X texture error ratio", s["texture"],
                                           "lower", "imagenet_x_texture_error_ratio"))
elif study.profile.standins:
    study.dataset("imagenet-val")  # the panel: what is missing and how to get it
    samples = study.dataset("imagenet-samples")
    if samples is not None:
        mode = "stand-in"
        ds = study.standin(standins.factor_standin, samples, n_images=settings.standin_images)
        res = study.predict(ds)
        for m in study.models:
            r = res.only(m.key)
            t = r.table.assign(correct=(r.pred() == r.table["label"].to_numpy()))
            s = metrics.factor_error_ratios(t, "factor", "correct").drop("none", errors="ignore")
            ratios.append(pd.DataFrame({"factor": s.index, "error ratio": s.to_numpy(),
                                        "model": study.label(m.key)}))
            headline.append(study.headline_row(m.key, "mean error ratio (simulated factors)",
                                               metrics.mean_error_ratio(s), "lower", note="stand-in"))
else:
    study.dataset("imagenet-val")

# %%
if ratios:
    rt = pd.concat(ratios)
    charts.show(charts.error_ratio_bars(rt))
    wide = rt.pivot(index="factor", columns="model", values="error ratio").reset_index()
    nb.table(wide, floatfmt="{:.2f}")

# %% [markdown]
# ## Finding

# %%
if ratios:
    rt = study.meaningful(pd.concat(ratios))
    mean = rt.groupby("model")["error ratio"].mean().sort_values()
    worst = rt.sort_values("error ratio").groupby("model").tail(1)
    text = (f"Mean error ratio ({'ImageNet-X' if mode == 'imagenet-x' else 'simulated factors'}): "
            + ", ".join(f"{k} {v:.2f}" for k, v in mean.items()) + ". "
            f"The most even mistakes come from **{mean.index[0]}**. Hardest factor per model: "
            + ", ".join(f"{r['model']}: {r['factor']} ({r['error ratio']:.2f})" for _, r in worst.iterrows()) + ".")
    nb.finding(text)
    study.record(headline)

# %% [markdown]
# ## Caveats
#
# - Without ImageNet val the page uses *simulated* factors: darker, brighter, smaller, larger,
#   partial view and colour changes applied to the ImageNet sample images (train split). They
#   mimic some ImageNet-X factors, not their real distribution; the real annotations are shown
#   above only as prevalences.
# - An error ratio is relative to the model's own error: a very accurate model can have high
#   ratios and still make fewer mistakes on every factor.
