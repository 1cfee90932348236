"""Binomial intervals and the cluster bootstrap used by every 1:N rate.

Two intervals are attached to every rate ``k / n``:

- **Clopper-Pearson** (exact binomial) at level ``confidence``: treats the ``n`` searches as
  independent Bernoulli trials. It is exact for that model and too narrow when searches are
  correlated (several probes of one person).
- **Cluster bootstrap** (percentile): resamples probe *subjects* with replacement (all searches
  of a subject move together), recomputes ``sum(k) / sum(n)``, and takes the
  ``(1 ± confidence) / 2`` quantiles. With one probe per subject this is the ordinary bootstrap
  over probes. Seeded, so reproducible.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._errors import UndefinedMetricWarning
from ..metrics import CONFIDENCE, clopper_pearson  # one Clopper-Pearson for 1:1 and 1:N

OVERALL = "overall"
"""Label of the row that pools every group in identify's tables."""


@dataclass(frozen=True)
class Rate:
    """A rate with its counts and intervals.

    Attributes
    ----------
    k, n : int
        Numerator (errors) and denominator (searches); ``value = k / n`` (NaN if ``n = 0``).
    value : float
    ci_low, ci_high : float
        Clopper-Pearson interval at ``confidence``.
    boot_low, boot_high : float
        Cluster-bootstrap percentile interval (NaN when not computed).
    confidence : float
    """

    k: int
    n: int
    value: float
    ci_low: float
    ci_high: float
    boot_low: float = float("nan")
    boot_high: float = float("nan")
    confidence: float = CONFIDENCE

    def to_dict(self) -> dict[str, float | int]:
        return {"k": self.k, "n": self.n, "value": self.value, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "boot_low": self.boot_low, "boot_high": self.boot_high,
                "confidence": self.confidence}


def rate(
    errors: np.ndarray,
    clusters: np.ndarray | None = None,
    *,
    confidence: float = CONFIDENCE,
    n_boot: int = 0,
    rng: np.random.Generator | None = None,
    what: str = "rate",
) -> Rate:
    """Summarise boolean outcomes ``errors`` (one per search) as a :class:`Rate`.

    ``clusters`` (one label per search, e.g. the probe's subject) defines the bootstrap unit.
    An empty input gives NaN and an :class:`~faceaudit.UndefinedMetricWarning` naming ``what``.
    """
    e = np.asarray(errors, dtype=bool)
    n = int(e.size)
    k = int(e.sum())
    if n == 0:
        warnings.warn(f"{what}: no searches in the denominator; value is NaN",
                      UndefinedMetricWarning, stacklevel=2)
        return Rate(0, 0, float("nan"), float("nan"), float("nan"), confidence=confidence)
    lo, hi = clopper_pearson(k, n, confidence)
    blo = bhi = float("nan")
    if n_boot > 0:
        rng = rng if rng is not None else np.random.default_rng(0)
        cl = np.arange(n) if clusters is None else np.asarray(clusters)
        _, inv = np.unique(cl, return_inverse=True)
        ek = np.bincount(inv, weights=e.astype(np.float64))
        en = np.bincount(inv).astype(np.float64)
        m = len(en)
        vals = np.empty(n_boot)
        chunk = max(1, 2_000_000 // m)
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            idx = rng.integers(0, m, size=(b, m))
            vals[start:start + b] = ek[idx].sum(axis=1) / en[idx].sum(axis=1)
        alpha = 1.0 - confidence
        blo, bhi = (float(x) for x in np.quantile(vals, [alpha / 2, 1 - alpha / 2]))
    return Rate(k, n, k / n, lo, hi, blo, bhi, confidence)
