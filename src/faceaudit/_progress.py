"""Progress bars for long steps, drawn on a terminal's stderr only (never in a log or a pipe)."""

from __future__ import annotations

import time
from typing import Any


class progress_bar:
    """A rich progress bar (count, rate, ETA) on a terminal's stderr; a no-op elsewhere.

    ``with progress_bar(enabled, total) as update: ... update(n_done)``.
    """

    def __init__(self, enabled: bool, total: int, label: str = "comparing",
                 unit: str = "pairs") -> None:
        self.label, self.unit = label, unit
        self.enabled = enabled and total > 0
        self.total = total
        self._p: Any = None
        self._task: Any = None

    def __enter__(self) -> Any:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            console = Console(stderr=True)
            if console.is_terminal:
                self._p = Progress(
                    TextColumn(self.label),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"),
                    TimeElapsedColumn(),
                    TimeRemainingColumn(),
                    console=console,
                    transient=True,
                )
                self._p.start()
                self._task = self._p.add_task("pairs", total=self.total, rate="")
                self._t0 = time.perf_counter()

        def update(n: int) -> None:
            if self._p is not None:
                el = max(time.perf_counter() - self._t0, 1e-9)
                self._p.update(self._task, completed=n, rate=f"{n / el:.3g} {self.unit}/s")

        return update

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.stop()
