"""Embedders: the :class:`Embedder` protocol, dlib's ResNet, user ONNX models, and a fake.

An embedder turns ``(image, detection)`` into one ``float32`` vector. It declares how its
vectors are compared (``similarity``, see :mod:`faceaudit._similarity`) and, when the vendor
publishes one, a ``default_threshold`` already in faceaudit's score convention (accepted iff
``score >= threshold``; a distance rule "match iff d <= 0.6" is the score threshold ``-0.6``).

Embedders are light configuration objects: model files are hashed when ``model_id`` is first
read and loaded on the first ``embed`` call, never at import or construction, and loaded
models are dropped when pickled, so an embedder can be sent to worker processes.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from .._errors import ConfigError, InputError, check_option, check_range, require
from ._align import align_arcface
from ._detect import Detection, package_dir, sha256_checked

DLIB_RESNET_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
"""sha256 of ``dlib_face_recognition_resnet_model_v1.dat`` (face-recognition-models 0.3.0)."""
DLIB_SP5_SHA256 = "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
"""sha256 of ``shape_predictor_5_face_landmarks.dat`` (face-recognition-models 0.3.0)."""
DLIB_DISTANCE_THRESHOLD = 0.6
"""dlib's published rule: same person iff Euclidean distance <= 0.6 (99.38% on LFW)."""

# dlib-detector-style square box from 5 landmarks (see ``DlibEmbedder.shape_box``): least-squares
# fit of dlib HOG boxes on CenterFace landmarks of 298 LFW deep-funneled images that pairs.txt
# does NOT use (benchmarks/lfw_verification.py documents the fit and the effect).
_SP_BOX_CENTRE = (0.421, 0.079)  # along eyes→mouth, along its 90° rotation (-v_y, v_x)
_SP_BOX_SIZE = (0.268, 2.083)  # × inter-ocular distance, × eyes→mouth distance
SP_BOXES = ("landmarks", "detector")


@runtime_checkable
class Embedder(Protocol):
    """Maps a detected face to a fixed-length ``float32`` vector.

    Attributes
    ----------
    model_id : str
        Identifies model file(s) (sha256 prefix) and configuration; keys the result cache.
    similarity : {"cosine", "euclidean"}
    default_threshold : float or None
        Vendor operating threshold in score convention, if any.
    dim : int
        Vector length.
    needs_landmarks : bool
        True if ``embed`` needs ``detection.landmarks`` (5 points).

    The built-in embedders have a model card (:func:`faceaudit.pipeline.model_card`).
    """

    model_id: str
    similarity: str
    default_threshold: float | None
    dim: int
    needs_landmarks: bool

    def embed(self, image: np.ndarray, detection: Detection, *,
              source: Path | None = None) -> np.ndarray: ...


def _models_dir() -> Path:
    return package_dir("face_recognition_models") / "models"


def dlib_dat_path() -> Path:
    """``dlib_face_recognition_resnet_model_v1.dat`` of the installed face-recognition-models."""
    return _models_dir() / "dlib_face_recognition_resnet_model_v1.dat"


class DlibEmbedder:
    """dlib's ResNet-29 face descriptor (128-d), as used by ``face_recognition``.

    Pipeline per face: dlib 5-point landmarks (``shape_predictor_5_face_landmarks.dat``) fitted
    inside a box (see ``sp_box``) → ``dlib.get_face_chip(image, shape, size=chip_size,
    padding=padding)`` → ``dlib_face_recognition_resnet_model_v1.dat``. Vectors are compared
    with ``similarity="euclidean"`` (score :math:`-\\lVert a-b \\rVert_2`); the vendor threshold
    distance 0.6 is the score threshold ``-0.6``.

    The shape predictor was trained on boxes of dlib's own face detector (square, about
    eyebrows to lower lip); CenterFace boxes are taller (forehead to chin) and make it place the
    outer eye corners ~1 px too far out and the nose ~1 px too low (LFW, inter-ocular ≈ 41 px).
    With ``sp_box="landmarks"`` (default) the box given to the shape predictor is rebuilt from
    the detector's 5 landmarks in dlib's detector convention (:meth:`shape_box`); detections
    without landmarks (HOG, whole image) use their own box, as with ``sp_box="detector"``.

    Parameters
    ----------
    num_jitters : int
        dlib's test-time augmentation (0 = none; dlib's own jitter is deterministic).
    chip_size : int
        Size of the aligned chip (the network was trained on 150).
    padding : float
        Context around the face in the chip (dlib default 0.25).
    sp_box : {"landmarks", "detector"}
        Box given to the shape predictor: dlib-detector-style box from the detection's 5
        landmarks (default), or the detection's own box (faceaudit ≤ 2026-11-26 behaviour).
    """

    similarity = "euclidean"
    default_threshold = -DLIB_DISTANCE_THRESHOLD
    dim = 128
    needs_landmarks = False

    def __init__(self, *, num_jitters: int = 0, chip_size: int = 150,
                 padding: float = 0.25, sp_box: str = "landmarks") -> None:
        check_range("num_jitters", num_jitters, low=0, high=100)
        check_range("chip_size", chip_size, low=32, high=1024)
        check_range("padding", padding, low=0.0, high=2.0)
        check_option("sp_box", sp_box, SP_BOXES)
        self.sp_box = sp_box
        self.num_jitters = int(num_jitters)
        self.chip_size = int(chip_size)
        self.padding = float(padding)
        self._models: tuple[object, object] | None = None

    def __getstate__(self) -> dict[str, object]:
        d = self.__dict__.copy()
        d["_models"] = None
        return d

    def __repr__(self) -> str:
        return (f"DlibEmbedder(num_jitters={self.num_jitters}, chip_size={self.chip_size}, "
                f"padding={self.padding:g}, sp_box={self.sp_box!r})")

    @property
    def model_id(self) -> str:
        d = _models_dir()
        rec = sha256_checked(str(d / "dlib_face_recognition_resnet_model_v1.dat"),
                              DLIB_RESNET_SHA256)
        sp = sha256_checked(str(d / "shape_predictor_5_face_landmarks.dat"), DLIB_SP5_SHA256)
        return (f"dlib-resnet-v1:{rec[:12]}+sp5:{sp[:12]}:chip={self.chip_size}"
                f":pad={self.padding:g}:jitter={self.num_jitters}"
                + (":spbox=lm5v1" if self.sp_box == "landmarks" else ""))

    def _load(self) -> tuple[object, object]:
        if self._models is None:
            dlib = require("dlib", "models")

            _ = self.model_id  # verifies both checksums
            d = _models_dir()
            self._models = (dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat")),
                            self._recogniser(dlib))
        return self._models

    def _recogniser(self, dlib: Any) -> object:
        """dlib's network object (subclasses that run the network elsewhere return None)."""
        return dlib.face_recognition_model_v1(str(dlib_dat_path()))

    @staticmethod
    def shape_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
        """A dlib-detector-style square box ``(left, top, right, bottom)`` from 5 landmarks.

        With :math:`e` the midpoint of the eyes (points 0, 1), :math:`m` the midpoint of the
        mouth corners (points 3, 4), :math:`v = m - e`, :math:`v^\\perp = (-v_y, v_x)` and
        inter-ocular distance :math:`d_{io} = \\lVert p_1 - p_0 \\rVert`:

        .. math::

            c = e + 0.421\\, v + 0.079\\, v^\\perp, \\qquad
            s = 0.268\\, d_{io} + 2.083\\, \\lVert v \\rVert

        and the box is the square of side :math:`s` centred on :math:`c`. The coefficients are
        a least-squares fit of dlib HOG detector boxes on CenterFace landmarks (298 LFW images
        outside pairs.txt); with this box the shape predictor's points agree with those it
        gives on the HOG box to 0.8% of the inter-ocular distance with no bias (2.6% and a
        ~1 px bias with the CenterFace box).
        """
        pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
        e = (pts[0] + pts[1]) / 2
        v = (pts[3] + pts[4]) / 2 - e
        perp = np.array([-v[1], v[0]])
        c = e + _SP_BOX_CENTRE[0] * v + _SP_BOX_CENTRE[1] * perp
        s = (_SP_BOX_SIZE[0] * float(np.linalg.norm(pts[1] - pts[0]))
             + _SP_BOX_SIZE[1] * float(np.linalg.norm(v)))
        return (float(c[0] - s / 2), float(c[1] - s / 2), float(c[0] + s / 2),
                float(c[1] + s / 2))

    def predictor_box(self, detection: Detection) -> tuple[int, int, int, int]:
        """The integer box given to the shape predictor (see ``sp_box``)."""
        box = detection.box
        if (self.sp_box == "landmarks" and detection.landmarks is not None
                and np.isfinite(detection.landmarks).all()):
            box = self.shape_box(detection.landmarks)
        left, top, right, bottom = (round(v) for v in box)
        return left, top, right, bottom

    def landmarks(self, image: np.ndarray, detection: Detection) -> object:
        """dlib ``full_object_detection``: 5 points fitted inside :meth:`predictor_box`."""
        dlib = require("dlib", "models")

        sp, _ = self._load()
        return sp(image, dlib.rectangle(*self.predictor_box(detection)))  # type: ignore[operator]

    def chip(self, image: np.ndarray, shape: object) -> np.ndarray:
        dlib = require("dlib", "models")

        return dlib.get_face_chip(image, shape, size=self.chip_size, padding=self.padding)

    def embed_chip(self, chip: np.ndarray) -> np.ndarray:
        _, rec = self._load()
        v = rec.compute_face_descriptor(chip, self.num_jitters)  # type: ignore[attr-defined]
        return np.asarray(v, dtype=np.float32)

    def embed(self, image: np.ndarray, detection: Detection, *,
              source: Path | None = None) -> np.ndarray:
        """128-d descriptor of the face in ``detection.box`` (``source`` is unused)."""
        image = np.ascontiguousarray(image, dtype=np.uint8)
        return self.embed_chip(self.chip(image, self.landmarks(image, detection)))


class OnnxEmbedder:
    """A user-supplied ArcFace-style ONNX model on 5-landmark aligned crops.

    Each face is warped by the least-squares similarity transform (Umeyama) that maps the
    detector's 5 landmarks onto the ArcFace reference points, to an ``input_size`` square crop
    (:func:`faceaudit.pipeline._align.align_arcface`); pixels are normalised as
    :math:`x' = (x - \\text{mean}) / \\text{std}` in the given channel order and fed as
    ``(1, 3, S, S)`` (``layout="NCHW"``) or ``(1, S, S, 3)`` (``"NHWC"``) float32. The first
    output, flattened, is the vector.

    Parameters
    ----------
    path : path
        The ``.onnx`` file; ``model_id`` holds its sha256 and the configuration.
    input_size : int
    mean, std : float
    channel_order : {"RGB", "BGR"}
    layout : {"NCHW", "NHWC"}
    similarity : {"cosine", "euclidean"}
    default_threshold : float, optional
        The model's operating threshold in score convention, if known.
    """

    needs_landmarks = True

    def __init__(self, path: str | Path, *, input_size: int = 112, mean: float = 127.5,
                 std: float = 127.5, channel_order: str = "RGB", layout: str = "NCHW",
                 similarity: str = "cosine", default_threshold: float | None = None) -> None:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{p}: ONNX model file not found")
        check_range("input_size", input_size, low=8, high=1024)
        check_range("std", std, low=0.0, low_open=True)
        check_range("mean", mean)
        check_option("channel_order", channel_order, ("RGB", "BGR"))
        check_option("layout", layout, ("NCHW", "NHWC"))
        check_option("similarity", similarity, ("cosine", "euclidean"))
        self.path = str(p.resolve())
        self.input_size = int(input_size)
        self.mean = float(mean)
        self.std = float(std)
        self.channel_order = channel_order
        self.layout = layout
        self.similarity = similarity
        self.default_threshold = default_threshold
        self._sha: str | None = None
        self._sess: object | None = None
        self._dim: int | None = None

    def __getstate__(self) -> dict[str, object]:
        d = self.__dict__.copy()
        d["_sess"] = None
        return d

    def __repr__(self) -> str:
        return f"OnnxEmbedder({self.path!r}, input_size={self.input_size})"

    session_config: ClassVar[tuple[tuple[str, str], ...]] = ()
    """onnxruntime session configuration entries (``SessionOptions.add_session_config_entry``)."""

    @property
    def sha256(self) -> str:
        """sha256 of the model file (computed once)."""
        if self._sha is None:
            from .._io import sha256_file

            self._sha = sha256_file(self.path)
        return self._sha

    @property
    def model_id(self) -> str:
        return (f"onnx:{self.sha256[:16]}:in={self.input_size}:mean={self.mean:g}:std={self.std:g}"
                f":{self.channel_order}:{self.layout}:{self.similarity}")

    def _model_source(self) -> str | bytes:
        """What onnxruntime loads: the file's path, or (subclasses) a serialised graph."""
        return self.path

    def _session(self) -> object:
        if self._sess is None:
            ort = require("onnxruntime", "models")

            source = self._model_source()
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            for key, value in self.session_config:
                opts.add_session_config_entry(key, value)
            try:
                self._sess = ort.InferenceSession(source, opts,
                                                  providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own exception types
                raise InputError(
                    f"{self.path}: onnxruntime cannot load this model ({exc})") from exc
        return self._sess

    @property
    def dim(self) -> int:
        if self._dim is None:
            z = np.zeros((self.input_size, self.input_size, 3), np.uint8)
            self._dim = int(self.embed_crop(z).shape[0])
        return self._dim

    def preprocess(self, crop: np.ndarray) -> np.ndarray:
        """The network input for an aligned RGB uint8 crop."""
        x = crop.astype(np.float32)
        if self.channel_order == "BGR":
            x = x[:, :, ::-1]
        x = (x - np.float32(self.mean)) / np.float32(self.std)
        x = x.transpose(2, 0, 1)[None] if self.layout == "NCHW" else x[None]
        return np.ascontiguousarray(x, dtype=np.float32)

    def embed_crop(self, crop: np.ndarray) -> np.ndarray:
        sess = self._session()
        name = sess.get_inputs()[0].name  # type: ignore[attr-defined]
        out = sess.run(None, {name: self.preprocess(crop)})[0]  # type: ignore[attr-defined]
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def embed(self, image: np.ndarray, detection: Detection, *,
              source: Path | None = None) -> np.ndarray:
        if detection.landmarks is None:
            raise ConfigError("OnnxEmbedder needs 5 landmarks; use detector='centerface'")
        return self.embed_crop(align_arcface(image, detection.landmarks, self.input_size))


class FakeEmbedder:
    """A deterministic embedder with no model, for tests (like httpx's ``MockTransport``).

    The vector is a unit "identity" direction derived from a key, plus noise derived from the
    image pixels, renormalised:

    .. math::

        v = \\frac{u(\\text{key}) + \\text{noise}\\cdot u(\\text{pixels})}
                  {\\lVert u(\\text{key}) + \\text{noise}\\cdot u(\\text{pixels}) \\rVert}

    where :math:`u(\\cdot)` is a unit Gaussian vector seeded by a sha256. The key is the name of
    the image's folder (``source.parent.name``; LFW-style ``<subject>/<file>`` layouts give
    genuine cosine ≈ 0.9 and impostor ≈ 0 ± 1/√dim), or the pixels when no source is known.
    Note: the runner embeds identical files once, so byte-identical copies in two folders share
    the first one's vector.

    Parameters
    ----------
    dim : int
    noise : float
        Relative size of the per-image noise.
    delay : float
        Seconds to sleep per image (to test progress, interruption and resumption).
    raise_on : str, optional
        Raise ``RuntimeError`` for sources whose file name contains this text (tests the
        runner's ``"error"`` status).
    crash_on : str, optional
        Kill the whole process (``os._exit(70)``) for sources whose file name contains this
        text (tests the runner's recovery from dead workers). Never use it with ``n_workers=1``.
    """

    similarity = "cosine"
    default_threshold = 0.5
    needs_landmarks = False

    def __init__(self, *, dim: int = 32, noise: float = 0.3, delay: float = 0.0,
                 raise_on: str | None = None, crash_on: str | None = None) -> None:
        check_range("dim", dim, low=1)
        check_range("noise", noise, low=0.0)
        check_range("delay", delay, low=0.0)
        self.dim = int(dim)
        self.noise = float(noise)
        self.delay = float(delay)
        self.raise_on = raise_on
        self.crash_on = crash_on

    def __repr__(self) -> str:
        return f"FakeEmbedder(dim={self.dim}, noise={self.noise:g})"

    @property
    def model_id(self) -> str:
        return f"fake:dim={self.dim}:noise={self.noise:g}"

    def _unit(self, seed_bytes: bytes) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(seed_bytes).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim)
        return v / np.linalg.norm(v)

    def embed(self, image: np.ndarray, detection: Detection, *,
              source: Path | None = None) -> np.ndarray:
        if self.delay:
            time.sleep(self.delay)
        if self.raise_on is not None and source is not None and self.raise_on in Path(source).name:
            raise RuntimeError(f"FakeEmbedder told to fail on {Path(source).name}")
        if self.crash_on is not None and source is not None and self.crash_on in Path(source).name:
            import os

            os._exit(70)
        pix = np.ascontiguousarray(image).tobytes()
        key = (Path(source).parent.name.encode("utf-8", "surrogateescape") if source is not None
               else pix)
        v = self._unit(b"id:" + key) + self.noise * self._unit(b"px:" + pix)
        return (v / np.linalg.norm(v)).astype(np.float32)
