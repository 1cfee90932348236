r"""Probe conditions: deterministic degradations of a probe photo's decoded pixels.

A *condition* is one level of one kind of degradation, applied to the upright RGB ``uint8``
pixels of a probe image **before** face detection (so a face the detector no longer finds is
a failure to acquire at that level). The enrolled / reference photo always stays clean.

Kinds and levels (``<kind>:<level>``, the condition id):

- ``none`` — the image unchanged (the clean audit; its counts are reproduced exactly);
- ``resolution:<px>`` — the image is scaled by :math:`s = \text{px} / d`, where :math:`d` is
  the distance between the eyes (landmarks 0 and 1 of the detector, on the **clean** image),
  with Pillow's antialiased bicubic filter to ``round(W s) × round(H s)`` pixels, then brought
  back to ``W × H`` with bicubic interpolation, as an investigator's software would. An image
  whose eyes are already ``px`` or fewer pixels apart is left unchanged (counted as
  ``unchanged``); an image without clean landmarks cannot be scaled and is a failure to
  acquire at this level;
- ``blur:<sigma>`` — Gaussian blur of standard deviation ``sigma`` pixels at the original
  scale (Pillow's ``GaussianBlur`` radius is the standard deviation);
- ``jpeg:<quality>`` — encoded with Pillow/libjpeg at that quality (4:2:0 chroma, baseline)
  and decoded again; the quantisation tables are libjpeg's scaling of the standard tables
  (:func:`jpeg_tables`), checked by re-reading the file (tests);
- ``exposure:<stops>`` — darkened by ``stops`` photographic stops in linear light:
  :math:`v' = 255\,\bigl((v/255)^{2.2}\,2^{-\text{stops}}\bigr)^{1/2.2}`, rounded;
- ``noise:<sigma>`` — sensor noise: independent Gaussian noise of standard deviation
  ``sigma`` (8-bit units) per pixel and channel, rounded and clipped to 0..255;
- ``cctv`` — the composite preset :data:`CCTV`: at capture resolution (eyes 16 px apart),
  sensor noise σ = 3, JPEG quality 30, then bicubic back to the original size (a photo whose
  eyes are already 16 px apart or closer gets the noise and JPEG at its own size).

Determinism: the only randomness (the noise) comes from a NumPy ``Generator`` seeded by the
sha256 of ``"<image sha256>:<condition id>:<seed>"`` (:func:`condition_seed`), so the same
image, condition and seed give the same bytes on every run and in every worker.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import ConfigError, require

KINDS = ("none", "resolution", "blur", "jpeg", "exposure", "noise", "cctv")
"""The kinds of probe condition (see the module docstring)."""

PRESETS: dict[str, tuple[tuple[str, float], ...]] = {
    "cctv": (("resolution", 16.0), ("noise", 3.0), ("jpeg", 30.0)),
}
"""Named composites: the steps applied at capture resolution, in order."""

CCTV = PRESETS["cctv"]
"""The ``cctv`` preset: eyes 16 px apart, sensor noise σ = 3 (8-bit units), JPEG quality 30."""

SEVERITY_ORDER = {"resolution": -1, "blur": 1, "jpeg": -1, "exposure": 1, "noise": 1}
"""+1: a larger level is worse (σ, stops); -1: a smaller level is worse (px, quality)."""

_RANGES: dict[str, tuple[float, float]] = {
    "resolution": (2.0, 4096.0), "blur": (0.0, 100.0), "jpeg": (1.0, 95.0),
    "exposure": (0.0, 10.0), "noise": (0.0, 128.0),
}
_GAMMA = 2.2

SPEC_HELP = ("'cctv', 'none', or <kind>:<levels> with kind one of resolution (px between the "
             "eyes), blur (sigma px), jpeg (quality), exposure (stops darker), noise (sigma, "
             "8-bit units) and levels comma-separated, e.g. 'resolution:64,32,16'; several "
             "specs separated by ';' or spaces")


@dataclass(frozen=True, order=True)
class Condition:
    """One probe condition: ``kind`` and ``level`` (``nan`` for ``none`` and presets)."""

    kind: str
    level: float = math.nan

    @property
    def condition_id(self) -> str:
        """``"none"``, ``"cctv"`` or ``"<kind>:<level>"`` (``%g``): keys the template store."""
        if self.kind in ("none", *PRESETS):
            return self.kind
        return f"{self.kind}:{self.level:g}"

    @property
    def steps(self) -> tuple[tuple[str, float], ...]:
        """The primitive steps applied (one for a simple kind, several for a preset)."""
        if self.kind == "none":
            return ()
        if self.kind in PRESETS:
            return PRESETS[self.kind]
        return ((self.kind, self.level),)

    @property
    def needs_eyes(self) -> bool:
        """True when the step needs the clean image's inter-eye distance."""
        return any(k == "resolution" for k, _ in self.steps)

    def __str__(self) -> str:
        return self.condition_id


NONE = Condition("none")
"""The no-degradation level (the clean photo)."""


def parse_conditions(spec: str | Sequence[str] | None) -> tuple[Condition, ...]:
    """Conditions from a spec such as ``"cctv"`` or ``"resolution:64,32,16; jpeg:40"``.

    A list of such strings is read as their union. Duplicates are dropped, order is kept.
    Raises :class:`ConfigError` naming the bad part and what is allowed.

    >>> [c.condition_id for c in parse_conditions("resolution:64,32 cctv")]
    ['resolution:64', 'resolution:32', 'cctv']
    """
    if spec is None:
        return ()
    parts = [spec] if isinstance(spec, str) else list(spec)
    tokens: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise ConfigError(f"probe_conditions must be text ({SPEC_HELP}); got {part!r}")
        tokens += part.replace(";", " ").split()
    out: list[Condition] = []
    for tok in tokens:
        for cond in _parse_token(tok):
            if cond not in out:
                out.append(cond)
    return tuple(out)


def _parse_token(tok: str) -> list[Condition]:
    kind, sep, levels = tok.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise ConfigError(f"probe_conditions must be {SPEC_HELP}; got {tok!r} (unknown kind "
                          f"{kind!r}; kinds: {', '.join(KINDS)})")
    if kind == "none" or kind in PRESETS:
        if sep:
            raise ConfigError(f"probe_conditions: {kind!r} takes no levels; got {tok!r}")
        return [Condition(kind)]
    if not levels.strip():
        raise ConfigError(f"probe_conditions: {kind} needs levels, e.g. '{kind}:"
                          f"{_example(kind)}'; got {tok!r}")
    lo, hi = _RANGES[kind]
    out = []
    for raw in levels.split(","):
        try:
            v = float(raw)
        except ValueError:
            raise ConfigError(f"probe_conditions: each {kind} level must be a number; got "
                              f"{raw!r} in {tok!r}") from None
        if not (math.isfinite(v) and lo <= v <= hi):
            raise ConfigError(f"probe_conditions: {kind} levels must be in [{lo:g}, {hi:g}]; "
                              f"got {raw!r} in {tok!r}")
        if kind == "jpeg" and v != round(v):
            raise ConfigError(f"probe_conditions: jpeg quality must be a whole number; got "
                              f"{raw!r} in {tok!r}")
        out.append(Condition(kind, v))
    return out


def _example(kind: str) -> str:
    return {"resolution": "64,32,16", "blur": "1,2,4", "jpeg": "75,40,20,10",
            "exposure": "1,2,3", "noise": "4,8"}[kind]


def condition_seed(image_sha256: str, condition: Condition, seed: int = 0) -> int:
    """The 64-bit seed of the noise of one image under one condition."""
    key = f"{image_sha256}:{condition.condition_id}:{int(seed)}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little")


@dataclass(frozen=True)
class Degraded:
    """A degraded image: ``pixels`` (uint8, same shape as the input), whether it was
    ``changed`` at all, and ``failure`` (why it could not be made, else ``""``)."""

    pixels: np.ndarray
    changed: bool
    failure: str = ""


def inter_eye_distance(face: np.ndarray | None) -> float:
    """Pixels between the two eye landmarks of a stored detection (15 values: box, score,
    5 landmarks; see :meth:`faceaudit.pipeline.Detection.as_array`); NaN when absent."""
    if face is None or len(face) < 9:
        return math.nan
    a = np.asarray(face, np.float64)
    return float(math.hypot(a[5] - a[7], a[6] - a[8]))


def degrade(pixels: np.ndarray, condition: Condition, *, inter_eye: float = math.nan,
            rng_seed: int = 0) -> Degraded:
    """Apply ``condition`` to RGB ``uint8`` ``pixels`` (H, W, 3); never changes the shape.

    ``inter_eye`` is the clean image's distance between the eyes (needed by ``resolution``
    and presets containing it); ``rng_seed`` seeds the noise (:func:`condition_seed`).
    """
    img = np.ascontiguousarray(pixels, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ConfigError(f"pixels must be an (H, W, 3) uint8 array; got shape {img.shape}")
    steps = condition.steps
    if not steps:
        return Degraded(img, False)
    rng = np.random.default_rng(rng_seed)
    h, w = img.shape[:2]
    scale = 1.0
    if condition.needs_eyes:
        target = next(v for k, v in steps if k == "resolution")
        if not (math.isfinite(inter_eye) and inter_eye > 0):
            return Degraded(img, False, "no eye landmarks on the clean image to set the "
                                        "resolution from")
        scale = min(1.0, target / inter_eye)
    out = downscale(img, scale) if scale < 1.0 else img
    changed = scale < 1.0
    for kind, level in steps:
        if kind == "resolution":
            continue
        out = _STEP[kind](out, level, rng)
        changed = True
    if out.shape[:2] != (h, w):
        out = upscale(out, (w, h))
    return Degraded(np.ascontiguousarray(out, np.uint8), changed)


def downscale(pixels: np.ndarray, scale: float) -> np.ndarray:
    """``pixels`` resized by ``scale`` (< 1) to ``max(1, round(W s)) × max(1, round(H s))``
    with Pillow's antialiased bicubic filter."""
    image = _pil().fromarray(pixels)
    h, w = pixels.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(image.resize(size, _pil().Resampling.BICUBIC))


def upscale(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``pixels`` brought to ``size`` = (W, H) with bicubic interpolation."""
    return np.asarray(_pil().fromarray(pixels).resize(size, _pil().Resampling.BICUBIC))


def blur(pixels: np.ndarray, sigma: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` px (Pillow's ``GaussianBlur``)."""
    if sigma <= 0:
        return pixels
    from PIL import ImageFilter

    return np.asarray(_pil().fromarray(pixels).filter(ImageFilter.GaussianBlur(radius=sigma)))


def jpeg_bytes(pixels: np.ndarray, quality: int) -> bytes:
    """The JPEG file Pillow/libjpeg writes at ``quality`` (4:2:0, baseline, no optimisation)."""
    buf = io.BytesIO()
    _pil().fromarray(pixels).save(buf, format="JPEG", quality=int(quality), subsampling=2,
                                  optimize=False, progressive=False)
    return buf.getvalue()


def jpeg(pixels: np.ndarray, quality: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """``pixels`` encoded as JPEG at ``quality`` and decoded again (RGB uint8)."""
    data = jpeg_bytes(pixels, round(quality))
    with _pil().open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


STANDARD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])
"""ITU-T T.81 Annex K luminance quantisation table, natural (row-major) order."""

STANDARD_CHROMA = np.array([17, 18, 24, 47] + [99] * 4 + [18, 21, 26, 66] + [99] * 4
                           + [24, 26, 56] + [99] * 5 + [47, 66] + [99] * 6 + [99] * 32)
"""ITU-T T.81 Annex K chrominance quantisation table, natural (row-major) order."""


def jpeg_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    r"""libjpeg's tables at ``quality``: :math:`s = 5000/q` (q < 50) else :math:`200 - 2q`;
    each entry :math:`\min(255, \max(1, \lfloor (t\,s + 50) / 100 \rfloor))` (baseline)."""
    q = min(100, max(1, int(quality)))
    s = 5000 // q if q < 50 else 200 - 2 * q
    return tuple(np.clip((t * s + 50) // 100, 1, 255) for t in (STANDARD_LUMA, STANDARD_CHROMA))  # type: ignore[return-value]


def darken(pixels: np.ndarray, stops: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Darkened by ``stops`` stops in linear light (sRGB approximated by gamma 2.2)."""
    lin = (pixels.astype(np.float64) / 255.0) ** _GAMMA * 2.0 ** (-float(stops))
    return np.clip(np.rint(255.0 * lin ** (1.0 / _GAMMA)), 0, 255).astype(np.uint8)


def add_noise(pixels: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian sensor noise of standard deviation ``sigma`` (8-bit units), rounded, clipped."""
    noise = rng.standard_normal(pixels.shape) * float(sigma)
    return np.clip(np.rint(pixels.astype(np.float64) + noise), 0, 255).astype(np.uint8)


_STEP = {"blur": blur, "jpeg": jpeg, "exposure": darken, "noise": add_noise}


def _pil() -> Any:  # the PIL.Image module
    require("PIL.Image", "models")
    from PIL import Image

    return Image


def severity(condition: Condition) -> float:
    """A number that grows with how degraded the condition is (for sorting levels)."""
    if condition.kind == "none":
        return -math.inf
    if condition.kind in PRESETS:
        return math.inf
    return SEVERITY_ORDER[condition.kind] * condition.level
