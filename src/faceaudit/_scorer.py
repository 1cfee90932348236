"""The streaming comparison engine: templates + manifest -> :class:`~faceaudit.ScoreSummary`.

The similarity matrix of the enrolled samples is computed tile by tile (upper triangle only;
every element counts as *the* score of its pair, as :mod:`faceaudit._similarity` defines it:
see :mod:`faceaudit._tiles`) and folded into per-cell
accumulators as it goes, so memory grows with ``N·d`` and the number of cells, never with the
number of pairs. See :func:`score_templates`.

Exactness contract (the one of :mod:`faceaudit._summary`):

- every genuine score is kept, with its pair;
- per cell, the impostor *tail* is every impostor score ``>= tail_floor`` (kept exactly, with
  its pair) and the *histogram* counts every other impostor score. The tail's capacity is

  .. math:: K = \\max(\\mathtt{min\\_exact},\\ \\lceil \\mathtt{exact\\_fmr}
            \\cdot n_{imp} \\rceil,\\ 1)

  and ``tail_floor`` is the ``K``-th largest impostor score of the cell; every score equal to
  it is kept too (ties), so the tail may hold more than ``K`` scores. A cell with
  ``n_imp <= K`` is complete: ``tail_floor = -inf`` and no histogram. Hence every threshold
  whose FMR is at most ``exact_fmr`` (and at least the floor) is counted exactly.
- Histogram bins are dyadic: ``n_bins`` (a power of two) equal bins on ``[-1, 1]`` for cosine,
  and on ``[-2^E, 0]`` for Euclidean, where ``2^E`` is ``2·max‖x‖`` rounded up to a power of
  two. The bin of a float32 score ``s`` is computed as ``floor(s·scale) + offset`` with a
  power-of-two ``scale``, which is exact in float32 and therefore equals
  :func:`faceaudit._summary.bin_index` (``searchsorted`` semantics) for every score.

Determinism: every score is the definition's (not the bits of one BLAS kernel), the tiles have
a fixed shape (``TILE`` rows, anchored at each group's first sorted position) whatever
``block_size`` and ``n_workers`` are, BLAS runs single-threaded in each worker, and the
accumulators are order-independent (integer histograms; tails defined by an order statistic;
pairs sorted at the end). Results are bit-identical for any block size and worker count, and
a pair's score is the one the 1:N search reports for it.

Parallelism: worker threads (``n_workers``, default 2), each running single-threaded BLAS
(``threadpoolctl``). The GEMM and every per-tile NumPy step on large arrays (ufuncs,
``astype``, ``flatnonzero``, ``bincount``, ``partition``, fancy indexing) release the GIL, so
the threads run concurrently; only the short Python glue per 512×512 tile holds it.

Cost per pair: a float64 GEMM (:func:`~faceaudit._similarity.block_values`), then one
compiled pass that reads each element's bin off the float64 value with a proof and lists the
tail candidates (:func:`faceaudit._kernels.fold_tile`, releasing the GIL); see
``benchmarks/bench_scorer.py`` for the measured rate.

Memory (does not grow with the number of pairs): the prepared templates in layout order
(``N·d`` float32, shared by the workers) and the genuine scores (24 bytes per genuine pair),
plus per worker a ``TILE``² float64 tile, its converted operands and two ``TILE``² index
buffers, all reused (~6 MiB at ``TILE`` = 512), and per streamed cell an int64 histogram
(``8·n_bins`` bytes) and at most ``max(2K, K + 65536) + TILE²`` tail candidates (20 bytes
each; ``K`` = the tail capacity, ``min_exact`` = 50,000 by default since ``exact_fmr`` = 0).
Tested in ``tests/test_engine_scorer.py``; measured by ``benchmarks/bench_scorer.py``.

Explicit pair lists (``pairs=``) and sampled cells are scored with
:func:`faceaudit._similarity.pair_scores` (one dot product per pair): the same definition,
so the same bits as the tiles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import _tiles
from ._accumulate import (
    DEFAULT_MIN_EXACT,
    DEFAULT_N_BINS,
    EXACT_FMR,
    Binning,
    ScoreAccumulator,
    binning_for,
    canonical_order,
    check_n_bins,
    concat_parts,
    tail_capacity,
)
from ._errors import ConfigError, InputError, check_integer, check_option, check_range
from ._manifest import Grouping, Manifest
from ._protocol import (
    IMPOSTOR_MODES,
    PairList,
    fta_counts,
    genuine_pairs_sorted,
    pair_counts,
    resolve_pairs,
    sample_impostor_pairs,
    sorted_layout,
)
from ._similarity import pair_scores, prepare
from ._summary import ScoreSummary, sample_fields
from ._templates import Templates
from ._tiles import TileEngine, Unit, WorkerState, merge_cells, merge_genuine, plan_units, run_units

Executor = Callable[[TileEngine, list[Unit], int, bool], list[WorkerState]]
"""``executor(engine, units, n_workers, progress) -> states``: runs the work units and returns
the worker states :func:`~faceaudit._tiles.merge_cells` merges (default
:func:`~faceaudit._tiles.run_units`: threads in this process;
:func:`faceaudit.cluster.dask_executor`: a Dask cluster). Results do not depend on it."""


# ---------------------------------------------------------------------------- public API
def score_templates(
    templates: Templates,
    manifest: Manifest,
    *,
    grouping: Grouping | str | Sequence[str] | None = None,
    impostors: str = "all",
    pairs: pd.DataFrame | Sequence[Sequence[Any]] | PairList | None = None,
    exact_fmr: float = EXACT_FMR,
    min_exact: int = DEFAULT_MIN_EXACT,
    n_bins: int = DEFAULT_N_BINS,
    block_size: int = 4096,
    n_workers: int = 2,
    max_impostors_per_cell: int | None = None,
    seed: int = 0,
    progress: bool = True,
    executor: Executor | None = None,
) -> ScoreSummary:
    """Compare templates under a protocol and summarise the scores per demographic cell.

    Parameters
    ----------
    templates : Templates
        Aligned to the manifest by sample id (:meth:`Templates.align`); samples without a
        template count as failed to enrol (``"missing"``).
    manifest : Manifest
    grouping : Grouping, str or list of str, optional
        Attributes whose combinations form the groups (default: one group ``"all"``).
    impostors : {"all", "matched"}
        Every cross-subject pair, or only pairs within one group (NIST's demographically
        matched impostors); see :mod:`faceaudit._protocol`.
    pairs : DataFrame or rows of (sample_a, sample_b[, label]) or PairList, optional
        Compare only these pairs (LFW ``pairs.txt`` style) instead of all pairs. A label that
        contradicts the manifest, or an unknown sample id, is an :class:`InputError` naming
        the row. ``impostors`` is ignored.
    exact_fmr : float in [0, 1]
        Keep, per cell, at least the top ``ceil(exact_fmr · n_impostor)`` impostor scores
        exactly (the *tail*), so every threshold with FMR <= ``exact_fmr`` is counted exactly.
        Default 0: a tail of ``min_exact`` per cell, memory independent of the pairs;
        :func:`faceaudit.recount_templates` makes counts at chosen thresholds exact.
    min_exact : int >= 0
        ... and at least this many; a cell with at most ``min_exact`` impostor scores is
        kept entirely (``tail_floor = -inf``).
    n_bins : int
        Histogram bins for the impostor scores below the tail (a power of two).
    block_size, n_workers, executor : int, int, callable
        Rows per work unit (rounded up to a multiple of :data:`TILE`), worker threads (BLAS
        single-threaded in each), and what runs the units (:data:`Executor`: threads here by
        default, or ``faceaudit.cluster.dask_executor``). None of them changes results.
    max_impostors_per_cell : int, optional
        Cells with more impostor pairs are *sampled*: exactly this many impostor pairs drawn
        uniformly without replacement (seeded by ``(seed, i, j)``), all kept exactly.
    seed : int
        Seed of the impostor sampling.
    progress : bool
        Show a progress bar (pairs, rate, ETA) on a terminal's stderr.

    Returns
    -------
    ScoreSummary
        Genuine scores exact with their pairs; impostors as exact tail + histogram per cell;
        ``genuine_fta`` / ``impostor_fta`` count the pairs not compared because a sample
        failed to enrol. ``protocol`` records every parameter that shaped the result.

    Notes
    -----
    Scores are similarities (Euclidean templates give ``-distance``) as
    :mod:`faceaudit._similarity` defines them, stored as float64; accepted iff
    ``score >= threshold``. Impostor counts ``>= t`` are exact for ``t >= tail_floor`` and at
    every bin edge (the contract of :mod:`faceaudit._summary`).
    """
    _check_args(templates, manifest, impostors, exact_fmr, min_exact, n_bins, block_size,
                n_workers, seed, max_impostors_per_cell)
    ga = manifest.groups(grouping)
    n_groups = ga.n_groups
    tpl = templates.align(manifest.sample_ids)
    enrolled = tpl.ok
    subj = manifest.subject_codes.astype(np.int64)
    gcodes = ga.codes.astype(np.int64)
    x_all, sq_all, max_sq = _prepared(tpl, manifest.sample_ids)
    binning = binning_for(tpl.similarity, int(n_bins), max_sq)
    common = sample_fields(manifest, ga, enrolled=enrolled, similarity=tpl.similarity,
                           model_id=tpl.model_id)
    protocol: dict[str, Any] = {
        "source": "templates", "exact_fmr": float(exact_fmr), "min_exact": int(min_exact),
        "n_bins": int(n_bins), "tile": _tiles.TILE, "hist_range": [binning.lo, binning.hi]}

    if pairs is not None:
        return _score_pairs(pairs, manifest, tpl, gcodes, subj, enrolled, n_groups, binning,
                            float(exact_fmr), int(min_exact), common, protocol)

    protocol.update(impostors=impostors, max_impostors_per_cell=max_impostors_per_cell,
                    seed=int(seed))
    layout = sorted_layout(subj, gcodes, n_groups, tpl.ok)
    x = np.ascontiguousarray(x_all[layout.order])
    sq = None if sq_all is None else np.ascontiguousarray(sq_all[layout.order])
    del x_all, sq_all  # only the layout-ordered copy stays in memory
    return _stream(tpl, x, sq, layout, subj, gcodes, n_groups, binning, common, protocol,
                   exact_fmr=exact_fmr, min_exact=min_exact, block_size=block_size,
                   n_workers=n_workers, max_impostors_per_cell=max_impostors_per_cell,
                   seed=seed, progress=progress, executor=executor or run_units)


def _stream(
    tpl: Templates,
    x: np.ndarray,
    sq: np.ndarray | None,
    layout: Any,
    subj: np.ndarray,
    gcodes: np.ndarray,
    n_groups: int,
    binning: Binning,
    common: dict[str, Any],
    protocol: dict[str, Any],
    *,
    exact_fmr: float,
    min_exact: int,
    block_size: int,
    n_workers: int,
    max_impostors_per_cell: int | None,
    seed: int,
    progress: bool,
    executor: Executor,
) -> ScoreSummary:
    """Every pair of the selected cells through the tile engine; sampled cells pair by pair.

    ``x``, ``sq`` are the prepared vectors in ``layout`` order (sorted by group, subject).
    """
    impostors = protocol["impostors"]
    enrolled = tpl.ok
    fta = fta_counts(subj, gcodes, n_groups, enrolled, impostors=impostors)
    every = pair_counts(subj, gcodes, n_groups, impostors=impostors)
    ok_counts = pair_counts(subj, gcodes, n_groups, mask=enrolled, impostors=impostors)
    upper = np.triu(np.ones((n_groups, n_groups), bool))
    cell_on = upper if impostors == "all" else np.eye(n_groups, dtype=bool)
    sampled = np.zeros((n_groups, n_groups), bool)
    if max_impostors_per_cell is not None:
        sampled = cell_on & (every.impostor > max_impostors_per_cell)
    stream = cell_on & ~sampled
    caps = tail_capacity(ok_counts.impostor, exact_fmr, min_exact)

    gen_i, gen_j = genuine_pairs_sorted(layout.subjects)
    # positions are grouped by subject inside each group, so pairs come out sorted by (i, j)
    engine = TileEngine(x, sq, tpl.similarity, layout.subjects, gen_i, gen_j, binning, caps)
    units = plan_units(layout.bounds, ok_counts.genuine, stream, int(block_size))
    states = executor(engine, units, int(n_workers), progress)

    hist, floors, tail_parts = merge_cells(states, stream, ok_counts.impostor, caps, binning,
                                            layout.order)
    imp_fta, sampled_parts, protocol["sampled_cells"] = _score_sampled(
        tpl, sampled, subj, gcodes, fta.impostor, int(max_impostors_per_cell or 0), seed)
    tail_parts += sampled_parts
    genuine = merge_genuine(states, int(ok_counts.genuine.sum()), layout.order)
    tail = canonical_order(*concat_parts(tail_parts))
    return ScoreSummary(
        **common,
        genuine_scores=genuine[0],
        genuine_a=genuine[1],
        genuine_b=genuine[2],
        hist_edges=binning.edges,
        impostor_hist=hist,
        tail_scores=tail[0],
        tail_a=tail[1],
        tail_b=tail[2],
        tail_floor=floors,
        genuine_fta=fta.genuine,
        impostor_fta=imp_fta,
        protocol=protocol,
    )


def _score_sampled(
    tpl: Templates,
    sampled: np.ndarray,
    subj: np.ndarray,
    gcodes: np.ndarray,
    impostor_fta: np.ndarray,
    per_cell: int,
    seed: int,
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray]], list[list[int]]]:
    """``per_cell`` impostor pairs drawn uniformly (seeded by ``(seed, g, h)``) in every
    sampled cell, scored one by one: (impostor FTA, tail parts, the sampled cells)."""
    enrolled = tpl.ok
    imp_fta = impostor_fta.copy()
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    cells: list[list[int]] = []
    for g, h in zip(*np.nonzero(sampled), strict=True):
        cell = (int(g), int(h))
        mg = np.flatnonzero(gcodes == g)
        mh = None if g == h else np.flatnonzero(gcodes == h)
        rng = np.random.default_rng([int(seed), int(g), int(h)])
        a, b = sample_impostor_pairs(mg, mh, subj, per_cell, rng)
        ok = enrolled[a] & enrolled[b]
        imp_fta[cell] = int((~ok).sum())
        a, b = a[ok], b[ok]
        parts.append((_pair_scores_chunked(tpl.vectors, a, b, tpl.similarity), a, b))
        cells.append([int(g), int(h)])
    return imp_fta, parts, cells


def _check_args(templates: Any, manifest: Any, impostors: str, exact_fmr: float,
                min_exact: int, n_bins: int, block_size: int, n_workers: int, seed: int,
                max_impostors_per_cell: int | None) -> None:
    if not isinstance(templates, Templates):
        raise ConfigError(f"templates must be a Templates; got {type(templates).__name__}")
    if not isinstance(manifest, Manifest):
        raise ConfigError(f"manifest must be a Manifest; got {type(manifest).__name__}")
    check_option("impostors", impostors, IMPOSTOR_MODES)
    check_range("exact_fmr", exact_fmr, low=0.0, high=1.0)
    check_integer("min_exact", min_exact, 0)
    check_n_bins(n_bins)
    check_integer("block_size", block_size, 1)
    check_integer("n_workers", n_workers, 1)
    check_integer("seed", seed, 0)
    if max_impostors_per_cell is not None:
        check_integer("max_impostors_per_cell", max_impostors_per_cell, 1)


def _prepared(
    tpl: Templates, sample_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Prepared vectors (failures zeroed), squared norms, and the largest squared norm."""
    enrolled = tpl.ok
    v = tpl.vectors.copy()
    v[~enrolled] = 0.0
    x_all, sq_all = prepare(v, tpl.similarity)
    del v
    if sq_all is None:
        return x_all, None, 1.0
    sq_ok = sq_all[enrolled]
    too_big = ~(sq_ok <= float(np.finfo(np.float32).max))  # overflows float32 (or NaN)
    if too_big.any():
        i = int(np.flatnonzero(enrolled)[np.flatnonzero(too_big)[0]])
        raise InputError(
            f"template of sample {sample_ids[i]!r} is too large to compare "
            "in float32 (its squared norm overflows); rescale the templates"
        )
    max_sq = float(sq_ok.max()) if len(sq_ok) else 0.0
    if 4.0 * max_sq > float(np.finfo(np.float32).max) / 4:
        raise InputError(
            "templates are too large to compare in float32 (norms ~1e19); rescale them"
        )
    return x_all, sq_all, max_sq


def _pair_scores_chunked(
    vectors: np.ndarray, a: np.ndarray, b: np.ndarray, similarity: str, chunk: int = 1 << 16
) -> np.ndarray:
    out = np.empty(len(a), np.float64)
    for k in range(0, len(a), chunk):
        out[k : k + chunk] = pair_scores(
            vectors[a[k : k + chunk]], vectors[b[k : k + chunk]], similarity
        )
    return out


def _score_pairs(
    pairs: Any,
    manifest: Manifest,
    tpl: Templates,
    gcodes: np.ndarray,
    subj: np.ndarray,
    enrolled: np.ndarray,
    n_groups: int,
    binning: Binning,
    exact_fmr: float,
    min_exact: int,
    common: dict[str, Any],
    protocol: dict[str, Any],
) -> ScoreSummary:
    pl = (
        pairs
        if isinstance(pairs, PairList)
        else resolve_pairs(pairs, manifest.sample_ids, subj, source="pairs")
    )
    ci, cj = np.minimum(gcodes[pl.a], gcodes[pl.b]), np.maximum(gcodes[pl.a], gcodes[pl.b])
    ok = enrolled[pl.a] & enrolled[pl.b]
    gen_fta = np.zeros((n_groups, n_groups), np.int64)
    imp_fta = np.zeros((n_groups, n_groups), np.int64)
    np.add.at(gen_fta, (ci[~ok & pl.mated], cj[~ok & pl.mated]), 1)
    np.add.at(imp_fta, (ci[~ok & ~pl.mated], cj[~ok & ~pl.mated]), 1)
    a, b, mated, ci, cj = pl.a[ok], pl.b[ok], pl.mated[ok], ci[ok], cj[ok]
    s = _pair_scores_chunked(tpl.vectors, a, b, tpl.similarity)
    protocol.update(
        impostors="pairs",
        n_pairs=len(pl),
        n_folds=0 if pl.fold is None else len(np.unique(pl.fold)),
    )
    acc = ScoreAccumulator(n_groups, binning)
    acc.add(s, a, b, ci, cj, mated)
    return acc.summary(common, gen_fta, imp_fta, exact_fmr, min_exact, protocol)
