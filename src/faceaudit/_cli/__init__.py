"""The ``faceaudit`` command line: a thin layer over the Python API.

Each command lives in its own module of this package, parses options, calls one public
function, renders the result with rich, and maps :class:`~faceaudit.FaceauditError`
subclasses to their exit codes (see :mod:`faceaudit._errors`). No formula or threshold
lives here.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``faceaudit`` console script."""
    try:
        from ._app import cli
    except ImportError as exc:
        print(
            f"faceaudit's command line needs its extra ({exc.name} is missing): "
            "pip install 'faceaudit[cli]'",
            file=sys.stderr,
        )
        return 4
    return cli.main(args=argv, prog_name="faceaudit", standalone_mode=True) or 0
