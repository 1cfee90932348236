"""Plain-language findings from a results mapping: a sentence, its number, its interval, its caveat.

Findings are written for a non-specialist: each says who is affected, how much more often,
with the 95% interval, and the counts it rests on. A finding whose group (or the reference
group) is too thin to support it carries ``thin = True`` and says so in its ``note``; a
finding without an interval says so too. Nothing here computes a rate: the numbers are read
from ``verification.groups`` (see :mod:`faceaudit.report._results`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .._manifest import is_missing_label
from . import _format as F


def _f(x: Any) -> float:
    try:
        return float(x) if x is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _missing(row: Mapping[str, Any]) -> bool:
    """True for a group defined by a missing label (``unknown``): missing data, not a group."""
    values = row.get("values")
    return is_missing_label(
        list(values.values()) if isinstance(values, Mapping) else str(row.get("group"))
    )


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _plural(noun: str, n: Any) -> str:
    """``"false matches"`` -> ``"false match"`` when ``n == 1``."""
    return noun[:-2] if _f(n) == 1 and noun.endswith("es") else noun


def _pct_one_in(x: Any) -> str:
    v = _f(x)
    if not math.isfinite(v) or v == 0 or v >= 0.1:
        return F.pct(v)
    return f"{F.pct(v)} ({F.one_in(v)})"


def _ci(row: Mapping[str, Any], key: str) -> list[float] | None:
    lo, hi = _f(row.get(f"{key}_lo")), _f(row.get(f"{key}_hi"))
    return [lo, hi] if math.isfinite(lo) and math.isfinite(hi) else None


def _thin_note(
    row: Mapping[str, Any], ref: Mapping[str, Any] | None, key: str | None = None
) -> tuple[bool, str]:
    """Whether ``row`` or ``ref`` is too thin for the figure ``key`` ("fmr", "fnmr"), and why.

    Uses the per-figure flags ``thin_<key>`` / ``thin_<key>_reason`` when present (FNMR does
    not depend on the impostor count, FMR does), else the group's ``thin`` flag.
    """
    notes = []
    for r in (row, ref):
        if r is None:
            continue
        if key is not None and f"thin_{key}" in r:
            flag, reason = r.get(f"thin_{key}"), r.get(f"thin_{key}_reason")
        else:
            flag, reason = r.get("thin"), r.get("thin_reason")
        if flag:
            notes.append(f"{r['group']}: {reason or 'few people or comparisons'}")
    if not notes:
        return False, ""
    return True, "Too little data to support this firmly (" + "; ".join(notes) + ")."


def threshold_phrase(ver: Mapping[str, Any]) -> str:
    """How the threshold was chosen, in words."""
    ref = ver.get("reference_group")
    target = ver.get("target_fmr")
    if ver.get("threshold_rule") == "target_fmr" and target is not None:
        who = f"for {ref}" if ref else "over all impostor pairs"
        rate = F.one_in(target).replace("1 in", "one false match in")
        return f"At the threshold that gives at most {rate} {who}"
    return f"At the fixed threshold {F.score(ver.get('threshold'))}"


def _spread(rows: list[Mapping[str, Any]], key: str, noun: str, lead: str) -> list[dict[str, Any]]:
    """Without a reference group: the highest and the lowest rate among the groups."""
    ok = [r for r in rows if not _missing(r) and math.isfinite(_f(r.get(key)))]
    if len(ok) < 2:
        return []
    ok.sort(key=lambda r: _f(r.get(key)))
    lo, hi = ok[0], ok[-1]
    n_err = "n_false_match" if key == "fmr" else "n_false_non_match"
    n_tot = "n_nonmated" if key == "fmr" else "n_mated"
    thin, note = _thin_note(hi, lo, key)
    name = "false match rate" if key == "fmr" else "false non-match rate"
    return [
        {
            "id": f"{key}_spread",
            "kind": f"{key}_spread",
            "group": hi["group"],
            "text": (
                f"{lead}, {hi['group']} has the highest {name}: "
                f"{F.count(hi.get(n_err))} {_plural(noun, hi.get(n_err))} in "
                f"{F.count(hi.get(n_tot))} comparisons ({F.rate(hi.get(key))}); the lowest is "
                f"{lo['group']}'s, {F.rate(lo.get(key))}. No reference group was chosen, so "
                "no ratio with an interval is given."
            ),
            "value": _f(hi.get(key)),
            "ci": None,
            "thin": thin,
            "note": note,
        }
    ]


def make_findings(results: Mapping[str, Any], *, top: int = 3) -> list[dict[str, Any]]:
    """The findings of an audit, most important first.

    Returns a list of ``{"id", "kind", "group", "text", "value", "ci", "thin", "note"}``:
    an overview, the ``top`` largest false-match and false-non-match disparities relative to
    the reference group (ratios above 1 only; groups with a missing label, ``unknown``, are
    missing data rather than a demographic group and are left out), the largest
    failure-to-enrol rate, and the 1:N headline when identification was run.
    """
    ver = results.get("verification") or {}
    rows = list(ver.get("groups") or [])
    ref_label = ver.get("reference_group")
    ref = next((r for r in rows if r.get("group") == ref_label), None)
    out: list[dict[str, Any]] = []
    lead = threshold_phrase(ver)

    # -- overview
    thr_note = (
        f" (threshold {F.score(ver.get('threshold'))})"
        if ver.get("threshold_rule") == "target_fmr"
        else ""
    )
    n_mated = sum(int(r.get("n_mated") or 0) for r in rows)
    n_non = sum(int(r.get("n_nonmated") or 0) for r in rows)
    ds = results.get("dataset") or {}
    out.append(
        {
            "id": "overview",
            "kind": "overview",
            "group": None,
            "text": (
                f"The audit compared {F.count(n_mated)} pairs of photos of the same person and "
                f"{F.count(n_non)} pairs of photos of different people within the same group, "
                f"from {F.count(ds.get('n_subjects'))} people in {len(rows)} group{_s(len(rows))}. "
                f"{lead}{thr_note}, "
                "the groups' error rates follow."
            ),
            "value": None,
            "ci": None,
            "thin": False,
            "note": "",
        }
    )

    # -- disparities
    for key, verb, noun in (
        ("fmr", "falsely matched with another person of their group", "false matches"),
        ("fnmr", "wrongly told they are not themselves", "false non-matches"),
    ):
        if ref is None:
            out.extend(_spread(rows, key, noun, lead))
            continue
        cands = []
        for r in rows:
            if r.get("group") == ref_label or _missing(r):
                continue
            ratio = _f(r.get(f"{key}_ratio"))
            mine = _f(r.get(key))
            theirs = _f(ref.get(key)) if ref is not None else math.nan
            if not math.isfinite(ratio) and theirs == 0 and mine > 0:
                ratio = math.inf  # the reference group has no errors: no finite ratio exists
            if math.isfinite(ratio) and ratio > 1:
                cands.append((ratio, r))
            elif math.isinf(ratio):
                cands.append((math.inf, r))
        # findings the data support come first; thin ones after, still shown and flagged
        cands.sort(key=lambda t: (_thin_note(t[1], ref, key)[0], -t[0]))
        if ref is not None and not cands and rows:
            out.append(
                {
                    "id": f"{key}_none",
                    "kind": f"{key}_ratio",
                    "group": None,
                    "text": (
                        f"{lead}, no group is {verb} more often than {ref_label} "
                        f"(by the point estimates)."
                    ),
                    "value": None,
                    "ci": None,
                    "thin": _thin_note(ref, None, key)[0],
                    "note": "",
                }
            )
        for rank, (ratio, r) in enumerate(cands[:top]):
            n_err = "n_false_match" if key == "fmr" else "n_false_non_match"
            n_tot = "n_nonmated" if key == "fmr" else "n_mated"
            ci = _ci(r, f"{key}_ratio")
            thin, note = _thin_note(r, ref, key)
            if ci is None and math.isinf(ratio):
                pass  # no ratio, so no interval to ask for
            elif ci is None:
                note = (note + " " if note else "") + "No interval: run the audit with n_boot > 0."
                ci_txt = ""
            else:
                ci_txt = f" (95% CI {F.times(ci[0])}–{F.times(ci[1])})"
                if ci[0] <= 1:
                    note = (
                        note + " " if note else ""
                    ) + "The interval includes 1: the data are also consistent with no difference."
            first = f"{lead}, " if rank == 0 else ""
            who = r["group"] if rank == 0 else f"Likewise, {r['group']}"
            if math.isinf(ratio):
                head = (
                    f"{first}{who} has {noun} while {ref_label} has none at all, so "
                    f"no ratio can be given"
                )
            else:
                head = (
                    f"{first}{who} is {verb} {F.times(ratio).rstrip('×')} times as often as "
                    f"{ref_label}{ci_txt}"
                )
            text = (
                f"{head}: {F.count(r.get(n_err))} {_plural(noun, r.get(n_err))} in "
                f"{F.count(r.get(n_tot))} comparisons "
                f"({F.rate(r.get(key))}), against {_pct_one_in(ref.get(key)) if ref else '–'} "
                f"for {ref_label}."
            )
            out.append(
                {
                    "id": f"{key}_ratio:{r['group']}",
                    "kind": f"{key}_ratio",
                    "group": r["group"],
                    "text": text,
                    "value": ratio if math.isfinite(ratio) else None,
                    "ci": ci,
                    "thin": thin,
                    "note": note.strip(),
                }
            )

    # -- failure to enrol
    fte = [(_f(r.get("fte")), r) for r in rows if math.isfinite(_f(r.get("fte")))]
    fte.sort(key=lambda t: -t[0])
    if fte and fte[0][0] > 0:
        v, r = fte[0]
        ci = _ci(r, "fte")
        thin, note = _thin_note(r, None)
        out.append(
            {
                "id": f"fte:{r['group']}",
                "kind": "fte",
                "group": r["group"],
                "text": (
                    f"No usable face template could be made for {F.count(r.get('n_fte'))} of "
                    f"{F.count(r.get('n_samples'))} photos of {r['group']} ({F.pct(v)}"
                    f"{', 95% CI ' + F.interval(*ci) if ci else ''}), "
                    "the highest failure-to-enrol rate "
                    f"of any group. These photos could not be compared at all."
                ),
                "value": v,
                "ci": ci,
                "thin": thin,
                "note": note,
            }
        )
    elif fte:
        out.append(
            {
                "id": "fte_none",
                "kind": "fte",
                "group": None,
                "text": "A face template was made for every photo: no failures to enrol.",
                "value": 0.0,
                "ci": None,
                "thin": False,
                "note": "",
            }
        )

    # -- identification
    ident = results.get("identification") or {}
    for k, item in enumerate(ident.get("plain_findings") or []):
        item = item if isinstance(item, Mapping) else {"text": str(item)}
        out.append(
            {
                "id": f"identification:{k}",
                "kind": "identification",
                "group": None,
                "text": str(item.get("text", "")),
                "value": None,
                "ci": None,
                "thin": bool(item.get("thin")),
                "note": str(item.get("note") or ""),
            }
        )
    return out
