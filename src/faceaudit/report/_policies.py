"""The threshold-policies section and the model card: their ``results.json`` form and the
tables and sentences of their report section.

``results.json`` gets two top-level keys (written by the audit's report stage):

- ``threshold_policies`` (:func:`policies_view`): ``selected`` (policy names), ``caveat``
  (:data:`~faceaudit.metrics.POLICY_CAVEAT`), ``cross_group_rule`` (in words) and
  ``policies``: one :meth:`~faceaudit.metrics.PolicyResult.to_dict` per policy;
- ``model_card``: :meth:`faceaudit.pipeline.ModelCard.to_dict` of a built-in model (or absent).

The sentences state numbers only (ranges over groups and the intervals), never a preference
between policies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .. import _format as F
from ..metrics import POLICY_CAVEAT, PolicyResult

CROSS_RULE_TEXT = (
    "With one threshold per group, a comparison between people of two different groups is "
    "judged with the threshold of the probe's group (the person searched for or verified). "
    "Row = probe's group, column = candidate's group.")

_TITLES = {
    "vendor": "The makers' threshold, as shipped",
    "global": "One threshold for every group (the rest of this report)",
    "per-group": "One threshold per group",
}


def policies_view(policies: Mapping[str, PolicyResult], *, selected: Sequence[str]) -> dict:
    """The ``threshold_policies`` section of ``results.json``."""
    return {"selected": list(selected), "caveat": POLICY_CAVEAT,
            "cross_group_rule": CROSS_RULE_TEXT,
            "policies": {name: p.to_dict() for name, p in policies.items()}}


def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _bound(x: Any) -> str:
    """A bound as a percentage; below 0.0001% as "<0.0001%" (not 40 zeros)."""
    return "<0.0001%" if _finite(x) and 0 < x < 1e-6 else F.pct(x)


def _interval(lo: Any, hi: Any) -> str:
    return f"{_bound(lo)}–{_bound(hi)}" if _finite(lo) and _finite(hi) else ""


def _with_interval(row: Mapping[str, Any], key: str) -> str:
    ci = _interval(row.get(f"{key}_low"), row.get(f"{key}_high"))
    if row.get(f"{key}_one_sided") and _finite(row.get(f"{key}_high")):
        return f"{F.pct(row.get(key))} (at most {F.pct(row.get(f'{key}_high'))})"
    return f"{F.pct(row.get(key))} ({ci})" if ci else F.pct(row.get(key))


def _span(rows: Sequence[Mapping[str, Any]], key: str) -> str:
    """``"from 0.1% (A) to 2% (B)"`` over the rows with a finite, not thin ``key``."""
    ok = [r for r in rows if _finite(r.get(key)) and not r.get(f"thin_{key}_reason")]
    if not ok:
        return ""
    lo = min(ok, key=lambda r: r[key])
    hi = max(ok, key=lambda r: r[key])
    return (f"from {F.pct(lo[key])} ({F.label(lo['label'])}) to {F.pct(hi[key])} "
            f"({F.label(hi['label'])})")


def _vs(row: Mapping[str, Any], key: str) -> str:
    v = row.get(f"{key}_vs_intended")
    return {"above": "higher", "below": "lower", "within": "consistent"}.get(v or "", "")


def _sentences(p: Mapping[str, Any]) -> list[str]:
    rows, intended = p["groups"], p.get("intended") or {}
    out = []
    fmr, fnmr = _span(rows, "fmr"), _span(rows, "fnmr")
    if p["name"] == "vendor" and _finite(intended.get("fmr")):
        out.append(f"On LFW pairs.txt, the benchmark the makers quote (faceaudit's measurement), "
                   f"this threshold gives an FMR of {F.pct(intended['fmr'])} and an FNMR of "
                   f"{F.pct(intended.get('fnmr'))}; in this audit, among groups not flagged "
                   f"thin, FMR runs {fmr or '–'} and FNMR {fnmr or '–'}.")
        for key, name in (("fmr", "FMR"), ("fnmr", "FNMR")):
            hi = [F.label(r["label"]) for r in rows if r.get(f"{key}_vs_intended") == "above"]
            if hi:
                out.append(f"{name} is higher than intended, beyond its interval, for: "
                           f"{', '.join(hi)}.")
    elif p["name"] == "per-group":
        ts = [(t, r["label"]) for t, r in zip(p["thresholds"], rows, strict=True)
              if _finite(t) and not r.get("thin_fmr_reason")]
        if ts:
            (t0, g0), (t1, g1) = min(ts), max(ts)
            out.append(f"Among groups not flagged thin, the thresholds run from {F.score(t0)} "
                       f"({F.label(g0)}) to {F.score(t1)} ({F.label(g1)}) and FNMR runs "
                       f"{fnmr or '–'}.")
        cross = p.get("cross") or {}
        ok = [not r.get("thin_fmr_reason") and _finite(r.get("fmr")) for r in rows]
        cells = [(cross["fmr"][i][j], i, j) for i in range(len(rows)) for j in range(len(rows))
                 if i != j and ok[i] and ok[j] and _finite(cross["fmr"][i][j])]
        if cells and _finite(intended.get("fmr")):
            v, i, j = max(cells)
            lab = cross["labels"]
            out.append(f"Across groups whose own FMR is not thin, the FMR reaches {F.pct(v)} "
                       f"({_interval(cross['low'][i][j], cross['high'][i][j])}) for probes "
                       f"from {F.label(lab[i])} against people from {F.label(lab[j])}, "
                       f"{F.times(v / intended['fmr'])} the target {F.pct(intended['fmr'])}.")
    else:
        out.append(f"Among groups not flagged thin, FMR runs {fmr or '–'} and FNMR "
                   f"{fnmr or '–'}.")
    return out


def _cross_table(p: Mapping[str, Any]) -> dict[str, Any] | None:
    cross = p.get("cross") or {}
    labels = cross.get("labels") or []
    if len(labels) < 2:
        return None
    rows = []
    for i, lab in enumerate(labels):
        cells = []
        for j in range(len(labels)):
            n, fm = cross["n_nonmated"][i][j], cross["false_matches"][i][j]
            cells.append(f"{F.pct(cross['fmr'][i][j])} ({F.count(fm)} of {F.count(n)})"
                         if _finite(cross["fmr"][i][j]) else "–")
        rows.append([F.label(lab), *cells])
    return {"header": ["probe \\ candidate", *[F.label(x) for x in labels]], "rows": rows}


def policies_section(doc: Mapping[str, Any] | None, level: str = "–") -> dict[str, Any] | None:
    """What the report's "Threshold policies" section shows (None: the section is left out);
    ``level`` is the audit's interval level as printed (e.g. "95%")."""
    if not doc:
        return None
    shown = []
    for name, p in (doc.get("policies") or {}).items():
        entry: dict[str, Any] = {"title": _TITLES.get(name, name), "rule": p["rule"],
                                 "available": p["available"], "reason": p.get("reason", "")}
        if p["available"]:
            intended = p.get("intended") or {}
            entry["intended_source"] = intended.get("source") or ""
            entry["rows"] = [[F.label(r["label"]), F.score(r.get("threshold")),
                              _with_interval(r, "fmr"), _vs(r, "fmr"),
                              _with_interval(r, "fnmr"), _vs(r, "fnmr")]
                             for r in p["groups"]]
            entry["intended"] = [F.pct(intended.get("fmr")), F.pct(intended.get("fnmr"))]
            entry["sentences"] = _sentences(p)
            entry["cross"] = _cross_table(p)
            entry["cross_rule"] = (CROSS_RULE_TEXT if name == "per-group" else
                                   "Row and column: the groups of the two people compared.")
        shown.append(entry)
    return {"caveat": doc.get("caveat", POLICY_CAVEAT), "level": level,
            "cross_rule": doc.get("cross_group_rule", CROSS_RULE_TEXT), "policies": shown}


def model_card_section(card: Mapping[str, Any] | None) -> list[tuple[str, str]] | None:
    """The model card as (field, text) rows (None: no built-in model)."""
    if not card:
        return None
    rows = [("Model", card["title"]), ("Architecture", card["architecture"]),
            ("Training data", card["training_data"]), ("Licence", card["licence"]),
            ("Source", card["source"])]
    for fig in card.get("published_lfw") or []:
        rows.append(("Published LFW accuracy",
                     f"{F.percent(fig['accuracy'], 2)} — {fig['source']}; {fig['conditions']}"))
    m = card.get("measured_lfw")
    if m:
        rows.append(("LFW accuracy measured by faceaudit",
                     f"{F.percent(m['accuracy'], 2)} ± {F.percent(m['sd'], 2)} (10-fold, "
                     f"{m['n_pairs']:,} pairs, {m['failures_to_enrol']} failures to enrol); "
                     f"{F.percent(m['accuracy_at_vendor_threshold'], 2)} at the makers' "
                     f"threshold; {m['images']}; {m['pipeline']}; `{m['command']}`"))
    rows.append(("Operating threshold",
                 f"{F.score(card['vendor_threshold'])} ({card['similarity']} score) — "
                 f"{card['vendor_threshold_source']}"))
    if card.get("notes"):
        rows.append(("Notes", card["notes"]))
    return rows
