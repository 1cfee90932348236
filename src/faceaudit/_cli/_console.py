"""What every command shares: the rich consoles, and the mapping of errors to exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape

from .._errors import FaceauditError

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err_console = Console(stderr=True)


def handle_errors(fn: F) -> F:
    """Turn a :class:`FaceauditError` into a one-line message and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FaceauditError as exc:
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True,
                soft_wrap=True,
            )
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def cell(text: Any) -> Any:
    """User-given text (a group label, a file name) as a table cell: shortened for display
    (:func:`faceaudit._format.label`) and never read as rich markup (``"[/x]"`` is text)."""
    from rich.text import Text

    from .._format import label

    return Text(label(text))


def plain(text: Any) -> str:
    """User-given text inside a markup string: escaped, so brackets print as they are."""
    return escape(str(text))


def print_exclusions(report: Any, examples: int = 3) -> None:
    """What a dataset adapter left out at scan time (a :class:`~faceaudit.datasets.LoadReport`),
    one line per reason with a count and examples; nothing when it left nothing out."""
    from .._format import label

    records = list(getattr(report, "exclusions", ()) or ())
    if not records:
        return
    by_reason: dict[str, list[Any]] = {}
    for e in records:
        by_reason.setdefault(e.reason, []).append(e)
    lines = [f"Left out of the dataset before embedding: {len(records)} file(s) or folder(s)"]
    for reason, recs in sorted(by_reason.items()):
        shown = [label(e.path, 60) + (f" ({e.detail})" if e.detail else "")
                 for e in recs[:examples]]
        more = f", ... ({len(recs) - examples} more)" if len(recs) > examples else ""
        lines.append(f"  {reason}: {len(recs)}: " + ", ".join(shown) + more)
    console.print("\n".join(lines), highlight=False, markup=False, soft_wrap=True)
