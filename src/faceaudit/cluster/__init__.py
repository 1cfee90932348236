"""Scale-out on Dask: the same exact audit on a cluster (optional extra ``faceaudit[cluster]``).

- :func:`connect` opens a :class:`distributed.Client` from a ``cluster`` setting
  (``"local:4"``, ``"tcp://host:8786"``); :func:`parse_cluster` checks one;
- :class:`DaskBackend` is the audit's execution backend on a client
  (``run_audit(cfg, client=client)``, or ``[cluster] address = "local:4"`` in the TOML, or
  ``faceaudit audit --cluster local:4``);
- :func:`dask_executor` runs :func:`faceaudit.score_templates`' work units on the cluster
  (``score_templates(..., executor=dask_executor(client))``): bit-identical summaries;
- :func:`dask_embed_runner` embeds shards of the manifest on the workers (models loaded once
  per worker), the driver storing each shard in the template store as it finishes (resumable);
- :func:`dask_partitions` reads a vendor score file's partitions on the workers
  (``read_scores(..., partitions=dask_partitions(client))``): the same summary;
- :func:`sharded_search` is :func:`faceaudit.identify.search` with the gallery sharded over the
  workers (``identify(..., searcher=sharded_search(client))``): identical candidates.

Nothing here imports Dask until it is used. See ``docs/scale-out.md`` for deployments.
"""

from __future__ import annotations

from ._backend import DaskBackend
from ._connect import SCHEMES, ClusterSpec, connect, is_client, parse_cluster, require_dask
from ._embed import dask_embed_runner
from ._partitions import dask_partitions
from ._score import dask_executor
from ._search import merge_topk, sharded_search

__all__ = [
    "SCHEMES",
    "ClusterSpec",
    "DaskBackend",
    "connect",
    "dask_embed_runner",
    "dask_executor",
    "dask_partitions",
    "is_client",
    "merge_topk",
    "parse_cluster",
    "require_dask",
    "sharded_search",
]
