r"""Second pass: exact impostor counts at the thresholds an audit reports.

A :class:`~faceaudit.ScoreSummary` counts an impostor score exactly when it is in its cell's
exact tail (``>= tail_floor``); below the tail it only knows the score's histogram bin, so the
number of scores ``>= t`` is exact at bin edges and merely bounded for a ``t`` inside a bin.
Once the audit has chosen its thresholds, this pass makes every such count exact:

1. :func:`plan_requests` lists, per cell, each threshold ``t`` that lies strictly inside a
   non-empty bin ``k`` below the cell's floor, with ``upper = min(edges[k+1], floor)``
   (``inf`` for the last bin): the unknown is
   :math:`A(c, t) = \#\{\text{impostor } s \text{ of } c : t \le s < \mathit{upper}\}`;
2. the comparisons of those cells only are scored again, by the same arithmetic as the first
   pass (the definition's float32 score, :func:`faceaudit._similarity.block_values` with its
   proof; re-scored by the definition where the proof cannot decide), and every impostor
   score in ``[t, upper)`` is *counted* — none is stored (:class:`RecountEngine` for
   templates, :func:`recount_scores` re-reads a vendor's score file);
3. :func:`apply_recount` inserts each such ``t`` as a histogram edge and splits bin ``k``
   with the counts (``[e_k, t)`` gets ``H - A``, ``[t, e_{k+1})`` gets ``A``), so ``t`` is
   an edge and every count at ``t`` is exact by the summary's own contract; metrics, the
   report and ``results.json`` need no other change;
4. for the per-person counts and the subject bootstrap of a group whose threshold lies below
   its own cell's tail (:func:`plan_people`), the same pass lists every accepted impostor
   comparison of cell ``(g, g)`` *by pair of people* (``a < b``, how many), which
   :func:`apply_people` stores in the summary's ``accepted_*`` fields and
   :mod:`faceaudit.metrics` reads (``GroupResampling.accepted``).

Memory per worker (independent of the number of pairs): the prepared templates (``N·d``
float32, shared), two ``TILE``² float64 scratch tiles and a few ``TILE``² masks (~6 MiB at
``TILE`` = 512), and one int64 per count request; for a people request, the distinct pairs
of people with an accepted comparison (16 bytes each, at most ~2x that while accumulating:
reduced every 64 tiles) — bounded by the people of the group (:math:`P^2/2`), not by the
comparisons. Merging (:func:`absorb_recount`) adds counts and joins pair lists:
order-independent, hence bit-identical for any split.

The seam for a cluster backend: :func:`plan_requests` + :func:`recount_units` (work units,
the first pass's :class:`faceaudit._tiles.Unit`), :meth:`RecountEngine.run_unit` into a
:class:`RecountState`, :func:`absorb_recount`, :func:`apply_recount`; a cluster runs
:meth:`RecountEngine.restrict`-ed pieces (:mod:`faceaudit.cluster`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ._accumulate import Binning
from ._errors import ConfigError
from ._kernels import NO_MARGINS, select_window
from ._manifest import Manifest
from ._protocol import sorted_layout
from ._similarity import block_values, prepare, round_proven
from ._summary import ScoreSummary, bin_index
from ._templates import Templates
from ._tiles import TILE, Unit, plan_units, run_units

Key = tuple[int, int, float]
"""A request: cell ``(g, h)`` and threshold ``t``."""


@dataclass(frozen=True)
class Request:
    """Count the impostor scores ``s`` of cell ``(g, h)`` with ``t <= s < upper``; or, with
    ``kind="people"`` (a same-group cell), list the pairs of people with scores ``>= t``."""

    g: int
    h: int
    t: float
    upper: float
    kind: str = "count"

    @property
    def key(self) -> Key:
        return (self.g, self.h, self.t)


@dataclass
class RecountState:
    """What one worker counted: ``counts[(g, h, t)]`` impostor scores in ``[t, upper)``."""

    counts: dict[Key, int] = field(default_factory=dict)
    people: dict[Key, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    error: BaseException | None = None

    def add_people(self, key: Key, pairs: np.ndarray) -> None:
        """Add accepted pairs of people (``a·S + b`` codes); reduced to distinct pairs and
        counts whenever the list grows, so it holds at most ~2x the distinct pairs seen."""
        if len(pairs):
            self.add_parts(key, [np.unique(pairs, return_counts=True)])

    def add_parts(self, key: Key, parts: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Join (distinct pair codes, counts) parts; reduced to one part past 64 parts."""
        joined = self.people.setdefault(key, [])
        joined.extend(parts)
        if len(joined) > 64:
            self.people[key] = [reduce_pairs(joined)]


def reduce_pairs(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pair codes and their summed counts."""
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    k = np.concatenate([p[0] for p in parts])
    n = np.concatenate([p[1] for p in parts])
    uk, inv = np.unique(k, return_inverse=True)
    return uk, np.bincount(inv, weights=n, minlength=len(uk)).astype(np.int64)


def absorb_recount(total: RecountState, st: RecountState) -> RecountState:
    """Fold ``st`` into ``total`` (in place; counts added, people pairs joined); return it."""
    for k, v in st.counts.items():
        total.counts[k] = total.counts.get(k, 0) + v
    for k, v in st.people.items():
        total.add_parts(k, v)
    return total


def plan_people(summary: ScoreSummary, thresholds: Any) -> list[Request]:
    """Same-group cells whose accepted impostor pairs at ``t`` are not all in the tail (the
    per-person counts and the subject bootstrap need them, by pair of people)."""
    t_all = np.unique(np.asarray(thresholds, dtype=np.float64).ravel())
    tot = summary.impostor_total
    return [Request(g, g, float(t), np.inf, "people") for t in t_all
            for g in range(summary.n_groups)
            if t < summary.tail_floor[g, g] and tot[g, g] > 0]


def plan_requests(summary: ScoreSummary, thresholds: Any) -> list[Request]:
    """The (cell, threshold) counts the summary does not hold exactly (module docstring).

    A threshold outside the histogram's range (``<= edges[0]`` or ``>= edges[-1]``) is left
    as it is: the first and last bins also hold the scores beyond the range.
    """
    t_all = np.unique(np.asarray(thresholds, dtype=np.float64).ravel())
    if np.isnan(t_all).any():
        raise ConfigError("thresholds must not contain NaN")
    edges = np.asarray(summary.hist_edges, np.float64)
    nb = len(edges) - 1
    hist, floor = summary.impostor_hist, summary.tail_floor
    out: list[Request] = []
    for t in t_all[(t_all > edges[0]) & (t_all < edges[-1])]:
        k = int(bin_index(np.array([t]), edges)[0])
        if t == edges[k]:
            continue
        top = float(edges[k + 1]) if k < nb - 1 else np.inf
        for g, h in zip(*np.nonzero(np.triu((hist[:, :, k] > 0) & (t < floor))), strict=True):
            out.append(Request(int(g), int(h), float(t), min(top, float(floor[g, h]))))
    return out


def apply_recount(summary: ScoreSummary, requests: list[Request],
                  state: RecountState) -> ScoreSummary:
    """The summary with each requested threshold inserted as a histogram edge (exact there).

    Every cell's bin ``k`` holding thresholds ``t_1 < … < t_m`` is split into
    ``[e_k, t_1), [t_1, t_2), …, [t_m, e_{k+1})`` with ``A(t_1)`` … from ``state`` (0 for a
    cell without the request: its bin is empty or all its scores there are below its floor
    ``<= t``).
    """
    edges = np.asarray(summary.hist_edges, np.float64)
    ts = np.unique([r.t for r in requests])
    if len(ts) == 0:
        return summary
    missing = [r.key for r in requests if r.key not in state.counts]
    if missing:
        raise RuntimeError(f"internal error: no recount for {missing[:3]}")
    g = summary.n_groups
    a = np.zeros((g, g, len(ts)), np.int64)
    for r in requests:
        a[r.g, r.h, int(np.searchsorted(ts, r.t))] = state.counts[r.key]
    k_of = bin_index(ts, edges)
    old = summary.impostor_hist
    parts: list[np.ndarray] = []
    new_edges: list[np.ndarray] = []
    start = 0
    for k in np.unique(k_of):
        sel = np.flatnonzero(k_of == k)
        parts.append(old[:, :, start:k])
        new_edges.append(edges[start : k + 1])
        ak = a[:, :, sel]  # A(t_1) >= A(t_2) >= ... for each cell
        hk = old[:, :, k : k + 1]
        split = np.concatenate([hk - ak[:, :, :1], ak[:, :, :-1] - ak[:, :, 1:], ak[:, :, -1:]],
                               axis=2)
        if (split < 0).any():
            raise RuntimeError(f"internal error: recount inconsistent with bin {k}")
        parts.append(split)
        new_edges.append(ts[sel])
        start = k + 1
    parts.append(old[:, :, start:])
    new_edges.append(edges[start:])
    hist = np.concatenate(parts, axis=2)
    protocol = dict(summary.protocol)
    protocol["recount"] = {"thresholds": [float(t) for t in ts], "cells": len(requests)}
    return dataclasses.replace(summary, hist_edges=np.concatenate(new_edges),
                               impostor_hist=hist, protocol=protocol)


def apply_people(summary: ScoreSummary, requests: list[Request],
                 state: RecountState) -> ScoreSummary:
    """The summary with the accepted pairs of people of each ``people`` request
    (``accepted_*`` fields; an earlier entry for the same group and threshold is replaced)."""
    if not requests:
        return summary
    n_subj = int(summary.subject_codes.max()) + 1 if summary.n_samples else 1
    done = {(r.g, r.t) for r in requests}
    keep = np.array([(int(g), float(t)) not in done
                     for g, t in zip(summary.accepted_g, summary.accepted_t, strict=True)], bool)
    cols = {k: [getattr(summary, f"accepted_{k}")[keep]] for k in "tgabn"}
    for r in requests:
        k, n = reduce_pairs(state.people.get(r.key, []))
        cols["t"].append(np.full(len(k), r.t))
        cols["g"].append(np.full(len(k), r.g, np.int32))
        cols["a"].append(k // n_subj)
        cols["b"].append(k % n_subj)
        cols["n"].append(n)
    return dataclasses.replace(summary, **{f"accepted_{k}": np.concatenate(v)
                                           for k, v in cols.items()})


# ---------------------------------------------------------------------------- templates
class RecountEngine:
    """Pass 2 over templates: counts ``A(c, t)`` tile by tile (same tiles as pass 1)."""

    def __init__(self, x: np.ndarray, sq: np.ndarray | None, similarity: str,
                 subjects: np.ndarray, binning: Binning, requests: list[Request],
                 n_subjects: int | None = None) -> None:
        self.x, self.sq, self.similarity, self.subjects = x, sq, similarity, subjects
        self.binning = binning
        self.requests = list(requests)
        self.by_cell: dict[tuple[int, int], list[Request]] = {}
        for r in requests:
            self.by_cell.setdefault((r.g, r.h), []).append(r)
        self.half_ulp = max(abs(binning.lo), abs(binning.hi)) * 2.0**-24
        # pairs of people are coded a·S + b with S = n_subjects (the summary's subject count)
        self.n_subjects = n_subjects or (int(subjects.max()) + 1 if len(subjects) else 1)

    def restrict(self, pos: np.ndarray, known: Any = None) -> RecountEngine:
        """The engine of the layout positions ``pos`` only (as
        :meth:`faceaudit._tiles.TileEngine.restrict`; ``known`` is not needed); its counts need
        no mapping back."""
        return RecountEngine(self.x[pos], None if self.sq is None else self.sq[pos],
                             self.similarity, self.subjects[pos], self.binning, self.requests,
                             self.n_subjects)

    @staticmethod
    def globalise(st: RecountState, pos: np.ndarray) -> RecountState:
        """``st`` unchanged: counts and pairs of people hold no layout position."""
        return st

    def run_unit(self, u: Unit, st: Any) -> None:
        """Count the unit's tiles into ``st`` (a :class:`RecountState`)."""
        r0, r1 = u.rows
        c_start, c_end = u.cols
        for t0 in range(r0, r1, TILE):
            t1 = min(t0 + TILE, r1)
            for c0 in range(max(t0, c_start) if u.g == u.h else c_start, c_end, TILE):
                self.tile(u, st, t0, t1, c0, min(c0 + TILE, c_end))

    def tile(self, u: Unit, st: Any, r0: int, r1: int, c0: int, c1: int) -> None:
        """Scores ``s`` with ``scale·s`` within ``margin`` of ``v`` can only be in
        ``[t, upper)`` if ``t·scale - margin <= v < upper·scale + margin``; those are scored
        exactly and counted."""
        scale = self.binning.scale
        a_rows, b_rows = self.x[r0:r1], self.x[c0:c1]
        sq_a = self.sq[r0:r1] if self.sq is not None else None
        sq_b = self.sq[c0:c1] if self.sq is not None else None
        v, err = block_values(a_rows, b_rows, self.similarity, sq_a, sq_b, scale)
        margin = err + self.half_ulp * scale + 2.0**-30
        upper = r0 == c0  # a diagonal tile: its strict upper triangle
        for req in self.by_cell[(u.g, u.h)]:
            idx = self.window(v, margin, upper, req.t * scale, req.upper * scale)
            if req.kind == "people":
                self.people(st, req, v, err, margin, idx, a_rows, b_rows, r0, c0)
                continue
            ii, jj = np.divmod(idx, v.shape[1])
            imp = self.subjects[ii + r0] != self.subjects[jj + c0]
            ii, jj = ii[imp], jj[imp]
            e = err[ii, jj] if isinstance(err, np.ndarray) else err
            s = round_proven(v[ii, jj] / scale, e / scale, a_rows, b_rows, ii, jj,
                             self.similarity).astype(np.float64)
            n = int(((s >= req.t) & (s < req.upper)).sum())
            st.counts[req.key] = st.counts.get(req.key, 0) + n

    @staticmethod
    def window(v: np.ndarray, margin: float | np.ndarray, upper: bool, lo: float,
               hi: float) -> np.ndarray:
        """Flat indices of the elements with ``lo - margin <= v < hi + margin`` (scaled):
        every score in ``[lo, hi)`` is among them (:func:`faceaudit._kernels.select_window`)."""
        per = isinstance(margin, np.ndarray)
        out = np.empty(v.size, np.intp)
        n = select_window(v, margin if per else NO_MARGINS, 0.0 if per else float(margin),
                          upper, lo, hi, out)
        return out[:n]

    def people(self, st: RecountState, req: Request, v: np.ndarray,
               err: float | np.ndarray, margin: float | np.ndarray, idx: np.ndarray,
               a_rows: np.ndarray, b_rows: np.ndarray, r0: int, c0: int) -> None:
        """The tile's impostor pairs with score ``>= t`` among the candidates ``idx``, as
        pairs of people: sure when ``v - margin >= t·scale``, scored exactly when ``v`` is
        within ``margin`` of it."""
        scale = self.binning.scale
        ii, jj = np.divmod(idx, v.shape[1])
        sa, sb = self.subjects[ii + r0], self.subjects[jj + c0]
        imp = sa != sb
        ii, jj, sa, sb = ii[imp], jj[imp], sa[imp], sb[imp]
        vals = v[ii, jj]
        m = margin[ii, jj] if isinstance(margin, np.ndarray) else margin
        near = np.flatnonzero(vals - m < req.t * scale)
        ok = np.ones(len(ii), bool)
        if len(near):
            e = err[ii[near], jj[near]] if isinstance(err, np.ndarray) else err
            s = round_proven(vals[near] / scale, e / scale, a_rows, b_rows, ii[near], jj[near],
                             self.similarity)
            ok[near] = s.astype(np.float64) >= req.t
        lo, hi = np.minimum(sa[ok], sb[ok]), np.maximum(sa[ok], sb[ok])
        st.add_people(req.key, lo * self.n_subjects + hi)


def recount_units(summary: ScoreSummary, requests: list[Request], bounds: np.ndarray,
                  block_size: int = 4096) -> list[Unit]:
    """Pass 2's work units: the first pass's stripes of the cells with a request."""
    g = summary.n_groups
    stream = np.zeros((g, g), bool)
    for r in requests:
        stream[r.g, r.h] = True
    return plan_units(bounds, np.zeros((g, g), np.int64), stream, block_size)


def recount_templates(templates: Templates, manifest: Manifest, summary: ScoreSummary,
                      thresholds: Any, *, n_workers: int = 2, block_size: int = 4096,
                      progress: bool = False, executor: Any = None) -> ScoreSummary:
    """``summary`` (from :func:`faceaudit.score_templates` on these templates and manifest)
    with every impostor count at ``thresholds`` made exact (module docstring).

    ``executor(engine, units, n_workers, progress) -> list[RecountState]`` runs the units
    (default: this process's worker threads, :func:`faceaudit._tiles.run_units`); a cluster
    backend passes its own and folds states with :func:`absorb_recount`. Results do not depend
    on it.
    """
    counts = plan_requests(summary, thresholds)
    people = plan_people(summary, thresholds)
    requests = counts + people
    if not requests:
        return summary
    if summary.protocol.get("source") != "templates" or summary.protocol.get("impostors") \
            not in ("all", "matched"):
        raise ConfigError("recount_templates needs a summary of all pairs scored from "
                          "templates (score_templates without pairs=)")
    tpl = templates.align(manifest.sample_ids)
    if not np.array_equal(tpl.ok, summary.enrolled) or tpl.similarity != summary.similarity:
        raise ConfigError("templates do not match the summary (enrolment or similarity "
                          "differ); pass the templates the summary was scored from")
    v = tpl.vectors.copy()
    v[~tpl.ok] = 0.0
    x, sq = prepare(v, tpl.similarity)
    del v
    layout = sorted_layout(summary.subject_codes.astype(np.int64),
                           summary.group_codes.astype(np.int64), summary.n_groups, tpl.ok)
    x = np.ascontiguousarray(x[layout.order])
    sq = None if sq is None else np.ascontiguousarray(sq[layout.order])
    edges = np.asarray(summary.hist_edges)
    lo, hi = summary.protocol["hist_range"]
    binning = Binning(float(lo), float(hi), int(summary.protocol["n_bins"]))
    if not np.array_equal(binning.edges, edges):
        raise ConfigError("the summary's histogram was already refined; recount the "
                          "summary that score_templates returned")
    engine = RecountEngine(x, sq, tpl.similarity, layout.subjects, binning, requests,
                           int(summary.subject_codes.max()) + 1 if summary.n_samples else 1)
    units = recount_units(summary, requests, layout.bounds, block_size)
    run = executor or partial(run_units, state=RecountState)
    states = run(engine, units, n_workers, progress)
    total = RecountState()
    for st in states:
        absorb_recount(total, st)
    for r in counts:
        total.counts.setdefault(r.key, 0)
    return apply_people(apply_recount(summary, counts, total), people, total)
