"""A vendor score file read in partitions, in parallel: the same summary as one reader.

:func:`faceaudit.read_scores` and :func:`faceaudit.recount_scores` take ``partitions=run``, a
*partition runner* ``run(fn, items) -> [fn(item) for item in items]`` (in order) that may run
the calls anywhere: :func:`serial` here, :func:`faceaudit.cluster.dask_partitions` on a Dask
cluster. The file is then cut into partitions (:func:`plan`):

- CSV: byte ranges of about ``blocksize`` bytes ending at a line break, each read after the
  file's header line; a first task per partition counts its line breaks, so every partition
  knows the number of its first line and errors name the file's line as the single reader
  does. A file with a double quote or a lone carriage return anywhere is read by the single
  reader instead (:func:`plan` returns None): a quoted field may hold a line break, and a
  byte range cannot tell;
- Parquet: its row groups, in runs of about ``blocksize`` bytes.

Every partition is validated by the single reader's rules (``faceaudit._vendor._Reader``).
Pass 1 (range and impostor counts) and pass 2 (accumulators, with the tail capacities
known) run one task per partition and merge order-independently (counts add, minima and
maxima, :meth:`~faceaudit._accumulate.ScoreAccumulator.absorb`); with ``on_error="raise"``
the error raised is the one of the first partition that has one, i.e. the file's first bad
row. Memory per task: one partition's bytes and its parsed rows, plus the accumulators
(histograms and tails per cell, genuine scores of the partition).
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._accumulate import Binning, ScoreAccumulator
from ._errors import ScoreFileError
from ._score_rows import Part, RowReader, cell_counts, count_requests, fold_rows

PartitionRunner = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]
"""``run(fn, items) -> [fn(item) for item in items]``, in the items' order."""

BLOCKSIZE = 64 * 2**20
"""Bytes per partition (default)."""


def serial(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """The partition runner of one process: the calls one after the other."""
    return [fn(x) for x in items]


def _count_lines(args: tuple[str, int, int]) -> tuple[int, bool]:
    """Line breaks in bytes ``[start, end)`` of a file, and whether they hold a double quote
    or a carriage return not followed by a line feed."""
    path, start, end = args
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    odd = b'"' in data or data.count(b"\r") != data.count(b"\r\n")
    return data.count(b"\n"), odd


def plan(path: Path, parquet: bool, run: PartitionRunner,
         blocksize: int = BLOCKSIZE) -> list[Any] | None:
    """The partitions of a score file (``faceaudit._vendor.Part``), or None when the file
    must be read by one reader (module docstring)."""
    if parquet:
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(path).metadata
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise ScoreFileError(f"{path}: not a readable Parquet file ({exc})") from exc
        parts: list[Any] = []
        group: list[int] = []
        size = 0
        first = row = 1
        for i in range(meta.num_row_groups):
            rg = meta.row_group(i)
            if group and size + rg.total_byte_size > blocksize:
                parts.append(Part(first, groups=tuple(group)))
                group, size, first = [], 0, row
            group.append(i)
            size += rg.total_byte_size
            row += rg.num_rows
        if group or not parts:
            parts.append(Part(first, groups=tuple(group)))
        return parts
    total = os.path.getsize(path)
    with open(path, "rb") as fh:
        header = len(fh.readline())
        cuts = [header]
        for k in range(1, -(-total // blocksize)):
            at = max(k * blocksize, cuts[-1])
            fh.seek(at)
            fh.readline()  # to the end of the line that holds byte `at`
            if fh.tell() > cuts[-1] and fh.tell() < total:
                cuts.append(fh.tell())
    cuts.append(total)
    spans = [(str(path), a, b) for a, b in itertools.pairwise(cuts)]
    counts = run(_count_lines, spans)
    if any(odd for _, odd in counts):
        return None
    first = np.cumsum([2] + [n for n, _ in counts[:-1]])
    return [Part(int(f), a, b, header) for f, (_, a, b) in zip(first, spans, strict=True)]


@dataclass(frozen=True)
class Job:
    """What a partition's task needs: the reader's settings and the pass's inputs."""

    reader: dict[str, Any]
    part: Any
    n_groups: int
    g: np.ndarray
    subj: np.ndarray
    binning: Binning | None = None
    caps: np.ndarray | None = None
    requests: tuple[Any, ...] = ()

    def open(self) -> RowReader:
        return RowReader(part=self.part, **self.reader)


def _pass1(job: Job) -> tuple[float, float, np.ndarray, Counter[str], BaseException | None]:
    lo, hi = np.inf, -np.inf
    n_imp = np.zeros((job.n_groups, job.n_groups), np.int64)
    reader = job.open()
    try:
        for rows in reader.chunks():
            lo, hi = cell_counts(rows, job.g, job.subj, n_imp, lo, hi)
    except ScoreFileError as exc:
        return lo, hi, n_imp, reader.exclusions, exc
    return lo, hi, n_imp, reader.exclusions, None


def _pass2(job: Job) -> tuple[ScoreAccumulator, np.ndarray, np.ndarray]:
    assert job.binning is not None and job.caps is not None
    n_groups = job.n_groups
    acc = ScoreAccumulator(n_groups, job.binning, job.caps)
    gen_fta = np.zeros((n_groups, n_groups), np.int64)
    imp_fta = np.zeros((n_groups, n_groups), np.int64)
    for rows in job.open().chunks():
        fold_rows(acc, rows, job.g, job.subj, gen_fta, imp_fta)
    return acc, gen_fta, imp_fta


def _recount(job: Job) -> tuple[dict[Any, int], np.ndarray]:
    n_imp = np.zeros((job.n_groups, job.n_groups), np.int64)
    counts = {r.key: 0 for r in job.requests}
    for rows in job.open().chunks():
        count_requests(rows, job.g, job.subj, list(job.requests), counts, n_imp)
    return counts, n_imp


def first_pass(jobs: list[Job], run: PartitionRunner,
               ) -> tuple[float, float, np.ndarray, Counter[str]]:
    """Pass 1 over every partition: score range, impostor counts per cell, exclusions; the
    first partition's error (the file's first bad row) is raised."""
    out = run(_pass1, jobs)
    for *_, err in out:
        if err is not None:
            raise err
    lo = min((o[0] for o in out), default=np.inf)
    hi = max((o[1] for o in out), default=-np.inf)
    n_imp = np.sum([o[2] for o in out], axis=0)
    excl: Counter[str] = Counter()
    for o in out:
        excl.update(o[3])
    return float(lo), float(hi), n_imp, excl


def second_pass(jobs: list[Job], run: PartitionRunner,
                ) -> tuple[ScoreAccumulator, np.ndarray, np.ndarray]:
    """Pass 2 over every partition, merged into one accumulator and the FTA counts."""
    out = run(_pass2, jobs)
    acc, gen_fta, imp_fta = out[0]
    for other, gf, imf in out[1:]:
        acc.absorb(other)
        gen_fta = gen_fta + gf
        imp_fta = imp_fta + imf
    return acc, gen_fta, imp_fta


def recount_pass(jobs: list[Job], run: PartitionRunner) -> tuple[dict[Any, int], np.ndarray]:
    """The second pass's counts over every partition, added."""
    out = run(_recount, jobs)
    counts: dict[Any, int] = {}
    for c, _ in out:
        for k, v in c.items():
            counts[k] = counts.get(k, 0) + v
    return counts, np.sum([n for _, n in out], axis=0)
