"""Explicit pair lists (LFW pairs.txt style): resolution, errors naming the row, scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from faceaudit import InputError, Manifest, Templates
from faceaudit._protocol import parse_label, resolve_pairs
from faceaudit._scorer import score_templates
from faceaudit._similarity import pair_scores


@pytest.fixture
def case():
    df = pd.DataFrame(
        {
            "sample_id": ["a1", "a2", "b1", "b2", "c1"],
            "subject_id": ["A", "A", "B", "B", "C"],
            "sex": ["F", "F", "M", "M", "F"],
        }
    )
    m = Manifest(df)
    vec = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1]], np.float32)
    status = np.array(["ok", "ok", "ok", "ok", "no_face"], dtype="<U16")
    vec[4] = np.nan
    return m, Templates(m.sample_ids, vec, status, np.full(5, ""), "t", "cosine")


def test_pairs_scores_and_fta(case):
    m, t = case
    pairs = pd.DataFrame(
        {
            "sample_a": ["a1", "b1", "a1", "a2", "c1", "a1"],
            "sample_b": ["a2", "b2", "b1", "b2", "a1", "b1"],
            "label": ["1", "1", "0", "0", "0", "0"],
            "fold": [1, 1, 1, 2, 2, 2],
        }
    )
    s = score_templates(t, m, grouping="sex", pairs=pairs, progress=False)
    assert s.group_labels == ("F", "M")
    np.testing.assert_array_equal(s.genuine_a, [0, 2])
    np.testing.assert_array_equal(s.genuine_b, [1, 3])
    want = pair_scores(t.vectors[[0, 2]], t.vectors[[1, 3]], "cosine").astype(float)
    np.testing.assert_array_equal(s.genuine_scores, want)
    # impostors: a1-b1 twice (both rows count) and a2-b2, all in cell (F, M); c1 failed -> FTA (F,F)
    assert s.impostor_total.tolist() == [[0, 3], [0, 0]]
    assert s.impostor_fta.tolist() == [[1, 0], [0, 0]]
    assert s.genuine_fta.sum() == 0
    np.testing.assert_array_equal(s.tail_a, [0, 0, 1])
    np.testing.assert_array_equal(s.tail_b, [2, 2, 3])
    assert s.tail_scores[0] == s.tail_scores[1] == 0.0
    assert s.protocol["impostors"] == "pairs" and s.protocol["n_folds"] == 2


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([("a1", "a2", 1), ("a1", "zz", 0)], "row 2: unknown sample_b 'zz'"),
        (
            [("a1", "b1", "genuine")],
            "row 1: labelled genuine but the manifest says 'a1' and 'b1' are different subjects",
        ),
        ([("a1", "a2", 0)], "row 1: labelled impostor .* the same subject"),
        ([("a1", "a2", "perhaps")], "row 1: label 'perhaps' is not a genuine/impostor label"),
        ([("a1", "a1", 1)], "row 1: sample 'a1' is paired with itself"),
    ],
)
def test_pair_errors_name_the_row(case, rows, match):
    m, t = case
    with pytest.raises(InputError, match=match):
        score_templates(t, m, pairs=rows, progress=False)


def test_resolve_pairs_forms():
    ids = np.array(["x", "y", "z"])
    subj = np.array([0, 0, 1])
    p = resolve_pairs((np.array(["x", "y"]), np.array(["y", "z"])), ids, subj)
    assert p.a.tolist() == [0, 1] and p.b.tolist() == [1, 2] and p.mated.tolist() == [True, False]
    p = resolve_pairs([("z", "x")], ids, subj)
    assert p.a.tolist() == [2] and p.mated.tolist() == [False]
    with pytest.raises(InputError, match="need columns"):
        resolve_pairs(pd.DataFrame({"a": ["x"], "b": ["y"]}), ids, subj)
    assert [parse_label(v) for v in (1, "0", "-1", "Genuine", "impostor", True, "x")] == [
        True,
        False,
        False,
        True,
        False,
        True,
        None,
    ]


def test_lfw_pairs_and_all_pairs_counts(lfw_dir):
    """Real LFW manifest: pairs.txt resolves to 3000 + 3000 pairs; all-pairs counts are exact."""
    from faceaudit.datasets.lfw import load_lfw, read_lfw_pairs

    m = load_lfw(lfw_dir)
    pairs = read_lfw_pairs(lfw_dir / "pairs.txt", m)
    rng = np.random.default_rng(0)
    tpl = Templates.from_vectors(m.sample_ids, rng.standard_normal((len(m), 16)))
    s = score_templates(tpl, m, grouping="gender", pairs=pairs, progress=False)
    assert len(s.genuine_scores) == 3000 and int(s.impostor_total.sum()) == 3000
    assert s.protocol["n_folds"] == 10
    # all pairs, matched impostors by gender: genuine count = sum over people of C(n, 2)
    n_per = np.bincount(m.subject_codes)
    s = score_templates(tpl, m, grouping="gender", impostors="matched", progress=False)
    assert len(s.genuine_scores) == int((n_per * (n_per - 1) // 2).sum()) == 242_257
    g = m.groups("gender").codes
    for k in range(s.n_groups):
        sel = g == k
        n_k = int(sel.sum())
        n_subj = np.bincount(m.subject_codes[sel])
        want = n_k * (n_k - 1) // 2 - int((n_subj * (n_subj - 1) // 2).sum())
        assert int(s.impostor_total[k, k]) == want
    assert int(s.impostor_total.sum()) == int(np.trace(s.impostor_total))
