"""The comparison protocol: which pairs of samples are compared, and how many there are.

Definitions (all indices are manifest row indices):

- a **genuine** (mated) pair is an unordered pair ``{a, b}``, ``a != b``, of samples of the same
  subject; it is listed once, as ``a < b``;
- an **impostor** (non-mated) pair is an unordered pair of samples of different subjects;
- the **cell** of a pair is ``(min(g_a, g_b), max(g_a, g_b))`` where ``g`` are the group codes.

Impostor modes (``impostors=``):

``"all"``
    every cross-subject pair is compared; every cell ``i <= j`` is filled.
``"matched"``
    only impostor pairs whose two samples are in the same group (NIST FRVT's *demographically
    matched* impostors): off-diagonal cells hold no impostor scores (and no impostor FTA).
    Genuine pairs are always all compared, also when a subject's samples fall in different
    groups (e.g. age bins), so genuine results do not depend on the impostor mode.

Closed-form counts (:func:`pair_counts`): with :math:`m_{s,g}` the number of samples of subject
:math:`s` in group :math:`g` and :math:`n_g = \\sum_s m_{s,g}`,

.. math::

    \\mathrm{gen}(g, h) = \\sum_s m_{s,g}\\, m_{s,h} \\quad (g < h), \\qquad
    \\mathrm{gen}(g, g) = \\sum_s \\binom{m_{s,g}}{2},

    \\mathrm{imp}(g, h) = n_g n_h - \\mathrm{gen}(g, h) \\quad (g < h), \\qquad
    \\mathrm{imp}(g, g) = \\binom{n_g}{2} - \\mathrm{gen}(g, g).

Failures to acquire: a pair involving a sample that failed to enrol cannot be compared. Its
count per cell is the closed-form count over all samples minus the count over the enrolled
samples (:func:`fta_counts`).

Impostor sampling (:func:`sample_impostor_pairs`): for a cell with more than ``m`` impostor
pairs, exactly ``m`` of them are drawn **uniformly without replacement** among all the cell's
impostor pairs (enrolled or not), with a generator seeded by ``(seed, i, j)`` so that the draw
of one cell does not depend on the other cells. Pairs drawn that involve a failed sample are
counted as FTA; the others are scored and kept exactly (no histogram).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._errors import ConfigError, InputError, check_option

IMPOSTOR_MODES = ("all", "matched")

_GENUINE_LABELS = {
    "1": True,
    "1.0": True,
    "true": True,
    "genuine": True,
    "mated": True,
    "same": True,
    "0": False,
    "0.0": False,
    "-1": False,
    "-1.0": False,
    "false": False,
    "impostor": False,
    "non-mated": False,
    "nonmated": False,
    "different": False,
}


# ---------------------------------------------------------------------------- counting
@dataclass(frozen=True)
class PairCounts:
    """Number of genuine and impostor pairs per cell (``(G, G)`` int64, upper triangle)."""

    genuine: np.ndarray
    impostor: np.ndarray


def _membership(
    subject_codes: np.ndarray, group_codes: np.ndarray, n_groups: int, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(M^T M, n)``: the (G, G) co-occurrence of groups within subjects and group sizes."""
    from scipy import sparse

    s = np.asarray(subject_codes, dtype=np.int64)
    g = np.asarray(group_codes, dtype=np.int64)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        s, g = s[m], g[m]
    n_subj = int(s.max()) + 1 if len(s) else 1
    mat = sparse.csr_matrix((np.ones(len(s), np.int64), (s, g)), shape=(n_subj, n_groups))
    mtm = np.asarray((mat.T @ mat).toarray(), dtype=np.int64)
    n = np.bincount(g, minlength=n_groups).astype(np.int64)
    return mtm, n


def pair_counts(
    subject_codes: np.ndarray,
    group_codes: np.ndarray,
    n_groups: int,
    *,
    mask: np.ndarray | None = None,
    impostors: str = "all",
) -> PairCounts:
    """Closed-form number of genuine and impostor pairs per cell (see the module docstring).

    Parameters
    ----------
    subject_codes, group_codes : ndarray of int, shape (n,)
    n_groups : int
    mask : ndarray of bool, shape (n,), optional
        Count only pairs of samples where ``mask`` is True (e.g. the enrolled ones).
    impostors : {"all", "matched"}
        With ``"matched"`` the off-diagonal impostor counts are 0 (those pairs are not compared).

    Returns
    -------
    PairCounts
        ``genuine[i, j]`` and ``impostor[i, j]`` for ``i <= j``; zeros below the diagonal.

    Examples
    --------
    Two subjects with two samples each, all in one group: 2 genuine and 4 impostor pairs.

    >>> c = pair_counts(np.array([0, 0, 1, 1]), np.zeros(4, int), 1)
    >>> int(c.genuine[0, 0]), int(c.impostor[0, 0])
    (2, 4)
    """
    check_option("impostors", impostors, IMPOSTOR_MODES)
    mtm, n = _membership(subject_codes, group_codes, n_groups, mask)
    gen = np.triu(mtm, 1)
    diag = (np.diag(mtm) - n) // 2
    gen[np.diag_indices(n_groups)] = diag
    tot = np.triu(np.outer(n, n), 1)
    tot[np.diag_indices(n_groups)] = n * (n - 1) // 2
    imp = tot - gen
    if impostors == "matched":
        imp = np.diag(np.diag(imp))
    return PairCounts(gen.astype(np.int64), imp.astype(np.int64))


def fta_counts(
    subject_codes: np.ndarray,
    group_codes: np.ndarray,
    n_groups: int,
    enrolled: np.ndarray,
    *,
    impostors: str = "all",
) -> PairCounts:
    """Pairs per cell that involve at least one sample that failed to enrol (not compared)."""
    every = pair_counts(subject_codes, group_codes, n_groups, impostors=impostors)
    ok = pair_counts(subject_codes, group_codes, n_groups, mask=enrolled, impostors=impostors)
    return PairCounts(every.genuine - ok.genuine, every.impostor - ok.impostor)


def genuine_pairs(
    subject_codes: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every genuine pair ``(a, b)``, ``a < b``, among the samples where ``mask`` is True.

    Returns two int64 arrays sorted by ``(a, b)``.

    >>> genuine_pairs(np.array([0, 1, 0, 0]))
    (array([0, 0, 2]), array([2, 3, 3]))
    """
    s = np.asarray(subject_codes, dtype=np.int64)
    idx = np.arange(len(s), dtype=np.int64)
    if mask is not None:
        idx = idx[np.asarray(mask, dtype=bool)]
    a, b = genuine_pairs_sorted(s[idx])
    a, b = idx[a], idx[b]
    o = np.lexsort((b, a))
    return a[o], b[o]


def genuine_pairs_sorted(subjects_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Genuine pairs ``(i, j)``, ``i < j``, of positions of ``subjects_sorted`` (any order;
    the name reflects its use on a :class:`Layout`). Pairs come out sorted by ``(i, j)``."""
    s = np.asarray(subjects_sorted)
    n = len(s)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # Within a run of a stable-sorted copy, order by position so pairs are (i, j), i < j.
    order = np.argsort(s, kind="stable")
    ss = s[order]
    new = np.r_[True, ss[1:] != ss[:-1]]
    start = np.flatnonzero(new)
    run_end = np.r_[start[1:], n]
    length = run_end - start
    pos_run_end = np.repeat(run_end, length)
    p = np.arange(n, dtype=np.int64)
    cnt = pos_run_end - 1 - p
    total = int(cnt.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ii = np.repeat(p, cnt)
    offs = np.repeat(np.cumsum(cnt) - cnt, cnt)
    jj = ii + 1 + (np.arange(total, dtype=np.int64) - offs)
    a, b = order[ii].astype(np.int64), order[jj].astype(np.int64)
    a, b = np.minimum(a, b), np.maximum(a, b)
    o = np.lexsort((b, a))
    return a[o], b[o]


# ---------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class Layout:
    """Enrolled samples sorted by ``(group, subject, row)`` so that each group is a contiguous
    block and each subject a contiguous run inside it.

    Attributes
    ----------
    order : ndarray of int64
        ``order[p]`` is the manifest row at sorted position ``p``.
    bounds : ndarray of int64, shape (G + 1,)
        Group ``g`` occupies sorted positions ``bounds[g]:bounds[g + 1]``.
    subjects, groups : ndarray of int64
        Subject and group code at each sorted position.
    """

    order: np.ndarray
    bounds: np.ndarray
    subjects: np.ndarray
    groups: np.ndarray


def sorted_layout(
    subject_codes: np.ndarray, group_codes: np.ndarray, n_groups: int, enrolled: np.ndarray
) -> Layout:
    """Sort the enrolled samples by ``(group, subject, row)`` (see :class:`Layout`)."""
    idx = np.flatnonzero(np.asarray(enrolled, dtype=bool)).astype(np.int64)
    s = np.asarray(subject_codes, dtype=np.int64)[idx]
    g = np.asarray(group_codes, dtype=np.int64)[idx]
    o = np.lexsort((idx, s, g))
    order, s, g = idx[o], s[o], g[o]
    bounds = np.searchsorted(g, np.arange(n_groups + 1)).astype(np.int64)
    return Layout(order, bounds, s, g)


# ---------------------------------------------------------------------------- sampling
def sample_impostor_pairs(
    members_g: np.ndarray,
    members_h: np.ndarray | None,
    subject_codes: np.ndarray,
    m: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``m`` impostor pairs of one cell uniformly without replacement.

    Parameters
    ----------
    members_g, members_h : ndarray of int64
        Manifest rows of the cell's two groups; ``members_h=None`` for a diagonal cell.
    subject_codes : ndarray of int
        Subject of every manifest row.
    m : int
        Number of pairs wanted; must not exceed the cell's impostor pairs.
    rng : numpy Generator

    Returns
    -------
    a, b : ndarray of int64
        ``a < b``, sorted by ``(a, b)``.

    Notes
    -----
    Positions of the ``n_g × n_h`` rectangle (``n_g × n_g`` for a diagonal cell) are drawn
    uniformly without replacement in random order; a position is *accepted* when it is an
    impostor pair (different subjects) and, on the diagonal, lies above it (each unordered pair
    owns exactly one such position). The first ``m`` accepted positions in draw order are a
    uniform sample without replacement of the cell's impostor pairs.
    """
    diag = members_h is None
    mg = np.asarray(members_g, dtype=np.int64)
    mh = mg if diag else np.asarray(members_h, dtype=np.int64)
    subj = np.asarray(subject_codes)
    n_rect = len(mg) * len(mh)
    if m <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    draw = min(n_rect, int(m * 2.5) + 64 if diag else int(m * 1.25) + 64)
    while True:
        pos = rng.choice(n_rect, size=draw, replace=False, shuffle=True)
        i, j = pos // len(mh), pos % len(mh)
        ok = subj[mg[i]] != subj[mh[j]]
        if diag:
            ok &= i < j
        acc = np.flatnonzero(ok)
        if len(acc) >= m or draw == n_rect:
            break
        draw = min(n_rect, draw * 2)
    if len(acc) < m:
        raise ConfigError(f"cannot sample {m} impostor pairs from a cell with {len(acc)}")
    acc = acc[:m]
    a, b = mg[i[acc]], mh[j[acc]]
    a, b = np.minimum(a, b), np.maximum(a, b)
    o = np.lexsort((b, a))
    return a[o], b[o]


# ---------------------------------------------------------------------------- explicit pairs
@dataclass(frozen=True)
class PairList:
    """An explicit list of comparisons, resolved against a manifest.

    Attributes
    ----------
    a, b : ndarray of int64
        Manifest rows of the two samples of each comparison (in the order given).
    mated : ndarray of bool
        Same subject per the manifest.
    fold : ndarray of int64 or None
        The fold of each pair when the input had one.
    """

    a: np.ndarray
    b: np.ndarray
    mated: np.ndarray
    fold: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.a)


def parse_label(value: Any) -> bool | None:
    """``True`` for a genuine label (1, genuine, mated, same, true), ``False`` for an impostor
    label (0, -1, impostor, non-mated, different, false), ``None`` if unrecognised."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return _GENUINE_LABELS.get(str(value).strip().lower())


def resolve_pairs(
    pairs: pd.DataFrame | Sequence[Sequence[Any]] | tuple[np.ndarray, np.ndarray],
    sample_ids: np.ndarray,
    subject_codes: np.ndarray,
    *,
    source: str = "<pairs>",
) -> PairList:
    """Resolve sample-id pairs (LFW ``pairs.txt`` style) against a manifest.

    Parameters
    ----------
    pairs : DataFrame with columns ``sample_a, sample_b`` and optional ``label`` (or
        ``mated``) and ``fold``; or a sequence of ``(sample_a, sample_b[, label])`` rows; or a
        tuple of two arrays of sample ids.
    sample_ids, subject_codes : the manifest's sample ids and subject codes.
    source : str
        Named in error messages.

    Raises
    ------
    InputError
        Naming the 1-based row: an unknown sample id, a sample paired with itself, an
        unrecognised label, or a label that contradicts the manifest's subjects.
    """
    if isinstance(pairs, pd.DataFrame):
        df = pairs.reset_index(drop=True)
    elif (
        isinstance(pairs, tuple)
        and len(pairs) == 2
        and all(isinstance(p, np.ndarray) for p in pairs)
    ):
        df = pd.DataFrame({"sample_a": pairs[0], "sample_b": pairs[1]})
    else:
        rows = [list(r) for r in pairs]
        width = {len(r) for r in rows}
        if len(width) > 1 or (width and next(iter(width)) not in (2, 3)):
            raise InputError(f"{source}: pairs must be rows of (sample_a, sample_b[, label])")
        cols = ["sample_a", "sample_b", "label"][: (next(iter(width)) if width else 2)]
        df = pd.DataFrame(rows, columns=cols)
    for c in ("sample_a", "sample_b"):
        if c not in df.columns:
            raise InputError(
                f"{source}: pairs need columns 'sample_a' and 'sample_b'; got {list(df.columns)}"
            )
    label_col = "label" if "label" in df.columns else ("mated" if "mated" in df.columns else None)
    pos = pd.Index(np.asarray(sample_ids, dtype=str))
    ids_a = df["sample_a"].astype(str).str.strip().to_numpy()
    ids_b = df["sample_b"].astype(str).str.strip().to_numpy()
    a = pos.get_indexer(ids_a).astype(np.int64)
    b = pos.get_indexer(ids_b).astype(np.int64)
    for arr, ids, col in ((a, ids_a, "sample_a"), (b, ids_b, "sample_b")):
        bad = np.flatnonzero(arr < 0)
        if len(bad):
            raise InputError(
                f"{source}: row {bad[0] + 1}: unknown {col} {ids[bad[0]]!r} (not in the "
                f"manifest){f'; {len(bad) - 1} more rows like it' if len(bad) > 1 else ''}"
            )
    same = np.flatnonzero(a == b)
    if len(same):
        raise InputError(
            f"{source}: row {same[0] + 1}: sample {ids_a[same[0]]!r} is paired with "
            "itself; a comparison needs two different samples"
        )
    subj = np.asarray(subject_codes)
    mated = subj[a] == subj[b]
    if label_col is not None:
        labels = [parse_label(v) for v in df[label_col]]
        for k, (lab, m) in enumerate(zip(labels, mated, strict=True)):
            if lab is None:
                raise InputError(
                    f"{source}: row {k + 1}: {label_col} {df[label_col].iloc[k]!r} is not "
                    "a genuine/impostor label (1/0, genuine/impostor)"
                )
            if lab != bool(m):
                raise InputError(
                    f"{source}: row {k + 1}: labelled {'genuine' if lab else 'impostor'} but the "
                    f"manifest says {ids_a[k]!r} and {ids_b[k]!r} are "
                    f"{'the same subject' if m else 'different subjects'}; "
                    "fix the label or the manifest"
                )
    fold = None
    if "fold" in df.columns:
        try:
            fold = df["fold"].to_numpy(dtype=np.int64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{source}: the 'fold' column must hold integers ({exc})") from exc
    return PairList(a, b, mated, fold)
