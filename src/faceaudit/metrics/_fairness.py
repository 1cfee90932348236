"""One-number summaries of how unequal per-group error rates are.

Each takes per-group FMR and FNMR at **one** global threshold (see
:class:`~faceaudit.metrics.AuditResult`) and returns a :class:`FairnessSummary`: the value,
or NaN with a plain-language ``reason`` when the summary is undefined (a zero denominator is
reported as such, never shown as an infinity). Groups whose rate is NaN (empty cell) are left
out and named in ``excluded``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import ConfigError, check_range


@dataclass(frozen=True)
class FairnessSummary:
    """The value of a fairness summary, or NaN with the reason it is undefined.

    Attributes
    ----------
    name : str
    value : float
        NaN when undefined.
    reason : str or None
        Why the value is undefined (None when defined).
    alpha : float or None
        Weight of the FMR term, where the summary has one.
    components : dict
        The parts the value is made of (e.g. ``{"fmr": A, "fnmr": B}``).
    excluded : tuple of str
        Groups left out because their rate is undefined (NaN).
    higher_is_fairer : bool
        Direction: FDR is 1 for perfect parity; the others are 0 (Gini) or 1 (ratios) at parity.
    """

    name: str
    value: float
    reason: str | None = None
    alpha: float | None = None
    components: dict[str, float] = field(default_factory=dict)
    excluded: tuple[str, ...] = ()
    higher_is_fairer: bool = False

    @property
    def defined(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "reason": self.reason,
                "alpha": self.alpha, "components": dict(self.components),
                "excluded": list(self.excluded), "higher_is_fairer": self.higher_is_fairer}


def _prep(
    fmr: Sequence[float] | np.ndarray, fnmr: Sequence[float] | np.ndarray,
    groups: Sequence[str] | None, alpha: float,
) -> tuple[np.ndarray, np.ndarray, list[str], tuple[str, ...]]:
    check_range("alpha", alpha, low=0.0, high=1.0)
    a = np.asarray(fmr, dtype=np.float64).ravel()
    b = np.asarray(fnmr, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ConfigError(f"fmr and fnmr must have the same length; got {len(a)} and {len(b)}")
    names = list(groups) if groups is not None else [str(i) for i in range(len(a))]
    if len(names) != len(a):
        raise ConfigError(f"groups must have one name per rate; got {len(names)} for {len(a)}")
    if ((a < 0) | (a > 1) | (b < 0) | (b > 1)).any():
        raise ConfigError("fmr and fnmr must be rates in [0, 1] (or NaN)")
    keep = ~(np.isnan(a) | np.isnan(b))
    excluded = tuple(n for n, k in zip(names, keep, strict=True) if not k)
    return a[keep], b[keep], [n for n, k in zip(names, keep, strict=True) if k], excluded


def _too_few(name: str, n: int, excluded: tuple[str, ...], alpha: float | None) -> FairnessSummary:
    return FairnessSummary(name, float("nan"),
                           f"undefined: needs at least 2 groups with defined rates; got {n}",
                           alpha, {}, excluded)


def fdr(
    fmr: Sequence[float] | np.ndarray, fnmr: Sequence[float] | np.ndarray, *,
    alpha: float = 0.5, groups: Sequence[str] | None = None,
) -> FairnessSummary:
    r"""Fairness Discrepancy Rate (de Freitas Pereira & Marcel, 2021).

    .. math::

        A(\tau) = \max_{i,j} |\mathrm{FMR}_i(\tau) - \mathrm{FMR}_j(\tau)|, \quad
        B(\tau) = \max_{i,j} |\mathrm{FNMR}_i(\tau) - \mathrm{FNMR}_j(\tau)|

        \mathrm{FDR}(\tau) = 1 - \bigl(\alpha A(\tau) + (1 - \alpha) B(\tau)\bigr)

    1 means perfect parity (higher is fairer). Being a difference of rates, FDR is
    dominated by FNMR at operational thresholds where FMR is tiny (Howard et al. 2022).

    >>> fdr([0.001, 0.003], [0.02, 0.06]).value
    0.979
    """
    a, b, _names, excl = _prep(fmr, fnmr, groups, alpha)
    if len(a) < 2:
        return _too_few("FDR", len(a), excl, alpha)
    da, db = float(a.max() - a.min()), float(b.max() - b.min())
    return FairnessSummary("FDR", 1.0 - (alpha * da + (1 - alpha) * db), None, alpha,
                           {"fmr_max_difference": da, "fnmr_max_difference": db}, excl, True)


def _zero_reason(x: np.ndarray, names: list[str], what: str) -> str | None:
    zero = [n for n, v in zip(names, x, strict=True) if v == 0]
    if len(zero) == 1:
        return f"undefined: group {zero[0]} has zero {what}"
    if zero:
        return f"undefined: groups {', '.join(zero)} have zero {what}"
    return None


def inequity_rate(
    fmr: Sequence[float] | np.ndarray, fnmr: Sequence[float] | np.ndarray, *,
    alpha: float = 0.5, groups: Sequence[str] | None = None,
) -> FairnessSummary:
    r"""Inequity Rate (de Freitas Pereira & Marcel; evaluated by Howard et al. 2022).

    .. math::

        \mathrm{IR}(\tau) =
            \left(\frac{\max_i \mathrm{FMR}_i}{\min_i \mathrm{FMR}_i}\right)^{\alpha}
            \left(\frac{\max_i \mathrm{FNMR}_i}{\min_i \mathrm{FNMR}_i}\right)^{1-\alpha}

    1 means parity; larger is less fair. Undefined (NaN with a reason) when a group has zero
    false matches or zero false non-matches and its term has positive weight.

    >>> round(inequity_rate([0.001, 0.004], [0.01, 0.04]).value, 6)
    4.0
    """
    a, b, names, excl = _prep(fmr, fnmr, groups, alpha)
    if len(a) < 2:
        return _too_few("IR", len(a), excl, alpha)
    reasons = []
    if alpha > 0 and (r := _zero_reason(a, names, "false matches")):
        reasons.append(r)
    if alpha < 1 and (r := _zero_reason(b, names, "false non-matches")):
        reasons.append(r)
    if reasons:
        return FairnessSummary("IR", float("nan"), "; ".join(reasons), alpha, {}, excl)
    ra = float(a.max() / a.min()) if alpha > 0 else 1.0
    rb = float(b.max() / b.min()) if alpha < 1 else 1.0
    return FairnessSummary("IR", ra**alpha * rb ** (1 - alpha), None, alpha,
                           {"fmr_max_min_ratio": ra, "fnmr_max_min_ratio": rb}, excl)


def gini(values: Sequence[float] | np.ndarray) -> float:
    r"""Gini coefficient with the small-sample correction used by GARBE.

    .. math::

        G(x) = \frac{n}{n-1}\,\frac{\sum_{i=1}^n \sum_{j=1}^n |x_i - x_j|}{2 n^2 \bar{x}}

    0 when every value is equal, 1 when one group holds all the error. NaN when ``n < 2`` or
    every value is 0.

    >>> gini([0.0, 0.0, 0.0, 1.0])
    1.0
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    n = len(x)
    if n < 2 or not np.isfinite(x).all() or x.sum() == 0:
        return float("nan")
    num = np.abs(x[:, None] - x[None, :]).sum()
    return float(n / (n - 1) * num / (2 * n * n * x.mean()))


def garbe(
    fmr: Sequence[float] | np.ndarray, fnmr: Sequence[float] | np.ndarray, *,
    alpha: float = 0.5, groups: Sequence[str] | None = None,
) -> FairnessSummary:
    r"""Gini Aggregation Rate for Biometric Equitability (Howard et al., 2022).

    .. math::

        \mathrm{GARBE}(\tau) = \alpha\, G(\mathrm{FMR}_1, \dots, \mathrm{FMR}_n)
                             + (1 - \alpha)\, G(\mathrm{FNMR}_1, \dots, \mathrm{FNMR}_n)

    with :func:`gini` (including the :math:`n/(n-1)` correction). 0 means parity; larger is
    less fair. Undefined when every group has zero false matches (or zero false non-matches)
    and that term has positive weight: there is no error to distribute.

    >>> garbe([0.0, 0.1], [0.2, 0.2]).value
    0.5
    """
    a, b, _names, excl = _prep(fmr, fnmr, groups, alpha)
    if len(a) < 2:
        return _too_few("GARBE", len(a), excl, alpha)
    ga, gb = gini(a), gini(b)
    reasons = []
    if alpha > 0 and np.isnan(ga):
        reasons.append("undefined: no group has any false match")
    if alpha < 1 and np.isnan(gb):
        reasons.append("undefined: no group has any false non-match")
    if reasons:
        return FairnessSummary("GARBE", float("nan"), "; ".join(reasons), alpha,
                               {"gini_fmr": ga, "gini_fnmr": gb}, excl)
    value = (alpha * ga if alpha > 0 else 0.0) + ((1 - alpha) * gb if alpha < 1 else 0.0)
    return FairnessSummary("GARBE", value, None, alpha, {"gini_fmr": ga, "gini_fnmr": gb}, excl)


def ser(
    errors: Sequence[float] | np.ndarray, *, groups: Sequence[str] | None = None,
    name: str = "SER",
) -> FairnessSummary:
    r"""Skewed Error Ratio: worst group's error over the best group's (Wang & Deng, 2020).

    .. math::

        \mathrm{SER} = \frac{\max_i e_i}{\min_i e_i}

    Apply it to FMR and FNMR separately. 1 means parity. Undefined when the best group has
    zero errors.

    >>> ser([0.01, 0.03]).value
    3.0
    """
    e = np.asarray(errors, dtype=np.float64).ravel()
    a, _, names, excl = _prep(e, np.zeros_like(e), groups, 0.5)
    if len(a) < 2:
        return _too_few(name, len(a), excl, None)
    if (r := _zero_reason(a, names, "errors")) is not None:
        return FairnessSummary(name, float("nan"), r, None, {}, excl)
    return FairnessSummary(name, float(a.max() / a.min()), None, None,
                           {"max": float(a.max()), "min": float(a.min())}, excl)
