"""One call from an audit's clean templates to the probe-quality stress audit."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._manifest import Grouping, Manifest
from .._templates import Templates
from ._conditions import NONE, Condition, parse_conditions, severity
from ._degraded import degraded_templates, pipeline_config
from ._identify import clean_split
from ._measure import ProbeAudit, measure_probes, probe_people


def probe_audit(
    manifest: Manifest,
    grouping: Grouping,
    templates: Templates,
    conditions: str | Sequence[str] | Sequence[Condition],
    *,
    threshold: float,
    store: str | Path,
    model: str = "dlib",
    detector: str = "centerface",
    face_policy: str | None = None,
    people: int = 0,
    n_boot: int = 0,
    seed: int = 0,
    confidence: float = 0.95,
    target_fmr: float | None = None,
    reference_group: str | None = None,
    identification: bool = True,
) -> ProbeAudit:
    """Degrade the probe photos under each condition and measure FTA, FNMR and FMR per group.

    ``templates`` are the clean audit's (same manifest order, made by the pipeline ``model`` /
    ``detector`` / ``face_policy`` with results in ``store``); ``threshold`` is the clean
    audit's. The ``none`` level is always measured first (it reproduces the clean counts).
    With ``identification``, FNIR/FPIR of the degraded probes against the clean gallery of the
    clean audit's split are added (:mod:`faceaudit.probe._identify`).
    See :mod:`faceaudit.probe._measure` for the protocol and :mod:`faceaudit.probe._degraded`
    for the cache.
    """
    conds = tuple(c if isinstance(c, Condition) else None for c in conditions) \
        if not isinstance(conditions, str) else ()
    if not conds or None in conds:
        conds = parse_conditions(conditions if isinstance(conditions, str)
                                 else [str(c) for c in conditions])
    levels = display_order(conds)
    templates = templates.align(manifest.sample_ids)
    groups = manifest.groups(grouping)
    mask = probe_people(manifest, people, seed, groups)
    idx = np.flatnonzero(mask)
    paths = manifest.paths()
    config = pipeline_config(model, detector, face_policy)
    sets = degraded_templates([paths[i] for i in idx], templates.vectors[idx],
                              templates.ok[idx], config, levels, store,
                              clean_pipeline_id=templates.model_id, seed=seed)
    split = clean_split(manifest, templates, grouping, seed) if identification else None
    return measure_probes(manifest, groups, mask, templates.vectors,
                          templates.ok, templates.similarity, sets, threshold, n_boot=n_boot,
                          seed=seed, confidence=confidence, target_fmr=target_fmr,
                          reference_group=reference_group, split=split)


def display_order(conditions: Sequence[Condition]) -> tuple[Condition, ...]:
    """``none`` first, then each kind (in order of first appearance) by increasing severity,
    presets last in the order given."""
    kinds = list(dict.fromkeys(c.kind for c in conditions if c != NONE))
    out = [NONE]
    for kind in kinds:
        out += sorted((c for c in conditions if c.kind == kind), key=severity)
    return tuple(dict.fromkeys(out))
