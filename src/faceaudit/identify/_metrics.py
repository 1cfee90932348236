r"""1:N error rates from :class:`~faceaudit.identify.Searches`, overall and per probe group.

Vocabulary (ISO/IEC 19795-1, NIST FRVT Part 2/3). A *mated* search is of a person enrolled in
the gallery; a *non-mated* search is of a person who is not. :math:`N` is the number of
enrolled people, :math:`R` a rank, :math:`T` a threshold; a candidate is returned iff its
score is :math:`\ge T`.

.. math::

    \mathrm{FNIR}(N, R, T) = \frac{\#\{\text{mated searches whose mate is not at rank} \le R
        \text{ with score} \ge T\}}{\#\{\text{mated searches}\}}

    \mathrm{FPIR}(N, T) = \frac{\#\{\text{non-mated searches returning any candidate with
        score} \ge T\}}{\#\{\text{non-mated searches}\}}

    \mathrm{CMC}(R) = \mathrm{IR}(R) = \frac{\#\{\text{mated searches with the mate at rank}
        \le R\}}{\#\{\text{mated searches}\}} = 1 - \mathrm{FNIR}(N, R, -\infty)

Synonyms: FNIR = 1 − DIR (detection-and-identification rate, bob.measure / Li & Jain);
FPIR = false alarm rate; IR(1) = rank-1 recognition rate. Ranks count ties against the mate
(bob.measure's convention). bob.measure's ``detection_identification_rate`` and
``false_alarm_rate`` also accept ``score >= threshold``, but its ``recognition_rate`` with a
threshold keeps only scores ``> threshold``; the two differ only for a score exactly equal to
the threshold, which never happens in bob's fixtures (checked in the tests), so the reference
values agree. Searches whose probe failed to enrol are excluded from these
algorithmic rates and counted (``n_mated_fte``, ``n_nonmated_fte``); ``fnir_with_fte``
counts them as misses (NIST's convention for failures to template):
:math:`(\text{misses} + \text{FTE}) / (\text{mated searches} + \text{FTE})`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._errors import ConfigError, UndefinedMetricWarning, check_range
from ..metrics import CONFIDENCE, N_BOOT, SEED
from ._searches import Searches
from ._stats import OVERALL, Rate, clopper_pearson, rate


def _check_rank(s: Searches, rank: int) -> int:
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ConfigError(f"rank must be a positive integer; got {rank!r}")
    if rank > s.list_length:
        raise ConfigError(f"rank must be <= the candidate list length {s.list_length}; got {rank} "
                          "(search again with a longer list_length)")
    return int(rank)


def miss(s: Searches, threshold: float, rank: int = 1) -> np.ndarray:
    """Per mated search: True unless the mate is at rank ``<= rank`` with score ``>= threshold``."""
    rank = _check_rank(s, rank)
    m = s.mated
    hit = (s.mate_rank[m] >= 1) & (s.mate_rank[m] <= rank) & (s.mate_score[m] >= threshold)
    return ~hit


def false_alarm(s: Searches, threshold: float) -> np.ndarray:
    """Per non-mated search: True when some candidate scores ``>= threshold``."""
    return s.top_nonmate[~s.mated] >= threshold


def fnir(s: Searches, threshold: float, rank: int = 1) -> float:
    """False negative identification rate FNIR(N, R, T) over mated searches (module doc).

    >>> s = Searches.from_score_lists([([0.1, 0.2], [0.9]), ([0.8], [0.3]), ([0.7], None)])
    >>> fnir(s, 0.5)
    0.5
    """
    return rate(miss(s, threshold, rank), what="FNIR").value


def fpir(s: Searches, threshold: float) -> float:
    """False positive identification rate FPIR(N, T) over non-mated searches (module doc).

    >>> s = Searches.from_score_lists([([0.1, 0.2], [0.9]), ([0.8], [0.3]), ([0.7], None)])
    >>> fpir(s, 0.5), fpir(s, 0.71)
    (1.0, 0.0)
    """
    return rate(false_alarm(s, threshold), what="FPIR").value


def cmc(s: Searches, max_rank: int | None = None) -> np.ndarray:
    r"""Cumulative match characteristic :math:`[\mathrm{IR}(1), \dots, \mathrm{IR}(R_{max})]`.

    Over mated searches, no threshold. ``max_rank`` defaults to the candidate list length.
    """
    max_rank = s.list_length if max_rank is None else _check_rank(s, max_rank)
    r = s.mate_rank[s.mated]
    if len(r) == 0:
        warnings.warn("CMC: no mated searches; values are NaN", UndefinedMetricWarning,
                      stacklevel=2)
        return np.full(max_rank, np.nan)
    counts = np.bincount(r[r >= 1], minlength=max_rank + 1)[1:max_rank + 1]
    return np.cumsum(counts) / len(r)


def identification_rate(s: Searches, rank: int = 1) -> float:
    """Rank-``rank`` identification rate IR(R) = CMC(R) (closed set, no threshold)."""
    return float(cmc(s, _check_rank(s, rank))[rank - 1])


def threshold_at_fpir(s: Searches, target: float) -> float:
    """Smallest threshold whose realised FPIR is at most ``target`` (bob's ``far_threshold``).

    Candidates are the distinct top non-mate scores of the non-mated searches and
    ``nextafter(max, +inf)`` (which gives FPIR 0).

    >>> s = Searches.from_score_lists([([0.1], None), ([0.2], None), ([0.3], None), ([0.4], None)])
    >>> threshold_at_fpir(s, 0.5), threshold_at_fpir(s, 0.49)
    (0.3, 0.4)
    """
    check_range("target_fpir", target, low=0.0, high=1.0)
    top = np.sort(s.top_nonmate[~s.mated])
    if len(top) == 0:
        warnings.warn("threshold_at_fpir: no non-mated searches; threshold is NaN",
                      UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    cand = np.unique(top[np.isfinite(top)])
    cand = np.append(cand, np.nextafter(top[-1], np.inf) if np.isfinite(top[-1]) else np.inf)
    n_at_or_above = len(top) - np.searchsorted(top, cand, side="left")
    ok = n_at_or_above <= target * len(top) * (1 + 1e-12)
    return float(cand[np.argmax(ok)])


def _rows(s: Searches) -> list[tuple[str, np.ndarray, int | None]]:
    out: list[tuple[str, np.ndarray, int | None]] = [
        (lab, s.probe_group == g, g) for g, lab in enumerate(s.group_labels)]
    out.append((OVERALL, np.ones(s.n, bool), None))
    return out


def rate_table(
    s: Searches,
    threshold: float,
    rank: int = 1,
    *,
    confidence: float = CONFIDENCE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> pd.DataFrame:
    """FNIR(N, R, T), FPIR(N, T) and IR(R) per probe group and overall (row ``"overall"``).

    Every rate comes with its counts (``false_negatives`` of ``n_mated`` searches for FNIR,
    ``false_positives`` of ``n_nonmated`` searches for FPIR), a Clopper-Pearson
    interval (``*_ci_low/high``) and a cluster-bootstrap interval over probe subjects
    (``*_boot_low/high``; see :mod:`faceaudit.identify._stats`). Groups without searches
    get NaN (with an :class:`~faceaudit.UndefinedMetricWarning`).
    """
    rank = _check_rank(s, rank)
    rng = np.random.default_rng(seed)
    recs = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        for label, sel, g in _rows(s):
            m = sel & s.mated
            nm = sel & ~s.mated
            f_n = rate(miss(s.subset(m), threshold, rank), s.probe_cluster[m],
                       confidence=confidence, n_boot=n_boot, rng=rng, what=f"FNIR[{label}]")
            f_p = rate(false_alarm(s.subset(nm), threshold), s.probe_cluster[nm],
                       confidence=confidence, n_boot=n_boot, rng=rng, what=f"FPIR[{label}]")
            ir = rate(~miss(s.subset(m), -np.inf, rank), s.probe_cluster[m], confidence=confidence,
                      what=f"IR[{label}]")
            fte_m = int(s.fte_mated.sum() if g is None else s.fte_mated[g])
            fte_n = int(s.fte_nonmated.sum() if g is None else s.fte_nonmated[g])
            k_sys, n_sys = f_n.k + fte_m, f_n.n + fte_m
            lo, hi = clopper_pearson(k_sys, n_sys, confidence)
            rec: dict[str, object] = {"group": label}
            rec.update(_flat("fnir", f_n))
            rec.update({"n_mated_fte": fte_m,
                        "fnir_with_fte": k_sys / n_sys if n_sys else float("nan"),
                        "fnir_with_fte_ci_low": lo, "fnir_with_fte_ci_high": hi})
            rec.update(_flat("fpir", f_p))
            rec["n_nonmated_fte"] = fte_n
            rec.update({"ir": ir.value, "ir_ci_low": ir.ci_low, "ir_ci_high": ir.ci_high})
            recs.append(rec)
    for w in caught:
        if not issubclass(w.category, UndefinedMetricWarning):
            warnings.warn(w.message, w.category, stacklevel=2)
    # one warning for every empty denominator (the rows show NaN)
    empty = [f"{name}[{r['group']}]" for r in recs for name in ("FNIR", "FPIR")
             if r[_COUNTS[name.lower()][1]] == 0]
    if empty:
        warnings.warn(f"rate_table: no searches in the denominator of {', '.join(empty)}; "
                      "those rates are NaN", UndefinedMetricWarning, stacklevel=2)
    df = pd.DataFrame(recs).set_index("group")
    df.attrs.update({"threshold": float(threshold), "rank": rank, "confidence": confidence,
                     "n_boot": n_boot, "seed": seed, "gallery_size": s.n_gallery})
    return df


_COUNTS = {"fnir": ("false_negatives", "n_mated"), "fpir": ("false_positives", "n_nonmated")}
"""Error count and denominator of each rate, named as metrics names them (false_matches,
n_nonmated ...): false negatives of mated searches, false positives of non-mated ones."""


def _flat(name: str, r: Rate) -> dict[str, object]:
    errors, total = _COUNTS[name]
    return {total: r.n, errors: r.k, name: r.value, f"{name}_ci_low": r.ci_low,
            f"{name}_ci_high": r.ci_high, f"{name}_boot_low": r.boot_low,
            f"{name}_boot_high": r.boot_high}


@dataclass(frozen=True, eq=False)
class FalseCandidateMix:
    """Who is falsely put forward: the groups of innocent people returned above threshold.

    Counted over the *non-mated* searches' candidate lists (length ``list_length``; with
    ``include_mated``, every search's non-mate candidates): every candidate with score
    ``>= threshold`` is an innocent enrolled person put in front of an investigator.

    Attributes
    ----------
    by_gallery_group : DataFrame
        Indexed by the returned person's group: ``n_false_candidates``, ``share`` (of all
        false candidates) with bootstrap interval, ``gallery_people``, ``gallery_share``,
        ``representation`` = share / gallery_share (> 1: over-represented among false
        candidates), ``per_person_rate`` = false candidates / (searches × people in group)
        with Clopper-Pearson interval.
    cross : DataFrame
        Counts by probe group (rows, "whose search") × returned group (columns).
    n_searches : int
        Searches counted (non-mated, or all with ``include_mated``).
    n_truncated : int
        Searches whose list was full above threshold (more false candidates may exist beyond
        the list; their counts are lower bounds).
    threshold : float
    list_length : int
    """

    by_gallery_group: pd.DataFrame
    cross: pd.DataFrame
    n_searches: int
    n_truncated: int
    threshold: float
    list_length: int

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "list_length": self.list_length,
                "n_searches": self.n_searches, "n_truncated": self.n_truncated,
                "by_gallery_group": self.by_gallery_group.reset_index().to_dict(orient="records"),
                "cross": {str(k): {str(c): int(v) for c, v in row.items()}
                          for k, row in self.cross.iterrows()}}


def false_candidate_mix(
    s: Searches,
    threshold: float,
    *,
    confidence: float = CONFIDENCE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    include_mated: bool = False,
) -> FalseCandidateMix:
    r"""Demographic mix of the false candidates returned by non-mated searches (see class doc).

    With ``include_mated=True`` the non-mate candidates ``>= threshold`` of *mated* searches
    (innocent people listed beside, above or below the right person) are counted too, and
    :math:`S` counts every search.

    .. math::

        \mathrm{share}_h = \frac{F_h}{\sum_{h'} F_{h'}}, \qquad
        \mathrm{representation}_h = \frac{\mathrm{share}_h}{N_h / N}, \qquad
        \mathrm{rate}_h = \frac{F_h}{S \cdot N_h}

    with :math:`F_h` the false candidates of gallery group :math:`h`, :math:`N_h` the gallery
    people of group :math:`h`, :math:`S` the non-mated searches.
    """
    nm = np.ones(s.n, bool) if include_mated else ~s.mated
    sc = s.nonmate_scores[nm]
    pe = s.nonmate_person[nm]
    pg = s.probe_group[nm]
    cl = s.probe_cluster[nm]
    H = s.n_groups
    above = (sc >= threshold) & (pe >= 0)
    hg = np.where(above, s.gallery_person_group[np.maximum(pe, 0)] if s.n_gallery else 0, -1)
    per_search = np.stack([(hg == h).sum(axis=1) for h in range(H)], axis=1) if len(hg) else \
        np.zeros((0, H), np.int64)
    F = per_search.sum(axis=0)
    total = int(F.sum())
    n_people = np.bincount(s.gallery_person_group, minlength=H)
    N = int(n_people.sum())
    S = int(nm.sum())
    boot_lo = np.full(H, np.nan)
    boot_hi = np.full(H, np.nan)
    if n_boot > 0 and S > 0 and total > 0:
        rng = np.random.default_rng(seed)
        _, inv = np.unique(cl, return_inverse=True)
        m = int(inv.max()) + 1
        csum = np.zeros((m, H))
        np.add.at(csum, inv, per_search)
        bs = np.empty((n_boot, H))
        chunk = max(1, 2_000_000 // (m * max(H, 1)))
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            bs[start:start + b] = csum[rng.integers(0, m, size=(b, m))].sum(axis=1)
        tot = bs.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = bs / tot
        a = 1 - confidence
        boot_lo, boot_hi = np.nanquantile(shares, [a / 2, 1 - a / 2], axis=0)
    rows = []
    for h, lab in enumerate(s.group_labels):
        share = F[h] / total if total else float("nan")
        gshare = n_people[h] / N if N else float("nan")
        denom = S * int(n_people[h])
        lo, hi = clopper_pearson(int(F[h]), denom, confidence)
        rows.append({"group": lab, "n_false_candidates": int(F[h]), "share": share,
                     "share_boot_low": float(boot_lo[h]), "share_boot_high": float(boot_hi[h]),
                     "gallery_people": int(n_people[h]), "gallery_share": gshare,
                     "representation": share / gshare if gshare else float("nan"),
                     "per_person_rate": F[h] / denom if denom else float("nan"),
                     "per_person_rate_ci_low": lo, "per_person_rate_ci_high": hi,
                     "n_comparisons": denom})
    by = pd.DataFrame(rows).set_index("group")
    cross = pd.DataFrame(
        np.stack([per_search[pg == g].sum(axis=0) for g in range(H)]) if H else np.zeros((0, 0)),
        index=pd.Index(s.group_labels, name="probe_group"),
        columns=pd.Index(s.group_labels, name="returned_group")).astype(np.int64)
    trunc = int((sc[:, -1] >= threshold).sum()) if sc.shape[1] else 0
    return FalseCandidateMix(by, cross, S, trunc, float(threshold), s.list_length)
