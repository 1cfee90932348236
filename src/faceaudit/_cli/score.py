"""``faceaudit score``: templates or vendor scores -> a score summary (``.npz``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .._accumulate import DEFAULT_MIN_EXACT
from .._errors import ConfigError
from . import _options as O
from ._console import cell, console, handle_errors, plain


def summary_table(summary: Any) -> Any:
    """A rich table with one row per non-empty cell: genuine/impostor counts, FTA, exactness."""
    from rich.table import Table

    t = Table(title=f"score summary ({summary.protocol.get('source', '?')})", show_lines=False)
    for col, just in (
        ("cell", "left"),
        ("genuine", "right"),
        ("impostor", "right"),
        ("genuine FTA", "right"),
        ("impostor FTA", "right"),
        ("impostors exact", "left"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    gen = summary.genuine_total
    imp = summary.impostor_total
    g = summary.n_groups
    labels = summary.group_labels
    for i in range(g):
        for j in range(i, g):
            gf, imf = int(summary.genuine_fta[i, j]), int(summary.impostor_fta[i, j])
            if gen[i, j] == imp[i, j] == gf == imf == 0:
                continue
            floor = float(summary.tail_floor[i, j])
            exact = "all" if floor == float("-inf") else f"scores ≥ {floor:.6g}"
            name = cell(labels[i]) if i == j else cell(labels[i]) + " × " + cell(labels[j])
            t.add_row(
                name, f"{int(gen[i, j]):,}", f"{int(imp[i, j]):,}", f"{gf:,}", f"{imf:,}", exact
            )
    return t


@click.command("score")
@O.existing_file("--templates", "Templates file (.npz) from `faceaudit embed`.")
@O.existing_file("--scores", "Vendor score file (CSV/Parquet: sample_a, sample_b, score[, label]).")
@O.existing_file("--bob-scores", "bob.measure score file (2 or 4 columns); no manifest needed.")
@O.existing_file("--manifest", "Manifest (CSV/TSV/Parquet) for --templates and --scores.")
@O.group_by()
@O.impostors()
@O.existing_file("--pairs", "Compare only these pairs (CSV: sample_a, sample_b[, label, fold]).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the summary (.npz).")
@O.exact_fmr()
@O.option("--min-exact", type=int, default=DEFAULT_MIN_EXACT,
          help="...and at least this many per cell.")
@O.option("--max-impostors-per-cell", type=int,
          help="Sample this many impostor pairs (uniformly, seeded) in larger cells.")
@O.seed()
@O.workers()
@O.option("--score-column", default="score", help="Column of the vendor's scores.")
@click.option("--distance", is_flag=True, help="Vendor scores are distances (lower = more alike).")
@O.on_error()
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@handle_errors
def command(out: Path, **opts: Any) -> None:
    """Compare templates (or read vendor scores) and save a per-group score summary."""
    from .._io import check_writable

    check_writable(out, "--out", folder=False)  # before the work, not after
    summary = _summary(**opts)
    summary.save(out)
    console.print(summary_table(summary))
    if summary.exclusions:
        ex = ", ".join(f"{k}: {v:,}" for k, v in sorted(summary.exclusions.items()))
        console.print(f"[yellow]excluded rows[/] — {plain(ex)}", highlight=False)
    console.print(f"wrote {out}", highlight=False)


def _summary(
    templates_path: Path | None,
    scores_path: Path | None,
    bob_scores_path: Path | None,
    manifest_path: Path | None,
    group_by: str,
    impostors: str,
    pairs_path: Path | None,
    exact_fmr: float,
    min_exact: int,
    max_impostors_per_cell: int | None,
    seed: int,
    workers: int,
    score_column: str,
    distance: bool,
    on_error: str,
    no_progress: bool,
) -> Any:
    """The score summary of whichever source was given (exactly one)."""
    given = [p for p in (templates_path, scores_path, bob_scores_path) if p is not None]
    if len(given) != 1:
        raise ConfigError(
            f"give exactly one of --templates, --scores, --bob-scores; got {len(given)}"
        )
    if bob_scores_path is not None:
        from .._bob import read_bob_scores

        summary = read_bob_scores(bob_scores_path, exact_fmr=exact_fmr, min_exact=min_exact)
    else:
        if manifest_path is None:
            raise ConfigError("--manifest is required with --templates and --scores")
        from .._manifest import Manifest

        manifest = Manifest.read(manifest_path)
        grouping = group_by or None
        if templates_path is not None:
            from .._scorer import score_templates
            from .._templates import Templates

            pairs = None
            if pairs_path is not None:
                import pandas as pd

                pairs = pd.read_csv(pairs_path, dtype=str, keep_default_na=False)
            summary = score_templates(
                Templates.load(templates_path),
                manifest,
                grouping=grouping,
                impostors=impostors,
                pairs=pairs,
                exact_fmr=exact_fmr,
                min_exact=min_exact,
                n_workers=workers,
                max_impostors_per_cell=max_impostors_per_cell,
                seed=seed,
                progress=not no_progress,
            )
        else:
            from .._vendor import read_scores

            summary = read_scores(
                scores_path,
                manifest,
                grouping=grouping,  # type: ignore[arg-type]
                score_column=score_column,
                higher_is_similar=not distance,
                on_error=on_error,
                exact_fmr=exact_fmr,
                min_exact=min_exact,
            )
    return summary
