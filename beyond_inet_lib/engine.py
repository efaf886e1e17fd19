"""Batched inference with an on-disk result cache: the only place that touches a GPU.

``predict(models, dataset, views)`` returns, for every (model, view), per-image outputs
(logits, pooled features, layer taps) in dataset order. It is built around three rules:

1. Each image is decoded once per pass and fed to every model and every view that still
   needs it (decoding, not the model, is the bottleneck on a GPU).
2. Results are cached on disk in chunks, keyed by (model key + weights id, dataset name +
   file-list fingerprint, view, outputs). Each chunk file is written atomically (temp file,
   fsync, rename), so an interrupted pass resumes where it stopped and two runs writing
   the same cache never leave a half-written file. Nothing computed is computed again.
3. Unreadable images are skipped and listed, never fatal; odd image modes are converted.

Three decode paths (``decode=``), same rows, same skipped files, numbers within a hair:

- ``"pil"``: DataLoader workers decode with PIL and apply each View's torchvision PIL
  transform (the CPU reference path).
- ``"hybrid"``: workers decode to uint8 (libjpeg-turbo through ``decode_jpeg`` for plain
  JPEGs, PIL for anything else) and the main process applies every View on the device
  with tensor ops (resize of the shorter side with antialias, centre or shifted crop with
  black fill, normalise), images of one size together. Decoding runs on the CPU cores in
  parallel with the GPU's model work; the GPU does the resizes the invariance sweeps need.
- ``"tensor"``: workers only read file bytes; the main process decodes the whole batch
  with ``torchvision.io.decode_jpeg(..., device=device)`` (batched nvJPEG on CUDA,
  libjpeg-turbo on CPU), then applies the Views as in ``"hybrid"``. Frees the CPU cores,
  but on CUDA the decode waits for the stream to drain (pytorch/vision#9606), so it does
  not overlap the models. Non-JPEG, CMYK, 12-bit, arithmetic-coded or suspicious
  (truncated) files go to PIL (``images.load_rgb``) in the worker, so skip reasons are the
  PIL path's.
- ``"auto"``: ``"hybrid"`` on CUDA, ``"pil"`` on CPU.

The decode mode is part of the result-cache key (the paths differ slightly: on CPU the
decoders are the same libjpeg-turbo and the mean |difference| after normalisation is
~1e-3, from the resize; nvJPEG's IDCT/chroma upsampling and the float-then-round resize
used on CUDA add a little more). ``"pil"`` keeps the key it always had, so existing
caches stay valid.

On CUDA the pass keeps one batch in flight: the next batch is decoded and its forward
passes queued while the previous batch's outputs travel to pinned host memory, and
chunk files are written by a background thread, so neither the host copies nor the
disk stall the GPU. With several workers each model batch is prepared in shares, one per
worker, packed into one tensor each (``_pack``), so the first batch is ready quickly and
every worker decodes for every batch. With ``compile=True`` a short last batch is padded
to the batch size (outputs of the padding dropped) so the compiled graph never sees a new
shape.

Cache layout::

    <cache>/results/<dataset>-<fingerprint>/<model>-<weights>/<view>-<outputs>/
        unit.json                       what this folder holds (for humans)
        chunk-00000.npz ...             rows, skipped rows + reasons, and the outputs
"""

from __future__ import annotations

import collections
import contextlib
import json
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from .data import DatasetIndex
from .errors import EngineError
from .files import atomic_write_bytes, short_hash
from .files import slug as _slug
from .paths import progress_enabled
from .run_settings import DECODE_MODES, RunSettings
from .images import UnreadableImage, load_rgb
from .views import View, crop_box

OUTPUT_KINDS = ("logits", "features", "layers")
JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe")
DEFAULT_CHUNK = {"cpu": 256, "cuda": 4096}
MIN_WORKER_BATCH = 8  # rows a DataLoader worker prepares at once, at least

#: forward calls per model key (tests use it to prove a cached pass is not recomputed)
FORWARD_CALLS: collections.Counter = collections.Counter()
#: where the host's time went in the last pass that computed anything (``_Stages``)
LAST_PASS_STAGES: dict = {}


class _Stages:
    """Host seconds per stage of a pass. On a GPU the work is asynchronous, so where the
    host WAITS says what limits the pass: ``loader_wait`` (workers not decoding fast
    enough), ``collect_wait`` (the GPU: the good case), ``writer_wait`` (the disk)."""

    NAMES = ("loader_wait", "decode", "preprocess", "load_models", "queue_forward", "collect_wait",
             "writer_wait", "loader_shutdown")

    def __init__(self):
        self.seconds = dict.fromkeys(self.NAMES, 0.0)
        self.t0 = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, name: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t

    def summary(self, images: int) -> dict:
        out = {f"{k}_s": round(v, 3) for k, v in self.seconds.items()}
        out.update(wall_s=round(time.perf_counter() - self.t0, 3), images=images)
        return out


# =========================================================================== results
@dataclass
class Result:
    """Outputs of one model under one view on one dataset, in dataset order.

    ``table``: the dataset rows that were scored (unreadable images removed);
    ``logits``: (N, C) float32 or None; ``features``: (N, D) or None; ``layers``: dict
    layer name -> (N, D) pooled taps; ``skipped``: DataFrame (path, reason)."""

    model: str
    view_name: str
    view: View
    dataset: str
    table: pd.DataFrame
    logits: np.ndarray | None = None
    features: np.ndarray | None = None
    layers: dict = field(default_factory=dict)
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["path", "reason"]))

    def __len__(self):
        return len(self.table)

    def probs(self, class_mask=None) -> np.ndarray:
        """Softmax over all columns, or over ``class_mask`` columns only."""
        z = self.logits if class_mask is None else self.logits[:, np.asarray(class_mask)]
        z = z.astype(np.float64)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def pred(self, class_mask=None) -> np.ndarray:
        """Top-1 ImageNet index (argmax over ``class_mask`` columns when given)."""
        if class_mask is None:
            return self.logits.argmax(axis=1)
        mask = np.asarray(class_mask)
        return mask[self.logits[:, mask].argmax(axis=1)]


class Results(dict):
    """``{(model_key, view_name): Result}`` with a few conveniences."""

    def for_model(self, model_key: str) -> dict[str, Result]:
        return {v: r for (m, v), r in self.items() if m == model_key}

    def only(self, model_key: str) -> Result:
        rs = self.for_model(model_key)
        if len(rs) != 1:
            raise KeyError(f"{model_key}: {len(rs)} views ({list(rs)}); index by (model, view)")
        return next(iter(rs.values()))

    @property
    def skipped(self) -> pd.DataFrame:
        frames = [r.skipped for r in self.values() if len(r.skipped)]
        if not frames:
            return pd.DataFrame(columns=["path", "reason"])
        return pd.concat(frames).drop_duplicates("path").reset_index(drop=True)


# ============================================================================ units
@dataclass
class _Unit:
    spec: object            # models.ModelSpec
    view_name: str
    view: View
    outputs: tuple
    layers: tuple | None
    dir: Path
    chunk_size: int
    decode: str = "pil"
    precision: str = "fp32"
    device: str = "cpu"

    @property
    def model_key(self):
        return self.spec.key

    def chunk_path(self, i: int) -> Path:
        return self.dir / f"chunk-{i:05d}.npz"


_sha = short_hash


def _unit_dir(cache: Path, dataset: DatasetIndex, fingerprint: str, spec, view: View,
              outputs: tuple, layers, chunk_size: int, extra_key: str) -> Path:
    out_key = _sha(json.dumps([sorted(outputs), list(layers) if layers else None, chunk_size, extra_key]), 8)
    return (cache / "results" / f"{_slug(dataset.name)}-{fingerprint}"
            / f"{_slug(spec.key)}-{_sha(str(spec.weights_id), 8)}" / f"{view.key()}-{out_key}")


def _resolve_views(spec, views, preprocessing: str) -> dict[str, View]:
    if views is None:
        return {"default": spec.view(preprocessing)}
    if callable(views) and not isinstance(views, Mapping):
        v = views(spec)
        return dict(v)
    if isinstance(views, View):
        return {"default": views}
    return dict(views)


def _save_chunk(path: Path, arrays: dict) -> None:
    atomic_write_bytes(path, lambda f: np.savez(f, **arrays))


def _load_chunk(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        return None
    except Exception:  # a foreign/corrupt file: recompute that chunk rather than trust it
        return None


# ============================================================================ decode
class _DecodeSet:
    """torch Dataset: row -> {view key: tensor} from ONE decode of the file."""

    def __init__(self, paths: list[str], views: dict[str, View]):
        self.paths = paths
        self.views = views
        self._tf = None

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        if self._tf is None:  # built lazily, once per worker
            self._tf = {k: v.transform() for k, v in self.views.items()}
        try:
            img = load_rgb(self.paths[i])
        except UnreadableImage as e:
            return i, None, str(e)
        try:
            return i, {k: tf(img) for k, tf in self._tf.items()}, ""
        except Exception as e:  # a transform failing on a pathological image
            return i, None, f"cannot preprocess: {e}"


def _collate(items):
    import torch

    ok = [(i, t) for i, t, _ in items if t is not None]
    bad = [(i, r) for i, t, r in items if t is None]
    idx = [i for i, _ in ok]
    tensors = {}
    if ok:
        for k in ok[0][1]:
            tensors[k] = torch.stack([t[k] for _, t in ok])
    return idx, tensors, bad


# ---------------------------------------------------------------- decode: tensor path
#: JPEG start-of-frame markers whose images decode_jpeg handles like PIL: baseline,
#: extended and progressive Huffman. Lossless / arithmetic-coded frames go to PIL.
_SOF_OK = {0xC0, 0xC1, 0xC2}
_SOF_ANY = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _read_bytes(path: str) -> np.ndarray:
    """The file's bytes as a uint8 array (what the tensor path's workers do, and all)."""
    return np.fromfile(path, dtype=np.uint8)


def _jpeg_frame(data) -> tuple[int, int, int, int] | None:
    """(marker, precision, height, components) of the first start-of-frame segment of a
    JPEG byte string, or None when ``data`` is not a JPEG or the header is malformed.

    JPEG layout: FFD8, then segments ``FF m Lhi Llo <L-2 bytes>``; a SOF segment's body is
    ``P(1) Y(2) X(2) Nf(1) ...``; the scan (FFDA) follows the frame header."""
    b = bytes(data[:65536]) if not isinstance(data, (bytes, bytearray)) else data[:65536]
    if len(b) < 4 or b[0] != 0xFF or b[1] != 0xD8:
        return None
    p = 2
    while p + 4 <= len(b):
        if b[p] != 0xFF:
            return None
        m = b[p + 1]
        if m == 0xFF:  # fill byte
            p += 1
            continue
        if 0xD0 <= m <= 0xD7 or m == 0x01:  # standalone markers
            p += 2
            continue
        length = (b[p + 2] << 8) | b[p + 3]
        if m in _SOF_ANY:
            if p + 10 > len(b):
                return None
            return m, b[p + 4], (b[p + 5] << 8) | b[p + 6], b[p + 9]
        if m == 0xDA or length < 2:  # scan before frame, or a broken length
            return None
        p += 2 + length
    return None


def is_plain_jpeg(data) -> bool:
    """True when ``data`` (bytes or uint8 array) is a JPEG that ``decode_jpeg`` turns into
    the same RGB pixels as PIL: Huffman-coded, 8-bit, gray or YCbCr (1 or 3 components),
    explicit height, and ending with the end-of-image marker FFD9 (a truncated file does
    not, and goes to PIL, which reports it). CMYK/YCCK (4 components) go to PIL."""
    n = len(data)
    if n < 4:
        return False
    tail = bytes(data[max(0, n - 64):]).rstrip(b"\x00\r\n ")  # some writers pad after EOI
    if not tail.endswith(b"\xff\xd9"):
        return False
    frame = _jpeg_frame(data)
    if frame is None:
        return False
    marker, precision, height, comps = frame
    return marker in _SOF_OK and precision == 8 and height > 0 and comps in (1, 3)


class _ByteSet:
    """torch Dataset for the tensor and hybrid paths: row -> (row, kind, payload).

    kind "jpeg": payload = the file's bytes (uint8 tensor), decoded later in the main
    process (tensor path); kind "rgb": a uint8 (3, H, W) tensor decoded here, by
    ``decode_jpeg`` on the CPU for a plain JPEG when ``decode_here`` (hybrid path), else
    by PIL (a file decode_jpeg should not see); kind "bad": payload = why it is unreadable."""

    def __init__(self, paths: list[str], decode_here: bool = False):
        self.paths = paths
        self.decode_here = decode_here

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        import torch

        path = self.paths[i]
        with contextlib.suppress(OSError):
            data = _read_bytes(path)
            if is_plain_jpeg(data):
                if not self.decode_here:
                    return i, "jpeg", torch.from_numpy(data)
                with contextlib.suppress(Exception):  # a decode_jpeg failure: PIL decides
                    return i, "rgb", _decode_jpegs([torch.from_numpy(data)], "cpu")[0]
        try:  # not a plain JPEG, or unreadable: PIL decides, with the PIL path's reasons
            img = load_rgb(path)
        except UnreadableImage as e:
            return i, "bad", str(e)
        return i, "rgb", _pil_to_chw(img)


def _pil_to_chw(img):
    import torch

    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def _pack(tensors: list):
    """Tensors of any shapes -> (one flat uint8 tensor, their shapes). A batch crosses from
    a worker as ONE shared-memory block (not hundreds, each an open file descriptor: with
    16 workers and batches in flight that runs into the open-file limit) and reaches the
    GPU in one copy."""
    import torch

    shapes = [tuple(t.shape) for t in tensors]
    flat = torch.cat([t.reshape(-1) for t in tensors]) if tensors else torch.zeros(0, dtype=torch.uint8)
    return flat, shapes


def _unpack(flat, shapes: list) -> list:
    """Inverse of ``_pack``: views into ``flat`` (on whatever device it now is)."""
    import math

    sizes = [math.prod(s) for s in shapes]
    return [part.view(shape) for part, shape in zip(flat.split(sizes), shapes)] if shapes else []


def _collate_bytes(items):
    """Batch of the tensor/hybrid paths: JPEG bytes and decoded images, each packed into
    one flat tensor (``_pack``; the loader pins it), plus rows and unreadable files."""
    jpeg, jpeg_shapes = _pack([t for _, k, t in items if k == "jpeg"])
    rgb, rgb_shapes = _pack([t for _, k, t in items if k == "rgb"])
    return {"jpeg_rows": [i for i, k, _ in items if k == "jpeg"], "jpeg": jpeg, "jpeg_shapes": jpeg_shapes,
            "rgb_rows": [i for i, k, _ in items if k == "rgb"], "rgb": rgb, "rgb_shapes": rgb_shapes,
            "bad": [(i, r) for i, k, r in items if k == "bad"]}


def _decode_jpegs(datas: list, device: str) -> list:
    """Batched ``decode_jpeg`` to RGB uint8 (3, H, W) tensors on ``device``; raises on a
    bad image (the caller retries one by one)."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    if str(device).startswith("cuda"):
        # The CUDA decoder allocates its outputs on our stream but writes them from its own
        # stream (and nvJPEG's hardware engine ignores streams) without waiting for ours: a
        # block freed here while kernels queued on our stream still read it could be
        # overwritten (pytorch/vision#9606). Drain our stream first. That wait is why this
        # path cannot overlap decoding with the previous batch's models (hence 'hybrid').
        torch.cuda.current_stream(torch.device(device)).synchronize()
    with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders for torchcodec
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_jpeg(datas, mode=ImageReadMode.RGB, device=device)


def _decode_batch(parts: list[dict], paths: list[str], device: str):
    """The tensor paths' decode of one batch (the packed parts from ``_collate_bytes`` of
    the workers that shared it) -> (rows, images on device, bad), rows ascending. JPEGs are
    decoded together; if that fails (one corrupt file, OOM) each is decoded alone, and one
    that still fails goes to PIL (``load_rgb``)."""
    datas, rows, bad = [], [], []
    for part in parts:
        datas += _unpack(part["jpeg"], part["jpeg_shapes"])
        rows += part["jpeg_rows"]
        bad += part["bad"]
    images: dict[int, object] = {}
    if datas:
        try:
            images.update(zip(rows, _decode_jpegs(datas, device)))
        except Exception as e:
            if _is_oom(e):
                _empty_cache(device)
            for r, d in zip(rows, datas):
                try:
                    images[r] = _decode_jpegs([d], device)[0]
                except Exception:
                    try:
                        images[r] = _pil_to_chw(load_rgb(paths[r])).to(device)
                    except UnreadableImage as u:
                        bad.append((r, str(u)))
    for part in parts:
        if part["rgb_rows"]:  # one host-to-device copy per part, then views into it
            rgb = _unpack(part["rgb"].to(device, non_blocking=True), part["rgb_shapes"])
            images.update(zip(part["rgb_rows"], rgb))
    rows_ok = sorted(images)
    return rows_ok, [images[r] for r in rows_ok], sorted(bad)


def _empty_cache(device: str):
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def _resize_uint8(img, size: int, interpolation: str, antialias: bool, via_float: bool = False):
    """Shorter side -> ``size`` (torchvision ``Resize(int)`` geometry) on a uint8 (3, H, W)
    tensor; output uint8, rounded like PIL's. ``via_float``: interpolate in float32, then
    clamp and round (what torchvision does on CUDA, where uint8 kernels do not exist)."""
    from torchvision.transforms.v2 import functional as F

    mode = F.InterpolationMode(interpolation)
    if not via_float:
        return F.resize(img, [size], interpolation=mode, antialias=antialias)
    out = F.resize(img.float(), [size], interpolation=mode, antialias=antialias)
    return out.clamp_(0, 255).round_().to(img.dtype) if out.dtype != img.dtype else out


def _crop_view(img, view: View, h0: int, w0: int):
    """Crop of resized (..., 3, h, w) images as the PIL path does: ``CenterCrop`` (zero padding
    when the crop is larger) or, with a shift, the window of ``views.crop_box`` moved by
    ``shift`` original pixels; anything outside the image is black (0)."""
    from torchvision.transforms.v2 import functional as F

    if not view.crop:
        return img
    if not view.shift:
        return F.center_crop(img, [view.crop, view.crop])
    h, w = img.shape[-2:]
    top, left = crop_box(h, w, view.crop, view.shift, scale=min(w, h) / min(w0, h0))
    return F.crop(img, top, left, view.crop, view.crop)


def preprocess_tensors(images: list, views: Mapping[str, View], via_float: bool | None = None) -> dict:
    """uint8 (3, H, W) images (any sizes, one device) -> {view key: (N, 3, h, w) float32},
    normalised, on that device, in input order: the tensor paths' ``View.transform()``.

    Images of one size are stacked and resized together (one kernel per size group rather
    than per image: ImageNet is mostly 500x375 and 375x500), once per distinct (resize,
    interpolation, antialias), then cropped per view; the float conversion and
    normalisation run once per view. ``via_float`` defaults to True on CUDA."""
    import torch

    if not images:
        return {}
    if via_float is None:
        via_float = images[0].device.type == "cuda"
    groups: dict[tuple, list[int]] = collections.defaultdict(list)
    for i, img in enumerate(images):
        groups[tuple(img.shape)].append(i)
    crops: dict[str, list] = {k: [] for k in views}
    order: list[int] = []
    for shape, idx in groups.items():
        h0, w0 = shape[-2:]
        batch = images[idx[0]][None] if len(idx) == 1 else torch.stack([images[i] for i in idx])
        resized: dict = {}
        for k, v in views.items():
            rk = (v.resize, v.interpolation, v.antialias)
            if rk not in resized:
                resized[rk] = (_resize_uint8(batch, v.resize, v.interpolation, v.antialias, via_float)
                               if v.resize else batch)
            crops[k].append(_crop_view(resized[rk], v, h0, w0))
        order.extend(idx)
    device = images[0].device
    inverse = None
    if order != list(range(len(images))):
        # argsort of a permutation is its inverse; non_blocking: a blocking host-to-device
        # copy would wait for the models' queued work
        inverse = torch.tensor(order).argsort().to(device, non_blocking=True)
    out = {}
    for k, v in views.items():
        x = _cat(crops[k])
        if inverse is not None:
            x = x.index_select(0, inverse)
        x = x.float().div_(255.0)
        out[k] = x.sub_(_channel_constant(v.mean, device)).div_(_channel_constant(v.std, device))
    return out


_CONSTANTS: dict = {}


def _channel_constant(values, device):
    """(1, 3, 1, 1) float32 tensor of ``values`` on ``device``, made once per device (a fresh
    host-to-device copy per batch would stall on the GPU's queued work)."""
    import torch

    key = (tuple(values), str(device))
    if key not in _CONSTANTS:
        _CONSTANTS[key] = torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1).to(device)
    return _CONSTANTS[key]


def resolve_decode(decode: str, device: str, paths: Iterable = ()) -> str:
    """'pil', 'tensor' or 'hybrid' for ``decode`` in DECODE_MODES: 'auto' is 'hybrid' on CUDA
    (decoding on the CPU workers overlaps the models; any file type), else 'pil'."""
    if decode not in DECODE_MODES:
        raise ValueError(f"decode={decode!r}; expected one of {DECODE_MODES}")
    if decode != "auto":
        return decode
    return "hybrid" if str(device).startswith("cuda") else "pil"


# ===================================================================== model cache
_LOADED: "collections.OrderedDict[tuple, object]" = collections.OrderedDict()
_MAX_LOADED = 6


def _load_model(spec, device: str, clip_logit_scale: str, cache_dir: Path, compile: bool = False):
    """The loaded model, once per session per (model, weights, device, logit scale, compile).

    ``compile``: ``nn.Module.compile()`` in place, so ``model(x)`` runs the compiled graph
    while the model keeps its own attributes (spec, features, layer_modules); compilation
    itself happens lazily on the first forward. A compiled and an eager copy are separate
    cache entries (compiling in place must not change what an eager caller gets)."""
    key = (spec.key, str(spec.weights_id), device, clip_logit_scale, bool(compile))
    if key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    model = spec.load(device=device, clip_logit_scale=clip_logit_scale, cache_dir=cache_dir)
    model.eval()
    if compile:
        model.compile()
    _LOADED[key] = model
    while len(_LOADED) > _MAX_LOADED:
        _LOADED.popitem(last=False)
    return model


def clear_model_cache():
    _LOADED.clear()


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError(f"device={device!r} but no CUDA GPU is visible here; use device: cpu "
                          f"(or auto) in the profile")
    return device


# =========================================================================== forward
def _pool_generic(out):
    """Fallback reduction of a hooked output to (N, D) for modules that do not say their
    layout: conv maps averaged over space, token sequences -> (CLS, mean of the rest)."""
    import torch

    if isinstance(out, (tuple, list)):
        out = out[0]
    if out.dim() == 4:
        return out.mean(dim=(2, 3))
    if out.dim() == 3 and out.shape[1] > 1:
        return torch.cat([out[:, 0], out[:, 1:].mean(dim=1)], dim=1)
    return out.flatten(1)


def list_layers(spec, device: str | None = None, kinds=None, cache_dir=None,
                clip_logit_scale: str | None = None, *, settings: RunSettings | None = None) -> pd.DataFrame:
    """The layers a model offers for taps (name, kind), in forward order. Loads the model
    (once per session) but runs nothing. Device, cache dir and logit scale come from
    ``settings`` (default ``RunSettings()``) unless given."""
    s = (settings or RunSettings()).override(device=device, cache_dir=cache_dir,
                                             clip_logit_scale=clip_logit_scale)
    model = _load_model(_spec(spec), resolve_device(s.device), s.clip_logit_scale, s.cache_dir)
    mods = model.layer_modules(kinds) if kinds is not None else model.layer_modules()
    kind = getattr(mods, "kind", {})
    return pd.DataFrame({"name": list(mods), "kind": [kind.get(n, "layer") for n in mods]})


def _is_oom(e: BaseException) -> bool:
    import torch

    return isinstance(e, torch.cuda.OutOfMemoryError) or (
        isinstance(e, RuntimeError) and "out of memory" in str(e).lower())


class _HostCopy:
    """A batch's outputs on their way to the host: on CUDA a non-blocking copy into pinned
    memory and an event, so the caller can queue the next batch before waiting for it."""

    def __init__(self, tensors: dict):
        import torch

        self.event = None
        self.host = tensors
        if any(t.is_cuda for t in tensors.values()):
            self.host = {k: torch.empty(t.shape, dtype=t.dtype, pin_memory=True).copy_(t, non_blocking=True)
                         for k, t in tensors.items()}
            self.event = torch.cuda.Event()
            self.event.record()

    def result(self) -> dict[str, np.ndarray]:
        if self.event is not None:
            self.event.synchronize()
        return {k: v.numpy() for k, v in self.host.items()}


class _Runner:
    """Runs one model's requested outputs on a batch, halving the micro-batch on OOM.

    ``pad``: pad a short batch (or micro-batch) with zeros to the size the model has seen,
    and drop the padding's outputs, so a compiled model never recompiles for the last
    batch of a pass."""

    def __init__(self, model, device: str, precision: str, channels_last: bool, pad: bool = False):
        self.model, self.device = model, device
        self.precision, self.channels_last = precision, channels_last
        self.pad = pad
        self.micro = None  # micro-batch size after a back-off (None: whole batch)
        self.seen = None   # largest batch seen (the padding target)

    def _autocast(self):
        import torch

        if self.precision in ("bf16", "fp16") and self.device != "cpu":
            dt = torch.bfloat16 if self.precision == "bf16" else torch.float16
            return torch.autocast(device_type=self.device.split(":")[0], dtype=dt)
        return contextlib.nullcontext()

    def _once(self, x, outputs, layer_names):
        """Outputs of one forward, as float32 tensors on the device (no host sync)."""
        import torch

        taps: dict = {}
        handles = []
        if layer_names:
            mods = self.model.layer_modules()
            pool = getattr(mods, "pool", lambda _name, out: _pool_generic(out))
            for name in layer_names:
                def hook(_m, _i, out, name=name):
                    taps[name] = pool(name, out).float()
                handles.append(mods[name].register_forward_hook(hook))
        try:
            FORWARD_CALLS[self.model.spec.key] += 1
            res = {}
            with torch.inference_mode(), self._autocast():
                if "features" in outputs and "logits" in outputs and hasattr(self.model, "features_and_logits"):
                    f, z = self.model.features_and_logits(x)
                    res["features"], res["logits"] = f.float(), z.float()
                else:
                    if "logits" in outputs or layer_names:
                        z = self.model(x)
                        if "logits" in outputs:
                            res["logits"] = z.float()
                    if "features" in outputs:
                        res["features"] = self.model.features(x).float()
            for name in layer_names or ():
                res[f"layer::{name}"] = taps[name]
            return res
        finally:
            for h in handles:
                h.remove()

    def _padded(self, xb, size):
        import torch

        n = xb.shape[0]
        if not self.pad or n >= size:
            return xb, n
        fill = xb.new_zeros((size - n, *xb.shape[1:]))
        xb = torch.cat([xb, fill])
        if self.channels_last and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb, n

    def run_async(self, x, outputs, layer_names) -> _HostCopy:
        """Queue the batch; ``.result()`` of the returned object gives numpy arrays."""
        import torch

        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        n = x.shape[0]
        self.seen = max(self.seen or 0, n)
        size = self.micro or (self.seen if self.pad else n)
        parts, start = [], 0
        while start < n:
            xb, real = self._padded(x[start:start + size], size)
            try:
                out = self._once(xb, outputs, layer_names)
                parts.append({k: v[:real] for k, v in out.items()})
                start += real
            except BaseException as e:
                if not _is_oom(e) or size == 1:
                    raise
                _empty_cache(self.device)
                size = max(1, size // 2)
                self.micro = size
                print(f"[beyond-inet] out of memory on {self.model.spec.key}: micro-batch -> {size}",
                      file=sys.stderr)
        return _HostCopy({k: _cat([p[k] for p in parts]) for k in parts[0]})

    def run(self, x, outputs, layer_names) -> dict[str, np.ndarray]:
        return self.run_async(x, outputs, layer_names).result()


class _ChunkWriter:
    """Writes chunk files on one background thread, in order, so the GPU never waits for
    the disk. After a failed write (a full disk) it writes nothing more; ``check()``
    re-raises that error in the caller, ``close()`` waits for queued writes."""

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1, thread_name_prefix="beyond-inet-writer")
        self.error: BaseException | None = None

    def _write(self, path, arrays):
        if self.error is not None:
            return
        try:
            _save_chunk(path, arrays)
        except BaseException as e:
            self.error = e

    def save(self, path: Path, arrays: dict):
        self._pool.submit(self._write, path, arrays)

    def check(self):
        if self.error is not None:
            raise self.error

    def close(self):
        self._pool.shutdown(wait=True)


# ============================================================================ predict
def predict(models, dataset: DatasetIndex, views=None, *, outputs: Iterable[str] = ("logits",),
            layers: Mapping | None = None, settings: RunSettings | None = None, cache_dir=None,
            device: str | None = None, batch_size: int | None = None, num_workers: int | None = None,
            precision: str | None = None, decode: str | None = None, compile: bool | None = None,
            channels_last: bool | None = None, preprocessing: str | None = None,
            clip_logit_scale: str | None = None, chunk_size: int | None = None,
            progress: bool | None = None) -> Results:
    """Per-image outputs of every model under every view on ``dataset``; cached, resumable.

    models: ModelSpec objects or registry keys. views: None (each model's own view), a
    ``View``, a dict name -> View for all models, or a callable spec -> dict name -> View.
    outputs: any of "logits", "features", "layers". layers: dict model key -> list of layer
    names (from ``LoadedModel.layer_modules()``) tapped when "layers" is requested.
    settings: a ``RunSettings`` (``Profile.run_settings()``; default ``RunSettings()``);
    every other argument that is not None overrides its field. decode: "auto" | "pil" |
    "tensor" | "hybrid" (module docstring; part of the cache key). compile: ``torch.compile``
    each model (same numbers up to float reassociation; not in the cache key).
    """
    s = (settings or RunSettings()).override(
        cache_dir=cache_dir, device=device, batch_size=batch_size, num_workers=num_workers,
        precision=precision, decode=decode, compile=compile, channels_last=channels_last,
        preprocessing=preprocessing, clip_logit_scale=clip_logit_scale)
    outputs = tuple(sorted(set(outputs)))
    bad = set(outputs) - set(OUTPUT_KINDS)
    if bad:
        raise ValueError(f"unknown outputs {sorted(bad)}; accepted: {OUTPUT_KINDS}")
    if "layers" in outputs and not layers:
        raise ValueError("outputs includes 'layers': pass layers={model_key: [layer names]}")
    cache = s.cache_dir
    device = resolve_device(s.device)
    precision = s.precision if s.precision != "auto" else ("bf16" if device.startswith("cuda") else "fp32")
    chunk_size = chunk_size or DEFAULT_CHUNK["cuda" if device.startswith("cuda") else "cpu"]
    decode = resolve_decode(s.decode, device, dataset.paths)
    batch_size, num_workers, compile = s.batch_size, s.num_workers, bool(s.compile)
    preprocessing, clip_logit_scale, channels_last = s.preprocessing, s.clip_logit_scale, s.channels_last
    specs = [_spec(m) for m in models]
    fingerprint = dataset.fingerprint()
    n = len(dataset)
    n_chunks = _n_chunks(n, chunk_size)

    units: list[_Unit] = []
    for spec in specs:
        for vname, view in _resolve_views(spec, views, preprocessing).items():
            lay = tuple(layers.get(spec.key, ())) if (layers and "layers" in outputs) else None
            extra = _extra_key(clip_logit_scale if spec.training == "clip" else "", decode, precision)
            d = _unit_dir(cache, dataset, fingerprint, spec, view, outputs, lay, chunk_size, extra)
            units.append(_Unit(spec, vname, view, outputs, lay, d, chunk_size, decode, precision,
                               device))

    missing = {u_i: [c for c in range(n_chunks) if not u.chunk_path(c).exists()]
               for u_i, u in enumerate(units)}
    todo_chunks = sorted({c for cs in missing.values() for c in cs})
    if todo_chunks and n:
        _run_pass(units, missing, todo_chunks, dataset, fingerprint, chunk_size, device, precision,
                  batch_size, num_workers, clip_logit_scale, cache, progress, channels_last,
                  decode, compile)

    results = Results()
    for u in units:
        results[(u.spec.key, u.view_name)] = _collect(u, dataset, n_chunks)
    return results


def _n_chunks(n: int, chunk_size: int) -> int:
    """Chunk files a unit of ``n`` images has (one, empty, for an empty dataset)."""
    return max(1, -(-n // chunk_size))


def _extra_key(clip_part: str, decode: str, precision: str = "fp32") -> str:
    """Unit-key extra: the CLIP logit scale, plus the decode mode unless it is 'pil' and
    the precision unless it is 'fp32' (so caches written before either existed keep their
    keys). The device is not in the key: fp32 on a CPU and on a GPU differ only by float
    summation order; the manifest records it."""
    key = clip_part if decode == "pil" else f"{clip_part}|decode={decode}"
    return key if precision == "fp32" else f"{key}|precision={precision}"


def _spec(m):
    if isinstance(m, str):
        from .models import get_model

        return get_model(m)
    return m


def _write_manifest(u: _Unit, dataset: DatasetIndex, fingerprint: str, n: int):
    m = u.dir / "unit.json"
    if m.exists():
        return
    info = {"model": u.spec.key, "weights_id": str(u.spec.weights_id), "dataset": dataset.name,
            "fingerprint": fingerprint, "n_images": n, "view": u.view.to_dict(),
            "view_name": u.view_name, "outputs": list(u.outputs),
            "layers": list(u.layers) if u.layers else None, "chunk_size": u.chunk_size,
            "decode": u.decode, "precision": u.precision, "device": u.device}
    atomic_write_bytes(m, lambda f: f.write(json.dumps(info, indent=1).encode()))


def cache_table(cache_dir) -> pd.DataFrame:
    """One row per cached (dataset, model, view, outputs) unit under ``cache_dir``: what it
    holds (from its ``unit.json``), how many of its chunks are written, and its size."""
    rows = []
    for m in sorted(Path(cache_dir).glob("results/*/*/*/unit.json")):
        try:
            info = json.loads(m.read_text())
        except (OSError, ValueError):
            continue
        n, chunk = int(info.get("n_images", 0)), int(info.get("chunk_size", 1)) or 1
        files = [f for f in m.parent.iterdir() if f.is_file()]
        rows.append({"dataset": info.get("dataset"), "model": info.get("model"),
                     "view": info.get("view_name"), "outputs": ",".join(info.get("outputs") or []),
                     "decode": info.get("decode", "pil"), "precision": info.get("precision", "fp32"),
                     "device": info.get("device", "?"), "images": n,
                     "chunks": f"{sum(f.name.startswith('chunk-') for f in files)}/{_n_chunks(n, chunk)}",
                     "MB": round(sum(f.stat().st_size for f in files) / 1e6, 2), "dir": str(m.parent)})
    cols = ["dataset", "model", "view", "outputs", "decode", "precision", "device", "images", "chunks",
            "MB", "dir"]
    return pd.DataFrame(rows, columns=cols)


def _decoded_batches(loader, parts_per_batch: list[int], decode: str, paths: list[str], views: dict,
                     device: str, stages: _Stages):
    """(rows, {view key: (N, 3, h, w) tensor}, [(row, reason)]) per model batch, any path;
    a model batch is ``parts_per_batch[b]`` consecutive loader batches (worker batches)."""
    it = iter(loader)
    for n_parts in parts_per_batch:
        with stages("loader_wait"):
            parts = [next(it) for _ in range(n_parts)]
        if decode != "pil":
            with stages("decode"):
                rows, images, bad = _decode_batch(parts, paths, device)
            with stages("preprocess"):
                tensors = _preprocess_in_parts(images, views)
            yield rows, tensors, bad
        elif n_parts == 1:
            yield parts[0]
        else:  # joined on the device: each part is pinned, so its copy does not block
            rows = [r for p in parts for r in p[0]]
            keys = next((list(p[1]) for p in parts if p[1]), [])
            tensors = {k: _cat([p[1][k].to(device, non_blocking=True) for p in parts if p[1]])
                       for k in keys}
            yield rows, tensors, [b for p in parts for b in p[2]]


def _cat(tensors: list):
    """``torch.cat``, without the copy when there is only one tensor."""
    import torch

    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


def _worker_batches(batch: list[int], batch_size: int, num_workers: int) -> list[list[int]]:
    """A model batch cut into the pieces the workers prepare: with several workers, each
    takes a share (at least MIN_WORKER_BATCH rows) so the first model batch is ready after
    a share's decode time, not a whole batch's, and all workers help with every batch."""
    if num_workers <= 1:
        return [batch]
    size = max(MIN_WORKER_BATCH, -(-batch_size // num_workers))
    return [batch[i:i + size] for i in range(0, len(batch), size)]


def _preprocess_in_parts(images: list, views: dict) -> dict:
    """``preprocess_tensors`` on the whole batch, or, when that runs out of GPU memory (a
    batch of very large images: ImageNet-R and -Sketch have some), on halves, quarters...
    of it; the result is the same, in the same order."""
    if not images:  # every file of the batch was unreadable
        return {}
    part = len(images)
    while True:
        try:
            outs = [preprocess_tensors(images[i:i + part], views) for i in range(0, len(images), part)]
            break
        except BaseException as e:
            if not _is_oom(e) or part <= 1:
                raise
            _empty_cache(str(images[0].device))
            part = max(1, part // 2)
            print(f"[beyond-inet] out of memory resizing a batch: now at most {part} images per step",
                  file=sys.stderr)
    return {k: _cat([o[k] for o in outs]) for k in views}


def _run_pass(units, missing, todo_chunks, dataset, fingerprint, chunk_size, device, precision,
              batch_size, num_workers, clip_logit_scale, cache, progress, channels_last,
              decode="pil", compile=False):
    import torch
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    n = len(dataset)
    for u_i, u in enumerate(units):
        if missing[u_i]:
            _write_manifest(u, dataset, fingerprint, n)
    # the decode work: union of views still needed, each decoded once per image
    need_views = {units[u_i].view.key(): units[u_i].view for u_i, cs in missing.items() if cs}
    paths = [str(p) for p in dataset.paths]
    batches, chunk_of_batch = [], []
    for c in todo_chunks:
        lo, hi = c * chunk_size, min(n, (c + 1) * chunk_size)
        for s in range(lo, hi, batch_size):
            batches.append(list(range(s, min(hi, s + batch_size))))
            chunk_of_batch.append(c)
    if decode == "pil":
        files, collate = _DecodeSet(paths, need_views), _collate
    else:  # workers read bytes (tensor) or decode to uint8 (hybrid); views on the device
        files, collate = _ByteSet(paths, decode_here=decode == "hybrid"), _collate_bytes
    # Workers prepare shares of model batches (_worker_batches); four shares each in flight
    # (16 workers, batch 256: 4 model batches ahead) keep the GPU fed without holding many
    # GB of decoded images in shared and pinned memory.
    worker_batches, parts_per_batch = [], []
    for b in batches:
        pieces = _worker_batches(b, batch_size, num_workers)
        worker_batches += pieces
        parts_per_batch.append(len(pieces))
    loader = DataLoader(files, batch_sampler=worker_batches, collate_fn=collate,
                        num_workers=num_workers, pin_memory=device.startswith("cuda"),
                        persistent_workers=False, prefetch_factor=4 if num_workers else None)
    runners: dict[str, _Runner] = {}
    missing_sets = {u_i: set(cs) for u_i, cs in missing.items()}  # chunk membership per batch
    pending = collections.defaultdict(lambda: collections.defaultdict(list))  # (u_i) -> key -> parts
    pend_rows: dict = collections.defaultdict(list)
    pend_skip: dict = collections.defaultdict(list)
    n_imgs = sum(len(b) for b in batches)
    models_desc = ", ".join(sorted({u.spec.key for u_i, u in enumerate(units) if missing[u_i]}))
    bar = tqdm(total=n_imgs, unit="img", desc=f"{dataset.name} [{models_desc}]",
               disable=not progress_enabled(progress), file=sys.stderr, dynamic_ncols=True)
    writer = _ChunkWriter()
    stages = _Stages()

    def runner(spec) -> _Runner:
        if spec.key not in runners:
            with stages("load_models"):
                model = _load_model(spec, device, clip_logit_scale, cache, compile=compile)
                if channels_last:  # faster convs on GPU and on CPU (oneDNN) alike
                    model = model.to(memory_format=torch.channels_last)
                runners[spec.key] = _Runner(model, device, precision, channels_last, pad=compile)
        return runners[spec.key]

    def finish(job):
        """Collect a queued batch's outputs; write the chunk files it completes."""
        b_i, c, idx, bad, copies, active = job
        pend_skip[c].extend(bad)
        for u_i, copy in copies.items():
            with stages("collect_wait"):
                arrays = copy.result()
            for k, v in arrays.items():
                pending[u_i][k].append(v)
        pend_rows[c].extend(idx)
        bar.update(len(idx) + len(bad))
        if b_i + 1 == len(batches) or chunk_of_batch[b_i + 1] != c:  # last batch of chunk c
            for u_i in active:
                arrays = {"rows": np.asarray(pend_rows[c], dtype=np.int64),
                          "skipped_rows": np.asarray([r for r, _ in pend_skip[c]], dtype=np.int64),
                          "skipped_reasons": np.asarray([s for _, s in pend_skip[c]], dtype=str)}
                for k, parts in pending[u_i].items():
                    arrays[k] = np.concatenate(parts).astype(np.float32, copy=False)
                writer.save(units[u_i].chunk_path(c), arrays)
                pending[u_i].clear()
            pend_rows.pop(c, None)
            pend_skip.pop(c, None)

    # One batch in flight: batch b's forwards are queued before batch b-1's outputs are
    # collected, so the GPU has work while the host waits for copies, decodes and writes.
    inflight = None
    decoded = _decoded_batches(loader, parts_per_batch, decode, paths, need_views, device, stages)
    try:
        for b_i, (idx, tensors, bad) in enumerate(decoded):
            writer.check()
            c = chunk_of_batch[b_i]
            active = [u_i for u_i, cs in missing_sets.items() if c in cs]
            copies = {}
            if idx:
                for u_i in active:
                    u = units[u_i]
                    want = tuple(o for o in u.outputs if o != "layers")
                    run = runner(u.spec)
                    with stages("queue_forward"):
                        copies[u_i] = run.run_async(tensors[u.view.key()], want, u.layers)
            job, inflight = inflight, (b_i, c, idx, bad, copies, active)
            if job is not None:
                finish(job)
        if inflight is not None:
            job, inflight = inflight, None
            finish(job)
    except BaseException:
        if inflight is not None:  # an interruption: keep what the GPU already computed
            with contextlib.suppress(Exception):
                finish(inflight)
        raise
    finally:
        bar.close()
        with stages("loader_shutdown"):  # workers stop here, not whenever the GC gets to them
            decoded.close()
        with stages("writer_wait"):
            writer.close()  # queued chunk writes finish: nothing computed is lost
        LAST_PASS_STAGES.clear()
        LAST_PASS_STAGES.update(stages.summary(n_imgs))
    writer.check()


def _collect(u: _Unit, dataset: DatasetIndex, n_chunks: int) -> Result:
    rows, skipped_rows, reasons = [], [], []
    arrays = collections.defaultdict(list)
    for c in range(n_chunks):
        z = _load_chunk(u.chunk_path(c))
        if z is None:
            raise EngineError(f"cache chunk {u.chunk_path(c)} is missing or unreadable after the pass; "
                              f"delete {u.dir} and run again")
        rows.append(z["rows"])
        skipped_rows.append(z["skipped_rows"])
        reasons.append(z["skipped_reasons"])
        for k, v in z.items():
            if k not in ("rows", "skipped_rows", "skipped_reasons"):
                arrays[k].append(v)
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    sk = np.concatenate(skipped_rows) if skipped_rows else np.zeros(0, dtype=np.int64)
    rs = np.concatenate(reasons) if reasons else np.zeros(0, dtype=str)
    table = dataset.table.iloc[rows].reset_index(drop=True)
    skipped = pd.DataFrame({"path": dataset.table["path"].to_numpy()[sk] if len(sk) else [],
                            "reason": rs.tolist()})
    cat = {k: np.concatenate(v) for k, v in arrays.items()}
    layers = {k[len("layer::"):]: v for k, v in cat.items() if k.startswith("layer::")}
    return Result(u.spec.key, u.view_name, u.view, dataset.name, table,
                  logits=cat.get("logits"), features=cat.get("features"), layers=layers,
                  skipped=skipped)
