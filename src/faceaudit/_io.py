"""Atomic file writes and safe array files: the one place faceaudit touches the disk for output.

Every file faceaudit writes goes through :func:`atomic_write`: the content is written to a
temporary file in the same folder, flushed and fsync'ed, then renamed over the target with
:func:`os.replace`. A run killed at any instant leaves either the old file or the new one,
never a truncated one. A write the system refuses (read-only, no permission, disk full) is an
:class:`~faceaudit.OutputError` naming the path (exit code 7), and commands call
:func:`check_writable` on their output folders *before* any work, so a run does not compute
for minutes only to fail when it writes. Arrays are saved with :func:`save_npz` and read with
:func:`load_npz`, which refuses pickled objects (``allow_pickle=False``): embeddings are
biometric data and a file from elsewhere must never run code.

Reading inputs safely (also here, so every reader follows the same two rules):

- **Only regular files are opened.** :func:`open_regular` checks with :func:`os.stat` (after
  following symlinks) that the path is a regular file *before* opening it, opens it
  non-blocking, and checks the opened file again (it may have been swapped in between). A FIFO,
  socket, character or block device (``x.jpg -> /dev/zero``) is never read: it would block or
  never end. Such a path raises :class:`NotRegularFileError` (an :class:`OSError`).
- **Text inputs are UTF-8** (a byte-order mark is allowed). :func:`utf8_problem` locates the
  first byte that is not UTF-8 (byte offset and line) for the error message.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import json
import math
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np

from ._errors import ConfigError, FaceauditError, InputError, IntegrityError, OutputError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on success rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise output_error(path, exc) from exc
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, FaceauditError):
            raise output_error(path, exc) from exc
        raise


_WRITE_HINTS = {
    errno.ENOSPC: "the disk is full: free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is exceeded: free some space or write elsewhere",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EACCES: "no permission to write there: choose a folder you can write to",
    errno.EPERM: "no permission to write there: choose a folder you can write to",
    errno.EEXIST: "a file is in the way where a folder must go",
    errno.ENOTDIR: "a file is in the way where a folder must go",
}


def output_error(path: str | os.PathLike[str], exc: OSError) -> OutputError:
    """The :class:`OutputError` for an ``OSError`` raised while writing ``path``: the path,
    the system's reason and what to do (``"cannot write out/report.html: No space left on
    device; the disk is full: free some space or write elsewhere"``)."""
    reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    hint = _WRITE_HINTS.get(exc.errno or -1)
    return OutputError(f"cannot write {path}: {reason}{where}" + (f"; {hint}" if hint else ""))


def check_writable(path: str | os.PathLike[str], name: str, *, folder: bool = True) -> Path:
    """Check, without creating anything, that ``path`` can be written; return it.

    ``folder=True``: ``path`` is a folder (it may not exist yet); ``False``: a file, whose
    folder is checked. The nearest existing folder on the way is probed by creating and
    removing a temporary file in it, so a read-only mount, missing permission or a full
    inode table shows up now, not after the work.

    Raises
    ------
    ConfigError
        ``path`` (or a folder on the way) is a file where a folder must be, or a folder where
        a file must be; ``name`` names the option.
    OutputError
        The probe could not be written (the message names the folder and why).
    """
    target = Path(path).expanduser()
    if not folder and target.is_dir():
        raise ConfigError(f"{name} must be a file path; got {str(target)!r}, which is a folder")
    probe = target if folder else target.parent
    probe = probe if str(probe) else Path(".")
    while not probe.exists() and probe != probe.parent and not probe.is_symlink():
        probe = probe.parent
    if not probe.is_dir():
        kind = "it" if probe == target else f"{str(probe)!r}"
        raise ConfigError(
            f"{name} must be {'a folder' if folder else 'a file in a folder'}; got "
            f"{str(target)!r}, but {kind} is a file (or a broken link): give another path"
        )
    try:
        fd, tmp = tempfile.mkstemp(prefix=".faceaudit-write-check.", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        exc.filename = str(probe)  # the folder that refused, not the probe's random name
        raise output_error(target, exc) from exc
    return target


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
        with open_regular(path) as fh, np.load(fh, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except ValueError as exc:
        raise IntegrityError(
            f"{path}: refusing to load (pickled or corrupt array file): {exc}"
        ) from exc
    except NotRegularFileError as exc:
        raise InputError(f"{path}: {exc.strerror}") from exc
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz array file ({exc})") from exc


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open_regular(path) as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------ safe reading
class NotRegularFileError(OSError):
    """A path that is not a regular file (FIFO, socket, device, folder) was to be read.

    ``kind`` says what it is (``"a FIFO (named pipe)"``, see :func:`file_kind`) and
    ``strerror`` says it in a sentence: ``"not a regular file but a FIFO (named pipe)"``.
    """

    def __init__(self, filename: str, kind: str, message: str | None = None) -> None:
        super().__init__(None, message or f"not a regular file but {kind}", filename)
        self.kind = kind

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What an ``st_mode`` is, for messages: ``"a regular file"``, ``"a FIFO (named pipe)"``..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def stat_regular(path: str | os.PathLike[str]) -> os.stat_result:
    """:func:`os.stat` (following symlinks) of a regular file; anything else raises.

    Raises
    ------
    NotRegularFileError
        The path exists but is not a regular file.
    OSError
        The path cannot be stat'ed (missing, broken symlink, symlink loop, permissions).
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(os.fspath(path), file_kind(st.st_mode))
    return st


def check_input_file(
    path: str | os.PathLike[str], what: str, error: type[InputError] = InputError, hint: str = ""
) -> Path:
    """``path`` as a Path if it is a readable regular file; else ``error`` (exit 2) saying why.

    ``what`` names the file in the message (``"manifest"``, ``"score"``); ``hint`` is added
    to the message for a FIFO or device (e.g. why it must be a file).
    """
    path = Path(path)
    try:
        stat_regular(path)
    except FileNotFoundError as exc:
        raise error(f"{path}: {what} file not found") from exc
    except NotRegularFileError as exc:
        raise error(
            f"{path}: cannot read this {what} file: it is {exc.kind}, not a regular file{hint}"
        ) from exc
    except OSError as exc:
        raise error(f"{path}: cannot read this {what} file ({exc.strerror})") from exc
    return path


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for binary reading; never open a FIFO, socket or device.

    The path is checked with :func:`stat_regular` first, so nothing else is ever opened
    (opening a FIFO blocks, some devices act on open). The file is opened with
    ``O_NONBLOCK`` and checked again with :func:`os.fstat`: if it was replaced between the
    check and the open, it is closed without reading and :class:`NotRegularFileError` is
    raised.
    """
    st = stat_regular(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st2 = os.fstat(fd)
        if not stat.S_ISREG(st2.st_mode) or (st2.st_dev, st2.st_ino) != (st.st_dev, st.st_ino):
            kind = file_kind(st2.st_mode)
            raise NotRegularFileError(
                os.fspath(path), kind, f"changed while being opened (now {kind})"
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a regular file (see :func:`open_regular`)."""
    with open_regular(path) as fh:
        return fh.read()


def utf8_problem(path: str | os.PathLike[str], block: int = 1 << 20) -> str | None:
    """Where ``path`` stops being UTF-8 text, for an error message; None if it is UTF-8.

    Returns e.g. ``"line 3: not UTF-8 text at byte 41 (0xE9)"`` followed by a hint (convert
    the file with ``iconv``; UTF-16, as some spreadsheet exports write, is named as such).
    Byte offsets count from 0 at the start of the file; lines from 1.
    """
    dec = codecs.getincrementaldecoder("utf-8")()
    pos = 0
    line = 1
    first = b""
    with open_regular(path) as fh:
        while True:
            data = fh.read(block)
            first += data[: 2 - len(first)]
            try:
                dec.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                # exc.object = bytes held back from the previous block + this block
                held = len(exc.object) - len(data)
                at = pos - held + exc.start
                line += exc.object[: exc.start].count(b"\n")
                bad = exc.object[exc.start]
                hint = (
                    "it looks like UTF-16; save it as UTF-8"
                    if first in (b"\xff\xfe", b"\xfe\xff")
                    else "convert it to UTF-8 (e.g. iconv -f latin1 -t utf-8 IN > OUT) or check "
                    "that it is the right (text) file"
                )
                return f"line {line}: not UTF-8 text at byte {at} (0x{bad:02X}); {hint}"
            if not data:
                return None
            line += data.count(b"\n")
            pos += len(data)


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
