"""The scorer's work units on a Dask cluster (:func:`dask_executor`).

:func:`faceaudit.score_templates` hands its work units (stripes of rows of one cell, see
:mod:`faceaudit._tiles`) to an *executor*. This one cuts them into *pieces* of at most
``block_size`` rows × ``cols_per_task`` columns (:func:`faceaudit._tiles.cut_units`: the same
tiles), and sends each piece as one task carrying only what it reads: the prepared templates
of its rows and columns, their subjects, the genuine pairs between them, and the cells' tail
floors merged so far (``engine.restrict``: a piece then keeps only the candidates that may
still reach a final tail). The task runs the piece on one thread (single-threaded BLAS: the
same arithmetic as in-process), maps its positions back (``engine.globalise``) and returns its
state; the driver folds each state into one running total as it arrives (``absorb``:
histograms add, tails merge under the higher floor, genuine scores concatenate). A bounded
number of tasks is in flight (``in_flight`` per worker thread); the next is submitted as one
finishes. The accumulators are order-independent, so the :class:`~faceaudit.ScoreSummary` is
bit-identical to the in-process one for any piece size and number of workers (tested with a
LocalCluster in ``tests/test_cluster.py``).

Memory per worker does not grow with the number of templates: a task holds
``(rows + cols)·d·4`` bytes of templates (10 MiB at 4,096 + 16,384 rows, d = 128), one
``TILE``² float64 tile and its masks (~6 MiB), and its state: one cell's ``n_bins`` int64
histogram and at most ``max(2K, K + 65,536) + TILE²`` tail candidates of 20 bytes (``K`` the
cell's tail capacity, 50,000 by default: ~7 MiB), plus the genuine scores of the piece; a worker
holds at most ``in_flight`` tasks per thread. The driver holds the templates, the running total
(per cell a histogram and at most ``max(2K, K + 65,536)`` candidates), and the in-flight tasks.
The scheduler holds only the in-flight tasks. A task whose worker died is re-run
(``retries``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from .._progress import progress_bar
from .._tiles import TileEngine, Unit, WorkerState, absorb_state, cut_units, window
from ._connect import n_threads, require_dask

COLS_PER_TASK = 16_384
"""Columns of one task's piece (rows: the scorer's ``block_size``, 4,096 by default): 6.7e7
pairs, about half a second of one core at 128-d."""


def run_piece(engine: Any, unit: Unit, pos: Any, state: Callable[[], Any]) -> Any:
    """One task: a restricted engine runs its piece on one thread into a fresh ``state()``;
    the state comes back with layout positions (``engine.globalise``)."""
    from threadpoolctl import threadpool_limits

    st = state()
    with threadpool_limits(limits=1, user_api="blas"):
        engine.run_unit(unit, st)
    return engine.globalise(st, pos)


def dask_executor(
    client: Any,
    *,
    state: Callable[[], Any] = WorkerState,
    absorb: Callable[[Any, Any], Any] = absorb_state,
    cols_per_task: int = COLS_PER_TASK,
    in_flight: int = 2,
    retries: int = 3,
) -> Callable[[TileEngine, list[Unit], int, bool], list[Any]]:
    """An executor for :func:`faceaudit.score_templates` running on ``client``'s cluster.

    Parameters
    ----------
    client : distributed.Client
    state, absorb
        The per-task state (built with no argument, filled by ``engine.run_unit(unit,
        state)``) and the in-place, order-independent fold of a task's state into the running
        total (``absorb(total, st) -> total``): the scorer's
        :class:`~faceaudit._tiles.WorkerState` and :func:`~faceaudit._tiles.absorb_state` by
        default; any engine with ``run_unit``, ``restrict(pos, total)`` and
        ``globalise(state, pos)`` runs the same way (the second pass:
        :class:`faceaudit._recount.RecountEngine`).
    cols_per_task : int
        Columns of a task's piece (rounded up to a multiple of ``TILE``); rows are the
        scorer's ``block_size``. Larger: fewer tasks, more memory per task.
    in_flight : int
        Tasks submitted per worker thread at a time (one running, the rest queued).
    retries : int
        Times Dask re-runs a task whose worker died.

    The ``n_workers`` the scorer passes is ignored: the cluster's threads do the work.
    """
    require_dask()
    from distributed import as_completed

    def execute(engine: TileEngine, units: list[Unit], n_workers: int,
                progress: bool) -> list[Any]:
        pieces = iter(cut_units(units, cols_per_task))
        total = state()
        live: dict[str, tuple[Any, int]] = {}  # key -> (future, pairs of its piece)
        running = as_completed()

        def submit() -> bool:
            u = next(pieces, None)
            if u is None:
                return False
            pos, local = window(u)
            with warnings.catch_warnings():  # a piece's templates travel with it, on purpose
                warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
                f = client.submit(run_piece, engine.restrict(pos, total), local, pos, state,
                                  pure=False, retries=retries)
            live[f.key] = (f, u.n_pairs)
            running.add(f)
            return True

        for _ in range(max(1, n_threads(client) * int(in_flight))):
            if not submit():
                break
        done = 0
        try:
            with progress_bar(progress, sum(u.n_pairs for u in units)) as bar:
                for f in running:
                    absorb(total, f.result())  # raises the task's error here
                    done += live.pop(f.key)[1]
                    bar(done)
                    submit()
        finally:
            for f, _ in live.values():  # after an error: nothing left running
                f.cancel()
        return [total]

    return execute
