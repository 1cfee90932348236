"""Uncertainty: exact binomial intervals and the subject-level bootstrap.

Comparisons that share a subject are correlated, so a binomial interval over comparisons is
too narrow; the bootstrap here resamples **subjects** (within each group), not comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse, special

from .._errors import ConfigError, check_option, check_range
from .._summary import ScoreSummary

RULE_OF_THREE = 3.0
"""A group with fewer than ``3 / target_fmr`` impostor comparisons cannot show FMR ≤ target
at 95% confidence even with zero false matches (the "rule of three")."""

PRECISE_ERRORS = 10
"""With at least this many errors a rate is measured to about ±1/√10 ≈ 30% (relative), so a
group whose FMR is far *above* the target is not thin merely for having few comparisons."""


ZERO_RULES = ("two-sided", "one-sided")


def beta_bounds(
    k: np.ndarray | float, n: np.ndarray | float, confidence: float, *, zero: str = "two-sided"
) -> tuple[np.ndarray, np.ndarray]:
    r"""Clopper–Pearson bounds for (possibly non-integer) ``k`` of ``n``, no argument checks.

    .. math::

        p_{lo} = B^{-1}\!\left(\tfrac{\alpha}{2};\, k,\, n-k+1\right), \qquad
        p_{hi} = B^{-1}\!\left(1-\tfrac{\alpha}{2};\, k+1,\, n-k\right)

    with :math:`p_{lo} = 0` at :math:`k = 0` and :math:`p_{hi} = 1` at :math:`k = n`. With
    ``zero="one-sided"`` and :math:`k = 0` the upper bound is the one-sided exact bound
    :math:`1 - \alpha^{1/n}` (:func:`zero_upper_bound`). ``n = 0`` gives :math:`[0, 1]` (no
    information); NaN inputs give NaN. Used with the effective counts of
    :func:`~faceaudit.metrics.effective_clopper_pearson` too, hence real-valued ``k, n``.
    """
    if np.ndim(k) == 0 and np.ndim(n) == 0:
        return _beta_bounds_scalar(float(k), float(n), confidence, zero)
    k_arr, n_arr = np.broadcast_arrays(np.asarray(k, dtype=np.float64),
                                       np.asarray(n, dtype=np.float64))
    a = 1.0 - confidence
    with np.errstate(all="ignore"):
        safe_n = np.where(n_arr > 0, n_arr, 1.0)
        lo = special.betaincinv(np.where(k_arr > 0, k_arr, 1.0), n_arr - k_arr + 1, a / 2)
        hi = special.betaincinv(k_arr + 1, np.where(n_arr > k_arr, n_arr - k_arr, 1.0), 1 - a / 2)
        lo = np.where(k_arr >= n_arr, (a / 2) ** (1.0 / safe_n), lo)
        hi = np.where(k_arr <= 0, 1.0 - (a / 2) ** (1.0 / safe_n), hi)
        if zero == "one-sided":
            hi = np.where(k_arr <= 0, 1.0 - a ** (1.0 / safe_n), hi)
        lo = np.where(k_arr <= 0, 0.0, lo)
        hi = np.where(k_arr >= n_arr, 1.0, hi)
    empty = n_arr <= 0
    lo = np.where(empty, 0.0, lo)
    hi = np.where(empty, 1.0, hi)
    bad = np.isnan(k_arr) | np.isnan(n_arr)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def _beta_bounds_scalar(k: float, n: float, confidence: float,
                        zero: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`beta_bounds` for one ``k, n`` (the same rules, without array overhead)."""
    if math.isnan(k) or math.isnan(n):
        return np.float64(np.nan), np.float64(np.nan)
    if n <= 0:
        return np.float64(0.0), np.float64(1.0)
    a = 1.0 - confidence
    if k <= 0:
        lo = 0.0
    elif k >= n:
        lo = (a / 2) ** (1.0 / n)
    else:
        lo = float(special.betaincinv(k, n - k + 1, a / 2))
    if k >= n:
        hi = 1.0
    elif k <= 0:
        hi = -math.expm1(math.log(a if zero == "one-sided" else a / 2) / n)
    else:
        hi = float(special.betaincinv(k + 1, n - k, 1 - a / 2))
    return np.float64(lo), np.float64(hi)


def clopper_pearson(
    k: int | np.ndarray, n: int | np.ndarray, confidence: float = 0.95, *,
    zero: str = "two-sided",
) -> tuple[np.ndarray | float, np.ndarray | float]:
    r"""Exact (Clopper–Pearson) two-sided interval for a binomial proportion ``k / n``.

    .. math::

        p_{lo} = B^{-1}\!\left(\tfrac{\alpha}{2};\, k,\, n-k+1\right), \qquad
        p_{hi} = B^{-1}\!\left(1-\tfrac{\alpha}{2};\, k+1,\, n-k\right)

    with :math:`\alpha = 1 - \text{confidence}` and :math:`B^{-1}` the beta quantile;
    :math:`p_{lo} = 0` when :math:`k = 0` and :math:`p_{hi} = 1` when :math:`k = n`. For
    :math:`k = 0` the two-sided upper bound is :math:`1 - (\alpha/2)^{1/n}` (≈ 3.7/n at 95%);
    with ``zero="one-sided"`` it is the one-sided exact bound :math:`1 - \alpha^{1/n}`
    (:func:`zero_upper_bound`; the "rule of three", ≈ 3/n at 95%). ``n = 0`` gives NaN.

    Parameters
    ----------
    k, n : int or array of int
        Errors and trials (broadcast together).
    confidence : float in (0, 1)
    zero : {"two-sided", "one-sided"}
        The upper bound at ``k = 0``.

    Returns
    -------
    low, high : float or ndarray

    Examples
    --------
    >>> lo, hi = clopper_pearson(0, 10)
    >>> float(lo), round(float(hi), 4)
    (0.0, 0.3085)
    >>> round(float(clopper_pearson(0, 10, zero="one-sided")[1]), 4)
    0.2589
    """
    check_range("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    check_option("zero", zero, ZERO_RULES)
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    k_arr, n_arr = np.broadcast_arrays(k_arr, n_arr)
    if ((k_arr < 0) | (k_arr > n_arr)).any():
        raise ConfigError(f"k must satisfy 0 <= k <= n; got k={k!r}, n={n!r}")
    lo, hi = beta_bounds(k_arr, n_arr, confidence, zero=zero)
    lo = np.where(n_arr > 0, lo, np.nan)
    hi = np.where(n_arr > 0, hi, np.nan)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def zero_upper_bound(n: int | np.ndarray, confidence: float = 0.95) -> np.ndarray | float:
    r"""One-sided exact upper confidence bound on a rate when 0 errors were seen in ``n`` trials.

    .. math::

        p_{hi} = 1 - \alpha^{1/n} \approx \frac{-\ln \alpha}{n}

    (:math:`\alpha = 1 - \text{confidence}`): the largest rate at which seeing no error has
    probability at least :math:`\alpha`. At 95% this is the "rule of three",
    :math:`\approx 3/n` (:math:`-\ln 0.05 = 2.996`). ``n = 0`` gives NaN.

    >>> round(float(zero_upper_bound(1000)), 6)
    0.002991
    """
    check_range("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    n_arr = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(n_arr > 0, -np.expm1(np.log(1.0 - confidence) / n_arr), np.nan)
    return float(out) if out.ndim == 0 else out


# ---------------------------------------------------------------------- bootstrap
@dataclass(frozen=True)
class GroupResampling:
    """Pair indices of one diagonal cell, expressed with the group's local subject indices.

    Attributes
    ----------
    n_subjects : int
    n_samples : ndarray of int64, shape (n_subjects,)
        Enrolled samples of each subject in the group (``n_s``).
    gen_subject : ndarray of int64
        Subject of each genuine pair of the cell.
    gen_scores : ndarray of float64
    tail_a, tail_b : ndarray of int64
        Subjects of each exact impostor pair (tail) of the cell.
    tail_scores : ndarray of float64
    tail_floor : float
    accepted : dict of float to (a, b, n)
        At a threshold below the tail that the second pass recounted
        (:mod:`faceaudit._recount`): the pairs of people ``a < b`` with ``n`` impostor scores
        ``>= t`` (every accepted pair, listed by pair of people).
    """

    n_subjects: int
    n_samples: np.ndarray
    gen_subject: np.ndarray
    gen_scores: np.ndarray
    tail_a: np.ndarray
    tail_b: np.ndarray
    tail_scores: np.ndarray
    tail_floor: float
    n_impostor: int = -1
    accepted: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict)

    def accepted_pairs(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
        """Subjects of the impostor pairs with score ``>= t`` (with a count per entry, or None
        for one comparison each) when known exactly: ``t`` in the exact tail, or recounted by
        the second pass at ``t``; else None."""
        if t >= self.tail_floor:
            acc = self.tail_scores >= t
            return self.tail_a[acc], self.tail_b[acc], None
        return self.accepted.get(float(t))

    @property
    def all_pairs(self) -> bool:
        """True when the cell's impostor count equals the all-pairs closed form (unit weights).

        The closed-form denominator is only valid then (streamed all-pairs protocols); pair
        lists and vendor files with a binned part fail this check and get no bootstrap FMR.
        """
        return bool(within_denominator(self.n_samples, np.ones(self.n_subjects))[0]
                    == self.n_impostor)


def group_resampling(summary: ScoreSummary, group: int) -> GroupResampling:
    """Collect the diagonal cell ``(group, group)`` in subject-local form."""
    in_g = summary.group_codes == group
    subj = summary.subject_codes
    uniq, local = np.unique(subj[in_g], return_inverse=True)
    lut = np.full(int(subj.max()) + 1 if len(subj) else 1, -1, np.int64)
    lut[uniq] = np.arange(len(uniq))
    n_s = np.bincount(local[summary.enrolled[in_g]], minlength=len(uniq)).astype(np.int64)
    gi, gj = summary.genuine_cells
    gm = (gi == group) & (gj == group)
    ti, tj = summary.tail_cells
    tm = (ti == group) & (tj == group)
    accepted = {}
    rec = summary.accepted_g == group
    for t in np.unique(summary.accepted_t[rec]):
        sel = rec & (summary.accepted_t == t)
        a, b = lut[summary.accepted_a[sel]], lut[summary.accepted_b[sel]]
        accepted[float(t)] = (np.minimum(a, b), np.maximum(a, b), summary.accepted_n[sel])
    return GroupResampling(
        accepted=accepted,
        n_subjects=len(uniq), n_samples=n_s,
        gen_subject=lut[subj[summary.genuine_a[gm]]],
        gen_scores=summary.genuine_scores[gm],
        tail_a=lut[subj[summary.tail_a[tm]]], tail_b=lut[subj[summary.tail_b[tm]]],
        tail_scores=summary.tail_scores[tm],
        tail_floor=float(summary.tail_floor[group, group]),
        n_impostor=int(summary.impostor_total[group, group]),
    )


def pair_weight_sums(
    a: np.ndarray, b: np.ndarray, w: np.ndarray, data: np.ndarray | None = None
) -> np.ndarray:
    """``sum_p data_p * w[:, a_p] * w[:, b_p]`` for each replicate row of ``w`` (B, S);
    ``data`` defaults to ones."""
    if len(a) == 0:
        return np.zeros(w.shape[0])
    s = w.shape[1]
    d = np.ones(len(a)) if data is None else np.asarray(data, dtype=np.float64)
    c = sparse.coo_matrix((d, (a, b)), shape=(s, s)).tocsr()
    cw = c @ w.T  # (S, B)
    return np.einsum("sb,bs->b", cw, w)


def within_denominator(n_samples: np.ndarray, w: np.ndarray) -> np.ndarray:
    r"""Weighted impostor pairs of an all-pairs within-group cell.

    .. math::

        D = \tfrac12\Bigl[\bigl(\textstyle\sum_s w_s n_s\bigr)^2 - \sum_s w_s^2 n_s^2\Bigr]

    (the pairs between samples of different subjects, each weighted ``w_s w_{s'}``).
    """
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    n = np.asarray(n_samples, dtype=np.float64)
    return 0.5 * ((w @ n) ** 2 - (w**2) @ (n**2))


def cross_denominator(n1: np.ndarray, w1: np.ndarray, n2: np.ndarray, w2: np.ndarray) -> np.ndarray:
    r"""Weighted impostor pairs of an all-pairs cross-group cell:
    :math:`D = (\sum_{s \in g_1} w_s n_s)(\sum_{s \in g_2} w_s n_s)`."""
    w1 = np.atleast_2d(np.asarray(w1, dtype=np.float64))
    w2 = np.atleast_2d(np.asarray(w2, dtype=np.float64))
    return (w1 @ np.asarray(n1, np.float64)) * (w2 @ np.asarray(n2, np.float64))


def draw_weights(
    n_subjects: Sequence[int], n_boot: int, seed: int | None
) -> list[np.ndarray]:
    """Subject multiplicities for each group: one ``(n_boot, n_subjects[g])`` int array per group.

    Replicate ``b`` uses its own generator seeded from ``seed`` (one seed per
    replicate), drawing each group's subjects with replacement, group by group.
    """
    seeds = np.random.SeedSequence(seed).spawn(n_boot)
    out = [np.zeros((n_boot, n), np.int64) for n in n_subjects]
    for b, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        for g, n in enumerate(n_subjects):
            if n > 0:
                out[g][b] = np.bincount(rng.integers(0, n, n), minlength=n)
    return out


def bootstrap_rates(
    r: GroupResampling, w: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    r"""Replicate FMR* and FNMR* of one group at ``threshold`` from subject weights ``w`` (B, S).

    .. math::

        \mathrm{FNMR}^* = \frac{\sum_{p \in \text{gen}} w_{s(p)} [x_p < t]}
                               {\sum_{p \in \text{gen}} w_{s(p)}},
        \qquad
        \mathrm{FMR}^* = \frac{\sum_{(a,b) \in \text{imp}} w_{s(a)} w_{s(b)} [x_{ab} \ge t]}
                              {D}

    The accepted impostor pairs all lie in the exact tail (``t >= tail_floor``) or were listed
    by pair of people by the second pass (:attr:`GroupResampling.accepted`); otherwise FMR* is
    NaN. ``D`` sums the weights over the tail when it is complete (floor = −inf), else it
    is :func:`within_denominator`, valid only for an all-pairs protocol (checked with
    :attr:`GroupResampling.all_pairs`; otherwise FMR* is NaN). Empty denominators give NaN.
    """
    w = np.asarray(w, dtype=np.float64)
    gen_all = np.bincount(r.gen_subject, minlength=r.n_subjects).astype(np.float64)
    gen_rej = np.bincount(r.gen_subject[r.gen_scores < threshold],
                          minlength=r.n_subjects).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        fnmr = (w @ gen_rej) / (w @ gen_all)
        pairs = r.accepted_pairs(threshold)
        if pairs is None or (r.tail_floor > -np.inf and not r.all_pairs):
            fmr = np.full(w.shape[0], np.nan)
        else:
            num = pair_weight_sums(pairs[0], pairs[1], w, pairs[2])
            if r.tail_floor == -np.inf:
                den = pair_weight_sums(r.tail_a, r.tail_b, w)
            else:
                den = within_denominator(r.n_samples, w)
            fmr = num / den
    fmr = np.where(np.isfinite(fmr), fmr, np.nan)
    fnmr = np.where(np.isfinite(fnmr), fnmr, np.nan)
    return fmr, fnmr


def quantiles(x: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Quantiles along axis 0 ignoring NaN (all-NaN columns give NaN, without a warning)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full((len(q), *x.shape[1:]), np.nan)
    ok = ~np.isnan(x).all(axis=0)
    if np.any(ok):
        out[:, ok] = np.nanquantile(x[:, ok], q, axis=0)
    return out


def replicate_quantiles(
    x: np.ndarray, q: Sequence[float], undefined: tuple[float, float] = (0.0, np.inf)
) -> np.ndarray:
    """Quantiles of bootstrap replicates along axis 0, keeping every replicate.

    ``inf`` replicates (a ratio whose denominator is 0 in that resample) stay in, so a quantile
    can be ``inf``; an undefined (NaN) replicate could be anything and is counted at the far
    end: as ``undefined[0]`` for quantiles below 0.5 and ``undefined[1]`` for the others.
    Quantiles below 0.5 take the order statistic below (``method="lower"``), the others the
    one above (``"higher"``): conservative, and exact with infinities. A column whose
    replicates are all NaN (no bootstrap possible) gives NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.full((len(q), *x.shape[1:]), np.nan)
    ok = ~np.isnan(x).all(axis=0)
    if len(x) == 0 or not np.any(ok):
        return out
    for i, qq in enumerate(q):
        low = qq < 0.5
        filled = np.where(np.isnan(x[:, ok]), undefined[0] if low else undefined[1], x[:, ok])
        out[i, ok] = np.quantile(filled, qq, axis=0, method="lower" if low else "higher")
    return out


def check_quantiles(ci_quantiles: Sequence[float]) -> tuple[float, ...]:
    q = tuple(float(v) for v in ci_quantiles)
    if not q:
        raise ConfigError("ci_quantiles must be a non-empty sequence of numbers in [0, 1]; got ()")
    for v in q:
        check_range("ci_quantiles", v, low=0.0, high=1.0)
    return q
