"""Ratios with unbounded intervals, NIST IR 8429 summaries with the zero-error floor, and the
ranking rules of the findings (hand-checked numbers)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from faceaudit import ConfigError
from faceaudit.metrics import (
    UNBOUNDED_REASONS,
    GroupErrors,
    combined_summaries,
    disparity_summary,
    rank_groups,
    ratio_interval,
    ratio_to_best,
    zero_upper_bound,
)
from faceaudit.metrics._disparity import select_groups


def _cp(k: int, n: int, conf: float) -> tuple[float, float]:
    a = 1 - conf
    lo = 0.0 if k == 0 else stats.beta.ppf(a / 2, k, n - k + 1)
    hi = stats.beta.ppf(1 - a / 2, k + 1, n - k)
    return lo, hi


# ---------------------------------------------------------------------- two-group ratio
@pytest.mark.parametrize("conf", [0.9, 0.95, 0.99])
def test_ratio_bound_is_bonferroni_of_the_two_exact_intervals(conf: float) -> None:
    a, b = GroupErrors(30, 2000), GroupErrors(10, 3000)
    r = ratio_interval(a, b, confidence=conf)
    la, ua = _cp(30, 2000, 1 - (1 - conf) / 2)  # each group at 1 - alpha/2
    lb, ub = _cp(10, 3000, 1 - (1 - conf) / 2)
    assert r.value == pytest.approx((30 / 2000) / (10 / 3000))
    assert (r.low, r.high) == (pytest.approx(la / ub), pytest.approx(ua / lb))
    assert not r.unbounded and r.reason is None and r.exact


def test_reference_with_no_errors_gives_an_unbounded_ratio_never_zero_to_zero() -> None:
    # the case: 0 false matches in 195 comparisons, against a reference with errors
    r = ratio_interval(GroupErrors(0, 195), GroupErrors(12, 5000))
    assert r.value == 0.0 and r.low == 0.0
    ub0 = 1 - 0.025 ** (1 / 195)  # one-sided bound at level 1 - alpha/2 (Bonferroni)
    assert r.high == pytest.approx(ub0 / _cp(12, 5000, 0.975)[0])
    assert r.high > 1  # "0x (0x-0x)" was false certainty: up to several times the reference
    # the reference made no error: no upper limit
    r = ratio_interval(GroupErrors(7, 1000), GroupErrors(0, 1000))
    assert (r.value, r.high, r.unbounded, r.reason) == (math.inf, math.inf, True,
                                                        "reference_zero")
    assert r.low == pytest.approx(_cp(7, 1000, 0.975)[0] / (1 - 0.025 ** (1 / 1000)))
    assert r.reason_text == UNBOUNDED_REASONS["reference_zero"]
    r = ratio_interval(GroupErrors(0, 1000), GroupErrors(0, 1000))
    assert math.isnan(r.value) and r.reason == "no_errors" and r.high == math.inf
    same = GroupErrors(3, 100)
    assert ratio_interval(same, same).value == 1.0 == ratio_interval(same, same).high


def test_reference_zero_in_some_replicates_keeps_them() -> None:
    """35% of replicates with a reference at 0: the bootstrap upper bound is unbounded,
    not the quantile of the other 65% (the old nanquantile bias)."""
    rng = np.random.default_rng(0)
    num = rng.uniform(0.004, 0.006, 1000)
    den = np.where(rng.random(1000) < 0.35, 0.0, rng.uniform(0.001, 0.002, 1000))
    den[:5] = 0.0
    num[:5] = 0.0  # 0/0: undefined, counted at both ends
    r = ratio_interval(GroupErrors(50, 10_000), GroupErrors(15, 10_000),
                       num_replicates=num, den_replicates=den)
    assert r.boot_high == math.inf and r.unbounded
    assert r.reason == "reference_zero_in_resamples"
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(den > 0, num / den, np.inf)
    low_end = np.where((den == 0) & (num == 0), 0.0, ratios)  # 0/0 counted at the low end
    assert r.boot_low == np.quantile(low_end, 0.025, method="lower")
    # dropping the 35% of replicates with a zero reference (the old behaviour) was biased low
    assert np.isfinite(np.quantile(ratios[den > 0], 0.975))
    # with the reference never at 0 the bootstrap part is the plain percentile interval
    den2 = rng.uniform(0.001, 0.002, 1000)
    r2 = ratio_interval(GroupErrors(50, 10_000), GroupErrors(15, 10_000),
                        num_replicates=num[5:], den_replicates=den2[5:])
    ratios = num[5:] / den2[5:]
    assert r2.boot_low == np.quantile(ratios, 0.025, method="lower")
    assert r2.boot_high == np.quantile(ratios, 0.975, method="higher")
    assert r2.low == min(r2.boot_low, r2.bound_low) and r2.high == max(r2.boot_high, r2.bound_high)
    with pytest.raises(ConfigError, match="same shape"):
        ratio_interval(GroupErrors(1, 10), GroupErrors(1, 10), num_replicates=num,
                       den_replicates=den[:10])


def test_bound_counts_make_the_ratio_inexact() -> None:
    r = ratio_interval(GroupErrors(70, 10_000, errors_low=60), GroupErrors(20, 10_000))
    assert not r.exact
    la = _cp(60, 10_000, 0.975)[0]
    ua = _cp(70, 10_000, 0.975)[1]
    lb, ub = _cp(20, 10_000, 0.975)
    assert (r.low, r.high) == (pytest.approx(la / ub), pytest.approx(ua / lb))


# ---------------------------------------------------------------------- NIST IR 8429 summaries
def _groups() -> list[GroupErrors]:
    return [GroupErrors(20, 10_000, label="A"), GroupErrors(5, 10_000, label="B"),
            GroupErrors(0, 2_000, label="C"), GroupErrors(9, 300, label="D / unknown"),
            GroupErrors(0, 0, label="E")]


def test_summary_uses_labelled_groups_with_data_and_floors_zero_rates() -> None:
    s = disparity_summary(_groups(), exclude={"B": "thin: 10 people"})
    assert s.used == ("A", "C")
    assert dict(s.excluded) == {"D / unknown": "missing label (unknown): missing data, not a group",
                                "B": "thin: 10 people", "E": "no comparisons"}
    f_c = 1 - 0.05 ** (1 / 2000)  # rule of three: about 3 / 2000
    assert s.floors["C"] == pytest.approx(f_c) and s.floored == ("C",)
    m = s.measures
    # the zero-error group never makes the summaries undefined (NIST IR 8429's floor)
    assert m["max_min_ratio"].value == pytest.approx(0.002 / f_c)
    assert m["max_geomean_ratio"].value == pytest.approx(0.002 / math.sqrt(0.002 * f_c))
    assert m["max_minus_min"].value == pytest.approx(0.002)
    assert m["gini"].value == pytest.approx(1.0)  # 2/1 * 0.002 / (2 * 4 * 0.001)
    assert all(x.reason is None for x in m.values())
    # bound intervals: Bonferroni over the two groups (level 1 - 0.05/2 each), floors applied
    la, ua = _cp(20, 10_000, 0.975)
    _, uc = 0.0, 1 - 0.025 ** (1 / 2000)  # one-sided at level 0.975 for 0 errors
    assert m["max_min_ratio"].bound_low == pytest.approx(la / uc)
    assert m["max_min_ratio"].bound_high == pytest.approx(ua / min(la, f_c))  # A's own low
    assert m["max_geomean_ratio"].bound_high == pytest.approx(ua / math.sqrt(la * f_c))
    assert m["max_minus_min"].bound_low == pytest.approx(max(0.0, la - uc))
    assert m["max_minus_min"].bound_high == pytest.approx(ua - 0.0)
    assert math.isnan(m["gini"].bound_low)  # Gini: bootstrap interval only


def test_summary_intervals_from_replicates() -> None:
    rng = np.random.default_rng(1)
    reps = np.column_stack([rng.uniform(0.0015, 0.0025, 500), rng.uniform(0.0003, 0.0007, 500),
                            np.zeros(500), np.full(500, 0.03), np.full(500, np.nan)])
    s = disparity_summary(_groups(), replicates=reps)
    assert s.used == ("A", "B", "C")
    f = np.array([zero_upper_bound(n) for n in (10_000, 10_000, 2_000)])
    x = reps[:, :3]
    mm = x.max(axis=1) / np.maximum(x, f).min(axis=1)
    m = s.measures["max_min_ratio"]
    assert m.boot_low == np.quantile(mm, 0.025, method="lower")
    assert m.boot_high == np.quantile(mm, 0.975, method="higher")
    assert m.low == min(m.boot_low, m.bound_low) and m.high == max(m.boot_high, m.bound_high)
    g = s.measures["gini"]
    assert not math.isnan(g.low) and g.low <= g.value <= g.high
    with pytest.raises(ConfigError, match="replicates must have shape"):
        disparity_summary(_groups(), replicates=reps[:, :2])


def test_summary_needs_errors_and_two_groups() -> None:
    zero = [GroupErrors(0, 1000, label="A"), GroupErrors(0, 5000, label="B")]
    s = disparity_summary(zero)
    assert math.isnan(s.measures["max_geomean_ratio"].value)
    assert s.measures["max_geomean_ratio"].reason == "no_errors"
    assert s.measures["max_minus_min"].value == 0.0
    one = disparity_summary([GroupErrors(3, 100, label="A"),
                             GroupErrors(1, 50, label="x / unknown")])
    assert one.used == ("A",)
    assert all(math.isnan(m.value) and m.reason == "fewer_than_two_groups"
               for m in one.measures.values())


def test_combined_summaries_are_defined_with_a_zero_group() -> None:
    fmr = [GroupErrors(20, 10_000, label="A"), GroupErrors(0, 10_000, label="B")]
    fnmr = [GroupErrors(30, 1000, label="A"), GroupErrors(10, 1000, label="B")]
    c = combined_summaries(fmr, fnmr)
    f = zero_upper_bound(10_000)
    assert c["inequity_rate"].value == pytest.approx(math.sqrt(0.002 / f) * math.sqrt(3.0))
    assert c["fdr"].value == pytest.approx(1 - 0.5 * 0.002 - 0.5 * 0.02)
    # Gini with n/(n-1): FMR [0.002, 0] -> 1; FNMR [0.03, 0.01] -> 2 * 0.04 / (2 * 4 * 0.02)
    assert c["garbe"].value == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)
    assert c["fdr"].higher_is_fairer and c["fdr"].used == ("A", "B")
    rng = np.random.default_rng(2)
    r1 = np.column_stack([rng.uniform(0.001, 0.003, 300), np.zeros(300)])
    r2 = np.column_stack([rng.uniform(0.02, 0.04, 300), rng.uniform(0.005, 0.015, 300)])
    c = combined_summaries(fmr, fnmr, fmr_replicates=r1, fnmr_replicates=r2)
    for v in c.values():
        assert v.low <= v.value <= v.high


# ---------------------------------------------------------------------- ranking rules
def test_no_ranking_for_one_qualifying_group_ties_or_all_zero() -> None:
    one = rank_groups([GroupErrors(5, 100, label="A"), GroupErrors(9, 100, label="B / unknown")])
    assert one.kind == "one_group" and one.highest == () and one.worst_to_best is None
    assert rank_groups([]).kind == "no_groups"
    zero = rank_groups([GroupErrors(0, 100, label="white"), GroupErrors(0, 300, label="black")])
    assert zero.kind == "no_errors" and zero.highest == zero.lowest == ()
    tied = rank_groups([GroupErrors(2, 100, label="A"), GroupErrors(6, 300, label="B")])
    assert tied.kind == "tied" and tied.highest == ()


def test_rank_only_groups_whose_intervals_separate() -> None:
    gs = [GroupErrors(40, 1000, label="A"), GroupErrors(10, 1000, label="B"),
          GroupErrors(12, 1000, label="C")]
    r = rank_groups(gs)
    assert r.kind == "separated" and r.highest == ("A",) and r.lowest == ("B",)
    assert ("A", "B") in r.above and ("A", "C") in r.above
    assert ("C", "B") not in r.above  # 12 vs 10 of 1000 overlap: not ordered
    w = r.worst_to_best
    assert w is not None and w.value == pytest.approx(4.0)
    # worst-to-best bound: Bonferroni over all three groups (the extremes were chosen after
    # looking), level 1 - 0.05/3 each
    lv = 1 - 0.05 / 3
    assert w.bound_low == pytest.approx(_cp(40, 1000, lv)[0] / _cp(10, 1000, lv)[1])
    assert w.bound_high == pytest.approx(_cp(40, 1000, lv)[1] / _cp(10, 1000, lv)[0])
    close = rank_groups([GroupErrors(14, 1000, label="A"), GroupErrors(10, 1000, label="B")])
    assert close.kind == "overlap" and close.highest == () and close.above == ()
    wc = close.worst_to_best
    assert wc is not None and wc.low <= 1 < wc.high  # consistent with no difference


def test_ties_at_the_top_name_every_tied_group_and_zero_best_is_unbounded() -> None:
    gs = [GroupErrors(40, 1000, label="A"), GroupErrors(40, 1000, label="B"),
          GroupErrors(0, 5000, label="C")]
    r = rank_groups(gs)
    assert r.kind == "separated" and r.highest == ("A", "B") and r.lowest == ("C",)
    w = r.worst_to_best
    assert w is not None and w.value == math.inf and w.high == math.inf
    assert w.unbounded and w.reason == "best_zero" and w.low > 1
    # intervals given by the caller decide the separation
    r2 = rank_groups(gs, intervals=[(0.02, 0.06), (0.02, 0.06), (0.0, 0.03)])
    assert r2.kind == "overlap"
    with pytest.raises(ConfigError, match="one \\(low, high\\) per group"):
        rank_groups(gs, intervals=[(0, 1)])


def test_select_groups_reasons() -> None:
    used, out = select_groups(_groups(), {"A": "thin: 3 people"})
    assert used == [1, 2]
    assert [x[0] for x in out] == ["A", "D / unknown", "E"]


def test_ratio_to_best_bonferroni_over_all_groups() -> None:
    gs = [GroupErrors(40, 1000, label="A"), GroupErrors(10, 1000, label="B"),
          GroupErrors(20, 2000, label="C"), GroupErrors(5, 10, label="D / unknown")]
    r = ratio_to_best(gs)
    assert list(r) == ["A", "B", "C"]  # the missing-label group is not ranked
    lv = 1 - 0.05 / 3
    lo = {k: _cp(*kn, lv)[0] for k, kn in (("A", (40, 1000)), ("B", (10, 1000)),
                                            ("C", (20, 2000)))}
    hi = {k: _cp(*kn, lv)[1] for k, kn in (("A", (40, 1000)), ("B", (10, 1000)),
                                            ("C", (20, 2000)))}
    assert r["A"].value == pytest.approx(4.0)
    assert r["A"].low == pytest.approx(max(1, lo["A"] / min(hi.values())))
    assert r["A"].high == pytest.approx(hi["A"] / min(lo.values()))
    assert r["B"].value == 1.0 and r["B"].low == 1.0  # B and C tie for best
    zero = ratio_to_best([GroupErrors(3, 1000, label="A"), GroupErrors(0, 1000, label="B")])
    assert zero["A"].value == math.inf and zero["A"].reason == "best_zero"
    assert math.isnan(zero["B"].value) and zero["B"].reason == "no_errors"
    rng = np.random.default_rng(0)
    reps = np.column_stack([rng.uniform(0.03, 0.05, 400), rng.uniform(0.0, 0.02, 400),
                            rng.uniform(0.005, 0.015, 400), np.full(400, 0.5)])
    reps[:20, 1] = 0.0  # B at 0 in 5% of the replicates: A / best is infinite there
    rb = ratio_to_best(gs, replicates=reps)
    assert rb["A"].boot_high == math.inf and rb["A"].unbounded


def test_a_bound_count_makes_the_summary_inexact() -> None:
    gs = [GroupErrors(70, 10_000, errors_low=60, label="A"), GroupErrors(20, 10_000, label="B")]
    s = disparity_summary(gs)
    assert not s.exact
    assert disparity_summary([GroupErrors(70, 10_000, label="A"),
                              GroupErrors(20, 10_000, label="B")]).exact
    # the bound interval covers every count the group may have had (60 .. 70)
    lv = 0.975
    m = s.measures["max_min_ratio"]
    assert m.bound_low == pytest.approx(_cp(60, 10_000, lv)[0] / _cp(20, 10_000, lv)[1])
    assert m.bound_high == pytest.approx(_cp(70, 10_000, lv)[1] / _cp(20, 10_000, lv)[0])
