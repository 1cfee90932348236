"""compare_results: hand-made audits, differences, ratios and the interval-overlap verdict."""

from __future__ import annotations

import math

import pytest

from faceaudit import InputError
from faceaudit.report._compare import compare_results, formatted_rows, render_compare_html


def _audit(groups: dict[str, tuple[float, float, float]], threshold: float = 0.5) -> dict:
    """groups: label -> (fmr, fmr_ci_low, fmr_ci_high); FNMR and FTE fixed."""
    rows = [
        {
            "group": g,
            "fmr": v,
            "fmr_ci_low": lo,
            "fmr_ci_high": hi,
            "fnmr": 0.1,
            "fnmr_ci_low": 0.05,
            "fnmr_ci_high": 0.2,
            "fte": 0.0,
            "fte_ci_low": None,
            "fte_ci_high": None,
            "thin": g == "F",
        }
        for g, (v, lo, hi) in groups.items()
    ]
    return {
        "verification": {"groups": rows, "threshold": threshold, "model_id": "m"},
        "dataset": {"name": "d", "n_samples": 10},
    }


def test_overlap_verdicts_and_differences() -> None:
    a = _audit({"M": (0.001, 0.0008, 0.0012), "F": (0.002, 0.001, 0.004), "X": (0.1, 0, 1)})
    b = _audit(
        {"M": (0.003, 0.0025, 0.0035), "F": (0.0025, 0.0015, 0.005), "Y": (0, 0, 1)}, threshold=0.6
    )
    c = compare_results(a, b, name_a="old", name_b="new")
    rows = {(r["group"], r["rate"]): r for r in c["rows"]}
    m = rows[("M", "fmr")]
    assert m["overlap"] is False and m["verdict"] == "new higher"
    assert m["difference"] == pytest.approx(0.002) and m["ratio"] == pytest.approx(3.0)
    f = rows[("F", "fmr")]
    assert f["overlap"] is True and f["verdict"] == "no clear change" and f["thin"] is True
    assert rows[("M", "fte")]["overlap"] is None and rows[("M", "fte")]["verdict"] == "no interval"
    assert math.isnan(rows[("M", "fte")]["ratio"])  # 0 / 0
    assert c["only_in_a"] == ["X"] and c["only_in_b"] == ["Y"]
    assert any("thresholds differ" in n for n in c["notes"])
    shown = {(r["group"], r["rate"]): r for r in formatted_rows(c)}
    assert shown[("M", "FMR")]["difference"] == "+0.2%"
    assert shown[("M", "FMR")]["ratio"] == "3.0×"
    html = render_compare_html(c)
    assert "new higher" in html and 'class="change"' in html


def test_no_common_group_is_an_error() -> None:
    with pytest.raises(InputError, match="share no group"):
        compare_results(_audit({"A": (0, 0, 1)}), _audit({"B": (0, 0, 1)}))
