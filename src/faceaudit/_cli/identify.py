"""``faceaudit identify``: the 1:N audit — who is falsely put forward by searches."""

from __future__ import annotations

from typing import Any

import click

from .. import _format as F
from .._errors import ConfigError
from ..identify import METHODS, identify
from . import _options as O
from ._console import cell, console, handle_errors
from ._options import library_default


def _floats(name: str, text: str | None) -> list[float]:
    if not text:
        return []
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise ConfigError(f"{name} must be comma-separated numbers, as in '1e5,1e6'; got "
                          f"{text!r}") from exc


def _f(x: object, digits: int = 4) -> str:
    return F.num(x, digits, near_one=True)


def _ci(lo: object, hi: object) -> str:
    return F.num_interval(lo, hi, near_one=True)


def _i(x: object) -> str:
    return str(int(x))  # type: ignore[call-overload]


@click.command("identify")
@O.existing_file("--templates", "Templates file (.npz).", required=True, exists=True)
@O.existing_file("--manifest", "Manifest (.csv/.tsv/.parquet).", required=True, exists=True)
@O.group_by()
@O.threshold()
@O.option("--target-fpir", type=float,
          help="Choose T as the smallest threshold with overall FPIR <= this.")
@O.option("--rank", type=int, default=library_default(identify, "rank"),
          help="Rank R for FNIR(N, R, T).")
@O.option("--list-length", type=int, default=library_default(identify, "list_length"),
          help="Candidate list length L kept per search.")
@O.option("--gallery-sizes", default="", help="Nested sub-gallery sizes, e.g. '100,1000'.")
@O.option("--extrapolate-to", default=",".join(
    f"{x:g}" for x in library_default(identify, "extrapolate_to")),
    help="Gallery sizes for the predicted FPIR.")
@O.option("--n-enrol", type=int, default=library_default(identify, "n_enrol"),
          help="Images enrolled per person.")
@O.option("--nonmated-fraction", type=float,
          default=library_default(identify, "nonmated_fraction"),
          help="Fraction of subjects per group held out as non-mated.")
@O.seed()
@O.n_boot()
@O.confidence()
@O.option("--method", type=click.Choice(METHODS), default=library_default(identify, "method"),
          help="Exact search back-end (identical results).")
@O.option("--threads", type=int, help="Search threads (default: all cores).")
@O.option("--searches-per-year", type=float,
          help="Deployment what-if: searches a year (with --deploy-gallery-size).")
@O.option("--deploy-gallery-size", type=float, help="Deployment what-if: enrolled people.")
@O.option("--deploy-list-length", type=int,
          help="Deployment what-if: candidate-list cap per search (default: none).")
@O.json_out()
@handle_errors
def command(templates_path: str, manifest_path: str, group_by: str, threshold: float | None,
            target_fpir: float | None, rank: int, list_length: int, gallery_sizes: str,
            extrapolate_to: str, n_enrol: int, nonmated_fraction: float, seed: int, n_boot: int,
            confidence: float, method: str, threads: int | None,
            searches_per_year: float | None, deploy_gallery_size: float | None,
            deploy_list_length: int | None, json_path: str | None) -> None:
    """1:N audit: FNIR/FPIR per group, who is falsely put forward, FPIR at scale.

    Gallery: one image per person (--n-enrol); a seeded fraction of each group's subjects is
    held out as non-mated probes. Give exactly one of --threshold and --target-fpir.
    """
    from .._io import check_writable, write_json
    from .._manifest import Manifest
    from .._templates import Templates

    if (searches_per_year is None) != (deploy_gallery_size is None):
        raise ConfigError("--searches-per-year and --deploy-gallery-size go together; got "
                          f"{searches_per_year!r} and {deploy_gallery_size!r}")
    if json_path is not None:
        check_writable(json_path, "--json", folder=False)  # before the search, not after
    manifest = Manifest.read(manifest_path)
    templates = Templates.load(templates_path)
    sizes = [int(x) for x in _floats("--gallery-sizes", gallery_sizes)]
    audit = identify(templates, manifest, group_by or None, threshold=threshold,
                     target_fpir=target_fpir, rank=rank, list_length=list_length,
                     gallery_sizes=sizes or None,
                     extrapolate_to=_floats("--extrapolate-to", extrapolate_to),
                     n_enrol=n_enrol, nonmated_fraction=nonmated_fraction, seed=seed,
                     confidence=confidence, n_boot=n_boot, method=method, threads=threads)
    console.print(f"[bold]1:N audit[/] of {templates.model_id!r}: gallery N = "
                  f"{audit.split.n_gallery} people, threshold T = {audit.threshold:g} "
                  f"({audit.threshold_rule}), rank R = {rank}, exact search ({method})",
                  highlight=False)
    _print_tables(audit, confidence)
    out = audit.to_dict()
    if searches_per_year is not None and deploy_gallery_size is not None:
        w = audit.whatif(searches_per_year=searches_per_year, gallery_size=deploy_gallery_size,
                         list_length=deploy_list_length)
        console.print(w.text, highlight=False)
        console.print("Assumptions: " + "; ".join(w.assumptions) + ".", highlight=False)
        out["whatif"] = w.to_dict()
    if json_path:
        write_json(json_path, out)
        console.print(f"wrote {json_path}", highlight=False)


def _print_tables(audit: Any, confidence: float) -> None:
    """The split, the rates per probe group, who is put forward, and FPIR at scale."""
    from rich.table import Table

    pct = f"{confidence:.0%}"
    t = Table(title="Split (samples per role; failures to enrol counted, not searched)")
    counts = audit.split.counts()
    t.add_column("group")
    for c in counts.columns:
        t.add_column(c, justify="right")
    for g, row in counts.iterrows():
        t.add_row(cell(g), *[str(int(v)) for v in row])
    console.print(t)

    t = Table(title=f"Error rates by probe group ({pct} Clopper-Pearson; bootstrap over subjects)")
    for c in ("group", "mated", "FNIR", "CI", "FTE", "non-mated", "FPIR", "CI", "FTE", "IR(R)"):
        t.add_column(c, justify="left" if c == "group" else "right")
    for g, r in audit.rates.iterrows():
        t.add_row(cell(g), _i(r["n_mated"]), f"{_f(r['fnir'])} ({_i(r['false_negatives'])})",
                  _ci(r["fnir_ci_low"], r["fnir_ci_high"]), _i(r["n_mated_fte"]),
                  _i(r["n_nonmated"]), f"{_f(r['fpir'])} ({_i(r['false_positives'])})",
                  _ci(r["fpir_ci_low"], r["fpir_ci_high"]), _i(r["n_nonmated_fte"]),
                  _f(r["ir"]))
    console.print(t)

    mix = audit.mix
    t = Table(title=f"Who is falsely put forward ({mix.n_searches} non-mated searches, "
                    f"candidates >= T in lists of {mix.list_length})")
    for c in ("returned group", "false candidates", "share", "gallery share", "representation",
              "per-person rate", "CI"):
        t.add_column(c, justify="left" if c == "returned group" else "right")
    for g, r in mix.by_gallery_group.iterrows():
        t.add_row(cell(g), _i(r["n_false_candidates"]), _f(r["share"]), _f(r["gallery_share"]),
                  _f(r["representation"], 3), _f(r["per_person_rate"]),
                  _ci(r["per_person_rate_ci_low"], r["per_person_rate_ci_high"]))
    console.print(t)
    if mix.n_truncated:
        console.print(f"[yellow]note:[/] {mix.n_truncated} searches had a full list above T; "
                      "their false-candidate counts are lower bounds (raise --list-length).")

    if audit.curve is not None and audit.check is not None:
        t = Table(title="FPIR vs gallery size: measured vs predicted (independence)")
        for c in ("N", "group", "searches", "FPIR measured", "CI", "predicted", "pred. CI",
                  "discrepancy", "consistent"):
            t.add_column(c, justify="right")
        for _, r in audit.check.iterrows():
            t.add_row(_i(r["gallery_size"]), cell(r["group"]), _i(r["n_nonmated"]),
                      _f(r["fpir"]), _ci(r["fpir_ci_low"], r["fpir_ci_high"]),
                      _f(r["fpir_pred"]), _ci(r["fpir_pred_ci_low"], r["fpir_pred_ci_high"]),
                      _f(r["discrepancy"], 3), "yes" if r["consistent"] else "NO")
        console.print(t)

    t = Table(title="Predicted FPIR at operational scale: 1 − (1 − FMR)^N, independent comparisons")
    for c in ("group", "N", "FMR (k/n)", "FPIR predicted", "CI"):
        t.add_column(c, justify="right")
    for _, r in audit.extrapolation.iterrows():
        t.add_row(cell(r["group"]), f"{r['gallery_size']:,.0f}",
                  f"{_f(r['fmr'])} ({int(r['false_matches'])}/{int(r['n_nonmated'])})",
                  _f(r["fpir_pred"]),
                  _ci(r["fpir_pred_ci_low"], r["fpir_pred_ci_high"]))
    console.print(t)

