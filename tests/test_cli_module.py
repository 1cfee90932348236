"""``python -m faceaudit`` runs the ``faceaudit`` command line (same usage, output, exit codes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import faceaudit


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(faceaudit.__file__).parents[1]))
    return subprocess.run([sys.executable, "-m", "faceaudit", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_python_m_faceaudit_prints_the_scripts_usage() -> None:
    proc = _run("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: faceaudit [OPTIONS] COMMAND")
    assert "metrics" in proc.stdout


def test_python_m_faceaudit_passes_on_the_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("only-one-field\n")
    proc = _run("metrics", str(bad))
    assert proc.returncode == 2  # InputError.exit_code
    assert f"{bad}: line 1: 1 fields" in proc.stderr
