r"""Synthetic audits with known error rates: the coverage study of the intervals.

Used by ``tests/test_metrics_coverage.py`` (CI) and ``benchmarks/coverage_study.py`` (more
replicates); results in ``docs/coverage.md``.

**The population of a group.** People are drawn independently. A person has :math:`m`
images, drawn from LFW's images-per-person distribution (:data:`LFW_IMAGES_PER_PERSON`: most
people have one image, a few have hundreds), and an error propensity :math:`u \sim N(0,
\sigma^2)`, independent of :math:`m` (Doddington's "zoo": some people are hard to verify,
some faces score high against everyone). Comparisons err independently *given* the
propensities, with the complementary log-log link :math:`h(x) = 1 - e^{-e^{x}}`
(:math:`\approx e^{x}` for small rates, like the logit link):

- genuine: each of a person's :math:`m(m-1)/2` pairs is a false non-match with probability
  :math:`h(\beta + u)`;
- impostor: each of the :math:`m_a m_b` comparisons of two people of the group is a false
  match with probability :math:`h(\beta + u_a + u_b)`.

The shared :math:`u` is what makes a person's comparisons err together, so that
Clopper–Pearson over comparisons is too narrow. (The link makes impostor errors a thinned
Poisson process whose intensity factorises over the two people, so a group of 400 people is
drawn in time proportional to its errors, not to its 80,000 pairs of people.)

**The truth.** The rate an interval claims to cover is the population rate of the group,
:math:`\theta = E[\text{errors}] / E[\text{comparisons}]` for a group drawn this way. Because
:math:`m` and :math:`u` are independent, :math:`\theta = E[h(\beta + u)]` (genuine) or
:math:`E[h(\beta + u_a + u_b)]` (impostor), and :math:`\beta` is solved (Gauss–Hermite
quadrature, 80 nodes) so that :math:`\theta` equals the requested rate. The observed rate is
conditionally unbiased for it given the images per person.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize

from .._errors import check_option, check_range
from ._clustered import GroupErrors, effective_clopper_pearson
from ._disparity import ratio_interval
from ._intervals import zero_upper_bound
from ._people import KINDS, PersonCounts
from ._summaries import FLOOR_CONFIDENCE, disparity_summary

LFW_IMAGES_PER_PERSON: dict[int, int] = {
    1: 4069, 2: 779, 3: 291, 4: 187, 5: 112, 6: 55, 7: 39, 8: 33, 9: 26, 10: 15, 11: 16, 12: 10,
    13: 11, 14: 10, 15: 11, 16: 3, 17: 8, 18: 5, 19: 7, 20: 5, 21: 4, 22: 5, 23: 3, 24: 3, 25: 1,
    26: 2, 27: 1, 28: 2, 29: 2, 30: 2, 31: 2, 32: 3, 33: 3, 35: 1, 36: 1, 37: 1, 39: 2, 41: 2,
    42: 2, 44: 1, 48: 1, 49: 1, 52: 2, 53: 1, 55: 1, 60: 1, 71: 1, 77: 1, 109: 1, 121: 1,
    144: 1, 236: 1, 530: 1,
}
"""People of LFW by number of images: ``{images: people}``. Counted from the 13,233 images of
5,749 people of LFW deep-funneled (``lfw-deepfunneled/<name>/*.jpg``; Huang et al. 2007);
``tests/test_metrics_coverage.py`` recounts it from the data when present. 1,680 people have
two or more images; George W. Bush has 530 (140,185 of LFW's 242,257 genuine pairs)."""

_SIZES = np.fromiter(LFW_IMAGES_PER_PERSON, np.int64)
_CDF = np.cumsum(np.fromiter(LFW_IMAGES_PER_PERSON.values(), np.float64))
_CDF /= _CDF[-1]
_CDF[-1] = 1.0

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(80)
_GH_W = _GH_W / _GH_W.sum()


def _link(x: np.ndarray) -> np.ndarray:
    """Complementary log-log: ``1 - exp(-exp(x))``."""
    return -np.expm1(-np.exp(x))


def _mean_link(beta: float, s: float) -> float:
    return float(np.sum(_GH_W * _link(beta + s * _GH_X)))


@functools.lru_cache(maxsize=256)
def _beta(rate: float, s: float) -> float:
    """Intercept with :math:`E[h(\\beta + sZ)] = \\text{rate}`, :math:`Z \\sim N(0, 1)`."""
    if rate == 0:
        return -math.inf
    return float(optimize.brentq(lambda b: _mean_link(b, s) - rate, -60.0, 10.0, xtol=1e-14))




@dataclass(frozen=True)
class Population:
    """The population one group's people are drawn from (module docstring).

    Attributes
    ----------
    kind : {"genuine", "impostor"}
    rate : float in [0, 0.5]
        The true population rate :math:`\\theta`.
    sigma : float
        Standard deviation of the person effect :math:`u` (on the scale of the link's
        argument, the log of the error intensity; 0: independent
        comparisons).
    """

    kind: str
    rate: float
    sigma: float = 1.0

    def __post_init__(self) -> None:
        check_option("kind", self.kind, KINDS)
        check_range("rate", self.rate, low=0.0, high=0.5)
        check_range("sigma", self.sigma, low=0.0)

    @property
    def beta(self) -> float:
        """Logit intercept that makes the population rate equal :attr:`rate`."""
        return _beta(self.rate, self.sigma * (math.sqrt(2) if self.kind == "impostor" else 1.0))

    def draw(self, rng: np.random.Generator, n_people: int) -> PersonCounts:
        """One group of ``n_people`` people and their error counts."""
        m = _SIZES[np.searchsorted(_CDF, rng.random(n_people), side="right")]
        u = self.sigma * rng.standard_normal(n_people)
        beta = self.beta
        if self.kind == "genuine":
            pairs = m * (m - 1) // 2
            e = rng.binomial(pairs, _link(beta + u)) if self.rate > 0 else 0 * pairs
            return PersonCounts.genuine(e, pairs)
        if self.rate == 0 or n_people < 2:
            return PersonCounts.impostor(m, [], [], [])
        # events: Poisson with intensity exp(beta + u_a + u_b) = lam_a lam_b per comparison
        lam = np.exp(beta / 2 + u)
        x = m * lam
        total = 0.5 * (x.sum() ** 2 - (x**2).sum())
        k = int(rng.poisson(total))
        pa, pb = [], []
        cdf = np.cumsum(x) / x.sum()
        cdf[-1] = 1.0
        while k > 0:  # ordered pairs a != b with probability x_a x_b / (X^2 - sum x^2)
            a = np.searchsorted(cdf, rng.random(k + 16), side="right")
            b = np.searchsorted(cdf, rng.random(k + 16), side="right")
            ok = np.flatnonzero(a != b)[:k]
            pa.append(a[ok])
            pb.append(b[ok])
            k -= len(ok)
        a = np.concatenate(pa) if pa else np.zeros(0, np.int64)
        b = np.concatenate(pb) if pb else np.zeros(0, np.int64)
        i = (rng.random(len(a)) * m[a]).astype(np.int64)  # which comparison of the two people
        j = (rng.random(len(b)) * m[b]).astype(np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        i, j = np.where(a < b, i, j), np.where(a < b, j, i)
        big = int(m.max())
        cmp = np.unique(((lo * n_people + hi) * big + i) * big + j)  # comparisons with >= 1 event
        pair, f = np.unique(cmp // (big * big), return_counts=True)
        return PersonCounts.impostor(m, pair // n_people, pair % n_people, f)


def _weights(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """People multiplicities of ``n_boot`` resamples of ``n`` people with replacement."""
    idx = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]
    return np.bincount(idx.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def _group(pop: Population, rng: np.random.Generator, n_people: int,
           n_boot: int) -> tuple[GroupErrors, np.ndarray | None]:
    c = pop.draw(rng, n_people)
    reps = c.replicates(_weights(rng, n_people, n_boot)) if n_boot else None
    return GroupErrors(c.errors, c.trials, people=c), reps


def rate_coverage(pop: Population, n_people: int, *, n_audits: int = 400, n_boot: int = 200,
                  confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Coverage of :func:`rate_interval` over ``n_audits`` synthetic audits of one group.

    Returns a dict: ``audits`` (with comparisons), ``covered`` (the reported interval) and
    ``covered_exact`` / ``covered_design`` / ``covered_boot`` (its parts), ``miss_low`` /
    ``miss_high`` (truth below / above the interval), ``zero`` (audits with no error),
    ``median_rel_width`` (median of (high - low) / truth, NaN for truth 0), and for
    comparison ``covered_kish`` / ``median_rel_width_kish``: the same interval with Kish's
    effective number of people as the design df instead of
    :meth:`~faceaudit.metrics.PersonCounts.design_df`.
    """
    rng = np.random.default_rng(seed)
    truth = pop.rate
    rows = []
    for _ in range(n_audits):
        g, reps = _group(pop, rng, n_people, n_boot)
        if g.trials == 0:
            continue
        r = g.interval(confidence, reps)
        # the alternative the library does not use: Kish's effective number of people as df
        # (the working model of independent comparisons within a person)
        assert g.people is not None
        d = g.people.person_trials[g.people.person_trials > 0]
        kish = d.sum() ** 2 / np.sum(d**2) - 1.0 if len(d) else 0.0
        klo, khi, _ = effective_clopper_pearson(g.errors, g.trials,
                                                variance=g.people.jackknife_variance(),
                                                df=kish, confidence=confidence)
        parts = [(r.exact_low, r.exact_high), (klo, khi), (r.boot_low, r.boot_high)]
        alo = min(a for a, _ in parts if not math.isnan(a))
        ahi = max(b for _, b in parts if not math.isnan(b))
        rows.append((r.low, r.high, r.exact_low, r.exact_high, r.design_low, r.design_high,
                     r.boot_low, r.boot_high, g.errors, alo, ahi))
    x = np.array(rows, dtype=np.float64).reshape(-1, 11)

    def cov(lo: np.ndarray, hi: np.ndarray) -> int:
        ok = ~(np.isnan(lo) | np.isnan(hi))
        return int(((lo <= truth) & (truth <= hi) & ok).sum())

    width = (x[:, 1] - x[:, 0]) / truth if truth > 0 else np.full(len(x), np.nan)
    return {
        "kind": pop.kind, "rate": truth, "sigma": pop.sigma, "n_people": n_people,
        "audits": len(x), "covered": cov(x[:, 0], x[:, 1]),
        "covered_exact": cov(x[:, 2], x[:, 3]), "covered_design": cov(x[:, 4], x[:, 5]),
        "covered_boot": cov(x[:, 6], x[:, 7]),
        "miss_low": int((truth < x[:, 0]).sum()), "miss_high": int((truth > x[:, 1]).sum()),
        "zero": int((x[:, 8] == 0).sum()),
        "median_rel_width": float(np.median(width)) if len(x) and truth > 0 else math.nan,
        "covered_kish": cov(x[:, 9], x[:, 10]),
        "median_rel_width_kish": (float(np.median((x[:, 10] - x[:, 9]) / truth))
                                  if len(x) and truth > 0 else math.nan),
    }


def ratio_coverage(num: tuple[Population, int], den: tuple[Population, int], *,
                   n_audits: int = 400, n_boot: int = 200, confidence: float = 0.95,
                   seed: int = 0) -> dict[str, Any]:
    """Coverage of :func:`ratio_interval` for the ratio of two groups' rates.

    The truth is ``num.rate / den.rate`` (``inf`` when only the reference rate is 0: then
    only an unbounded interval covers it).
    """
    (pa, na), (pb, nb) = num, den
    truth = pa.rate / pb.rate if pb.rate > 0 else math.inf
    rng = np.random.default_rng(seed)
    covered = n = unbounded = 0
    for _ in range(n_audits):
        ga, ra = _group(pa, rng, na, n_boot)
        gb, rb = _group(pb, rng, nb, n_boot)
        if ga.trials == 0 or gb.trials == 0:
            continue
        r = ratio_interval(ga, gb, confidence=confidence, num_replicates=ra, den_replicates=rb)
        n += 1
        unbounded += r.unbounded
        covered += bool(r.low <= truth <= r.high)
    return {"num": (pa.rate, na), "den": (pb.rate, nb), "kind": pa.kind, "sigma": pa.sigma,
            "truth": truth, "audits": n, "covered": covered, "unbounded": unbounded}


def summary_coverage(groups: Sequence[tuple[Population, int]], *, n_audits: int = 400,
                     n_boot: int = 200, confidence: float = 0.95,
                     seed: int = 0) -> dict[str, Any]:
    """Coverage of the Max/Min, Max/GeoMean and Max−Min intervals of
    :func:`disparity_summary`.

    The truth of each audit applies that audit's floors :math:`f_g` (they depend on its
    numbers of comparisons) to the true rates, exactly as the estimate does.
    """
    rng = np.random.default_rng(seed)
    p = np.array([pop.rate for pop, _ in groups])
    names = ("max_min_ratio", "max_geomean_ratio", "max_minus_min")
    cov = dict.fromkeys(names, 0)
    n = 0
    for _ in range(n_audits):
        drawn = [_group(pop, rng, k, n_boot) for pop, k in groups]
        gs = [GroupErrors(g.errors, g.trials, people=g.people, label=f"g{i}")
              for i, (g, _) in enumerate(drawn)]
        if any(g.trials == 0 for g in gs):
            continue
        reps = (np.column_stack([r for _, r in drawn]) if n_boot else None)
        s = disparity_summary(gs, replicates=reps, confidence=confidence)
        f = np.asarray(zero_upper_bound(np.array([g.trials for g in gs], float),
                                        FLOOR_CONFIDENCE))
        r = np.maximum(p, f)
        truth = {"max_min_ratio": p.max() / r.min(),
                 "max_geomean_ratio": p.max() / np.exp(np.mean(np.log(r))),
                 "max_minus_min": p.max() - p.min()}
        n += 1
        for m in names:
            ms = s.measures[m]
            cov[m] += bool(ms.low <= truth[m] <= ms.high)
    return {"groups": [(pop.rate, k) for pop, k in groups], "kind": groups[0][0].kind,
            "sigma": groups[0][0].sigma, "audits": n, **{f"covered_{m}": c
                                                         for m, c in cov.items()}}
