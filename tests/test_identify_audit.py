"""End-to-end 1:N audit on synthetic templates: searches vs brute force, curves, extrapolation."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from _support import people
from faceaudit import ConfigError, Manifest, Templates
from faceaudit._io import _jsonable
from faceaudit._similarity import prepare
from faceaudit.identify import (
    ImpostorRates,
    Searches,
    canonical_pair_scores,
    deployment_whatif,
    extrapolate_fpir,
    fpir,
    gallery_size_curve,
    identify,
    predict_fpir,
    run_searches,
    split_gallery,
)


def population(n_subjects: int = 240, seed: int = 0, fail_every: int = 0, dim: int = 16,
               noise_f: float = 1.1, noise_m: float = 0.8,
               similarity: str = "cosine") -> tuple[Manifest, Templates]:
    return people(n_subjects, seed, fail_every, dim, noise_f=noise_f, noise_m=noise_m,
                  failure=("too_small", "small"), similarity=similarity)


def _reference(split, t: Templates, probe_row: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: every gallery person's max canonical score, sorted (-score, first row)."""
    G, _ = prepare(t.vectors[split.gallery_rows], t.similarity)
    P, _ = prepare(t.vectors[[probe_row]], t.similarity)
    s = canonical_pair_scores(np.repeat(P, len(G), axis=0), G, t.similarity)
    n_p = split.n_gallery
    best = np.full(n_p, -np.inf)
    first = np.full(n_p, np.iinfo(np.int64).max)
    for e, (p, sc) in enumerate(zip(split.gallery_subject, s, strict=True)):
        if sc > best[p]:
            best[p], first[p] = sc, e
    order = np.lexsort((first, -best))
    return order, best[order]


@pytest.mark.parametrize(("similarity", "n_enrol"), [("cosine", 1), ("euclidean", 1),
                                                      ("cosine", 2)])
def test_searches_match_brute_force(similarity: str, n_enrol: int) -> None:
    m, t = population(n_subjects=150, similarity=similarity)
    sp = split_gallery(m, t, "sex", n_enrol=n_enrol, seed=3)
    s = run_searches(sp, t, list_length=8)
    code_to_person = {int(c): i for i, c in enumerate(sp.gallery_subject_codes)}
    for i in range(0, s.n, 7):
        row = int(s.probe_rows[i])
        order, scores = _reference(sp, t, row)
        mate = code_to_person.get(int(m.subject_codes[row]), -1)
        assert s.mated[i] == (mate >= 0)
        keep = order != mate
        np.testing.assert_array_equal(s.nonmate_person[i], order[keep][:8])
        np.testing.assert_array_equal(s.nonmate_scores[i], scores[keep][:8])
        if mate >= 0:
            ms = scores[order == mate][0]
            assert s.mate_score[i] == ms
            r = 1 + int((scores[keep] >= ms).sum())  # ties count against the mate
            assert s.mate_rank[i] == (r if r <= 8 else 0)


def test_faiss_and_numpy_give_identical_audits() -> None:
    m, t = population(n_subjects=120)
    a = identify(t, m, "sex", threshold=0.6, n_boot=50, method="faiss")
    b = identify(t, m, "sex", threshold=0.6, n_boot=50, method="numpy")
    pd.testing.assert_frame_equal(a.rates, b.rates)
    pd.testing.assert_frame_equal(a.mix.by_gallery_group, b.mix.by_gallery_group)


def test_fpir_non_decreasing_in_gallery_size_on_nested_galleries() -> None:
    m, t = population(n_subjects=400, seed=1)
    sp = split_gallery(m, t, "sex", seed=0)
    s = run_searches(sp, t, list_length=5)
    T = float(np.quantile(s.top_nonmate[~s.mated], 0.8))
    curve = gallery_size_curve(sp, t, T, [10, 40, 80, 150], n_boot=0, searches=s)
    assert sorted(set(curve["gallery_size"])) == [10, 40, 80, 150, sp.n_gallery]
    for _g, c in curve.groupby("group"):
        c = c.sort_values("gallery_size")
        assert (np.diff(c["false_positives"].to_numpy()) >= 0).all()
        assert (c["n_nonmated"] == c["n_nonmated"].iloc[0]).all()  # same non-mated searches each N
    # the full-size row equals the full-gallery searches
    full = curve[(curve["gallery_size"] == sp.n_gallery) & (curve["group"] == "overall")]
    assert full["fpir"].iloc[0] == fpir(s, T)
    # small sub-galleries keep only the mated searches whose mate is enrolled in them
    small = curve[(curve["gallery_size"] == 10) & (curve["group"] == "overall")]
    assert 0 < small["n_mated"].iloc[0] < full["n_mated"].iloc[0]


def test_identify_target_fpir_rates_and_json() -> None:
    m, t = population(n_subjects=300, fail_every=11)
    a = identify(t, m, "sex", target_fpir=0.05, gallery_sizes=[30, 100], n_boot=100, seed=2)
    r = a.rates
    assert r.loc["overall", "fpir"] <= 0.05
    assert "target_fpir=0.05" in a.threshold_rule
    # FTE: counted and folded into fnir_with_fte = (misses + fte) / (mated + fte)
    row = r.loc["overall"]
    assert row["n_mated_fte"] > 0
    assert row["fnir_with_fte"] == pytest.approx(
        (row["false_negatives"] + row["n_mated_fte"]) / (row["n_mated"] + row["n_mated_fte"]))
    # F has noisier templates: higher FNIR
    assert r.loc["F", "fnir"] > r.loc["M", "fnir"]
    # mix of false candidates is consistent with the impostor counts (list long enough)
    assert a.mix.n_truncated == 0
    assert int(a.mix.by_gallery_group["n_false_candidates"].sum()) == int(a.impostor.k.sum())
    np.testing.assert_array_equal(a.mix.cross.to_numpy(), a.impostor.k)
    d = a.to_dict()
    text = json.dumps(_jsonable(d), allow_nan=False)
    assert '"threshold_rule"' in text and d["search"]["exact"] is True
    assert a.check is not None and set(a.check["gallery_size"]) == {30, 100, a.split.n_gallery}
    # at the full gallery the prediction uses the FMR measured there: close to measured FPIR
    chk = a.check[(a.check["gallery_size"] == a.split.n_gallery) & (a.check["group"] == "overall")]
    assert abs(float(chk["discrepancy"].iloc[0])) < 0.05


def test_identify_argument_errors() -> None:
    m, t = population(n_subjects=40)
    with pytest.raises(ConfigError, match="exactly one of threshold and target_fpir"):
        identify(t, m, "sex")
    with pytest.raises(ConfigError, match="exactly one of threshold and target_fpir"):
        identify(t, m, "sex", threshold=0.5, target_fpir=0.1)
    with pytest.raises(ConfigError, match="gallery_size must satisfy"):
        identify(t, m, "sex", threshold=0.5, gallery_sizes=[10_000], n_boot=0)
    with pytest.raises(ConfigError, match="method must be one of"):
        identify(t, m, "sex", threshold=0.5, method="ivf")


def test_predict_fpir_formula() -> None:
    assert predict_fpir(0.0, 1e7) == 0.0
    assert predict_fpir(1.0, 5) == 1.0
    assert float(predict_fpir(1e-3, 1000)) == pytest.approx(1 - (1 - 1e-3) ** 1000, rel=1e-12)
    # stable for tiny FMR and huge N (naive 1-(1-p)**N loses all digits)
    assert float(predict_fpir(1e-12, 1e6)) == pytest.approx(1e-6, rel=1e-6)


def test_extrapolation_matches_measured_fpir_with_known_fmr() -> None:
    # impostor scores ~ U(0, 1) independent: FMR(T) = 1 - T exactly
    rng = np.random.default_rng(11)
    N, n_probes, T = 200, 4000, 0.995
    lists = [(rng.random(N), None) for _ in range(n_probes)]
    s = Searches.from_score_lists(lists)
    measured = fpir(s, T)
    predicted = float(predict_fpir(1 - T, N))  # 1 - 0.995**200 = 0.633
    lo, hi = stats.binomtest(round(measured * n_probes), n_probes).proportion_ci(0.999)
    assert lo <= predicted <= hi
    # ImpostorRates with the same counts reproduce the formula exactly
    k = int(sum((x >= T).sum() for x, _ in lists))
    rates = ImpostorRates(np.array([[k]]), np.array([[N * n_probes]]),
                          np.array([(x >= T).sum() for x, _ in lists]),
                          np.zeros(n_probes, np.int32), np.array([N]), ("all",), T)
    ex = extrapolate_fpir(rates, [N, 1e5], confidence=0.95)
    row = ex[(ex["group"] == "overall") & (ex["gallery_size"] == N)].iloc[0]
    assert row["fmr"] == k / (N * n_probes)
    assert row["fpir_pred"] == pytest.approx(1 - (1 - k / (N * n_probes)) ** N, rel=1e-12)
    assert row["fpir_pred_ci_low"] <= predicted <= row["fpir_pred_ci_high"]
    assert abs(row["fpir_pred"] - measured) < 0.03


def test_extrapolation_on_templates_with_independent_scores() -> None:
    # random 256-d directions: impostor scores nearly independent, FMR known up to sampling
    m, t = population(n_subjects=1500, dim=256, seed=5)
    a = identify(t, m, None, threshold=0.2, gallery_sizes=[100, 300], n_boot=0, seed=0,
                 list_length=5)
    chk = a.check
    assert chk["consistent"].all(), chk
    # the exact FMR equals 1 - Phi-like tail of the cosine of random directions (~ N(0, 1/d))
    fmr = a.impostor.k.sum() / a.impostor.n.sum()
    assert fmr == pytest.approx(stats.norm.sf(0.2 * np.sqrt(256)), rel=0.25)


def test_deployment_whatif_hand_computed() -> None:
    # two probe groups x two gallery groups
    k = np.array([[10, 30], [20, 40]])
    n = np.array([[10_000, 10_000], [10_000, 10_000]])
    rates = ImpostorRates(k, n, np.zeros(4, np.int64), np.array([0, 0, 1, 1], np.int32),
                          np.array([100, 100]), ("F", "M"), 0.5)
    w = deployment_whatif(rates, searches_per_year=1000, gallery_size=1e4,
                          probe_mix={"F": 1, "M": 3}, gallery_mix={"F": 1, "M": 1})
    fmr = k / n
    m_ = np.array([0.25, 0.75])
    pi = np.array([0.5, 0.5])
    expect_fw = 1000 * 1e4 * pi * (m_[:, None] * fmr).sum(axis=0)
    np.testing.assert_allclose(w.put_forward.loc[["F", "M"], "false_candidates"], expect_fw)
    p_g = (fmr * pi).sum(axis=1)
    np.testing.assert_allclose(w.whose_search.loc[["F", "M"], "searches_with_false_candidate"],
                               1000 * m_ * (1 - (1 - p_g) ** 1e4))
    assert w.put_forward.loc["overall", "false_candidates"] == pytest.approx(expect_fw.sum())
    assert (w.put_forward["false_candidates_ci_low"] <= w.put_forward["false_candidates"]).all()
    assert (w.put_forward["false_candidates"] <= w.put_forward["false_candidates_ci_high"]).all()
    assert "At 1,000 searches a year against 10,000 enrolled people" in w.text
    assert "from group F" in w.text and "from group M" in w.text
    assert any("not in the gallery" in a for a in w.assumptions)
    json.dumps(_jsonable(w.to_dict()), allow_nan=False)
    # candidate-list cap: E[min(L, Bin(N, p))]; N=3, p=0.5, L=1 -> 1 - 0.5**3
    r1 = ImpostorRates(np.array([[1]]), np.array([[2]]), np.zeros(1, np.int64),
                       np.zeros(1, np.int32), np.array([3]), ("all",), 0.0)
    w1 = deployment_whatif(r1, searches_per_year=1, gallery_size=3, list_length=1)
    assert w1.put_forward.loc["all", "false_candidates"] == pytest.approx(0.875)
    with pytest.raises(ConfigError, match="probe_mix groups must be among"):
        deployment_whatif(rates, searches_per_year=1, gallery_size=10, probe_mix={"X": 1})


def test_no_warnings_on_a_normal_run() -> None:
    m, t = population(n_subjects=80)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        identify(t, m, "sex", threshold=0.7, n_boot=20)


def test_whatif_ignores_unweighted_unmeasured_groups_and_refuses_weighted_ones() -> None:
    # group "unknown" has no non-mated probes and no gallery people
    k = np.array([[5, 0], [0, 0]])
    n = np.array([[1000, 0], [0, 0]])
    rates = ImpostorRates(k, n, np.zeros(2, np.int64), np.array([0, 0], np.int32),
                          np.array([10, 0]), ("F", "unknown"), 0.5)
    w = deployment_whatif(rates, searches_per_year=100, gallery_size=1000)
    assert w.put_forward.loc["overall", "false_candidates"] == pytest.approx(100 * 1000 * 5 / 1000)
    assert w.put_forward.loc["unknown", "false_candidates"] == 0.0
    with pytest.raises(ConfigError, match="only weight groups that were measured"):
        deployment_whatif(rates, searches_per_year=1, gallery_size=10,
                          probe_mix={"F": 1, "unknown": 1})
