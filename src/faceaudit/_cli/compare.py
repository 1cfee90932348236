"""``faceaudit compare A B``: two audit folders side by side (two models, or before/after)."""

from __future__ import annotations

from pathlib import Path

import click

from . import _options as O
from ._console import cell, console, handle_errors


@click.command("compare")
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the comparison as a self-contained HTML file.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the comparison as JSON.",
)
@click.option("--paired/--no-paired", default=True, show_default=True,
              help="Joint paired bootstrap over people from both audits' cached score "
                   "summaries (both systems on the same photos); --no-paired compares the "
                   "two reports' intervals only.")
@O.n_boot()
@O.seed()
@click.option("--name-a", help="Label of A (default: its folder name).")
@click.option("--name-b", help="Label of B (default: its folder name).")
@handle_errors
def command(
    a: Path,
    b: Path,
    html_out: Path | None,
    json_out: Path | None,
    name_a: str | None,
    name_b: str | None,
    paired: bool,
    n_boot: int,
    seed: int,
) -> None:
    """Compare two audits (their results.json): per-group FMR, FNMR and FTE, with intervals.

    With --paired (default) the FMR and FNMR verdicts come from a joint bootstrap over people
    (both systems saw the same photos: people are resampled once for both), a group being
    higher or lower when the interval of the difference excludes 0; otherwise a row is marked
    as a clear change only when the two intervals (at the audits' level) do not overlap.
    """
    from rich.table import Table
    from rich.text import Text

    from .._io import write_json, write_text
    from ..report import compare_results, formatted_rows, load_results, render_compare_html

    ra, rb = load_results(a), load_results(b)
    na = name_a or (a if a.is_dir() else a.parent).resolve().name
    nb = name_b or (b if b.is_dir() else b.parent).resolve().name
    if na == nb:
        na, nb = f"A ({na})", f"B ({nb})"
    pc, why_not = None, ""
    if paired:
        from .._errors import InputError
        from ..audit import paired_from_results

        try:
            pc = paired_from_results(ra, rb, name_a=na, name_b=nb, n_boot=n_boot, seed=seed)
        except InputError as exc:  # different photos, or no cached summary: say so
            why_not = f"No paired bootstrap: {exc}. Verdicts compare the reports' intervals."
    c = compare_results(ra, rb, name_a=na, name_b=nb, paired=pc)
    if why_not:
        c["notes"].append(why_not)
    tab = Table(title=f"{na} vs {nb}", header_style="bold", show_lines=False)
    verdict = f"verdict ({c['level']} intervals)"
    for col in ("group", "rate", na, nb, "B − A", "B ÷ A", verdict):
        tab.add_column(Text(col), justify="left" if col in ("group", verdict) else "right")
    for r in formatted_rows(c):
        style = "yellow" if r["overlap"] is False else None
        tab.add_row(
            cell(r["group"]) + (" (thin)" if r["thin"] else ""),
            r["rate"],
            f"{r['a']} [{r['a_ci']}]" if r["a_ci"] else r["a"],
            f"{r['b']} [{r['b_ci']}]" if r["b_ci"] else r["b"],
            f"{r['difference']} [{r['difference_ci']}]" if r["difference_ci"] else r["difference"],
            f"{r['ratio']} [{r['ratio_ci']}]" if r["ratio_ci"] else r["ratio"],
            Text(r["verdict"]),
            style=style,
        )
    console.print(tab)
    for n in c["notes"]:
        console.print(f"• {n}", highlight=False, markup=False)
    if c["only_in_a"] or c["only_in_b"]:
        console.print(
            f"Only in {na}: {', '.join(c['only_in_a']) or '—'}; only in {nb}: "
            f"{', '.join(c['only_in_b']) or '—'}",
            highlight=False, markup=False,
        )
    if json_out is not None:
        write_json(json_out, c)
        console.print(f"JSON: {json_out}", highlight=False)
    if html_out is not None:
        write_text(html_out, render_compare_html(c))
        console.print(f"HTML: {html_out}", highlight=False)
