"""Templates, similarity conventions, safe I/O and ScoreSet/ScoreSummary plumbing."""

from __future__ import annotations

import numpy as np
import pytest

from faceaudit import ConfigError, IntegrityError, ScoreSet, Templates
from faceaudit._io import load_npz, save_npz, write_json
from faceaudit._similarity import block_scores, pair_scores, prepare


def test_templates_round_trip_and_align(tmp_path) -> None:  # type: ignore[no-untyped-def]
    vec = np.array([[1, 0], [0, 1], [np.nan, np.nan]], np.float32)
    t = Templates(
        np.array(["a", "b", "c"]),
        vec,
        np.array(["ok", "ok", "no_face"]),
        np.array(["", "", "no face found"]),
        "m1",
        "euclidean",
    )
    t.save(tmp_path / "t.npz")
    back = Templates.load(tmp_path / "t.npz")
    assert back.model_id == "m1" and back.similarity == "euclidean"
    np.testing.assert_array_equal(back.vectors[:2], vec[:2])
    al = back.align(["c", "x", "a"])
    assert al.status.tolist() == ["no_face", "missing", "ok"]
    assert al.ok.sum() == 1


def test_templates_reject_bad_status_and_nan_ok() -> None:
    with pytest.raises(ConfigError, match="unknown status"):
        Templates(np.array(["a"]), np.zeros((1, 2)), np.array(["weird"]), np.array([""]), "m")
    with pytest.raises(ValueError, match="non-finite"):
        Templates.from_vectors(["a"], np.array([[np.nan, 1.0]]))


def test_load_npz_refuses_pickles(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "evil.npz"
    np.savez(p, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(IntegrityError, match="refusing"):
        load_npz(p)
    with pytest.raises(TypeError):
        save_npz(tmp_path / "o.npz", {"x": np.array([object()])})


def test_write_json_strict(tmp_path) -> None:  # type: ignore[no-untyped-def]
    write_json(tmp_path / "r.json", {"a": np.float64("nan"), "b": np.arange(2)})
    assert (tmp_path / "r.json").read_text() == '{\n  "a": null,\n  "b": [\n    0,\n    1\n  ]\n}\n'


def test_similarity_conventions() -> None:
    a = np.array([[3.0, 4.0], [1.0, 0.0]], np.float32)
    b = np.array([[0.0, 0.0], [1.0, 0.0]], np.float32)
    # cosine: hand-checked 0.6 and 1.0; the zero vector scores 0
    pa, _ = prepare(a, "cosine")
    pb, _ = prepare(b, "cosine")
    np.testing.assert_allclose(block_scores(pa, pb, "cosine"), [[0.0, 0.6], [0.0, 1.0]], atol=1e-7)
    # euclidean: score = -distance (|(3,4)-(0,0)| = 5, |(3,4)-(1,0)| = sqrt(20))
    ea, sa = prepare(a, "euclidean")
    eb, sb = prepare(b, "euclidean")
    np.testing.assert_allclose(
        block_scores(ea, eb, "euclidean", sa, sb), [[-5.0, -np.sqrt(20)], [-1.0, 0.0]], atol=1e-6
    )
    np.testing.assert_allclose(pair_scores(a, b, "euclidean"), [-5.0, 0.0], atol=1e-6)
    with pytest.raises(ConfigError, match="similarity must be one of"):
        prepare(a, "manhattan")


def test_scoreset_from_arrays_counts_nan_as_fta() -> None:
    s = ScoreSet.from_arrays([0.9, np.nan, 0.8], [0.1, 0.2, np.nan, np.nan])
    assert (s.n_genuine, s.n_impostor, s.genuine_fta, s.impostor_fta) == (2, 2, 1, 2)
    assert s.exact
