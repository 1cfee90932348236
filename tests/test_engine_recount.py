"""Second pass (exact counts at chosen thresholds) vs brute force over all pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from faceaudit import Manifest, ScoreSummary, Templates, _tiles
from faceaudit._recount import (
    RecountState,
    absorb_recount,
    apply_recount,
    plan_requests,
    recount_templates,
)
from faceaudit._scorer import score_templates
from faceaudit._similarity import prepare, prepared_pair_scores
from faceaudit.metrics import error_counts


def make(n=260, dim=24, n_subj=50, n_groups=3, seed=0, similarity="cosine"):
    rng = np.random.default_rng(seed)
    subj = rng.integers(0, n_subj, n)
    grp = rng.integers(0, n_groups, n_subj)[subj]
    df = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)],
                       "subject_id": [f"p{s}" for s in subj], "grp": [f"g{g}" for g in grp]})
    centres = rng.standard_normal((n_subj, dim))
    x = centres[subj] + 1.5 * rng.standard_normal((n, dim))
    x[::9] = np.round(x[::9])  # exactly representable rows: ties and duplicates
    x[3] = x[4]
    if similarity == "euclidean":
        x *= 0.3
    m = Manifest(df)
    status = np.where(rng.random(n) < 0.05, "no_face", "ok").astype("<U16")
    vec = x.astype(np.float32)
    vec[status != "ok"] = np.nan
    return m, Templates(m.sample_ids, vec, status, np.full(n, ""), "t", similarity)


def brute_impostors(m, tpl):
    """Every impostor score (the definition), with its cell."""
    ga = m.groups("grp")
    g, subj, ok = ga.codes, m.subject_codes, tpl.ok
    x, _ = prepare(np.where(ok[:, None], tpl.vectors, 0), tpl.similarity)
    a, b = np.triu_indices(len(subj), 1)
    keep = ok[a] & ok[b] & (subj[a] != subj[b])
    a, b = a[keep], b[keep]
    s = prepared_pair_scores(x[a], x[b], tpl.similarity)
    return s, np.minimum(g[a], g[b]), np.maximum(g[a], g[b]), ga.n_groups


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
def test_counts_at_thresholds_equal_brute_force(similarity, monkeypatch):
    monkeypatch.setattr(_tiles, "TILE", 32)
    m, tpl = make(similarity=similarity)
    s, ci, cj, G = brute_impostors(m, tpl)
    summ = score_templates(tpl, m, grouping="grp", min_exact=20, exact_fmr=1e-9, n_bins=64,
                           block_size=1, progress=False)
    rng = np.random.default_rng(1)
    lo, hi = np.quantile(s, [0.05, 0.995])
    ts = np.r_[rng.uniform(lo, hi, 6), s[rng.choice(len(s), 4)]]  # 4 ties: a score exactly at t
    ts = np.r_[ts, ts[0], summ.hist_edges[20]]  # a duplicate, an edge (already exact)
    before = error_counts(summ.scores("all"), thresholds=ts)
    assert not before.exact.all()  # the test must exercise inexact counts
    reqs = plan_requests(summ, ts)
    assert reqs and all(r.t < summ.tail_floor[r.g, r.h] for r in reqs)
    out = recount_templates(tpl, m, summ, ts, n_workers=2, block_size=1)
    # every edge, genuine score and tail of the first pass is kept
    assert set(summ.hist_edges) <= set(out.hist_edges)
    np.testing.assert_array_equal(out.tail_scores, summ.tail_scores)
    np.testing.assert_array_equal(out.genuine_scores, summ.genuine_scores)
    np.testing.assert_array_equal(out.impostor_total, summ.impostor_total)
    for i in range(G):
        for j in range(i, G):
            c = error_counts(out.scores((i, j)), thresholds=ts)
            assert c.exact.all()
            want = [int((s[(ci == i) & (cj == j)] >= t).sum()) for t in ts]
            np.testing.assert_array_equal(c.false_matches, want)
            # and still exact (and right) at every first-pass edge
            e = summ.hist_edges[1:-1:7]
            ce = error_counts(out.scores((i, j)), thresholds=e)
            np.testing.assert_array_equal(
                ce.false_matches, [int((s[(ci == i) & (cj == j)] >= t).sum()) for t in e])
    pooled = error_counts(out.scores("all"), thresholds=ts)
    assert pooled.exact.all()
    np.testing.assert_array_equal(pooled.false_matches, [int((s >= t).sum()) for t in ts])


def test_any_split_same_bits(monkeypatch):
    monkeypatch.setattr(_tiles, "TILE", 16)
    m, tpl = make(n=200, seed=3)
    summ = score_templates(tpl, m, grouping="grp", min_exact=10, exact_fmr=1e-9, n_bins=32,
                           progress=False)
    ts = [0.05, 0.11, 0.2]
    base = recount_templates(tpl, m, summ, ts, n_workers=1, block_size=1)
    for bs, nw in ((16, 2), (1000, 3)):
        other = recount_templates(tpl, m, summ, ts, n_workers=nw, block_size=bs)
        np.testing.assert_array_equal(other.impostor_hist, base.impostor_hist)
        np.testing.assert_array_equal(other.hist_edges, base.hist_edges)


def test_absorb_is_additive_and_leaves_the_part_unchanged():
    a = RecountState({(0, 0, 0.5): 3, (0, 1, 0.5): 1})
    b = RecountState({(0, 0, 0.5): 2})
    c = absorb_recount(absorb_recount(RecountState(), a), b)
    assert c.counts == {(0, 0, 0.5): 5, (0, 1, 0.5): 1}
    assert a.counts == {(0, 0, 0.5): 3, (0, 1, 0.5): 1} and b.counts == {(0, 0, 0.5): 2}
    assert absorb_recount(absorb_recount(RecountState(), b), a).counts == c.counts


def test_nothing_to_recount_returns_the_summary():
    m, tpl = make(n=60)
    summ = score_templates(tpl, m, grouping="grp", progress=False)  # tails complete
    assert plan_requests(summ, [0.3]) == []
    assert recount_templates(tpl, m, summ, [0.3]) is summ
    assert apply_recount(summ, [], RecountState()) is summ


def test_vendor_file_recount_equals_brute_force(tmp_path):
    from faceaudit._vendor import read_scores, recount_scores

    m, _ = make(n=150, seed=5)
    rng = np.random.default_rng(6)
    a, b = np.triu_indices(len(m), 1)
    score = np.round(rng.normal(size=len(a)), 3)  # many ties
    path = tmp_path / "scores.csv"
    pd.DataFrame({"sample_a": m.sample_ids[a], "sample_b": m.sample_ids[b],
                  "score": score}).to_csv(path, index=False)
    summ = read_scores(path, m, grouping="grp", min_exact=10, n_bins=32)
    ts = np.r_[score[:3], 0.01234, -0.3]
    assert not error_counts(summ.scores("all"), thresholds=ts).exact.all()
    out = recount_scores(path, m, summ, ts)
    g = m.groups("grp").codes
    subj = m.subject_codes
    imp = subj[a] != subj[b]
    ci, cj = np.minimum(g[a], g[b]), np.maximum(g[a], g[b])
    for i in range(3):
        for j in range(i, 3):
            c = error_counts(out.scores((i, j)), thresholds=ts)
            assert c.exact.all()
            sel = imp & (ci == i) & (cj == j)
            np.testing.assert_array_equal(c.false_matches, [int((score[sel] >= t).sum())
                                                            for t in ts])
    # a file changed since the first pass is refused
    pd.DataFrame({"sample_a": m.sample_ids[a[:-5]], "sample_b": m.sample_ids[b[:-5]],
                  "score": score[:-5]}).to_csv(path, index=False)
    from faceaudit import ScoreFileError

    with pytest.raises(ScoreFileError, match="differ from the first pass"):
        recount_scores(path, m, summ, ts)


def _all_exact(node) -> list[bool]:
    """Every value under a key named ``exact`` or ``fmr_exact`` in a results.json tree."""
    out: list[bool] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("exact", "fmr_exact"):
                out += [bool(x) for x in np.ravel(v)]
            else:
                out += _all_exact(v)
    elif isinstance(node, list):
        for v in node:
            out += _all_exact(v)
    return out


def test_audit_recount_stage_makes_every_count_exact(tmp_path):
    """A vendor audit whose threshold falls inside histogram bins (small tails, 16 bins):
    the recount stage re-reads the file and every count in results.json is exact and equal
    to a brute-force count."""
    from faceaudit.audit import AuditConfig, run_audit
    from faceaudit.audit._backend import InProcess

    class SmallTails(InProcess):
        def read_scores(self, path, manifest, **options):
            return super().read_scores(path, manifest, min_exact=5, n_bins=16, **options)

    m, _ = make(n=180, seed=8)
    m.write(tmp_path / "manifest.csv")
    rng = np.random.default_rng(9)
    a, b = np.triu_indices(len(m), 1)
    subj = m.subject_codes
    score = np.round(np.where(subj[a] == subj[b], 0.6, 0.0) + rng.normal(0, 0.3, len(a)), 4)
    pd.DataFrame({"sample_a": m.sample_ids[a], "sample_b": m.sample_ids[b],
                  "score": score}).to_csv(tmp_path / "scores.csv", index=False)
    cfg = AuditConfig(scores=str(tmp_path / "scores.csv"), manifest=str(tmp_path / "manifest.csv"),
                      group_by=["grp"], threshold=0.41234, n_boot=20, identification=False,
                      out=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))
    res = run_audit(cfg, backend=SmallTails())
    assert res.summary.protocol.get("recount")  # the second pass ran
    flags = _all_exact(res.results)
    assert flags and all(flags)
    assert not any("InexactMetricWarning" in w for w in res.results["warnings"])
    t = res.audit.threshold
    g = m.groups("grp").codes
    imp = subj[a] != subj[b]
    same = g[a] == g[b]
    by = res.audit.by_group
    for k, lab in enumerate(m.groups("grp").labels):
        sel = imp & same & (g[a] == k)
        row = by.loc[by["label"] == lab].iloc[0] if "label" in by else by.iloc[k]
        assert int(row["false_matches"]) == int((score[sel] >= t).sum())
        assert int(row["n_nonmated"]) == int(sel.sum())


def test_people_pairs_feed_the_subject_bootstrap(monkeypatch, tmp_path):
    """Below the tail, the second pass lists the accepted pairs by pair of people: the
    per-person counts and the bootstrap FMR equal those of a summary whose tail holds every
    score (brute-force people pairs too)."""
    from faceaudit.metrics import AuditResult
    from faceaudit.metrics._people import person_counts

    monkeypatch.setattr(_tiles, "TILE", 32)
    m, tpl = make(n=240, seed=12)
    full = score_templates(tpl, m, grouping="grp", progress=False)  # tails complete
    small = score_templates(tpl, m, grouping="grp", min_exact=15, n_bins=64, progress=False)
    t = 0.1234567
    assert (t < np.diag(small.tail_floor)).all()
    out = recount_templates(tpl, m, small, [t], n_workers=2, block_size=1)
    assert len(out.accepted_t) and set(out.accepted_t) == {t}
    out.save(tmp_path / "s.npz")
    back = ScoreSummary.load(tmp_path / "s.npz")
    for k in "tgabn":
        np.testing.assert_array_equal(getattr(back, f"accepted_{k}"), getattr(out, f"accepted_{k}"))
    s, ci, cj, G = brute_impostors(m, tpl)
    for g in range(G):
        _, want = person_counts(full, g, t)
        _, got = person_counts(out, g, t)
        assert got is not None and want is not None
        np.testing.assert_array_equal(got.person_errors, want.person_errors)
        assert got.errors == int((s[(ci == g) & (cj == g)] >= t).sum()) == want.errors
        assert person_counts(small, g, t)[1] is None  # without the second pass: unknown
    kw = dict(threshold=t, n_boot=60, seed=4)
    a_full, a_out = AuditResult(full, **kw), AuditResult(out, **kw)
    np.testing.assert_allclose(a_out.boot_fmr, a_full.boot_fmr, rtol=1e-12)
    assert not np.isnan(a_out.boot_fmr).all()
    import warnings

    with warnings.catch_warnings():  # inexact counts, no bootstrap: warned, as expected
        warnings.simplefilter("ignore")
        assert np.isnan(AuditResult(small, **kw).boot_fmr).all()


def test_custom_executor_and_pickled_states(monkeypatch):
    """The cluster's way: units cut into pieces, each run on its restricted engine in a fresh
    state, pickled (as Dask ships them), folded in reverse order with absorb_recount: same
    summary as in-process."""
    import pickle

    from faceaudit._tiles import cut_units, window

    monkeypatch.setattr(_tiles, "TILE", 16)
    m, tpl = make(n=160, seed=14)
    summ = score_templates(tpl, m, grouping="grp", min_exact=10, n_bins=32, progress=False)
    ts = [0.07, 0.15]

    def executor(engine, units, n_workers, progress):
        total = RecountState()
        pieces = cut_units(units, 32)
        assert len(pieces) > len(units)
        for u in pieces[::-1]:
            pos, local = window(u)
            part = pickle.loads(pickle.dumps(engine.restrict(pos)))
            st = RecountState()
            part.run_unit(local, st)
            absorb_recount(total, pickle.loads(pickle.dumps(part.globalise(st, pos))))
        return [total]

    base = recount_templates(tpl, m, summ, ts)
    other = recount_templates(tpl, m, summ, ts, executor=executor)
    np.testing.assert_array_equal(other.impostor_hist, base.impostor_hist)
    np.testing.assert_array_equal(other.hist_edges, base.hist_edges)
    for k in "tgabn":
        np.testing.assert_array_equal(getattr(other, f"accepted_{k}"),
                                      getattr(base, f"accepted_{k}"))
    assert len(base.accepted_t)
