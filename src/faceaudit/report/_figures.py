"""Which figures an audit report shows, of which groups, and where they are written.

Also :func:`histogram_panels`: the per-group score histograms the distributions figure draws.

:func:`draw_figures` draws every figure of the report from a results mapping (see
:mod:`faceaudit.report._schema`) and the score summary, and saves each as PNG and SVG
(:func:`faceaudit.report._plots.save_figure`). A figure that cannot be drawn never sinks the
report: it is left out with an :class:`~faceaudit.AuditNote` saying why. Figures show at most
:data:`MAX_FIGURE_GROUPS` groups (the reference first, then by genuine pairs); every group
stays in the tables, ``results.json`` and the CSV files.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import _format as F
from .._errors import AuditNote
from .._format import as_float
from ..metrics import CONFIDENCE, MIN_SEARCHES
from . import _plots as P
from ._schema import group_table

MAX_FIGURE_GROUPS = 12
"""Figures draw at most this many groups (tables and files keep every group)."""


def _count(x: Any) -> int:
    v = as_float(x)
    return int(v) if math.isfinite(v) else 0


class _Saver:
    """Draws and saves figures into ``folder``; records their files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.figures: dict[str, Path] = {}
        self.files: dict[str, Path] = {}

    def __call__(self, name: str, make: Callable[[], Any]) -> None:
        try:
            fig = make()
        except (ValueError, IndexError) as exc:  # a figure must never sink the report
            warnings.warn(f"figure {name!r} not drawn: {exc}", AuditNote, stacklevel=2)
            return
        paths = P.save_figure(fig, self.folder, name)
        self.files[f"{name}_png"], self.files[f"{name}_svg"] = paths["png"], paths["svg"]
        self.figures[name] = paths["png"]


def figure_groups(tab: pd.DataFrame, reference: str | None) -> list[int]:
    """Group rows in display priority: the reference, then most genuine, then most impostor
    pairs (the first :data:`MAX_FIGURE_GROUPS` are drawn)."""
    labels = list(tab.index)
    return sorted(
        range(len(labels)),
        key=lambda i: (
            labels[i] != reference,
            -_count(tab.iloc[i]["n_mated"]),
            -_count(tab.iloc[i]["n_nonmated"]),
        ),
    )


def draw_figures(
    folder: str | Path, results: Mapping[str, Any], summary: Any
) -> tuple[dict[str, Path], dict[str, Path]]:
    """Draw and save every figure; returns ``(figures, files)``.

    ``figures`` maps a figure name (:data:`faceaudit.report._html.FIGURES`) to its PNG,
    ``files`` maps ``<name>_png`` / ``<name>_svg`` to the files written.
    """
    ver = results["verification"]
    tab = group_table(results)
    thin = [str(x) for x in tab.index[tab["thin"].astype(bool)]]
    save = _Saver(Path(folder))
    conf = (ver.get("inference") or {}).get("confidence", ver.get("confidence"))
    level = F.level(conf if conf is not None else CONFIDENCE)
    save("rates", lambda: P.plot_rates_ci(tab, level=level))
    m = ver["fmr_matrix"]
    labels = list(m["labels"])
    order = figure_groups(tab, ver.get("reference_group"))
    shown = sorted(order[:MAX_FIGURE_GROUPS])
    suffix = ""
    if len(shown) < len(labels):
        suffix = f"\n({len(shown)} largest of {len(labels)} groups)"
        warnings.warn(
            f"figures show the {len(shown)} largest of {len(labels)} groups; every group "
            "is in the tables, results.json and the CSV files", AuditNote, stacklevel=2)
    idx = np.array(shown)
    save(
        "heatmap",
        lambda: P.plot_fmr_heatmap(
            [labels[i] for i in shown],
            np.array(m["fmr"], dtype=float)[np.ix_(idx, idx)],
            np.array(m["false_matches"])[np.ix_(idx, idx)],
            np.array(m["n_nonmated"])[np.ix_(idx, idx)],
            title="False match rate between groups at the audit threshold" + suffix,
            target_fmr=ver.get("target_fmr") if ver.get("threshold_rule") == "target_fmr"
            else None,
        ),
    )
    _det(save, summary, tab, shown, thin, ver.get("reference_group"), suffix)
    panels = histogram_panels(summary)
    panels = {summary.group_labels[g]: panels[summary.group_labels[g]] for g in shown}
    save(
        "distributions",
        lambda: P.plot_score_distributions(
            panels,
            threshold=ver["threshold"],
            thin=thin,
            title="Score distributions per group: genuine (same person) and impostor pairs"
            + suffix,
        ),
    )
    save("fte", lambda: P.plot_fte(tab))
    ident = results.get("identification") or {}
    if ident.get("curve"):
        # all searches, then the reference and the largest groups (as in the other figures)
        keep = ["overall"] + [labels[i] for i in order[:5]]
        curve = pd.DataFrame(ident["curve"])
        curve = curve[curve["group"].isin(keep)]
        curve = curve.assign(_o=curve["group"].map(keep.index)).sort_values(["_o", "gallery_size"])
        save("identification", lambda: P.plot_identification(
            curve.drop(columns="_o"), level=level, min_searches=MIN_SEARCHES))
    return save.figures, save.files


def _det(save: _Saver, summary: Any, tab: pd.DataFrame, shown: list[int], thin: list[str],
         reference: str | None, suffix: str) -> None:
    """DET curves of the shown groups (their diagonal cells), with the operating points."""
    from ..metrics import det_curve

    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    ops: dict[str, tuple[float, float]] = {}
    for g in shown:
        lab = summary.group_labels[g]
        s = summary.scores((g, g))
        if s.n_genuine and s.n_impostor:
            fmr, fnmr, _ = det_curve(s)
            curves[lab] = (fmr, fnmr)
            r = tab.loc[lab]
            if math.isfinite(as_float(r["fmr"])) and math.isfinite(as_float(r["fnmr"])):
                ops[lab] = (float(r["fmr"]), float(r["fnmr"]))
    if curves:
        save(
            "det",
            lambda: P.plot_det(
                curves,
                operating_points=ops,
                thin=thin,
                reference=reference,
                title="DET curves per group: false non-match rate against false match rate"
                + suffix,
            ),
        )


# ----------------------------------------------------------------------- from a summary
def histogram_panels(
    summary, *, n_bins: int = 60
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per-group ``(edges, genuine_counts, impostor_counts)`` from a :class:`ScoreSummary`.

    Uses each group's diagonal cell (same-group impostors). Genuine scores are exact; the
    impostor count is the summary's histogram plus its exact tail, re-binned on common edges
    spanning every score (display only; no rate is computed from these counts).
    """
    from .._summary import bin_counts, bin_index

    sets = {lab: summary.scores((g, g)) for g, lab in enumerate(summary.group_labels)}
    # the range spans the scores that exist: exact ones, and the edges of non-empty bins
    src_edges = np.asarray(summary.hist_edges, float)
    used = np.asarray(summary.impostor_hist).sum(axis=(0, 1)) > 0
    finite = [src_edges[:-1][used], src_edges[1:][used]]
    finite = [a[np.isfinite(a)] for a in finite]
    for s in sets.values():
        finite += [s.genuine, s.impostor_tail]
    allv = np.concatenate([np.asarray(a, float).ravel() for a in finite]) if finite else np.zeros(0)
    allv = allv[np.isfinite(allv)]
    lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, n_bins + 1)
    out = {}
    src = summary.hist_edges
    # display position of each source bin: its centre, or its finite edge for open-ended bins
    left = np.where(np.isfinite(src[:-1]), src[:-1], src[1:])
    right = np.where(np.isfinite(src[1:]), src[1:], src[:-1])
    with np.errstate(invalid="ignore"):
        centres = np.clip((left + right) / 2, lo, hi)
    centres = np.where(np.isfinite(centres), centres, lo)
    for lab, s in sets.items():
        gen = bin_counts(np.asarray(s.genuine, float), edges)
        imp = bin_counts(np.asarray(s.impostor_tail, float), edges)
        hist = np.asarray(s.impostor_hist, np.int64)
        if hist.sum():
            k = bin_index(centres, edges)
            imp = imp + np.bincount(k, weights=hist, minlength=n_bins).astype(np.int64)
        out[lab] = (edges, gen, imp)
    return out
