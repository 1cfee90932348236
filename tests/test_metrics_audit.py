"""AuditResult: per-group figures against brute force, thresholds, edge cases, to_dict."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from _support import brute_pairs, build_summary, random_population
from faceaudit import ConfigError, InputError, ThinDataWarning, UndefinedMetricWarning
from faceaudit._io import write_json
from faceaudit.metrics import AuditResult, InexactMetricWarning, clopper_pearson, threshold_at_fmr


@pytest.fixture(scope="module")
def pop():
    sub, grp, s = random_population(n_subjects=30, per_subject=3, n_groups=3, seed=0)
    return sub, grp, s, build_summary(sub, grp, s, labels=("F", "M", "X"), attribute="sex")


def test_by_group_matches_brute_force(pop) -> None:
    sub, grp, s, sm = pop
    t = 0.3
    res = AuditResult(sm, threshold=t, reference_group="M", n_boot=0)
    bg = res.by_group
    assert bg.index.names == ["sex"] and list(bg.index.get_level_values(0)) == ["F", "M", "X"]
    fmrs, fnmrs = [], []
    for g in range(3):
        gen, imp = brute_pairs(sub, grp, s, g)
        row = bg.iloc[g]
        assert row["false_matches"] == (imp >= t).sum() and row["n_nonmated"] == len(imp)
        assert row["false_non_matches"] == (gen < t).sum() and row["n_mated"] == len(gen)
        assert row["fmr"] == (imp >= t).mean() and row["fnmr"] == (gen < t).mean()
        lo, hi = clopper_pearson((imp >= t).sum(), len(imp))
        assert row["fmr_ci_low"] == lo and row["fmr_ci_high"] == hi
        assert row["n_subjects"] == 10 and row["n_samples"] == 30 and row["fte"] == 0.0
        assert row["fta"] == 0.0 and row["far"] == row["fmr"] and row["frr"] == row["fnmr"]
        assert row["fmr_exact"] and not row["thin"]
        fmrs.append(row["fmr"])
        fnmrs.append(row["fnmr"])
    fmrs, fnmrs = np.array(fmrs), np.array(fnmrs)
    np.testing.assert_allclose(bg["fmr_ratio_to_reference"], fmrs / fmrs[1])
    np.testing.assert_allclose(bg["fnmr_ratio_to_best"], fnmrs / fnmrs.min())
    # overall: every diagonal cell pooled
    gen_d = np.concatenate([brute_pairs(sub, grp, s, g)[0] for g in range(3)])
    imp_d = np.concatenate([brute_pairs(sub, grp, s, g)[1] for g in range(3)])
    assert res.overall["false_matches"] == (imp_d >= t).sum()
    assert res.overall["n_nonmated"] == len(imp_d) and res.overall["n_mated"] == len(gen_d)
    # summaries and the fairlearn-style readers
    assert res.fairness["fdr"].value == pytest.approx(
        1 - 0.5 * (fmrs.max() - fmrs.min()) - 0.5 * (fnmrs.max() - fnmrs.min()))
    assert res.difference()["fnmr"] == pytest.approx(fnmrs.max() - fnmrs.min())
    assert res.ratio()["fmr"] == pytest.approx(fmrs.min() / fmrs.max())
    o = res.overall["fnmr"]
    assert res.difference("to_overall")["fnmr"] == pytest.approx(np.abs(fnmrs - o).max())
    assert res.ratio("to_overall")["fnmr"] == pytest.approx(
        min(np.minimum(fnmrs / o, o / fnmrs)))
    assert res.group_min()["fmr"] == fmrs.min() and res.group_max()["fnmr"] == fnmrs.max()
    with pytest.raises(ConfigError, match="method must be one of"):
        res.difference("worst")


def test_fmr_matrix_is_symmetric_with_counts(pop) -> None:
    sub, grp, s, sm = pop
    t = 0.1
    res = AuditResult(sm, threshold=t, n_boot=0)
    m = res.fmr_matrix.to_numpy()
    np.testing.assert_array_equal(m, m.T)
    for i in range(3):
        for j in range(3):
            mask_i, mask_j = grp == i, grp == j
            fm = n = 0
            for a in range(len(sub)):
                for b in range(a + 1, len(sub)):
                    if sub[a] != sub[b] and {grp[a], grp[b]} == {i, j} and (
                        (mask_i[a] and mask_j[b]) or (mask_j[a] and mask_i[b])):
                        n += 1
                        fm += s[a, b] >= t
            assert res.nonmated_matrix.iloc[i, j] == n and res.false_match_matrix.iloc[i, j] == fm
    np.testing.assert_array_equal(np.diag(m), res.by_group["fmr"].to_numpy())


def test_threshold_from_target_fmr(pop) -> None:
    sub, grp, s, sm = pop
    _, imp_m = brute_pairs(sub, grp, s, 1)
    with pytest.warns(ThinDataWarning, match="thin"):
        res = AuditResult(sm, target_fmr=1e-3, reference_group="M", n_boot=0)
    assert res.threshold == threshold_at_fmr(imp_m, target=1e-3)
    assert res.by_group.loc["M", "fmr"].item() <= 1e-3
    assert "group 'M'" in res.threshold_rule
    # 405 impostor pairs per group cannot support FMR = 1e-3 (needs 3000): every group is thin
    assert res.by_group["thin"].all()
    assert "needs >= 3000" in res.by_group["thin_reason"].iloc[0]
    assert sum("thin" in w for w in res.warnings) == 4  # three groups and overall
    res2 = AuditResult(sm, target_fmr=0.02, n_boot=0)
    imp_d = np.concatenate([brute_pairs(sub, grp, s, g)[1] for g in range(3)])
    assert res2.threshold == threshold_at_fmr(imp_d, target=0.02)
    assert res2.overall["fmr"] <= 0.02 and not res2.by_group["thin"].any()


def test_tie_rule_in_the_audit() -> None:
    # two groups, two subjects each with two samples; scores chosen to sit on the threshold
    sub = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    grp = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.full((8, 8), -0.5)
    s[0, 1] = s[1, 0] = 0.5  # genuine exactly at t: accepted
    s[2, 3] = s[3, 2] = 0.4  # genuine below t: false non-match
    s[0, 2] = s[2, 0] = 0.5  # impostor exactly at t: false match
    s[4, 5] = s[5, 4] = s[6, 7] = s[7, 6] = 0.9
    res = AuditResult(build_summary(sub, grp, s), threshold=0.5, n_boot=0)
    bg = res.by_group
    assert bg["false_matches"].tolist() == [1, 0] and bg["n_nonmated"].tolist() == [4, 4]
    assert bg["false_non_matches"].tolist() == [1, 0] and bg["n_mated"].tolist() == [2, 2]
    assert bg["fmr"].tolist() == [0.25, 0.0]
    ir = res.fairness["inequity_rate"]
    assert math.isnan(ir.value)
    assert ir.reason.startswith("undefined: group G1 has zero false matches")
    assert math.isnan(bg["fmr_ratio_to_best"].iloc[0])
    assert any("ratio_to_best is undefined" in w for w in res.warnings)


def test_failures_to_enrol_and_acquire() -> None:
    sub = np.array([0, 0, 1, 1, 2, 2])
    grp = np.array([0, 0, 0, 0, 0, 0])
    s = np.zeros((6, 6))
    s[2, 4] = s[4, 2] = np.nan  # a failed comparison
    enrolled = np.array([True, True, True, True, True, False])
    res = AuditResult(build_summary(sub, grp, s, enrolled=enrolled), threshold=0.5, n_boot=0)
    row = res.by_group.iloc[0]
    assert row["fte"] == pytest.approx(1 / 6)
    # 15 pairs: 3 genuine (1 fails: sample 5), 12 impostor (4 with sample 5 + 1 NaN fail)
    assert row["n_mated"] == 2 and row["n_nonmated"] == 7
    assert row["fta"] == pytest.approx(6 / 15)
    assert row["far"] == pytest.approx(0.0) and row["frr"] == pytest.approx(6 / 15 + 1 * 9 / 15)


def test_empty_cells_and_single_group() -> None:
    # group 1 has one subject: no impostor pairs inside it
    sub = np.array([0, 0, 1, 1, 2, 2])
    grp = np.array([0, 0, 0, 0, 1, 1])
    rng = np.random.default_rng(0)
    s = rng.uniform(-1, 1, (6, 6))
    s = (s + s.T) / 2
    with pytest.warns(UndefinedMetricWarning, match="no impostor comparisons"):
        res = AuditResult(build_summary(sub, grp, s), threshold=0.0, n_boot=0)
    assert math.isnan(res.by_group["fmr"].iloc[1]) and res.by_group["n_nonmated"].iloc[1] == 0
    assert math.isnan(res.by_group["fmr_ci_low"].iloc[1])
    assert res.fairness["fdr"].excluded == ("G1",)
    assert math.isnan(res.fairness["fdr"].value)  # one group left
    with pytest.raises(InputError, match="group 'G1' has no impostor comparisons"):
        AuditResult(build_summary(sub, grp, s), target_fmr=0.1, reference_group="G1", n_boot=0)
    single = AuditResult(build_summary(sub, np.zeros(6, int), s), threshold=0.0, n_boot=0)
    assert len(single.by_group) == 1
    assert "at least 2 groups" in single.fairness["garbe"].reason
    assert single.difference()["fmr"] == 0.0


def test_all_scores_tied() -> None:
    sub = np.repeat(np.arange(4), 2)
    grp = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.full((8, 8), 0.3)
    with pytest.warns(ThinDataWarning, match="needs >= 6 by the rule of three"):
        res = AuditResult(build_summary(sub, grp, s), target_fmr=0.5, n_boot=0)
    assert res.threshold == np.nextafter(0.3, 1)
    assert res.by_group["fmr"].tolist() == [0.0, 0.0]
    assert res.by_group["fnmr"].tolist() == [1.0, 1.0]
    assert res.fairness["garbe"].reason == "undefined: no group has any false match"
    assert res.fairness["fdr"].value == 1.0


def test_binned_threshold_is_flagged(pop) -> None:
    sub, grp, s, _ = pop
    sm = build_summary(sub, grp, s, tail_floor=0.3, edges=np.linspace(-1, 1, 11))
    with pytest.warns(InexactMetricWarning):
        res = AuditResult(sm, threshold=0.05, n_boot=0)
    bg = res.by_group
    assert not bg["fmr_exact"].any()
    for g in range(3):
        _, imp = brute_pairs(sub, grp, s, g)
        assert bg["fmr_lower_bound"].iloc[g] <= (imp >= 0.05).mean() <= bg["fmr"].iloc[g]
    assert any("upper bound" in w for w in res.warnings)
    # cross-group cells: upper bounds, symmetric, never below the true count
    for i in range(3):
        for j in range(3):
            if i == j:
                continue
            a, b = np.flatnonzero(grp == i), np.flatnonzero(grp == j)
            cross = s[np.ix_(a, b)][sub[a][:, None] != sub[b][None, :]]
            assert res.nonmated_matrix.iloc[i, j] == len(cross)
            assert res.false_match_matrix.iloc[i, j] >= (cross >= 0.05).sum()
            assert not res.fmr_matrix_exact.iloc[i, j]
    exact = AuditResult(sm, threshold=0.35, n_boot=0)
    assert exact.by_group["fmr_exact"].all() and not exact.warnings


def test_to_dict_is_json_and_complete(pop, tmp_path) -> None:
    _, _, _, sm = pop
    res = AuditResult(sm, threshold=0.2, reference_group="F", n_boot=20, seed=0)
    d = res.to_dict()
    path = tmp_path / "r.json"
    write_json(path, d)
    back = json.loads(path.read_text())
    assert back["threshold"] == 0.2 and back["reference_group"] == "F"
    assert [g["label"] for g in back["groups"]] == ["F", "M", "X"]
    g0 = back["groups"][0]
    for key in ("fmr", "fmr_ci_low", "fmr_ci_high", "false_matches", "n_nonmated", "fnmr",
                "n_mated", "far", "frr", "fta", "fte", "fmr_boot_q0.025", "thin", "values"):
        assert key in g0
    assert g0["false_matches"] == int(res.by_group["false_matches"].iloc[0])
    assert back["fmr_matrix"]["n_nonmated"][0][1] == int(res.nonmated_matrix.iloc[0, 1])
    assert set(back["fairness"]) == {"fdr", "inequity_rate", "garbe", "ser_fmr", "ser_fnmr"}
    assert isinstance(pd.DataFrame(back["groups"]), pd.DataFrame)


def test_constructor_validation(pop) -> None:
    _, _, _, sm = pop
    with pytest.raises(ConfigError, match="exactly one of threshold and target_fmr"):
        AuditResult(sm, n_boot=0)
    with pytest.raises(ConfigError, match="exactly one of threshold and target_fmr"):
        AuditResult(sm, threshold=0.1, target_fmr=0.1, n_boot=0)
    with pytest.raises(ConfigError, match="target_fmr must satisfy"):
        AuditResult(sm, target_fmr=0.0, n_boot=0)
    with pytest.raises(ConfigError, match="group must be one of"):
        AuditResult(sm, threshold=0.1, reference_group="nobody", n_boot=0)
    with pytest.raises(ConfigError, match="summary must be a ScoreSummary"):
        AuditResult("x", threshold=0.1, n_boot=0)  # type: ignore[arg-type]


def test_few_pairs_but_many_false_matches_is_not_thin() -> None:
    # Groups A and B: 6 subjects x 2 samples each -> 60 impostor pairs per group, scoring 0.9 in A
    # and 0.1 in B (genuine pairs 0.95). The threshold for FMR <= 1e-3 on B lies just above 0.1,
    # so A has 60 false matches and B none. 60 < 3/1e-3 pairs in both, but A's 60 errors measure
    # an FMR far above the target: only B is thin by the rule of three (both also have fewer
    # than 10 people, a separate reason, so both are thin overall).
    from _support import build_summary

    subjects = np.repeat(np.arange(12), 2)
    groups = np.repeat([0, 1], 12)
    s = np.zeros((24, 24))
    s[:12, :12] = 0.9
    s[12:, 12:] = 0.1
    s[subjects[:, None] == subjects[None, :]] = 0.95
    sm = build_summary(subjects, groups, s, labels=("A", "B"))
    with pytest.warns(ThinDataWarning):
        res = AuditResult(sm, target_fmr=1e-3, reference_group="B", n_boot=0)
    assert res.by_group.loc["A", "false_matches"].item() == 60
    assert res.by_group.loc["B", "false_matches"].item() == 0
    rule_of_three = "impostor comparisons cannot support"
    assert rule_of_three not in res.by_group.loc["A", "thin_fmr_reason"].item()
    assert res.by_group.loc["B", "thin"].item() and res.by_group.loc["B", "thin_fmr"].item()
    assert "or >= 10 false matches" in res.by_group.loc["B", "thin_reason"].item()
    assert res.by_group.loc["A", "thin_fmr_reason"].item() == "only 6 people (fewer than 10)"
    assert not res.by_group.loc["A", "thin_fnmr_reason"].item().startswith("no genuine")


def test_random_state_is_a_deprecated_alias_of_seed() -> None:
    sub, grp, s = random_population(n_subjects=30, per_subject=3, n_groups=2, seed=1)
    sm = build_summary(sub, grp, s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        a = AuditResult(sm, target_fmr=0.01, n_boot=20, seed=5)
        with pytest.warns(DeprecationWarning, match="use seed"):
            b = AuditResult(sm, target_fmr=0.01, n_boot=20, random_state=5)
    assert a.seed == b.seed == 5
    pd.testing.assert_frame_equal(a.by_group, b.by_group)
