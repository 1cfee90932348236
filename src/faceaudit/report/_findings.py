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

from .. import _format as F
from .._manifest import is_missing_label
from ..metrics import MIN_SEARCHES, searches_thin_reason

_f = F.as_float

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


def _ci(row: Mapping[str, Any], key: str, kind: str = "ci") -> list[float] | None:
    """``[low, high]`` of ``<key>_<kind>_low/_high`` ("ci": Clopper–Pearson, "boot")."""
    lo, hi = _f(row.get(f"{key}_{kind}_low")), _f(row.get(f"{key}_{kind}_high"))
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
    n_err = "false_matches" if key == "fmr" else "false_non_matches"
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
    lead = threshold_phrase(ver)
    out = [_overview(ver, rows, results.get("dataset") or {}, lead)]
    for key, verb, noun in (
        ("fmr", "falsely matched with another person of their group", "false matches"),
        ("fnmr", "wrongly told they are not themselves", "false non-matches"),
    ):
        out.extend(_disparities(ver, rows, key, verb, noun, lead, top))
    out.extend(_fte(rows))
    out.extend(_identification(results.get("identification") or {}))
    return out


def _finding(id_: str, kind: str, group: str | None, text: str, value: float | None = None,
             ci: list[float] | None = None, thin: bool = False, note: str = "") -> dict[str, Any]:
    return {"id": id_, "kind": kind, "group": group, "text": text, "value": value, "ci": ci,
            "thin": thin, "note": note}


def _overview(ver: Mapping[str, Any], rows: list[Mapping[str, Any]], ds: Mapping[str, Any],
              lead: str) -> dict[str, Any]:
    thr_note = (
        f" (threshold {F.score(ver.get('threshold'))})"
        if ver.get("threshold_rule") == "target_fmr"
        else ""
    )
    n_mated = sum(int(r.get("n_mated") or 0) for r in rows)
    n_non = sum(int(r.get("n_nonmated") or 0) for r in rows)
    return _finding(
        "overview", "overview", None,
        f"The audit compared {F.count(n_mated)} pairs of photos of the same person and "
        f"{F.count(n_non)} pairs of photos of different people within the same group, "
        f"from {F.count(ds.get('n_subjects'))} people in {len(rows)} group{_s(len(rows))}. "
        f"{lead}{thr_note}, "
        "the groups' error rates follow.",
    )


def _ratio_candidates(
    rows: list[Mapping[str, Any]], ref: Mapping[str, Any], key: str
) -> list[tuple[float, Mapping[str, Any]]]:
    """Groups whose ``key`` is above the reference's, largest ratio first, thin ones last."""
    cands = []
    for r in rows:
        if r.get("group") == ref.get("group") or _missing(r):
            continue
        ratio = _f(r.get(f"{key}_ratio_to_reference"))
        mine = _f(r.get(key))
        theirs = _f(ref.get(key))
        if not math.isfinite(ratio) and theirs == 0 and mine > 0:
            ratio = math.inf  # the reference group has no errors: no finite ratio exists
        if math.isfinite(ratio) and ratio > 1:
            cands.append((ratio, r))
        elif math.isinf(ratio):
            cands.append((math.inf, r))
    # findings the data support come first; thin ones after, still shown and flagged
    cands.sort(key=lambda t: (_thin_note(t[1], ref, key)[0], -t[0]))
    return cands


def _disparities(ver: Mapping[str, Any], rows: list[Mapping[str, Any]], key: str, verb: str,
                 noun: str, lead: str, top: int) -> list[dict[str, Any]]:
    ref_label = ver.get("reference_group")
    ref = next((r for r in rows if r.get("group") == ref_label), None)
    if ref is None:
        return _spread(rows, key, noun, lead)
    cands = _ratio_candidates(rows, ref, key)
    if not cands:
        return [_finding(
            f"{key}_none", f"{key}_ratio", None,
            f"{lead}, no group is {verb} more often than {ref_label} (by the point estimates).",
            thin=_thin_note(ref, None, key)[0],
        )]
    out = []
    n_err = "false_matches" if key == "fmr" else "false_non_matches"
    n_tot = "n_nonmated" if key == "fmr" else "n_mated"
    for rank, (ratio, r) in enumerate(cands[:top]):
        ci = _ci(r, f"{key}_ratio_to_reference", "boot")
        thin, note = _thin_note(r, ref, key)
        ci_txt = ""
        if ci is None and math.isinf(ratio):
            pass  # no ratio, so no interval to ask for
        elif ci is None:
            note = (note + " " if note else "") + "No interval: run the audit with n_boot > 0."
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
            f"({F.rate(r.get(key))}), against {_pct_one_in(ref.get(key))} "
            f"for {ref_label}."
        )
        out.append(_finding(f"{key}_ratio:{r['group']}", f"{key}_ratio", r["group"], text,
                            ratio if math.isfinite(ratio) else None, ci, thin, note.strip()))
    return out


def _fte(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The highest failure-to-enrol rate, or that there was none."""
    fte = [(_f(r.get("fte")), r) for r in rows if math.isfinite(_f(r.get("fte")))]
    fte.sort(key=lambda t: -t[0])
    if not fte:
        return []
    if fte[0][0] <= 0:
        return [_finding("fte_none", "fte", None,
                         "A face template was made for every photo: no failures to enrol.", 0.0)]
    v, r = fte[0]
    ci = _ci(r, "fte")
    thin, note = _thin_note(r, None)
    return [_finding(
        f"fte:{r['group']}", "fte", r["group"],
        f"No usable face template could be made for {F.count(r.get('n_fte'))} of "
        f"{F.count(r.get('n_samples'))} photos of {r['group']} ({F.pct(v)}"
        f"{', 95% CI ' + F.interval(*ci) if ci else ''}), "
        "the highest failure-to-enrol rate "
        f"of any group. These photos could not be compared at all.",
        v, ci, thin, note,
    )]


def _identification(ident: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for k, item in enumerate(ident.get("plain_findings") or []):
        item = item if isinstance(item, Mapping) else {"text": str(item)}
        out.append(_finding(f"identification:{k}", "identification", None,
                            str(item.get("text", "")), thin=bool(item.get("thin")),
                            note=str(item.get("note") or "")))
    return out


def identification_findings(rates: Any, n_gallery: int) -> list[dict[str, Any]]:
    """The 1:N sentences: overall FPIR and FNIR, and the group most often put forward wrongly.

    ``rates`` is :func:`faceaudit.identify.rate_table` with a ``group`` column (``"overall"``
    pools every group). A figure resting on fewer than
    :data:`~faceaudit.metrics.MIN_SEARCHES` searches is flagged thin.
    """
    plain: list[dict[str, Any]] = []
    overall = rates[rates["group"] == "overall"]
    if len(overall):
        o = overall.iloc[0]
        fp_ci = F.interval(o.get("fpir_ci_low"), o.get("fpir_ci_high"))
        fn_ci = F.interval(o.get("fnir_ci_low"), o.get("fnir_ci_high"))
        n_small = min(int(o.get("n_nonmated") or 0), int(o.get("n_mated") or 0))
        reason = searches_thin_reason(n_small)
        plain.append({
            "text": (
                f"One-to-many search against a gallery of {n_gallery:,} people at the same "
                f"threshold: {F.pct(o.get('fpir'))} of searches for people not in the gallery "
                f"returned someone anyway (FPIR, 95% CI {fp_ci}), and {F.pct(o.get('fnir'))} "
                f"of searches for enrolled people missed them (FNIR, 95% CI {fn_ci})."
            ),
            "thin": bool(reason),
            "note": reason.replace(" searches (", " searches of one kind (") + "." if reason
            else "",
        })
    missing = rates["group"].map(lambda g: is_missing_label(str(g))).astype(bool)
    # 'unknown' label groups are missing data, not demographic groups: never ranked in a finding
    groups = rates[(rates["group"] != "overall") & rates["fpir"].notna() & ~missing]
    if len(groups) > 1:
        # rank among groups with enough searches; fall back to all (then flagged thin)
        solid = groups[groups["n_nonmated"].fillna(0) >= MIN_SEARCHES]
        top = (solid if len(solid) else groups).sort_values("fpir", ascending=False).iloc[0]
        among = (
            f" (among the groups with at least {MIN_SEARCHES} such searches)"
            if len(solid) and len(solid) < len(groups)
            else ""
        )
        n_top = int(top.get("n_nonmated") or 0)
        ci = F.interval(top.get("fpir_ci_low"), top.get("fpir_ci_high"))
        reason = searches_thin_reason(n_top)
        plain.append({
            "text": (
                f"Searches of {top['group']} returned a wrong person most often{among}: FPIR "
                f"{F.pct(top['fpir'])} (95% CI {ci}, {F.count(top.get('false_positives'))} of "
                f"{F.count(n_top)} searches)."
            ),
            "thin": bool(reason),
            "note": f"{reason}: too few to rank groups." if reason else "",
        })
    return plain
