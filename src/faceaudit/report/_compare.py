"""Two audits side by side: per-group differences and whether their intervals overlap.

:func:`compare_results` reads two results mappings (``results.json`` of two audit folders:
two models on one dataset, or one model before and after a change) and lines up their
groups. For each group present in both and each rate (FMR, FNMR, FTE) it gives

.. math::

    \\Delta = x_B - x_A, \\qquad \\rho = x_B / x_A,

and whether the two intervals (each at its audit's level) overlap (``a_lo <= b_hi and
b_lo <= a_hi``; the intervals
the reports show, :func:`~faceaudit.metrics.shown_interval`). Intervals
that do **not** overlap are a conservative sign of a real change; overlapping intervals do
not prove that nothing changed (the comparison is then inconclusive, not "equal").

When both audits ran on the same photos, ``paired`` (from
:func:`~faceaudit.metrics.paired_comparison`: people resampled once for both systems) adds to
each FMR/FNMR row the paired interval of the difference, of the ratio B/A and of the ratio of
ratios (the change of the group's disparity to the reference), and the row's ``verdict`` is
then the paired one: B higher/lower when the paired interval of the difference excludes 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .. import _format as F
from .._errors import InputError
from ..metrics import shown_interval
from ._probe import PROBE_KEY
from ._probe import RATES as PROBE_RATES

RATES = ("fmr", "fnmr", "fte")


_f = F.as_float

def _overlap(a_lo: float, a_hi: float, b_lo: float, b_hi: float) -> bool | None:
    if any(math.isnan(v) for v in (a_lo, a_hi, b_lo, b_hi)):
        return None
    return a_lo <= b_hi and b_lo <= a_hi


def _level_notes(va: Mapping[str, Any], vb: Mapping[str, Any], name_a: str, name_b: str,
                 notes: list[str]) -> str:
    """The interval level as printed (the first audit's); notes when the two levels differ."""
    ca, cb = va.get("confidence"), vb.get("confidence")
    level = F.level(ca if ca is not None else cb)
    if ca != cb:
        notes.append(f"The interval levels differ ({name_a}: {F.level(ca)}, {name_b}: "
                     f"{F.level(cb)}); each audit's intervals are at its own level.")
    notes.append(
        f"Non-overlapping {level} intervals are a conservative sign of a real change; "
        "overlapping ones do not show that nothing changed."
    )
    return level



def _add_paired(rows: list[dict[str, Any]], paired: Mapping[str, Any], name_b: str) -> None:
    """Put the paired-bootstrap figures into the rows they belong to (same group and rate)."""
    by_key = {(r["group"], r["rate"]): r for r in paired.get("rows") or []}
    for row in rows:
        p = by_key.get((row["group"], row["rate"]))
        if p is None:
            continue
        for k in ("difference_low", "difference_high", "ratio_low", "ratio_high",
                  "ratio_of_ratios", "ratio_of_ratios_low", "ratio_of_ratios_high"):
            row[f"paired_{k}"] = p[k]
        row["verdict_intervals"] = row["verdict"]
        v = p["verdict"]
        row["verdict"] = v.replace("B ", f"{name_b} ", 1) if v.startswith("B ") else v


def _notes(a: Mapping[str, Any], b: Mapping[str, Any], name_a: str, name_b: str,
           paired: Mapping[str, Any] | None) -> tuple[list[str], str]:
    """What qualifies a comparison: differing operating points or data, and the verdict rule;
    and the interval level as printed."""
    va, vb = a.get("verification") or {}, b.get("verification") or {}
    notes = []
    for key, label in (
        ("threshold", "thresholds"),
        ("reference_group", "reference groups"),
        ("target_fmr", "target FMRs"),
    ):
        if va.get(key) != vb.get(key):
            notes.append(
                f"The {label} differ ({name_a}: {va.get(key)}, {name_b}: {vb.get(key)}): "
                "each audit's rates are at its own operating point."
            )
    da, db = a.get("dataset") or {}, b.get("dataset") or {}
    if (da.get("name"), da.get("n_samples")) != (db.get("name"), db.get("n_samples")):
        notes.append(
            f"The data differ ({name_a}: {da.get('name')}, {F.count(da.get('n_samples'))} "
            f"photos; {name_b}: {db.get('name')}, {F.count(db.get('n_samples'))} photos)."
        )
    level = _level_notes(va, vb, name_a, name_b, notes)
    if paired is not None:
        notes.append(
            f"FMR and FNMR verdicts are paired: both systems saw the same photos, so people "
            f"were resampled once for both ({paired['n_boot']} bootstrap replicates, seed "
            f"{paired['seed']}); a group is higher or lower when the "
            f"{F.percent(paired['confidence'], 0)} interval of the difference excludes 0, "
            "else there is no clear change (not the same as no change). This interval is a "
            "bootstrap over people only: docs/coverage.md measured the people bootstrap alone "
            "covering 69–92% (not 95%) in groups of 100–400 people whose comparisons rest on "
            "a few people, so read a paired verdict as weaker evidence than its level says."
        )
    return notes, level


def compare_results(
    a: Mapping[str, Any], b: Mapping[str, Any], *, name_a: str = "A", name_b: str = "B",
    paired: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Line up the groups of two audits and compare their rates.

    Returns
    -------
    dict
        ``{"a": {...}, "b": {...}, "rows": [...], "only_in_a": [...], "only_in_b": [...],
        "notes": [...]}``; each row holds ``group``, ``rate`` and ``a, a_lo, a_hi, b, b_lo,
        b_hi, difference, ratio, overlap`` (True, False or None when an interval is missing)
        and ``verdict`` in words; with ``paired``, FMR/FNMR rows also hold
        ``paired_difference_low/high``, ``paired_ratio_low/high``,
        ``paired_ratio_of_ratios`` (+ ``_low/_high``) and ``verdict_intervals`` (the
        overlap verdict), and ``verdict`` is the paired one.

    Raises
    ------
    InputError
        When the two audits share no group.
    """
    va, vb = a.get("verification") or {}, b.get("verification") or {}
    ga = {r["group"]: r for r in va.get("groups") or []}
    gb = {r["group"]: r for r in vb.get("groups") or []}
    common = [g for g in ga if g in gb]
    if not common:
        raise InputError(
            f"the audits {name_a!r} and {name_b!r} share no group "
            f"({sorted(ga)} vs {sorted(gb)}); compare audits with the same grouping"
        )
    rows = [
        _compared(g, rate, _f(ga[g].get(rate)), _f(gb[g].get(rate)),
                  shown_interval(ga[g], rate), shown_interval(gb[g], rate), name_b,
                  bool(ga[g].get("thin")) or bool(gb[g].get("thin")))
        for g in common for rate in RATES
    ]
    notes, level = _notes(a, b, name_a, name_b, paired)
    if paired is not None:
        _add_paired(rows, paired, name_b)

    def head(r: Mapping[str, Any], v: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "model_id": v.get("model_id"),
            "threshold": v.get("threshold"),
            "reference_group": v.get("reference_group"),
            "dataset": (r.get("dataset") or {}).get("name"),
            "created_utc": r.get("created_utc"),
        }

    return {
        "name_a": name_a,
        "name_b": name_b,
        "level": level,
        "a": head(a, va),
        "b": head(b, vb),
        "rows": rows,
        "only_in_a": [g for g in ga if g not in gb],
        "only_in_b": [g for g in gb if g not in ga],
        "notes": notes,
        "paired": None if paired is None else {
            k: paired[k] for k in ("n_boot", "seed", "confidence", "reference_group")},
        "probe_rows": _probe_rows(a, b, name_b),
    }


def _compared(group: str, rate: str, x: float, y: float, ia: tuple[float, float],
              ib: tuple[float, float], name_b: str, thin: bool) -> dict[str, Any]:
    """One comparison row: values, intervals, difference, ratio, overlap and verdict."""
    ov = _overlap(*ia, *ib)
    if ov is None:
        verdict = "no interval"
    elif ov:
        verdict = "no clear change"
    else:
        verdict = f"{name_b} {'higher' if y > x else 'lower'}"
    return {"group": group, "rate": rate, "a": x, "a_lo": ia[0], "a_hi": ia[1], "b": y,
            "b_lo": ib[0], "b_hi": ib[1], "difference": y - x,
            "ratio": y / x if x > 0 else (math.inf if y > 0 else math.nan),
            "overlap": ov, "verdict": verdict, "thin": thin}


def _probe_rows(a: Mapping[str, Any], b: Mapping[str, Any], name_b: str) -> list[dict[str, Any]]:
    """The probe-quality section compared per (condition, group) present in both audits
    (``group`` is ``"<condition> · <group>"``); empty when either audit has no such section."""
    pa, pb = a.get(PROBE_KEY) or {}, b.get(PROBE_KEY) or {}
    rb = {(r["condition"], r["group"]): r for r in pb.get("rows") or []}
    out = []
    for r in pa.get("rows") or []:
        s = rb.get((r["condition"], r["group"]))
        if s is None:
            continue
        for m in PROBE_RATES:
            def iv(x: Mapping[str, Any], m: str = m) -> tuple[float, float]:
                return _f(x.get(f"{m}_low")), _f(x.get(f"{m}_high"))

            out.append(_compared(f"{r['condition']} · {r['group']}", m, _f(r.get(m)),
                                 _f(s.get(m)), iv(r), iv(s), name_b,
                                 bool(r.get(f"{m}_thin")) or bool(s.get(f"{m}_thin"))))
    return out


def _signed(d: Any) -> str:
    d = _f(d)
    if not math.isfinite(d):
        return "–"
    return ("+" if d > 0 else "−" if d < 0 else "") + F.pct(abs(d))


def _signed_interval(lo: Any, hi: Any) -> str:
    """``"−0.12% to +0.03%"``; ``""`` when missing."""
    if lo is None or hi is None or not (math.isfinite(_f(lo)) and math.isfinite(_f(hi))):
        return ""
    return f"{_signed(lo)} to {_signed(hi)}"


def formatted_rows(c: Mapping[str, Any], key: str = "rows") -> list[dict[str, Any]]:
    """The comparison rows (``c[key]``) as display strings (percentages, intervals, signed
    differences)."""
    out = []
    for r in c.get(key) or []:
        d = r["difference"]
        out.append(
            {
                "group": r["group"],
                "rate": r["rate"].upper(),
                "thin": r["thin"],
                "overlap": r["overlap"],
                "verdict": r["verdict"],
                "a": F.pct(r["a"]),
                "a_ci": F.interval(r["a_lo"], r["a_hi"]),
                "b": F.pct(r["b"]),
                "b_ci": F.interval(r["b_lo"], r["b_hi"]),
                "difference": ("+" if d > 0 else "−" if d < 0 else "") + F.pct(abs(d))
                if math.isfinite(d)
                else "–",
                "ratio": F.times(r["ratio"]),
                "difference_ci": _signed_interval(r.get("paired_difference_low"),
                                                  r.get("paired_difference_high")),
                "ratio_ci": F.interval(r.get("paired_ratio_low"), r.get("paired_ratio_high"),
                                       F.times),
                "ratio_of_ratios": F.times(r.get("paired_ratio_of_ratios")),
                "ratio_of_ratios_ci": F.interval(r.get("paired_ratio_of_ratios_low"),
                                                 r.get("paired_ratio_of_ratios_high"), F.times),
            }
        )
    return out


def render_compare_html(c: Mapping[str, Any]) -> str:
    """Self-contained HTML of a comparison (Jinja2, autoescaped)."""
    from .._errors import require

    jinja2 = require("jinja2", "report")
    env = jinja2.Environment(  # type: ignore[attr-defined]
        loader=jinja2.PackageLoader("faceaudit.report", "templates"),  # type: ignore[attr-defined]
        autoescape=True,
    )
    return env.get_template("compare.html.j2").render(
        c=c, rows=formatted_rows(c), probe_rows=formatted_rows(c, "probe_rows"))
