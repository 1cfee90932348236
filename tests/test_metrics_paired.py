"""Joint paired bootstrap of two systems on the same photos: identity, jointness, verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from _support import build_summary, random_population
from faceaudit import InputError
from faceaudit.metrics import AuditResult, paired_comparison
from faceaudit.metrics._intervals import replicate_quantiles


@pytest.fixture(scope="module")
def two_systems():
    sub, grp, s = random_population(n_subjects=45, per_subject=3, n_groups=3, seed=5)
    a = build_summary(sub, grp, s, labels=("F", "M", "X"))
    s2 = s.copy()
    imp1 = (grp[:, None] == 1) & (grp[None, :] == 1) & (sub[:, None] != sub[None, :])
    s2[imp1] += 0.3  # system B confuses the people of group M much more often
    b = build_summary(sub, grp, s2, labels=("F", "M", "X"))
    return sub, grp, a, b


def test_a_system_against_itself_changes_nothing(two_systems) -> None:
    _, _, a, _ = two_systems
    p = paired_comparison(a, a, 0.3, 0.3, reference_group="F", n_boot=40, seed=1)
    for r in p["rows"]:
        assert r["difference"] == 0.0
        assert r["difference_low"] == r["difference_high"] == 0.0
        assert r["verdict"] == "no clear change"
        if r["a"] > 0:
            assert r["ratio"] == 1.0 and r["ratio_low"] == r["ratio_high"] == 1.0


def test_people_are_resampled_jointly(two_systems) -> None:
    _, _, a, b = two_systems
    ta, tb, n, seed = 0.35, 0.4, 60, 7
    p = paired_comparison(a, b, ta, tb, reference_group="F", n_boot=n, seed=seed)
    # AuditResult draws the same people with the same seed: its replicates are A's and B's
    ra = AuditResult(a, threshold=ta, n_boot=n, seed=seed)
    rb = AuditResult(b, threshold=tb, n_boot=n, seed=seed)
    for rate, xa, xb in (("fmr", ra.boot_fmr, rb.boot_fmr), ("fnmr", ra.boot_fnmr, rb.boot_fnmr)):
        q = replicate_quantiles(xb - xa, (0.025, 0.975), undefined=(-1.0, 1.0))
        rows = [r for r in p["rows"] if r["rate"] == rate]
        for i, r in enumerate(rows):
            assert (r["difference_low"], r["difference_high"]) == (q[0, i], q[1, i])
            assert r["a"] == ra.by_group[rate].iloc[i] and r["b"] == rb.by_group[rate].iloc[i]
    # the paired interval of the difference is narrower than the unpaired one (the errors
    # of the two systems are correlated through the people)
    fm = [r for r in p["rows"] if r["rate"] == "fmr"]
    unpaired = replicate_quantiles(rb.boot_fmr - np.roll(ra.boot_fmr, 1, axis=0),
                                   (0.025, 0.975), undefined=(-1.0, 1.0))
    assert fm[0]["difference_high"] - fm[0]["difference_low"] < unpaired[1, 0] - unpaired[0, 0]


def test_verdicts_and_ratio_of_ratios(two_systems) -> None:
    _, _, a, b = two_systems
    p = paired_comparison(a, b, 0.35, 0.35, reference_group="F", n_boot=100, seed=0)
    fm = {r["group"]: r for r in p["rows"] if r["rate"] == "fmr"}
    fnm = {r["group"]: r for r in p["rows"] if r["rate"] == "fnmr"}
    assert fm["M"]["verdict"] == "B higher" and fm["M"]["difference_low"] > 0
    assert fm["F"]["verdict"] == fm["X"]["verdict"] == "no clear change"  # unchanged scores
    assert fm["F"]["difference"] == 0.0 and all(r["verdict"] == "no clear change"
                                                for r in fnm.values())
    # ratio of ratios = (B_M / B_F) / (A_M / A_F); F is unchanged, so it equals B_M / A_M
    assert fm["M"]["ratio_of_ratios"] == pytest.approx(
        (fm["M"]["b"] / fm["F"]["b"]) / (fm["M"]["a"] / fm["F"]["a"]))
    assert fm["M"]["ratio_of_ratios"] == pytest.approx(fm["M"]["ratio"])
    assert fm["M"]["ratio_of_ratios_low"] > 1 and fm["M"]["ratio_low"] > 1


def test_different_photos_are_refused(two_systems) -> None:
    _, _, a, _ = two_systems
    sub2, grp2, s2 = random_population(n_subjects=30, per_subject=3, n_groups=3, seed=6)
    other = build_summary(sub2, grp2, s2, labels=("F", "M", "X"))
    with pytest.raises(InputError, match="same photos"):
        paired_comparison(a, other, 0.3, 0.3)
    with pytest.raises(InputError, match="n_boot must be >= 1"):
        paired_comparison(a, a, 0.3, 0.3, n_boot=0)


def test_a_handful_of_people_gets_no_verdict() -> None:
    sub, grp, s = random_population(n_subjects=24, per_subject=3, n_groups=3, seed=2)
    a = build_summary(sub, grp, s, labels=("F", "M", "X"))  # 8 people per group
    s2 = s + 0.3 * (sub[:, None] != sub[None, :])  # B accepts far more impostors everywhere
    b = build_summary(sub, grp, s2, labels=("F", "M", "X"))
    p = paired_comparison(a, b, 0.3, 0.3, n_boot=50, seed=0)
    for r in p["rows"]:
        assert r["n_people"] == 8
        assert r["verdict"] == "too few people (8 < 10) for a paired verdict"
