"""``run_audit``: one call from a dataset (or a vendor's score file) to a checked report folder.

The audit is the list :data:`STAGES`, run in order by :func:`~faceaudit.audit._runner.run_stages`,
which times and reports each stage, records its warnings and provenance, caches the score
summary and skips what does not apply:

1. **data** — the manifest: a dataset adapter or a manifest file; ``limit`` keeps a seeded
   subset of whole subjects for a quick try;
2. **embed** — templates from the images (reusing the persistent template store), unless a
   vendor score file is given;
3. **score** — the :class:`~faceaudit.ScoreSummary` (templates compared, or the vendor's
   score file read), cached under a sha256 of everything that shapes it;
4. **metrics** — :class:`faceaudit.metrics.AuditResult` at one global threshold (fixed, or
   the one giving ``target_fmr`` on the reference group), with bootstrap intervals;
5. **recount** — the second pass: the comparisons of the cells whose count at the chosen
   threshold lies inside a histogram bin are scored again and counted exactly
   (:mod:`faceaudit._recount`; a vendor's file is read again), so every count is exact;
6. **policies** — threshold policies side by side (vendor, global, per-group) on the
   recounted summary, unless ``threshold_policy`` is ``"global"``
   (:mod:`faceaudit.metrics._policies`);
7. **identification** — 1:N FPIR/FNIR against gallery size, when enabled and possible;
8. **probe_conditions** — the probe-quality stress audit (:mod:`faceaudit.probe`): FTA, FNMR
   and FMR per group of degraded probes against clean references at the same threshold, when
   ``probe_conditions`` are given;
9. **report** — figures (PNG + SVG), ``results.json`` + CSV tables, ``report.html``,
   ``config.resolved.toml``, ``manifest.csv`` and ``failures.csv`` (every file, sample and
   score-file line the audit could not use, with the reason), each file written atomically
   and the folder as a unit (built beside ``out``, then swapped in:
   :mod:`faceaudit.audit._folder`), so a killed run never leaves a mix of two runs.

Conventions: scores are similarities; a comparison is accepted iff ``score >= threshold``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from .._io import check_writable
from .._summary import ScoreSummary
from ._backend import Backend, InProcess
from ._cache import default_cache_dir, summary_cache
from ._config import AuditConfig
from ._folder import check_out_folder
from ._policies import weigh_policies, why_no_policies
from ._provenance import data_inputs, embed_inputs
from ._runner import Environment, Progress, Stage, run_stages
from ._stages import (
    Scored,
    embed_templates,
    load_data,
    measure,
    probe_under_conditions,
    recount_at_threshold,
    score_comparisons,
    search_one_to_many,
    why_no_identification,
    why_no_probe_conditions,
    write_report,
)

STAGES: tuple[Stage, ...] = (
    Stage("data", load_data, says=lambda cfg: f"loading {cfg.dataset or cfg.manifest}",
          provenance=data_inputs),
    Stage("embed", embed_templates,
          says=lambda cfg, env: f"templates with {cfg.model} "
                                f"(store: {cfg.store or Path(env.cache_dir) / 'store'})",
          skip=lambda cfg: "vendor scores" if cfg.scores is not None else None,
          provenance=embed_inputs),
    Stage("score", score_comparisons, cache=summary_cache(Scored),
          says=lambda cfg: "comparing" if cfg.scores is None else f"reading {cfg.scores}"),
    Stage("metrics", measure,
          says=lambda cfg: f"error rates per group ({cfg.n_boot} bootstrap replicates)"),
    Stage("recount", recount_at_threshold,
          says=lambda: "second pass: exact counts at the threshold"),
    Stage("policies", weigh_policies, skip=why_no_policies,
          says=lambda cfg: f"threshold policies ({cfg.threshold_policy})"),
    Stage("identification", search_one_to_many, skip=why_no_identification,
          says=lambda: "one-to-many searches"),
    Stage("probe_conditions", probe_under_conditions, skip=why_no_probe_conditions,
          says=lambda cfg: f"degraded probes: {', '.join(cfg.probe_conditions)}"),
    Stage("report", write_report, says=lambda env: f"writing {env.out}"),
)
"""The stages of an audit, in order (see the module docstring)."""


@dataclass
class AuditOutput:
    """What :func:`run_audit` produced.

    Attributes
    ----------
    folder : Path
        The output folder.
    results : dict
        The content of ``results.json``.
    files : dict of str to Path
        Every file written (``report``, ``results``, ``config``, ``manifest``, ``failures``,
        tables and
        figures ``<name>_png`` / ``<name>_svg``).
    summary : ScoreSummary
    audit : AuditResult
    timings : dict of str to float
        Seconds per stage.
    cache_hit : bool
        True when the score summary came from the cache.
    """

    folder: Path
    results: dict[str, Any]
    files: dict[str, Path]
    summary: ScoreSummary
    audit: Any
    timings: dict[str, float]
    cache_hit: bool = False

    @property
    def report(self) -> Path:
        return self.files["report"]

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.results.get("findings") or [])


@contextmanager
def _backend(cfg: AuditConfig, backend: Backend | None, client: Any) -> Iterator[Backend]:
    """The backend given, else a Dask one on ``client`` or on ``cfg.cluster``, else in-process."""
    if backend is not None and client is not None:
        raise ConfigError("backend and client must not both be given; got both")
    if backend is not None:
        yield backend
    elif client is not None:
        from ..cluster import DaskBackend

        yield DaskBackend(client)
    elif cfg.cluster is not None:
        from ..cluster import DaskBackend, connect

        with connect(cfg.cluster) as opened:
            yield DaskBackend(opened)
    else:
        yield InProcess()


def check_outputs(cfg: AuditConfig, env: Environment) -> None:
    """Before any work: the output folder, the cache and (when images are embedded) the
    template store can be written (:func:`faceaudit._io.check_writable`)."""
    check_writable(env.out, "out")
    check_out_folder(env.out)
    check_writable(env.cache_dir, "cache_dir")
    if cfg.scores is None:
        check_writable(cfg.store or Path(env.cache_dir) / "store", "store")


def run_audit(
    config: AuditConfig | Mapping[str, Any] | str | Path,
    *,
    progress: Progress | None = None,
    show_bars: bool = False,
    backend: Backend | None = None,
    client: Any = None,
) -> AuditOutput:
    """Run every stage of :data:`STAGES` and fill ``config.out`` (see the module docstring).

    Parameters
    ----------
    config : AuditConfig, mapping (TOML layout) or path to a TOML file
    progress : callable ``(stage, message)``, optional
        Told when each stage starts and finishes (with its timing).
    show_bars : bool
        Let the embedding and scoring stages draw their own progress bars on stderr.
    backend : Backend, optional
        Where embedding, scoring and the 1:N search run (default :class:`InProcess`, or a
        Dask cluster opened from ``config.cluster``).
    client : dask.distributed.Client, optional
        Run on this Dask cluster (:class:`faceaudit.cluster.DaskBackend`); results are
        identical to an in-process run.

    Returns
    -------
    AuditOutput

    Raises
    ------
    ConfigError, InputError
        Invalid configuration or input; the message names the field, file or row.
    OutputError
        The output folder, cache or store cannot be written (checked before any work), or a
        write failed (disk full); the message names the path.
    """
    cfg = AuditConfig.coerce(config)
    env = Environment(out=Path(cfg.out).expanduser(), cache_dir=default_cache_dir(cfg.cache_dir),
                      backend=None, show_bars=show_bars)
    check_outputs(cfg, env)
    with _backend(cfg, backend, client) as chosen:
        done, log = run_stages(STAGES, cfg, dataclasses.replace(env, backend=chosen), progress)
    report = done["report"]
    final = done["recount"] or done["metrics"]
    return AuditOutput(report.folder, report.results, report.files,
                       getattr(final, "summary", done["score"].summary), final.audit,
                       log.timings, log.cache_hits.get("score", False))
