"""The HTML report: one self-contained file a journalist can read and an expert can check.

:func:`render_html` fills ``templates/report.html.j2`` (Jinja2, **autoescape on**: every
label, group name and config value is escaped, so a group called ``<script>`` shows as text)
from a results mapping (see :mod:`faceaudit.report._schema`) and the figures' PNG files,
inlined as base64. The file needs no network, no JavaScript and no other file.

Sections, in order: findings in plain language (each flagged where the data are thin), the
per-group table (FTE, FTA, FMR, FNMR, FAR, FRR with counts and intervals), the group × group
FMR heatmap, DET curves, score distributions, failure to enrol, one-to-many search and the
deployment what-if, methods (protocol, threshold rule, interval method, data provenance and
its limits), reproducibility (inputs' sha256, versions, seeds, resolved config).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import _format as F
from .._errors import require
from .._io import dumps_toml, write_text
from ..metrics import shown_interval
from ._findings import level_text, make_findings, threshold_phrase

FIGURES = {
    "rates": (
        "Per-group false match and false non-match rates with {level} intervals",
        "Dots are the measured rates, bars their {level} intervals; hollow dots mark groups with "
        "too little data. FMR is on a logarithmic axis; a rate of 0 is drawn as a bar up to its "
        "one-sided {level} upper bound.",
    ),
    "heatmap": (
        "Group by group false match rate matrix",
        "Colour: false match rate on a log scale. "
        "Text: the rate, then false matches / impostor pairs.",
    ),
    "det": (
        "DET curves per group",
        "False non-match rate against false match rate as the threshold varies.",
    ),
    "distributions": (
        "Genuine and impostor score histograms per group",
        "Share of pairs per score bin (log scale); dashed line: the threshold.",
    ),
    "fte": (
        "Failure-to-enrol rate per group",
        "Bars: failure-to-enrol rate; whiskers: {level} interval.",
    ),
    "identification": (
        "FPIR and FNIR against gallery size",
        "Solid: measured; dashed: extrapolated beyond the gallery sizes in the data; hollow "
        "points with whiskers: fewer than 30 searches (too little data), with their {level} "
        "interval.",
    ),
}

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


def _png_data(path: str | Path | None) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _group_rows(ver: Mapping[str, Any]) -> list[dict[str, Any]]:
    ref = ver.get("reference_group")
    out = []
    for r in ver.get("groups") or []:
        out.append(
            {
                "group": r.get("group"),
                "is_ref": r.get("group") == ref,
                "thin": bool(r.get("thin")),
                "thin_reason": r.get("thin_reason") or "",
                "thin_note": "",
                "n_subjects": F.count(r.get("n_subjects")),
                "n_samples": F.count(r.get("n_samples")),
                "n_mated": F.count(r.get("n_mated")),
                "n_nonmated": F.count(r.get("n_nonmated")),
                "fte": F.pct(r.get("fte")),
                "fte_ci": F.interval(r.get("fte_ci_low"), r.get("fte_ci_high")),
                "fta": F.pct(r.get("fta")),
                "fmr": ("≤ " if r.get("fmr_exact") is False else "") + F.pct(r.get("fmr")),
                "fmr_ci": F.rate_interval_text(*shown_interval(r, "fmr"),
                                               one_sided=_one_sided(r, "fmr")),
                "fm_counts": f"{F.count(r.get('false_matches'))} / {F.count(r.get('n_nonmated'))}",
                "fnmr": F.pct(r.get("fnmr")),
                "fnmr_ci": F.rate_interval_text(*shown_interval(r, "fnmr"),
                                                one_sided=_one_sided(r, "fnmr")),
                "fnm_counts": (
                    f"{F.count(r.get('false_non_matches'))} / {F.count(r.get('n_mated'))}"
                ),
                "far": F.pct(r.get("far")),
                "frr": F.pct(r.get("frr")),
                **_ratio_cells(r, ref, "fmr"),
                **_ratio_cells(r, ref, "fnmr"),
                **_best_cells(r, "fmr"),
                **_best_cells(r, "fnmr"),
            }
        )
    return out


def _one_sided(r: Mapping[str, Any], key: str) -> bool:
    """No error seen: the interval is the one-sided upper bound ("≤ 1.5%"), never "0–0"."""
    flag = r.get(f"{key}_one_sided")
    if flag is not None:
        return bool(flag)
    return F.as_float(r.get(key)) == 0


def _ratio_text(r: Mapping[str, Any], name: str) -> tuple[str, str]:
    """``(value, interval)`` cells of ratio ``name`` (``fmr_ratio_to_reference`` ...): the
    interval the audit computed, which may be unbounded ("≥ 4.3×"), else the bootstrap's."""
    v = F.as_float(r.get(name))
    no_value = not math.isfinite(v) and bool(r.get(f"{name}_unbounded"))
    value = "no ratio" if no_value else F.times(v)
    lo = r.get(f"{name}_low")
    if lo is not None:
        hi = math.inf if r.get(f"{name}_unbounded") else r.get(f"{name}_high")
        return value, F.ratio_interval_text(lo, hi)
    return value, F.interval(r.get(f"{name}_boot_low"), r.get(f"{name}_boot_high"), F.times)


def _ratio_cells(r: Mapping[str, Any], ref: str | None, key: str) -> dict[str, str]:
    """The ratio to the reference group and its interval, as table cells."""
    if r.get("group") == ref:
        return {f"{key}_ratio": "1 (ref.)", f"{key}_ratio_ci": ""}
    v, ci = _ratio_text(r, f"{key}_ratio_to_reference")
    return {f"{key}_ratio": v, f"{key}_ratio_ci": ci}


def _best_cells(r: Mapping[str, Any], key: str) -> dict[str, str]:
    """The ratio to the lowest qualifying group (empty for a group left out of it)."""
    name = f"{key}_ratio_to_best"
    if r.get(f"{name}_low") is None:
        return {f"{key}_best": "–", f"{key}_best_ci": ""}
    v, ci = _ratio_text(r, name)
    return {f"{key}_best": v, f"{key}_best_ci": ci}


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


def _with_ci(r: Mapping[str, Any], key: str) -> str:
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
                          _with_ci({"fpir": r.get("fpir_pred"),
                                    "fpir_ci_low": r.get("fpir_pred_low"),
                                    "fpir_ci_high": r.get("fpir_pred_high")}, "fpir"),
                          _with_ci({"fpir": r.get("fpir_measured"),
                                    "fpir_ci_low": r.get("fpir_measured_low"),
                                    "fpir_ci_high": r.get("fpir_measured_high")}, "fpir"),
                          F.amount(r.get("innocent")), F.amount(r.get("innocent_measured"))])
    return {"header": ["gallery size", "target FPIR", "threshold",
                       *[("all searches" if g == "overall" else g) for g in groups]],
            "rows": rows, "check": check, "list_length": op.get("list_length"),
            "per_searches": F.count(op.get("per_searches")),
            "assumptions": [str(a) for a in op.get("assumptions") or []]}


def _extrapolation_check(raw: Mapping[str, Any]) -> list[list[str]]:
    """Predicted (from the FMR) against measured FPIR at the measured gallery sizes."""
    out = []
    for r in raw.get("extrapolation_check") or []:
        if str(r.get("group")) != "overall":
            continue
        out.append([F.count(r.get("gallery_size")), _with_ci(r, "fpir"),
                    _with_ci({"fpir": r.get("fpir_pred"), "fpir_ci_low": r.get("fpir_pred_ci_low"),
                              "fpir_ci_high": r.get("fpir_pred_ci_high")}, "fpir"),
                    "yes" if r.get("consistent") else "no"])
    return out


def _identification(ident: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Tables of the 1:N section: rates per probe group at the full gallery, the curve, the
    deployment what-if table and the check of the extrapolation."""
    if not ident:
        return None
    raw = ident.get("raw") or {}
    lvl = F.level(ident.get("confidence", (raw.get("params") or {}).get("confidence")))
    header = [
        "probe group",
        "searches of people not enrolled",
        f"FPIR ({lvl} interval)",
        "searches of enrolled people",
        f"FNIR ({lvl} interval)",
    ]
    rows: list[list[str]] = []
    for r in raw.get("rates") or []:
        rows.append(
            [
                str(r.get("group")),
                F.count(r.get("n_nonmated")),
                _with_ci(r, "fpir"),
                F.count(r.get("n_mated")),
                _with_ci(r, "fnir"),
            ]
        )
    curve_rows = []
    for r in ident.get("curve") or []:
        if r.get("group") != "overall":
            continue
        curve_rows.append(
            [
                F.count(r.get("gallery_size")),
                "extrapolated" if r.get("extrapolated") else "measured",
                _with_ci(r, "fpir"),
                _with_ci(r, "fnir") if r.get("fnir") is not None else "–",
            ]
        )
    return {
        "what_if": [str(s) for s in ident.get("what_if") or []],
        "whatif_table": whatif_table(ident),
        "check": _extrapolation_check(raw),
        "level": lvl,
        "header": header,
        "rows": rows,
        "curve_header": ["gallery size", "", f"FPIR ({lvl} interval)",
                         f"FNIR ({lvl} interval)"],
        "curve_rows": curve_rows,
        "gallery_size": F.count(ident.get("gallery_size")),
        "threshold": F.score(ident.get("threshold")),
    }


def _methods(results: Mapping[str, Any]) -> dict[str, Any]:
    ver = results.get("verification") or {}
    ds = results.get("dataset") or {}
    cfg = results.get("config") or {}
    seeds = results.get("seeds") or {}
    attrs = (ds.get("grouping") or {}).get("attributes") or []
    protocol = [
        f"Model: {ver.get('model_id', 'unknown')} (scores are "
        f"{ver.get('similarity', 'similarity')} similarities; a pair is accepted iff "
        "score ≥ threshold).",
        "Genuine pairs: every pair of different photos of the same person. Impostor pairs: every "
        "pair of photos of two different people; per-group rates use impostor pairs within the "
        "group (demographically matched, as in NIST FRVT Part 3).",
        f"Groups: the combinations of {', '.join(attrs) or '(none)'}; "
        "a missing label is its own group, 'unknown'.",
    ]
    protocol += [str(s) for s in ds.get("protocol_notes") or []]
    proto = ver.get("protocol") or {}
    if proto:
        sampled = proto.get("sampled_cells") or []
        src = (
            "Scores read from the vendor's score file (only the pairs it lists)"
            if proto.get("source") == "vendor"
            else f"Scoring: impostor pairs = {proto.get('impostors', 'all')}"
        )
        protocol.append(
            src
            + (
                f"; {len(sampled)} cells sampled (at most {proto.get('max_impostors_per_cell')} "
                "impostor pairs each)"
                if sampled
                else "; no sampling: every pair compared"
            )
            + f"; every impostor score kept exactly down to FMR {proto.get('exact_fmr')} per "
            f"cell (at least {proto.get('min_exact')} scores), the rest in a "
            f"{proto.get('n_bins')}-bin histogram."
        )
    if ver.get("threshold_rule") == "target_fmr":
        thr = (
            f"The threshold {F.score(ver.get('threshold'))} is the smallest score threshold at "
            "which the "
            f"false match rate of {ver.get('reference_group') or 'all impostor pairs'} is at most "
            f"{F.pct(ver.get('target_fmr'), 3)} (the candidate thresholds are the observed "
            "impostor "
            "scores; bob.measure's rule). The same threshold is then applied to every group, as a "
            "deployed system would."
        )
    else:
        thr = (
            f"A fixed threshold {F.score(ver.get('threshold'))} given in the configuration, "
            "applied to every group."
        )
    n_boot = seeds.get("n_boot", 0)
    lvl = level_text(ver)
    intervals = (
        f"Every interval is at the {lvl} level. Error rates: the union of the exact "
        f"Clopper–Pearson interval from the counts (which treats comparisons as independent), "
        "the same interval at the design-effect-adjusted number of comparisons (Korn & "
        "Graubard: one person appears in many pairs and errors cluster by person)"
        + (f" and the percentile interval of {n_boot} bootstrap resamples of people (seed "
           f"{seeds.get('seed')}; each person's comparisons kept together)" if n_boot else "")
        + f". With no error seen the interval is the one-sided {lvl} upper bound (about 3/n "
        "at 95%, the rule of three), shown as \"≤\". Ratios between groups (to the reference, "
        "to the lowest group, and the NIST IR 8429 summaries): the wider of the interval "
        "derived from the two groups' intervals (Bonferroni) and the bootstrap one, keeping "
        "resamples in which the denominator group made no error; such a ratio can be "
        "unbounded (shown \"≥ x×\"). Measured coverage of these intervals: docs/coverage.md."
    )
    if not n_boot:
        intervals += " No bootstrap was run (n_boot = 0)."
    if ver.get("thin_rule"):
        intervals += " " + str(ver["thin_rule"])
    data = [str(s) for s in ds.get("notes") or []]
    if not data:
        dcfg = cfg.get("dataset")
        data = [f"Dataset: {dcfg.get('name', 'unknown') if isinstance(dcfg, dict) else 'unknown'}."]
    return {"protocol": protocol, "threshold": thr, "intervals": intervals, "data": data}


def _reproducibility(
    results: Mapping[str, Any],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Rows of the reproducibility section: inputs' sha256, versions, seeds and timings."""
    inputs = []
    for k, v in (results.get("inputs") or {}).items():
        if isinstance(v, Mapping):
            desc = f"{v.get('sha256', '')}  {v.get('path') or v.get('root') or ''}"
            if v.get("n_files") is not None:
                desc += f"  ({v['n_files']} files, {v.get('n_missing', 0)} missing)"
            inputs.append((k, desc.strip()))
        else:
            inputs.append((k, str(v)))
    versions = [
        (k, v if v is not None else "not installed")
        for k, v in (results.get("versions") or {}).items()
    ]
    seeds = [(k, str(v)) for k, v in (results.get("seeds") or {}).items()]
    seeds += [
        (f"time: {k}", f"{float(v):.1f} s") for k, v in (results.get("timings_s") or {}).items()
    ]
    return inputs, versions, seeds


def render_html(
    results: Mapping[str, Any],
    figures: Mapping[str, str | Path | None] | None = None,
    *,
    title: str | None = None,
) -> str:
    """Render the report as one HTML string.

    Parameters
    ----------
    results : mapping
        A results mapping as written to ``results.json``.
    figures : mapping of figure name to PNG path, optional
        Names from :data:`FIGURES`; a missing figure shows a short note instead.
    title : str, optional
        Default: "Who does <model> fail? A demographic audit on <dataset>".
    """
    jinja2 = require("jinja2", "report")
    env = jinja2.Environment(  # type: ignore[attr-defined]
        loader=jinja2.PackageLoader("faceaudit.report", "templates"),  # type: ignore[attr-defined]
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # type: ignore[attr-defined]
        trim_blocks=True,
        lstrip_blocks=True,
    )
    tpl = env.get_template("report.html.j2")
    ver = results.get("verification") or {}
    ds = results.get("dataset") or {}
    figures = figures or {}
    figs = {}
    lvl = level_text(ver)
    for name, (alt, caption) in FIGURES.items():
        data = _png_data(figures.get(name))
        figs[name] = ({"data": data, "alt": alt.format(level=lvl),
                       "caption": caption.format(level=lvl)} if data else None)
    findings = results.get("findings") or make_findings(results)
    fte_reasons = sorted(
        ((k, F.count(v)) for k, v in (ds.get("fte_reasons") or {}).items()), key=lambda kv: kv[0]
    )
    inputs, versions, seeds = _reproducibility(results)
    rows = _group_rows(ver)
    thin_notes = []
    for r in rows:
        if r["thin"]:
            thin_notes.append((r["group"], r["thin_reason"] or "few people or comparisons"))
            r["thin_note"] = str(len(thin_notes))
    tool = results.get("tool") or {}
    model = ver.get("model_name") or ver.get("model_id") or "the system"
    dname = ds.get("name") or "the dataset"
    return tpl.render(
        title=title or f"Who does {model} fail? A demographic audit on {dname}",
        subtitle=(
            f"{F.count(ds.get('n_samples'))} photos of {F.count(ds.get('n_subjects'))} people in "
            f"{len(ver.get('groups') or [])} groups · reference group: "
            f"{ver.get('reference_group') or '—'}"
        ),
        tool_version=tool.get("version", ""),
        created=results.get("created_utc", ""),
        findings=findings,
        warnings=[str(w) for w in results.get("warnings") or []],
        threshold_sentence=(
            threshold_phrase(ver)
            + (
                f" (score threshold {F.score(ver.get('threshold'))})"
                if ver.get("threshold_rule") == "target_fmr"
                else ""
            )
            + ", every group is judged with that same threshold."
        ),
        level=lvl,
        interval_method=(
            "for rates the widest of exact Clopper–Pearson, its design-effect widening and a "
            "bootstrap over people, one-sided (\"≤\") when no error was seen; for ratios the "
            "wider of the bound from the two groups' intervals and the bootstrap, \"≥\" when "
            "unbounded"
            if (results.get("seeds") or {}).get("n_boot")
            else "exact Clopper–Pearson widened by the design effect, one-sided (\"≤\") when "
            "no error was seen; for ratios the bound from the two groups' intervals"
        ),
        reference_group=ver.get("reference_group"),
        rows=rows,
        thin_notes=thin_notes,
        card=report_card(ver),
        figures=figs,
        fte_reasons=fte_reasons,
        identification=_identification(results.get("identification")),
        identification_skipped=results.get("identification_skipped"),
        cache_dir=results.get("cache_dir"),
        methods=_methods(results),
        exclusions=[(k, F.count(v)) for k, v in (ds.get("exclusions") or {}).items()],
        inputs=inputs,
        versions=versions,
        seeds=seeds,
        config_text=dumps_toml(results.get("config") or {}),
    )


def write_html(
    path: str | Path,
    results: Mapping[str, Any],
    figures: Mapping[str, str | Path | None] | None = None,
    **kwargs: Any,
) -> Path:
    """Render with :func:`render_html` and write atomically to ``path``."""
    path = Path(path)
    write_text(path, render_html(results, figures, **kwargs))
    return path
