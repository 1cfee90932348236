"""The deployment table: threshold for a target FPIR at each gallery size, innocent people per
10,000 searches, and "not measurable with this data" (against a brute-force score matrix)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from faceaudit import ConfigError
from faceaudit.identify import Searches, needed_fmr, operating_points, predict_fpir


def _searches(list_length: int = 10, seed: int = 0) -> tuple[Searches, np.ndarray]:
    """400 non-mated searches (200 people x 2 probes, two groups) against 1,000 people."""
    rng = np.random.default_rng(seed)
    n_gal, n_probe = 1000, 400
    group = np.repeat([0, 1], n_probe // 2).astype(np.int32)
    full = rng.standard_normal((n_probe, n_gal)) + 0.4 * group[:, None]
    top = -np.sort(-full, axis=1)[:, :list_length]
    s = Searches(
        mated=np.zeros(n_probe, bool), probe_group=group,
        probe_cluster=np.repeat(np.arange(n_probe // 2), 2).astype(np.int64),
        mate_score=np.full(n_probe, np.nan), mate_rank=np.zeros(n_probe, np.int64),
        nonmate_scores=top, nonmate_person=np.zeros_like(top, dtype=np.int64),
        gallery_person_group=np.zeros(n_gal, np.int32), group_labels=("A", "B"),
        fte_mated=np.zeros(2, np.int64), fte_nonmated=np.zeros(2, np.int64),
        probe_rows=np.full(n_probe, -1, np.int64))
    return s, full


def test_needed_fmr_inverts_predict_fpir() -> None:
    for tau, n in ((0.003, 1e5), (0.01, 1e7), (0.3, 10)):
        f = needed_fmr(tau, n)
        assert float(predict_fpir(f, n)) == pytest.approx(tau, rel=1e-9)
    assert float(needed_fmr(0.01, 1e6)) == pytest.approx(1.00503e-8, rel=1e-5)


def test_measured_gallery_against_brute_force() -> None:
    s, full = _searches()
    df = operating_points(s, gallery_sizes=(1e6,), n_boot=200, seed=1)
    n_cmp = full.size
    assert set(df["gallery_size"]) == {1000.0, 1e6}
    row = df[(df.gallery_size == 1000) & (df.target_fpir == 0.01) & (df.group == "overall")]
    row = row.iloc[0]
    f_star = 1 - 0.99 ** (1 / 1000)
    assert row.fmr_needed == pytest.approx(f_star) and row.measurable
    # the threshold: smallest score with pooled FMR <= f*, brute force over every comparison
    flat = np.sort(full.ravel())
    cand = np.unique(flat)
    cnt = len(flat) - np.searchsorted(flat, cand)
    t_bf = cand[np.argmax(cnt <= f_star * n_cmp)]
    assert row.threshold == t_bf
    for lab, sel in (("A", slice(0, 200)), ("B", slice(200, 400))):
        r = df[(df.gallery_size == 1000) & (df.target_fpir == 0.01) & (df.group == lab)].iloc[0]
        k = int((full[sel] >= t_bf).sum())
        assert (r.fmr_k, r.fmr_n) == (k, 200 * 1000)
        assert r.fmr_low <= r.fmr <= r.fmr_high
        # innocent per 10,000 searches: E[min(50, Bin(N, fmr))], computed independently
        e = sum(stats.binom.sf(j, 1000, k / 200_000) for j in range(50))
        assert r.innocent == pytest.approx(10_000 * e)
        assert r.fpir_pred == pytest.approx(1 - (1 - k / 200_000) ** 1000)
        # the measured check: share of the group's searches returning anyone >= T
        hits = (full[sel] >= t_bf).any(axis=1)
        assert r.fpir_measured == pytest.approx(hits.mean())
        assert r.innocent_measured == pytest.approx(
            10_000 * np.minimum((full[sel] >= t_bf).sum(axis=1), 10).mean())
    # group B scores higher against everyone: more innocent people returned
    b = df[(df.gallery_size == 1000) & (df.target_fpir == 0.01)].set_index("group")
    assert b.loc["B", "innocent"] > b.loc["A", "innocent"]


def test_not_measurable_instead_of_extrapolating() -> None:
    s, full = _searches()
    df = operating_points(s, gallery_sizes=(1e5, 1e6, 1e7), n_boot=0)
    n_cmp = full.size  # 400,000: FMRs below 3 / 400,000 = 7.5e-6 cannot be measured
    for N in (1e6, 1e7):
        rows = df[df.gallery_size == N]
        assert not rows.measurable.any() and rows.threshold.isna().all()
        assert rows.reason.str.startswith("not measurable with this data").all()
        assert rows.fmr.isna().all()
    assert (needed_fmr(0.01, 1e6) < 3 / n_cmp) and (needed_fmr(0.01, 1000) > 3 / n_cmp)
    # lists that are full where the threshold would fall: the count there is unknown
    short, _ = _searches(list_length=2)
    d2 = operating_points(short, gallery_sizes=(), target_fpir=(0.5,), n_boot=0)
    assert not d2.measurable.any()
    assert "candidate lists of 2 are full" in d2.reason.iloc[0]


def test_operating_points_validation() -> None:
    s, _ = _searches()
    with pytest.raises(ConfigError, match="target_fpir"):
        operating_points(s, target_fpir=(0.0,))
    empty = Searches.from_score_lists([([0.1], None)])
    with pytest.raises(ConfigError, match="n_gallery > 0"):
        operating_points(empty)
    df = operating_points(s, gallery_sizes=(), n_boot=0, confidence=0.9)
    assert df.attrs["confidence"] == 0.9 and math.isclose(df.attrs["per_searches"], 10_000)
