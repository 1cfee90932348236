"""Probe-quality stress audit: what poor probe photos do to each group's error rates.

- :mod:`faceaudit.probe._conditions` — the probe conditions (resolution, blur, JPEG,
  exposure, noise, the ``cctv`` preset): deterministic transforms of decoded pixels, applied to
  probe images only, before detection (:func:`parse_conditions`, :func:`degrade`).
"""

from __future__ import annotations

from ._conditions import (
    CCTV,
    KINDS,
    NONE,
    PRESETS,
    SPEC_HELP,
    Condition,
    Degraded,
    condition_seed,
    degrade,
    downscale,
    inter_eye_distance,
    jpeg_bytes,
    jpeg_tables,
    parse_conditions,
    severity,
)

__all__ = [
    "CCTV",
    "KINDS",
    "NONE",
    "PRESETS",
    "SPEC_HELP",
    "Condition",
    "Degraded",
    "condition_seed",
    "degrade",
    "downscale",
    "inter_eye_distance",
    "jpeg_bytes",
    "jpeg_tables",
    "parse_conditions",
    "severity",
]
