"""``faceaudit embed`` through click's CliRunner (fake embedder, tiny image tree)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner
from PIL import Image

from faceaudit import Manifest, Templates
from faceaudit._cli._app import cli


def _manifest(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for s in ("ann", "ben"):
        (tmp_path / s).mkdir()
        for k in range(3):
            Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(
                tmp_path / s / f"{k}.png")
            rows.append({"sample_id": f"{s}{k}", "subject_id": s, "path": f"{s}/{k}.png",
                         "sex": "F" if s == "ann" else "M"})
    (tmp_path / "broken.jpg").write_bytes(b"nope")
    rows.append({"sample_id": "broken", "subject_id": "cy", "path": "broken.jpg", "sex": "M"})
    path = tmp_path / "manifest.csv"
    Manifest(pd.DataFrame(rows)).write(path)
    return path


def test_embed_command_writes_templates_and_summary(tmp_path):
    man = _manifest(tmp_path)
    out = tmp_path / "t.npz"
    res = CliRunner().invoke(cli, ["embed", str(man), "--out", str(out), "--model", "fake",
                                   "--detector", "none", "--workers", "1", "--store",
                                   str(tmp_path / "store"), "--no-progress"])
    assert res.exit_code == 0, res.output
    t = Templates.load(out)
    assert len(t) == 7 and int(t.ok.sum()) == 6
    assert t.status[list(t.sample_ids).index("broken")] == "unreadable"
    assert "ok" in res.output and "unreadable" in res.output and "85.7%" in res.output
    assert "14.3%" in res.output and "broken" in res.output
    # re-run from the store gives the same file content
    out2 = tmp_path / "t2.npz"
    res2 = CliRunner().invoke(cli, ["embed", str(man), "--out", str(out2), "--model", "fake",
                                    "--detector", "none", "--workers", "1", "--store",
                                    str(tmp_path / "store"), "--no-progress"])
    assert res2.exit_code == 0, res2.output
    np.testing.assert_array_equal(Templates.load(out2).vectors, t.vectors)


def test_embed_command_errors_have_exit_codes(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["embed", str(tmp_path / "missing.csv"), "--out", "x.npz",
                              "--model", "fake"])
    assert res.exit_code in (2, 3), res.output  # input error / config error, not a traceback
    assert "Traceback" not in res.output
    man = _manifest(tmp_path)
    res = runner.invoke(cli, ["embed", str(man), "--out", str(tmp_path / "x.npz"),
                              "--model", "arcface.bin", "--detector", "none"])
    assert res.exit_code == 3 and "model must be" in res.output


def test_embed_status_table_shows_markup_like_ids_as_text(tmp_path):
    """A sample id or detail that looks like rich markup ("[/x]") is printed as text: the status
    table used to crash with a MarkupError traceback after the templates were saved."""
    Image.new("RGB", (64, 64), (120, 100, 90)).save(tmp_path / "ok.jpg")
    pd.DataFrame({"sample_id": ["[/x]", "ok2", "ok3"], "subject_id": ["s1", "s2", "s2"],
                  "path": ["missing.jpg", "ok.jpg", "ok.jpg"]}).to_csv(tmp_path / "m.csv",
                                                                       index=False)
    res = CliRunner().invoke(cli, ["embed", str(tmp_path / "m.csv"), "--model", "fake",
                                   "--detector", "none", "--workers", "1", "--no-progress",
                                   "--store", str(tmp_path / "store"),
                                   "--out", str(tmp_path / "t.npz")])
    assert res.exit_code == 0, res.output
    assert "[/x]" in res.output and "unreadable" in res.output
    assert Templates.load(tmp_path / "t.npz").ok.sum() == 2
