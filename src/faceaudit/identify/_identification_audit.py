"""The 1:N audit in one call: split, search, rates per group, curves, extrapolation."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._errors import ConfigError, UndefinedMetricWarning, check_range
from .._manifest import Grouping, Manifest
from .._templates import Templates
from ..metrics import CONFIDENCE, N_BOOT, SEED
from ._extrapolate import (
    ImpostorRates,
    WhatIf,
    check_extrapolation,
    deployment_whatif,
    extrapolate_fpir,
    impostor_rates,
)
from ._metrics import (
    OVERALL,
    FalseCandidateMix,
    cmc,
    false_candidate_mix,
    fpir,
    rate_table,
    threshold_at_fpir,
)
from ._search import METHODS, Candidates
from ._searches import Searches, run_searches
from ._split import GallerySplit, split_gallery


def nested_gallery_order(split: GallerySplit, searches: Searches,
                         seed: int = SEED) -> np.ndarray:
    """Order of gallery people for nested sub-galleries: the first ``N`` form gallery size N.

    People who are the mate of at least one mated probe come first, then everyone else; each
    part is shuffled with ``numpy.random.default_rng([seed, 1])``. So every sub-gallery of
    size >= the number of mates contains all of them, and smaller ones contain only mates.
    """
    rng = np.random.default_rng([seed, 1])
    n = split.n_gallery
    code_to_person = {int(c): i for i, c in enumerate(split.gallery_subject_codes)}
    mates = np.unique([code_to_person[int(c)] for c in searches.probe_cluster[searches.mated]]
                      ).astype(np.int64) if searches.mated.any() else np.zeros(0, np.int64)
    others = np.setdiff1d(np.arange(n), mates)
    return np.concatenate([rng.permutation(mates), rng.permutation(others)]).astype(np.int64)


def gallery_size_curve(
    split: GallerySplit,
    templates: Templates,
    threshold: float,
    gallery_sizes: Sequence[int],
    *,
    rank: int = 1,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    n_boot: int = N_BOOT,
    method: str = "faiss",
    threads: int | None = None,
    searches: Searches | None = None,
    searcher: Callable[..., Candidates] | None = None,
) -> pd.DataFrame:
    """FPIR(N, T) and FNIR(N, R, T) on nested sub-galleries of the given sizes, per group.

    The full gallery size is always added.
    Sub-galleries follow :func:`nested_gallery_order`, so FPIR is non-decreasing in N for
    every group (each non-mated search's best score can only grow). Mated searches whose mate
    is not in a small sub-gallery are left out at that size (``n_mated`` shows the count).
    Returns a long DataFrame: ``gallery_size, group`` and the columns of :func:`rate_table`.
    """
    full = searches if searches is not None else run_searches(
        split, templates, list_length=rank, method=method, threads=threads, searcher=searcher)
    for x in gallery_sizes:
        check_range("gallery_size", x, low=1, high=split.n_gallery)
    sizes = sorted({int(x) for x in gallery_sizes} | {split.n_gallery})
    order = nested_gallery_order(split, full, seed)
    frames = []
    for N in sizes:
        s = full if N == split.n_gallery and full.list_length >= rank else run_searches(
            split, templates, list_length=rank, gallery_people=order[:N], method=method,
            threads=threads, searcher=searcher)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            t = rate_table(s, threshold, rank, confidence=confidence, n_boot=n_boot, seed=seed)
        t = t.reset_index()
        t.insert(0, "gallery_size", N)
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def _df_records(df: pd.DataFrame | None) -> list[dict] | None:
    if df is None:
        return None
    out = df.reset_index() if df.index.name is not None else df
    return out.to_dict(orient="records")


@dataclass(frozen=True, eq=False)
class IdentificationAudit:
    """Everything a 1:N audit measured. Build with :func:`identify`.

    Attributes
    ----------
    split : GallerySplit
    searches : Searches
        Full-gallery searches.
    threshold : float
    threshold_rule : str
        ``"given"`` or ``"target_fpir=<x>"`` (threshold chosen on all non-mated searches).
    rank : int
    rates : DataFrame
        :func:`rate_table` at ``threshold`` and ``rank`` (per probe group and ``"overall"``).
    cmc : DataFrame
        Identification rate at ranks 1..list_length, per probe group and overall.
    mix : FalseCandidateMix
        Who is falsely put forward.
    impostor : ImpostorRates
        Exact FMR counts, probe group × gallery group.
    extrapolation : DataFrame
        Predicted FPIR at operational gallery sizes.
    curve : DataFrame or None
        Measured FPIR/FNIR vs gallery size.
    check : DataFrame or None
        Prediction vs measurement at the measured sizes.
    params : dict
    """

    split: GallerySplit
    searches: Searches
    threshold: float
    threshold_rule: str
    rank: int
    rates: pd.DataFrame
    cmc: pd.DataFrame
    mix: FalseCandidateMix
    impostor: ImpostorRates
    extrapolation: pd.DataFrame
    curve: pd.DataFrame | None
    check: pd.DataFrame | None
    params: dict

    def whatif(self, *, searches_per_year: float, gallery_size: float,
               probe_mix: Mapping[str, float] | None = None,
               gallery_mix: Mapping[str, float] | None = None,
               list_length: int | None = None) -> WhatIf:
        """:func:`deployment_whatif` at this audit's threshold."""
        return deployment_whatif(self.impostor, searches_per_year=searches_per_year,
                                 gallery_size=gallery_size, probe_mix=probe_mix,
                                 gallery_mix=gallery_mix, list_length=list_length,
                                 confidence=self.params["confidence"])

    def to_dict(self) -> dict:
        """JSON-able summary: every figure with its counts and intervals."""
        return {
            "kind": "faceaudit.identify", "params": dict(self.params),
            "threshold": self.threshold, "threshold_rule": self.threshold_rule, "rank": self.rank,
            "gallery_size": self.split.n_gallery, "search": {"method": self.searches.method,
                                                              "exact": True},
            "split": self.split.to_dict(),
            "rates": _df_records(self.rates), "cmc": _df_records(self.cmc),
            "false_candidates": self.mix.to_dict(),
            "impostor": self.impostor.to_dict(),
            "fmr": _df_records(self.impostor.fmr(self.params["confidence"])),
            "extrapolation": {"assumption": self.extrapolation.attrs.get("assumption"),
                              "rows": _df_records(self.extrapolation)},
            "gallery_size_curve": _df_records(self.curve),
            "extrapolation_check": _df_records(self.check),
        }


def identify(
    templates: Templates,
    manifest: Manifest,
    grouping: Grouping | str | Sequence[str] | None = None,
    *,
    threshold: float | None = None,
    target_fpir: float | None = None,
    rank: int = 1,
    list_length: int = 50,
    gallery_sizes: Sequence[int] | None = None,
    extrapolate_to: Sequence[float] = (1e5, 1e6, 1e7),
    n_enrol: int = 1,
    nonmated_fraction: float = 0.5,
    enrol: str = "random",
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    n_boot: int = N_BOOT,
    method: str = "faiss",
    threads: int | None = None,
    searcher: Callable[..., Candidates] | None = None,
) -> IdentificationAudit:
    """Run a 1:N (identification) audit of templates over a manifest.

    Steps: :func:`split_gallery` (seeded, stratified by group), exact search of every probe
    (:func:`run_searches`), the threshold (given, or the smallest with overall FPIR <=
    ``target_fpir``), FNIR/FPIR/IR per probe group (:func:`rate_table`), CMC, the demographic
    mix of false candidates (:func:`false_candidate_mix`), exact impostor FMR counts and the
    extrapolation to ``extrapolate_to`` gallery sizes, and (with ``gallery_sizes``) the measured
    curve on nested sub-galleries with the check of the prediction against it.

    Exactly one of ``threshold`` and ``target_fpir`` must be given. Scores are similarities;
    a candidate is returned iff ``score >= threshold``.

    Parameters
    ----------
    templates : Templates
        One template (or failure to enrol) per sample; aligned to the manifest by sample id.
    manifest : Manifest
    grouping : Grouping, str or sequence of str, optional
        Demographic groups (e.g. ``"sex"``, ``"sex,race"``); default: one group.
    threshold : float, optional
        Score threshold T (for dlib's "distance <= 0.6" use ``-0.6``).
    target_fpir : float, optional
        Pick T as the smallest threshold whose overall FPIR on the full gallery is <= this.
    rank : int
        R in FNIR(N, R, T) (NIST's investigative mode uses larger R, e.g. 50).
    list_length : int
        Candidates kept per search (ranks 1..L for the CMC; the false-candidate mix counts
        candidates >= T within this list).
    gallery_sizes : sequence of int, optional
        Nested sub-gallery sizes for the measured FPIR/FNIR curve (the full size is added).
    extrapolate_to : sequence of float
        Gallery sizes for the predicted FPIR.
    n_enrol, nonmated_fraction, enrol, seed
        The split rule (:func:`split_gallery`).
    confidence : float
        Level of every interval.
    n_boot : int
        Bootstrap replicates over probe subjects (0: Clopper-Pearson only).
    method : {"faiss", "numpy"}
        Exact search back-end; results are identical.
    threads : int, optional
        Search threads, capped at the usable cores.
    searcher : callable, optional
        Runs every top-k search instead of :func:`search` (same contract and results), e.g.
        :func:`faceaudit.cluster.sharded_search` on a Dask cluster.

    Returns
    -------
    IdentificationAudit
    """
    _check_options(threshold, target_fpir, confidence, n_boot, rank, list_length, method)
    split = split_gallery(manifest, templates, grouping, n_enrol=n_enrol,
                          nonmated_fraction=nonmated_fraction, enrol=enrol, seed=seed)
    s = run_searches(split, templates, list_length=list_length, method=method, threads=threads,
                     searcher=searcher)
    threshold, rule = _threshold(s, threshold, target_fpir, nonmated_fraction)
    rates = rate_table(s, threshold, rank, confidence=confidence, n_boot=n_boot, seed=seed)
    cmc_df = _cmc_table(s)
    mix = false_candidate_mix(s, threshold, confidence=confidence, n_boot=n_boot, seed=seed)
    imp = impostor_rates(split, templates, threshold)
    extra = extrapolate_fpir(imp, extrapolate_to, confidence=confidence)
    curve = check = None
    if gallery_sizes:
        curve = gallery_size_curve(split, templates, threshold, gallery_sizes, rank=rank,
                                   seed=seed, confidence=confidence, n_boot=n_boot, method=method,
                                   threads=threads, searches=s, searcher=searcher)
        check = check_extrapolation(imp, curve, confidence=confidence)
    params = {"n_enrol": n_enrol, "nonmated_fraction": nonmated_fraction, "enrol": enrol,
              "seed": seed, "confidence": confidence, "n_boot": n_boot, "method": method,
              "list_length": list_length, "target_fpir": target_fpir,
              "grouping": split.groups.grouping.to_dict(),
              "extrapolate_to": [float(x) for x in extrapolate_to],
              "gallery_sizes": None if not gallery_sizes else [int(x) for x in gallery_sizes],
              "model_id": templates.model_id, "similarity": templates.similarity}
    return IdentificationAudit(split, s, threshold, rule, rank, rates, cmc_df, mix, imp, extra,
                               curve, check, params)


def _cmc_table(s: Searches) -> pd.DataFrame:
    """Identification rate at ranks 1..list_length per probe group and overall (+ n_mated)."""
    cmc_rows = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for g, lab in enumerate(s.group_labels):
            cmc_rows[lab] = cmc(s.subset(s.probe_group == g))
        cmc_rows[OVERALL] = cmc(s)
    cmc_df = pd.DataFrame(cmc_rows).T
    cmc_df.columns = pd.Index(np.arange(1, s.list_length + 1), name="rank")
    cmc_df.index.name = "group"
    cmc_df.insert(0, "n_mated", [int((s.mated & (s.probe_group == g)).sum())
                                 for g in range(s.n_groups)] + [int(s.mated.sum())])
    return cmc_df


def _check_options(threshold: float | None, target_fpir: float | None, confidence: float,
                   n_boot: int, rank: int, list_length: int, method: str) -> None:
    if (threshold is None) == (target_fpir is None):
        raise ConfigError("give exactly one of threshold and target_fpir; got "
                          f"threshold={threshold!r}, target_fpir={target_fpir!r}")
    if threshold is not None:
        check_range("threshold", threshold)
    check_range("confidence", confidence, low=0, high=1, low_open=True, high_open=True)
    check_range("n_boot", n_boot, low=0)
    if list_length < rank:
        raise ConfigError(f"list_length must be >= rank ({rank}); got {list_length}")
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}; got {method!r}")


def _threshold(s: Searches, threshold: float | None, target_fpir: float | None,
               nonmated_fraction: float) -> tuple[float, str]:
    """The given threshold, or the smallest whose overall FPIR is at most ``target_fpir``."""
    if target_fpir is not None:
        check_range("target_fpir", target_fpir, low=0.0, high=1.0)
        if (~s.mated).sum() == 0:
            raise ConfigError("target_fpir needs non-mated searches; nonmated_fraction is "
                              f"{nonmated_fraction} and gave none")
        threshold = threshold_at_fpir(s, target_fpir)
        return threshold, f"target_fpir={target_fpir:g} (realised {fpir(s, threshold):.6g})"
    assert threshold is not None
    return float(threshold), "given"

