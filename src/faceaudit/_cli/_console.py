"""What every command shares: the rich consoles, and the mapping of errors to exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console

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
            from rich.markup import escape

            # escaped: "pip install 'faceaudit[cluster]'" is text, not a markup tag
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True,
                soft_wrap=True,
            )
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]
