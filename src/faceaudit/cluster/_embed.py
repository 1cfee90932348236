"""Embedding on a Dask cluster (:func:`dask_embed_runner`): the runner of
:func:`faceaudit.pipeline.embed_manifest` that processes images on the workers.

The pipeline (detector, embedder, options: a :class:`~faceaudit.pipeline.PipelineConfig`,
models not yet loaded) is put on the cluster once, as the result of a task (so Dask can rebuild
it if the workers holding it die), and each worker keeps one copy while the run lasts: the
models load on a worker's first image and stay loaded for every later task on that worker.
Each task processes a shard of ``chunk_size`` images with
:func:`faceaudit.pipeline.process_chunk` (single-threaded BLAS, as a local worker process) and
returns their results; the driver stores each shard in the template store as it finishes, so a
run that is killed or interrupted resumes from what was stored, and the templates equal an
in-process run's bit for bit (each image is processed independently, by the same code).

Failures: a bad image is a recorded status, never an error (the pipeline's rule). A worker that
dies is replaced by Dask and its task re-run (up to ``distributed.scheduler.allowed-failures``
times); a shard whose task still kills workers is split into single images; an image whose task
still kills workers is run again at the end, alone on the cluster (so a death is its own, not a
neighbour's), and if it kills workers then it is recorded as ``"error"`` ("the worker process
died ...") — the run goes on.
A :class:`~faceaudit.FaceauditError` (a model file that cannot be loaded) stops the run, as in
process. Images are read by the workers: their paths must be visible there (shared
filesystem).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._templates import ERROR
from ._connect import require_dask, share


def embed_shard(config: Any, items: list[tuple[str, str]]) -> list[Any]:
    """One task: ``(sha256, path)`` items through the pipeline, BLAS single-threaded."""
    from threadpoolctl import threadpool_limits

    from ..pipeline import process_chunk

    with threadpool_limits(limits=1):
        return process_chunk(config, items)


def dask_embed_runner(client: Any, *, retries: int = 0) -> Callable[..., None]:
    """A runner for :func:`faceaudit.pipeline.embed_manifest` on ``client``'s cluster.

    Parameters
    ----------
    client : distributed.Client
    retries : int
        Extra re-runs of a task that raised (a worker's death is retried by the scheduler
        regardless). Processing an image never raises for a bad image, so 0 by default.
    """
    distributed = require_dask()

    def run(config: Any, todo: list[tuple[str, str]],
            on_results: Callable[[list[Any]], None], chunk_size: int) -> None:
        from ..pipeline import StoredResult

        cfg = share(client, config)

        def submit(items: list[tuple[str, str]]) -> Any:
            return client.submit(embed_shard, cfg, items, pure=False, retries=retries)

        shards = [todo[i:i + chunk_size] for i in range(0, len(todo), chunk_size)]
        pending = {submit(items): items for items in shards}
        suspects: list[tuple[str, str]] = []
        done = distributed.as_completed(list(pending))
        try:
            for fut in done:
                items = pending.pop(fut)
                try:
                    on_results(fut.result())
                except distributed.KilledWorker:
                    if len(items) == 1:  # it, or a task beside it on that worker, killed it
                        suspects.append(items[0])
                        continue
                    for it in items:  # find the image that kills workers
                        f = submit([it])
                        pending[f] = [it]
                        done.add(f)
            for sha, path in suspects:  # one at a time: a death now is the image's own
                f = submit([(sha, path)])
                pending[f] = [(sha, path)]
                try:
                    results = f.result()
                except distributed.KilledWorker:
                    results = [StoredResult(
                        sha, ERROR, f"the worker process died repeatedly while processing "
                                    f"{path} alone (crash or out of memory)")]
                pending.pop(f)
                on_results(results)
        finally:
            client.cancel(list(pending))  # interrupted: drop the shards not yet run

    return run
