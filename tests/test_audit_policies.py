"""Threshold policies in the audit: config and CLI, results.json, the report section, the card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceaudit import ConfigError
from faceaudit._cli._app import cli
from faceaudit.audit import AuditConfig, run_audit
from faceaudit.metrics import POLICY_CAVEAT
from faceaudit.report import model_card_section
from test_audit_run import SCRIPT, make_vendor_data


@pytest.fixture(scope="module")
def policy_audit(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    mpath, spath = make_vendor_data(tmp_path_factory.mktemp("pol-data"), seed=1)
    cfg = AuditConfig(scores=str(spath), manifest=str(mpath), group_by=["sex", "race"],
                      reference_group="M / white", target_fmr=1e-2, n_boot=20, seed=2,
                      threshold_policy="all", identification=False,
                      out=str(tmp_path_factory.mktemp("pol-out")))
    return cfg, run_audit(cfg)


def test_all_policies_in_results_and_report(policy_audit) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = policy_audit
    res = json.loads((Path(cfg.out) / "results.json").read_text())
    tp = res["threshold_policies"]
    assert tp["selected"] == ["vendor", "global", "per-group"] and tp["caveat"] == POLICY_CAVEAT
    pol = tp["policies"]
    # a vendor score file has no published threshold: reported as not available
    assert not pol["vendor"]["available"] and "not available" in pol["vendor"]["reason"]
    # the global policy is the rest of the report: same threshold, same counts
    ver = res["verification"]
    assert set(pol["global"]["thresholds"]) == {ver["threshold"]}
    for a, b in zip(pol["global"]["groups"], ver["groups"], strict=True):
        assert a["label"] == b["group"]
        assert (a["false_matches"], a["n_nonmated"]) == (b["false_matches"], b["n_nonmated"])
        assert a["false_non_matches"] == b["false_non_matches"]
    # per-group: each group's own FMR is at most the target
    for g in pol["per-group"]["groups"]:
        assert g["false_matches"] <= 1e-2 * g["n_nonmated"]
    assert pol["per-group"]["cross"]["rule"] == "probe"
    assert "model_card" not in res  # no built-in model
    html = (Path(cfg.out) / "report.html").read_text()
    assert 'id="policies"' in html and "recommends none of them" in html
    assert SCRIPT not in html  # labels are escaped in the new tables too
    assert "judged with the threshold of the probe" in html


def test_default_global_skips_the_section(tmp_path: Path) -> None:
    mpath, spath = make_vendor_data(tmp_path / "d", seed=2)
    cfg = AuditConfig(scores=str(spath), manifest=str(mpath), group_by=["sex"], n_boot=0,
                      identification=False, out=str(tmp_path / "o"))
    out = run_audit(cfg)
    assert "threshold_policies" not in out.results
    assert 'id="policies"' not in (tmp_path / "o" / "report.html").read_text()


def test_vendor_policy_needs_a_published_threshold(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"threshold_policy 'vendor' needs a model with a "
                                          r"published threshold .*'v\.csv'"):
        AuditConfig(scores="v.csv", manifest="m.csv", threshold_policy="vendor")
    with pytest.raises(ConfigError, match=r"model 'my\.onnx' has none"):
        AuditConfig(dataset="lfw", model="my.onnx", threshold_policy="vendor")
    with pytest.raises(ConfigError, match="threshold_policy must be one of"):
        AuditConfig(dataset="lfw", threshold_policy="fairest")
    toml = tmp_path / "c.toml"
    toml.write_text('[dataset]\nname = "lfw"\n[model]\nembedder = "sface"\n'
                    '[analysis]\nthreshold_policy = "per-group"\n')
    assert AuditConfig.from_toml(toml).threshold_policy == "per-group"


def test_vendor_point_and_card_come_from_the_model_card() -> None:
    from faceaudit.audit._policies import policy_sections, vendor_point

    for model, t, fm, fnm in (("sface", 0.363, 1, 36), ("dlib", -0.6, 14, 63)):
        cfg = AuditConfig(dataset="lfw", model=model, threshold_policy="vendor")
        v = vendor_point(cfg)
        assert v is not None and v.threshold == t
        assert (v.false_matches, v.n_impostor, v.false_non_matches) == (fm, 3000, fnm)
        assert v.intended()["fmr"] == fm / 3000
        card = policy_sections(cfg, None)["model_card"]
        rows = dict(model_card_section(card))
        assert rows["Operating threshold"].startswith(f"{t:g}")
        assert "LFW accuracy measured by faceaudit" in rows


def test_cli_threshold_policy(tmp_path: Path) -> None:
    mpath, spath = make_vendor_data(tmp_path / "d", seed=3)
    runner = CliRunner()
    base = ["audit", "--scores", str(spath), "--manifest", str(mpath), "--group-by", "sex",
            "--n-boot", "0", "--no-identification"]
    r = runner.invoke(cli, [*base, "--threshold-policy", "per-group", "--out",
                            str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert list(res["threshold_policies"]["policies"]) == ["per-group"]
    r = runner.invoke(cli, [*base, "--threshold-policy", "vendor", "--out", str(tmp_path / "x")])
    assert r.exit_code == 3 and "needs a model with a published threshold" in r.output
    r = runner.invoke(cli, [*base, "--threshold-policy", "best"])
    assert r.exit_code == 2 and "best" in r.output


def test_section_sentences_leave_thin_groups_out() -> None:
    from faceaudit.report import policies_section

    def row(label, fmr, fnmr, thin=""):
        return {"label": label, "threshold": 0.5, "fmr": fmr, "fmr_low": 0.0, "fmr_high": 1.0,
                "fnmr": fnmr, "fnmr_low": 0.0, "fnmr_high": 1.0, "thin_fmr_reason": thin,
                "thin_fnmr_reason": thin, "fmr_vs_intended": "within",
                "fnmr_vs_intended": None}

    nan = float("nan")
    cross = {"rule": "probe", "labels": ["A", "B", "C"],
             "fmr": [[0.001, 0.004, 0.5], [0.002, 0.001, 0.5], [0.5, 0.5, 0.0]],
             "low": [[0, 0.003, 0], [0.001, 0, 0], [0, 0, 0]],
             "high": [[1, 0.005, 1], [0.003, 1, 1], [1, 1, 1]],
             "false_matches": [[1, 4, 1], [2, 1, 1], [1, 1, 0]],
             "n_nonmated": [[1000, 1000, 2], [1000, 1000, 2], [2, 2, 1]],
             "exact": [[True] * 3] * 3}
    doc = {"policies": {"per-group": {
        "name": "per-group", "rule": "r", "available": True, "reason": "",
        "thresholds": [0.4, 0.6, 0.9], "intended": {"fmr": 0.001, "source": "t"},
        "groups": [row("A", 0.001, 0.05), row("B", 0.001, 0.2), row("C", 0.0, nan, "thin")],
        "cross": cross}}}
    sec = policies_section(doc)
    text = " ".join(sec["policies"][0]["sentences"])
    assert "from 0.4 (A) to 0.6 (B)" in text and "from 5% (A) to 20% (B)" in text
    assert ("reaches 0.4% (0.3%–0.5%) for probes from A against people from B, 4.0× the "
            "target") in text
    assert "(C)" not in text  # the thin group's 50% cells and threshold are left out


def test_policy_thresholds_are_recounted_exactly(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Small tails (5 per cell, 16 bins): a vendor threshold of 0.41234 falls inside
    histogram bins in every cell; the policies stage recounts there (second pass), so every
    vendor count is exact and equals a brute-force count, across groups too; per-group
    thresholds (bin edges or tail scores) are exact as well."""
    import numpy as np
    import pandas as pd

    import faceaudit.audit._policies as pol_mod
    from faceaudit.audit._backend import InProcess
    from faceaudit.metrics import VendorOperatingPoint
    from test_engine_recount import make

    class SmallTails(InProcess):
        def read_scores(self, path, manifest, **options):  # type: ignore[no-untyped-def]
            return super().read_scores(path, manifest, min_exact=5, n_bins=16, **options)

    m, _ = make(n=240, n_subj=45, seed=8)
    m.write(tmp_path / "manifest.csv")
    rng = np.random.default_rng(9)
    a, b = np.triu_indices(len(m), 1)
    subj = m.subject_codes
    score = np.round(np.where(subj[a] == subj[b], 0.6, 0.0) + rng.normal(0, 0.3, len(a)), 4)
    pd.DataFrame({"sample_a": m.sample_ids[a], "sample_b": m.sample_ids[b],
                  "score": score}).to_csv(tmp_path / "scores.csv", index=False)
    cfg = AuditConfig(scores=str(tmp_path / "scores.csv"),
                      manifest=str(tmp_path / "manifest.csv"), group_by=["grp"],
                      threshold=0.45678, target_fmr=1e-2, n_boot=10, identification=False,
                      threshold_policy="all", out=str(tmp_path / "out"),
                      cache_dir=str(tmp_path / "cache"))
    monkeypatch.setattr(pol_mod, "vendor_point",
                        lambda cfg: VendorOperatingPoint("toy", 0.41234, "toy"))
    said: list[str] = []
    res = run_audit(cfg, backend=SmallTails(), progress=lambda stage, msg: said.append(msg))
    assert any("done" in x and "recounted" in x and "; 0 cell" not in x for x in said)
    # the recount stage refined the summary at the given global threshold first
    assert any("made exact at threshold 0.45678" in x for x in said)
    g = m.groups("grp").codes
    imp = subj[a] != subj[b]
    checked = 0
    for name in ("vendor", "per-group", "global"):
        checked += _check_exact(res.results["threshold_policies"]["policies"][name], score,
                                g, imp, a, b)
    assert checked >= 4


def _check_exact(pol, score, g, imp, a, b) -> int:  # type: ignore[no-untyped-def]
    checked = 0
    for i, row in enumerate(pol["groups"]):
        if row["n_subjects"] < 10 or row["n_nonmated"] < 300:
            continue
        t = pol["thresholds"][i]
        assert row["fmr_exact"]
        sel = imp & (g[a] == i) & (g[b] == i)
        assert row["false_matches"] == int((score[sel] >= t).sum())
        for j in range(len(pol["groups"])):
            cross = imp & (((g[a] == i) & (g[b] == j)) | ((g[a] == j) & (g[b] == i)))
            assert pol["cross"]["false_matches"][i][j] == int((score[cross] >= t).sum())
            assert pol["cross"]["exact"][i][j]
        checked += 1
    return checked
