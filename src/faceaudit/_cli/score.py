"""``faceaudit score``: templates or vendor scores -> a score summary (``.npz``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .._errors import ConfigError
from ._app import console, handle_errors


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
            name = labels[i] if i == j else f"{labels[i]} × {labels[j]}"
            t.add_row(
                name, f"{int(gen[i, j]):,}", f"{int(imp[i, j]):,}", f"{gf:,}", f"{imf:,}", exact
            )
    return t


@click.command("score")
@click.option(
    "--templates",
    "templates_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Templates file (.npz) from `faceaudit embed`.",
)
@click.option(
    "--scores",
    "scores_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Vendor score file (CSV/Parquet: sample_a, sample_b, score[, label]).",
)
@click.option(
    "--bob-scores",
    "bob_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="bob.measure score file (2 or 4 columns); no manifest needed.",
)
@click.option(
    "--manifest",
    "manifest_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Manifest (CSV/TSV/Parquet) for --templates and --scores.",
)
@click.option(
    "--group-by",
    default="",
    show_default=False,
    help="Attributes forming the groups, e.g. 'sex,race' or 'age:30:45:60'.",
)
@click.option(
    "--impostors",
    type=click.Choice(["all", "matched"]),
    default="all",
    show_default=True,
    help="All cross-subject pairs, or only pairs within one group (NIST matched).",
)
@click.option(
    "--pairs",
    "pairs_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Compare only these pairs (CSV: sample_a, sample_b[, label, fold]).",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the summary (.npz).",
)
@click.option(
    "--exact-fmr",
    type=float,
    default=1e-3,
    show_default=True,
    help="Keep the top exact_fmr share of impostor scores per cell exactly.",
)
@click.option("--min-exact", type=int, default=None, help="...and at least this many per cell.")
@click.option(
    "--max-impostors-per-cell",
    type=int,
    default=None,
    help="Sample this many impostor pairs (uniformly, seeded) in larger cells.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--score-column", default="score", show_default=True)
@click.option("--distance", is_flag=True, help="Vendor scores are distances (lower = more alike).")
@click.option(
    "--on-error",
    type=click.Choice(["raise", "exclude"]),
    default="raise",
    show_default=True,
    help="Bad rows of a score file: stop with an error, or skip and count them.",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@handle_errors
def command(
    templates_path: Path | None,
    scores_path: Path | None,
    bob_path: Path | None,
    manifest_path: Path | None,
    group_by: str,
    impostors: str,
    pairs_path: Path | None,
    out: Path,
    exact_fmr: float,
    min_exact: int | None,
    max_impostors_per_cell: int | None,
    seed: int,
    workers: int,
    score_column: str,
    distance: bool,
    on_error: str,
    no_progress: bool,
) -> None:
    """Compare templates (or read vendor scores) and save a per-group score summary."""
    from .._scorer import DEFAULT_MIN_EXACT

    given = [p for p in (templates_path, scores_path, bob_path) if p is not None]
    if len(given) != 1:
        raise ConfigError(
            f"give exactly one of --templates, --scores, --bob-scores; got {len(given)}"
        )
    min_exact = DEFAULT_MIN_EXACT if min_exact is None else min_exact
    if bob_path is not None:
        from .._bob import read_bob_scores

        summary = read_bob_scores(bob_path, exact_fmr=exact_fmr, min_exact=min_exact)
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
    summary.save(out)
    console.print(summary_table(summary))
    if summary.exclusions:
        ex = ", ".join(f"{k}: {v:,}" for k, v in sorted(summary.exclusions.items()))
        console.print(f"[yellow]excluded rows[/] — {ex}", highlight=False)
    console.print(f"wrote {out}", highlight=False)
