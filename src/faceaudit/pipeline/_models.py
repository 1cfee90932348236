"""The model names ``--model`` accepts, and :func:`make_embedder` (a name, a path or an instance).

A registry of its own, so that the embedder modules (:mod:`._embed`, :mod:`._sface`,
:mod:`._dlib_onnx`) need not import each other to be named.
"""

from __future__ import annotations

from pathlib import Path

from .._errors import ConfigError
from ._dlib_onnx import DlibOnnxEmbedder
from ._embed import DlibEmbedder, Embedder, FakeEmbedder, OnnxEmbedder
from ._sface import SFaceEmbedder

MODEL_NAMES = ("dlib", "sface", "fake", "dlib-reference", "dlib-cuda")
"""Names :func:`make_embedder` (and ``--model``) accept besides a path to an ``.onnx`` file."""

DLIB_MODELS = ("dlib", "dlib-reference", "dlib-cuda")
"""The names that run dlib's ResNet (the same network and model files; different runtimes)."""


def make_embedder(spec: str | Path | Embedder) -> Embedder:
    """An embedder from a name in :data:`MODEL_NAMES`, a path to an ``.onnx`` file, or an instance.

    ``"dlib"``: :class:`DlibOnnxEmbedder` — dlib's ResNet converted to ONNX and run by
    onnxruntime on the CPU (Euclidean, vendor threshold distance 0.6); ``"dlib-reference"``:
    :class:`DlibEmbedder`, the same network run by dlib itself; ``"dlib-cuda"``: the ONNX graph
    on ``CUDAExecutionProvider`` (needs ``onnxruntime-gpu`` and a CUDA device). The three
    have different ``model_id`` values, so their templates are never mixed in a store.
    ``"sface"``: :class:`SFaceEmbedder` (OpenCV Zoo's SFace, cosine, 0.363); ``"fake"``:
    :class:`FakeEmbedder` (tests).
    """
    if isinstance(spec, str) and spec in MODEL_NAMES:
        return {
            "dlib": DlibOnnxEmbedder,
            "dlib-reference": DlibEmbedder,
            "dlib-cuda": lambda: DlibOnnxEmbedder(device="cuda"),
            "sface": SFaceEmbedder,
            "fake": FakeEmbedder,
        }[spec]()
    names = ", ".join(repr(n) for n in MODEL_NAMES)
    if isinstance(spec, (str, Path)):
        if str(spec).lower().endswith(".onnx"):
            return OnnxEmbedder(spec)
        raise ConfigError(f"model must be one of {names}, a path to an .onnx file or an "
                          f"Embedder; got {spec!r}")
    if not isinstance(spec, Embedder):
        raise ConfigError(f"model must be one of {names}, a path to an .onnx file or an "
                          f"Embedder; got {spec!r}")
    return spec
