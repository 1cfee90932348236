"""ScoreSummary: per-cell views, merging cells with different floors, save/load."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import numpy as np
import pytest

from faceaudit import Grouping, ScoreSummary
from faceaudit._summary import bin_index


def _summary() -> ScoreSummary:
    # 4 samples: subjects 0,0 (group 0) and 1,2 (group 1).
    edges = np.linspace(-1, 1, 5)  # bins [-1,-.5) [-.5,0) [0,.5) [.5,1]
    hist = np.zeros((2, 2, 4), np.int64)
    hist[0, 1, 1] = 3  # three cross-cell impostors in [-.5, 0), below that cell's floor 0.3
    return ScoreSummary(
        sample_ids=np.array(["a", "b", "c", "d"]),
        subject_codes=np.array([0, 0, 1, 2]),
        subject_ids=np.array(["s0", "s1", "s2"]),
        group_codes=np.array([0, 0, 1, 1]),
        group_labels=("F", "M"),
        grouping=Grouping(("sex",)),
        enrolled=np.ones(4, bool),
        genuine_scores=np.array([0.9]),
        genuine_a=np.array([0]),
        genuine_b=np.array([1]),
        hist_edges=edges,
        impostor_hist=hist,
        tail_scores=np.array([0.4, 0.35, 0.1]),
        tail_a=np.array([0, 1, 2]),
        tail_b=np.array([2, 3, 3]),
        tail_floor=np.array([[-np.inf, 0.3], [-np.inf, -np.inf]]),
        genuine_fta=np.zeros((2, 2)),
        impostor_fta=np.array([[0, 2], [0, 0]]),
    )


def test_totals_and_cells() -> None:
    s = _summary()
    assert s.impostor_total.tolist() == [[0, 5], [0, 1]]
    assert s.genuine_total.tolist() == [[1, 0], [0, 0]]


def test_derived_arrays_are_computed_once_and_read_only() -> None:
    s = _summary()
    ti, tj = s.tail_cells
    assert (ti.tolist(), tj.tolist()) == ([0, 0, 1], [1, 1, 1])  # groups of (a,c) (b,d) (c,d)
    assert s.tail_cells is s.tail_cells and s.impostor_total is s.impostor_total
    assert s.genuine_cells is s.genuine_cells and s.genuine_total is s.genuine_total
    for arr in (ti, s.impostor_total, s.genuine_cells[0], s.genuine_total, s.tail_a):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 1
    assert s.impostor_total.tolist() == [[0, 5], [0, 1]]


def test_fields_are_read_only_views_of_the_callers_arrays() -> None:
    tail_a = np.array([0, 1, 2])
    s = dataclasses.replace(_summary(), tail_a=tail_a)
    assert not s.tail_a.flags.writeable and tail_a.flags.writeable
    assert s.tail_cells[0].tolist() == [0, 0, 1]


def test_replace_pickle_and_copy_rebuild_the_memos() -> None:
    s = _summary()
    assert s.impostor_total.tolist() == [[0, 5], [0, 1]]  # memo filled before copying
    # moving tail pair (c, d) -> (a, b): cell (1, 1) loses its impostor, (0, 0) gains it
    r = dataclasses.replace(s, tail_a=np.array([0, 1, 0]), tail_b=np.array([2, 3, 1]))
    assert r.impostor_total.tolist() == [[1, 5], [0, 0]]
    assert r.tail_cells[0].tolist() == [0, 0, 0] and r.tail_cells[1].tolist() == [1, 1, 0]
    assert s.impostor_total.tolist() == [[0, 5], [0, 1]]
    for c in (pickle.loads(pickle.dumps(r)), copy.copy(r), copy.deepcopy(r)):
        assert "impostor_total" not in vars(c) and "tail_cells" not in vars(c)
        assert not c.tail_scores.flags.writeable
        assert c.impostor_total.tolist() == [[1, 5], [0, 0]]
        assert c.genuine_total.tolist() == [[1, 0], [0, 0]]
        assert all(np.array_equal(getattr(c, f.name), getattr(r, f.name))
                   for f in dataclasses.fields(r) if isinstance(getattr(r, f.name), np.ndarray))


def test_merged_cells_move_scores_below_the_highest_floor_to_the_histogram() -> None:
    s = _summary()
    merged = s.scores("all")
    assert merged.impostor_floor == 0.3
    assert merged.impostor_tail.tolist() == [0.35, 0.4]
    assert merged.impostor_hist.tolist() == [0, 3, 1, 0]  # the 0.1 of cell (1,1) joined bin [0, .5)
    assert merged.n_impostor == 6 and merged.impostor_fta == 2
    diag = s.scores("diagonal")
    assert diag.exact and diag.impostor_tail.tolist() == [0.1] and diag.genuine.tolist() == [0.9]
    assert s.scores(("M", "F")).impostor_tail.tolist() == [0.35, 0.4]


def test_bin_index_is_left_closed_and_clipped() -> None:
    edges = np.linspace(-1, 1, 5)
    assert bin_index(np.array([-2.0, -1.0, -0.5, 0.0, 0.99, 1.0, 3.0]), edges).tolist() == [
        0,
        0,
        1,
        2,
        3,
        3,
        3,
    ]


def test_save_load_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = _summary()
    s.save(tmp_path / "s.npz")
    back = ScoreSummary.load(tmp_path / "s.npz")
    assert back.group_labels == ("F", "M") and back.grouping.attributes == ("sex",)
    np.testing.assert_array_equal(back.tail_floor, s.tail_floor)
    np.testing.assert_array_equal(back.impostor_hist, s.impostor_hist)
    assert back.scores("all").impostor_tail.tolist() == [0.35, 0.4]
