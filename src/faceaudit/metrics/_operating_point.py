"""One operating point: how its threshold is chosen, and every error figure at it.

Used by :class:`~faceaudit.metrics.AuditResult` (per group) and by ``faceaudit metrics`` on a
bob score file, so a threshold rule or a rate is never written twice.

Conventions: a comparison is accepted iff ``score >= threshold``; FMR/FNMR are
algorithm-level, FAR = FMR·(1−FTA) and FRR = FTA + FNMR·(1−FTA) system-level.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._errors import InputError
from .._summary import ScoreSet
from ._counting import error_counts
from ._evidence import CONFIDENCE
from ._intervals import clopper_pearson
from ._rates import eer_threshold, system_far, system_frr, threshold_at_fmr

TARGET_FMR = 1e-3
"""Default target FMR of the operating threshold (set on the reference group, NIST-style)."""


def ratio(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """``a / b`` elementwise with NaN where it is not finite (0/0, x/0)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a / b
    return np.where(np.isfinite(out), out, np.nan)


def choose_threshold(
    scores: ScoreSet,
    *,
    threshold: float | None = None,
    target_fmr: float | None = None,
    where: str = "the scores",
) -> tuple[float, str]:
    """The decision threshold and how it was chosen, in words.

    A given ``threshold`` is used as it is; else :func:`threshold_at_fmr` at ``target_fmr``
    (the smallest threshold whose FMR on ``scores`` is at most the target); else the EER
    threshold of ``scores``. ``where`` names the scores in the rule's text.

    Raises
    ------
    InputError
        ``target_fmr`` is given but ``scores`` has no impostor comparison.
    """
    if threshold is not None:
        return float(threshold), "given"
    if target_fmr is not None:
        if scores.n_impostor == 0:
            raise InputError(f"cannot choose a threshold for target_fmr={target_fmr:g}: "
                             f"{where} has no impostor comparisons; pick another "
                             "reference_group or give threshold")
        t = threshold_at_fmr(scores, target=target_fmr)
        return t, f"smallest threshold with FMR <= {target_fmr:g} on {where}"
    return eer_threshold(scores), f"EER on {where}"


def rates_at(s: ScoreSet, threshold: float, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Every error figure of ``s`` at ``threshold``, with counts and Clopper–Pearson intervals.

    Keys: ``fmr``, ``fmr_ci_low``, ``fmr_ci_high``, ``false_matches``, ``n_nonmated``,
    ``fmr_exact`` and ``fmr_lower_bound`` (a threshold inside a histogram bin gives the upper
    bound as ``fmr``); ``fnmr``, ``fnmr_ci_low``, ``fnmr_ci_high``, ``false_non_matches``,
    ``n_mated``; ``fta`` (failed / attempted comparisons), ``far``, ``frr``. Empty
    denominators give NaN.
    """
    c = error_counts(s, thresholds=threshold)
    fm, fm_lo = int(c.false_matches_high[0]), int(c.false_matches_low[0])
    fnm = int(c.false_non_matches[0])
    nn, nm = c.n_nonmated, c.n_mated
    fmr, fmr_lo_bound = ratio(fm, nn).item(), ratio(fm_lo, nn).item()
    fnmr = ratio(fnm, nm).item()
    attempted = nn + nm + s.genuine_fta + s.impostor_fta
    fta = ratio(s.genuine_fta + s.impostor_fta, attempted).item()
    f_lo, f_hi = clopper_pearson(fm, nn, confidence)
    n_lo, n_hi = clopper_pearson(fnm, nm, confidence)
    return {
        "fmr": fmr, "fmr_ci_low": f_lo, "fmr_ci_high": f_hi,
        "fnmr": fnmr, "fnmr_ci_low": n_lo, "fnmr_ci_high": n_hi,
        "false_matches": fm, "n_nonmated": nn, "false_non_matches": fnm, "n_mated": nm,
        "fmr_exact": bool(c.exact[0]), "fmr_lower_bound": fmr_lo_bound,
        "fta": fta, "far": system_far(fmr, fta) if not math.isnan(fta) else math.nan,
        "frr": system_frr(fnmr, fta) if not math.isnan(fta) else math.nan,
    }
