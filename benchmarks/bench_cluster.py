"""In-process vs a Dask LocalCluster: same bits, wall time, memory per worker, overhead.

Scoring (``--n`` synthetic 128-d templates of ``bench_scorer.make_data``: 5 samples a subject,
8 groups, all pairs): :func:`faceaudit.score_templates` with 2 threads in this process, then
with :func:`faceaudit.cluster.dask_executor` on a ``LocalCluster`` of ``--workers`` processes ×
1 thread (equal cores). Prints: both wall times, the cluster's overhead
``t(cluster) / t(in-process) − 1`` (cluster start-up excluded, printed apart), the peak resident
memory of each worker process (``VmHWM`` of ``/proc/self/status``: the high-water mark of its
own address space, start-up included; not ``ru_maxrss``, which Linux carries across ``exec``
so that a worker spawned by this process starts with this process's peak), the time per
task (a piece of rows × columns) from Dask's task stream, and whether every array of the two
ScoreSummaries is identical.

Embedding (``--embed-n`` LFW images, ``--model``): :func:`faceaudit.pipeline.embed_manifest`
with 2 local worker processes vs :func:`faceaudit.cluster.dask_embed_runner` on the
LocalCluster, each on a fresh template store (cold: model loading included); throughput and
template identity. ``--embed-n 0`` skips it.

1:N (``--search-gallery`` × ``--search-probes``): :func:`faceaudit.identify.search` vs
:func:`faceaudit.cluster.sharded_search` (one shard per worker): identical, time.

    flock /work/heavy.lock python benchmarks/bench_cluster.py --n 50000 \
        --bounded-n 50000 100000 200000 --embed-n 200

Run it under the shared lock; see docs/scale-out.md for the measured numbers.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import PeakRSS
from bench_scorer import make_data

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEAUDIT_SHARED_DATA", REPO.parent / "shared" / "data")) / "lfw"
FIELDS = ("genuine_scores", "genuine_a", "genuine_b", "tail_scores", "tail_a", "tail_b",
          "tail_floor", "impostor_hist", "genuine_fta", "impostor_fta", "hist_edges")


def peak_rss_mib() -> float:
    """Peak resident memory of the calling process's address space (Linux ``VmHWM``, MiB)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def same_bits(a, b) -> bool:  # type: ignore[no-untyped-def]
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


def task_times(stream: list[dict], prefix: str) -> np.ndarray:
    out = []
    for t in stream:
        if str(t["key"]).startswith(prefix) or prefix in str(t["key"]):
            out += [s["stop"] - s["start"] for s in t["startstops"] if s["action"] == "compute"]
    return np.array(out)


def bench_scoring(client, n: int, dim: int, exact_fmr: float | None) -> None:  # type: ignore[no-untyped-def]
    from distributed import get_task_stream

    from faceaudit import score_templates
    from faceaudit.cluster import dask_executor

    manifest, tpl = make_data(n, dim)
    kw: dict = dict(grouping=["sex", "race"], progress=False)
    if exact_fmr is not None:
        kw["exact_fmr"] = exact_fmr
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        here = score_templates(tpl, manifest, n_workers=2, **kw)
        t_here = time.perf_counter() - t0
    pairs = int(here.impostor_total.sum()) + len(here.genuine_scores)
    tail = int(here.tail_scores.size)
    print(f"scoring N={n:,} d={dim}, exact_fmr={exact_fmr or 'default'}: {pairs:.3e} pairs; "
          f"exact tail {tail:,} scores in all")
    print(f"  in-process (2 threads): {t_here:.2f} s, {pairs / t_here:.3e} pairs/s, "
          f"peak RSS added {mem.added_mib:.0f} MiB (process {mem.peak_mib:.0f} MiB)")
    with PeakRSS() as mem, get_task_stream(client) as ts:
        t0 = time.perf_counter()
        there = score_templates(tpl, manifest, executor=dask_executor(client), **kw)
        t_there = time.perf_counter() - t0
    workers = client.run(peak_rss_mib)
    batch = task_times(ts.data, "run_piece")
    print(f"  LocalCluster ({len(workers)} processes): {t_there:.2f} s, "
          f"{pairs / t_there:.3e} pairs/s; overhead vs in-process {t_there / t_here - 1:+.1%}")
    print("  peak RSS per worker (VmHWM, MiB): "
          + ", ".join(f"{v:.0f}" for v in workers.values())
          + f"; driver added {mem.added_mib:.0f} MiB")
    if len(batch):
        print(f"  tasks: {len(batch)} pieces, {batch.mean():.2f} s mean, {batch.max():.2f} s max "
              f"({pairs / len(batch):.3e} pairs a piece); {batch.sum():.1f} s of work in all "
              f"= {batch.sum() / 2 / t_here:.2f}x the in-process wall time per core")
    print(f"  same ScoreSummary bits: {same_bits(here, there)}")


def bench_embedding(client, n: int, model: str) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from faceaudit import Manifest
    from faceaudit.cluster import dask_embed_runner
    from faceaudit.pipeline import embed_manifest

    files = sorted((DATA / "lfw-deepfunneled").glob("*/*.jpg"))[:: max(1, 13233 // n)][:n]
    if not files:
        raise SystemExit(f"no LFW images under {DATA}; set FACEAUDIT_SHARED_DATA")
    m = Manifest(pd.DataFrame({"sample_id": [f.stem for f in files],
                               "subject_id": [f.parent.name for f in files],
                               "path": [str(f) for f in files]}))
    kw = dict(embedder=model, detector="centerface", progress=False)
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        t0 = time.perf_counter()
        here = embed_manifest(m, store=a, n_workers=2, **kw)
        t_here = time.perf_counter() - t0
        t0 = time.perf_counter()
        there = embed_manifest(m, store=b, runner=dask_embed_runner(client), **kw)
        t_there = time.perf_counter() - t0
    same = all(np.array_equal(getattr(here, f), getattr(there, f))
               for f in ("sample_ids", "vectors", "status", "detail"))
    print(f"embedding {len(m):,} LFW images with {model} (cold stores, models loaded per worker):")
    print(f"  in-process pool (2 workers): {t_here:.1f} s, {len(m) / t_here:.1f} img/s")
    print(f"  LocalCluster: {t_there:.1f} s, {len(m) / t_there:.1f} img/s "
          f"({t_there / t_here - 1:+.1%})")
    print(f"  identical templates (vectors, statuses, details): {same}; "
          f"ok {int(here.ok.sum())}/{len(m)}")


def bench_search(client, n_gallery: int, n_probes: int, dim: int) -> None:  # type: ignore[no-untyped-def]
    from faceaudit.cluster import sharded_search
    from faceaudit.identify import search

    rng = np.random.default_rng(0)
    g = rng.standard_normal((n_gallery, dim)).astype(np.float32)
    p = rng.standard_normal((n_probes, dim)).astype(np.float32)
    t0 = time.perf_counter()
    a = search(g, p, 51, threads=2)
    t_here = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = sharded_search(client, min_pairs=0)(g, p, 51)
    t_there = time.perf_counter() - t0
    same = np.array_equal(a.indices, b.indices) and np.array_equal(a.scores, b.scores)
    print(f"1:N top-51, gallery {n_gallery:,} × {n_probes:,} probes, d={dim}: in-process "
          f"(FAISS, 2 threads) {t_here:.2f} s; sharded on the cluster {t_there:.2f} s; "
          f"identical: {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[50_000],
                    help="template counts scored with the library's default exact_fmr")
    ap.add_argument("--bounded-n", type=int, nargs="*", default=[],
                    help="template counts scored with exact_fmr=1e-9: a tail of min_exact "
                         "scores per cell whatever N (memory flat in N)")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shared-n", type=int, default=0,
                    help="also score this N on LocalCluster(1 process × --workers threads)")
    ap.add_argument("--embed-n", type=int, default=200)
    ap.add_argument("--model", default="dlib")
    ap.add_argument("--search-gallery", type=int, default=100_000)
    ap.add_argument("--search-probes", type=int, default=2_000)
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]  # partial logs

    from faceaudit.cluster import connect

    print(f"load average at start: {os.getloadavg()}")
    runs = [(n, None) for n in args.n] + [(n, 1e-9) for n in args.bounded_n]
    for n, exact_fmr in runs:  # a fresh cluster per run: each worker's ru_maxrss is this run's
        t0 = time.perf_counter()
        with connect(f"local:{args.workers}") as client:
            print(f"LocalCluster({args.workers}×1) start-up: {time.perf_counter() - t0:.1f} s")
            bench_scoring(client, n, args.dim, exact_fmr)
    if args.shared_n:  # one process, 2 threads: the templates once per machine, not per core
        with connect(f"local:1x{args.workers}") as client:
            print(f"LocalCluster(1×{args.workers}) (threads share one copy of the templates):")
            bench_scoring(client, args.shared_n, args.dim, None)
    if args.search_gallery:
        with connect(f"local:{args.workers}") as client:
            bench_search(client, args.search_gallery, args.search_probes, args.dim)
    if args.embed_n:
        with connect(f"local:{args.workers}") as client:
            bench_embedding(client, args.embed_n, args.model)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
