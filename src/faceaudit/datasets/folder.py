"""A folder-per-subject image tree: ``root/<subject>/<image>``, with optional label table.

Layout and conventions
----------------------
- Every image under ``root/<subject>/`` (also in deeper sub-folders) is a sample of
  ``<subject>``; ``sample_id`` is the image path relative to ``root`` with forward slashes
  (``"alice/img01.jpg"``), and is also the manifest's ``path`` (relative to ``root``).
- Images are files whose extension (any case) is in :data:`IMAGE_EXTENSIONS`.
- Left out, and counted in the :class:`LoadReport` by reason: hidden files and folders
  (``.DS_Store``, AppleDouble ``._img.jpg``), ``Thumbs.db``, ``desktop.ini``, ``__MACOSX/``
  (``"junk"``); other non-image files (``"not an image"``); files directly under ``root``
  (``"not inside a subject folder"``).
- Labels come from a CSV/TSV/Parquet table (or a DataFrame) keyed either by subject
  (``labels_by="subject"``, key column ``subject_id``) or by image (``labels_by="image"``,
  key column ``sample_id`` holding the relative path). Every other column is an attribute.
  A duplicate or empty key is an error naming the row; keys that match nothing are reported
  (or an error with ``on_unmatched="error"``); samples without a label row get
  ``"unknown"`` for every attribute and are counted.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Literal, overload

import pandas as pd

from .._errors import ManifestError, check_option
from .._manifest import RESERVED_COLUMNS, UNKNOWN, Manifest, normalise_value
from ._common import (
    IMAGE_EXTENSIONS,
    REASON_JUNK,
    REASON_LINK_LOOP,
    REASON_NOT_IMAGE,
    REASON_OUTSIDE_SUBJECT,
    LoadReport,
    group_ignored,
    is_junk,
    value_counts,
)

LABELS_BY = ("subject", "image")
ON_UNMATCHED = ("report", "error")

MSG_NO_IMAGES = "no images found"
MSG_DUPLICATE_KEY = "duplicate label key"
MSG_UNMATCHED = "label rows match no sample"


def scan_tree(
    root: Path, extensions: Collection[str] = IMAGE_EXTENSIONS
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    """Walk ``root`` and sort its files into samples and ignored files.

    Returns
    -------
    samples : list of (sample_id, subject_id), sorted by sample_id
    ignored : list of (relative path, reason)
    empty_subjects : list of subject folders holding no image
    """
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    samples: list[tuple[str, str]] = []
    ignored: list[tuple[str, str]] = []
    subjects_seen: set[str] = set()
    subject_dirs: list[str] = []
    visited: set[tuple[int, int]] = set()

    def fail(exc: OSError) -> None:
        raise ManifestError(f"{exc.filename}: cannot read this folder ({exc.strerror}); "
                            "fix its permissions or move it out of the tree") from exc

    for dirpath, dirnames, filenames in os.walk(root, onerror=fail, followlinks=True):
        st = os.stat(dirpath)
        rel_dir = Path(dirpath).relative_to(root)
        if (st.st_dev, st.st_ino) in visited:  # a symlink back into the tree: do not loop
            ignored.append((rel_dir.as_posix() + "/", REASON_LINK_LOOP))
            dirnames.clear()
            continue
        visited.add((st.st_dev, st.st_ino))
        dirnames.sort()
        parts = rel_dir.parts
        junk_dir = any(is_junk(p) for p in parts)
        if len(parts) == 0:
            subject_dirs.extend(d for d in dirnames if not is_junk(d))
        for name in sorted(filenames):
            rel = (rel_dir / name).as_posix()
            if junk_dir or is_junk(name):
                ignored.append((rel, REASON_JUNK))
            elif Path(name).suffix.lower() not in exts:
                ignored.append((rel, REASON_NOT_IMAGE))
            elif not parts:
                ignored.append((rel, REASON_OUTSIDE_SUBJECT))
            else:
                samples.append((rel, parts[0]))
                subjects_seen.add(parts[0])
    samples.sort()
    empty = sorted(d for d in subject_dirs if d not in subjects_seen)
    return samples, ignored, empty


def read_label_table(labels: str | os.PathLike[str] | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Read a label table (CSV, TSV or Parquet by extension) as strings; return it and its name."""
    if isinstance(labels, pd.DataFrame):
        return labels.reset_index(drop=True).astype(object), "<labels DataFrame>"
    path = Path(labels)
    if not path.is_file():
        raise ManifestError(f"{path}: label file not found")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path).astype(object)
        else:
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ManifestError(f"{path}: cannot parse label table ({exc})") from exc
    return df, str(path)


def attach_labels(
    keys: list[str],
    labels: str | os.PathLike[str] | pd.DataFrame,
    *,
    key_column: str,
    what: str,
    on_unmatched: str = "report",
    exclude: Collection[str] = (),
) -> tuple[dict[str, list[str]], list[str], list[str], str, list[str]]:
    """Look up one label row per key.

    Parameters
    ----------
    keys : list of str
        The key of every sample (its subject or its sample id), in sample order.
    labels : path or DataFrame
        The label table.
    key_column : str
        Column of the table holding the keys.
    what : str
        ``"subject"`` or ``"image"``, for messages.
    on_unmatched : {"report", "error"}
        What to do with label rows whose key matches no sample.
    exclude : collection of str
        Columns that are not attributes (besides ``key_column``).

    Returns
    -------
    columns : dict of str to list of str
        Attribute column -> value per sample (missing -> ``"unknown"``).
    unmatched : list of str
        Keys of label rows that match no sample, in table order.
    unlabelled : list of str
        Distinct sample keys with no label row, sorted.
    source : str
        Name of the table for messages.
    skipped : list of str
        Reserved columns of the table (``sample_id``, ``subject_id``, ``path`` other than the
        key) that were not used: the folder decides those.
    """
    df, source = read_label_table(labels)
    if key_column not in df.columns:
        raise ManifestError(
            f"{source}: labels keyed by {what} need a {key_column!r} column; "
            f"columns are {list(df.columns)}"
        )
    raw_keys = [normalise_value(v) for v in df[key_column]]
    table_keys = [k.replace("\\", "/") if what == "image" else k for k in raw_keys]
    first_row: dict[str, int] = {}
    for i, k in enumerate(table_keys):
        if k == UNKNOWN:
            raise ManifestError(
                f"{source}: data row {i + 1}: empty {key_column!r}; every label row needs a key"
            )
        if k in first_row:
            raise ManifestError(
                f"{source}: {MSG_DUPLICATE_KEY} {k!r} in data rows {first_row[k] + 1} and {i + 1}; "
                f"give one row per {what}"
            )
        first_row[k] = i
    attrs = [
        c for c in df.columns if c != key_column and c not in exclude and c not in RESERVED_COLUMNS
    ]
    key_set = set(keys)
    unmatched = [k for k in table_keys if k not in key_set]
    if unmatched and on_unmatched == "error":
        ex = ", ".join(repr(k) for k in unmatched[:5])
        raise ManifestError(
            f"{source}: {len(unmatched)} {MSG_UNMATCHED} (no such {what}): {ex}"
            f"{', ...' if len(unmatched) > 5 else ''}; fix the keys or use on_unmatched='report'"
        )
    values = {a: [normalise_value(v) for v in df[a]] for a in attrs}
    columns: dict[str, list[str]] = {a: [] for a in attrs}
    unlabelled: set[str] = set()
    for k in keys:
        row = first_row.get(k)
        if row is None:
            unlabelled.add(k)
        for a in attrs:
            columns[a].append(UNKNOWN if row is None else values[a][row])
    skipped = [c for c in df.columns if c != key_column and c in RESERVED_COLUMNS]
    return columns, unmatched, sorted(unlabelled), source, skipped


@overload
def load_folder(
    root: str | os.PathLike[str],
    labels: str | os.PathLike[str] | pd.DataFrame | None = ...,
    *,
    labels_by: str = ...,
    key_column: str | None = ...,
    extensions: Collection[str] = ...,
    on_unmatched: str = ...,
    with_report: Literal[False] = ...,
) -> Manifest: ...
@overload
def load_folder(
    root: str | os.PathLike[str],
    labels: str | os.PathLike[str] | pd.DataFrame | None = ...,
    *,
    labels_by: str = ...,
    key_column: str | None = ...,
    extensions: Collection[str] = ...,
    on_unmatched: str = ...,
    with_report: Literal[True],
) -> tuple[Manifest, LoadReport]: ...
def load_folder(
    root: str | os.PathLike[str],
    labels: str | os.PathLike[str] | pd.DataFrame | None = None,
    *,
    labels_by: str = "subject",
    key_column: str | None = None,
    extensions: Collection[str] = IMAGE_EXTENSIONS,
    on_unmatched: str = "report",
    with_report: bool = False,
) -> Manifest | tuple[Manifest, LoadReport]:
    """Build a manifest from a folder-per-subject image tree (see the module docstring).

    Parameters
    ----------
    root : path
        The tree ``root/<subject>/<image>``.
    labels : path or DataFrame, optional
        Attribute table keyed by subject or by image; without it the manifest has no attributes.
    labels_by : {"subject", "image"}
        What a label row describes.
    key_column : str, optional
        The key column; default ``"subject_id"`` (by subject) or ``"sample_id"`` (by image:
        the image path relative to ``root``, e.g. ``"alice/img01.jpg"``).
    extensions : collection of str
        Image file extensions (case-insensitive).
    on_unmatched : {"report", "error"}
        Label rows matching no subject/image are counted in the report (default) or an error.
    with_report : bool
        Also return the :class:`LoadReport`.

    Returns
    -------
    Manifest, or (Manifest, LoadReport) with ``with_report=True``
        One row per image, sorted by ``sample_id``; ``root`` is the tree.

    Raises
    ------
    ManifestError
        ``root`` missing or holding no image; a label table without the key column, with an
        empty or duplicate key, or (``on_unmatched="error"``) with keys matching nothing.
    """
    check_option("labels_by", labels_by, LABELS_BY)
    check_option("on_unmatched", on_unmatched, ON_UNMATCHED)
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"{root}: image folder not found (expected root/<subject>/<image>)")
    samples, ignored, empty = scan_tree(root, extensions)
    if not samples:
        raise ManifestError(
            f"{root}: {MSG_NO_IMAGES} in root/<subject>/ folders ({len(ignored)} other file(s) "
            f"ignored; image extensions are {sorted(extensions)})"
        )
    sample_ids = [s for s, _ in samples]
    subjects = [s for _, s in samples]
    data: dict[str, list[str]] = {
        "sample_id": sample_ids,
        "subject_id": subjects,
        "path": sample_ids,
    }
    unmatched: list[str] = []
    unlabelled: list[str] = []
    attrs: list[str] = []
    notes = (
        [f"{len(empty)} subject folder(s) hold no image: {', '.join(empty[:3])}"] if empty else []
    )
    if labels is not None:
        key_column = key_column or ("subject_id" if labels_by == "subject" else "sample_id")
        keys = subjects if labels_by == "subject" else sample_ids
        columns, unmatched, unlabelled, source, skipped = attach_labels(
            keys, labels, key_column=key_column, what=labels_by, on_unmatched=on_unmatched
        )
        data.update(columns)
        attrs = list(columns)
        notes.append(f"labels from {source}, one row per {labels_by}")
        if skipped:
            notes.append(f"label columns {skipped} not used: the folder layout defines them")
    df = pd.DataFrame(data)
    manifest = Manifest(df, attributes=attrs, root=root, source=str(root))
    report = LoadReport(
        dataset=f"folder:{root}",
        n_samples=len(manifest),
        n_subjects=manifest.n_subjects,
        ignored=group_ignored(ignored),
        unmatched_labels=tuple(unmatched),
        unlabelled=tuple(unlabelled),
        value_counts=value_counts({a: data[a] for a in attrs}),
        notes=tuple(notes),
    )
    report.log()
    return (manifest, report) if with_report else manifest
