"""The audit's output folder, written as a unit.

A report folder holds files that only make sense together (``results.json``, the CSV
tables, the figures, ``report.html``, ``config.resolved.toml``). They are written into a
hidden sibling folder ``.<name>.partial-<pid>`` and only a complete folder is swapped in:

1. the previous folder (if any) is renamed to ``.<name>.old-<pid>``;
2. the new one is renamed to ``<name>``;
3. the previous one is deleted.

A run killed at any point leaves ``<name>`` either as the previous complete audit, the new
complete audit, or absent (between 1 and 2, with the previous audit in ``.<name>.old-*``),
never a mix of two runs. Leftover ``.partial-*`` / ``.old-*`` siblings of a killed run are
removed by the next run into the same folder.

Because the folder is replaced as a whole, :func:`check_out_folder` refuses (before any
work) an existing folder that holds anything but an earlier audit.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .._errors import ConfigError, FaceauditError
from .._io import output_error

MARKER = ".faceaudit-audit"
"""Empty file in every audit folder: it marks the folder as one faceaudit may replace."""


def is_audit_folder(path: Path) -> bool:
    """True for a folder written by ``faceaudit audit`` (its marker, or a ``results.json``
    whose ``tool.name`` is faceaudit: folders written before the marker existed)."""
    if (path / MARKER).is_file():
        return True
    try:
        with open(path / "results.json", "rb") as fh:
            head = fh.read(1 << 20)
        doc = json.loads(head)
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and (doc.get("tool") or {}).get("name") == "faceaudit"


def check_out_folder(out: Path) -> None:
    """Raise :class:`ConfigError` if ``out`` is an existing folder faceaudit must not replace
    (not empty, and not an earlier audit's folder)."""
    if not out.is_dir() or is_audit_folder(out):
        return
    entries = sorted(p.name for p in out.iterdir())
    if entries:
        shown = ", ".join(repr(e) for e in entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise ConfigError(
            f"out must be a new folder, an empty one or an earlier audit's folder (the audit "
            f"replaces it as a whole); got {str(out)!r}, which holds {len(entries)} other "
            f"file(s) or folder(s): {shown}"
        )


def _siblings(out: Path) -> list[Path]:
    parent = out.parent
    if not parent.is_dir():
        return []
    return [p for p in parent.iterdir()
            if p.name.startswith((f".{out.name}.partial-", f".{out.name}.old-"))]


@contextlib.contextmanager
def report_folder(out: Path) -> Iterator[Path]:
    """Yield an empty hidden sibling folder to write the report into; on success swap it in
    as ``out`` (see the module docstring), on an error remove it and leave ``out`` as it was.

    Raises
    ------
    OutputError
        A folder could not be created, renamed or removed (names the path).
    """
    out = Path(out)
    try:
        for stale in _siblings(out):  # left behind by a killed run
            shutil.rmtree(stale, ignore_errors=True)
        build = out.parent / f".{out.name}.partial-{os.getpid()}"
        build.mkdir(parents=True)
        (build / MARKER).touch()
    except OSError as exc:
        raise output_error(out, exc) from exc
    try:
        yield build
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            os.rename(out, old)
        os.rename(build, out)
    except BaseException as exc:
        shutil.rmtree(build, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, FaceauditError):
            raise output_error(out, exc) from exc
        raise
    shutil.rmtree(old, ignore_errors=True)
