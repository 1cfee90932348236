r"""Ratios between groups, NIST IR 8429 disparity summaries and ranking rules, with intervals.

Every figure here comes with two intervals at the same ``confidence`` and reports their hull:

- **bound**: derived from the groups' own intervals (:func:`~faceaudit.metrics.rate_interval`
  without the bootstrap: exact binomial widened by the design effect) by the Bonferroni
  inequality. With :math:`m` groups involved, each group's interval is taken at level
  :math:`1 - \alpha/m`; then with probability at least :math:`1 - \alpha` every group's true
  rate is inside its interval at once, and a figure that is monotone in each rate (a ratio, a
  max, a min, a geometric mean) lies between its values at the interval ends. Conservative,
  and valid whatever the dependence between the groups.
- **bootstrap**: the percentile interval of the figure recomputed on people-bootstrap
  replicates of the group rates. Replicates are kept whole: a ratio whose denominator is 0 in
  a replicate is ``inf`` (or undefined when the numerator is 0 too, then counted at both
  ends), never dropped, so the interval can be unbounded.

An upper bound of ``inf`` comes with a machine-readable ``reason`` (:data:`UNBOUNDED_REASONS`).
Measured coverage: ``docs/coverage.md``.
The NIST IR 8429 summaries and the ranking rules are in :mod:`faceaudit.metrics._summaries`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import ConfigError, check_range
from .._manifest import is_missing_label
from ._clustered import GroupErrors, percentile_interval

UNBOUNDED_REASONS = {
    "reference_zero": "the reference group made no error, so no upper limit can be set",
    "reference_zero_in_resamples": "the reference group made no error in some resamples of its "
                                   "people, so no upper limit can be set",
    "reference_few_people": "the reference group's comparisons rest on too few people to set "
                            "an upper limit",
    "best_zero": "the lowest group's rate may be 0 (no errors seen there), so no upper limit "
                 "can be set",
    "no_errors": "neither group made an error",
}
"""Why an upper bound is infinite, by machine-readable code."""


def check_confidence(confidence: float) -> None:
    check_range("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)


def safe_div(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """``a / b`` with ``x/0 = inf`` (x > 0) and ``0/0 = NaN``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a / b
    return np.where((b == 0) & (a > 0), np.inf, np.where((b == 0) & (a == 0), np.nan, out))


# ---------------------------------------------------------------------- two-group ratio
@dataclass(frozen=True)
class RatioInterval:
    """A ratio of two rates with its interval.

    Attributes
    ----------
    value : float
        Point estimate; ``inf`` when only the denominator is 0, NaN when both are.
    low, high : float
        The reported interval (hull of the parts); ``high`` may be ``inf``.
    bound_low, bound_high : float
        From the two groups' intervals at level :math:`1 - \\alpha/2` each (Bonferroni).
    boot_low, boot_high : float
        Bootstrap percentile interval of the replicate ratios (NaN without replicates).
    unbounded : bool
        ``high`` is ``inf``: read the result as "at least ``low``".
    reason : str or None
        A key of :data:`UNBOUNDED_REASONS` when unbounded (or when ``value`` is undefined).
    exact : bool
        False when either count is only a bound.
    confidence : float
    """

    value: float
    low: float
    high: float
    bound_low: float
    bound_high: float
    boot_low: float
    boot_high: float
    unbounded: bool
    reason: str | None
    exact: bool
    confidence: float

    @property
    def reason_text(self) -> str | None:
        return None if self.reason is None else UNBOUNDED_REASONS[self.reason]

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["reason_text"] = self.reason_text
        return d


def ratio_replicates(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Replicate ratios ``num / den`` keeping every replicate: ``x/0 = inf`` for ``x > 0``;
    ``0/0`` and undefined rates are NaN (the caller counts them at both ends)."""
    return safe_div(num, den)


def ratio_interval(
    num: GroupErrors,
    den: GroupErrors,
    *,
    confidence: float = 0.95,
    num_replicates: np.ndarray | None = None,
    den_replicates: np.ndarray | None = None,
) -> RatioInterval:
    r"""Interval of the ratio of two groups' rates, :math:`\theta = p_A / p_B`.

    .. math::

        \text{bound} = \Bigl[\frac{L_A}{U_B},\ \frac{U_A}{L_B}\Bigr]

    where :math:`[L, U]` are the groups' :func:`rate_interval` at level :math:`1-\alpha/2`
    without the bootstrap (exact, design-effect widened): both cover at once with
    probability :math:`\ge 1-\alpha` (Bonferroni), and the ratio is monotone in each rate.
    :math:`L_B = 0` (no error in the reference group) gives :math:`U = \infty`. The bootstrap
    part is the percentile interval of :math:`\hat p_A^* / \hat p_B^*` over the replicates
    (the two groups resampled independently, same replicate index), with ``inf`` kept and
    ``0/0`` counted at both ends. The reported interval is the hull of the two.

    Parameters
    ----------
    num, den : GroupErrors
        Numerator group and reference (denominator) group. Passing the same object twice
        gives exactly 1.
    confidence : float in (0, 1)
    num_replicates, den_replicates : array of float, shape (B,), optional
        Bootstrap replicate rates of the two groups.

    Returns
    -------
    RatioInterval

    Examples
    --------
    >>> r = ratio_interval(GroupErrors(5, 1000), GroupErrors(0, 1000))
    >>> r.value, r.high, r.reason
    (inf, inf, 'reference_zero')
    """
    check_confidence(confidence)
    exact = num.exact and den.exact
    if num is den:
        return RatioInterval(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, False, None, exact, confidence)
    a = 1.0 - confidence
    ia = num.interval(1 - a / 2)
    ib = den.interval(1 - a / 2)
    value = float(safe_div(num.value, den.value))
    blo = float(safe_div(ia.low, ib.high)) if ib.high > 0 else math.nan
    bhi = float(safe_div(ia.high, ib.low)) if ia.high > 0 else 0.0
    if math.isnan(blo):
        blo = 0.0
    reason = None
    if den.errors == 0:
        reason = "no_errors" if num.errors == 0 else "reference_zero"
    elif math.isinf(bhi):
        reason = "reference_few_people"
    lows, highs = [blo], [bhi]
    rlo = rhi = math.nan
    if num_replicates is not None and den_replicates is not None:
        rn = np.asarray(num_replicates, dtype=np.float64).ravel()
        rd = np.asarray(den_replicates, dtype=np.float64).ravel()
        if rn.shape != rd.shape:
            raise ConfigError(f"num_replicates and den_replicates must have the same shape; got "
                              f"{rn.shape} and {rd.shape}")
        if len(rn) and not (np.isnan(rn).all() or np.isnan(rd).all()):
            rlo, rhi, _ = percentile_interval(ratio_replicates(rn, rd), confidence, 0.0, np.inf)
            lows.append(rlo)
            highs.append(rhi)
            if math.isinf(rhi) and reason is None:
                reason = "reference_zero_in_resamples"
    if any(math.isnan(x) for x in (ia.low, ib.low)):
        lo = hi = math.nan
    else:
        lo, hi = min(lows), max(highs)
    return RatioInterval(value, lo, hi, blo, bhi, rlo, rhi, math.isinf(hi), reason, exact,
                         float(confidence))


def ratio_to_best(
    groups: Sequence[GroupErrors],
    *,
    replicates: np.ndarray | None = None,
    confidence: float = 0.95,
    exclude: Mapping[str, str] | None = None,
) -> dict[str, RatioInterval]:
    r"""Each qualifying group's rate divided by the lowest qualifying rate, with intervals.

    .. math::

        \theta_g = \frac{p_g}{\min_h p_h} \in
        \Bigl[\max\Bigl(1, \frac{L_g}{\min_h U_h}\Bigr),\ \frac{U_g}{\min_h L_h}\Bigr]

    with every qualifying group's interval at level :math:`1 - \alpha/G` (Bonferroni over
    the :math:`G` groups, since the best group is chosen from all of them), hulled with the
    bootstrap percentile interval of :math:`x_g^* / \min_h x_h^*` (``inf`` kept; ``0/0``
    counted at both ends). Unfloored: when some group may have a rate of 0 the upper bound is
    ``inf`` (reason ``"best_zero"``). Groups left out by :func:`select_groups` are not in the
    result.
    """
    check_confidence(confidence)
    used, _ = select_groups(groups, exclude)
    out: dict[str, RatioInterval] = {}
    if not used:
        return out
    a = 1.0 - confidence
    g = len(used)
    iv = [groups[i].interval(1 - a / g) for i in used]
    lo = np.array([x.low for x in iv])
    hi = np.array([x.high for x in iv])
    p = np.array([groups[i].value for i in used])
    best = p.min()
    reps = None
    if replicates is not None:
        x = np.asarray(replicates, np.float64)
        if x.ndim != 2 or x.shape[1] != len(groups):
            raise ConfigError(f"replicates must have shape (B, {len(groups)}); got {x.shape}")
        x = x[:, used]
        bad = np.isnan(x).any(axis=1)
        if len(x) and not bad.all():
            reps = np.where(bad[:, None], np.nan, safe_div(x, x.min(axis=1, keepdims=True)))
    exact = all(groups[i].exact for i in used)
    for j, i in enumerate(used):
        value = float(safe_div(p[j], best))
        blo = max(1.0, float(safe_div(lo[j], hi.min())))
        bhi = float(safe_div(hi[j], lo.min()))
        rlo = rhi = math.nan
        if reps is not None:
            rlo, rhi, _ = percentile_interval(reps[:, j], confidence, 1.0, np.inf)
        low = min(blo, rlo) if not math.isnan(rlo) else blo
        high = max(bhi, rhi) if not math.isnan(rhi) else bhi
        reason = None
        if math.isinf(high):
            reason = "no_errors" if best == 0 and p[j] == 0 else "best_zero"
        out[groups[i].label] = RatioInterval(value, low, high, blo, bhi, rlo, rhi,
                                             math.isinf(high), reason, exact, float(confidence))
    return out


def select_groups(
    groups: Sequence[GroupErrors], exclude: Mapping[str, str] | None = None
) -> tuple[list[int], list[tuple[str, str]]]:
    """Indices of the groups a summary may use, and ``(label, reason)`` for the others.

    Left out: a missing label (``unknown``: missing data, not a demographic group), a group
    named in ``exclude`` (e.g. thin by the audit's thin rule, with that reason), a group
    without comparisons.
    """
    exclude = dict(exclude or {})
    used, out = [], []
    for i, g in enumerate(groups):
        if is_missing_label(g.label):
            out.append((g.label, "missing label (unknown): missing data, not a group"))
        elif g.label in exclude:
            out.append((g.label, str(exclude[g.label])))
        elif g.trials == 0:
            out.append((g.label, "no comparisons"))
        else:
            used.append(i)
    return used, out


__all__ = [
    "UNBOUNDED_REASONS",
    "RatioInterval",
    "check_confidence",
    "is_missing_label",
    "ratio_interval",
    "ratio_replicates",
    "ratio_to_best",
    "safe_div",
    "select_groups",
]
