"""``results.json``: every number of an audit, machine-readable, with what is needed to re-run it.

The file is the contract between an audit and everything that reads it (the HTML report,
``faceaudit compare``, a reviewer's script). Its top-level keys (schema
:data:`SCHEMA_VERSION`):

``schema_version`` (int), ``tool`` (name, version), ``created_utc`` (ISO 8601)
    What wrote the file and when.
``config``
    The resolved audit configuration (every default filled in).
``inputs``
    ``{name: {"path", "sha256", "bytes"}}`` for every input file (manifest, score file,
    templates, model files); an image folder is hashed as the sha256 of its sorted
    ``path\\tsize\\tsha256`` listing (:func:`listing_digest`).
``versions``
    Versions of Python and of every package that can change a number (numpy, scipy, dlib,
    onnxruntime, faiss, ...); ``null`` when not installed.
``seeds``
    ``random_state`` and ``n_boot`` of the bootstrap intervals.
``dataset``
    Sample, subject and group counts, the grouping and the recorded exclusions.
``verification``
    The 1:1 results: ``threshold`` and how it was chosen, and ``groups``, one record per
    group with its counts, rates and intervals (keys listed in :data:`GROUP_FIELDS`), plus
    ``fmr_matrix`` (group × group) and the metric ``summaries``.
``identification``
    The 1:N results (or ``null``).
``findings``
    Plain-language findings, each with its ``value``, ``ci`` and a ``thin`` flag.
``warnings``, ``timings_s``
    Every warning raised while computing, and wall time per stage.

Rates are fractions in [0, 1]; missing or undefined values are ``null``. Beside the JSON the
per-group table, the FMR matrix and the 1:N curve are written as CSV (:func:`write_tables`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._errors import InputError
from .._io import atomic_write, sha256_file, write_json
from .._manifest import name_to_text

SCHEMA_VERSION = 1

GROUP_FIELDS = (
    "group",
    "n_subjects",
    "n_samples",
    "n_fte",
    "fte",
    "fte_lo",
    "fte_hi",
    "n_mated",
    "n_false_non_match",
    "fnmr",
    "fnmr_lo",
    "fnmr_hi",
    "n_nonmated",
    "n_false_match",
    "fmr",
    "fmr_lo",
    "fmr_hi",
    "fta",
    "far",
    "frr",
    "fmr_ratio",
    "fmr_ratio_lo",
    "fmr_ratio_hi",
    "fnmr_ratio",
    "fnmr_ratio_lo",
    "fnmr_ratio_hi",
    "thin",
    "thin_reason",
)
"""Columns of ``verification.groups`` and ``by_group.csv``; ratios are to the reference group."""

VERSIONED_PACKAGES = (
    "faceaudit",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "matplotlib",
    "jinja2",
    "dlib-bin",
    "dlib",
    "face-recognition-models",
    "onnx",
    "onnxruntime",
    "faiss-cpu",
    "pillow",
)


def package_versions(packages: Iterable[str] = VERSIONED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (``None`` when absent), plus Python and the platform."""
    from importlib import metadata

    out: dict[str, str | None] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def file_record(path: str | Path) -> dict[str, Any]:
    """``{"path", "sha256", "bytes"}`` of one input file.

    Raises
    ------
    InputError
        If the file does not exist.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: input file not found, cannot record its checksum")
    return {"path": str(p.resolve()), "sha256": sha256_file(p), "bytes": p.stat().st_size}


def listing_digest(
    paths: Iterable[str | Path | None], root: str | Path | None = None
) -> dict[str, Any]:
    """A digest of a set of image files: sha256 of their sorted ``path\\tsize\\tsha256`` lines.

    Paths are written relative to ``root`` when given (so two copies of a dataset in
    different folders hash alike). Missing files are listed with size ``-1`` and hash
    ``missing`` (they become failures to enrol, and the digest records that).

    Returns ``{"sha256", "n_files", "n_missing", "root"}``.
    """
    root_p = Path(root).resolve() if root is not None else None
    lines = []
    missing = 0
    for p in paths:
        if p is None:
            continue
        q = Path(p)
        try:
            name = str(q.resolve().relative_to(root_p)) if root_p is not None else str(q)
        except ValueError:
            name = str(q)
        name = name_to_text(name)  # a file name that is not UTF-8, as in its sample id
        if q.is_file():
            lines.append(f"{name}\t{q.stat().st_size}\t{sha256_file(q)}")
        else:
            missing += 1
            lines.append(f"{name}\t-1\tmissing")
    lines.sort()
    h = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return {
        "sha256": h,
        "n_files": len(lines),
        "n_missing": missing,
        "root": str(root_p) if root_p is not None else None,
    }


def shown_interval(row: Mapping[str, Any], key: str) -> tuple[float, float]:
    """The interval the report shows for rate ``key`` ("fmr", "fnmr"): the hull of the exact
    Clopper–Pearson interval (``<key>_lo/_hi``) and the bootstrap-over-people interval
    (``<key>_boot_lo/_hi``), whichever parts exist.

    Clopper–Pearson treats comparisons as independent, which they are not (one person is in
    many pairs), so alone it is too narrow for large groups; the bootstrap accounts for that
    but cannot see errors no resample contains (``[0, 0]`` when none was observed). The hull
    is honest in both cases. NaN bounds when neither exists.
    """
    los, his = [], []
    for lo_key, hi_key in ((f"{key}_lo", f"{key}_hi"), (f"{key}_boot_lo", f"{key}_boot_hi")):
        try:
            lo, hi = float(row.get(lo_key)), float(row.get(hi_key))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if np.isfinite(lo) and np.isfinite(hi):
            los.append(lo)
            his.append(hi)
    return (min(los), max(his)) if los else (float("nan"), float("nan"))


def utc_now() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def group_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """``verification.groups`` of a results mapping as a DataFrame indexed by group label."""
    rows = (results.get("verification") or {}).get("groups") or []
    df = pd.DataFrame(rows)
    for col in GROUP_FIELDS:
        if col not in df:
            df[col] = np.nan
    df = df[list(GROUP_FIELDS) + [c for c in df.columns if c not in GROUP_FIELDS]]
    for key in ("fmr", "fnmr"):  # the intervals the report shows (see shown_interval)
        iv = [shown_interval(r, key) for r in df.to_dict("records")]
        df[f"{key}_shown_lo"] = [a for a, _ in iv]
        df[f"{key}_shown_hi"] = [b for _, b in iv]
    return df.set_index("group")


def fmr_matrix_frame(results: Mapping[str, Any]) -> pd.DataFrame:
    """The group × group FMR matrix as a long table (one row per unordered pair of groups)."""
    m = (results.get("verification") or {}).get("fmr_matrix")
    if not m:
        return pd.DataFrame(columns=["group_a", "group_b", "fmr", "n_false_match", "n_nonmated"])
    labels = m["labels"]
    rows = []
    for i, a in enumerate(labels):
        for j in range(i, len(labels)):
            rows.append(
                {
                    "group_a": a,
                    "group_b": labels[j],
                    "fmr": m["fmr"][i][j],
                    "n_false_match": m["n_false_match"][i][j],
                    "n_nonmated": m["n_nonmated"][i][j],
                }
            )
    return pd.DataFrame(rows)


def write_tables(folder: str | Path, results: Mapping[str, Any]) -> dict[str, Path]:
    """Write ``by_group.csv``, ``fmr_matrix.csv`` and (with 1:N results) ``identification.csv``."""
    folder = Path(folder)
    out = {}
    tables = {
        "by_group": group_table(results).reset_index(),
        "fmr_matrix": fmr_matrix_frame(results),
    }
    ident = results.get("identification") or {}
    if ident.get("curve"):
        tables["identification"] = pd.DataFrame(ident["curve"])
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
