"""Images → templates: decode, detect, align and embed every sample of a manifest.

The main entry point is :func:`embed_manifest` (``Manifest`` → :class:`~faceaudit.Templates`,
resumable through an on-disk :class:`TemplateStore`, failures to enrol recorded per sample).
The stages are small swappable pieces:

- :func:`decode_image` — any file → upright RGB ``uint8`` or a failure with a reason;
- :class:`Detector` — :class:`CenterFaceDetector` (default), :class:`HogDetector` (dlib),
  :class:`WholeImageDetector`; boxes are ``(left, top, right, bottom)`` float pixels;
  :func:`select_face` picks one face or a failure;
- :class:`Embedder` — :class:`DlibOnnxEmbedder` (dlib's ResNet converted to ONNX from its
  ``.dat`` file, run by onnxruntime; 128-d, Euclidean, threshold −0.6; ``--model dlib``),
  :class:`DlibEmbedder` (the same network run by dlib; ``--model dlib-reference``),
  :class:`SFaceEmbedder` (OpenCV Zoo's SFace, 128-d, cosine, threshold 0.363),
  :class:`OnnxEmbedder` (ArcFace-style models on 5-point aligned crops),
  :class:`FakeEmbedder` (deterministic, no model, for tests).

:func:`model_card` describes each built-in recogniser (provenance, licence, published and
measured LFW accuracy, vendor threshold). No model is loaded at import time.
"""

from __future__ import annotations

from ._align import ARCFACE_REF, align_arcface, umeyama, warp_similarity
from ._cards import BUILTIN_CARDS, MeasuredFigure, ModelCard, PublishedFigure, model_card
from ._detect import (
    DETECTORS,
    POLICIES,
    CenterFaceDetector,
    Detection,
    Detector,
    FaceFailure,
    HogDetector,
    WholeImageDetector,
    make_detector,
    select_face,
)
from ._dlib_onnx import DlibOnnxEmbedder, dlib_graph
from ._embed import DlibEmbedder, Embedder, FakeEmbedder, OnnxEmbedder
from ._images import DEFAULT_MAX_PIXELS, DecodedImage, DecodeFailure, decode_image
from ._models import DLIB_MODELS, MODEL_NAMES, make_embedder
from ._runner import PipelineConfig, Runner, embed_manifest, process_chunk, process_image
from ._sface import SFaceEmbedder, sface_model_path
from ._store import StoredResult, TemplateStore

__all__ = [
    "ARCFACE_REF",
    "BUILTIN_CARDS",
    "DEFAULT_MAX_PIXELS",
    "DETECTORS",
    "DLIB_MODELS",
    "MODEL_NAMES",
    "POLICIES",
    "CenterFaceDetector",
    "DecodeFailure",
    "DecodedImage",
    "Detection",
    "Detector",
    "DlibEmbedder",
    "DlibOnnxEmbedder",
    "Embedder",
    "FaceFailure",
    "FakeEmbedder",
    "HogDetector",
    "MeasuredFigure",
    "ModelCard",
    "OnnxEmbedder",
    "PipelineConfig",
    "PublishedFigure",
    "Runner",
    "SFaceEmbedder",
    "StoredResult",
    "TemplateStore",
    "WholeImageDetector",
    "align_arcface",
    "decode_image",
    "dlib_graph",
    "embed_manifest",
    "make_detector",
    "make_embedder",
    "model_card",
    "process_chunk",
    "process_image",
    "select_face",
    "sface_model_path",
    "umeyama",
    "warp_similarity",
]
