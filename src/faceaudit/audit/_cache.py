"""The audit's cache: where it lives, and the score-summary cache that wraps the score stage.

Templates are biometric data: the cache (and the template store inside it) is never inside
the report folder. A score summary is cached under a sha256 of everything that shapes it
(faceaudit and engine versions, the manifest, the grouping, the scoring options and the
templates' or score file's sha256), so a changed input or engine never reuses a stale one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._provenance import file_record, manifest_digest
from .._summary import ENGINE_VERSION, ScoreSummary
from .._summary import FORMAT_VERSION as SUMMARY_FORMAT
from ._runner import StageCache


def default_cache_dir(path: str | None = None) -> Path:
    """``path``, else ``$FACEAUDIT_CACHE``, else ``<data home>/audit-cache``."""
    from ..datasets import data_home

    if path:
        return Path(path).expanduser()
    env = os.environ.get("FACEAUDIT_CACHE")
    return Path(env).expanduser() if env else data_home() / "audit-cache"


def _summary_key(cfg: Any, data: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    from .. import __version__

    return {
        "faceaudit": __version__,
        "engine": [ENGINE_VERSION, SUMMARY_FORMAT],
        "manifest": manifest_digest(data.manifest),
        "grouping": data.grouping.to_dict(),
        "impostors": cfg.impostors,
        "exact_fmr": cfg.exact_fmr,
        "seed": cfg.seed,
        "templates": inputs.get("templates", {}).get("sha256"),
        "scores": inputs.get("scores", {}).get("sha256"),
        "scores_options": [cfg.scores_distance, cfg.on_error] if cfg.scores else None,
    }


def summary_cache(result_type: Any) -> StageCache:
    """The cache of the score stage; ``result_type(summary)`` wraps a loaded summary."""
    return StageCache(
        name="summary",
        key=_summary_key,
        load=lambda path: result_type(ScoreSummary.load(path)),
        save=lambda result, path: result.summary.save(path),
        record=lambda path, key: {
            "score_summary": {"sha256": file_record(path)["sha256"], "cache_key": key}
        },
    )
