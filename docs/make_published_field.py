"""Regenerate ``beyond_inet_lib/assets/published_field.csv.gz``: the published field, the
numbers other harnesses measured for hundreds of models, that the report places a run in
(``beyond_inet_lib.references.field``; ``references.published`` reads its timm and
OpenCLIP rows).

Inputs (not in this repository; download them into one folder first):

- QUBA's table (Hesse et al., "Beyond Accuracy: What Matters in Designing Well-Behaved
  Models?", TMLR 2026): the ``sampleData`` of the project page ``index.html`` of
  https://github.com/visinf/beyond-accuracy at commit f330d7c, saved as ``quba-field.csv``
  with the columns Model, Architecture, Dataset, Setup, Accuracy, Adversarial Robustness,
  Corruption Robustness, OOD Robustness, Calibration Error, Class Balance, Object Focus,
  Shape Bias, Parameters, Title (326 rows).
- timm's results tables, ``results/results-<benchmark>.csv`` at commit aa4b585, for
  imagenet, imagenetv2-matched-frequency, imagenet-a, imagenet-r, sketch, imagenet-real:
  https://github.com/huggingface/pytorch-image-models/tree/aa4b585/results
  (saved as ``results-<benchmark>.csv`` or ``timm-results-<benchmark>.csv``).
- OpenCLIP's zero-shot results table, ``docs/openclip_results.csv`` at commit 89fb801:
  https://github.com/mlfoundations/open_clip/blob/89fb801/docs/openclip_results.csv

Usage: ``python docs/make_published_field.py FOLDER [--out PATH]``. The preprocessing of
the OpenCLIP rows (not recorded in its table) is read from open_clip's pretrained configs,
so run this with the pinned open_clip installed.

One long table, one row per (source row, metric): source, commit, licence, row (the data
row's number in its source file, from 1), the model's identity (model, pretrained: an
OpenCLIP tag; training, setup, family, title: QUBA's Dataset, Setup, Architecture and
Title columns), metric, benchmark, value (a fraction: timm's percentages are divided by
100 by moving the decimal point, never through binary floats), and the harness's protocol
(img_size, crop_pct, interpolation, resize_mode; empty where the source does not record
it). Written gzipped with a zero timestamp, so the same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import re
from pathlib import Path

COLUMNS = ("source", "commit", "licence", "row", "model", "pretrained", "training", "setup", "family",
           "title", "metric", "benchmark", "value", "img_size", "crop_pct", "interpolation", "resize_mode")

QUBA = {"source": "quba", "commit": "f330d7c", "licence": "Apache-2.0"}
TIMM = {"source": "timm", "commit": "aa4b585", "licence": "Apache-2.0"}
OPENCLIP = {"source": "open_clip", "commit": "89fb801", "licence": "MIT"}

# QUBA's column -> (metric, benchmark): its own definitions (helper/benchmarks.py)
QUBA_COLUMNS = {
    "Accuracy": ("top1", "imagenet-val"),
    "Adversarial Robustness": ("adversarial_robustness", "imagenet-val"),
    "Corruption Robustness": ("corruption_robustness", "imagenet-c"),
    "OOD Robustness": ("ood_robustness", ""),
    "Calibration Error": ("calibration_error", "imagenet-val"),
    "Class Balance": ("class_balance", "imagenet-val"),
    "Object Focus": ("object_focus", "backgrounds-challenge"),
    "Shape Bias": ("shape_bias", "cue-conflict"),
    "Parameters": ("parameters_m", ""),
}

# timm's file suffix -> the package's benchmark name
TIMM_FILES = {"imagenet": "imagenet-val", "imagenetv2-matched-frequency": "imagenet-v2",
              "imagenet-a": "imagenet-a", "imagenet-r": "imagenet-r", "sketch": "imagenet-sketch",
              "imagenet-real": "imagenet-real"}

# OpenCLIP's ImageNet-family columns: zero-shot top-1, under the package's benchmark names;
# every other task column keeps its name (slugged) and is the table's own score for it
OPENCLIP_TOP1 = {"ImageNet 1k": "imagenet-val", "ImageNet v2": "imagenet-v2", "ImageNet-A": "imagenet-a",
                 "ImageNet-O": "imagenet-o", "ImageNet-R": "imagenet-r", "ImageNet Sketch": "imagenet-sketch",
                 "ObjectNet": "objectnet"}
OPENCLIP_NOT_TASKS = ("name", "pretrained", "params (M)", "FLOPs (B)")
OPENCLIP_AVERAGE = "Average perf. on 38 datasets"


def slug(text: str) -> str:
    """'Oxford-IIIT Pet' -> 'oxford-iiit-pet'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def pct_to_fraction(text: str) -> str:
    """'57.147' -> '0.57147' by moving the decimal point (no binary rounding)."""
    whole, _, frac = text.strip().partition(".")
    digits = whole.zfill(3) + frac
    return (digits[:-len(frac) - 2].lstrip("0") or "0") + "." + digits[-len(frac) - 2:]


def _read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def quba_rows(folder: Path) -> list[dict]:
    table = _read(folder / "quba-field.csv")
    if len(table) != 326:
        raise SystemExit(f"quba-field.csv: {len(table)} rows, expected QUBA's 326")
    rows = []
    for i, r in enumerate(table, 1):
        ident = {"model": r["Model"], "training": r["Dataset"], "setup": r["Setup"],
                 "family": r["Architecture"], "title": r["Title"]}
        for column, (metric, bench) in QUBA_COLUMNS.items():
            rows.append({**QUBA, "row": i, **ident, "metric": metric, "benchmark": bench,
                         "value": r[column].strip()})
    return rows


def timm_rows(folder: Path) -> list[dict]:
    rows = []
    for suffix, bench in TIMM_FILES.items():
        path = next((p for p in (folder / f"results-{suffix}.csv", folder / f"timm-results-{suffix}.csv")
                     if p.is_file()), None)
        if path is None:
            raise SystemExit(f"{folder}: no results-{suffix}.csv (or timm-results-{suffix}.csv)")
        for i, r in enumerate(_read(path), 1):
            rows.append({**TIMM, "row": i, "model": r["model"], "metric": "top1", "benchmark": bench,
                         "value": pct_to_fraction(r["top1"]), "img_size": r["img_size"],
                         "crop_pct": r["crop_pct"], "interpolation": r["interpolation"],
                         "resize_mode": "shortest"})
    return rows


def openclip_rows(folder: Path) -> list[dict]:
    import open_clip

    table = _read(folder / "openclip_results.csv")
    tasks = [c for c in table[0] if c not in OPENCLIP_NOT_TASKS]
    rows = []
    for i, r in enumerate(table, 1):
        arch, tag = r["name"], r["pretrained"]
        cfg = open_clip.get_pretrained_cfg(arch, tag)
        if not cfg:
            raise SystemExit(f"open_clip has no pretrained config for {arch} {tag}: install the pinned open_clip")
        size = open_clip.get_model_config(arch)["vision_cfg"]["image_size"]
        size = size if isinstance(size, int) else size[0]
        protocol = {"img_size": size, "crop_pct": "1.0", "interpolation": cfg.get("interpolation", "bicubic"),
                    "resize_mode": cfg.get("resize_mode", "shortest")}
        for column in tasks:
            if column == OPENCLIP_AVERAGE:
                metric, bench = "score", "average-38"
            elif column in OPENCLIP_TOP1:
                metric, bench = "top1", OPENCLIP_TOP1[column]
            else:
                metric, bench = "score", slug(column)
            rows.append({**OPENCLIP, "row": i, "model": arch, "pretrained": tag, "metric": metric,
                         "benchmark": bench, "value": r[column].strip(), **protocol})
    return rows


def write(rows: list[dict], out: Path) -> int:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    data = gzip.compress(text.getvalue().encode("utf-8"), compresslevel=9, mtime=0)
    out.write_bytes(data)
    return len(data)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder with quba-field.csv, timm's results-*.csv "
                        "and openclip_results.csv")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent
                        / "beyond_inet_lib" / "assets" / "published_field.csv.gz")
    args = parser.parse_args(argv)
    rows = quba_rows(args.folder) + timm_rows(args.folder) + openclip_rows(args.folder)
    size = write(rows, args.out)
    print(f"{len(rows)} rows, {size / 1e3:.0f} kB -> {args.out}")


if __name__ == "__main__":
    main()
