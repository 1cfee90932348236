"""dlib's face-recognition ResNet as an ONNX graph, converted from dlib's own ``.dat`` file.

:func:`build_model` turns the layers read by :func:`~faceaudit.pipeline._dlib_dat.read_network`
into the same computation with standard ONNX operators (opset 17), no other framework:

* input ``chips``: ``(batch, 150, 150, 3)`` uint8 RGB face chips (``dlib.get_face_chip``);
  scaled as dlib's ``input_rgb_image_sized<150>`` does, :math:`x = (p - \\mu_c)/256` with the
  per-channel means stored in the file (122.782, 117.001, 104.298), then NCHW;
* ``con`` → ``Conv`` (dlib correlates, as ONNX does; padding :math:`\\lfloor k/2 \\rfloor` at
  stride 1, 0 otherwise); the ``affine`` that follows each ``con`` (dlib's inference form of
  batch normalisation, :math:`y = \\gamma x + \\beta` per channel) is folded into it,
  :math:`W' = \\gamma W`, :math:`b' = \\gamma b + \\beta` (computed in float64, stored float32);
* ``relu``, ``max_pool``, ``avg_pool`` → ``Relu``, ``MaxPool``, ``AveragePool`` (no padding),
  ``avg_pool_everything`` → ``GlobalAveragePool``;
* ``tag``/``skip``/``add_prev``: ``add_prev`` adds the tagged tensor; when the two differ in
  size dlib's ``tt::add`` takes the larger size in every dimension and treats missing values
  as 0, which is ``Pad`` with zeros at the end of each axis, then ``Add``;
* ``fc_no_bias`` → ``Flatten`` + ``MatMul``; output ``descriptors`` ``(batch, 128)`` float32.

The graph is cached as ``<data home>/models/dlib-resnet-<sha256[:16]>-c<GRAPH_VERSION>.onnx``
(atomic write), keyed by the sha256 of the ``.dat`` file and the converter version; a cached
file whose metadata do not name both is rebuilt.
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import FaceauditError, MissingDependencyError, check_option, check_range, require
from ._detect import Detection
from ._dlib_dat import LoadedLayer, read_network
from ._embed import DLIB_RESNET_SHA256, DlibEmbedder, dlib_dat_path

GRAPH_VERSION = "1"
"""Version of this converter's graph; part of the cache file name and of ``model_id``."""
OPSET = 17
INPUT_NAME = "chips"
OUTPUT_NAME = "descriptors"


class _Graph:
    """Accumulates ONNX nodes and initialisers with unique names."""

    def __init__(self, helper: Any, numpy_helper: Any) -> None:
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.n = 0

    def name(self, stem: str) -> str:
        self.n += 1
        return f"{stem}_{self.n}"

    def const(self, stem: str, value: np.ndarray) -> str:
        name = self.name(stem)
        self.inits.append(self.numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, **attrs: Any) -> str:
        out = self.name(stem or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], **attrs))
        return out


def _conv(g: _Graph, x: str, shape: tuple[int, int, int], con: LoadedLayer,
          affine: LoadedLayer | None) -> tuple[str, tuple[int, int, int]]:
    nf, size, stride = con.layer.args
    w = con.arrays["weight"].astype(np.float64)
    b = con.arrays["bias"].astype(np.float64)
    if affine is not None:
        gamma = affine.arrays["gamma"].astype(np.float64)
        w = w * gamma[:, None, None, None]
        b = b * gamma + affine.arrays["beta"].astype(np.float64)
    pad = size // 2 if stride == 1 else 0
    y = g.op("Conv", [x, g.const("w", w.astype(np.float32)), g.const("b", b.astype(np.float32))],
             kernel_shape=[size, size], strides=[stride, stride], pads=[pad] * 4)
    _, h, wd = shape
    return y, (nf, (h + 2 * pad - size) // stride + 1, (wd + 2 * pad - size) // stride + 1)


def _pool(g: _Graph, x: str, shape: tuple[int, int, int],
          layer: LoadedLayer) -> tuple[str, tuple[int, int, int]]:
    size, stride = layer.layer.args
    c, h, w = shape
    if size == 0:
        if layer.layer.kind != "avg_pool":
            raise ValueError("only avg_pool_everything is supported")  # not in the known net
        return g.op("GlobalAveragePool", [x]), (c, 1, 1)
    op = "MaxPool" if layer.layer.kind == "max_pool" else "AveragePool"
    y = g.op(op, [x], kernel_shape=[size, size], strides=[stride, stride])
    return y, (c, (h - size) // stride + 1, (w - size) // stride + 1)


def _pad_to(g: _Graph, x: str, shape: tuple[int, int, int], target: tuple[int, int, int]) -> str:
    """Zero-pad ``x`` (N, C, H, W) at the end of each axis up to ``target`` (C, H, W)."""
    if shape == target:
        return x
    ends = [0] + [t - s for s, t in zip(shape, target, strict=True)]
    pads = np.array([0, 0, 0, 0, *ends], dtype=np.int64)
    return g.op("Pad", [x, g.const("pads", pads)], mode="constant")


def _input(g: _Graph, layer: LoadedLayer) -> str:
    v = layer.values
    mean = np.array([v["avg_red"], v["avg_green"], v["avg_blue"]], np.float32).reshape(1, 1, 1, 3)
    x = g.op("Cast", [INPUT_NAME], to=1)  # uint8 -> float32
    x = g.op("Sub", [x, g.const("mean", mean)])
    x = g.op("Mul", [x, g.const("scale", np.full((1, 1, 1, 1), 1 / 256, np.float32))])
    return g.op("Transpose", [x], perm=[0, 3, 1, 2])


def _body(g: _Graph, layers: list[LoadedLayer]) -> str:
    """The nodes of every layer after the input; returns the name of the output."""
    x = _input(g, layers[0])
    size = layers[0].layer.args[0]
    shape = (3, size, size)
    tags: dict[int, tuple[str, tuple[int, int, int]]] = {}
    i = 1
    while i < len(layers):
        item = layers[i]
        kind = item.layer.kind
        if kind == "con":
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            affine = nxt if nxt is not None and nxt.layer.kind == "affine" else None
            x, shape = _conv(g, x, shape, item, affine)
            i += 1 if affine is not None else 0
        elif kind == "affine":  # an affine not after a con (not in the known network)
            c = shape[0]
            x = g.op("Mul", [x, g.const("gamma", item.arrays["gamma"].reshape(1, c, 1, 1))])
            x = g.op("Add", [x, g.const("beta", item.arrays["beta"].reshape(1, c, 1, 1))])
        elif kind == "relu":
            x = g.op("Relu", [x])
        elif kind in ("max_pool", "avg_pool"):
            x, shape = _pool(g, x, shape, item)
        elif kind == "tag":
            tags[item.layer.args[0]] = (x, shape)
        elif kind == "skip":
            x, shape = tags[item.layer.args[0]]
        elif kind == "add_prev":
            other, oshape = tags[item.layer.args[0]]
            target = tuple(max(a, b) for a, b in zip(shape, oshape, strict=True))
            x = g.op("Add", [_pad_to(g, x, shape, target),  # type: ignore[arg-type]
                             _pad_to(g, other, oshape, target)])  # type: ignore[arg-type]
            shape = target  # type: ignore[assignment]
        elif kind == "fc":
            x = g.op("Flatten", [x], axis=1)
            x = g.op("MatMul", [x, g.const("fc", item.arrays["weight"])])
            shape = (item.layer.args[0], 1, 1)
        elif kind != "loss":
            raise ValueError(f"no ONNX form for dlib layer {kind!r}")  # pragma: no cover
        i += 1
    return x


def build_model(layers: list[LoadedLayer], dat_sha256: str) -> Any:
    """The ``onnx.ModelProto`` of the network ``layers`` (see the module docstring)."""
    onnx = require("onnx", "models")
    from onnx import TensorProto, helper, numpy_helper

    g = _Graph(helper, numpy_helper)
    out = _body(g, layers)
    g.nodes.append(helper.make_node("Identity", [out], [OUTPUT_NAME]))
    size = layers[0].layer.args[0]
    n_out = next(la.layer.args[0] for la in reversed(layers) if la.layer.kind == "fc")
    graph = helper.make_graph(
        g.nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["batch", size, size, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", n_out])],
        g.inits)
    model = helper.make_model(graph, producer_name="faceaudit",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    helper.set_model_props(model, {"dlib_dat_sha256": dat_sha256,
                                   "faceaudit_graph_version": GRAPH_VERSION})
    onnx.checker.check_model(model)  # type: ignore[attr-defined]
    return model


def convert(dat_path: str | Path, dat_sha256: str) -> bytes:
    """The serialised ONNX graph of the dlib network file ``dat_path`` (whose sha256 is given)."""
    return build_model(read_network(dat_path), dat_sha256).SerializeToString()  # type: ignore[no-any-return]


def models_dir() -> Path:
    """Where converted graphs are cached: ``<data home>/models`` (see ``data_home``)."""
    from ..datasets import data_home

    return data_home() / "models"


def cached_graph_path(dat_sha256: str, directory: Path | None = None) -> Path:
    return (directory or models_dir()) / f"dlib-resnet-{dat_sha256[:16]}-c{GRAPH_VERSION}.onnx"


def _cached_ok(path: Path, dat_sha256: str) -> bool:
    """True if ``path`` is a graph this converter version built from the same ``.dat``."""
    onnx = require("onnx", "models")
    try:
        model = onnx.load(str(path), load_external_data=False)  # type: ignore[attr-defined]
    except Exception:  # a truncated or foreign file: rebuild it
        return False
    props = {p.key: p.value for p in model.metadata_props}
    return (props.get("dlib_dat_sha256") == dat_sha256
            and props.get("faceaudit_graph_version") == GRAPH_VERSION)


def dlib_graph(dat_path: str | Path, dat_sha256: str, directory: Path | None = None) -> bytes:
    """The ONNX graph of ``dat_path``, from the cache or converted (and then cached).

    The cache is written atomically (:func:`faceaudit._io.atomic_write`); when the folder
    cannot be written the graph is converted in memory on every call, which costs ~0.5 s.
    """
    from .._io import atomic_write

    path = cached_graph_path(dat_sha256, directory)
    if path.is_file() and _cached_ok(path, dat_sha256):
        return path.read_bytes()
    data = convert(dat_path, dat_sha256)
    with contextlib.suppress(OSError):
        with atomic_write(path) as fh:
            fh.write(data)
    return data


# ---------------------------------------------------------------------------- embedder
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
"""onnxruntime execution provider of each ``device``."""


class DlibOnnxEmbedder(DlibEmbedder):
    """dlib's ResNet face descriptor, with the network run by onnxruntime (``--model dlib``).

    Landmarks and chips are dlib's own (:class:`DlibEmbedder`); the 150×150 chip goes
    through the graph :func:`dlib_graph` converts from the same ``.dat`` file instead of
    ``dlib.face_recognition_model_v1``. The descriptors equal dlib's up to float32 rounding
    (the order of the sums differs; measured max \\|Δ\\| in ``model_card("dlib")``), but the
    ``model_id`` differs from :class:`DlibEmbedder`'s (suffix ``:rt=onnx-<device>-c<version>``),
    so a template store never mixes vectors of the two runtimes.

    Parameters
    ----------
    padding, sp_box
        As :class:`DlibEmbedder` (the chip is 150 px and there is no jitter: the network
        input is fixed, and dlib's jitter is only in ``dlib-reference``).
    device : {"cpu", "cuda"}
        ``"cuda"`` needs ``onnxruntime-gpu`` and a CUDA device (``CUDAExecutionProvider``).
    threads : int
        onnxruntime intra-op threads (the runner sets it to cores ÷ workers).
    """

    def __init__(self, *, padding: float = 0.25, sp_box: str = "landmarks",
                 device: str = "cpu", threads: int = 1) -> None:
        super().__init__(num_jitters=0, chip_size=150, padding=padding, sp_box=sp_box)
        check_option("device", device, tuple(PROVIDERS))
        check_range("threads", threads, low=1, high=256)
        self.device = device
        self.threads = int(threads)
        self._sess: object | None = None

    def __getstate__(self) -> dict[str, object]:
        d = super().__getstate__()
        d["_sess"] = None
        return d

    def __repr__(self) -> str:
        return (f"DlibOnnxEmbedder(padding={self.padding:g}, sp_box={self.sp_box!r}, "
                f"device={self.device!r})")

    @property
    def model_id(self) -> str:
        return f"{super().model_id}:rt=onnx-{self.device}-c{GRAPH_VERSION}"

    def with_threads(self, threads: int) -> DlibOnnxEmbedder:
        """A copy that runs the network on ``threads`` intra-op threads (same ``model_id``)."""
        other = copy.copy(self)
        check_range("threads", threads, low=1, high=256)
        other.threads = int(threads)
        other._sess = None
        return other

    def prepare(self) -> bytes:
        """Check the model files and the device, and convert (or read) the cached graph.

        The runner calls it once before starting workers, so they find the graph cached.
        """
        ort = require("onnxruntime", "models")
        _ = self.model_id  # verifies both checksums
        provider = PROVIDERS[self.device]
        if provider not in ort.get_available_providers():
            raise MissingDependencyError(
                f"device={self.device!r} needs onnxruntime's {provider}, which this "
                f"onnxruntime does not have (it has {ort.get_available_providers()}); "
                "install onnxruntime-gpu and use a machine with a CUDA device, or use the "
                "CPU ('--model dlib')")
        return dlib_graph(dlib_dat_path(), DLIB_RESNET_SHA256)

    def _session(self) -> object:
        if self._sess is None:
            ort = require("onnxruntime", "models")
            graph = self.prepare()
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            self._sess = ort.InferenceSession(graph, opts, providers=[PROVIDERS[self.device]])
        return self._sess

    def embed_faces(self, faces: list[tuple[np.ndarray, Detection]],
                    ) -> list[np.ndarray | Exception]:
        """One descriptor (or the exception that prevented it) per ``(image, detection)``; the
        chips go through the network as one batch."""
        out: list[np.ndarray | Exception | None] = []
        chips: list[np.ndarray] = []
        where: list[int] = []
        for image, det in faces:
            try:
                chips.append(self.face_chip(image, det))
                where.append(len(out))
                out.append(None)
            except FaceauditError:
                raise
            except Exception as exc:
                out.append(exc)
        if chips:
            for k, v in zip(where, self.embed_chips(np.stack(chips)), strict=True):
                out[k] = v
        return out  # type: ignore[return-value]

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors ``(n, 128)`` float32 of ``n`` chips ``(n, 150, 150, 3)`` uint8 RGB."""
        x = np.ascontiguousarray(chips, dtype=np.uint8)
        if x.ndim != 4 or x.shape[1:] != (150, 150, 3):
            raise ValueError(f"chips must be (n, 150, 150, 3) uint8; got {x.shape}")
        sess = self._session()
        return np.asarray(sess.run(None, {INPUT_NAME: x})[0], np.float32)  # type: ignore[attr-defined]

    def embed_chip(self, chip: np.ndarray) -> np.ndarray:
        return self.embed_chips(chip[None])[0]

    def face_chip(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """The 150×150 RGB chip of the face (dlib landmarks + ``get_face_chip``)."""
        image = np.ascontiguousarray(image, dtype=np.uint8)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"the image must be RGB (height, width, 3); got {image.shape}")
        return np.asarray(self.chip(image, self.landmarks(image, detection)), np.uint8)

    def _recogniser(self, dlib: Any) -> object:
        return None  # the network runs in onnxruntime; only the shape predictor is loaded
