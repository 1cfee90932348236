"""Shared pieces of the dataset adapters: the load report, junk-file rules, data directories.

Every adapter returns a :class:`~faceaudit.Manifest`. What it had to leave out or could not
label is never dropped silently: it is counted in a :class:`LoadReport`, which an adapter
returns alongside the manifest when called with ``with_report=True`` and also logs (logger
``faceaudit.datasets``, level INFO for routine facts such as junk files, WARNING for label rows
that matched nothing).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("faceaudit.datasets")

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}
)
"""File extensions (lower case) that the adapters treat as images."""

JUNK_NAMES: frozenset[str] = frozenset({"thumbs.db", "desktop.ini", "__macosx", "@eadir"})
"""File or folder names (lower case) that operating systems and archivers leave behind."""

DATA_DIR_ENV = "FACEAUDIT_DATA_DIR"
"""Environment variable naming the folder where datasets are downloaded and looked up."""

# Reasons a file is left out; used as keys of LoadReport.ignored.
REASON_JUNK = "junk"  # hidden files (.DS_Store, ._*), Thumbs.db, __MACOSX/...
REASON_NOT_IMAGE = "not an image"  # extension not in IMAGE_EXTENSIONS
REASON_OUTSIDE_SUBJECT = "not inside a subject folder"  # files directly under the root
REASON_BAD_NAME = "unexpected file name"  # adapters with a fixed naming scheme (LFW, FRLL)
REASON_LINK_LOOP = "symlink to a folder already read"  # followed links that loop back


def is_junk(name: str) -> bool:
    """True for hidden files/folders (``.DS_Store``, AppleDouble ``._x.jpg``) and OS litter."""
    return name.startswith(".") or name.lower() in JUNK_NAMES


@dataclass(frozen=True)
class LoadReport:
    """What an adapter read, left out and could not label.

    Attributes
    ----------
    dataset : str
        Adapter name and source, e.g. ``"lfw:/data/lfw"``.
    n_samples, n_subjects : int
        Size of the manifest that was built.
    ignored : mapping of str to tuple of str
        Files left out, by reason (``"junk"``, ``"not an image"``, ...), as paths relative
        to the dataset root.
    unmatched_labels : tuple of str
        Keys of label rows (subjects or images) that match no sample; their labels are unused.
    unlabelled : tuple of str
        Keys (subjects or images) for which no label row exists; their attributes are
        ``"unknown"``.
    value_counts : mapping of str to mapping of str to int
        Samples per value of each attribute (``unknown`` included), for a quick check.
    notes : tuple of str
        Other facts worth knowing (e.g. "5 images are in both gender lists -> ambiguous").
    """

    dataset: str
    n_samples: int
    n_subjects: int
    ignored: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unmatched_labels: tuple[str, ...] = ()
    unlabelled: tuple[str, ...] = ()
    value_counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def n_ignored(self) -> int:
        """Total number of files left out."""
        return sum(len(v) for v in self.ignored.values())

    def summary(self) -> str:
        """A few human-readable lines (for the CLI and logs)."""
        lines = [f"{self.dataset}: {self.n_samples} samples of {self.n_subjects} subjects"]
        for reason, paths in sorted(self.ignored.items()):
            if paths:
                ex = ", ".join(paths[:3]) + (", ..." if len(paths) > 3 else "")
                lines.append(f"  ignored {len(paths)} file(s) ({reason}): {ex}")
        if self.unmatched_labels:
            ex = ", ".join(self.unmatched_labels[:3]) + (
                ", ..." if len(self.unmatched_labels) > 3 else ""
            )
            lines.append(f"  {len(self.unmatched_labels)} label row(s) match no sample: {ex}")
        if self.unlabelled:
            lines.append(f"  {len(self.unlabelled)} without labels (attributes set to 'unknown')")
        lines.extend(f"  {n}" for n in self.notes)
        return "\n".join(lines)

    def log(self) -> None:
        """Log the summary: WARNING when label rows matched nothing, INFO otherwise."""
        level = logging.WARNING if self.unmatched_labels else logging.INFO
        logger.log(level, "%s", self.summary())


def group_ignored(items: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """``[(path, reason), ...]`` -> ``{reason: (sorted paths)}``."""
    out: dict[str, list[str]] = {}
    for path, reason in items:
        out.setdefault(reason, []).append(path)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def value_counts(columns: Mapping[str, Iterable[str]]) -> dict[str, dict[str, int]]:
    """Samples per value of each attribute column, most frequent first."""
    return {a: dict(Counter(v).most_common()) for a, v in columns.items()}


def data_home(path: str | os.PathLike[str] | None = None) -> Path:
    """The folder where faceaudit downloads and looks for datasets.

    Resolution order: ``path`` if given; else the environment variable
    ``FACEAUDIT_DATA_DIR``; else ``$XDG_CACHE_HOME/faceaudit`` (default
    ``~/.cache/faceaudit``). The folder is not created here.
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "faceaudit"
