"""``beyond-inet data check``: which datasets a profile reads, and the table of what is
found under a data root, what is missing and how to get it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..paths import resolve_data_root
from .model_vs_human import BENCHMARK
from .presence import Presence, dataset_presence
from .registry import DATASET_GROUPS, DATASETS
from .vtab import VTAB_TASKS, vtab_dataset_name


def datasets_for_profile(profile) -> list[str]:
    """The datasets a profile's report reads: the demo data, ImageNet val + ImageNet-X,
    the profile's robustness variants, ImageNet-R and ImageNet-O (calibration), the VTAB tasks among
    its transfer tasks (stand-in tasks such as 'digits' need no data), PUG-ImageNet and
    the datasets of model-vs-human's benchmark its humans page reads, with their
    observers' trials."""
    names = list(DATASET_GROUPS["demo"]) + list(DATASET_GROUPS["imagenet"])
    names += list(profile.settings("robustness").variants) + ["imagenet-r"] + list(DATASET_GROUPS["ood"])
    names += [vtab_dataset_name(t) for t in profile.settings("transfer").tasks if t in VTAB_TASKS]
    names += list(DATASET_GROUPS["synthetic"])
    wanted = set(profile.settings("humans").datasets)
    names += [n for d in BENCHMARK.values() if d.name in wanted for n in (d.name, d.humans)]
    names += list(getattr(profile, "datasets", None) or ())   # the profile's own (data/user.py)
    return list(dict.fromkeys(n for n in names if n in DATASETS))


CHECK_COLUMNS = ("name", "status", "found_count", "expected_count", "missing", "path",
                 "how_to_get", "license", "source")


def check_datasets(root, profile=None) -> pd.DataFrame:
    """One row per registered dataset (or per dataset the ``profile`` uses): status
    'found' | 'partial' | 'absent', counts, what is missing, where, and how to get it.
    ``root`` None: the profile's data root (or the default one)."""
    if root is None:
        root = profile.resolved_data_root() if profile is not None else resolve_data_root(None)
    names = datasets_for_profile(profile) if profile is not None else list(DATASETS)
    rows = []
    for name in names:
        info = DATASETS[name]
        if root is None:
            pres = Presence(0, info.expected_count, None, "no data root set")
        else:
            pres = dataset_presence(name, Path(root))
        rows.append({
            "name": name, "status": pres.status, "found_count": pres.found_count,
            "expected_count": pres.expected_count, "missing": pres.missing,
            "path": str(pres.path) if pres.path else "",
            "how_to_get": info.how_to_get.replace("DATA_ROOT", str(root) if root else "DATA_ROOT"),
            "license": info.license, "source": info.source,
        })
    return pd.DataFrame(rows, columns=list(CHECK_COLUMNS))


def format_check_table(df: pd.DataFrame) -> str:
    """The ``check_datasets`` table as plain text: one line per dataset, and under every
    dataset that is not complete, what is missing and how to get it."""
    def count(row) -> str:
        exp = row["expected_count"]
        exp = f"{int(exp):,}" if exp is not None and not pd.isna(exp) else "?"
        return f"{int(row['found_count']):,} / {exp}"

    counts = [count(r) for _, r in df.iterrows()]
    previous_how = None
    w_name = max([len("dataset")] + [len(n) for n in df["name"]])
    w_count = max([len("found / expected")] + [len(c) for c in counts])
    lines = [f"{'dataset':<{w_name}}  {'status':<7}  {'found / expected':>{w_count}}  path",
             f"{'-' * w_name}  {'-' * 7}  {'-' * w_count}  {'-' * 4}"]
    for (_, r), c in zip(df.iterrows(), counts):
        lines.append(f"{r['name']:<{w_name}}  {r['status']:<7}  {c:>{w_count}}  {r['path']}")
        if r["status"] != "found":
            pad = " " * (w_name + 2)
            if r["missing"]:
                lines.append(f"{pad}missing: {r['missing']}")
            same = r["how_to_get"] == previous_how
            lines.append(f"{pad}get it:  " + ("as above" if same else r["how_to_get"]))
            previous_how = r["how_to_get"]
    n_found = int((df["status"] == "found").sum())
    lines.append(f"{n_found} of {len(df)} datasets found")
    return "\n".join(lines)
