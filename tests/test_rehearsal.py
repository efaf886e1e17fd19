"""The rehearsal's report checked against its own cache (``make rehearsal`` runs this after
``beyond-inet report --profile rehearsal`` over the miniature data root).

Every page ran, on every dataset of the paper in its real layout (no panel says a dataset
was not found, nothing was stood in), the images each page read are the files the layout
holds, and one number of each page equals a computation made here, independently of the
page code, from the cached logits / features: ECE, the ImageNet-C mean, the VTAB probe
(splits read from the task's own file lists, or its hub copy's shards), the PUG factor
mean, the invariance curve, the ImageNet-X error ratio, shape bias, CKA, model-vs-human's OOD
accuracy. The models have random weights, so the
numbers mean nothing about the models; that they are the right numbers of those
predictions is what this checks.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# set by `make rehearsal` (with the hub cache of its random weights): a plain `make test`
# skips this file even where an earlier rehearsal left its report behind
REHEARSAL = Path(os.environ.get("REHEARSAL_DIR") or "/nonexistent-rehearsal")
REPORT = REHEARSAL / "report"
DATA = REHEARSAL / "data"
PAGES = ("mistakes", "shape_bias", "calibration", "robustness", "transfer", "synthetic", "invariance",
         "similarity", "humans")
MODELS = ("convnext_sup", "vit_sup", "convnext_clip", "vit_clip")
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}

pytestmark = pytest.mark.skipif(not (REPORT / "run.json").is_file(),
                                reason="the rehearsal's report is not there: `make rehearsal` runs this")


# ------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def profile():
    from beyond_inet_lib.config import load_profile

    return load_profile("rehearsal", {"data_root": str(DATA)})


@pytest.fixture(scope="module")
def cached(profile):
    """(property, request name) -> (request, Results) read from the cache; fails if the
    report left anything it needs uncomputed."""
    from beyond_inet_lib import engine, workload

    settings = profile.run_settings()
    out = {}
    for r in workload.requests_for_profile(profile, DATA, settings=settings, progress=False):
        plan = r.plan(settings)
        assert not plan.missing, f"{r.property}/{r.name}: not in the cache after the report"
        out[(r.property, r.name)] = (r, engine.collect(plan))
    return out


def summary(prop: str) -> dict:
    return json.loads((REPORT / f"{prop}.summary.json").read_text())


def value(prop: str, key: str, metric: str) -> float:
    from beyond_inet_lib.models import get_model

    label = get_model(key).label
    rows = [r for r in summary(prop)["rows"] if r["metric"] == metric and r["model"].startswith(label)]
    assert len(rows) == 1, (prop, key, metric, [r["metric"] for r in summary(prop)["rows"]])
    return rows[0]["value"]


def softmax(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def images_under(folder: Path) -> int:
    """Image files below ``folder``, and image members of the webdataset shards there
    (read with tarfile, independently of the package's reader)."""
    n = 0
    for f in folder.rglob("*"):
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES | {".webp"}:
            n += 1
        elif f.is_file() and f.suffix == ".tar":
            with tarfile.open(f) as tf:
                n += sum(1 for m in tf if m.isfile() and Path(m.name).suffix.lower() in IMAGE_SUFFIXES | {".webp"})
    return n


def result(cached, prop: str, name: str, key: str, view: str | None = None):
    rs = cached[(prop, name)][1].for_model(key)
    return rs[view] if view is not None else next(iter(rs.values()))


# ---------------------------------------------------------------------- every page
def test_every_page_ran_on_every_dataset():
    run = json.loads((REPORT / "run.json").read_text())
    assert run["ok"] and sorted(run["pages"]) == sorted(PAGES)
    assert {p: s["status"] for p, s in run["pages"].items()} == {p: "ok" for p in PAGES}
    for prop in PAGES:
        html = (REPORT / f"{prop}.html").read_text()
        assert "Dataset not found" not in html and "Datasets not found" not in html, prop
        assert "Stand-in data" not in html, prop
        s = summary(prop)
        assert s["rows"], f"{prop}: no headline numbers"
        bad = [i for i in s["inputs"] if i["status"] != "ok"]
        assert not bad, f"{prop}: {bad}"


@pytest.mark.parametrize("prop, dataset, folder", [
    ("calibration", "imagenet-val", "imagenet-val"), ("calibration", "imagenet-r", "imagenet-r"),
    ("calibration", "imagenet-o", "imagenet-o"),
    ("robustness", "imagenet-v2", "imagenet-v2"), ("robustness", "imagenet-a", "imagenet-a"),
    ("robustness", "imagenet-sketch", "imagenet-sketch"), ("robustness", "imagenet-c", "imagenet-c"),
    ("robustness", "imagenet-real", "imagenet-val"), ("synthetic", "pug-imagenet", "pug-imagenet"),
    ("shape_bias", "cue-conflict", "cue-conflict"), ("mistakes", "imagenet-val", "imagenet-val"),
    ("humans", "edges", "edges"), ("humans", "silhouettes", "silhouettes"), ("humans", "colour", "colour"),
    ("humans", "eidolonIII", "eidolonIII"), ("humans", "sketch", "sketch"), ("humans", "cue-conflict", "cue-conflict"),
])
def test_each_page_read_every_image_of_the_layout(prop, dataset, folder):
    """The rehearsal profile caps nothing: a page read exactly the images the layout holds."""
    inputs = {i["dataset"]: i for i in summary(prop)["inputs"]}
    assert inputs[dataset]["images"] == images_under(DATA / folder) > 0


# ------------------------------------------------------------- one number per page
@pytest.mark.parametrize("key", MODELS)
def test_calibration_ece_is_the_cached_logits_ece(profile, cached, key):
    """The headline ECE is Kumar et al. (2019)'s debiased estimate: their normal_debiased_ce
    for p = 1, 2 |gap_b| - E|N(acc_b, v_b) - conf_b| per equal-width bin, weighted by the
    bin's share; the expectation is scipy's folded normal (v_b = acc (1 - acc) / (n_b - 1),
    or conf (1 - conf) for a bin of one image)."""
    from scipy.stats import foldnorm

    r = result(cached, "calibration", "eval", key)
    p = softmax(r.logits)
    conf, correct = p.max(axis=1), p.argmax(axis=1) == r.table["label"].to_numpy()
    n_bins = profile.settings("calibration").n_bins
    edges = np.linspace(0, 1, n_bins + 1)
    debiased = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if not inside.any():
            continue
        n, acc, mean_conf = inside.sum(), correct[inside].mean(), conf[inside].mean()
        gap = abs(acc - mean_conf)
        sd = np.sqrt(acc * (1 - acc) / (n - 1)) if n > 1 else np.sqrt(mean_conf * (1 - mean_conf))
        resampled = foldnorm.mean(gap / sd, scale=sd) if sd > 0 else gap
        debiased += inside.mean() * (2 * gap - resampled)
    assert value("calibration", key, "ECE (imagenet-val)") == pytest.approx(debiased, abs=1e-9)


@pytest.mark.parametrize("key", MODELS)
def test_calibration_ood_auroc_is_the_cached_logits_auroc(cached, key):
    """ImageNet-O, read in its real layout, against the evaluation images of its 200
    classes: the MSP over those 200 columns, scored by scikit-learn."""
    from sklearn.metrics import roc_auc_score

    from beyond_inet_lib.data import imagenet_o_indices

    mask = imagenet_o_indices()
    r_in, r_out = result(cached, "calibration", "eval", key), result(cached, "calibration", "ood", key)
    inside = np.isin(r_in.table["label"].to_numpy(), mask)
    a = softmax(np.asarray(r_in.logits)[inside][:, mask]).max(axis=1)
    b = softmax(np.asarray(r_out.logits)[:, mask]).max(axis=1)
    ref = roc_auc_score(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b])
    assert value("calibration", key, "AUROC imagenet-o, MSP") == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("key", MODELS)
def test_robustness_imagenet_c_is_the_mean_over_corruptions_and_severities(cached, key):
    r = result(cached, "robustness", "imagenet-c", key)
    # the cell of each image, from its path: <corruption>/<severity>/<wnid>/<file>
    cells = [tuple(Path(p).parts[-4:-2]) for p in r.table["path"]]
    correct = r.logits.argmax(axis=1) == r.table["label"].to_numpy()
    per_cell = pd.Series(correct).groupby(pd.Series(cells)).mean()
    assert len(per_cell) == 15 * 5
    assert value("robustness", key, "top-1 imagenet-c") == pytest.approx(per_cell.mean(), abs=1e-12)


def _vtab_lists(task_dir: Path) -> dict[str, tuple[str, int]]:
    """image path (relative to the task's folder) -> (split, label), from what the task's
    folder holds: its own lists (train800.txt, val200.txt, test.txt with lines
    ``images/<split>/<file> <label>``), or split folders ``train800/<label>/<file>``, or the
    hub's webdataset shards ``train/<n>.tar`` and ``test/<n>.tar`` (read here with tarfile:
    train800 = the first 800 train rows in shard order, val200 = the next 200, a train
    split under 1,000 rows cut 80 / 20; test = every test row; label = the cls member)."""
    out = {}
    if (task_dir / "train800.txt").is_file():
        for split, listing in (("train", "train800.txt"), ("val", "val200.txt"), ("test", "test.txt")):
            for line in (task_dir / listing).read_text().splitlines():
                if line.strip():
                    rel, label = line.split()
                    out[rel] = (split, int(label))
        return out
    if (task_dir / "train800").is_dir():
        for split, folder in (("train", "train800"), ("val", "val200"), ("test", "test")):
            for f in (task_dir / folder).rglob("*"):
                if f.is_file():
                    out[str(f.relative_to(task_dir))] = (split, int(f.parent.name))
        return out
    for hub_split in ("train", "test"):
        shards = sorted((task_dir / hub_split).glob("*.tar"), key=lambda p: int(p.stem))
        rows = []
        for shard in shards:
            with tarfile.open(shard) as tf:
                members = {m.name: tf.extractfile(m).read() for m in tf if m.isfile()}
            for name in members:
                if name.endswith(".webp"):
                    rows.append((f"{hub_split}/{shard.name}#{name}", int(members[name[:-5] + ".cls"])))
        if hub_split == "test":
            out.update({rel: ("test", y) for rel, y in rows})
        else:
            m = min(len(rows), 1000)
            n_train = min(800, 4 * m // 5)
            out.update({rel: ("train", y) for rel, y in rows[:n_train]})
            out.update({rel: ("val", y) for rel, y in rows[n_train:min(m, n_train + 200)]})
    return out


@pytest.mark.parametrize("key", MODELS)
def test_transfer_vtab_mean_is_the_probe_on_the_tasks_own_splits(profile, cached, key):
    from beyond_inet_lib import metrics

    s = profile.settings("transfer")
    accs = []
    for task in s.tasks:
        r = result(cached, "transfer", task, key)
        parts = [Path(p).parts for p in r.table["path"]]          # vtab[-1k]/<folder>/...
        task_dir = DATA.joinpath(*parts[0][:2])
        listed = _vtab_lists(task_dir)
        assert len(listed) == len(parts), task                     # every image of the task was read
        split = np.array([listed[str(Path(*pt[2:]))][0] for pt in parts])
        y = np.array([listed[str(Path(*pt[2:]))][1] for pt in parts])
        assert (y == r.table["label"].to_numpy()).all(), task
        x = r.features
        tr, va, te = (split == n for n in ("train", "val", "test"))
        assert tr.sum() and va.sum() and te.sum(), task
        out = metrics.linear_probe(x[tr], y[tr], x[va], y[va], x[te], y[te], protocol=s.protocol,
                                   seed=profile.seed)
        accs.append(out["test_correct"].mean())
    assert len(accs) == 19
    assert value("transfer", key, "VTAB-1k mean (19)") == pytest.approx(np.mean(accs), abs=1e-12)


@pytest.mark.parametrize("key", MODELS)
def test_synthetic_mean_over_factors(cached, key):
    r = result(cached, "synthetic", "synthetic", key)
    mapping = json.loads((Path(__file__).parents[1] / "beyond_inet_lib" / "assets"
                          / "pug_class_to_imagenet_idx.json").read_text())
    # <factor>/<class name>/<file>: the class's ImageNet indices count as correct
    parts = [Path(p).parts for p in r.table["path"]]
    factor = [pt[-3] for pt in parts]
    correct = [int(pred) in set(mapping[pt[-2]]) for pred, pt in zip(r.logits.argmax(axis=1), parts)]
    per_factor = pd.Series(correct, dtype=float).groupby(pd.Series(factor)).mean()
    assert len(per_factor) > 1
    assert value("synthetic", key, "mean top-1 over factors (pug-imagenet)") == pytest.approx(per_factor.mean())


def test_invariance_curve_is_the_cached_true_class_probability(profile, cached):
    from beyond_inet_lib import pages, workload

    study = workload.study(profile, "invariance", DATA, progress=False)
    page = pages.invariance.compute(study)
    curve = page.table("curve")
    scale = max(profile.settings("invariance").scales)
    for key in MODELS:
        r = result(cached, "invariance", "scale", key, f"{scale:g}")
        p = softmax(r.logits)
        y = r.table["label"].to_numpy()
        row = curve[(curve["model"] == study.label(key)) & (curve["transform"] == "scale")
                    & (curve["value"] == scale)]
        assert len(row) == 1, curve[["model", "transform", "value"]].drop_duplicates()
        assert row["mean_true_prob"].iloc[0] == pytest.approx(p[np.arange(len(y)), y].mean(), abs=1e-9)
        assert value("invariance", key, f"top-1 at scale {scale:g}") == pytest.approx(
            (p.argmax(axis=1) == y).mean())


@pytest.mark.parametrize("key", MODELS)
def test_mistakes_mean_error_ratio(cached, key):
    import imagenet_x

    r = result(cached, "mistakes", "imagenet-x", key)
    wrong = r.logits.argmax(axis=1) != r.table["label"].to_numpy()
    ratios = [wrong[r.table[f].to_numpy() == 1].mean() / wrong.mean()
              for f in imagenet_x.FACTORS if (r.table[f] == 1).any()]
    assert ratios and value("mistakes", key, "ImageNet-X mean error ratio") == pytest.approx(np.mean(ratios))


@pytest.mark.parametrize("key", MODELS)
def test_shape_bias_from_the_cached_logits(cached, key):
    from beyond_inet_lib.metrics.shape_bias import cue_conflict_category_indices

    r = result(cached, "shape_bias", "cue-conflict", key)
    p = softmax(r.logits)
    cats = cue_conflict_category_indices()
    names = sorted(cats)
    decision = np.array(names)[np.stack([p[:, list(cats[c])].mean(axis=1) for c in names], 1).argmax(1)]
    shape_hits = texture_hits = 0
    for path, d in zip(r.table["path"], decision):
        shape, texture = (s.rstrip("0123456789") for s in Path(path).stem.split("-"))
        if shape != texture:
            shape_hits += d == shape
            texture_hits += d == texture
    assert shape_hits + texture_hits > 0
    assert value("shape_bias", key, "shape bias (cue-conflict)") == pytest.approx(
        shape_hits / (shape_hits + texture_hits))


def test_humans_every_dataset_of_the_benchmark_and_its_observers():
    from beyond_inet_lib.data.model_vs_human import BENCHMARK

    inputs = {i["dataset"]: i for i in summary("humans")["inputs"]}
    for d in BENCHMARK.values():
        assert inputs[d.name]["status"] == "ok" and inputs[d.name]["images"] > 0, d.name
        assert inputs[d.humans]["status"] == "ok" and inputs[d.humans]["images"] == d.observers, d.humans


@pytest.mark.parametrize("key", MODELS)
def test_humans_ood_accuracy_from_the_cached_logits(cached, key):
    """model-vs-human's OOD accuracy: per dataset the share of stimuli whose 16-class
    decision (mean probability over each category's ImageNet indices) names the category
    written in the file name (or its folder), over the levels the benchmark summarises;
    then the mean over the 17 datasets."""
    from beyond_inet_lib.data.model_vs_human import BENCHMARK
    from beyond_inet_lib.metrics.shape_bias import cue_conflict_category_indices

    cats = cue_conflict_category_indices()
    names = sorted(cats)
    accs = []
    for d in BENCHMARK.values():
        r = result(cached, "humans", d.name, key)
        p = softmax(r.logits)
        decision = np.array(names)[np.stack([p[:, list(cats[c])].mean(axis=1) for c in names], 1).argmax(1)]
        right = []
        for path, dec in zip(r.table["path"], decision):
            fields = Path(path).name.split("_")
            if len(fields) >= 7:          # <trial>_<tag>_dnn_<condition>_<category>_...
                condition, category = fields[3], fields[4]
                if d.levels and condition in d.excluded:
                    continue
            else:                         # <category>/<name>.png
                category = Path(path).parent.name
            right.append(dec == category)
        assert right, d.name
        accs.append(np.mean(right))
    assert len(accs) == 17
    assert value("humans", key, "OOD accuracy (model-vs-human)") == pytest.approx(np.mean(accs), abs=1e-12)


def test_similarity_mean_cka_to_the_other_models(cached):
    """The headline is CKA from unbiased HSIC (Song et al. 2012) of the linear Grams at the
    last tapped layer, averaged over the other models:

        HSIC_1(K, L) = [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3)),

    K~ the Gram with its diagonal set to 0."""
    req, res = cached[("similarity", "eval")]
    grams = {}
    for key in MODELS:
        x = res.for_model(key)
        x = next(iter(x.values())).layers[req.layers[key][-1]].astype(np.float64)
        x = x.reshape(len(x), -1)
        k = x @ x.T
        np.fill_diagonal(k, 0.0)
        grams[key] = k

    def hsic(k, l):
        n = len(k)
        return (np.trace(k @ l) + k.sum() * l.sum() / ((n - 1) * (n - 2))
                - 2 / (n - 2) * k.sum(axis=0) @ l.sum(axis=1)) / (n * (n - 3))

    def cka(a, b):
        return hsic(grams[a], grams[b]) / np.sqrt(hsic(grams[a], grams[a]) * hsic(grams[b], grams[b]))

    for key in MODELS:
        expected = np.mean([cka(key, o) for o in MODELS if o != key])
        assert value("similarity", key, "mean CKA to the other models (last layer)") == pytest.approx(expected, abs=1e-6)
