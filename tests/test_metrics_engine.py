"""AuditResult on summaries produced by the real engine (`faceaudit._scorer.score_templates`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from faceaudit import Manifest, Templates
from faceaudit.metrics import AuditResult
from faceaudit.metrics._intervals import group_resampling

_scorer = pytest.importorskip("faceaudit._scorer")


@pytest.fixture(scope="module")
def engine_case():
    rng = np.random.default_rng(0)
    n_sub, per = 40, 3
    subjects = np.repeat(np.arange(n_sub), per)
    sex = np.where(np.arange(n_sub) % 2 == 0, "F", "M")[subjects]
    ids = [f"x{k}" for k in range(len(subjects))]
    man = Manifest(pd.DataFrame({"sample_id": ids, "subject_id": [f"p{s}" for s in subjects],
                                 "sex": sex}))
    centre = rng.normal(size=(n_sub, 32))
    vec = (centre[subjects] + 0.9 * rng.normal(size=(len(ids), 32))).astype(np.float32)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    tpl = Templates.from_vectors(ids, vec)
    scores = (vec.astype(np.float32) @ vec.T.astype(np.float32)).astype(np.float64)
    return man, tpl, subjects, (sex == "M").astype(int), scores


def test_streamed_summary_with_floors(engine_case) -> None:
    man, tpl, subjects, groups, scores = engine_case
    sm = _scorer.score_templates(tpl, man, grouping="sex", exact_fmr=0.05, min_exact=100,
                                 n_bins=256, progress=False, n_workers=1)
    assert (sm.tail_floor[np.triu_indices(2)] > -np.inf).all()  # the tails overflowed
    flat = np.sort(scores[np.triu_indices(len(subjects), 1)])
    k = int(0.995 * len(flat))
    t = float(flat[k] + flat[k + 1]) / 2  # between two scores: robust to GEMM rounding
    res = AuditResult(sm, threshold=t, n_boot=30, seed=0)
    for g in range(2):
        idx = np.flatnonzero(groups == g)
        sub = scores[np.ix_(idx, idx)]
        same = subjects[idx][:, None] == subjects[idx][None, :]
        iu = np.triu_indices(len(idx), 1)
        imp = sub[iu][~same[iu]]
        gen = sub[iu][same[iu]]
        row = res.by_group.iloc[g]
        assert row["n_nonmated"] == len(imp) and row["n_mated"] == len(gen)
        assert row["false_matches"] == (imp >= t).sum() and row["fmr_exact"]
        assert row["false_non_matches"] == (gen < t).sum()
        # the engine's cells are all-pairs, so the closed-form denominator applies
        assert group_resampling(sm, g).all_pairs
        assert not np.isnan(row["fmr_boot_q0.975"])
