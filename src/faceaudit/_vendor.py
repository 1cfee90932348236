"""Vendor comparison scores: score files -> :class:`~faceaudit.ScoreSummary`.

A vendor (or any external system) that only reports comparison scores enters faceaudit here,
through the same per-cell accumulators as the template scorer (:mod:`faceaudit._scorer`).

Score files (:func:`read_scores`)
    CSV (``.csv``, ``.tsv``, ``.txt``; comma, or tab for ``.tsv``) or Parquet (``.parquet``,
    ``.pq``) with columns ``sample_a, sample_b, score`` and optionally ``label`` (``1``/``0``,
    ``-1``, ``genuine``/``impostor``, ``mated``/``non-mated``, ``true``/``false``). Rows are
    joined to the manifest by sample id; genuine/impostor and the cell come from the manifest.

Row rules (documented decisions):

- a score of ``nan``, ``na``, ``n/a``, ``null`` or ``none`` (any case; a null in Parquet) is a
  **failure to acquire** (FTA): counted per cell in ``genuine_fta`` / ``impostor_fta`` (bob's
  convention). An *empty* score field is a malformed line, not an FTA, because a truncated
  line reads the same way; blank lines are skipped;
- each row is one comparison. ``(a, b)`` and ``(b, a)`` are **both** kept as two comparisons
  (vendor algorithms may be asymmetric: probe vs. reference); literal duplicate rows are not
  detected (that would need memory growing with the number of rows);
- a sample compared with itself, an unknown sample id, a non-numeric or infinite score, a
  label contradicting the manifest's subjects, and a malformed line (wrong number of fields)
  are errors: :class:`~faceaudit.ScoreFileError` naming the file and line
  (``on_error="raise"``), or exclusions counted by reason in ``summary.exclusions``
  (``on_error="exclude"``);
- ``higher_is_similar=False`` (distances) negates every score, so the summary keeps the
  convention "similarity, accepted iff ``score >= threshold``".

Histogram range: the file is read **twice**. The first pass validates every row and finds
the minimum and maximum finite score and the impostor count of every cell; the histogram then
has ``n_bins`` bins of a power-of-two width covering ``[min, max]`` (so bin indices are exact,
see :class:`faceaudit._accumulate.Binning`) and each cell's tail capacity is known before the
second pass accumulates. Memory grows with the cells and the tails, not the rows.

bob.measure's 2- and 4-column files are read by :func:`faceaudit._bob.read_bob_scores`.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from . import _vendor_parts as _parts
from ._accumulate import (
    DEFAULT_MIN_EXACT,
    DEFAULT_N_BINS,
    EXACT_FMR,
    ScoreAccumulator,
    binning_for_range,
    check_n_bins,
    tail_capacity,
)
from ._errors import ConfigError, ScoreFileError, check_integer, check_option
from ._io import check_input_file
from ._manifest import Grouping, Manifest
from ._recount import RecountState, apply_recount, plan_requests
from ._score_rows import (
    BAD_LABEL,
    FTA_LITERALS,
    LABEL_CONTRADICTS_MANIFEST,
    MALFORMED_LINE,
    NON_FINITE_SCORE,
    NON_NUMERIC_SCORE,
    ON_ERROR,
    SELF_COMPARISON,
    UNKNOWN_SAMPLE,
    RowReader,
    cell_counts,
    count_requests,
    fold_rows,
)
from ._summary import ScoreSummary, sample_fields
from ._vendor_parts import BLOCKSIZE, PartitionRunner

__all__ = [  # the row rules' names (defined with the row reader) are part of this module's API
    "BAD_LABEL", "FTA_LITERALS", "LABEL_CONTRADICTS_MANIFEST", "MALFORMED_LINE",
    "NON_FINITE_SCORE", "NON_NUMERIC_SCORE", "ON_ERROR", "SELF_COMPARISON", "UNKNOWN_SAMPLE",
    "read_scores", "recount_scores", "score_file",
]


def score_file(source: str | Path) -> Path:
    """``source`` as a Path, if it is a regular file (a pipe cannot be read twice)."""
    return check_input_file(
        source, "score", ScoreFileError,
        " (score files are read twice); save the scores to a file first",
    )


def read_scores(
    source: str | Path,
    manifest: Manifest,
    *,
    grouping: Grouping | str | list[str] | None = None,
    score_column: str = "score",
    label_column: str = "label",
    higher_is_similar: bool = True,
    on_error: str = "raise",
    chunk_rows: int = 1_000_000,
    exact_fmr: float = EXACT_FMR,
    min_exact: int = DEFAULT_MIN_EXACT,
    n_bins: int = DEFAULT_N_BINS,
    model_id: str = "vendor",
    partitions: PartitionRunner | None = None,
    blocksize: int = BLOCKSIZE,
) -> ScoreSummary:
    """Stream a vendor score file (CSV or Parquet) into a :class:`~faceaudit.ScoreSummary`.

    Parameters
    ----------
    source : path
        ``sample_a, sample_b, score[, label]`` file (see the module docstring for the rules).
    manifest : Manifest
        Defines subjects (genuine iff same subject) and groups.
    grouping : Grouping, str or list of str, optional
    score_column, label_column : str
        Column names. The label column is optional; when present it must agree with the
        manifest.
    higher_is_similar : bool
        False for distances: scores are negated (accepted iff ``-distance >= threshold``).
    on_error : {"raise", "exclude"}
        Raise :class:`ScoreFileError` at the first bad row (naming file and line), or skip
        bad rows and count them by reason in ``summary.exclusions``.
    chunk_rows : int
        Rows read per chunk.
    exact_fmr, min_exact, n_bins :
        Tail capacity and histogram resolution, as in :func:`faceaudit.score_templates`.
    model_id : str
        Recorded in the summary.
    partitions, blocksize : callable, int
        Read the file in partitions of about ``blocksize`` bytes, in parallel, with this
        partition runner (:mod:`faceaudit._vendor_parts`: ``faceaudit._vendor_parts.serial``,
        or ``faceaudit.cluster.dask_partitions(client)``): the same summary, errors and
        exclusions as one reader. A CSV with a double quote or a lone carriage return is read
        by one reader (a quoted field may hold a line break).

    Returns
    -------
    ScoreSummary
        ``enrolled`` is all True (enrolment is the vendor's business; its failures show up as
        NaN scores, i.e. FTA). ``protocol["source"] == "vendor"``.
    """
    check_option("on_error", on_error, ON_ERROR)
    check_integer("chunk_rows", chunk_rows, 1)
    check_integer("min_exact", min_exact, 0)
    check_n_bins(n_bins)
    if not isinstance(manifest, Manifest):
        raise ConfigError(f"manifest must be a Manifest; got {type(manifest).__name__}")
    path = score_file(source)
    ga = manifest.groups(grouping)
    g = ga.codes.astype(np.int64)
    n_groups = ga.n_groups
    subj = manifest.subject_codes
    settings = dict(path=path, manifest=manifest, score_column=score_column,
                    label_column=label_column, higher_is_similar=higher_is_similar,
                    on_error=on_error, chunk_rows=int(chunk_rows))
    reader = RowReader(**settings)  # type: ignore[arg-type]
    jobs = _jobs(settings, reader.parquet, partitions, blocksize, n_groups, g, subj)
    acc, binning, gen_fta, imp_fta, exclusions = _two_passes(
        reader, jobs, partitions, n_groups, g, subj, exact_fmr, min_exact, int(n_bins))
    protocol = {
        "source": "vendor",
        "file": str(path),
        "higher_is_similar": bool(higher_is_similar),
        "on_error": on_error,
        "exact_fmr": float(exact_fmr),
        "min_exact": int(min_exact),
        "n_bins": int(n_bins),
        "hist_range": [binning.lo, binning.hi],
        "duplicates": "every row is a comparison; (a, b) and (b, a) both count",
    }
    common = sample_fields(
        manifest, ga, enrolled=np.ones(len(manifest), bool), similarity="vendor",
        model_id=model_id,
    )
    return acc.summary(common, gen_fta, imp_fta, exact_fmr, min_exact, protocol,
                       dict(exclusions))


def _two_passes(reader: RowReader, jobs: list[Any] | None, partitions: Any, n_groups: int,
                g: np.ndarray, subj: np.ndarray, exact_fmr: float, min_exact: int,
                n_bins: int) -> tuple[ScoreAccumulator, Any, np.ndarray, np.ndarray, Any]:
    """Pass 1 (range, impostor counts) and pass 2 (accumulators) by one reader, or over the
    partitions' ``jobs``: (accumulator, binning, genuine FTA, impostor FTA, exclusions)."""
    # pass 1: range and per-cell impostor counts
    lo, hi = math.inf, -math.inf
    n_imp = np.zeros((n_groups, n_groups), np.int64)
    if jobs is None:
        for rows in reader.chunks():
            lo, hi = cell_counts(rows, g, subj, n_imp, lo, hi)
        exclusions = reader.exclusions
    else:
        lo, hi, n_imp, exclusions = _parts.first_pass(jobs, partitions)  # type: ignore[arg-type]
    binning = binning_for_range(lo, hi, n_bins)
    caps = tail_capacity(n_imp, exact_fmr, min_exact)
    if jobs is None:
        acc = ScoreAccumulator(n_groups, binning, caps)
        gen_fta = np.zeros((n_groups, n_groups), np.int64)
        imp_fta = np.zeros((n_groups, n_groups), np.int64)
        for rows in reader.chunks():
            fold_rows(acc, rows, g, subj, gen_fta, imp_fta)
        exclusions = reader.exclusions
    else:
        jobs = [dataclasses.replace(j, binning=binning, caps=caps) for j in jobs]
        acc, gen_fta, imp_fta = _parts.second_pass(jobs, partitions)  # type: ignore[arg-type]
    return acc, binning, gen_fta, imp_fta, exclusions


def _jobs(settings: dict[str, Any], parquet: bool, partitions: Any, blocksize: int,
          n_groups: int, g: np.ndarray, subj: np.ndarray) -> list[Any] | None:
    """The partitions' jobs (:mod:`faceaudit._vendor_parts`; each reads its partition with a
    :class:`RowReader` of these ``settings``), or None: the file is read by one reader."""
    if partitions is None:
        return None
    parts = _parts.plan(settings["path"], parquet, partitions, blocksize)
    if parts is None:
        return None
    return [_parts.Job(settings, p, n_groups, g, subj) for p in parts]


def recount_scores(
    source: str | Path,
    manifest: Manifest,
    summary: ScoreSummary,
    thresholds: Any,
    *,
    score_column: str = "score",
    label_column: str = "label",
    higher_is_similar: bool = True,
    on_error: str = "raise",
    chunk_rows: int = 1_000_000,
    partitions: PartitionRunner | None = None,
    blocksize: int = BLOCKSIZE,
) -> ScoreSummary:
    """Second pass over a vendor score file: ``summary`` (from :func:`read_scores` on the same
    file, manifest and options) with every impostor count at ``thresholds`` made exact.

    The file is read again, chunk by chunk, and only counts are kept (one integer per cell
    and threshold; :mod:`faceaudit._recount`). A file that changed since the first pass
    (other impostor counts per cell) is a :class:`ScoreFileError`. A stream that cannot be
    read twice cannot be recounted: its counts inside histogram bins stay bounds
    (``exact`` false), as :func:`read_scores` left them. ``partitions``, ``blocksize``: as
    in :func:`read_scores`.
    """
    requests = plan_requests(summary, thresholds)
    if not requests:
        return summary
    path = score_file(source)
    g = summary.group_codes.astype(np.int64)
    subj = summary.subject_codes
    settings = dict(path=path, manifest=manifest, score_column=score_column,
                    label_column=label_column, higher_is_similar=higher_is_similar,
                    on_error=on_error, chunk_rows=int(chunk_rows))
    reader = RowReader(**settings)  # type: ignore[arg-type]
    n_groups = summary.n_groups
    n_imp = np.zeros((n_groups, n_groups), np.int64)
    state = RecountState({r.key: 0 for r in requests})
    jobs = _jobs(settings, reader.parquet, partitions, blocksize, n_groups, g, subj)
    if jobs is None:
        for rows in reader.chunks():
            count_requests(rows, g, subj, requests, state.counts, n_imp)
    else:
        jobs = [dataclasses.replace(j, requests=tuple(requests)) for j in jobs]
        state.counts, n_imp = _parts.recount_pass(jobs, partitions)
    if not np.array_equal(np.triu(n_imp), np.triu(summary.impostor_total)):
        raise ScoreFileError(f"{path}: the file's impostor comparisons differ from the first "
                             "pass (was it changed?); read it again with read_scores")
    return apply_recount(summary, requests, state)
