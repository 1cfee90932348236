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
   report and ``results.json`` need no other change.

Memory per worker (independent of the number of pairs): the prepared templates (``N·d``
float32, shared), two ``TILE``² float64 scratch tiles and a few ``TILE``² masks (~6 MiB at
``TILE`` = 512), and one int64 per request; the state a worker returns
(:class:`RecountState`) is one integer per request, so merging is adding
(:func:`merge_recount`), pure and order-independent, hence bit-identical for any split.

The seam for a cluster backend: :func:`plan_requests` + :func:`recount_units` (work units,
the first pass's :class:`faceaudit._tiles.Unit`), :meth:`RecountEngine.run_unit` into a
:class:`RecountState`, :func:`merge_recount`, :func:`apply_recount`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._accumulate import Binning
from ._errors import ConfigError
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
    """Count the impostor scores ``s`` of cell ``(g, h)`` with ``t <= s < upper``."""

    g: int
    h: int
    t: float
    upper: float

    @property
    def key(self) -> Key:
        return (self.g, self.h, self.t)


@dataclass
class RecountState:
    """What one worker counted: ``counts[(g, h, t)]`` impostor scores in ``[t, upper)``."""

    counts: dict[Key, int] = field(default_factory=dict)
    error: BaseException | None = None


def merge_recount(a: RecountState, b: RecountState) -> RecountState:
    """The union of two workers' counts (added per request); ``a`` and ``b`` are unchanged."""
    out = dict(a.counts)
    for k, v in b.counts.items():
        out[k] = out.get(k, 0) + v
    return RecountState(out)


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


# ---------------------------------------------------------------------------- templates
class RecountEngine:
    """Pass 2 over templates: counts ``A(c, t)`` tile by tile (same tiles as pass 1)."""

    def __init__(self, x: np.ndarray, sq: np.ndarray | None, similarity: str,
                 subjects: np.ndarray, binning: Binning, requests: list[Request]) -> None:
        self.x, self.sq, self.similarity, self.subjects = x, sq, similarity, subjects
        self.binning = binning
        self.by_cell: dict[tuple[int, int], list[Request]] = {}
        for r in requests:
            self.by_cell.setdefault((r.g, r.h), []).append(r)
        self.half_ulp = max(abs(binning.lo), abs(binning.hi)) * 2.0**-24

    def run_unit(self, u: Unit, st: Any) -> None:
        """Count the unit's tiles into ``st`` (a :class:`RecountState`)."""
        r0, r1 = u.rows
        c_start, c_end = u.cols
        for t0 in range(r0, r1, TILE):
            t1 = min(t0 + TILE, r1)
            for c0 in range(t0 if u.g == u.h else c_start, c_end, TILE):
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
        tri = np.triu(np.ones(v.shape, bool), 1) if r0 == c0 else None
        for req in self.by_cell[(u.g, u.h)]:
            cand = v >= req.t * scale - margin
            if np.isfinite(req.upper):
                cand &= v < req.upper * scale + margin
            if tri is not None:
                cand &= tri
            idx = np.flatnonzero(cand)
            ii, jj = np.divmod(idx, v.shape[1])
            imp = self.subjects[ii + r0] != self.subjects[jj + c0]
            ii, jj = ii[imp], jj[imp]
            e = err[ii, jj] if isinstance(err, np.ndarray) else err
            s = round_proven(v[ii, jj] / scale, e / scale, a_rows, b_rows, ii, jj,
                             self.similarity).astype(np.float64)
            n = int(((s >= req.t) & (s < req.upper)).sum())
            st.counts[req.key] = st.counts.get(req.key, 0) + n


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
                      progress: bool = False) -> ScoreSummary:
    """``summary`` (from :func:`faceaudit.score_templates` on these templates and manifest)
    with every impostor count at ``thresholds`` made exact (module docstring)."""
    requests = plan_requests(summary, thresholds)
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
    engine = RecountEngine(x, sq, tpl.similarity, layout.subjects, binning, requests)
    units = recount_units(summary, requests, layout.bounds, block_size)
    states = run_units(engine, units, n_workers, progress, state=RecountState)
    total = RecountState()
    for st in states:
        total = merge_recount(total, st)
    for r in requests:
        total.counts.setdefault(r.key, 0)
    return apply_recount(summary, requests, total)
