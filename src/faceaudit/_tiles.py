"""The tile engine of the streaming scorer: work units, worker threads, per-worker accumulators.

:func:`faceaudit._scorer.score_templates` lays the enrolled samples out sorted by group and
subject, cuts every cell (pair of groups) into stripes of rows (:func:`plan_units`), and runs
the stripes on worker threads (:func:`run_units`). A worker scores ``TILE`` × ``TILE`` tiles
(:func:`faceaudit._similarity.exact_block_scores`: every element is the score of its pair)
and folds them into its own :class:`WorkerState` (per-cell histograms, tail candidates,
genuine scores); :func:`merge_cells` and :func:`merge_genuine` merge the workers' states.
The accumulators are order-independent, so the result does not depend on the split.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._accumulate import Binning, TailBuffer, canonical_order, finalise_tail, kth_largest
from ._progress import progress_bar
from ._similarity import exact_block_scores

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
    kbuf: np.ndarray = field(default_factory=lambda: np.zeros(0, np.intp))

    def as_intp(self, flat: np.ndarray) -> np.ndarray:
        """``flat`` (integer-valued floats) converted into this worker's reusable intp buffer."""
        if len(self.kbuf) < flat.size:
            self.kbuf = np.empty(flat.size, np.intp)
        k = self.kbuf[: flat.size]
        k[...] = flat
        return k


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
        # Cosine scores of unit float32 vectors exceed [-1, 1] by at most ~dim·2^-24.
        self.clip = similarity != "cosine" or x.shape[1] >= 1024 or binning.n_bins > 2**14

    def run_unit(self, u: Unit, st: WorkerState) -> None:
        r0, r1 = u.rows
        c_start, c_end = u.cols
        for t0 in range(r0, r1, TILE):
            t1 = min(t0 + TILE, r1)
            first_col = t0 if u.g == u.h else c_start
            for c0 in range(first_col, c_end, TILE):
                c1 = min(c0 + TILE, c_end)
                self.tile(u, st, t0, t1, c0, c1)

    def tile(self, u: Unit, st: WorkerState, r0: int, r1: int, c0: int, c1: int) -> None:
        lo = np.searchsorted(self.gen_i, r0)
        hi = np.searchsorted(self.gen_i, r1)
        gi, gj = self.gen_i[lo:hi], self.gen_j[lo:hi]
        sel = (gj >= c0) & (gj < c1)
        gi, gj = gi[sel], gj[sel]
        if not u.full and len(gi) == 0:
            return
        sl = (slice(r0, r1), slice(c0, c1))
        sq_a = self.sq[sl[0]] if self.sq is not None else None
        sq_b = self.sq[sl[1]] if self.sq is not None else None
        s = exact_block_scores(self.x[sl[0]], self.x[sl[1]], self.similarity, sq_a, sq_b)
        gs = s[gi - r0, gj - c0] if len(gi) else None
        if gs is not None:
            st.gen_s.append(gs)
            st.gen_i.append(gi)
            st.gen_j.append(gj)
        if not u.full:
            return
        cell = (u.g, u.h)
        diag = r0 == c0
        tri = _triu_mask(r1 - r0) if diag else None
        flat = s[tri] if diag else s.ravel()
        buf = st.tails.get(cell)
        if buf is None:
            buf = st.tails[cell] = TailBuffer(int(self.caps[cell]))
        n_gen = 0 if gs is None else len(gs)
        if buf.floor == -np.inf and flat.size - n_gen >= buf.cap > 0:
            # This tile alone holds >= cap impostor scores: start from its (cap + n_gen)-th
            # largest score, which is at most its cap-th largest impostor score, hence at most
            # the cell's final floor.
            buf.floor = kth_largest(flat, buf.cap + n_gen)
        mask = s >= np.float32(buf.floor)
        if diag:
            mask &= tri
        hits = np.flatnonzero(mask)
        if len(hits):
            ii, jj = np.divmod(hits, c1 - c0)
            imp = self.subjects[ii + r0] != self.subjects[jj + c0]
            ii, jj = ii[imp], jj[imp]
            buf.add(s[ii, jj], ii + r0, jj + c0)
        b = self.binning
        nb, off = b.n_bins, b.offset
        np.multiply(flat, np.float32(b.scale), out=flat)
        np.floor(flat, out=flat)
        if self.clip:
            np.clip(flat, -off, nb - 1 - off, out=flat)
            flat += off
            h = np.bincount(st.as_intp(flat), minlength=nb)
        else:
            # |cosine| < 1 + 2^-13 for dim < 1024: one slack bin each side, folded back in.
            flat += off + 1
            h = np.bincount(st.as_intp(flat), minlength=nb + 2)
            h[1] += h[0]
            h[nb] += h[nb + 1 :].sum()
            h = h[1 : nb + 1]
        if gs is not None:
            h -= np.bincount(b.bins(gs), minlength=b.n_bins)
        acc = st.hist.get(cell)
        if acc is None:
            st.hist[cell] = h.astype(np.int64)
        else:
            acc += h


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


def run_units(
    engine: TileEngine, units: list[Unit], n_workers: int, progress: bool
) -> list[WorkerState]:
    """Run every unit on ``n_workers`` threads (single-threaded BLAS each); their states."""
    states = [WorkerState() for _ in range(max(1, min(n_workers, len(units))))]
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


def merge_states(a: WorkerState, b: WorkerState) -> WorkerState:
    """One state holding what ``a`` and ``b`` hold (pure: neither input is changed).

    Histograms add; a cell's tail candidates are concatenated under the higher of the two
    floors (each floor is at most the cell's final floor, so :func:`merge_cells` cuts the same
    tail from the merged candidates); genuine scores are concatenated. The merge is
    order-independent up to the order of list entries, which :func:`merge_cells` and
    :func:`merge_genuine` do not depend on, so a cluster can reduce per-task states in any tree.
    """
    if a.error is not None or b.error is not None:
        raise RuntimeError("cannot merge a worker state that holds an error")
    out = WorkerState()
    for cell in a.hist.keys() | b.hist.keys():
        parts = [st.hist[cell] for st in (a, b) if cell in st.hist]
        out.hist[cell] = parts[0] + parts[1] if len(parts) == 2 else parts[0].copy()
    for cell in a.tails.keys() | b.tails.keys():
        bufs = [st.tails[cell] for st in (a, b) if cell in st.tails]
        buf = TailBuffer(bufs[0].cap)
        buf.floor = max(x.floor for x in bufs)
        for x in bufs:
            buf.add(*x.arrays())
        out.tails[cell] = buf
    for name in ("gen_s", "gen_i", "gen_j"):
        setattr(out, name, [*getattr(a, name), *getattr(b, name)])
    return out


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
