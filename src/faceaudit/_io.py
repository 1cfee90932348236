"""Atomic file writes and safe array files: the one place faceaudit touches the disk for output.

Every file faceaudit writes goes through :func:`atomic_write`: the content is written to a
temporary file in the same folder, flushed and fsync'ed, then renamed over the target with
:func:`os.replace`. A run killed at any instant leaves either the old file or the new one,
never a truncated one. Arrays are saved with :func:`save_npz` and read with :func:`load_npz`,
which refuses pickled objects (``allow_pickle=False``): embeddings are biometric data and a
file from elsewhere must never run code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._errors import InputError, IntegrityError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on success rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 text."""
    with atomic_write(path, "w") as fh:
        fh.write(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write JSON (sorted keys, 2-space indent, NaN written as ``null``)."""
    write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")


def _jsonable(obj: Any) -> Any:
    """Convert NumPy scalars/arrays and non-finite floats into strict-JSON values."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    """Atomically save arrays (no object dtype allowed) to an uncompressed ``.npz``."""
    for key, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise TypeError(f"array {key!r} has dtype object; convert strings with np.str_")
    with atomic_write(path) as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` file written by :func:`save_npz`, refusing pickles."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except ValueError as exc:
        raise IntegrityError(
            f"{path}: refusing to load (pickled or corrupt array file): {exc}"
        ) from exc
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz array file ({exc})") from exc


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)  # a TOML basic string is a JSON string


def dumps_toml(data: Mapping[str, Any]) -> str:
    """TOML text of a mapping of sections (``{"section": {"key": value}}``) and scalars.

    Values: bool, int, float, str, lists of these, nested mappings (written as sub-tables);
    ``None`` is left out. Round-trips through :mod:`tomllib`.
    """
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, Mapping) and v is not None}
    for k, v in scalars.items():
        lines.append(f"{json.dumps(str(k))} = {_toml_value(v)}")

    def table(prefix: str, m: Mapping[str, Any]) -> None:
        if lines:
            lines.append("")
        lines.append(f"[{prefix}]")
        subs = []
        for k, v in m.items():
            if v is None:
                continue
            if isinstance(v, Mapping):
                subs.append((k, v))
            else:
                lines.append(f"{json.dumps(str(k))} = {_toml_value(v)}")
        for k, v in subs:
            table(f"{prefix}.{json.dumps(str(k))}", v)

    for k, v in data.items():
        if isinstance(v, Mapping):
            table(json.dumps(str(k)), v)
    return "\n".join(lines) + "\n"
