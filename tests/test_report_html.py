"""The HTML report: escaped labels, self-contained, every section; rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from faceaudit.audit import AuditConfig, run_audit
from faceaudit.report import render_html

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
SCRIPT = "<script>alert('x')</script>"
SECTIONS = (
    "findings",
    "table",
    "heatmap",
    "det",
    "distributions",
    "fte",
    "identification",
    "methods",
    "reproducibility",
)
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vendor-score audit (no model) whose groups include a label with a script tag."""
    from test_audit_run import make_vendor_data

    folder = tmp_path_factory.mktemp("html")
    mpath, spath = make_vendor_data(folder / "in")
    cfg = AuditConfig(
        scores=str(spath),
        manifest=str(mpath),
        group_by=["sex", "race"],
        reference_group="M / white",
        target_fmr=1e-2,
        n_boot=30,
        out=str(folder / "out"),
    )
    return run_audit(cfg).report


def test_labels_are_escaped_and_nothing_is_external(report: Path) -> None:
    html = report.read_text()
    assert SCRIPT not in html
    assert "M / &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script" not in html.lower()  # no JavaScript at all
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # offline: no CDN
    assert "<link" not in html
    assert html.count("data:image/png;base64,") == 5  # every figure inlined


def test_every_section_is_present_in_order(report: Path) -> None:
    html = report.read_text()
    pos = [html.find(f'<section id="{s}">') for s in SECTIONS]
    assert all(p > 0 for p in pos), dict(zip(SECTIONS, pos, strict=True))
    assert pos == sorted(pos)
    # findings come first and carry numbers and intervals
    findings = html[pos[0] : pos[1]]
    assert "95% interval" in findings and "times as often" in findings
    assert "95% CI" not in html and "0%–0%" not in html and "0×–0×" not in html
    # the table shows FTA, FMR, FNMR, FAR and FRR side by side
    table = html[pos[1] : pos[2]]
    heads = [h for h in ("FTE", "FTA", "FMR", "FNMR", "FAR", "FRR") if f"<th>{h}</th>" in table]
    assert heads == ["FTE", "FTA", "FMR", "FNMR", "FAR", "FRR"]
    # a score file cannot be searched 1:N, and the report says why
    assert "Not run in this audit: a score file has no templates" in html[pos[6] : pos[7]]


def test_missing_figures_and_sections_degrade_gracefully() -> None:
    html = render_html({"verification": {"groups": [{"group": "<b>x</b>", "fmr": np.nan}]}})
    assert "figure not available" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "Not run in this audit" in html


def _chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    base = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=120, check=False)


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (run scripts/install_chromium.sh)"
)


@needs_chromium
def test_console_error_check_catches_a_broken_page(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text("<html><body><p>x</p><script>undefinedFn()</script></body></html>")
    r = _chromium(["--dump-dom", page.as_uri()], tmp_path)
    assert any("undefinedFn" in line for line in _console_errors(r.stderr))


@needs_chromium
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    url = report.resolve().as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the DOM after parsing: the script-tag label is text, and no <script> element exists
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in dom.stdout
    assert "<script" not in dom.stdout.lower()
    for s in SECTIONS:
        assert f'<section id="{s}">' in dom.stdout, s
    assert _console_errors(dom.stderr) == []

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    r = _chromium(
        [f"--screenshot={shot}", "--window-size=1200,3000", "--hide-scrollbars", url], tmp_path
    )
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1200, 3000)
        px = np.asarray(im.convert("L"), dtype=float)
    assert px.std() > 10  # not a blank page
    assert (px < 80).mean() > 0.002  # there is dark text
