"""The scorer's work units on a Dask cluster (:func:`dask_executor`).

:func:`faceaudit.score_templates` hands its work units (stripes of rows of one cell, see
:mod:`faceaudit._tiles`) to an *executor*. This one puts the tile engine (the prepared
templates in sorted order, a few bytes per pair of genuine scores) on the cluster once (one copy
per worker; a task's result, so Dask rebuilds it if the workers holding it die), cuts
the units into batches of about equal numbers of pairs, runs each batch as one task
(``run_units`` with one thread: the same tiles, the same arithmetic as in-process) into a
per-task :class:`~faceaudit._tiles.WorkerState`, and merges the states on the workers in a
binary tree with :func:`~faceaudit._tiles.merge_states`. The scorer merges the one final state
as it merges its own threads' states, so the :class:`~faceaudit.ScoreSummary` is bit-identical
to the in-process one for any block size, batch count and number of workers (the accumulators
are order-independent; tested with a LocalCluster in ``tests/test_cluster.py``).

The engine travels once through the scheduler to the first worker that needs it, and from
worker to worker after that (Dask warns about "large graphs" from a few MiB; that warning is
silenced here): ``4·N·d`` bytes, 26 MiB at N = 50,000, d = 128.

Memory per worker: the engine (``4·N·d`` bytes of float32 templates, plus genuine pair
indices), one tile's scores (``512·512·8`` bytes), and the states of the tasks it holds (a
``n_bins``-bin int64 histogram and at most ``2·K + 65,536`` tail candidates per cell, ``K``
the cell's tail capacity). A task that fails because its worker died is re-run (``retries``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from .._progress import progress_bar
from .._tiles import TILE, TileEngine, Unit, WorkerState, merge_states
from ._connect import n_threads, require_dask, share


def run_batch(engine: Any, units: list[Unit], state: Callable[[], Any]) -> Any:
    """One task: ``units`` run on one thread (single-threaded BLAS) into a fresh ``state()``."""
    from threadpoolctl import threadpool_limits

    st = state()
    with threadpool_limits(limits=1, user_api="blas"):
        for u in units:
            engine.run_unit(u, st)
    return st


def run_task(engine: Any, units: list[Unit], state: Callable[[], Any],
             merge: Callable[[Any, Any], Any]) -> Any:
    """:func:`run_batch`, returned as ``merge(state(), st)``: a clean copy holding only the
    accumulators (no per-worker scratch buffers travel between workers)."""
    return merge(state(), run_batch(engine, units, state))


def batches(units: list[Unit], n: int) -> list[list[Unit]]:
    """``units`` in at most ``n`` consecutive batches of about equal work (pairs + rows)."""
    if not units:
        return []
    weights = [u.n_pairs + (u.rows[1] - u.rows[0]) * TILE for u in units]
    total = sum(weights)
    out: list[list[Unit]] = [[]]
    acc = 0
    for u, w in zip(units, weights, strict=True):
        if out[-1] and acc >= total * len(out) / n:
            out.append([])
        out[-1].append(u)
        acc += w
    return out


def dask_executor(
    client: Any,
    *,
    state: Callable[[], Any] = WorkerState,
    merge: Callable[[Any, Any], Any] = merge_states,
    tasks_per_thread: int = 4,
    retries: int = 3,
) -> Callable[[TileEngine, list[Unit], int, bool], list[Any]]:
    """An executor for :func:`faceaudit.score_templates` running on ``client``'s cluster.

    Parameters
    ----------
    client : distributed.Client
    state, merge
        The per-task state (built with no argument, filled by ``engine.run_unit(unit,
        state)``) and the pure, order-independent merge of two states: the scorer's
        :class:`~faceaudit._tiles.WorkerState` and :func:`~faceaudit._tiles.merge_states` by
        default; any engine with the same shape (e.g. a re-counting pass) runs the same way.
    tasks_per_thread : int
        Batches per worker thread (more: finer load balance, more states to merge).
    retries : int
        Times Dask re-runs a task whose worker died.

    The ``n_workers`` the scorer passes is ignored: the cluster's threads do the work.
    """
    require_dask()
    from distributed import as_completed

    def execute(engine: TileEngine, units: list[Unit], n_workers: int,
                progress: bool) -> list[Any]:
        if not units:
            return []
        parts = batches(units, n_threads(client) * tasks_per_thread)
        with warnings.catch_warnings():  # sent once, on purpose (module docstring)
            warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
            eng = share(client, engine)
        futures = [client.submit(run_task, eng, b, state, merge, pure=False, retries=retries)
                   for b in parts]
        pairs = {f.key: sum(u.n_pairs for u in b) for f, b in zip(futures, parts, strict=True)}
        level = list(futures)
        while len(level) > 1:
            nxt = [client.submit(merge, a, b, pure=False, retries=retries)
                   for a, b in zip(level[::2], level[1::2], strict=False)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        done = 0
        with progress_bar(progress, sum(pairs.values())) as bar:
            for f in as_completed(futures):
                f.result()  # raises the task's error here
                done += pairs[f.key]
                bar(done)
        del futures
        merged = level[0].result()
        del level, eng  # releases the shared engine and the states on the workers
        return [merged]

    return execute
