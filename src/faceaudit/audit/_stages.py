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
from ._policies import policy_sections


# ---------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Loaded:
    """The samples of the audit: ``manifest`` (after ``limit``), its ``grouping``, a display
    ``name``, the size before the quick-try subset, and the adapter's notes."""

    manifest: Manifest
    name: str
    grouping: Grouping
    n_before_limit: int
    notes: tuple[str, ...] = ()

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


def _read_manifest(cfg: Any) -> tuple[Manifest, str, tuple[str, ...]]:
    """The full manifest, a display name of its dataset, and the adapter's notes."""
    from ..datasets import load_dataset

    if cfg.scores is not None or (cfg.dataset is None and cfg.manifest is not None):
        path = Path(cfg.manifest)
        return Manifest.read(path), path.name, ()
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
    return manifest, name, tuple(notes)


def load_data(cfg: Any) -> Loaded:
    """The manifest (dataset adapter or manifest file), its quick-try subset and groups."""
    manifest, name, notes = _read_manifest(cfg)
    full_n = len(manifest)
    manifest = quick_subset(manifest, cfg.limit, cfg.seed)
    grouping = Grouping.parse(cfg.group_by)
    labels = manifest.groups(grouping).labels  # validates the attribute names early
    if cfg.reference_group is not None and cfg.reference_group not in labels:
        raise ConfigError(
            f"reference_group must be one of {list(labels)}; got {cfg.reference_group!r}"
        )
    return Loaded(manifest, name, grouping, full_n, notes)


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


# ---------------------------------------------------------------------------- 1:N
@dataclass(frozen=True)
class Identified:
    """The 1:N audit at the verification threshold (None, with the reason, when skipped)."""

    audit: Any
    what_if: tuple[str, ...] = ()
    skipped: str | None = None

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
    return Identified(res, what_if)


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


def write_report(cfg: Any, env: Any, log: Any, data: Loaded, embed: Embedded | None,
                 score: Scored, metrics: Measured, identification: Identified | None,
                 probe_conditions: Probed | None = None, policies: Any = None) -> Reported:
    """results.json + CSV tables, figures, report.html, config.resolved.toml, manifest.csv."""
    out = Path(env.out)
    files: dict[str, Path] = {"manifest": out / "manifest.csv"}
    data.manifest.write(files["manifest"])
    ident = identification
    resolved = cfg.resolved().to_mapping()
    results = results_document(
        config=resolved,
        inputs={**log.inputs, "manifest_used": file_record(files["manifest"])},
        seed=cfg.seed,
        n_boot=cfg.n_boot,
        dataset=dataset_view(name=data.name, manifest=data.manifest,
                             n_before_limit=data.n_before_limit, summary=score.summary,
                             fte_reasons=_fte_reasons(embed), notes=_dataset_notes(cfg, data)),
        verification=verification_view(metrics.audit, model_name=_model_name(cfg),
                                       threshold_fixed=cfg.threshold is not None),
        identification=(identification_view(ident.audit, ident.what_if)
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
    figures, figure_files = draw_figures(out / "figures", results, score.summary)
    files.update(figure_files)
    if probe_conditions is not None:
        figures.update(probe_figures(out / "figures", results[PROBE_KEY], figure_files))
        files.update(figure_files)
    results["warnings"] = list(log.warnings)
    results["timings_s"] = log.timings_now()
    files["results"] = write_results(out, results)
    for name in ("by_group", "fmr_matrix", "identification"):
        if (out / f"{name}.csv").is_file():
            files[name] = out / f"{name}.csv"
    files["config"] = out / "config.resolved.toml"
    write_text(
        files["config"],
        "# faceaudit audit configuration, every default filled in.\n"
        f"# Re-run with: faceaudit audit {files['config']}\n" + dumps_toml(resolved),
    )
    files["report"] = write_html(out / "report.html", results, figures)
    return Reported(out, results, files)
