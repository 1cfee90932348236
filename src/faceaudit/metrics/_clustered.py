r"""Rates whose comparisons are clustered by person: the design effect, the people bootstrap,
and the rate interval that combines them with the exact binomial one.

**Why.** A person appears in many comparisons: all of their genuine pairs, and every impostor
pair they are part of. Errors cluster by person (some people are hard to verify, some faces
score high against everyone), so the comparisons are not independent trials and the
Clopper–Pearson interval, exact for independent trials, is too narrow: on simulated
populations with LFW's images-per-person distribution it covers the true FMR of a 400-person
group in as few as 6% of audits (``docs/coverage.md``).

**What is used.** Everything here is computed from per-person counts at the threshold (see
:class:`PersonCounts`):

- genuine: the errors :math:`e_i` and comparisons :math:`n_i` of each person's own pairs;
- impostor: the errors of each *pair of people* (only pairs with at least one error are
  listed) and the closed-form number of comparisons, from the number of samples of each
  person (all-pairs protocols), or explicit per-person-pair comparison counts.

Nothing needs the list of every accepted comparison, so a streaming engine can supply these
counts from a second pass over the data.

**The estimand.** The intervals cover the *population* rate of the group: the expected
share of errors among the group's comparisons when its people are drawn from the population
the audit's people come from (a ratio of expectations, :math:`\theta = E[\text{errors}] /
E[\text{comparisons}]`, with people, not comparisons, as the sampling unit). This is the
figure a claim about "the system's FMR for women" is about.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from .._errors import ConfigError, UndefinedMetricWarning, check_option, check_range
from ._intervals import beta_bounds
from ._people import PersonCounts


def t_adjustment(df: float, confidence: float) -> float:
    r""":math:`(z_{1-\alpha/2} / t_{\nu, 1-\alpha/2})^2`, the factor by which Korn & Graubard
    shrink the effective sample size for a variance with :math:`\nu` degrees of freedom
    (0 when :math:`\nu \le 0`: no information)."""
    if not df > 0:
        return 0.0
    q = (1.0 + confidence) / 2.0
    return float((special.ndtri(q) / special.stdtrit(df, q)) ** 2)


def effective_clopper_pearson(
    errors: float, trials: float, *, variance: float, df: float, confidence: float = 0.95,
    zero: str = "one-sided",
) -> tuple[float, float, float]:
    r"""Clopper–Pearson at the design-effect-adjusted number of comparisons (Korn & Graubard).

    .. math::

        \hat p = k / n, \qquad
        \mathrm{deff} = \max\!\Bigl(1, \frac{v}{\hat p (1 - \hat p) / n}\Bigr), \qquad
        n^* = \frac{n}{\mathrm{deff}} \Bigl(\frac{z_{1-\alpha/2}}{t_{\nu,1-\alpha/2}}\Bigr)^2,
        \qquad k^* = \hat p\, n^*

    and the exact binomial bounds of :math:`k^*` of :math:`n^*` (real-valued beta quantiles;
    at :math:`k = 0` the one-sided bound :math:`1 - \alpha^{1/n^*}` with the default
    ``zero="one-sided"``). :math:`v` is the variance of :math:`\hat p` accounting for the
    clustering (e.g. :meth:`PersonCounts.jackknife_variance`) and :math:`\nu` its degrees of
    freedom (:meth:`PersonCounts.design_df`). With no error :math:`v = 0` and
    :math:`\mathrm{deff} = 1` (Korn & Graubard's rule), so only the :math:`t` factor widens
    the bound. Korn, E. L. & Graubard, B. I. (1998), "Confidence intervals for proportions
    with small expected number of positive counts estimated from survey data", *Survey
    Methodology* 24(2).

    Returns
    -------
    low, high, n_effective : float
        ``n_effective`` is :math:`n^*`; below 1 (less than one effective comparison) the
        interval is [0, 1].
    """
    check_range("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    check_option("zero", zero, ("two-sided", "one-sided"))
    if not trials > 0:
        return math.nan, math.nan, 0.0
    p = errors / trials
    binvar = p * (1.0 - p) / trials
    if math.isnan(variance) or math.isinf(variance):
        n_eff = 0.0
    elif variance > 0 and binvar > 0:
        n_eff = trials / max(1.0, variance / binvar)
    else:
        n_eff = float(trials)
    n_star = n_eff * t_adjustment(df, confidence)
    if n_star < 1.0:  # less than one effective comparison: nothing is known
        return 0.0, 1.0, n_star
    lo, hi = beta_bounds(p * n_star, n_star, confidence, zero=zero)
    # a bound below the smallest normal float is 0 for every purpose (and lets a ratio over it
    # be reported as unbounded rather than as 1e300)
    return (0.0 if lo < 1e-300 else float(lo)), float(hi), n_star


def percentile_interval(reps: np.ndarray, confidence: float, nan_low: float,
                nan_high: float) -> tuple[float, float, int]:
    """Percentile interval of replicates; an undefined (NaN) replicate counts as ``nan_low``
    for the lower bound and ``nan_high`` for the upper (it could be anything). Order
    statistics (``lower``/``higher``) keep ``inf`` replicates intact."""
    a = 1.0 - confidence
    undefined = int(np.isnan(reps).sum())
    lo = float(np.quantile(np.where(np.isnan(reps), nan_low, reps), a / 2, method="lower"))
    hi = float(np.quantile(np.where(np.isnan(reps), nan_high, reps), 1 - a / 2, method="higher"))
    return lo, hi, undefined


@dataclass(frozen=True)
class RateInterval:
    """A rate with the interval the report shows, its parts, and what it rests on.

    Attributes
    ----------
    value : float
        ``errors / trials`` (NaN without comparisons). When the count is only a bound this is
        the upper bound and :attr:`value_low` the lower one.
    value_low : float
    low, high : float
        The reported interval: the hull of the parts below that exist.
    exact_low, exact_high : float
        Clopper–Pearson on the count(s), treating comparisons as independent.
    design_low, design_high : float
        Clopper–Pearson at the design-effect-adjusted count (:func:`effective_clopper_pearson`);
        NaN without per-person counts.
    boot_low, boot_high : float
        People-bootstrap percentile interval; NaN without replicates.
    errors, errors_low, trials : int
    exact : bool
        False when the error count is only known between ``errors_low`` and ``errors``: then
        no figure may be stated as exact.
    one_sided : bool
        No error was seen (``errors == 0``): ``high`` is a one-sided bound at ``confidence``
        (the rule of three at 95%) and the finding is "at most ``high``".
    confidence : float
    design_effect, n_effective, df : float
        Variance inflation over independent comparisons (:math:`\\ge 1`), the effective
        comparisons :math:`n^*` and the degrees of freedom; NaN without per-person counts.
    boot_undefined : int
        Bootstrap replicates without comparisons (counted at both ends).
    notes : tuple of str
        Plain-language caveats.
    """

    value: float
    value_low: float
    low: float
    high: float
    exact_low: float
    exact_high: float
    design_low: float
    design_high: float
    boot_low: float
    boot_high: float
    errors: int
    errors_low: int
    trials: int
    exact: bool
    one_sided: bool
    confidence: float
    design_effect: float = math.nan
    n_effective: float = math.nan
    df: float = math.nan
    boot_undefined: int = 0
    notes: tuple[str, ...] = ()

    @property
    def defined(self) -> bool:
        return self.trials > 0

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _design_part(people: PersonCounts | None, k_lo: int, k_hi: int, n: int, confidence: float,
                 notes: list[str]) -> tuple[float, float, float, float, float]:
    """The design-effect interval of :func:`rate_interval`: ``(low, high, design effect,
    effective comparisons, df)``, NaN without ``people``; appends caveats to ``notes``."""
    nan = math.nan
    if people is None:
        notes.append("no per-person counts: the interval treats comparisons as independent "
                     "and is too narrow when errors cluster by person")
        return nan, nan, nan, nan, nan
    if not isinstance(people, PersonCounts):
        raise ConfigError(f"people must be a PersonCounts; got {type(people).__name__}")
    if k_lo != k_hi:
        raise ConfigError("people cannot be given for an inexact count (errors_low != "
                          "errors): per-person counts are exact by construction")
    if people.errors != k_hi or people.trials != n:
        raise ConfigError(f"people totals ({people.errors} errors of {people.trials}) must "
                          f"equal errors and trials ({k_hi} of {n})")
    var = people.jackknife_variance()
    df = people.design_df()
    dlo, dhi, n_star = effective_clopper_pearson(k_hi, n, variance=var, df=df,
                                                 confidence=confidence)
    deff = n / n_star * t_adjustment(df, confidence) if n_star > 0 else math.inf
    if n_star < 1:
        notes.append("the comparisons rest on too few people to bound the rate "
                     f"(about {max(df + 1, 0):.1f} effective people)")
    return dlo, dhi, deff, n_star, df


def rate_interval(
    errors: int,
    trials: int,
    *,
    confidence: float = 0.95,
    errors_low: int | None = None,
    people: PersonCounts | None = None,
    replicates: np.ndarray | Sequence[float] | None = None,
) -> RateInterval:
    r"""The interval of a rate that accounts for people recurring in many comparisons.

    The reported interval is the hull of up to three intervals at ``confidence``:

    1. **exact**: Clopper–Pearson on ``errors`` of ``trials`` (:func:`clopper_pearson`), valid
       for independent comparisons;
    2. **design**: Clopper–Pearson at the design-effect-adjusted count
       (:func:`effective_clopper_pearson`) with the jackknife-over-people variance and the
       effective number of people (:class:`PersonCounts`), when ``people`` is given;
    3. **bootstrap**: the percentile interval of ``replicates`` (people resampled with
       replacement, :meth:`PersonCounts.replicates`); a replicate without comparisons (NaN)
       counts as 0 for the lower and 1 for the upper bound.

    With no error seen, the upper bound is one-sided: :math:`1 - \alpha^{1/n}` (the rule of
    three, :math:`\approx 3/n`, at 95%), widened by the design effect; never "0–0". When the
    count is only a bound (``errors_low < errors``: a threshold inside a histogram bin), the
    interval runs from the lower bound of ``errors_low`` to the upper bound of ``errors`` and
    ``exact`` is False. Measured coverage of this interval: ``docs/coverage.md``.

    Parameters
    ----------
    errors : int
        Errors (the upper bound when the count is inexact).
    trials : int
        Comparisons.
    confidence : float in (0, 1)
    errors_low : int, optional
        Lower bound of the error count when it is inexact.
    people : PersonCounts, optional
        The same counts broken down by person (its totals must equal ``errors``/``trials``).
    replicates : array-like of float, shape (B,), optional
        Bootstrap replicate rates.

    Returns
    -------
    RateInterval
        NaN (with :class:`~faceaudit.UndefinedMetricWarning`) when ``trials == 0``.

    Examples
    --------
    >>> r = rate_interval(0, 1000)
    >>> r.low, round(r.high, 6), r.one_sided
    (0.0, 0.002991, True)
    """
    check_range("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    for name, v in (("errors", errors), ("trials", trials)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ConfigError(f"{name} must be an integer >= 0; got {v!r}")
    k_hi, n = int(errors), int(trials)
    k_lo = k_hi if errors_low is None else int(errors_low)
    if not 0 <= k_lo <= k_hi <= n:
        raise ConfigError("errors must satisfy 0 <= errors_low <= errors <= trials; got "
                          f"errors_low={errors_low!r}, errors={errors!r}, trials={trials!r}")
    notes: list[str] = []
    if k_lo != k_hi:
        notes.append(f"the error count is only known to lie between {k_lo} and {k_hi} (the "
                     "threshold falls inside a histogram bin); the interval covers both")
    if n == 0:
        warnings.warn("rate is undefined: no comparisons (value is NaN)", UndefinedMetricWarning,
                      stacklevel=2)
        nan = math.nan
        return RateInterval(nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, k_hi, k_lo, 0,
                            k_lo == k_hi, False, confidence, notes=("no comparisons",))
    one_sided = k_hi == 0
    elo, _ = beta_bounds(k_lo, n, confidence)
    _, ehi = beta_bounds(k_hi, n, confidence, zero="one-sided")
    lows, highs = [float(elo)], [float(ehi)]
    dlo, dhi, deff, n_star, df = _design_part(people, k_lo, k_hi, n, confidence, notes)
    if people is not None:
        lows.append(dlo)
        highs.append(dhi)
    blo = bhi = math.nan
    undefined = 0
    if replicates is not None:
        reps = np.asarray(replicates, dtype=np.float64).ravel()
        if len(reps) and not np.isnan(reps).all():
            blo, bhi, undefined = percentile_interval(reps, confidence, 0.0, 1.0)
            lows.append(blo)
            highs.append(bhi)
            if undefined:
                notes.append(f"{undefined} of {len(reps)} bootstrap resamples had no "
                             "comparisons (counted at both ends)")
    return RateInterval(
        value=k_hi / n, value_low=k_lo / n, low=min(lows), high=max(highs),
        exact_low=float(elo), exact_high=float(ehi), design_low=dlo, design_high=dhi,
        boot_low=blo, boot_high=bhi, errors=k_hi, errors_low=k_lo, trials=n,
        exact=k_lo == k_hi, one_sided=one_sided, confidence=float(confidence),
        design_effect=deff, n_effective=n_star, df=df, boot_undefined=undefined,
        notes=tuple(notes))


@dataclass(frozen=True)
class GroupErrors:
    """One group's errors for one rate (FMR or FNMR), with what its intervals need.

    Attributes
    ----------
    errors : int
        Errors (the upper bound when the count is inexact).
    trials : int
        Comparisons.
    errors_low : int or None
        Lower bound of the count when it is only known within a range (else None).
    people : PersonCounts or None
        The same counts by person (design effect and bootstrap).
    label : str
    """

    errors: int
    trials: int
    errors_low: int | None = None
    people: PersonCounts | None = None
    label: str = ""

    @property
    def exact(self) -> bool:
        """False when the count is only a bound."""
        return self.errors_low is None or self.errors_low == self.errors

    @property
    def value(self) -> float:
        """``errors / trials`` (NaN without comparisons; the upper bound when inexact)."""
        return self.errors / self.trials if self.trials else math.nan

    def interval(self, confidence: float = 0.95,
                 replicates: np.ndarray | None = None) -> RateInterval:
        """:func:`rate_interval` of this group."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            return rate_interval(self.errors, self.trials, confidence=confidence,
                                 errors_low=self.errors_low, people=self.people,
                                 replicates=replicates)
