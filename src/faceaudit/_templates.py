"""Templates: the embedding of every sample, plus a status that keeps failures to enrol.

A :class:`Templates` holds, for each sample id, a float32 vector and a status. Status
``"ok"`` means a template was made; anything else is a *failure to enrol* (FTE) whose code
says why (:data:`FAILURE_STATUSES`) and whose ``detail`` gives the message. Failed rows hold
NaN vectors and never enter a comparison, but they are counted per group by the metrics
(FTE / FTA), never silently dropped.

Files are ``.npz`` written atomically and read with ``allow_pickle=False``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._errors import ConfigError, InputError
from ._io import load_npz, save_npz
from ._similarity import SIMILARITIES

OK = "ok"
NO_FACE = "no_face"
UNREADABLE = "unreadable"
TOO_SMALL = "too_small"
MULTIPLE_FACES = "multiple_faces"
MISSING = "missing"
ERROR = "error"
FAILURE_STATUSES = (NO_FACE, UNREADABLE, TOO_SMALL, MULTIPLE_FACES, MISSING, ERROR)
"""Failure-to-enrol codes: no face found, file unreadable/corrupt, face or image too small,
several faces under a "fail" policy, sample absent from the template set, unexpected error."""

FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class Templates:
    """Embeddings of samples with per-sample enrolment status.

    Attributes
    ----------
    sample_ids : ndarray of str, shape (n,)
    vectors : ndarray of float32, shape (n, d)
        NaN rows where ``status != "ok"``.
    status : ndarray of str, shape (n,)
        ``"ok"`` or one of :data:`FAILURE_STATUSES`.
    detail : ndarray of str, shape (n,)
        Human-readable reason for a failure ("" for ok).
    model_id : str
        Identifies the embedder (and its version/config); keys caches.
    similarity : {"cosine", "euclidean"}
        How two vectors of this model are compared (see :mod:`faceaudit._similarity`).
    """

    sample_ids: np.ndarray
    vectors: np.ndarray
    status: np.ndarray
    detail: np.ndarray
    model_id: str
    similarity: str = "cosine"

    def __post_init__(self) -> None:
        ids = np.asarray(self.sample_ids, dtype=str)
        vec = np.asarray(self.vectors, dtype=np.float32)
        status = np.asarray(self.status, dtype=str)
        detail = np.asarray(self.detail, dtype=str)
        if (
            vec.ndim != 2
            or len(vec) != len(ids)
            or len(status) != len(ids)
            or len(detail) != len(ids)
        ):
            raise ConfigError(
                f"Templates arrays must align: {len(ids)} ids, vectors {vec.shape}, "
                f"{len(status)} statuses, {len(detail)} details"
            )
        if self.similarity not in SIMILARITIES:
            raise ConfigError(f"similarity must be one of {SIMILARITIES}; got {self.similarity!r}")
        bad = ~np.isin(status, (OK, *FAILURE_STATUSES))
        if bad.any():
            raise ConfigError(f"unknown status {status[bad][0]!r} for sample {ids[bad][0]!r}")
        ok = status == OK
        if not np.isfinite(vec[ok]).all():
            i = int(np.flatnonzero(ok & ~np.isfinite(vec).all(axis=1))[0])
            raise InputError(f"template of sample {ids[i]!r} has non-finite values but status 'ok'")
        if len(np.unique(ids)) != len(ids):
            raise ConfigError("Templates sample_ids must be unique")
        object.__setattr__(self, "sample_ids", ids)
        object.__setattr__(self, "vectors", vec)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "detail", detail)

    @classmethod
    def from_vectors(
        cls,
        sample_ids: Sequence[str],
        vectors: np.ndarray,
        *,
        model_id: str = "user",
        similarity: str = "cosine",
    ) -> Templates:
        """Templates where every sample enrolled (status ``"ok"``)."""
        n = len(sample_ids)
        return cls(
            np.asarray(sample_ids, dtype=str),
            vectors,
            np.full(n, OK),
            np.full(n, ""),
            model_id,
            similarity,
        )

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __repr__(self) -> str:
        return (
            f"Templates({len(self)} samples, dim={self.dim}, ok={int(self.ok.sum())}, "
            f"model_id={self.model_id!r}, similarity={self.similarity!r})"
        )

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of enrolled samples."""
        return self.status == OK

    def align(self, sample_ids: Sequence[str] | np.ndarray) -> Templates:
        """Reorder to ``sample_ids``; ids absent here get status ``"missing"`` (counted as FTE)."""
        ids = np.asarray(sample_ids, dtype=str)
        pos = {s: i for i, s in enumerate(self.sample_ids)}
        idx = np.fromiter((pos.get(s, -1) for s in ids), dtype=np.int64, count=len(ids))
        have = idx >= 0
        vec = np.full((len(ids), self.dim), np.nan, dtype=np.float32)
        vec[have] = self.vectors[idx[have]]
        status = np.full(len(ids), MISSING, dtype=object)
        status[have] = self.status[idx[have]]
        detail = np.full(len(ids), "no template for this sample", dtype=object)
        detail[have] = self.detail[idx[have]]
        return Templates(
            ids, vec, status.astype(str), detail.astype(str), self.model_id, self.similarity
        )

    def save(self, path: str | Path) -> None:
        """Write atomically to ``path`` (``.npz``)."""
        save_npz(
            path,
            {
                "format_version": np.array(FORMAT_VERSION),
                "sample_ids": self.sample_ids,
                "vectors": self.vectors,
                "status": self.status,
                "detail": self.detail,
                "model_id": np.array(self.model_id),
                "similarity": np.array(self.similarity),
            },
        )

    @classmethod
    def load(cls, path: str | Path) -> Templates:
        """Read a file written by :meth:`save` (never unpickles)."""
        d = load_npz(path)
        missing = {"sample_ids", "vectors", "status", "detail", "model_id", "similarity"} - set(d)
        if missing:
            raise InputError(f"{path}: not a faceaudit templates file (missing {sorted(missing)})")
        return cls(
            d["sample_ids"],
            d["vectors"],
            d["status"],
            d["detail"],
            str(d["model_id"]),
            str(d["similarity"]),
        )
