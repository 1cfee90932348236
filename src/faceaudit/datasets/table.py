"""A manifest table (CSV, TSV or Parquet) used as it is, optionally with columns renamed.

This is :meth:`faceaudit.Manifest.read` plus ``rename``: many published label files call the
columns ``image``/``identity``/``race``; ``rename={"image": "sample_id", "identity":
"subject_id"}`` makes them a manifest without editing the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .._errors import ConfigError
from .._manifest import Manifest
from .folder import read_label_table

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def load_table(
    path: str | os.PathLike[str],
    *,
    rename: Mapping[str, str] | None = None,
    attributes: Sequence[str] | None = None,
    categories: Mapping[str, Sequence[str]] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> Manifest:
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

    Returns
    -------
    Manifest

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
