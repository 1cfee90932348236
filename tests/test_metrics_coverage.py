"""The coverage test: the 95% intervals of rates and ratios cover the true population rate in
at least 93% of 400 synthetic audits in every regime (seeded; ``docs/coverage.md`` has the
full study, ``benchmarks/coverage_study.py`` runs it with more audits).

Populations (``faceaudit.metrics._simulate``): images per person drawn from LFW's own
distribution, a per-person error propensity (sd ``SIGMA``) shared by all of a
person's comparisons, groups of 3-400 people, true rates 0-5%.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from faceaudit.metrics._simulate import (
    LFW_IMAGES_PER_PERSON,
    Population,
    rate_coverage,
    ratio_coverage,
    summary_coverage,
)

AUDITS = 400
MIN_COVERAGE = 0.93
N_BOOT = 100
SIGMA = {"genuine": 2.0, "impostor": 1.5}
"""Person-effect sd by kind of comparison: fitted on the LFW dlib audit (FNMR about 1.7-1.8,
FMR about 1.4-1.6 in the large groups) and corrected for the fit's downward bias
(docs/coverage.md)."""


def test_lfw_images_per_person_histogram_is_lfws(lfw_dir: Path) -> None:
    root = lfw_dir / "lfw-deepfunneled"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    counts = Counter(sum(1 for f in d.iterdir() if f.suffix == ".jpg")
                     for d in root.iterdir() if d.is_dir())
    assert dict(counts) == LFW_IMAGES_PER_PERSON
    assert sum(k * v for k, v in counts.items()) == 13_233
    assert sum(counts.values()) == 5_749


@pytest.mark.parametrize("kind", ["genuine", "impostor"])
def test_the_truth_is_the_population_rate(kind: str) -> None:
    """Averaged over many audits, the observed rate is the requested population rate (it is
    unbiased given the images per person), and a person's comparisons err together."""
    pop = Population(kind, 0.02, SIGMA[kind])
    rng = np.random.default_rng(7)
    rates, deffs = [], []
    for _ in range(600):
        c = pop.draw(rng, 30)
        if c.trials:
            p = c.errors / c.trials
            rates.append(p)
            if 0 < p < 1:
                deffs.append(c.jackknife_variance() / (p * (1 - p) / c.trials))
    assert np.mean(rates) == pytest.approx(0.02, rel=0.15)  # about 3 standard errors
    assert np.median(deffs) > 1.5  # clustered: variance above the binomial one
    # no person effect: h(beta) = rate exactly (complementary log-log link)
    assert Population(kind, 0.02, 0.0).beta == pytest.approx(math.log(-math.log(0.98)))


# (kind, people, rate): every size from 3 to 400 and every rate from 0 to 5% appears
RATE_REGIMES = [
    *[("genuine", c, r) for c in (3, 10, 30, 100, 400) for r in (1e-3, 1e-2, 5e-2)],
    ("genuine", 100, 0.0),
    *[("impostor", c, r) for c in (3, 10, 30, 100) for r in (1e-3, 1e-2, 5e-2)],
    ("impostor", 400, 1e-2),
    ("impostor", 30, 0.0),
]


@pytest.mark.parametrize(("kind", "people", "rate"), RATE_REGIMES)
def test_rate_intervals_cover(kind: str, people: int, rate: float) -> None:
    r = rate_coverage(Population(kind, rate, SIGMA[kind]), people, n_audits=AUDITS, n_boot=N_BOOT,
                      seed=people * 7 + int(rate * 1e4))
    assert r["audits"] >= 0.6 * AUDITS  # groups of 3 have no genuine pair about 1/3 of the time
    assert r["covered"] / r["audits"] >= MIN_COVERAGE, r


def test_clopper_pearson_alone_would_fail() -> None:
    """The test can fail: with people recurring, the exact binomial interval alone covers the
    FMR of a 100-person group in far fewer than 93% of audits."""
    r = rate_coverage(Population("impostor", 1e-2, SIGMA["impostor"]), 100, n_audits=200,
                      n_boot=0, seed=3)
    assert r["covered_exact"] / r["audits"] < 0.6
    assert r["covered"] / r["audits"] >= MIN_COVERAGE


RATIO_REGIMES = [
    ("impostor", (5e-3, 30), (1e-3, 100)),
    ("impostor", (1e-3, 100), (1e-3, 100)),
    ("impostor", (2e-2, 10), (5e-2, 30)),
    ("impostor", (1e-2, 30), (0.0, 30)),  # true ratio infinite: only unbounded intervals cover
    ("genuine", (2e-2, 100), (1e-2, 400)),
    ("genuine", (5e-2, 30), (1e-3, 10)),
]


@pytest.mark.parametrize(("kind", "num", "den"), RATIO_REGIMES)
def test_ratio_intervals_cover(kind: str, num: tuple[float, int], den: tuple[float, int]) -> None:
    r = ratio_coverage((Population(kind, num[0], SIGMA[kind]), num[1]),
                       (Population(kind, den[0], SIGMA[kind]), den[1]), n_audits=AUDITS,
                       n_boot=N_BOOT, seed=11)
    assert r["covered"] / r["audits"] >= MIN_COVERAGE, r


@pytest.mark.parametrize("kind", ["impostor", "genuine"])
def test_nist_summary_intervals_cover(kind: str) -> None:
    groups = [(Population(kind, r, SIGMA[kind]), c)
              for r, c in ((1e-3, 30), (4e-3, 100), (1e-2, 30), (2e-3, 10))]
    r = summary_coverage(groups, n_audits=AUDITS, n_boot=N_BOOT, seed=5)
    for m in ("max_min_ratio", "max_geomean_ratio", "max_minus_min"):
        assert r[f"covered_{m}"] / r["audits"] >= MIN_COVERAGE, (m, r)
