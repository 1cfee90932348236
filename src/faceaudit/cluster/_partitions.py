"""A vendor score file's partitions read on a Dask cluster (:func:`dask_partitions`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._connect import require_dask


def dask_partitions(client: Any, *, retries: int = 3
                    ) -> Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]:
    """A partition runner for :func:`faceaudit.read_scores` / :func:`faceaudit.recount_scores`
    (``partitions=``): one task per partition, results in the partitions' order, so the
    summary equals one reader's (:mod:`faceaudit._vendor_parts`). The workers read the file
    from its path: it must be on a filesystem they see. A task whose worker died is re-run
    (``retries``)."""
    require_dask()

    def run(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        futures = client.map(fn, list(items), pure=False, retries=retries)
        try:
            return list(client.gather(futures))
        finally:
            client.cancel(futures)

    return run
