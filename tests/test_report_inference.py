"""What the report infers from the counts: intervals at the audit's level, ratios that may be
unbounded, NIST IR 8429 summaries, findings that say only what the numbers support.

Populations are built by hand (:func:`_population`): every group has ``people`` subjects with
two photos each; ``fnm`` of them have their genuine pair below the threshold (0.5) and ``fm``
of the group's impostor pairs score above it, so every count is known without running
anything.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _support import build_summary
from faceaudit import _format as F
from faceaudit._io import write_json
from faceaudit.metrics import AuditResult, rate_interval
from faceaudit.report._findings import identification_findings, make_findings
from faceaudit.report._html import render_html
from faceaudit.report._inference import FLAT_FIELDS
from faceaudit.report._schema import group_table, verification_view
from faceaudit.report._tables import report_card, whatif_table

THRESHOLD = 0.5


def _population(spec: list[tuple[int, int, int]], *, fm_people: int | None = None,
                tail_floor: float = -np.inf, labels: tuple[str, ...] | None = None,
                edges: np.ndarray | None = None):
    """``spec``: per group ``(people, false matches, false non-matches)``. The false matches
    of a group are impostor pairs among its first ``fm_people`` people (default: spread over
    the group, one pair per person pair in order)."""
    subjects, groups = [], []
    sid = 0
    for g, (n, _, _) in enumerate(spec):
        for _ in range(n):
            subjects += [sid, sid]
            groups += [g, g]
            sid += 1
    subjects, groups = np.array(subjects), np.array(groups)
    s = np.full((len(subjects), len(subjects)), 0.0)
    for g, (_, fm, fnm) in enumerate(spec):
        idx = np.flatnonzero(groups == g)
        people = list(dict.fromkeys(subjects[idx]))
        for k, p in enumerate(people):
            a, b = np.flatnonzero(subjects == p)
            s[a, b] = s[b, a] = 0.1 if k < fnm else 0.9
        pool = people[: fm_people] if fm_people else people
        pairs = [(x, y) for i, x in enumerate(pool) for y in pool[i + 1:]]
        # one impostor comparison per pair of people (first photo of each)
        for x, y in pairs[:fm]:
            a = np.flatnonzero(subjects == x)[0]
            b = np.flatnonzero(subjects == y)[0]
            s[a, b] = s[b, a] = 0.9
        assert len(pairs) >= fm
    labels = labels or tuple(f"G{i}" for i in range(len(spec)))
    return build_summary(subjects, groups, s, labels=labels, tail_floor=tail_floor,
                         edges=np.linspace(-1, 1, 5) if edges is None else edges)


def _results(sm, *, reference=None, confidence=0.95, n_boot=200) -> dict:
    audit = AuditResult(sm, threshold=THRESHOLD, reference_group=reference, n_boot=n_boot,
                        seed=0, confidence=confidence)
    ver = verification_view(audit, model_name="test", threshold_fixed=True)
    return {"dataset": {"n_subjects": len(np.unique(sm.subject_codes)), "name": "toy"},
            "verification": ver, "seeds": {"n_boot": n_boot, "seed": 0}}


def _strict(results: dict) -> dict:
    """As written to results.json: NaN and inf become null."""
    with tempfile.TemporaryDirectory() as d:
        write_json(Path(d) / "r.json", results)
        return json.loads((Path(d) / "r.json").read_text())


def _group(res: dict, label: str) -> dict:
    return next(r for r in res["verification"]["groups"] if r["group"] == label)


def test_zero_errors_show_the_one_sided_bound_never_zero_to_zero() -> None:
    res = _strict(_results(_population([(12, 0, 3), (12, 5, 3)])))
    g0 = _group(res, "G0")
    n = g0["n_nonmated"]
    assert g0["false_matches"] == 0 and g0["fmr_one_sided"] is True
    assert g0["fmr_shown_low"] == 0.0
    # at least the exact one-sided Clopper-Pearson bound 1 - 0.05^(1/n) (rule of three ~ 3/n)
    assert g0["fmr_shown_high"] >= 1 - 0.05 ** (1 / n) - 1e-12
    assert g0["fmr_shown_high"] == pytest.approx(rate_interval(0, n).high) or (
        g0["fmr_shown_high"] > rate_interval(0, n).high)
    html = render_html(res)
    assert f"≤ {F.pct(g0['fmr_shown_high'])}" in html
    assert "0%–0%" not in html and "0×–0×" not in html


def test_reference_with_no_errors_gives_an_unbounded_ratio() -> None:
    res = _strict(_results(_population([(12, 0, 3), (12, 6, 3)]), reference="G0"))
    g1 = _group(res, "G1")
    assert g1["fmr_ratio_to_reference_unbounded"] is True
    assert g1["fmr_ratio_to_reference_high"] is None  # inf is written as null
    assert "reference group made no error" in g1["fmr_ratio_to_reference_reason"]
    f = next(x for x in make_findings(res) if x["kind"] == "fmr_ratio")
    assert "G0 has none at all, so no ratio can be given" in f["text"]
    assert f["ci"][1] is None and "No upper limit" in f["note"]
    assert "0%–0%" not in f["text"] and "at most" in f["text"]  # G0's 0 of n as a bound


def test_reference_zero_in_some_resamples_is_unbounded_not_dropped() -> None:
    # the reference's only false match involves 2 of its 12 people: many resamples have none
    sm = _population([(12, 1, 3), (12, 8, 3)])
    audit = AuditResult(sm, threshold=THRESHOLD, reference_group="G0", n_boot=200, seed=0)
    ref_zero = (audit.boot_fmr[:, 0] == 0).mean()
    assert ref_zero > 0.025  # enough resamples without a reference error to reach the bound
    res = _strict(_results(sm, reference="G0"))
    g1 = _group(res, "G1")
    assert g1["fmr_ratio_to_reference"] == pytest.approx(8.0)
    assert g1["fmr_ratio_to_reference_unbounded"] is True
    assert g1["fmr_ratio_to_reference_boot_high"] is None  # inf kept, not nan-dropped
    f = next(x for x in make_findings(res) if x["kind"] == "fmr_ratio")
    assert "8.0 times as often as G0 (95% interval 0× to unbounded)" in f["text"]
    assert "no error in some resamples" in f["note"]


def test_tied_groups_name_no_highest() -> None:
    res = _results(_population([(12, 4, 3), (12, 4, 3)]))
    f = {x["kind"]: x for x in make_findings(res)}
    assert res["verification"]["inference"]["rankings"]["fmr"]["kind"] == "tied"
    assert "have the same false match rate" in f["fmr_spread"]["text"]
    assert "highest" not in f["fmr_spread"]["text"] and "lowest" not in f["fmr_spread"]["text"]


def test_overlapping_intervals_name_no_highest_but_give_the_ratio() -> None:
    res = _results(_population([(12, 3, 3), (12, 5, 4)]))
    rk = res["verification"]["inference"]["rankings"]["fmr"]
    assert rk["kind"] == "overlap"
    f = {x["kind"]: x for x in make_findings(res)}["fmr_spread"]
    assert "overlap" in f["text"] and "highest or the lowest" in f["text"]
    assert "G1 has the highest" not in f["text"] and "G0 has" not in f["text"]
    wtb = rk["worst_to_best"]
    assert f["value"] == pytest.approx(5 / 3)
    assert f"{F.times(5 / 3)} the lowest (95% interval " in f["text"]
    assert f["ci"][0] == pytest.approx(wtb["low"])


def test_separated_groups_are_ranked_with_the_worst_to_best_ratio() -> None:
    res = _results(_population([(15, 2, 1), (15, 100, 12)]))
    rk = res["verification"]["inference"]["rankings"]["fnmr"]
    assert rk["kind"] == "separated" and rk["highest"] == ["G1"] and rk["lowest"] == ["G0"]
    f = {x["kind"]: x for x in make_findings(res)}["fnmr_spread"]
    assert f["text"].startswith("At the fixed threshold 0.5, G1 has the highest false non-match "
                                "rate: 12 false non-matches in 15 comparisons")
    assert "the lowest is G0's" in f["text"] and "do not overlap" in f["text"]
    assert f["value"] == pytest.approx(12.0)


def test_one_qualifying_group_is_not_ranked() -> None:
    # G1 has 5 people: thin (fewer than 10), left out of summaries and rankings
    res = _results(_population([(12, 3, 3), (5, 5, 4)]))
    inf = res["verification"]["inference"]
    assert inf["rankings"]["fmr"]["kind"] == "one_group"
    assert [x[0] for x in inf["excluded"]["fmr"]] == ["G1"]
    assert inf["summaries"]["fmr"]["measures"]["max_geomean_ratio"]["reason"] == \
        "fewer_than_two_groups"
    f = {x["kind"]: x for x in make_findings(res)}["fmr_spread"]
    assert "fewer than two groups have enough data" in f["text"]
    assert "G1 (thin: only 5 people (fewer than 10))" in f["note"]


def test_all_fnmr_zero_makes_no_fnmr_claim() -> None:
    res = _results(_population([(12, 3, 0), (12, 9, 0)]))
    f = {x["kind"]: x for x in make_findings(res)}["fnmr_spread"]
    assert "none of the 2 groups compared had any false non-matches" in f["text"]
    assert "makes no claim about differences in false non-match rate" in f["text"]
    assert "highest" not in f["text"]
    # IR combines the FNMR Max/Min, which has no value without errors: undefined, never 0×
    ir = res["verification"]["inference"]["combined"]["inequity_rate"]
    assert ir["value"] is None and ir["reason"] == "no_errors"
    html = render_html(_strict(res))
    assert "0× (0×–0×)" not in html and "0×–0×" not in html
    assert "no errors" in html  # FNMR ÷ lowest: 0 / 0, no ratio to bound


def test_bound_counts_are_never_stated_as_exact() -> None:
    # every impostor score is in the histogram (tail floor above them): the count at 0.5 is a
    # bound, between the pairs above the bin and all the bin's pairs
    sm = _population([(12, 4, 3), (12, 8, 3)], tail_floor=2.0, edges=np.linspace(-1, 1, 4))
    with pytest.warns(Warning):
        res = _results(sm, reference="G0")
    g1 = _group(res, "G1")
    assert g1["fmr_count_exact"] is False and g1["fmr_errors_low"] < g1["false_matches"]
    texts = " ".join(x["text"] for x in make_findings(res))
    assert "only known within a range" in texts
    f = [x for x in make_findings(res) if x["kind"] == "fmr_ratio"]
    for x in f:
        assert "at most" in x["text"]
    assert res["verification"]["inference"]["exact"] is False


@pytest.mark.parametrize(("confidence", "label"), [(0.9, "90%"), (0.99, "99%")])
def test_confidence_is_honoured_and_printed(confidence: float, label: str) -> None:
    sm = _population([(12, 0, 3), (12, 6, 5)])
    res = _results(sm, reference="G0", confidence=confidence)
    g0 = _group(res, "G0")
    assert g0["fmr_shown_high"] == pytest.approx(
        max(1 - (1 - confidence) ** (1 / g0["n_nonmated"]), g0["fmr_shown_high"]))
    wide = _results(sm, reference="G0", confidence=0.95)
    # a higher level gives a wider interval of the same rate
    assert (g0["fnmr_shown_high"] > _group(wide, "G0")["fnmr_shown_high"]) == (confidence > 0.95)
    texts = " ".join(x["text"] for x in make_findings(res))
    assert f"{label} interval" in texts or f"{label} upper bound" in texts
    assert "95%" not in texts
    html = render_html(_strict(res))
    assert f"({label} interval)" in html and "95% interval" not in html
    assert "95% CI" not in html
    card = report_card(res["verification"])
    assert card is not None and card["level"] == label


def test_report_card_has_fmr_and_fnmr_summaries_with_intervals() -> None:
    res = _strict(_results(_population([(12, 6, 2), (12, 12, 4), (12, 36, 6)])))
    card = report_card(res["verification"])
    assert card is not None
    names = [r["name"] for r in card["rows"]]
    assert names[:4] == ["Max/Min", "Max/GeoMean", "Max−Min", "Gini"]
    mm = res["verification"]["inference"]["summaries"]["fmr"]["measures"]["max_min_ratio"]
    assert mm["value"] == pytest.approx(6.0)  # 36 / 6 false matches, same denominators
    assert card["rows"][0]["fmr"].startswith("6.0× (")
    assert card["sets"]["fmr"]["used"] == "G0, G1, G2"
    html = render_html(res)
    assert 'id="summaries"' in html and "NIST IR 8429" in html


def test_flat_fields_are_in_the_csv_table() -> None:
    res = _strict(_results(_population([(12, 0, 3), (12, 6, 3)]), reference="G0"))
    tab = group_table(res)
    for col in FLAT_FIELDS:
        assert col in tab.columns
    assert tab.loc["G0", "fmr_shown_high"] == _group(res, "G0")["fmr_shown_high"]


def _rates(rows: list[tuple[str, int, int, float, float]]) -> pd.DataFrame:
    recs = []
    for g, k, n, lo, hi in rows:
        recs.append({"group": g, "fpir": k / n, "false_positives": k, "n_nonmated": n,
                     "fpir_ci_low": lo, "fpir_ci_high": hi, "fnir": 0.1, "n_mated": 100,
                     "fnir_ci_low": 0.05, "fnir_ci_high": 0.2})
    return pd.DataFrame(recs)


def test_identification_ranks_only_separated_groups() -> None:
    one = _rates([("overall", 10, 200, 0.02, 0.09), ("A", 10, 100, 0.05, 0.17),
                  ("B", 0, 20, 0.0, 0.17)])
    text = identification_findings(one, 50)[1]["text"]
    assert "Only 1 of the 2 probe groups" in text and "most often" not in text
    overlap = _rates([("overall", 10, 200, 0.02, 0.09), ("A", 6, 100, 0.02, 0.13),
                      ("B", 4, 100, 0.01, 0.1)])
    text = identification_findings(overlap, 50, confidence=0.9)[1]["text"]
    assert "overlap" in text and "most often" not in text and "90% intervals" in text
    sep = _rates([("overall", 10, 200, 0.02, 0.09), ("A", 30, 100, 0.21, 0.4),
                  ("B", 0, 100, 0.0, 0.036)])
    out = identification_findings(sep, 50)
    assert "Searches of A returned a wrong person most often" in out[1]["text"]
    assert "95% interval 21%–40%" in out[1]["text"]


def test_whatif_table_says_not_measurable() -> None:
    rows = []
    for size, measured in ((100.0, True), (1e6, False)):
        for tau in (0.003, 0.01):
            for g in ("overall", "A"):
                ok = measured and tau == 0.01
                rows.append({"gallery_size": size, "measured": measured, "target_fpir": tau,
                             "measurable": ok, "threshold": 0.6 if ok else math.nan,
                             "group": g, "innocent": 101.0 if ok else math.nan,
                             "innocent_low": 50.0, "innocent_high": 480000.0,
                             "fpir_pred": 0.01, "fpir_pred_low": 0.005, "fpir_pred_high": 0.02,
                             "fpir_measured": 0.012, "fpir_measured_low": 0.004,
                             "fpir_measured_high": 0.03, "innocent_measured": 120.0})
    t = whatif_table({"operating_points": {"rows": rows, "list_length": 50,
                                           "per_searches": 10000, "assumptions": ["x"]}})
    assert t is not None
    assert t["header"] == ["gallery size", "target FPIR", "threshold", "all searches", "A"]
    assert t["rows"][1] == ["100 (measured)", "1%", "0.6", "100 (50–480,000)",
                            "100 (50–480,000)"]
    assert t["rows"][2][3] == "not measurable with this data"
    assert len(t["check"]) == 1 and t["check"][0][-2:] == ["100", "120"]
