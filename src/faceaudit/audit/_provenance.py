"""What each stage of an audit read, as records for ``results.json``'s ``inputs``.

Each function is the ``provenance`` of one stage (see :class:`~faceaudit.audit.Stage`): it
names the files and data the stage used, with their sha256 (:mod:`faceaudit._provenance`), so
a reviewer can check that a re-run used the same inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._errors import MissingDependencyError
from .._provenance import file_record, listing_digest, templates_digest
from ..datasets import dataset_key
from ..pipeline import DLIB_MODELS, MODEL_NAMES, sface_model_path

DLIB_MODEL_FILES = (
    "dlib_face_recognition_resnet_model_v1.dat",
    "shape_predictor_5_face_landmarks.dat",
)


def data_inputs(cfg: Any) -> dict[str, Any]:
    """The manifest, labels and vendor score files the data stage read."""
    out: dict[str, Any] = {}
    if cfg.scores is not None or (cfg.dataset is None and cfg.manifest is not None):
        out["manifest"] = file_record(cfg.manifest)
        if cfg.scores is not None:
            out["scores"] = file_record(cfg.scores)
        return out
    if dataset_key(cfg.dataset) is not None:
        return out
    if cfg.labels is not None:
        out["labels"] = file_record(cfg.labels)
    if Path(cfg.dataset).is_file():
        out["manifest"] = file_record(cfg.dataset)
    return out


def model_inputs(cfg: Any) -> dict[str, Any]:
    """The model files of the system under test (an .onnx file, dlib's two files, SFace's file)."""
    out: dict[str, Any] = {}
    if cfg.model not in MODEL_NAMES:
        out["model"] = file_record(cfg.model)
    elif cfg.model == "sface":
        try:
            path = sface_model_path()
        except MissingDependencyError:
            return out
        if path.is_file():
            out[f"model:{path.name}"] = file_record(path)
    elif cfg.model in DLIB_MODELS:
        try:
            import face_recognition_models  # type: ignore[import-untyped]
        except ImportError:
            return out
        d = Path(face_recognition_models.__file__).parent / "models"
        for fname in DLIB_MODEL_FILES:
            if (d / fname).is_file():
                out[f"model:{fname}"] = file_record(d / fname)
    return out


def embed_inputs(cfg: Any, data: Any, result: Any) -> dict[str, Any]:
    """Model files, the image files (one digest) and the templates made from them."""
    templates = result.templates
    return {
        **model_inputs(cfg),
        "images": listing_digest(data.manifest.paths(), data.manifest.root),
        "templates": {"sha256": templates_digest(templates), "model_id": templates.model_id},
    }
