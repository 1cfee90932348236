r"""Operational scale: FPIR at gallery sizes beyond the data, and a deployment what-if.

**Assumption (stated in every output).** The scores of one probe against different enrolled
people are independent, each ``>= T`` with probability :math:`\mathrm{FMR}_g(T)`, the probe
group's impostor false match rate against the gallery population. Then

.. math::

    \mathrm{FPIR}(N, T) \approx 1 - \bigl(1 - \mathrm{FMR}_g(T)\bigr)^N ,

computed stably as ``-expm1(N * log1p(-FMR))``. Its interval maps the Clopper-Pearson
interval of the FMR through this increasing function. The FMR counts *every* comparison of a
non-mated probe with a gallery person (max-score fusion over a person's images), exactly.

Caveats: comparisons that share a probe are not independent (some faces score high against
everyone), so the Clopper-Pearson interval of the pooled FMR is too narrow, and by Jensen's
inequality heterogeneous per-probe FMRs make the formula *overestimate* FPIR
(:math:`E[1-(1-p)^N] \le 1-(1-E[p])^N`). The check against the measured curve
(:func:`check_extrapolation`) reports how far the prediction is off where both exist.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._errors import ConfigError, check_range
from .._templates import Templates
from ..metrics import CONFIDENCE
from ._search import count_at_or_above
from ._searches import Searches
from ._split import GallerySplit
from ._stats import OVERALL, clopper_pearson


def predict_fpir(fmr: float | np.ndarray, gallery_size: float | np.ndarray) -> np.ndarray:
    r"""FPIR predicted from a per-comparison FMR under independence.

    .. math:: \mathrm{FPIR}(N) = 1 - (1 - \mathrm{FMR})^N

    >>> round(float(predict_fpir(1e-6, 1e6)), 6)
    0.632121
    """
    fmr = np.asarray(fmr, dtype=np.float64)
    n = np.asarray(gallery_size, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return -np.expm1(n * np.log1p(-fmr))


@dataclass(frozen=True, eq=False)
class ImpostorRates:
    """Exact impostor counts at one threshold: probe group × gallery group.

    Attributes
    ----------
    k : ndarray of int64, shape (G, G)
        ``k[g, h]``: comparisons of non-mated probes of group ``g`` with gallery people of
        group ``h`` scoring ``>= threshold``.
    n : ndarray of int64, shape (G, G)
        Comparisons made: (non-mated probes of ``g``) × (gallery people of ``h``).
    per_probe_k : ndarray of int64, shape (n_probes,)
        Gallery people ``>= threshold`` for each non-mated probe.
    probe_group : ndarray of int32, shape (n_probes,)
    gallery_people : ndarray of int64, shape (G,)
    group_labels : tuple of str
    threshold : float
    """

    k: np.ndarray
    n: np.ndarray
    per_probe_k: np.ndarray
    probe_group: np.ndarray
    gallery_people: np.ndarray
    group_labels: tuple[str, ...]
    threshold: float

    @property
    def n_gallery(self) -> int:
        return int(self.gallery_people.sum())

    def fmr(self, confidence: float = CONFIDENCE) -> pd.DataFrame:
        """FMR of each probe group (and overall) vs the whole gallery, with counts and CP CI."""
        rows = []
        for g, lab in [*enumerate(self.group_labels), (None, OVERALL)]:
            k = int(self.k.sum() if g is None else self.k[g].sum())
            n = int(self.n.sum() if g is None else self.n[g].sum())
            lo, hi = clopper_pearson(k, n, confidence)
            rows.append({"group": lab, "false_matches": k, "n_nonmated": n,
                         "fmr": k / n if n else float("nan"), "fmr_ci_low": lo, "fmr_ci_high": hi})
        return pd.DataFrame(rows).set_index("group")

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "group_labels": list(self.group_labels),
                "k": self.k.tolist(), "n": self.n.tolist(),
                "gallery_people": self.gallery_people.tolist()}


def impostor_rates(split: GallerySplit, templates: Templates, threshold: float) -> ImpostorRates:
    """Count, exactly, the non-mated comparisons ``>= threshold`` of every probe group vs every
    gallery group (every non-mated probe against every enrolled person)."""
    t = templates.align(split.sample_ids)
    rows = split.rows("nonmated")
    G = split.groups.n_groups
    pg = split.groups.codes[rows].astype(np.int32)
    people = np.bincount(split.gallery_person_group, minlength=G).astype(np.int64)
    if len(rows):
        c = count_at_or_above(t.vectors[split.gallery_rows], t.vectors[rows], threshold,
                              similarity=t.similarity, gallery_labels=split.gallery_person_group,
                              n_labels=G, gallery_person=split.gallery_subject)
    else:
        c = np.zeros((0, G), np.int64)
    k = np.zeros((G, G), np.int64)
    np.add.at(k, pg, c)
    n_probes = np.bincount(pg, minlength=G).astype(np.int64)
    return ImpostorRates(k, np.outer(n_probes, people), c.sum(axis=1), pg, people,
                         split.groups.labels, float(threshold))


def extrapolate_fpir(
    rates: ImpostorRates,
    gallery_sizes: Sequence[float] = (1e5, 1e6, 1e7),
    *,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Predicted FPIR(N, T) per probe group at each gallery size (module docstring).

    Returns a long DataFrame with columns ``group, gallery_size, fmr, false_matches, n_nonmated,
    fmr_ci_low, fmr_ci_high, fpir_pred, fpir_pred_ci_low, fpir_pred_ci_high``.
    The gallery population is assumed to have the measured gallery's demographic mix.
    """
    sizes = [float(x) for x in gallery_sizes]
    for x in sizes:
        check_range("gallery_size", x, low=1)
    f = rates.fmr(confidence)
    recs = []
    for lab, row in f.iterrows():
        for N in sizes:
            recs.append({
                "group": lab, "gallery_size": N, **row.to_dict(),
                "fpir_pred": float(predict_fpir(row["fmr"], N)),
                "fpir_pred_ci_low": float(predict_fpir(row["fmr_ci_low"], N)),
                "fpir_pred_ci_high": float(predict_fpir(row["fmr_ci_high"], N)),
            })
    df = pd.DataFrame(recs)
    df.attrs.update({"threshold": rates.threshold, "confidence": confidence,
                     "assumption": "independent comparisons; gallery mix as measured"})
    return df


def check_extrapolation(rates: ImpostorRates, measured: pd.DataFrame,
                        *, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Compare the prediction with the measured FPIR curve at the measured gallery sizes.

    ``measured`` has columns ``gallery_size, group, fpir, n_nonmated, fpir_ci_low, fpir_ci_high``
    (as :func:`faceaudit.identify.gallery_size_curve` returns). Adds ``fpir_pred`` with its
    interval, ``discrepancy = fpir - fpir_pred``, ``ratio = fpir / fpir_pred``,
    ``within = fpir_pred_ci_low <= fpir <= fpir_pred_ci_high`` and ``consistent`` (the measured
    and predicted intervals overlap: the difference is within the two sampling errors).
    """
    pred = extrapolate_fpir(rates, sorted(set(measured["gallery_size"].astype(float))),
                            confidence=confidence)
    m = measured[["gallery_size", "group", "fpir", "n_nonmated", "fpir_ci_low",
                  "fpir_ci_high"]].copy()
    m["gallery_size"] = m["gallery_size"].astype(float)
    out = m.merge(pred[["gallery_size", "group", "fpir_pred", "fpir_pred_ci_low",
                        "fpir_pred_ci_high"]], on=["gallery_size", "group"], how="left")
    out["discrepancy"] = out["fpir"] - out["fpir_pred"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ratio"] = out["fpir"] / out["fpir_pred"]
    out["within"] = ((out["fpir"] >= out["fpir_pred_ci_low"])
                     & (out["fpir"] <= out["fpir_pred_ci_high"]))
    out["consistent"] = ((out["fpir_ci_low"] <= out["fpir_pred_ci_high"])
                         & (out["fpir_pred_ci_low"] <= out["fpir_ci_high"]))
    return out


def _expected_capped(n: float, p: float, cap: int | None) -> float:
    """E[min(cap, X)] for X ~ Binomial(n, p) (E[X] = n p without a cap)."""
    if not np.isfinite(p):
        return float("nan")
    if cap is None or p == 0:
        return n * p
    j = np.arange(cap)
    return float(stats.binom.sf(j, round(n), p).sum())


@dataclass(frozen=True, eq=False)
class WhatIf:
    """Expected innocent people returned as candidates per year, by group.

    Attributes
    ----------
    whose_search : DataFrame
        By probe group: ``searches``, ``searches_with_false_candidate`` (= searches × FPIR)
        and ``false_candidates`` returned by that group's searches, each with ``_low/_high``.
    put_forward : DataFrame
        By gallery group: ``false_candidates`` (innocent enrolled people of that group put in
        front of an investigator, counted per appearance) with ``_low/_high``.
    text : str
        The result in plain words.
    assumptions : tuple of str
    """

    searches_per_year: float
    gallery_size: float
    threshold: float
    list_length: int | None
    probe_mix: dict[str, float]
    gallery_mix: dict[str, float]
    whose_search: pd.DataFrame
    put_forward: pd.DataFrame
    text: str
    assumptions: tuple[str, ...] = field(default_factory=tuple)
    confidence: float = CONFIDENCE

    def to_dict(self) -> dict:
        return {"searches_per_year": self.searches_per_year, "gallery_size": self.gallery_size,
                "threshold": self.threshold, "list_length": self.list_length,
                "probe_mix": self.probe_mix, "gallery_mix": self.gallery_mix,
                "confidence": self.confidence,
                "whose_search": self.whose_search.reset_index().to_dict(orient="records"),
                "put_forward": self.put_forward.reset_index().to_dict(orient="records"),
                "text": self.text, "assumptions": list(self.assumptions)}


def _mix(name: str, mix: Mapping[str, float] | None, default: np.ndarray,
         labels: tuple[str, ...]) -> np.ndarray:
    if mix is None:
        w = default.astype(np.float64)
    else:
        unknown = set(mix) - set(labels)
        if unknown:
            raise ConfigError(f"{name} groups must be among {list(labels)}; got {sorted(unknown)}")
        w = np.array([float(mix.get(lab, 0.0)) for lab in labels])
        if (w < 0).any() or not np.isfinite(w).all():
            raise ConfigError(f"{name} weights must be finite and >= 0; got {dict(mix)}")
    if w.sum() <= 0:
        raise ConfigError(f"{name} must put weight on at least one group; got {w.tolist()}")
    return w / w.sum()


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 1:
        return f"{x:,.1f}"
    return f"{x:.2g}"


def _whatif_text(S: float, N: float, threshold: float, list_length: int | None,
                 ws_df: pd.DataFrame, fw_df: pd.DataFrame, pi: np.ndarray,
                 labels: tuple[str, ...], confidence: float) -> str:
    """The what-if in plain words (totals, then per group, with intervals)."""
    pct = f"{confidence:.0%}"
    parts = [f"about {_fmt(r['false_candidates'])} ({pct} CI {_fmt(r['false_candidates_ci_low'])}–"
             f"{_fmt(r['false_candidates_ci_high'])}) from group {lab}"
             for lab, r in fw_df.drop(index=OVERALL).iterrows() if pi[labels.index(str(lab))] > 0]
    tot = fw_df.loc[OVERALL]
    cap = (f", candidate lists capped at {list_length}" if list_length
           else ", candidate lists not capped")
    text = (f"At {S:,.0f} searches a year against {N:,.0f} enrolled people (threshold "
            f"{threshold:g}{cap}), about {_fmt(tot['false_candidates'])} ({pct} CI "
            f"{_fmt(tot['false_candidates_ci_low'])}–"
            f"{_fmt(tot['false_candidates_ci_high'])}) innocent "
            f"enrolled people would be put in front of an investigator as false candidates each "
            f"year (a person returned by several searches counted each time): "
            + "; ".join(parts) + ". "
            f"About {_fmt(ws_df.loc[OVERALL, 'searches_with_false_candidate'])} of the searches "
            f"would return at least one false candidate: "
            + "; ".join(f"{_fmt(r['searches_with_false_candidate'])} of the "
                        f"{_fmt(r['searches'])} searches of group {lab}"
                        for lab, r in ws_df.drop(index=OVERALL).iterrows() if r["searches"] > 0)
            + ".")
    return text


def deployment_whatif(
    rates: ImpostorRates,
    *,
    searches_per_year: float,
    gallery_size: float,
    probe_mix: Mapping[str, float] | None = None,
    gallery_mix: Mapping[str, float] | None = None,
    list_length: int | None = None,
    confidence: float = CONFIDENCE,
) -> WhatIf:
    r"""Expected false candidates per year in a deployment, by group, with intervals.

    With :math:`S` searches a year, probe mix :math:`m_g`, gallery of :math:`N` people with
    mix :math:`\pi_h`, and :math:`\mathrm{FMR}_{gh}` the measured rate at which a probe of
    group :math:`g` scores :math:`\ge T` against an enrolled person of group :math:`h`:

    .. math::

        p_g = \sum_h \pi_h \mathrm{FMR}_{gh}, \qquad
        \text{searches with a false candidate}_g = S\, m_g \bigl(1 - (1 - p_g)^N\bigr)

        \text{false candidates put forward}_h = S\, N\, \pi_h \sum_g m_g \mathrm{FMR}_{gh}

    With a candidate-list cap :math:`L` a search returns :math:`E[\min(L, X)]`,
    :math:`X \sim \mathrm{Bin}(N, p_g)`, split over :math:`h` in proportion to
    :math:`\pi_h \mathrm{FMR}_{gh}`. Intervals plug in the Clopper-Pearson bounds of each
    :math:`\mathrm{FMR}_{gh}` (all low / all high; conservative, ignores correlation between
    comparisons that share a probe).

    Assumptions (also returned): every search is of a person *not* in the gallery; comparisons
    are independent; per-group FMRs at scale equal the measured ones; the probe and gallery
    mixes are as given (default: as measured); a person returned twice counts twice.
    """
    check_range("searches_per_year", searches_per_year, low=0)
    check_range("gallery_size", gallery_size, low=1)
    check_range("confidence", confidence, low=0, high=1, low_open=True, high_open=True)
    if list_length is not None:
        check_range("list_length", list_length, low=1)
        list_length = int(list_length)
    labels = rates.group_labels
    G = len(labels)
    m = _mix("probe_mix", probe_mix, np.bincount(rates.probe_group, minlength=G), labels)
    pi = _mix("gallery_mix", gallery_mix, rates.gallery_people, labels)
    no_probes = [labels[g] for g in range(G) if m[g] > 0 and rates.n[g].sum() == 0]
    no_people = [labels[h] for h in range(G) if pi[h] > 0 and rates.n[:, h].sum() == 0]
    if no_probes or no_people:
        raise ConfigError(
            "the what-if mixes must only weight groups that were measured; got weight on "
            f"probe groups without non-mated searches {no_probes} and gallery groups without "
            f"enrolled people {no_people}")
    cp = np.array([[clopper_pearson(int(rates.k[g, h]), int(rates.n[g, h]), confidence)
                    for h in range(G)] for g in range(G)]).reshape(G, G, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = np.where(rates.n > 0, rates.k / np.maximum(rates.n, 1), np.nan)
    S, N = float(searches_per_year), float(gallery_size)
    variants = {"": est, "_ci_low": cp[..., 0], "_ci_high": cp[..., 1]}
    whose: dict[str, list[float]] = {}
    forward: dict[str, np.ndarray] = {}
    for suf, fmr in variants.items():
        used = (pi[None, :] > 0) & (m[:, None] > 0)
        fm = np.where(used, fmr, 0.0)  # groups with weight 0 contribute nothing
        p_g = (fm * pi[None, :]).sum(axis=1)
        ws = S * m * predict_fpir(p_g, N)
        fc_g = np.array([S * m[g] * _expected_capped(N, p_g[g], list_length) for g in range(G)])
        with np.errstate(invalid="ignore", divide="ignore"):
            split_h = np.where(p_g[:, None] > 0, fm * pi[None, :] / p_g[:, None], 0.0)
        fw = (fc_g[:, None] * split_h).sum(axis=0)
        whose[f"searches_with_false_candidate{suf}"] = list(ws)
        whose[f"false_candidates{suf}"] = list(fc_g)
        forward[f"false_candidates{suf}"] = fw
    ws_df = pd.DataFrame({"searches": S * m, **whose}, index=pd.Index(labels, name="probe_group"))
    fw_df = pd.DataFrame(forward, index=pd.Index(labels, name="gallery_group"))
    fw_df.insert(0, "gallery_share", pi)
    ws_df.insert(0, "probe_share", m)
    ws_df.loc[OVERALL] = ws_df.sum(axis=0)
    fw_df.loc[OVERALL] = fw_df.sum(axis=0)
    text = _whatif_text(S, N, rates.threshold, list_length, ws_df, fw_df, pi, labels,
                        confidence)
    assumptions = (
        "every search is of a person who is not in the gallery (all candidates are false)",
        "comparisons are independent; FPIR(N) = 1 - (1 - FMR)^N",
        "per-group FMRs at this scale equal those measured at threshold "
        f"{rates.threshold:g} on {rates.n_gallery} enrolled people",
        "probe and gallery demographic mixes as stated (default: as measured)",
        "a person returned by several searches is counted once per search",
        "intervals combine per-cell Clopper-Pearson bounds and ignore correlation between "
        "comparisons that share a probe",
    )
    return WhatIf(S, N, rates.threshold, list_length,
                  {lab: float(x) for lab, x in zip(labels, m, strict=True)},
                  {lab: float(x) for lab, x in zip(labels, pi, strict=True)},
                  ws_df, fw_df, text, assumptions, confidence)


# ---------------------------------------------------------------------- operating points
TARGET_FPIRS = (0.003, 0.01)
"""FPIR levels at which FRVT 1:N reports FNIR (NIST IR 8271)."""


def needed_fmr(target_fpir: float | np.ndarray, gallery_size: float | np.ndarray) -> np.ndarray:
    r"""Per-comparison FMR that gives ``target_fpir`` at ``gallery_size`` under independence.

    .. math:: \mathrm{FMR}^* = 1 - (1 - \mathrm{FPIR})^{1/N}

    (the inverse of :func:`predict_fpir`).

    >>> float(needed_fmr(0.01, 1e6)) < 1.01e-8
    True
    """
    t = np.asarray(target_fpir, dtype=np.float64)
    n = np.asarray(gallery_size, dtype=np.float64)
    return -np.expm1(np.log1p(-t) / n)


def _nonmated_counts(s: Searches, threshold: float) -> np.ndarray:
    """Gallery people scoring ``>= threshold`` for each non-mated search (from its list)."""
    nm = s.nonmate_scores[~s.mated]
    return (nm >= threshold).sum(axis=1).astype(np.int64)


ASSUMPTIONS = (
    "comparisons of one probe with different gallery people are independent: "
    "FPIR(N) = 1 - (1 - FMR)^N",
    "the gallery at scale has the measured gallery's demographic mix",
    "every search is of someone not in the gallery (every candidate is innocent)",
    "a person returned by several searches is counted once per search",
)
"""What :func:`operating_points` assumes, in words (also in the table's ``attrs``)."""


def _check_operating_args(searches: Searches, list_length: int, per_searches: float,
                          min_errors: int, confidence: float,
                          target_fpir: Sequence[float]) -> None:
    check_range("list_length", list_length, low=1)
    check_range("per_searches", per_searches, low=0, low_open=True)
    check_range("min_errors", min_errors, low=0)
    check_range("confidence", confidence, low=0, high=1, low_open=True, high_open=True)
    for t in target_fpir:
        check_range("target_fpir", t, low=0, high=1, low_open=True, high_open=True)
    if searches.n_gallery == 0:
        raise ConfigError("operating_points needs searches against a gallery (n_gallery > 0); "
                          "searches built from score lists have none")
    if not (~searches.mated).any():
        raise ConfigError("operating_points needs non-mated searches; got none")


def _candidates(scores: np.ndarray, n_gal: int,
                list_length: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Candidate thresholds (every non-mated candidate score and one above the top), the
    number of candidates at or above each, and the floor below which full candidate lists
    hide counts."""
    full = (np.isfinite(scores[:, -1]) & (n_gal > list_length) if list_length
            else np.zeros(len(scores), bool))
    floor = float(scores[full, -1].max()) if full.any() else -np.inf
    cand = np.unique(scores[np.isfinite(scores)])
    top = cand[-1] if len(cand) else 0.0
    cand = np.append(cand, np.nextafter(top, np.inf))
    flat = np.sort(scores[np.isfinite(scores)])
    return cand, len(flat) - np.searchsorted(flat, cand, side="left"), floor


def _not_measurable(f_star: float, min_errors: int, n_cmp: int, thr: float, floor: float,
                    list_length: int) -> str | None:
    """Why the FMR a target needs cannot be measured with this data (None: it can)."""
    if f_star < min_errors / n_cmp:
        return (f"not measurable with this data: the FMR needed ({f_star:.2g}) is below "
                f"{min_errors} false matches in the {n_cmp:,} comparisons measured")
    if not thr > floor:
        return ("not measurable with this data: the threshold falls where candidate "
                f"lists of {list_length} are full; search with a longer list")
    return None


def _group_figures(k: np.ndarray, pidx: np.ndarray, *, n_people: int, n_gal: int, size: float,
                   weights: np.ndarray | None, confidence: float, list_length: int,
                   search_list_length: int, per_searches: float,
                   measured: bool) -> dict[str, Any]:
    """One group's row of :func:`operating_points` at gallery size ``size``: ``k`` false
    matches of each of its non-mated searches at the threshold, ``pidx`` their probe people."""
    from ..metrics import PersonCounts, rate_interval

    e = np.bincount(pidx, k, minlength=n_people).astype(np.int64)
    n = np.bincount(pidx, minlength=n_people).astype(np.int64) * n_gal
    people = PersonCounts.genuine(e, n)
    reps = people.replicates(weights) if weights is not None else None
    r = rate_interval(people.errors, people.trials, confidence=confidence,
                      people=people, replicates=reps)
    cap = list_length
    rec: dict[str, Any] = {
        "fmr": r.value, "fmr_k": r.errors, "fmr_n": r.trials,
        "fmr_low": r.low, "fmr_high": r.high,
        "fpir_pred": float(predict_fpir(r.value, size)),
        "fpir_pred_low": float(predict_fpir(r.low, size)),
        "fpir_pred_high": float(predict_fpir(r.high, size)),
        "innocent": per_searches * _expected_capped(size, r.value, cap),
        "innocent_low": per_searches * _expected_capped(size, r.low, cap),
        "innocent_high": per_searches * _expected_capped(size, r.high, cap),
    }
    if measured:
        hit = k > 0
        lo, hi = clopper_pearson(int(hit.sum()), len(k), confidence)
        rec.update({"fpir_measured": float(hit.mean()), "fpir_measured_low": lo,
                    "fpir_measured_high": hi,
                    "innocent_measured": per_searches * float(
                        np.minimum(k, min(cap, search_list_length)).mean())})
    return rec


def operating_points(
    searches: Searches,
    *,
    gallery_sizes: Sequence[float] = (1e5, 1e6, 1e7),
    target_fpir: Sequence[float] = TARGET_FPIRS,
    list_length: int = 50,
    per_searches: float = 10_000,
    min_errors: int = 3,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    r"""A deployment table: at each gallery size and target FPIR, the threshold an operator
    would set and the innocent people returned per ``per_searches`` searches, per probe group.

    For gallery size :math:`N` (the measured gallery is always included) and target
    :math:`\tau`:

    1. the per-comparison FMR the target needs, :math:`f^* = 1 - (1-\tau)^{1/N}`
       (:func:`needed_fmr`, independence as in :func:`predict_fpir`);
    2. **measurable?** The data hold :math:`n = ` non-mated searches × measured gallery people
       comparisons. If :math:`f^* < m/n` (``min_errors`` :math:`m = 3`: fewer than three
       false matches expected at that FMR, the rule of three's resolution) the FMR cannot be
       told apart from 0 and the row says ``"not measurable with this data"`` instead of
       extrapolating. It is also not measurable when the threshold would fall where some
       search's candidate list (``searches.list_length``) is full, so its count is unknown;
    3. the threshold :math:`T`: the smallest candidate score whose pooled FMR (every
       non-mated search against every gallery person) is at most :math:`f^*`;
    4. per probe group :math:`g`: :math:`\mathrm{FMR}_g(T)` with its
       :func:`~faceaudit.metrics.rate_interval` (exact, design-effect over probe people, and
       the bootstrap over probe people); the predicted FPIR :math:`1-(1-\mathrm{FMR}_g)^N`;
       and the expected innocent people returned per ``per_searches`` searches with a
       candidate list of ``list_length``:
       :math:`\text{per\_searches} \cdot E[\min(L, X)],\ X \sim \mathrm{Bin}(N,
       \mathrm{FMR}_g)`. Intervals map the FMR interval through these increasing functions.
    5. at the measured gallery size the measured FPIR at :math:`T` (share of the group's
       non-mated searches returning anyone :math:`\ge T`, Clopper–Pearson) and the
       measured innocent people per ``per_searches`` searches are added: the check of the
       prediction where both exist.

    Assumptions: :data:`ASSUMPTIONS`.

    Returns
    -------
    DataFrame
        One row per ``gallery_size × target_fpir × group`` (groups and ``"overall"``):
        ``gallery_size, measured, target_fpir, fmr_needed, n_comparisons, measurable,
        reason, threshold, group, fmr, fmr_k, fmr_n, fmr_low, fmr_high, fpir_pred,
        fpir_pred_low, fpir_pred_high, innocent, innocent_low, innocent_high``, and at the
        measured size ``fpir_measured, fpir_measured_low, fpir_measured_high,
        innocent_measured``. ``attrs`` hold the parameters and the assumptions.
    """
    from ..metrics import draw_weights

    _check_operating_args(searches, list_length, per_searches, min_errors, confidence,
                          target_fpir)
    n_gal = searches.n_gallery
    nm = ~searches.mated
    sizes = sorted({float(n_gal)} | {float(x) for x in gallery_sizes})
    for x in sizes:
        check_range("gallery_size", x, low=1)
    L_s = searches.list_length
    cand, counts, floor = _candidates(searches.nonmate_scores[nm], n_gal, L_s)
    n_cmp = int(nm.sum()) * n_gal
    groups = searches.probe_group[nm]
    person = searches.probe_cluster[nm]
    labels = searches.group_labels
    _, pidx = np.unique(person, return_inverse=True)
    n_people = int(pidx.max()) + 1
    weights = draw_weights([n_people], n_boot, seed)[0] if n_boot else None
    rows = []
    for N in sizes:
        measured = N == n_gal
        for tau in target_fpir:
            f_star = float(needed_fmr(tau, N))
            base = {"gallery_size": N, "measured": measured, "target_fpir": float(tau),
                    "fmr_needed": f_star, "n_comparisons": n_cmp}
            ok = counts <= f_star * n_cmp * (1 + 1e-12)
            thr = float(cand[np.argmax(ok)]) if ok.any() else math.nan
            reason = _not_measurable(f_star, min_errors, n_cmp, thr, floor, L_s)
            k_p = _nonmated_counts(searches, thr) if reason is None else None
            for g, lab in [*enumerate(labels), (None, OVERALL)]:
                rec: dict[str, Any] = {**base, "measurable": reason is None, "reason": reason,
                                       "threshold": thr if reason is None else math.nan,
                                       "group": lab}
                sel = np.ones(len(groups), bool) if g is None else groups == g
                if k_p is not None and sel.any():
                    rec.update(_group_figures(
                        k_p[sel], pidx[sel], n_people=n_people, n_gal=n_gal, size=N,
                        weights=weights, confidence=confidence, list_length=int(list_length),
                        search_list_length=L_s, per_searches=per_searches, measured=measured))
                rows.append(rec)
    df = pd.DataFrame(rows)
    df.attrs.update({
        "confidence": confidence, "list_length": int(list_length), "per_searches": per_searches,
        "min_errors": min_errors, "n_boot": n_boot, "seed": seed,
        "measured_gallery_size": n_gal, "search_list_length": L_s,
        "assumptions": ASSUMPTIONS})
    return df
