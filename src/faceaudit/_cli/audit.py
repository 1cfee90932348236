"""``faceaudit audit``: one command from a dataset (or a vendor score file) to a report folder.

Options override the values of an optional CONFIG.toml (see :mod:`faceaudit._audit` for its
layout). LFW is found via ``--data-dir``, else ``$FACEAUDIT_LFW``, else the data home; when
none holds it, it is downloaded (checksummed, resumable) unless ``--no-download`` is given.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from .._errors import ConfigError
from ._app import console, err_console, handle_errors


def _lfw_dir(data_dir: str | None, download: bool) -> str | None:
    """The LFW folder to use: as given, from the environment, or downloaded on request."""
    from ..datasets import download_lfw, lfw_root

    try:
        return str(lfw_root(data_dir))
    except ConfigError:
        if not download:
            raise
    err_console.print("LFW not found locally; downloading it (about 110 MB)...")
    return str(download_lfw(data_dir) if data_dir else download_lfw())


def _print_findings(out: Any) -> None:
    from rich.panel import Panel
    from rich.text import Text

    lines = Text()
    for k, f in enumerate(out.findings[:6], start=1):
        lines.append(f"{k}. ", style="bold")
        lines.append(str(f["text"]))
        if f.get("thin"):
            lines.append("  [thin data]", style="bold yellow")
        if f.get("note"):
            lines.append("\n   " + str(f["note"]), style="dim")
        lines.append("\n")
    console.print(Panel(lines, title="Top findings", expand=False))


@click.command("audit")
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--dataset", help="Registered dataset (lfw, frll), an image folder or a manifest file."
)
@click.option("--data-dir", help="Folder of the dataset (for lfw: else $FACEAUDIT_LFW).")
@click.option("--labels", help="For an image folder: attributes CSV keyed by subject_id.")
@click.option(
    "--download/--no-download",
    default=True,
    show_default=True,
    help="Download LFW when no local copy is found (--data-dir, then $FACEAUDIT_LFW).",
)
@click.option("--model", help="dlib (default), sface, fake (tests) or a path to an .onnx model.")
@click.option("--detector", help="Face detector: centerface (default), hog or none.")
@click.option(
    "--face-policy",
    type=click.Choice(["largest", "central", "fail"]),
    help="Which face to enrol when a photo shows several. [pipeline default]",
)
@click.option("--store", help="Template store folder (reused across runs).")
@click.option("--scores", help="Vendor score file (sample_a, sample_b, score) instead of a model.")
@click.option("--manifest", help="Manifest of the samples the score file names.")
@click.option("--group-by", help="Attributes forming the groups, e.g. gender,ancestry.")
@click.option("--reference-group", help='Group that sets the threshold, e.g. "M / caucasian".')
@click.option("--target-fmr", type=float, help="Threshold rule: FMR of the reference group. [1e-3]")
@click.option("--threshold", type=float, help="A fixed score threshold instead of --target-fmr.")
@click.option(
    "--impostors",
    type=click.Choice(["all", "matched"]),
    help="All cross-subject pairs, or only same-group pairs.",
)
@click.option("--n-boot", type=int, help="Bootstrap replicates over people. [200]")
@click.option("--seed", type=int, help="Seed of the bootstrap and subsets. [0]")
@click.option(
    "--identification/--no-identification", default=None, help="Run the one-to-many analysis. [on]"
)
@click.option("--out", help="Output folder. [audit-out]")
@click.option("--workers", type=int, help="Worker processes. [2]")
@click.option("--limit", type=int, help="Keep whole subjects up to N samples (a quick try).")
@handle_errors
def command(config: Path | None, download: bool, **opts: Any) -> None:
    """Audit a face recognition system: per-group error rates, 1:N, and a readable report.

    \b
    Examples:
      faceaudit audit --dataset lfw --group-by gender,ancestry \\
          --reference-group "M / caucasian" --target-fmr 1e-3 --out lfw-audit
      faceaudit audit examples/lfw_dlib.toml --limit 500
      faceaudit audit --scores vendor.csv --manifest m.csv --group-by sex --out vendor-audit
    """
    from .._audit import AuditConfig, run_audit

    fields = {k: v for k, v in opts.items() if v is not None}
    if "group_by" in fields:
        fields["group_by"] = [g.strip() for g in fields["group_by"].split(",") if g.strip()]
    if config is not None:
        cfg = AuditConfig.from_toml(config, **fields)
    else:
        if "dataset" not in fields and "scores" not in fields:
            raise ConfigError(
                "dataset must be given (a CONFIG.toml, --dataset lfw, a folder or a "
                "manifest file), or --scores with --manifest; got neither"
            )
        cfg = AuditConfig(**fields)
    if cfg.dataset is not None and cfg.dataset.lower() == "lfw" and cfg.scores is None:
        cfg = cfg.replace(data_dir=_lfw_dir(cfg.data_dir, download))

    t0 = time.perf_counter()

    def progress(stage: str, msg: str) -> None:
        mark = "[green]✓[/]" if msg.startswith("done") else "[cyan]→[/]"
        console.print(f"{mark} [bold]{stage}[/] {msg}", highlight=False)

    out = run_audit(cfg, progress=progress, show_bars=err_console.is_terminal)
    _print_findings(out)
    console.print(
        f"Report: [bold]{out.report}[/]  (results.json, CSV tables and figures beside it; "
        f"{time.perf_counter() - t0:.1f} s)",
        highlight=False,
    )
