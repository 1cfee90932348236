"""Benchmark of faceaudit.metrics: the counting core and AuditResult's subject bootstrap.

Synthetic summary (built directly, no embeddings): ``--subjects`` subjects with 4 samples
each in 8 groups, every genuine pair exact, and per cell an exact impostor tail of
``--tail`` random pairs above a floor plus a histogram holding the rest of the cell's
all-pairs impostor count (so the bootstrap's closed-form denominator applies).

Prints, each against an obvious baseline run in the same process:

1. ``error_counts`` at many thresholds vs. counting ``imp >= t`` one threshold at a time;
2. the vectorised subject bootstrap (``AuditResult(n_boot=B)``) vs. a per-replicate Python
   loop over pairs (on fewer replicates, compared per replicate), checking both agree.

Usage::

    python benchmarks/bench_metrics.py            # 5,000 subjects, 1,000 replicates
    python benchmarks/bench_metrics.py --quick
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from faceaudit import Grouping, ScoreSet, ScoreSummary
from faceaudit.metrics import AuditResult, error_counts
from faceaudit.metrics._intervals import bootstrap_rates, draw_weights, group_resampling


def synthetic_summary(n_subjects: int, tail: int, seed: int = 0) -> ScoreSummary:
    rng = np.random.default_rng(seed)
    per, g = 4, 8
    subjects = np.repeat(np.arange(n_subjects), per)
    groups = (np.arange(n_subjects) % g)[subjects]
    n = len(subjects)
    a0 = np.arange(n)[:, None]
    base = (np.arange(n_subjects) * per)[:, None, None]
    ii, jj = np.triu_indices(per, 1)
    ga = (base + ii).reshape(-1)
    gb = (base + jj).reshape(-1)
    del a0
    edges = np.linspace(-1, 1, 2**10 + 1)
    floor = 0.35
    hist = np.zeros((g, g, len(edges) - 1), np.int64)
    floors = np.full((g, g), floor)
    ts, ta, tb = [], [], []
    members = [np.flatnonzero(groups == k) for k in range(g)]
    for i in range(g):
        for j in range(i, g):
            ni, nj = len(members[i]), len(members[j])
            n_imp = (ni * (ni - 1) // 2 - (ni // per) * len(ii)) if i == j else ni * nj
            a = rng.choice(members[i], tail)
            b = rng.choice(members[j], tail)
            ok = subjects[a] != subjects[b]
            a, b = np.minimum(a[ok], b[ok]), np.maximum(a[ok], b[ok])
            ts.append(floor + (1 - floor) * rng.random(len(a)) ** 3)
            ta.append(a)
            tb.append(b)
            below = np.flatnonzero(edges[:-1] < floor)
            hist[i, j] = np.bincount(rng.choice(below, n_imp - len(a)), minlength=len(edges) - 1)
    return ScoreSummary(
        sample_ids=np.array([f"s{k}" for k in range(n)]),
        subject_codes=subjects.astype(np.int32),
        subject_ids=np.array([f"p{k}" for k in range(n_subjects)]),
        group_codes=groups.astype(np.int32),
        group_labels=tuple(f"G{k}" for k in range(g)),
        grouping=Grouping(("g",)),
        enrolled=np.ones(n, bool),
        genuine_scores=rng.normal(0.6, 0.15, len(ga)),
        genuine_a=ga, genuine_b=gb,
        hist_edges=edges, impostor_hist=hist,
        tail_scores=np.concatenate(ts), tail_a=np.concatenate(ta), tail_b=np.concatenate(tb),
        tail_floor=floors,
        genuine_fta=np.zeros((g, g), np.int64), impostor_fta=np.zeros((g, g), np.int64),
    )


def bench_counting(n_scores: int, n_thresholds: int) -> None:
    rng = np.random.default_rng(1)
    imp = rng.normal(size=n_scores)
    gen = rng.normal(2, 1, n_scores // 10)
    thr = np.linspace(-3, 5, n_thresholds)
    s = ScoreSet.from_arrays(gen, imp)
    t0 = time.perf_counter()
    c = error_counts(s, thresholds=thr)
    t_core = time.perf_counter() - t0
    k = max(1, n_thresholds // 100)
    t0 = time.perf_counter()
    naive = np.array([(imp >= t).sum() for t in thr[::k]])
    t_naive = (time.perf_counter() - t0) * k
    assert np.array_equal(naive, c.false_matches[::k])
    print(f"error_counts: {n_scores:,} impostor scores x {n_thresholds:,} thresholds: "
          f"{t_core * 1e3:.1f} ms; baseline (one threshold at a time) {t_naive * 1e3:.0f} ms "
          f"(extrapolated) -> {t_naive / t_core:.0f}x faster")


def naive_replicate(r, w: np.ndarray, t: float) -> tuple[float, float]:
    num = den = 0.0
    for a, b, x in zip(r.tail_a, r.tail_b, r.tail_scores, strict=True):
        if x >= t:
            num += w[a] * w[b]
    ws = w @ r.n_samples
    den = 0.5 * (ws * ws - (w * w) @ (r.n_samples**2))
    gnum = gden = 0.0
    for s, x in zip(r.gen_subject, r.gen_scores, strict=True):
        gden += w[s]
        gnum += w[s] * (x < t)
    return num / den, gnum / gden


def bench_bootstrap(n_subjects: int, tail: int, n_boot: int) -> None:
    t0 = time.perf_counter()
    sm = synthetic_summary(n_subjects, tail)
    print(f"synthetic summary: {sm} built in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    res = AuditResult(sm, target_fmr=1e-4, reference_group="G0", n_boot=0)
    t_point = time.perf_counter() - t0
    print(f"AuditResult (no bootstrap): {t_point:.2f} s, threshold {res.threshold:.4f}")
    t0 = time.perf_counter()
    res = AuditResult(sm, target_fmr=1e-4, reference_group="G0", n_boot=n_boot, seed=0)
    t_boot = time.perf_counter() - t0 - t_point
    print(f"AuditResult (n_boot={n_boot}): bootstrap {t_boot:.2f} s "
          f"({t_boot / n_boot * 1e3:.2f} ms per replicate for 8 groups)")
    r = group_resampling(sm, 0)
    w = draw_weights([r.n_subjects], 3, 0)[0]
    fm, fn = bootstrap_rates(r, w, res.threshold)
    t0 = time.perf_counter()
    for b in range(3):
        nf, nn = naive_replicate(r, w[b].astype(float), res.threshold)
        assert abs(nf - fm[b]) <= 1e-12 * max(1.0, nf) and abs(nn - fn[b]) <= 1e-12
    t_naive = (time.perf_counter() - t0) / 3 * 8
    per = t_boot / n_boot
    print(f"baseline (Python loop over pairs, per replicate, 8 groups): {t_naive * 1e3:.0f} ms "
          f"-> vectorised is {t_naive / per:.0f}x faster; both agree")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subjects", type=int, default=5000)
    p.add_argument("--tail", type=int, default=50_000)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    if a.quick:
        a.subjects, a.tail, a.n_boot = 800, 5000, 100
    bench_counting(2_000_000 if not a.quick else 200_000, 10_000)
    bench_bootstrap(a.subjects, a.tail, a.n_boot)


if __name__ == "__main__":
    main()
