"""Shape / texture bias on the cue-conflict stimuli (Geirhos et al. 2019).

Protocol: ``docs/protocols.md``, section Shape bias. A stimulus file ``dog10-bird2.png`` has
shape class dog and texture class bird; decisions are one of 16 categories, from a model's
1,000-class softmax (``cue_conflict_decisions``) or from a human observer's response.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ._arrays import as_numpy

# `<shape><n>-<texture><m>.png` at the end of a name; anything before it (a folder, or a
# model-vs-human trial prefix such as `0001_s5n_s02_0_clock_00_`) is ignored
_STIMULUS = re.compile(r"([a-z]+)\d+-([a-z]+)\d+\.png$")


def _asset(name: str) -> Path:
    return Path(__file__).resolve().parent.parent / "assets" / name


@lru_cache(maxsize=1)
def _cue_conflict_index_map() -> dict[str, tuple[int, ...]]:
    path = _asset("cue_conflict_16class_indices.json")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the package was installed without its "
                                "assets; reinstall it with `pip install -e .`")
    table = json.loads(path.read_text())
    return {name: tuple(int(i) for i in table[name]) for name in sorted(table)}


def cue_conflict_categories() -> tuple[str, ...]:
    """The 16 cue-conflict categories, alphabetical (the order of the decision columns)."""
    return tuple(_cue_conflict_index_map())


def cue_conflict_category_indices() -> dict[str, tuple[int, ...]]:
    """Category -> its ImageNet-1k indices (Geirhos et al., ``human_categories.py``)."""
    return dict(_cue_conflict_index_map())


def cue_conflict_stimulus(name) -> str:
    """The stimulus file name inside a path or a trial-prefixed name:
    ``0001_s5n_s02_0_clock_00_clock4-chair1.png`` -> ``clock4-chair1.png``."""
    m = _STIMULUS.search(os.path.basename(str(name)))
    if not m:
        raise ValueError(f"not a cue-conflict file name: {name!r} (expected e.g. dog10-bird2.png)")
    return m.group(0)


def cue_conflict_shape_texture(name) -> tuple[str, str]:
    """``dog10-bird2.png`` -> (shape ``dog``, texture ``bird``); a leading path or trial
    prefix is ignored (see ``cue_conflict_stimulus``)."""
    m = _STIMULUS.search(cue_conflict_stimulus(name))
    return m.group(1), m.group(2)


def cue_conflict_decisions(probabilities) -> np.ndarray:
    """16-class decisions from 1,000-class softmax rows (docs/protocols.md, Shape bias).

    score_c = MEAN over i in indices(c) of p_i  (not the sum: "dog" has 116 indices and
    would win by sheer count; not the max);  decision = argmax_c score_c over the 16
    categories (ties: the alphabetically first). Returns an (N,) array of category names.
    """
    p = as_numpy(probabilities).astype(np.float64)
    if p.ndim != 2 or p.shape[1] != 1000:
        raise ValueError(f"expected (N, 1000) softmax probabilities, got shape {p.shape}")
    sums = p.sum(axis=1)
    if (p < 0).any() or (np.abs(sums - 1) > 1e-3).any():
        raise ValueError("rows are not probabilities (negative or not summing to 1): "
                         "pass softmax(logits), not logits")
    table = _cue_conflict_index_map()
    names = list(table)
    scores = np.stack([p[:, list(table[c])].mean(axis=1) for c in names], axis=1)
    return np.asarray(names, dtype=object)[scores.argmax(axis=1)].astype(str)


def _cue_conflict_frame(image_names, decisions) -> pd.DataFrame:
    names = [str(n) for n in image_names]
    dec = [str(d) for d in as_numpy(decisions).ravel()]
    if len(names) != len(dec):
        raise ValueError(f"{len(names)} image names but {len(dec)} decisions")
    if not names:
        raise ValueError("no cue-conflict images given")
    parsed = [cue_conflict_shape_texture(n) for n in names]
    t = pd.DataFrame({"shape": [s for s, _ in parsed], "texture": [x for _, x in parsed],
                      "decision": dec})
    t["conflict"] = t["shape"] != t["texture"]
    t["is_shape"] = t["decision"] == t["shape"]
    t["is_texture"] = t["decision"] == t["texture"]
    return t


def cue_votes(image_names, decisions) -> tuple[np.ndarray, np.ndarray]:
    """Per trial (shape vote, texture vote), 0.0 / 1.0 (docs/protocols.md, Shape bias): the
    decision equals the shape (texture) class of a conflict stimulus (shape class !=
    texture class, parsed from its name); 0 for both on the other trials. Summed, they are
    ``shape_bias``'s n_shape and n_texture; ``shape_bias_from_votes`` of a resample of
    trials is its shape bias."""
    names = [str(n) for n in image_names]
    decision = np.array([str(d) for d in as_numpy(decisions).ravel()], dtype=object)
    if len(names) != len(decision):
        raise ValueError(f"{len(names)} image names but {len(decision)} decisions")
    parsed = [cue_conflict_shape_texture(n) for n in names]
    shape = np.array([s for s, _ in parsed], dtype=object)
    texture = np.array([t for _, t in parsed], dtype=object)
    conflict = shape != texture
    return ((decision == shape) & conflict).astype(float), ((decision == texture) & conflict).astype(float)


def shape_bias_from_votes(shape_votes, texture_votes) -> float:
    """shape bias = n_shape / (n_shape + n_texture), the sums of ``cue_votes`` over the
    trials given (Geirhos et al. 2019); NaN when no conflict trial was decided for either
    cue."""
    s, t = float(np.sum(shape_votes)), float(np.sum(texture_votes))
    return s / (s + t) if s + t else float("nan")


def _bias_counts(t: pd.DataFrame) -> dict:
    conflict = t[t["conflict"]]
    n_shape = int(conflict["is_shape"].sum())
    n_texture = int(conflict["is_texture"].sum())
    return {
        "shape_bias": shape_bias_from_votes(conflict["is_shape"], conflict["is_texture"]),
        "accuracy": float(t["is_shape"].mean()),
        "n_shape": n_shape, "n_texture": n_texture, "n_conflict": int(len(conflict)),
        "n_images": int(len(t)),
        "shape_match": n_shape / len(conflict) if len(conflict) else float("nan"),
        "texture_match": n_texture / len(conflict) if len(conflict) else float("nan"),
    }


def shape_bias(image_names, decisions) -> dict:
    """Shape bias (docs/protocols.md, Shape bias; Geirhos et al. 2019, model-vs-human ``ShapeBias``).

    Over images whose shape class != texture class (parsed from ``dog10-bird2.png``:
    shape dog, texture bird; any leading path/prefix ignored):
        shape_bias = n_shape / (n_shape + n_texture)
    where n_shape / n_texture count decisions equal to the shape / texture class (a human's
    "na" or any other category counts for neither).
    accuracy = 16-class accuracy over ALL images given (decision == shape class).
    Also: n_shape, n_texture, n_conflict, n_images, shape_match = n_shape / n_conflict,
    texture_match = n_texture / n_conflict. Fractions, not %.
    """
    return _bias_counts(_cue_conflict_frame(image_names, decisions))


def shape_bias_per_category(image_names, decisions) -> pd.DataFrame:
    """``shape_bias`` per SHAPE category (model-vs-human groups by the image's ``category``
    column, which is its shape class). One row per category present, alphabetical."""
    t = _cue_conflict_frame(image_names, decisions)
    rows = [{"category": cat, **_bias_counts(g)} for cat, g in t.groupby("shape", sort=True)]
    return pd.DataFrame(rows)


def cue_conflict_correct(image_names, decisions) -> np.ndarray:
    """Per-trial correctness on cue-conflict stimuli, as model-vs-human scores it for its
    16-class accuracy and error consistency: correct_i = [decision_i == shape class of
    image_i], over ALL trials (the 80 shape == texture images included). Bool (N,)."""
    return _cue_conflict_frame(image_names, decisions)["is_shape"].to_numpy()
