r"""Compiled per-tile passes of the scorer (numba): one read of a tile instead of ~ten.

The tile engine (:mod:`faceaudit._tiles`) and the second pass (:mod:`faceaudit._recount`) get
a tile of float64 values ``v`` from one GEMM, with a proven bound ``|v - scale·s| <= m``
(``m`` = the *margin*, a scalar or one per element) against each element's score ``s``. What
they need from the tile is decided element by element, so it is done here in one compiled
loop (no temporaries, the GIL released), with exactly the arithmetic the NumPy formulation
used; the results do not depend on this module, only the speed does:

- :func:`fold_tile` bins every element whose bin is proven and lists the others (*unsure*),
  and lists the *tail candidates* (``v >= lo - m``);
- :func:`select_window` lists the elements that may lie in ``[lo, hi)`` (scaled).

Conventions, for an element with value ``v`` and margin ``m``:

- bin: ``x = v + (m + (offset + 1))``, ``k = floor(x)``; if ``x - k >= 2m`` the bin is
  ``clip(k - 1, 0, n_bins - 1)`` (the score's bin is ``floor(scale·s) + offset``, and
  ``scale·s`` lies in ``[x - 2m - offset - 1, x - offset - 1]``: the same integer part);
  otherwise the element is unsure and the caller re-scores it;
- candidate: ``v >= lo - m`` (and ``v < hi + m`` for a window): every element whose score
  may reach ``lo`` (may lie in ``[lo, hi)``) is listed, perhaps with a few that do not;
- ``upper``: on a diagonal tile (rows = columns) only the strict upper triangle ``j > i``.

Indices are flat (``i·n_cols + j``), in row-major order.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, boundscheck=False)
def fold_tile(
    v: np.ndarray,
    margins: np.ndarray,
    margin: float,
    upper: bool,
    offset1: float,
    n_bins: int,
    lo: float,
    hist: np.ndarray,
    unsure: np.ndarray,
    cand: np.ndarray,
) -> tuple[int, int]:
    """Bin ``v``'s proven elements into ``hist`` (added); list unsure elements and candidates.

    ``margins``: a per-element margin array of ``v``'s shape, or an empty 2-D array to use the
    scalar ``margin``. ``offset1`` = ``offset + 1`` of the binning; ``lo`` = the scaled tail
    floor (``-inf``: every element is a candidate; ``nan``: no candidates).
    Returns ``(n_unsure, n_cand)``: the first entries of ``unsure`` and ``cand`` written.
    """
    nr, nc = v.shape
    per = margins.shape[0] > 0
    nu = 0
    ncand = 0
    top = float(n_bins - 1)
    for i in range(nr):
        row = v[i]
        m = margin  # the scalar case's per-element terms, computed once (same arithmetic)
        below, shift, twice = lo - m, m + offset1, 2.0 * m
        for j in range(i + 1 if upper else 0, nc):
            x = row[j]
            if per:
                m = margins[i, j]
                below, shift, twice = lo - m, m + offset1, 2.0 * m
            if x >= below:
                cand[ncand] = i * nc + j
                ncand += 1
            y = x + shift
            k = np.floor(y)
            if y - k < twice:
                unsure[nu] = i * nc + j
                nu += 1
            else:
                hist[int(min(max(k - 1.0, 0.0), top))] += 1
    return nu, ncand


@njit(cache=True, nogil=True, boundscheck=False)
def select_window(
    v: np.ndarray,
    margins: np.ndarray,
    margin: float,
    upper: bool,
    lo: float,
    hi: float,
    out: np.ndarray,
) -> int:
    """List the elements with ``lo - m <= v < hi + m`` (``hi = inf``: no upper limit) into
    ``out``; return how many. ``margins``/``margin`` and ``upper`` as in :func:`fold_tile`."""
    nr, nc = v.shape
    per = margins.shape[0] > 0
    n = 0
    for i in range(nr):
        row = v[i]
        below, above = lo - margin, hi + margin
        for j in range(i + 1 if upper else 0, nc):
            x = row[j]
            if per:
                m = margins[i, j]
                below, above = lo - m, hi + m
            if x >= below and x < above:
                out[n] = i * nc + j
                n += 1
    return n


NO_MARGINS = np.zeros((0, 0), np.float64)
"""Pass as ``margins`` to use the scalar margin."""
