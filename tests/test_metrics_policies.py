"""Threshold policies (vendor, global, per-group): a hand-checked case, brute force, intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from _support import brute_pairs, build_summary, random_population
from faceaudit import ConfigError
from faceaudit.metrics import (
    POLICIES,
    AuditResult,
    VendorOperatingPoint,
    policy_names,
    threshold_policies,
)


def _hand_case():
    """Group A: subjects 0, 1; group B: subjects 2, 3; two samples each (8 samples).

    Impostor pairs: 4 in A, 4 in B, 16 between A and B. Scores not listed are -0.5.
    """
    sub = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    grp = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.full((8, 8), -0.5)

    def put(a: int, b: int, v: float) -> None:
        s[a, b] = s[b, a] = v

    put(0, 1, 0.9)   # genuine A (subject 0)
    put(2, 3, 0.2)   # genuine A (subject 1), low
    put(4, 5, 0.8)   # genuine B
    put(6, 7, 0.7)   # genuine B
    put(0, 2, 0.6)   # impostor A
    put(1, 3, 0.3)   # impostor A
    put(4, 6, 0.5)   # impostor B
    put(0, 4, 0.55)  # A x B
    put(3, 7, 0.52)  # A x B: between B's and A's own thresholds
    return build_summary(sub, grp, s, labels=("A", "B"))


def test_hand_checked_policies() -> None:
    sm = _hand_case()
    vendor = VendorOperatingPoint("toy", 0.0, "toy makers", "toy benchmark", 1, 100, 3, 100)
    res = threshold_policies(sm, POLICIES, target_fmr=0.25, reference_group="A",
                             vendor=vendor, n_boot=0)
    assert list(res) == ["vendor", "global", "per-group"]

    # per-group: the smallest threshold (an impostor score) with at most 1 of 4 own
    # impostor pairs accepted: A 0.6, B 0.5
    pg = res["per-group"]
    t_a, t_b = pg.thresholds
    assert (t_a, t_b) == (0.6, 0.5)
    a, b = pg.groups
    assert (a["false_matches"], a["n_nonmated"]) == (1, 4)          # 0.6
    assert (a["false_non_matches"], a["n_mated"]) == (1, 2)         # 0.2 < t_a
    assert (b["false_matches"], b["n_nonmated"]) == (1, 4)          # 0.5
    assert (b["false_non_matches"], b["n_mated"]) == (0, 2)
    assert a["fmr"] == b["fmr"] == 0.25 and a["fnmr"] == 0.5 and b["fnmr"] == 0.0
    # cross-group, probe's threshold: row A (0.6) counts nothing, row B (0.5) 0.55 and 0.52
    cross = pg.cross
    assert cross["rule"] == "probe" and cross["labels"] == ["A", "B"]
    assert cross["false_matches"] == [[1, 0], [2, 1]]
    assert cross["n_nonmated"] == [[4, 16], [16, 4]]
    assert cross["fmr"][0][1] == 0.0 and cross["fmr"][1][0] == 2 / 16

    # global: reference A's threshold for everyone; symmetric cross matrix
    gl = res["global"]
    assert gl.thresholds == (t_a, t_a)
    assert [g["false_matches"] for g in gl.groups] == [1, 0]      # B's 0.5 < 0.6
    assert [g["false_non_matches"] for g in gl.groups] == [1, 0]
    assert gl.cross["false_matches"][0][1] == gl.cross["false_matches"][1][0] == 0
    assert gl.intended["fmr"] == 0.25

    # vendor at 0.0: A accepts impostors 0.6 and 0.3 (2 of 4), B 0.5 (1 of 4); no FNM
    ve = res["vendor"]
    assert ve.thresholds == (0.0, 0.0)
    assert [g["false_matches"] for g in ve.groups] == [2, 1]
    assert [g["false_non_matches"] for g in ve.groups] == [0, 0]
    assert ve.cross["false_matches"][0][1] == ve.cross["false_matches"][1][0] == 2
    assert ve.intended["fmr"] == 0.01 and ve.intended["fnmr"] == 0.03
    assert ve.intended["fmr_errors"] == 1 and ve.intended["fmr_trials"] == 100
    # 2 of 4 alone would give Clopper-Pearson [0.068, 0.932], but the pairs come from 2
    # people: the design-effect part cannot bound the rate, so [0, 1], and 1% is "within"
    a = ve.groups[0]
    assert (a["fmr_low"], a["fmr_high"]) == (0.0, 1.0) and a["fmr_vs_intended"] == "within"
    assert a["fnmr_vs_intended"] == "within" and a["fnmr_one_sided"]
    assert "only 2 people" in a["thin_fnmr_reason"]
    d = ve.to_dict()
    assert d["name"] == "vendor" and d["available"] and len(d["groups"]) == 2


def test_brute_force_against_all_pairs() -> None:
    sub, grp, s = random_population(n_subjects=24, per_subject=3, n_groups=3, seed=4)
    sm = build_summary(sub, grp, s, labels=("F", "M", "X"))
    vendor = VendorOperatingPoint("toy", 0.25, "toy", "bench", 1, 1000, 50, 1000)
    res = threshold_policies(sm, ("vendor", "per-group"), target_fmr=0.05, vendor=vendor,
                             n_boot=0)
    seen = set()
    for row in res["vendor"].groups:  # intended 0.1% FMR, 5% FNMR against each interval
        for key, want in (("fmr", 0.001), ("fnmr", 0.05)):
            exp = ("above" if want < row[f"{key}_low"] else
                   "below" if want > row[f"{key}_high"] else "within")
            assert row[f"{key}_vs_intended"] == exp
            seen.add(exp)
    assert "above" in seen  # the case is not vacuous
    n = len(sub)
    for name in ("vendor", "per-group"):
        pol = res[name]
        ts = pol.thresholds
        for g in range(3):
            gen, imp = brute_pairs(sub, grp, s, g)
            row = pol.groups[g]
            assert row["false_matches"] == int((imp >= ts[g]).sum())
            assert row["n_nonmated"] == len(imp)
            assert row["false_non_matches"] == int((gen < ts[g]).sum())
            if name == "per-group":  # the smallest threshold meeting the target
                assert (imp >= ts[g]).mean() <= 0.05
                below = np.unique(imp)[np.unique(imp) < ts[g]]
                assert len(below) == 0 or (imp >= below.max()).mean() > 0.05
        for p in range(3):
            for c in range(3):
                fm = nn = 0
                for x in range(n):
                    for y in range(n):
                        if grp[x] != p or grp[y] != c or sub[x] == sub[y] or x == y:
                            continue
                        if p == c and y < x:
                            continue  # an unordered pair within a group once
                        nn += 1
                        fm += s[x, y] >= ts[p]
                assert pol.cross["n_nonmated"][p][c] == nn
                assert pol.cross["false_matches"][p][c] == fm, (name, p, c)


def test_global_policy_is_the_audit_and_its_intervals() -> None:
    sub, grp, s = random_population(n_subjects=30, per_subject=3, n_groups=3, seed=1)
    sm = build_summary(sub, grp, s, labels=("F", "M", "X"))
    res = threshold_policies(sm, ("global",), target_fmr=0.02, reference_group="M",
                             n_boot=50, seed=3)["global"]
    audit = AuditResult(sm, target_fmr=0.02, reference_group="M", n_boot=50, seed=3)
    assert res.thresholds == (audit.threshold,) * 3
    for i, (fm, fnm) in enumerate(zip(audit.group_errors("fmr"), audit.group_errors("fnmr"),
                                      strict=True)):
        iv = fm.interval(audit.confidence, replicates=audit.boot_fmr[:, i])
        jv = fnm.interval(audit.confidence, replicates=audit.boot_fnmr[:, i])
        row = res.groups[i]
        assert (row["fmr"], row["fmr_low"], row["fmr_high"]) == (iv.value, iv.low, iv.high)
        assert (row["fnmr"], row["fnmr_low"], row["fnmr_high"]) == (jv.value, jv.low, jv.high)
        assert row["fmr"] == audit.by_group["fmr"].iloc[i]
    np.testing.assert_array_equal(np.array(res.cross["false_matches"]),
                                  audit.false_match_matrix.to_numpy())


def test_fixed_threshold_and_unavailable_vendor() -> None:
    sm = _hand_case()
    res = threshold_policies(sm, ("global", "vendor"), threshold=0.0, n_boot=0)
    assert res["global"].thresholds == (0.0, 0.0) and res["global"].intended["fmr"] is None
    assert not res["vendor"].available and "not available" in res["vendor"].reason
    assert res["vendor"].groups == ()
    assert policy_names("all") == POLICIES and policy_names("per-group") == ("per-group",)
    with pytest.raises(ConfigError, match="threshold_policy must be one of"):
        policy_names("fair")
    with pytest.raises(ConfigError, match="policy must be one of"):
        threshold_policies(sm, ("best",))


def test_binned_threshold_gives_a_bounded_count() -> None:
    sub, grp, s = random_population(n_subjects=20, per_subject=3, n_groups=2, seed=2)
    sm = build_summary(sub, grp, s, tail_floor=0.5, edges=np.linspace(-1, 1, 5))
    vendor = VendorOperatingPoint("toy", 0.1, "toy")  # inside the bin [0, 0.5)
    row = threshold_policies(sm, ("vendor",), vendor=vendor, n_boot=20)["vendor"].groups[0]
    _, imp = brute_pairs(sub, grp, s, 0)
    true = int((imp >= 0.1).sum())
    assert not row["fmr_exact"]
    assert row["false_matches_low"] <= true <= row["false_matches"]
    assert row["fmr_low"] <= true / len(imp) <= row["fmr_high"]
    assert not math.isnan(row["fnmr_low"])
