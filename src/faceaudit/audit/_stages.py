"""The stages of an audit: each a function of frozen inputs returning a frozen result.

Data flows one way: ``data`` (manifest) → ``embed`` (templates) → ``score`` (score summary)
→ ``metrics`` (per-group rates at one threshold) → ``identification`` (1:N) → ``report``
(the folder). A stage receives the results of earlier stages by naming them as parameters
(see :mod:`faceaudit.audit._runner`); it does not time, cache, record provenance or catch
warnings — the runner wraps it — and it reaches heavy computation through ``env.backend``.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import AuditNote, ConfigError
from .._io import dumps_toml, write_text
from .._manifest import Grouping, Manifest
from .._provenance import file_record
from .._summary import ScoreSummary
from .._templates import Templates
from ..datasets import dataset_key, dataset_notes
from ..pipeline import MODEL_NAMES
from ..report import (
    IDENT_WHATIF,
    PROBE_KEY,
    dataset_view,
    draw_figures,
    identification_view,
    make_findings,
    probe_figures,
    probe_view,
    results_document,
    verification_view,
    write_html,
    write_results,
)
from ._folder import report_folder
from ._policies import policy_sections


# ---------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Loaded:
    """The samples of the audit: ``manifest`` (after ``limit``), its ``grouping``, a display
    ``name``, the size before the quick-try subset, the adapter's notes and what it left out
    at scan time (:class:`~faceaudit.datasets.LoadReport` ``exclusions``)."""

    manifest: Manifest
    name: str
    grouping: Grouping
    n_before_limit: int
    notes: tuple[str, ...] = ()
    exclusions: tuple[Any, ...] = ()

    def describe(self) -> str:
        n, full = len(self.manifest), self.n_before_limit
        return (f"{n:,} samples of {self.manifest.n_subjects:,} subjects"
                + (f" (subset of {full:,})" if n < full else ""))


def quick_subset(manifest: Manifest, limit: int, seed: int) -> Manifest:
    """Whole subjects in a seeded order (two or more samples first), at most ``limit`` samples.

    A subject whose samples do not fit in what is left is skipped, never cut.
    """
    if limit <= 0 or limit >= len(manifest):
        return manifest
    codes = manifest.subject_codes
    counts = np.bincount(codes, minlength=manifest.n_subjects)
    keys = [hashlib.sha256(f"{seed}:{s}".encode()).hexdigest() for s in manifest.subject_ids]
    order = sorted(range(manifest.n_subjects), key=lambda i: (counts[i] < 2, keys[i]))
    keep = np.zeros(manifest.n_subjects, bool)
    total = 0
    for i in order:
        if total + counts[i] > limit:
            continue  # a person with more photos than fit is skipped, never cut
        keep[i] = True
        total += int(counts[i])
        if total == limit:
            break
    if total == 0:  # every person has more photos than the limit: keep the smallest one
        keep[int(np.argmin(counts))] = True
    return manifest.subset(keep[codes])


def _read_manifest(cfg: Any) -> tuple[Manifest, str, tuple[str, ...], tuple[Any, ...]]:
    """The full manifest, a display name of its dataset, the adapter's notes and exclusions."""
    from ..datasets import load_dataset

    if cfg.scores is not None or (cfg.dataset is None and cfg.manifest is not None):
        path = Path(cfg.manifest)
        return Manifest.read(path), path.name, (), ()
    key = dataset_key(cfg.dataset)
    if key is not None:
        manifest, rep = load_dataset(key, data_dir=cfg.data_dir, with_report=True)
        name = key.upper()
    else:
        if cfg.data_dir is not None:
            raise ConfigError(
                f"data_dir must be empty when dataset is a path; got {cfg.data_dir!r}"
            )
        p = Path(cfg.dataset)
        opts: dict[str, Any] = {}
        if cfg.labels is not None:
            if not p.is_dir():
                raise ConfigError(
                    "labels must be empty when dataset is a manifest file (its "
                    f"columns are the labels); got {cfg.labels!r}"
                )
            opts = {"labels": cfg.labels, "labels_by": cfg.labels_by}
        manifest, rep = load_dataset(p, with_report=True, **opts)
        name = p.name
    notes = [str(n) for n in getattr(rep, "notes", ()) or ()]
    for reason, files in (getattr(rep, "ignored", None) or {}).items():
        notes.append(f"{len(files)} file(s) left out of the dataset: {reason}.")
    return manifest, name, tuple(notes), tuple(getattr(rep, "exclusions", ()) or ())


def load_data(cfg: Any) -> Loaded:
    """The manifest (dataset adapter or manifest file), its quick-try subset and groups."""
    manifest, name, notes, exclusions = _read_manifest(cfg)
    full_n = len(manifest)
    manifest = quick_subset(manifest, cfg.limit, cfg.seed)
    grouping = Grouping.parse(cfg.group_by)
    groups = manifest.groups(grouping)  # validates the attribute names early
    if cfg.reference_group is not None:  # unknown or ambiguous: an error listing the labels
        groups.index_of(cfg.reference_group, "reference_group")
    return Loaded(manifest, name, grouping, full_n, notes, exclusions)


# ---------------------------------------------------------------------------- embed
@dataclass(frozen=True)
class Embedded:
    """Templates of every sample (failures to enrol recorded per sample)."""

    templates: Templates

    def describe(self) -> str:
        ok = int(self.templates.ok.sum())
        return f"{ok:,} templates, {len(self.templates) - ok:,} failures to enrol"


def embed_templates(cfg: Any, env: Any, data: Loaded) -> Embedded:
    """Templates from the images (the persistent template store makes re-runs cheap)."""
    face = {} if cfg.face_policy is None else {"face_policy": cfg.face_policy}
    return Embedded(env.backend.embed(
        data.manifest,
        embedder=cfg.model,
        detector=cfg.detector,
        store=cfg.store or Path(env.cache_dir) / "store",
        n_workers=cfg.workers,
        progress=env.show_bars,
        **face,
    ))


# ---------------------------------------------------------------------------- score
@dataclass(frozen=True)
class Scored:
    """Every comparison folded into a :class:`~faceaudit.ScoreSummary`."""

    summary: ScoreSummary

    def describe(self) -> str:
        return (f"{len(self.summary.genuine_scores):,} genuine and "
                f"{int(self.summary.impostor_total.sum()):,} impostor scores")


def score_comparisons(cfg: Any, env: Any, data: Loaded, embed: Embedded | None) -> Scored:
    """Compare the templates, or read the vendor's score file."""
    if embed is None:
        return Scored(env.backend.read_scores(
            cfg.scores,
            data.manifest,
            grouping=data.grouping,
            higher_is_similar=not cfg.scores_distance,
            on_error=cfg.on_error,
            exact_fmr=cfg.exact_fmr,
        ))
    return Scored(env.backend.score(
        embed.templates,
        data.manifest,
        grouping=data.grouping,
        impostors=cfg.impostors,
        exact_fmr=cfg.exact_fmr,
        n_workers=cfg.workers,
        seed=cfg.seed,
        progress=env.show_bars,
    ))


# ---------------------------------------------------------------------------- metrics
@dataclass(frozen=True)
class Measured:
    """Per-group verification rates at one global threshold (an :class:`AuditResult`)."""

    audit: Any

    def describe(self) -> str:
        return f"threshold {self.audit.threshold:.6g}"


def measure(cfg: Any, score: Scored) -> Measured:
    """:class:`~faceaudit.metrics.AuditResult` at the fixed or the target-FMR threshold."""
    from ..metrics import AuditResult

    return Measured(AuditResult(
        score.summary,
        threshold=cfg.threshold,
        target_fmr=None if cfg.threshold is not None else cfg.target_fmr,
        reference_group=cfg.reference_group,
        n_boot=cfg.n_boot,
        seed=cfg.seed,
        confidence=cfg.confidence,
    ))


# ---------------------------------------------------------------------------- recount
@dataclass(frozen=True)
class Recounted:
    """The summary with every impostor count at the audit's threshold exact (second pass),
    and the :class:`AuditResult` measured on it (same threshold)."""

    summary: ScoreSummary
    audit: Any
    n_recounted: int

    def describe(self) -> str:
        if not self.n_recounted:
            return "every count was already exact"
        return (f"{self.n_recounted} cell count(s) or per-person list(s) made exact at "
                f"threshold {self.audit.threshold:.10g}")


def recount_at_threshold(cfg: Any, env: Any, log: Any, data: Loaded, embed: Embedded | None,
                         score: Scored, metrics: Measured) -> Recounted:
    """Second pass: re-score only the cells whose count at the chosen threshold lies inside a
    histogram bin, count them exactly, and measure again at the same threshold.

    The first measurement's warnings about counts and pairs below the exact tail are
    withdrawn from the run log (the new measurement warns again about any that still hold).
    """
    from .._recount import plan_people, plan_requests

    t = [metrics.audit.threshold]
    n = len(plan_requests(score.summary, t))
    if embed is not None:  # per-person counts below the tail (all-pairs template protocols)
        n += len(plan_people(score.summary, t))
    if n == 0:
        return Recounted(score.summary, metrics.audit, 0)
    if embed is None:
        summary = env.backend.recount_scores(
            cfg.scores, data.manifest, score.summary, t,
            higher_is_similar=not cfg.scores_distance, on_error=cfg.on_error)
    else:
        summary = env.backend.recount(embed.templates, data.manifest, score.summary, t,
                                      n_workers=cfg.workers, progress=env.show_bars)
    log.warnings[:] = [w for w in log.warnings if not w.startswith("InexactMetricWarning")
                       and "below the exact tail" not in w]
    audit = measure(cfg, Scored(summary)).audit
    if audit.threshold != metrics.audit.threshold:  # pragma: no cover - defensive
        raise RuntimeError(f"internal error: the recounted summary moved the threshold from "
                           f"{metrics.audit.threshold!r} to {audit.threshold!r}")
    return Recounted(summary, audit, n)


# ---------------------------------------------------------------------------- 1:N
@dataclass(frozen=True)
class Identified:
    """The 1:N audit at the verification threshold (None, with the reason, when skipped)."""

    audit: Any
    what_if: tuple[str, ...] = ()
    skipped: str | None = None
    operating: Any = None  # identify.operating_points: the deployment what-if table

    def describe(self) -> str:
        return "skipped" if self.audit is None else ""


def why_no_identification(cfg: Any, embed: Embedded | None) -> str | None:
    """Why the 1:N stage does not run (None: it runs)."""
    if not cfg.identification:
        return "switched off in the configuration ([identification] enabled = false)"
    if embed is None:
        return ("a score file has no templates to search with; one-to-many search "
                "needs the model's templates")
    return None


def search_one_to_many(cfg: Any, env: Any, data: Loaded, embed: Embedded,
                       metrics: Measured) -> Identified:
    """FPIR/FNIR per group against gallery size, and the deployment what-if."""
    from ..identify import split_gallery

    split = split_gallery(data.manifest, embed.templates, data.grouping, seed=cfg.seed)
    n_gal = int(split.n_gallery)
    if n_gal < 2:
        warnings.warn(f"identification skipped: only {n_gal} people could be enrolled in a "
                      "gallery", AuditNote, stacklevel=2)
        return Identified(None, skipped="too few people for a gallery")
    sizes = sorted({int(x) for x in np.round(np.geomspace(min(10, n_gal), n_gal, 6))})
    res = env.backend.identify(
        embed.templates,
        data.manifest,
        data.grouping,
        threshold=metrics.audit.threshold,
        gallery_sizes=sizes,
        seed=cfg.seed,
        n_boot=cfg.n_boot,
        confidence=cfg.confidence,
    )
    what_if = tuple(str(res.whatif(searches_per_year=per_year, gallery_size=size).text)
                    for per_year, size in IDENT_WHATIF[:1])
    return Identified(res, what_if, operating=_operating_points(cfg, res))


def _operating_points(cfg: Any, res: Any) -> Any:
    """The deployment what-if table (:func:`~faceaudit.identify.operating_points`) at the
    audit's confidence, or None when the searches cannot give one (recorded as a note)."""
    from ..identify import operating_points

    try:
        return operating_points(res.searches, confidence=cfg.confidence, n_boot=cfg.n_boot,
                                seed=cfg.seed)
    except ConfigError as exc:
        warnings.warn(f"deployment what-if table not made: {exc}", AuditNote, stacklevel=2)
        return None


# ---------------------------------------------------------------------------- probe quality
@dataclass(frozen=True)
class Probed:
    """The probe-quality stress audit (:class:`faceaudit.probe.ProbeAudit`)."""

    audit: Any

    def describe(self) -> str:
        a = self.audit
        return (f"{len(a.conditions)} levels x {a.n_probe_samples:,} probes of "
                f"{a.n_probe_people:,} people")


def why_no_probe_conditions(cfg: Any, embed: Embedded | None) -> str | None:
    """Why the probe-condition stage does not run (None: it runs)."""
    if not cfg.probe_conditions:
        return "no probe conditions asked for ([probe_conditions] conditions = [])"
    if embed is None:
        return "a score file has no images to degrade"
    return None


def probe_under_conditions(cfg: Any, env: Any, data: Loaded, embed: Embedded,
                           metrics: Measured) -> Probed:
    """Degraded probes vs clean references at the clean threshold (:mod:`faceaudit.probe`)."""
    from ..probe import probe_audit

    return Probed(probe_audit(
        data.manifest, data.grouping, embed.templates, cfg.probe_conditions,
        threshold=metrics.audit.threshold,
        store=cfg.store or Path(env.cache_dir) / "store",
        model=cfg.model, detector=cfg.detector, face_policy=cfg.face_policy,
        people=cfg.probe_people, n_boot=cfg.n_boot, seed=cfg.seed, confidence=cfg.confidence,
        target_fmr=None if cfg.threshold is not None else cfg.target_fmr,
        reference_group=cfg.reference_group, identification=cfg.identification,
    ))


# ---------------------------------------------------------------------------- report
@dataclass(frozen=True)
class Reported:
    """The report folder: ``results`` (the content of results.json) and every file written."""

    folder: Path
    results: dict[str, Any]
    files: dict[str, Path]

    def describe(self) -> str:
        return str(self.files["report"])


def _model_name(cfg: Any) -> str:
    if cfg.scores is not None:
        return f"the vendor system ({Path(cfg.scores).name})"
    return cfg.model if cfg.model in MODEL_NAMES else Path(cfg.model).name


def _dataset_notes(cfg: Any, data: Loaded) -> list[str]:
    n, full = len(data.manifest), data.n_before_limit
    subset = [
        f"Quick-try subset: {n:,} of {full:,} samples (whole people, seed {cfg.seed}); "
        "figures are not representative of the full dataset."
    ] if n < full else []
    return dataset_notes(cfg.dataset) + subset + list(data.notes)


def _fte_reasons(embed: Embedded | None) -> dict[str, int]:
    if embed is None:
        return {}
    t = embed.templates
    st, cnt = np.unique(t.status[~t.ok], return_counts=True)
    return {str(s): int(c) for s, c in zip(st, cnt, strict=True)}


FAILURE_COLUMNS = ("sample", "reason", "detail", "stage")
"""Columns of ``failures.csv``: one row per thing the audit could not use."""


def failure_rows(data: Loaded, embed: Embedded | None, score: Scored) -> list[dict[str, str]]:
    """The rows of ``failures.csv`` (:data:`FAILURE_COLUMNS`), nothing left out:

    - ``stage = "dataset scan"``: each file or folder the adapter left out (``sample`` is its
      path relative to the dataset root; ``reason`` "not an image", "not a regular file"...);
    - ``stage = "enrolment"``: each sample without a template (``reason`` its status:
      no_face, unreadable, missing...; ``detail`` the pipeline's message);
    - ``stage = "score file"``: the vendor score file's excluded lines, one row per reason
      (``sample`` empty, ``detail`` the number of lines; the lines themselves are not kept).

    Text that is not UTF-8 (file names) is written by the reversible rule of
    :func:`faceaudit._text.name_to_text`.
    """
    from .._text import name_to_text

    rows = [{"sample": e.path, "reason": e.reason, "detail": e.detail, "stage": "dataset scan"}
            for e in data.exclusions]
    if embed is not None:
        t = embed.templates
        for i in np.flatnonzero(~t.ok):
            rows.append({"sample": str(t.sample_ids[i]), "reason": str(t.status[i]),
                         "detail": str(t.detail[i]), "stage": "enrolment"})
    for reason, n in sorted(dict(score.summary.exclusions).items()):
        if n:
            rows.append({"sample": "", "reason": str(reason), "detail": f"{int(n):,} line(s)",
                         "stage": "score file"})
    return [{k: name_to_text(v) for k, v in r.items()} for r in rows]


def write_failures(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write ``failures.csv`` atomically (header only when nothing failed)."""
    import pandas as pd

    write_text(path, pd.DataFrame(rows, columns=list(FAILURE_COLUMNS)).to_csv(index=False))
    return path


def write_report(cfg: Any, env: Any, log: Any, data: Loaded, embed: Embedded | None,
                 score: Scored, metrics: Measured, identification: Identified | None,
                 recount: Recounted | None = None,
                 probe_conditions: Probed | None = None, policies: Any = None) -> Reported:
    """The report folder ``env.out``, written as a unit (:func:`report_folder`: built beside
    it, then swapped in; a killed run never leaves a mix of two runs)."""
    final = Path(env.out)
    counted = recount if recount is not None else Recounted(score.summary, metrics.audit, 0)
    with report_folder(final) as build:
        rep = write_report_files(build, final, cfg, env, log, data, embed, score, counted,
                                 identification, probe_conditions, policies)
    return Reported(final, rep.results,
                    {k: final / p.relative_to(build) for k, p in rep.files.items()})


def write_report_files(out: Path, final: Path, cfg: Any, env: Any, log: Any, data: Loaded,
                       embed: Embedded | None, score: Scored, counted: Recounted,
                       identification: Identified | None,
                       probe_conditions: Probed | None = None,
                       policies: Any = None) -> Reported:
    """results.json + CSV tables, figures, report.html, config.resolved.toml, manifest.csv,
    failures.csv, written into ``out`` for the folder ``final`` (the paths the files name).

    ``counted`` holds the summary and audit after the recount stage (every count exact), or
    the first pass's when the recount did not run.
    """
    files: dict[str, Path] = {"manifest": out / "manifest.csv"}
    data.manifest.write(files["manifest"])
    files["failures"] = write_failures(out / "failures.csv", failure_rows(data, embed, score))
    ident = identification
    resolved = cfg.resolved().to_mapping()
    manifest_used = {**file_record(files["manifest"]),
                     "path": str((final / "manifest.csv").resolve())}
    results = results_document(
        config=resolved,
        inputs={**log.inputs, "manifest_used": manifest_used},
        seed=cfg.seed,
        n_boot=cfg.n_boot,
        dataset=dataset_view(name=data.name, manifest=data.manifest,
                             n_before_limit=data.n_before_limit, summary=counted.summary,
                             fte_reasons=_fte_reasons(embed), notes=_dataset_notes(cfg, data)),
        verification=verification_view(counted.audit, model_name=_model_name(cfg),
                                       threshold_fixed=cfg.threshold is not None),
        identification=(identification_view(ident.audit, ident.what_if, ident.operating)
                        if ident is not None and ident.audit is not None else None),
        identification_skipped=(log.skipped.get("identification")
                                or (ident.skipped if ident is not None else None)),
        cache_dir=str(env.cache_dir),
        warnings=log.warnings,
    )
    results.update(policy_sections(cfg, policies))
    results["findings"] = make_findings(results)
    if probe_conditions is not None:
        results[PROBE_KEY] = probe_view(probe_conditions.audit)
    figures, figure_files = draw_figures(out / "figures", results, counted.summary)
    files.update(figure_files)
    if probe_conditions is not None:
        figures.update(probe_figures(out / "figures", results[PROBE_KEY], figure_files))
        files.update(figure_files)
    results["warnings"] = list(log.warnings)
    results["timings_s"] = log.timings_now()
    files["results"] = write_results(out, results)
    for name in ("by_group", "fmr_matrix", "identification", PROBE_KEY):
        if (out / f"{name}.csv").is_file():
            files[name] = out / f"{name}.csv"
    files["config"] = out / "config.resolved.toml"
    write_text(
        files["config"],
        "# faceaudit audit configuration, every default filled in.\n"
        f"# Re-run with: faceaudit audit {final / 'config.resolved.toml'}\n"
        + dumps_toml(resolved),
    )
    files["report"] = write_html(out / "report.html", results, figures)
    return Reported(out, results, files)
