"""Rate functions, thresholds, EER and curves: bob.measure's fixtures and hand-checked cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from faceaudit import ConfigError, InputError, ScoreSet, UndefinedMetricWarning
from faceaudit.metrics import (
    det_curve,
    eer,
    eer_threshold,
    error_counts,
    fmr,
    fnmr,
    fta,
    hter,
    roc_auc,
    roc_curve,
    roc_for_far,
    system_far,
    system_frr,
    threshold_at_fmr,
    threshold_at_fnmr,
)


def _two_column(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = np.loadtxt(path)
    return d[d[:, 0] == -1, 1], d[d[:, 0] == 1, 1]


def _h5(path: Path) -> np.ndarray:
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "r") as f:
        return np.asarray(f["array"][:], dtype=np.float64)


# -------------------------------------------------------------- bob.measure's dev/test tables
# set, EER threshold from dev, FM, n_nonmated, FNM, n_mated, FAR %, FRR %, HTER %
BOB_TABLE = [
    ("dev-1", "dev-1", -8.025286e-03, 31, 495, 28, 451, 5.924, 11.273, 8.599),
    ("dev-1", "test-1", -8.025286e-03, 27, 479, 29, 473, 5.366, 10.637, 8.001),
    ("dev-2", "dev-2", 1.652567e-02, 23, 501, 20, 446, 4.348, 9.547, 6.947),
    ("dev-2", "test-2", 1.652567e-02, 16, 480, 33, 471, 3.170, 11.563, 7.367),
]


@pytest.mark.parametrize(
    ("dev", "name", "thr", "fm", "nn", "fnm", "nm", "far", "frr", "h"), BOB_TABLE
)
def test_bob_dev_test_tables(bob_fixtures, dev, name, thr, fm, nn, fnm, nm, far, frr, h) -> None:
    t = eer_threshold(*_two_column(bob_fixtures / f"{dev}.txt"))
    assert f"{t:.6e}" == f"{thr:.6e}"
    neg, pos = _two_column(bob_fixtures / f"{name}.txt")
    c = error_counts(neg, pos, thresholds=t)
    assert (int(c.false_matches[0]), c.n_nonmated) == (fm, nn)
    assert (int(c.false_non_matches[0]), c.n_mated) == (fnm, nm)
    f = fta(neg, pos)  # bob: NaN rows over all rows of the set
    assert round(100 * system_far(fmr(neg, pos, threshold=t), f), 3) == far
    assert round(100 * system_frr(fnmr(neg, pos, threshold=t), f), 3) == frr
    assert round(100 * hter(neg, pos, threshold=t), 3) == h
    assert fmr(neg, threshold=t) == pytest.approx(fm / nn, abs=0)


def test_roc_for_far_and_auc_on_nonseparable_fixture(bob_fixtures) -> None:
    neg = _h5(bob_fixtures / "nonsep-negatives.hdf5")
    pos = _h5(bob_fixtures / "nonsep-positives.hdf5")
    far, frr, thr = roc_for_far(neg, pos, targets=[0.01, 0.1, 1.0])
    np.testing.assert_allclose(far, [0.0, 0.1, 1.0], atol=1e-12)
    np.testing.assert_allclose(frr, [0.48, 0.12, 0.0], atol=1e-12)
    assert np.all(np.diff(thr) <= 0)
    assert round(roc_auc(neg, pos), 4) == 0.9326


def test_linearly_separable_fixture_has_no_errors_at_3(bob_fixtures) -> None:
    neg = _h5(bob_fixtures / "linsep-negatives.hdf5")
    pos = _h5(bob_fixtures / "linsep-positives.hdf5")
    assert fmr(neg, pos, threshold=3.0) == 0.0
    assert fnmr(neg, pos, threshold=3.0) == 0.0
    assert eer(neg, pos) == 0.0
    assert roc_auc(neg, pos) == 1.0


# -------------------------------------------------------------- hand-checkable cases
def test_threshold_at_fmr_hand_cases() -> None:
    s = np.arange(10.0)
    assert threshold_at_fmr(s, s, target=0.11) == 9.0
    assert threshold_at_fmr(s, s, target=0.91) == 1.0
    neg = [0.5, 0.6, 0.7, 0.8, 0.9, 1, 1, 1, 1]
    pos = [0, 0, 0, 0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert threshold_at_fmr(neg, pos, target=0.5) == 1.0
    # target 0: the threshold just above every impostor score (FMR exactly 0)
    t0 = threshold_at_fmr(s, target=0.0)
    assert t0 == np.nextafter(9.0, np.inf) and fmr(s, threshold=t0) == 0.0
    assert threshold_at_fmr(s, target=1.0) == 0.0


@pytest.mark.parametrize("target", [0.0, 0.05, 0.1, 0.15, 0.33, 0.5, 0.77, 0.99, 1.0])
def test_realised_fmr_is_floor_of_target(target: float) -> None:
    neg, pos = np.arange(10.0), np.arange(10.0, 20.0)
    t = threshold_at_fmr(neg, pos, target=target)
    assert fmr(neg, pos, threshold=t) == math.floor(10 * target + 1e-12) / 10
    assert fnmr(neg, pos, threshold=t) == 0.0


def test_threshold_at_fnmr() -> None:
    pos = np.arange(10.0)
    assert threshold_at_fnmr([], pos, target=0.25) == 2.0  # FNMR(2) = 0.2, FNMR(3) = 0.3
    assert threshold_at_fnmr([], pos, target=0.0) == 0.0
    assert threshold_at_fnmr([], pos, target=1.0) == 9.0
    assert fnmr([], pos, threshold=threshold_at_fnmr([], pos, target=0.3)) == 0.3


def test_tie_rule_at_the_threshold() -> None:
    # a genuine exactly at t is accepted; an impostor exactly at t is a false match
    assert fnmr([0.5], [0.5], threshold=0.5) == 0.0
    assert fmr([0.5], [0.5], threshold=0.5) == 1.0
    assert fmr([0.5], threshold=np.nextafter(0.5, 1)) == 0.0
    assert fnmr([], [0.5], threshold=np.nextafter(0.5, 1)) == 1.0


def test_eer_hand_cases() -> None:
    # impostors 0..9, genuines 10..19: separable; midpoint 9.5 gives 0/0
    neg, pos = np.arange(10.0), np.arange(10.0, 20.0)
    assert eer_threshold(neg, pos) == 9.5
    assert eer(neg, pos) == 0.0
    # identical sets: the midpoint 4.5 rejects 0..4 of both: FMR = FNMR = 0.5
    s = np.arange(10.0)
    assert eer_threshold(s, s) == 4.5
    assert eer(s, s) == 0.5
    # tie in |FMR - FNMR| during the scan: the larger threshold wins (bob's `<=`):
    # t=1.5 gives |2/3 - 1/2|, t=3 gives |1/3 - 1/2|
    assert eer_threshold([0.0, 2.0, 4.0], [1.0, 5.0]) == 3.0
    # tie with the candidate where the genuines run out: the earlier one stays (bob's `<`):
    # t=0.5 gives |1/2 - 0|, t=1.5 gives |1/2 - 1|
    assert eer_threshold([0.0, 2.0], [1.0]) == 0.5


def test_all_scores_tied() -> None:
    s = np.full(5, 0.3)
    assert eer_threshold(s, s) == 0.3  # FMR = 1, FNMR = 0 and above: 0, 1; the first wins
    assert fmr(s, s, threshold=0.3) == 1.0 and fnmr(s, s, threshold=0.3) == 0.0
    assert threshold_at_fmr(s, target=0.5) == np.nextafter(0.3, 1)
    assert roc_auc(s, s) == 0.5


def test_nan_scores_are_failures_to_acquire() -> None:
    neg = [0.1, np.nan, 0.6]
    pos = [0.9, np.nan, np.nan, 0.2]
    assert fta(neg, pos) == pytest.approx(3 / 7)
    assert fmr(neg, pos, threshold=0.5) == 0.5
    assert fnmr(neg, pos, threshold=0.5) == 0.5
    f = 3 / 7
    assert hter(neg, pos, threshold=0.5) == pytest.approx(0.5 * (0.5 * (1 - f) + f + 0.5 * (1 - f)))
    assert system_far(0.5, f) == pytest.approx(0.5 * 4 / 7)
    assert system_frr(0.5, f) == pytest.approx(3 / 7 + 0.5 * 4 / 7)


@pytest.mark.parametrize("fn", [eer_threshold, eer])
def test_empty_inputs_raise(fn) -> None:
    with pytest.raises(InputError, match="no impostor"):
        fn([], [1.0])
    with pytest.raises(InputError, match="no genuine"):
        fn([1.0], [])


def test_threshold_functions_raise_on_empty_and_bad_target() -> None:
    with pytest.raises(InputError, match="no impostor"):
        threshold_at_fmr([], [1.0], target=0.1)
    with pytest.raises(InputError, match="no genuine"):
        threshold_at_fnmr([1.0], [], target=0.1)
    with pytest.raises(ConfigError, match="target must satisfy"):
        threshold_at_fmr([1.0], target=1.5)
    with pytest.raises(ConfigError, match="genuine must be None"):
        fmr(ScoreSet.from_arrays([1.0], [0.0]), [1.0], threshold=0.5)
    with pytest.raises(ConfigError, match="NaN"):
        error_counts([1.0], thresholds=[np.nan])


def test_roc_and_det_curves_match_brute_force() -> None:
    rng = np.random.default_rng(3)
    neg = np.round(rng.normal(0, 1, 200), 1)  # many ties
    pos = np.round(rng.normal(2, 1, 100), 1)
    f, fn, t = det_curve(neg, pos)
    assert np.all(np.diff(t) > 0) and t[-1] > max(neg.max(), pos.max())
    np.testing.assert_array_equal(f, [(neg >= x).mean() for x in t])
    np.testing.assert_array_equal(fn, [(pos < x).mean() for x in t])
    rf, tmr, rt = roc_curve(neg, pos)
    np.testing.assert_array_equal(rt, t[::-1])
    np.testing.assert_array_equal(tmr, 1 - fn[::-1])
    assert rf[0] == 0.0 and tmr[0] == 0.0 and rf[-1] == 1.0 and tmr[-1] == 1.0
    mw = ((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    assert roc_auc(neg, pos) == pytest.approx(mw, abs=1e-12)


# -------------------------------------------------------------- registry of rate functions
def _at(fn):
    return lambda neg, pos, t: fn(neg, pos, threshold=t)


RATES = {
    "fmr": _at(fmr),
    "fnmr": _at(fnmr),
    "hter": _at(hter),
    "far": lambda n, p, t: system_far(fmr(n, p, threshold=t), fta(n, p)),
    "frr": lambda n, p, t: system_frr(fnmr(n, p, threshold=t), fta(n, p)),
}
# +1: rate grows with the threshold, -1: shrinks, 0: no monotonicity promise
DIRECTION = {"fmr": -1, "fnmr": 1, "hter": 0, "far": -1, "frr": 1}


@pytest.mark.parametrize("name", sorted(RATES))
def test_registry_range_permutation_monotone(name: str) -> None:
    rng = np.random.default_rng(7)
    neg = np.round(rng.normal(0, 1, 300), 2)
    pos = np.round(rng.normal(1.5, 1, 120), 2)
    neg[::37] = np.nan
    fn = RATES[name]
    grid = np.linspace(-4, 6, 81)
    vals = np.array([fn(neg, pos, t) for t in grid])
    assert np.all((vals >= 0) & (vals <= 1))
    perm = np.array([fn(rng.permutation(neg), rng.permutation(pos), t) for t in grid])
    np.testing.assert_array_equal(vals, perm)
    if DIRECTION[name]:
        assert np.all(DIRECTION[name] * np.diff(vals) >= 0)
        assert vals.min() < vals.max()


@pytest.mark.parametrize("name", ["fmr", "hter", "far"])
def test_registry_nan_on_empty_impostors(name: str) -> None:
    with pytest.warns(UndefinedMetricWarning, match="no impostor"):
        assert math.isnan(RATES[name]([], [0.5, 0.7], 0.6))


@pytest.mark.parametrize("name", ["fnmr", "hter", "frr"])
def test_registry_nan_on_empty_genuines(name: str) -> None:
    with pytest.warns(UndefinedMetricWarning, match="no genuine"):
        assert math.isnan(RATES[name]([0.5, 0.7], [], 0.6))


def test_auc_nan_on_empty() -> None:
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(roc_auc([], [1.0]))
