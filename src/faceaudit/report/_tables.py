"""The report's tables that read ``verification.inference`` and the 1:N operating points:
the NIST IR 8429 report card, the deployment what-if and the checks of the extrapolation.

Display only: every number is read from ``results.json`` (see :mod:`faceaudit.report._schema`
and :mod:`faceaudit.report._inference`), formatted by :mod:`faceaudit._format`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .. import _format as F

SUMMARY_MEANINGS = {
    "ser_fmr": "Skewed Error Ratio of FMR: the highest group FMR over the lowest (1 = equal).",
    "ser_fnmr": "Skewed Error Ratio of FNMR: the highest group FNMR over the lowest (1 = equal).",
    "inequity_rate": "Inequity Rate: largest group error rate over the smallest (1 = equal).",
    "fdr": "Fairness Discrepancy Rate (Pereira & Marcel): 1 means equal error rates, "
    "lower means larger gaps.",
    "ir": "Inequity Rate: the largest group's error rate over the smallest's (1 = equal).",
    "garbe": "Gini Aggregation Rate for Biometric Equitability (ISO/IEC 19795-10): 0 = equal.",
    "ser": "Skewed Error Ratio: the highest group error rate over the lowest, not floored "
    "(unbounded when the lowest group may have a rate of 0).",
    "max_min_ratio": "Worst group's rate over the best group's; a group without errors counts "
    "at its one-sided 95% upper bound (NIST IR 8429).",
    "max_geomean_ratio": "Worst group's rate over the geometric mean of all groups' rates "
    "(floored likewise); NIST IR 8429's leading summary.",
    "max_minus_min": "Worst group's rate minus the best group's.",
    "gini": "Gini coefficient of the groups' rates: 0 = equal, 1 = one group has every error.",
}


_MEASURE_NAMES = {
    "max_min_ratio": "Max/Min",
    "max_geomean_ratio": "Max/GeoMean",
    "max_minus_min": "Max−Min",
    "gini": "Gini",
    "worst_to_best": "SER (Max/Min, not floored)",
}
_REASONS = {
    "fewer_than_two_groups": "not computed: fewer than two groups qualify",
    "no_errors": "undefined: no qualifying group made an error",
}


def _measure_text(m: Mapping[str, Any] | None, kind: str) -> str:
    """A summary figure with its interval: ``"2.3× (1.2×–4.3×)"``, ``"≥ 4.3×"`` ..."""
    if not m:
        return "–"
    v = m.get("value")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return _REASONS.get(str(m.get("reason")), "–")
    lo, hi = m.get("low"), (math.inf if m.get("unbounded") else m.get("high"))
    if kind == "ratio":
        iv = F.ratio_interval_text(lo, hi)
        return f"{F.times(v)} ({iv})" if iv else F.times(v)
    if kind == "rate":
        iv = F.interval(lo, hi)
        return f"{F.pct(v)} ({iv})" if iv else F.pct(v)
    iv = F.num_interval(lo, hi, 3) if lo is not None else ""
    return f"{F.num(float(v), 3)} ({iv})" if iv and iv != "–" else F.num(float(v), 3)


def report_card(ver: Mapping[str, Any]) -> dict[str, Any] | None:
    """The NIST IR 8429 "report card": each summary of FMR and of FNMR with its interval over
    the labelled, non-thin groups (listed beside, with the ones left out and why), then FDR,
    IR and GARBE over the groups that qualify for both."""
    inf = ver.get("inference") or {}
    sums = inf.get("summaries") or {}
    if not sums:
        return None
    kinds = {"max_min_ratio": "ratio", "max_geomean_ratio": "ratio", "max_minus_min": "rate",
             "gini": "num"}
    rows = []
    for m, kind in kinds.items():
        rows.append({"name": _MEASURE_NAMES[m],
                     "fmr": _measure_text(((sums.get("fmr") or {}).get("measures") or {}).get(m),
                                          kind),
                     "fnmr": _measure_text(((sums.get("fnmr") or {}).get("measures") or {}).get(
                         m), kind),
                     "meaning": SUMMARY_MEANINGS.get(m, "")})
    ranks = inf.get("rankings") or {}
    rows.append({"name": _MEASURE_NAMES["worst_to_best"],
                 "fmr": _measure_text((ranks.get("fmr") or {}).get("worst_to_best"), "ratio"),
                 "fnmr": _measure_text((ranks.get("fnmr") or {}).get("worst_to_best"), "ratio"),
                 "meaning": SUMMARY_MEANINGS["ser"]})
    combined = []
    for k, c in (inf.get("combined") or {}).items():
        kind = "ratio" if k == "inequity_rate" else "num"
        combined.append({"name": {"fdr": "FDR", "inequity_rate": "IR", "garbe": "GARBE"}.get(
            k, k), "value": _measure_text(c, kind), "meaning": SUMMARY_MEANINGS.get(k, ""),
            "used": ", ".join(c.get("used") or []) or "none"})
    sets = {k: {"used": ", ".join((sums.get(k) or {}).get("used") or []) or "none",
                "excluded": [f"{a} ({b})" for a, b in (sums.get(k) or {}).get("excluded") or []],
                "floored": ", ".join((sums.get(k) or {}).get("floored") or [])}
            for k in ("fmr", "fnmr")}
    return {"rows": rows, "combined": combined, "sets": sets,
            "level": F.level(inf.get("confidence")), "exact": inf.get("exact", True)}


def rate_with_interval(r: Mapping[str, Any], key: str) -> str:
    """A 1:N rate with its interval: the hull of Clopper–Pearson and the bootstrap over probe
    people where both exist (``"2.5% (0.51%–5.9%)"``; 0 of n: ``"0% (≤ 8.6%)"``)."""
    los = [F.as_float(r.get(f"{key}_{k}_low")) for k in ("ci", "boot")]
    his = [F.as_float(r.get(f"{key}_{k}_high")) for k in ("ci", "boot")]
    los = [x for x in los if math.isfinite(x)]
    his = [x for x in his if math.isfinite(x)]
    if not los or not his:
        return F.pct(r.get(key))
    iv = F.rate_interval_text(min(los), max(his), one_sided=F.as_float(r.get(key)) == 0)
    return f"{F.pct(r.get(key))} ({iv})"


def _innocent(r: Mapping[str, Any]) -> str:
    """Innocent people returned per 10,000 searches, with its interval, or why not shown."""
    if not r.get("measurable"):
        return "not measurable with this data"
    v = F.as_float(r.get("innocent"))
    if not math.isfinite(v):
        return "–"
    lo, hi = F.as_float(r.get("innocent_low")), F.as_float(r.get("innocent_high"))
    return f"{F.amount(v)} ({F.amount(lo)}–{F.amount(hi)})"


def whatif_table(ident: Mapping[str, Any]) -> dict[str, Any] | None:
    """The deployment what-if as a table: one row per gallery size × target FPIR (measured
    size first), the threshold that target needs, and per probe group the innocent people
    returned per 10,000 searches (candidate list capped) with the interval, or "not
    measurable with this data"; plus the measured-vs-predicted check."""
    op = ident.get("operating_points") or {}
    recs = op.get("rows") or []
    if not recs:
        return None
    groups = list(dict.fromkeys(str(r["group"]) for r in recs))
    groups = ["overall"] + [g for g in groups if g != "overall"]
    keyed: dict[tuple[float, float], dict[str, Mapping[str, Any]]] = {}
    for r in recs:
        keyed.setdefault((float(r["gallery_size"]), float(r["target_fpir"])), {})[
            str(r["group"])] = r
    rows = []
    for (size, tau), by in keyed.items():
        any_r = next(iter(by.values()))
        rows.append([F.count(size) + (" (measured)" if any_r.get("measured") else ""),
                     F.pct(tau), F.score(any_r.get("threshold"))
                     if any_r.get("measurable") else "–",
                     *[_innocent(by[g]) if g in by else "–" for g in groups]])
    check = []
    for r in recs:
        if r.get("measured") and r.get("measurable") and r.get("group") == "overall":
            check.append([F.pct(r.get("target_fpir")), F.score(r.get("threshold")),
                          rate_with_interval({"fpir": r.get("fpir_pred"),
                                    "fpir_ci_low": r.get("fpir_pred_low"),
                                    "fpir_ci_high": r.get("fpir_pred_high")}, "fpir"),
                          rate_with_interval({"fpir": r.get("fpir_measured"),
                                    "fpir_ci_low": r.get("fpir_measured_low"),
                                    "fpir_ci_high": r.get("fpir_measured_high")}, "fpir"),
                          F.amount(r.get("innocent")), F.amount(r.get("innocent_measured"))])
    return {"header": ["gallery size", "target FPIR", "threshold",
                       *[("all searches" if g == "overall" else g) for g in groups]],
            "rows": rows, "check": check, "list_length": op.get("list_length"),
            "per_searches": F.count(op.get("per_searches")),
            "assumptions": [str(a) for a in op.get("assumptions") or []]}


def extrapolation_check(raw: Mapping[str, Any]) -> list[list[str]]:
    """Predicted (from the FMR) against measured FPIR at the measured gallery sizes."""
    out = []
    for r in raw.get("extrapolation_check") or []:
        if str(r.get("group")) != "overall":
            continue
        out.append([F.count(r.get("gallery_size")), rate_with_interval(r, "fpir"),
                    rate_with_interval({"fpir": r.get("fpir_pred"),
                                        "fpir_ci_low": r.get("fpir_pred_ci_low"),
                                        "fpir_ci_high": r.get("fpir_pred_ci_high")}, "fpir"),
                    "yes" if r.get("consistent") else "no"])
    return out




__all__ = ["SUMMARY_MEANINGS", "extrapolation_check", "rate_with_interval", "report_card",
           "whatif_table"]
