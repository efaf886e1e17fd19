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
import numpy as np
import pandas as pd

from beyond_inet_lib import charts, metrics, nb

study = nb.setup(profile, data_root, report_dir, "invariance")
settings = study.settings
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
#   bicubically to the R/16 grid; convolutional models unchanged), with Resize(int(R × 256/224))
#   → CenterCrop(R) (supervised) or Resize(R) → CenterCrop(R) (CLIP).
#
# Reported: top-1 and the mean probability of the true class.

# %%
ds = study.imagenet_eval_set(settings.max_images)
rows = []
if ds is not None:
    labels = ds.table["label"].to_numpy()

    def add_rows(res, key_of, transform, value_of):
        for (mkey, vname), r in res.items():
            p = r.probs()
            y = r.table["label"].to_numpy()
            rows.append(pd.DataFrame({"model": study.label(key_of(mkey)), "transform": transform,
                                      "value": value_of(mkey, vname), "correct": p.argmax(1) == y,
                                      "true_prob": p[np.arange(len(y)), y]}))

    def scale_views(spec):
        v = spec.view(study.profile.preprocessing)
        return {f"{s:g}": v.replace(resize=int(s * v.resize)) for s in settings.scales}

    def shift_views(spec):
        v = spec.view(study.profile.preprocessing)
        return {str(d): v.replace(shift=int(d)) for d in settings.shifts}

    add_rows(study.predict(ds, views=scale_views), lambda k: k, "scale", lambda k, v: float(v))
    add_rows(study.predict(ds, views=shift_views), lambda k: k, "shift", lambda k, v: float(v))
    # at its native resolution a model is itself (same weights, same view): reuse that pass
    res_specs = [m if R == m.resolution else m.at_resolution(R) for m in study.models for R in settings.resolutions]
    variants = {s.key: (m.key, R) for s, (m, R) in
                zip(res_specs, [(m, R) for m in study.models for R in settings.resolutions])}
    add_rows(study.predict(ds, models=res_specs), lambda k: variants[k][0], "resolution",
             lambda k, v: float(variants[k][1]))

# %%
headline = []
if rows:
    curve = metrics.invariance_curve(pd.concat(rows))
    charts.show(charts.invariance_lines(curve))
    charts.show(charts.invariance_lines(curve, value="mean_true_prob", title="Mean probability of the true class"))
    wide = curve.pivot_table(index=["transform", "value"], columns="model", values="top1").reset_index()
    wide.columns.name = None
    nb.table(wide)

# %% [markdown]
# ## Finding

# %%
if rows:
    text = []
    for transform, extreme, ref in (("scale", max(settings.scales), 1.0),
                                     ("shift", max(settings.shifts), 0),
                                     ("resolution", max(settings.resolutions), 224)):
        c_all = curve[curve["transform"] == transform]
        c = study.meaningful(c_all)
        at_ref = c[c["value"] == ref].set_index("model")["top1"]
        at_ext = c[c["value"] == extreme].set_index("model")["top1"]
        drop = (at_ref - at_ext).sort_values()
        if len(drop):
            text.append(f"From {transform} {ref:g} to {extreme:g}, top-1 drops least for **{drop.index[0]}** "
                        f"({100 * drop.iloc[0]:.1f} points) and most for **{drop.index[-1]}** "
                        f"({100 * drop.iloc[-1]:.1f} points).")
        pk = {"scale": f"invariance_scale_{extreme:g}", "shift": f"invariance_shift_{extreme:g}",
              "resolution": f"invariance_resolution_{extreme:g}"}[transform]
        every = c_all[c_all["value"] == extreme].set_index("model")["top1"]
        for m in study.models:
            v = every.get(study.label(m.key))
            if v is not None:
                headline.append(study.headline_row(m.key, f"top-1 at {transform} {extreme:g}", v, "higher", pk))
    nb.finding(" ".join(text))
    study.record(headline)

# %% [markdown]
# ## Caveats
#
# - Without ImageNet val the sample images (train split) are used: levels are optimistic, the
#   *shape* of each curve is what to compare.
# - Shift: the paper's crops ran past the image border and were black-filled; so are these. A
#   100 px shift moves the window out of the image only when the image is narrow.
# - Resolution changes the compute cost as R²; the convolutional models were not adapted.
