"""``faceaudit compare A B``: two audit folders side by side (two models, or before/after)."""

from __future__ import annotations

from pathlib import Path

import click

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
) -> None:
    """Compare two audits (their results.json): per-group FMR, FNMR and FTE, with intervals.

    A row is marked as a clear change only when the two intervals do not overlap.
    """
    from rich.table import Table

    from .._io import write_json, write_text
    from ..report import compare_results, formatted_rows, load_results, render_compare_html

    ra, rb = load_results(a), load_results(b)
    na = name_a or (a if a.is_dir() else a.parent).resolve().name
    nb = name_b or (b if b.is_dir() else b.parent).resolve().name
    if na == nb:
        na, nb = f"A ({na})", f"B ({nb})"
    c = compare_results(ra, rb, name_a=na, name_b=nb)
    tab = Table(title=f"{na} vs {nb}", header_style="bold", show_lines=False)
    verdict = f"verdict ({c['level']} intervals)"
    for col in ("group", "rate", na, nb, "B − A", "B ÷ A", verdict):
        tab.add_column(col, justify="left" if col in ("group", verdict) else "right")
    for r in formatted_rows(c):
        style = "yellow" if r["overlap"] is False else None
        tab.add_row(
            cell(r["group"]) + (" (thin)" if r["thin"] else ""),
            r["rate"],
            f"{r['a']} [{r['a_ci']}]" if r["a_ci"] else r["a"],
            f"{r['b']} [{r['b_ci']}]" if r["b_ci"] else r["b"],
            r["difference"],
            r["ratio"],
            r["verdict"],
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
