r"""NIST IR 8429 disparity summaries over many groups, and the rules for ranking groups.

Intervals as in :mod:`faceaudit.metrics._disparity`: the hull of a Bonferroni bound from the
groups' own intervals and the people-bootstrap percentile interval, replicates kept whole.

**Zero-error groups in the NIST IR 8429 summaries.** Grother (2022), *FRVT Part 8:
Summarizing Demographic Differentials* (NIST IR 8429), replaces an error rate of zero, which
would make a ratio or a geometric mean undefined, by the upper confidence bound of that rate
(the rate at which zero errors in the group's comparisons would still be unsurprising). Here
that bound is a floor: each rate in the *denominator* of Max/Min and Max/GeoMean is
:math:`\max(\hat p_g, f_g)` with :math:`f_g = 1 - 0.05^{1/n_g}` (the one-sided 95% bound at 0
errors, :math:`\approx 3/n_g`, the rule of three; fixed at 95% so the point estimate does not
move with ``confidence``). The numerator (the worst group's rate) is never floored, so a small
group without errors cannot become "the worst". Zero rates therefore never make a summary
undefined; only "no group has any error" does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import ConfigError, check_range
from ._clustered import GroupErrors, percentile_interval
from ._disparity import check_confidence, safe_div, select_groups
from ._intervals import zero_upper_bound

FLOOR_CONFIDENCE = 0.95
"""Level of the zero-error floor of NIST IR 8429 summaries (rule of three: 3/n)."""


# ---------------------------------------------------------------------- many-group measures
def _max_min(x: np.ndarray, d: np.ndarray | None = None) -> np.ndarray:
    """max(x) / min(d) along the last axis (d = x by default)."""
    d = x if d is None else d
    return safe_div(np.max(x, axis=-1), np.min(d, axis=-1))


def _max_geomean(x: np.ndarray, d: np.ndarray | None = None) -> np.ndarray:
    """max(x) / geometric mean(d) along the last axis (d = x by default)."""
    d = x if d is None else d
    with np.errstate(divide="ignore"):
        gm = np.exp(np.mean(np.log(d), axis=-1))
    return safe_div(np.max(x, axis=-1), gm)


def _max_minus_min(x: np.ndarray) -> np.ndarray:
    return np.max(x, axis=-1) - np.min(x, axis=-1)


def _gini(x: np.ndarray) -> np.ndarray:
    """Gini with the n/(n-1) correction along the last axis; NaN where every value is 0."""
    n = x.shape[-1]
    num = np.abs(x[..., :, None] - x[..., None, :]).sum(axis=(-2, -1))
    mean = x.mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = n / (n - 1) * num / (2 * n * n * mean)
    return np.where(mean > 0, g, np.nan)


MEASURES = ("max_min_ratio", "max_geomean_ratio", "max_minus_min", "gini")
"""The NIST IR 8429 summaries computed for each of FMR and FNMR."""

_MEASURE_TEXT = {
    "max_min_ratio": "worst group's rate divided by the best group's (floored)",
    "max_geomean_ratio": "worst group's rate divided by the geometric mean of all groups' "
                         "(floored); NIST IR 8429's leading summary",
    "max_minus_min": "worst group's rate minus the best group's",
    "gini": "Gini coefficient of the groups' rates (0 = equal, 1 = one group has every error), "
            "with the n/(n-1) correction",
}


@dataclass(frozen=True)
class Measure:
    """One summary figure with its interval (see the module docstring).

    ``bound_low``/``bound_high`` are NaN where no bound from the group intervals exists
    (Gini, which is not monotone in each rate); ``reason`` says why ``value`` is NaN or why
    ``high`` is infinite.
    """

    name: str
    value: float
    low: float
    high: float
    bound_low: float
    bound_high: float
    boot_low: float
    boot_high: float
    unbounded: bool
    reason: str | None
    definition: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DisparitySummary:
    """NIST IR 8429 summaries of one rate over the groups that qualify.

    Attributes
    ----------
    rate : str
        "FMR" or "FNMR" (or any name given).
    measures : dict of str to Measure
        :data:`MEASURES`.
    used : tuple of str
        Groups the summaries are computed over.
    excluded : tuple of (str, str)
        Groups left out, with the reason (missing label, thin, no comparisons).
    floors : dict of str to float
        The zero-error floor :math:`f_g` of each used group.
    floored : tuple of str
        Used groups whose rate was raised to its floor in the denominators.
    exact : bool
        False when a used group's count is only a bound.
    confidence : float
    """

    rate: str
    measures: dict[str, Measure]
    used: tuple[str, ...]
    excluded: tuple[tuple[str, str], ...]
    floors: dict[str, float]
    floored: tuple[str, ...]
    exact: bool
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"rate": self.rate, "measures": {k: m.to_dict() for k, m in self.measures.items()},
                "used": list(self.used), "excluded": [list(x) for x in self.excluded],
                "floors": dict(self.floors), "floored": list(self.floored), "exact": self.exact,
                "confidence": self.confidence}




def _measure(name: str, value: float, bound: tuple[float, float],
             boot: tuple[float, float], reason: str | None) -> Measure:
    lows = [x for x in (bound[0], boot[0]) if not math.isnan(x)]
    highs = [x for x in (bound[1], boot[1]) if not math.isnan(x)]
    lo = min(lows) if lows else math.nan
    hi = max(highs) if highs else math.nan
    if reason is None and math.isinf(hi):
        reason = "best_zero"
    return Measure(name, float(value), lo, hi, float(bound[0]), float(bound[1]),
                   float(boot[0]), float(boot[1]), math.isinf(hi), reason, _MEASURE_TEXT[name])


def _summary_boots(replicates: np.ndarray | None, n_groups: int, used: list[int],
                   f: np.ndarray, confidence: float) -> dict[str, tuple[float, float]]:
    """Bootstrap intervals of :data:`MEASURES` (NaN without usable replicates)."""
    boots = dict.fromkeys(MEASURES, (math.nan, math.nan))
    if replicates is None:
        return boots
    reps = np.asarray(replicates, dtype=np.float64)
    if reps.ndim != 2 or reps.shape[1] != n_groups:
        raise ConfigError(f"replicates must have shape (B, {n_groups}); got {reps.shape}")
    x = reps[:, used]
    bad = np.isnan(x).any(axis=1)
    if not len(x) or bad.all():
        return boots
    xr = np.maximum(x, f)
    reps_by = {
        "max_min_ratio": (_max_min(x, xr), 0.0, np.inf),
        "max_geomean_ratio": (_max_geomean(x, xr), 0.0, np.inf),
        "max_minus_min": (_max_minus_min(x), 0.0, 1.0),
        "gini": (_gini(x), 0.0, 1.0),
    }
    for m, (v, nlo, nhi) in reps_by.items():
        boots[m] = percentile_interval(np.where(bad, np.nan, v), confidence, nlo, nhi)[:2]
    return boots


def disparity_summary(
    groups: Sequence[GroupErrors],
    *,
    replicates: np.ndarray | None = None,
    confidence: float = 0.95,
    exclude: Mapping[str, str] | None = None,
    rate: str = "FMR",
) -> DisparitySummary:
    r"""NIST IR 8429 summaries of one error rate over groups, each with an interval.

    Over the qualifying groups :math:`g = 1..G` (:func:`select_groups`) with rates
    :math:`\hat p_g` and floored rates :math:`r_g = \max(\hat p_g, f_g)`,
    :math:`f_g = 1 - 0.05^{1/n_g}` (module docstring):

    .. math::

        \text{Max/Min} = \frac{\max_g \hat p_g}{\min_g r_g}, \qquad
        \text{Max/GeoMean} = \frac{\max_g \hat p_g}{(\prod_g r_g)^{1/G}}, \qquad
        \text{Max−Min} = \max_g \hat p_g - \min_g \hat p_g

    and the Gini coefficient :math:`\frac{G}{G-1}\frac{\sum_{g,h}|\hat p_g - \hat p_h|}
    {2G^2\bar p}`. Bound intervals use every group's :func:`rate_interval` at level
    :math:`1 - \alpha/G` (Bonferroni): Max/Min in :math:`[\max L / \min R^U,\ \max U / \min
    R^L]`, Max/GeoMean likewise with geometric means, Max−Min in :math:`[\max(0, \max L - \min
    U),\ \max U - \min L]` (:math:`R^{L,U}` the floored bounds); Gini has the bootstrap
    interval only. With no error in any qualifying group the ratios and the Gini are
    undefined (NaN, reason ``"no_errors"``).

    Parameters
    ----------
    groups : sequence of GroupErrors
        Every group, with its ``label``.
    replicates : array of float, shape (B, len(groups)), optional
        People-bootstrap replicate rates of every group (same order).
    confidence : float in (0, 1)
    exclude : mapping of label to reason, optional
        Groups to leave out (e.g. thin ones) and why.
    rate : str
        Name of the rate, for the output.

    Returns
    -------
    DisparitySummary
        With fewer than two qualifying groups every measure is NaN with reason
        ``"fewer_than_two_groups"``.
    """
    check_confidence(confidence)
    used, excluded = select_groups(groups, exclude)
    labels = [groups[i].label for i in used]
    p = np.array([groups[i].value for i in used])
    n = np.array([groups[i].trials for i in used], dtype=np.float64)
    f = np.asarray(zero_upper_bound(n, FLOOR_CONFIDENCE)) if len(n) else np.zeros(0)
    floors = dict(zip(labels, map(float, f), strict=True))
    floored = tuple(lab for lab, pv, fv in zip(labels, p, f, strict=True) if pv < fv)
    exact = all(groups[i].exact for i in used)
    g = len(used)
    nan2 = (math.nan, math.nan)
    if g < 2:
        ms = {m: Measure(m, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan,
                         False, "fewer_than_two_groups", _MEASURE_TEXT[m]) for m in MEASURES}
        return DisparitySummary(rate, ms, tuple(labels), tuple(excluded), floors, floored, exact,
                                float(confidence))
    a = 1.0 - confidence
    iv = [groups[i].interval(1 - a / g) for i in used]
    lo = np.array([x.low for x in iv])
    hi = np.array([x.high for x in iv])
    r = np.maximum(p, f)
    rlo, rhi = np.maximum(lo, f), np.maximum(hi, f)
    none = not (p > 0).any()
    reason = "no_errors" if none else None
    values = {
        "max_min_ratio": math.nan if none else float(_max_min(p, r)),
        "max_geomean_ratio": math.nan if none else float(_max_geomean(p, r)),
        "max_minus_min": float(_max_minus_min(p)),
        "gini": float(_gini(p)),
    }
    bounds = {
        "max_min_ratio": (float(safe_div(lo.max(), rhi.min())),
                          float(safe_div(hi.max(), rlo.min()))),
        "max_geomean_ratio": (float(_max_geomean(lo, rhi)), float(_max_geomean(hi, rlo))),
        "max_minus_min": (max(0.0, float(lo.max() - hi.min())), float(hi.max() - lo.min())),
        "gini": nan2,
    }
    boots = _summary_boots(replicates, len(groups), used, f, confidence)
    ms = {}
    for m in MEASURES:
        why = reason if m != "max_minus_min" else None
        ms[m] = _measure(m, values[m], bounds[m], boots[m], why)
    return DisparitySummary(rate, ms, tuple(labels), tuple(excluded), floors, floored, exact,
                            float(confidence))


# ---------------------------------------------------------------------- combined summaries
@dataclass(frozen=True)
class CombinedSummary:
    """FDR, IR or GARBE: a weighted combination of the FMR and FNMR summaries.

    ``used`` are the groups that qualify for both rates.
    """

    name: str
    value: float
    low: float
    high: float
    alpha: float
    used: tuple[str, ...]
    reason: str | None
    higher_is_fairer: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def combined_summaries(
    fmr_groups: Sequence[GroupErrors],
    fnmr_groups: Sequence[GroupErrors],
    *,
    fmr_replicates: np.ndarray | None = None,
    fnmr_replicates: np.ndarray | None = None,
    alpha: float = 0.5,
    confidence: float = 0.95,
    exclude: Mapping[str, str] | None = None,
) -> dict[str, CombinedSummary]:
    r"""FDR, Inequity Rate and GARBE with people-bootstrap intervals.

    Over the groups that qualify for both rates (:func:`select_groups`), with
    :math:`A = \max - \min` of FMR, :math:`B` of FNMR:

    .. math::

        \mathrm{FDR} = 1 - (\alpha A + (1-\alpha) B), \quad
        \mathrm{IR} = (\text{Max/Min}_{FMR})^{\alpha} (\text{Max/Min}_{FNMR})^{1-\alpha},
        \quad \mathrm{GARBE} = \alpha\,G_{FMR} + (1-\alpha)\,G_{FNMR}

    IR uses the floored Max/Min of :func:`disparity_summary`, so a group without errors does
    not make it undefined; when no qualifying group made an error of one kind (e.g. every
    FNMR is 0) IR and GARBE are undefined (NaN, reason ``"no_errors"``), never 0.
    Intervals: percentile over replicates (FMR and FNMR replicates with
    the same index come from the same resampling of people).
    """
    check_confidence(confidence)
    check_range("alpha", alpha, low=0.0, high=1.0)
    if len(fmr_groups) != len(fnmr_groups):
        raise ConfigError("fmr_groups and fnmr_groups must list the same groups")
    u1, _ = select_groups(fmr_groups, exclude)
    u2, _ = select_groups(fnmr_groups, exclude)
    used = [i for i in u1 if i in set(u2)]
    labels = tuple(fmr_groups[i].label for i in used)
    out: dict[str, CombinedSummary] = {}
    names = (("fdr", True), ("inequity_rate", False), ("garbe", False))
    if len(used) < 2:
        for nm, hf in names:
            out[nm] = CombinedSummary(nm, math.nan, math.nan, math.nan, alpha, labels,
                                      "fewer_than_two_groups", hf)
        return out

    def rates(gs: Sequence[GroupErrors]) -> tuple[np.ndarray, np.ndarray]:
        p = np.array([gs[i].value for i in used])
        n = np.array([gs[i].trials for i in used], dtype=np.float64)
        return p, np.asarray(zero_upper_bound(n, FLOOR_CONFIDENCE))

    (p1, f1), (p2, f2) = rates(fmr_groups), rates(fnmr_groups)

    def combine(x1: np.ndarray, x2: np.ndarray) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            # no error in any group: the floored Max/Min would be 0 (0 / floor), which reads as
            # "perfectly fair"; it is undefined (NaN) instead, and so is IR
            mm1 = np.where(np.max(x1, axis=-1) > 0, _max_min(x1, np.maximum(x1, f1)), np.nan)
            mm2 = np.where(np.max(x2, axis=-1) > 0, _max_min(x2, np.maximum(x2, f2)), np.nan)
            ir = (mm1 ** alpha if alpha > 0 else 1.0) * (mm2 ** (1 - alpha) if alpha < 1 else 1.0)
            g1, g2 = _gini(x1), _gini(x2)
            garbe = (alpha * g1 if alpha > 0 else 0.0) + ((1 - alpha) * g2 if alpha < 1 else 0.0)
        return {"fdr": 1.0 - (alpha * _max_minus_min(x1) + (1 - alpha) * _max_minus_min(x2)),
                "inequity_rate": np.asarray(ir, dtype=np.float64),
                "garbe": np.asarray(garbe, dtype=np.float64)}

    point = combine(p1, p2)
    boots: dict[str, tuple[float, float]] = {}
    if fmr_replicates is not None and fnmr_replicates is not None:
        x1 = np.asarray(fmr_replicates, np.float64)[:, used]
        x2 = np.asarray(fnmr_replicates, np.float64)[:, used]
        bad = np.isnan(x1).any(axis=1) | np.isnan(x2).any(axis=1)
        if len(x1) and not bad.all():
            reps = combine(np.where(bad[:, None], 0, x1), np.where(bad[:, None], 0, x2))
            for nm, (nlo, nhi) in (("fdr", (0.0, 1.0)), ("inequity_rate", (0.0, np.inf)),
                                   ("garbe", (0.0, 1.0))):
                boots[nm] = percentile_interval(np.where(bad, np.nan, reps[nm]), confidence, nlo,
                                        nhi)[:2]
    for nm, hf in names:
        v = float(point[nm])
        why = None
        if math.isnan(v):
            why = "no_errors"
        lo, hi = boots.get(nm, (math.nan, math.nan))
        out[nm] = CombinedSummary(nm, v, lo, hi, alpha, labels, why, hf)
    return out


# ---------------------------------------------------------------------- ranking
RANKING_KINDS = ("no_groups", "one_group", "no_errors", "tied", "overlap", "separated")
"""Outcomes of :func:`rank_groups`."""


@dataclass(frozen=True)
class Ranking:
    """What may be said about which groups have the highest and lowest rate.

    Attributes
    ----------
    kind : str
        One of :data:`RANKING_KINDS`:

        - ``"no_groups"`` / ``"one_group"``: fewer than two qualifying groups: no ranking;
        - ``"no_errors"``: every qualifying group's rate is 0: nothing to rank;
        - ``"tied"``: every qualifying group has the same rate;
        - ``"overlap"``: the highest and the lowest groups' intervals overlap, so the data do
          not show that any group differs: name no highest or lowest group;
        - ``"separated"``: the highest group's interval lies entirely above the lowest
          group's: the difference is supported.
    highest, lowest : tuple of str
        Groups with the largest / smallest point estimate (several when tied); empty when the
        kind forbids naming them.
    above : tuple of (str, str)
        Every pair ``(a, b)`` of qualifying groups whose intervals separate with ``a`` above
        ``b``: the only orderings the data support.
    worst_to_best : Measure or None
        The ratio of the highest rate to the lowest (unfloored: ``inf`` when the lowest is
        0, read "at least ``low``") with its interval over all qualifying groups (Bonferroni
        over them, and the bootstrap of max/min), so choosing the two extremes after seeing
        the data is accounted for.
    used, excluded
        As in :class:`DisparitySummary`.
    """

    kind: str
    highest: tuple[str, ...]
    lowest: tuple[str, ...]
    above: tuple[tuple[str, str], ...]
    worst_to_best: Measure | None
    used: tuple[str, ...]
    excluded: tuple[tuple[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "highest": list(self.highest), "lowest": list(self.lowest),
                "above": [list(x) for x in self.above],
                "worst_to_best": None if self.worst_to_best is None
                else self.worst_to_best.to_dict(),
                "used": list(self.used), "excluded": [list(x) for x in self.excluded]}


def rank_groups(
    groups: Sequence[GroupErrors],
    *,
    intervals: Sequence[tuple[float, float]] | None = None,
    replicates: np.ndarray | None = None,
    confidence: float = 0.95,
    exclude: Mapping[str, str] | None = None,
) -> Ranking:
    """Which groups may be called highest / lowest, by the rule the findings follow.

    Rules: only qualifying groups (:func:`select_groups`: labelled, not excluded as thin,
    with comparisons) are ranked; fewer than two → no ranking; all rates 0 → nothing to
    rank; all equal → tied; otherwise the highest and lowest are named only when their
    intervals separate (the lower bound of the highest above the upper bound of the
    lowest); and ``above`` lists every separated pair. Ties at the top or bottom name every
    tied group.

    Parameters
    ----------
    groups : sequence of GroupErrors
    intervals : sequence of (low, high), optional
        Each group's reported interval (e.g. :func:`rate_interval` with the bootstrap); by
        default :meth:`GroupErrors.interval` with ``replicates``.
    replicates : array, shape (B, len(groups)), optional
    confidence : float
    exclude : mapping of label to reason, optional
    """
    check_confidence(confidence)
    used, excluded = select_groups(groups, exclude)
    labels = tuple(groups[i].label for i in used)
    if len(used) < 2:
        kind = "no_groups" if not used else "one_group"
        return Ranking(kind, (), (), (), None, labels, tuple(excluded))
    reps = None if replicates is None else np.asarray(replicates, np.float64)
    if intervals is None:
        ivs = [groups[i].interval(confidence, None if reps is None else reps[:, i])
               for i in used]
        lo = np.array([x.low for x in ivs])
        hi = np.array([x.high for x in ivs])
    else:
        if len(intervals) != len(groups):
            raise ConfigError("intervals must have one (low, high) per group")
        lo = np.array([float(intervals[i][0]) for i in used])
        hi = np.array([float(intervals[i][1]) for i in used])
    p = np.array([groups[i].value for i in used])
    above = tuple((labels[a], labels[b]) for a in np.argsort(-p, kind="stable")
                  for b in np.argsort(-p, kind="stable") if lo[a] > hi[b])
    if not (p > 0).any():
        return Ranking("no_errors", (), (), above, None, labels, tuple(excluded))
    if p.max() == p.min():
        return Ranking("tied", (), (), above, None, labels, tuple(excluded))
    top = tuple(labels[i] for i in np.flatnonzero(p == p.max()))
    bottom = tuple(labels[i] for i in np.flatnonzero(p == p.min()))
    sep = all(lo[labels.index(t)] > hi[labels.index(b)] for t in top for b in bottom)
    wtb = _worst_to_best(groups, used, reps, confidence)
    if not sep:
        return Ranking("overlap", (), (), above, wtb, labels, tuple(excluded))
    return Ranking("separated", top, bottom, above, wtb, labels, tuple(excluded))


def _worst_to_best(groups: Sequence[GroupErrors], used: list[int], reps: np.ndarray | None,
                   confidence: float) -> Measure:
    a = 1.0 - confidence
    g = len(used)
    iv = [groups[i].interval(1 - a / g) for i in used]
    lo = np.array([x.low for x in iv])
    hi = np.array([x.high for x in iv])
    p = np.array([groups[i].value for i in used])
    bound = (max(1.0, float(safe_div(lo.max(), hi.min()))), float(safe_div(hi.max(), lo.min())))
    boot = (math.nan, math.nan)
    if reps is not None:
        x = reps[:, used]
        bad = np.isnan(x).any(axis=1)
        if len(x) and not bad.all():
            v = np.where(bad, np.nan, _max_min(np.where(bad[:, None], 1.0, x)))
            boot = percentile_interval(v, confidence, 1.0, np.inf)[:2]
    m = _measure("max_min_ratio", float(_max_min(p)), bound, boot, None)
    return Measure("worst_to_best", m.value, m.low, m.high, m.bound_low, m.bound_high,
                   m.boot_low, m.boot_high, m.unbounded, m.reason,
                   "highest group's rate divided by the lowest group's (not floored)")


__all__ = [
    "FLOOR_CONFIDENCE",
    "MEASURES",
    "RANKING_KINDS",
    "CombinedSummary",
    "DisparitySummary",
    "Measure",
    "Ranking",
    "combined_summaries",
    "disparity_summary",
    "rank_groups",
]
