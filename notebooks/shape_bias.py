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
# below humans (~96%).

# %% tags=["parameters"]
profile = "demo"
data_root = None
report_dir = None

# %%
import pandas as pd

from beyond_inet_lib import charts, metrics, nb
from beyond_inet_lib.references import load_reference_decisions

study = nb.setup(profile, data_root, report_dir, "shape_bias")
settings = study.settings
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

# %%
def stimuli_view(spec):
    v = spec.view(study.profile.preprocessing)
    return {"stimuli": v if spec.training == "clip" else v.replace(resize=None, crop=None)}


ds = study.dataset("cue-conflict")
rows, per_cat, headline = [], [], []
if ds is not None:
    ds = ds.head(settings.max_images)
    res = study.predict(ds, views=stimuli_view)
    for m in study.models:
        r = res[(m.key, "stimuli")]
        decisions = metrics.cue_conflict_decisions(metrics.softmax(r.logits))
        names = r.table["path"].tolist()
        sb = metrics.shape_bias(names, decisions)
        rows.append({"model": study.label(m.key), "source": "this run", "shape bias": sb["shape_bias"],
                     "16-class accuracy": sb["accuracy"], "shape decisions": sb["n_shape"],
                     "texture decisions": sb["n_texture"], "paper": study.paper("shape_bias", m.key)})
        pc = metrics.shape_bias_per_category(names, decisions)
        pc["model"] = study.label(m.key)
        per_cat.append(pc)
        headline.append(study.headline_row(m.key, "shape bias (cue-conflict)", sb["shape_bias"],
                                           "higher", "shape_bias"))

# %% [markdown]
# ## The paper's own decisions, for reference
#
# The authors published their per-image decisions on the same stimuli (model-vs-human
# format). Scoring them with the same code shows where this run's models sit among the paper's
# four, a torchvision ResNet-50 and a human observer.

# %%
ref = load_reference_decisions(study.data_root)
for name, log in ref.items():
    sb = metrics.shape_bias(log["imagename"].tolist(), log["object_response"].to_numpy())
    rows.append({"model": name, "source": "paper's decision log", "shape bias": sb["shape_bias"],
                 "16-class accuracy": sb["accuracy"], "shape decisions": sb["n_shape"],
                 "texture decisions": sb["n_texture"], "paper": None})
if not ref:
    nb.panel("Reference decision logs not found",
             "Expected reference/cue-conflict-decisions/*.csv under the data root "
             "(from github.com/kirill-vish/Beyond-INet, inference/modelvshuman/raw-data/cue-conflict).",
             "info")

# %%
if rows:
    table = pd.DataFrame(rows)
    charts.show(charts.bar_by_model(table, value="shape bias", title="Shape bias (fraction of shape decisions)",
                                    paper_col="paper", color="source"))
    nb.table(table, floatfmt="{:.3f}")
if per_cat:
    charts.show(charts.shape_bias_plot(pd.concat(per_cat)))

# %% [markdown]
# ## Finding

# %%
if headline:
    t = pd.DataFrame(rows)
    run = study.meaningful(t[t["source"] == "this run"]).sort_values("shape bias", ascending=False)
    top, low = run.iloc[0], run.iloc[-1]
    text = (f"Among this run's models, **{top['model']}** is the most shape-biased "
            f"({top['shape bias']:.1%} of conflict decisions follow the shape) and **{low['model']}** "
            f"the least ({low['shape bias']:.1%}). ")
    refs = t[t["source"] != "this run"]
    if len(refs):
        human = refs[refs["model"].str.contains("subject")]
        if len(human):
            text += f"The human observer in the reference logs reaches {human['shape bias'].iloc[0]:.1%}. "
        paper_models = refs[~refs["model"].str.contains("subject|resnet", regex=True)]
        if len(paper_models):
            text += ("The paper's four models range from "
                     f"{paper_models['shape bias'].min():.1%} to {paper_models['shape bias'].max():.1%} "
                     "on their own logs. ")
    for _, r in run.iterrows():
        if pd.notna(r["paper"]):
            text += f"{r['model']}: {r['shape bias']:.1%} here vs {r['paper']:.1%} in the paper. "
    nb.finding(text)
    study.record(headline)

# %% [markdown]
# ## Caveats
#
# - Shape bias says which cue wins when the two conflict, not how accurate a model is: a model
#   can be shape-biased and still wrong on most stimuli (see the 16-class accuracy).
# - The 80 images whose shape and texture agree count for accuracy, not for the bias.
# - The ConvNeXt-CLIP decision log comes from a different run than the paper's figure and
#   differs from it by about two points.
