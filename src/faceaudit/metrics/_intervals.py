"""Uncertainty: exact binomial intervals and the subject-level bootstrap.

Comparisons that share a subject are correlated, so a binomial interval over comparisons is
too narrow; the bootstrap here resamples **subjects** (within each group), not comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse, stats

from .._errors import ConfigError, check_range
from .._summary import ScoreSummary

RULE_OF_THREE = 3.0
"""A group with fewer than ``3 / target_fmr`` impostor comparisons cannot show FMR ≤ target
at 95% confidence even with zero false matches (the "rule of three")."""

PRECISE_ERRORS = 10
"""With at least this many errors a rate is measured to about ±1/√10 ≈ 30% (relative), so a
group whose FMR is far *above* the target is not thin merely for having few comparisons."""


def clopper_pearson(
    k: int | np.ndarray, n: int | np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray | float, np.ndarray | float]:
    r"""Exact (Clopper–Pearson) two-sided interval for a binomial proportion ``k / n``.

    .. math::

        p_{lo} = B^{-1}\!\left(\tfrac{\alpha}{2};\, k,\, n-k+1\right), \qquad
        p_{hi} = B^{-1}\!\left(1-\tfrac{\alpha}{2};\, k+1,\, n-k\right)

    with :math:`\alpha = 1 - \text{confidence}` and :math:`B^{-1}` the beta quantile;
    :math:`p_{lo} = 0` when :math:`k = 0` and :math:`p_{hi} = 1` when :math:`k = n`. For
    :math:`k = 0` the upper bound is :math:`1 - (\alpha/2)^{1/n}` (≈ 3.7/n at 95%; the
    one-sided "rule of three" gives 3/n). ``n = 0`` gives NaN.

    Parameters
    ----------
    k, n : int or array of int
        Errors and trials (broadcast together).
    confidence : float in (0, 1)

    Returns
    -------
    low, high : float or ndarray

    Examples
    --------
    >>> lo, hi = clopper_pearson(0, 10)
    >>> float(lo), round(float(hi), 4)
    (0.0, 0.3085)
    """
    check_range("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    k_arr, n_arr = np.broadcast_arrays(k_arr, n_arr)
    if ((k_arr < 0) | (k_arr > n_arr)).any():
        raise ConfigError(f"k must satisfy 0 <= k <= n; got k={k!r}, n={n!r}")
    a = 1.0 - confidence
    lo = np.full(k_arr.shape, np.nan)
    hi = np.full(k_arr.shape, np.nan)
    ok = n_arr > 0
    kk, nn = k_arr[ok], n_arr[ok]
    with np.errstate(all="ignore"):
        lo_ok = np.where(kk == 0, 0.0, stats.beta.ppf(a / 2, np.maximum(kk, 1), nn - kk + 1))
        hi_ok = np.where(kk == nn, 1.0,
                         stats.beta.ppf(1 - a / 2, kk + 1, np.maximum(nn - kk, 1)))
        hi_ok = np.where(kk == 0, 1.0 - (a / 2) ** (1.0 / np.maximum(nn, 1)), hi_ok)
        lo_ok = np.where(kk == nn, (a / 2) ** (1.0 / np.maximum(nn, 1)), lo_ok)
        lo_ok = np.where(kk == 0, 0.0, lo_ok)
    lo[ok], hi[ok] = lo_ok, hi_ok
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


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
    return GroupResampling(
        n_subjects=len(uniq), n_samples=n_s,
        gen_subject=lut[subj[summary.genuine_a[gm]]],
        gen_scores=summary.genuine_scores[gm],
        tail_a=lut[subj[summary.tail_a[tm]]], tail_b=lut[subj[summary.tail_b[tm]]],
        tail_scores=summary.tail_scores[tm],
        tail_floor=float(summary.tail_floor[group, group]),
        n_impostor=int(summary.impostor_total[group, group]),
    )


def _pair_weight_sums(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_p w[:, a_p] * w[:, b_p]`` for each replicate row of ``w`` (B, S)."""
    if len(a) == 0:
        return np.zeros(w.shape[0])
    s = w.shape[1]
    c = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(s, s)).tocsr()
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

    The accepted impostor pairs all lie in the exact tail (``t >= tail_floor``; otherwise FMR*
    is NaN). ``D`` sums the weights over the tail when it is complete (floor = −inf), else it
    is :func:`within_denominator`, valid only for an all-pairs protocol (checked with
    :attr:`GroupResampling.all_pairs`; otherwise FMR* is NaN). Empty denominators give NaN.
    """
    w = np.asarray(w, dtype=np.float64)
    gen_all = np.bincount(r.gen_subject, minlength=r.n_subjects).astype(np.float64)
    gen_rej = np.bincount(r.gen_subject[r.gen_scores < threshold],
                          minlength=r.n_subjects).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        fnmr = (w @ gen_rej) / (w @ gen_all)
        if threshold < r.tail_floor or (r.tail_floor > -np.inf and not r.all_pairs):
            fmr = np.full(w.shape[0], np.nan)
        else:
            acc = r.tail_scores >= threshold
            num = _pair_weight_sums(r.tail_a[acc], r.tail_b[acc], w)
            if r.tail_floor == -np.inf:
                den = _pair_weight_sums(r.tail_a, r.tail_b, w)
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


def check_quantiles(ci_quantiles: Sequence[float]) -> tuple[float, ...]:
    q = tuple(float(v) for v in ci_quantiles)
    if not q:
        raise ConfigError("ci_quantiles must be a non-empty sequence of numbers in [0, 1]; got ()")
    for v in q:
        check_range("ci_quantiles", v, low=0.0, high=1.0)
    return q
