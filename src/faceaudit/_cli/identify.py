"""``faceaudit identify``: the 1:N audit — who is falsely put forward by searches."""

from __future__ import annotations

import math

import click

from .._errors import ConfigError
from ._app import console, handle_errors


def _floats(name: str, text: str | None) -> list[float]:
    if not text:
        return []
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise ConfigError(f"{name} must be comma-separated numbers, as in '1e5,1e6'; got "
                          f"{text!r}") from exc


def _f(x: object, digits: int = 4) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "–"
    if isinstance(x, float):
        if 0.9999 < x < 1.0:
            return "≈1"
        return f"{x:.{digits}g}"
    return str(x)


def _ci(lo: object, hi: object) -> str:
    if isinstance(lo, float) and math.isnan(lo):
        return "–"
    return f"{_f(lo)}–{_f(hi)}"


def _i(x: object) -> str:
    return str(int(x))  # type: ignore[call-overload]


@click.command("identify")
@click.option("--templates", "templates_path", required=True,
              type=click.Path(exists=True, dir_okay=False), help="Templates file (.npz).")
@click.option("--manifest", "manifest_path", required=True,
              type=click.Path(exists=True, dir_okay=False), help="Manifest (.csv/.tsv/.parquet).")
@click.option("--group-by", default="", show_default=True,
              help="Grouping, e.g. 'sex' or 'sex,race' or 'age:30:45:60'.")
@click.option("--threshold", type=float, default=None, help="Score threshold T (score >= T).")
@click.option("--target-fpir", type=float, default=None,
              help="Choose T as the smallest threshold with overall FPIR <= this.")
@click.option("--rank", type=int, default=1, show_default=True, help="Rank R for FNIR(N, R, T).")
@click.option("--list-length", type=int, default=50, show_default=True,
              help="Candidate list length L kept per search.")
@click.option("--gallery-sizes", default="", help="Nested sub-gallery sizes, e.g. '100,1000'.")
@click.option("--extrapolate-to", default="1e5,1e6,1e7", show_default=True,
              help="Gallery sizes for the predicted FPIR.")
@click.option("--n-enrol", type=int, default=1, show_default=True,
              help="Images enrolled per person.")
@click.option("--nonmated-fraction", type=float, default=0.5, show_default=True,
              help="Fraction of subjects per group held out as non-mated.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--n-boot", type=int, default=1000, show_default=True, help="Bootstrap replicates.")
@click.option("--confidence", type=float, default=0.95, show_default=True)
@click.option("--method", type=click.Choice(["faiss", "numpy"]), default="faiss",
              show_default=True, help="Exact search back-end (identical results).")
@click.option("--threads", type=int, default=None, help="Search threads (default: all cores).")
@click.option("--searches-per-year", type=float, default=None,
              help="Deployment what-if: searches a year (with --deploy-gallery-size).")
@click.option("--deploy-gallery-size", type=float, default=None,
              help="Deployment what-if: enrolled people.")
@click.option("--deploy-list-length", type=int, default=None,
              help="Deployment what-if: candidate-list cap per search (default: none).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Write every figure (counts, intervals) as JSON here.")
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
    from rich.table import Table

    from .._io import write_json
    from .._manifest import Manifest
    from .._templates import Templates
    from ..identify import identify

    if (searches_per_year is None) != (deploy_gallery_size is None):
        raise ConfigError("--searches-per-year and --deploy-gallery-size go together; got "
                          f"{searches_per_year!r} and {deploy_gallery_size!r}")
    manifest = Manifest.read(manifest_path)
    templates = Templates.load(templates_path)
    sizes = [int(x) for x in _floats("--gallery-sizes", gallery_sizes)]
    audit = identify(templates, manifest, group_by or None, threshold=threshold,
                     target_fpir=target_fpir, rank=rank, list_length=list_length,
                     gallery_sizes=sizes or None,
                     extrapolate_to=_floats("--extrapolate-to", extrapolate_to),
                     n_enrol=n_enrol, nonmated_fraction=nonmated_fraction, seed=seed,
                     confidence=confidence, n_boot=n_boot, method=method, threads=threads)
    pct = f"{confidence:.0%}"
    console.print(f"[bold]1:N audit[/] of {templates.model_id!r}: gallery N = "
                  f"{audit.split.n_gallery} people, threshold T = {audit.threshold:g} "
                  f"({audit.threshold_rule}), rank R = {rank}, exact search ({method})",
                  highlight=False)

    t = Table(title="Split (samples per role; failures to enrol counted, not searched)")
    counts = audit.split.counts()
    t.add_column("group")
    for c in counts.columns:
        t.add_column(c, justify="right")
    for g, row in counts.iterrows():
        t.add_row(str(g), *[str(int(v)) for v in row])
    console.print(t)

    t = Table(title=f"Error rates by probe group ({pct} Clopper-Pearson; bootstrap over subjects)")
    for c in ("group", "mated", "FNIR", "CI", "FTE", "non-mated", "FPIR", "CI", "FTE", "IR(R)"):
        t.add_column(c, justify="left" if c == "group" else "right")
    for g, r in audit.rates.iterrows():
        t.add_row(str(g), _i(r["n_mated"]), f"{_f(r['fnir'])} ({_i(r['false_negatives'])})",
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
        t.add_row(str(g), _i(r["n_false_candidates"]), _f(r["share"]), _f(r["gallery_share"]),
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
            t.add_row(_i(r["gallery_size"]), str(r["group"]), _i(r["n_nonmated"]),
                      _f(r["fpir"]), _ci(r["fpir_ci_low"], r["fpir_ci_high"]),
                      _f(r["fpir_pred"]), _ci(r["fpir_pred_ci_low"], r["fpir_pred_ci_high"]),
                      _f(r["discrepancy"], 3), "yes" if r["consistent"] else "NO")
        console.print(t)

    t = Table(title="Predicted FPIR at operational scale: 1 − (1 − FMR)^N, independent comparisons")
    for c in ("group", "N", "FMR (k/n)", "FPIR predicted", "CI"):
        t.add_column(c, justify="right")
    for _, r in audit.extrapolation.iterrows():
        t.add_row(str(r["group"]), f"{r['gallery_size']:,.0f}",
                  f"{_f(r['fmr'])} ({int(r['false_matches'])}/{int(r['n_nonmated'])})",
                  _f(r["fpir_pred"]),
                  _ci(r["fpir_pred_ci_low"], r["fpir_pred_ci_high"]))
    console.print(t)

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
