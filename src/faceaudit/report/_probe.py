"""The report's "When the probe photo is poor" section: results.json view, findings, figures.

``results.json`` key :data:`PROBE_KEY` (``"probe_conditions"``), written by
:func:`probe_view` from a :class:`faceaudit.probe.ProbeAudit`::

    {
      "threshold": float,            # the clean audit's threshold, used at every level
      "reference_group": str | null,
      "confidence": float,
      "n_probe_people": int, "n_probe_samples": int,
      "levels": [                    # in display order: "none" first, then by kind and severity
        {"condition": "resolution:16", "kind": "resolution", "level": 16.0,
         "steps": [["resolution", 16.0]], "n_probes": int, "n_acquired": int,
         "n_unchanged": int, "n_embedded": int, "n_cached": int,
         "seconds": float,           # wall time of degrading + detecting + embedding
         "seconds_measure": float},  # wall time of the comparisons and intervals
        ...],
      "rows": [                      # one per (level, group), plus group "overall" per level
        {"condition": str, "kind": str, "level": float | null, "group": str,
         "n_people": int, "n_probes": int,
         "<r>": float, "<r>_low": float, "<r>_high": float, "<r>_errors": int,
         "<r>_trials": int, "<r>_thin": bool, "<r>_thin_reason": str}, ...],
      "findings": [{"text": str, "measure": str, "condition": str, "group": str}, ...],
      "protocol": str                # how probes, pairs and intervals are defined
    }

with ``<r>`` each of ``fta`` (failure to acquire), ``fnmr``, ``fmr`` (same-group impostors)
and ``fmr_cross`` (impostors of other groups); ``_low``/``_high`` are the interval shown
(:func:`faceaudit.metrics.rate_interval`). With the one-to-many part, also ``fnir`` and
``fpir`` (degraded probes searched against the clean gallery; the interval shown is
:func:`faceaudit.metrics.shown_interval` of the identification audit's) and
``n_searches_lost`` (searches whose probe was lost at the level). NaN is written as null.

Findings are stated only where the intervals support them: a group's interval at a level lies
wholly above the reference group's at the same level, or wholly above its own interval on the
clean photo; thin figures and the missing-label group ``unknown`` make no finding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import _format as F
from .._manifest import is_missing_label
from . import _plots as P

PROBE_KEY = "probe_conditions"
"""The key of the section in ``results.json``."""

RATES = ("fta", "fnmr", "fmr", "fmr_cross", "fnir", "fpir")
"""The measures of the rows (as :data:`faceaudit.probe.RATES`; ``fnir``/``fpir`` only when
the audit ran its one-to-many part)."""

MEASURES = {
    "fta": ("Failure to acquire (no usable face found in the probe)",
            "the detector found no usable face in {v} of {g} probe photos"),
    "fnmr": ("False non-match rate: probe vs the same person's clean photos",
             "{v} of {g} probes' comparisons with the same person's clean photos failed to "
             "match"),
    "fmr": ("False match rate: probe vs clean photos of other people of the same group",
            "{v} of {g} probes' comparisons with other people of the same group falsely "
            "matched"),
    "fmr_cross": ("False match rate: probe vs clean photos of people of other groups",
                  "{v} of {g} probes' comparisons with people of other groups falsely "
                  "matched"),
    "fnir": ("One-to-many: the enrolled person is not the top candidate above the threshold "
             "(FNIR)", "{v} of {g} searches missed the enrolled person"),
    "fpir": ("One-to-many: a search for someone not enrolled returns a candidate (FPIR)",
             "{v} of {g} searches for someone not enrolled returned a candidate"),
}
"""Each measure's figure title and its finding ({v}: the rate, {g}: the group)."""

PROTOCOL = (
    "Probe photos of a seeded subset of whole people (up to a set number per group) are "
    "degraded on their decoded pixels before face detection; reference photos stay clean. "
    "Each pair of photos is compared once, "
    "one side degraded (a seeded tournament decides when both are probes), so the clean level "
    "reproduces the clean audit's counts. Every level uses the clean audit's threshold. FTA "
    "counts probes with no usable face at that level (including those that failed on the clean "
    "photo); FMR and FNMR are over the probes that were acquired. Intervals: exact and "
    "design-effect Clopper-Pearson and a bootstrap over probe people, the widest."
)


def _clean(x: Any) -> Any:
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def probe_view(audit: Any) -> dict[str, Any]:
    """The ``results.json`` section of a :class:`faceaudit.probe.ProbeAudit`."""
    rows = [{k: _clean(v) for k, v in r.items()} for r in audit.rows.to_dict("records")]
    section = {
        "threshold": float(audit.threshold),
        "reference_group": audit.reference_group,
        "confidence": float(audit.confidence),
        "n_probe_people": int(audit.n_probe_people),
        "n_probe_samples": int(audit.n_probe_samples),
        "levels": [{k: _clean(v) for k, v in c.items()} for c in audit.conditions],
        "rows": rows,
        "protocol": PROTOCOL,
    }
    section["findings"] = probe_findings(section)
    return section


def _row(section: Mapping[str, Any], cond: str, group: str) -> Mapping[str, Any] | None:
    return next((r for r in section["rows"] if r["condition"] == cond and r["group"] == group),
                None)


def _fin(x: Any) -> bool:
    return x is not None and math.isfinite(float(x))


def _above(a: Mapping[str, Any], b: Mapping[str, Any], m: str) -> bool:
    """``a``'s interval of measure ``m`` lies wholly above ``b``'s (both measured, not thin)."""
    if a.get(f"{m}_thin") or b.get(f"{m}_thin"):
        return False
    lo, hi = a.get(f"{m}_low"), b.get(f"{m}_high")
    return _fin(lo) and _fin(hi) and float(lo) > float(hi)


def _says(m: str, r: Mapping[str, Any]) -> str:
    return (f"{F.pct(r[m])} ({F.interval(r[f'{m}_low'], r[f'{m}_high'])}, "
            f"{F.count(r[f'{m}_errors'])} of {F.count(r[f'{m}_trials'])})")


def measures_of(section: Mapping[str, Any]) -> list[str]:
    """The measures the section's rows carry, in :data:`MEASURES` order."""
    rows = section.get("rows") or []
    return [m for m in MEASURES if rows and all(m in r for r in rows)]


def probe_findings(section: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Plain sentences the intervals support (see the module docstring)."""
    ref = section.get("reference_group")
    groups = [g for g in dict.fromkeys(r["group"] for r in section["rows"])
              if g != "overall" and not is_missing_label(g)]
    out: list[dict[str, Any]] = []
    for lv in section["levels"]:
        cond = lv["condition"]
        if cond == "none":
            continue
        for m in measures_of(section):
            for g in groups:
                r, clean = _row(section, cond, g), _row(section, "none", g)
                if r is None:
                    continue
                said = MEASURES[m][1].format(v=_says(m, r), g=F.label(g))
                base = _row(section, cond, ref) if ref and g != ref else None
                if base is not None and _above(r, base, m):
                    text = (f"At probe quality {cond}, {said}, against {_says(m, base)} for "
                            f"{F.label(ref)} (the 95% intervals do not overlap).")
                elif clean is not None and _above(r, clean, m):
                    text = (f"At probe quality {cond}, {said}, up from {_says(m, clean)} with "
                            "the clean photo (the 95% intervals do not overlap).")
                else:
                    continue
                out.append({"measure": m, "condition": cond, "group": g, "text": text})
    return out


def level_order(section: Mapping[str, Any]) -> list[str]:
    """The conditions in display order (as stored: none, then kinds by severity)."""
    return [lv["condition"] for lv in section["levels"]]


MAX_LINES = 12
"""A probe figure draws at most this many groups (the reference, then the largest)."""


def _series(section: Mapping[str, Any], conds: list[str], g: str, m: str) -> tuple[np.ndarray, ...]:
    rows = [_row(section, c, g) or {} for c in conds]

    def col(key: str) -> np.ndarray:
        return np.array([float(r[key]) if _fin(r.get(key)) else np.nan for r in rows])

    thin = np.array([bool(r.get(f"{m}_thin")) for r in rows])
    return col(m), col(f"{m}_low"), col(f"{m}_high"), thin


def plot_probe_measure(section: Mapping[str, Any], measure: str):  # -> Figure
    """One line per group across the levels (x: severity), interval bands, thin hollow."""
    from matplotlib.figure import Figure

    conds = level_order(section)
    x = np.arange(len(conds))
    ref = section.get("reference_group")
    groups = [g for g in dict.fromkeys(r["group"] for r in section["rows"]) if g != "overall"]
    size = {r["group"]: r["n_probes"] for r in section["rows"] if r["condition"] == conds[0]}
    groups = sorted(groups, key=lambda g: (g != ref, -size.get(g, 0)))[:MAX_LINES]
    fig = Figure(figsize=(8.5, 3.8), dpi=100, layout="constrained")
    ax = fig.subplots()
    for i, g in enumerate(groups):
        st = P.REFERENCE_STYLE if g == ref else P.style(i)
        colour = str(st["color"])
        v, lo, hi, thin = _series(section, conds, g, measure)
        ax.fill_between(x, lo, hi, color=colour, alpha=0.15, linewidth=0)
        ax.plot(x, v, color=colour, linestyle=str(st["linestyle"]), linewidth=1.6,
                label=P.mpl_text(g) + (" (thin)" if thin.any() else ""))
        for k in np.flatnonzero(np.isfinite(v)):
            ax.plot([x[k]], [v[k]], marker=str(st["marker"]), markersize=6, color=colour,
                    markerfacecolor="white" if thin[k] else colour, linestyle="none")
    ax.set_xticks(x, [P.mpl_text(c) for c in conds], rotation=20)
    ax.set_xlabel("Probe condition (left: the clean photo; then more degraded)")
    ax.set_ylabel(measure.upper().replace("_CROSS", " (other groups)"))
    ax.set_ylim(bottom=0)
    ax.set_title(MEASURES[measure][0], fontsize=10)  # a constant: no label to escape
    ax.legend(fontsize=8, loc="upper left", frameon=False)
    return fig


def probe_figures(folder: str | Path, section: Mapping[str, Any],
                  files: dict[str, Path]) -> dict[str, Path]:
    """Draw and save one figure per measure (``probe_<measure>``); adds their files to
    ``files`` and returns figure name -> PNG."""
    figures: dict[str, Path] = {}
    for m in measures_of(section):
        name = f"probe_{m}"
        paths = P.save_figure(plot_probe_measure(section, m), folder, name)
        files[f"{name}_png"], files[f"{name}_svg"] = paths["png"], paths["svg"]
        figures[name] = paths["png"]
    return figures


def probe_context(section: Mapping[str, Any] | None,
                  figure_data: Mapping[str, str | None]) -> dict[str, Any] | None:
    """What the HTML template shows of the section (None: no section)."""
    if not section:
        return None
    names = {"fta": "FTA", "fnmr": "FNMR", "fmr": "FMR (same group)",
             "fmr_cross": "FMR (other groups)", "fnir": "FNIR (1:N)", "fpir": "FPIR (1:N)"}
    shown = measures_of(section)
    header = ["Condition", "Group", "People", "Probes", *(names[m] for m in shown)]
    rows = []
    for cond in level_order(section):
        for r in section["rows"]:
            if r["condition"] != cond:
                continue
            cells = [cond, F.label(r["group"]), F.count(r["n_people"]), F.count(r["n_probes"])]
            for m in shown:
                cells.append(f"{_says(m, r)}" + (" thin" if r.get(f"{m}_thin") else ""))
            rows.append(cells)
    levels = [[lv["condition"], F.count(lv["n_probes"]), F.count(lv["n_acquired"]),
               F.count(lv["n_unchanged"]), F.count(lv["n_embedded"]), F.count(lv["n_cached"]),
               f"{float(lv['seconds']):.1f} s",
               f"{float(lv.get('seconds_measure') or 0):.1f} s"] for lv in section["levels"]]
    figs = [{"data": figure_data.get(f"probe_{m}"), "alt": title, "caption": (
        "Lines: each group's rate at each probe condition; bands: 95% intervals; hollow "
        "markers: too little data.")} for m, (title, _) in MEASURES.items() if m in shown]
    return {
        "threshold": F.score(section.get("threshold")),
        "n_people": F.count(section.get("n_probe_people")),
        "n_samples": F.count(section.get("n_probe_samples")),
        "findings": [f["text"] for f in section.get("findings") or []],
        "header": header, "rows": rows,
        "level_header": ["Condition", "Probes", "Acquired", "Unchanged", "Embedded now",
                         "From cache", "Embedding time", "Measuring time"],
        "levels": levels,
        "figures": [f for f in figs if f["data"]],
        "protocol": section.get("protocol", ""),
    }
