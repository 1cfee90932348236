"""What a user can feed the command line: each case a clear message and a documented exit code,
never a traceback (issue 13). Tiny generated data; the fake embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from _support import FAST_EMBED, make_tiny_world
from faceaudit._cli._app import cli


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_tiny_world(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output


def test_audit_of_a_manifest_without_scores(world: Path) -> None:
    """``--manifest`` alone audits the images it lists (it was refused: 'got neither')."""
    code, out = run("audit", "--manifest", "manifest.csv", "--group-by", "sex",
                    "--reference-group", "M", *FAST_EMBED, "--n-boot", "0",
                    "--no-identification", "--out", "a")
    assert code == 0, out
    res = json.loads((world / "a" / "results.json").read_text())
    assert res["dataset"]["n_samples"] == 32
    assert res["verification"]["reference_group"] == "M"
