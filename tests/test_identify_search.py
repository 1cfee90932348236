"""Exact 1:N search: FAISS == NumPy == naive brute force (same candidates, same scores)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faceaudit import ConfigError
from faceaudit._similarity import prepare
from faceaudit.identify import (
    brute_force_search,
    canonical_pair_scores,
    count_at_or_above,
    search,
)


def _naive(G: np.ndarray, P: np.ndarray, k: int, sim: str) -> tuple[np.ndarray, np.ndarray]:
    """Independent reference: every pair scored in float64, sorted by (-score, row)."""
    Gp, _ = prepare(G, sim)
    Pp, _ = prepare(P, sim)
    out_i, out_s = [], []
    for p in Pp.astype(np.float64):
        if sim == "cosine":
            s = (Gp.astype(np.float64) * p).sum(axis=1)
        else:
            s = -np.sqrt(((Gp.astype(np.float64) - p) ** 2).sum(axis=1))
        s = s.astype(np.float32).astype(np.float64)
        order = sorted(range(len(s)), key=lambda j: (-s[j], j))[:k]
        out_i.append(order)
        out_s.append(s[order])
    return np.array(out_i), np.array(out_s)


@pytest.mark.parametrize("sim", ["cosine", "euclidean"])
def test_faiss_numpy_and_brute_force_agree_on_random_data(sim: str) -> None:
    rng = np.random.default_rng(42)
    G = rng.normal(size=(5000, 48)).astype(np.float32)
    P = rng.normal(size=(300, 48)).astype(np.float32)
    a = search(G, P, 10, similarity=sim, method="faiss")
    b = search(G, P, 10, similarity=sim, method="numpy", batch_size=37)
    c = brute_force_search(G, P, 10, similarity=sim)
    np.testing.assert_array_equal(a.indices, c.indices)
    np.testing.assert_array_equal(a.scores, c.scores)
    np.testing.assert_array_equal(b.indices, c.indices)
    np.testing.assert_array_equal(b.scores, c.scores)
    assert a.exact and a.method == "faiss"
    ni, ns = _naive(G, P[:20], 10, sim)
    np.testing.assert_array_equal(a.indices[:20], ni)
    np.testing.assert_array_equal(a.scores[:20], ns)
    assert (np.diff(a.scores, axis=1) <= 0).all()


@pytest.mark.parametrize("sim", ["cosine", "euclidean"])
def test_ties_broken_by_lower_gallery_row_and_exact_under_massive_ties(sim: str) -> None:
    # ternary vectors in 6-d: thousands of exactly tied scores, crossing the top-k boundary
    rng = np.random.default_rng(3)
    G = rng.integers(-1, 2, size=(3000, 6)).astype(np.float32)
    G[np.abs(G).sum(axis=1) == 0] = 1.0
    P = rng.integers(-1, 2, size=(80, 6)).astype(np.float32)
    P[np.abs(P).sum(axis=1) == 0] = 1.0
    a = search(G, P, 7, similarity=sim, method="faiss")
    b = search(G, P, 7, similarity=sim, method="numpy")
    ni, ns = _naive(G, P, 7, sim)
    np.testing.assert_array_equal(a.indices, ni)
    np.testing.assert_array_equal(a.scores, ns)
    np.testing.assert_array_equal(b.indices, ni)
    assert a.n_refetched > 0  # the exactness check had to widen some fetches


def test_duplicate_gallery_vectors_tie_and_order_by_row() -> None:
    G = np.array([[1, 0], [0, 1], [1, 0], [1, 0], [0.6, 0.8]], np.float32)
    P = np.array([[1, 0]], np.float32)
    c = search(G, P, 4)
    assert c.indices.tolist() == [[0, 2, 3, 4]]
    assert c.scores[0, :3].tolist() == [1.0, 1.0, 1.0]
    assert c.scores[0, 3] == pytest.approx(0.6)


def test_euclidean_score_is_minus_distance() -> None:
    G = np.array([[0, 0], [3, 4], [1, 0]], np.float32)
    P = np.array([[0, 0]], np.float32)
    c = search(G, P, 3, similarity="euclidean")
    assert c.indices.tolist() == [[0, 2, 1]]
    assert c.scores.tolist() == [[-0.0, -1.0, -5.0]]


def test_k_larger_than_gallery_is_capped_and_empty_probes() -> None:
    G = np.eye(3, dtype=np.float32)
    c = search(G, np.ones((2, 3), np.float32), 10)
    assert c.indices.shape == (2, 3)
    assert sorted(c.indices[0].tolist()) == [0, 1, 2]
    e = search(G, np.zeros((0, 3), np.float32), 2)
    assert e.indices.shape == (0, 2)


def test_bad_arguments_raise_config_errors() -> None:
    G = np.eye(3, dtype=np.float32)
    with pytest.raises(ConfigError, match="k must be a positive integer; got 0"):
        search(G, G, 0)
    with pytest.raises(ConfigError, match="same dimension"):
        search(G, np.ones((1, 4), np.float32), 1)
    with pytest.raises(ConfigError, match="must be finite"):
        search(G, np.full((1, 3), np.nan, np.float32), 1)
    with pytest.raises(ConfigError, match="method must be one of"):
        search(G, G, 1, method="hnsw")
    with pytest.raises(ConfigError, match="similarity must be one of"):
        search(G, G, 1, similarity="dot")


def test_threads_are_capped_and_restored() -> None:
    import faiss

    before = faiss.omp_get_max_threads()
    G = np.random.default_rng(0).normal(size=(100, 8)).astype(np.float32)
    a = search(G, G[:5], 3, threads=1000)
    assert faiss.omp_get_max_threads() == before
    assert a.indices[:, 0].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("sim", ["cosine", "euclidean"])
def test_count_at_or_above_is_exact_including_ties_at_threshold(sim: str) -> None:
    rng = np.random.default_rng(5)
    G = rng.normal(size=(2000, 16)).astype(np.float32)
    P = rng.normal(size=(50, 16)).astype(np.float32)
    Gp, _ = prepare(G, sim)
    Pp, _ = prepare(P, sim)
    # a threshold equal to an actual canonical score: that pair must count (score >= T)
    T = float(canonical_pair_scores(Pp[0][None], Gp[17][None], sim)[0])
    got = count_at_or_above(G, P, T, similarity=sim)
    ref = np.array([(canonical_pair_scores(Pp[i][None], Gp, sim) >= T).sum()
                    for i in range(len(P))])
    np.testing.assert_array_equal(got, ref)
    assert got[0] >= 1
    labels = np.arange(len(G)) % 3
    by = count_at_or_above(G, P, T, similarity=sim, gallery_labels=labels, n_labels=3)
    np.testing.assert_array_equal(by.sum(axis=1), ref)


def test_count_per_person_counts_a_person_once() -> None:
    G = np.array([[1, 0], [0.99, 0.1], [0, 1], [0.1, 0.99]], np.float32)
    P = np.array([[1, 0]], np.float32)
    # rows 0,1 are person 0; rows 2,3 person 1
    rows = count_at_or_above(G, P, 0.9)
    people = count_at_or_above(G, P, 0.9, gallery_person=np.array([0, 0, 1, 1]),
                               gallery_labels=np.array([0, 1]), n_labels=2)
    assert rows.tolist() == [2]
    assert people.tolist() == [[1, 0]]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_g=st.integers(1, 60), n_p=st.integers(1, 8),
       d=st.integers(1, 5), k=st.integers(1, 12), sim=st.sampled_from(["cosine", "euclidean"]),
       levels=st.integers(2, 4))
def test_search_equals_naive_on_small_tied_data(seed: int, n_g: int, n_p: int, d: int, k: int,
                                                sim: str, levels: int) -> None:
    rng = np.random.default_rng(seed)
    G = rng.integers(0, levels, size=(n_g, d)).astype(np.float32)
    P = rng.integers(0, levels, size=(n_p, d)).astype(np.float32)
    ni, ns = _naive(G, P, k, sim)
    for method in ("faiss", "numpy"):
        c = search(G, P, k, similarity=sim, method=method)
        np.testing.assert_array_equal(c.indices, ni)
        np.testing.assert_array_equal(c.scores, ns)


@pytest.mark.parametrize("method", ["faiss", "numpy"])
def test_massive_exact_ties_fall_back_to_whole_gallery_scoring(method: str) -> None:
    rng = np.random.default_rng(1)
    G = rng.normal(size=(9000, 4)).astype(np.float32)
    G[1000:7000] = [1, 2, 3, 4]  # 6000 identical templates
    P = np.array([[1, 2, 3, 4], [2, 4, 6, 8]], np.float32)
    c = search(G, P, 5, method=method)
    assert c.indices.tolist() == [[1000, 1001, 1002, 1003, 1004]] * 2
    assert c.n_refetched == 2
    b = brute_force_search(G, P, 5)
    np.testing.assert_array_equal(c.scores, b.scores)
