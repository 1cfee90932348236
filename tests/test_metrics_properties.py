"""Property tests: the counting core and the EER scan against slow loop references."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from faceaudit.metrics import eer_threshold, error_counts, threshold_at_fmr

# small integer-valued scores: many ties
scores = st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=25)


def _eer_scan_reference(neg: list[float], pos: list[float]) -> float:
    """Walk the merged sorted scores, one distinct value at a time (bob's scan, exact fractions)."""
    vals = sorted(set(neg) | set(pos))
    nn, npos = len(neg), len(pos)

    def objective(i: int) -> Fraction:  # threshold just above vals[i-1] and at/below vals[i]
        t = vals[i] if i < len(vals) else float("inf")
        fm = sum(1 for x in neg if x >= t)
        fnm = sum(1 for x in pos if x < t)
        return abs(Fraction(fm, nn) - Fraction(fnm, npos))

    def thr(i: int) -> float:
        if i == 0:
            return vals[0]
        if i == len(vals):
            return float(np.nextafter(vals[-1], np.inf))
        return (vals[i - 1] + vals[i]) / 2

    best_i, best = 0, objective(0)
    i = 0
    while True:
        i += 1
        # the scan stops once every impostor or every genuine score has been passed
        exhausted = vals[i - 1] >= min(max(neg), max(pos))
        o = objective(i)
        if not exhausted:
            if o <= best:
                best_i, best = i, o
            continue
        if o < best:
            best_i, best = i, o
        if i < len(vals) and objective(len(vals)) < best:
            best_i = len(vals)
        return thr(best_i)


@settings(max_examples=200, deadline=None)
@given(neg=scores, pos=scores)
def test_eer_threshold_matches_scan_reference(neg: list[float], pos: list[float]) -> None:
    assert eer_threshold(neg, pos) == _eer_scan_reference(neg, pos)


@settings(max_examples=200, deadline=None)
@given(neg=st.lists(st.integers(-5, 5).map(float), max_size=25), pos=scores,
       t=st.integers(-6, 6).map(lambda x: x / 2))
def test_counts_match_brute_force(neg: list[float], pos: list[float], t: float) -> None:
    c = error_counts(neg, pos, thresholds=[t])
    assert int(c.false_matches[0]) == sum(x >= t for x in neg)
    assert int(c.false_non_matches[0]) == sum(x < t for x in pos)
    assert c.exact.all()


@settings(max_examples=200, deadline=None)
@given(neg=scores, target=st.floats(0, 1))
def test_threshold_at_fmr_is_smallest_with_fmr_at_most_target(neg: list[float], target: float):
    t = threshold_at_fmr(neg, target=target)
    fmr = lambda x: sum(s >= x for s in neg) / len(neg)  # noqa: E731
    assert fmr(t) <= target
    smaller = [x for x in set(neg) if x < t]
    assert all(fmr(x) > target for x in smaller)
