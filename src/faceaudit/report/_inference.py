"""``verification.inference`` of ``results.json``: what the counts support, at the audit's level.

Built once from an :class:`~faceaudit.metrics.AuditResult` by :func:`inference_view`, read by
the findings, the HTML report, the figures and ``faceaudit compare``. Nothing here decides a
rule: every interval comes from :mod:`faceaudit.metrics` (rate intervals clustered by person,
ratio intervals that may be unbounded, NIST IR 8429 summaries, the ranking rule), always at the
audit's ``confidence``.

Layout (schema :data:`~faceaudit.report._schema.SCHEMA_VERSION`)::

    inference = {
      "confidence": 0.95,              # the level of every interval below
      "exact": true,                   # false when some count is only a bound (say "at most")
      "reference_group": "M / white" | null,
      "groups": {label: {
          "fmr": RateInterval, "fnmr": RateInterval,           # metrics.rate_interval
          "fmr_ratio_to_reference": RatioInterval | null,      # metrics.ratio_interval
          "fnmr_ratio_to_reference": RatioInterval | null,
          "fmr_ratio_to_best": RatioInterval | null,           # metrics.ratio_to_best
          "fnmr_ratio_to_best": RatioInterval | null}},
      "summaries": {"fmr": DisparitySummary, "fnmr": DisparitySummary},  # NIST IR 8429
      "combined": {"fdr": ..., "inequity_rate": ..., "garbe": ...},      # CombinedSummary
      "rankings": {"fmr": Ranking, "fnmr": Ranking},                      # metrics.rank_groups
      "excluded": {"fmr": [[label, reason], ...], "fnmr": [...]}         # left out of summaries
    }

An infinite upper bound is written as ``null`` with ``"unbounded": true`` and a ``reason``
(:data:`~faceaudit.metrics.UNBOUNDED_REASONS`). :func:`flat_fields` copies the figures a table
needs into each group record (``fmr_shown_low`` ... listed in :data:`FLAT_FIELDS`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..metrics import (
    combined_summaries,
    disparity_summary,
    rank_groups,
    ratio_interval,
    ratio_to_best,
)

RATES = ("fmr", "fnmr")

FLAT_FIELDS = tuple(
    f"{key}_{suffix}"
    for key in RATES
    for suffix in (
        "shown_low", "shown_high", "one_sided", "errors_low", "count_exact",
        "ratio_to_reference_low", "ratio_to_reference_high", "ratio_to_reference_unbounded",
        "ratio_to_reference_reason", "ratio_to_best", "ratio_to_best_low",
        "ratio_to_best_high", "ratio_to_best_unbounded", "ratio_to_best_reason",
    )
)
"""Per-group columns :func:`flat_fields` adds to ``verification.groups`` and ``by_group.csv``:
the interval shown for each rate (``<rate>_shown_low/_high``: the hull of Clopper–Pearson, the
design-effect interval and the bootstrap over people; ``<rate>_one_sided``: no error seen, so
``_shown_high`` is a one-sided upper bound and ``_shown_low`` is 0), the lower bound of an
inexact count (``<rate>_errors_low``; ``<rate>_count_exact``), and the ratios to the reference
and to the best qualifying group with intervals that may be unbounded."""


def _thin(by: Any, key: str) -> dict[str, str]:
    """Groups thin for rate ``key`` and why (they are left out of summaries and rankings)."""
    out = {}
    for lab, flag, why in zip(by["label"], by[f"thin_{key}"], by[f"thin_{key}_reason"],
                              strict=True):
        if bool(flag):
            out[str(lab)] = f"thin: {why}" if why else "thin"
    return out


def _replicates(audit: Any, key: str) -> np.ndarray | None:
    reps = getattr(audit, f"boot_{key}", None)
    return None if reps is None or not len(reps) else np.asarray(reps, np.float64)


def _rate_block(audit: Any, key: str, groups: list[Any]) -> dict[str, Any]:
    """Everything :func:`inference_view` says about one rate."""
    conf = audit.confidence
    labels = [g.label for g in groups]
    reps = _replicates(audit, key)
    thin = _thin(audit.by_group, key)
    ivs = [g.interval(conf, None if reps is None else reps[:, i]) for i, g in enumerate(groups)]
    per: dict[str, dict[str, Any]] = {lab: {key: iv.to_dict()} for lab, iv in
                                      zip(labels, ivs, strict=True)}
    ref = audit.reference
    for i, g in enumerate(groups):
        r = None
        if ref is not None:
            den = groups[ref]
            r = ratio_interval(g, den, confidence=conf,
                               num_replicates=None if reps is None else reps[:, i],
                               den_replicates=None if reps is None else reps[:, ref]).to_dict()
        per[labels[i]][f"{key}_ratio_to_reference"] = r
    best = ratio_to_best(groups, replicates=reps, confidence=conf, exclude=thin)
    for lab in labels:
        per[lab][f"{key}_ratio_to_best"] = best[lab].to_dict() if lab in best else None
    summary = disparity_summary(groups, replicates=reps, confidence=conf, exclude=thin,
                                rate=key.upper())
    ranking = rank_groups(groups, intervals=[(iv.low, iv.high) for iv in ivs],
                          replicates=reps, confidence=conf, exclude=thin)
    return {"per": per, "summary": summary.to_dict(), "ranking": ranking.to_dict(),
            "excluded": [list(x) for x in summary.excluded], "thin": thin,
            "exact": all(g.exact for g in groups)}


def as_written(obj: Any) -> Any:
    """``obj`` as ``results.json`` holds it: NumPy scalars as Python numbers, tuples as lists,
    NaN and infinities as None (an infinite bound is told by its ``unbounded`` flag), so that
    the in-memory results equal the file read back."""
    if isinstance(obj, Mapping):
        return {str(k): as_written(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [as_written(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def inference_view(audit: Any) -> dict[str, Any]:
    """``verification.inference`` from an :class:`~faceaudit.metrics.AuditResult` (layout in
    the module docstring), as written (:func:`as_written`)."""
    fmr_groups = audit.group_errors("fmr")
    fnmr_groups = audit.group_errors("fnmr")
    blocks = {"fmr": _rate_block(audit, "fmr", fmr_groups),
              "fnmr": _rate_block(audit, "fnmr", fnmr_groups)}
    groups: dict[str, dict[str, Any]] = {}
    for key in RATES:
        for lab, d in blocks[key]["per"].items():
            groups.setdefault(lab, {}).update(d)
    both = {**blocks["fnmr"]["thin"], **blocks["fmr"]["thin"]}
    combined = combined_summaries(
        fmr_groups, fnmr_groups, fmr_replicates=_replicates(audit, "fmr"),
        fnmr_replicates=_replicates(audit, "fnmr"), alpha=audit.alpha,
        confidence=audit.confidence, exclude=both)
    ref = audit.reference
    return as_written({
        "confidence": float(audit.confidence),
        "exact": blocks["fmr"]["exact"] and blocks["fnmr"]["exact"],
        "reference_group": None if ref is None else fmr_groups[ref].label,
        "groups": groups,
        "summaries": {k: blocks[k]["summary"] for k in RATES},
        "combined": {k: v.to_dict() for k, v in combined.items()},
        "rankings": {k: blocks[k]["ranking"] for k in RATES},
        "excluded": {k: blocks[k]["excluded"] for k in RATES},
    })


def _get(d: Mapping[str, Any] | None, k: str) -> Any:
    return None if d is None else d.get(k)


def flat_fields(inference: Mapping[str, Any], label: str) -> dict[str, Any]:
    """The :data:`FLAT_FIELDS` of group ``label`` (None where a figure does not exist).

    The bootstrap part of the ratio to the reference (``<rate>_ratio_to_reference_boot_low``,
    ``_boot_high``) is also returned, from the replicates kept whole (``inf`` kept), so that it
    replaces :class:`~faceaudit.metrics.AuditResult`'s quantiles, which skip undefined replicates.
    """
    g = (inference.get("groups") or {}).get(label) or {}
    out: dict[str, Any] = {}
    for key in RATES:
        iv = g.get(key) or {}
        out[f"{key}_shown_low"] = iv.get("low")
        out[f"{key}_shown_high"] = iv.get("high")
        out[f"{key}_one_sided"] = iv.get("one_sided")
        out[f"{key}_errors_low"] = iv.get("errors_low")
        out[f"{key}_count_exact"] = iv.get("exact")
        for name in ("ratio_to_reference", "ratio_to_best"):
            r = g.get(f"{key}_{name}")
            if name == "ratio_to_best":
                out[f"{key}_{name}"] = _get(r, "value")
            out[f"{key}_{name}_low"] = _get(r, "low")
            out[f"{key}_{name}_high"] = _get(r, "high")
            out[f"{key}_{name}_unbounded"] = _get(r, "unbounded")
            out[f"{key}_{name}_reason"] = _get(r, "reason_text")
        r = g.get(f"{key}_ratio_to_reference")
        boot = (_get(r, "boot_low"), _get(r, "boot_high"))
        if r is not None and any(b is not None for b in boot):
            out[f"{key}_ratio_to_reference_boot_low"] = boot[0]
            out[f"{key}_ratio_to_reference_boot_high"] = boot[1]
    return out


__all__ = ["FLAT_FIELDS", "RATES", "as_written", "flat_fields", "inference_view"]
