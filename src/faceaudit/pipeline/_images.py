"""Image decoding for the pipeline: any file → RGB uint8 ``(H, W, 3)`` or a failure with a reason.

Pillow only (no OpenCV). Every input ends in exactly one of two results:

- :class:`DecodedImage` — an RGB ``uint8`` array, C-contiguous, shape ``(height, width, 3)``,
  with the EXIF orientation applied (``ImageOps.exif_transpose``), so the array is upright
  as a person would view the photo;
- :class:`DecodeFailure` — a status code (``"unreadable"`` or ``"too_small"``) and a
  human-readable reason. Nothing raises for a bad file.

Mode conversions (documented because they change pixel values):

==================  =====================================================================
source mode         conversion
==================  =====================================================================
RGB                 unchanged
L, 1, P, YCbCr...   ``Image.convert("RGB")`` (palette expanded, gray replicated)
RGBA, LA, PA, P+t   alpha-composited onto white: :math:`c = \\alpha c_{src} + (1-\\alpha) 255`
CMYK                ``Image.convert("RGB")`` (Pillow's naive CMYK→RGB; ICC profiles ignored)
I;16*, I (16-bit)   rescaled to 8 bits: :math:`v_8 = \\lfloor v_{16} / 257 \\rceil`
I (values ≤ 255)    used as 8-bit values
F (float)           ``[0, 1]`` data scaled by 255, otherwise clipped to ``[0, 255]``
==================  =====================================================================

Images with more than ``max_pixels`` pixels (default: Pillow's own decompression-bomb limit,
:data:`DEFAULT_MAX_PIXELS`) are refused *before* their pixels are decoded.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import require
from .._templates import TOO_SMALL, UNREADABLE

DEFAULT_MAX_PIXELS = 89_478_485
"""Largest image (width × height) decoded by default: Pillow's ``Image.MAX_IMAGE_PIXELS``."""


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB image.

    Attributes
    ----------
    pixels : ndarray of uint8, shape (height, width, 3)
    source_mode : str
        Pillow mode of the file before conversion (e.g. ``"CMYK"``, ``"I;16"``).
    """

    pixels: np.ndarray
    source_mode: str

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


@dataclass(frozen=True)
class DecodeFailure:
    """A file that could not become an image: ``status`` is a failure code, ``reason`` says why."""

    status: str
    reason: str


def decode_image(
    data: bytes | str | Path,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_size: int = 1,
) -> DecodedImage | DecodeFailure:
    """Decode image bytes (or a file) to upright RGB ``uint8``, never raising for bad content.

    Parameters
    ----------
    data : bytes or path
        The encoded file content, or a path to read.
    max_pixels : int
        Refuse images with ``width * height > max_pixels`` (decompression-bomb guard), as
        ``"unreadable"``; the reason says how to raise the limit.
    min_size : int
        Images whose shorter side is below this are ``"too_small"``.

    Returns
    -------
    DecodedImage or DecodeFailure
    """
    require("PIL.Image", "models")
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not isinstance(data, bytes):
        try:
            data = Path(data).read_bytes()
        except OSError as exc:
            return DecodeFailure(UNREADABLE, f"cannot read file: {exc.strerror or exc}")
    if len(data) == 0:
        return DecodeFailure(UNREADABLE, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # We apply our own limit below; Pillow's warning must not escape (or spam).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                return DecodeFailure(
                    UNREADABLE,
                    f"image is {w}×{h} = {w * h} pixels, more than max_pixels={max_pixels} "
                    "(decompression-bomb guard); raise max_pixels to decode it",
                )
            img.load()
    except Image.DecompressionBombError as exc:
        return DecodeFailure(UNREADABLE, f"decompression bomb refused by Pillow: {exc}; "
                                         "raise max_pixels to decode it")
    except UnidentifiedImageError:
        return DecodeFailure(UNREADABLE, "not an image file Pillow can identify")
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg.lower():
            return DecodeFailure(UNREADABLE, f"truncated image file ({msg})")
        return DecodeFailure(UNREADABLE, f"corrupt image file ({msg})")
    except MemoryError:
        return DecodeFailure(UNREADABLE, "out of memory while decoding the image")

    source_mode = img.mode
    try:
        try:
            img = ImageOps.exif_transpose(img)
        except Exception:
            pass
        arr = _to_rgb(img)
    except (OSError, ValueError) as exc:
        return DecodeFailure(UNREADABLE, f"cannot convert {source_mode} image to RGB ({exc})")
    if min(arr.shape[0], arr.shape[1]) < min_size:
        return DecodeFailure(
            TOO_SMALL, f"image is {arr.shape[1]}×{arr.shape[0]} pixels, smaller than {min_size} px"
        )
    return DecodedImage(np.ascontiguousarray(arr), source_mode)


def _to_rgb(img: object) -> np.ndarray:
    """Convert a loaded PIL image to RGB uint8 following the table in the module docstring."""
    from PIL import Image

    assert isinstance(img, Image.Image)
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8)
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(img).astype(np.float64)
        if mode.startswith("I;16") or (a.size and a.max() > 255):
            a = a / 257.0
        g = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode == "F":
        a = np.asarray(img, dtype=np.float64)
        a = np.nan_to_num(a, nan=0.0, posinf=255.0, neginf=0.0)
        if a.size and a.max() <= 1.0 and a.min() >= 0.0:
            a = a * 255.0
        g = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode == "P" and "transparency" in img.info
    ) or (mode in ("L", "RGB") and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)
