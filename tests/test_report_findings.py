"""Findings and number formatting: hand-checked sentences, ratios, thin flags."""

from __future__ import annotations

import math

import pytest

from faceaudit import _format as F
from faceaudit.report._findings import make_findings


@pytest.mark.parametrize(
    ("x", "pct", "one_in"),
    [
        (0.00123, "0.12%", "1 in 810"),
        (1e-4, "0.01%", "1 in 10,000"),
        (0.5, "50%", "5 in 10"),
        (0.0, "0%", "none"),
        (1.0, "100%", "10 in 10"),
        (1.5e-7, "0.000015%", "1 in 6,700,000"),
        (None, "–", "–"),
        (float("nan"), "–", "–"),
    ],
)
def test_rate_formats(x: float | None, pct: str, one_in: str) -> None:
    assert F.pct(x) == pct
    assert F.one_in(x) == one_in


def test_times_interval_count() -> None:
    assert F.times(2.345) == "2.3×"
    assert F.times(0.5) == "0.50×"
    assert F.times(12.4) == "12×"
    assert F.times(math.inf) == "∞"
    assert F.times(None) == "–"
    assert F.interval(0.001, 0.02) == "0.1%–2%"
    assert F.interval(None, 0.02) == ""
    assert F.count(12345) == "12,345"
    assert F.rate(0.002) == "0.2%, or 1 in 500"


def _row(group: str, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "group": group,
        "values": dict(zip(("sex", "race"), group.split(" / "), strict=True)),
        "n_subjects": 50,
        "n_samples": 200,
        "n_fte": 0,
        "fte": 0.0,
        "fte_ci_low": 0.0,
        "fte_ci_high": 0.02,
        "n_mated": 300,
        "false_non_matches": 9,
        "fnmr": 0.03,
        "fnmr_ci_low": 0.01,
        "fnmr_ci_high": 0.06,
        "n_nonmated": 10_000,
        "false_matches": 10,
        "fmr": 0.001,
        "fmr_ci_low": 5e-4,
        "fmr_ci_high": 2e-3,
        "fmr_ratio_to_reference": 1.0,
        "fmr_ratio_to_reference_boot_low": 1.0,
        "fmr_ratio_to_reference_boot_high": 1.0,
        "fnmr_ratio_to_reference": 1.0,
        "fnmr_ratio_to_reference_boot_low": 1.0,
        "fnmr_ratio_to_reference_boot_high": 1.0,
        "thin": False,
        "thin_reason": "",
    }
    base.update(kw)
    return base


def _results(rows: list[dict[str, object]]) -> dict[str, object]:
    return {
        "dataset": {"n_subjects": 500},
        "verification": {
            "threshold": 0.4,
            "threshold_rule": "target_fmr",
            "target_fmr": 1e-3,
            "reference_group": "M / white",
            "groups": rows,
        },
    }


def test_fmr_disparity_sentence_with_interval() -> None:
    rows = [
        _row("M / white"),
        _row(
            "F / black",
            false_matches=32,
            fmr=0.0032,
            fmr_ratio_to_reference=3.2,
            fmr_ratio_to_reference_boot_low=1.5,
            fmr_ratio_to_reference_boot_high=6.0,
        ),
    ]
    f = make_findings(_results(rows))
    fm = [x for x in f if x["kind"] == "fmr_ratio"]
    assert len(fm) == 1
    text = fm[0]["text"]
    assert text.startswith(
        "At the threshold that gives at most one false match in 1,000 among M / white's "
        "same-group impostor pairs (two different people, both M / white), "
    )
    assert "F / black is falsely matched" in text
    assert "3.2 times as often as M / white (95% interval 1.50×–6.0×)" in text
    assert "32 false matches in 10,000 comparisons, 0.32%, or 1 in 310" in text
    assert "against 0.1%, or 1 in 1,000 (95% interval 0.05%–0.2%) for M / white" in text
    assert fm[0]["value"] == 3.2 and fm[0]["ci"] == [1.5, 6.0]
    assert fm[0]["thin"] is False and fm[0]["note"] == ""


def test_thin_group_is_flagged_and_listed_after_solid_ones() -> None:
    rows = [
        _row("M / white"),
        _row(
            "F / asian",
            fmr=0.01,
            fmr_ratio_to_reference=10.0,
            fmr_ratio_to_reference_boot_low=0.5,
            fmr_ratio_to_reference_boot_high=40.0,
            thin=True,
            thin_reason="only 4 people (fewer than 10)",
            false_matches=1,
        ),
        _row("F / black", fmr=0.002, fmr_ratio_to_reference=2.0,
             fmr_ratio_to_reference_boot_low=1.2, fmr_ratio_to_reference_boot_high=3.0),
    ]
    fm = [x for x in make_findings(_results(rows)) if x["kind"] == "fmr_ratio"]
    assert [x["group"] for x in fm] == ["F / black", "F / asian"]
    assert fm[1]["thin"] is True
    assert "only 4 people" in fm[1]["note"]
    assert "interval includes 1" in fm[1]["note"]
    assert "1 false match in" in fm[1]["text"]  # singular


def test_reference_with_zero_errors_gives_no_ratio_but_a_finding() -> None:
    rows = [
        _row("M / white", fnmr=0.0, false_non_matches=0),
        _row(
            "F / black",
            fnmr=0.02,
            false_non_matches=6,
            fnmr_ratio_to_reference=None,
            fnmr_ratio_to_reference_boot_low=None,
            fnmr_ratio_to_reference_boot_high=None,
        ),
    ]
    fn = [x for x in make_findings(_results(rows)) if x["kind"] == "fnmr_ratio"]
    assert len(fn) == 1
    assert "while M / white has none at all, so no ratio can be given" in fn[0]["text"]
    assert fn[0]["value"] is None
    assert "n_boot" not in fn[0]["note"]


def test_unknown_groups_are_not_findings() -> None:
    rows = [_row("M / white"), _row("M / unknown", fmr=0.01, fmr_ratio_to_reference=10.0)]
    fm = [x for x in make_findings(_results(rows)) if x["kind"] == "fmr_ratio"]
    assert len(fm) == 1 and fm[0]["group"] is None  # "no group is ... more often"
    assert "no group is falsely matched" in fm[0]["text"]


def test_missing_interval_is_said() -> None:
    rows = [
        _row("M / white"),
        _row("F / black", fmr=0.003, fmr_ratio_to_reference=3.0,
             fmr_ratio_to_reference_boot_low=None, fmr_ratio_to_reference_boot_high=None),
    ]
    fm = [x for x in make_findings(_results(rows)) if x["kind"] == "fmr_ratio"]
    assert fm[0]["ci"] is None
    assert "run the audit with n_boot > 0" in fm[0]["note"]


def test_fte_finding_names_the_worst_group() -> None:
    rows = [
        _row("M / white", n_fte=1, fte=0.005),
        _row("F / black", n_fte=8, n_samples=100, fte=0.08, fte_ci_low=0.035, fte_ci_high=0.15),
    ]
    fte = [x for x in make_findings(_results(rows)) if x["kind"] == "fte"]
    assert fte[0]["group"] == "F / black"
    assert "8 of 100 photos of F / black (8%, 95% interval 3.5%–15%)" in fte[0]["text"]


def test_thinness_is_per_figure() -> None:
    """Too few impostor pairs make FMR thin, not FNMR."""
    rows = [
        _row("M / white"),
        _row(
            "F / black",
            fmr=0.004,
            fmr_ratio_to_reference=4.0,
            fnmr=0.09,
            fnmr_ratio_to_reference=3.0,
            thin=True,
            thin_reason="500 impostor comparisons cannot support FMR = 0.001",
            thin_fmr=True,
            thin_fmr_reason="500 impostor comparisons cannot support FMR = 0.001",
            thin_fnmr=False,
            thin_fnmr_reason="",
        ),
    ]
    f = {x["kind"]: x for x in make_findings(_results(rows)) if x["group"] == "F / black"}
    assert f["fmr_ratio"]["thin"] is True and "500 impostor" in f["fmr_ratio"]["note"]
    assert f["fnmr_ratio"]["thin"] is False and "Too little" not in f["fnmr_ratio"]["note"]


def test_without_reference_and_without_rankings_no_spread_is_claimed() -> None:
    """A results mapping without ``verification.inference`` (no ranking rule applied) gets
    no highest/lowest finding: naming one needs intervals that separate (see
    tests/test_report_inference.py for the finding itself)."""
    rows = [
        _row("M / white", fmr=0.001, false_matches=10),
        _row("F / black", fmr=0.004, false_matches=40),
    ]
    res = _results(rows)
    res["verification"]["reference_group"] = None  # type: ignore[index]
    res["verification"]["threshold_rule"] = "fixed"  # type: ignore[index]
    f = make_findings(res)
    assert not [x for x in f if x["kind"] == "fmr_spread"]
    assert "highest" not in " ".join(x["text"] for x in f)


def test_threshold_wording_without_reference_names_the_pooled_pairs() -> None:
    res = _results([_row("M / white"), _row("F / black")])
    res["verification"]["reference_group"] = None  # type: ignore[index]
    lead = make_findings(res)[0]["text"]
    assert ("at most one false match in 1,000 among the same-group impostor pairs of every "
            "group pooled") in lead
