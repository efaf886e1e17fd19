"""Reading one image file (or a webdataset member, in place) into an 8-bit RGB PIL image,
whatever its mode.

Large datasets hold odd files: CMYK and grayscale JPEGs, RGBA and 16-bit PNGs, truncated
or empty files. Readable odd modes are converted; unreadable files raise
``UnreadableImage`` with a short reason, which the engine records and skips.

EXIF orientation is NOT applied: the stored pixels are used as they are. That is what
the ImageNet tooling the paper's numbers come from does (torchvision's ImageFolder /
``PIL.Image.open(...).convert("RGB")``, timm's loaders), so a camera JPEG tagged "rotate
90 degrees" is seen sideways here exactly as it was by the models being compared.
Applying ``ImageOps.exif_transpose`` would change the inputs of a few val images and
break paper-faithfulness (pinned by tests/test_reliability.py).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

# A truncated file must be reported, not silently padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = 300_000_000  # large but finite: a decompression bomb is unreadable


class UnreadableImage(Exception):
    """The file could not be decoded; ``str()`` is a short reason for the report."""


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB. Alpha is composited on white (the usual display),
    16-bit and float images are rescaled, not clipped."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, mode="L").convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def read_image_bytes(path: str | Path) -> bytes:
    """The bytes of an image file, of a webdataset member named by a member ref
    (``<shard>.tar#<member>``, read in place: ``data.webdataset``), or of an image stored in
    a parquet file and named by a row ref (``<file>.parquet#<column>@<row>``, read in place:
    ``data.parquet_images``). OSError when unreadable."""
    if ".tar#" in str(path):
        from .data.webdataset import is_member_ref, read_member

        if is_member_ref(path):
            return read_member(path)
    if ".parquet#" in str(path):
        from .data.parquet_images import is_row_ref, read_row

        if is_row_ref(path):
            return read_row(path)
    return Path(path).read_bytes()


def load_rgb(path: str | Path) -> Image.Image:
    """Decode ``path`` (a file, a webdataset member ref or a parquet row ref) fully into an RGB image or raise
    ``UnreadableImage``."""
    try:
        data = read_image_bytes(path)
    except OSError as e:
        raise UnreadableImage(f"cannot read file: {e.strerror or e}") from None
    if not data:
        raise UnreadableImage("empty file (0 bytes)")
    try:
        img = Image.open(io.BytesIO(data))
        img.load()  # force the full decode here: truncation shows up now
        return to_rgb(img)  # no exif_transpose: raw pixels, as torchvision/PIL (see above)
    except Image.DecompressionBombError as e:
        raise UnreadableImage(f"image too large: {e}") from None
    except (OSError, ValueError, SyntaxError, Image.UnidentifiedImageError) as e:
        msg = str(e) or type(e).__name__
        raise UnreadableImage(f"cannot decode: {msg}") from None
