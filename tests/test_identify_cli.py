"""``faceaudit identify`` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from faceaudit import Manifest, Templates
from faceaudit._cli._app import cli


def _files(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    rows, vecs = [], []
    for s in range(120):
        sex = "F" if s % 2 else "M"
        centre = rng.normal(size=16)
        for j in range(3):
            rows.append({"sample_id": f"s{s}_{j}", "subject_id": f"p{s}", "sex": sex})
            vecs.append(centre + rng.normal(size=16))
    m = Manifest(pd.DataFrame(rows))
    mp, tp = tmp_path / "m.csv", tmp_path / "t.npz"
    m.write(mp)
    Templates.from_vectors(m.sample_ids, np.asarray(vecs, np.float32), model_id="syn").save(tp)
    return mp, tp


def test_identify_command_prints_tables_and_writes_json(tmp_path: Path) -> None:
    mp, tp = _files(tmp_path)
    out = tmp_path / "out.json"
    res = CliRunner().invoke(cli, [
        "identify", "--templates", str(tp), "--manifest", str(mp), "--group-by", "sex",
        "--target-fpir", "0.1", "--gallery-sizes", "10,30", "--n-boot", "50",
        "--searches-per-year", "10000", "--deploy-gallery-size", "1e6", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "Error rates by probe group" in res.output
    assert "Who is falsely put forward" in res.output
    assert "At 10,000 searches a year against 1,000,000 enrolled people" in res.output
    d = json.loads(out.read_text())
    assert d["kind"] == "faceaudit.identify"
    rates = {r["group"]: r for r in d["rates"]}
    assert set(rates) == {"F", "M", "overall"}
    assert rates["overall"]["fpir"] <= 0.1
    assert rates["overall"]["n_nonmated"] == rates["F"]["n_nonmated"] + rates["M"]["n_nonmated"]
    assert d["whatif"]["gallery_size"] == 1e6
    assert {r["gallery_size"] for r in d["gallery_size_curve"]} == {10, 30, 60}


def test_identify_command_errors_exit_with_codes(tmp_path: Path) -> None:
    mp, tp = _files(tmp_path)
    r = CliRunner().invoke(cli, ["identify", "--templates", str(tp), "--manifest", str(mp)])
    assert r.exit_code == 3
    assert "exactly one of threshold and target_fpir" in r.output
    r = CliRunner().invoke(cli, ["identify", "--templates", str(tp), "--manifest", str(mp),
                                 "--threshold", "0.5", "--group-by", "race"])
    assert r.exit_code == 3 and "grouping attribute must be one of" in r.output
    r = CliRunner().invoke(cli, ["identify", "--templates", str(tp), "--manifest", str(mp),
                                 "--threshold", "0.5", "--gallery-sizes", "ten"])
    assert r.exit_code == 3 and "--gallery-sizes must be comma-separated numbers" in r.output
