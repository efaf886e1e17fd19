"""Regenerate ``beyond_inet_lib/assets/published_results.csv``: the few published numbers
the report sets beside a run (``beyond_inet_lib.references.published``).

Inputs (not in this repository; download them into one folder first):

- OpenCLIP's zero-shot results table, ``docs/openclip_results.csv`` at commit 89fb801:
  https://github.com/mlfoundations/open_clip/blob/89fb801/docs/openclip_results.csv
- timm's results tables, ``results/results-<benchmark>.csv`` at commit aa4b585, for
  imagenet, imagenetv2-matched-frequency, imagenet-a, imagenet-r, sketch, imagenet-real:
  https://github.com/huggingface/pytorch-image-models/tree/aa4b585/results
  (saved as ``results-<benchmark>.csv`` or ``timm-results-<benchmark>.csv``)

Usage: ``python docs/make_published_results.py FOLDER [--out PATH]``. The preprocessing of
the OpenCLIP rows (not recorded in its table) is read from open_clip's pretrained config,
so run this with the pinned open_clip installed. Only the rows listed below are kept:
exactly the facts the package uses.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

OPENCLIP_COMMIT = "89fb801"
OPENCLIP_URL = f"https://github.com/mlfoundations/open_clip/blob/{OPENCLIP_COMMIT}/docs/openclip_results.csv"
TIMM_COMMIT = "aa4b585"
TIMM_URL = f"https://github.com/huggingface/pytorch-image-models/blob/{TIMM_COMMIT}/results/results-{{}}.csv"

OPENCLIP_MODELS = (("ViT-B-16", "laion400m_e31"), ("convnext_base", "laion400m_s13b_b51k"),
                   ("ViT-B-32", "laion400m_e32"))
# the table's column -> the package's benchmark name
OPENCLIP_COLUMNS = {"ImageNet 1k": "imagenet-val", "ImageNet v2": "imagenet-v2",
                    "ImageNet-A": "imagenet-a", "ImageNet-R": "imagenet-r",
                    "ImageNet Sketch": "imagenet-sketch", "ObjectNet": "objectnet"}

TIMM_MODELS = ("deit3_base_patch16_224.fb_in22k_ft_in1k", "convnext_base.fb_in22k_ft_in1k",
               "convnext_tiny.fb_in22k_ft_in1k", "deit3_small_patch16_224.fb_in22k_ft_in1k",
               "tf_efficientnet_lite0.in1k", "tf_efficientnet_lite1.in1k", "tf_efficientnet_lite2.in1k")
# timm's file suffix -> the package's benchmark name
TIMM_FILES = {"imagenet": "imagenet-val", "imagenetv2-matched-frequency": "imagenet-v2",
              "imagenet-a": "imagenet-a", "imagenet-r": "imagenet-r", "sketch": "imagenet-sketch",
              "imagenet-real": "imagenet-real"}

COLUMNS = ("source", "model", "pretrained", "benchmark", "top1", "img_size", "crop_pct",
           "interpolation", "harness", "url", "commit", "note")


def _openclip_rows(folder: Path) -> list[dict]:
    import open_clip

    with open(folder / "openclip_results.csv", newline="") as f:
        table = {(r["name"], r["pretrained"]): r for r in csv.DictReader(f)}
    rows = []
    for arch, tag in OPENCLIP_MODELS:
        r = table[(arch, tag)]
        cfg = open_clip.get_pretrained_cfg(arch, tag)
        size = open_clip.get_model_config(arch)["vision_cfg"]["image_size"]
        if cfg.get("resize_mode", "shortest") != "shortest":
            raise SystemExit(f"{arch} {tag}: resize_mode {cfg['resize_mode']}: crop_pct is not 1.0")
        for column, bench in OPENCLIP_COLUMNS.items():
            rows.append({"source": "open_clip", "model": arch, "pretrained": tag, "benchmark": bench,
                         "top1": r[column], "img_size": size, "crop_pct": "1.0",
                         "interpolation": cfg.get("interpolation", "bicubic"),
                         "harness": "CLIP_benchmark zero-shot (OpenCLIP results table)",
                         "url": OPENCLIP_URL, "commit": OPENCLIP_COMMIT,
                         "note": "preprocessing from open_clip's pretrained config (not in the table)"})
    return rows


def _timm_rows(folder: Path) -> list[dict]:
    rows = []
    for suffix, bench in TIMM_FILES.items():
        path = next(p for p in (folder / f"results-{suffix}.csv", folder / f"timm-results-{suffix}.csv")
                    if p.is_file())
        with open(path, newline="") as f:
            table = list(csv.DictReader(f))
        for name in TIMM_MODELS:
            found = [r for r in table if r["model"] == name]
            if not found:
                raise SystemExit(f"{path.name}: no row for {name}")
            for r in found:  # one per evaluated image size
                rows.append({"source": "timm", "model": name, "pretrained": "", "benchmark": bench,
                             "top1": _pct_to_fraction(r["top1"]), "img_size": r["img_size"], "crop_pct": r["crop_pct"],
                             "interpolation": r["interpolation"],
                             "harness": "timm validate.py (the model's pretrained config)",
                             "url": TIMM_URL.format(suffix), "commit": TIMM_COMMIT, "note": ""})
    return rows


def _pct_to_fraction(text: str) -> str:
    """'57.147' -> '0.57147' by moving the decimal point (no binary rounding)."""
    whole, _, frac = text.strip().partition(".")
    digits = whole.zfill(3) + frac
    return (digits[:-len(frac) - 2].lstrip("0") or "0") + "." + digits[-len(frac) - 2:]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder with openclip_results.csv and timm's results-*.csv")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent
                        / "beyond_inet_lib" / "assets" / "published_results.csv")
    args = parser.parse_args(argv)
    rows = _openclip_rows(args.folder) + _timm_rows(args.folder)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} rows -> {args.out}")


if __name__ == "__main__":
    main()
