"""Published numbers from other harnesses, for "did this run reproduce them?" checks.

The top-1 rows of the published field (``references.field``: timm's results tables at
commit aa4b585 and OpenCLIP's zero-shot results table at commit 89fb801, shipped as
``assets/published_field.csv.gz``), each with its source URL and commit. Those harnesses
preprocess each model its own way (timm: the pretrained config's image size, crop_pct and
interpolation; open_clip: its pretrained config, some squashing the image to a square),
which may not be the View a run used: ``protocol_differences`` names what differs, so a gap
of a few points is read correctly.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from functools import lru_cache

from .field import KNOWN_MODELS, SOURCES, field_table, table_identity

BENCHMARKS = ("imagenet-val", "imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch",
              "imagenet-real", "objectnet")
_ALIASES = {"imagenet": "imagenet-val", "imagenet-1k": "imagenet-val", "val": "imagenet-val",
            "imagenetv2-matched-frequency": "imagenet-v2", "v2": "imagenet-v2",
            "sketch": "imagenet-sketch", "a": "imagenet-a", "r": "imagenet-r", "real": "imagenet-real"}
#: the package's benchmark -> timm's results file suffix
_TIMM_FILES = {"imagenet-val": "imagenet", "imagenet-v2": "imagenetv2-matched-frequency",
               "imagenet-a": "imagenet-a", "imagenet-r": "imagenet-r", "imagenet-sketch": "sketch",
               "imagenet-real": "imagenet-real"}
_OPENCLIP_NOTE = "preprocessing from open_clip's pretrained config (not in the table)"


@dataclass(frozen=True)
class PublishedRow:
    """One published top-1: ``value`` is a fraction; ``img_size`` / ``crop_pct`` /
    ``interpolation`` / ``resize_mode`` are the harness's preprocessing (timm's rule:
    Resize(floor(img_size / crop_pct)) -> CenterCrop(img_size); open_clip's 'squash':
    the image resized to img_size x img_size, aspect ratio not kept)."""

    source: str
    model: str
    pretrained: str
    benchmark: str
    value: float
    img_size: int
    crop_pct: float
    interpolation: str
    harness: str
    url: str
    commit: str
    note: str = ""
    resize_mode: str = "shortest"

    @property
    def resize(self) -> int:
        return math.floor(self.img_size / self.crop_pct)

    @property
    def name(self) -> str:
        return f"{self.model} {self.pretrained}".strip()

    def describe(self) -> str:
        geometry = (f"Resize({self.img_size}x{self.img_size}, squash)" if self.resize_mode == "squash"
                    else f"Resize({self.resize}, {self.interpolation}) -> CenterCrop({self.img_size})")
        return f"{self.name}, {self.benchmark}: {self.value:.2%} ({self.harness}; {geometry}; {self.url})"


@lru_cache(maxsize=1)
def _rows() -> tuple[PublishedRow, ...]:
    t = field_table()
    t = t[t["source"].isin(("timm", "open_clip")) & (t["metric"] == "top1") & t["benchmark"].isin(BENCHMARKS)]
    out = []
    for r in t.to_dict("records"):
        src = SOURCES[r["source"]]
        url = (src.url(f"results/results-{_TIMM_FILES[r['benchmark']]}.csv") if r["source"] == "timm"
               else src.url("docs/openclip_results.csv"))
        out.append(PublishedRow(source=r["source"], model=r["model"], pretrained=r["pretrained"],
                                benchmark=r["benchmark"], value=float(r["value"]), img_size=int(r["img_size"]),
                                crop_pct=float(r["crop_pct"]), interpolation=r["interpolation"],
                                harness=src.harness, url=url, commit=src.commit,
                                note=_OPENCLIP_NOTE if r["source"] == "open_clip" else "",
                                resize_mode=r["resize_mode"] or "shortest"))
    return tuple(out)


@lru_cache(maxsize=1)
def _by_identity() -> dict:
    """(source, benchmark) -> model name -> its rows: a lookup, not a scan of 9,000 rows."""
    out: dict = {}
    for r in _rows():
        out.setdefault((r.source, r.benchmark), {}).setdefault(r.model, []).append(r)
    return out


def benchmark_name(benchmark: str) -> str:
    """'ImageNet_A', 'a', 'imagenet' -> the package's names ('imagenet-a', 'imagenet-val')."""
    key = str(benchmark).strip().lower().replace("_", "-").replace(" ", "-")
    key = _ALIASES.get(key, key)
    if key not in BENCHMARKS:
        close = difflib.get_close_matches(key, BENCHMARKS, n=2)
        raise ValueError(f"no published numbers for benchmark {benchmark!r}; known: {', '.join(BENCHMARKS)}"
                         + (f" (did you mean {' or '.join(close)}?)" if close else ""))
    return key


def published(model, benchmark: str) -> list[PublishedRow]:
    """Published top-1 rows for ``model`` on ``benchmark`` ([] when none are shipped).

    ``model``: a model key (``convnext_sup``, ``vit_clip``, ``efficientnet_lite0``,
    ``timm:<name>[.<tag>]``, ``open_clip:<arch>:<tag>``) or a ModelSpec (its key, else its
    weights id). A timm name without a tag matches when the table holds exactly one tag of
    it. timm may list one model at several image sizes: one row each.
    """
    bench = benchmark_name(benchmark)
    ident = table_identity(model)
    if ident is None:
        return []
    source, name, tag = ident
    by_model = _by_identity().get((source, bench), {})
    if source == "open_clip":
        return [r for r in by_model.get(name, []) if r.pretrained == tag]
    exact = list(by_model.get(name, []))
    if exact or "." in name:
        return exact
    tagged = [m for m in by_model if m.split(".", 1)[0] == name]
    return list(by_model[tagged[0]]) if len(tagged) == 1 else []


def protocol_differences(row: PublishedRow, view) -> list[str]:
    """What differs between the harness's preprocessing and a run's ``View``: one sentence
    per difference (image size, crop fraction, resize size, squashing, interpolation); []
    when the geometry and interpolation match. ``view``: anything with ``resize``, ``crop`` and
    ``interpolation`` (a ``View``). Normalisation and the harness itself (zero-shot prompts,
    label handling) are not compared.
    """
    out = []
    crop = view.crop or view.resize
    if crop is not None and crop != row.img_size:
        out.append(f"image size: {row.source} evaluates at {row.img_size} px, this run at {crop} px")
    if row.resize_mode == "squash":
        out.append(f"resize: {row.source} squashes the whole image to {row.img_size}x{row.img_size} "
                   "(aspect ratio not kept, nothing cropped), this run "
                   + ("does not resize" if view.resize is None else
                      f"Resize({view.resize}) -> CenterCrop({crop})"))
    elif view.resize is None:
        out.append(f"resize: {row.source} resizes to {row.resize} px (crop fraction {row.crop_pct:.3f}), "
                   "this run does not resize")
    else:
        ours = (view.crop / view.resize) if view.crop else 1.0
        if not math.isclose(ours, row.crop_pct, abs_tol=5e-4):
            out.append(f"crop fraction: {row.source} crops {row.crop_pct:.3f} of the resized image, "
                       f"this run {ours:.3f}")
        if view.resize != row.resize:
            out.append(f"resize: {row.source} Resize({row.resize}) -> CenterCrop({row.img_size}), "
                       f"this run Resize({view.resize}) -> CenterCrop({crop})")
    if view.interpolation != row.interpolation:
        out.append(f"interpolation: {row.source} {row.interpolation}, this run {view.interpolation}")
    return out
