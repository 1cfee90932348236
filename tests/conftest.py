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
