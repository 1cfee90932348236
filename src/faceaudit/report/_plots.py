"""Figures of an audit: matplotlib (Agg, no display), each saved as PNG and SVG.

Every function here *draws* numbers computed elsewhere (metrics, identification, the score
summary); none computes an error rate. Each returns a :class:`matplotlib.figure.Figure`
built without :mod:`matplotlib.pyplot` (no global state, no display needed), and
:func:`save_figure` writes it atomically as ``<name>.png`` and ``<name>.svg``.

Conventions: scores are similarities and a comparison is accepted iff
``score >= threshold``; FMR axes are logarithmic; intervals are drawn as whiskers or bands
and groups flagged as *thin* (too little data to support the figure) are drawn hollow.
The palette is Okabe & Ito's colour-blind-safe set; beyond eight groups line styles and
markers also vary so that no two groups look alike.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._format import label
from .._io import atomic_write

OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow (last: weak on white)
)
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

_RC = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "faceaudit",  # deterministic SVG ids
    "svg.fonttype": "none",  # keep text as text in SVG (searchable, accessible)
}


GROUP_COLOURS = OKABE_ITO[:6]
"""Colours of ordinary groups: black is kept for the reference group, yellow is too pale."""
REFERENCE_STYLE = {"color": "#000000", "linestyle": "-", "marker": "o"}


def style(i: int) -> dict[str, object]:
    """Colour, line style and marker of the ``i``-th group (distinct for 24 groups)."""
    n = len(GROUP_COLOURS)
    return {
        "color": GROUP_COLOURS[i % n],
        "linestyle": LINESTYLES[(i // n) % len(LINESTYLES)],
        "marker": MARKERS[(i // n) % len(MARKERS)],
    }


def mpl_text(s: object) -> str:
    """A label safe for matplotlib: ``$`` would start mathtext, so it is escaped.

    Long labels are shortened first (:func:`faceaudit._format.label`): matplotlib lays
    out and renders every character of a label many times per figure (about 2 µs each, ~300
    times), so a 100 KB label cost a minute and a 20 MB one would never finish.
    """
    return label(s).replace("\\", "\\\\").replace("$", r"\$")


def _figure(width: float, height: float):  # -> Figure
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _rc():
    import matplotlib

    return matplotlib.rc_context(_RC)


def save_figure(fig, folder: str | Path, name: str) -> dict[str, Path]:
    """Write ``fig`` as ``folder/name.png`` (110 dpi) and ``folder/name.svg``, atomically.

    Returns ``{"png": path, "svg": path}``. Metadata dates are omitted so that re-running an
    audit gives byte-identical SVG files.
    """
    folder = Path(folder)
    out: dict[str, Path] = {}
    with _rc():
        for fmt in ("png", "svg"):
            buf = io.BytesIO()
            meta = {"Date": None} if fmt == "svg" else {"Software": None}
            fig.savefig(buf, format=fmt, dpi=110, metadata=meta)
            path = folder / f"{name}.{fmt}"
            with atomic_write(path) as fh:
                fh.write(buf.getvalue())
            out[fmt] = path
    return out


def _plain_log(axis) -> None:
    """Plain tick labels on a log axis ("0.001", "1e-05"): no mathtext, readable, fast."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _pct_short(x: float) -> str:
    """A rate as a short percentage with two significant digits: ``0.00021 -> "0.021%"``."""
    from .._format import pct

    return pct(x, 2)


def _pos(x: np.ndarray) -> np.ndarray:
    """Values for a log axis: zeros and NaN become NaN (not drawn)."""
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x, np.nan)


# ---------------------------------------------------------------------------------- DET
def plot_det(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    operating_points: Mapping[str, tuple[float, float]] | None = None,
    thin: Sequence[str] = (),
    reference: str | None = None,
    title: str = "DET curves per group: false non-match rate against false match rate",
):
    """DET curves, one per group: FNMR (y) against FMR (x, log scale).

    Parameters
    ----------
    curves : mapping of group label to ``(fmr, fnmr)`` arrays
        Points of each group's curve (e.g. from :func:`faceaudit.metrics.det_curve`).
        Points with ``fmr == 0`` cannot be shown on a log axis and are left out.
    operating_points : mapping of group label to ``(fmr, fnmr)``, optional
        Each group's error rates at the audit threshold, marked with a dot.
    thin : sequence of str
        Groups with too little data; drawn with thin lines and "(thin)" in the legend.
    reference : str, optional
        The reference group, drawn in black.
    """
    with _rc():
        fig = _figure(7.5, 5.2)
        ax = fig.add_subplot()
        k = 0
        for label, (fmr, fnmr) in curves.items():
            if label == reference:
                st = REFERENCE_STYLE
            else:
                st = style(k)
                k += 1
            is_thin = label in thin
            name = (
                mpl_text(label)
                + (" (reference)" if label == reference else "")
                + (" (thin)" if is_thin else "")
            )
            fmr = np.asarray(fmr, dtype=float)
            fnmr = np.asarray(fnmr, dtype=float)
            keep = fmr > 0
            ax.plot(
                fmr[keep],
                fnmr[keep],
                color=st["color"],
                linestyle=st["linestyle"],
                linewidth=1.0 if is_thin else 1.8,
                alpha=0.6 if is_thin else 1.0,
                label=name,
            )
            if operating_points and label in operating_points:
                x, y = operating_points[label]
                if x > 0:
                    ax.plot(
                        [x],
                        [y],
                        marker=st["marker"],
                        color=st["color"],
                        markersize=7,
                        markerfacecolor="white" if is_thin else st["color"],
                        linestyle="none",
                    )
        ax.set_xscale("log")
        _plain_log(ax.xaxis)
        ax.set_xlabel("False match rate, FMR (log scale): impostor pairs wrongly accepted")
        ax.set_ylabel("False non-match rate, FNMR: genuine pairs wrongly rejected")
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        if curves:
            ax.legend(
                fontsize=8,
                loc="upper right",
                title="group (dot = audit threshold)",
                title_fontsize=8,
            )
        return fig


# ------------------------------------------------------------------------- distributions
def plot_score_distributions(
    panels: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    threshold: float | None = None,
    thin: Sequence[str] = (),
    title: str = "Score distributions per group: genuine (same person) and impostor pairs",
):
    """Genuine and impostor score histograms, one small panel per group.

    Parameters
    ----------
    panels : mapping of group label to ``(edges, genuine_counts, impostor_counts)``
        Counts on common bin ``edges``. Counts are shown as a share of each kind's total on a
        log y axis so that the impostor tail near the threshold stays visible.
    threshold : float, optional
        The decision threshold (accepted iff ``score >= threshold``), drawn as a line.
    """
    n = max(len(panels), 1)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    with _rc():
        fig = _figure(3.6 * cols + 0.4, 2.6 * rows + 0.7)
        axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
        for k, (label, (edges, gen, imp)) in enumerate(panels.items()):
            ax = axes[k // cols][k % cols]
            edges = np.asarray(edges, dtype=float)
            for counts, colour, name in (
                (imp, OKABE_ITO[1], "impostor"),
                (gen, OKABE_ITO[0], "genuine"),
            ):
                counts = np.asarray(counts, dtype=float)
                tot = counts.sum()
                share = counts / tot if tot > 0 else counts
                ax.stairs(
                    _pos(share),
                    edges,
                    color=colour,
                    fill=False,
                    linewidth=1.4,
                    label=f"{name} (n={int(tot):,})",
                )
            if threshold is not None and np.isfinite(threshold):
                ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label="threshold")
            ax.set_yscale("log")
            _plain_log(ax.yaxis)
            ax.set_title(mpl_text(label) + (" (thin)" if label in thin else ""), fontsize=9)
            ax.legend(fontsize=7, loc="best", framealpha=0.7)
            if k % cols == 0:
                ax.set_ylabel("share of pairs (log)")
            if k // cols == rows - 1:
                ax.set_xlabel("similarity score")
        for k in range(len(panels), rows * cols):
            axes[k // cols][k % cols].set_visible(False)
        fig.suptitle(title)
        return fig


# ------------------------------------------------------------------------------ heatmap
def plot_fmr_heatmap(
    labels: Sequence[str],
    fmr: np.ndarray,
    false_matches: np.ndarray,
    n_nonmated: np.ndarray,
    *,
    title: str = "False match rate between groups at the audit threshold",
    target_fmr: float | None = None,
):
    """Group × group FMR matrix in the style of NIST FRVT Part 3's cross-group heatmaps: colour
    is log10 FMR (ticks at powers of ten), each cell annotated with its rate and counts, and
    the target FMR the threshold was set for marked on the colour bar.

    Cells with no false match are grey and read ``0 / n``; cells with no impostor pair are
    blank and read ``no pairs``. The matrix is symmetric (a cell is an unordered pair).
    """
    from matplotlib.colors import LogNorm

    fmr = np.array(fmr, dtype=float)
    fm = np.asarray(false_matches)
    nn = np.asarray(n_nonmated)
    g = len(labels)
    with _rc():
        size = max(4.5, 0.9 * g + 2.5)
        fig = _figure(size + 1.2, size)
        ax = fig.add_subplot()
        ax.grid(False)
        pos = fmr[(fmr > 0) & np.isfinite(fmr)]
        ax.imshow(np.where((nn > 0), 0.0, np.nan), cmap="Greys", vmin=-1, vmax=6)
        if pos.size:
            vmin = float(pos.min())
            vmax = float(pos.max()) if pos.max() > vmin else vmin * 10
            im = ax.imshow(
                np.where(fmr > 0, fmr, np.nan), cmap="cividis", norm=LogNorm(vmin=vmin, vmax=vmax)
            )
            cb = fig.colorbar(im, ax=ax, shrink=0.8)
            from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

            lo10, hi10 = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
            ticks = [10.0 ** k for k in range(lo10, hi10 + 1) if vmin <= 10.0 ** k <= vmax]
            if len(ticks) < 2:
                ticks = list(np.geomspace(vmin, vmax, 4))
            cb.ax.yaxis.set_major_locator(FixedLocator(ticks))
            cb.ax.yaxis.set_major_formatter(FuncFormatter(
                lambda v, _p: f"{math.log10(v):.1f}".replace(".0", "").replace("-", "−")))
            cb.ax.yaxis.set_minor_formatter(NullFormatter())
            cb.set_label("log₁₀ false match rate")
            if target_fmr is not None and vmin <= target_fmr <= vmax:
                cb.ax.axhline(target_fmr, color="red", linewidth=1.5)
        for i in range(g):
            for j in range(g):
                if nn[i, j] <= 0:
                    txt = "no pairs"
                else:
                    txt = (
                        f"{_pct_short(fmr[i, j])}\n{int(fm[i, j]):,}/{int(nn[i, j]):,}"
                        if fm[i, j]
                        else f"0\n0/{int(nn[i, j]):,}"
                    )
                colour = (
                    "white"
                    if fmr[i, j] > 0 and pos.size and fmr[i, j] < np.sqrt(vmin * vmax)
                    else "black"
                )
                ax.text(
                    j, i, txt, ha="center", va="center", fontsize=7 if g > 6 else 8, color=colour
                )
        ticks = [mpl_text(x) for x in labels]
        ax.set_xticks(range(g), ticks, rotation=45, ha="right")
        ax.set_yticks(range(g), ticks)
        ax.set_xlabel("group of one face in the impostor pair")
        ax.set_ylabel("group of the other face")
        ax.set_title(title + "\n(cell: FMR, then false matches / impostor pairs)")
        return fig


# ----------------------------------------------------------------------- dot-and-whisker
def plot_rates_ci(
    table: pd.DataFrame,
    *,
    title: str | None = None,
    level: str = "95%",
):
    """Per-group FMR and FNMR, each a dot with its interval (two panels, FMR on log scale).

    ``table`` has one row per group (index = label) and the columns ``fmr, fmr_ci_low,
    fmr_ci_high, fnmr, fnmr_ci_low, fnmr_ci_high`` (or ``fmr_shown_low`` ... when present, as
    :func:`~faceaudit.report._schema.group_table` adds) and optionally ``thin`` (bool).
    Hollow dots mark thin groups.
    Rates of 0 cannot be drawn on the log axis; their upper bound is drawn as a bar from the
    axis' left edge. ``level`` is the intervals' confidence, as printed in the title.
    """
    title = title or f"Error rates per group with {level} intervals"
    labels = [str(x) for x in table.index]
    y = np.arange(len(labels))[::-1]
    thin = table["thin"].to_numpy(bool) if "thin" in table else np.zeros(len(table), bool)
    with _rc():
        fig = _figure(9.5, max(2.5, 0.45 * len(labels) + 1.5))
        axes = fig.subplots(1, 2, sharey=True)
        for ax, key, name, colour, log in (
            (axes[0], "fmr", "False match rate (FMR, log scale)", OKABE_ITO[1], True),
            (axes[1], "fnmr", "False non-match rate (FNMR)", OKABE_ITO[0], False),
        ):
            v = table[key].to_numpy(float)
            src = f"{key}_shown" if f"{key}_shown_low" in table else f"{key}_ci"
            nan = pd.Series(np.nan, index=table.index)
            lo = table.get(f"{src}_low", nan).to_numpy(float)
            hi = table.get(f"{src}_high", nan).to_numpy(float)
            has = np.isfinite(lo) & np.isfinite(hi)
            if log:
                lo = np.where(lo < 1e-12, 0.0, lo)  # below any printable rate: drawn as 0
                floor = (
                    np.nanmin(np.concatenate([_pos(v), _pos(lo), _pos(hi), [np.nan]]))
                    if np.isfinite(np.concatenate([_pos(v), _pos(lo), _pos(hi)])).any()
                    else 1e-6
                )
                floor = floor / 3
                lo = np.where(has & (lo <= 0), floor, lo)
            for k in range(len(labels)):
                if has[k]:
                    ax.plot([lo[k], hi[k]], [y[k], y[k]], color=colour, linewidth=2, alpha=0.7)
                if np.isfinite(v[k]) and (v[k] > 0 or not log):
                    ax.plot(
                        [v[k]],
                        [y[k]],
                        marker="o",
                        markersize=7,
                        color=colour,
                        markerfacecolor="white" if thin[k] else colour,
                        linestyle="none",
                    )
                elif np.isfinite(v[k]):
                    ax.plot([lo[k]], [y[k]], marker="|", markersize=10, color=colour)
            if log:
                ax.set_xscale("log")
                _plain_log(ax.xaxis)
            else:
                ax.set_xlim(left=0)
            ax.set_xlabel(name)
        axes[0].set_yticks(
            y, [mpl_text(x) + (" (thin)" if t else "") for x, t in zip(labels, thin, strict=True)]
        )
        fig.suptitle(title + " (hollow = too little data)")
        return fig


# ---------------------------------------------------------------------------------- FTE
def plot_fte(
    table: pd.DataFrame,
    *,
    title: str = "Failure to enrol per group: images where no template could be made",
):
    """Bars of the failure-to-enrol rate per group with interval whiskers.

    ``table`` (index = group label) has ``fte`` and optionally ``fte_ci_low, fte_ci_high, n_fte,
    n_samples``; the bar is annotated ``n_fte / n_samples``.
    """
    labels = [str(x) for x in table.index]
    y = np.arange(len(labels))[::-1]
    v = table["fte"].to_numpy(float)
    with _rc():
        fig = _figure(7.5, max(2.5, 0.4 * len(labels) + 1.3))
        ax = fig.add_subplot()
        ax.barh(y, np.nan_to_num(v), color=OKABE_ITO[4], height=0.6)
        if "fte_ci_low" in table and "fte_ci_high" in table:
            lo = table["fte_ci_low"].to_numpy(float)
            hi = table["fte_ci_high"].to_numpy(float)
            ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(v)
            ax.errorbar(
                v[ok],
                y[ok],
                xerr=[v[ok] - lo[ok], hi[ok] - v[ok]],
                fmt="none",
                ecolor="black",
                capsize=3,
                linewidth=1,
            )
        if "n_fte" in table and "n_samples" in table:
            right = np.nanmax(
                np.concatenate([v, table.get("fte_ci_high", table["fte"]).to_numpy(float), [0.0]])
            )
            for k in range(len(labels)):
                ax.text(
                    right * 1.02 + 1e-4,
                    y[k],
                    f"{int(table['n_fte'].iloc[k]):,} / {int(table['n_samples'].iloc[k]):,}",
                    va="center",
                    fontsize=8,
                )
            ax.set_xlim(0, right * 1.25 + 1e-3)
        ax.set_yticks(y, [mpl_text(x) for x in labels])
        ax.set_xlabel("failure-to-enrol rate (share of images; text: failed / images)")
        ax.set_title(title)
        return fig


# ---------------------------------------------------------------------------------- 1:N
def _curve_points(ax: Any, x: np.ndarray, v: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  thin: np.ndarray, st: Mapping[str, Any], lab: str) -> None:
    """One group's measured points: a solid line through the points with enough searches;
    points with too few drawn hollow with their interval as a whisker (never a bare spike)."""
    solid = ~thin & np.isfinite(v)
    ax.plot(x[solid], v[solid], color=st["color"], marker=st["marker"], markersize=4,
            linestyle="-", label=lab)
    weak = thin & np.isfinite(v)
    if weak.any():
        ok = weak & np.isfinite(lo) & np.isfinite(hi)
        ax.errorbar(x[ok], v[ok], yerr=[np.maximum(v[ok] - lo[ok], 0),
                                        np.maximum(hi[ok] - v[ok], 0)],
                    fmt="none", ecolor=st["color"], elinewidth=1, capsize=2, alpha=0.7)
        ax.plot(x[weak], v[weak], linestyle="none", marker=st["marker"], markersize=5,
                color=st["color"], markerfacecolor="white",
                label=None if solid.any() else lab + " (too few searches)")


def plot_identification(
    curve: pd.DataFrame,
    *,
    max_groups: int = 6,
    title: str = "One-to-many search: error rates against gallery size",
    level: str = "95%",
    min_searches: int = 30,
):
    """FPIR and FNIR against gallery size (log x), with interval bands; extrapolation dashed.

    ``curve`` has columns ``gallery_size, fpir, fnir`` and optionally ``fpir_ci_low,
    fpir_ci_high, fnir_ci_low, fnir_ci_high``, ``n_nonmated``, ``n_mated`` (searches behind
    each FPIR / FNIR point), ``extrapolated`` (bool) and ``group`` (one line per group; the
    group ``"overall"`` first, at most ``max_groups`` lines). A measured point resting on
    fewer than ``min_searches`` searches is drawn hollow with its interval and the line does
    not pass through it. ``level`` is the intervals' confidence, as printed.
    """
    with _rc():
        fig = _figure(10, 4.4)
        axes = fig.subplots(1, 2)
        groups: list[Any] = list(dict.fromkeys(curve["group"])) if "group" in curve else [None]
        if "overall" in groups:  # the pooled line first, in the first colour
            groups.remove("overall")
            groups.insert(0, "overall")
        groups = groups[:max_groups]
        for ax, key, name, nkey in (
            (axes[0], "fpir", "False positive identification rate (FPIR)", "n_nonmated"),
            (axes[1], "fnir", "False negative identification rate (FNIR)", "n_mated"),
        ):
            for i, grp in enumerate(groups):
                d = curve if grp is None else curve[curve["group"] == grp]
                d = d.sort_values("gallery_size")
                st = style(i)
                ext = (
                    d["extrapolated"].to_numpy(bool)
                    if "extrapolated" in d
                    else np.zeros(len(d), bool)
                )
                x = d["gallery_size"].to_numpy(float)
                v = d[key].to_numpy(float)
                nan = np.full(len(d), np.nan)
                lo = d[f"{key}_ci_low"].to_numpy(float) if f"{key}_ci_low" in d else nan
                hi = d[f"{key}_ci_high"].to_numpy(float) if f"{key}_ci_high" in d else nan
                n = (pd.to_numeric(d[nkey], errors="coerce").to_numpy(float) if nkey in d
                     else np.full(len(d), np.inf))
                thin = ~ext & ~(n >= min_searches)
                measured = ~ext
                lab = "all searches" if grp in (None, "overall") else mpl_text(grp)
                _curve_points(ax, x[measured], v[measured], lo[measured], hi[measured],
                              thin[measured], st, lab)
                good = measured & ~thin & np.isfinite(v)
                if ext.any() and np.isfinite(v[ext]).any():
                    # join the dashed extrapolation to the last measured point with enough data
                    j = np.flatnonzero(ext)
                    if good.any():
                        j = np.concatenate([[np.flatnonzero(good)[-1]], j])
                    ax.plot(x[j], v[j], color=st["color"], linestyle="--")
                if i == 0:  # one band, over the points with enough data
                    ok = np.isfinite(lo) & np.isfinite(hi) & ~thin
                    ax.fill_between(
                        x[ok], lo[ok], hi[ok], color=st["color"], alpha=0.12, linewidth=0
                    )
            ax.set_xscale("log")
            _plain_log(ax.xaxis)
            ax.set_xlabel("gallery size (people enrolled, log scale)")
            ax.set_ylabel(name)
            ax.set_ylim(bottom=0)
        axes[0].legend(fontsize=7, title="probe group", title_fontsize=7)
        fig.suptitle(
            title + "\n(solid: measured; dashed: extrapolated beyond the data; "
            f"bands and whiskers: {level} intervals; hollow: fewer than {min_searches} searches)"
        )
        return fig
