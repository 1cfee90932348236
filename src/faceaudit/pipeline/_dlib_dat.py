"""A reader of dlib's serialisation of ``dlib_face_recognition_resnet_model_v1.dat``.

dlib writes a network with its own binary format (``dlib/serialize.h``, ``dlib/dnn/core.h``,
``dlib/dnn/layers.h``, ``dlib/dnn/input.h``, ``dlib/dnn/loss.h``, ``dlib/dnn/tensor.h``):

* an integer is one control byte (low 4 bits: number of magnitude bytes, ``0x80``: negative,
  bits ``0x70`` zero) followed by that many little-endian magnitude bytes;
* a ``float``/``double`` is an integer mantissa and an integer exponent,
  :math:`x = m \\cdot 2^{e}` (exponents 32000/32001/32002 encode +inf/-inf/NaN);
* a string is its length (integer) then its bytes; a ``bool`` is the character ``'1'``/``'0'``;
* a tensor is version 2, ``num_samples, k, nr, nc`` and the values as float32 little-endian;
  an ``alias_tensor`` is version 1 and the four sizes only.

A network is nested templates: ``add_loss_layer`` (version 1, loss details, subnet) around
``add_layer`` (version 1–2: subnet, layer details, three bools, ``x_grad``, ``cached_output``
and, from version 2, ``params_grad``), ``add_tag_layer``/``add_skip_layer`` (version 1,
subnet) and, at the bottom, the ``add_layer`` that holds the input layer (version 2–3: input
layer, details, bools, three tensors and, from version 3, the sample expansion factor).
Tags, skips and the tag an ``add_prev`` adds are NOT written to the file: the type of the
network is. So the reader is given the expected layer sequence (:data:`RESNET_V1_LAYERS`) and
checks every version, layer name and size against it; anything else is refused with an
:class:`~faceaudit.InputError` naming the byte offset and layer, never guessed.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import InputError

_SPECIAL_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}


@dataclass(frozen=True)
class Layer:
    """One layer of a dlib network, from the input up.

    ``kind`` is one of ``input`` (``input_rgb_image_sized``), ``con``, ``affine``, ``relu``,
    ``max_pool``, ``avg_pool``, ``add_prev``, ``tag``, ``skip``, ``fc`` (no bias), ``loss``
    (``loss_metric``). ``args`` are the template arguments: ``input (size,)``; ``con
    (num_filters, size, stride)``; ``max_pool``/``avg_pool (size, stride)`` (size 0: the whole
    image); ``add_prev``/``tag``/``skip (tag id,)``; ``fc (num_outputs,)``.
    """

    kind: str
    args: tuple[int, ...] = ()


@dataclass
class LoadedLayer:
    """A :class:`Layer` with what the file holds for it (weights as float32 arrays)."""

    layer: Layer
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)


def _ares(n: int, down: bool) -> list[Layer]:
    """dnn_face_recognition_ex.cpp's ``ares<N>`` / ``ares_down<N>`` (a residual block)."""
    stride = 2 if down else 1
    block = [Layer("con", (n, 3, stride)), Layer("affine"), Layer("relu"),
             Layer("con", (n, 3, 1)), Layer("affine")]
    if down:  # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<S>>>>>>>
        tail = [Layer("tag", (2,)), Layer("skip", (1,)), Layer("avg_pool", (2, 2)),
                Layer("add_prev", (2,))]
    else:  # relu<add_prev1<block<N,affine,1,tag1<S>>>>
        tail = [Layer("add_prev", (1,))]
    return [Layer("tag", (1,)), *block, *tail, Layer("relu")]


def _resnet_v1() -> tuple[Layer, ...]:
    """The ``anet_type`` of dlib's ``dnn_face_recognition_ex.cpp``, from the input up."""
    layers = [Layer("input", (150,)), Layer("con", (32, 7, 2)), Layer("affine"), Layer("relu"),
              Layer("max_pool", (3, 2))]
    # alevel4 .. alevel0: (filters, number of plain blocks after the down-sampling one)
    for n, down, plain in ((32, False, 3), (64, True, 3), (128, True, 2), (256, True, 2),
                           (256, True, 0)):
        if down:
            layers += _ares(n, True)
        for _ in range(plain):
            layers += _ares(n, False)
    layers += [Layer("avg_pool", (0, 1)), Layer("fc", (128,)), Layer("loss")]
    return tuple(layers)


RESNET_V1_LAYERS = _resnet_v1()
"""The layer sequence of ``dlib_face_recognition_resnet_model_v1.dat`` (input first)."""

_NAMES = {"con": "con_4", "affine": "affine_", "relu": "relu_", "max_pool": "max_pool_2",
          "avg_pool": "avg_pool_2", "add_prev": "add_prev_", "fc": "fc_2",
          "input": "input_rgb_image_sized", "loss": "loss_metric_2"}


class _Reader:
    """Sequential reader of dlib's primitives over the bytes of one file."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.pos = 0
        self.source = source
        self.where = "the file header"

    def fail(self, what: str) -> InputError:
        return InputError(
            f"{self.source}: not a dlib_face_recognition_resnet_model_v1 network this converter "
            f"knows: {what} (at byte {self.pos:,}, {self.where}). Use the file shipped by "
            "face-recognition-models 0.3.0, or --model dlib-reference to run it with dlib")

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail(f"the file ends early (it has {len(self.data):,} bytes)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        ctrl = self.take(1)[0]
        size = ctrl & 0x0F
        if ctrl & 0x70 or size > 8:
            raise self.fail(f"invalid integer control byte 0x{ctrl:02x}")
        value = int.from_bytes(self.take(size), "little")
        return -value if ctrl & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if exponent in _SPECIAL_EXPONENTS:
            return _SPECIAL_EXPONENTS[exponent]
        return math.ldexp(mantissa, exponent)

    def string(self) -> str:
        n = self.int()
        if not 0 <= n <= 256:
            raise self.fail(f"a string of implausible length {n}")
        return self.take(n).decode("latin-1")

    def bool(self) -> bool:
        c = self.take(1)
        if c not in (b"0", b"1"):
            raise self.fail(f"a bool byte {c!r} (expected '0' or '1')")
        return c == b"1"

    def version(self, allowed: tuple[int, ...], what: str) -> int:
        v = self.int()
        if v not in allowed:
            raise self.fail(f"{what} version {v} (this reader knows {allowed})")
        return v

    def name(self, expected: str) -> None:
        got = self.string()
        if got != expected:
            raise self.fail(f"layer {got!r} where the network has {expected!r}")

    def shape(self) -> tuple[int, int, int, int]:
        return (self.int(), self.int(), self.int(), self.int())

    def tensor(self) -> np.ndarray:
        self.version((2,), "tensor")
        shape = self.shape()
        if min(shape) < 0:
            raise self.fail(f"a tensor of shape {shape}")
        n = int(np.prod(shape, dtype=np.int64))
        return np.frombuffer(self.take(4 * n), dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        self.version((1,), "alias_tensor")
        return self.shape()

    def expect(self, what: str, got: object, want: object) -> None:
        if got != want:
            raise self.fail(f"{what} is {got}, expected {want}")


def _read_con(r: _Reader, layer: Layer, channels: int) -> tuple[LoadedLayer, int]:
    nf, size, stride = layer.args
    r.name("con_4")
    params = r.tensor().reshape(-1)
    r.expect("num_filters", r.int(), nf)
    r.expect("filter size", (r.int(), r.int()), (size, size))
    r.expect("stride", (r.int(), r.int()), (stride, stride))
    pad = 0 if stride != 1 else size // 2
    r.expect("padding", (r.int(), r.int()), (pad, pad))
    r.expect("filters shape", r.alias(), (nf, channels, size, size))
    r.expect("biases shape", r.alias(), (1, nf, 1, 1))
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.float()
    n_w = nf * channels * size * size
    r.expect("parameter count", params.size, n_w + nf)
    w = params[:n_w].reshape(nf, channels, size, size)
    return LoadedLayer(layer, {"weight": w, "bias": params[n_w:].copy()}), nf


def _read_affine(r: _Reader, layer: Layer, channels: int) -> LoadedLayer:
    r.name("affine_")
    params = r.tensor().reshape(-1)
    r.expect("gamma shape", r.alias(), (1, channels, 1, 1))
    r.expect("beta shape", r.alias(), (1, channels, 1, 1))
    r.expect("affine mode (0 = CONV_MODE)", r.int(), 0)
    r.expect("parameter count", params.size, 2 * channels)
    return LoadedLayer(layer, {"gamma": params[:channels].copy(), "beta": params[channels:].copy()})


def _read_pool(r: _Reader, layer: Layer) -> LoadedLayer:
    size, stride = layer.args
    r.name(_NAMES[layer.kind])
    r.expect("window", (r.int(), r.int()), (size, size))
    r.expect("stride", (r.int(), r.int()), (stride, stride))
    pad = 0 if stride != 1 else size // 2
    r.expect("padding", (r.int(), r.int()), (pad, pad))
    return LoadedLayer(layer)


def _read_fc(r: _Reader, layer: Layer, channels: int) -> LoadedLayer:
    (n_out,) = layer.args
    r.name("fc_2")
    r.expect("num_outputs", r.int(), n_out)
    r.expect("num_inputs", r.int(), channels)
    params = r.tensor().reshape(-1)
    r.expect("weights shape", r.alias(), (channels, n_out, 1, 1))
    r.alias()  # biases (unused without a bias)
    r.expect("bias mode (1 = FC_NO_BIAS)", r.int(), 1)
    for _ in range(4):
        r.float()
    r.expect("parameter count", params.size, channels * n_out)
    return LoadedLayer(layer, {"weight": params.reshape(channels, n_out)})


def _read_input(r: _Reader, layer: Layer) -> LoadedLayer:
    r.name("input_rgb_image_sized")
    means = {c: r.float() for c in ("avg_red", "avg_green", "avg_blue")}
    r.expect("input size", (r.int(), r.int()), (layer.args[0], layer.args[0]))
    return LoadedLayer(layer, values=means)


def _read_details(r: _Reader, layer: Layer, channels: int) -> tuple[LoadedLayer, int]:
    """The details of one computational layer; also returns its output channel count."""
    if layer.kind == "con":
        return _read_con(r, layer, channels)
    if layer.kind == "affine":
        return _read_affine(r, layer, channels), channels
    if layer.kind in ("relu", "add_prev"):
        r.name(_NAMES[layer.kind])
        return LoadedLayer(layer), channels
    if layer.kind in ("max_pool", "avg_pool"):
        return _read_pool(r, layer), channels
    if layer.kind == "fc":
        return _read_fc(r, layer, channels), layer.args[0]
    raise r.fail(f"no reader for layer kind {layer.kind!r}")  # pragma: no cover


def _read_trailer(r: _Reader, version: int, *, input_layer: bool) -> None:
    """What ``add_layer`` writes after its details (training state, ignored)."""
    for _ in range(3):
        r.bool()
    n_tensors = 3 if input_layer or version >= 2 else 2
    for _ in range(n_tensors):
        r.tensor()
    if input_layer and version >= 3:
        r.int()  # sample expansion factor


def read_network(path: str | Path,
                 layers: tuple[Layer, ...] = RESNET_V1_LAYERS) -> list[LoadedLayer]:
    """Read a dlib network file whose type is ``layers`` (input first; the last is the loss).

    Returns the layers below the loss, input first, with their weights. Raises
    :class:`~faceaudit.InputError` (naming the byte offset and the layer) when the file does
    not hold exactly that network, including trailing bytes.
    """
    r = _Reader(Path(path).read_bytes(), str(path))
    if layers[-1].kind != "loss" or layers[0].kind != "input":
        raise ValueError("layers must start with an input layer and end with a loss")
    r.where = "the loss layer"
    r.version((1,), "add_loss_layer")
    r.name("loss_metric_2")
    loss = LoadedLayer(layers[-1], values={"margin": r.float(), "dist_thresh": r.float()})
    body = layers[1:-1]
    versions: list[int] = []
    for i in range(len(body) - 1, -1, -1):  # headers, from the top of the network down
        r.where = f"layer {i + 1} ({body[i].kind}) from the input"
        wrapper = (1,) if body[i].kind in ("tag", "skip") else (2, 3) if i == 0 else (1, 2)
        versions.append(r.version(wrapper, f"{body[i].kind} wrapper"))
    versions.reverse()
    r.where = "the input layer"
    out = [_read_input(r, layers[0])]
    channels = 3
    for i, layer in enumerate(body):  # details, from the input up
        r.where = f"layer {i + 1} ({layer.kind}) from the input"
        if layer.kind in ("tag", "skip"):
            out.append(LoadedLayer(layer))
            continue
        loaded, channels = _read_details(r, layer, channels)
        out.append(loaded)
        _read_trailer(r, versions[i], input_layer=i == 0)
    if r.pos != len(r.data):
        r.where = "the end of the network"
        raise r.fail(f"{len(r.data) - r.pos:,} unexpected bytes after the network")
    out.append(loss)
    return out


def pack_float(x: float) -> bytes:
    """dlib's encoding of a float (for tests): integer mantissa and exponent."""
    m, e = math.frexp(x)
    mant, exp = int(m * (1 << 53)), e - 53
    while mant and mant % 2 == 0:
        mant //= 2
        exp += 1
    return pack_int(mant) + pack_int(exp)


def pack_int(v: int) -> bytes:
    """dlib's encoding of an integer (for tests)."""
    mag = abs(v)
    body = mag.to_bytes(max(1, (mag.bit_length() + 7) // 8), "little")
    return struct.pack("B", len(body) | (0x80 if v < 0 else 0)) + body
