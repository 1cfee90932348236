"""Plain-language findings from a results mapping: a sentence, its number, its interval, its caveat.

Findings are written for a non-specialist: each says who is affected, how much more often,
with its interval at the audit's confidence level (printed, e.g. "95% interval"), and the
counts it rests on; a count that is only a bound reads "at most". A ratio whose interval has
no upper limit says so ("≥ 4.3×"), a group without errors is given its one-sided upper
bound, and groups are called highest or lowest only when their intervals separate (the rule
of :func:`faceaudit.metrics.rank_groups`, read from ``verification.inference``). A finding
whose group (or the reference group) is too thin to support it carries ``thin = True`` and
says so in its ``note``; a finding without an interval says so too. Nothing here computes a
rate: the numbers are read from ``verification.groups`` and ``verification.inference`` (see
:mod:`faceaudit.report._schema` and :mod:`faceaudit.report._inference`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .. import _format as F
from .._manifest import is_missing_label
from ..metrics import (
    CONFIDENCE,
    MIN_SEARCHES,
    UNBOUNDED_REASONS,
    searches_thin_reason,
    shown_interval,
)

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


def level_text(ver: Mapping[str, Any]) -> str:
    """The confidence level of the audit's intervals, as printed: "95%", "90%", "99%"."""
    conf = (ver.get("inference") or {}).get("confidence", ver.get("confidence"))
    return F.level(conf if conf is not None else CONFIDENCE)


def threshold_phrase(ver: Mapping[str, Any]) -> str:
    """How the threshold was chosen, in words: which impostor pairs set it."""
    ref = ver.get("reference_group")
    target = ver.get("target_fmr")
    if ver.get("threshold_rule") == "target_fmr" and target is not None:
        rate = F.one_in(target).replace("1 in", "one false match in")
        if ref:
            who = (f"among {ref}'s same-group impostor pairs (two different people, both "
                   f"{ref})")
        else:
            who = ("among the same-group impostor pairs of every group pooled (two different "
                   "people from the same group)")
        return f"At the threshold that gives at most {rate} {who}"
    return f"At the fixed threshold {F.score(ver.get('threshold'))}"


_NAME = {"fmr": "false match rate", "fnmr": "false non-match rate"}
_ERR = {"fmr": ("false_matches", "n_nonmated"), "fnmr": ("false_non_matches", "n_mated")}
_NOUN = {"fmr": "false matches", "fnmr": "false non-matches"}


def _exact_count(row: Mapping[str, Any], key: str) -> bool:
    """False when the row's error count for ``key`` is only a bound."""
    flag = row.get(f"{key}_count_exact")
    if flag is None and key == "fmr":
        flag = row.get("fmr_exact")
    return flag is not False


def _counts(row: Mapping[str, Any], key: str) -> str:
    """``"32 false matches in 10,000 comparisons"``; a bound reads ``"at most 70,168 (at least
    69,700) false matches in ..."``: a bound is never stated as exact."""
    err, tot = _ERR[key]
    k = row.get(err)
    noun = _plural(_NOUN[key], k)
    if _exact_count(row, key):
        return f"{F.count(k)} {noun} in {F.count(row.get(tot))} comparisons"
    lo = row.get(f"{key}_errors_low")
    least = f" (at least {F.count(lo)})" if lo is not None else ""
    return f"at most {F.count(k)}{least} {_NOUN[key]} in {F.count(row.get(tot))} comparisons"


def _shown(row: Mapping[str, Any], key: str) -> tuple[float, float]:
    return shown_interval(row, key)


def _rate_phrase(row: Mapping[str, Any], key: str, lvl: str) -> str:
    """``"0.32%, or 1 in 310 (95% interval 0.2%–0.5%)"``; 0 errors: ``"0% (at most 1.5%, the
    95% upper bound)"``; a bound: ``"at most 0.32% ..."``."""
    v = _f(row.get(key))
    lo, hi = _shown(row, key)
    prefix = "" if _exact_count(row, key) else "at most "
    if v == 0 or row.get(f"{key}_one_sided"):
        return (f"0% (at most {F.pct(hi)}, the {lvl} upper bound)" if math.isfinite(hi)
                else "0%")
    iv = F.interval(lo, hi)
    return f"{prefix}{F.rate(v)}" + (f" ({lvl} interval {iv})" if iv else "")


def _ratio_ci(row: Mapping[str, Any], name: str) -> tuple[list[float | None] | None, str]:
    """``([low, high], text)`` of ratio ``name`` (``fmr_ratio_to_reference`` ...): the
    interval the audit computed (may be unbounded: ``high`` None), else the bootstrap one."""
    lo = _f(row.get(f"{name}_low"))
    if math.isfinite(lo):
        unb = bool(row.get(f"{name}_unbounded"))
        hi = _f(row.get(f"{name}_high"))
        return ([lo, None if unb else hi],
                F.ratio_interval_text(lo, math.inf if unb else hi))
    ci = _ci(row, name, "boot")
    if ci is None:
        return None, ""
    return [ci[0], ci[1]], F.ratio_interval_text(ci[0], ci[1])


def _used_note(ranking: Mapping[str, Any]) -> str:
    """Which groups a comparison used and which it left out (and why)."""
    used = ", ".join(map(str, ranking.get("used") or [])) or "none"
    out = "; ".join(f"{lab} ({why})" for lab, why in ranking.get("excluded") or [])
    return f"Groups compared: {used}." + (f" Left out: {out}." if out else "")


def _spread(ver: Mapping[str, Any], rows: list[Mapping[str, Any]], key: str,
            lead: str) -> list[dict[str, Any]]:
    """Without a reference group: the worst-to-best ratio with its interval, and the highest
    and lowest groups only when their intervals separate (:func:`metrics.rank_groups`)."""
    ranking = ((ver.get("inference") or {}).get("rankings") or {}).get(key)
    name, noun = _NAME[key], _NOUN[key]
    lvl = level_text(ver)
    if ranking is None:
        return []
    kind = ranking.get("kind")
    by = {r.get("group"): r for r in rows}
    used = [by[g] for g in ranking.get("used") or [] if g in by]
    note = _used_note(ranking)
    wtb = ranking.get("worst_to_best") or {}
    w_lo, w_hi = _f(wtb.get("low")), _f(wtb.get("high"))
    w_unb = bool(wtb.get("unbounded"))
    w_txt = F.ratio_interval_text(w_lo, math.inf if w_unb else w_hi)
    w_val = _f(wtb.get("value"))
    ratio = (f"The highest rate is {F.times(w_val)} the lowest ({lvl} interval {w_txt})"
             if math.isfinite(w_val) else
             f"The lowest rate is 0, so the highest is no finite multiple of it; the ratio is "
             f"{w_txt} ({lvl} interval)")
    if w_unb and wtb.get("reason"):
        note += " No upper limit on the ratio: " + str(
            UNBOUNDED_REASONS.get(str(wtb["reason"]), wtb["reason"])) + "."
    ci = None if not math.isfinite(w_lo) else [w_lo, None if w_unb else w_hi]
    value = w_val if math.isfinite(w_val) else None
    if kind in ("no_groups", "one_group"):
        text = (f"{lead}, fewer than two groups have enough data to compare their {name}s, "
                "so no difference between groups is claimed.")
        return [_finding(f"{key}_spread", f"{key}_spread", None, text, note=note)]
    if kind == "no_errors":
        tot = sum(int(_f(r.get(_ERR[key][1])) or 0) for r in used)
        text = (f"{lead}, none of the {len(used)} groups compared had any {noun} "
                f"({F.count(tot)} comparisons in all), so this audit makes no claim about "
                f"differences in {name} between them; each group's rate is at most its "
                f"{lvl} upper bound in the table.")
        return [_finding(f"{key}_spread", f"{key}_spread", None, text, 0.0, note=note)]
    if kind == "tied":
        text = (f"{lead}, the {len(used)} groups compared have the same {name}, "
                f"{F.rate(used[0].get(key)) if used else '–'}.")
        return [_finding(f"{key}_spread", f"{key}_spread", None, text, 1.0, note=note)]
    vals = [_f(r.get(key)) for r in used]
    if kind == "overlap":
        text = (f"{lead}, the {name}s of the {len(used)} groups compared range from "
                f"{F.rate(min(vals))} to {F.rate(max(vals))}, but their {lvl} intervals "
                f"overlap: the data do not show which group has the highest or the lowest. "
                f"{ratio}.")
        return [_finding(f"{key}_spread", f"{key}_spread", None, text, value, ci, note=note)]
    hi = [by[g] for g in ranking.get("highest") or []]
    lo = [by[g] for g in ranking.get("lowest") or []]
    h, lw = hi[0], lo[0]
    thin, tnote = _thin_note(h, lw, key)
    text = (f"{lead}, {' and '.join(str(r['group']) for r in hi)} "
            f"{'has' if len(hi) == 1 else 'have'} the highest {name}: {_counts(h, key)}, "
            f"{_rate_phrase(h, key, lvl)}; the lowest is "
            f"{' and '.join(str(r['group']) for r in lo)}'s, {_rate_phrase(lw, key, lvl)}. "
            f"Their {lvl} intervals do not overlap. {ratio}.")
    return [_finding(f"{key}_spread", f"{key}_spread", h["group"], text, value, ci, thin,
                     (tnote + " " + note).strip())]


def make_findings(results: Mapping[str, Any], *, top: int = 3) -> list[dict[str, Any]]:
    """The findings of an audit, most important first.

    Returns a list of ``{"id", "kind", "group", "text", "value", "ci", "thin", "note"}``:
    an overview, the ``top`` largest false-match and false-non-match disparities relative to
    the reference group (ratios above 1 only, each with its interval at the audit's level,
    which may be unbounded; groups with a missing label, ``unknown``, are missing data rather
    than a demographic group and are left out) or, without a reference group, the
    worst-to-best ratio with its interval (highest and lowest named only when their intervals
    separate), the largest failure-to-enrol rate, and the 1:N headline when identification
    was run. A count that is only a bound is written "at most".
    """
    ver = results.get("verification") or {}
    rows = list(ver.get("groups") or [])
    lead = threshold_phrase(ver)
    out = [_overview(ver, rows, results.get("dataset") or {}, lead)]
    for key, verb in (
        ("fmr", "falsely matched with another person of their group"),
        ("fnmr", "wrongly told they are not themselves"),
    ):
        out.extend(_disparities(ver, rows, key, verb, lead, top))
    out.extend(_fte(rows, level_text(ver)))
    out.extend(_identification(results.get("identification") or {}))
    return out


def _finding(id_: str, kind: str, group: str | None, text: str, value: float | None = None,
             ci: list[float | None] | None = None, thin: bool = False,
             note: str = "") -> dict[str, Any]:
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
    inexact = [str(r.get("group")) for r in rows
               if not (_exact_count(r, "fmr") and _exact_count(r, "fnmr"))]
    caveat = (f" The error counts of {', '.join(inexact)} are only known within a range (the "
              "threshold falls inside a histogram bin); they are given as \"at most\"."
              if inexact else "")
    return _finding(
        "overview", "overview", None,
        f"The audit compared {F.count(n_mated)} pairs of photos of the same person and "
        f"{F.count(n_non)} pairs of photos of different people within the same group, "
        f"from {F.count(ds.get('n_subjects'))} people in {len(rows)} group{_s(len(rows))}. "
        f"{lead}{thr_note}, "
        f"the groups' error rates follow, each with its {level_text(ver)} interval.{caveat}",
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


def _ratio_finding(ver: Mapping[str, Any], r: Mapping[str, Any], ref: Mapping[str, Any],
                   key: str, verb: str, ratio: float, first: str, who: str) -> dict[str, Any]:
    """One group's ratio to the reference, with its interval (which may be unbounded)."""
    lvl = level_text(ver)
    ref_label = ref.get("group")
    name = f"{key}_ratio_to_reference"
    ci, ci_txt = _ratio_ci(r, name)
    thin, note = _thin_note(r, ref, key)
    notes = [note] if note else []
    if ci is None and not math.isinf(ratio):
        notes.append("No interval: run the audit with n_boot > 0.")
    elif ci is not None and ci[0] is not None and ci[0] <= 1:
        notes.append("The interval includes 1: the data are also consistent with no difference.")
    if ci is not None and ci[1] is None:
        why = r.get(f"{name}_reason") or "the reference group's rate may be 0"
        notes.append(f"No upper limit: {why}.")
    if math.isinf(ratio):
        head = (f"{first}{who} has {_NOUN[key]} while {ref_label} has none at all, so no "
                "ratio can be given" + (f" ({lvl} interval {ci_txt})" if ci_txt else ""))
    else:
        head = (f"{first}{who} is {verb} {F.times(ratio).rstrip('×')} times as often as "
                f"{ref_label}" + (f" ({lvl} interval {ci_txt})" if ci_txt else ""))
    text = (f"{head}: {_counts(r, key)}, {_rate_phrase(r, key, lvl)}; against "
            f"{_rate_phrase(ref, key, lvl)} for {ref_label}.")
    return _finding(f"{key}_ratio:{r['group']}", f"{key}_ratio", r["group"], text,
                    ratio if math.isfinite(ratio) else None, ci, thin, " ".join(notes).strip())


def _disparities(ver: Mapping[str, Any], rows: list[Mapping[str, Any]], key: str, verb: str,
                 lead: str, top: int) -> list[dict[str, Any]]:
    ref_label = ver.get("reference_group")
    ref = next((r for r in rows if r.get("group") == ref_label), None)
    if ref is None:
        return _spread(ver, rows, key, lead)
    cands = _ratio_candidates(rows, ref, key)
    if not cands:
        return [_finding(
            f"{key}_none", f"{key}_ratio", None,
            f"{lead}, no group is {verb} more often than {ref_label} (by the point estimates).",
            thin=_thin_note(ref, None, key)[0],
        )]
    out = []
    for rank, (ratio, r) in enumerate(cands[:top]):
        first = f"{lead}, " if rank == 0 else ""
        who = r["group"] if rank == 0 else f"Likewise, {r['group']}"
        out.append(_ratio_finding(ver, r, ref, key, verb, ratio, first, who))
    return out


def _fte(rows: list[Mapping[str, Any]], lvl: str) -> list[dict[str, Any]]:
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
        f"{f', {lvl} interval ' + F.interval(*ci) if ci else ''}), "
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


def _search_interval(row: Mapping[str, Any], key: str) -> tuple[float, float, str]:
    """A 1:N rate's interval: the hull of Clopper–Pearson and the bootstrap over probe people
    (searches by one person are correlated), and its text (one-sided at 0 errors)."""
    los = [_f(row.get(f"{key}_{k}_low")) for k in ("ci", "boot")]
    his = [_f(row.get(f"{key}_{k}_high")) for k in ("ci", "boot")]
    los = [x for x in los if math.isfinite(x)]
    his = [x for x in his if math.isfinite(x)]
    if not los or not his:
        return math.nan, math.nan, ""
    lo, hi = min(los), max(his)
    zero = _f(row.get(key)) == 0
    return lo, hi, F.rate_interval_text(lo, hi, one_sided=zero)


def identification_findings(rates: Any, n_gallery: int,
                            confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """The 1:N sentences: overall FPIR and FNIR, and which probe group is put forward wrongly
    most often — only when more than one group has at least
    :data:`~faceaudit.metrics.MIN_SEARCHES` non-mated searches and the top group's interval
    lies above every other such group's; otherwise the sentence says the intervals overlap.

    ``rates`` is :func:`faceaudit.identify.rate_table` with a ``group`` column (``"overall"``
    pools every group). Intervals are the hull of Clopper–Pearson and the bootstrap over probe
    people, at ``confidence``.
    """
    lvl = F.level(confidence)
    plain: list[dict[str, Any]] = []
    overall = rates[rates["group"] == "overall"]
    if len(overall):
        o = overall.iloc[0]
        fp_ci = _search_interval(o, "fpir")[2]
        fn_ci = _search_interval(o, "fnir")[2]
        n_small = min(int(o.get("n_nonmated") or 0), int(o.get("n_mated") or 0))
        reason = searches_thin_reason(n_small)
        plain.append({
            "text": (
                f"One-to-many search against a gallery of {n_gallery:,} people at the same "
                f"threshold: {F.pct(o.get('fpir'))} of searches for people not in the gallery "
                f"returned someone anyway (FPIR, {lvl} interval {fp_ci or '–'}), and "
                f"{F.pct(o.get('fnir'))} of searches for enrolled people missed them (FNIR, "
                f"{lvl} interval {fn_ci or '–'})."
            ),
            "thin": bool(reason),
            "note": reason.replace(" searches (", " searches of one kind (") + "." if reason
            else "",
        })
    missing = rates["group"].map(lambda g: is_missing_label(str(g))).astype(bool)
    # 'unknown' label groups are missing data, not demographic groups: never ranked in a finding
    groups = rates[(rates["group"] != "overall") & rates["fpir"].notna() & ~missing]
    solid = groups[groups["n_nonmated"].fillna(0) >= MIN_SEARCHES]
    if len(groups) > 1:
        plain.append(_fpir_ranking(solid, len(groups), lvl))
    return plain


def _fpir_ranking(solid: Any, n_groups: int, lvl: str) -> dict[str, Any]:
    """Which probe group returned a wrong person most often, if the data show one."""
    if len(solid) < 2:
        return {"text": (f"Only {len(solid)} of the {n_groups} probe groups had at least "
                         f"{MIN_SEARCHES} searches of people not in the gallery, so the groups' "
                         "false positive identification rates are not ranked."),
                "thin": True, "note": f"Fewer than {MIN_SEARCHES} searches: too few to rank."}
    recs = [dict(r) for _, r in solid.iterrows()]
    ivs = [_search_interval(r, "fpir") for r in recs]
    order = sorted(range(len(recs)), key=lambda i: -_f(recs[i]["fpir"]))
    top = order[0]
    vals = [_f(r["fpir"]) for r in recs]
    sep = all(ivs[top][0] > ivs[j][1] for j in order[1:]) and vals[top] > max(
        vals[j] for j in order[1:])
    if not sep:
        return {"text": (f"The false positive identification rates of the {len(recs)} probe "
                         f"groups with at least {MIN_SEARCHES} such searches range from "
                         f"{F.pct(min(vals))} to {F.pct(max(vals))}, but their {lvl} intervals "
                         "overlap: the data do not show that searches of any one group return "
                         "a wrong person more often."), "thin": False, "note": ""}
    t = recs[top]
    return {"text": (f"Searches of {t['group']} returned a wrong person most often (among the "
                     f"{len(recs)} groups with at least {MIN_SEARCHES} such searches): FPIR "
                     f"{F.pct(t['fpir'])} ({lvl} interval {ivs[top][2]}, "
                     f"{F.count(t.get('false_positives'))} of {F.count(t.get('n_nonmated'))} "
                     "searches), above every other group's interval."), "thin": False, "note": ""}
