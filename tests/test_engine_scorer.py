"""Streaming scorer vs brute force over all pairs (exact-arithmetic templates), and invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _support import merge_states
from faceaudit import ConfigError, InputError, Manifest, ScoreSummary, Templates, _tiles
from faceaudit._protocol import fta_counts, genuine_pairs, pair_counts
from faceaudit._scorer import Binning, binning_for, score_templates
from faceaudit._similarity import prepare, prepared_pair_scores
from faceaudit._summary import bin_index


# ---------------------------------------------------------------------------- builders
def make_case(subjects, groups, failed, vectors, similarity):
    n = len(subjects)
    df = pd.DataFrame(
        {
            "sample_id": [f"x{i}" for i in range(n)],
            "subject_id": [f"p{s}" for s in subjects],
            "grp": [f"g{g}" for g in groups],
        }
    )
    manifest = Manifest(df)
    vec = np.asarray(vectors, np.float32).copy()
    status = np.where(np.asarray(failed, bool), "no_face", "ok").astype("<U16")
    vec[status != "ok"] = np.nan
    tpl = Templates(manifest.sample_ids, vec, status, np.full(n, ""), "test", similarity)
    return manifest, tpl


def exact_vectors(rng, n, similarity):
    """Vectors whose float32 scores are exact whatever the GEMM order.

    Cosine: ±1 entries in 16 dims (norm 4) or 4 non-zero ±1 entries (norm 2), so normalised
    entries are ±1/4, ±1/2 and every dot product is a multiple of 1/8 (many ties).
    Euclidean: small integers, so squared distances are exact integers.
    """
    if similarity == "cosine":
        v = rng.choice([-1.0, 1.0], size=(n, 16))
        sparse = rng.random(n) < 0.5
        for i in np.flatnonzero(sparse):
            keep = rng.choice(16, 4, replace=False)
            m = np.zeros(16)
            m[keep] = 1
            v[i] *= m
        return v
    return rng.integers(-3, 4, size=(n, 6)).astype(float)


def brute(manifest, tpl, grouping="grp", impostors="all"):
    """Every pair i < j scored on the full matrix (exact for exact_vectors)."""
    ga = manifest.groups(grouping)
    g = ga.codes
    subj = manifest.subject_codes
    ok = tpl.ok
    x, _ = prepare(np.where(ok[:, None], tpl.vectors, 0), tpl.similarity)
    a, b = np.triu_indices(len(subj), 1)
    s = np.zeros((len(subj), len(subj)))
    s[a, b] = prepared_pair_scores(x[a], x[b], tpl.similarity)
    mated = subj[a] == subj[b]
    ci, cj = np.minimum(g[a], g[b]), np.maximum(g[a], g[b])
    if impostors == "matched":
        keep = mated | (g[a] == g[b])
        a, b, mated, ci, cj = a[keep], b[keep], mated[keep], ci[keep], cj[keep]
    both = ok[a] & ok[b]
    return dict(a=a, b=b, s=s[a, b], mated=mated, ci=ci, cj=cj, ok=both, G=ga.n_groups)


def count_ge(summary: ScoreSummary, cell, t):
    """Impostor scores >= t of a cell from tail + histogram (exact for t >= floor or an edge)."""
    ti, tj = summary.tail_cells
    tail = summary.tail_scores[(ti == cell[0]) & (tj == cell[1])]
    edges = summary.hist_edges
    k = np.searchsorted(edges[:-1], t, side="left")  # first bin whose left edge >= t
    return int((tail >= t).sum() + summary.impostor_hist[cell][k:].sum())


def check_against_brute(summary: ScoreSummary, ref, exact_fmr, min_exact):
    G = ref["G"]
    ok, mated = ref["ok"], ref["mated"]
    # genuine: same pairs, same scores
    gm = ok & mated
    o = np.lexsort((ref["b"][gm], ref["a"][gm]))
    np.testing.assert_array_equal(summary.genuine_a, ref["a"][gm][o])
    np.testing.assert_array_equal(summary.genuine_b, ref["b"][gm][o])
    np.testing.assert_array_equal(summary.genuine_scores, ref["s"][gm][o])
    # FTA per cell
    gf = np.zeros((G, G), int)
    imf = np.zeros((G, G), int)
    np.add.at(gf, (ref["ci"][~ok & mated], ref["cj"][~ok & mated]), 1)
    np.add.at(imf, (ref["ci"][~ok & ~mated], ref["cj"][~ok & ~mated]), 1)
    np.testing.assert_array_equal(summary.genuine_fta, gf)
    np.testing.assert_array_equal(summary.impostor_fta, imf)
    # impostors per cell
    im = ok & ~mated
    ti, tj = summary.tail_cells
    edges = summary.hist_edges
    for i in range(G):
        for j in range(i, G):
            sel = im & (ref["ci"] == i) & (ref["cj"] == j)
            s = ref["s"][sel]
            n = len(s)
            cap = max(min_exact, int(np.ceil(exact_fmr * n)), 1)
            floor = summary.tail_floor[i, j]
            in_cell = (ti == i) & (tj == j)
            if n <= cap:
                assert floor == -np.inf
            else:
                kth = np.sort(s)[::-1][cap - 1]
                assert floor == kth
                assert (s >= floor).sum() >= cap
            # tail = exactly the pairs with score >= floor
            tsel = s >= floor
            o = np.lexsort((ref["b"][sel][tsel], ref["a"][sel][tsel]))
            np.testing.assert_array_equal(summary.tail_a[in_cell], ref["a"][sel][tsel][o])
            np.testing.assert_array_equal(summary.tail_b[in_cell], ref["b"][sel][tsel][o])
            np.testing.assert_array_equal(summary.tail_scores[in_cell], s[tsel][o])
            # histogram = bin_index of every other score (disjoint from the tail)
            below = s[~tsel]
            want = (
                np.bincount(bin_index(below, edges), minlength=len(edges) - 1) if len(below) else 0
            )
            np.testing.assert_array_equal(summary.impostor_hist[i, j], want)
            # counts at every threshold >= floor and at every edge
            for t in np.unique(np.r_[s, edges[:: max(1, len(edges) // 16)]]):
                if t >= floor or t in edges:
                    assert count_ge(summary, (i, j), t) == int((s >= t).sum())
    for i in range(G):
        for j in range(i):
            assert summary.impostor_hist[i, j].sum() == 0


def same_summary(x: ScoreSummary, y: ScoreSummary):
    for f in (
        "genuine_scores",
        "genuine_a",
        "genuine_b",
        "tail_scores",
        "tail_a",
        "tail_b",
        "tail_floor",
        "impostor_hist",
        "genuine_fta",
        "impostor_fta",
        "hist_edges",
        "enrolled",
    ):
        np.testing.assert_array_equal(getattr(x, f), getattr(y, f), err_msg=f)


# ---------------------------------------------------------------------------- properties
@st.composite
def cases(draw):
    n = draw(st.integers(2, 40))
    n_subj = draw(st.integers(1, max(1, n // 2)))
    n_groups = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    subjects = rng.integers(0, n_subj, n)
    # groups mostly follow the subject (as sex/race do), sometimes not (as age bins do)
    per_subject = rng.integers(0, n_groups, n_subj)
    groups = np.where(rng.random(n) < 0.8, per_subject[subjects], rng.integers(0, n_groups, n))
    failed = rng.random(n) < draw(st.sampled_from([0.0, 0.15, 0.5]))
    similarity = draw(st.sampled_from(["cosine", "euclidean"]))
    return subjects, groups, failed, exact_vectors(rng, n, similarity), similarity


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=cases(),
    tile=st.sampled_from([2, 3, 7, 512]),
    block_size=st.sampled_from([1, 5, 64]),
    n_workers=st.sampled_from([1, 2]),
    min_exact=st.sampled_from([0, 1, 3, 10, 10_000]),
    exact_fmr=st.sampled_from([1e-3, 0.1, 0.5, 1.0]),
    n_bins=st.sampled_from([16, 64, 2**14]),
    impostors=st.sampled_from(["all", "matched"]),
)
def test_streamed_equals_brute_force(
    case, tile, block_size, n_workers, min_exact, exact_fmr, n_bins, impostors, monkeypatch_module
):
    monkeypatch_module.setattr(_tiles, "TILE", tile)
    manifest, tpl = make_case(*case)
    summ = score_templates(
        tpl,
        manifest,
        grouping="grp",
        impostors=impostors,
        min_exact=min_exact,
        exact_fmr=exact_fmr,
        n_bins=n_bins,
        block_size=block_size,
        n_workers=n_workers,
        progress=False,
    )
    ref = brute(manifest, tpl, impostors=impostors)
    check_against_brute(summ, ref, exact_fmr, min_exact)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), similarity=st.sampled_from(["cosine", "euclidean"]))
def test_bit_identical_for_any_split(seed, similarity, monkeypatch_module):
    """Random float templates: results do not depend on block size or worker count."""
    monkeypatch_module.setattr(_tiles, "TILE", 8)
    rng = np.random.default_rng(seed)
    n = 70
    subjects = rng.integers(0, 20, n)
    manifest, tpl = make_case(
        subjects,
        rng.integers(0, 3, n),
        rng.random(n) < 0.1,
        rng.standard_normal((n, 5)),
        similarity,
    )
    kw = dict(grouping="grp", min_exact=15, n_bins=64, progress=False)
    base = score_templates(tpl, manifest, block_size=1, n_workers=1, **kw)
    for bs, nw in ((8, 2), (24, 2), (1000, 1), (3, 3)):
        same_summary(base, score_templates(tpl, manifest, block_size=bs, n_workers=nw, **kw))


# ---------------------------------------------------------------------------- hand-made cases
def test_hand_checked_cosine():
    # 3 subjects, one group: a0, a1 (subject A), b0 (B), c0 (C)
    vec = [[1, 0], [1, 1], [0, 1], [-1, 0]]
    manifest, tpl = make_case([0, 0, 1, 2], [0, 0, 0, 0], [False] * 4, vec, "cosine")
    s = score_templates(tpl, manifest, grouping="grp", progress=False)
    r = np.float32(np.sqrt(np.float32(0.5)))
    np.testing.assert_array_equal(s.genuine_a, [0])
    np.testing.assert_array_equal(s.genuine_b, [1])
    assert s.genuine_scores[0] == pytest.approx(0.70710678, abs=1e-6)
    # impostors: (0,2)=0, (0,3)=-1, (1,2)=r, (1,3)=-r, (2,3)=0 -- all exact (5 <= min_exact)
    np.testing.assert_array_equal(s.tail_a, [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(s.tail_b, [2, 3, 2, 3, 3])
    np.testing.assert_allclose(s.tail_scores, [0, -1, r, -r, 0], atol=1e-6)
    assert s.tail_floor[0, 0] == -np.inf and s.impostor_hist.sum() == 0
    ss = s.scores()
    assert ss.n_genuine == 1 and ss.n_impostor == 5 and ss.exact


def test_failed_samples_counted_as_fta():
    vec = np.eye(5)
    # subjects: A A B B C; groups 0 0 1 1 1; sample 1 (A) and 4 (C) failed
    manifest, tpl = make_case(
        [0, 0, 1, 1, 2], [0, 0, 1, 1, 1], [False, True, False, False, True], vec, "cosine"
    )
    s = score_templates(tpl, manifest, grouping="grp", progress=False)
    np.testing.assert_array_equal(s.enrolled, [True, False, True, True, False])
    # genuine pairs: (0,1) in (0,0): FTA; (2,3) in (1,1): scored
    assert s.genuine_fta.tolist() == [[1, 0], [0, 0]]
    np.testing.assert_array_equal(s.genuine_a, [2])
    # impostors (0,0): none. (0,1): 0-2,0-3,0-4,1-2,1-3,1-4 -> 4 failed. (1,1): 2-4,3-4 failed
    assert s.impostor_fta.tolist() == [[0, 4], [0, 2]]
    assert s.impostor_total.tolist() == [[0, 2], [0, 0]]


def test_tail_overflow_invariants():
    rng = np.random.default_rng(5)
    n = 300
    manifest, tpl = make_case(
        rng.integers(0, 60, n),
        rng.integers(0, 2, n),
        np.zeros(n, bool),
        rng.standard_normal((n, 8)),
        "cosine",
    )
    s = score_templates(tpl, manifest, grouping="grp", min_exact=50, exact_fmr=0.01, progress=False)
    ti, tj = s.tail_cells
    for i, j in ((0, 0), (0, 1), (1, 1)):
        fl = s.tail_floor[i, j]
        tail = s.tail_scores[(ti == i) & (tj == j)]
        n_imp = s.impostor_total[i, j]
        cap = max(50, int(np.ceil(0.01 * n_imp)))
        assert np.isfinite(fl) and len(tail) >= cap and tail.min() == fl
        # disjoint: every histogram score is below the floor
        top_bin = bin_index(np.array([fl]), s.hist_edges)[0]
        assert s.impostor_hist[i, j][top_bin + 1 :].sum() == 0
    ref = brute(manifest, tpl)
    gm = ref["mated"]
    assert len(s.genuine_scores) == gm.sum()
    assert int(s.impostor_total.sum()) == int((~gm).sum())


def test_matched_skips_offdiagonal_impostors_keeps_cross_group_genuine():
    rng = np.random.default_rng(1)
    # subject 0 has samples in both groups -> a cross-group genuine pair
    subjects = [0, 0, 1, 2, 3, 3]
    groups = [0, 1, 0, 1, 1, 0]
    manifest, tpl = make_case(
        subjects, groups, [False] * 6, exact_vectors(rng, 6, "cosine"), "cosine"
    )
    s = score_templates(tpl, manifest, grouping="grp", impostors="matched", progress=False)
    tot = s.impostor_total
    assert tot[0, 1] == 0
    c = pair_counts(manifest.subject_codes, manifest.groups("grp").codes, 2)
    assert tot[0, 0] == c.impostor[0, 0] and tot[1, 1] == c.impostor[1, 1]
    assert s.genuine_total.tolist() == [[0, 2], [0, 0]]
    assert s.protocol["impostors"] == "matched"


def test_euclidean_is_minus_distance():
    manifest, tpl = make_case(
        [0, 0, 1], [0, 0, 0], [False] * 3, [[0, 0], [3, 4], [0, 1]], "euclidean"
    )
    s = score_templates(tpl, manifest, grouping="grp", progress=False)
    assert s.genuine_scores.tolist() == [-5.0]
    assert sorted(s.tail_scores.tolist()) == [-np.sqrt(np.float32(18)).astype(float), -1.0]
    # 2·max norm = 10 -> range rounded up to the power of two 16
    assert s.hist_edges[0] == -16 and s.hist_edges[-1] == 0


def test_sampling_is_uniform_seeded_and_exact():
    rng = np.random.default_rng(3)
    n = 120
    subjects = np.arange(n) // 3
    manifest, tpl = make_case(
        subjects, np.zeros(n, int), rng.random(n) < 0.1, rng.standard_normal((n, 4)), "cosine"
    )
    kw = dict(grouping="grp", max_impostors_per_cell=500, progress=False)
    s1 = score_templates(tpl, manifest, seed=7, **kw)
    s2 = score_templates(tpl, manifest, seed=7, **kw)
    s3 = score_templates(tpl, manifest, seed=8, **kw)
    same_summary(s1, s2)
    assert not np.array_equal(s1.tail_a, s3.tail_a)
    # exactly 500 sampled: scored + FTA; all exact, distinct impostor pairs
    assert len(s1.tail_scores) + s1.impostor_fta[0, 0] == 500
    assert s1.impostor_hist.sum() == 0 and s1.tail_floor[0, 0] == -np.inf
    assert (manifest.subject_codes[s1.tail_a] != manifest.subject_codes[s1.tail_b]).all()
    assert len({(a, b) for a, b in zip(s1.tail_a, s1.tail_b, strict=True)}) == len(s1.tail_a)
    # genuine pairs are all still there
    assert len(s1.genuine_scores) + s1.genuine_fta.sum() == n
    assert s1.protocol["sampled_cells"] == [[0, 0]]


def test_sampling_marginals_uniform():
    """Each impostor pair of a 12-sample cell is drawn with probability m / n_pairs."""
    from faceaudit._protocol import sample_impostor_pairs

    subj = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7])
    members = np.arange(12)
    n_imp = 66 - 4
    hits = np.zeros((12, 12))
    reps = 3000
    rng = np.random.default_rng(0)
    for _ in range(reps):
        a, b = sample_impostor_pairs(members, None, subj, 10, rng)
        assert len(set(zip(a, b, strict=True))) == 10
        hits[a, b] += 1
    p = hits[np.triu_indices(12, 1)] / reps
    mated = subj[np.triu_indices(12, 1)[0]] == subj[np.triu_indices(12, 1)[1]]
    assert (p[mated] == 0).all()
    # binomial sd ~ sqrt(.16*.84/3000) = 0.0067; 5 sd band
    np.testing.assert_allclose(p[~mated], 10 / n_imp, atol=0.034)


def test_counts_closed_form_match_brute():
    rng = np.random.default_rng(2)
    subj, grp = rng.integers(0, 9, 50), rng.integers(0, 3, 50)
    mask = rng.random(50) < 0.8
    c = pair_counts(subj, grp, 3, mask=mask)
    a, b = np.triu_indices(50, 1)
    k = mask[a] & mask[b]
    a, b = a[k], b[k]
    ci, cj = np.minimum(grp[a], grp[b]), np.maximum(grp[a], grp[b])
    gen, imp = np.zeros((3, 3), int), np.zeros((3, 3), int)
    np.add.at(gen, (ci[subj[a] == subj[b]], cj[subj[a] == subj[b]]), 1)
    np.add.at(imp, (ci[subj[a] != subj[b]], cj[subj[a] != subj[b]]), 1)
    np.testing.assert_array_equal(c.genuine, gen)
    np.testing.assert_array_equal(c.impostor, imp)
    f = fta_counts(subj, grp, 3, mask)
    assert f.genuine.sum() + gen.sum() == pair_counts(subj, grp, 3).genuine.sum()
    ga, gb = genuine_pairs(subj, mask)
    assert len(ga) == gen.sum() and (subj[ga] == subj[gb]).all() and (ga < gb).all()


# ---------------------------------------------------------------------------- binning
@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-1.5, 1.5, width=32), min_size=1, max_size=200),
    st.sampled_from([16, 1024, 2**14]),
)
def test_arithmetic_bins_equal_searchsorted(scores, n_bins):
    b = Binning(-1.0, 1.0, n_bins)
    s = np.asarray(scores, np.float32)
    # also scores just around edges
    e32 = b.edges.astype(np.float32)[:: max(1, n_bins // 64)]
    s = np.r_[
        s,
        e32,
        np.nextafter(e32, np.float32(-2)),
        np.nextafter(e32, np.float32(2)),
        np.float32(-1e-30),
        np.float32(1e-30),
        np.float32(-0.0),
    ]
    np.testing.assert_array_equal(b.bins(s), bin_index(s.astype(np.float64), b.edges))
    np.testing.assert_array_equal(
        b.bins(s.astype(np.float64)), bin_index(s.astype(np.float64), b.edges)
    )


def test_euclidean_binning_range():
    b = binning_for("euclidean", 64, max_sq_norm=9.0)  # 2·3 = 6 -> 8
    assert (b.lo, b.hi) == (-8.0, 0.0)
    assert b.edges[1] - b.edges[0] == 0.125


# ---------------------------------------------------------------------------- errors, I/O
def test_argument_errors():
    manifest, tpl = make_case([0, 1], [0, 0], [False, False], np.eye(2), "cosine")
    with pytest.raises(ConfigError, match="impostors must be one of"):
        score_templates(tpl, manifest, impostors="some")
    with pytest.raises(ConfigError, match="n_bins must be a power of two"):
        score_templates(tpl, manifest, n_bins=1000)
    with pytest.raises(ConfigError, match="exact_fmr must satisfy"):
        score_templates(tpl, manifest, exact_fmr=-0.1)
    with pytest.raises(ConfigError, match="n_workers must be an integer >= 1; got 0"):
        score_templates(tpl, manifest, n_workers=0)


def test_overflowing_templates_rejected():
    manifest, tpl = make_case([0, 1], [0, 0], [False, False], [[1e30, 0], [0, 1]], "euclidean")
    with pytest.raises(InputError, match="x0"):
        score_templates(tpl, manifest, progress=False)


def test_no_enrolled_sample():
    manifest, tpl = make_case([0, 0, 1], [0, 0, 0], [True] * 3, np.eye(3), "cosine")
    s = score_templates(tpl, manifest, grouping="grp", progress=False)
    assert s.genuine_fta[0, 0] == 1 and s.impostor_fta[0, 0] == 2
    assert len(s.genuine_scores) == 0 and s.impostor_total.sum() == 0


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    n = 200
    manifest, tpl = make_case(
        rng.integers(0, 40, n),
        rng.integers(0, 3, n),
        rng.random(n) < 0.05,
        rng.standard_normal((n, 8)),
        "cosine",
    )
    s = score_templates(tpl, manifest, grouping="grp", min_exact=30, progress=False)
    s.save(tmp_path / "s.npz")
    r = ScoreSummary.load(tmp_path / "s.npz")
    same_summary(s, r)
    assert r.protocol == s.protocol and r.group_labels == s.group_labels
    assert r.similarity == "cosine" and r.model_id == "test"


def test_progress_bar_renders_on_a_terminal(monkeypatch):
    """progress=True draws a rich bar on a terminal and gives the same result."""
    import rich.console

    monkeypatch.setattr(rich.console.Console, "is_terminal", property(lambda self: True))
    rng = np.random.default_rng(4)
    manifest, tpl = make_case(
        rng.integers(0, 30, 90),
        rng.integers(0, 2, 90),
        np.zeros(90, bool),
        rng.standard_normal((90, 6)),
        "cosine",
    )
    a = score_templates(tpl, manifest, grouping="grp", progress=True)
    b = score_templates(tpl, manifest, grouping="grp", progress=False)
    same_summary(a, b)


# ---------------------------------------------------------------------------- tile proof
@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
@pytest.mark.parametrize("inflate", [False, True])
def test_random_floats_equal_the_definition_pair_by_pair(similarity, inflate, monkeypatch):
    """Random float32 templates (not exact arithmetic): every genuine score, tail score and
    histogram bin equals the definition's (``prepared_pair_scores`` pair by pair). With the
    error bound inflated 2^33-fold every bin is unproven, so the re-scoring path decides."""
    from faceaudit import _similarity

    if inflate:
        monkeypatch.setattr(_similarity, "_U64", 2.0**-20)
    monkeypatch.setattr(_tiles, "TILE", 64)
    rng = np.random.default_rng(11)
    n = 300
    subjects = rng.integers(0, 60, n)
    raw = rng.standard_normal((n, 48)) * (1.0 if similarity == "cosine" else 0.2)
    raw[::7] = np.round(raw[::7] * 4) / 4  # some exactly representable rows: ties, edges
    raw[5] = raw[6]  # duplicates
    manifest, tpl = make_case(subjects, rng.integers(0, 3, n), rng.random(n) < 0.05, raw,
                              similarity)
    ref = brute(manifest, tpl)
    for n_bins, min_exact, exact_fmr in ((2**14, 40, 1e-3), (64, 5, 1e-3), (2**16, 0, 0.01)):
        summ = score_templates(tpl, manifest, grouping="grp", min_exact=min_exact,
                               exact_fmr=exact_fmr, n_bins=n_bins, block_size=1, n_workers=2,
                               progress=False)
        check_against_brute(summ, ref, exact_fmr, min_exact)


def test_merge_states_tree_equals_merging_the_list(monkeypatch):
    """The pure pairwise merge (a cluster backend's reduce) gives the in-process summary."""
    from functools import reduce

    from faceaudit import _scorer

    monkeypatch.setattr(_tiles, "TILE", 16)
    rng = np.random.default_rng(21)
    n = 150
    manifest, tpl = make_case(rng.integers(0, 30, n), rng.integers(0, 3, n), rng.random(n) < 0.05,
                              rng.standard_normal((n, 12)), "cosine")
    kw = dict(grouping="grp", min_exact=20, n_bins=64, block_size=16, progress=False)
    base = score_templates(tpl, manifest, n_workers=3, **kw)
    real = _tiles.run_units
    seen = []

    def tree(engine, units, n_workers, progress, state=None):
        states = [real(engine, [u], 1, False) for u in units]  # one state per unit
        flat = [s for group in states for s in group]
        before = [dict(st.hist) for st in flat]
        merged = reduce(merge_states, flat[::-1])  # any order
        assert all(st.hist.keys() == b.keys() for st, b in zip(flat, before, strict=True))
        seen.append(len(flat))
        return [merged]

    monkeypatch.setattr(_scorer, "run_units", tree)
    same_summary(base, score_templates(tpl, manifest, n_workers=1, **kw))
    assert seen and seen[0] > 3


def test_tail_candidates_stay_within_the_stated_bound(monkeypatch):
    """Memory per worker does not grow with the pairs: each cell's tail buffer holds at most
    max(2K, K + 65536) candidates plus one tile's (the bound in ``_tiles``'s docstring), and
    the final tail is K (+ ties) whatever the number of impostor pairs."""
    from faceaudit import _accumulate

    monkeypatch.setattr(_tiles, "TILE", 64)
    peak = {}
    real_add = _accumulate.TailBuffer.add

    def add(self, s, a, b):
        real_add(self, s, a, b)
        peak[id(self)] = max(peak.get(id(self), (0, 0))[0], self.n), self.cap

    monkeypatch.setattr(_accumulate.TailBuffer, "add", add)
    rng = np.random.default_rng(5)
    tails = []
    for n in (600, 1200):
        peak.clear()
        manifest, tpl = make_case(rng.integers(0, n // 4, n), np.zeros(n, int), np.zeros(n, bool),
                                  rng.standard_normal((n, 8)), "cosine")
        s = score_templates(tpl, manifest, grouping="grp", min_exact=150, progress=False)
        assert peak and all(m <= max(2 * k, k + 65536) + 64 * 64 for m, k in peak.values())
        tails.append(len(s.tail_scores))
    assert tails[0] == tails[1] == 150  # no ties in random floats: exactly K, for 4x the pairs
