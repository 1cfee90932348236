"""Exceptions and warnings raised by faceaudit.

Every error faceaudit raises on purpose derives from :class:`FaceauditError`, so a
caller (or the CLI) can catch one type. The CLI maps each class to an exit code::

    FaceauditError                  exit 1   anything faceaudit refuses to do
    ├── InputError                  exit 2   a file or table is malformed (names file/row)
    │   ├── ManifestError                     the manifest breaks a rule
    │   └── ScoreFileError                    a vendor / bob score file is malformed
    ├── ConfigError                 exit 3   an argument or config value is invalid
    ├── MissingDependencyError      exit 4   an optional extra is not installed
    ├── IntegrityError              exit 5   a checksum or cache entry does not match
    ├── DownloadError               exit 6   a download failed (offline, HTTP error, truncated)
    └── OutputError                 exit 7   a file or folder cannot be written (names the path:
                                             read-only, no permission, disk full)

Warnings:

    UndefinedMetricWarning   a rate has an empty denominator (value is NaN)
    ThinDataWarning          a group is too small to support the requested figure
    InexactMetricWarning     a figure was read inside a histogram bin (bound returned)
    AuditNote                a step of an audit was skipped or a figure left out
"""

from __future__ import annotations


class FaceauditError(Exception):
    """Base class of every error faceaudit raises deliberately."""

    exit_code: int = 1


class InputError(FaceauditError, ValueError):
    """An input file or table is malformed. The message names the file and row."""

    exit_code = 2


class ManifestError(InputError):
    """A manifest breaks a rule (duplicate sample id, empty subject, unknown column...)."""


class ScoreFileError(InputError):
    """A comparison-score file is malformed (unknown sample id, non-numeric score...)."""


class ConfigError(FaceauditError, ValueError):
    """An argument or configuration value is invalid.

    Messages follow the pattern ``"<param> must be <allowed>; got <value>"``.
    """

    exit_code = 3


class MissingDependencyError(FaceauditError, ImportError):
    """An optional dependency is missing; the message says which extra to install."""

    exit_code = 4


class IntegrityError(FaceauditError):
    """A checksum, cache entry or saved file does not match what was expected."""

    exit_code = 5


class DownloadError(FaceauditError):
    """A download failed (offline, HTTP error, truncated); the message says how to get the file."""

    exit_code = 6


class OutputError(FaceauditError, OSError):
    """A file or folder cannot be written: read-only, no permission, disk full, a file where a
    folder must go. The message names the path and what to do. Also an :class:`OSError`, so
    code that caught the operating system's error still catches it."""

    exit_code = 7


class UndefinedMetricWarning(UserWarning):
    """A metric's denominator is empty, so its value is NaN."""


class InexactMetricWarning(UserWarning):
    """A figure was read inside a histogram bin, below the summary's exact tail.

    The value returned is the conservative bound (the larger FMR); the true value lies
    between the counts at the bin's two edges. The second pass (``faceaudit.recount_templates``,
    ``faceaudit.recount_scores``; the audit's ``recount`` stage) makes it exact.
    """


class ThinDataWarning(UserWarning):
    """A group has too few comparisons or subjects to support the requested figure."""


class AuditNote(UserWarning):
    """A caveat about how an audit was carried out (a step skipped, a figure left out).

    An audit records it in ``results.json``'s ``warnings`` as its plain text; other warnings
    are recorded as ``"<Category>: <message>"``.
    """


def require(module: str, extra: str) -> object:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra.

    >>> require("math", "cli").__name__
    'math'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised in tests via monkeypatch
        raise MissingDependencyError(
            f"{module!r} is needed for this; install it with: pip install 'faceaudit[{extra}]'"
        ) from exc


def check_option(name: str, value: object, allowed: tuple[object, ...]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ConfigError(f"{name} must be one of {choices}; got {value!r}")


def check_integer(name: str, value: object, low: int) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an integer (not a bool) ``>= low``."""
    import numpy as np

    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}; got {value!r}")


def check_range(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a finite number with ``low (<|<=) value
    (<|<=) high``.

    NaN and ±inf are always refused: no faceaudit setting has a meaning at infinity (a
    threshold of ``inf`` would silently reject everything, and JSON cannot record it).
    """
    import math

    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else f"{low} {'<' if low_open else '<='} "
        hi = "" if high is None else f" {'<' if high_open else '<='} {high}"
        finite = isinstance(value, (int, float)) and math.isfinite(value)
        if not (lo or hi):
            rule = "be a finite number"
        elif finite:
            rule = f"satisfy {lo}{name}{hi}"
        else:
            rule = f"be a finite number with {lo}{name}{hi}"
        raise ConfigError(f"{name} must {rule}; got {value!r}")


def shorten(text: str, limit: int = 200, *, count: bool = True) -> str:
    """``text`` itself, or its start and end around ``"…"`` (and its length, with ``count``)
    if it is longer than ``limit``; the result has at most ``limit`` characters.

    For messages and displays that must stay readable (and fast) whatever a file holds; the
    full value is kept wherever it is stored.

    >>> shorten("abc", 10)
    'abc'
    >>> shorten("x" * 60 + "END", 30)
    'xxxxxxxxx…xEND (63 characters)'
    """
    if len(text) <= limit:
        return text
    note = f" ({len(text):,} characters)" if count else ""
    keep = max(limit - len(note) - 1, 2)
    tail = min(keep // 3, 10)
    return text[: keep - tail] + "…" + text[len(text) - tail :] + note
