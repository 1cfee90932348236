"""On-disk result store: templates and per-image status keyed by (image sha256, pipeline id).

One SQLite file (``<store>/templates.sqlite``) in WAL mode with ``synchronous=NORMAL``:
every batch of results is one transaction, so a run killed at any instant (even with
SIGKILL) keeps every committed batch intact and loses only the batch being written; the
next run skips what is stored. Keys are the sha256 of the image *file bytes* and the
pipeline id (embedder ``model_id`` + detector id + face-selection options), so identical
images are embedded once, renamed files are found again, and changing any model or option
computes fresh results instead of reusing stale ones.

Only deterministic outcomes are stored: ``ok`` and the failures to enrol that depend on the
image content (``no_face``, ``unreadable``, ``too_small``, ``multiple_faces``). Unexpected
``error`` results are not stored, so they are retried on the next run.

Vectors are stored as little-endian float32 bytes (no pickle). A row whose vector does not
match its recorded dimension, or an ``ok`` row with non-finite values, is treated as absent
(and recomputed), never returned.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import IntegrityError, OutputError
from .._io import output_error
from .._templates import ERROR, OK
from .._text import name_to_text

SCHEMA_VERSION = "1"
DB_NAME = "templates.sqlite"


@dataclass(frozen=True)
class StoredResult:
    """The outcome for one image under one pipeline.

    ``vector`` is float32 (``None`` unless ``status == "ok"``); ``face`` holds the chosen
    detection as 15 float32 values (box, score, 5 landmarks; see
    :meth:`~faceaudit.pipeline.Detection.as_array`) or ``None``.
    """

    sha256: str
    status: str
    detail: str
    vector: np.ndarray | None = None
    face: np.ndarray | None = None


class TemplateStore:
    """A folder holding the SQLite result store (created if absent).

    Parameters
    ----------
    directory : path
        The store folder; several runs and processes may share it (SQLite locking).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(self.directory, exc) from exc
        self.path = self.directory / DB_NAME
        try:
            self._con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.execute("PRAGMA busy_timeout=60000")
            self._con.execute("BEGIN IMMEDIATE")
            self._con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS results ("
                " sha256 TEXT NOT NULL, pipeline_id TEXT NOT NULL, status TEXT NOT NULL,"
                " detail TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB, face BLOB,"
                " created REAL NOT NULL, PRIMARY KEY (sha256, pipeline_id)) WITHOUT ROWID")
            self._con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                              (SCHEMA_VERSION,))
            self._con.execute("COMMIT")
            (ver,) = self._con.execute(
                "SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError as exc:
            if _cannot_write(exc):
                raise OutputError(f"cannot write the template store {self.path}: {exc}; "
                                  "give a --store folder you can write to") from exc
            raise IntegrityError(f"{self.path}: not a usable faceaudit store ({exc}); "
                                 "move it away to start a fresh one") from exc
        except sqlite3.DatabaseError as exc:
            raise IntegrityError(f"{self.path}: not a usable faceaudit store ({exc}); "
                                 "move it away to start a fresh one") from exc
        if ver != SCHEMA_VERSION:
            raise IntegrityError(f"{self.path}: store schema version {ver!r}, this faceaudit "
                                 f"needs {SCHEMA_VERSION!r}; use another --store folder")

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> TemplateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_many(self, pipeline_id: str, shas: Sequence[str]) -> dict[str, StoredResult]:
        """Stored results of ``shas`` under ``pipeline_id`` (absent or damaged rows omitted)."""
        out: dict[str, StoredResult] = {}
        shas = list(dict.fromkeys(shas))
        for i in range(0, len(shas), 500):
            part = shas[i:i + 500]
            q = ("SELECT sha256, status, detail, dim, vector, face FROM results "
                 f"WHERE pipeline_id=? AND sha256 IN ({','.join('?' * len(part))})")
            for sha, status, detail, dim, vec, face in self._con.execute(q, (pipeline_id, *part)):
                r = _decode_row(sha, status, detail, dim, vec, face)
                if r is not None:
                    out[sha] = r
        return out

    def put_many(self, pipeline_id: str, results: Iterable[StoredResult]) -> int:
        """Store results in one transaction (``error`` results skipped); returns rows written."""
        rows = []
        now = time.time()
        for r in results:
            if r.status == ERROR:
                continue
            vec = None if r.vector is None else np.asarray(r.vector, "<f4").tobytes()
            face = None if r.face is None else np.asarray(r.face, "<f4").tobytes()
            dim = 0 if r.vector is None else int(np.asarray(r.vector).size)
            detail = name_to_text(r.detail)  # SQLite stores text: a non-UTF-8 path as %XX
            rows.append((r.sha256, pipeline_id, r.status, detail, dim, vec, face, now))
        if rows:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.executemany(
                    "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            except BaseException as exc:
                self._con.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and _cannot_write(exc):
                    raise OutputError(f"cannot write the template store {self.path}: {exc}; "
                                      "free some space or give another --store") from exc
                raise
            self._con.execute("COMMIT")
        return len(rows)

    def count(self, pipeline_id: str | None = None) -> int:
        """Rows stored (for one pipeline, or all)."""
        if pipeline_id is None:
            return int(self._con.execute("SELECT COUNT(*) FROM results").fetchone()[0])
        return int(self._con.execute("SELECT COUNT(*) FROM results WHERE pipeline_id=?",
                                     (pipeline_id,)).fetchone()[0])

    def pipelines(self) -> dict[str, int]:
        """Pipeline ids in the store with their row counts."""
        return {p: int(n) for p, n in self._con.execute(
            "SELECT pipeline_id, COUNT(*) FROM results GROUP BY pipeline_id")}


def _cannot_write(exc: sqlite3.OperationalError) -> bool:
    """SQLite's way of saying the disk is full, the file read-only or not creatable."""
    text = str(exc).lower()
    return any(k in text for k in ("full", "readonly", "read-only", "unable to open", "i/o"))


def _decode_row(sha: str, status: str, detail: str, dim: int, vec: bytes | None,
                face: bytes | None) -> StoredResult | None:
    v = None
    if status == OK:
        if vec is None or dim <= 0 or len(vec) != 4 * dim:
            return None
        v = np.frombuffer(vec, dtype="<f4").astype(np.float32)
        if not np.isfinite(v).all():
            return None
    f = None
    if face is not None and len(face) == 60:
        f = np.frombuffer(face, dtype="<f4").astype(np.float32)
    return StoredResult(sha, status, detail, v, f)
