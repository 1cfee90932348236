"""A manifest table (CSV, TSV or Parquet) used as it is, optionally with columns renamed.

This is :meth:`faceaudit.Manifest.read` plus ``rename``: many published label files call the
columns ``image``/``identity``/``race``; ``rename={"image": "sample_id", "identity":
"subject_id"}`` makes them a manifest without editing the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from .._manifest import Manifest
from ._common import LoadReport, value_counts
from .folder import read_label_table

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def load_table(
    path: str | os.PathLike[str],
    *,
    rename: Mapping[str, str] | None = None,
    attributes: Sequence[str] | None = None,
    categories: Mapping[str, Sequence[str]] | None = None,
    root: str | os.PathLike[str] | None = None,
    with_report: bool = False,
) -> Any:
    """Read a manifest table, renaming columns first.

    Parameters
    ----------
    path : path
        ``.csv``, ``.tsv`` or ``.parquet``/``.pq`` file with (after renaming) the columns
        ``sample_id``, ``subject_id``, optional ``path`` and attribute columns.
    rename : mapping of str to str, optional
        Old column name -> new name, applied before validation.
    attributes, categories : optional
        As in :class:`~faceaudit.Manifest`.
    root : path, optional
        Folder that relative ``path`` values are resolved against (default: the file's folder).
    with_report : bool
        Also return a :class:`~faceaudit.datasets.LoadReport` (a table leaves nothing out:
        every row is a sample or an error; the report gives the sizes and value counts).

    Returns
    -------
    Manifest, or (Manifest, LoadReport) with ``with_report=True``

    Raises
    ------
    ManifestError
        Unreadable file or a manifest rule broken (names the file and data row).
    ConfigError
        ``rename`` names a column the file lacks, or would create a duplicate column.
    """
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise ConfigError(
            f"path must end with one of {', '.join(TABLE_SUFFIXES)}; got {str(path)!r}"
        )
    manifest = _read(path, rename, attributes, categories, root)
    if not with_report:
        return manifest
    samples = manifest.samples
    report = LoadReport(
        dataset=f"table:{path}",
        n_samples=len(manifest),
        n_subjects=manifest.n_subjects,
        value_counts=value_counts({a: samples[a] for a in manifest.attributes}),
    )
    return manifest, report


def _read(
    path: Path,
    rename: Mapping[str, str] | None,
    attributes: Sequence[str] | None,
    categories: Mapping[str, Sequence[str]] | None,
    root: str | os.PathLike[str] | None,
) -> Manifest:
    if not rename:
        return Manifest.read(path, attributes=attributes, categories=categories, root=root)
    df, source = read_label_table(path)
    missing = [k for k in rename if k not in df.columns]
    if missing:
        raise ConfigError(
            f"rename keys must be columns of {source} ({list(df.columns)}); got {missing}"
        )
    new_cols = [rename.get(c, c) for c in df.columns]
    dup = sorted({c for c in new_cols if new_cols.count(c) > 1})
    if dup:
        raise ConfigError(f"rename must not create duplicate columns; got {dup} in {source}")
    df = df.rename(columns=dict(rename))
    return Manifest(
        df,
        attributes=attributes,
        categories=categories,
        root=root if root is not None else path.parent,
        source=source,
    )
