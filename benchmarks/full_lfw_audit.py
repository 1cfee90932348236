"""Benchmark (not CI): the full-LFW audit, all 13,233 images, dlib, gender × ancestry.

Run::

    python benchmarks/full_lfw_audit.py --data-dir ../shared/data/lfw \\
        --store /work/cache/faceaudit-store --out bench-out/lfw-full-audit

It prints the wall time of every stage (data, embed, score, metrics, identification,
report) and the main findings, and writes the whole report folder. With a template store
that already holds every LFW template (the pipeline benchmark fills
``/work/cache/faceaudit-store``) the embed stage only reads the store; otherwise it embeds
the missing images first (hours on 2 cores: run it once, it resumes). A second run reuses
the cached score summary too: compare the two runs' ``score`` times.

What is measured is the time to a finished, checked report, not a speed target.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data-dir",
        default=os.environ.get("FACEAUDIT_LFW"),
        help="LFW folder (default: $FACEAUDIT_LFW, else the shared data folder)",
    )
    ap.add_argument("--store", default="/work/cache/faceaudit-store")
    ap.add_argument("--out", default="bench-out/lfw-full-audit")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--target-fmr", type=float, default=1e-3)
    ap.add_argument("--limit", type=int, default=0, help="0 = all 13,233 images")
    ap.add_argument("--no-identification", action="store_true")
    ap.add_argument("--model", default="dlib", help="dlib, or fake to check the script quickly")
    ap.add_argument("--detector", default="centerface")
    ap.add_argument("--face-policy", default=None, help="largest, central (pipeline default)")
    args = ap.parse_args()

    from faceaudit.audit import AuditConfig, run_audit

    data_dir = args.data_dir
    if data_dir is None:
        shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"
        data_dir = str(shared) if shared.exists() else None
    cfg = AuditConfig(
        dataset="lfw",
        data_dir=data_dir,
        model=args.model,
        detector=args.detector,
        face_policy=args.face_policy,
        store=args.store,
        workers=args.workers,
        group_by=["gender", "ancestry"],
        reference_group="M / caucasian",
        target_fmr=args.target_fmr,
        n_boot=args.n_boot,
        limit=args.limit,
        identification=not args.no_identification,
        out=args.out,
    )
    t0 = time.perf_counter()

    def progress(stage: str, msg: str) -> None:
        print(f"[{time.perf_counter() - t0:8.1f} s] {stage:>14}: {msg}", flush=True)

    out = run_audit(cfg, progress=progress, show_bars=True)
    print("\nwall time per stage (s):")
    for stage, sec in out.timings.items():
        print(f"  {stage:>14}: {sec:8.1f}")
    print(f"  score summary from cache: {out.cache_hit}")
    ver = out.results["verification"]
    print(f"\nthreshold {ver['threshold']:.6g} ({ver.get('threshold_rule_text')})")
    print(f"{'group':<28}{'people':>7}{'FMR':>11}{'FNMR':>9}{'FMR ratio':>11}  thin")
    for g in ver["groups"]:

        def f(x: float | None, fmt: str) -> str:
            return format(x, fmt) if x is not None else "–"

        print(
            f"{g['group']:<28}{g['n_subjects']:>7}{f(g['fmr'], '.2e'):>11}"
            f"{f(g['fnmr'], '.3f'):>9}{f(g['fmr_ratio_to_reference'], '.2f'):>11}"
            f"  {'thin' if g['thin'] else ''}"
        )
    print("\nmain findings:")
    for k, item in enumerate(out.findings[:6], start=1):
        print(f"{k}. {item['text']}{'  [thin data]' if item['thin'] else ''}")
    print(f"\nreport: {out.report}")


if __name__ == "__main__":
    main()
