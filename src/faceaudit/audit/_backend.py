"""Execution backends: where the heavy steps of an audit run (embed, score, read, search).

The embed, score and identification stages call a backend instead of the library functions
directly, so the same stages run in this process or on a cluster. :class:`InProcess` (the
default) calls the library as it is: worker processes for embedding, worker threads for
scoring, FAISS threads for the search. A cluster backend (e.g. a ``dask.distributed.Client``
wrapper) implements the same four methods and must return the same results, bit for bit.
"""

from __future__ import annotations

from typing import Any, Protocol

from .._manifest import Grouping, Manifest
from .._summary import ScoreSummary
from .._templates import Templates


class Backend(Protocol):
    """What an execution backend provides (keyword options as the library functions take)."""

    name: str

    def embed(self, manifest: Manifest, **options: Any) -> Templates:
        """Templates of every sample: :func:`faceaudit.embed_manifest`'s contract."""
        ...

    def score(self, templates: Templates, manifest: Manifest, **options: Any) -> ScoreSummary:
        """All comparisons folded into a summary: :func:`faceaudit.score_templates`'s."""
        ...

    def read_scores(self, path: str, manifest: Manifest, **options: Any) -> ScoreSummary:
        """A vendor's score file folded into a summary: :func:`faceaudit.read_scores`'s."""
        ...

    def recount(self, templates: Templates, manifest: Manifest, summary: ScoreSummary,
                thresholds: Any, **options: Any) -> ScoreSummary:
        """Second pass, exact counts at ``thresholds``: :func:`faceaudit.recount_templates`'s."""
        ...

    def recount_scores(self, path: str, manifest: Manifest, summary: ScoreSummary,
                       thresholds: Any, **options: Any) -> ScoreSummary:
        """Second pass over a vendor's score file: :func:`faceaudit.recount_scores`'s."""
        ...

    def identify(
        self, templates: Templates, manifest: Manifest, grouping: Grouping, **options: Any
    ) -> Any:
        """The 1:N audit: :func:`faceaudit.identify.identify`'s contract."""
        ...


class InProcess:
    """Runs every step in this process, with the library's own workers."""

    name = "in-process"

    def embed(self, manifest: Manifest, **options: Any) -> Templates:
        from ..pipeline import embed_manifest

        return embed_manifest(manifest, **options)

    def score(self, templates: Templates, manifest: Manifest, **options: Any) -> ScoreSummary:
        from .._scorer import score_templates

        return score_templates(templates, manifest, **options)

    def read_scores(self, path: str, manifest: Manifest, **options: Any) -> ScoreSummary:
        from .._vendor import read_scores

        return read_scores(path, manifest, **options)

    def recount(self, templates: Templates, manifest: Manifest, summary: ScoreSummary,
                thresholds: Any, **options: Any) -> ScoreSummary:
        from .._recount import recount_templates

        return recount_templates(templates, manifest, summary, thresholds, **options)

    def recount_scores(self, path: str, manifest: Manifest, summary: ScoreSummary,
                       thresholds: Any, **options: Any) -> ScoreSummary:
        from .._vendor import recount_scores

        return recount_scores(path, manifest, summary, thresholds, **options)

    def identify(
        self, templates: Templates, manifest: Manifest, grouping: Grouping, **options: Any
    ) -> Any:
        from ..identify import identify

        return identify(templates, manifest, grouping, **options)

    def __repr__(self) -> str:
        return "InProcess()"
