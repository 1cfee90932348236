"""The counting core on a summary whose impostor tail overflows into a histogram."""

from __future__ import annotations

import numpy as np
import pytest

from _support import brute_pairs, build_summary, random_population
from faceaudit import ScoreSet
from faceaudit.metrics import (
    InexactMetricWarning,
    eer_threshold,
    error_counts,
    fmr,
    roc_curve,
    threshold_at_fmr,
)

FLOOR = 0.3
EDGES = np.linspace(-1, 1, 11)  # bins of width 0.2


@pytest.fixture(scope="module")
def population():
    sub, grp, s = random_population(n_subjects=24, per_subject=3, n_groups=2, seed=5)
    return sub, grp, s


def test_binned_counts_match_brute_force(population) -> None:
    sub, grp, s = population
    sm = build_summary(sub, grp, s, tail_floor=FLOOR, edges=EDGES)
    gen, imp = brute_pairs(sub, grp, s)
    ss = sm.scores("all")
    assert not ss.exact and ss.impostor_floor == FLOOR and ss.n_impostor == len(imp)
    grid = np.concatenate([np.linspace(-1.2, 1.2, 97), EDGES, [FLOOR]])
    c = error_counts(ss, thresholds=grid)
    true_fm = np.array([(imp >= t).sum() for t in grid])
    np.testing.assert_array_equal(c.false_non_matches, [(gen < t).sum() for t in grid])
    assert c.n_mated == len(gen) and c.n_nonmated == len(imp)
    # bounds always hold; exact at and above the floor and at interior bin edges
    assert np.all(c.false_matches_low <= true_fm) and np.all(true_fm <= c.false_matches_high)
    np.testing.assert_array_equal(c.exact, c.false_matches_low == c.false_matches_high)
    above = grid >= FLOOR
    assert c.exact[above].all()
    np.testing.assert_array_equal(c.false_matches[above], true_fm[above])
    interior = np.isin(grid, EDGES[1:-1])
    np.testing.assert_array_equal(c.false_matches_low[interior], true_fm[interior])
    assert c.exact[interior].all()
    # strictly inside a populated bin below the floor the count is not exact
    inside = (grid < FLOOR) & ~np.isin(grid, EDGES)
    assert (~c.exact[inside]).any()
    # the bounds are the counts at the neighbouring edges
    for t, lo, hi, ex in zip(grid, c.false_matches_low, c.false_matches_high, c.exact, strict=True):
        if not ex:
            k = np.searchsorted(EDGES, t, side="right") - 1
            # binned scores are all below the floor, so the floor caps the upper edge
            upper_edge = min(EDGES[k + 1] if k + 1 < len(EDGES) - 1 else np.inf, FLOOR)
            lower_edge = EDGES[k] if k >= 1 else -np.inf
            assert lo == (imp >= upper_edge).sum()
            assert hi == (imp >= lower_edge).sum()


def test_inexact_rate_warns_and_returns_the_upper_bound(population) -> None:
    sub, grp, s = population
    sm = build_summary(sub, grp, s, tail_floor=FLOOR, edges=EDGES)
    ss = sm.scores("all")
    t = -0.05  # inside the bin [-0.2, 0)
    _, imp = brute_pairs(sub, grp, s)
    with pytest.warns(InexactMetricWarning, match="upper bound"):
        v = fmr(ss, threshold=t)
    assert v == (imp >= -0.2).mean() >= (imp >= t).mean()


def test_thresholds_on_binned_scores_use_exact_candidates(population) -> None:
    sub, grp, s = population
    gen, imp = brute_pairs(sub, grp, s)
    exact = ScoreSet.from_arrays(gen, imp)
    binned = build_summary(sub, grp, s, tail_floor=FLOOR, edges=EDGES).scores("all")
    for target in (1e-3, 0.01, 0.02):
        t = threshold_at_fmr(binned, target=target)
        assert t >= FLOOR  # these targets are reached inside the exact tail
        assert t == threshold_at_fmr(exact, target=target)
    # a large target is reached below the floor: the answer is a bin edge, FMR still <= target
    t = threshold_at_fmr(binned, target=0.5)
    assert t in EDGES and (imp >= t).mean() <= 0.5
    assert (imp >= t - 0.2).mean() > 0.5  # and the next edge down would exceed it
    # EER restricted to exact thresholds is a candidate where |FMR - FNMR| is smallest
    te = eer_threshold(binned)
    ok = np.concatenate([EDGES[1:-1][EDGES[1:-1] < FLOOR], np.unique(imp[imp >= FLOOR])])
    obj = [abs((imp >= x).mean() - (gen < x).mean()) for x in ok]
    assert abs((imp >= te).mean() - (gen < te).mean()) == pytest.approx(min(obj))
    f, _, thr = roc_curve(binned)
    c = error_counts(binned, thresholds=thr)
    assert c.exact.all()
    np.testing.assert_array_equal(f, [(imp >= x).mean() for x in thr])
