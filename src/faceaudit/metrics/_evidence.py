"""How much the data support a figure: the thin rules, the interval shown, the bootstrap defaults.

Decided here once; :class:`~faceaudit.metrics.AuditResult`, the 1:N findings, the report and
the command line read them from here, so ``faceaudit metrics`` and the HTML report can never
show different intervals or flag different groups.

Thin rules (a figure resting on too little data is flagged, with the reason):

- **FMR**: fewer than ``RULE_OF_THREE / target_fmr`` impostor comparisons cannot show FMR at
  most the target even with zero false matches (the rule of three), unless at least
  ``PRECISE_ERRORS`` false matches were observed (then the FMR is far above the target and
  measured); also fewer than :data:`MIN_PEOPLE` people;
- **FNMR**: fewer than :data:`MIN_PEOPLE` people, or no genuine pair;
- **1:N**: fewer than :data:`MIN_SEARCHES` searches of the kind (mated or non-mated).

A group is *thin* when any of its figures is. The interval shown for a rate is
:func:`shown_interval`: the hull of the Clopper–Pearson and the subject-bootstrap intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._intervals import PRECISE_ERRORS, RULE_OF_THREE

N_BOOT = 200
"""Default number of bootstrap replicates over people, for every entry point (0 = none)."""
SEED = 0
"""Default seed of the bootstrap, the quick-try subset and every sampling step."""
CONFIDENCE = 0.95
"""Default level of every interval."""
MIN_PEOPLE = 10
"""A group with fewer people than this is thin for FMR and FNMR."""
MIN_SEARCHES = 30
"""A 1:N figure resting on fewer searches than this is thin."""

THIN_RULE = (
    "A group is flagged thin when its impostor comparisons are too few to measure the "
    "target FMR (fewer than 3 / target FMR, the rule of three), when it has fewer than "
    f"{MIN_PEOPLE} people, or when it has no genuine pair. Groups defined by a missing "
    "label ('unknown') are shown in the tables but left out of the findings: they are "
    "missing data, not a demographic group."
)
"""The thin rule in words, as the report states it."""


def fmr_thin_reason(n_nonmated: int, false_matches: int, target_fmr: float | None) -> str:
    """Why ``n_nonmated`` impostor comparisons cannot support FMR = ``target_fmr`` ('' if they can).

    >>> fmr_thin_reason(500, 0, 1e-3)[:58]
    '500 impostor comparisons cannot support FMR = 0.001 (needs'
    >>> fmr_thin_reason(500, 12, 1e-3), fmr_thin_reason(5000, 0, 1e-3)
    ('', '')
    """
    if target_fmr is None or not 0 < n_nonmated < RULE_OF_THREE / target_fmr:
        return ""
    if false_matches >= PRECISE_ERRORS:  # FMR far above the target: measured
        return ""
    return (
        f"{n_nonmated} impostor comparisons cannot support FMR = {target_fmr:g} (needs >= "
        f"{math.ceil(RULE_OF_THREE / target_fmr)} by the rule of three, or >= "
        f"{PRECISE_ERRORS} false matches)"
    )


def thin_reasons(
    *, n_people: int, n_mated: int, fmr_reason: str = ""
) -> tuple[list[str], list[str]]:
    """The reasons the FMR and the FNMR of a group are thin (empty lists: they are not).

    ``fmr_reason`` is :func:`fmr_thin_reason` of the group's impostor comparisons.
    """
    fmr = [fmr_reason] if fmr_reason else []
    fnmr: list[str] = []
    if n_people < MIN_PEOPLE:
        who = "person" if n_people == 1 else "people"
        few = f"only {n_people} {who} (fewer than {MIN_PEOPLE})"
        fmr.append(few)
        fnmr.append(few)
    if n_mated == 0:
        fnmr.append("no genuine pairs")
    return fmr, fnmr


def searches_thin_reason(n_searches: int) -> str:
    """Why a 1:N figure over ``n_searches`` searches is thin ('' if it is not)."""
    if n_searches >= MIN_SEARCHES:
        return ""
    return f"Only {n_searches} searches (fewer than {MIN_SEARCHES})"


def shown_interval(row: Mapping[str, Any], key: str) -> tuple[float, float]:
    """The interval a report shows for rate ``key`` ("fmr", "fnmr"): the hull of the exact
    Clopper–Pearson interval (``<key>_ci_low/_ci_high``) and the bootstrap-over-people interval
    (``<key>_boot_low/_boot_high``), whichever parts exist.

    Clopper–Pearson treats comparisons as independent, which they are not (one person is in
    many pairs), so alone it is too narrow for large groups; the bootstrap accounts for that
    but cannot see errors no resample contains (``[0, 0]`` when none was observed). The hull
    is honest in both cases. NaN bounds when neither exists.

    A row that already carries the interval an audit showed (``<key>_shown_low`` /
    ``_shown_high``, from :func:`~faceaudit.metrics.rate_interval`: the hull also of the
    design-effect interval, one-sided at 0 errors) is read as it is.
    """
    try:
        lo, hi = float(row.get(f"{key}_shown_low")), float(row.get(f"{key}_shown_high"))  # type: ignore[arg-type]
        if math.isfinite(lo) and math.isfinite(hi):
            return lo, hi
    except (TypeError, ValueError):
        pass
    los, his = [], []
    for lo_key, hi_key in ((f"{key}_ci_low", f"{key}_ci_high"),
                           (f"{key}_boot_low", f"{key}_boot_high")):
        try:
            lo, hi = float(row.get(lo_key)), float(row.get(hi_key))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if math.isfinite(lo) and math.isfinite(hi):
            los.append(lo)
            his.append(hi)
    return (min(los), max(his)) if los else (float("nan"), float("nan"))
