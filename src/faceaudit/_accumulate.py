"""Per-cell accumulators of the score summary: dyadic histogram bins, exact impostor tails.

Shared by the template scorer (:mod:`faceaudit._scorer`) and the score-file readers
(:mod:`faceaudit._vendor`), so both fold comparisons into a
:class:`~faceaudit.ScoreSummary` by the same rules (see the exactness contract in
:mod:`faceaudit._summary`):

- :class:`Binning`: ``n_bins`` equal bins of a power-of-two width, whose bin index is computed
  with exact arithmetic and equals :func:`faceaudit._summary.bin_index` on its edges;
- the *tail* of a cell: every impostor score ``>=`` its ``K``-th largest, ``K`` given by
  :func:`tail_capacity`, kept exactly with its pair (:class:`TailBuffer`,
  :func:`finalise_tail`);
- :class:`ScoreAccumulator`: streamed comparisons with known cells -> summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import ConfigError
from ._summary import ScoreSummary

EXACT_FMR = 0.0
"""Default share of each cell's impostor scores kept exactly beyond ``min_exact``
(``exact_fmr``). 0: every cell keeps a tail of ``min_exact`` scores, so memory does not grow
with the number of pairs; a count inside a histogram bin below the tail is made exact by the
second pass (:mod:`faceaudit._recount`) at the thresholds an audit reports."""
DEFAULT_N_BINS = 2**14
DEFAULT_MIN_EXACT = 50_000


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


def binning_for_range(lo: float, hi: float, n_bins: int) -> Binning:
    """``n_bins`` bins of a power-of-two width covering ``[lo, hi]``, edges multiples of it."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = -1.0, 1.0
    span = max(hi - lo, 0.0)
    w = 2.0 ** math.ceil(math.log2(span / (n_bins - 1))) if span > 0 else 1.0
    start = math.floor(lo / w) * w
    return Binning(start, start + n_bins * w, n_bins)


def binning_for(similarity: str, n_bins: int, max_sq_norm: float = 1.0) -> Binning:
    """Histogram range for a similarity (see the module docstring)."""
    if similarity == "cosine":
        return Binning(-1.0, 1.0, n_bins)
    reach = 2.0 * math.sqrt(max(max_sq_norm, 0.0))
    e = max(0, math.ceil(math.log2(reach))) if reach > 0 else 0
    return Binning(-(2.0**e), 0.0, n_bins)


# ---------------------------------------------------------------------------- tail
def tail_capacity(n_impostor: np.ndarray | int, exact_fmr: float, min_exact: int) -> np.ndarray:
    """``max(min_exact, ceil(exact_fmr · n), 1)`` elementwise (int64): the tail of a
    non-empty cell holds at least its highest score."""
    n = np.asarray(n_impostor, dtype=np.int64)
    return np.maximum(max(int(min_exact), 1), np.ceil(exact_fmr * n).astype(np.int64))


def kth_largest(values: np.ndarray, k: int) -> float:
    """The ``k``-th largest value (1-based), ``values`` non-empty and ``k <= len(values)``."""
    n = len(values)
    return float(np.partition(values, n - k)[n - k])


class TailBuffer:
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


def merge_tails(into: dict[Any, TailBuffer], other: dict[Any, TailBuffer]) -> None:
    """Fold ``other``'s per-cell candidates into ``into`` (in place; ``other`` unchanged),
    each cell under the higher of the two floors: each is at most the cap-th largest score its
    side saw, so at most the cap-th largest of the union, and nothing of the final tail is
    dropped."""
    for cell, x in other.items():
        buf = into.get(cell)
        if buf is None:
            buf = into[cell] = TailBuffer(x.cap)
        buf.floor = max(buf.floor, x.floor)
        s, a, b = x.arrays()
        keep = s >= np.float32(buf.floor) if buf.floor > -np.inf else slice(None)
        buf.add(s[keep], a[keep], b[keep])


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


def concat_parts(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not parts:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return (
        np.concatenate([p[0] for p in parts]).astype(np.float64),
        np.concatenate([p[1] for p in parts]).astype(np.int64),
        np.concatenate([p[2] for p in parts]).astype(np.int64),
    )


def canonical_order(
    s: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs as ``a < b`` sorted by ``(a, b)``, then score (a vendor file may compare a pair
    twice): the order does not depend on the work split."""
    a, b = np.minimum(a, b), np.maximum(a, b)
    if len(a) == 0:
        return s, a, b
    width = int(b.max()) + 1
    if int(a.max()) < np.iinfo(np.int64).max // width:
        o = np.lexsort((s, a * width + b))
    else:  # pragma: no cover - more than 3e9 samples
        o = np.lexsort((s, b, a))
    return s[o], a[o], b[o]


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
        self.tails: dict[tuple[int, int], TailBuffer] = {}
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
                buf = self.tails[cell] = TailBuffer(int(self._cap[cell]))
            sel = idx[s[idx] >= buf.floor] if buf.floor > -np.inf else idx
            buf.add(s[sel], a[sel], b[sel])

    def absorb(self, other: ScoreAccumulator) -> ScoreAccumulator:
        """Fold ``other`` (the same cells and binning, e.g. another partition of a file) into
        this one, in place; order-independent. Returns ``self``."""
        self.hist += other.hist
        self.n_imp += other.n_imp
        self.gen += other.gen
        merge_tails(self.tails, other.tails)
        return self

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
        tail = canonical_order(*concat_parts(parts))
        gen = canonical_order(*concat_parts(self.gen))
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
