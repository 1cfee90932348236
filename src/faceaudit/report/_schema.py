"""``results.json``: the one owner of its layout — every number of an audit, machine-readable.

The file is the contract between an audit and everything that reads it (the HTML report,
``faceaudit compare``, a reviewer's script). This module builds each of its sections from the
library's results (:func:`group_records`, :func:`verification_view`,
:func:`identification_view`, :func:`dataset_view`, :func:`results_document`) and writes and
reads it. Column names are the metrics' vocabulary everywhere (``false_matches``,
``n_nonmated``, ``fmr_ci_low`` ...; for 1:N ``false_positives`` of ``n_nonmated`` searches).
Its top-level keys (schema :data:`SCHEMA_VERSION`):

``schema_version`` (int), ``tool`` (name, version), ``created_utc`` (ISO 8601)
    What wrote the file and when.
``config``
    The resolved audit configuration (every default filled in).
``inputs``
    ``{name: {"path", "sha256", "bytes"}}`` for every input file (manifest, score file,
    templates, model files); an image folder is hashed as the sha256 of its sorted
    ``path\\tsize\\tsha256`` listing (:func:`faceaudit._provenance.listing_digest`).
``versions``
    Versions of Python and of every package that can change a number (numpy, scipy, dlib,
    onnxruntime, faiss, ...); ``null`` when not installed.
``seeds``
    ``seed`` and ``n_boot`` of the bootstrap intervals.
``dataset``
    Sample, subject and group counts, the grouping and the recorded exclusions.
``verification``
    The 1:1 results: ``threshold`` and how it was chosen, and ``groups``, one record per
    group with its counts, rates and intervals (keys listed in :data:`GROUP_FIELDS`), plus
    ``fmr_matrix`` (group × group) and the metric ``summaries``.
``identification``
    The 1:N results (or ``null``), ``identification_skipped`` saying why when ``null``.
``findings``
    Plain-language findings, each with its ``value``, ``ci`` and a ``thin`` flag.
``warnings``, ``timings_s``
    Every warning raised while computing, and wall time per stage.

Rates are fractions in [0, 1]; missing or undefined values are ``null``. Beside the JSON the
per-group table, the FMR matrix and the 1:N curve are written as CSV (:func:`write_tables`).
Schema 2 renamed the report's own column names to the metrics' (``fmr_lo`` -> ``fmr_ci_low``,
``n_false_match`` -> ``false_matches``, ``fmr_ratio`` -> ``fmr_ratio_to_reference``, 1:N
``n_fpir`` -> ``n_nonmated`` ...) and ``seeds.random_state`` to ``seeds.seed``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._errors import InputError
from .._io import atomic_write, write_json
from .._provenance import package_versions, utc_now
from ..metrics import THIN_RULE, shown_interval
from ._findings import identification_findings
from ._probe import PROBE_KEY

SCHEMA_VERSION = 2

GROUP_FIELDS = (
    "group",
    "n_subjects",
    "n_samples",
    "n_fte",
    "fte",
    "fte_ci_low",
    "fte_ci_high",
    "n_mated",
    "false_non_matches",
    "fnmr",
    "fnmr_ci_low",
    "fnmr_ci_high",
    "n_nonmated",
    "false_matches",
    "fmr",
    "fmr_ci_low",
    "fmr_ci_high",
    "fta",
    "far",
    "frr",
    "fmr_ratio_to_reference",
    "fmr_ratio_to_reference_boot_low",
    "fmr_ratio_to_reference_boot_high",
    "fnmr_ratio_to_reference",
    "fnmr_ratio_to_reference_boot_low",
    "fnmr_ratio_to_reference_boot_high",
    "thin",
    "thin_reason",
)
"""Columns of ``verification.groups`` and ``by_group.csv``; ratios are to the reference group."""

_COPIED = (
    "n_subjects", "n_samples", "n_fte", "fte", "fte_ci_low", "fte_ci_high", "n_mated",
    "false_non_matches", "fnmr", "fnmr_ci_low", "fnmr_ci_high", "n_nonmated", "false_matches",
    "fmr", "fmr_ci_low", "fmr_ci_high", "fmr_exact", "fta", "far", "frr",
    "fmr_ratio_to_reference", "fnmr_ratio_to_reference", "thin", "thin_reason", "thin_fmr",
    "thin_fmr_reason", "thin_fnmr", "thin_fnmr_reason",
)
"""AuditResult columns a group record carries as they are."""

IDENT_WHATIF = ((10_000, 1_000_000), (100_000, 10_000_000))
"""(searches a year, gallery size) of the deployment what-ifs in the report (the first is
shown)."""


def _num(x: Any) -> float | None:
    """A finite float, or None (missing, NaN, infinite, not a number)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# ---------------------------------------------------------------------------- verification
def group_records(audit: Any) -> list[dict[str, Any]]:
    """One record per group (:data:`GROUP_FIELDS` and more) from an :class:`AuditResult`.

    Values are copied as they are; the bootstrap quantiles ``<figure>_boot_q<q>`` of the
    first and last of ``ci_quantiles`` become ``<figure>_boot_low`` / ``_boot_high``.
    """
    d = audit.to_dict()
    q = d.get("ci_quantiles") or [0.025, 0.975]
    qlo, qhi = f"{q[0]:g}", f"{q[-1]:g}"
    attributes = audit.summary.grouping.attributes or ("group",)
    rows = []
    for g in d["groups"]:
        rec: dict[str, Any] = {
            "group": g["label"],
            "values": dict(zip(attributes, g["values"] or [g["label"]], strict=False)),
        }
        rec.update({k: g.get(k) for k in _COPIED})
        for fig in ("fmr", "fnmr", "fmr_ratio_to_reference", "fnmr_ratio_to_reference"):
            rec[f"{fig}_boot_low"] = g.get(f"{fig}_boot_q{qlo}")
            rec[f"{fig}_boot_high"] = g.get(f"{fig}_boot_q{qhi}")
        rows.append(rec)
    return rows


def verification_view(
    audit: Any, *, model_name: str, threshold_fixed: bool
) -> dict[str, Any]:
    """``results["verification"]`` from an :class:`AuditResult`."""
    d = audit.to_dict()
    m = d["fmr_matrix"]
    summaries = {}
    for k, v in (d.get("fairness") or {}).items():
        summaries[k] = v.get("value") if isinstance(v, Mapping) else v
    summary = audit.summary
    return {
        "model_name": model_name,
        "model_id": summary.model_id,
        "thin_rule": THIN_RULE,
        "similarity": summary.similarity,
        "threshold": d["threshold"],
        "threshold_rule": "fixed" if threshold_fixed else "target_fmr",
        "threshold_rule_text": d.get("threshold_rule"),
        "target_fmr": d.get("target_fmr"),
        "reference_group": d.get("reference_group"),
        "confidence": d.get("confidence"),
        "ci_quantiles": d.get("ci_quantiles"),
        "groups": group_records(audit),
        "overall": d.get("overall"),
        "fmr_matrix": {
            "labels": m["labels"],
            "fmr": m["fmr"],
            "false_matches": m["false_matches"],
            "n_nonmated": m["n_nonmated"],
            "exact": m.get("exact"),
        },
        "summaries": summaries,
        "fairness": d.get("fairness"),
        "protocol": dict(summary.protocol),
    }


# ---------------------------------------------------------------------------- 1:N
def _rate(row: Mapping[str, Any], key: str, low: str, high: str) -> dict[str, Any]:
    return {key: _num(row.get(key)), f"{key}_ci_low": _num(row.get(low)),
            f"{key}_ci_high": _num(row.get(high))}


def identification_curve(res: Any) -> list[dict[str, Any]]:
    """Measured FPIR/FNIR against gallery size, then the extrapolated FPIR (drawn dashed)."""
    curve: list[dict[str, Any]] = []
    if res.curve is not None:
        for row in res.curve.to_dict("records"):
            curve.append({
                "group": str(row["group"]),
                "gallery_size": int(row["gallery_size"]),
                **_rate(row, "fpir", "fpir_ci_low", "fpir_ci_high"),
                **_rate(row, "fnir", "fnir_ci_low", "fnir_ci_high"),
                "n_nonmated": row.get("n_nonmated"),
                "n_mated": row.get("n_mated"),
                "extrapolated": False,
            })
    for row in res.extrapolation.to_dict("records"):
        # one name per figure column: the predicted FPIR is drawn as FPIR, dashed
        curve.append({
            "group": str(row["group"]),
            "gallery_size": int(row["gallery_size"]),
            "extrapolated": True,
            "fpir": _num(row.get("fpir_pred")),
            "fpir_ci_low": _num(row.get("fpir_pred_ci_low")),
            "fpir_ci_high": _num(row.get("fpir_pred_ci_high")),
            "fnir": None, "fnir_ci_low": None, "fnir_ci_high": None,
        })
    return curve


def identification_view(res: Any, what_if: Sequence[str]) -> dict[str, Any]:
    """``results["identification"]`` from an :class:`IdentificationAudit` and what-if texts.

    Returns the report's view (``curve`` for the figure, ``what_if`` and ``plain_findings``
    sentences) plus ``raw``, the identification audit's own :meth:`to_dict`.
    """
    n_gal = int(res.split.n_gallery)
    rates = res.rates.reset_index() if res.rates.index.name else res.rates
    return {
        "gallery_size": n_gal,
        "threshold": float(res.threshold),
        "curve": identification_curve(res),
        "what_if": [str(w) for w in what_if],
        "plain_findings": identification_findings(rates, n_gal),
        "raw": res.to_dict(),
    }


# ---------------------------------------------------------------------------- document
def dataset_view(
    *,
    name: str,
    manifest: Any,
    n_before_limit: int,
    summary: Any,
    fte_reasons: Mapping[str, int],
    notes: Sequence[str],
) -> dict[str, Any]:
    """``results["dataset"]``: counts, grouping, exclusions, reasons of failures, notes."""
    return {
        "name": name,
        "n_samples": len(manifest),
        "n_subjects": manifest.n_subjects,
        "n_samples_before_limit": n_before_limit,
        "n_groups": summary.n_groups,
        "grouping": summary.grouping.to_dict(),
        "exclusions": dict(summary.exclusions),
        "fte_reasons": dict(fte_reasons),
        "notes": list(notes),
    }


def results_document(
    *,
    config: Mapping[str, Any],
    inputs: Mapping[str, Any],
    seed: int,
    n_boot: int,
    dataset: Mapping[str, Any],
    verification: Mapping[str, Any],
    identification: Mapping[str, Any] | None,
    identification_skipped: str | None,
    cache_dir: str,
    warnings: list[str],
) -> dict[str, Any]:
    """The top level of ``results.json`` (findings and timings are added by the caller)."""
    from .. import __version__

    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "faceaudit", "version": __version__},
        "created_utc": utc_now(),
        "config": dict(config),
        "inputs": dict(inputs),
        "versions": package_versions(),
        "seeds": {"seed": seed, "n_boot": n_boot},
        "dataset": dict(dataset),
        "verification": dict(verification),
        "identification": identification,
        "identification_skipped": identification_skipped,
        "cache_dir": cache_dir,
        "warnings": warnings,
    }


# ---------------------------------------------------------------------------- files
def group_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """``verification.groups`` of a results mapping as a DataFrame indexed by group label."""
    rows = (results.get("verification") or {}).get("groups") or []
    df = pd.DataFrame(rows)
    for col in GROUP_FIELDS:
        if col not in df:
            df[col] = np.nan
    df = df[list(GROUP_FIELDS) + [c for c in df.columns if c not in GROUP_FIELDS]]
    for key in ("fmr", "fnmr"):  # the intervals the report shows (metrics.shown_interval)
        iv = [shown_interval(r, key) for r in df.to_dict("records")]
        df[f"{key}_shown_low"] = [a for a, _ in iv]
        df[f"{key}_shown_high"] = [b for _, b in iv]
    return df.set_index("group")


def fmr_matrix_frame(results: Mapping[str, Any]) -> pd.DataFrame:
    """The group × group FMR matrix as a long table (one row per unordered pair of groups)."""
    m = (results.get("verification") or {}).get("fmr_matrix")
    if not m:
        return pd.DataFrame(columns=["group_a", "group_b", "fmr", "false_matches", "n_nonmated"])
    labels = m["labels"]
    rows = []
    for i, a in enumerate(labels):
        for j in range(i, len(labels)):
            rows.append(
                {
                    "group_a": a,
                    "group_b": labels[j],
                    "fmr": m["fmr"][i][j],
                    "false_matches": m["false_matches"][i][j],
                    "n_nonmated": m["n_nonmated"][i][j],
                }
            )
    return pd.DataFrame(rows)


def write_tables(folder: str | Path, results: Mapping[str, Any]) -> dict[str, Path]:
    """Write ``by_group.csv``, ``fmr_matrix.csv``, (with 1:N results) ``identification.csv``
    and (with probe conditions) ``probe_conditions.csv`` (the section's rows)."""
    folder = Path(folder)
    out = {}
    tables = {
        "by_group": group_table(results).reset_index(),
        "fmr_matrix": fmr_matrix_frame(results),
    }
    ident = results.get("identification") or {}
    if ident.get("curve"):
        tables["identification"] = pd.DataFrame(ident["curve"])
    if (results.get(PROBE_KEY) or {}).get("rows"):
        tables[PROBE_KEY] = pd.DataFrame(results[PROBE_KEY]["rows"])
    for name, df in tables.items():
        path = folder / f"{name}.csv"
        with atomic_write(path, "w") as fh:
            fh.write(df.to_csv(index=False, float_format="%.10g"))
        out[name] = path
    return out


def write_results(folder: str | Path, results: Mapping[str, Any]) -> Path:
    """Write ``folder/results.json`` (strict JSON, NaN as ``null``) and its CSV tables.

    ``schema_version``, ``tool`` and ``created_utc`` are filled in when absent.
    """
    from .. import __version__

    res = dict(results)
    res.setdefault("schema_version", SCHEMA_VERSION)
    res.setdefault("tool", {"name": "faceaudit", "version": __version__})
    res.setdefault("created_utc", utc_now())
    path = Path(folder) / "results.json"
    write_json(path, res)
    write_tables(folder, res)
    return path


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a ``results.json`` (or the audit folder holding one) and check its schema version.

    Raises
    ------
    InputError
        Missing file, invalid JSON, or a schema version this faceaudit cannot read.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.is_file():
        raise InputError(
            f"{p}: results.json not found; point at an audit output folder "
            "(made by `faceaudit audit`)"
        )
    try:
        res = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not valid JSON ({exc})") from exc
    if not isinstance(res, dict) or res.get("schema_version") != SCHEMA_VERSION:
        got = res.get("schema_version") if isinstance(res, dict) else None
        raise InputError(
            f"{p}: results schema_version must be {SCHEMA_VERSION}; got {got!r} "
            "(re-run the audit with this faceaudit version)"
        )
    return res
