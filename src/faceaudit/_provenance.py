"""Provenance: what an audit read, fingerprinted so that anyone can check and re-run it.

- :func:`file_record`: ``{"path", "sha256", "bytes"}`` of an input file;
- :func:`listing_digest`: one sha256 for a set of image files (their sorted listing);
- :func:`templates_digest`, :func:`manifest_digest`: sha256 of templates and of a manifest,
  the keys of the audit's score-summary cache;
- :func:`package_versions`: every package that can change a number; :func:`utc_now`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import InputError
from ._io import sha256_file
from ._manifest import Manifest

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


def utc_now() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def templates_digest(t: Any) -> str:
    """sha256 of a Templates' ids, statuses, vectors, model id and similarity."""
    h = hashlib.sha256()
    for part in (t.sample_ids, t.status):
        h.update("\x00".join(map(str, part)).encode())
        h.update(b"\x01")
    h.update(np.ascontiguousarray(t.vectors, dtype=np.float32).tobytes())
    h.update(f"{t.model_id}\x00{t.similarity}".encode())
    return h.hexdigest()


def manifest_digest(m: Manifest) -> str:
    """sha256 of a manifest's table as CSV (rows, columns and values)."""
    return hashlib.sha256(m.samples.to_csv(index=False).encode()).hexdigest()
