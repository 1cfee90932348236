"""faceaudit compare with the joint paired bootstrap: from two audit folders, and its fallback."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from faceaudit._cli._app import cli
from faceaudit.audit import AuditConfig, audit_summary, run_audit
from faceaudit.metrics import paired_comparison
from test_audit_run import make_vendor_data


def _audit(mpath: Path, spath: Path, out: Path, target: float) -> Path:
    run_audit(AuditConfig(scores=str(spath), manifest=str(mpath), group_by=["sex"],
                          reference_group="M", target_fmr=target, n_boot=10,
                          identification=False, out=str(out)))
    return out


def test_compare_is_paired_on_the_same_photos(tmp_path: Path) -> None:
    mpath, spath = make_vendor_data(tmp_path / "d", seed=4)
    a = _audit(mpath, spath, tmp_path / "a", 1e-2)
    b = _audit(mpath, spath, tmp_path / "b", 5e-2)
    r = CliRunner().invoke(cli, ["compare", str(a), str(b), "--n-boot", "30", "--seed", "2",
                                 "--json", str(tmp_path / "c.json"), "--html",
                                 str(tmp_path / "c.html")])
    assert r.exit_code == 0, r.output
    c = json.loads((tmp_path / "c.json").read_text())
    assert c["paired"] == {"n_boot": 30, "seed": 2, "confidence": 0.95, "reference_group": "M"}
    ra, rb = (json.loads((x / "results.json").read_text()) for x in (a, b))
    want = paired_comparison(audit_summary(ra), audit_summary(rb),
                             ra["verification"]["threshold"], rb["verification"]["threshold"],
                             reference_group="M", n_boot=30, seed=2)
    got = {(x["group"], x["rate"]): x for x in c["rows"]}
    for w in want["rows"]:
        row = got[(w["group"], w["rate"])]
        assert row["paired_difference_low"] == w["difference_low"]
        assert row["paired_difference_high"] == w["difference_high"]
        assert row["verdict"] == w["verdict"].replace("B ", "b ", 1)
    # a higher target FMR accepts more: FMR can only go up, FNMR only down
    for w in want["rows"]:
        assert (w["difference"] >= 0) if w["rate"] == "fmr" else (w["difference"] <= 0)
    assert "paired" in (tmp_path / "c.html").read_text()


def test_compare_without_a_cached_summary_falls_back(tmp_path: Path) -> None:
    m1, s1 = make_vendor_data(tmp_path / "d1", seed=4)
    m2, s2 = make_vendor_data(tmp_path / "d2", seed=5)
    a = _audit(m1, s1, tmp_path / "a", 1e-2)
    b = _audit(m2, s2, tmp_path / "b", 1e-2)
    rb = json.loads((b / "results.json").read_text())
    key = rb["inputs"]["score_summary"]["cache_key"]
    (Path(rb["cache_dir"]) / f"summary-{key[:32]}.npz").unlink()
    r = CliRunner().invoke(cli, ["compare", str(a), str(b), "--json", str(tmp_path / "c.json")])
    assert r.exit_code == 0, r.output
    c = json.loads((tmp_path / "c.json").read_text())
    assert c["paired"] is None
    assert any(n.startswith("No paired bootstrap") and "no longer in the cache" in n
               for n in c["notes"])
    r = CliRunner().invoke(cli, ["compare", str(a), str(b), "--no-paired"])
    assert r.exit_code == 0 and "No paired bootstrap" not in r.output
