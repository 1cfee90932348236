"""Audit reports: ``results.json`` + CSV tables, figures (PNG + SVG) and a self-contained HTML file.

Public entry points:

- :func:`write_results` / :func:`load_results`: the machine-readable results (schema
  :data:`SCHEMA_VERSION`, documented in :mod:`faceaudit.report._schema`, which builds every
  section: :func:`verification_view`, :func:`identification_view`, :func:`dataset_view`,
  :func:`results_document`);
- :func:`make_findings`: the plain-language findings, each with its interval and thin flag;
- :func:`render_html` / :func:`write_html`: the HTML report (Jinja2, autoescaped, offline);
- :func:`draw_figures`: every figure of a report (which groups, where); the figure functions
  of :mod:`faceaudit.report._plots` (``plot_det``, ``plot_fmr_heatmap``...);
- :func:`compare_results`: two audits side by side.

Nothing here computes an error rate: rates come from :mod:`faceaudit.metrics` and
:mod:`faceaudit.identify`; the report formats, draws and explains them.
"""

from __future__ import annotations

from .._provenance import file_record, listing_digest, package_versions
from ._compare import compare_results, formatted_rows, render_compare_html
from ._figures import draw_figures
from ._findings import make_findings
from ._html import group_labels, render_html, write_html
from ._inference import inference_view
from ._plots import (
    plot_det,
    plot_fmr_heatmap,
    plot_fte,
    plot_identification,
    plot_rates_ci,
    plot_score_distributions,
    save_figure,
)
from ._policies import model_card_section, policies_section, policies_view
from ._probe import PROBE_KEY, probe_figures, probe_findings, probe_view
from ._schema import (
    GROUP_FIELDS,
    IDENT_WHATIF,
    SCHEMA_VERSION,
    dataset_view,
    group_records,
    identification_view,
    load_results,
    results_document,
    verification_view,
    write_results,
)
from ._tables import report_card

__all__ = [
    "GROUP_FIELDS",
    "IDENT_WHATIF",
    "PROBE_KEY",
    "SCHEMA_VERSION",
    "compare_results",
    "dataset_view",
    "draw_figures",
    "file_record",
    "formatted_rows",
    "group_labels",
    "group_records",
    "identification_view",
    "inference_view",
    "listing_digest",
    "load_results",
    "make_findings",
    "model_card_section",
    "package_versions",
    "plot_det",
    "plot_fmr_heatmap",
    "plot_fte",
    "plot_identification",
    "plot_rates_ci",
    "plot_score_distributions",
    "policies_section",
    "policies_view",
    "probe_figures",
    "probe_findings",
    "probe_view",
    "render_compare_html",
    "render_html",
    "report_card",
    "results_document",
    "save_figure",
    "verification_view",
    "write_html",
    "write_results",
]
