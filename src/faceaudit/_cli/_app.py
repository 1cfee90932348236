"""The click group and the shared helpers of every command (error mapping, console)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
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
            err_console.print(
                f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True
            )
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="faceaudit")
def cli() -> None:
    """faceaudit: measure who a face recognition system fails.

    Typical flow: `faceaudit embed` (images -> templates), `faceaudit score`
    (templates or vendor scores -> score summary), `faceaudit metrics` (summary -> per-group
    error rates), `faceaudit identify` (1:N searches), or all at once: `faceaudit audit`.
    """


def _register() -> None:
    import importlib

    for name in ("score", "metrics", "embed", "identify", "audit", "compare"):
        try:
            mod = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{name}":
                continue  # command not built yet
            raise
        cli.add_command(mod.command)


_register()
