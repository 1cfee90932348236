"""1:N rates against bob.measure's fixtures and hand-checked cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceaudit import ConfigError, UndefinedMetricWarning
from faceaudit.identify import (
    Searches,
    clopper_pearson,
    cmc,
    false_candidate_mix,
    fnir,
    fpir,
    identification_rate,
    rate_table,
    threshold_at_fpir,
)


def load_bob_cmc(path: Path) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """bob.measure's CMC HDF5 layout: either ``data-neg`` (n, m) + ``data-pos`` (n, p), or
    per probe ``data-neg-<i>`` / ``data-pos-<i>`` where a bytes ``b'None'`` means no positives
    (an open-set, non-mated probe)."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "r") as h:
        if "data-neg" in h:
            return [(n, p) for n, p in zip(h["data-neg"][()], h["data-pos"][()], strict=True)]
        n_probes = len([k for k in h if k.startswith("data-neg-")])
        out = []
        for i in range(n_probes):
            neg = h[f"data-neg-{i}"][()]
            pos = h[f"data-pos-{i}"][()]
            out.append((neg, None if pos.dtype.kind == "S" else pos))
        return out


def test_bob_closed_set_cmc(bob_fixtures: Path) -> None:
    s = Searches.from_score_lists(load_bob_cmc(bob_fixtures / "test-cmc.hdf5"))
    assert s.n == 100 and s.mated.all()
    c = cmc(s)
    np.testing.assert_allclose(c[:5], [0.76, 0.89, 0.96, 0.98, 1.0])
    assert c[-1] == 1.0 and len(c) == 20  # 19 negatives: ranks 1..20
    assert identification_rate(s, 1) == pytest.approx(0.76)
    assert fnir(s, -np.inf, rank=1) == pytest.approx(0.24)


@pytest.mark.parametrize(("name", "dir_", "fpir_"), [
    ("test0-open-set.hdf5", 1.0, 0.0),
    ("test1-open-set.hdf5", 6 / 7, 0.0),
    ("test2-open-set.hdf5", 6 / 7, 0.5),
])
def test_bob_open_set_at_threshold_half(bob_fixtures: Path, name: str, dir_: float,
                                        fpir_: float) -> None:
    lists = load_bob_cmc(bob_fixtures / name)
    s = Searches.from_score_lists(lists)
    assert int(s.mated.sum()) == 7 and int((~s.mated).sum()) == 2
    assert 1 - fnir(s, 0.5, rank=1) == pytest.approx(dir_)
    assert fpir(s, 0.5) == pytest.approx(fpir_)
    # bob's recognition_rate filters with '>' where we use '>=': no score equals 0.5 in these
    # fixtures, so both conventions agree here; they differ only at exact ties (next test).
    all_scores = np.concatenate([np.concatenate([np.ravel(n), np.ravel(p if p is not None else [])])
                                 for n, p in lists])
    assert not (all_scores == 0.5).any()


def test_score_equal_to_threshold_is_returned() -> None:
    # mated probe whose mate scores exactly T is a hit; non-mated probe at exactly T is a false
    # positive (accepted iff score >= threshold). bob's '>' would say the opposite for both.
    s = Searches.from_score_lists([([0.1], [0.5]), ([0.5, 0.2], None)])
    assert fnir(s, 0.5) == 0.0
    assert fpir(s, 0.5) == 1.0
    assert fnir(s, np.nextafter(0.5, 1)) == 1.0
    assert fpir(s, np.nextafter(0.5, 1)) == 0.0


def test_rank_ties_count_against_the_mate() -> None:
    s = Searches.from_score_lists([([0.9, 0.7], [0.9]), ([0.3, 0.2], [0.8])])
    assert s.mate_rank.tolist() == [2, 1]
    assert fnir(s, 0.0, rank=1) == 0.5
    assert fnir(s, 0.0, rank=2) == 0.0
    np.testing.assert_allclose(cmc(s), [0.5, 1.0, 1.0])


def test_fnir_requires_rank_and_score() -> None:
    # mate at rank 2 with score 0.8; another mate rank 1 with score 0.4
    s = Searches.from_score_lists([([0.85, 0.1], [0.8]), ([0.3], [0.4])])
    assert fnir(s, 0.5, rank=1) == 1.0  # first: rank 2; second: score below T
    assert fnir(s, 0.5, rank=2) == 0.5
    assert fnir(s, 0.35, rank=2) == 0.0
    with pytest.raises(ConfigError, match="rank must be <= the candidate list length"):
        fnir(s, 0.5, rank=4)


def test_threshold_at_fpir_realised_at_most_target() -> None:
    s = Searches.from_score_lists([([x], None) for x in np.arange(10.0)])
    assert threshold_at_fpir(s, 0.11) == 9.0
    assert threshold_at_fpir(s, 0.91) == 1.0
    t0 = threshold_at_fpir(s, 0.0)
    assert t0 > 9.0 and fpir(s, t0) == 0.0
    for target in np.linspace(0, 1, 23):
        t = threshold_at_fpir(s, float(target))
        assert fpir(s, t) <= target + 1e-12
        assert fpir(s, t) == np.floor(10 * target + 1e-9) / 10


def test_empty_denominator_is_nan_with_warning() -> None:
    s = Searches.from_score_lists([([0.1], [0.5])])
    with pytest.warns(UndefinedMetricWarning, match="FPIR"):
        assert np.isnan(fpir(s, 0.5))


def test_clopper_pearson_known_values() -> None:
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 10))
    lo, hi = clopper_pearson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 10))
    lo, hi = clopper_pearson(5, 10)
    assert (lo, hi) == pytest.approx((0.187086, 0.812914), abs=1e-6)


def _two_group_searches() -> Searches:
    # probes 0-3 group 0 ("F"), 4-7 group 1 ("M"); even = mated, odd = non-mated
    lists = [([0.2], [0.9]), ([0.7], None), ([0.6], [0.3]), ([0.1], None),
             ([0.1], [0.8]), ([0.9], None), ([0.2], [0.95]), ([0.8], None)]
    return Searches.from_score_lists(lists, groups=[0, 0, 0, 0, 1, 1, 1, 1],
                                     group_labels=("F", "M"))


def test_rate_table_per_group_counts_and_intervals() -> None:
    s = _two_group_searches()
    t = rate_table(s, 0.5, confidence=0.95, n_boot=200, seed=1)
    assert list(t.index) == ["F", "M", "overall"]
    assert t.loc["F", ["n_mated", "false_negatives"]].tolist() == [2, 1]
    assert t.loc["F", ["n_nonmated", "false_positives"]].tolist() == [2, 1]
    assert t.loc["M", ["false_negatives", "false_positives"]].tolist() == [0, 2]
    assert t.loc["overall", "fnir"] == 0.25 and t.loc["overall", "fpir"] == 0.75
    lo, hi = clopper_pearson(3, 4)
    assert t.loc["overall", "fpir_ci_low"] == pytest.approx(lo)
    assert t.loc["overall", "fpir_ci_high"] == pytest.approx(hi)
    assert t.loc["overall", "fpir_boot_low"] <= 0.75 <= t.loc["overall", "fpir_boot_high"]
    t2 = rate_table(s, 0.5, confidence=0.95, n_boot=200, seed=1)
    assert t.equals(t2)  # seeded


def test_bootstrap_resamples_subjects_not_searches() -> None:
    # 10 subjects x 10 searches each; 3 subjects always false-alarm, 7 never
    lists = [([0.9], None)] * 30 + [([0.1], None)] * 70
    s = Searches.from_score_lists(lists)
    s_cl = Searches(s.mated, s.probe_group, np.repeat(np.arange(10), 10), s.mate_score,
                    s.mate_rank, s.nonmate_scores, s.nonmate_person, s.gallery_person_group,
                    s.group_labels, s.fte_mated, s.fte_nonmated, s.probe_rows)
    with pytest.warns(UndefinedMetricWarning, match="FNIR"):  # no mated searches here
        by_search = rate_table(s, 0.5, n_boot=2000, seed=0).loc["overall"]
    with pytest.warns(UndefinedMetricWarning, match="FNIR"):
        by_subject = rate_table(s_cl, 0.5, n_boot=2000, seed=0).loc["overall"]
    assert np.isnan(by_subject["fnir"])
    width = by_subject["fpir_boot_high"] - by_subject["fpir_boot_low"]
    assert width > 2 * (by_search["fpir_boot_high"] - by_search["fpir_boot_low"])
    # a bootstrap proportion of 10 clusters takes values in steps of 0.1
    lo10 = by_subject["fpir_boot_low"] * 10
    assert lo10 == pytest.approx(round(lo10))


def test_false_candidate_mix_hand_checked() -> None:
    # gallery: people 0,1 in group 0 ("F"), people 2,3,4 in group 1 ("M")
    pg = np.array([0, 0, 1, 1, 1], np.int32)
    ns = np.array([[0.9, 0.6, 0.2], [0.7, 0.1, 0.0], [0.4, 0.3, 0.2]])
    npers = np.array([[2, 0, 1], [3, 4, 0], [1, 0, 2]])
    s = Searches(mated=np.zeros(3, bool), probe_group=np.array([0, 1, 1], np.int32),
                 probe_cluster=np.arange(3), mate_score=np.full(3, np.nan),
                 mate_rank=np.zeros(3, np.int64), nonmate_scores=ns, nonmate_person=npers,
                 gallery_person_group=pg, group_labels=("F", "M"),
                 fte_mated=np.zeros(2, np.int64), fte_nonmated=np.zeros(2, np.int64),
                 probe_rows=np.arange(3))
    mix = false_candidate_mix(s, 0.5, n_boot=100)
    by = mix.by_gallery_group
    # above 0.5: search 0 -> persons 2 (M), 0 (F); search 1 -> person 3 (M)
    assert by["n_false_candidates"].tolist() == [1, 2]
    assert by["share"].tolist() == pytest.approx([1 / 3, 2 / 3])
    assert by["gallery_share"].tolist() == pytest.approx([0.4, 0.6])
    assert by["representation"].tolist() == pytest.approx([(1 / 3) / 0.4, (2 / 3) / 0.6])
    assert by["per_person_rate"].tolist() == pytest.approx([1 / (3 * 2), 2 / (3 * 3)])
    assert mix.cross.loc["F"].tolist() == [1, 1] and mix.cross.loc["M"].tolist() == [0, 1]
    assert mix.n_truncated == 0
    assert false_candidate_mix(s, 0.15, n_boot=0).n_truncated == 2


def test_rates_are_monotone_in_threshold_and_rank_on_random_lists() -> None:
    rng = np.random.default_rng(9)
    lists = []
    for i in range(300):
        neg = np.round(rng.normal(size=int(rng.integers(1, 12))), 1)  # rounding makes ties
        pos = None if i % 3 == 0 else np.round(rng.normal(1, 1, size=1), 1)
        lists.append((neg, pos))
    s = Searches.from_score_lists(lists)
    ts = np.linspace(-3, 4, 71)
    fn = [fnir(s, t, rank=1) for t in ts]
    fp = [fpir(s, t) for t in ts]
    assert (np.diff(fn) >= 0).all() and (np.diff(fp) <= 0).all()
    assert fp[0] == 1.0 and fp[-1] == 0.0
    by_rank = [fnir(s, 0.5, rank=r) for r in range(1, s.list_length + 1)]
    assert (np.diff(by_rank) <= 0).all()
    # invariant to permuting the searches
    perm = rng.permutation(len(lists))
    s2 = Searches.from_score_lists([lists[i] for i in perm])
    assert fnir(s2, 0.5, 2) == fnir(s, 0.5, 2) and fpir(s2, 0.5) == fpir(s, 0.5)
    np.testing.assert_array_equal(cmc(s2), cmc(s))


def test_false_candidate_mix_can_include_mated_searches() -> None:
    # one mated search with an innocent candidate above T, one non-mated search with one
    s = Searches.from_score_lists([([0.9, 0.1], [0.8]), ([0.7, 0.2], None)])
    s = Searches(s.mated, s.probe_group, s.probe_cluster, s.mate_score, s.mate_rank,
                 s.nonmate_scores, np.where(np.isfinite(s.nonmate_scores), 0, -1),
                 np.zeros(1, np.int32), s.group_labels, s.fte_mated, s.fte_nonmated,
                 s.probe_rows)
    only = false_candidate_mix(s, 0.5, n_boot=0)
    both = false_candidate_mix(s, 0.5, n_boot=0, include_mated=True)
    assert only.by_gallery_group["n_false_candidates"].tolist() == [1]
    assert only.n_searches == 1
    assert both.by_gallery_group["n_false_candidates"].tolist() == [2]
    assert both.n_searches == 2
