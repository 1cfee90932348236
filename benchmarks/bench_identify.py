"""Benchmark of the exact 1:N search (faceaudit.identify.search).

Full run: a gallery of 1,000,000 synthetic unit vectors (128-d) x 10,000 probes, top-10, with
FAISS (IndexFlatIP + exactness proof): wall time and peak resident memory. Then, on a subset
(100,000 x 1,000), the same search three ways in this process — FAISS, NumPy GEMM back-end,
and the naive brute force (every pair scored canonically, full sort) — checking that all three
return identical candidates and scores, and printing time ratios.

    python benchmarks/bench_identify.py            # full (about a few minutes on 2 cores)
    python benchmarks/bench_identify.py --quick    # 100k x 1k, subset 20k x 200
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from _common import PeakRSS
from faceaudit.identify import brute_force_search, search


def unit_vectors(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((n, d), np.float32)
    for s in range(0, n, 100_000):
        x = rng.standard_normal((min(100_000, n - s), d), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[s:s + len(x)] = x
    return out


def probes_for(gallery: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Half near a gallery member (mated-like), half random (non-mated-like)."""
    d = gallery.shape[1]
    p = unit_vectors(n, d, rng)
    half = n // 2
    idx = rng.integers(0, len(gallery), half)
    p[:half] = gallery[idx] + 0.05 * p[:half]
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    ap.add_argument("--threads", type=int, default=None, help="search threads (default: all)")
    args = ap.parse_args()
    n_gal, n_probe, sub_gal, sub_probe = ((100_000, 1_000, 20_000, 200) if args.quick
                                          else (1_000_000, 10_000, 100_000, 1_000))
    d, k = 128, 10
    rng = np.random.default_rng(0)
    print(f"cores: {os.cpu_count()}, threads: {args.threads or os.cpu_count()}")
    t0 = time.perf_counter()
    G = unit_vectors(n_gal, d, rng)
    P = probes_for(G, n_probe, rng)
    print(f"data: gallery {n_gal:,} x {d}, probes {n_probe:,} ({time.perf_counter() - t0:.1f} s)")

    with PeakRSS() as mem:
        t0 = time.perf_counter()
        res = search(G, P, k, method="faiss", threads=args.threads)
        t_full = time.perf_counter() - t0
    print(f"[full] FAISS exact top-{k}: {t_full:.2f} s wall, "
          f"{n_probe / t_full:,.0f} searches/s, "
          f"{n_gal * n_probe / t_full / 1e9:.2f} G comparisons/s, "
          f"peak RSS {mem.peak_mib:,.0f} MiB (+{mem.added_mib:,.0f} MiB during the search), "
          f"probes re-fetched for exactness: {res.n_refetched}")

    Gs, Ps = G[:sub_gal], P[:sub_probe]
    timings = {}
    results = {}
    for name, fn in [
        ("faiss", lambda: search(Gs, Ps, k, method="faiss", threads=args.threads)),
        ("numpy", lambda: search(Gs, Ps, k, method="numpy")),
        ("brute-force", lambda: brute_force_search(Gs, Ps, k)),
    ]:
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            results[name] = fn()
            timings[name] = time.perf_counter() - t0
        print(f"[subset {sub_gal:,} x {sub_probe:,}] {name:12s} {timings[name]:8.2f} s  "
              f"(+{mem.added_mib:,.0f} MiB)")
    ref = results["brute-force"]
    for name in ("faiss", "numpy"):
        same_i = np.array_equal(results[name].indices, ref.indices)
        same_s = np.array_equal(results[name].scores, ref.scores)
        print(f"  {name} == brute-force: candidates {same_i}, scores {same_s}")
        if not (same_i and same_s):
            raise SystemExit(f"MISMATCH between {name} and brute force")
    print(f"  ratio brute-force / faiss: {timings['brute-force'] / timings['faiss']:.1f}x;  "
          f"numpy-GEMM / faiss: {timings['numpy'] / timings['faiss']:.2f}x")
    if args.quick:
        est = t_full / (n_gal * n_probe) * 1e6 * 1e4
        print(f"  FAISS time for 1e6 x 1e4 extrapolated from the quick run: {est:.0f} s")
    print(f"  load average during the run: {os.getloadavg()} (other jobs slow these figures)")


if __name__ == "__main__":
    main()
