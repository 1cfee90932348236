"""AuditResult: every per-group verification figure at one global threshold, computed once."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._errors import (
    ConfigError,
    InexactMetricWarning,
    ThinDataWarning,
    UndefinedMetricWarning,
    check_option,
    check_range,
)
from .._summary import ScoreSet, ScoreSummary
from ._clustered import GroupErrors
from ._counting import hist_bounds
from ._evidence import CONFIDENCE, N_BOOT, fmr_thin_reason, thin_reasons
from ._fairness import FairnessSummary, fdr, garbe, inequity_rate, ser
from ._group_errors import group_errors_at
from ._intervals import (
    bootstrap_rates,
    check_quantiles,
    clopper_pearson,
    draw_weights,
    group_resampling,
    quantiles,
)
from ._operating_point import choose_threshold, rates_at, ratio

_METHODS = ("between_groups", "to_overall")


class AuditResult:
    r"""Per-group verification error rates at one global threshold (NIST FRVT Part 3 style).

    Like fairlearn's ``MetricFrame``: the constructor computes everything once; the
    attributes are read many times. Per-group FMR uses the group's **diagonal cell**
    (demographically matched impostors: both samples in the group); the cross-group FMR is in
    :attr:`fmr_matrix`. The same threshold is applied to every group.

    .. math::

        \mathrm{FMR}_g(\tau) = \frac{\#\{\text{impostor pairs in } (g,g) : s \ge \tau\}}
                                    {\#\,\text{impostor pairs in } (g,g)}, \qquad
        \mathrm{FNMR}_g(\tau) = \frac{\#\{\text{genuine pairs in } (g,g) : s < \tau\}}
                                     {\#\,\text{genuine pairs in } (g,g)}

    System level (with the cell's failure-to-acquire rate): FAR = FMR·(1−FTA),
    FRR = FTA + FNMR·(1−FTA).

    Parameters
    ----------
    summary : ScoreSummary
    threshold : float, optional
        The decision threshold (accepted iff ``score >= threshold``). Exactly one of
        ``threshold`` and ``target_fmr`` must be given.
    target_fmr : float in (0, 1], optional
        Choose the threshold as :func:`threshold_at_fmr` (realised FMR at most the target) on
        the impostors of ``reference_group``'s diagonal cell (NIST's practice, e.g. FMR = 1e-5
        on white men), or on all diagonal cells pooled when no reference group is given.
    reference_group : int, str or tuple, optional
        Group (index, label or values) that ratios ``*_ratio_to_reference`` divide by.
    n_boot : int, default :data:`~faceaudit.metrics._evidence.N_BOOT` (200)
        Subject-level bootstrap replicates (0 = none). Adds ``*_boot_q<quantile>`` columns.
    ci_quantiles : sequence of float, optional
        Bootstrap quantiles; default ``((1 - confidence) / 2, (1 + confidence) / 2)``, so the
        bootstrap intervals have the same level as the Clopper–Pearson ones.
    seed : int, optional
        Seed of the bootstrap (one child seed per replicate). ``random_state`` is accepted as
        a deprecated alias.
    confidence : float, default 0.95
        Confidence of the Clopper–Pearson intervals (``fmr_ci_low`` ...) and, unless
        ``ci_quantiles`` is given, of the bootstrap intervals.

    Attributes
    ----------
    threshold : float
    threshold_rule : str
        How the threshold was chosen, in words.
    by_group : DataFrame
        One row per group (MultiIndex over the grouping's attributes).
    overall : Series
        The same figures over every diagonal cell pooled.
    fmr_matrix : DataFrame
        G×G cross-group FMR (symmetric); :attr:`false_match_matrix` and
        :attr:`nonmated_matrix` hold the counts.
    warnings : list of str
        Plain-language caveats (thin groups, inexact binned figures, empty cells).

    Examples
    --------
    >>> res = AuditResult(summary, target_fmr=1e-3)   # doctest: +SKIP
    >>> res.by_group[["fmr", "fnmr", "n_nonmated"]]   # doctest: +SKIP
    """

    def __init__(
        self,
        summary: ScoreSummary,
        *,
        threshold: float | None = None,
        target_fmr: float | None = None,
        reference_group: int | str | tuple[str, ...] | None = None,
        n_boot: int = N_BOOT,
        ci_quantiles: Sequence[float] | None = None,
        seed: int | None = None,
        confidence: float = CONFIDENCE,
        alpha: float = 0.5,
        random_state: int | None = None,
    ) -> None:
        if random_state is not None:
            warnings.warn("AuditResult(random_state=...) is deprecated; use seed=...",
                          DeprecationWarning, stacklevel=2)
            if seed is None:
                seed = random_state
        if not isinstance(summary, ScoreSummary):
            raise ConfigError(f"summary must be a ScoreSummary; got {type(summary).__name__}")
        if (threshold is None) == (target_fmr is None):
            raise ConfigError("exactly one of threshold and target_fmr must be given; got "
                              f"threshold={threshold!r}, target_fmr={target_fmr!r}")
        if threshold is not None:
            check_range("threshold", threshold)
        if target_fmr is not None:
            check_range("target_fmr", target_fmr, low=0.0, high=1.0, low_open=True)
        if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
            raise ConfigError(f"n_boot must be an integer >= 0; got {n_boot!r}")
        check_range("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
        check_range("alpha", alpha, low=0.0, high=1.0)
        self.summary = summary
        self.target_fmr = None if target_fmr is None else float(target_fmr)
        self.n_boot = int(n_boot)
        if ci_quantiles is None:
            ci_quantiles = (round((1 - confidence) / 2, 12), round((1 + confidence) / 2, 12))
        self.ci_quantiles = check_quantiles(ci_quantiles)
        self.seed = seed
        self.confidence = float(confidence)
        self.alpha = float(alpha)
        self.reference = None if reference_group is None else summary.group_index(reference_group)
        self.warnings: list[str] = []
        self._warning_classes: list[type[Warning] | None] = []
        g = summary.n_groups
        self._labels = list(summary.group_labels)
        self._diag = [summary.scores((i, i)) for i in range(g)]
        self._pooled = summary.scores("diagonal")

        # ---------------------------------------------------------- threshold
        if threshold is not None:
            self.threshold, self.threshold_rule = choose_threshold(self._pooled,
                                                                   threshold=threshold)
        else:
            if self.reference is not None:
                base, where = self._diag[self.reference], f"group {self._labels[self.reference]!r}"
            else:
                base, where = self._pooled, "all demographically matched impostors"
            self.threshold, self.threshold_rule = choose_threshold(
                base, target_fmr=self.target_fmr, where=where)

        self._compute_groups()
        self._compute_matrix()
        self._compute_fairness()
        if self.n_boot > 0:
            self._compute_bootstrap()
        for msg, cls in zip(self.warnings, self._warning_classes, strict=True):
            if cls is not None:
                warnings.warn(msg, cls, stacklevel=2)

    def _warn(self, msg: str, cls: type[Warning] | None = UndefinedMetricWarning) -> None:
        """Record a caveat in :attr:`warnings`; also emit it as a Python warning unless
        ``cls`` is None (caveats that follow from the data, like a ratio to a zero rate)."""
        self.warnings.append(msg)
        self._warning_classes.append(cls)

    # ------------------------------------------------------------------ core
    def _rates(self, s: ScoreSet, label: str) -> dict[str, Any]:
        row = rates_at(s, self.threshold, self.confidence)
        fm, nn, nm = row["false_matches"], row["n_nonmated"], row["n_mated"]
        fmr, fmr_lo_bound = row["fmr"], row["fmr_lower_bound"]
        if nn == 0:
            self._warn(f"{label}: no impostor comparisons; FMR is undefined (NaN)")
        if nm == 0:
            self._warn(f"{label}: no genuine comparisons; FNMR is undefined (NaN)")
        if not row["fmr_exact"]:
            self._warn(
                f"{label}: the threshold {self.threshold:.6g} lies inside a histogram bin below "
                f"the exact tail; FMR is reported as its upper bound {fmr:.3g} (at least "
                f"{fmr_lo_bound:.3g}); faceaudit.recount_templates / recount_scores (the "
                f"audit's second pass) make it exact",
                InexactMetricWarning)
        reason = fmr_thin_reason(nn, fm, self.target_fmr)
        if reason:
            self._warn(f"{label}: thin: {reason}", ThinDataWarning)
        row["thin_fmr_reason"] = reason  # completed by _evidence() once people are counted
        return row

    def _evidence(self, row: dict[str, Any], in_g: np.ndarray) -> None:
        """Failure-to-enrol counts and interval, and the thin flags (metrics._evidence rules)."""
        sm = self.summary
        n_samples = int(in_g.sum())
        n_fte = int((~sm.enrolled[in_g]).sum())
        row["n_subjects"] = len(np.unique(sm.subject_codes[in_g]))
        row["n_samples"] = n_samples
        row["n_fte"] = n_fte
        row["fte"] = ratio(n_fte, n_samples).item()
        lo, hi = (clopper_pearson(n_fte, n_samples, self.confidence) if n_samples
                  else (math.nan, math.nan))
        row["fte_ci_low"], row["fte_ci_high"] = float(lo), float(hi)
        fmr_r, fnmr_r = thin_reasons(n_people=row["n_subjects"], n_mated=row["n_mated"],
                                     fmr_reason=row.pop("thin_fmr_reason"))
        both = list(dict.fromkeys(fmr_r + fnmr_r))
        row.update(thin=bool(both), thin_reason="; ".join(both),
                   thin_fmr=bool(fmr_r), thin_fmr_reason="; ".join(fmr_r),
                   thin_fnmr=bool(fnmr_r), thin_fnmr_reason="; ".join(fnmr_r))

    def _compute_groups(self) -> None:
        sm = self.summary
        rows = []
        for i, lab in enumerate(self._labels):
            row = self._rates(self._diag[i], f"group {lab!r}")
            self._evidence(row, sm.group_codes == i)
            rows.append(row)
        over = self._rates(self._pooled, "overall")
        self._evidence(over, np.ones(sm.n_samples, bool))
        df = pd.DataFrame(rows)
        fmr, fnmr = df["fmr"].to_numpy(), df["fnmr"].to_numpy()
        for name, v in (("fmr", fmr), ("fnmr", fnmr)):
            if self.reference is not None:
                ref = v[self.reference]
                df[f"{name}_ratio_to_reference"] = ratio(v, np.full_like(v, ref))
                if ref == 0:
                    self._warn(
                        f"reference group {self._labels[self.reference]!r} has zero "
                        f"{'false matches' if name == 'fmr' else 'false non-matches'}; "
                        f"{name}_ratio_to_reference is undefined (NaN)", None)
            else:
                df[f"{name}_ratio_to_reference"] = np.nan
            best = np.nanmin(v) if (~np.isnan(v)).any() else np.nan
            df[f"{name}_ratio_to_best"] = ratio(v, np.full_like(v, best))
            if best == 0:
                zero = [lab for lab, x in zip(self._labels, v, strict=True) if x == 0]
                self._warn(
                    f"group {', '.join(map(repr, zero))} has zero "
                    f"{'false matches' if name == 'fmr' else 'false non-matches'}; "
                    f"{name}_ratio_to_best is undefined (NaN)", None)
        names = list(sm.grouping.attributes) or ["group"]
        vals = list(sm.group_values)
        if all(len(v) == len(names) for v in vals) and vals:
            index = pd.MultiIndex.from_tuples(vals, names=names)
        else:
            index = pd.MultiIndex.from_tuples([(lab,) for lab in self._labels], names=["group"])
        df.index = index
        df.insert(0, "label", self._labels)
        self._by_group = df
        self._overall = pd.Series(over, name="overall")

    def _compute_matrix(self) -> None:
        sm = self.summary
        g = sm.n_groups
        t = self.threshold
        ti, tj = sm.tail_cells
        acc = sm.tail_scores >= t
        fm_hi = np.bincount(ti[acc] * g + tj[acc], minlength=g * g).reshape(g, g).astype(np.int64)
        fm_lo = fm_hi.copy()
        edges = np.asarray(sm.hist_edges, np.float64)
        for i, j in zip(*np.nonzero(np.triu(t < sm.tail_floor)), strict=True):
            lo, hi = hist_bounds(sm.impostor_hist[i, j], edges, np.array([t]))
            fm_lo[i, j] += lo[0]
            fm_hi[i, j] += hi[0]
        nn = sm.impostor_total
        iu = np.triu(np.ones((g, g), bool))
        fm_hi, fm_lo, nn = (np.where(iu, x, x.T) for x in (fm_hi, fm_lo, nn))
        exact = fm_lo == fm_hi
        self.false_match_matrix = pd.DataFrame(fm_hi, index=self._labels, columns=self._labels)
        self.nonmated_matrix = pd.DataFrame(nn, index=self._labels, columns=self._labels)
        self.fmr_matrix_exact = pd.DataFrame(exact, index=self._labels, columns=self._labels)
        self.fmr_matrix = pd.DataFrame(ratio(fm_hi, nn), index=self._labels, columns=self._labels)
        if not exact.all():
            self._warn("some cross-group FMR cells are upper bounds (threshold inside a "
                       "histogram bin below the exact tail); see fmr_matrix_exact",
                       InexactMetricWarning)

    def _compute_fairness(self) -> None:
        fmr = self._by_group["fmr"].to_numpy()
        fnmr = self._by_group["fnmr"].to_numpy()
        a, lab = self.alpha, self._labels
        self.fairness: dict[str, FairnessSummary] = {
            "fdr": fdr(fmr, fnmr, alpha=a, groups=lab),
            "inequity_rate": inequity_rate(fmr, fnmr, alpha=a, groups=lab),
            "garbe": garbe(fmr, fnmr, alpha=a, groups=lab),
            "ser_fmr": ser(fmr, groups=lab, name="SER(FMR)"),
            "ser_fnmr": ser(fnmr, groups=lab, name="SER(FNMR)"),
        }

    def _compute_bootstrap(self) -> None:
        sm = self.summary
        res = [group_resampling(sm, i) for i in range(sm.n_groups)]
        ws = draw_weights([r.n_subjects for r in res], self.n_boot, self.seed)
        fmr = np.empty((self.n_boot, sm.n_groups))
        fnmr = np.empty((self.n_boot, sm.n_groups))
        for i, (r, w) in enumerate(zip(res, ws, strict=True)):
            fmr[:, i], fnmr[:, i] = bootstrap_rates(r, w, self.threshold)
            if r.accepted_pairs(self.threshold) is None:
                self._warn(
                    f"group {self._labels[i]!r}: no bootstrap interval for FMR (the threshold "
                    "is below the exact tail, where pairs are not listed)")
            elif r.tail_floor > -np.inf and not r.all_pairs:
                self._warn(
                    f"group {self._labels[i]!r}: no bootstrap interval for FMR (the impostor "
                    "tail is incomplete and the protocol is not all-pairs, so the resampled "
                    "number of impostor pairs is unknown)")
        self.boot_fmr, self.boot_fnmr = fmr, fnmr
        q = self.ci_quantiles
        cols: dict[str, np.ndarray] = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for name, x in (("fmr", fmr), ("fnmr", fnmr)):
                cols[name] = quantiles(x, q)
                best = np.where(np.isnan(x).all(axis=1), np.nan,
                                np.nanmin(np.where(np.isnan(x), np.inf, x), axis=1))
                to_best = ratio(x, best[:, None])
                cols[f"{name}_ratio_to_best"] = quantiles(to_best, q)
                undefined = int(np.isnan(to_best).all(axis=1).sum())
                if undefined:
                    self._warn(f"bootstrap: {name}_ratio_to_best is undefined in {undefined} of "
                               f"{self.n_boot} replicates (the best group had no errors); its "
                               "interval uses the other replicates", None)
                if self.reference is not None:
                    cols[f"{name}_ratio_to_reference"] = quantiles(
                        ratio(x, x[:, [self.reference]]), q)
        for name, qs in cols.items():
            for k, qq in enumerate(q):
                self._by_group[f"{name}_boot_q{qq:g}"] = qs[k]

    # ------------------------------------------------------------------ reading
    def group_errors(self, rate: str = "fmr") -> list[GroupErrors]:
        """Each group's errors at :attr:`threshold` for ``rate`` ("fmr" or "fnmr"), with the
        per-person counts, in group order.

        The input of :func:`~faceaudit.metrics.rate_interval`,
        :func:`~faceaudit.metrics.ratio_interval`, :func:`~faceaudit.metrics.disparity_summary`
        and :func:`~faceaudit.metrics.rank_groups`; pass ``replicates=self.boot_fmr`` (or
        ``boot_fnmr``) for the bootstrap part. An FMR count read inside a histogram bin is a
        bound (``errors_low`` < ``errors``) and has no per-person counts.
        """
        check_option("rate", rate, ("fmr", "fnmr"))
        return [group_errors_at(self.summary, i, self.threshold, rate, lab)
                for i, lab in enumerate(self._labels)]

    @property
    def by_group(self) -> pd.DataFrame:
        """Per-group figures (a copy), indexed by a MultiIndex over the grouping's attributes.

        Columns: ``label``; ``fmr``, ``fmr_ci_low``, ``fmr_ci_high`` (Clopper–Pearson at
        ``confidence``), ``false_matches``, ``n_nonmated``, ``fmr_exact`` and
        ``fmr_lower_bound`` (a threshold inside a histogram bin gives the upper bound as
        ``fmr``); ``fnmr``, ``fnmr_ci_low``, ``fnmr_ci_high``, ``false_non_matches``,
        ``n_mated``; ``fta`` (failed comparisons / attempted, diagonal cell), ``far``,
        ``frr``; ``n_subjects``, ``n_samples``, ``n_fte``, ``fte`` (samples that failed to
        enrol) with ``fte_ci_low``, ``fte_ci_high``;
        ``fmr_ratio_to_reference``, ``fnmr_ratio_to_reference`` (NaN without a reference),
        ``fmr_ratio_to_best``, ``fnmr_ratio_to_best`` (divided by the lowest group rate; NaN
        when that is 0); ``thin``, ``thin_reason`` (any figure thin) and per figure
        ``thin_fmr``, ``thin_fmr_reason``, ``thin_fnmr``, ``thin_fnmr_reason`` (the rules of
        :mod:`faceaudit.metrics._evidence`); and with ``n_boot > 0`` the subject
        bootstrap quantiles ``<figure>_boot_q<quantile>`` for ``fmr``, ``fnmr`` and the ratios.
        """
        return self._by_group.copy()

    @property
    def overall(self) -> pd.Series:
        """The figures over all demographically matched (diagonal) comparisons pooled."""
        return self._overall.copy()

    def group_min(self, columns: Sequence[str] = ("fmr", "fnmr")) -> pd.Series:
        """Smallest value of each column over groups (NaN groups ignored)."""
        return self._by_group[list(columns)].min()

    def group_max(self, columns: Sequence[str] = ("fmr", "fnmr")) -> pd.Series:
        """Largest value of each column over groups (NaN groups ignored)."""
        return self._by_group[list(columns)].max()

    def difference(self, method: str = "between_groups",
                   columns: Sequence[str] = ("fmr", "fnmr")) -> pd.Series:
        r"""Largest gap: ``between_groups`` :math:`\max_g x_g - \min_g x_g`;
        ``to_overall`` :math:`\max_g |x_g - x_\text{overall}|`."""
        check_option("method", method, _METHODS)
        cols = list(columns)
        x = self._by_group[cols]
        if method == "between_groups":
            return x.max() - x.min()
        return (x - self._overall[cols].astype(float)).abs().max()

    def ratio(self, method: str = "between_groups",
              columns: Sequence[str] = ("fmr", "fnmr")) -> pd.Series:
        r"""Smallest ratio (≤ 1, fairlearn's convention): ``between_groups``
        :math:`\min_g x_g / \max_g x_g`; ``to_overall``
        :math:`\min_g \min(x_g / x_o, x_o / x_g)`. NaN where a denominator is 0."""
        check_option("method", method, _METHODS)
        cols = list(columns)
        x = self._by_group[cols].astype(float)
        if method == "between_groups":
            return pd.Series(ratio(x.min().to_numpy(), x.max().to_numpy()), index=cols)
        o = self._overall[cols].astype(float).to_numpy()
        r = np.minimum(ratio(x.to_numpy(), o), ratio(o, x.to_numpy()))
        return pd.Series(np.nanmin(np.where(np.isnan(r), np.inf, r), axis=0), index=cols).replace(
            np.inf, np.nan)

    def to_dict(self) -> dict[str, Any]:
        """Every figure with its counts and intervals, JSON-able.

        Keys: ``threshold``, ``threshold_rule``, ``target_fmr``, ``reference_group``,
        ``confidence``, ``n_boot``, ``ci_quantiles``, ``seed``, ``grouping``,
        ``model_id``, ``overall`` (one dict), ``groups`` (one dict per group: every
        :attr:`by_group` column plus ``values``), ``fmr_matrix`` (``labels``, ``fmr``,
        ``false_matches``, ``n_nonmated``, ``exact`` as G×G lists), ``fairness`` (one
        :meth:`FairnessSummary.to_dict` per summary) and ``warnings``. Undefined values are
        float NaN; :func:`faceaudit._io.write_json` writes them as ``null``.
        """
        def clean(v: Any) -> Any:
            if isinstance(v, (np.bool_, bool)):
                return bool(v)
            if isinstance(v, (np.integer,)):
                return int(v)
            if isinstance(v, (np.floating, float)):
                return float(v)
            return v

        groups = []
        for (_, row), vals in zip(self._by_group.iterrows(), self.summary.group_values,
                                  strict=True):
            d = {k: clean(v) for k, v in row.items()}
            d["values"] = list(vals)
            groups.append(d)
        return {
            "threshold": self.threshold,
            "threshold_rule": self.threshold_rule,
            "target_fmr": self.target_fmr,
            "reference_group": None if self.reference is None else self._labels[self.reference],
            "confidence": self.confidence,
            "n_boot": self.n_boot,
            "ci_quantiles": list(self.ci_quantiles),
            "seed": self.seed,
            "grouping": self.summary.grouping.to_dict(),
            "model_id": self.summary.model_id,
            "overall": {k: clean(v) for k, v in self._overall.items()},
            "groups": groups,
            "fmr_matrix": {
                "labels": list(self._labels),
                "fmr": self.fmr_matrix.to_numpy().tolist(),
                "false_matches": self.false_match_matrix.to_numpy().tolist(),
                "n_nonmated": self.nonmated_matrix.to_numpy().tolist(),
                "exact": self.fmr_matrix_exact.to_numpy().tolist(),
            },
            "fairness": {k: v.to_dict() for k, v in self.fairness.items()},
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        return (f"AuditResult({self.summary.n_groups} groups, threshold={self.threshold:.6g}, "
                f"{len(self.warnings)} warnings)")
