"""What a user can feed the command line: each case a clear message and a documented exit code,
never a traceback (issue 13). Tiny generated data; the fake embedder."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from _support import FAST_EMBED, make_tiny_world
from faceaudit._cli._app import cli


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_tiny_world(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output


def test_audit_of_a_manifest_without_scores(world: Path) -> None:
    """``--manifest`` alone audits the images it lists (it was refused: 'got neither')."""
    code, out = run("audit", "--manifest", "manifest.csv", "--group-by", "sex",
                    "--reference-group", "M", *FAST_EMBED, "--n-boot", "0",
                    "--no-identification", "--out", "a")
    assert code == 0, out
    res = json.loads((world / "a" / "results.json").read_text())
    assert res["dataset"]["n_samples"] == 32
    assert res["verification"]["reference_group"] == "M"


AUDIT = ["audit", "--dataset", "path/to/root", "--labels", "labels.csv", "--group-by", "sex",
         *FAST_EMBED, "--n-boot", "0", "--no-identification"]


def read_only(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``folder`` read-only. As root (who may write anyway), every create inside it
    fails with EACCES as it would for anyone else, by wrapping ``os.open`` / ``os.mkdir``."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    if os.geteuid() == 0:
        inside = str(folder.resolve()) + os.sep

        def deny(real):  # type: ignore[no-untyped-def]
            def wrapped(path, *args, **kwargs):  # type: ignore[no-untyped-def]
                if os.path.abspath(os.fspath(path)).startswith(inside):
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
                return real(path, *args, **kwargs)
            return wrapped

        monkeypatch.setattr(os, "open", deny(os.open))
        monkeypatch.setattr(os, "mkdir", deny(os.mkdir))
    return folder


def test_audit_out_is_a_file_is_refused_before_any_work(world: Path) -> None:
    (world / "taken").write_text("mine")
    code, out = run(*AUDIT, "--store", "store", "--out", "taken")
    assert code == 3, out
    assert "out must be a folder" in out and "'taken'" in out and "is a file" in out
    assert "embed" not in out and not (world / "store").exists()
    assert (world / "taken").read_text() == "mine"


def test_audit_out_in_a_read_only_folder_is_refused_before_any_work(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_only(world / "locked", monkeypatch)
    try:
        code, out = run(*AUDIT, "--store", "store", "--out", "locked/audit")
    finally:
        (world / "locked").chmod(0o755)
    assert code == 7, out
    assert "cannot write locked/audit: Permission denied" in out
    assert "choose a folder you can write to" in out
    assert "embed" not in out and not (world / "store").exists()
    assert list((world / "locked").iterdir()) == []


def test_audit_read_only_store_is_refused_before_any_work(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_only(world / "store", monkeypatch)
    try:
        code, out = run(*AUDIT, "--store", "store", "--out", "a")
    finally:
        (world / "store").chmod(0o755)
    assert code == 7, out
    assert "cannot write store: Permission denied" in out
    assert not (world / "a").exists()


def test_audit_read_only_cache_is_refused_before_any_work(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEAUDIT_CACHE", str(read_only(world / "cache", monkeypatch)))
    try:
        code, out = run("audit", "--scores", "vendor_scores.csv", "--manifest", "m.csv",
                        "--group-by", "sex", "--n-boot", "0", "--out", "a")
    finally:
        (world / "cache").chmod(0o755)
    assert code == 7, out
    assert f"cannot write {world / 'cache'}: Permission denied" in out
    assert "score" not in out and not (world / "a").exists()


def test_disk_full_while_writing_is_exit_7_naming_the_file(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    code, out = run(*AUDIT, "--store", "store", "--out", "a")
    assert code == 7, out
    assert "cannot write " in out and "No space left on device" in out
    assert "the disk is full" in out
    assert not (world / "a" / "results.json").exists()
    print(out)


def test_embed_out_in_a_read_only_folder_is_refused_before_any_work(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_only(world / "locked", monkeypatch)
    try:
        code, out = run("embed", "manifest.csv", "--out", "locked/t.npz", *FAST_EMBED,
                        "--store", "store", "--no-progress")
    finally:
        (world / "locked").chmod(0o755)
    assert code == 7, out
    assert "cannot write locked/t.npz: Permission denied" in out
    assert not (world / "store").exists()


def test_template_store_on_a_full_disk_is_an_output_error(tmp_path: Path) -> None:
    """SQLite's 'database or disk is full' while storing templates: exit 7 naming the store."""
    import sqlite3

    import numpy as np

    from faceaudit import OutputError
    from faceaudit.pipeline._store import StoredResult, TemplateStore

    store = TemplateStore(tmp_path / "s")

    class Full:
        def execute(self, sql: str, *a: object) -> None:
            return None

        def executemany(self, *a: object) -> None:
            raise sqlite3.OperationalError("database or disk is full")

    store._con = Full()  # type: ignore[assignment]
    row = StoredResult("ab" * 32, "ok", "", np.ones(4, np.float32), None)
    with pytest.raises(OutputError, match=r"cannot write the template store .*disk is full"):
        store.put_many("p", [row])


def test_embed_prints_what_the_scan_left_out(world: Path) -> None:
    root = world / "path" / "to" / "root"
    (root / "F25p0" / "notes.txt").write_text("not a photo")
    (root / "nobody").mkdir()
    (root / "loose.png").write_bytes(b"")
    code, out = run("embed", "path/to/root", "--out", "t.npz", *FAST_EMBED, "--store", "store",
                    "--no-progress")
    assert code == 0, out
    assert "Left out of the dataset before embedding: 3 file(s) or folder(s)" in out
    for text in ("not an image", "F25p0/notes.txt", "not inside a subject folder", "loose.png",
                 "subject folder holds no image", "nobody/"):
        assert text in out, (text, out)


def test_threshold_inf_is_refused_for_every_source(world: Path) -> None:
    """``--threshold inf`` was accepted for a bob file (every comparison rejected, FNMR 100%)
    and written to JSON as null."""
    assert run("score", "--scores", "vendor_scores.csv", "--manifest", "m.csv", "--group-by",
               "sex", "--out", "s.npz")[0] == 0
    for source in ("dev-1.txt", "s.npz"):
        for value in ("inf", "-inf", "nan"):
            code, out = run("metrics", source, "--threshold", value, "--json", "m.json")
            assert code == 3, out
            assert f"threshold must be a finite number; got {float(value)!r}" in out
            assert not (world / "m.json").exists()


def test_ambiguous_reference_group_is_an_error(world: Path) -> None:
    """Values holding ' / ' make 'M / caucasian / x' name two groups: refused, listing both
    labels (it was refused only as 'not one of' the labels, without saying why)."""
    import pandas as pd

    m = pd.read_csv("manifest.csv")
    m["race"] = m["race"].map({"white": "caucasian / x", "black": "x"})
    m.loc[(m["race"] == "x") & (m["sex"] == "M"), "sex"] = "M / caucasian"
    m.to_csv("odd.csv", index=False)
    args = ["audit", "--scores", "vendor_scores.csv", "--manifest", "odd.csv", "--group-by",
            "sex,race", "--n-boot", "0", "--out", "a", "--reference-group"]
    code, out = run(*args, "M / caucasian / x")
    assert code == 3, out
    assert "reference_group 'M / caucasian / x' is ambiguous" in out
    assert """'M / "caucasian / x"'""" in out and """'"M / caucasian" / x'""" in out
    assert not (world / "a").exists()
    code, out = run(*args, "M / none")
    assert code == 3 and "reference_group must be one of" in out
    code, out = run(*args, 'M / "caucasian / x"')
    assert code == 0, out


def test_audit_folder_lists_every_failure_in_failures_csv(world: Path) -> None:
    import pandas as pd

    root = world / "path" / "to" / "root"
    (root / "F25p0" / "notes.txt").write_text("not a photo")
    (root / "nobody").mkdir()
    (root / "M70p1" / "broken.png").write_bytes(b"\x89PNG not really")
    code, out = run(*AUDIT, "--out", "a")
    assert code == 0, out
    f = pd.read_csv(world / "a" / "failures.csv", dtype=str, keep_default_na=False)
    assert list(f.columns) == ["sample", "reason", "detail", "stage"]
    got = sorted(zip(f["sample"], f["reason"], f["stage"], strict=True))
    assert got == [
        ("F25p0/notes.txt", "not an image", "dataset scan"),
        ("M70p1/broken.png", "unreadable", "enrolment"),
        ("nobody/", "subject folder holds no image", "dataset scan"),
    ]
    res = json.loads((world / "a" / "results.json").read_text())
    assert res["dataset"]["fte_reasons"] == {"unreadable": 1}


def test_vendor_audit_failures_csv_counts_excluded_lines(world: Path) -> None:
    import pandas as pd

    lines = (world / "vendor_scores.csv").read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",oops"
    lines[5] = "F25p0_0,nobody_0,0.5"
    (world / "bad.csv").write_text("\n".join(lines) + "\n")
    (world / "cfg.toml").write_text(
        '[scores]\nfile = "bad.csv"\nmanifest = "m.csv"\non_error = "exclude"\n'
        '[analysis]\ngroup_by = ["sex"]\nn_boot = 0\n[output]\ndir = "a"\n')
    code, out = run("audit", "cfg.toml")
    assert code == 0, out
    f = pd.read_csv(world / "a" / "failures.csv", dtype=str, keep_default_na=False)
    assert set(f["stage"]) == {"score file"}
    assert sorted(f["detail"]) == ["1 line(s)", "1 line(s)"]


KILLED_RUN = """
import os, sys
from faceaudit.audit import _stages
real = _stages.write_html

def write_then_die(path, *args, **kwargs):
    real(path, *args, **kwargs)  # the last file of the report: everything else is written
    os._exit(9)                  # killed like kill -9: no clean-up runs

_stages.write_html = write_then_die
from faceaudit._cli._app import cli
cli(sys.argv[1:])
"""


def test_killed_rerun_never_leaves_a_mixed_folder(world: Path) -> None:
    """A re-run killed while writing its report leaves the previous audit whole (it was: new
    results.json beside the old report.html and config); the next run cleans up."""
    import subprocess
    import sys

    import faceaudit

    args = ["audit", "--scores", "vendor_scores.csv", "--manifest", "m.csv", "--group-by",
            "sex", "--n-boot", "0", "--out", "a"]
    assert run(*args, "--target-fmr", "0.01")[0] == 0
    before = {p.name: p.read_bytes() for p in (world / "a").rglob("*") if p.is_file()}
    env = {**os.environ, "PYTHONPATH": str(Path(faceaudit.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", KILLED_RUN, *args, "--target-fmr", "0.1"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 9, done.stderr
    after = {p.name: p.read_bytes() for p in (world / "a").rglob("*") if p.is_file()}
    assert after == before  # the previous audit, whole
    assert json.loads(after["results.json"])["config"]["analysis"]["target_fmr"] == 0.01
    assert [p.name for p in world.glob(".a.partial-*")]  # the killed run's half-written folder
    assert run(*args, "--target-fmr", "0.1")[0] == 0
    res = json.loads((world / "a" / "results.json").read_text())
    assert res["config"]["analysis"]["target_fmr"] == 0.1
    assert "0.1" in (world / "a" / "config.resolved.toml").read_text()
    assert not list(world.glob(".a.*"))


def test_out_folder_with_other_files_is_refused(world: Path) -> None:
    """The audit replaces its folder as a whole, so it refuses one holding other files."""
    (world / "mine").mkdir()
    (world / "mine" / "thesis.tex").write_text("years of work")
    code, out = run("audit", "--scores", "vendor_scores.csv", "--manifest", "m.csv",
                    "--group-by", "sex", "--n-boot", "0", "--out", "mine")
    assert code == 3, out
    assert "out must be a new folder, an empty one or an earlier audit's folder" in out
    assert "'thesis.tex'" in out
    assert (world / "mine" / "thesis.tex").read_text() == "years of work"


def test_long_and_bracketed_labels_are_shown_capped_and_as_text(world: Path) -> None:
    """A 1,000-character attribute value (the longest a manifest takes) is shortened in the
    HTML report and on the console, kept whole in results.json; a label such as '[/x]' is
    printed as text (rich read it as markup: MarkupError traceback from score and metrics)."""
    import pandas as pd

    long = "Q" * 999 + "E"
    m = pd.read_csv("m.csv")
    m["race"] = m["race"].map({"white": long, "black": "[/x]"})
    m.to_csv("odd.csv", index=False)
    code, out = run("audit", "--scores", "vendor_scores.csv", "--manifest", "odd.csv",
                    "--group-by", "sex,race", "--n-boot", "0", "--out", "a")
    assert code == 0, out
    assert long not in out and "QQQ…" in out
    html = (world / "a" / "report.html").read_text()
    assert long not in html and "[/x]" in html
    assert html.count("Q" * 30) == 0 and "#" + _fingerprint(f"F / {long}") in html
    assert long in (world / "a" / "results.json").read_text()
    code, out = run("score", "--scores", "vendor_scores.csv", "--manifest", "odd.csv",
                    "--group-by", "sex,race", "--out", "s.npz")
    assert code == 0 and "[/x]" in out and long not in out, out
    code, out = run("metrics", "s.npz", "--target-fmr", "0.05", "--n-boot", "0")
    assert code == 0 and "M / [/x]" in out and long not in out, out


def _fingerprint(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:6]


def test_absurd_field_is_refused_naming_row_and_column(world: Path) -> None:
    import pandas as pd

    m = pd.read_csv("m.csv")
    m.loc[3, "race"] = "Z" * 100_000
    m.to_csv("odd.csv", index=False)
    code, out = run("audit", "--scores", "vendor_scores.csv", "--manifest", "odd.csv",
                    "--group-by", "sex,race", "--n-boot", "0", "--out", "a")
    assert code == 2, out
    assert "odd.csv: data row 4, column 'race': the value is 100,000 characters long" in out


def test_audit_folder_manifest_feeds_back_into_embed(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit folder's manifest.csv finds every image from wherever it is read (its paths
    were relative to the dataset root, so ``embed out/manifest.csv`` marked all missing)."""
    import numpy as np

    from faceaudit import Templates

    code, out = run(*AUDIT, "--out", "deep/er/a")
    assert code == 0, out
    (world / "elsewhere").mkdir()
    monkeypatch.chdir(world / "elsewhere")
    code, out = run("embed", "../deep/er/a/manifest.csv", "--out", "t.npz", *FAST_EMBED,
                    "--no-progress")
    assert code == 0, out
    t = Templates.load(world / "elsewhere" / "t.npz")
    assert len(t) == 32 and bool(np.all(t.ok))


def test_score_out_under_a_file_is_refused_before_scoring(world: Path) -> None:
    (world / "afile").write_text("x")
    code, out = run("score", "--scores", "vendor_scores.csv", "--manifest", "m.csv",
                    "--group-by", "sex", "--out", "afile/s.npz")
    assert code == 3, out
    assert "--out must be a file in a folder; got 'afile/s.npz', but 'afile' is a file" in out
