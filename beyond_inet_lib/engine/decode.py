"""From image files to the tensors every view needs: the engine's three decode paths.

Each image is decoded once per pass and every view still needed is made from that one
decode. DataLoader workers do the per-file work; ``decoded_batches`` yields, per model
batch, ``(rows, {view key: (N, 3, h, w) float32 tensor}, [(row, reason)])``, the same rows
and the same skipped files whatever the path (``decode=``), numbers within a hair:

- ``"pil"``: workers decode with PIL (``images.load_rgb``) and apply each View's
  torchvision PIL transform (``View.transform``; the CPU reference path).
- ``"hybrid"``: workers decode to uint8 (libjpeg-turbo through ``decode_jpeg`` for plain
  JPEGs, PIL for anything else) and the main process applies every View on the device
  with tensor ops (``views.preprocess_tensors``: resize of the shorter side with
  antialias, centre or shifted crop with black fill, normalise), images of one size
  together. Decoding runs on the CPU cores in parallel with the GPU's model work; the GPU
  does the resizes the invariance sweeps need.
- ``"tensor"``: workers only read file bytes; the main process decodes the whole batch
  with ``torchvision.io.decode_jpeg(..., device=device)`` (batched nvJPEG on CUDA,
  libjpeg-turbo on CPU), then applies the Views as in ``"hybrid"``. Frees the CPU cores,
  but on CUDA the decode waits for the stream to drain (pytorch/vision#9606), so it does
  not overlap the models. Non-JPEG, CMYK, 12-bit, arithmetic-coded or suspicious
  (truncated) files go to PIL in the worker (``is_plain_jpeg`` decides), so skip reasons
  are the PIL path's. A batch decode that fails is retried image by image, then with PIL.
- ``"auto"``: ``"hybrid"`` on CUDA, ``"pil"`` on CPU (``resolve_decode``).

The decode mode is part of the result-cache key (the paths differ slightly: on CPU the
decoders are the same libjpeg-turbo and the mean |difference| after normalisation is
~1e-3, from the resize; nvJPEG's IDCT/chroma upsampling and the float-then-round resize
used on CUDA add a little more). ``"pil"`` keeps the key it always had.

With several workers each model batch is prepared in shares, one per worker
(``worker_batches``), so the first batch is ready after a share's decode and every worker
decodes for every batch; on the tensor paths each share crosses from its worker packed
into two tensors (``pack``: JPEG bytes, decoded images). A batch whose images are too
large to resize at once on the GPU is resized in parts (``preprocess_in_parts``).
Unreadable files are skipped and listed, never fatal; odd image modes are converted.
A path may be a webdataset member ref (``<shard>.tar#<member>``): its bytes are read in
place from the shard (``data.webdataset``) and decoded exactly like a file's.
"""

from __future__ import annotations

import contextlib
import math
import sys
import warnings

import numpy as np

from ..images import UnreadableImage, load_rgb, read_image_bytes
from ..run_settings import DECODE_MODES
from ..views import View, preprocess_tensors
from .device import cat, empty_cache, is_oom

MIN_WORKER_BATCH = 8  # rows a DataLoader worker prepares at once, at least


def resolve_decode(decode: str, device: str) -> str:
    """'pil', 'tensor' or 'hybrid' for ``decode`` in DECODE_MODES: 'auto' is 'hybrid' on CUDA
    (decoding on the CPU workers overlaps the models; any file type), else 'pil'."""
    if decode not in DECODE_MODES:
        raise ValueError(f"decode={decode!r}; expected one of {DECODE_MODES}")
    if decode != "auto":
        return decode
    return "hybrid" if str(device).startswith("cuda") else "pil"


# ================================================================== the PIL path
class PilSet:
    """torch Dataset of the PIL path: row -> (row, {view key: tensor}, "") from ONE decode
    of the file, or (row, None, reason) when it is unreadable."""

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


def collate_pil(items):
    """(rows, {view key: stacked tensor}, [(row, reason)]) of a PIL-path batch."""
    import torch

    ok = [(i, t) for i, t, _ in items if t is not None]
    bad = [(i, r) for i, t, r in items if t is None]
    tensors = {}
    if ok:
        for k in ok[0][1]:
            tensors[k] = torch.stack([t[k] for _, t in ok])
    return [i for i, _ in ok], tensors, bad


# ========================================================= JPEG triage (tensor paths)
#: JPEG start-of-frame markers whose images decode_jpeg handles like PIL: baseline,
#: extended and progressive Huffman. Lossless / arithmetic-coded frames go to PIL.
_SOF_OK = {0xC0, 0xC1, 0xC2}
_SOF_ANY = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def read_bytes(path: str) -> np.ndarray:
    """The file's bytes as a uint8 array (what the tensor path's workers do, and all); a
    webdataset member ref or an image inside a parquet file (a row ref) is read in place."""
    if ".tar#" in path or ".parquet#" in path:
        return np.frombuffer(bytearray(read_image_bytes(path)), dtype=np.uint8)
    return np.fromfile(path, dtype=np.uint8)


def jpeg_frame(data) -> tuple[int, int, int, int] | None:
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
    frame = jpeg_frame(data)
    if frame is None:
        return False
    marker, precision, height, comps = frame
    return marker in _SOF_OK and precision == 8 and height > 0 and comps in (1, 3)


# ============================================================= the tensor paths
class ByteSet:
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
            data = read_bytes(path)
            if is_plain_jpeg(data):
                if not self.decode_here:
                    return i, "jpeg", torch.from_numpy(data)
                with contextlib.suppress(Exception):  # a decode_jpeg failure: PIL decides
                    return i, "rgb", decode_jpegs([torch.from_numpy(data)], "cpu")[0]
        try:  # not a plain JPEG, or unreadable: PIL decides, with the PIL path's reasons
            img = load_rgb(path)
        except UnreadableImage as e:
            return i, "bad", str(e)
        return i, "rgb", pil_to_chw(img)


def pil_to_chw(img):
    """PIL RGB image -> uint8 (3, H, W) tensor."""
    import torch

    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def pack(tensors: list):
    """Tensors of any shapes -> (one flat uint8 tensor, their shapes). A batch crosses from
    a worker as ONE shared-memory block (not hundreds, each an open file descriptor: with
    16 workers and batches in flight that runs into the open-file limit) and reaches the
    GPU in one copy."""
    import torch

    shapes = [tuple(t.shape) for t in tensors]
    flat = torch.cat([t.reshape(-1) for t in tensors]) if tensors else torch.zeros(0, dtype=torch.uint8)
    return flat, shapes


def unpack(flat, shapes: list) -> list:
    """Inverse of ``pack``: views into ``flat`` (on whatever device it now is)."""
    sizes = [math.prod(s) for s in shapes]
    return [part.view(shape) for part, shape in zip(flat.split(sizes), shapes)] if shapes else []


def collate_bytes(items):
    """Batch of the tensor/hybrid paths: JPEG bytes and decoded images, each packed into
    one flat tensor (``pack``; the loader pins it), plus rows and unreadable files."""
    jpeg, jpeg_shapes = pack([t for _, k, t in items if k == "jpeg"])
    rgb, rgb_shapes = pack([t for _, k, t in items if k == "rgb"])
    return {"jpeg_rows": [i for i, k, _ in items if k == "jpeg"], "jpeg": jpeg, "jpeg_shapes": jpeg_shapes,
            "rgb_rows": [i for i, k, _ in items if k == "rgb"], "rgb": rgb, "rgb_shapes": rgb_shapes,
            "bad": [(i, r) for i, k, r in items if k == "bad"]}


def decode_jpegs(datas: list, device: str) -> list:
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


def decode_batch(parts: list[dict], paths: list[str], device: str):
    """The tensor paths' decode of one batch (the packed parts from ``collate_bytes`` of
    the workers that shared it) -> (rows, images on device, bad), rows ascending. JPEGs are
    decoded together; if that fails (one corrupt file, OOM) each is decoded alone, and one
    that still fails goes to PIL (``load_rgb``)."""
    datas, rows, bad = [], [], []
    for part in parts:
        datas += unpack(part["jpeg"], part["jpeg_shapes"])
        rows += part["jpeg_rows"]
        bad += part["bad"]
    images: dict[int, object] = {}
    if datas:
        try:
            images.update(zip(rows, decode_jpegs(datas, device)))
        except Exception as e:
            if is_oom(e):
                empty_cache(device)
            for r, d in zip(rows, datas):
                try:
                    images[r] = decode_jpegs([d], device)[0]
                except Exception:
                    try:
                        images[r] = pil_to_chw(load_rgb(paths[r])).to(device)
                    except UnreadableImage as u:
                        bad.append((r, str(u)))
    for part in parts:
        if part["rgb_rows"]:  # one host-to-device copy per part, then views into it
            rgb = unpack(part["rgb"].to(device, non_blocking=True), part["rgb_shapes"])
            images.update(zip(part["rgb_rows"], rgb))
    rows_ok = sorted(images)
    return rows_ok, [images[r] for r in rows_ok], sorted(bad)


def preprocess_in_parts(images: list, views: dict) -> dict:
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
            if not is_oom(e) or part <= 1:
                raise
            empty_cache(str(images[0].device))
            part = max(1, part // 2)
            print(f"[beyond-inet] out of memory resizing a batch: now at most {part} images per step",
                  file=sys.stderr)
    return {k: cat([o[k] for o in outs]) for k in views}


# ================================================================ batches, any path
def worker_batches(batch: list[int], batch_size: int, num_workers: int) -> list[list[int]]:
    """A model batch cut into the pieces the workers prepare: with several workers, each
    takes a share (at least MIN_WORKER_BATCH rows) so the first model batch is ready after
    a share's decode time, not a whole batch's, and all workers help with every batch."""
    if num_workers <= 1:
        return [batch]
    size = max(MIN_WORKER_BATCH, -(-batch_size // num_workers))
    return [batch[i:i + size] for i in range(0, len(batch), size)]


def decoded_batches(paths: list[str], views: dict[str, View], decode: str, batches: list[list[int]],
                    batch_size: int, num_workers: int, device: str, stages):
    """(rows, {view key: (N, 3, h, w) tensor on ``device``}, [(row, reason)]) for each model
    batch of ``batches`` (lists of rows), decoded by ``decode`` ('pil', 'tensor' or
    'hybrid'). ``stages`` (``passes.Stages``) times the waits. Closing the generator stops
    the DataLoader workers."""
    from torch.utils.data import DataLoader

    if decode == "pil":
        files, collate = PilSet(paths, views), collate_pil
    else:  # workers read bytes (tensor) or decode to uint8 (hybrid); views on the device
        files, collate = ByteSet(paths, decode_here=decode == "hybrid"), collate_bytes
    # Workers prepare shares of model batches (worker_batches); four shares each in flight
    # (16 workers, batch 256: 4 model batches ahead) keep the GPU fed without holding many
    # GB of decoded images in shared and pinned memory.
    shares, parts_per_batch = [], []
    for b in batches:
        pieces = worker_batches(b, batch_size, num_workers)
        shares += pieces
        parts_per_batch.append(len(pieces))
    loader = DataLoader(files, batch_sampler=shares, collate_fn=collate, num_workers=num_workers,
                        pin_memory=device.startswith("cuda"), persistent_workers=False,
                        prefetch_factor=4 if num_workers else None)
    it = iter(loader)
    for n_parts in parts_per_batch:
        with stages("loader_wait"):
            parts = [next(it) for _ in range(n_parts)]
        if decode != "pil":
            with stages("decode"):
                rows, images, bad = decode_batch(parts, paths, device)
            with stages("preprocess"):
                tensors = preprocess_in_parts(images, views)
            yield rows, tensors, bad
        elif n_parts == 1:
            yield parts[0]
        else:  # joined on the device: each part is pinned, so its copy does not block
            rows = [r for p in parts for r in p[0]]
            keys = next((list(p[1]) for p in parts if p[1]), [])
            tensors = {k: cat([p[1][k].to(device, non_blocking=True) for p in parts if p[1]]) for k in keys}
            yield rows, tensors, [b for p in parts for b in p[2]]
