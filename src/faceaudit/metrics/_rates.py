"""Verification error rates, thresholds and curves, derived from :func:`error_counts`.

Argument order (bob.measure's ``negatives, positives``): **impostor scores first, genuine
scores second**. Every function also accepts a :class:`~faceaudit.ScoreSet` as its first
argument (then ``genuine`` is omitted). Scores are similarities; a comparison is accepted
iff ``score >= threshold``: a genuine score exactly at the threshold is accepted, an
impostor score exactly at the threshold is a false match.

Vocabulary (ISO/IEC 19795-1): FMR ≈ FAR (algorithm level) ≈ false positive rate ≈ false
acceptance probability; FNMR ≈ FRR (algorithm level) ≈ false negative rate ≈ miss rate;
TMR = 1 − FNMR ≈ true positive rate ≈ verification rate. faceaudit reserves *FAR* and *FRR*
for the system-level rates that include failures to acquire (FTA), as bob.measure's reports
do: :func:`system_far`, :func:`system_frr`.

Empty denominators give NaN and an :class:`~faceaudit.UndefinedMetricWarning`; functions that
must *choose* a threshold raise :class:`~faceaudit.InputError` on empty input.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._errors import InexactMetricWarning, InputError, UndefinedMetricWarning, check_range
from .._summary import ScoreSet
from ._counting import (
    ArrayLike,
    ErrorCounts,
    Scores,
    as_scoreset,
    error_counts,
    impostor_candidates,
)


def _ratio(k: np.ndarray | int, n: int, what: str) -> np.ndarray:
    if n == 0:
        warnings.warn(f"{what} is undefined: no {_DENOM[what]} scores (value is NaN)",
                      UndefinedMetricWarning, stacklevel=3)
        return np.full(np.shape(k), np.nan)
    return np.asarray(k, dtype=np.float64) / n


_DENOM = {"FMR": "impostor (non-mated)", "FNMR": "genuine (mated)", "FTA": "attempted"}


def _warn_inexact(c: ErrorCounts) -> None:
    if not c.exact.all():
        bad = c.thresholds[~c.exact]
        warnings.warn(
            f"FMR at threshold(s) {bad[:3].tolist()} falls inside a histogram bin below the "
            "summary's exact tail; the upper bound is returned", InexactMetricWarning, stacklevel=3)


def _scalar(x: np.ndarray) -> float:
    return float(np.asarray(x).reshape(-1)[0])


def fmr(impostor: Scores, genuine: ArrayLike | None = None, *, threshold: float) -> float:
    r"""False match rate at ``threshold``.

    .. math::

        \mathrm{FMR}(t) = \frac{\#\{s \in \text{impostor} : s \ge t\}}{\#\,\text{impostor}}

    Synonyms: algorithm-level FAR, false positive rate, false acceptance probability.

    Parameters
    ----------
    impostor : ScoreSet or array-like of shape (n_nonmated,)
    genuine : array-like, optional
        Ignored for the value; accepted so every rate function has the same signature.
    threshold : float

    Returns
    -------
    float
        NaN (with :class:`~faceaudit.UndefinedMetricWarning`) if there are no impostor
        scores. For a binned ScoreSet below its exact tail, the upper bound (with
        :class:`InexactMetricWarning`).

    Examples
    --------
    >>> fmr([0.1, 0.5, 0.9, 0.2], threshold=0.5)
    0.5
    """
    c = error_counts(impostor, genuine, thresholds=threshold)
    _warn_inexact(c)
    return _scalar(_ratio(c.false_matches, c.n_nonmated, "FMR"))


def fnmr(impostor: Scores, genuine: ArrayLike | None = None, *, threshold: float) -> float:
    r"""False non-match rate at ``threshold``.

    .. math::

        \mathrm{FNMR}(t) = \frac{\#\{s \in \text{genuine} : s < t\}}{\#\,\text{genuine}}

    Synonyms: algorithm-level FRR, false negative rate, miss rate; :math:`1 - \mathrm{TMR}`.

    Parameters
    ----------
    impostor : ScoreSet or array-like
        A ScoreSet, or the impostor scores (ignored for the value; may be ``[]``).
    genuine : array-like of shape (n_mated,)
    threshold : float

    Examples
    --------
    >>> fnmr([], [0.4, 0.5, 0.9, 0.2], threshold=0.5)
    0.5
    """
    c = error_counts(impostor, genuine, thresholds=threshold)
    return _scalar(_ratio(c.false_non_matches, c.n_mated, "FNMR"))


def fta(impostor: Scores, genuine: ArrayLike | None = None) -> float:
    r"""Failure-to-acquire rate over all attempted comparisons (bob.measure's convention).

    .. math::

        \mathrm{FTA} = \frac{\text{failed genuine} + \text{failed impostor}}
                            {\text{all attempted comparisons}}

    NaN scores in plain arrays are failures to acquire.

    Examples
    --------
    >>> fta([0.1, float("nan")], [0.9, 0.8])
    0.25
    """
    s = as_scoreset(impostor, genuine)
    failed = s.genuine_fta + s.impostor_fta
    return _scalar(_ratio(failed, failed + s.n_genuine + s.n_impostor, "FTA"))


def system_far(fmr: float, fta: float) -> float:
    r"""System-level false accept rate: :math:`\mathrm{FAR} = \mathrm{FMR}\,(1 - \mathrm{FTA})`.

    A failed comparison cannot produce a false accept (bob.measure, ISO/IEC 19795-1).

    >>> system_far(0.1, 0.2)
    0.08000000000000002
    """
    return float(fmr) * (1.0 - float(fta))


def system_frr(fnmr: float, fta: float) -> float:
    r"""System-level false reject rate.

    .. math::

        \mathrm{FRR} = \mathrm{FTA} + \mathrm{FNMR}\,(1 - \mathrm{FTA})

    A failed comparison is a reject.

    >>> system_frr(0.1, 0.2)
    0.28
    """
    return float(fta) + float(fnmr) * (1.0 - float(fta))


def hter(impostor: Scores, genuine: ArrayLike | None = None, *, threshold: float) -> float:
    r"""Half total error rate at ``threshold``, system level (bob.measure's report).

    .. math::

        \mathrm{HTER}(t) = \tfrac12\,\bigl(\mathrm{FAR}(t) + \mathrm{FRR}(t)\bigr)

    with FAR and FRR from :func:`system_far` / :func:`system_frr` and FTA from :func:`fta`.
    With no failures to acquire this is :math:`(\mathrm{FMR} + \mathrm{FNMR})/2`.
    """
    s = as_scoreset(impostor, genuine)
    f = fta(s)
    return 0.5 * (system_far(fmr(s, threshold=threshold), f)
                  + system_frr(fnmr(s, threshold=threshold), f))


def _need(n: int, what: str, fn: str) -> None:
    if n == 0:
        raise InputError(f"{fn}: no {what} scores; cannot choose a threshold from empty input")


def threshold_at_fmr(impostor: Scores, genuine: ArrayLike | None = None, *, target: float) -> float:
    r"""Smallest threshold whose realised FMR is at most ``target`` (bob's ``far_threshold``).

    .. math::

        t^* = \min\{\, t \in C : \mathrm{FMR}(t) \le \text{target} \,\}

    where the candidates :math:`C` are the distinct impostor scores and
    ``nextafter(max(impostor), +inf)`` (FMR 0). So the realised FMR is the largest achievable
    value not above the target. For a binned ScoreSet, candidates below the exact tail are the
    histogram edges (where the count is exact).

    Raises
    ------
    InputError
        If there are no impostor scores.
    ConfigError
        If ``target`` is not in [0, 1].

    Examples
    --------
    >>> threshold_at_fmr(list(range(10)), target=0.11)
    9.0
    """
    check_range("target", target, low=0.0, high=1.0)
    s = as_scoreset(impostor, genuine)
    _need(s.n_impostor, "impostor", "threshold_at_fmr")
    cand = impostor_candidates(s)
    c = error_counts(s, thresholds=cand)
    ok = c.exact & (c.false_matches / c.n_nonmated <= target)
    return float(cand[np.argmax(ok)])  # FMR is nonincreasing; the top candidate always qualifies


def threshold_at_fnmr(
    impostor: Scores, genuine: ArrayLike | None = None, *, target: float
) -> float:
    r"""Largest threshold whose realised FNMR is at most ``target``.

    .. math::

        t^* = \max\{\, t \in \text{genuine} : \mathrm{FNMR}(t) \le \text{target} \,\}

    Candidates are the distinct genuine scores; at the smallest one FNMR is 0, so a
    threshold always exists.

    Examples
    --------
    >>> threshold_at_fnmr([], list(range(10)), target=0.25)
    2.0
    """
    check_range("target", target, low=0.0, high=1.0)
    s = as_scoreset(impostor, genuine)
    _need(s.n_genuine, "genuine", "threshold_at_fnmr")
    cand = np.unique(s.genuine)
    fnm = np.searchsorted(s.genuine, cand, side="left")
    ok = fnm / s.n_genuine <= target
    return float(cand[len(ok) - 1 - np.argmax(ok[::-1])])


def eer_threshold(impostor: Scores, genuine: ArrayLike | None = None) -> float:
    r"""Threshold where FMR and FNMR are closest (bob.measure's ``eer_threshold`` rule).

    .. math::

        t^* = \arg\min_{t \in C} \bigl|\mathrm{FMR}(t) - \mathrm{FNMR}(t)\bigr|

    With :math:`u_0 < \dots < u_{K-1}` the distinct values of all scores, the candidates are
    :math:`C = \{u_0\} \cup \{(u_{k-1} + u_k)/2\} \cup \{\mathrm{nextafter}(u_{K-1}, +\infty)\}`
    (midpoints between adjacent scores). The objective is compared exactly (integer counts).
    Ties: among candidates up to the point where every genuine or every impostor score has
    been passed, the largest wins; beyond it a candidate must be strictly better (bob's scan).
    For a binned ScoreSet, the candidates are restricted to thresholds where the impostor count
    is exact.

    Raises
    ------
    InputError
        If either kind of score is empty.
    """
    s = as_scoreset(impostor, genuine)
    _need(s.n_impostor, "impostor", "eer_threshold")
    _need(s.n_genuine, "genuine", "eer_threshold")
    nn, npos = s.n_impostor, s.n_genuine
    if not s.exact:
        cand = impostor_candidates(s)
        c = error_counts(s, thresholds=cand)
        cand, fm, fnm = cand[c.exact], c.false_matches[c.exact], c.false_non_matches[c.exact]
        obj = np.abs(fm * npos - fnm * nn)
        best = np.flatnonzero(obj == obj.min())
        return float(cand[best[-1]])
    neg, pos = s.impostor_tail, s.genuine
    u = np.unique(np.concatenate([neg, pos]))
    k_all = len(u)
    u_ext = np.append(u, np.inf)
    fm = (nn - np.searchsorted(neg, u_ext, side="left")).astype(np.int64)
    fnm = np.searchsorted(pos, u_ext, side="left").astype(np.int64)
    obj = np.abs(fm * npos - fnm * nn)  # |FMR - FNMR| * nn * npos, exact
    thr = np.empty(k_all + 1)
    thr[0] = u[0]
    thr[1:k_all] = (u[:-1] + u[1:]) / 2
    thr[k_all] = np.nextafter(u[-1], np.inf)
    m = int(np.searchsorted(u, min(neg[-1], pos[-1]))) + 1  # state where one list is exhausted
    head = obj[:m]
    best = int(np.flatnonzero(head == head.min())[-1])
    if obj[m] < obj[best]:
        best = m
    if m < k_all and obj[k_all] < obj[best]:
        best = k_all
    return float(thr[best])


def eer(impostor: Scores, genuine: ArrayLike | None = None) -> float:
    r"""Equal error rate: :math:`(\mathrm{FMR}(t^*) + \mathrm{FNMR}(t^*))/2` at
    :func:`eer_threshold`.

    Raises
    ------
    InputError
        If either kind of score is empty.
    """
    s = as_scoreset(impostor, genuine)
    t = eer_threshold(s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InexactMetricWarning)
        return 0.5 * (fmr(s, threshold=t) + fnmr(s, threshold=t))


def _curve_thresholds(s: ScoreSet) -> tuple[np.ndarray, ErrorCounts]:
    cand = np.unique(np.concatenate([impostor_candidates(s), s.genuine]))
    if len(s.genuine):
        cand = np.union1d(cand, [np.nextafter(s.genuine[-1], np.inf)])
    c = error_counts(s, thresholds=cand)
    keep = c.exact
    return cand[keep], error_counts(s, thresholds=cand[keep])


def det_curve(
    impostor: Scores, genuine: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FMR and FNMR at every threshold where they change (Detection Error Trade-off).

    Returns
    -------
    fmr : ndarray, shape (T,)
        ``fmr[i]`` is the FMR at ``thresholds[i]`` (nonincreasing).
    fnmr : ndarray, shape (T,)
        ``fnmr[i]`` is the FNMR at ``thresholds[i]`` (nondecreasing).
    thresholds : ndarray, shape (T,)
        Increasing: every distinct score plus one just above the maximum (so both ends of the
        curve are reached). For a binned ScoreSet, only thresholds where counts are exact.
        Plot on normal-deviate axes with ``scipy.stats.norm.ppf``.
    """
    s = as_scoreset(impostor, genuine)
    t, c = _curve_thresholds(s)
    return (_ratio(c.false_matches, c.n_nonmated, "FMR"),
            _ratio(c.false_non_matches, c.n_mated, "FNMR"), t)


def roc_curve(
    impostor: Scores, genuine: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Receiver operating characteristic: FMR and TMR = 1 − FNMR, by decreasing threshold.

    Returns
    -------
    fmr : ndarray, shape (T,)
        Nondecreasing; ``fmr[i]`` is the FMR at ``thresholds[i]``.
    tmr : ndarray, shape (T,)
        True match rate (TAR, verification rate, true positive rate), nondecreasing.
    thresholds : ndarray, shape (T,)
        Decreasing; the first is above every score (FMR = TMR = 0).
    """
    f, fn, t = det_curve(impostor, genuine)
    return f[::-1], 1.0 - fn[::-1], t[::-1]


def roc_auc(impostor: Scores, genuine: ArrayLike | None = None) -> float:
    r"""Area under the ROC (trapezoids over every threshold).

    For exact scores this is the Mann–Whitney probability

    .. math::

        \mathrm{AUC} = P(g > i) + \tfrac12 P(g = i)

    for a random genuine score :math:`g` and impostor score :math:`i`.

    Examples
    --------
    >>> roc_auc([0.1, 0.4], [0.35, 0.8])
    0.75
    """
    s = as_scoreset(impostor, genuine)
    if s.n_impostor == 0 or s.n_genuine == 0:
        warnings.warn("AUC is undefined: no genuine or no impostor scores (value is NaN)",
                      UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    x, y, _ = roc_curve(s)
    x = np.concatenate([[0.0], x, [1.0]])
    y = np.concatenate([[0.0], y, [1.0]])
    return float(np.trapezoid(y, x))


def roc_for_far(
    impostor: Scores, genuine: ArrayLike | None = None, *, targets: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Realised FMR and FNMR at the threshold chosen for each requested FMR (bob's ``roc_for_far``).

    Parameters
    ----------
    targets : array-like of float in [0, 1]
        Requested FMR (FAR) values.

    Returns
    -------
    fmr, fnmr, thresholds : ndarray, shape (len(targets),)
        ``thresholds[i] = threshold_at_fmr(impostor, target=targets[i])``; the realised FMR is
        the largest achievable value not above the target.
    """
    s = as_scoreset(impostor, genuine)
    tg = np.atleast_1d(np.asarray(targets, dtype=np.float64))
    thr = np.array([threshold_at_fmr(s, target=float(x)) for x in tg])
    c = error_counts(s, thresholds=thr)
    return (_ratio(c.false_matches, c.n_nonmated, "FMR"),
            _ratio(c.false_non_matches, c.n_mated, "FNMR"), thr)
