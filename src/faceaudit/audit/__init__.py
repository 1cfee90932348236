"""The audit: a list of stages from a dataset (or a vendor's score file) to a report folder.

Public entry points: :func:`run_audit`, :class:`AuditConfig` (fields, TOML layout, defaults),
:class:`AuditOutput`. The stages are :data:`STAGES` (:mod:`faceaudit.audit._stages`), run by
:func:`run_stages` (:mod:`faceaudit.audit._runner`), which wraps each in progress and timing,
warning capture, caching and provenance; heavy steps run on a :class:`Backend`
(:class:`InProcess` by default).

To add a stage, write a function whose parameters name what it needs (``cfg``, ``env``, earlier
stages by name) and return a frozen result, then add one :class:`Stage` line to
:data:`STAGES`; if its result belongs in ``results.json``, add its view to
:mod:`faceaudit.report._schema` and pass it on in the report stage.
"""

from __future__ import annotations

from ._backend import Backend, InProcess
from ._cache import default_cache_dir
from ._config import AuditConfig
from ._paired import audit_summary, paired_from_results
from ._run import STAGES, AuditOutput, run_audit
from ._runner import Environment, RunLog, Stage, StageCache, run_stages
from ._stages import quick_subset

__all__ = [
    "STAGES",
    "AuditConfig",
    "AuditOutput",
    "Backend",
    "Environment",
    "InProcess",
    "RunLog",
    "Stage",
    "StageCache",
    "audit_summary",
    "default_cache_dir",
    "paired_from_results",
    "quick_subset",
    "run_audit",
    "run_stages",
]
