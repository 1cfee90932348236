"""Comparison scores: the one definition of a score and the one accept rule.

Convention used everywhere in faceaudit: **a score is a similarity — higher means more
alike — and a comparison is accepted (declared a match) iff ``score >= threshold``**
(:func:`accepted`).

Supported similarities:

``"cosine"`` (default; ArcFace-style models)
    :math:`s(a, b) = \\frac{a \\cdot b}{\\lVert a \\rVert \\lVert b \\rVert}`, in [-1, 1].
``"euclidean"`` (dlib's convention)
    :math:`s(a, b) = -\\lVert a - b \\rVert_2`, in (-inf, 0]. A vendor rule "match iff distance
    <= 0.6" is the score threshold ``-0.6``: see :func:`distance_to_threshold`.

**The score of a pair** — the arithmetic that defines it, whoever computes it (the 1:1 scorer,
an explicit pair list, the 1:N search):

1. each template is *prepared* in float32 by :func:`prepare` (cosine: divided by its float32
   L2 norm, row by row; euclidean: unchanged);
2. cosine: :math:`\\sum_i a_i b_i`, euclidean: :math:`-\\sqrt{\\sum_i (a_i - b_i)^2}`, with
   every product, difference, the sum and the square root in **float64** (a product of two
   float32 numbers is exact in float64), the sum taken by NumPy over the last axis of a
   contiguous array (:func:`prepared_pair_scores`);
3. the result **rounded to float32** (stored as float64, which holds every float32 exactly).

Any other float64 summation order differs from step 2 by at most :math:`(d-1)\\,2^{-53}
\\sum_i |p_i|` for :math:`d` terms :math:`p_i`, so after step 3 it gives the same float32
unless the float64 value lies within that distance of a float32 rounding boundary.
:func:`block_values` computes a whole tile with one float64 GEMM and returns that bound;
:func:`exact_block_scores` (and the 1:1 scorer's tiles, for the elements whose float32 it
needs) proves the rounding of each element with it and re-scores the (rare) unproven
elements by the definition — so every element equals :func:`prepared_pair_scores` bit for
bit, at the cost of a float64 instead of a float32 GEMM. :func:`block_scores` is the float32
GEMM, used only to *find* candidates (1:N search) with a rigorous error bound, never to
report a score.
"""

from __future__ import annotations

import numpy as np

from ._errors import check_option

SIMILARITIES = ("cosine", "euclidean")

_U64 = 2.0**-53
"""Unit roundoff of float64."""


def accepted(scores: np.ndarray | float, threshold: float) -> np.ndarray:
    """The accept rule: ``scores >= threshold`` (a score exactly at the threshold is a match)."""
    return np.asarray(scores) >= threshold


def prepare(vectors: np.ndarray, similarity: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Return float32 vectors ready for scoring, and squared norms (float64) for Euclidean.

    For cosine the rows are L2-normalised in float32 (a zero vector stays zero and scores 0
    with everything); each row is prepared on its own, so a row prepared alone or within a
    matrix gives the same bits. For Euclidean the vectors are unchanged and their squared
    norms returned (float32 squares summed in float64).
    """
    check_option("similarity", similarity, SIMILARITIES)
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    if similarity == "cosine":
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return np.ascontiguousarray(v / norms, dtype=np.float32), None
    sq = np.einsum("ij,ij->i", v, v, dtype=np.float64)
    return v, sq


def prepared_pair_scores(a: np.ndarray, b: np.ndarray, similarity: str) -> np.ndarray:
    """**The** score of prepared rows ``a[..., :]`` vs ``b[..., :]`` (see the module docstring).

    ``a`` and ``b`` come from :func:`prepare` (float32) and broadcast against each other over
    the leading axes. Returns float64 arrays holding float32 values.
    """
    a64 = np.asarray(a, dtype=np.float64)
    b64 = np.asarray(b, dtype=np.float64)
    if similarity == "cosine":
        s = np.ascontiguousarray(a64 * b64).sum(axis=-1)
    else:
        d = a64 - b64
        s = -np.sqrt(np.ascontiguousarray(d * d).sum(axis=-1))
    return s.astype(np.float32).astype(np.float64)


def pair_scores(a: np.ndarray, b: np.ndarray, similarity: str) -> np.ndarray:
    """Scores of raw template rows ``a[i]`` vs ``b[i]``: :func:`prepare`, then the definition.

    Returns float32 values (shape (n,)).
    """
    check_option("similarity", similarity, SIMILARITIES)
    pa, _ = prepare(np.atleast_2d(a), similarity)
    pb, _ = prepare(np.atleast_2d(b), similarity)
    return prepared_pair_scores(pa, pb, similarity).astype(np.float32)


def block_scores(
    a: np.ndarray,
    b: np.ndarray,
    similarity: str,
    sq_a: np.ndarray | None = None,
    sq_b: np.ndarray | None = None,
) -> np.ndarray:
    """*Fast* scores of every row of ``a`` against every row of ``b`` (float32 GEMM).

    For finding candidates only (the 1:N search bounds their error rigorously and re-scores
    what it reports with :func:`prepared_pair_scores`); they may differ from the score of a
    pair by a few float32 ulps. ``a`` and ``b`` come from :func:`prepare`.
    """
    g = a @ b.T
    if similarity == "cosine":
        return g
    assert sq_a is not None and sq_b is not None
    d2 = sq_a.astype(np.float32)[:, None] + sq_b.astype(np.float32)[None, :] - 2.0 * g
    np.maximum(d2, 0.0, out=d2)
    np.sqrt(d2, out=d2)
    np.negative(d2, out=d2)
    return d2


def block_values(
    a: np.ndarray,
    b: np.ndarray,
    similarity: str,
    sq_a: np.ndarray | None = None,
    sq_b: np.ndarray | None = None,
    scale: float = 1.0,
    out: np.ndarray | None = None,
    operands: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, float | np.ndarray]:
    r"""Rows ``a`` × rows ``b`` by one float64 GEMM: values ``v`` and a proven error bound.

    Returns ``(v, err)`` with ``|v - scale·x| <= err`` elementwise, where ``x`` is the
    definition's float64 value (step 2 of the module docstring, before the float32 rounding)
    and ``scale`` a power of two (it multiplies exactly, so ``v`` is the GEMM of
    ``scale·a``). ``err`` is a float, or an array for close Euclidean pairs. The bound:

    - cosine: both ``v`` and ``x`` are float64 sums of the same ``d`` exact products, each
      within :math:`(d-1)\,2^{-53}\sum_i|a_i b_i|` of the exact sum, and
      :math:`\sum_i|a_i b_i| \le \lVert a\rVert\lVert b\rVert \le 1 + d\,2^{-23}`
      for prepared (unit) rows; ``err`` is :math:`8.08\,(d+4)\,2^{-53}`, twice that
      distance and more, so ``v ± err`` computed in float64 still brackets ``x``;
    - euclidean: ``|a|^2 + |b|^2 - 2 a·b`` and the definition's sum of squared differences
      each carry at most :math:`2(d+3)\,2^{-53} S` (``S = max|a|^2 + max|b|^2``); the square
      root turns that into :math:`e/\max(\mathrm{dist}, 2^{-4}\sqrt S)`, or
      :math:`e/\max(\mathrm{dist}, \sqrt e)` per element when some pair is that close.

    ``out``: an optional C-contiguous float64 array of the result's shape to write into.
    ``operands``: optional float64 arrays to convert ``a`` and ``b`` into (reused buffers of at
    least their shapes' sizes: no allocation per call); the GEMM is the same.
    """
    d = a.shape[1]
    a_scale = scale if similarity == "cosine" else 1.0
    if operands is None:
        a64 = np.asarray(a, np.float64)
        if a_scale != 1.0:
            a64 = a64 * a_scale
        b64 = np.asarray(b, np.float64)
    else:  # the same values (float32 -> float64 is exact; scale is a power of two)
        a64 = operands[0][: a.size].reshape(a.shape)
        np.multiply(a, a_scale, out=a64, dtype=np.float64)
        b64 = operands[1][: b.size].reshape(b.shape)
        b64[...] = b
    g = np.matmul(a64, b64.T, out=out)
    slack = 8.0 * (d + 4) * _U64  # twice the bound: covers the rounding of v ± e itself
    if similarity == "cosine":
        return g, slack * 1.01 * scale
    assert sq_a is not None and sq_b is not None
    big = float(sq_a.max(initial=0.0) + sq_b.max(initial=0.0))
    e = slack * big
    g *= -2.0
    g += sq_a[:, None]
    g += sq_b[None, :]
    np.maximum(g, 0.0, out=g)
    np.sqrt(g, out=g)  # distances; |sqrt(x) - sqrt(y)| <= |x - y| / sqrt(x)
    d_floor = 2.0**-4 * np.sqrt(big)
    err: float | np.ndarray
    if g.size and g.min() < d_floor:  # very close pairs: a bound per element
        err = e / np.maximum(g, np.sqrt(e))  # |sqrt(x) - sqrt(y)| <= sqrt(|x - y|)
    else:
        err = e / d_floor if big > 0 else 0.0
    g *= -scale
    return g, err * scale


def round_proven(
    v: np.ndarray,
    err: float | np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    similarity: str,
) -> np.ndarray:
    """The definition's float32 scores of pairs ``(a[rows[k]], b[cols[k]])`` from brackets.

    ``v``, ``err`` as :func:`block_values` returns them for these pairs (``scale`` 1): where
    ``v - err`` and ``v + err`` round to one float32, that float32 is the score (rounding is
    monotone); the other pairs are re-scored by :func:`prepared_pair_scores`.
    """
    lo = (v - err).astype(np.float32)
    hi = (v + err).astype(np.float32)
    unsure = np.flatnonzero(lo != hi)
    if len(unsure):
        lo[unsure] = prepared_pair_scores(a[rows[unsure]], b[cols[unsure]], similarity)
    return lo


def exact_block_scores(
    a: np.ndarray,
    b: np.ndarray,
    similarity: str,
    sq_a: np.ndarray | None = None,
    sq_b: np.ndarray | None = None,
) -> np.ndarray:
    """Every score of rows ``a`` × rows ``b`` (float32), equal to the definition bit for bit.

    :func:`block_values` gives each float64 value within a proven distance of the
    definition's; :func:`round_proven` turns the tile into float32 scores, re-scoring the
    elements whose rounding it cannot prove. ``a``, ``b``, ``sq_a``, ``sq_b`` come from
    :func:`prepare`.
    """
    v, err = block_values(a, b, similarity, sq_a, sq_b)
    lo = (v - err).astype(np.float32)
    hi = (v + err).astype(np.float32)
    unsure = np.flatnonzero(lo != hi)
    if len(unsure):
        r, c = np.divmod(unsure, lo.shape[1])
        lo[r, c] = prepared_pair_scores(a[r], b[c], similarity)
    return lo


def distance_to_threshold(distance: float) -> float:
    """The score threshold equivalent to "match iff Euclidean distance <= ``distance``".

    >>> distance_to_threshold(0.6)
    -0.6
    """
    return -float(distance)
