"""Comparison scores: the one place that turns two embeddings into a similarity.

Convention used everywhere in faceaudit: **a score is a similarity — higher means more
alike — and a comparison is accepted (declared a match) iff ``score >= threshold``.**

Supported similarities:

``"cosine"`` (default; ArcFace-style models)
    :math:`s(a, b) = \\frac{a \\cdot b}{\\lVert a \\rVert \\lVert b \\rVert}`, in [-1, 1].
``"euclidean"`` (dlib's convention)
    :math:`s(a, b) = -\\lVert a - b \\rVert_2`, in (-inf, 0]. A vendor rule "match iff distance
    <= 0.6" is the score threshold ``-0.6``: see :func:`distance_to_threshold`.

Scores are computed in float32 (that is what the streaming GEMM delivers) and stored as
float64, which represents every float32 exactly.
"""

from __future__ import annotations

import numpy as np

from ._errors import check_option

SIMILARITIES = ("cosine", "euclidean")


def prepare(vectors: np.ndarray, similarity: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Return float32 vectors ready for :func:`block_scores`, and squared norms for Euclidean.

    For cosine the rows are L2-normalised (a zero vector stays zero and scores 0 with
    everything). For Euclidean the vectors are unchanged and their squared norms returned.
    """
    check_option("similarity", similarity, SIMILARITIES)
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    if similarity == "cosine":
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return np.ascontiguousarray(v / norms, dtype=np.float32), None
    sq = np.einsum("ij,ij->i", v, v, dtype=np.float32)
    return v, sq


def block_scores(
    a: np.ndarray,
    b: np.ndarray,
    similarity: str,
    sq_a: np.ndarray | None = None,
    sq_b: np.ndarray | None = None,
) -> np.ndarray:
    """Scores of every row of ``a`` against every row of ``b`` (float32, shape (len(a), len(b))).

    ``a`` and ``b`` must come from :func:`prepare` (normalised for cosine; with squared norms
    ``sq_a``, ``sq_b`` for Euclidean).
    """
    g = a @ b.T
    if similarity == "cosine":
        return g
    assert sq_a is not None and sq_b is not None
    d2 = sq_a[:, None] + sq_b[None, :] - 2.0 * g
    np.maximum(d2, 0.0, out=d2)
    np.sqrt(d2, out=d2)
    np.negative(d2, out=d2)
    return d2


def pair_scores(a: np.ndarray, b: np.ndarray, similarity: str) -> np.ndarray:
    """Scores of row ``a[i]`` against row ``b[i]`` (float32, shape (n,)), same convention."""
    check_option("similarity", similarity, SIMILARITIES)
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if similarity == "cosine":
        na = np.linalg.norm(a, axis=1)
        nb = np.linalg.norm(b, axis=1)
        na[na == 0] = 1.0
        nb[nb == 0] = 1.0
        return (np.einsum("ij,ij->i", a, b) / (na * nb)).astype(np.float32)
    return (-np.linalg.norm(a - b, axis=1)).astype(np.float32)


def distance_to_threshold(distance: float) -> float:
    """The score threshold equivalent to "match iff Euclidean distance <= ``distance``".

    >>> distance_to_threshold(0.6)
    -0.6
    """
    return -float(distance)
