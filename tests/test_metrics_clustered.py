"""Rates clustered by person: per-person counts, jackknife, design df, bootstrap replicates and
the rate interval (against brute force and independently computed beta quantiles)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from _support import build_summary, random_population
from faceaudit import ConfigError, InexactMetricWarning, UndefinedMetricWarning
from faceaudit.metrics import (
    AuditResult,
    GroupErrors,
    PersonCounts,
    clopper_pearson,
    effective_clopper_pearson,
    person_counts,
    rate_interval,
    zero_upper_bound,
)
from faceaudit.metrics._intervals import draw_weights, replicate_quantiles


# ---------------------------------------------------------------------- exact bounds
@pytest.mark.parametrize("conf", [0.9, 0.95, 0.99])
def test_zero_of_n_is_the_one_sided_exact_bound(conf: float) -> None:
    a = 1 - conf
    for n in (1, 10, 195, 100_000):
        # independent: the largest p with P(0 errors) = (1-p)^n >= alpha
        assert zero_upper_bound(n, conf) == pytest.approx(1 - a ** (1 / n), rel=1e-12)
        assert stats.binom.pmf(0, n, zero_upper_bound(n, conf)) == pytest.approx(a, rel=1e-9)
        lo, hi = clopper_pearson(0, n, conf, zero="one-sided")
        assert lo == 0.0 and hi == pytest.approx(stats.beta.ppf(conf, 1, n), rel=1e-10)
        r = rate_interval(0, n, confidence=conf)
        assert (r.low, r.one_sided) == (0.0, True) and r.high == pytest.approx(hi, rel=1e-12)
    # the rule of three: 3/n at 95% for large n (-ln 0.05 = 2.9957)
    assert zero_upper_bound(1_000_000) * 1_000_000 == pytest.approx(2.9957, abs=1e-3)
    assert math.isnan(zero_upper_bound(0))


@pytest.mark.parametrize("conf", [0.9, 0.99])
def test_clopper_pearson_at_other_levels(conf: float) -> None:
    a = 1 - conf
    for k, n in ((1, 10), (7, 50), (3, 3000)):
        lo, hi = clopper_pearson(k, n, conf)
        assert lo == pytest.approx(stats.beta.ppf(a / 2, k, n - k + 1), rel=1e-10)
        assert hi == pytest.approx(stats.beta.ppf(1 - a / 2, k + 1, n - k), rel=1e-10)
        r = rate_interval(k, n, confidence=conf)
        assert (r.low, r.high, r.one_sided) == (pytest.approx(lo), pytest.approx(hi), False)


def test_bound_count_is_flagged_and_covers_both_ends() -> None:
    r = rate_interval(70, 10_000, errors_low=60)
    assert not r.exact and r.value == 0.007 and r.value_low == 0.006
    assert r.low == pytest.approx(stats.beta.ppf(0.025, 60, 10_000 - 60 + 1))
    assert r.high == pytest.approx(stats.beta.ppf(0.975, 71, 10_000 - 70))
    assert "between 60 and 70" in r.notes[0]
    g = GroupErrors(70, 10_000, errors_low=60)
    assert not g.exact and GroupErrors(70, 10_000).exact
    with pytest.raises(ConfigError, match="errors_low <= errors"):
        rate_interval(5, 10, errors_low=6)
    with pytest.raises(ConfigError, match="per-person counts are exact"):
        rate_interval(3, 14, errors_low=2, people=PersonCounts.genuine([1, 2], [4, 10]))


def test_empty_and_invalid() -> None:
    with pytest.warns(UndefinedMetricWarning, match="no comparisons"):
        r = rate_interval(0, 0)
    assert math.isnan(r.value) and math.isnan(r.low) and not r.defined
    with pytest.raises(ConfigError, match="integer >= 0"):
        rate_interval(-1, 10)
    with pytest.raises(ConfigError, match="confidence must satisfy"):
        rate_interval(1, 10, confidence=1.0)
    with pytest.raises(ConfigError, match="errors must be <= trials"):
        PersonCounts.genuine([3], [2])
    with pytest.raises(ConfigError, match="two different people"):
        PersonCounts.impostor([1, 1], [0], [0], [1])
    with pytest.raises(ConfigError, match="listed once"):
        PersonCounts.impostor([1, 1, 1], [0, 1], [1, 0], [1, 1])
    with pytest.raises(ConfigError, match="totals"):
        rate_interval(2, 14, people=PersonCounts.genuine([1, 2], [4, 10]))


# ---------------------------------------------------------------------- design effect
def test_effective_clopper_pearson_hand_checked() -> None:
    k, n = 10, 1000
    p = k / n
    var = 4 * p * (1 - p) / n  # design effect 4
    df = 9
    lo, hi, n_star = effective_clopper_pearson(k, n, variance=var, df=df, confidence=0.95)
    factor = (stats.norm.ppf(0.975) / stats.t.ppf(0.975, df)) ** 2
    assert factor == pytest.approx((1.959964 / 2.262157) ** 2, abs=1e-6)  # t table, 9 df
    assert n_star == pytest.approx(250 * factor)
    ks = p * n_star
    assert lo == pytest.approx(stats.beta.ppf(0.025, ks, n_star - ks + 1), rel=1e-9)
    assert hi == pytest.approx(stats.beta.ppf(0.975, ks + 1, n_star - ks), rel=1e-9)
    # a variance below the binomial one is not allowed to narrow the interval (deff >= 1)
    lo1, hi1, n1 = effective_clopper_pearson(k, n, variance=1e-12, df=1e9, confidence=0.95)
    assert n1 == pytest.approx(n, rel=1e-6)
    cp = clopper_pearson(k, n)
    assert (lo1, hi1) == (pytest.approx(cp[0], rel=1e-5), pytest.approx(cp[1], rel=1e-5))
    # zero errors: deff 1, only the t factor widens the one-sided bound
    lo0, hi0, n0 = effective_clopper_pearson(0, 500, variance=0.0, df=4, confidence=0.95)
    f4 = (stats.norm.ppf(0.975) / stats.t.ppf(0.975, 4)) ** 2
    assert (lo0, n0) == (0.0, pytest.approx(500 * f4))
    assert hi0 == pytest.approx(1 - 0.05 ** (1 / (500 * f4)))
    # nothing known: no degrees of freedom, or an infinite variance
    assert effective_clopper_pearson(3, 100, variance=0.001, df=0, confidence=0.95)[:2] == (0, 1)
    assert effective_clopper_pearson(3, 100, variance=math.inf, df=5, confidence=0.95)[:2] == (
        0, 1)


def _brute_jackknife(errors: list[list[int]], trials: list[list[int]]) -> float:
    """errors[i][j] / trials[i][j] for persons i < j (symmetric), jackknife by deletion."""
    e, t = np.array(errors, float), np.array(trials, float)
    p = len(e)
    reps = []
    for i in range(p):
        keep = [j for j in range(p) if j != i]
        sub_e, sub_t = e[np.ix_(keep, keep)], t[np.ix_(keep, keep)]
        reps.append(np.triu(sub_e, 1).sum() / np.triu(sub_t, 1).sum())
    reps = np.array(reps)
    return (p - 1) / p * float(np.sum((reps - reps.mean()) ** 2))


def test_jackknife_and_design_df_against_brute_force() -> None:
    # impostor: four people with 2, 1, 3, 1 samples, errors between some pairs
    s = np.array([2, 1, 3, 1])
    pairs = {(0, 1): 1, (0, 2): 3, (2, 3): 2}
    c = PersonCounts.impostor(s, [a for a, _ in pairs], [b for _, b in pairs], list(pairs.values()))
    e = np.zeros((4, 4), int)
    for (a, b), v in pairs.items():
        e[a, b] = e[b, a] = v
    t = np.outer(s, s)
    assert (c.errors, c.trials) == (6, int(np.triu(t, 1).sum()))
    assert c.jackknife_variance() == pytest.approx(_brute_jackknife(e.tolist(), t.tolist()))
    n_i = s * (s.sum() - s)
    assert c.design_df() == pytest.approx((n_i**2).sum() ** 2 / (n_i**4).sum() - 1)
    # genuine: deleting a person deletes their own pairs
    g = PersonCounts.genuine([0, 2, 1, 0], [1, 10, 3, 6])
    reps = [(3 - ei) / (20 - ni) for ei, ni in ((0, 1), (2, 10), (1, 3), (0, 6))]
    assert g.jackknife_variance() == pytest.approx(3 / 4 * np.var(reps) * 4)
    # equal comparison counts: df = people - 1; one person dominating: df -> 0
    assert PersonCounts.genuine([0] * 5, [3] * 5).design_df() == pytest.approx(4)
    assert PersonCounts.genuine([0, 0, 0], [1000, 1, 1]).design_df() < 0.01
    # fewer than two people with comparisons: nothing can be said
    assert PersonCounts.genuine([1, 0], [3, 0]).jackknife_variance() == math.inf


def test_replicates_match_an_expanded_sample() -> None:
    """Weights w: person i counted w_i times; impostor pairs between copies of one person are
    not impostor pairs. Brute force over the expanded sample."""
    rng = np.random.default_rng(3)
    s = rng.integers(1, 4, 6)
    a, b = np.triu_indices(6, 1)
    f = rng.integers(0, 2, len(a)) * np.minimum(s[a] * s[b], rng.integers(0, 3, len(a)))
    keep = f > 0
    c_closed = PersonCounts.impostor(s, a[keep], b[keep], f[keep])
    c_listed = PersonCounts.impostor_pairs(6, a[keep], b[keep], f[keep], a, b, s[a] * s[b])
    w = draw_weights([6], 20, seed=1)[0]
    r1, r2 = c_closed.replicates(w), c_listed.replicates(w)
    np.testing.assert_allclose(r1, r2, rtol=1e-12)
    for row in range(5):
        copies = np.repeat(np.arange(6), w[row])
        num = den = 0.0
        for x in range(len(copies)):
            for y in range(x + 1, len(copies)):
                i, j = sorted((copies[x], copies[y]))
                if i == j:
                    continue
                den += s[i] * s[j]
                k = np.flatnonzero((a[keep] == i) & (b[keep] == j))
                num += f[keep][k[0]] if len(k) else 0
        assert r1[row] == pytest.approx(num / den)
    assert c_closed.replicates(np.ones((1, 6)))[0] == pytest.approx(c_closed.errors
                                                                   / c_closed.trials)
    g = PersonCounts.genuine([0, 2, 0], [1, 10, 0])
    np.testing.assert_allclose(g.replicates(np.array([[1, 1, 1], [0, 0, 3], [3, 0, 0]])),
                               [2 / 11, np.nan, 0.0])


def test_person_counts_from_a_summary_match_the_audit() -> None:
    sub, grp, s = random_population(n_subjects=16, per_subject=3, n_groups=2, seed=5)
    for floor in (-np.inf, 0.1):
        sm = build_summary(sub, grp, s, tail_floor=floor)
        res = AuditResult(sm, threshold=0.2)
        for gi in (0, 1):
            gen, imp = person_counts(sm, gi, 0.2)
            row = res.by_group.iloc[gi]
            assert (gen.errors, gen.trials) == (row["false_non_matches"], row["n_mated"])
            assert imp is not None
            assert (imp.errors, imp.trials) == (row["false_matches"], row["n_nonmated"])
        # below the exact tail the accepted pairs are not listed: no per-person impostor counts
        if floor > -np.inf:
            assert person_counts(sm, 0, 0.0)[1] is None


# ---------------------------------------------------------------------- the combined interval
def test_rate_interval_is_the_hull_of_its_parts() -> None:
    c = PersonCounts.genuine([0, 0, 9, 1, 0, 0], [10, 12, 30, 8, 15, 5])
    w = draw_weights([6], 200, seed=0)[0]
    reps = c.replicates(w)
    r = rate_interval(c.errors, c.trials, people=c, replicates=reps)
    cp = clopper_pearson(10, 80)
    d = effective_clopper_pearson(10, 80, variance=c.jackknife_variance(), df=c.design_df())
    assert (r.exact_low, r.exact_high) == (pytest.approx(cp[0]), pytest.approx(cp[1]))
    assert (r.design_low, r.design_high) == (pytest.approx(d[0]), pytest.approx(d[1]))
    assert r.boot_low == np.quantile(reps, 0.025, method="lower")
    assert r.boot_high == np.quantile(reps, 0.975, method="higher")
    assert r.low == min(r.exact_low, r.design_low, r.boot_low)
    assert r.high == max(r.exact_high, r.design_high, r.boot_high)
    # one person made 9 of the 10 errors: the clustered interval is much wider than CP
    assert r.design_effect > 3 and r.high > 2 * cp[1]
    # without per-person counts the interval says it ignores the clustering
    assert "treats comparisons as independent" in rate_interval(10, 80).notes[0]


def test_replicate_quantiles_keep_infinite_and_undefined_replicates() -> None:
    x = np.array([[1.0], [2.0], [np.inf], [np.inf], [np.nan], [3.0], [1.5], [2.5], [0.5], [1.0]])
    q = replicate_quantiles(x, (0.1, 0.5, 0.9))
    # NaN counts as 0 for a low quantile, as inf for a high one; inf stays
    assert q[0, 0] == 0.0 and q[2, 0] == np.inf
    assert q[1, 0] == 2.5  # NaN -> inf: 0.5 1 1 1.5 2 | 2.5 3 inf inf inf; "higher" at 4.5
    assert np.isnan(replicate_quantiles(np.full((4, 1), np.nan), (0.1,))).all()


def test_audit_group_errors_and_replicates_agree_with_the_audit_bootstrap() -> None:
    sub, grp, s = random_population(n_subjects=20, per_subject=3, n_groups=2, seed=8)
    sm = build_summary(sub, grp, s, tail_floor=0.1)
    res = AuditResult(sm, threshold=0.2, n_boot=30, seed=4)
    ws = draw_weights([10, 10], 30, seed=4)  # the audit's own weights
    for rate, boot in (("fmr", res.boot_fmr), ("fnmr", res.boot_fnmr)):
        gs = res.group_errors(rate)
        for g, ge in enumerate(gs):
            row = res.by_group.iloc[g]
            k = row["false_matches" if rate == "fmr" else "false_non_matches"]
            assert (ge.errors, ge.exact, ge.label) == (k, True, row["label"])
            assert ge.people is not None
            np.testing.assert_allclose(ge.people.replicates(ws[g]), boot[:, g], rtol=1e-12)
            r = ge.interval(0.95, boot[:, g])
            assert r.low <= ge.value <= r.high
    # a threshold inside a histogram bin: the FMR count is a bound, with no per-person counts
    with pytest.warns(InexactMetricWarning):
        inexact = AuditResult(sm, threshold=0.05, n_boot=0).group_errors("fmr")  # in [0, 0.1)
    assert not inexact[0].exact and inexact[0].people is None
    assert inexact[0].errors_low is not None and inexact[0].errors_low < inexact[0].errors
    with pytest.raises(ConfigError, match="rate must be one of"):
        res.group_errors("far")


@pytest.mark.parametrize(("conf", "q"), [(0.9, (0.05, 0.95)), (0.99, (0.005, 0.995))])
def test_audit_bootstrap_follows_confidence(conf: float, q: tuple[float, float]) -> None:
    sub, grp, s = random_population(n_subjects=12, per_subject=3, n_groups=2, seed=2)
    res = AuditResult(build_summary(sub, grp, s), threshold=0.15, n_boot=40, seed=0,
                      confidence=conf)
    assert res.ci_quantiles == q
    cols = res.by_group.columns
    assert f"fmr_boot_q{q[0]:g}" in cols and f"fnmr_boot_q{q[1]:g}" in cols
    lo, hi = clopper_pearson(res.by_group["false_matches"].iloc[0],
                             res.by_group["n_nonmated"].iloc[0], conf)
    assert res.by_group["fmr_ci_low"].iloc[0] == pytest.approx(lo)
    assert res.by_group["fmr_ci_high"].iloc[0] == pytest.approx(hi)
    # the bootstrap column is the replicates' quantile at the same level
    x = res.boot_fnmr[:, 0]
    assert res.by_group[f"fnmr_boot_q{q[0]:g}"].iloc[0] == pytest.approx(np.quantile(x, q[0]))
