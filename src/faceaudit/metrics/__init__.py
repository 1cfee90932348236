"""Verification error rates, thresholds, curves, intervals and per-group audits.

Conventions (stated once, used everywhere):

- **Argument order** is bob.measure's ``(negatives, positives)``: impostor (non-mated)
  scores first, genuine (mated) scores second. A :class:`~faceaudit.ScoreSet` may be passed
  instead of the two arrays.
- Scores are similarities; a comparison is **accepted iff** ``score >= threshold``. A
  genuine score exactly at the threshold is accepted; an impostor score exactly at it is a
  false match.
- FMR/FNMR are algorithm-level (failures to acquire excluded); FAR/FRR are system-level:
  FAR = FMR·(1−FTA), FRR = FTA + FNMR·(1−FTA).
- An empty denominator gives NaN with :class:`~faceaudit.UndefinedMetricWarning`; choosing a
  threshold from empty input raises :class:`~faceaudit.InputError`.

Everything derives from one counting core, :func:`error_counts`. How much the data support a
figure (the thin rules, the interval shown, the bootstrap defaults :data:`N_BOOT`,
:data:`SEED`, :data:`CONFIDENCE`) is decided once, in :mod:`faceaudit.metrics._evidence`.
"""

from __future__ import annotations

from .._errors import InexactMetricWarning
from ._audit_result import AuditResult
from ._clustered import GroupErrors, RateInterval, effective_clopper_pearson, rate_interval
from ._counting import ErrorCounts, error_counts
from ._disparity import UNBOUNDED_REASONS, RatioInterval, ratio_interval, ratio_to_best
from ._evidence import (
    CONFIDENCE,
    MIN_PEOPLE,
    MIN_SEARCHES,
    N_BOOT,
    SEED,
    THIN_RULE,
    fmr_thin_reason,
    searches_thin_reason,
    shown_interval,
    thin_reasons,
)
from ._fairness import FairnessSummary, fdr, garbe, gini, inequity_rate, ser
from ._intervals import (
    clopper_pearson,
    cross_denominator,
    draw_weights,
    within_denominator,
    zero_upper_bound,
)
from ._operating_point import TARGET_FMR, choose_threshold, rates_at
from ._paired import paired_comparison
from ._people import PersonCounts, person_counts
from ._policies import (
    CROSS_GROUP_RULE,
    POLICIES,
    POLICY_CAVEAT,
    POLICY_CHOICES,
    PolicyResult,
    VendorOperatingPoint,
    cross_group_fmr,
    policy_names,
    policy_thresholds,
    threshold_policies,
)
from ._rates import (
    det_curve,
    eer,
    eer_threshold,
    fmr,
    fnmr,
    fta,
    hter,
    roc_auc,
    roc_curve,
    roc_for_far,
    system_far,
    system_frr,
    threshold_at_fmr,
    threshold_at_fnmr,
)
from ._summaries import (
    CombinedSummary,
    DisparitySummary,
    Measure,
    Ranking,
    combined_summaries,
    disparity_summary,
    rank_groups,
)

__all__ = [
    "CONFIDENCE",
    "CROSS_GROUP_RULE",
    "MIN_PEOPLE",
    "MIN_SEARCHES",
    "N_BOOT",
    "POLICIES",
    "POLICY_CAVEAT",
    "POLICY_CHOICES",
    "SEED",
    "TARGET_FMR",
    "THIN_RULE",
    "UNBOUNDED_REASONS",
    "AuditResult",
    "CombinedSummary",
    "DisparitySummary",
    "ErrorCounts",
    "FairnessSummary",
    "GroupErrors",
    "InexactMetricWarning",
    "Measure",
    "PersonCounts",
    "PolicyResult",
    "Ranking",
    "RateInterval",
    "RatioInterval",
    "VendorOperatingPoint",
    "choose_threshold",
    "clopper_pearson",
    "combined_summaries",
    "cross_denominator",
    "cross_group_fmr",
    "det_curve",
    "disparity_summary",
    "draw_weights",
    "eer",
    "eer_threshold",
    "effective_clopper_pearson",
    "error_counts",
    "fdr",
    "fmr",
    "fmr_thin_reason",
    "fnmr",
    "fta",
    "garbe",
    "gini",
    "hter",
    "inequity_rate",
    "paired_comparison",
    "person_counts",
    "policy_names",
    "policy_thresholds",
    "rank_groups",
    "rate_interval",
    "rates_at",
    "ratio_interval",
    "ratio_to_best",
    "roc_auc",
    "roc_curve",
    "roc_for_far",
    "searches_thin_reason",
    "ser",
    "shown_interval",
    "system_far",
    "system_frr",
    "thin_reasons",
    "threshold_at_fmr",
    "threshold_at_fnmr",
    "threshold_policies",
    "within_denominator",
    "zero_upper_bound",
]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__"):
        try:
            _obj.__module__ = __name__
        except (AttributeError, TypeError):
            pass
