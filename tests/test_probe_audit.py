"""The probe-quality stress audit: counts by brute force, the clean level reproduces the clean
audit, failures to acquire stay in the denominators, the cache, results.json and the report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from faceaudit import Manifest
from faceaudit._cli._app import cli
from faceaudit._similarity import pair_scores
from faceaudit.audit import AuditConfig, run_audit
from faceaudit.probe import (
    Condition,
    DegradedSet,
    measure_probes,
    orientation_keys,
    probe_people,
)

PIL = pytest.importorskip("PIL.Image")


# ---------------------------------------------------------------------------- brute force
def _population(seed: int = 3):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(14):
        for k in range(1 + p % 4):
            rows.append({"sample_id": f"p{p}_{k}", "subject_id": f"p{p}",
                         "sex": "F" if p % 3 == 0 else "M"})
    m = Manifest(pd.DataFrame(rows))
    ids = m.subject_codes
    centres = rng.standard_normal((m.n_subjects, 8))
    clean = (centres[ids] + 0.8 * rng.standard_normal((len(m), 8))).astype(np.float32)
    ok = rng.random(len(m)) > 0.1
    clean[~ok] = np.nan
    return m, clean, ok


def _brute(m, clean, ok, probe, deg, deg_ok, keys, thr, groups):  # type: ignore[no-untyped-def]
    """Every unordered pair once, probe side by the documented rule, by loops."""
    n = len(m)
    subj = m.subject_codes
    pos = {int(i): k for k, i in enumerate(np.flatnonzero(probe))}
    out: dict[tuple[int, str], list[int]] = {}
    for i in range(n):
        for j in range(i + 1, n):
            if not (probe[i] or probe[j]):
                continue
            if probe[i] and probe[j]:
                p, r = (i, j) if (keys[i] - keys[j]) % 1.0 < 0.5 else (j, i)
            else:
                p, r = (i, j) if probe[i] else (j, i)
            if not (deg_ok[pos[p]] and ok[r]):
                continue
            s = float(pair_scores(deg[pos[p]], clean[r], "cosine")[0])
            if subj[p] == subj[r]:
                kind, err = "fnmr", s < thr
            else:
                kind = "fmr" if groups[p] == groups[r] else "fmr_cross"
                err = s >= thr
            c = out.setdefault((int(groups[p]), kind), [0, 0])
            c[0] += int(err)
            c[1] += 1
    return out


@pytest.mark.parametrize("n_people", [0, 5])
def test_counts_equal_a_brute_force_recount(n_people: int) -> None:
    m, clean, ok = _population()
    probe = probe_people(m, n_people, seed=1, groups=m.groups("sex"))
    assert probe.all() == (n_people == 0)
    idx = np.flatnonzero(probe)
    rng = np.random.default_rng(9)
    deg = clean[idx] + 0.6 * rng.standard_normal((len(idx), 8)).astype(np.float32)
    deg_ok = ok[idx] & (rng.random(len(idx)) > 0.25)  # some probes lost at this level
    lv = DegradedSet(Condition("noise", 8.0), deg_ok, deg.astype(np.float32),
                     np.where(deg_ok, "ok", "no_face"), 0, len(idx), 0, 0.0)
    thr = 0.2
    groups = m.groups("sex")
    res = measure_probes(m, groups, probe, clean, ok, "cosine", [lv], thr, n_boot=20, seed=1)
    keys = orientation_keys(list(m.sample_ids), 1)
    want = _brute(m, clean, ok, probe, deg, deg_ok, keys, thr, groups.codes)
    rows = res.rows.set_index("group")
    for g, label in enumerate(groups.labels):
        r = rows.loc[label]
        for kind in ("fnmr", "fmr", "fmr_cross"):
            e, t = want.get((g, kind), [0, 0])
            assert (r[f"{kind}_errors"], r[f"{kind}_trials"]) == (e, t), (label, kind)
            if t:
                assert r[kind] == e / t and r[f"{kind}_low"] <= r[kind] <= r[f"{kind}_high"]
        sel = groups.codes[idx] == g
        # a lost probe is a failure to acquire, kept in the denominator
        assert r["fta_errors"] == int((~deg_ok[sel]).sum()) and r["fta_trials"] == sel.sum()
        assert r["n_probes"] == sel.sum() and r["fta"] == pytest.approx((~deg_ok[sel]).mean())
    assert rows.loc["overall", "fnmr_trials"] == sum(
        rows.loc[list(groups.labels), "fnmr_trials"])


def test_probe_people_are_whole_seeded_people_per_group_with_pairs_first() -> None:
    m, _, _ = _population()
    groups = m.groups("sex")
    a = probe_people(m, 3, seed=0, groups=groups)
    assert np.array_equal(a, probe_people(m, 3, seed=0, groups=groups))
    subj = m.subject_codes
    chosen = np.unique(subj[a])
    assert all(a[subj == s].all() for s in chosen)  # whole people
    per_group = {lab: len(np.unique(subj[a & (groups.codes == k)]))
                 for k, lab in enumerate(groups.labels)}
    assert per_group == {"F": 3, "M": 3}  # stratified: each group gets its people
    counts = np.bincount(subj)
    assert (counts[chosen] >= 2).all()  # people with pairs first (each group has >= 3)
    # people with more photos than max_photos come after everyone else of their group
    b = probe_people(m, 3, seed=0, groups=groups, max_photos=2)
    assert (counts[np.unique(subj[b])] <= 2).all()
    big = probe_people(m, 100, seed=0, groups=groups, max_photos=2)
    assert big.all()
    assert not np.array_equal(a, probe_people(m, 3, seed=5, groups=groups))
    assert probe_people(m, 0, seed=0).all()


# ---------------------------------------------------------------------------- end to end
def _folder(root: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    people = {f"person_{k}": ("F" if k % 2 else "M") for k in range(10)}
    y, x = np.mgrid[0:96, 0:80]
    for k, person in enumerate(people):
        (root / person).mkdir(parents=True)
        for j in range(2 + k % 3):
            img = np.zeros((96, 80, 3))
            for c in range(3):
                img[..., c] = 128 + 70 * np.sin(x / (5 + k + c) + j) * np.cos(y / 9)
            img += rng.normal(0, 6, img.shape)
            PIL.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / person / f"{j}.png")
    labels = root.parent / "labels.csv"
    pd.DataFrame({"subject_id": list(people), "sex": list(people.values())}).to_csv(
        labels, index=False)
    return root, labels


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("probe")
    root, labels = _folder(base / "faces")
    cfg = AuditConfig(dataset=str(root), labels=str(labels), model="fake", detector="none",
                      group_by=["sex"], reference_group="M", target_fmr=0.05, n_boot=20,
                      workers=1, out=str(base / "out"),
                      probe_conditions=["jpeg:10", "noise:40", "blur:3"])
    return cfg, run_audit(cfg)


def test_clean_level_reproduces_the_clean_audit_counts(probe_run) -> None:  # type: ignore[no-untyped-def]
    _, out = probe_run
    sec = out.results["probe_conditions"]
    assert [lv["condition"] for lv in sec["levels"]] == ["none", "jpeg:10", "noise:40", "blur:3"]
    assert sec["threshold"] == out.audit.threshold
    none = {r["group"]: r for r in sec["rows"] if r["condition"] == "none"}
    ver = {g["group"]: g for g in out.results["verification"]["groups"]}
    for g in ("F", "M"):
        r, v = none[g], ver[g]
        assert r["fnmr_trials"] == v["n_mated"] and r["fnmr_errors"] == v["false_non_matches"]
        assert r["fmr_trials"] == v["n_nonmated"] and r["fmr_errors"] == v["false_matches"]
        assert r["n_probes"] == v["n_samples"] and r["fta_errors"] == v["n_fte"]
    m = out.results["verification"]["fmr_matrix"]
    assert none["overall"]["fmr_cross_trials"] == m["n_nonmated"][0][1]
    assert none["overall"]["fmr_cross_errors"] == m["false_matches"][0][1]
    assert none["overall"]["fnmr_trials"] > 0 and none["overall"]["fmr_trials"] > 0


def test_clean_level_reproduces_the_clean_one_to_many_counts(probe_run) -> None:  # type: ignore[no-untyped-def]
    _, out = probe_run
    rates = {r["group"]: r for r in out.results["identification"]["raw"]["rates"]}
    rows = out.results["probe_conditions"]["rows"]
    for r in rows:
        if r["condition"] != "none":
            continue
        c = rates[r["group"]]
        assert (r["fnir_errors"], r["fnir_trials"]) == (c["false_negatives"], c["n_mated"])
        assert (r["fpir_errors"], r["fpir_trials"]) == (c["false_positives"], c["n_nonmated"])
        assert r["fpir"] == c["fpir"] and r["n_searches_lost"] == 0
    assert {r["fnir_trials"] for r in rows if r["group"] == "overall"} == {
        rates["overall"]["n_mated"]}  # detector "none" loses no probe at any level


def test_degraded_levels_are_embedded_then_cached(probe_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg, out = probe_run
    levels = {lv["condition"]: lv for lv in out.results["probe_conditions"]["levels"]}
    n = levels["none"]["n_probes"]
    assert levels["none"]["n_embedded"] == 0
    for c in ("jpeg:10", "noise:40", "blur:3"):
        assert levels[c]["n_embedded"] + levels[c]["n_cached"] == n and levels[c]["n_acquired"] == n
    again = run_audit(cfg.replace(out=str(tmp_path / "again")))
    lv2 = {lv["condition"]: lv for lv in again.results["probe_conditions"]["levels"]}
    for c in ("jpeg:10", "noise:40", "blur:3"):
        assert lv2[c]["n_embedded"] == 0 and lv2[c]["n_cached"] == n
    strip = [{k: v for k, v in r.items()} for r in again.results["probe_conditions"]["rows"]]
    assert strip == out.results["probe_conditions"]["rows"]  # same seed, same numbers
    # the degraded templates differ from the clean ones: some score moved
    rows = out.results["probe_conditions"]["rows"]
    sums = {r["condition"]: r["fmr_trials"] for r in rows if r["group"] == "overall"}
    assert sums["noise:40"] == sums["none"]  # nothing lost with detector "none"


def test_results_json_report_and_compare(probe_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg, out = probe_run
    saved = json.loads((Path(cfg.out) / "results.json").read_text())
    sec = saved["probe_conditions"]
    assert set(sec) >= {"threshold", "levels", "rows", "findings", "protocol", "n_probe_people"}
    for r in sec["rows"]:
        for k in ("fta", "fnmr", "fmr", "fmr_cross", "fnir", "fpir"):
            assert {f"{k}_low", f"{k}_high", f"{k}_errors", f"{k}_trials", f"{k}_thin"} <= set(r)
            assert r[k] is None or (r[f"{k}_low"] <= r[k] <= r[f"{k}_high"])
    table = pd.read_csv(Path(cfg.out) / "probe_conditions.csv")
    assert len(table) == len(sec["rows"]) and out.files["probe_conditions"].is_file()
    assert table["fnmr_errors"].tolist() == [r["fnmr_errors"] for r in sec["rows"]]
    html = out.report.read_text()
    assert "When the probe photo is poor" in html and 'id="probe-table"' in html
    assert html.count('<img src="data:image/png;base64,') >= 4
    for m in ("fta", "fnmr", "fmr", "fmr_cross", "fnir", "fpir"):
        assert (Path(cfg.out) / "figures" / f"probe_{m}.png").is_file()
    r = CliRunner().invoke(cli, ["compare", cfg.out, cfg.out, "--html", str(tmp_path / "c.html"),
                                 "--json", str(tmp_path / "c.json")])
    assert r.exit_code == 0, r.output
    c = json.loads((tmp_path / "c.json").read_text())
    n_rows = len(sec["rows"])
    assert len(c["probe_rows"]) == 6 * n_rows
    assert {x["verdict"] for x in c["probe_rows"]} <= {"no clear change", "no interval"}
    assert "jpeg:10 · F" in {x["group"] for x in c["probe_rows"]}
    assert 'id="probe-comparison"' in (tmp_path / "c.html").read_text()


def test_findings_need_separated_intervals() -> None:
    from faceaudit.report import probe_findings

    def row(cond: str, g: str, v: float, lo: float, hi: float, thin: bool = False) -> dict:
        base = {"condition": cond, "group": g}
        for m in ("fta", "fnmr", "fmr", "fmr_cross"):
            base.update({m: math.nan, f"{m}_low": None, f"{m}_high": None, f"{m}_errors": 0,
                         f"{m}_trials": 0, f"{m}_thin": False})
        base.update({"fta": v, "fta_low": lo, "fta_high": hi, "fta_errors": round(v * 100),
                     "fta_trials": 100, "fta_thin": thin})
        return base

    sec = {"reference_group": "M", "levels": [{"condition": "none"}, {"condition": "cctv"}],
           "rows": [row("none", "M", 0.01, 0.0, 0.05), row("none", "F", 0.02, 0.0, 0.06),
                    row("cctv", "M", 0.03, 0.01, 0.08), row("cctv", "F", 0.12, 0.09, 0.16)]}
    got = probe_findings(sec)
    assert len(got) == 1 and got[0]["group"] == "F" and got[0]["measure"] == "fta"
    assert got[0]["text"].startswith(
        "At probe quality cctv, the detector found no usable face in 12% (9%–16%, 12 of 100) of "
        "F probe photos, against 3% (1%–8%, 3 of 100) for M (the 95% intervals")
    sec["rows"][3] = row("cctv", "F", 0.12, 0.07, 0.16)  # overlaps M's, but not F's clean one
    got = probe_findings(sec)
    assert len(got) == 1 and "up from 2%" in got[0]["text"]
    sec["rows"][3] = row("cctv", "F", 0.12, 0.07, 0.16, thin=True)
    assert probe_findings(sec) == []


def test_lfw_faces_lost_at_low_resolution_are_failures_to_acquire(lfw_dir: Path,
                                                                    tmp_path: Path) -> None:
    """Real photos, the real detector: at 2 px between the eyes some faces are lost (CenterFace
    still finds a face in most bicubic-enlarged blobs), and every lost probe is counted in FTA
    and leaves FNMR's denominator, never the probe count."""
    pytest.importorskip("onnxruntime")
    import shutil

    people = {"Serena_Williams": "F", "Jennifer_Lopez": "F", "Tony_Blair": "M",
              "Abdullah_Gul": "M", "Colin_Powell": "M"}
    root = tmp_path / "faces"
    for person in people:
        (root / person).mkdir(parents=True)
        for src in sorted((lfw_dir / "lfw-deepfunneled" / person).glob("*.jpg"))[:3]:
            shutil.copy(src, root / person / src.name)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"subject_id": list(people), "sex": list(people.values())}).to_csv(
        labels, index=False)
    cfg = AuditConfig(dataset=str(root), labels=str(labels), model="fake", detector="centerface",
                      group_by=["sex"], reference_group="M", target_fmr=0.1, n_boot=0,
                      workers=1, out=str(tmp_path / "out"), identification=False,
                      probe_conditions=["resolution:32,2"])
    sec = run_audit(cfg).results["probe_conditions"]
    lv = {x["condition"]: x for x in sec["levels"]}
    assert lv["resolution:2"]["n_acquired"] < lv["none"]["n_acquired"] == 15
    assert lv["resolution:32"]["n_embedded"] + lv["resolution:32"]["n_unchanged"] == 15
    rows = {(r["condition"], r["group"]): r for r in sec["rows"]}
    for g in ("F", "M", "overall"):
        lost, clean = rows[("resolution:2", g)], rows[("none", g)]
        assert lost["n_probes"] == clean["n_probes"] == lost["fta_trials"]
        assert clean["fta_errors"] == 0
        assert (lost["fnmr_trials"] < clean["fnmr_trials"]) == (lost["fta_errors"] > 0)
    assert "fnir" not in rows[("none", "F")]  # identification off: no 1:N columns
    assert rows[("resolution:2", "overall")]["fta_errors"] == 15 - lv["resolution:2"]["n_acquired"]


def test_probe_section_renders_in_headless_chromium(probe_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The section alone (the report's own styles) in Chromium; its screenshot is kept in
    test-artifacts/probe_section.png."""
    from test_report_html import ARTIFACTS, CHROMIUM, _chromium, _console_errors

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (run scripts/install_chromium.sh)")
    _, out = probe_run
    html = out.report.read_text()
    start = html.index('<section id="probe-quality">')
    end = html.index("</section>", start) + len("</section>")
    page = tmp_path / "probe.html"
    page.write_text(html[:html.index("<body")] + "<body><main>" + html[start:end]
                    + "</main></body></html>")
    dom = _chromium(["--dump-dom", page.as_uri()], tmp_path)
    assert dom.returncode == 0 and "When the probe photo is poor" in dom.stdout
    assert _console_errors(dom.stderr) == []
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "probe_section.png"
    r = _chromium([f"--screenshot={shot}", "--window-size=1200,3000", "--hide-scrollbars",
                   page.as_uri()], tmp_path)
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    with PIL.open(shot) as im:
        px = np.asarray(im.convert("L"), dtype=float)
    assert px.std() > 10 and (px < 80).mean() > 0.002  # not blank, has text
