"""`faceaudit score` through click's CliRunner."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

from faceaudit import Manifest, ScoreSummary, Templates
from faceaudit._cli._app import cli


def _setup(tmp_path):
    df = pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(8)],
            "subject_id": ["A", "A", "B", "B", "C", "C", "D", "D"],
            "sex": ["F", "F", "M", "M", "F", "F", "M", "M"],
        }
    )
    Manifest(df).write(tmp_path / "m.csv")
    rng = np.random.default_rng(0)
    Templates.from_vectors(df["sample_id"], rng.standard_normal((8, 4))).save(tmp_path / "t.npz")
    return tmp_path / "m.csv", tmp_path / "t.npz"


def test_score_templates_cli(tmp_path):
    m, t = _setup(tmp_path)
    out = tmp_path / "s.npz"
    r = CliRunner().invoke(
        cli,
        [
            "score",
            "--templates",
            str(t),
            "--manifest",
            str(m),
            "--group-by",
            "sex",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    s = ScoreSummary.load(out)
    assert s.group_labels == ("F", "M")
    assert s.genuine_total.tolist() == [[2, 0], [0, 2]]
    assert s.impostor_total.tolist() == [[4, 16], [0, 4]]
    assert "F × M" in r.output and "16" in r.output and "all" in r.output


def test_score_matched_and_pairs_cli(tmp_path):
    m, t = _setup(tmp_path)
    out = tmp_path / "s.npz"
    r = CliRunner().invoke(
        cli,
        [
            "score",
            "--templates",
            str(t),
            "--manifest",
            str(m),
            "--group-by",
            "sex",
            "--impostors",
            "matched",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    assert ScoreSummary.load(out).impostor_total.tolist() == [[4, 0], [0, 4]]
    (tmp_path / "p.csv").write_text("sample_a,sample_b,label\ns0,s1,1\ns0,s2,0\n")
    r = CliRunner().invoke(
        cli,
        [
            "score",
            "--templates",
            str(t),
            "--manifest",
            str(m),
            "--pairs",
            str(tmp_path / "p.csv"),
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    s = ScoreSummary.load(out)
    assert len(s.genuine_scores) == 1 and s.impostor_total.sum() == 1


def test_score_vendor_cli_and_errors(tmp_path):
    m, _ = _setup(tmp_path)
    csv = tmp_path / "v.csv"
    csv.write_text("sample_a,sample_b,score\ns0,s1,0.3\ns0,s2,1.5\ns2,s9,0.1\n")
    out = tmp_path / "v.npz"
    r = CliRunner().invoke(
        cli, ["score", "--scores", str(csv), "--manifest", str(m), "--out", str(out)]
    )
    assert r.exit_code == 2
    assert "line 4: unknown sample id 's9'" in r.output
    r = CliRunner().invoke(
        cli,
        [
            "score",
            "--scores",
            str(csv),
            "--manifest",
            str(m),
            "--out",
            str(out),
            "--distance",
            "--on-error",
            "exclude",
        ],
    )
    assert r.exit_code == 0, r.output
    s = ScoreSummary.load(out)
    assert s.genuine_scores.tolist() == [-0.3] and s.tail_scores.tolist() == [-1.5]
    assert s.exclusions == {"unknown_sample": 1}
    assert "unknown_sample: 1" in r.output


def test_score_bob_cli(tmp_path, bob_fixtures):
    out = tmp_path / "b.npz"
    r = CliRunner().invoke(
        cli, ["score", "--bob-scores", str(bob_fixtures / "dev-1.txt"), "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    s = ScoreSummary.load(out).scores()
    assert (s.n_genuine, s.n_impostor, s.genuine_fta, s.impostor_fta) == (451, 495, 28, 26)


def test_score_cli_needs_one_source(tmp_path):
    r = CliRunner().invoke(cli, ["score", "--out", str(tmp_path / "x.npz")])
    assert r.exit_code == 3 and "exactly one of --templates, --scores, --bob-scores" in r.output
    _, t = _setup(tmp_path)
    r = CliRunner().invoke(cli, ["score", "--templates", str(t), "--out", str(tmp_path / "x.npz")])
    assert r.exit_code == 3 and "--manifest is required" in r.output
