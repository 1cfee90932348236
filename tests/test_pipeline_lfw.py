"""End to end on real LFW images: CenterFace → dlib 5-point → chip → ResNet (slow-ish, ~30 s)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from faceaudit import Manifest
from faceaudit.pipeline import DlibEmbedder, embed_manifest

PEOPLE = ("Ariel_Sharon", "Hugo_Chavez", "Kofi_Annan", "Lleyton_Hewitt", "Serena_Williams",
          "Jennifer_Capriati", "Vladimir_Putin", "Gloria_Macapagal_Arroyo")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lfw_subset(lfw_dir) -> Manifest:
    root = lfw_dir / "lfw-deepfunneled"
    rows = [{"sample_id": f"{p}_{k:04d}", "subject_id": p, "path": f"{p}/{p}_{k:04d}.jpg"}
            for p in PEOPLE for k in range(1, 5)]
    return Manifest(pd.DataFrame(rows), root=root, source="lfw-subset")


@pytest.fixture(scope="module")
def templates(lfw_subset):
    return embed_manifest(lfw_subset, n_workers=1, progress=False)


def test_all_enrol_with_dlib_model_id(templates):
    assert templates.ok.all(), templates.detail[~templates.ok]
    assert templates.dim == 128 and templates.similarity == "euclidean"
    assert templates.model_id.startswith("dlib-resnet-v1:55533b28a958+sp5:c4b1e9804792")
    assert "|centerface:09189deaaf86" in templates.model_id
    assert DlibEmbedder.default_threshold == -0.6


def test_genuine_and_impostor_distances_separate(templates, lfw_subset):
    v = templates.vectors.astype(np.float64)
    d = np.linalg.norm(v[:, None] - v[None], axis=2)
    iu = np.triu_indices(len(v), 1)
    subj = lfw_subset.subject_codes
    gen = (subj[:, None] == subj[None])[iu]
    dg, di = d[iu][gen], d[iu][~gen]
    assert len(dg) == 8 * 6 and len(di) == 32 * 31 // 2 - 48
    assert (dg < 0.6).mean() >= 0.95, np.sort(dg)[-5:]
    assert (di > 0.6).mean() >= 0.95, np.sort(di)[:5]
    assert np.median(dg) < 0.45 < 0.7 < np.median(di)


def test_two_workers_identical(templates, lfw_subset):
    half = np.array([s.endswith(("_0001", "_0002")) for s in lfw_subset.sample_ids])
    two = embed_manifest(lfw_subset.subset(half), n_workers=2, progress=False, chunk_size=3)
    assert len(two) == 16
    np.testing.assert_array_equal(two.vectors, templates.vectors[half])
    assert (two.status == "ok").all() and two.model_id == templates.model_id
