"""Rows of a score file: read, validated by the rules of :mod:`faceaudit._vendor`, folded.

:class:`RowReader` reads a CSV or Parquet score file (or one :class:`Part` of it) in chunks and
validates every row against a manifest (the row rules are in :mod:`faceaudit._vendor`'s
docstring); :func:`cell_counts`, :func:`fold_rows` and :func:`count_requests` fold validated
chunks into the first pass, the accumulators and the recount.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._accumulate import ScoreAccumulator
from ._errors import ScoreFileError
from ._io import utf8_problem
from ._manifest import Manifest
from ._protocol import parse_label
from ._text import MAX_ID_CHARS

ON_ERROR = ("raise", "exclude")
FTA_LITERALS = frozenset({"nan", "na", "n/a", "null", "none"})

UNKNOWN_SAMPLE = "unknown_sample"
SELF_COMPARISON = "self_comparison"
NON_NUMERIC_SCORE = "non_numeric_score"
NON_FINITE_SCORE = "non_finite_score"
LABEL_CONTRADICTS_MANIFEST = "label_contradicts_manifest"
BAD_LABEL = "bad_label"
MALFORMED_LINE = "malformed_line"
"""Keys of ``ScoreSummary.exclusions`` written by :func:`read_scores`."""


@dataclass
class Rows:
    """One validated chunk: scored rows, FTA rows, in manifest indices."""

    a: np.ndarray
    b: np.ndarray
    score: np.ndarray  # NaN = FTA
    line: np.ndarray


@dataclass(frozen=True)
class Part:
    """One partition of a score file (:mod:`faceaudit._vendor_parts`): a CSV's bytes
    ``[start, end)`` (whole lines) read after its header line (``header`` bytes), its first
    line being line ``first``; or a Parquet file's row groups ``groups``, its first row being
    row ``first``."""

    first: int
    start: int = 0
    end: int = 0
    header: int = 0
    groups: tuple[int, ...] = ()

    def read(self, path: Path) -> bytes:
        """The header line and the partition's lines."""
        with open(path, "rb") as fh:
            head = fh.read(self.header)
            fh.seek(self.start)
            return head + fh.read(self.end - self.start)


class RowReader:
    """Validates rows of one score file against a manifest (shared by both passes)."""

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        score_column: str,
        label_column: str,
        higher_is_similar: bool,
        on_error: str,
        chunk_rows: int,
        part: Part | None = None,
    ) -> None:
        self.path = path
        self.part = part  # None: the whole file
        self.manifest = manifest
        self.index = pd.Index(manifest.sample_ids)
        self.subj = manifest.subject_codes
        self.score_column = score_column
        self.label_column = label_column
        self.sign = 1.0 if higher_is_similar else -1.0
        self.on_error = on_error
        self.chunk_rows = chunk_rows
        self.exclusions: Counter[str] = Counter()
        suffix = path.suffix.lower()
        self.parquet = suffix in (".parquet", ".pq")
        self.sep = "\t" if suffix == ".tsv" else ","

    # -------------------------------------------------------------- raw chunks
    def _chunks(self) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """Yield (DataFrame of str/number columns, 1-based line or row number of each row)."""
        if self.parquet:
            import pyarrow.parquet as pq

            try:
                pf = pq.ParquetFile(self.path)
            except Exception as exc:  # pyarrow raises several types for a bad file
                raise ScoreFileError(f"{self.path}: not a readable Parquet file ({exc})") from exc
            self._check_columns(list(pf.schema_arrow.names))
            groups = None if self.part is None else list(self.part.groups)
            row = 0 if self.part is None else self.part.first - 1
            for batch in pf.iter_batches(batch_size=self.chunk_rows, row_groups=groups):
                df = batch.to_pandas()
                yield df, np.arange(row + 1, row + 1 + len(df))
                row += len(df)
            return
        try:
            yield from self._csv_chunks("c", None)
        except pd.errors.ParserError as exc:
            if self.on_error == "raise":
                first = _first_malformed(self.path, self.sep)
                what = _parser_msg(exc) if first is None else (
                    f"line {first[0]} has {first[1]} field(s), the header {first[2]}")
                raise ScoreFileError(
                    f"{self.path}: malformed line ({what}); every line "
                    "needs the header's number of fields"
                ) from exc
            raise Restart from exc

    def _csv_chunks(self, engine: str, bad: Any) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        kw: dict[str, Any] = dict(
            sep=self.sep,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            chunksize=self.chunk_rows,
            engine=engine,
        )
        if bad is not None:
            kw["on_bad_lines"] = bad
        source: Any = self.path
        if self.part is not None:  # the header line, then the partition's lines
            source = io.BytesIO(self.part.read(self.path))
        try:
            reader = pd.read_csv(source, **kw)
        except pd.errors.EmptyDataError as exc:
            raise ScoreFileError(
                f"{self.path}: the file is empty; expected a header line "
                f"'sample_a,sample_b,{self.score_column}'"
            ) from exc
        line = 2 if self.part is None else self.part.first  # line 1 is the header
        with reader:
            first = True
            for df in reader:
                if first:
                    self._check_columns(list(df.columns))
                    first = False
                # the Python parser (used to skip malformed lines) reads missing trailing
                # fields as NaN where the C parser gives "": make both give ""
                yield df.fillna(""), np.arange(line, line + len(df))
                line += len(df)

    def _check_columns(self, cols: list[str]) -> None:
        need = ["sample_a", "sample_b", self.score_column]
        missing = [c for c in need if c not in cols]
        if missing:
            raise ScoreFileError(
                f"{self.path}: missing column(s) {missing}; the header is {cols} "
                f"(expected sample_a, sample_b, {self.score_column}[, label])"
            )

    def chunks(self) -> Iterator[Rows]:
        """Validated chunks (rows with errors raised or excluded and counted)."""
        try:
            yield from self._checked_chunks()
        except UnicodeDecodeError as exc:  # a whole-file problem: raised whatever on_error says
            raise ScoreFileError(f"{self.path}: {utf8_problem(self.path) or exc}") from exc

    def _checked_chunks(self) -> Iterator[Rows]:
        self.exclusions = Counter()
        done = 0  # rows (= lines after the header, blank ones included) already yielded
        try:
            for df, line in self._chunks():
                done += len(df)
                yield self._validate(df, line)
        except Restart:
            # A malformed line under on_error="exclude": the rest is read with the Python
            # parser, which can skip bad lines. The C parser failed on a chunk after `done`
            # rows it delivered, all well-formed, so the Python parser's first `done` rows are
            # those: skipped, not folded twice. Line numbers are no longer exact after a
            # skipped line (nothing is raised under "exclude").
            n_bad = [0]

            def bad(_fields: list[str]) -> None:
                n_bad[0] += 1
                return None

            for df, line in self._csv_chunks("python", bad):
                k = min(done, len(df))
                done -= k
                if k < len(df):
                    yield self._validate(df.iloc[k:], line[k:])
            self.exclusions[MALFORMED_LINE] += n_bad[0]

    def _fail(self, reason: str, mask: np.ndarray, line: np.ndarray, what: Any) -> np.ndarray:
        """Note the first bad row (raised later) or count the bad rows; returns ``~mask``."""
        if mask.any():
            if self.on_error == "raise":
                k = int(np.flatnonzero(mask)[0])
                n = int(mask.sum())
                msg = what(k) if callable(what) else what
                more = f" (and {n - 1} more such rows in this chunk)" if n > 1 else ""
                self._pending.append((int(line[k]), f"{msg}{more}"))
            else:
                self.exclusions[reason] += int(mask.sum())
        return ~mask

    def _raise_first(self) -> None:
        if self._pending:
            at, msg = min(self._pending)
            where = "row" if self.parquet else "line"
            raise ScoreFileError(
                f"{self.path}: {where} {at}: {msg}; fix the file or pass on_error='exclude' "
                "to count and skip such rows"
            )

    def _validate(self, df: pd.DataFrame, line: np.ndarray) -> Rows:
        self._pending: list[tuple[int, str]] = []
        rows = self._validate_rows(df, line)
        self._raise_first()
        return rows

    def _fail_too_long(self, df: pd.DataFrame, line: np.ndarray) -> np.ndarray:
        """Rows with no field over :data:`MAX_ID_CHARS` (the others raised or excluded)."""
        too_long = np.zeros(len(df), bool)
        long_col = np.full(len(df), "", dtype=object)
        for c in df.columns:
            if not pd.api.types.is_numeric_dtype(df[c].dtype):
                n = df[c].map(lambda v: len(v) if isinstance(v, str) else 0).to_numpy(np.int64)
                hit = (n > MAX_ID_CHARS) & ~too_long
                long_col[hit] = str(c)
                too_long |= hit
        return self._fail(
            MALFORMED_LINE,
            too_long,
            line,
            lambda k: (
                f"field {long_col[k]!r} is {len(str(df[long_col[k]].iloc[k])):,} characters long "
                f"(at most {MAX_ID_CHARS:,}); often an unclosed quote that joins lines"
            ),
        )

    def _validate_rows(self, df: pd.DataFrame, line: np.ndarray) -> Rows:
        need = ["sample_a", "sample_b", self.score_column]
        if self.parquet:
            empty = df[need].isna().to_numpy()
            empty[:, 2] = False  # a null score is a failure to acquire
        else:
            # with dtype=str and keep_default_na=False, a missing field reads as ""
            empty = np.column_stack([(df[c].str.strip() == "").to_numpy() for c in need])
            blank = np.all([(df[c].str.strip() == "").to_numpy() for c in df.columns], axis=0)
            df, line, empty = df[~blank], line[~blank], empty[~blank]  # blank lines are skipped
        short = empty.any(axis=1)
        ok = self._fail(
            MALFORMED_LINE,
            short,
            line,
            "missing sample_a, sample_b or score (write nan for a failure to acquire)",
        )
        df, line = df[ok], line[ok]
        ok = self._fail_too_long(df, line)
        df, line = df[ok], line[ok]
        ids_a = df["sample_a"].astype(str).str.strip().to_numpy()
        ids_b = df["sample_b"].astype(str).str.strip().to_numpy()
        a = self.index.get_indexer(ids_a).astype(np.int64)
        b = self.index.get_indexer(ids_b).astype(np.int64)
        unknown = (a < 0) | (b < 0)
        ok = self._fail(
            UNKNOWN_SAMPLE,
            unknown,
            line,
            lambda k: (
                f"unknown sample id {ids_a[k] if a[k] < 0 else ids_b[k]!r} "
                f"(not in the manifest {self.manifest.source})"
            ),
        )
        same = ok & (a == b)
        ok &= self._fail(
            SELF_COMPARISON, same, line, lambda k: f"sample {ids_a[k]!r} is compared with itself"
        )
        # scores
        col = df[self.score_column]
        if pd.api.types.is_numeric_dtype(col.dtype):
            score = col.to_numpy(dtype=np.float64)
            nonnum = np.zeros(len(score), bool)
        else:
            text = col.astype(str).str.strip()
            is_fta = text.str.lower().isin(FTA_LITERALS).to_numpy()
            score = pd.to_numeric(text.where(~is_fta, "nan"), errors="coerce").to_numpy(np.float64)
            nonnum = np.isnan(score) & ~is_fta
        ok &= self._fail(
            NON_NUMERIC_SCORE,
            ok & nonnum,
            line,
            lambda k: f"score {str(col.iloc[k])!r} is not a number",
        )
        inf = ok & np.isinf(score)
        ok &= self._fail(
            NON_FINITE_SCORE, inf, line, lambda k: f"score {str(col.iloc[k])!r} is infinite"
        )
        # labels
        if self.label_column in df.columns:
            labels = df[self.label_column].to_numpy()
            parsed = np.array(
                [parse_label(v) if o else None for v, o in zip(labels, ok, strict=True)],
                dtype=object,
            )
            bad_label = ok & np.array([p is None for p in parsed], bool)
            ok &= self._fail(
                BAD_LABEL,
                bad_label,
                line,
                lambda k: f"label {labels[k]!r} is not 1/0/-1 or genuine/impostor",
            )
            mated = np.zeros(len(a), bool)
            mated[ok] = self.subj[a[ok]] == self.subj[b[ok]]
            claimed = np.array([bool(p) if p is not None else False for p in parsed], bool)
            contra = ok & (claimed != mated)
            ok &= self._fail(
                LABEL_CONTRADICTS_MANIFEST,
                contra,
                line,
                lambda k: (
                    f"labelled {'genuine' if claimed[k] else 'impostor'} but the manifest says "
                    f"{ids_a[k]!r} and {ids_b[k]!r} are "
                    f"{'the same subject' if mated[k] else 'different subjects'}"
                ),
            )
        return Rows(a[ok], b[ok], self.sign * score[ok], line[ok])


class Restart(Exception):
    """Internal: re-read a CSV with the Python parser to skip malformed lines."""


def _first_malformed(path: Path, sep: str) -> tuple[int, int, int] | None:
    """``(line, fields, header fields)`` of the first line whose number of fields differs
    from the header's (blank lines skipped), or None. The C parser names the first line with
    *too many* fields; a shorter line before it is the first malformed one."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = csv.reader(fh, delimiter=sep)
        header = next(rows, None)
        if header is None:
            return None
        for row in rows:
            if row and len(row) != len(header):
                return rows.line_num, len(row), len(header)
    return None


def _parser_msg(exc: Exception) -> str:
    msg = str(exc)
    return msg.split("C error: ")[-1].strip() if "C error: " in msg else msg


def cell_counts(rows: Rows, g: np.ndarray, subj: np.ndarray, n_imp: np.ndarray, lo: float,
                hi: float) -> tuple[float, float]:
    """Pass 1 on a chunk: impostor comparisons added to ``n_imp`` per cell; the running score
    range ``(lo, hi)`` widened by the chunk's finite scores."""
    fin = ~np.isnan(rows.score)
    if fin.any():
        lo = min(lo, float(rows.score[fin].min()))
        hi = max(hi, float(rows.score[fin].max()))
    imp = fin & (subj[rows.a] != subj[rows.b])
    ci, cj = (np.minimum(g[rows.a[imp]], g[rows.b[imp]]),
              np.maximum(g[rows.a[imp]], g[rows.b[imp]]))
    np.add.at(n_imp, (ci, cj), 1)
    return lo, hi


def fold_rows(
    acc: ScoreAccumulator,
    rows: Rows,
    g: np.ndarray,
    subj: np.ndarray,
    gen_fta: np.ndarray,
    imp_fta: np.ndarray,
) -> None:
    """Fold validated rows into ``acc``; NaN scores are counted as FTA per cell instead."""
    a, b = np.minimum(rows.a, rows.b), np.maximum(rows.a, rows.b)
    ci, cj = np.minimum(g[a], g[b]), np.maximum(g[a], g[b])
    mated = subj[a] == subj[b]
    nan = np.isnan(rows.score)
    np.add.at(gen_fta, (ci[nan & mated], cj[nan & mated]), 1)
    np.add.at(imp_fta, (ci[nan & ~mated], cj[nan & ~mated]), 1)
    ok = ~nan
    acc.add(rows.score[ok], a[ok], b[ok], ci[ok], cj[ok], mated[ok])


def count_requests(rows: Rows, g: np.ndarray, subj: np.ndarray, requests: list[Any],
                   counts: dict[Any, int], n_imp: np.ndarray) -> None:
    """The recount on a chunk: impostor scores in each request's ``[t, upper)`` added to
    ``counts``, impostor comparisons to ``n_imp`` per cell."""
    a, b = np.minimum(rows.a, rows.b), np.maximum(rows.a, rows.b)
    keep = ~np.isnan(rows.score) & (subj[a] != subj[b])
    s, ci, cj = rows.score[keep], np.minimum(g[a], g[b])[keep], np.maximum(g[a], g[b])[keep]
    np.add.at(n_imp, (ci, cj), 1)
    for r in requests:
        counts[r.key] += int(((ci == r.g) & (cj == r.h) & (s >= r.t) & (s < r.upper)).sum())
