r"""Threshold policies side by side: the vendor's threshold, one global threshold, one per group.

How an operator sets the threshold decides who pays for the errors. Three policies are
measured on the same :class:`~faceaudit.ScoreSummary`:

- ``"vendor"``: the model makers' published operating threshold (dlib: distance 0.6, i.e.
  score −0.6; SFace: cosine 0.363), used as shipped. The makers publish a threshold and an
  accuracy, not a false-match rate, so the *intended* operating point is the error rates that
  threshold gives on the benchmark it is published with (LFW View 2 ``pairs.txt``, 3,000
  genuine and 3,000 impostor pairs, measured by ``benchmarks/lfw_verification.py``; see
  :class:`VendorOperatingPoint`). The *achieved* rates are each group's in this audit.
- ``"global"``: one threshold for everybody, the smallest whose FMR on the reference group's
  own impostor pairs is at most ``target_fmr`` (NIST FRVT Part 3 practice; all same-group
  impostor pairs pooled without a reference group), or a given fixed threshold. Intended FMR:
  ``target_fmr``.
- ``"per-group"``: every group its own threshold, the smallest whose FMR on that group's own
  impostor pairs is at most ``target_fmr``. Every group then gets (at most) the intended FMR;
  what it costs is the FNMR each group pays, and the **cross-group FMR** the thresholds create.

**Cross-group rule.** With per-group thresholds a comparison of people from two different
groups needs one threshold; faceaudit uses the **probe's** group (the person being searched
for or verified: their group decides the threshold, as a deployment that looks up the subject's
group would). The cross-group FMR of probe group :math:`g` against candidate group :math:`h` is

.. math::

    \mathrm{FMR}_{g \to h} = \frac{\#\{\text{impostor pairs } (a \in g, b \in h) :
                                   s(a, b) \ge \tau_g\}}
                                  {\#\,\text{impostor pairs between } g \text{ and } h}

(scores are symmetric, so every unordered pair between :math:`g` and :math:`h` is counted once
with :math:`\tau_g` in row :math:`g` and once with :math:`\tau_h` in row :math:`h`; the matrix
is not symmetric). With one threshold (vendor, global) the same formula gives the usual
symmetric cross-group FMR matrix.

Per-group thresholds need every subject's group at search time: knowing or inferring a
person's race or sex before comparing their face is itself a civil-rights question. This
module reports the trade-off and recommends no policy (:data:`POLICY_CAVEAT`).

Intervals are those of the rest of the report: :func:`~faceaudit.metrics.rate_interval` over
the group's per-person counts and people-bootstrap replicates (:func:`draw_weights` with the
audit's seed, :func:`bootstrap_rates` at each group's threshold) — the hull of Clopper–Pearson,
the design-effect interval and the bootstrap. Cross-group cells have no per-person counts and
get Clopper–Pearson only (too narrow when errors cluster by person; said in their notes). The
threshold itself is treated as fixed (not re-chosen in each bootstrap replicate).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import ConfigError, InputError, UndefinedMetricWarning, check_option
from .._summary import ScoreSummary
from ._clustered import GroupErrors, RateInterval, rate_interval
from ._counting import hist_bounds
from ._evidence import CONFIDENCE, MIN_PEOPLE, N_BOOT, SEED, fmr_thin_reason, thin_reasons
from ._group_errors import group_errors_both
from ._intervals import GroupResampling, bootstrap_rates, draw_weights, group_resampling
from ._operating_point import TARGET_FMR, choose_threshold

POLICIES = ("vendor", "global", "per-group")
"""The threshold policies, in the order the report shows them."""

POLICY_CHOICES = ("global", "vendor", "per-group", "all")
"""What ``threshold_policy`` (``--threshold-policy``) accepts; ``"all"`` = every policy."""

CROSS_GROUP_RULE = "probe"
"""Whose threshold decides a comparison of two groups under per-group thresholds."""

POLICY_CAVEAT = (
    "Per-group thresholds need each person's demographic group at search time: recording or "
    "inferring a person's race or sex before comparing their face is itself a civil-rights "
    "question. This report shows what each threshold policy costs and whom; it recommends "
    "none of them.")
"""The sentence every report of per-group thresholds carries."""


def policy_names(choice: str) -> tuple[str, ...]:
    """The policies a ``threshold_policy`` choice selects (``"all"``: :data:`POLICIES`)."""
    check_option("threshold_policy", choice, POLICY_CHOICES)
    return POLICIES if choice == "all" else (choice,)


@dataclass(frozen=True)
class VendorOperatingPoint:
    """A model's published threshold and the error rates it was meant to give.

    Attributes
    ----------
    model : str
        Model name (``"dlib"``, ``"sface"``).
    threshold : float
        In score convention (accepted iff ``score >= threshold``).
    source : str
        Where the makers publish the threshold.
    benchmark : str
        What the intended rates below were measured on (and by whom).
    false_matches, n_impostor, false_non_matches, n_genuine : int or None
        The counts at ``threshold`` on ``benchmark`` (None: not known).
    """

    model: str
    threshold: float
    source: str
    benchmark: str = ""
    false_matches: int | None = None
    n_impostor: int | None = None
    false_non_matches: int | None = None
    n_genuine: int | None = None

    def intended(self, confidence: float = CONFIDENCE) -> dict[str, Any]:
        """Intended FMR and FNMR with exact (Clopper–Pearson) intervals; None when unknown."""
        out: dict[str, Any] = {"source": self.benchmark}
        for key, k, n in (("fmr", self.false_matches, self.n_impostor),
                          ("fnmr", self.false_non_matches, self.n_genuine)):
            if k is None or not n:
                out.update({key: None, f"{key}_low": None, f"{key}_high": None,
                            f"{key}_errors": None, f"{key}_trials": None})
                continue
            iv = rate_interval(int(k), int(n), confidence=confidence)
            out.update({key: iv.value, f"{key}_low": iv.low, f"{key}_high": iv.high,
                        f"{key}_errors": int(k), f"{key}_trials": int(n)})
        return out


@dataclass(frozen=True)
class PolicyResult:
    """One threshold policy measured on every group.

    Attributes
    ----------
    name : str
        One of :data:`POLICIES`.
    rule : str
        How the threshold(s) were chosen, in words.
    available : bool
        False when the policy cannot be applied (``reason`` says why; nothing else is set).
    thresholds : tuple of float
        Each group's threshold (one value repeated for vendor and global; NaN for a group
        whose own threshold cannot be chosen).
    intended : dict
        ``fmr`` (and for vendor ``fnmr``) the policy is meant to give, with ``source``; the
        vendor's with ``*_low``/``*_high`` exact intervals.
    groups : tuple of dict
        Per group (summary order): ``label``, ``threshold``; ``fmr``, ``fmr_low``,
        ``fmr_high``, ``false_matches``, ``false_matches_low``, ``n_nonmated``, ``fmr_exact``,
        ``fmr_one_sided`` and the same for ``fnmr`` (``false_non_matches``, ``n_mated``);
        ``n_subjects``; ``thin_fmr_reason``, ``thin_fnmr_reason`` (empty: not thin);
        ``fmr_vs_intended`` / ``fnmr_vs_intended``: ``"above"`` / ``"below"`` when the
        intended rate lies outside the group's interval, ``"within"``, or None without an
        intended rate.
    cross : dict
        ``rule`` (:data:`CROSS_GROUP_RULE`), ``labels`` and G×G lists ``fmr``, ``low``,
        ``high``, ``false_matches``, ``n_nonmated``, ``exact``: row = probe's group, column =
        candidate's group, judged at the probe group's threshold.
    """

    name: str
    rule: str
    available: bool = True
    reason: str = ""
    thresholds: tuple[float, ...] = ()
    intended: dict[str, Any] = field(default_factory=dict)
    groups: tuple[dict[str, Any], ...] = ()
    cross: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN stays float NaN; :func:`faceaudit._io.write_json` writes null)."""
        return {"name": self.name, "rule": self.rule, "available": self.available,
                "reason": self.reason, "thresholds": list(self.thresholds),
                "intended": dict(self.intended), "groups": [dict(g) for g in self.groups],
                "cross": dict(self.cross)}


def _versus(iv: RateInterval, intended: float | None) -> str | None:
    if intended is None or not iv.defined:
        return None
    if intended > iv.high:
        return "below"
    if intended < iv.low:
        return "above"
    return "within"


def _interval(errors: GroupErrors, confidence: float, reps: np.ndarray | None) -> RateInterval:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return errors.interval(confidence, replicates=reps)


def _rate_fields(key: str, count: str, trials: str, iv: RateInterval) -> dict[str, Any]:
    return {key: iv.value, f"{key}_low": iv.low, f"{key}_high": iv.high, count: iv.errors,
            f"{count}_low": iv.errors_low, trials: iv.trials, f"{key}_exact": iv.exact,
            f"{key}_one_sided": iv.one_sided}


def _group_rows(summary: ScoreSummary, thresholds: Sequence[float], target_fmr: float | None,
                intended: dict[str, Any], res: Sequence[GroupResampling],
                ws: Sequence[np.ndarray] | None,
                confidence: float) -> tuple[dict[str, Any], ...]:
    """Every group's FMR and FNMR at its threshold, with the report's intervals (``res``: the
    groups' resampling data, ``ws``: the bootstrap's people weights, shared by the policies)."""
    rows = []
    for i, lab in enumerate(summary.group_labels):
        t = float(thresholds[i])
        row: dict[str, Any] = {"label": lab, "threshold": t, "n_subjects": res[i].n_subjects}
        if math.isnan(t):
            rows.append(row | {"fmr": math.nan, "fnmr": math.nan, "fmr_vs_intended": None,
                               "fnmr_vs_intended": None})
            continue
        boot_fmr = boot_fnmr = None
        if ws is not None:
            boot_fmr, boot_fnmr = bootstrap_rates(res[i], ws[i], t)
        fm_e, fnm_e = group_errors_both(summary, i, t, lab)
        fm = _interval(fm_e, confidence, boot_fmr)
        fnm = _interval(fnm_e, confidence, boot_fnmr)
        row |= _rate_fields("fmr", "false_matches", "n_nonmated", fm)
        row |= _rate_fields("fnmr", "false_non_matches", "n_mated", fnm)
        fmr_r, fnmr_r = thin_reasons(n_people=res[i].n_subjects, n_mated=fnm.trials,
                                     fmr_reason=fmr_thin_reason(fm.trials, fm.errors, target_fmr))
        row |= {"thin_fmr_reason": "; ".join(fmr_r), "thin_fnmr_reason": "; ".join(fnmr_r),
                "fmr_vs_intended": _versus(fm, intended.get("fmr")),
                "fnmr_vs_intended": _versus(fnm, intended.get("fnmr"))}
        rows.append(row)
    return tuple(rows)


def cross_group_fmr(summary: ScoreSummary, thresholds: Sequence[float],
                    confidence: float = CONFIDENCE) -> dict[str, Any]:
    """The probe-rule cross-group FMR matrix (see the module docstring) with exact intervals.

    Row ``g`` (probe's group) and column ``h`` (candidate's group) count the impostor pairs
    between ``g`` and ``h`` scoring at least ``thresholds[g]``. A cell without pairs, or a row
    without a threshold, is NaN. A threshold inside a cell's histogram (below its exact tail)
    gives a count known only within bounds: ``false_matches`` is the upper bound, ``exact``
    False and the interval covers both bounds.
    """
    g = summary.n_groups
    ti, tj = summary.tail_cells
    tail = summary.tail_scores
    edges = np.asarray(summary.hist_edges, np.float64)
    iu = np.triu(np.ones((g, g), bool))
    nn = np.where(iu, summary.impostor_total, summary.impostor_total.T)
    keys = ("fmr", "low", "high", "false_matches", "exact")
    out: dict[str, Any] = {k: [[math.nan] * g for _ in range(g)] for k in keys}
    out["n_nonmated"] = nn.astype(int).tolist()
    for t in sorted({float(x) for x in thresholds if not math.isnan(float(x))}):
        acc = tail >= t
        hi = np.bincount(ti[acc] * g + tj[acc], minlength=g * g).reshape(g, g).astype(np.int64)
        lo = hi.copy()
        for a, b in zip(*np.nonzero(np.triu(t < summary.tail_floor)), strict=True):
            h_lo, h_hi = hist_bounds(summary.impostor_hist[a, b], edges, np.array([t]))
            lo[a, b] += h_lo[0]
            hi[a, b] += h_hi[0]
        hi, lo = (np.where(iu, x, x.T) for x in (hi, lo))
        for i in (k for k in range(g) if float(thresholds[k]) == t):
            for j in range(g):
                if nn[i, j] == 0:
                    out["exact"][i][j] = None
                    continue
                iv = rate_interval(int(hi[i, j]), int(nn[i, j]), confidence=confidence,
                                   errors_low=int(lo[i, j]))
                out["fmr"][i][j], out["low"][i][j], out["high"][i][j] = iv.value, iv.low, iv.high
                out["false_matches"][i][j] = int(hi[i, j])
                out["exact"][i][j] = bool(lo[i, j] == hi[i, j])
    for i in range(g):
        if math.isnan(float(thresholds[i])):
            out["exact"][i] = [None] * g
    return {"rule": CROSS_GROUP_RULE, "labels": list(summary.group_labels), **out}


def _own_thresholds(summary: ScoreSummary, target_fmr: float) -> tuple[list[float], list[str]]:
    ts, missing = [], []
    for i, lab in enumerate(summary.group_labels):
        try:
            t, _ = choose_threshold(summary.scores((i, i)), target_fmr=target_fmr,
                                    where=f"group {lab!r}")
        except InputError:
            t = math.nan
            missing.append(lab)
        ts.append(t)
    return ts, missing


def _policy(summary: ScoreSummary, name: str, *, target_fmr: float,
            reference_group: int | str | tuple[str, ...] | None, threshold: float | None,
            vendor: VendorOperatingPoint | None, confidence: float) -> PolicyResult | tuple:
    """The thresholds and intended rates of one policy (a PolicyResult if unavailable)."""
    g = summary.n_groups
    if name == "vendor":
        if vendor is None:
            return PolicyResult(name, "the makers' published threshold", available=False,
                                reason="not available: no published threshold is known for "
                                       "this system (vendor score files and custom models "
                                       "have none)")
        return ([vendor.threshold] * g,
                f"the makers' published threshold {vendor.threshold:g} ({vendor.source})",
                vendor.intended(confidence))
    if name == "global":
        if threshold is not None:
            t, rule = choose_threshold(summary.scores("diagonal"), threshold=threshold)
            return [t] * g, "one given threshold for every group", {"fmr": None, "source": ""}
        if reference_group is not None:
            ref = summary.group_index(reference_group)
            base, where = summary.scores((ref, ref)), f"group {summary.group_labels[ref]!r}"
        else:
            base, where = summary.scores("diagonal"), "all demographically matched impostors"
        t, rule = choose_threshold(base, target_fmr=target_fmr, where=where)
        return [t] * g, f"one threshold for every group: {rule}", {
            "fmr": target_fmr, "source": f"target FMR on {where}"}
    ts, missing = _own_thresholds(summary, target_fmr)
    rule = (f"each group its own threshold: the smallest with FMR <= {target_fmr:g} on the "
            "group's own impostor pairs; a comparison across groups uses the probe's group "
            "threshold")
    if missing:
        rule += f" (no threshold for {', '.join(map(repr, missing))}: no impostor pairs)"
    return ts, rule, {"fmr": target_fmr, "source": "target FMR on each group's own impostors"}


def _enough(summary: ScoreSummary, group: int, target_fmr: float) -> bool:
    """Whether a group's own threshold is recounted: >= MIN_PEOPLE people and >= 3 / target_fmr
    own impostor pairs (counted only for the per-group policy, the one that needs it)."""
    people = len(np.unique(summary.subject_codes[summary.group_codes == group]))
    return people >= MIN_PEOPLE and summary.impostor_total[group, group] >= 3.0 / target_fmr


def policy_thresholds(
    summary: ScoreSummary,
    policies: Sequence[str] = POLICIES,
    *,
    target_fmr: float = TARGET_FMR,
    reference_group: int | str | tuple[str, ...] | None = None,
    threshold: float | None = None,
    vendor: VendorOperatingPoint | None = None,
) -> list[float]:
    """The thresholds :func:`threshold_policies` would use (sorted, distinct, finite) that a
    second pass (``faceaudit._recount``) should make every count exact at: the vendor's and
    the global one, and the per-group thresholds of groups with at least
    :data:`~faceaudit.metrics.MIN_PEOPLE` people and at least ``3 / target_fmr`` own impostor
    pairs. A thin group's own threshold can sit far out in the score distribution, where
    listing every accepted pair of people of the large groups would cost memory for a figure
    the report flags as thin anyway; counts there stay bounds (``fmr_exact`` False)."""
    out: set[float] = set()
    for name in policies:
        check_option("policy", name, POLICIES)
        got = _policy(summary, name, target_fmr=target_fmr, reference_group=reference_group,
                      threshold=threshold, vendor=vendor, confidence=CONFIDENCE)
        if isinstance(got, PolicyResult):
            continue
        for i, t in enumerate(got[0]):
            if math.isfinite(float(t)) and (name != "per-group" or _enough(summary, i,
                                                                          target_fmr)):
                out.add(float(t))
    return sorted(out)


def threshold_policies(
    summary: ScoreSummary,
    policies: Sequence[str] = POLICIES,
    *,
    target_fmr: float = TARGET_FMR,
    reference_group: int | str | tuple[str, ...] | None = None,
    threshold: float | None = None,
    vendor: VendorOperatingPoint | None = None,
    n_boot: int = N_BOOT,
    seed: int | None = SEED,
    confidence: float = CONFIDENCE,
) -> dict[str, PolicyResult]:
    """Measure each of ``policies`` (names from :data:`POLICIES`) on ``summary``.

    ``threshold`` (a fixed threshold) replaces the global policy's target-FMR rule, as in
    :class:`~faceaudit.metrics.AuditResult`; ``vendor`` is needed for ``"vendor"`` (without it
    the policy comes back with ``available=False``). The global policy's threshold and rates
    are those of ``AuditResult(summary, target_fmr=..., reference_group=...)``.

    Examples
    --------
    >>> res = threshold_policies(summary, ["global", "per-group"])  # doctest: +SKIP
    >>> [g["fnmr"] for g in res["per-group"].groups]                 # doctest: +SKIP
    """
    out: dict[str, PolicyResult] = {}
    res = [group_resampling(summary, i) for i in range(summary.n_groups)]
    ws = draw_weights([r.n_subjects for r in res], n_boot, seed) if n_boot else None
    for name in policies:
        check_option("policy", name, POLICIES)
        if name in out:
            raise ConfigError(f"policies must not repeat a name; got {name!r} twice")
        got = _policy(summary, name, target_fmr=target_fmr, reference_group=reference_group,
                      threshold=threshold, vendor=vendor, confidence=confidence)
        if isinstance(got, PolicyResult):
            out[name] = got
            continue
        ts, rule, intended = got
        fmr_target = intended.get("fmr") if name != "vendor" else target_fmr
        rows = _group_rows(summary, ts, fmr_target, intended, res, ws, confidence)
        cross = cross_group_fmr(summary, ts, confidence)
        for i, row in enumerate(rows):  # own cells: the group's interval (people-aware)
            if "fmr_low" in row:
                cross["low"][i][i], cross["high"][i][i] = row["fmr_low"], row["fmr_high"]
        out[name] = PolicyResult(name, rule, thresholds=tuple(float(t) for t in ts),
                                 intended=intended, groups=rows, cross=cross)
    return out
