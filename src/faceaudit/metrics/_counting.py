"""The one counting core: error counts at thresholds, from a ScoreSet or plain arrays.

Every rate, threshold, curve and per-group figure in :mod:`faceaudit.metrics` is derived
from :func:`error_counts`. Argument order everywhere is bob.measure's
``(negatives, positives)``: **impostor (non-mated) scores first, genuine (mated) second**.

Conventions: scores are similarities and a comparison is accepted iff ``score >= t``.
So a genuine score exactly at ``t`` is accepted (not a false non-match) and an impostor
score exactly at ``t`` is a false match.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .._errors import ConfigError
from .._summary import ScoreSet

ArrayLike = Iterable[float] | np.ndarray
Scores = ScoreSet | ArrayLike


def as_scoreset(impostor: Scores, genuine: ArrayLike | None = None) -> ScoreSet:
    """Return ``impostor`` if it is a ScoreSet, else wrap ``(impostor, genuine)`` arrays.

    NaN scores in arrays are failures to acquire (counted, excluded from the rates).
    """
    if isinstance(impostor, ScoreSet):
        if genuine is not None:
            raise ConfigError("genuine must be None when a ScoreSet is given; got an array")
        return impostor
    if genuine is None:
        genuine = ()
    try:
        return ScoreSet.from_arrays(genuine, impostor)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"scores must be numeric 1-D arrays or a ScoreSet; got {exc}") from exc


@dataclass(frozen=True, eq=False)
class ErrorCounts:
    """Integer error counts at each threshold (accepted iff ``score >= threshold``).

    Attributes
    ----------
    thresholds : ndarray of float64, shape (T,)
    false_matches_low, false_matches_high : ndarray of int64, shape (T,)
        Bounds on the number of impostor scores ``>= t``. Equal where ``exact``.
    exact : ndarray of bool, shape (T,)
        False only where ``t`` lies inside a non-empty histogram bin below the exact tail's
        floor: then the true count is somewhere between the two bounds (the bin edges).
    n_nonmated : int
        Number of impostor scores (failures to acquire excluded).
    false_non_matches : ndarray of int64, shape (T,)
        Number of genuine scores ``< t`` (always exact).
    n_mated : int
        Number of genuine scores.
    genuine_fta, impostor_fta : int
        Comparisons that failed (failure to acquire), per kind.
    """

    thresholds: np.ndarray
    false_matches_low: np.ndarray
    false_matches_high: np.ndarray
    exact: np.ndarray
    n_nonmated: int
    false_non_matches: np.ndarray
    n_mated: int
    genuine_fta: int = 0
    impostor_fta: int = 0

    @property
    def false_matches(self) -> np.ndarray:
        """Number of impostor scores ``>= t``; the upper bound (conservative) where inexact."""
        return self.false_matches_high


def error_counts(
    impostor: Scores, genuine: ArrayLike | None = None, *, thresholds: ArrayLike | float
) -> ErrorCounts:
    r"""Count false matches and false non-matches at each threshold.

    .. math::

        \mathrm{FM}(t) = \#\{s \in \text{impostor} : s \ge t\}, \qquad
        \mathrm{FNM}(t) = \#\{s \in \text{genuine} : s < t\}

    Parameters
    ----------
    impostor : ScoreSet or array-like of shape (n_nonmated,)
        A ScoreSet (then ``genuine`` must be None) or the impostor (non-mated) scores.
    genuine : array-like of shape (n_mated,), optional
        Genuine (mated) scores when ``impostor`` is an array.
    thresholds : float or array-like of shape (T,)

    Returns
    -------
    ErrorCounts
        For a ScoreSet with a binned part (``impostor_floor > -inf``), the count of impostor
        scores ``>= t`` is exact for ``t >= impostor_floor`` and at bin edges; inside a
        non-empty bin it is bounded by the counts at the bin's two edges (``exact`` False).

    Examples
    --------
    >>> c = error_counts([0.1, 0.5, 0.9], [0.5, 0.8], thresholds=[0.5])
    >>> int(c.false_matches[0]), int(c.false_non_matches[0])
    (2, 0)
    """
    s = as_scoreset(impostor, genuine)
    t = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if t.ndim != 1:
        raise ConfigError(f"thresholds must be a scalar or 1-D; got shape {t.shape}")
    if np.isnan(t).any():
        raise ConfigError("thresholds must not contain NaN; got NaN")
    fnm = np.searchsorted(s.genuine, t, side="left").astype(np.int64)
    tail = s.impostor_tail
    fm_tail = (len(tail) - np.searchsorted(tail, t, side="left")).astype(np.int64)
    low, high = fm_tail.copy(), fm_tail.copy()
    hist = np.asarray(s.impostor_hist, dtype=np.int64)
    below = t < s.impostor_floor
    if below.any() and hist.sum() > 0:
        lo_hist, hi_hist = hist_bounds(hist, np.asarray(s.hist_edges, np.float64), t[below])
        low[below] += lo_hist
        high[below] += hi_hist
    return ErrorCounts(
        thresholds=t,
        false_matches_low=low,
        false_matches_high=high,
        exact=low == high,
        n_nonmated=s.n_impostor,
        false_non_matches=fnm,
        n_mated=s.n_genuine,
        genuine_fta=int(s.genuine_fta),
        impostor_fta=int(s.impostor_fta),
    )


def hist_bounds(
    hist: np.ndarray, edges: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on #binned scores >= t.

    Bin ``k`` holds ``lo_k <= s < hi_k`` with ``lo_0 = -inf`` and ``hi_last = +inf`` (the
    summary clips outliers into the outer bins). A bin is surely counted iff ``lo_k >= t``
    and possibly counted iff ``hi_k > t``.
    """
    nb = len(hist)
    lo = edges[:nb].copy()
    hi = edges[1:].copy()
    lo[0] = -np.inf
    hi[-1] = np.inf
    # suffix sums: count of bins k >= j
    suffix = np.concatenate([np.cumsum(hist[::-1])[::-1], [0]])
    # first bin with lo >= t (lo is nondecreasing)
    j_sure = np.searchsorted(lo, t, side="left")
    # first bin with hi > t
    j_maybe = np.searchsorted(hi, t, side="right")
    return suffix[j_sure], suffix[j_maybe]


def impostor_candidates(s: ScoreSet) -> np.ndarray:
    """Thresholds at which the impostor count is exact, ascending.

    The distinct tail scores, ``nextafter(max, +inf)``, and (for a binned ScoreSet) the
    finite bin edges below the floor.
    """
    parts = [np.unique(s.impostor_tail)]
    top = s.impostor_tail[-1] if len(s.impostor_tail) else None
    if s.impostor_floor > -np.inf and s.impostor_hist.sum() > 0:
        e = np.asarray(s.hist_edges, np.float64)
        e = e[np.isfinite(e) & (e < s.impostor_floor)]
        parts.append(e)
        parts.append(np.array([s.impostor_floor]))
    if top is not None:
        parts.append(np.array([np.nextafter(top, np.inf)]))
    return np.unique(np.concatenate(parts))
