"""The ``faceaudit`` click group: every command of this package registered on it."""

from __future__ import annotations

import click

from . import audit, compare, embed, identify, metrics, score
from ._console import console, err_console, handle_errors


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="faceaudit")
def cli() -> None:
    """faceaudit: measure who a face recognition system fails.

    Typical flow: `faceaudit embed` (images -> templates), `faceaudit score`
    (templates or vendor scores -> score summary), `faceaudit metrics` (summary -> per-group
    error rates), `faceaudit identify` (1:N searches), or all at once: `faceaudit audit`.
    """


for _module in (score, metrics, embed, identify, audit, compare):
    cli.add_command(_module.command)

__all__ = ["cli", "console", "err_console", "handle_errors"]
