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
from ..metrics import UNBOUNDED_REASONS, shown_interval
from ._findings import level_text, make_findings, threshold_phrase
from ._policies import model_card_section, policies_section
from ._probe import PROBE_KEY, probe_context
from ._tables import extrapolation_check, rate_with_interval, report_card, whatif_table

FIGURES = {
    "rates": (
        "Per-group false match and false non-match rates with {level} intervals",
        "Dots are the measured rates, bars their {level} intervals; hollow dots mark groups with "
        "too little data. FMR is on a logarithmic axis; a rate of 0 is drawn as a bar up to its "
        "one-sided {level} upper bound.",
    ),
    "heatmap": (
        "Group by group false match rate matrix",
        "Colour: log10 of the false match rate (as in NIST FRVT Part 3's cross-group "
        "heatmaps; red mark on the colour bar: the target FMR the threshold was set for). "
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
    if r.get(f"{name}_reason") == UNBOUNDED_REASONS["no_errors"]:
        return "no errors", ""  # 0 / 0: neither group erred, there is no ratio to bound
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
                rate_with_interval(r, "fpir"),
                F.count(r.get("n_mated")),
                rate_with_interval(r, "fnir"),
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
                rate_with_interval(r, "fpir"),
                rate_with_interval(r, "fnir") if r.get("fnir") is not None else "–",
            ]
        )
    return {
        "what_if": [str(s) for s in ident.get("what_if") or []],
        "whatif_table": whatif_table(ident),
        "check": extrapolation_check(raw),
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
        inputs=inputs, versions=versions, seeds=seeds,
        config_text=dumps_toml(results.get("config") or {}),
        policies=policies_section(results.get("threshold_policies"), level=lvl),
        model_card=model_card_section(results.get("model_card")),
        probe=probe_context(results.get(PROBE_KEY), {
            k: _png_data(v) for k, v in figures.items() if k.startswith("probe_")}, level=lvl),
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
