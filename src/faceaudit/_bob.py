"""bob.measure score files (2- and 4-column text) -> a one-group :class:`~faceaudit.ScoreSummary`.

The same accumulators as the vendor reader (:mod:`faceaudit._vendor`): rows become
comparisons of synthetic samples, a ``nan`` score is a failure to acquire. See
:func:`read_bob_scores` for the formats.
"""

from __future__ import annotations

import io
from pathlib import Path

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
from ._errors import ScoreFileError
from ._io import open_regular, utf8_problem
from ._manifest import Manifest
from ._score_rows import Rows, fold_rows
from ._summary import ScoreSummary, sample_fields
from ._text import MAX_ID_CHARS
from ._vendor import score_file

BOB_MAX_LINE = 4 * MAX_ID_CHARS + 100
"""Longest line of a bob score file that is read (4 fields of at most ``MAX_ID_CHARS``)."""


def _bob_fields(path: Path) -> tuple[list[int], list[list[str]]]:
    """Line numbers and whitespace-split fields of the data lines (checked widths and lengths)."""
    lines: list[int] = []
    fields: list[list[str]] = []
    width = None
    # a byte-order mark is allowed; open_regular: never a FIFO swapped in since the check
    with io.TextIOWrapper(open_regular(path), encoding="utf-8-sig") as fh:
        for k, raw in enumerate(iter(lambda: fh.readline(BOB_MAX_LINE + 1), ""), start=1):
            if len(raw) > BOB_MAX_LINE:
                raise ScoreFileError(
                    f"{path}: line {k} is longer than {BOB_MAX_LINE:,} characters; a bob "
                    "score file has short lines of 2 or 4 fields (is this a binary file?)"
                )
            parts = raw.split()
            if not parts or parts[0].startswith("#"):
                continue
            if width is None:
                width = len(parts)
                if width not in (2, 4):
                    raise ScoreFileError(
                        f"{path}: line {k}: {width} fields; a bob score file has 2 "
                        "(label score) or 4 (claimed_id real_id test_label score)"
                    )
            elif len(parts) != width:
                raise ScoreFileError(
                    f"{path}: line {k}: {len(parts)} fields, expected {width} like the first line"
                )
            longest = max(parts, key=len)
            if len(longest) > MAX_ID_CHARS:
                raise ScoreFileError(
                    f"{path}: line {k}: field {parts.index(longest) + 1} is "
                    f"{len(longest):,} characters long (at most {MAX_ID_CHARS:,})"
                )
            lines.append(k)
            fields.append(parts)
    return lines, fields


def _bob_columns(path: Path) -> tuple[np.ndarray, list[tuple[str, ...]], np.ndarray]:
    """Line numbers, columns and scores (NaN = FTA) of a bob score file."""
    try:
        lines, fields = _bob_fields(path)
    except UnicodeDecodeError as exc:
        raise ScoreFileError(f"{path}: {utf8_problem(path) or exc}") from exc
    if not fields:
        raise ScoreFileError(f"{path}: no scores in the file")
    line = np.asarray(lines)
    cols = list(zip(*fields, strict=True))
    text = np.asarray(cols[-1])
    score = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(np.float64)
    bad = np.isnan(score) & (np.char.lower(text.astype(str)) != "nan")
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ScoreFileError(f"{path}: line {line[k]}: score {str(text[k])!r} is not a number")
    if np.isinf(score).any():
        k = int(np.flatnonzero(np.isinf(score))[0])
        raise ScoreFileError(f"{path}: line {line[k]}: score {str(text[k])!r} is infinite")
    return line, cols, score


def _bob_two_columns(
    path: Path, line: np.ndarray, lab: np.ndarray
) -> tuple[Manifest, np.ndarray, np.ndarray]:
    """Two synthetic samples per ``label score`` line (see :func:`read_bob_scores`)."""
    n = len(line)
    is_gen = np.isin(lab, ("1", "+1", "1.0"))
    is_imp = np.isin(lab, ("-1", "0", "-1.0", "0.0"))
    if not (is_gen | is_imp).all():
        k = int(np.flatnonzero(~(is_gen | is_imp))[0])
        raise ScoreFileError(
            f"{path}: line {line[k]}: label {str(lab[k])!r} must be 1 (genuine) "
            "or -1/0 (impostor)"
        )
    tag = np.char.add("L", line.astype(str))
    sid = np.empty(2 * n, dtype=object)
    sid[0::2] = np.char.add(tag, ":a")
    sid[1::2] = np.char.add(tag, ":b")
    subj = sid.copy()
    subj[0::2] = np.where(is_gen, tag, sid[0::2])
    subj[1::2] = np.where(is_gen, tag, sid[1::2])
    a = np.arange(0, 2 * n, 2)
    b = a + 1
    manifest = Manifest(
        pd.DataFrame({"sample_id": sid.astype(str), "subject_id": subj.astype(str)}),
        source=str(path),
    )
    return manifest, a, b


def _bob_four_columns(
    path: Path, line: np.ndarray, cols: list[tuple[str, ...]]
) -> tuple[Manifest, np.ndarray, np.ndarray]:
    """Model and probe samples of ``claimed_id real_id test_label score`` lines."""
    claimed, real, probe = (np.asarray(c, dtype=str) for c in cols[:3])
    models, m_idx = np.unique(claimed, return_inverse=True)
    probes, first, p_idx = np.unique(probe, return_index=True, return_inverse=True)
    p_subject = real[first]
    clash = real != p_subject[p_idx]
    if clash.any():
        k = int(np.flatnonzero(clash)[0])
        raise ScoreFileError(
            f"{path}: line {line[k]}: probe {str(probe[k])!r} has real_id {str(real[k])!r} "
            f"but real_id {str(p_subject[p_idx[k]])!r} on line {line[first[p_idx[k]]]}"
        )
    sid = np.r_[np.char.add("model:", models), np.char.add("probe:", probes)]
    subj = np.r_[models, p_subject]
    manifest = Manifest(pd.DataFrame({"sample_id": sid, "subject_id": subj}), source=str(path))
    a = m_idx.astype(np.int64)
    b = len(models) + p_idx.astype(np.int64)
    return manifest, a, b


def read_bob_scores(
    path: str | Path,
    *,
    exact_fmr: float = EXACT_FMR,
    min_exact: int = DEFAULT_MIN_EXACT,
    n_bins: int = DEFAULT_N_BINS,
) -> ScoreSummary:
    """Read a bob.measure score file (2- or 4-column text) into a one-group ScoreSummary.

    Formats (whitespace-separated, one comparison per line):

    2 columns ``label score``
        label ``1`` = genuine, ``-1`` or ``0`` = impostor. There are no sample ids, so each
        line ``L`` gets two synthetic samples ``"L<L>:a"`` and ``"L<L>:b"``; on a genuine line
        both belong to subject ``"L<L>"``, on an impostor line to subjects ``"L<L>:a"`` and
        ``"L<L>:b"``. The summary therefore has ``2 × lines`` samples and one comparison per
        line, with the line's label.
    4 columns ``claimed_id real_id test_label score``
        genuine iff ``claimed_id == real_id``. Samples are ``"model:<claimed_id>"`` (subject
        ``claimed_id``) and ``"probe:<test_label>"`` (subject ``real_id``; a probe label seen
        with two different ``real_id`` values is an error).

    A ``nan`` score is a failure to acquire, counted in ``genuine_fta`` / ``impostor_fta``
    (bob's FTA = NaN rows / all rows of a set). Everything is in the group ``"all"``.

    Raises
    ------
    ScoreFileError
        Naming the file and line: wrong number of fields, a bad label, a non-numeric score.
    """
    path = score_file(path)
    check_n_bins(n_bins)
    line, cols, score = _bob_columns(path)
    if len(cols) == 2:
        manifest, a, b = _bob_two_columns(path, line, np.asarray(cols[0]))
        fmt = "bob-2col"
    else:
        manifest, a, b = _bob_four_columns(path, line, cols)
        fmt = "bob-4col"
    ga = manifest.groups(None)
    g = ga.codes.astype(np.int64)
    sc = manifest.subject_codes
    fin = ~np.isnan(score)
    mated = sc[a] == sc[b]
    lo = float(score[fin].min()) if fin.any() else -1.0
    hi = float(score[fin].max()) if fin.any() else 1.0
    binning = binning_for_range(lo, hi, int(n_bins))
    n_imp = np.zeros((1, 1), np.int64)
    n_imp[0, 0] = int((fin & ~mated).sum())
    acc = ScoreAccumulator(1, binning, tail_capacity(n_imp, exact_fmr, min_exact))
    gen_fta = np.zeros((1, 1), np.int64)
    imp_fta = np.zeros((1, 1), np.int64)
    fold_rows(
        acc, Rows(a.astype(np.int64), b.astype(np.int64), score, line), g, sc, gen_fta, imp_fta
    )
    common = sample_fields(
        manifest, ga, enrolled=np.ones(len(manifest), bool), similarity="vendor",
        model_id=path.stem,
    )
    protocol = {
        "source": fmt,
        "file": str(path),
        "exact_fmr": float(exact_fmr),
        "min_exact": int(min_exact),
        "n_bins": int(n_bins),
        "hist_range": [binning.lo, binning.hi],
    }
    return acc.summary(common, gen_fta, imp_fta, exact_fmr, min_exact, protocol)
