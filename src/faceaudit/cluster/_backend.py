""":class:`DaskBackend`: the audit's heavy steps on a Dask cluster, same results bit for bit."""

from __future__ import annotations

from typing import Any

from .._manifest import Grouping, Manifest
from .._summary import ScoreSummary
from .._templates import Templates
from ._connect import is_client, require_dask
from ._embed import dask_embed_runner
from ._partitions import dask_partitions
from ._score import dask_executor
from ._search import MIN_SHARDED, sharded_search


class DaskBackend:
    """Runs an audit's embedding, scoring, vendor-file reading and 1:N search on a
    :class:`distributed.Client`.

    Implements the audit's backend protocol (``faceaudit.audit.Backend``) with the library
    functions' contracts; every result equals :class:`faceaudit.audit.InProcess`'s. 1:N
    searches of fewer than ``min_sharded`` probe × gallery pairs run in this process.
    """

    name = "dask"

    def __init__(self, client: Any, *, min_sharded: int = MIN_SHARDED) -> None:
        require_dask()
        if not is_client(client):
            from .._errors import ConfigError

            raise ConfigError(
                f"client must be a dask.distributed.Client; got {type(client).__name__}"
            )
        self.client = client
        self.min_sharded = min_sharded

    def embed(self, manifest: Manifest, **options: Any) -> Templates:
        from ..pipeline import embed_manifest

        options["runner"] = dask_embed_runner(self.client)
        return embed_manifest(manifest, **options)

    def score(self, templates: Templates, manifest: Manifest, **options: Any) -> ScoreSummary:
        from .._scorer import score_templates

        options.pop("executor", None)
        return score_templates(templates, manifest, executor=dask_executor(self.client),
                               **options)

    def read_scores(self, path: str, manifest: Manifest, **options: Any) -> ScoreSummary:
        from .._vendor import read_scores

        options["partitions"] = dask_partitions(self.client)
        return read_scores(path, manifest, **options)

    def recount(self, templates: Templates, manifest: Manifest, summary: ScoreSummary,
                thresholds: Any, **options: Any) -> ScoreSummary:
        from .._recount import RecountState, absorb_recount, recount_templates

        options["executor"] = dask_executor(self.client, state=RecountState,
                                            absorb=absorb_recount)
        return recount_templates(templates, manifest, summary, thresholds, **options)

    def recount_scores(self, path: str, manifest: Manifest, summary: ScoreSummary,
                       thresholds: Any, **options: Any) -> ScoreSummary:
        from .._vendor import recount_scores

        options["partitions"] = dask_partitions(self.client)
        return recount_scores(path, manifest, summary, thresholds, **options)

    def identify(
        self, templates: Templates, manifest: Manifest, grouping: Grouping, **options: Any
    ) -> Any:
        from ..identify import identify

        options["searcher"] = sharded_search(self.client, min_pairs=self.min_sharded)
        return identify(templates, manifest, grouping, **options)

    def __repr__(self) -> str:
        return f"DaskBackend({self.client!r})"
