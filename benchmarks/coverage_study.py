"""Benchmark (not CI): the coverage study of faceaudit's intervals, with more audits than CI.

Run (numbers in docs/coverage.md)::

    flock /work/heavy.lock python benchmarks/coverage_study.py --audits 2000 --workers 2 \\
        --sigma 0.5 1.0 1.5 --out bench-out/coverage.md

    # fit the person effect on a real audit (LFW, dlib, gender x ancestry, FMR 1e-3 on
    # "M / caucasian"): needs the LFW templates in the store (15-20 min to embed otherwise)
    python benchmarks/coverage_study.py --calibrate-lfw ../shared/data/lfw \\
        --store ~/.cache/faceaudit/audit-cache/store

For every regime (kind of rate, people per group, true rate, person-effect sd) it draws
``--audits`` synthetic audits (``faceaudit.metrics._simulate``: LFW's images per person, a
per-person error propensity) and reports how often the reported interval and each of its parts
(exact Clopper–Pearson, design-effect Clopper–Pearson, people bootstrap) cover the true
population rate, where the misses fall, and how wide the interval is. Then the same for ratios
of two groups and for the NIST IR 8429 summaries. Each regime has its own seed: the tables are
reproducible and do not depend on ``--workers``.
"""

from __future__ import annotations

import argparse
import math
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

SIZES = (3, 10, 30, 100, 400)
RATES = {"genuine": (0.0, 1e-3, 1e-2, 5e-2), "impostor": (0.0, 1e-4, 1e-3, 1e-2, 5e-2)}
RATIOS = [
    ("impostor", (5e-3, 30), (1e-3, 100)),
    ("impostor", (1e-3, 100), (1e-3, 100)),
    ("impostor", (2e-3, 400), (1e-3, 400)),
    ("impostor", (2e-2, 10), (5e-2, 30)),
    ("impostor", (1e-2, 3), (1e-3, 10)),
    ("impostor", (1e-2, 30), (0.0, 30)),
    ("impostor", (1e-4, 100), (1e-3, 400)),
    ("genuine", (2e-2, 100), (1e-2, 400)),
    ("genuine", (5e-2, 30), (1e-3, 10)),
    ("genuine", (1e-2, 400), (1e-2, 30)),
    ("genuine", (5e-2, 10), (0.0, 100)),
]
SUMMARIES = [
    [(1e-3, 30), (4e-3, 100), (1e-2, 30), (2e-3, 10)],
    [(1e-3, 400), (1e-3, 100), (3e-3, 100), (1e-4, 30), (5e-2, 10)],
    [(1e-2, 3), (1e-2, 10), (1e-2, 30)],
]


def _seed(*key: Any) -> int:
    """A seed that depends only on the regime (not on the process or ``--workers``)."""
    return zlib.crc32(repr(key).encode())


def _rate(args: tuple[str, int, float, float, int, int, float]) -> dict[str, Any]:
    from faceaudit.metrics._simulate import Population, rate_coverage

    kind, people, rate, sigma, audits, boot, conf = args
    seed = _seed(kind, people, rate, sigma)
    t = time.perf_counter()
    r = rate_coverage(Population(kind, rate, sigma), people, n_audits=audits, n_boot=boot,
                      confidence=conf, seed=seed)
    r["seconds"] = time.perf_counter() - t
    return r


def _ratio(args: tuple[Any, ...]) -> dict[str, Any]:
    from faceaudit.metrics._simulate import Population, ratio_coverage

    kind, num, den, sigma, audits, boot, conf = args
    seed = _seed(kind, num, den, sigma)
    return ratio_coverage((Population(kind, num[0], sigma), num[1]),
                          (Population(kind, den[0], sigma), den[1]), n_audits=audits,
                          n_boot=boot, confidence=conf, seed=seed)


def _summary(args: tuple[Any, ...]) -> dict[str, Any]:
    from faceaudit.metrics._simulate import Population, summary_coverage

    kind, groups, sigma, audits, boot, conf = args
    seed = _seed(kind, groups, sigma)
    return summary_coverage([(Population(kind, r, sigma), c) for r, c in groups],
                            n_audits=audits, n_boot=boot, confidence=conf, seed=seed)


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}" if n else "–"


def study(audits: int, boot: int, sigmas: list[float], workers: int, conf: float) -> str:
    jobs = [(k, c, r, s, audits, boot, conf) for s in sigmas for k in RATES for c in SIZES
            for r in RATES[k]]
    rjobs = [(k, n, d, s, audits, boot, conf) for s in sigmas for k, n, d in RATIOS]
    sjobs = [(k, g, s, audits, boot, conf) for s in sigmas for k in ("impostor", "genuine")
             for g in SUMMARIES]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as ex:
        rates = list(ex.map(_rate, jobs))
        ratios = list(ex.map(_ratio, rjobs))
        summaries = list(ex.map(_summary, sjobs))
    lines = [f"Coverage at {conf:.0%}, {audits} audits per regime, {boot} bootstrap replicates "
             f"({time.perf_counter() - t0:.0f} s on {workers} workers).", ""]
    for s in sigmas:
        lines += [f"### Rates, person effect sd {s:g}", "",
                  "| rate | people | true rate | audits | reported % | exact CP % | design % | "
                  "bootstrap % | misses below / above | no error seen % | median width / truth "
                  "| with Kish df: % | width |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
        for r in rates:
            if r["sigma"] != s:
                continue
            n = r["audits"]
            name = "FNMR" if r["kind"] == "genuine" else "FMR"
            w = r["median_rel_width"]
            wk = r["median_rel_width_kish"]
            lines.append(
                f"| {name} | {r['n_people']} | {r['rate']:g} | {n} | **{_pct(r['covered'], n)}** "
                f"| {_pct(r['covered_exact'], n)} | {_pct(r['covered_design'], n)} | "
                f"{_pct(r['covered_boot'], n)} | {r['miss_low']} / {r['miss_high']} | "
                f"{_pct(r['zero'], n)} | {'–' if math.isnan(w) else f'{w:.2g}'} | "
                f"{_pct(r['covered_kish'], n)} | {'–' if math.isnan(wk) else f'{wk:.2g}'} |")
        lines += ["", f"### Ratios of two groups, person effect sd {s:g}", "",
                  "| rate | group (true rate, people) | reference (true rate, people) | true ratio "
                  "| audits | reported % | unbounded % |", "|---|---|---|---:|---:|---:|---:|"]
        for r in ratios:
            if r["sigma"] != s:
                continue
            n = r["audits"]
            name = "FNMR" if r["kind"] == "genuine" else "FMR"
            lines.append(f"| {name} | {r['num'][0]:g}, {r['num'][1]} | {r['den'][0]:g}, "
                         f"{r['den'][1]} | {r['truth']:g} | {n} | **{_pct(r['covered'], n)}** | "
                         f"{_pct(r['unbounded'], n)} |")
        lines += ["", f"### NIST IR 8429 summaries, person effect sd {s:g}", "",
                  "| rate | groups (true rate, people) | audits | Max/Min % | Max/GeoMean % | "
                  "Max−Min % |", "|---|---|---:|---:|---:|---:|"]
        for r in summaries:
            if r["sigma"] != s:
                continue
            n = r["audits"]
            name = "FNMR" if r["kind"] == "genuine" else "FMR"
            g = "; ".join(f"{a:g}, {b}" for a, b in r["groups"])
            lines.append(f"| {name} | {g} | {n} | {_pct(r['covered_max_min_ratio'], n)} | "
                         f"{_pct(r['covered_max_geomean_ratio'], n)} | "
                         f"{_pct(r['covered_max_minus_min'], n)} |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------- calibration on LFW
def fit_person_sigma(errors: Any, trials: Any, max_expected: float = 20.0
                     ) -> tuple[float, float, int]:
    """Maximum-likelihood (beta, sigma) of the study's person model on per-person counts:
    ``e_i ~ Bin(n_i, h(beta + sigma z_i))``, ``z_i ~ N(0, 1)``, ``h`` complementary log-log
    (Gauss–Hermite, 120 nodes). People expected to have more than ``max_expected`` errors at
    the overall rate are left out: their likelihood is too peaked for fixed quadrature, and
    leaving them out does not bias sigma (the selection is on the number of comparisons, which
    in the model is independent of the propensity). Impostor counts are fitted person by
    person (each false match counts for both people), an approximation that recovers sigma
    on simulated groups. Returns (beta, sigma, people used)."""
    import numpy as np
    from scipy import optimize, stats

    e = np.asarray(errors, float)
    n = np.asarray(trials, float)
    rate = e.sum() / n.sum() if n.sum() else 0.0
    keep = (n > 0) & (n * rate <= max_expected)
    e, n = e[keep], n[keep]
    x, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / w.sum()

    def nll(theta: np.ndarray) -> float:
        beta, log_s = theta
        p = -np.expm1(-np.exp(beta + np.exp(log_s) * x))  # (nodes,)
        p = np.clip(p, 1e-300, 1 - 1e-16)
        ll = stats.binom.logpmf(e[:, None], n[:, None], p[None, :])
        m = ll.max(axis=1, keepdims=True)
        return -float(np.sum(m[:, 0] + np.log(np.exp(ll - m) @ w)))

    p0 = max(e.sum() / n.sum(), 1e-6)
    best = min((optimize.minimize(nll, [math.log(p0), math.log(s0)], method="Nelder-Mead",
                                  options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000})
                for s0 in (0.3, 1.0, 2.0)), key=lambda r: r.fun)
    return float(best.x[0]), float(math.exp(best.x[1])), len(e)


def calibrate_lfw(data_dir: str, store: str | None, target_fmr: float) -> str:
    import faceaudit as fa
    from faceaudit import datasets
    from faceaudit.metrics import AuditResult, person_counts

    manifest = datasets.load_lfw(data_dir)
    templates = fa.embed_manifest(manifest, store=store, progress=False)
    summary = fa.score_templates(templates, manifest, grouping="gender,ancestry", progress=False)
    audit = AuditResult(summary, target_fmr=target_fmr, reference_group="M / caucasian")
    lines = [f"LFW, dlib, gender x ancestry, threshold {audit.threshold:.6g} "
             f"({audit.threshold_rule})", "",
             "| group | rate | errors / comparisons | people with comparisons | design effect | "
             "effective people (df + 1) | fitted person-effect sd |",
             "|---|---|---|---:|---:|---:|---:|"]
    for g, lab in enumerate(summary.group_labels):
        gen, imp = person_counts(summary, g, audit.threshold)
        for name, c in (("FNMR", gen), ("FMR", imp)):
            if c is None or c.trials == 0:
                continue
            p = c.errors / c.trials
            deff = (c.jackknife_variance() / (p * (1 - p) / c.trials)) if 0 < p < 1 else math.nan
            people = int((c.person_trials > 0).sum())
            sigma = "–"
            if c.errors >= 5 and people >= 10:
                _, s, _ = fit_person_sigma(c.person_errors, c.person_trials)
                sigma = f"{s:.2f}"
            lines.append(f"| {lab} | {name} | {c.errors:,} / {c.trials:,} | {people} | "
                         f"{deff:.1f} | {c.design_df() + 1:.1f} | {sigma} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--audits", type=int, default=2000)
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--sigma", type=float, nargs="+", default=[1.0])
    ap.add_argument("--confidence", type=float, default=0.95)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=None, help="also write the markdown tables here")
    ap.add_argument("--calibrate-lfw", default=None, metavar="LFW_DIR")
    ap.add_argument("--store", default=None, help="template store holding the LFW templates")
    ap.add_argument("--target-fmr", type=float, default=1e-3)
    args = ap.parse_args()
    if args.calibrate_lfw:
        text = calibrate_lfw(args.calibrate_lfw, args.store, args.target_fmr)
    else:
        text = study(args.audits, args.boot, args.sigma, args.workers, args.confidence)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
