"""Audit reports: ``results.json`` + CSV tables, figures (PNG + SVG) and a self-contained HTML file.

Public entry points:

- :func:`write_results` / :func:`load_results`: the machine-readable results (schema
  :data:`SCHEMA_VERSION`, documented in :mod:`faceaudit.report._results`);
- :func:`make_findings`: the plain-language findings, each with its interval and thin flag;
- :func:`render_html` / :func:`write_html`: the HTML report (Jinja2, autoescaped, offline);
- the figure functions of :mod:`faceaudit.report._plots` (``plot_det``, ``plot_fmr_heatmap``...).

Nothing here computes an error rate: rates come from :mod:`faceaudit.metrics` and
:mod:`faceaudit.identify`; the report formats, draws and explains them.
"""

from __future__ import annotations

from ._findings import make_findings
from ._html import render_html, write_html
from ._plots import (
    plot_det,
    plot_fmr_heatmap,
    plot_fte,
    plot_identification,
    plot_rates_ci,
    plot_score_distributions,
    save_figure,
)
from ._results import (
    GROUP_FIELDS,
    SCHEMA_VERSION,
    file_record,
    listing_digest,
    load_results,
    package_versions,
    write_results,
)

__all__ = [
    "GROUP_FIELDS",
    "SCHEMA_VERSION",
    "file_record",
    "listing_digest",
    "load_results",
    "make_findings",
    "package_versions",
    "plot_det",
    "plot_fmr_heatmap",
    "plot_fte",
    "plot_identification",
    "plot_rates_ci",
    "plot_score_distributions",
    "render_html",
    "save_figure",
    "write_html",
    "write_results",
]
