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

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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
from ._io import check_input_file, utf8_problem
from ._manifest import Grouping, Manifest
from ._protocol import parse_label
from ._recount import RecountState, apply_recount, plan_requests
from ._summary import ScoreSummary, sample_fields
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


class _Reader:
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
    ) -> None:
        self.path = path
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
            row = 0
            for batch in pf.iter_batches(batch_size=self.chunk_rows):
                df = batch.to_pandas()
                yield df, np.arange(row + 1, row + 1 + len(df))
                row += len(df)
            return
        try:
            yield from self._csv_chunks("c", None)
        except pd.errors.ParserError as exc:
            if self.on_error == "raise":
                raise ScoreFileError(
                    f"{self.path}: malformed line ({_parser_msg(exc)}); every line "
                    "needs the header's number of fields"
                ) from exc
            raise _Restart from exc

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
        try:
            reader = pd.read_csv(self.path, **kw)
        except pd.errors.EmptyDataError as exc:
            raise ScoreFileError(
                f"{self.path}: the file is empty; expected a header line "
                f"'sample_a,sample_b,{self.score_column}'"
            ) from exc
        line = 2  # line 1 is the header
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
        try:
            for df, line in self._chunks():
                yield self._validate(df, line)
        except _Restart:
            # A malformed line under on_error="exclude": re-read with the Python parser, which
            # can skip bad lines; line numbers are no longer reported (nothing is raised).
            self.exclusions = Counter()
            n_bad = [0]

            def bad(_fields: list[str]) -> None:
                n_bad[0] += 1
                return None

            for df, line in self._csv_chunks("python", bad):
                yield self._validate(df, line)
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


def score_file(source: str | Path) -> Path:
    """``source`` as a Path, if it is a regular file (a pipe cannot be read twice)."""
    return check_input_file(
        source, "score", ScoreFileError,
        " (score files are read twice); save the scores to a file first",
    )


class _Restart(Exception):
    """Internal: re-read a CSV with the Python parser to skip malformed lines."""


def _parser_msg(exc: Exception) -> str:
    msg = str(exc)
    return msg.split("C error: ")[-1].strip() if "C error: " in msg else msg


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
    reader = _Reader(
        path, manifest, score_column, label_column, higher_is_similar, on_error, int(chunk_rows)
    )
    # pass 1: range and per-cell impostor counts
    lo, hi = math.inf, -math.inf
    n_imp = np.zeros((n_groups, n_groups), np.int64)
    for rows in reader.chunks():
        fin = ~np.isnan(rows.score)
        if fin.any():
            lo = min(lo, float(rows.score[fin].min()))
            hi = max(hi, float(rows.score[fin].max()))
        imp = fin & (subj[rows.a] != subj[rows.b])
        ci, cj = (
            np.minimum(g[rows.a[imp]], g[rows.b[imp]]),
            np.maximum(g[rows.a[imp]], g[rows.b[imp]]),
        )
        np.add.at(n_imp, (ci, cj), 1)
    binning = binning_for_range(lo, hi, int(n_bins))
    caps = tail_capacity(n_imp, exact_fmr, min_exact)
    acc = ScoreAccumulator(n_groups, binning, caps)
    gen_fta = np.zeros((n_groups, n_groups), np.int64)
    imp_fta = np.zeros((n_groups, n_groups), np.int64)
    for rows in reader.chunks():
        fold_rows(acc, rows, g, subj, gen_fta, imp_fta)
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
    return acc.summary(
        common, gen_fta, imp_fta, exact_fmr, min_exact, protocol, dict(reader.exclusions)
    )


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
) -> ScoreSummary:
    """Second pass over a vendor score file: ``summary`` (from :func:`read_scores` on the same
    file, manifest and options) with every impostor count at ``thresholds`` made exact.

    The file is read again, chunk by chunk, and only counts are kept (one integer per cell
    and threshold; :mod:`faceaudit._recount`). A file that changed since the first pass
    (other impostor counts per cell) is a :class:`ScoreFileError`. A stream that cannot be
    read twice cannot be recounted: its counts inside histogram bins stay bounds
    (``exact`` false), as :func:`read_scores` left them.
    """
    requests = plan_requests(summary, thresholds)
    if not requests:
        return summary
    path = score_file(source)
    g = summary.group_codes.astype(np.int64)
    subj = summary.subject_codes
    reader = _Reader(path, manifest, score_column, label_column, higher_is_similar, on_error,
                     int(chunk_rows))
    n_groups = summary.n_groups
    n_imp = np.zeros((n_groups, n_groups), np.int64)
    state = RecountState({r.key: 0 for r in requests})
    for rows in reader.chunks():
        a, b = np.minimum(rows.a, rows.b), np.maximum(rows.a, rows.b)
        keep = ~np.isnan(rows.score) & (subj[a] != subj[b])
        s, ci, cj = rows.score[keep], np.minimum(g[a], g[b])[keep], np.maximum(g[a], g[b])[keep]
        np.add.at(n_imp, (ci, cj), 1)
        for r in requests:
            state.counts[r.key] += int(((ci == r.g) & (cj == r.h) & (s >= r.t)
                                        & (s < r.upper)).sum())
    if not np.array_equal(np.triu(n_imp), np.triu(summary.impostor_total)):
        raise ScoreFileError(f"{path}: the file's impostor comparisons differ from the first "
                             "pass (was it changed?); read it again with read_scores")
    return apply_recount(summary, requests, state)
