r"""1:N searches with degraded probes against the clean gallery.

The gallery / probe split is the clean audit's (:func:`faceaudit.identify.split_gallery` on
the clean templates, the same seed and defaults as the identification stage), so the gallery
is always the clean enrolled photos. At each level, the split's mated and non-mated probes
that belong to the probe people are searched with their degraded templates
(:func:`faceaudit.identify.run_searches`) and FNIR(N, 1, T) / FPIR(N, T) per probe group come
from :func:`faceaudit.identify.rate_table` — the identification audit's own definitions and
intervals (Clopper–Pearson and the bootstrap over probe people). A probe lost at a level is a
failure to acquire: it is left out of FNIR/FPIR (algorithm level, as for failures to enrol)
and counted in ``n_searches_lost``. At the ``none`` level with every person a probe the
counts are the clean identification audit's at its full gallery.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from .._errors import UndefinedMetricWarning
from .._manifest import Grouping, Manifest
from .._templates import Templates
from ..metrics import searches_thin_reason, shown_interval
from ._degraded import DegradedSet

IDENT_RATES = ("fnir", "fpir")
"""The 1:N measures added to every row."""

_COUNTS = {"fnir": ("false_negatives", "n_mated"), "fpir": ("false_positives", "n_nonmated")}


def clean_split(manifest: Manifest, templates: Templates, grouping: Grouping, seed: int) -> Any:
    """The clean audit's gallery split (None when nobody can be enrolled)."""
    from .._errors import ConfigError
    from ..identify import split_gallery

    try:
        split = split_gallery(manifest, templates, grouping, seed=seed)
    except ConfigError:
        return None
    return split if split.n_gallery >= 2 else None


def identification_rows(split: Any, templates: Templates, probe_mask: np.ndarray,
                        level: DegradedSet, threshold: float, *, n_boot: int, seed: int,
                        confidence: float) -> dict[str, dict[str, Any]]:
    """Per group label (and ``overall``): FNIR and FPIR fields of one level."""
    from ..identify import rate_table, run_searches

    t = templates.align(split.sample_ids)
    idx = np.flatnonzero(probe_mask)
    vectors = t.vectors.copy()
    vectors[idx[level.ok]] = level.vectors[level.ok]
    role = split.role.copy()
    searched = np.isin(role, ("mated", "nonmated"))
    role[searched & ~probe_mask] = "unenrolled"  # not a probe person: not searched here
    lost = np.zeros(len(role), bool)
    lost[idx[~level.ok]] = True
    lost &= searched & probe_mask
    role[lost & (role == "mated")] = "fte_mated"
    role[lost & (role == "nonmated")] = "fte_nonmated"
    mixed = Templates(t.sample_ids, vectors, t.status, t.detail, t.model_id, t.similarity)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        s = run_searches(dataclasses.replace(split, role=role), mixed)
        table = rate_table(s, threshold, 1, confidence=confidence, n_boot=n_boot, seed=seed)
    codes, labels = split.groups.codes, list(split.groups.labels)
    out: dict[str, dict[str, Any]] = {}
    for label, r in table.iterrows():
        sel = lost if label == "overall" else lost & (codes == labels.index(label))
        row: dict[str, Any] = {"n_searches_lost": int(sel.sum())}
        for m in IDENT_RATES:
            errors, trials = _COUNTS[m]
            lo, hi = shown_interval(r, m)
            why = searches_thin_reason(int(r[trials]))
            row.update({m: float(r[m]), f"{m}_low": lo, f"{m}_high": hi,
                        f"{m}_errors": int(r[errors]), f"{m}_trials": int(r[trials]),
                        f"{m}_thin": bool(why), f"{m}_thin_reason": why})
        out[str(label)] = row
    return out
