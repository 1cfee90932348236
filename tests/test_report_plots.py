"""Figures: every plot saves PNG + SVG, labels are safe, histogram panels keep every count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceaudit import Manifest, Templates
from faceaudit._scorer import score_templates
from faceaudit.metrics import det_curve
from faceaudit.report import _plots as P
from faceaudit.report._figures import histogram_panels

LABELS = ("F / black", "M / white", "a $x$ label", "<script>")


@pytest.fixture(scope="module")
def summary():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    rows = [
        {"sample_id": f"{g}-{s}-{k}", "subject_id": f"{g}-{s}", "grp": lab}
        for g, lab in enumerate(LABELS)
        for s in range(4 + 2 * g)
        for k in range(2)
    ]
    m = Manifest(pd.DataFrame(rows))
    vec = rng.normal(size=(m.n_subjects, 8))[m.subject_codes] + 0.7 * rng.normal(size=(len(m), 8))
    t = Templates.from_vectors(m.sample_ids, vec)
    return score_templates(
        t, m, grouping="grp", progress=False, n_workers=1, exact_fmr=0.05, min_exact=5, n_bins=64
    )


def _saved(fig, folder: Path, name: str) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    out = P.save_figure(fig, folder, name)
    assert out["png"].read_bytes()[:4] == b"\x89PNG"
    svg = out["svg"].read_text()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    return out


def test_histogram_panels_keep_every_score(summary) -> None:  # type: ignore[no-untyped-def]
    panels = histogram_panels(summary, n_bins=40)
    assert list(panels) == list(summary.group_labels)
    for g, lab in enumerate(summary.group_labels):
        edges, gen, imp = panels[lab]
        s = summary.scores((g, g))
        assert len(edges) == 41 and gen.sum() == s.n_genuine and imp.sum() == s.n_impostor
    # the summary really had a histogram part (not only an exact tail) for this to mean much
    assert summary.impostor_hist.sum() > 0


def test_every_figure_saves_png_and_svg(summary, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    labels = list(summary.group_labels)
    curves = {}
    for g, lab in enumerate(labels):
        f, fn, _ = det_curve(summary.scores((g, g)))
        curves[lab] = (f, fn)
    _saved(
        P.plot_det(curves, operating_points={labels[0]: (0.01, 0.2)}, thin=[labels[-1]]),
        tmp_path,
        "det",
    )
    out = _saved(
        P.plot_score_distributions(histogram_panels(summary), threshold=0.5), tmp_path, "dist"
    )
    svg = out["svg"].read_text()
    assert "&lt;script&gt;" in svg  # labels are text in the SVG, XML-escaped
    assert "a $x$ label" in svg  # "$" shown literally, not as mathtext
    g = len(labels)
    fm = np.arange(g * g).reshape(g, g) % 3
    nn = np.full((g, g), 100)
    nn[0, 1] = nn[1, 0] = 0
    _saved(P.plot_fmr_heatmap(labels, fm / 100, fm, nn), tmp_path, "heat")
    tab = pd.DataFrame(
        {
            "fmr": [0.001, 0.0, 0.01, np.nan],
            "fmr_ci_low": [1e-4, 0, 1e-3, np.nan],
            "fmr_ci_high": [0.01, 0.05, 0.03, np.nan],
            "fnmr": [0.1, 0.2, 0.0, 0.5],
            "fnmr_ci_low": [0.05, 0.1, 0.0, 0.1],
            "fnmr_ci_high": [0.2, 0.3, 0.1, 0.9],
            "thin": [False, False, True, True],
            "fte": [0.0, 0.01, 0.1, 0.0],
            "fte_ci_low": [0, 0.001, 0.02, 0],
            "fte_ci_high": [0.05, 0.05, 0.3, 0.5],
            "n_fte": [0, 1, 2, 0],
            "n_samples": [40, 100, 20, 5],
        },
        index=labels,
    )
    _saved(P.plot_rates_ci(tab), tmp_path, "rates")
    _saved(P.plot_fte(tab), tmp_path, "fte")
    curve = pd.DataFrame(
        {
            "group": ["overall"] * 5 + ["F / black"] * 2,
            "gallery_size": [10, 100, 1e5, 1e6, 1e7, 10, 100],
            "fpir": [0.01, 0.05, 0.5, 0.9, 1.0, 0.02, 0.06],
            "fpir_ci_low": [0, 0.02, 0.4, 0.8, 1.0, 0, 0.01],
            "fpir_ci_high": [0.05, 0.1, 0.6, 0.95, 1.0, 0.1, 0.2],
            "fnir": [0.1, 0.12, np.nan, np.nan, np.nan, 0.2, 0.3],
            "extrapolated": [False, False, True, True, True, False, False],
        }
    )
    _saved(P.plot_identification(curve), tmp_path, "ident")


def test_thin_curve_points_are_hollow_with_their_interval_not_a_spike() -> None:
    """issue 8 item 7: a group whose FNIR at N = 100 rests on 3 searches (1.0) must not be
    joined to the line as a spike: the line stops before it; the point is hollow with its
    whisker."""
    curve = pd.DataFrame({
        "group": ["G"] * 3, "gallery_size": [10, 30, 100],
        "fpir": [0.01, 0.02, 0.03], "fnir": [0.1, 0.12, 1.0],
        "fnir_ci_low": [0.05, 0.07, 0.29], "fnir_ci_high": [0.2, 0.2, 1.0],
        "n_nonmated": [100, 100, 100], "n_mated": [80, 60, 3], "extrapolated": [False] * 3,
    })
    fig = P.plot_identification(curve, level="90%")
    fnir_ax = fig.axes[1]
    solid = [ln for ln in fnir_ax.lines if ln.get_linestyle() == "-"]
    assert [list(ln.get_xdata()) for ln in solid] == [[10.0, 30.0]]
    hollow = [ln for ln in fnir_ax.lines if ln.get_markerfacecolor() in ("white", (1, 1, 1, 1))]
    assert len(hollow) == 1 and list(hollow[0].get_xdata()) == [100.0]
    assert fnir_ax.collections  # the whisker of the thin point
    assert "90% intervals" in fig._suptitle.get_text()
    # FPIR rests on 100 searches everywhere: one solid line through all three points
    assert [list(ln.get_xdata()) for ln in fig.axes[0].lines
            if ln.get_linestyle() == "-"] == [[10.0, 30.0, 100.0]]


def test_svg_is_byte_identical_when_redrawn(summary, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = P.save_figure(P.plot_score_distributions(histogram_panels(summary)), tmp_path / "a", "d")
    b = P.save_figure(P.plot_score_distributions(histogram_panels(summary)), tmp_path / "b", "d")
    assert a["svg"].read_bytes() == b["svg"].read_bytes()


def test_style_is_distinct_for_many_groups() -> None:
    styles = {tuple(P.style(i).values()) for i in range(32)}
    assert len(styles) == 32
    assert P.mpl_text("cost $5") == r"cost \$5"


def test_long_labels_are_shortened_before_matplotlib(tmp_path: Path) -> None:
    """issue 13: a 100 KB label took a minute (matplotlib lays out every character hundreds
    of times per figure); labels reach matplotlib shortened to DISPLAY_LABEL_CHARS."""
    from faceaudit._format import DISPLAY_LABEL_CHARS, label

    long_a, long_b = "a" * 100_000, "a" * 99_999 + "b"  # same start, still told apart
    labels = [long_a, long_b, "x" * 1000, "F / " + "y" * 60]
    g = len(labels)
    fig = P.plot_fmr_heatmap(labels, np.full((g, g), 0.01), np.ones((g, g)),
                             np.full((g, g), 100))
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == [label(x) for x in labels]
    assert max(map(len, ticks)) == DISPLAY_LABEL_CHARS and len(set(ticks)) == g
    assert ticks[0].startswith("aaaa") and "…" in ticks[0] and ticks[0] != ticks[1]
    _saved(fig, tmp_path, "heat")  # fits: no "axes sizes collapsed" warning (an error here)
    tab = pd.DataFrame({"fmr": [0.01] * g, "fmr_lo": [0.0] * g, "fmr_hi": [0.1] * g,
                        "fnmr": [0.1] * g, "fnmr_lo": [0.0] * g, "fnmr_hi": [0.2] * g,
                        "thin": [False] * g}, index=labels)
    fig = P.plot_rates_ci(tab)
    assert max(len(t.get_text()) for t in fig.axes[0].get_yticklabels()) <= DISPLAY_LABEL_CHARS
    _saved(fig, tmp_path, "rates")
