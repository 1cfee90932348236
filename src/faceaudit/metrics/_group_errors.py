"""One group's errors at one threshold, with the per-person counts its intervals need.

The one place that turns a :class:`~faceaudit.ScoreSummary`, a group and a threshold into a
:class:`~faceaudit.metrics.GroupErrors` (used by :meth:`AuditResult.group_errors` at the global
threshold and by :mod:`faceaudit.metrics._policies` at vendor and per-group thresholds).
"""

from __future__ import annotations

from .._errors import check_option
from .._summary import ScoreSummary
from ._clustered import GroupErrors
from ._counting import error_counts
from ._people import person_counts


def group_errors_both(summary: ScoreSummary, group: int, threshold: float,
                      label: str = "") -> tuple[GroupErrors, GroupErrors]:
    """``(FMR errors, FNMR errors)`` of :func:`group_errors_at`, counted in one pass."""
    c = error_counts(summary.scores((group, group)), thresholds=threshold)
    gen, imp = person_counts(summary, group, threshold)
    hi, lo = int(c.false_matches_high[0]), int(c.false_matches_low[0])
    ok = imp is not None and lo == hi and imp.errors == hi and imp.trials == c.n_nonmated
    fmr = GroupErrors(hi, int(c.n_nonmated), errors_low=None if lo == hi else lo,
                      people=imp if ok else None, label=label)
    fnmr = GroupErrors(int(c.false_non_matches[0]), int(c.n_mated), people=gen, label=label)
    return fmr, fnmr


def group_errors_at(summary: ScoreSummary, group: int, threshold: float, rate: str = "fmr",
                    label: str = "") -> GroupErrors:
    """Errors of group ``group``'s own cell (both samples in the group) at ``threshold``.

    ``rate="fnmr"``: genuine pairs with ``score < threshold`` of all genuine pairs, with
    per-person counts. ``rate="fmr"``: impostor pairs with ``score >= threshold`` of all
    impostor pairs; a count read inside a histogram bin is a bound (``errors_low`` <
    ``errors``) and has no per-person counts.
    """
    check_option("rate", rate, ("fmr", "fnmr"))
    fmr, fnmr = group_errors_both(summary, group, threshold, label)
    return fmr if rate == "fmr" else fnmr
