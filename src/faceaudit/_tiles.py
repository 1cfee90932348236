r"""The tile engine of the streaming scorer: work units, worker threads, per-worker accumulators.

:func:`faceaudit._scorer.score_templates` lays the enrolled samples out sorted by group and
subject, cuts every cell (pair of groups) into stripes of rows (:func:`plan_units`), and runs
the stripes on worker threads (:func:`run_units`). A worker computes ``TILE`` × ``TILE``
tiles of float64 values with one GEMM (:func:`faceaudit._similarity.block_values`, which
proves ``|t - scale·x| <= err`` against the definition's float64 value ``x``) and folds them
into its own :class:`WorkerState` (per-cell histograms, tail candidates, genuine scores);
:func:`merge_cells` and :func:`merge_genuine` merge the workers' states. The accumulators are
order-independent, so the result does not depend on the split. A cluster runs *pieces*
(:func:`cut_units`: rows × a range of columns, the same tiles) on engines restricted to the
templates they read (:meth:`TileEngine.restrict`, :func:`window`) and folds their states with
:func:`absorb_state`.

Every element contributes exactly what its float32 score (the definition's) would, without
rounding the whole tile to float32:

- histogram: the bin is read from the float64 value when ``value ± margin`` (``margin`` = the
  GEMM bound + half a float32 ulp) lies in one bin, which is every element but ~2^-10 of
  them at the default 2^14 bins; those are re-scored by the definition (:meth:`TileEngine.fold`,
  one compiled pass over the tile: :func:`faceaudit._kernels.fold_tile`);
- genuine pairs and tail candidates (elements that may reach the cell's floor) get their
  exact float32 score (:func:`faceaudit._similarity.round_proven`).

Why not a float32 GEMM with an a-priori bound: a float32 dot product of unit vectors is only
known to within :math:`\gamma_d = d u/(1 - d u)`, ``u = 2^-24``: 7.6e-6 at d = 128, 6% of
a bin (2^-13), so about 12.5% of the elements (50% at d = 512) could not be binned without
re-scoring them one by one, which costs more than the float64 GEMM.
"""

from __future__ import annotations

import dataclasses
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._accumulate import (
    Binning,
    TailBuffer,
    canonical_order,
    finalise_tail,
    kth_largest,
    merge_tails,
)
from ._kernels import NO_MARGINS, fold_tile
from ._progress import progress_bar
from ._similarity import block_values, prepared_pair_scores, round_proven

TILE = 512
"""Edge of the GEMM tiles (rows of each operand). Fixed so results do not depend on how the
work is split; 512×512 float32 tiles (1 MiB) stay in a core's L2 cache."""



# ---------------------------------------------------------------------------- work plan
@dataclass
class Unit:
    """A stripe of row tiles of group ``g`` against the columns of group ``h``."""

    g: int
    h: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    full: bool  # impostors of this cell are streamed (else genuine pairs only)
    n_pairs: int


@dataclass
class WorkerState:
    hist: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    tails: dict[tuple[int, int], TailBuffer] = field(default_factory=dict)
    gen_s: list[np.ndarray] = field(default_factory=list)
    gen_i: list[np.ndarray] = field(default_factory=list)
    gen_j: list[np.ndarray] = field(default_factory=list)
    error: BaseException | None = None
    scratch: list[np.ndarray] = field(default_factory=list)

    def buffer(self, n: int, m: int) -> np.ndarray:
        """A reusable C-contiguous float64 (n, m) scratch array (the worker's GEMM output)."""
        return self._scratch(0, n * m, np.float64).reshape(n, m)

    def operands(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Two reusable float64 arrays of ``size`` elements (the GEMM's converted operands)."""
        return self._scratch(1, size, np.float64), self._scratch(2, size, np.float64)

    def indices(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Two reusable intp arrays of ``size`` elements (unsure elements, tail candidates)."""
        return self._scratch(3, size, np.intp), self._scratch(4, size, np.intp)

    def _scratch(self, slot: int, size: int, dtype: Any) -> np.ndarray:
        """Reused scratch arrays (per worker, never merged or shipped): no allocation per
        tile, which matters where every large allocation is a fresh mapping (Dask's workers
        set ``MALLOC_TRIM_THRESHOLD_``)."""
        while len(self.scratch) <= slot:
            self.scratch.append(np.zeros(0))
        if self.scratch[slot].size < size or self.scratch[slot].dtype != dtype:
            self.scratch[slot] = np.empty(size, dtype)
        return self.scratch[slot][:size]


_TRIU_CACHE: dict[int, np.ndarray] = {}
_TRIU_LOCK = threading.Lock()


def _triu_mask(n: int) -> np.ndarray:
    """Boolean mask of the strict upper triangle of an n×n tile (cached, read-only)."""
    with _TRIU_LOCK:
        got = _TRIU_CACHE.get(n)
        if got is None:
            got = np.triu(np.ones((n, n), bool), 1)
            got.setflags(write=False)
            _TRIU_CACHE[n] = got
        return got


class TileEngine:
    def __init__(
        self,
        x: np.ndarray,
        sq: np.ndarray | None,
        similarity: str,
        subjects: np.ndarray,
        gen_i: np.ndarray,
        gen_j: np.ndarray,
        binning: Binning,
        caps: np.ndarray,
    ) -> None:
        self.x, self.sq, self.similarity = x, sq, similarity
        self.subjects = subjects
        self.gen_i, self.gen_j = gen_i, gen_j
        self.binning = binning
        self.caps = caps
        # known lower bounds of cells' final tail floors (a piece's head start, see restrict)
        self.floors: dict[tuple[int, int], float] = {}
        # at least half a float32 ulp of any score in the binned range (rounding to float32)
        self.half_ulp = max(abs(binning.lo), abs(binning.hi)) * 2.0**-24

    def run_unit(self, u: Unit, st: WorkerState) -> None:
        r0, r1 = u.rows
        c_start, c_end = u.cols
        for t0 in range(r0, r1, TILE):
            t1 = min(t0 + TILE, r1)
            first_col = max(t0, c_start) if u.g == u.h else c_start  # i < j in a cell g = g
            for c0 in range(first_col, c_end, TILE):
                c1 = min(c0 + TILE, c_end)
                self.tile(u, st, t0, t1, c0, c1)

    def restrict(self, pos: np.ndarray, known: WorkerState | None = None) -> TileEngine:
        """The engine of the layout positions ``pos`` only (increasing), renumbered ``0..``: a
        :func:`window`'s unit runs on it exactly as on the whole engine (see :meth:`globalise`).

        ``known``: the state merged so far; its cells' tail floors (each at most the cell's
        final floor) become the piece's starting floors, so the piece keeps only candidates
        that may still reach the final tail instead of refilling a tail from scratch."""
        # a piece's rows are the leading run of consecutive positions (see window): only the
        # genuine pairs whose first sample is among them can be in its tiles
        breaks = np.flatnonzero(np.diff(pos) != 1)
        n_rows = int(breaks[0]) + 1 if len(breaks) else len(pos)
        lo, hi = np.searchsorted(self.gen_i, [pos[0], pos[0] + n_rows])
        lj = local_index(pos, self.gen_j[lo:hi])
        ok = lj >= 0
        part = TileEngine(self.x[pos], None if self.sq is None else self.sq[pos],
                          self.similarity, self.subjects[pos],
                          self.gen_i[lo:hi][ok] - pos[0], lj[ok], self.binning, self.caps)
        if known is not None:
            part.floors = {c: b.floor for c, b in known.tails.items() if b.floor > -np.inf}
        return part

    @staticmethod
    def globalise(st: WorkerState, pos: np.ndarray) -> WorkerState:
        """``st`` of a :meth:`restrict`-ed engine with its positions mapped back (in place)."""
        st.gen_i = [pos[i] for i in st.gen_i]
        st.gen_j = [pos[j] for j in st.gen_j]
        for buf in st.tails.values():
            buf.a = [pos[a] for a in buf.a]
            buf.b = [pos[b] for b in buf.b]
        st.scratch = []
        return st

    def tile(self, u: Unit, st: WorkerState, r0: int, r1: int, c0: int, c1: int) -> None:
        """Fold tile rows ``[r0, r1)`` × columns ``[c0, c1)`` into ``st`` (module docstring)."""
        lo = np.searchsorted(self.gen_i, r0)
        hi = np.searchsorted(self.gen_i, r1)
        gi, gj = self.gen_i[lo:hi], self.gen_j[lo:hi]
        sel = (gj >= c0) & (gj < c1)
        gi, gj = gi[sel] - r0, gj[sel] - c0
        if not u.full and len(gi) == 0:
            return
        b = self.binning
        a_rows, b_rows = self.x[r0:r1], self.x[c0:c1]
        sq_a = self.sq[r0:r1] if self.sq is not None else None
        sq_b = self.sq[c0:c1] if self.sq is not None else None
        t, err = block_values(a_rows, b_rows, self.similarity, sq_a, sq_b, b.scale,
                              out=st.buffer(r1 - r0, c1 - c0),
                              operands=st.operands(TILE * self.x.shape[1]))
        gs = None
        if len(gi):
            gs = self.exact(t, err, gi, gj, a_rows, b_rows)
            st.gen_s.append(gs)
            st.gen_i.append(gi + r0)
            st.gen_j.append(gj + c0)
        if not u.full:
            return
        tri = _triu_mask(r1 - r0) if r0 == c0 else None
        margin = err + self.half_ulp * b.scale + 2.0**-30  # |t - scale·score| <= margin
        self.fold(u, st, t, err, margin, tri, gs, a_rows, b_rows, r0, c0)

    def exact(self, t: np.ndarray, err: float | np.ndarray, r: np.ndarray, c: np.ndarray,
              a_rows: np.ndarray, b_rows: np.ndarray) -> np.ndarray:
        """The definition's scores (float32) of tile elements ``(r, c)`` of scaled values ``t``."""
        inv = 1.0 / self.binning.scale  # a power of two: exact
        e = err[r, c] if isinstance(err, np.ndarray) else err
        return round_proven(t[r, c] * inv, e * inv, a_rows, b_rows, r, c, self.similarity)

    def fold(self, u: Unit, st: WorkerState, t: np.ndarray, err: float | np.ndarray,
             margin: float | np.ndarray, tri: np.ndarray | None, gs: np.ndarray | None,
             a_rows: np.ndarray, b_rows: np.ndarray, r0: int, c0: int) -> None:
        """Histogram and tail candidates of the tile, in one compiled pass
        (:func:`faceaudit._kernels.fold_tile`).

        Histogram: the bin of a score ``s`` is ``clip(floor(scale·s) + offset)``. With
        ``|t - scale·s| <= m`` (``margin``): ``k = floor(t + m)`` and ``f = t + m - k``; if
        ``f >= 2m`` then ``floor(t - m) = k`` too, so ``k`` is the bin (floor and clip are
        monotone). Elements with ``f < 2m`` (about ``2^-10`` of them at the default binning)
        are scored exactly and binned; genuine elements are taken out again (``gs``).

        Tail: a score ``s`` has ``scale·s`` within ``margin`` of its value ``t``, so only
        elements with ``t >= scale·floor - margin`` can reach the cell's floor; they are
        scored exactly (:meth:`exact`) and the impostors ``>= floor`` kept. The first floor
        of a cell comes from this tile's ``(cap + n_gen)``-th largest value minus ``margin``,
        rounded down to a float32: at most its cap-th largest impostor score, hence at most
        the cell's final floor.
        """
        cell = (u.g, u.h)
        b = self.binning
        buf = st.tails.get(cell)
        if buf is None:
            buf = st.tails[cell] = TailBuffer(int(self.caps[cell]))
            buf.floor = self.floors.get(cell, -np.inf)
        n_gen = 0 if gs is None else len(gs)
        n_counted = t.size if tri is None else (t.shape[0] * (t.shape[0] - 1)) // 2
        if buf.floor == -np.inf and n_counted - n_gen >= buf.cap > 0:
            vals = t[tri] if tri is not None else t.ravel()
            k = kth_largest(vals, buf.cap + n_gen) - float(np.max(margin))
            f = np.float32(k / b.scale)
            buf.floor = float(np.nextafter(f, np.float32(-np.inf)) if f > k / b.scale else f)
        hist = st.hist.get(cell)
        if hist is None:
            hist = st.hist[cell] = np.zeros(b.n_bins, np.int64)
        per = isinstance(margin, np.ndarray)
        unsure, cand = st.indices(t.size)
        n_unsure, n_cand = fold_tile(
            t, margin if per else NO_MARGINS, 0.0 if per else float(margin), tri is not None,
            float(b.offset + 1), b.n_bins, buf.floor * b.scale, hist, unsure, cand)
        if n_unsure:
            ur, uc = np.divmod(unsure[:n_unsure], t.shape[1])
            s = prepared_pair_scores(a_rows[ur], b_rows[uc], self.similarity)
            hist += np.bincount(b.bins(s.astype(np.float32)), minlength=b.n_bins)
        if gs is not None:
            hist -= np.bincount(b.bins(gs), minlength=b.n_bins)
        if not n_cand:
            return
        ii, jj = np.divmod(cand[:n_cand], t.shape[1])
        imp = self.subjects[ii + r0] != self.subjects[jj + c0]
        ii, jj = ii[imp], jj[imp]
        s = self.exact(t, err, ii, jj, a_rows, b_rows)
        keep = s >= np.float32(buf.floor)
        buf.add(s[keep], ii[keep] + r0, jj[keep] + c0)


def plan_units(
    layout_bounds: np.ndarray, gen_cells: np.ndarray, stream: np.ndarray, block_size: int
) -> list[Unit]:
    """Work units: stripes of ``block_size`` rows (a multiple of TILE) of group g × group h."""
    n_groups = len(layout_bounds) - 1
    stripe = max(TILE, -(-block_size // TILE) * TILE)
    units: list[Unit] = []
    for g in range(n_groups):
        gs, ge = int(layout_bounds[g]), int(layout_bounds[g + 1])
        if ge <= gs:
            continue
        for h in range(g, n_groups):
            hs, he = int(layout_bounds[h]), int(layout_bounds[h + 1])
            if he <= hs:
                continue
            full = bool(stream[g, h])
            if not full and gen_cells[g, h] == 0:
                continue
            for r0 in range(gs, ge, stripe):
                r1 = min(r0 + stripe, ge)
                if g == h:
                    # pairs (i, j), i < j, with i in [r0, r1): sum over rows of (ge - 1 - i)
                    n_pairs = sum(ge - 1 - i for i in (r0, r1 - 1)) * (r1 - r0) // 2
                else:
                    n_pairs = (r1 - r0) * (he - hs)
                units.append(Unit(g, h, (r0, r1), (hs, he), full, n_pairs if full else 0))
    return units


def cut_units(units: list[Unit], cols: int) -> list[Unit]:
    """``units`` cut into rectangles of at most ``cols`` columns (rounded up to a multiple of
    :data:`TILE`), covering the same tiles: a unit of a cell ``(g, g)`` with rows
    ``[r0, r1)`` becomes the square ``[r0, r1)²`` (its upper triangle) and the columns from
    ``r1`` on; a unit of a cell ``(g, h)`` is cut from the group's first column. Columns of a
    piece start on its cell's tile grid, so every tile is the same as in the whole unit."""
    width = max(TILE, -(-int(cols) // TILE) * TILE)
    out: list[Unit] = []
    for u in units:
        (r0, r1), (hs, he) = u.rows, u.cols
        n_rows = r1 - r0
        if u.g == u.h:
            out.append(Unit(u.g, u.h, u.rows, u.rows, u.full,
                            n_rows * (n_rows - 1) // 2 if u.full else 0))
            hs = r1
        for c in range(hs, he, width):
            c1 = min(c + width, he)
            out.append(Unit(u.g, u.h, u.rows, (c, c1), u.full,
                            n_rows * (c1 - c) if u.full else 0))
    return out


def window(u: Unit) -> tuple[np.ndarray, Unit]:
    """The layout positions a :func:`cut_units` piece reads (its rows, then its columns unless
    they are the same) and the piece renumbered on them (for :meth:`TileEngine.restrict`)."""
    (r0, r1), (c0, c1) = u.rows, u.cols
    if (r0, r1) == (c0, c1):
        return np.arange(r0, r1), dataclasses.replace(u, rows=(0, r1 - r0), cols=(0, r1 - r0))
    if c0 < r1:
        raise ValueError(f"a piece's columns overlap its rows: {u}; cut it with cut_units")
    n = r1 - r0
    return (np.r_[np.arange(r0, r1), np.arange(c0, c1)],
            dataclasses.replace(u, rows=(0, n), cols=(n, n + c1 - c0)))


def local_index(pos: np.ndarray, glob: np.ndarray) -> np.ndarray:
    """Index in ``pos`` (increasing) of each position of ``glob``; -1 where it is absent."""
    i = np.searchsorted(pos, glob)
    i[i >= len(pos)] = len(pos) - 1 if len(pos) else 0
    found = pos[i] == glob if len(pos) else np.zeros(len(glob), bool)
    return np.where(found, i, -1)


def run_units(
    engine: Any, units: list[Unit], n_workers: int, progress: bool, state: Any = None
) -> list[Any]:
    """Run every unit on ``n_workers`` threads (single-threaded BLAS each); their states.

    ``engine.run_unit(unit, state)`` folds a unit into a worker's state, made by ``state()``
    (default :class:`WorkerState`; the second pass uses its own, see :mod:`faceaudit._recount`).
    """
    make = WorkerState if state is None else state
    states = [make() for _ in range(max(1, min(n_workers, len(units))))]
    lock = threading.Lock()
    it = iter(units)
    done = [0]
    stop = threading.Event()

    def loop(st: WorkerState) -> None:
        try:
            while not stop.is_set():
                with lock:
                    u = next(it, None)
                if u is None:
                    return
                engine.run_unit(u, st)
                with lock:
                    done[0] += u.n_pairs
        except BaseException as exc:  # re-raised in the caller's thread
            st.error = exc
            stop.set()

    total = sum(u.n_pairs for u in units)
    limits: Any = nullcontext()
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn/scipy stacks
        pass
    with limits, progress_bar(progress, total) as bar:
        threads = [threading.Thread(target=loop, args=(st,), daemon=True) for st in states]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(timeout=0.2)
                bar(done[0])
        except BaseException:
            stop.set()
            for t in threads:
                t.join()
            raise
        bar(done[0])
    for st in states:
        if st.error is not None:
            raise st.error
    return states


def absorb_state(total: WorkerState, st: WorkerState) -> WorkerState:
    """Fold ``st`` into ``total`` (in place; ``st`` is not changed and shares no array that
    ``total`` may change later) and return ``total``. Order-independent.

    Histograms add; genuine scores concatenate; per cell, tail candidates merge under the
    higher of the two floors (:func:`faceaudit._accumulate.merge_tails`).
    """
    if total.error is not None or st.error is not None:
        raise RuntimeError("cannot merge the state of a worker that failed")
    for cell, h in st.hist.items():
        if cell in total.hist:
            total.hist[cell] += h
        else:
            total.hist[cell] = h.copy()
    total.gen_s += st.gen_s
    total.gen_i += st.gen_i
    total.gen_j += st.gen_j
    merge_tails(total.tails, st.tails)
    return total


def merge_cells(
    states: list[WorkerState],
    stream: np.ndarray,
    n_impostor: np.ndarray,
    caps: np.ndarray,
    binning: Binning,
    order: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """The workers' histograms and tail candidates merged per streamed cell, tails cut."""
    n_groups = len(caps)
    hist = np.zeros((n_groups, n_groups, binning.n_bins), np.int64)
    floors = np.full((n_groups, n_groups), -np.inf)
    tail_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for g, h in zip(*np.nonzero(stream), strict=True):
        cell = (int(g), int(h))
        for st in states:
            if cell in st.hist:
                hist[cell] += st.hist[cell]
        parts = [st.tails[cell].arrays() for st in states if cell in st.tails]
        if parts:
            s = np.concatenate([p[0] for p in parts])
            a = np.concatenate([p[1] for p in parts])
            b = np.concatenate([p[2] for p in parts])
        else:
            s, a, b = np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
        n_imp = int(n_impostor[cell])
        s, a, b, fl = finalise_tail(s, a, b, n_imp, int(caps[cell]))
        hist[cell] -= binning.count(s)
        floors[cell] = fl
        if int(hist[cell].sum()) + len(s) != n_imp or (hist[cell] < 0).any():
            raise RuntimeError(
                f"internal error: cell {cell} holds {int(hist[cell].sum()) + len(s)} "
                f"impostor scores, expected {n_imp}"
            )
        tail_parts.append((s.astype(np.float64), order[a], order[b]))
    return hist, floors, tail_parts


def merge_genuine(
    states: list[WorkerState], expected: int, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every worker's genuine scores, as sample indices in canonical pair order."""
    gen_s = np.concatenate([np.concatenate(st.gen_s) for st in states if st.gen_s] or [np.zeros(0)])
    gi = np.concatenate(
        [np.concatenate(st.gen_i) for st in states if st.gen_i] or [np.zeros(0, np.int64)]
    )
    gj = np.concatenate(
        [np.concatenate(st.gen_j) for st in states if st.gen_j] or [np.zeros(0, np.int64)]
    )
    if len(gen_s) != expected:
        raise RuntimeError(f"internal error: {len(gen_s)} genuine scores, expected {expected}")
    a, b = order[gi.astype(np.int64)], order[gj.astype(np.int64)]
    return canonical_order(gen_s.astype(np.float64), a, b)
