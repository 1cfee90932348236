"""Templates of degraded probe photos, cached in the template store.

For one condition, each probe image is decoded, degraded (:func:`~faceaudit.probe.degrade`),
then detected, aligned and embedded by the **same pipeline** as the clean audit
(:func:`faceaudit.pipeline.process_image` with a ``transform``). Results are stored in the
clean audit's :class:`~faceaudit.pipeline.TemplateStore` under the key
``(image sha256, "<pipeline id>|probe=<condition id>:seed=<seed>")`` — the store's pipeline-id
column carries the condition — so a re-run embeds nothing twice.

Rules (each outcome is counted, never dropped):

- an image that failed on the clean photo (no face, unreadable, ...) keeps that failure at
  every level: it was never an acquired probe;
- ``none`` is the clean result itself (same bytes, same pipeline: identical by construction);
- a ``resolution`` level at or above the clean photo's inter-eye distance leaves the pixels
  unchanged, so the clean result is reused (``unchanged``);
- any other failure at a level (the detector finds no face) is a failure to acquire there.

Images are processed one by one in this process (the store makes re-runs free).
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import ConfigError, IntegrityError
from .._io import sha256_file
from .._templates import OK
from ..pipeline import (
    PipelineConfig,
    StoredResult,
    TemplateStore,
    embed_manifest,
    make_detector,
    make_embedder,
    process_image,
)
from ._conditions import NONE, Condition, condition_seed, degrade, inter_eye_distance


@dataclass(frozen=True)
class DegradedSet:
    """The outcome of every probe image under one condition.

    Attributes
    ----------
    condition : Condition
    shas : list of str or None
        sha256 of each probe sample's image (None: it could not be read), aligned with the
        probe samples.
    ok : ndarray of bool
        The probe was acquired (a template exists) at this level.
    vectors : ndarray of float32, shape (n, dim)
        Templates (NaN rows where not ``ok``).
    status : ndarray of str
        ``"ok"`` or the failure status.
    n_unchanged : int
        Probe images left unchanged by the condition (e.g. already at lower resolution).
    n_computed, n_cached : int
        Images embedded now / found in the store.
    seconds : float
        Wall time of this level.
    """

    condition: Condition
    ok: np.ndarray
    vectors: np.ndarray
    status: np.ndarray
    n_unchanged: int
    n_computed: int
    n_cached: int
    seconds: float


def pipeline_config(model: str, detector: str, face_policy: str | None) -> PipelineConfig:
    """The :class:`PipelineConfig` :func:`embed_manifest` builds from the same options."""
    defaults = inspect.signature(embed_manifest).parameters
    return PipelineConfig(
        make_embedder(model), make_detector(detector),
        face_policy or defaults["face_policy"].default,
        float(defaults["min_face_size"].default), int(defaults["max_pixels"].default))


def probe_store_key(pipeline_id: str, condition: Condition, seed: int) -> str:
    """The store's pipeline-id column for degraded results: pipeline id + condition + seed."""
    return f"{pipeline_id}|probe={condition.condition_id}:seed={int(seed)}"


def degraded_templates(
    paths: list[Path | None],
    clean_vectors: np.ndarray,
    clean_ok: np.ndarray,
    config: PipelineConfig,
    conditions: tuple[Condition, ...],
    store: str | Path,
    *,
    clean_pipeline_id: str,
    seed: int = 0,
) -> list[DegradedSet]:
    """Templates of the probe images (``paths``) under each condition (see module docstring).

    ``clean_vectors``/``clean_ok`` are the clean audit's templates of the same samples; the
    clean detections (their eye landmarks) are read from the store under
    ``clean_pipeline_id``, which must be ``config``'s pipeline id.
    """
    if config.pipeline_id != clean_pipeline_id:
        raise ConfigError(f"the probe pipeline must be the clean audit's; got "
                          f"{config.pipeline_id!r} for templates of {clean_pipeline_id!r}")
    eyes = [c.condition_id for c in conditions if c.needs_eyes]
    if eyes and not config.detector.has_landmarks:
        raise ConfigError(f"detector must give eye landmarks for the probe conditions {eyes}; "
                          f"got {config.detector.detector_id!r} (use detector='centerface')")
    shas: list[str | None] = []
    for p in paths:
        try:
            shas.append(None if p is None else sha256_file(p))
        except OSError:
            shas.append(None)
    first: dict[str, Path] = {}
    for sha, p in zip(shas, paths, strict=True):
        if sha is not None and p is not None:
            first.setdefault(sha, p)
    with TemplateStore(store) as st:
        clean = st.get_many(clean_pipeline_id, list(first))
        return [_one_condition(st, config, cond, shas, first, clean, clean_vectors, clean_ok,
                               seed) for cond in conditions]


def _one_condition(st: TemplateStore, config: PipelineConfig, cond: Condition,
                   shas: list[str | None], first: dict[str, Path],
                   clean: dict[str, StoredResult], clean_vectors: np.ndarray,
                   clean_ok: np.ndarray, seed: int) -> DegradedSet:
    t0 = time.perf_counter()
    n = len(shas)
    if cond == NONE:
        return DegradedSet(cond, clean_ok.copy(), clean_vectors.copy(),
                           np.where(clean_ok, OK, "failed_clean").astype(str), 0, 0, 0,
                           time.perf_counter() - t0)
    key = probe_store_key(config.pipeline_id, cond, seed)
    usable = {s for s in first if s in clean and clean[s].status == OK}
    lost = sum(1 for i, s in enumerate(shas) if clean_ok[i] and s not in usable)
    if lost:
        raise IntegrityError(f"{st.path}: the clean results of {lost} probe image(s) are not "
                             "in the template store the audit used; re-run the audit")
    eyes = {s: inter_eye_distance(clean[s].face) for s in usable}
    only_resolution = [k for k, _ in cond.steps] == ["resolution"]
    unchanged = {s for s in usable if only_resolution and not eyes[s] > cond.level}
    todo = sorted(usable - unchanged)
    done = st.get_many(key, todo)
    n_cached = len(done)
    batch: list[StoredResult] = []
    for sha in todo:
        if sha in done:
            continue

        def transform(px: np.ndarray, sha: str = sha) -> np.ndarray:
            out = degrade(px, cond, inter_eye=eyes[sha],
                          rng_seed=condition_seed(sha, cond, seed))
            return out.pixels

        r = process_image(config, sha, first[sha], transform=transform)
        done[sha] = r
        batch.append(r)
        if len(batch) >= 64:
            st.put_many(key, batch)
            batch = []
    st.put_many(key, batch)
    dim = clean_vectors.shape[1]
    vectors = np.full((n, dim), np.nan, np.float32)
    status = np.full(n, "failed_clean", dtype=object)
    ok = np.zeros(n, bool)
    for i, sha in enumerate(shas):
        if sha is None or sha not in usable or not clean_ok[i]:
            continue
        if sha in unchanged:
            ok[i], status[i], vectors[i] = True, OK, clean_vectors[i]
            continue
        r = done[sha]
        status[i] = r.status
        if r.status == OK and r.vector is not None and r.vector.size == dim:
            ok[i], vectors[i] = True, r.vector
    n_unch = sum(1 for s in shas if s is not None and s in unchanged)
    return DegradedSet(cond, ok, vectors, status.astype(str), n_unch, len(todo) - n_cached,
                       n_cached, time.perf_counter() - t0)
