"""Shared fixtures: where the read-only real data lives.

Set ``FACEAUDIT_SHARED_DATA`` to point elsewhere; by default ``../shared/data`` beside the
repository is used. Tests that need a dataset skip (saying why) when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FACEAUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def _need(sub: str) -> Path:
    p = SHARED_DATA / sub
    if not p.exists():
        pytest.skip(
            f"real data {p} is absent (set FACEAUDIT_SHARED_DATA to the shared data folder)"
        )
    return p


@pytest.fixture(scope="session")
def bob_fixtures() -> Path:
    return _need("bob-measure-fixtures")


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    return _need("lfw")


@pytest.fixture(scope="session")
def frll_dir() -> Path:
    return _need("frl-london")


@pytest.fixture(scope="module", autouse=True)
def _private_audit_cache(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Every test module gets its own audit cache (score summaries, template stores), never the
    home folder's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEAUDIT_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def no_hang():  # type: ignore[no-untyped-def]
    """Fail (instead of hanging the suite) if the test blocks for 30 s, e.g. opening a FIFO.

    SIGALRM interrupts a blocking ``open()`` of a FIFO in the main thread; tests that create
    FIFOs use this so a regression shows up as a failure.
    """
    import signal

    class Blocked(Exception):  # not an OSError (TimeoutError is one): code under test must
        pass  # not be able to catch it as a file error and go on

    def _timeout(signum, frame):  # type: ignore[no-untyped-def]
        raise Blocked("blocked for 30 s (opened a FIFO or read a device?)")

    old = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(30)  # a regression fails here instead of hanging the suite
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


class SpecialFiles:
    """Makes FIFOs, sockets and symlinks to /dev/zero (never a device node) and removes them."""

    def __init__(self) -> None:
        self._made: list[Path] = []
        self._socks: list[object] = []

    def fifo(self, path: Path) -> Path:
        os.mkfifo(path)
        self._made.append(path)
        return path

    def socket(self, path: Path) -> Path:
        import socket

        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        self._socks.append(sock)
        self._made.append(path)
        return path

    def dev_zero(self, path: Path) -> Path:
        path.symlink_to("/dev/zero")
        self._made.append(path)
        return path

    def remove(self) -> None:
        for sock in self._socks:
            sock.close()  # type: ignore[attr-defined]
        for path in self._made:
            path.unlink(missing_ok=True)


@pytest.fixture
def special_files(no_hang):  # type: ignore[no-untyped-def]
    """FIFOs, sockets and /dev/zero links for a test, removed afterwards (with no_hang armed)."""
    made = SpecialFiles()
    yield made
    made.remove()
