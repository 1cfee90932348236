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
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import _format as F
from .._errors import require
from .._io import dumps_toml, write_text
from ..metrics import shown_interval
from ._findings import make_findings, threshold_phrase
from ._policies import model_card_section, policies_section
from ._probe import PROBE_KEY, probe_context

FIGURES = {
    "rates": (
        "Per-group false match and false non-match rates with 95% intervals",
        "Dots are the measured rates, bars their 95% intervals; hollow dots mark groups with too "
        "little data. FMR is on a logarithmic axis.",
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
        "Bars: failure-to-enrol rate; whiskers: 95% interval.",
    ),
    "identification": (
        "FPIR and FNIR against gallery size",
        "Solid: measured; dashed: extrapolated beyond the gallery sizes in the data.",
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
    "ser": "Skewed Error Ratio: the highest group error rate over the lowest.",
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
                "fmr_ci": F.interval(*shown_interval(r, "fmr")),
                "fm_counts": f"{F.count(r.get('false_matches'))} / {F.count(r.get('n_nonmated'))}",
                "fnmr": F.pct(r.get("fnmr")),
                "fnmr_ci": F.interval(*shown_interval(r, "fnmr")),
                "fnm_counts": (
                    f"{F.count(r.get('false_non_matches'))} / {F.count(r.get('n_mated'))}"
                ),
                "far": F.pct(r.get("far")),
                "frr": F.pct(r.get("frr")),
                **_ratio_cells(r, ref, "fmr"),
                **_ratio_cells(r, ref, "fnmr"),
            }
        )
    return out


def _ratio_cells(r: Mapping[str, Any], ref: str | None, key: str) -> dict[str, str]:
    """The ratio to the reference group and its bootstrap interval, as table cells."""
    if r.get("group") == ref:
        return {f"{key}_ratio": "1 (ref.)", f"{key}_ratio_ci": ""}
    name = f"{key}_ratio_to_reference"
    return {
        f"{key}_ratio": F.times(r.get(name)),
        f"{key}_ratio_ci": F.interval(r.get(f"{name}_boot_low"), r.get(f"{name}_boot_high"),
                                      F.times),
    }


def _summaries(ver: Mapping[str, Any]) -> list[dict[str, str]]:
    """Rows of the disparity-summary table: readable name, value (or why undefined), meaning."""
    out = []
    fairness = ver.get("fairness") or {}
    items = fairness.items() if fairness else (ver.get("summaries") or {}).items()
    for key, value in items:
        if isinstance(value, Mapping):
            name = str(value.get("name") or key)
            v = value.get("value")
            reason = value.get("reason")
        else:
            name, v, reason = key, value, None
        shown = F.score(v) if v is None or isinstance(v, (int, float)) else json.dumps(v)
        if reason:
            reason = str(reason)
            shown = reason if reason.startswith("undefined") else f"undefined: {reason}"
        out.append({"name": name, "value": shown, "meaning": SUMMARY_MEANINGS.get(key, "")})
    return out


def _with_ci(r: Mapping[str, Any], key: str) -> str:
    ci = F.interval(r.get(f"{key}_ci_low"), r.get(f"{key}_ci_high"))
    return f"{F.pct(r.get(key))} ({ci})" if ci else F.pct(r.get(key))


def _identification(ident: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Tables of the 1:N section: rates per probe group at the full gallery, and the curve."""
    if not ident:
        return None
    raw = ident.get("raw") or {}
    header = [
        "probe group",
        "searches of people not enrolled",
        "FPIR (95% CI)",
        "searches of enrolled people",
        "FNIR (95% CI)",
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
        "header": header,
        "rows": rows,
        "curve_header": ["gallery size", "", "FPIR (95% CI)", "FNIR (95% CI)"],
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
    if n_boot:
        intervals = (
            "Error rates: the union of the exact Clopper–Pearson 95% interval from the counts "
            "(which treats comparisons as independent, and so is too narrow when one person "
            "appears in many pairs) and the bootstrap interval over people (which cannot see "
            "an error no resample contains). Ratios between "
            f"groups: percentile intervals from {n_boot} bootstrap resamples of people (not of "
            "comparisons, "
            f"which share people and are correlated), seed {seeds.get('seed')}. "
            "The bootstrap keeps each person's comparisons together."
        )
    else:
        intervals = (
            "Error rates: exact Clopper–Pearson 95% intervals from the counts. No bootstrap was "
            "run "
            "(n_boot = 0), so ratios between groups have no interval."
        )
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


def group_labels(results: Mapping[str, Any]) -> list[str]:
    """The group labels of a results mapping (its verification groups); the labels a
    display shortens wherever text quotes them (:func:`faceaudit._format.shorten_labels`)."""
    groups = (results.get("verification") or {}).get("groups") or []
    return [str(g.get("group")) for g in groups if g.get("group") is not None]


def _display(value: Any, labels: list[str]) -> Any:
    """Jinja ``finalize``: every text the template prints, long group labels shortened."""
    if isinstance(value, str) and labels:
        return F.shorten_labels(value, labels)
    return value


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
    long_labels = [g for g in group_labels(results) if len(g) > F.DISPLAY_LABEL_CHARS]
    env = jinja2.Environment(  # type: ignore[attr-defined]
        loader=jinja2.PackageLoader("faceaudit.report", "templates"),  # type: ignore[attr-defined]
        autoescape=True,
        finalize=lambda v: _display(v, long_labels),  # labels capped for display everywhere
        undefined=jinja2.StrictUndefined,  # type: ignore[attr-defined]
        trim_blocks=True,
        lstrip_blocks=True,
    )
    tpl = env.get_template("report.html.j2")
    ver = results.get("verification") or {}
    ds = results.get("dataset") or {}
    figures = figures or {}
    figs = {}
    for name, (alt, caption) in FIGURES.items():
        data = _png_data(figures.get(name))
        figs[name] = {"data": data, "alt": alt, "caption": caption} if data else None
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
        interval_method=(
            "for rates the wider of exact Clopper–Pearson and a bootstrap over people; "
            "for ratios the bootstrap"
            if (results.get("seeds") or {}).get("n_boot")
            else "exact Clopper–Pearson"
        ),
        reference_group=ver.get("reference_group"),
        rows=rows,
        thin_notes=thin_notes,
        summaries=_summaries(ver),
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
        policies=policies_section(results.get("threshold_policies")),
        model_card=model_card_section(results.get("model_card")),
        probe=probe_context(results.get(PROBE_KEY), {
            k: _png_data(v) for k, v in figures.items() if k.startswith("probe_")}),
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
