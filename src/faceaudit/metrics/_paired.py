r"""Two systems on the same photos: a joint, paired bootstrap over people.

When two systems (A and B) are audited on the same photos of the same people, their errors are
correlated: a person who is hard for A is often hard for B. Comparing the two audits' separate
intervals ignores that and is conservative; the paired bootstrap resamples **people once** per
replicate and applies the same draw to both systems, so the interval of a difference or ratio
between the systems accounts for the correlation.

For group :math:`g`, replicate :math:`b` (people of each group drawn with replacement,
:func:`draw_weights`, one draw shared by A and B) and each system at its own audit threshold
(:func:`bootstrap_rates`):

.. math::

    \Delta^*_g = x^{B*}_g - x^{A*}_g, \qquad
    \rho^*_g = x^{B*}_g / x^{A*}_g, \qquad
    \rho\rho^*_g = \frac{x^{B*}_g / x^{B*}_r}{x^{A*}_g / x^{A*}_r}

(:math:`r` the reference group: the ratio of ratios is how much the group's disparity to the
reference changed). Intervals are percentile intervals of the replicates
(:func:`replicate_quantiles`: an undefined replicate counts at the far end). A group **got
better or worse** when the interval of :math:`\Delta` excludes 0; otherwise the comparison is
inconclusive for that group ("no clear change" — not "equal"). A group of fewer than
:data:`~faceaudit.metrics.MIN_PEOPLE` people gets no verdict (a bootstrap of a handful of people
is no interval: with one person every resample is the same). Thresholds are the audits' own,
held fixed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError, check_range
from .._summary import ScoreSummary
from ._evidence import CONFIDENCE, MIN_PEOPLE, N_BOOT, SEED
from ._group_errors import group_errors_at
from ._intervals import bootstrap_rates, draw_weights, group_resampling, replicate_quantiles
from ._operating_point import ratio


def _check_same_photos(a: ScoreSummary, b: ScoreSummary) -> None:
    same = (np.array_equal(a.sample_ids, b.sample_ids)
            and np.array_equal(a.subject_codes, b.subject_codes)
            and np.array_equal(a.group_codes, b.group_codes)
            and tuple(a.group_labels) == tuple(b.group_labels))
    if not same:
        raise InputError("a paired comparison needs both audits on the same photos, people and "
                         "groups (same dataset, manifest, limit and grouping); these differ — "
                         "compare their intervals instead (faceaudit compare --no-paired)")


def _replicates(a: ScoreSummary, b: ScoreSummary, t_a: float, t_b: float, n_boot: int,
                seed: int | None) -> dict[str, np.ndarray]:
    """``fmr_a``, ``fmr_b``, ``fnmr_a``, ``fnmr_b`` replicates, shape (n_boot, G)."""
    g = a.n_groups
    ra = [group_resampling(a, i) for i in range(g)]
    rb = [group_resampling(b, i) for i in range(g)]
    ws = draw_weights([r.n_subjects for r in ra], n_boot, seed)  # one draw for both systems
    out = {k: np.empty((n_boot, g)) for k in ("fmr_a", "fnmr_a", "fmr_b", "fnmr_b")}
    for i in range(g):
        out["fmr_a"][:, i], out["fnmr_a"][:, i] = bootstrap_rates(ra[i], ws[i], t_a)
        out["fmr_b"][:, i], out["fnmr_b"][:, i] = bootstrap_rates(rb[i], ws[i], t_b)
    return out


def _verdict(lo: float, hi: float, n_people: int) -> str:
    if n_people < MIN_PEOPLE:  # a bootstrap of a handful of people is no interval at all
        return f"too few people ({n_people} < {MIN_PEOPLE}) for a paired verdict"
    if np.isnan(lo) or np.isnan(hi):
        return "no paired interval"
    if lo > 0:
        return "B higher"
    if hi < 0:
        return "B lower"
    return "no clear change"


def paired_comparison(
    a: ScoreSummary,
    b: ScoreSummary,
    threshold_a: float,
    threshold_b: float,
    *,
    reference_group: int | str | tuple[str, ...] | None = None,
    n_boot: int = N_BOOT,
    seed: int | None = SEED,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """System B against system A per group, with joint paired bootstrap intervals.

    Returns
    -------
    dict
        ``n_boot``, ``seed``, ``confidence``, ``reference_group`` and ``rows``: per group and
        rate (``"fmr"``, ``"fnmr"``) ``group``, ``rate``, ``a``, ``b``, ``difference`` with
        ``difference_low/high``, ``ratio`` (B/A) with ``ratio_low/high``, ``ratio_of_ratios``
        with ``ratio_of_ratios_low/high`` (NaN without a reference group), ``undefined`` (replicates
        where a rate had no comparisons or could not be resampled), ``n_people`` and ``verdict``
        (``"B higher"``, ``"B lower"``, ``"no clear change"``, ``"no paired interval"`` or
        ``"too few people (...)"``).

    Raises
    ------
    InputError
        The two summaries are not on the same photos, people and groups.
    """
    _check_same_photos(a, b)
    if n_boot < 1:
        raise InputError(f"n_boot must be >= 1 for a paired bootstrap; got {n_boot}")
    check_range("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    q = ((1 - confidence) / 2, (1 + confidence) / 2)
    ref = None if reference_group is None else a.group_index(reference_group)
    reps = _replicates(a, b, float(threshold_a), float(threshold_b), n_boot, seed)
    n_people = [len(np.unique(a.subject_codes[a.group_codes == i])) for i in range(a.n_groups)]
    rows = []
    for rate in ("fmr", "fnmr"):
        xa, xb = reps[f"{rate}_a"], reps[f"{rate}_b"]
        diff = xb - xa
        rat = ratio(xb, xa)
        rat = np.where((xa == 0) & (xb > 0), np.inf, rat)
        if ref is not None:
            ror = ratio(ratio(xb, xb[:, [ref]]), ratio(xa, xa[:, [ref]]))
        else:
            ror = np.full_like(xa, np.nan)
        d_q = replicate_quantiles(diff, q, undefined=(-1.0, 1.0))
        r_q = replicate_quantiles(rat, q)
        rr_q = replicate_quantiles(ror, q)
        for i, lab in enumerate(a.group_labels):
            pa = group_errors_at(a, i, threshold_a, rate).value
            pb = group_errors_at(b, i, threshold_b, rate).value
            rows.append({
                "group": lab, "rate": rate, "a": pa, "b": pb, "difference": pb - pa,
                "difference_low": float(d_q[0, i]), "difference_high": float(d_q[1, i]),
                "ratio": float(ratio(pb, pa)) if pa > 0 else (np.inf if pb > 0 else np.nan),
                "ratio_low": float(r_q[0, i]), "ratio_high": float(r_q[1, i]),
                "ratio_of_ratios_low": float(rr_q[0, i]),
                "ratio_of_ratios_high": float(rr_q[1, i]),
                "undefined": int(np.isnan(diff[:, i]).sum()),
                "n_people": n_people[i],
                "verdict": _verdict(float(d_q[0, i]), float(d_q[1, i]), n_people[i]),
            })
        if ref is not None:
            pa_all = [r["a"] for r in rows if r["rate"] == rate]
            pb_all = [r["b"] for r in rows if r["rate"] == rate]
            for r, va, vb in zip([r for r in rows if r["rate"] == rate], pa_all, pb_all,
                                 strict=True):
                r["ratio_of_ratios"] = float(ratio(ratio(vb, pb_all[ref]),
                                                   ratio(va, pa_all[ref])))
    for r in rows:
        r.setdefault("ratio_of_ratios", float("nan"))
    return {"n_boot": int(n_boot), "seed": seed, "confidence": float(confidence),
            "reference_group": None if ref is None else a.group_labels[ref],
            "threshold_a": float(threshold_a), "threshold_b": float(threshold_b),
            "rows": rows}
