"""Probe-quality stress audit: what poor probe photos do to each group's error rates.

- :mod:`faceaudit.probe._conditions` — the probe conditions (resolution, blur, JPEG,
  exposure, noise, the ``cctv`` preset): deterministic transforms of decoded pixels, applied to
  probe images only, before detection (:func:`parse_conditions`, :func:`degrade`);
- :mod:`faceaudit.probe._degraded` — templates of degraded probes through the clean audit's
  pipeline, cached in the template store per (image sha256, pipeline id, condition id);
- :mod:`faceaudit.probe._measure` — FTA, FNMR, same- and cross-group FMR per group and level
  at the clean threshold, with the clean audit's intervals (:class:`ProbeAudit`);
- :func:`probe_audit` — all of it from an audit's clean templates.
"""

from __future__ import annotations

from ._audit import probe_audit
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
from ._degraded import DegradedSet, degraded_templates, pipeline_config, probe_store_key
from ._measure import RATES, ProbeAudit, measure_probes, orientation_keys, probe_people

__all__ = [
    "CCTV",
    "KINDS",
    "NONE",
    "PRESETS",
    "RATES",
    "SPEC_HELP",
    "Condition",
    "Degraded",
    "DegradedSet",
    "ProbeAudit",
    "condition_seed",
    "degrade",
    "degraded_templates",
    "downscale",
    "inter_eye_distance",
    "jpeg_bytes",
    "jpeg_tables",
    "measure_probes",
    "orientation_keys",
    "parse_conditions",
    "pipeline_config",
    "probe_audit",
    "probe_people",
    "probe_store_key",
    "severity",
]
