"""The streaming comparison engine: templates + manifest -> :class:`~faceaudit.ScoreSummary`.

The similarity matrix of the enrolled samples is computed tile by tile (upper triangle only;
every element is *the* score of its pair, as :mod:`faceaudit._similarity` defines it, through
:func:`faceaudit._similarity.exact_block_scores`) and folded into per-cell
accumulators as it goes, so memory grows with ``N·d`` and the number of cells, never with the
number of pairs. See :func:`score_templates`.

Exactness contract (the one of :mod:`faceaudit._summary`):

- every genuine score is kept, with its pair;
- per cell, the impostor *tail* is every impostor score ``>= tail_floor`` (kept exactly, with
  its pair) and the *histogram* counts every other impostor score. The tail's capacity is

  .. math:: K = \\max(\\mathtt{min\\_exact},\\ \\lceil \\mathtt{exact\\_fmr} \\cdot n_{imp} \\rceil)

  and ``tail_floor`` is the ``K``-th largest impostor score of the cell; every score equal to
  it is kept too (ties), so the tail may hold more than ``K`` scores. A cell with
  ``n_imp <= K`` is complete: ``tail_floor = -inf`` and no histogram. Hence every threshold
  whose FMR is at most ``exact_fmr`` (and at least the floor) is counted exactly.
- Histogram bins are dyadic: ``n_bins`` (a power of two) equal bins on ``[-1, 1]`` for cosine,
  and on ``[-2^E, 0]`` for Euclidean, where ``2^E`` is ``2·max‖x‖`` rounded up to a power of
  two. The bin of a float32 score ``s`` is computed as ``floor(s·scale) + offset`` with a
  power-of-two ``scale``, which is exact in float32 and therefore equals
  :func:`faceaudit._summary.bin_index` (``searchsorted`` semantics) for every score.

Determinism: every score is the definition's (not the bits of one BLAS kernel), the tiles have
a fixed shape (``TILE`` rows, anchored at each group's first sorted position) whatever
``block_size`` and ``n_workers`` are, BLAS runs single-threaded in each worker, and the
accumulators are order-independent (integer histograms; tails defined by an order statistic;
pairs sorted at the end). Results are bit-identical for any block size and worker count, and
a pair's score is the one the 1:N search reports for it.

Parallelism: worker threads (``n_workers``, default 2), each running single-threaded BLAS
(``threadpoolctl``). The GEMM and every per-tile NumPy step on large arrays (ufuncs,
``astype``, ``flatnonzero``, ``bincount``, ``partition``, fancy indexing) release the GIL, so
the threads run concurrently; only the short Python glue per 512×512 tile holds it.

Cost per pair: a float64 GEMM and the rounding proof of
:func:`~faceaudit._similarity.exact_block_scores`, then ``bincount`` and the tail steps; see
``benchmarks/bench_scorer.py`` for the measured rate.

Explicit pair lists (``pairs=``) and sampled cells are scored with
:func:`faceaudit._similarity.pair_scores` (one dot product per pair): the same definition,
so the same bits as the tiles.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._errors import ConfigError, InputError, check_integer, check_option, check_range
from ._manifest import Grouping, Manifest
from ._protocol import (
    IMPOSTOR_MODES,
    PairList,
    fta_counts,
    genuine_pairs_sorted,
    pair_counts,
    resolve_pairs,
    sample_impostor_pairs,
    sorted_layout,
)
from ._similarity import exact_block_scores, pair_scores, prepare
from ._summary import ScoreSummary, sample_fields
from ._templates import Templates

TILE = 512
"""Edge of the GEMM tiles (rows of each operand). Fixed so results do not depend on how the
work is split; 512×512 float32 tiles (1 MiB) stay in a core's L2 cache."""

DEFAULT_N_BINS = 2**14
DEFAULT_MIN_EXACT = 50_000


# ---------------------------------------------------------------------------- histogram
@dataclass(frozen=True)
class Binning:
    """Dyadic histogram edges and the exact arithmetic bin rule on them.

    ``edges[k] = lo + k·w`` with ``w = (hi - lo) / n_bins`` a power of two; the bin of ``s`` is
    ``clip(floor(s·scale) + offset, 0, n_bins - 1)`` with ``scale = 1/w`` and
    ``offset = -lo·scale``, identical to ``searchsorted(edges, s, "right") - 1`` clipped.
    """

    lo: float
    hi: float
    n_bins: int

    @property
    def scale(self) -> float:
        return self.n_bins / (self.hi - self.lo)

    @property
    def offset(self) -> int:
        return round(-self.lo * self.scale)

    @property
    def edges(self) -> np.ndarray:
        return self.lo + np.arange(self.n_bins + 1, dtype=np.float64) / self.scale

    def bins(self, scores: np.ndarray) -> np.ndarray:
        """Bin index of each score (any float dtype; computed exactly), as intp."""
        s = np.asarray(scores)
        if s.dtype != np.float32:
            s = s.astype(np.float64)
        t = s * s.dtype.type(self.scale)
        np.floor(t, out=t)
        off = self.offset
        np.clip(t, -off, self.n_bins - 1 - off, out=t)
        k = t.astype(np.intp)
        k += off
        return k

    def count(self, scores: np.ndarray) -> np.ndarray:
        """Histogram (int64, length ``n_bins``) of ``scores``."""
        return np.bincount(self.bins(np.ravel(scores)), minlength=self.n_bins).astype(np.int64)


def check_n_bins(n_bins: int) -> None:
    ok = (
        isinstance(n_bins, (int, np.integer))
        and 16 <= n_bins <= 2**22
        and (n_bins & (n_bins - 1)) == 0
    )
    if not ok:
        raise ConfigError(f"n_bins must be a power of two between 16 and 2**22; got {n_bins!r}")


def binning_for(similarity: str, n_bins: int, max_sq_norm: float = 1.0) -> Binning:
    """Histogram range for a similarity (see the module docstring)."""
    if similarity == "cosine":
        return Binning(-1.0, 1.0, n_bins)
    reach = 2.0 * math.sqrt(max(max_sq_norm, 0.0))
    e = max(0, math.ceil(math.log2(reach))) if reach > 0 else 0
    return Binning(-(2.0**e), 0.0, n_bins)


# ---------------------------------------------------------------------------- tail
def tail_capacity(n_impostor: np.ndarray | int, exact_fmr: float, min_exact: int) -> np.ndarray:
    """``max(min_exact, ceil(exact_fmr · n))`` elementwise (int64)."""
    n = np.asarray(n_impostor, dtype=np.int64)
    return np.maximum(min_exact, np.ceil(exact_fmr * n).astype(np.int64))


def kth_largest(values: np.ndarray, k: int) -> float:
    """The ``k``-th largest value (1-based), ``values`` non-empty and ``k <= len(values)``."""
    n = len(values)
    return float(np.partition(values, n - k)[n - k])


class _TailBuffer:
    """Candidate impostor scores of one cell that may belong to its final tail.

    Holds every score seen ``>= floor``; ``floor`` only rises, and stays at most the ``K``-th
    largest score seen, so it never exceeds the cell's final floor.
    """

    __slots__ = ("a", "b", "cap", "floor", "n", "s")

    def __init__(self, cap: int) -> None:
        self.cap = int(cap)
        self.floor = -np.inf
        self.s: list[np.ndarray] = []
        self.a: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        self.n = 0

    def add(self, s: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        if len(s) == 0:
            return
        self.s.append(s)
        self.a.append(a)
        self.b.append(b)
        self.n += len(s)
        if self.n > max(2 * self.cap, self.cap + 65536):
            self.prune()

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.s:
            return np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(self.s), np.concatenate(self.a), np.concatenate(self.b)

    def prune(self) -> None:
        s, a, b = self.arrays()
        v = kth_largest(s, self.cap)
        keep = s >= v
        self.s, self.a, self.b = [s[keep]], [a[keep]], [b[keep]]
        self.n = int(keep.sum())
        self.floor = max(self.floor, v)


def finalise_tail(
    s: np.ndarray, a: np.ndarray, b: np.ndarray, n_impostor: int, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Cut the merged candidates of one cell to its final tail.

    Returns ``(scores, a, b, floor)``; ``floor = -inf`` when the cell has at most ``cap``
    impostor scores (then every candidate is kept and there must be ``n_impostor`` of them).
    """
    if n_impostor <= cap:
        if len(s) != n_impostor:
            raise RuntimeError(
                f"internal error: {len(s)} tail candidates for a complete cell of "
                f"{n_impostor} impostor scores"
            )
        return s, a, b, -np.inf
    v = kth_largest(s, cap)
    keep = s >= v
    return s[keep], a[keep], b[keep], v


# ---------------------------------------------------------------------------- work plan
@dataclass
class _Unit:
    """A stripe of row tiles of group ``g`` against the columns of group ``h``."""

    g: int
    h: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    full: bool  # impostors of this cell are streamed (else genuine pairs only)
    n_pairs: int


@dataclass
class _WorkerState:
    hist: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    tails: dict[tuple[int, int], _TailBuffer] = field(default_factory=dict)
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


class _Engine:
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

    def run_unit(self, u: _Unit, st: _WorkerState) -> None:
        r0, r1 = u.rows
        c_start, c_end = u.cols
        for t0 in range(r0, r1, TILE):
            t1 = min(t0 + TILE, r1)
            first_col = t0 if u.g == u.h else c_start
            for c0 in range(first_col, c_end, TILE):
                c1 = min(c0 + TILE, c_end)
                self.tile(u, st, t0, t1, c0, c1)

    def tile(self, u: _Unit, st: _WorkerState, r0: int, r1: int, c0: int, c1: int) -> None:
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
            buf = st.tails[cell] = _TailBuffer(int(self.caps[cell]))
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


def _plan(
    layout_bounds: np.ndarray, gen_cells: np.ndarray, stream: np.ndarray, block_size: int
) -> list[_Unit]:
    """Work units: stripes of ``block_size`` rows (a multiple of TILE) of group g × group h."""
    n_groups = len(layout_bounds) - 1
    stripe = max(TILE, -(-block_size // TILE) * TILE)
    units: list[_Unit] = []
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
                units.append(_Unit(g, h, (r0, r1), (hs, he), full, n_pairs if full else 0))
    return units


def _run(engine: _Engine, units: list[_Unit], n_workers: int, progress: bool) -> list[_WorkerState]:
    states = [_WorkerState() for _ in range(max(1, min(n_workers, len(units))))]
    lock = threading.Lock()
    it = iter(units)
    done = [0]
    stop = threading.Event()

    def loop(st: _WorkerState) -> None:
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
    with limits, _progress_bar(progress, total) as bar:
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


class _progress_bar:
    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled and total > 0
        self.total = total
        self._p: Any = None
        self._task: Any = None

    def __enter__(self) -> Any:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            console = Console(stderr=True)
            if console.is_terminal:
                self._p = Progress(
                    TextColumn("comparing"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"),
                    TimeElapsedColumn(),
                    TimeRemainingColumn(),
                    console=console,
                    transient=True,
                )
                self._p.start()
                self._task = self._p.add_task("pairs", total=self.total, rate="")
                self._t0 = time.perf_counter()

        def update(n: int) -> None:
            if self._p is not None:
                el = max(time.perf_counter() - self._t0, 1e-9)
                self._p.update(self._task, completed=n, rate=f"{n / el:.3g} pairs/s")

        return update

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.stop()


# ---------------------------------------------------------------------------- public API
def score_templates(
    templates: Templates,
    manifest: Manifest,
    *,
    grouping: Grouping | str | Sequence[str] | None = None,
    impostors: str = "all",
    pairs: pd.DataFrame | Sequence[Sequence[Any]] | PairList | None = None,
    exact_fmr: float = 1e-3,
    min_exact: int = DEFAULT_MIN_EXACT,
    n_bins: int = DEFAULT_N_BINS,
    block_size: int = 4096,
    n_workers: int = 2,
    max_impostors_per_cell: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> ScoreSummary:
    """Compare templates under a protocol and summarise the scores per demographic cell.

    Parameters
    ----------
    templates : Templates
        Aligned to the manifest by sample id (:meth:`Templates.align`); samples without a
        template count as failed to enrol (``"missing"``).
    manifest : Manifest
    grouping : Grouping, str or list of str, optional
        Attributes whose combinations form the groups (default: one group ``"all"``).
    impostors : {"all", "matched"}
        Every cross-subject pair, or only pairs within one group (NIST's demographically
        matched impostors); see :mod:`faceaudit._protocol`.
    pairs : DataFrame or rows of (sample_a, sample_b[, label]) or PairList, optional
        Compare only these pairs (LFW ``pairs.txt`` style) instead of all pairs. A label that
        contradicts the manifest, or an unknown sample id, is an :class:`InputError` naming
        the row. ``impostors`` is ignored.
    exact_fmr : float in (0, 1]
        Keep, per cell, at least the top ``ceil(exact_fmr · n_impostor)`` impostor scores
        exactly (the *tail*), so every threshold with FMR <= ``exact_fmr`` is counted exactly.
    min_exact : int >= 0
        ... and at least this many; a cell with at most ``min_exact`` impostor scores is
        kept entirely (``tail_floor = -inf``).
    n_bins : int
        Histogram bins for the impostor scores below the tail (a power of two).
    block_size : int
        Rows per work unit (rounded up to a multiple of :data:`TILE`). Does not change results.
    n_workers : int
        Worker threads (BLAS runs single-threaded in each). Does not change results.
    max_impostors_per_cell : int, optional
        Cells with more impostor pairs are *sampled*: exactly this many impostor pairs drawn
        uniformly without replacement (seeded by ``(seed, i, j)``), all kept exactly.
    seed : int
        Seed of the impostor sampling.
    progress : bool
        Show a progress bar (pairs, rate, ETA) on a terminal's stderr.

    Returns
    -------
    ScoreSummary
        Genuine scores exact with their pairs; impostors as exact tail + histogram per cell;
        ``genuine_fta`` / ``impostor_fta`` count the pairs not compared because a sample
        failed to enrol. ``protocol`` records every parameter that shaped the result.

    Notes
    -----
    Scores are similarities (Euclidean templates give ``-distance``), as
    :mod:`faceaudit._similarity` defines them (float64 arithmetic rounded to float32), stored
    as float64. A comparison is accepted
    iff ``score >= threshold``. The number of impostor scores ``>= t`` in a cell is

    .. math:: \\#\\{s \\in \\mathrm{tail} : s \\ge t\\} + \\sum_{k : e_k \\ge t} h_k,

    exact for ``t >= tail_floor`` and at every bin edge.
    """
    if not isinstance(templates, Templates):
        raise ConfigError(f"templates must be a Templates; got {type(templates).__name__}")
    if not isinstance(manifest, Manifest):
        raise ConfigError(f"manifest must be a Manifest; got {type(manifest).__name__}")
    check_option("impostors", impostors, IMPOSTOR_MODES)
    check_range("exact_fmr", exact_fmr, low=0.0, high=1.0, low_open=True)
    check_integer("min_exact", min_exact, 0)
    check_n_bins(n_bins)
    check_integer("block_size", block_size, 1)
    check_integer("n_workers", n_workers, 1)
    check_integer("seed", seed, 0)
    if max_impostors_per_cell is not None:
        check_integer("max_impostors_per_cell", max_impostors_per_cell, 1)

    ga = manifest.groups(grouping)
    n_groups = ga.n_groups
    tpl = templates.align(manifest.sample_ids)
    enrolled = tpl.ok
    subj = manifest.subject_codes.astype(np.int64)
    gcodes = ga.codes.astype(np.int64)
    v = tpl.vectors.copy()
    v[~enrolled] = 0.0
    x_all, sq_all = prepare(v, tpl.similarity)
    del v
    max_sq = 1.0
    if sq_all is not None:
        sq_ok = sq_all[enrolled]
        too_big = ~(sq_ok <= float(np.finfo(np.float32).max))  # overflows float32 (or NaN)
        if too_big.any():
            i = int(np.flatnonzero(enrolled)[np.flatnonzero(too_big)[0]])
            raise InputError(
                f"template of sample {manifest.sample_ids[i]!r} is too large to compare "
                "in float32 (its squared norm overflows); rescale the templates"
            )
        max_sq = float(sq_ok.max()) if len(sq_ok) else 0.0
        if 4.0 * max_sq > float(np.finfo(np.float32).max) / 4:
            raise InputError(
                "templates are too large to compare in float32 (norms ~1e19); rescale them"
            )
    binning = binning_for(tpl.similarity, int(n_bins), max_sq)
    common = sample_fields(
        manifest, ga, enrolled=enrolled, similarity=tpl.similarity, model_id=tpl.model_id
    )
    protocol: dict[str, Any] = {
        "source": "templates",
        "exact_fmr": float(exact_fmr),
        "min_exact": int(min_exact),
        "n_bins": int(n_bins),
        "tile": TILE,
        "hist_range": [binning.lo, binning.hi],
    }

    if pairs is not None:
        return _score_pairs(
            pairs,
            manifest,
            tpl,
            gcodes,
            subj,
            enrolled,
            n_groups,
            binning,
            float(exact_fmr),
            int(min_exact),
            common,
            protocol,
        )

    protocol.update(
        impostors=impostors, max_impostors_per_cell=max_impostors_per_cell, seed=int(seed)
    )
    fta = fta_counts(subj, gcodes, n_groups, enrolled, impostors=impostors)
    every = pair_counts(subj, gcodes, n_groups, impostors=impostors)
    ok_counts = pair_counts(subj, gcodes, n_groups, mask=enrolled, impostors=impostors)
    upper = np.triu(np.ones((n_groups, n_groups), bool))
    cell_on = upper if impostors == "all" else np.eye(n_groups, dtype=bool)
    sampled = np.zeros((n_groups, n_groups), bool)
    if max_impostors_per_cell is not None:
        sampled = cell_on & (every.impostor > max_impostors_per_cell)
    stream = cell_on & ~sampled
    caps = tail_capacity(ok_counts.impostor, exact_fmr, min_exact)

    layout = sorted_layout(subj, gcodes, n_groups, enrolled)
    x = np.ascontiguousarray(x_all[layout.order])
    sq = None if sq_all is None else np.ascontiguousarray(sq_all[layout.order])
    del x_all
    gen_i, gen_j = genuine_pairs_sorted(layout.subjects)
    # positions are grouped by subject inside each group, so pairs come out sorted by (i, j)
    engine = _Engine(x, sq, tpl.similarity, layout.subjects, gen_i, gen_j, binning, caps)
    units = _plan(layout.bounds, ok_counts.genuine, stream, int(block_size))
    states = _run(engine, units, int(n_workers), progress)

    nb = binning.n_bins
    hist = np.zeros((n_groups, n_groups, nb), np.int64)
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
        n_imp = int(ok_counts.impostor[cell])
        s, a, b, fl = finalise_tail(s, a, b, n_imp, int(caps[cell]))
        hist[cell] -= binning.count(s)
        floors[cell] = fl
        if int(hist[cell].sum()) + len(s) != n_imp or (hist[cell] < 0).any():
            raise RuntimeError(
                f"internal error: cell {cell} holds {int(hist[cell].sum()) + len(s)} "
                f"impostor scores, expected {n_imp}"
            )
        tail_parts.append((s.astype(np.float64), layout.order[a], layout.order[b]))

    imp_fta = fta.impostor.copy()
    rng_note = []
    for g, h in zip(*np.nonzero(sampled), strict=True):
        cell = (int(g), int(h))
        mg = np.flatnonzero(gcodes == g)
        mh = None if g == h else np.flatnonzero(gcodes == h)
        rng = np.random.default_rng([int(seed), int(g), int(h)])
        a, b = sample_impostor_pairs(mg, mh, subj, int(max_impostors_per_cell), rng)  # type: ignore[arg-type]
        ok = enrolled[a] & enrolled[b]
        imp_fta[cell] = int((~ok).sum())
        a, b = a[ok], b[ok]
        s = _pair_scores_chunked(tpl.vectors, a, b, tpl.similarity)
        tail_parts.append((s, a, b))
        rng_note.append([int(g), int(h)])
    protocol["sampled_cells"] = rng_note

    gen_s = np.concatenate([np.concatenate(st.gen_s) for st in states if st.gen_s] or [np.zeros(0)])
    gi = np.concatenate(
        [np.concatenate(st.gen_i) for st in states if st.gen_i] or [np.zeros(0, np.int64)]
    )
    gj = np.concatenate(
        [np.concatenate(st.gen_j) for st in states if st.gen_j] or [np.zeros(0, np.int64)]
    )
    if len(gen_s) != int(ok_counts.genuine.sum()):
        raise RuntimeError(
            f"internal error: {len(gen_s)} genuine scores, expected {int(ok_counts.genuine.sum())}"
        )
    ga_, gb_ = layout.order[gi.astype(np.int64)], layout.order[gj.astype(np.int64)]
    genuine = _canonical(gen_s.astype(np.float64), ga_, gb_)
    tail = _canonical(*_concat3(tail_parts))
    return ScoreSummary(
        **common,
        genuine_scores=genuine[0],
        genuine_a=genuine[1],
        genuine_b=genuine[2],
        hist_edges=binning.edges,
        impostor_hist=hist,
        tail_scores=tail[0],
        tail_a=tail[1],
        tail_b=tail[2],
        tail_floor=floors,
        genuine_fta=fta.genuine,
        impostor_fta=imp_fta,
        protocol=protocol,
    )


def _concat3(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not parts:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return (
        np.concatenate([p[0] for p in parts]).astype(np.float64),
        np.concatenate([p[1] for p in parts]).astype(np.int64),
        np.concatenate([p[2] for p in parts]).astype(np.int64),
    )


def _canonical(
    s: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs as ``a < b`` sorted by ``(a, b)``: the order does not depend on the work split."""
    a, b = np.minimum(a, b), np.maximum(a, b)
    if len(a) == 0:
        return s, a, b
    width = int(b.max()) + 1
    if int(a.max()) < np.iinfo(np.int64).max // width:
        o = np.argsort(a * width + b, kind="stable")
    else:  # pragma: no cover - more than 3e9 samples
        o = np.lexsort((b, a))
    return s[o], a[o], b[o]


def _pair_scores_chunked(
    vectors: np.ndarray, a: np.ndarray, b: np.ndarray, similarity: str, chunk: int = 1 << 16
) -> np.ndarray:
    out = np.empty(len(a), np.float64)
    for k in range(0, len(a), chunk):
        out[k : k + chunk] = pair_scores(
            vectors[a[k : k + chunk]], vectors[b[k : k + chunk]], similarity
        )
    return out


def _score_pairs(
    pairs: Any,
    manifest: Manifest,
    tpl: Templates,
    gcodes: np.ndarray,
    subj: np.ndarray,
    enrolled: np.ndarray,
    n_groups: int,
    binning: Binning,
    exact_fmr: float,
    min_exact: int,
    common: dict[str, Any],
    protocol: dict[str, Any],
) -> ScoreSummary:
    pl = (
        pairs
        if isinstance(pairs, PairList)
        else resolve_pairs(pairs, manifest.sample_ids, subj, source="pairs")
    )
    ci, cj = np.minimum(gcodes[pl.a], gcodes[pl.b]), np.maximum(gcodes[pl.a], gcodes[pl.b])
    ok = enrolled[pl.a] & enrolled[pl.b]
    gen_fta = np.zeros((n_groups, n_groups), np.int64)
    imp_fta = np.zeros((n_groups, n_groups), np.int64)
    np.add.at(gen_fta, (ci[~ok & pl.mated], cj[~ok & pl.mated]), 1)
    np.add.at(imp_fta, (ci[~ok & ~pl.mated], cj[~ok & ~pl.mated]), 1)
    a, b, mated, ci, cj = pl.a[ok], pl.b[ok], pl.mated[ok], ci[ok], cj[ok]
    s = _pair_scores_chunked(tpl.vectors, a, b, tpl.similarity)
    protocol.update(
        impostors="pairs",
        n_pairs=len(pl),
        n_folds=0 if pl.fold is None else len(np.unique(pl.fold)),
    )
    acc = ScoreAccumulator(n_groups, binning)
    acc.add(s, a, b, ci, cj, mated)
    return acc.summary(common, gen_fta, imp_fta, exact_fmr, min_exact, protocol)


class ScoreAccumulator:
    """Folds streamed comparisons with known cells into the summary's two-part form.

    Used for explicit pair lists and vendor score files. Genuine scores and impostor tail
    candidates are kept exactly; impostor scores are also binned. Capacities are decided at
    :meth:`summary` from the final per-cell counts, so this keeps every impostor score until
    then unless ``caps`` (a (G, G) array of tail capacities known in advance) is given.
    """

    def __init__(self, n_groups: int, binning: Binning, caps: np.ndarray | None = None) -> None:
        self.g = n_groups
        self.binning = binning
        self.caps = caps
        self.hist = np.zeros((n_groups, n_groups, binning.n_bins), np.int64)
        self.n_imp = np.zeros((n_groups, n_groups), np.int64)
        self.gen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.tails: dict[tuple[int, int], _TailBuffer] = {}
        big = np.iinfo(np.int64).max // 4
        self._cap = caps if caps is not None else np.full((n_groups, n_groups), big, np.int64)

    def add(
        self,
        s: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
        ci: np.ndarray,
        cj: np.ndarray,
        mated: np.ndarray,
    ) -> None:
        """Add comparisons: scores (finite), sample rows, cells, and mated flags."""
        s = np.asarray(s, np.float64)
        mated = np.asarray(mated, bool)
        self.gen.append((s[mated], np.asarray(a)[mated], np.asarray(b)[mated]))
        imp = ~mated
        s, a, b, ci, cj = s[imp], np.asarray(a)[imp], np.asarray(b)[imp], ci[imp], cj[imp]
        if len(s) == 0:
            return
        flat_cell = ci * self.g + cj
        k = self.binning.bins(s)
        np.add.at(self.n_imp.reshape(-1), flat_cell, 1)
        np.add.at(self.hist.reshape(-1, self.binning.n_bins), (flat_cell, k), 1)
        order = np.argsort(flat_cell, kind="stable")
        fc = flat_cell[order]
        starts = np.flatnonzero(np.r_[True, fc[1:] != fc[:-1]])
        ends = np.r_[starts[1:], len(fc)]
        for st, en in zip(starts, ends, strict=True):
            cell = divmod(int(fc[st]), self.g)
            idx = order[st:en]
            buf = self.tails.get(cell)
            if buf is None:
                buf = self.tails[cell] = _TailBuffer(int(self._cap[cell]))
            sel = idx[s[idx] >= buf.floor] if buf.floor > -np.inf else idx
            buf.add(s[sel], a[sel], b[sel])

    def summary(
        self,
        common: dict[str, Any],
        genuine_fta: np.ndarray,
        impostor_fta: np.ndarray,
        exact_fmr: float,
        min_exact: int,
        protocol: dict[str, Any],
        exclusions: dict[str, int] | None = None,
    ) -> ScoreSummary:
        caps = (
            self.caps if self.caps is not None else tail_capacity(self.n_imp, exact_fmr, min_exact)
        )
        hist = self.hist.copy()
        floors = np.full((self.g, self.g), -np.inf)
        parts = []
        for cell, buf in sorted(self.tails.items()):
            s, a, b = buf.arrays()
            s, a, b, fl = finalise_tail(s, a, b, int(self.n_imp[cell]), int(caps[cell]))
            hist[cell] -= self.binning.count(s)
            floors[cell] = fl
            parts.append((s, a, b))
        tail = _canonical(*_concat3(parts))
        gen = _canonical(*_concat3(self.gen))
        return ScoreSummary(
            **common,
            genuine_scores=gen[0],
            genuine_a=gen[1],
            genuine_b=gen[2],
            hist_edges=self.binning.edges,
            impostor_hist=hist,
            tail_scores=tail[0],
            tail_a=tail[1],
            tail_b=tail[2],
            tail_floor=floors,
            genuine_fta=genuine_fta,
            impostor_fta=impostor_fta,
            protocol=protocol,
            exclusions=exclusions or {},
        )
