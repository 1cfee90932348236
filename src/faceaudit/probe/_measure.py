r"""Per-group error rates of degraded probes against clean references, at a fixed threshold.

**Probes.** A seeded subset of whole people, up to ``people`` per group
(:func:`probe_people`; people with 2 to :data:`MAX_PHOTOS` photos first, so that FNMR has
mated pairs and no one person dominates them); every photo of a probe person is a probe.

**Comparisons.** Each unordered pair of samples :math:`\{i, j\}` of the clean audit is made
at most once, with one side as the degraded probe and the other as the clean reference:

- if only one of them is a probe, that one is degraded;
- if both are, the pair is oriented by a seeded tournament: :math:`i` is the probe iff
  :math:`(r_i - r_j) \bmod 1 < 1/2`, with :math:`r` a uniform number per sample from
  ``sha256("<seed>:probe-orientation:<sample id>")``, so every probe photo is degraded in about
  half of its pairs with other probes, independently of its content.

Hence at the ``none`` level (no degradation) the counts are exactly the clean audit's counts
of the pairs touching a probe (all of them when every person is a probe).

**Measures** per probe group and level, at the clean audit's threshold :math:`\tau`
(accepted iff ``score >= τ``, scores by the one definition, :mod:`faceaudit._similarity`):

- FTA = probes not acquired at the level (any failure: no face, too small, ...; and probes
  that failed on the clean photo) / probes;
- FNMR = mated pairs with score :math:`< \tau` / mated pairs (probe acquired, reference
  enrolled);
- FMR (same group) = non-mated pairs with the reference in the probe's group and score
  :math:`\ge \tau` / such pairs; FMR (cross group) likewise with the reference in another group.

FMR and FNMR are algorithm-level: a probe lost at a level leaves its pairs out of them and is
counted in FTA (system level: FRR = FTA + FNMR·(1−FTA)).

**Intervals**: :func:`faceaudit.metrics.rate_interval` with the counts broken down by probe
person (:meth:`~faceaudit.metrics.PersonCounts.genuine`: the design effect and the people
bootstrap, :func:`~faceaudit.metrics.draw_weights`) — the same rule as the clean audit's.
Impostor comparisons are clustered by the probe person only (the reference side's clustering
is not modelled). Thin rules are :mod:`faceaudit.metrics`' (:func:`thin_reasons`,
:func:`fmr_thin_reason`).
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._errors import UndefinedMetricWarning
from .._manifest import GroupAssignment, Manifest
from .._similarity import exact_block_scores, prepare
from ..metrics import PersonCounts, draw_weights, fmr_thin_reason, rate_interval, thin_reasons
from ._degraded import DegradedSet
from ._identify import identification_rows

RATES = ("fta", "fnmr", "fmr", "fmr_cross", "fnir", "fpir")
"""The measures of the rows: failure to acquire, FNMR, same-group FMR, cross-group FMR, and
(when the 1:N split exists) FNIR and FPIR against the clean gallery."""

_CHUNK = 256


MAX_PHOTOS = 10
"""Probe people are drawn first among people with 2 to this many photos (:func:`probe_people`)."""


def probe_people(manifest: Manifest, n_people: int, seed: int,
                 groups: GroupAssignment | None = None, *,
                 max_photos: int = MAX_PHOTOS) -> np.ndarray:
    """Mask of the probe samples: every photo of up to ``n_people`` people **per group**
    (0: everyone), in a seeded order within three tiers: people with 2 to ``max_photos``
    photos, then people with one photo, then people with more than ``max_photos``.

    A person's group is the most frequent group among their photos (ties: the first group), as
    in the 1:N split; stratifying keeps small groups in the probe set (a uniform draw of people
    would leave them with a handful of probes). People with many photos come last because a
    person's mated pairs grow with the square of their photos: one person with 100 photos
    would make up most of a group's FNMR comparisons, and the interval over people would say,
    rightly, that the group's rate rests on about one person.
    """
    codes = manifest.subject_codes
    if n_people <= 0:
        return np.ones(len(manifest), bool)
    n_subj = manifest.n_subjects
    counts = np.bincount(codes, minlength=n_subj)
    g = groups.codes if groups is not None else np.zeros(len(manifest), np.int64)
    per = np.zeros((n_subj, int(g.max(initial=0)) + 1), np.int64)
    np.add.at(per, (codes, g), 1)
    person_group = per.argmax(axis=1)
    keys = [hashlib.sha256(f"{seed}:probe-people:{s}".encode()).hexdigest()
            for s in manifest.subject_ids]
    tier = np.where(counts > max_photos, 2, np.where(counts < 2, 1, 0))
    keep = np.zeros(n_subj, bool)
    for k in np.unique(person_group):
        members = np.flatnonzero(person_group == k)
        order = sorted(members, key=lambda i: (tier[i], keys[i]))
        keep[order[:n_people]] = True
    return keep[codes]


def orientation_keys(sample_ids: Sequence[str], seed: int) -> np.ndarray:
    """The tournament's uniform number per sample (see the module docstring)."""
    out = np.empty(len(sample_ids), np.float64)
    for i, s in enumerate(sample_ids):
        h = hashlib.sha256(f"{seed}:probe-orientation:{s}".encode()).digest()
        out[i] = (int.from_bytes(h[:8], "little") >> 11) / 2.0**53
    return out


@dataclass(frozen=True)
class _Counts:
    """Per probe sample counts at one level (arrays aligned with the probe samples)."""

    gen_n: np.ndarray
    gen_e: np.ndarray
    same_n: np.ndarray
    same_e: np.ndarray
    cross_n: np.ndarray
    cross_e: np.ndarray


def count_comparisons(probe_idx: np.ndarray, probe_vectors: np.ndarray, probe_ok: np.ndarray,
                      clean_vectors: np.ndarray, clean_ok: np.ndarray, subjects: np.ndarray,
                      groups: np.ndarray, is_probe: np.ndarray, keys: np.ndarray,
                      similarity: str, threshold: float) -> _Counts:
    """Comparisons and errors of each probe sample (degraded) against the clean references."""
    n_p = len(probe_idx)
    z = [np.zeros(n_p, np.int64) for _ in range(6)]
    ref = np.flatnonzero(clean_ok)
    if ref.size == 0:
        return _Counts(*z)
    b, sq_b = prepare(clean_vectors[ref], similarity)
    acq = np.flatnonzero(probe_ok)
    for start in range(0, acq.size, _CHUNK):
        rows = acq[start:start + _CHUNK]
        a, sq_a = prepare(probe_vectors[rows], similarity)
        s = exact_block_scores(a, b, similarity, sq_a, sq_b)
        pi = probe_idx[rows]
        valid = pi[:, None] != ref[None, :]
        both = is_probe[ref][None, :]
        wins = np.mod(keys[pi][:, None] - keys[ref][None, :], 1.0) < 0.5
        valid &= ~both | wins
        mated = subjects[pi][:, None] == subjects[ref][None, :]
        same = groups[pi][:, None] == groups[ref][None, :]
        acc = s >= threshold
        for k, (mask, err) in enumerate((
                (valid & mated, ~acc), (valid & ~mated & same, acc),
                (valid & ~mated & ~same, acc))):
            z[2 * k][rows] = mask.sum(axis=1)
            z[2 * k + 1][rows] = (mask & err).sum(axis=1)
    return _Counts(*z)


@dataclass(frozen=True)
class ProbeAudit:
    """The probe-quality stress audit: one row per (level, group) in :attr:`rows`.

    Columns of ``rows``: ``condition``, ``kind``, ``level``, ``group``, ``n_people``,
    ``n_probes``; for each rate ``r`` in :data:`RATES`: ``r`` (value), ``r_low``, ``r_high``
    (the interval shown), ``r_errors``, ``r_trials``, ``r_thin`` (bool) and ``r_thin_reason``
    (``fnir``/``fpir`` and ``n_searches_lost`` only with a 1:N split). Each level also has a
    pooled row ``group == "overall"``.
    """

    rows: pd.DataFrame
    threshold: float
    conditions: tuple[dict[str, Any], ...]
    n_probe_people: int
    n_probe_samples: int
    reference_group: str | None = None
    confidence: float = 0.95
    notes: tuple[str, ...] = field(default_factory=tuple)


def _person_sums(person: np.ndarray, n_people: int, *vals: np.ndarray) -> list[np.ndarray]:
    return [np.bincount(person, weights=v, minlength=n_people).astype(np.int64) for v in vals]


def _interval(errors: np.ndarray, trials: np.ndarray, weights: np.ndarray | None,
              confidence: float) -> tuple[float, float, float, int, int]:
    k, n = int(errors.sum()), int(trials.sum())
    if n == 0:
        return math.nan, math.nan, math.nan, k, n
    people = PersonCounts.genuine(errors, trials)
    reps = people.replicates(weights) if weights is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        r = rate_interval(k, n, confidence=confidence, people=people, replicates=reps)
    return r.value, r.low, r.high, k, n


def group_rows(cond: DegradedSet, counts: _Counts, person: np.ndarray, group_of_probe: np.ndarray,
               labels: Sequence[str], *, n_boot: int, seed: int, confidence: float,
               target_fmr: float | None) -> list[dict[str, Any]]:
    """The rows of one level: each group, then ``overall``."""
    out = []
    failed = (~cond.ok).astype(np.int64)
    ones = np.ones(len(failed), np.int64)
    for g, label in [*enumerate(labels), (-1, "overall")]:
        sel = np.ones(len(failed), bool) if g < 0 else group_of_probe == g
        if not sel.any():
            continue
        pcodes, pp = np.unique(person[sel], return_inverse=True)
        n_people = len(pcodes)
        w = draw_weights([n_people], n_boot, seed)[0] if n_boot else None
        row: dict[str, Any] = {
            "condition": cond.condition.condition_id, "kind": cond.condition.kind,
            "level": None if math.isnan(cond.condition.level) else cond.condition.level,
            "group": label, "n_people": n_people, "n_probes": int(sel.sum())}
        pairs = {"fta": (failed, ones), "fnmr": (counts.gen_e, counts.gen_n),
                 "fmr": (counts.same_e, counts.same_n),
                 "fmr_cross": (counts.cross_e, counts.cross_n)}
        for rate, (e, n) in pairs.items():
            pe, pn = _person_sums(pp, n_people, e[sel], n[sel])
            v, lo, hi, k, t = _interval(pe, pn, w, confidence)
            row.update({rate: v, f"{rate}_low": lo, f"{rate}_high": hi, f"{rate}_errors": k,
                        f"{rate}_trials": t})
        fmr_why, fnmr_why = thin_reasons(
            n_people=n_people, n_mated=row["fnmr_trials"],
            fmr_reason=fmr_thin_reason(row["fmr_trials"], row["fmr_errors"], target_fmr))
        cross_why, _ = thin_reasons(n_people=n_people, n_mated=1, fmr_reason=fmr_thin_reason(
            row["fmr_cross_trials"], row["fmr_cross_errors"], target_fmr))
        fta_why = thin_reasons(n_people=n_people, n_mated=row["n_probes"])[1]
        for rate, why in (("fta", fta_why), ("fnmr", fnmr_why), ("fmr", fmr_why),
                          ("fmr_cross", cross_why)):
            row[f"{rate}_thin"] = bool(why)
            row[f"{rate}_thin_reason"] = "; ".join(why)
        out.append(row)
    return out


def measure_probes(manifest: Manifest, groups: GroupAssignment, probe_mask: np.ndarray,
                   clean_vectors: np.ndarray, clean_ok: np.ndarray, similarity: str,
                   levels: Sequence[DegradedSet], threshold: float, *, n_boot: int = 0,
                   seed: int = 0, confidence: float = 0.95, target_fmr: float | None = None,
                   reference_group: str | None = None, split: Any = None) -> ProbeAudit:
    """Every level's rows (see the module docstring); ``levels`` are aligned with the probe
    samples ``np.flatnonzero(probe_mask)``. With ``split`` (the clean audit's
    :class:`~faceaudit.identify.GallerySplit`) the rows also carry FNIR and FPIR of the degraded
    probes against the clean gallery (:mod:`faceaudit.probe._identify`)."""
    probe_idx = np.flatnonzero(probe_mask)
    subjects = manifest.subject_codes
    keys = orientation_keys(list(manifest.sample_ids), seed)
    rows: list[dict[str, Any]] = []
    conds: list[dict[str, Any]] = []
    clean = templates_of(manifest, clean_vectors, clean_ok, similarity)
    for lv in levels:
        t0 = time.perf_counter()
        counts = count_comparisons(probe_idx, lv.vectors, lv.ok, clean_vectors, clean_ok,
                                   subjects, groups.codes, probe_mask, keys, similarity,
                                   threshold)
        level_rows = group_rows(lv, counts, subjects[probe_idx], groups.codes[probe_idx],
                                groups.labels, n_boot=n_boot, seed=seed, confidence=confidence,
                                target_fmr=target_fmr)
        if split is not None:
            ident = identification_rows(split, clean, probe_mask, lv, threshold,
                                        n_boot=n_boot, seed=seed, confidence=confidence)
            for r in level_rows:
                r.update(ident.get(r["group"], {}))
        rows += level_rows
        conds.append({"condition": lv.condition.condition_id, "kind": lv.condition.kind,
                      "level": None if math.isnan(lv.condition.level) else lv.condition.level,
                      "steps": [list(s) for s in lv.condition.steps],
                      "n_probes": len(probe_idx), "n_acquired": int(lv.ok.sum()),
                      "n_unchanged": lv.n_unchanged, "n_embedded": lv.n_computed,
                      "n_cached": lv.n_cached, "seconds": round(lv.seconds, 3),
                      "seconds_measure": round(time.perf_counter() - t0, 3)})
    return ProbeAudit(pd.DataFrame(rows), float(threshold), tuple(conds),
                      len(np.unique(subjects[probe_idx])), len(probe_idx),
                      reference_group, confidence)


def templates_of(manifest: Manifest, vectors: np.ndarray, ok: np.ndarray,
                 similarity: str) -> Any:
    """Clean :class:`~faceaudit.Templates` rebuilt from the arrays (``model_id`` "clean")."""
    from .._templates import Templates

    status = np.where(ok, "ok", "no_face").astype(str)
    return Templates(np.asarray(manifest.sample_ids), vectors, status,
                     np.full(len(ok), "", dtype=str), "clean", similarity)
