"""Exact top-k search of probes against a gallery, with FAISS or NumPy, and a naive reference.

Scores follow faceaudit's convention (similarities; accepted iff ``score >= threshold``):
cosine similarity of L2-normalised vectors, or ``-sqrt(L2²)`` for Euclidean models.

**The score of a pair** (everything in :mod:`faceaudit.identify` reports this value) is the
*canonical score*, the one definition of :mod:`faceaudit._similarity`
(:func:`~faceaudit._similarity.prepared_pair_scores`: float64 arithmetic on the float32
prepared vectors, rounded to float32). It does not depend on which BLAS, batch size or index
computed the candidate list, and it is the score the 1:1 scorer gives the same pair.

**Candidate generation** uses fast float32 scores (FAISS ``IndexFlatIP`` / ``IndexFlatL2``,
or a NumPy GEMM), fetching ``k + margin`` candidates per probe, which are then re-scored
canonically. A rigorous rounding-error bound for a float32 dot product of length ``d``,
:math:`|\\hat s - s| \\le \\gamma_d \\lVert a\\rVert\\lVert b\\rVert` with
:math:`\\gamma_d = d u / (1 - d u)`, :math:`u = 2^{-24}`, bounds the canonical score of every
*unfetched* gallery row; if that bound could reach the k-th canonical score, the probe is
searched again with 4× more candidates, and past 4096 candidates (massive exact ties, e.g.
duplicated templates) the whole gallery is scored canonically for that probe, in chunks. So
the result is **exact**: identical candidates and scores to :func:`brute_force_search`.
Memory is bounded: probes are processed in batches and re-scoring blocks stay under about
256 MiB; FAISS re-scores from the index's own copy of the gallery.

**Ties** are broken deterministically: candidates are ordered by descending score, then by
ascending gallery row (lower row first).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._errors import ConfigError, check_option, check_range, require
from .._similarity import SIMILARITIES, block_scores, prepare
from .._similarity import prepared_pair_scores as canonical_pair_scores

METHODS = ("faiss", "numpy")
"""Exact search back-ends. Both give identical results; FAISS is faster on large galleries."""

_U = 2.0 ** -24
_MARGIN = 8
_SCORE_BUDGET_BYTES = 256 << 20
_MAX_FETCH = 4096


@dataclass(frozen=True, eq=False)
class Candidates:
    """Top-k candidates of every probe.

    Attributes
    ----------
    indices : ndarray of int64, shape (n_probes, k)
        Gallery rows, best first (ties: lower row first).
    scores : ndarray of float64, shape (n_probes, k)
        Canonical scores (see the module docstring), non-increasing along each row.
    similarity : str
    method : str
        ``"faiss"``, ``"numpy"`` or ``"brute-force"``; every method here is exact.
    exact : bool
        Always True for the methods offered (approximate indexes would set it False).
    n_refetched : int
        Probes that needed a wider candidate fetch to prove exactness (diagnostic).
    """

    indices: np.ndarray
    scores: np.ndarray
    similarity: str
    method: str
    exact: bool = True
    n_refetched: int = 0

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])


def _validate(gallery: np.ndarray, probes: np.ndarray, k: int, similarity: str) -> None:
    check_option("similarity", similarity, SIMILARITIES)
    if gallery.ndim != 2 or probes.ndim != 2:
        raise ConfigError(f"gallery and probes must be 2-D arrays; got shapes {gallery.shape} "
                          f"and {probes.shape}")
    if gallery.shape[1] != probes.shape[1]:
        raise ConfigError(f"gallery and probes must have the same dimension; got "
                          f"{gallery.shape[1]} and {probes.shape[1]}")
    if not (np.isfinite(gallery).all() and np.isfinite(probes).all()):
        raise ConfigError("gallery and probes must be finite (exclude failed templates first)")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"k must be a positive integer; got {k!r}")


class _Bounds:
    """Rigorous bounds on the canonical score given a fast float32 score."""

    def __init__(self, similarity: str, dim: int, g_norm_max: float) -> None:
        self.similarity = similarity
        gamma = dim * _U / (1 - dim * _U)
        self.delta = 2 * gamma + 16 * _U  # fast-score error for (near-)unit vectors
        self.g_norm_max = g_norm_max
        self.gamma2 = 2 * (dim + 2) * _U / (1 - (dim + 2) * _U) + 16 * _U

    def _slack(self, s: np.ndarray) -> np.ndarray:
        return 8 * _U * np.abs(s) + 1e-30

    def upper(self, s: np.ndarray, p_norm: np.ndarray) -> np.ndarray:
        """Upper bound of the canonical score of a pair whose fast score is ``s``."""
        if self.similarity == "cosine":
            return s + self.delta + self._slack(s)
        d2err = self.gamma2 * (p_norm + self.g_norm_max) ** 2
        return -np.sqrt(np.maximum(s * s * (1 - 4 * _U) - d2err, 0.0)) + self._slack(s)

    def lower(self, s: np.ndarray, p_norm: np.ndarray) -> np.ndarray:
        """Lower bound of the canonical score of a pair whose fast score is ``s``."""
        if self.similarity == "cosine":
            return s - self.delta - self._slack(s)
        d2err = self.gamma2 * (p_norm + self.g_norm_max) ** 2
        return -np.sqrt(s * s * (1 + 4 * _U) + d2err) - self._slack(s)


def _norms(x: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Upper bounds (float64) of the row norms, computed in chunks without a float64 copy."""
    out = np.empty(len(x))
    for s in range(0, len(x), chunk):
        out[s:s + chunk] = np.sqrt(np.einsum("ij,ij->i", x[s:s + chunk], x[s:s + chunk],
                                             dtype=np.float64))
    return out * (1 + 1e-6)


Fetch = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]
"""(probe rows, kk) -> (gallery rows (r, kk), fast scores (r, kk)) for the kk best."""


def _brute_row(p: np.ndarray, G: np.ndarray, k: int, similarity: str,
               chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of one prepared probe by canonical scores of the whole gallery (chunked)."""
    s = np.concatenate([canonical_pair_scores(p[None, :], G[c:c + chunk], similarity)
                        for c in range(0, len(G), chunk)])
    order = np.lexsort((np.arange(len(G)), -s))[:k]
    return order, s[order]


def _exact_topk(fetch: Fetch, P: np.ndarray, G: np.ndarray, k: int, similarity: str,
                batch_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    n_g, d = G.shape
    k = min(k, n_g)
    p_norm = _norms(P)
    bounds = _Bounds(similarity, d, float(_norms(G).max()) if n_g else 0.0)
    out_i = np.empty((len(P), k), np.int64)
    out_s = np.empty((len(P), k), np.float64)
    n_refetched = 0
    kk0 = min(n_g, k + _MARGIN)
    for start in range(0, len(P), batch_size):
        pending = np.arange(start, min(start + batch_size, len(P)))
        kk = kk0
        while len(pending):
            if kk > max(kk0, _MAX_FETCH):
                # pathological ties: prove nothing more, score the whole gallery per probe
                for r in pending:
                    out_i[r], out_s[r] = _brute_row(P[r], G, k, similarity)
                break
            failed = []
            # rows per step so the (rows, kk, d) float64 re-scoring block stays bounded
            step = max(1, _SCORE_BUDGET_BYTES // (kk * d * 24))
            for c in range(0, len(pending), step):
                rows = pending[c:c + step]
                idx, fast = fetch(rows, kk)
                canon = canonical_pair_scores(P[rows][:, None, :], G[idx], similarity)
                order = np.argsort(idx, axis=1, kind="stable")
                idx = np.take_along_axis(idx, order, 1)
                canon = np.take_along_axis(canon, order, 1)
                fast_min = fast.min(axis=1)
                order = np.argsort(-canon, axis=1, kind="stable")
                idx = np.take_along_axis(idx, order, 1)[:, :k]
                canon = np.take_along_axis(canon, order, 1)[:, :k]
                if kk >= n_g:
                    ok = np.ones(len(rows), bool)
                else:  # every unfetched row scores at most `bound` (module docstring)
                    ok = bounds.upper(fast_min, p_norm[rows]) < canon[:, k - 1]
                out_i[rows[ok]] = idx[ok]
                out_s[rows[ok]] = canon[ok]
                failed.append(rows[~ok])
            pending = np.concatenate(failed) if failed else pending[:0]
            if kk == kk0:
                n_refetched += len(pending)
            kk = min(n_g, kk * 4)
    return out_i, out_s, n_refetched


def _numpy_fetcher(P: np.ndarray, G: np.ndarray, sq_p: np.ndarray | None,
                   sq_g: np.ndarray | None, similarity: str) -> Fetch:
    def fetch(rows: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
        s = block_scores(P[rows], G, similarity,
                         None if sq_p is None else sq_p[rows], sq_g)
        if kk >= s.shape[1]:
            idx = np.broadcast_to(np.arange(s.shape[1]), s.shape).copy()
        else:
            idx = np.argpartition(s, s.shape[1] - kk, axis=1)[:, s.shape[1] - kk:]
        return idx.astype(np.int64), np.take_along_axis(s, idx, 1).astype(np.float64)

    return fetch


def _resolve_threads(threads: int | None) -> int:
    try:
        n_cpu = len(os.sched_getaffinity(0))  # cores this process may use
    except AttributeError:  # pragma: no cover - not on Linux
        n_cpu = os.cpu_count() or 1
    if threads is None:
        return n_cpu
    check_range("threads", threads, low=1)
    return int(min(threads, n_cpu))


def search(
    gallery: np.ndarray,
    probes: np.ndarray,
    k: int,
    *,
    similarity: str = "cosine",
    method: str = "faiss",
    batch_size: int | None = None,
    threads: int | None = None,
) -> Candidates:
    """Exact top-``k`` gallery candidates of every probe.

    Parameters
    ----------
    gallery : ndarray, shape (n_gallery, d)
        Raw template vectors (normalised here for cosine). Must be finite.
    probes : ndarray, shape (n_probes, d)
    k : int
        Candidates per probe; capped at ``n_gallery``.
    similarity : {"cosine", "euclidean"}
    method : {"faiss", "numpy"}
        ``"faiss"``: ``IndexFlatIP`` on L2-normalised float32 vectors (cosine) or
        ``IndexFlatL2`` (Euclidean, score ``-sqrt(L2²)``). ``"numpy"``: float32 GEMM in bounded
        blocks. Both are exact (see the module docstring) and return identical results.
    batch_size : int, optional
        Probes per batch. Default: 4096 for FAISS; for NumPy as many as keep the score block
        and its selection index under about 256 MiB.
    threads : int, optional
        FAISS/OpenMP threads, capped at the machine's cores (default: all cores).

    Returns
    -------
    Candidates
        ``indices`` and canonical ``scores``, best first, ties broken by lower gallery row.
    """
    gallery = np.asarray(gallery)
    probes = np.asarray(probes)
    _validate(gallery, probes, k, similarity)
    check_option("method", method, METHODS)
    G, sq_g = prepare(gallery, similarity)
    P, sq_p = prepare(probes, similarity)
    if len(G) == 0 or len(P) == 0:
        kk = min(k, len(G))
        return Candidates(np.empty((len(P), kk), np.int64), np.empty((len(P), kk)),
                          similarity, method)
    if batch_size is not None:
        check_range("batch_size", batch_size, low=1)
    n_threads = _resolve_threads(threads)
    if method == "numpy":
        # per score: 4 bytes (float32) + 8 (argpartition's int64 index) + slack
        bs = batch_size or max(1, min(4096, _SCORE_BUDGET_BYTES // (16 * len(G))))
        idx, sc, nref = _exact_topk(_numpy_fetcher(P, G, sq_p, sq_g, similarity), P, G, k,
                                    similarity, bs)
        return Candidates(idx, sc, similarity, method, True, nref)

    faiss = require("faiss", "identify")
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n_threads)
    try:
        flat = faiss.IndexFlatIP if similarity == "cosine" else faiss.IndexFlatL2
        index = flat(G.shape[1])
        index.add(G)
        # re-score from the index's own copy of the gallery (one copy in memory, not two)
        G = faiss.rev_swig_ptr(index.get_xb(), G.size).reshape(G.shape)

        def fetch(rows: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
            dist, ids = index.search(np.ascontiguousarray(P[rows]), kk)
            dist = dist.astype(np.float64)
            if similarity == "euclidean":
                dist = -np.sqrt(np.maximum(dist, 0.0))
            return ids.astype(np.int64), dist

        idx, sc, nref = _exact_topk(fetch, P, G, k, similarity, batch_size or 4096)
    finally:
        faiss.omp_set_num_threads(before)
    return Candidates(idx, sc, similarity, method, True, nref)


def brute_force_search(
    gallery: np.ndarray,
    probes: np.ndarray,
    k: int,
    *,
    similarity: str = "cosine",
    chunk: int = 65536,
) -> Candidates:
    """Reference search: canonical score of *every* pair, then a full sort. Slow; for tests.

    Ordering: descending score, then ascending gallery row. Uses memory ``O(n_gallery)`` per
    probe (the gallery is processed in chunks of ``chunk`` rows).
    """
    gallery = np.asarray(gallery)
    probes = np.asarray(probes)
    _validate(gallery, probes, k, similarity)
    G, _ = prepare(gallery, similarity)
    P, _ = prepare(probes, similarity)
    k = min(k, len(G))
    out_i = np.empty((len(P), k), np.int64)
    out_s = np.empty((len(P), k), np.float64)
    for i in range(len(P)):
        s = np.concatenate([canonical_pair_scores(P[i][None, :], G[c:c + chunk], similarity)
                            for c in range(0, len(G), chunk)]) if len(G) else np.empty(0)
        order = np.lexsort((np.arange(len(G)), -s))[:k]
        out_i[i] = order
        out_s[i] = s[order]
    return Candidates(out_i, out_s, similarity, "brute-force")


def count_at_or_above(
    gallery: np.ndarray,
    probes: np.ndarray,
    threshold: float,
    *,
    similarity: str = "cosine",
    gallery_labels: np.ndarray | None = None,
    n_labels: int | None = None,
    gallery_person: np.ndarray | None = None,
) -> np.ndarray:
    """Exact count of gallery rows (or people) scoring ``>= threshold`` with each probe.

    Fast float32 scores decide every pair whose rounding-error interval (module docstring)
    lies clearly on one side of the threshold; the others are re-scored canonically.

    Parameters
    ----------
    gallery_labels : ndarray of int, shape (n_gallery,), optional
        Count separately per label (e.g. the gallery row's group); ``n_labels`` columns.
        With ``gallery_person``, one label per *person*.
    gallery_person : ndarray of int, shape (n_gallery,), optional
        Person of each gallery row, non-decreasing (a person's rows contiguous), values
        ``0..n_people-1``. A person counts once if any of their rows scores ``>= threshold``
        (max-score fusion).

    Returns
    -------
    ndarray of int64, shape (n_probes, n_labels) (or (n_probes,) without labels)
    """
    gallery = np.asarray(gallery)
    probes = np.asarray(probes)
    _validate(gallery, probes, 1, similarity)
    G, sq_g = prepare(gallery, similarity)
    P, sq_p = prepare(probes, similarity)
    starts = None
    n_units = len(G)
    if gallery_person is not None:
        gp = np.asarray(gallery_person, np.int64)
        if len(gp) != len(G) or (len(gp) and (np.diff(gp) < 0).any()):
            raise ConfigError("gallery_person must be non-decreasing with one value per "
                              "gallery row")
        starts = (np.flatnonzero(np.r_[True, np.diff(gp) != 0]) if len(gp)
                  else np.zeros(0, np.int64))
        n_units = len(starts)
    labels = np.zeros(n_units, np.int64) if gallery_labels is None else np.asarray(gallery_labels)
    if len(labels) != n_units:
        unit = "person" if starts is not None else "row"
        raise ConfigError(f"gallery_labels must have one value per gallery {unit} "
                          f"({n_units}); got {len(labels)}")
    if gallery_labels is None:
        n_lab = 1
    else:
        n_lab = int(n_labels if n_labels is not None else labels.max() + 1)
    acc = np.float32 if n_units < 2**24 else np.float64  # exact integer sums
    onehot = np.zeros((n_units, n_lab), acc)
    onehot[np.arange(n_units), labels] = 1.0
    p_norm = _norms(P)
    bounds = _Bounds(similarity, G.shape[1], float(_norms(G).max()) if len(G) else 0.0)
    out = np.zeros((len(P), n_lab), np.int64)
    bs = max(1, min(4096, _SCORE_BUDGET_BYTES // (8 * max(len(G), 1))))
    t = float(threshold)
    for start in range(0, len(P), bs):
        sl = slice(start, min(start + bs, len(P)))
        s = block_scores(P[sl], G, similarity, None if sq_p is None else sq_p[sl], sq_g)
        s = s.astype(np.float64)
        pn = p_norm[sl][:, None]
        hit = bounds.lower(s, pn) >= t
        unsure = ~hit & (bounds.upper(s, pn) >= t)
        if unsure.any():
            r, c = np.nonzero(unsure)
            hit[r, c] = canonical_pair_scores(P[sl][r], G[c], similarity) >= t
        if starts is not None and len(starts):
            hit = np.logical_or.reduceat(hit, starts, axis=1)
        out[sl] = np.rint(hit.astype(acc) @ onehot).astype(np.int64)
    return out if gallery_labels is not None else out[:, 0]
