"""Text fields: file names as text, and the length caps of manifest and score-file fields.

Every field faceaudit reads or writes is text (UTF-8). File names that are not UTF-8 follow
one rule, :func:`name_to_text` (``%`` and every non-UTF-8 byte as ``%XX``), and a *path* so
written carries the prefix :data:`FILE_PREFIX` (:func:`path_to_text`, reversed by
:func:`text_to_path`). Absurdly long fields are refused (:func:`check_fields`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from ._errors import ManifestError, shorten

MAX_VALUE_CHARS = 1_000
"""Longest attribute value (and column name) accepted, in characters."""

MAX_ID_CHARS = 4_096
"""Longest ``sample_id``, ``subject_id`` or ``path`` accepted (the usual PATH_MAX)."""

ID_COLUMNS = ("sample_id", "subject_id", "path")
"""The columns whose values may hold :data:`MAX_ID_CHARS` characters."""

FILE_PREFIX = "file:"
"""Marks a ``path`` value as percent-encoded (see :func:`path_to_text`)."""


def name_to_text(name: str) -> str:
    """A file-system name or relative path as text: the sample-id rule for file names.

    A name that is valid UTF-8 is returned unchanged. Otherwise (Python hands such names over
    with "surrogate escapes", :func:`os.fsdecode`) its raw bytes (:func:`os.fsencode`) are
    written with every ``%`` and every byte that is not part of a UTF-8 character as ``%XX``
    (upper-case hex), keeping the readable characters::

        b"alice/caf\\xe9.jpg"  ->  "alice/caf%E9.jpg"
        b"50%\\xff.jpg"        ->  "50%25%FF.jpg"

    The bytes come back with :func:`urllib.parse.unquote_to_bytes`, so the rule is reversible
    for every name it changes; the only text it can clash with is a UTF-8 name that literally
    reads ``caf%E9.jpg``, which :func:`faceaudit.datasets.load_folder` detects.

    >>> name_to_text("alice/img.jpg"), name_to_text(os.fsdecode(b"caf\\xe9.jpg"))
    ('alice/img.jpg', 'caf%E9.jpg')
    """
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte: not from a file name
        raw = name.encode("utf-8", "surrogatepass")
    text = raw.decode("utf-8", "surrogateescape")
    return "".join(
        f"%{ord(c) - 0xDC00:02X}" if "\udc80" <= c <= "\udcff" else ("%25" if c == "%" else c)
        for c in text
    )


def path_to_text(path: str | os.PathLike[str]) -> str:
    """A path as a manifest ``path`` value that names the file exactly.

    UTF-8 paths are written as they are. A path that is not UTF-8 is written as ``"file:"``
    followed by :func:`name_to_text` of it (``file:alice/caf%E9.jpg``; an absolute path gives
    ``file:///data/caf%E9.jpg``, a ``file:`` URI). :func:`text_to_path` reverses it.
    """
    s = os.fspath(path)
    t = name_to_text(s)
    if t == s:
        return s
    return FILE_PREFIX + ("//" if s.startswith("/") else "") + t


def text_to_path(text: str) -> str:
    """A manifest ``path`` value -> the path to open (inverse of :func:`path_to_text`).

    A value starting with ``file:`` is percent-decoded into the file-system bytes
    (``file:a/caf%E9.jpg`` -> ``a/caf\\xe9.jpg``; ``file:///x`` -> ``/x``); any other value is
    the path itself.
    """
    if not text.startswith(FILE_PREFIX):
        return text
    from urllib.parse import unquote_to_bytes

    rest = text[len(FILE_PREFIX):]
    if rest.startswith("//"):  # file://<host>/path: only the local host is meaningful
        rest = "/" + rest[2:].partition("/")[2]
    return os.fsdecode(unquote_to_bytes(rest))


def check_fields(columns: Mapping[str, Sequence[object]], source: str) -> None:
    """Refuse a table whose column names or values are absurdly long or not text.

    ``sample_id``, ``subject_id`` and ``path`` may hold :data:`MAX_ID_CHARS` characters,
    any other value and every column name :data:`MAX_VALUE_CHARS`. A string that cannot be
    written as UTF-8 (a lone surrogate, e.g. a file name passed through :func:`os.fsdecode`)
    is refused too: use :func:`name_to_text` for such names.

    Raises
    ------
    ManifestError
        Naming ``source``, the 1-based data row and the column.
    """
    for c in columns:
        name = str(c)
        if len(name) > MAX_VALUE_CHARS:
            raise ManifestError(
                f"{source}: a column name is {len(name):,} characters long "
                f"({shorten(name, 60)!r}); at most {MAX_VALUE_CHARS:,} are allowed: is the "
                "header line broken?"
            )
    for c, values in columns.items():
        cap = MAX_ID_CHARS if c in ID_COLUMNS else MAX_VALUE_CHARS
        try:  # fast path: all strings
            joined = "".join(values)  # type: ignore[arg-type]
            texts: Sequence[str] = values  # type: ignore[assignment]
        except TypeError:  # None, numbers...: only strings can be long or not text
            texts = [v if isinstance(v, str) else "" for v in values]
            joined = "".join(texts)
        try:
            if not joined.isascii():
                joined.encode("utf-8")
        except UnicodeEncodeError:
            i = next(i for i, v in enumerate(texts) if not _is_text(v))
            raise ManifestError(
                f"{source}: data row {i + 1}, column {str(c)!r}: {name_to_text(texts[i])!r} "
                "is not text (a file name that is not UTF-8?); write such names with "
                "faceaudit's name_to_text / path_to_text rule"
            ) from None
        if texts and max(map(len, texts)) > cap:
            i = next(i for i, v in enumerate(texts) if len(v) > cap)
            what = "an id or path" if cap == MAX_ID_CHARS else "an attribute value"
            raise ManifestError(
                f"{source}: data row {i + 1}, column {str(c)!r}: the value is "
                f"{len(texts[i]):,} characters long ({shorten(texts[i], 60)!r}); at most "
                f"{cap:,} are allowed for {what}. A field this long usually means a broken "
                "file (an unclosed quote joins many lines into one field)"
            )


def _is_text(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
