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

Everything derives from one counting core, :func:`error_counts`.
"""

from __future__ import annotations

from .._errors import InexactMetricWarning
from ._audit import AuditResult
from ._clustered import (
    GroupErrors,
    PersonCounts,
    RateInterval,
    effective_clopper_pearson,
    person_counts,
    rate_interval,
)
from ._counting import ErrorCounts, error_counts
from ._disparity import (
    UNBOUNDED_REASONS,
    CombinedSummary,
    DisparitySummary,
    Measure,
    Ranking,
    RatioInterval,
    combined_summaries,
    disparity_summary,
    rank_groups,
    ratio_interval,
    ratio_to_best,
)
from ._fairness import FairnessSummary, fdr, garbe, gini, inequity_rate, ser
from ._intervals import (
    clopper_pearson,
    cross_denominator,
    within_denominator,
    zero_upper_bound,
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

__all__ = [
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
    "Ranking",
    "RateInterval",
    "RatioInterval",
    "clopper_pearson",
    "combined_summaries",
    "cross_denominator",
    "det_curve",
    "disparity_summary",
    "eer",
    "eer_threshold",
    "effective_clopper_pearson",
    "error_counts",
    "fdr",
    "fmr",
    "fnmr",
    "fta",
    "garbe",
    "gini",
    "hter",
    "inequity_rate",
    "person_counts",
    "rank_groups",
    "rate_interval",
    "ratio_interval",
    "ratio_to_best",
    "roc_auc",
    "roc_curve",
    "roc_for_far",
    "ser",
    "system_far",
    "system_frr",
    "threshold_at_fmr",
    "threshold_at_fnmr",
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
