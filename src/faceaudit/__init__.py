"""faceaudit: measure who a face recognition system fails.

Data flows one way::

    dataset adapter -> Manifest -> pipeline -> Templates (+ failures to enrol)
        -> comparisons -> ScoreSummary -> metrics -> report

A vendor's score file enters at the ScoreSummary. Conventions: scores are similarities
(higher = more alike) and a comparison is accepted iff ``score >= threshold``.
"""

from __future__ import annotations

from ._errors import (
    ConfigError,
    FaceauditError,
    InputError,
    IntegrityError,
    ManifestError,
    MissingDependencyError,
    ScoreFileError,
    ThinDataWarning,
    UndefinedMetricWarning,
)
from ._manifest import UNKNOWN, GroupAssignment, Grouping, Manifest
from ._similarity import SIMILARITIES, distance_to_threshold
from ._summary import ScoreSet, ScoreSummary
from ._templates import FAILURE_STATUSES, Templates

__version__ = "0.1.0"

__all__ = [
    "FAILURE_STATUSES",
    "SIMILARITIES",
    "UNKNOWN",
    "ConfigError",
    "FaceauditError",
    "GroupAssignment",
    "Grouping",
    "InputError",
    "IntegrityError",
    "Manifest",
    "ManifestError",
    "MissingDependencyError",
    "ScoreFileError",
    "ScoreSet",
    "ScoreSummary",
    "Templates",
    "ThinDataWarning",
    "UndefinedMetricWarning",
    "__version__",
    "distance_to_threshold",
]
