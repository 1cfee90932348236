"""Every ``faceaudit`` command shown in README.md runs and exits 0, on tiny generated data.

The commands are read from the README itself (its ``bash`` blocks and its inline code spans),
so a command added to the README without a way to run it here fails this test. Each runs as
written, with the README's file names standing for tiny files made here; options that only
make it fast are appended (the ``fake`` embedder instead of a real model, no bootstrap, a
private store, ``--limit`` for LFW). Commands on LFW use a few real LFW images from the
shared data and are skipped, saying so, when it is absent.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from _support import FAST_EMBED, make_tiny_world
from conftest import REPO, SHARED_DATA
from faceaudit._cli._app import cli


def readme_commands(text: str) -> list[list[str]]:
    """The ``faceaudit ...`` commands of a README, in order, as argument lists.

    From fenced ``bash`` blocks (continuation lines joined, ``a && b`` split, ``#`` comments
    dropped) and from inline code spans that start with ``faceaudit ``; a placeholder
    command (``faceaudit audit ...``) is left out.
    """
    found: list[tuple[int, str]] = []
    for block in re.finditer(r"```bash\n(.*?)```", text, re.S):
        body = block.group(1).replace("\\\n", " ")
        for line in body.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words[:1] == ["faceaudit"]:
                    found.append((block.start(), shlex.join(words)))
    for span in re.finditer(r"`(faceaudit [^`]+)`", text):
        found.append((span.start(), span.group(1)))
    out: list[list[str]] = []
    for _, cmd in sorted(found):
        words = shlex.split(cmd)[1:]
        if "..." not in words and words not in out:
            out.append(words)
    return out


def test_readme_commands_are_found() -> None:
    text = "```bash\nfaceaudit a --x 1 \\\n  --y 2 && echo hi  # note\n```\nsee `faceaudit b c`"
    assert readme_commands(text) == [["a", "--x", "1", "--y", "2"], ["b", "c"]]


def _prepare(words: list[str], folder: Path, outs: set[str]) -> list[str] | str:
    """The command made runnable here (README names -> tiny files, fast options), or the
    reason it is skipped. An audit folder the README uses twice (``my-audit``) keeps the
    first audit (``compare A B`` compares it with ``vendor-audit``, same groups); the
    second goes to ``<name>-2``."""
    words = [{"DATASET": "manifest.csv", "A": "my-audit", "B": "vendor-audit"}.get(w, w)
             for w in words]
    lfw = "lfw" in words or any(w.endswith("lfw_dlib.toml") for w in words)
    if lfw and not (SHARED_DATA / "lfw").is_dir():
        return f"real data {SHARED_DATA / 'lfw'} is absent"
    words = [str(SHARED_DATA / "lfw") if w == "../shared/data/lfw" else w for w in words]
    if "../shared/data/frl-london" in words:
        if not (SHARED_DATA / "frl-london").is_dir():
            return f"real data {SHARED_DATA / 'frl-london'} is absent"
        words = [str(SHARED_DATA / "frl-london") if w == "../shared/data/frl-london" else w
                 for w in words]
    words = [str(REPO / w) if w.startswith("examples/") else w for w in words]
    cmd = words[0]
    if cmd == "embed":
        words += [*FAST_EMBED, "--no-progress", "--store", str(folder / "store")]
    if cmd == "audit":
        if "--scores" not in words:
            words += FAST_EMBED
        words += ["--n-boot", "0"]
        if lfw:
            words += ["--limit", "100", "--no-download", "--no-identification"]
        if "--out" not in words:
            words += ["--out", str(folder / "toml-audit")]
        k = words.index("--out") + 1
        if words[k] in outs:
            words[k] += "-2"
        outs.add(words[k])
    return words


def test_every_readme_command_exits_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = readme_commands((REPO / "README.md").read_text())
    names = {c[0] for c in commands}
    assert {"audit", "embed", "score", "metrics", "identify", "compare"} <= names, commands
    make_tiny_world(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACEAUDIT_LFW", str(SHARED_DATA / "lfw"))
    runner = CliRunner()
    ran, skipped, outs = [], [], set()
    for words in commands:
        prepared = _prepare(words, tmp_path, outs)
        if isinstance(prepared, str):
            skipped.append((shlex.join(words), prepared))
            continue
        res = runner.invoke(cli, prepared)
        assert res.exit_code == 0, f"faceaudit {shlex.join(prepared)}\n{res.output}"
        assert "Traceback" not in res.output
        ran.append(words)
    assert len(ran) + len(skipped) == len(commands) >= 10
    assert (tmp_path / "my-audit" / "report.html").is_file()
    assert (tmp_path / "vendor-audit" / "report.html").is_file()
    if skipped:
        pytest.skip(f"{len(skipped)} of {len(commands)} README commands need real data: {skipped}")
