"""``faceaudit audit``: one command from a dataset (or a vendor score file) to a report folder.

Options override the values of an optional CONFIG.toml (see :mod:`faceaudit.audit._config`
for its layout). LFW is found via ``--data-dir``, else ``$FACEAUDIT_LFW``, else the data home; when
none holds it, it is downloaded (checksummed, resumable) unless ``--no-download`` is given.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from .._errors import ConfigError
from . import _options as O
from ._console import console, err_console, handle_errors


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

    from .._format import shorten_labels
    from ..report import group_labels

    labels = group_labels(out.results)
    lines = Text()
    for k, f in enumerate(out.findings[:6], start=1):
        lines.append(f"{k}. ", style="bold")
        lines.append(shorten_labels(str(f["text"]), labels))
        if f.get("thin"):
            lines.append("  [thin data]", style="bold yellow")
        if f.get("note"):
            lines.append("\n   " + shorten_labels(str(f["note"]), labels), style="dim")
        lines.append("\n")
    console.print(Panel(lines, title="Top findings", expand=False))


@click.command("audit")
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@O.option("--dataset", config="dataset",
          help="Registered dataset (lfw, frll), an image folder or a manifest file.")
@O.data_dir(config="data_dir")
@O.option("--labels", config="labels",
          help="For an image folder: attributes CSV keyed by subject_id.")
@click.option(
    "--download/--no-download",
    default=True,
    show_default=True,
    help="Download LFW when no local copy is found (--data-dir, then $FACEAUDIT_LFW).",
)
@O.model(config="model")
@O.detector(config="detector")
@O.face_policy(config="face_policy")
@O.store(config="store")
@O.option("--scores", config="scores",
          help="Vendor score file (sample_a, sample_b, score) instead of a model.")
@O.option("--manifest", config="manifest", help="Manifest of the samples the score file names.")
@O.group_by(config="group_by")
@O.reference_group(config="reference_group")
@O.target_fmr(config="target_fmr")
@O.threshold(config="threshold")
@O.threshold_policy(config="threshold_policy")
@O.impostors(config="impostors")
@O.n_boot(config="n_boot")
@O.seed(config="seed")
@O.confidence(config="confidence")
@click.option("--identification/--no-identification", default=None,
              help="Run the one-to-many analysis. [default: "
                   f"{'on' if O.config_default('identification') else 'off'}]")
@O.option("--probe-conditions", config="probe_conditions",
          help="Probe-quality stress audit: degrade the probe photos, e.g. 'cctv' or "
               "'resolution:64,32,16' or 'jpeg:75,40,20,10; blur:1,2' (kinds: resolution, "
               "blur, jpeg, exposure, noise, cctv). [default: off]")
@O.option("--probe-people", type=int, config="probe_people",
          help="People per group whose photos are degraded as probes (seeded subset of "
               "whole people; 0: everyone).")
@O.option("--out", config="out", help="Output folder.")
@O.workers(config="workers")
@O.option("--cluster", config="cluster",
          help="Run on Dask: 'local:4' (4 local worker processes) or a scheduler address "
               "'tcp://host:8786' (needs faceaudit[cluster]). [default: in this process]")
@O.option("--limit", type=int, config="limit",
          help="Keep whole subjects up to N samples (a quick try; 0: everything).")
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
    from ..audit import AuditConfig, run_audit

    fields = {k: v for k, v in opts.items() if v is not None}
    if "group_by" in fields:
        fields["group_by"] = [g.strip() for g in fields["group_by"].split(",") if g.strip()]
    if config is not None:
        cfg = AuditConfig.from_toml(config, **fields)
    else:
        if not {"dataset", "scores", "manifest"} & set(fields):
            raise ConfigError(
                "dataset must be given (a CONFIG.toml, --dataset lfw, a folder or a "
                "manifest file), or --manifest (with --scores for a vendor's scores); "
                "got none of them"
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
