"""run_audit end to end: every file, numbers equal to the metrics' own, cache reuse, vendor path,
real LFW subsets (FakeEmbedder for the bulk, dlib on a few dozen images), CLI and compare."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from faceaudit import ConfigError, Manifest, ScoreFileError, ScoreSummary
from faceaudit._cli._app import cli
from faceaudit._similarity import pair_scores
from faceaudit.audit import AuditConfig, default_cache_dir, run_audit
from faceaudit.metrics import AuditResult, shown_interval
from faceaudit.report import GROUP_FIELDS, SCHEMA_VERSION, load_results

SCRIPT = "<script>alert('x')</script>"


def make_vendor_data(folder: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """A manifest (4 groups, one labelled with a script tag) and an all-pairs score file.

    Scores are cosine similarities of per-person directions plus noise (genuine ≈ 0.6,
    impostor ≈ 0); two pairs have a NaN score (failures to acquire).
    """
    rng = np.random.default_rng(seed)
    rows = []
    spec = [("F", "black", 6), ("F", "white", 9), ("M", "white", 12), ("M", SCRIPT, 5)]
    for g, (sex, race, n) in enumerate(spec):
        for s in range(n):
            for k in range(3):
                rows.append(
                    {
                        "sample_id": f"g{g}s{s}i{k}",
                        "subject_id": f"g{g}s{s}",
                        "sex": sex,
                        "race": race,
                    }
                )
    m = Manifest(pd.DataFrame(rows))
    ident = rng.normal(size=(m.n_subjects, 16))
    vec = ident[m.subject_codes] + 0.8 * rng.normal(size=(len(m), 16))
    ia, ib = np.triu_indices(len(m), 1)
    scores = pair_scores(vec[ia], vec[ib], "cosine").astype(np.float64)
    scores[[0, 5]] = np.nan
    folder.mkdir(parents=True, exist_ok=True)
    mpath = folder / "manifest.csv"
    m.write(mpath)
    spath = folder / "scores.csv"
    pd.DataFrame(
        {"sample_a": m.sample_ids[ia], "sample_b": m.sample_ids[ib], "score": scores}
    ).to_csv(spath, index=False, na_rep="nan")
    return mpath, spath


@pytest.fixture(scope="module")
def vendor_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_vendor_data(tmp_path_factory.mktemp("vendor"))


@pytest.fixture(scope="module")
def vendor_audit(vendor_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    mpath, spath = vendor_files
    out = tmp_path_factory.mktemp("vendor-out")
    cfg = AuditConfig(
        scores=str(spath),
        manifest=str(mpath),
        group_by=["sex", "race"],
        reference_group="M / white",
        target_fmr=1e-2,
        n_boot=40,
        seed=3,
        out=str(out),
    )
    return cfg, run_audit(cfg)


EXPECTED_FILES = (
    "report.html",
    "results.json",
    "by_group.csv",
    "fmr_matrix.csv",
    "config.resolved.toml",
    "manifest.csv",
)
FIGURES = ("rates", "heatmap", "det", "distributions", "fte")


def test_vendor_audit_writes_every_file(vendor_audit) -> None:  # type: ignore[no-untyped-def]
    cfg, out = vendor_audit
    folder = Path(cfg.out)
    for name in EXPECTED_FILES:
        assert (folder / name).is_file(), name
    for name in FIGURES:
        for ext in ("png", "svg"):
            p = folder / "figures" / f"{name}.{ext}"
            assert p.is_file() and p.stat().st_size > 1000, p
    assert (folder / "figures" / "rates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (folder / "identification.csv").exists()  # no templates: no 1:N
    res = load_results(folder)
    assert res["schema_version"] == SCHEMA_VERSION == 2
    assert res["inputs"]["scores"]["sha256"] and res["inputs"]["manifest"]["sha256"]
    assert res["seeds"] == {"seed": 3, "n_boot": 40}
    assert res["versions"]["numpy"] == np.__version__
    assert out.report == folder / "report.html"


def test_vendor_audit_numbers_equal_the_metrics_own(vendor_audit) -> None:  # type: ignore[no-untyped-def]
    cfg, out = vendor_audit
    res = load_results(cfg.out)
    summary = out.summary
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = AuditResult(
            summary, target_fmr=1e-2, reference_group="M / white", n_boot=40, seed=3
        )
    bg = ref.by_group.set_index("label")
    ver = res["verification"]
    assert ver["threshold"] == ref.threshold
    assert [g["group"] for g in ver["groups"]] == list(summary.group_labels)
    for g in ver["groups"]:
        r = bg.loc[g["group"]]
        assert g["false_matches"] == r["false_matches"]
        assert g["n_nonmated"] == r["n_nonmated"]
        assert g["false_non_matches"] == r["false_non_matches"]
        assert g["n_mated"] == r["n_mated"]
        for mine, theirs in (
            ("fmr", "fmr"),
            ("fnmr", "fnmr"),
            ("fmr_ci_low", "fmr_ci_low"),
            ("fmr_ci_high", "fmr_ci_high"),
            ("fta", "fta"),
            ("far", "far"),
            ("frr", "frr"),
            ("fmr_ratio_to_reference", "fmr_ratio_to_reference"),
            ("fmr_ratio_to_reference_boot_low", "fmr_ratio_to_reference_boot_q0.025"),
            ("fnmr_ratio_to_reference_boot_high", "fnmr_ratio_to_reference_boot_q0.975"),
        ):
            a, b = g[mine], float(r[theirs])
            assert (a is None and math.isnan(b)) or a == pytest.approx(b, rel=0, abs=0), mine
    # brute-force check of one count straight from the score file
    scores = pd.read_csv(cfg.scores)
    m = Manifest.read(cfg.manifest)
    sub = dict(zip(m.sample_ids, m.samples["subject_id"], strict=True))
    grp = dict(zip(m.sample_ids, m.samples["sex"] + " / " + m.samples["race"], strict=True))
    a, b = scores["sample_a"].map(grp), scores["sample_b"].map(grp)
    imp = (
        (scores["sample_a"].map(sub) != scores["sample_b"].map(sub)) & (a == b) & (a == "F / white")
    )
    fw = next(g for g in ver["groups"] if g["group"] == "F / white")
    s = scores.loc[imp, "score"].dropna()
    assert fw["n_nonmated"] == len(s)
    assert fw["false_matches"] == int((s >= ver["threshold"]).sum())
    # the CSV table holds the same numbers
    csv = pd.read_csv(Path(cfg.out) / "by_group.csv")
    assert list(csv.columns[: len(GROUP_FIELDS)]) == list(GROUP_FIELDS)
    assert csv["false_matches"].tolist() == [g["false_matches"] for g in ver["groups"]]
    # failures to acquire (the two NaN scores) are counted, not dropped
    assert int(summary.genuine_fta.sum() + summary.impostor_fta.sum()) == 2


def test_rerun_reuses_the_cache_and_gives_identical_numbers(vendor_audit) -> None:  # type: ignore[no-untyped-def]
    cfg, first = vendor_audit
    assert first.cache_hit is False
    before = load_results(cfg.out)
    again = run_audit(cfg)
    assert again.cache_hit is True
    after = load_results(cfg.out)
    for key in ("verification", "findings", "dataset", "inputs", "config"):
        assert after[key] == before[key], key


def test_resolved_config_reruns_the_same_audit(vendor_audit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = vendor_audit
    resolved = Path(cfg.out) / "config.resolved.toml"
    again = AuditConfig.from_toml(resolved, out=str(tmp_path / "rerun"))
    assert again.replace(out=cfg.out).resolved() == cfg.resolved()
    out = run_audit(again)
    assert out.results["verification"]["groups"] == load_results(cfg.out)["verification"]["groups"]


def test_vendor_score_errors_name_the_line(vendor_files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mpath, spath = vendor_files
    bad = tmp_path / "bad.csv"
    lines = spath.read_text().splitlines()
    lines[3] = "g0s0i0,nobody,0.5"
    bad.write_text("\n".join(lines) + "\n")
    cfg = AuditConfig(
        scores=str(bad), manifest=str(mpath), group_by=["sex"], n_boot=0, out=str(tmp_path / "o")
    )
    with pytest.raises(ScoreFileError, match=r"bad\.csv.*line 4") as err:
        run_audit(cfg)
    assert "nobody" in str(err.value)
    # with on_error = "exclude" the row is counted as an exclusion instead
    out = run_audit(cfg.replace(on_error="exclude", out=str(tmp_path / "o2")))
    assert sum(out.results["dataset"]["exclusions"].values()) == 1


def test_unknown_reference_group_is_a_clear_error(vendor_files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mpath, spath = vendor_files
    cfg = AuditConfig(
        scores=str(spath),
        manifest=str(mpath),
        group_by=["sex", "race"],
        reference_group="M / martian",
        out=str(tmp_path),
    )
    with pytest.raises(ConfigError, match="reference_group must be one of"):
        run_audit(cfg)


# ------------------------------------------------------------------------------------ CLI
def test_cli_audit_and_compare(vendor_files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mpath, spath = vendor_files
    runner = CliRunner()
    outs = []
    for name, target in (("a", "1e-2"), ("b", "0.05")):
        out = tmp_path / name
        r = runner.invoke(
            cli,
            [
                "audit",
                "--scores",
                str(spath),
                "--manifest",
                str(mpath),
                "--group-by",
                "sex,race",
                "--reference-group",
                "M / white",
                "--target-fmr",
                target,
                "--n-boot",
                "20",
                "--out",
                str(out),
            ],
        )
        assert r.exit_code == 0, r.output
        assert "Top findings" in r.output and str(out / "report.html") in r.output
        outs.append(out)
    r = runner.invoke(
        cli,
        [
            "compare",
            str(outs[0]),
            str(outs[1]),
            "--json",
            str(tmp_path / "c.json"),
            "--html",
            str(tmp_path / "c.html"),
        ],
    )
    assert r.exit_code == 0, r.output
    c = json.loads((tmp_path / "c.json").read_text())
    a, b = load_results(outs[0]), load_results(outs[1])
    row = next(x for x in c["rows"] if x["group"] == "F / white" and x["rate"] == "fmr")
    ga = next(g for g in a["verification"]["groups"] if g["group"] == "F / white")
    gb = next(g for g in b["verification"]["groups"] if g["group"] == "F / white")
    assert row["a"] == ga["fmr"] and row["b"] == gb["fmr"]
    assert row["difference"] == pytest.approx(gb["fmr"] - ga["fmr"])
    (a_lo, a_hi), (b_lo, b_hi) = shown_interval(ga, "fmr"), shown_interval(gb, "fmr")
    assert (a_lo, a_hi) == (
        min(ga["fmr_ci_low"], ga["fmr_boot_low"]),
        max(ga["fmr_ci_high"], ga["fmr_boot_high"]),
    )
    overlap = a_lo <= b_hi and b_lo <= a_hi
    assert row["overlap"] is overlap
    assert any("thresholds differ" in n for n in c["notes"])
    html = (tmp_path / "c.html").read_text()
    assert "&lt;script&gt;" in html and SCRIPT not in html


def test_cli_errors_have_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["audit"])
    assert r.exit_code == 3 and "dataset must be given" in r.output
    r = runner.invoke(cli, ["audit", "--dataset", "frll", "--target-fmr", "2"])
    assert r.exit_code == 3 and "target_fmr must satisfy" in r.output
    r = runner.invoke(cli, ["compare", str(tmp_path), str(tmp_path)])
    assert r.exit_code == 2 and "results.json not found" in r.output
    r = runner.invoke(cli, ["audit", "--dataset", "frll", "--probe-conditions", "resolution:64,x"])
    assert r.exit_code == 3 and "each resolution level must be a number; got 'x'" in r.output
    r = runner.invoke(cli, ["audit", "--dataset", "frll", "--probe-conditions", "cctv",
                            "--probe-people", "-2"])
    assert r.exit_code == 3 and "probe_people must satisfy" in r.output


# ------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def lfw_fake_audit(lfw_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("lfw-fake")
    cfg = AuditConfig(
        dataset="lfw",
        data_dir=str(lfw_dir),
        model="fake",
        detector="none",
        group_by=["gender"],
        reference_group="M",
        target_fmr=1e-2,
        limit=120,
        n_boot=30,
        workers=1,
        out=str(out),
    )
    return cfg, run_audit(cfg)


def test_lfw_subset_fake_embedder_full_audit(lfw_fake_audit) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = lfw_fake_audit
    folder = Path(cfg.out)
    for name in (*EXPECTED_FILES, "identification.csv"):
        assert (folder / name).is_file(), name
    for name in (*FIGURES, "identification"):
        assert (folder / "figures" / f"{name}.png").is_file(), name
    res = load_results(folder)
    ds = res["dataset"]
    assert 100 <= ds["n_samples"] <= 120 and ds["n_samples_before_limit"] == 13_233
    assert any("866 of the 5,749" in n for n in ds["notes"])  # LFW's limits are stated
    assert res["inputs"]["images"]["n_files"] == ds["n_samples"]
    assert res["inputs"]["templates"]["model_id"].startswith("fake:")
    ident = res["identification"]
    assert ident["gallery_size"] >= 2
    assert {r["extrapolated"] for r in ident["curve"]} == {True, False}
    assert ident["what_if"] and "searches a year" in ident["what_if"][0]
    # subset: whole people only (every photo of each kept person)
    m = Manifest.read(folder / "manifest.csv")
    for subj, n in m.samples.groupby("subject_id").size().items():
        assert n == len(list((Path(cfg.data_dir) / "lfw-deepfunneled" / subj).glob("*.jpg")))


def test_lfw_subset_summary_matches_saved_cache(lfw_fake_audit) -> None:  # type: ignore[no-untyped-def]
    cfg, out = lfw_fake_audit
    key = load_results(cfg.out)["inputs"]["score_summary"]["cache_key"]
    cached = list(default_cache_dir().glob(f"summary-{key[:32]}.npz"))
    assert len(cached) == 1
    assert not list(Path(cfg.out).rglob("*.npz"))  # nothing biometric in the report folder
    assert not list(Path(cfg.out).rglob("*.sqlite"))
    s = ScoreSummary.load(cached[0])
    np.testing.assert_array_equal(s.genuine_scores, out.summary.genuine_scores)


@pytest.mark.slow
def test_lfw_dlib_on_a_few_dozen_images(lfw_dir: Path, tmp_path: Path) -> None:
    cfg = AuditConfig(
        dataset="lfw",
        data_dir=str(lfw_dir),
        model="dlib",
        group_by=["gender"],
        limit=30,
        n_boot=0,
        workers=1,
        identification=False,
        out=str(tmp_path),
        target_fmr=1e-2,
    )
    out = run_audit(cfg)
    res = out.results
    assert res["inputs"]["templates"]["model_id"].startswith("dlib-resnet-v1:")
    assert any(k.startswith("model:dlib_face_recognition") for k in res["inputs"])
    ver = res["verification"]
    assert ver["similarity"] == "euclidean" and ver["threshold"] < 0
    # dlib separates LFW people well: most genuine pairs are accepted at FMR 1%
    g = ver["groups"]
    n_mated = sum(x["n_mated"] for x in g)
    fnm = sum(x["false_non_matches"] for x in g)
    assert n_mated > 20 and fnm / n_mated < 0.3
    assert (tmp_path / "report.html").stat().st_size > 50_000


def test_cli_lfw_missing_without_download_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FACEAUDIT_LFW", raising=False)
    r = CliRunner().invoke(
        cli,
        [
            "audit",
            "--dataset",
            "lfw",
            "--data-dir",
            str(tmp_path),
            "--no-download",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 3, r.output
    assert "LFW" in r.output
    assert not (tmp_path / "o").exists()


def test_image_folder_with_a_corrupt_photo_counts_a_failure_to_enrol(
    lfw_dir: Path, tmp_path: Path
) -> None:
    """A broken image is a recorded, counted failure to enrol, per group, never a crash."""
    import shutil

    people = {"Abdullah_Gul": "M", "Serena_Williams": "F", "Tony_Blair": "M", "Jennifer_Lopez": "F"}
    root = tmp_path / "faces"
    for person in people:
        (root / person).mkdir(parents=True)
        for src in sorted((lfw_dir / "lfw-deepfunneled" / person).glob("*.jpg"))[:3]:
            shutil.copy(src, root / person / src.name)
    (root / "Serena_Williams" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    labels = tmp_path / "subjects.csv"
    pd.DataFrame({"subject_id": list(people), "sex": list(people.values())}).to_csv(
        labels, index=False
    )
    cfg = AuditConfig(
        dataset=str(root),
        labels=str(labels),
        model="fake",
        detector="none",
        group_by=["sex"],
        reference_group="M",
        target_fmr=0.05,
        n_boot=0,
        workers=1,
        out=str(tmp_path / "out"),
    )
    out = run_audit(cfg)
    res = out.results
    assert res["dataset"]["fte_reasons"] == {"unreadable": 1}
    assert res["inputs"]["labels"]["sha256"]
    f = next(g for g in res["verification"]["groups"] if g["group"] == "F")
    m = next(g for g in res["verification"]["groups"] if g["group"] == "M")
    assert (f["n_fte"], f["n_samples"], m["n_fte"]) == (1, 7, 0)
    assert f["fte"] == pytest.approx(1 / 7)
    assert f["fta"] > 0  # comparisons with the broken photo could not be made
    # FTA: the 21 pairs within F include the broken photo's 6 (3 genuine with Serena's other
    # photos, 3 impostor with Jennifer's), which could not be compared
    assert f["fta"] == pytest.approx(6 / 21)
    html = out.report.read_text()
    assert "unreadable" in html and "14%" in html
