"""Clopper–Pearson intervals and the subject-level bootstrap (against brute force)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from _support import build_summary, random_population
from faceaudit import ConfigError, UndefinedMetricWarning
from faceaudit.metrics import AuditResult, clopper_pearson, cross_denominator, within_denominator
from faceaudit.metrics._intervals import bootstrap_rates, draw_weights, group_resampling


def test_clopper_pearson_values() -> None:
    lo, hi = clopper_pearson(5, 10)
    assert lo == pytest.approx(0.187086, abs=1e-6) and hi == pytest.approx(0.812914, abs=1e-6)
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-15)
    # rule-of-three region: for large n the k=0 upper bound is about 3.69/n at 95%
    _, hi = clopper_pearson(0, 100_000)
    assert hi == pytest.approx(-math.log(0.025) / 100_000, rel=1e-4)
    lo, hi = clopper_pearson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 10))
    lo, hi = clopper_pearson(0, 0)
    assert math.isnan(lo) and math.isnan(hi)
    k = np.array([0, 1, 7, 20])
    lo, hi = clopper_pearson(k, 20, confidence=0.9)
    np.testing.assert_allclose(lo[1:3], stats.beta.ppf(0.05, k[1:3], 20 - k[1:3] + 1))
    np.testing.assert_allclose(hi[1:3], stats.beta.ppf(0.95, k[1:3] + 1, 20 - k[1:3]))
    assert np.all(lo <= k / 20) and np.all(k / 20 <= hi)
    with pytest.raises(ConfigError, match="confidence must satisfy"):
        clopper_pearson(1, 2, confidence=1.0)
    with pytest.raises(ConfigError, match="0 <= k <= n"):
        clopper_pearson(3, 2)


def _all_pairs_weight(subjects, groups, enrolled, w, g1, g2):
    """Brute force: sum of w_s(a) * w_s(b) over impostor pairs (a, b) of cell (g1, g2)."""
    tot = 0.0
    n = len(subjects)
    for a in range(n):
        for b in range(a + 1, n):
            if not (enrolled[a] and enrolled[b]) or subjects[a] == subjects[b]:
                continue
            if {int(groups[a]), int(groups[b])} == {g1, g2} and (
                g1 != g2 or groups[a] == groups[b] == g1
            ):
                tot += w[subjects[a]] * w[subjects[b]]
    return tot


def test_closed_form_denominators_equal_brute_force() -> None:
    rng = np.random.default_rng(0)
    subjects = np.repeat(np.arange(9), [1, 2, 3, 1, 4, 2, 2, 3, 1])
    groups = (np.arange(9) % 2)[subjects]
    enrolled = rng.random(len(subjects)) > 0.2
    w = rng.integers(0, 4, 9).astype(float)
    n_s = np.bincount(subjects[enrolled], minlength=9)
    in0, in1 = np.arange(9) % 2 == 0, np.arange(9) % 2 == 1
    assert within_denominator(n_s[in0], w[in0])[0] == pytest.approx(
        _all_pairs_weight(subjects, groups, enrolled, w, 0, 0))
    assert within_denominator(n_s[in1], w[in1])[0] == pytest.approx(
        _all_pairs_weight(subjects, groups, enrolled, w, 1, 1))
    assert cross_denominator(n_s[in0], w[in0], n_s[in1], w[in1])[0] == pytest.approx(
        _all_pairs_weight(subjects, groups, enrolled, w, 0, 1))
    # unit weights give the plain pair count of the summary
    s = np.zeros((len(subjects), len(subjects)))
    sm = build_summary(subjects, groups, s, enrolled=enrolled)
    assert within_denominator(n_s[in0], np.ones(in0.sum()))[0] == sm.impostor_total[0, 0]
    cross = cross_denominator(n_s[in0], np.ones(5), n_s[in1], np.ones(4))[0]
    assert cross == sm.impostor_total[0, 1]


def test_bootstrap_rates_match_brute_force_and_both_denominators() -> None:
    sub, grp, s = random_population(n_subjects=12, per_subject=3, n_groups=2, seed=2)
    t = 0.15
    complete = build_summary(sub, grp, s)
    binned = build_summary(sub, grp, s, tail_floor=0.1)
    ws = draw_weights([6, 6], 25, seed=4)
    for g in (0, 1):
        rc, rb = group_resampling(complete, g), group_resampling(binned, g)
        assert rb.tail_floor == 0.1 and rc.tail_floor == -np.inf
        fmr_c, fnmr_c = bootstrap_rates(rc, ws[g], t)
        fmr_b, fnmr_b = bootstrap_rates(rb, ws[g], t)
        np.testing.assert_allclose(fmr_c, fmr_b, rtol=1e-12)
        np.testing.assert_array_equal(fnmr_c, fnmr_b)
        # brute force over the expanded sample: subject s counted w_s times
        members = np.flatnonzero(np.arange(12) % 2 == g)
        for b in range(3):
            w = np.zeros(12)
            w[members] = ws[g][b]
            num = den = gnum = gden = 0.0
            idx = np.flatnonzero(grp == g)
            for i, a in enumerate(idx):
                for c in idx[i + 1:]:
                    if sub[a] == sub[c]:
                        gden += w[sub[a]]
                        gnum += w[sub[a]] * (s[a, c] < t)
                    else:
                        den += w[sub[a]] * w[sub[c]]
                        num += w[sub[a]] * w[sub[c]] * (s[a, c] >= t)
            assert fmr_c[b] == pytest.approx(num / den)
            assert fnmr_c[b] == pytest.approx(gnum / gden)
        # below the floor the pairs are not listed: no bootstrap FMR
        assert np.isnan(bootstrap_rates(rb, ws[g], 0.0)[0]).all()


def test_unit_weights_reproduce_the_point_estimate() -> None:
    sub, grp, s = random_population(n_subjects=12, per_subject=3, n_groups=2, seed=2)
    sm = build_summary(sub, grp, s)
    res = AuditResult(sm, threshold=0.15, n_boot=0)
    for g in (0, 1):
        r = group_resampling(sm, g)
        f, fn = bootstrap_rates(r, np.ones((1, r.n_subjects)), 0.15)
        assert f[0] == pytest.approx(res.by_group["fmr"].iloc[g])
        assert fn[0] == pytest.approx(res.by_group["fnmr"].iloc[g])


def test_bootstrap_is_seeded_and_resamples_subjects() -> None:
    sub, grp, s = random_population(n_subjects=30, per_subject=3, n_groups=3, seed=1)
    sm = build_summary(sub, grp, s)
    a = AuditResult(sm, threshold=0.2, n_boot=50, seed=11, reference_group="G0")
    b = AuditResult(sm, threshold=0.2, n_boot=50, seed=11, reference_group="G0")
    c = AuditResult(sm, threshold=0.2, n_boot=50, seed=12, reference_group="G0")
    np.testing.assert_array_equal(a.boot_fmr, b.boot_fmr)
    assert a.by_group.equals(b.by_group)
    assert not np.array_equal(a.boot_fnmr, c.boot_fnmr)
    # one seed per replicate: the first 20 replicates do not depend on n_boot
    d = AuditResult(sm, threshold=0.2, n_boot=20, seed=11)
    np.testing.assert_array_equal(d.boot_fnmr, a.boot_fnmr[:20])
    # weights are subject multiplicities summing to the group's subject count
    ws = draw_weights([10, 7], 5, seed=0)
    assert ws[0].shape == (5, 10) and (ws[0].sum(axis=1) == 10).all()
    assert (ws[1].sum(axis=1) == 7).all()
    bg = a.by_group
    for name in ("fmr", "fnmr"):
        lo, hi = bg[f"{name}_boot_q0.025"], bg[f"{name}_boot_q0.975"]
        assert (lo <= hi).all()
        assert (lo <= bg[name] + 1e-12).all() and (bg[name] <= hi + 1e-12).all()
    assert (bg["fmr_ratio_to_reference_boot_q0.025"].iloc[0] == 1.0)


def test_bootstrap_arguments_are_validated() -> None:
    sub, grp, s = random_population(n_subjects=6, per_subject=2, n_groups=2, seed=1)
    sm = build_summary(sub, grp, s)
    with pytest.raises(ConfigError, match="n_boot must be"):
        AuditResult(sm, threshold=0.2, n_boot=-1)
    with pytest.raises(ConfigError, match="ci_quantiles must satisfy"):
        AuditResult(sm, threshold=0.2, n_boot=5, ci_quantiles=(0.1, 1.5))


def test_no_closed_form_for_a_pair_list_with_a_binned_part() -> None:
    sub, grp, s = random_population(n_subjects=12, per_subject=3, n_groups=2, seed=2)
    binned = build_summary(sub, grp, s, tail_floor=0.1)
    r = group_resampling(binned, 0)
    assert r.all_pairs
    # drop one impostor pair from the histogram: no longer the all-pairs count
    hist = binned.impostor_hist.copy()
    k = int(np.flatnonzero(hist[0, 0])[0])
    hist[0, 0, k] -= 1
    partial = build_summary(sub, grp, s, tail_floor=0.1)
    object.__setattr__(partial, "impostor_hist", hist)
    r = group_resampling(partial, 0)
    assert not r.all_pairs
    w = draw_weights([6, 6], 3, seed=0)[0]
    assert np.isnan(bootstrap_rates(r, w, 0.5)[0]).all()
    with pytest.warns(UndefinedMetricWarning, match="not all-pairs"):
        res = AuditResult(partial, threshold=0.5, n_boot=3, seed=0)
    assert np.isnan(res.by_group["fmr_boot_q0.025"].iloc[0])
    assert not np.isnan(res.by_group["fmr_boot_q0.025"].iloc[1])
