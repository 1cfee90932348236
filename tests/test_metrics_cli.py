"""`faceaudit metrics` through click's CliRunner: bob's dev/eval tables and score summaries."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from _support import build_summary, random_population
from faceaudit._cli._app import cli
from faceaudit.metrics import AuditResult


def _run(*args: str):
    return CliRunner().invoke(cli, ["metrics", *args], catch_exceptions=False)


@pytest.mark.parametrize(("dev", "test", "thr", "rows"), [
    ("dev-1", "test-1", "-8.025286e-03",
     ["6.263% (31/495)", "5.637% (27/479)", "6.208% (28/451)", "6.131% (29/473)",
      "5.924%", "5.366%", "11.273%", "10.637%", "8.599%", "8.001%"]),
    ("dev-2", "test-2", "1.652567e-02",
     ["4.591% (23/501)", "3.333% (16/480)", "4.484% (20/446)", "7.006% (33/471)",
      "4.348%", "3.170%", "9.547%", "11.563%", "6.947%", "7.367%"]),
])
def test_bob_dev_and_eval_tables(bob_fixtures, tmp_path, dev, test, thr, rows) -> None:
    out = tmp_path / "m.json"
    r = _run(str(bob_fixtures / f"{dev}.txt"), "--test", str(bob_fixtures / f"{test}.txt"),
             "--json", str(out))
    assert r.exit_code == 0, r.output
    assert f"EER on {dev}.txt): {thr}" in r.output
    for cell in rows:
        assert cell in r.output
    d = json.loads(out.read_text())
    assert f"{d['threshold']:.6e}" == thr
    s = d["sets"][f"{dev}.txt"]
    assert s["fmr_ci_low"] <= s["fmr"] <= s["fmr_ci_high"]
    assert s["fnmr_ci_low"] <= s["fnmr"] <= s["fnmr_ci_high"]


def test_bob_threshold_options(bob_fixtures, tmp_path) -> None:
    out = tmp_path / "m.json"
    r = _run(str(bob_fixtures / "dev-1.txt"), "--target-fmr", "0.01", "--json", str(out))
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    s = d["sets"]["dev-1.txt"]
    assert s["fmr"] <= 0.01 and s["n_nonmated"] == 495
    r = _run(str(bob_fixtures / "dev-1.txt"), "--threshold", "0.5", "--json", str(out))
    d = json.loads(out.read_text())
    neg = np.loadtxt(bob_fixtures / "dev-1.txt")
    imp = neg[neg[:, 0] == -1, 1]
    imp = imp[~np.isnan(imp)]
    assert d["sets"]["dev-1.txt"]["false_matches"] == int((imp >= 0.5).sum())


def test_four_column_and_malformed_bob_files(tmp_path) -> None:
    f = tmp_path / "s4.txt"
    f.write_text("a a x 0.9\nb a x 0.7\nb b y 0.2\na b y nan\n")
    out = tmp_path / "m.json"
    r = _run(str(f), "--threshold", "0.5", "--json", str(out))
    assert r.exit_code == 0, r.output
    s = json.loads(out.read_text())["sets"]["s4.txt"]
    counts = (s["false_matches"], s["n_nonmated"], s["false_non_matches"], s["n_mated"])
    assert counts == (1, 1, 1, 2)
    assert s["fta"] == 0.25
    bad = tmp_path / "bad.txt"
    bad.write_text("1 0.5\n-1 abc\n")
    r = CliRunner().invoke(cli, ["metrics", str(bad)])
    assert r.exit_code == 2 and "line 2" in r.output and "abc" in r.output


def test_score_summary_tables_and_json(tmp_path) -> None:
    sub, grp, s = random_population(n_subjects=30, per_subject=3, n_groups=3, seed=0)
    sm = build_summary(sub, grp, s, labels=("F", "M", "X"), attribute="sex")
    src = tmp_path / "dev.npz"
    sm.save(src)
    out = tmp_path / "m.json"
    r = _run(str(src), "--target-fmr", "0.01", "--reference-group", "M", "--n-boot", "20",
             "--seed", "3", "--json", str(out), "--test", str(src))
    assert r.exit_code == 0, r.output
    ref = AuditResult(sm, target_fmr=0.01, reference_group="M", n_boot=20, seed=3)
    d = json.loads(out.read_text())
    got = d["dev.npz"]
    assert got["threshold"] == ref.threshold
    assert [g["false_matches"] for g in got["groups"]] == ref.by_group["false_matches"].tolist()
    assert got["groups"][0]["fmr_boot_q0.975"] == pytest.approx(
        ref.by_group["fmr_boot_q0.975"].iloc[0])
    for g in ref.by_group.itertuples():
        assert f"{g.false_matches}" in r.output and g.label in r.output
    assert "fairness summaries" in r.output and "subject bootstrap" in r.output
    # the NIST IR 8429 report card, at the audit's level, with the groups it used
    from faceaudit.metrics import disparity_summary

    assert "NIST IR 8429 summaries (95% intervals)" in r.output
    want = disparity_summary(ref.group_errors("fmr"), replicates=ref.boot_fmr, rate="FMR")
    assert f"FMR summaries use: {', '.join(want.used)}." in r.output


def test_cli_errors(tmp_path, bob_fixtures) -> None:
    sub, grp, s = random_population(n_subjects=6, per_subject=2, n_groups=2, seed=0)
    src = tmp_path / "dev.npz"
    build_summary(sub, grp, s).save(src)
    r = CliRunner().invoke(cli, ["metrics", str(src)])
    assert r.exit_code == 3 and "--threshold or --target-fmr" in r.output
    r = CliRunner().invoke(cli, ["metrics", str(src), "--threshold", "0.1", "--target-fmr", "0.1"])
    assert r.exit_code == 3
    r = CliRunner().invoke(cli, ["metrics", str(bob_fixtures / "dev-1.txt"), "--n-boot", "5"])
    assert r.exit_code == 3 and "score summary" in r.output
