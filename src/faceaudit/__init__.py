"""faceaudit: measure who a face recognition system fails.

Data flows one way::

    dataset adapter -> Manifest -> pipeline -> Templates (+ failures to enrol)
        -> comparisons -> ScoreSummary -> metrics -> report

A vendor's score file enters at the ScoreSummary. Conventions: scores are similarities
(higher = more alike) and a comparison is accepted iff ``score >= threshold``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import (
    ConfigError,
    DownloadError,
    FaceauditError,
    InexactMetricWarning,
    InputError,
    IntegrityError,
    ManifestError,
    MissingDependencyError,
    OutputError,
    ScoreFileError,
    ThinDataWarning,
    UndefinedMetricWarning,
)
from ._manifest import UNKNOWN, GroupAssignment, Grouping, Manifest
from ._similarity import SIMILARITIES, distance_to_threshold
from ._summary import ScoreSet, ScoreSummary
from ._templates import FAILURE_STATUSES, Templates

__version__ = "0.1.0"

# Heavier entry points load on first use, so `import faceaudit` stays light and no model,
# plotting or FAISS code is imported until it is needed.
_LAZY = {
    "score_templates": "._scorer",
    "read_scores": "._vendor",
    "recount_templates": "._recount",
    "recount_scores": "._vendor",
    "read_bob_scores": "._bob",
    "AuditResult": ".metrics",
    "load_dataset": ".datasets",
    "embed_manifest": ".pipeline",
    "AuditConfig": ".audit",
    "AuditOutput": ".audit",
    "run_audit": ".audit",
}
_SUBPACKAGES = ("audit", "datasets", "identify", "metrics", "pipeline", "report")


def __getattr__(name: str) -> object:
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'faceaudit' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from ._bob import read_bob_scores
    from ._recount import recount_templates
    from ._scorer import score_templates
    from ._vendor import read_scores, recount_scores
    from .audit import AuditConfig, AuditOutput, run_audit
    from .datasets import load_dataset
    from .metrics import AuditResult
    from .pipeline import embed_manifest

__all__ = [
    "FAILURE_STATUSES",
    "SIMILARITIES",
    "UNKNOWN",
    "AuditConfig",
    "AuditOutput",
    "AuditResult",
    "ConfigError",
    "DownloadError",
    "FaceauditError",
    "GroupAssignment",
    "Grouping",
    "InexactMetricWarning",
    "InputError",
    "IntegrityError",
    "Manifest",
    "ManifestError",
    "MissingDependencyError",
    "OutputError",
    "ScoreFileError",
    "ScoreSet",
    "ScoreSummary",
    "Templates",
    "ThinDataWarning",
    "UndefinedMetricWarning",
    "__version__",
    "distance_to_threshold",
    "embed_manifest",
    "load_dataset",
    "read_bob_scores",
    "read_scores",
    "recount_scores",
    "recount_templates",
    "run_audit",
    "score_templates",
]
