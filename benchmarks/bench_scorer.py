"""Benchmark of the streaming scorer (`faceaudit._scorer.score_templates`).

Synthetic set: ``--n`` random unit vectors (subject centre + noise) of ``--dim`` dimensions,
5 samples per subject, 8 groups (sex × race, assigned per subject). Prints pairs/second and
peak memory of the streaming scorer, then runs the obvious baseline in the same process —
the full NumPy score matrix + ``sklearn.metrics.roc_curve`` — on ``--baseline-n`` samples,
prints the speed ratio, and checks that both give the same counts at every threshold the
baseline returns (exact above the tail floor; bracketed by the neighbouring histogram edges
below it).

Two agreement checks are printed. On the random data, the baseline's float32 GEMM rounds
some dot products differently in the last bit from the scorer, whose every score is the one
definition of :mod:`faceaudit._similarity` (float64 arithmetic rounded to float32), so a
handful of thresholds sitting exactly on such a score can differ by one count: that is the
baseline's float32 arithmetic, not the scorer. The decisive check uses *exactly
representable* data — sparse sign vectors with ``m`` non-zeros of ±1/√m (m = 64 or
256), whose dot products k/m are exact in float32 under any summation order — and must show
0 mismatches.

Usage::

    python benchmarks/bench_scorer.py                 # N = 50,000 at 128-d and 512-d
    python benchmarks/bench_scorer.py --dim 128 --n 20000 --baseline-n 8000
    python benchmarks/bench_scorer.py --quick         # small N, seconds
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import pandas as pd

from _common import PeakRSS
from faceaudit import Manifest, Templates
from faceaudit._scorer import score_templates


def make_exact_data(n: int, dim: int, seed: int = 0) -> tuple[Manifest, Templates]:
    """Like :func:`make_data`, but every float32 dot product is exact (see module doc)."""
    manifest, _ = make_data(n, dim, seed)
    rng = np.random.default_rng(seed + 100)
    m = 256 if dim >= 256 else 64
    subj = manifest.subject_codes
    n_subj = int(subj.max()) + 1
    x = np.zeros((n, dim), np.float32)
    support = np.argsort(rng.random((n_subj, dim)), axis=1)[:, :m]
    signs = rng.choice(np.array([-1.0, 1.0], np.float32), (n_subj, m))
    flip = np.where(rng.random((n, m)) < 0.3, -1.0, 1.0).astype(np.float32)
    np.put_along_axis(x, support[subj], signs[subj] * flip / np.float32(np.sqrt(m)), axis=1)
    return manifest, Templates.from_vectors(manifest.sample_ids, x, model_id="bench-exact")


def make_data(n: int, dim: int, seed: int = 0) -> tuple[Manifest, Templates]:
    rng = np.random.default_rng(seed)
    per = 5
    n_subj = -(-n // per)
    subj = np.repeat(np.arange(n_subj), per)[:n]
    sex = rng.choice(["F", "M"], n_subj)[subj]
    race = rng.choice(["A", "B", "C", "D"], n_subj)[subj]
    df = pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "subject_id": [f"p{s}" for s in subj],
            "sex": sex,
            "race": race,
        }
    )
    centres = rng.standard_normal((n_subj, dim)).astype(np.float32)
    x = centres[subj] + 1.2 * rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return Manifest(df), Templates.from_vectors(df["sample_id"].to_numpy(), x, model_id="bench")


def run_scorer(manifest: Manifest, tpl: Templates, n_workers: int = 2):
    with PeakRSS() as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        s = score_templates(tpl, manifest, grouping="sex,race", n_workers=n_workers, progress=False)
        el = time.perf_counter() - t0
        mem.cpu = time.process_time() - c0
    return s, el, mem


def baseline(manifest: Manifest, tpl: Templates):
    from sklearn.metrics import roc_curve

    with PeakRSS() as mem:
        t0 = time.perf_counter()
        x = tpl.vectors / np.linalg.norm(tpl.vectors, axis=1, keepdims=True)
        full = x @ x.T
        i, j = np.triu_indices(len(x), 1)
        scores = full[i, j]
        subj = manifest.subject_codes
        y = (subj[i] == subj[j]).astype(np.int8)
        fpr, tpr, thr = roc_curve(y, scores, drop_intermediate=True)
        el = time.perf_counter() - t0
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    del full, i, j, scores, y
    fps = np.rint(fpr * n_neg).astype(np.int64)
    tps = np.rint(tpr * n_pos).astype(np.int64)
    return fps, tps, thr, el, mem


def check(summary, fps, tps, thr) -> tuple[int, int, int]:
    """Compare counts at the baseline's thresholds: (exact checked, bracketed, mismatches)."""
    ss = summary.scores("all")
    tail = np.sort(ss.impostor_tail)
    edges = ss.hist_edges
    cum = np.r_[np.cumsum(ss.impostor_hist[::-1])[::-1], 0]  # cum[k] = hist scores in bins >= k
    gen = np.sort(ss.genuine)
    fin = np.isfinite(thr)
    fps, tps, thr = fps[fin], tps[fin], thr[fin]
    n_tail = len(tail) - np.searchsorted(tail, thr, side="left")
    bad = int((tps != len(gen) - np.searchsorted(gen, thr, side="left")).sum())
    exact = thr >= ss.impostor_floor
    bad += int((fps[exact] != n_tail[exact]).sum())
    k = np.clip(np.searchsorted(edges, thr[~exact], side="right") - 1, 0, len(cum) - 2)
    lo = n_tail[~exact] + cum[k + 1]
    hi = n_tail[~exact] + cum[k]
    f = fps[~exact]
    bad += int(((f < lo) | (f > hi)).sum())
    return int(exact.sum()), int((~exact).sum()), bad


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--dim", type=int, action="append", help="repeatable; default 128 and 512")
    ap.add_argument(
        "--baseline-n",
        type=int,
        default=10_000,
        help="samples for the full-matrix baseline (memory ~ 60·n² bytes)",
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="n=6000, baseline-n=3000, 128-d only")
    args = ap.parse_args()
    dims = args.dim or [128, 512]
    if args.quick:
        args.n, args.baseline_n, dims = 6000, 3000, args.dim or [128]
    print(f"cores: {os.cpu_count()}  OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")
    for dim in dims:
        manifest, tpl = make_data(args.n, dim)
        pairs = args.n * (args.n - 1) // 2
        s, el, mem = run_scorer(manifest, tpl, args.workers)
        print(
            f"[{dim}-d] N={args.n:,} pairs={pairs:,}: {el:.2f} s, {pairs / el:.3g} pairs/s, "
            f"peak RSS {mem.peak / 2**30:.2f} GiB (+{(mem.peak - mem.start) / 2**30:.2f} GiB "
            f"during the run), tail {len(s.tail_scores):,}, genuine {len(s.genuine_scores):,}"
        )
        print(
            f"[{dim}-d] CPU time {mem.cpu:.2f} s = {pairs / mem.cpu:.3g} pairs per CPU-second; "
            f"{mem.cpu / el:.2f} cores busy (1-min load average now {os.getloadavg()[0]:.1f})"
        )
        nb = args.baseline_n
        mb, tb = make_data(nb, dim, seed=1)
        sb, elb, memb = run_scorer(mb, tb, args.workers)
        fps, tps, thr, el_base, mem_base = baseline(mb, tb)
        exact, bracket, bad = check(sb, fps, tps, thr)
        pb = nb * (nb - 1) // 2
        print(
            f"[{dim}-d] baseline N={nb:,} ({pb:,} pairs): full matrix + roc_curve {el_base:.2f} s "
            f"({pb / el_base:.3g} pairs/s, +{(mem_base.peak - mem_base.start) / 2**30:.2f} GiB); "
            f"scorer {elb:.2f} s (+{(memb.peak - memb.start) / 2**30:.2f} GiB): "
            f"speed-up x{el_base / elb:.1f}"
        )
        print(
            f"[{dim}-d] agreement on random data at {len(thr)} baseline thresholds: {exact} exact, "
            f"{bracket} bracketed by histogram edges, {bad} differ (float32 GEMM rounding)"
        )
        me, te = make_exact_data(nb, dim, seed=2)
        se, _, _ = run_scorer(me, te, args.workers)
        fps, tps, thr, _, _ = baseline(me, te)
        exact, bracket, bad = check(se, fps, tps, thr)
        print(
            f"[{dim}-d] agreement on exactly representable data at {len(thr)} baseline thresholds: "
            f"{exact} exact, {bracket} bracketed, {bad} mismatches (must be 0)"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"process max RSS (getrusage): {rss:.2f} GiB")


if __name__ == "__main__":
    main()
