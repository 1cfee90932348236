"""Exact 1:N top-k search with the gallery sharded across a Dask cluster.

:func:`sharded_search` returns a drop-in for :func:`faceaudit.identify.search` (the ``searcher``
of :func:`faceaudit.identify.identify`). The gallery is cut into contiguous shards of rows;
each task runs the exact search (FAISS or NumPy, one thread) of every probe against one shard
and returns its top-``k`` (gallery rows shifted to the full gallery's numbering, canonical
scores). The driver merges per probe: all shards' candidates ordered by descending score, then
ascending gallery row (the tie rule of :mod:`faceaudit.identify._search`), first ``k`` kept.

Why the merge is exact: the single-machine result is the first ``k`` rows of the whole gallery
under that total order. A row in it belongs to some shard and is among the first ``k`` of that
shard under the same order (the shard's rows are a subset), so it is in the shard's list; the
union of the shards' lists therefore holds the global top-``k``, and the scores are the
canonical ones (:func:`faceaudit._similarity.prepared_pair_scores`), which do not depend on
the shard. Hence indices and scores are identical to :func:`faceaudit.identify.search`'s.

Memory per task: the shard (``4·d`` bytes a row, twice with FAISS's copy), the probes, and
``n_probes × k`` candidates; the driver holds ``n_probes × k × n_shards`` while merging.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from ._connect import n_threads, require_dask, share


def shard_topk(gallery: np.ndarray, probes: np.ndarray, k: int, offset: int, similarity: str,
               method: str, batch_size: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """One task: the exact top-``k`` of every probe in one gallery shard (rows + ``offset``)."""
    from ..identify import search

    c = search(gallery, probes, k, similarity=similarity, method=method,
               batch_size=batch_size, threads=1)
    return c.indices + offset, c.scores, c.n_refetched


def merge_topk(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Per probe, the first ``k`` of all parts' candidates: score descending, row ascending."""
    idx = np.concatenate([p[0] for p in parts], axis=1)
    sc = np.concatenate([p[1] for p in parts], axis=1)
    order = np.lexsort((idx, -sc))[:, :k]  # sorts each row; last key first
    return np.take_along_axis(idx, order, 1), np.take_along_axis(sc, order, 1)


MIN_SHARDED = 10**9
"""Probe × gallery pairs below which the search runs in this process: on smaller searches
the cluster's task round trips cost more than the search itself (same result either way)."""


def sharded_search(client: Any, *, n_shards: int | None = None, min_pairs: int = MIN_SHARDED,
                   retries: int = 3) -> Callable[..., Any]:
    """A :func:`faceaudit.identify.search` running on ``client``'s cluster, gallery sharded.

    Parameters
    ----------
    client : distributed.Client
    n_shards : int, optional
        Gallery shards (default: the cluster's worker threads).
    min_pairs : int
        Searches of fewer probe × gallery pairs run in this process (:data:`MIN_SHARDED`).
    retries : int
        Times Dask re-runs a task whose worker died.

    Returns
    -------
    callable
        ``search(gallery, probes, k, *, similarity, method, batch_size, threads)`` with the
        contract of :func:`faceaudit.identify.search` and identical results (module docstring);
        ``threads`` is ignored (one thread per task).
    """
    require_dask()

    def run(gallery: np.ndarray, probes: np.ndarray, k: int, *, similarity: str = "cosine",
            method: str = "faiss", batch_size: int | None = None,
            threads: int | None = None) -> Any:
        from ..identify import Candidates, search

        gallery, probes = np.asarray(gallery), np.asarray(probes)
        n = n_shards or n_threads(client)
        small = len(gallery) * len(probes) < min_pairs or len(gallery) < 2 * max(int(k), 1)
        if small or n < 2:
            return search(gallery, probes, k, similarity=similarity, method=method,
                          batch_size=batch_size, threads=threads)  # too small to shard
        search(gallery[:1], probes[:1], 1, similarity=similarity, method=method)  # validates
        bounds = np.linspace(0, len(gallery), min(n, len(gallery)) + 1).astype(np.int64)
        p = share(client, probes)
        futures = [client.submit(shard_topk, gallery[a:b], p, min(int(k), int(b - a)), int(a),
                                 similarity, method, batch_size, pure=False, retries=retries)
                   for a, b in itertools.pairwise(bounds) if b > a]
        parts = client.gather(futures)
        del futures, p
        idx, sc = merge_topk([(i, s) for i, s, _ in parts], min(int(k), len(gallery)))
        return Candidates(idx, sc, similarity, method, True, sum(r for _, _, r in parts))

    return run
