"""The score summaries behind two audit folders, and their paired comparison.

An audit keeps its :class:`~faceaudit.ScoreSummary` in the audit cache, never in the report
folder (no biometric data there); ``results.json`` records the cache folder, the cache key and
the file's sha256. :func:`paired_from_results` finds both files, checks their sha256 and runs
:func:`~faceaudit.metrics.paired_comparison` at each audit's own threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._errors import InputError, IntegrityError
from .._io import sha256_file
from .._summary import ScoreSummary
from ..metrics import CONFIDENCE, N_BOOT, SEED, paired_comparison


def audit_summary(results: Mapping[str, Any], name: str = "the audit") -> ScoreSummary:
    """The cached score summary of an audit (checked against the sha256 in ``results.json``).

    Raises
    ------
    InputError
        The cache entry is not recorded or no longer exists (re-run the audit to rebuild it).
    IntegrityError
        The cached file's sha256 is not the one recorded.
    """
    rec = (results.get("inputs") or {}).get("score_summary") or {}
    key, cache = rec.get("cache_key"), results.get("cache_dir")
    if not key or not cache:
        raise InputError(f"{name}: results.json records no cached score summary; re-run the "
                         "audit (or compare with --no-paired)")
    path = Path(cache) / f"summary-{key[:32]}.npz"
    if not path.is_file():
        raise InputError(f"{name}: its score summary {path} is no longer in the cache; re-run "
                         "the audit with the same settings to rebuild it (or --no-paired)")
    got = sha256_file(path)
    if rec.get("sha256") and got != rec["sha256"]:
        raise IntegrityError(f"{path}: sha256 {got} is not the {rec['sha256']} recorded in "
                             f"{name}'s results.json; re-run the audit")
    return ScoreSummary.load(path)


def paired_from_results(a: Mapping[str, Any], b: Mapping[str, Any], *, name_a: str = "A",
                        name_b: str = "B", n_boot: int = N_BOOT, seed: int = SEED,
                        confidence: float = CONFIDENCE) -> dict[str, Any]:
    """:func:`~faceaudit.metrics.paired_comparison` of two audit results (B against A)."""
    va, vb = a.get("verification") or {}, b.get("verification") or {}
    ref = va.get("reference_group")
    return paired_comparison(audit_summary(a, name_a), audit_summary(b, name_b),
                             float(va["threshold"]), float(vb["threshold"]),
                             reference_group=ref if ref == vb.get("reference_group") else None,
                             n_boot=n_boot, seed=seed, confidence=confidence)
