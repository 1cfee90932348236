"""``faceaudit metrics``: error rates per group from a score summary or a bob score file."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click

from .. import _format as F
from .._errors import ConfigError, check_range
from ..metrics import N_BOOT
from . import _options as O
from ._console import cell, console, handle_errors, plain

_f = F.num
_pct = F.percent


# ---------------------------------------------------------------------- bob score files
def _read_bob(path: Path) -> Any:
    """Impostor/genuine scores of a bob 2-column (label score) or 4-column file as a ScoreSet."""
    from .._bob import read_bob_scores

    return read_bob_scores(path).scores("all")


def _bob_figures(s: Any, threshold: float, confidence: float) -> dict[str, Any]:
    from ..metrics import hter, rates_at

    return {**rates_at(s, threshold, confidence), "hter": hter(s, threshold=threshold)}


def _run_bob(source: Path, test: Path | None, threshold: float | None,
             target_fmr: float | None, confidence: float) -> dict[str, Any]:
    """The threshold chosen on SOURCE (given, target FMR, else EER), applied to both files."""
    from ..metrics import choose_threshold

    dev = _read_bob(source)
    t, rule = choose_threshold(dev, threshold=threshold, target_fmr=target_fmr,
                               where=source.name)
    sets = {source.name: _bob_figures(dev, t, confidence)}
    if test is not None:
        sets[test.name] = _bob_figures(_read_bob(test), t, confidence)
    return {"threshold": t, "threshold_rule": rule, "sets": sets}


def _print_bob(res: dict[str, Any]) -> None:
    from rich.table import Table

    console.print(f"Threshold ({res['threshold_rule']}): {res['threshold']:.6e}", highlight=False)
    tab = Table(show_header=True, header_style="bold")
    tab.add_column("")
    names = list(res["sets"])
    for i, n in enumerate(names):
        tab.add_column(("Development " if i == 0 else "Evaluation ") + n, justify="right")
    sets = [res["sets"][n] for n in names]
    tab.add_row("FtA", *[_pct(s["fta"]) for s in sets])
    tab.add_row("FMR", *[f"{_pct(s['fmr'])} ({s['false_matches']}/{s['n_nonmated']})"
                         for s in sets])
    tab.add_row("FNMR", *[f"{_pct(s['fnmr'])} ({s['false_non_matches']}/{s['n_mated']})"
                          for s in sets])
    tab.add_row("FAR", *[_pct(s["far"]) for s in sets])
    tab.add_row("FRR", *[_pct(s["frr"]) for s in sets])
    tab.add_row("HTER", *[_pct(s["hter"]) for s in sets])
    console.print(tab)


# ---------------------------------------------------------------------- score summaries
def _print_audit(res: Any, title: str) -> None:
    from rich.table import Table
    from rich.text import Text

    bg = res.by_group
    labels = list(bg["label"])
    console.print(f"[bold]{plain(title)}[/] threshold {res.threshold:.6g} "
                  f"({plain(F.shorten_labels(res.threshold_rule, labels))})", highlight=False)
    tab = Table(show_header=True, header_style="bold")
    for col in ("group", "subjects", "FTE", "genuine", "FNM", "FNMR [CI]", "impostor", "FM",
                "FMR [CI]", "FTA", "FAR", "FRR", "FMR ratio", "FNMR ratio", "note"):
        tab.add_column(col, justify="left" if col in ("group", "note") else "right")
    ratio = "to_reference" if res.reference is not None else "to_best"
    for _, r in bg.iterrows():
        note = r["thin_reason"] or ("" if r["fmr_exact"] else "FMR is an upper bound")
        tab.add_row(
            cell(r["label"]), str(r["n_subjects"]), _f(r["fte"], 3), str(r["n_mated"]),
            str(r["false_non_matches"]),
            f"{_f(r['fnmr'])} [{_f(r['fnmr_ci_low'], 3)}, {_f(r['fnmr_ci_high'], 3)}]",
            str(r["n_nonmated"]), str(r["false_matches"]),
            f"{_f(r['fmr'])} [{_f(r['fmr_ci_low'], 3)}, {_f(r['fmr_ci_high'], 3)}]",
            _f(r["fta"], 3), _f(r["far"]), _f(r["frr"]),
            _f(r[f"fmr_ratio_{ratio}"], 3), _f(r[f"fnmr_ratio_{ratio}"], 3),
            Text(F.shorten_labels(note, labels)),
        )
    console.print(tab)
    if res.n_boot:
        q = res.ci_quantiles
        bt = Table(title=f"subject bootstrap ({res.n_boot} replicates, quantiles "
                   f"{', '.join(f'{x:g}' for x in q)})", show_header=True, header_style="bold")
        bt.add_column("group")
        for name in ("fmr", "fnmr", f"fmr_ratio_{ratio}", f"fnmr_ratio_{ratio}"):
            bt.add_column(name, justify="right")
        for _, r in bg.iterrows():
            cells = []
            for name in ("fmr", "fnmr", f"fmr_ratio_{ratio}", f"fnmr_ratio_{ratio}"):
                cells.append(", ".join(_f(r.get(f"{name}_boot_q{x:g}"), 3) for x in q))
            bt.add_row(cell(r["label"]), *cells)
        console.print(bt)
    ft = Table(title=f"fairness summaries (α = {res.alpha:g})", show_header=True,
               header_style="bold")
    ft.add_column("summary")
    ft.add_column("value", justify="right")
    ft.add_column("note")
    for k, v in res.fairness.items():
        ft.add_row(k, _f(v.value), Text(F.shorten_labels(v.reason or "", labels)))
    console.print(ft)
    for w in res.warnings:
        console.print(f"[yellow]caveat:[/] {plain(F.shorten_labels(w, labels))}",
                      highlight=False, soft_wrap=True)


def _is_summary(path: Path) -> bool:
    return path.suffix.lower() == ".npz"


@click.command("metrics")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@O.threshold()
@O.target_fmr(help="Choose T as the smallest threshold with FMR <= this on SOURCE (on the "
              "reference group of a score summary).")
@O.reference_group()
@O.option("--n-boot", type=int, help=f"Subject-level bootstrap replicates (score summaries "
          f"only; 0: none). [default: {N_BOOT}]")
@O.seed()
@O.confidence()
@O.existing_file("--test", "Apply the threshold chosen on SOURCE to this file too.", exists=True)
@O.json_out(help="Write every figure with its counts and intervals here.")
@handle_errors
def command(source: Path, threshold: float | None, target_fmr: float | None,
            reference_group: str | None, n_boot: int | None, seed: int, confidence: float,
            test_path: Path | None, json_path: Path | None) -> None:
    """Verification error rates from SOURCE: a score summary (.npz) or a bob score file.

    A score summary gives per-group FMR, FNMR (with counts and intervals), FTE, FTA, FAR, FRR,
    ratios and fairness summaries at one global threshold: give --threshold or --target-fmr.
    A bob score file (2 columns `label score` or 4 columns `claimed real test score`) gives
    FMR, FNMR, FAR, FRR and HTER; the threshold defaults to the EER threshold of SOURCE. With
    --test, the threshold chosen on SOURCE is applied to TEST as well (bob's dev/eval tables).
    """
    from .._io import write_json

    if threshold is not None and target_fmr is not None:
        raise ConfigError("give at most one of --threshold and --target-fmr; got both")
    if threshold is not None:
        check_range("threshold", threshold)
    if _is_summary(source):
        from .._summary import ScoreSummary
        from ..metrics import AuditResult

        if threshold is None and target_fmr is None:
            raise ConfigError("--threshold or --target-fmr must be given for a score summary; "
                              "got neither")
        if test_path is not None and not _is_summary(test_path):
            raise ConfigError(f"--test must be a score summary (.npz) like SOURCE; got {test_path}")
        kw = {"reference_group": reference_group, "n_boot": N_BOOT if n_boot is None else n_boot,
              "seed": seed, "confidence": confidence}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # every caveat is in res.warnings and printed
            res = AuditResult(ScoreSummary.load(source), threshold=threshold,
                              target_fmr=target_fmr, **kw)
            test_res = None
            if test_path is not None:
                test_res = AuditResult(ScoreSummary.load(test_path), threshold=res.threshold,
                                       **kw)
                test_res.threshold_rule = f"chosen on {source.name}: {res.threshold_rule}"
        _print_audit(res, source.name)
        out: dict[str, Any] = {source.name: res.to_dict()}
        if test_res is not None:
            _print_audit(test_res, test_path.name)  # type: ignore[union-attr]
            out[test_path.name] = test_res.to_dict()  # type: ignore[union-attr]
    else:
        if reference_group is not None or n_boot:
            raise ConfigError("--reference-group and --n-boot need a score summary (.npz); "
                              f"got the bob score file {source}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _run_bob(source, test_path, threshold, target_fmr, confidence)
        _print_bob(out)
    if json_path is not None:
        write_json(json_path, out)
        console.print(f"wrote {json_path}", highlight=False)
