"""1:N identification audit: who is falsely put forward by mugshot-style searches.

A probe photo is searched against a gallery of enrolled faces; candidates scoring
``>= threshold`` go to an investigator. This subpackage measures, per demographic group,

- FNIR(N, R, T) over mated searches and FPIR(N, T) over non-mated searches (with counts,
  Clopper-Pearson and cluster-bootstrap intervals), rank-k identification rates / CMC, the
  threshold for a target FPIR;
- FPIR and FNIR as functions of gallery size on nested sub-galleries;
- the demographic mix of false candidates: who is put forward, not only whose search it was;
- FPIR predicted at operational gallery sizes (1e5 … 1e7) under independence, checked against
  the measured curve, a deployment what-if in plain words, and :func:`operating_points`: the
  threshold for a target FPIR at each gallery size and the innocent people returned per
  10,000 searches, or "not measurable with this data".

Searches are exact (FAISS or NumPy, identical candidates and scores; see :func:`search`).

Typical use::

    from faceaudit.identify import identify
    audit = identify(templates, manifest, "sex", target_fpir=0.01, gallery_sizes=[100, 1000])
    audit.rates                   # per group FNIR / FPIR with intervals
    audit.mix.by_gallery_group    # who is falsely put forward
    print(audit.whatif(searches_per_year=10_000, gallery_size=1e6).text)
"""

from __future__ import annotations

from ._extrapolate import (
    ImpostorRates,
    WhatIf,
    check_extrapolation,
    deployment_whatif,
    extrapolate_fpir,
    impostor_rates,
    needed_fmr,
    operating_points,
    predict_fpir,
)
from ._identification_audit import (
    IdentificationAudit,
    gallery_size_curve,
    identify,
    nested_gallery_order,
)
from ._metrics import (
    FalseCandidateMix,
    cmc,
    false_candidate_mix,
    fnir,
    fpir,
    identification_rate,
    rate_table,
    threshold_at_fpir,
)
from ._search import (
    METHODS,
    Candidates,
    brute_force_search,
    canonical_pair_scores,
    count_at_or_above,
    search,
)
from ._searches import Searches, run_searches
from ._split import ROLES, GallerySplit, split_gallery
from ._stats import Rate, clopper_pearson

__all__ = [
    "METHODS",
    "ROLES",
    "Candidates",
    "FalseCandidateMix",
    "GallerySplit",
    "IdentificationAudit",
    "ImpostorRates",
    "Rate",
    "Searches",
    "WhatIf",
    "brute_force_search",
    "canonical_pair_scores",
    "check_extrapolation",
    "clopper_pearson",
    "cmc",
    "count_at_or_above",
    "deployment_whatif",
    "extrapolate_fpir",
    "false_candidate_mix",
    "fnir",
    "fpir",
    "gallery_size_curve",
    "identification_rate",
    "identify",
    "impostor_rates",
    "needed_fmr",
    "nested_gallery_order",
    "operating_points",
    "predict_fpir",
    "rate_table",
    "run_searches",
    "search",
    "split_gallery",
    "threshold_at_fpir",
]
