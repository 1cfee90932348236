"""One score definition: the 1:1 scorer, pair lists and the 1:N search give a pair the same bits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from faceaudit import Manifest, Templates, _similarity
from faceaudit._scorer import score_templates
from faceaudit._similarity import (
    accepted,
    exact_block_scores,
    pair_scores,
    prepare,
    prepared_pair_scores,
)
from faceaudit.identify import brute_force_search, search


def _definition(a: np.ndarray, b: np.ndarray, similarity: str) -> np.ndarray:
    """The module docstring's arithmetic, written out independently with math.fsum.

    fsum is the correctly rounded float64 sum; NumPy's float64 sum may differ from it in the
    last float64 bit, which changes the float32 only at a rounding boundary (never here).
    """
    import math

    out = np.empty(len(a))
    for k, (x, y) in enumerate(zip(a.astype(np.float64), b.astype(np.float64), strict=True)):
        if similarity == "cosine":
            v = math.fsum(x * y)
        else:
            v = -math.sqrt(math.fsum((x - y) ** 2))
        out[k] = float(np.float32(v))
    return out


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
def test_exact_block_scores_equal_the_definition_bit_for_bit(similarity: str) -> None:
    rng = np.random.default_rng(3)
    raw = rng.standard_normal((300, 128)).astype(np.float32) * 0.3
    x, sq = prepare(raw, similarity)
    tile = exact_block_scores(x[:170], x[130:], similarity, sq[:170] if sq is not None else None,
                              sq[130:] if sq is not None else None)
    a, b = np.meshgrid(np.arange(170), np.arange(130, 300), indexing="ij")
    want = prepared_pair_scores(x[a.ravel()], x[b.ravel()], similarity)
    np.testing.assert_array_equal(tile.ravel().astype(np.float64), want)
    # and both equal an independent fsum-based reading of the definition
    k = rng.choice(a.size, 400, replace=False)
    np.testing.assert_array_equal(
        want[k], _definition(x[a.ravel()[k]], x[b.ravel()[k]], similarity))


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
def test_unproven_elements_fall_back_to_the_definition(similarity: str, monkeypatch) -> None:
    """With an error bound inflated 2^20-fold most elements are unproven and re-scored."""
    rng = np.random.default_rng(4)
    x, sq = prepare(rng.standard_normal((60, 32)).astype(np.float32), similarity)
    monkeypatch.setattr(_similarity, "_U64", 2.0**-33)
    tile = exact_block_scores(x, x, similarity, sq, sq)
    a, b = np.meshgrid(np.arange(60), np.arange(60), indexing="ij")
    np.testing.assert_array_equal(
        tile.ravel().astype(np.float64), prepared_pair_scores(x[a.ravel()], x[b.ravel()],
                                                              similarity))


def test_accept_rule_is_score_at_least_threshold() -> None:
    np.testing.assert_array_equal(accepted(np.array([0.2, 0.5, 0.7]), 0.5), [False, True, True])


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
def test_a_pair_scores_the_same_bits_in_1_to_1_and_1_to_n(similarity: str) -> None:
    """Every genuine and tail score of the streaming scorer equals the 1:N search's score of
    that pair (and pair_scores'), bit for bit; on random 64-d templates."""
    rng = np.random.default_rng(11)
    n_people, per = 120, 3
    subj = np.repeat(np.arange(n_people), per)
    n = len(subj)
    centres = rng.standard_normal((n_people, 64))
    vec = (centres[subj] + 0.6 * rng.standard_normal((n, 64))).astype(np.float32)
    manifest = Manifest(pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)],
                                      "subject_id": [f"p{s}" for s in subj],
                                      "g": np.where(subj % 2, "a", "b")}))
    tpl = Templates(manifest.sample_ids, vec, np.full(n, "ok"), np.full(n, ""), "t", similarity)
    summary = score_templates(tpl, manifest, grouping="g", min_exact=500, exact_fmr=1e-3)
    pairs_a = np.concatenate([summary.genuine_a, summary.tail_a])
    pairs_b = np.concatenate([summary.genuine_b, summary.tail_b])
    one_to_one = np.concatenate([summary.genuine_scores, summary.tail_scores])
    assert len(one_to_one) > 1000
    np.testing.assert_array_equal(
        one_to_one, pair_scores(vec[pairs_a], vec[pairs_b], similarity).astype(np.float64))
    # 1:N: each sample of the first 40 searched against the whole set; its candidates' scores
    probes = np.arange(40)
    for method in ("numpy", "brute"):
        if method == "brute":
            c = brute_force_search(vec, vec[probes], 25, similarity=similarity)
        else:
            c = search(vec, vec[probes], 25, similarity=similarity, method="numpy")
        lookup = {(int(a), int(b)): s for a, b, s in zip(pairs_a, pairs_b, one_to_one,
                                                         strict=True)}
        checked = 0
        for p in probes:
            for g, s in zip(c.indices[p], c.scores[p], strict=True):
                key = (min(int(p), int(g)), max(int(p), int(g)))
                if key in lookup:
                    assert s == lookup[key]  # same bits
                    checked += 1
        assert checked > 40
