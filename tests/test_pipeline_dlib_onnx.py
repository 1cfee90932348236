"""dlib's ResNet converted to ONNX: the reader of dlib's .dat format, the graph, the cache, and
equality with dlib's own network on real LFW chips."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from faceaudit import InputError, MissingDependencyError
from faceaudit.pipeline import (
    CenterFaceDetector,
    DlibEmbedder,
    DlibOnnxEmbedder,
    decode_image,
    make_embedder,
)
from faceaudit.pipeline import _dlib_onnx as conv
from faceaudit.pipeline._dlib_dat import RESNET_V1_LAYERS, Layer, read_network
from faceaudit.pipeline._embed import DLIB_RESNET_SHA256, dlib_dat_path

pytestmark = pytest.mark.skipif(importlib.util.find_spec("face_recognition_models") is None
                                or importlib.util.find_spec("onnxruntime") is None,
                                reason="face-recognition-models / onnxruntime not installed")

LFW_FACES = ("AJ_Cook/AJ_Cook_0001.jpg", "Serena_Williams/Serena_Williams_0003.jpg",
             "Kofi_Annan/Kofi_Annan_0002.jpg", "Gloria_Macapagal_Arroyo/"
             "Gloria_Macapagal_Arroyo_0004.jpg", "Hugo_Chavez/Hugo_Chavez_0001.jpg",
             "Vladimir_Putin/Vladimir_Putin_0003.jpg")


@pytest.fixture(scope="module")
def dat() -> Path:
    return dlib_dat_path()


@pytest.fixture(scope="module")
def dat_bytes(dat) -> bytes:
    return dat.read_bytes()


@pytest.fixture(scope="module")
def layers(dat):
    return read_network(dat)


@pytest.fixture(scope="module")
def dlib_rec(dat):
    dlib = pytest.importorskip("dlib")
    return dlib.face_recognition_model_v1(str(dat))


@pytest.fixture(scope="module")
def onnx_emb(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("FACEAUDIT_DATA_DIR", str(tmp_path_factory.mktemp("home")))
    return DlibOnnxEmbedder()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


# ---------------------------------------------------------------------------- reader
def test_reader_finds_dlib_resnet29(layers):
    kinds = [la.layer.kind for la in layers]
    # dnn_face_recognition_ex.cpp: 29 con, each followed by affine; 14 residual additions
    assert kinds.count("con") == 29 and kinds.count("affine") == 29
    assert kinds.count("relu") == 29 and kinds.count("add_prev") == 14
    assert kinds.count("avg_pool") == 5 and kinds.count("max_pool") == 1
    assert kinds[0] == "input" and kinds[-3:] == ["avg_pool", "fc", "loss"]
    # the values dlib's input_rgb_image_sized stores (and its ex.cpp prints)
    means = layers[0].values
    assert means["avg_red"] == pytest.approx(122.782, abs=1e-4)
    assert means["avg_green"] == pytest.approx(117.001, abs=1e-4)
    assert means["avg_blue"] == pytest.approx(104.298, abs=1e-4)
    assert layers[-1].values["dist_thresh"] == pytest.approx(0.6, abs=1e-7)
    assert layers[1].arrays["weight"].shape == (32, 3, 7, 7)
    assert layers[-2].arrays["weight"].shape == (256, 128)
    n_params = sum(a.size for la in layers for a in la.arrays.values())
    # 4 bytes per parameter + the format's overhead (a few kB): the file is 22,466,066 bytes
    assert 22_466_066 - 20_000 < 4 * n_params < 22_466_066


def _corrupt(tmp_path: Path, data: bytes, old: bytes, new: bytes, nth: int = 0) -> Path:
    pos = -1
    for _ in range(nth + 1):
        pos = data.index(old, pos + 1)
    out = tmp_path / "bad.dat"
    out.write_bytes(data[:pos] + new + data[pos + len(old):])
    return out


def test_reader_refuses_other_layer_names(tmp_path, dat_bytes):
    bad = _corrupt(tmp_path, dat_bytes, b"\x01\x05relu_", b"\x01\x05relX_", nth=3)
    with pytest.raises(InputError, match=r"layer 'relX_' where the network has 'relu_'.*"
                                         r"at byte [\d,]+, layer \d+ \(relu\) from the input"):
        read_network(bad)


def test_reader_refuses_truncated_and_trailing_bytes(tmp_path, dat_bytes):
    short = tmp_path / "short.dat"
    short.write_bytes(dat_bytes[:-10])
    with pytest.raises(InputError, match=r"the file ends early \(it has 22,466,056 bytes\)"):
        read_network(short)
    long = tmp_path / "long.dat"
    long.write_bytes(dat_bytes + b"\x00")
    with pytest.raises(InputError, match="1 unexpected bytes after the network"):
        read_network(long)


def test_reader_refuses_another_architecture(dat):
    # one residual block fewer than the file holds: the sequence does not match, refused
    drop = [i for i, la in enumerate(RESNET_V1_LAYERS) if la == Layer("tag", (1,))][1]
    fewer = RESNET_V1_LAYERS[:drop] + RESNET_V1_LAYERS[drop + 8:]
    with pytest.raises(InputError, match="not a dlib_face_recognition_resnet_model_v1"):
        read_network(dat, fewer)
    wider = tuple(Layer("con", (64, 7, 2)) if la == Layer("con", (32, 7, 2)) else la
                  for la in RESNET_V1_LAYERS)
    with pytest.raises(InputError, match="num_filters is 32, expected 64"):
        read_network(dat, wider)


# ---------------------------------------------------------------------------- graph + cache
def test_graph_cached_by_sha_and_rebuilt_when_stale(tmp_path, dat, monkeypatch):
    first = conv.dlib_graph(dat, DLIB_RESNET_SHA256, tmp_path)
    path = conv.cached_graph_path(DLIB_RESNET_SHA256, tmp_path)
    assert path.name == f"dlib-resnet-{DLIB_RESNET_SHA256[:16]}-c{conv.GRAPH_VERSION}.onnx"
    assert path.read_bytes() == first
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind

    def no_convert(*a, **k):
        raise AssertionError("converted again although cached")

    monkeypatch.setattr(conv, "convert", no_convert)
    assert conv.dlib_graph(dat, DLIB_RESNET_SHA256, tmp_path) == first
    monkeypatch.undo()
    path.write_bytes(first[: len(first) // 2])  # a torn or foreign file is rebuilt
    assert conv.dlib_graph(dat, DLIB_RESNET_SHA256, tmp_path) == first
    other = conv.dlib_graph(dat, "f" * 64, tmp_path)  # another .dat digest: its own file
    assert other != first and conv.cached_graph_path("f" * 64, tmp_path).is_file()


def test_conversion_is_reproducible(tmp_path, dat):
    a = conv.convert(dat, DLIB_RESNET_SHA256)
    assert a == conv.convert(dat, DLIB_RESNET_SHA256)


def test_random_chips_match_dlib(onnx_emb, dlib_rec):
    x = np.random.default_rng(3).integers(0, 256, (4, 150, 150, 3), dtype=np.uint8)
    ref = np.array([dlib_rec.compute_face_descriptor(c, 0) for c in x], np.float32)
    got = onnx_emb.embed_chips(x)
    assert got.shape == (4, 128) and got.dtype == np.float32
    assert np.abs(got - ref).max() <= 1e-5


def test_real_lfw_chips_match_dlib(lfw_dir, onnx_emb, dlib_rec):
    """The CI check of the issue: real chips, dlib's network vs the ONNX graph, max |Δ| ≤ 1e-5
    (the 2,000-chip measurement is benchmarks/dlib_onnx_equality.py)."""
    det = CenterFaceDetector()
    faces = []
    for rel in LFW_FACES:
        img = decode_image(lfw_dir / "lfw-deepfunneled" / rel).pixels
        faces.append((img, det.detect(img)[0]))
    chips = np.stack([onnx_emb.face_chip(img, d) for img, d in faces])
    ref = np.array([dlib_rec.compute_face_descriptor(c, 0) for c in chips], np.float32)
    got = onnx_emb.embed_faces(faces)
    assert np.abs(np.stack(got) - ref).max() <= 1e-5
    # batched and one at a time, on 1 or 2 threads, give the same bits (so a store's vectors
    # do not depend on the number of workers or the chunk size)
    one = np.stack([onnx_emb.embed(img, d) for img, d in faces])
    np.testing.assert_array_equal(one, np.stack(got))
    np.testing.assert_array_equal(one, onnx_emb.with_threads(2).embed_chips(chips))
    # and the whole reference embedder (dlib's landmarks, chip and network) agrees
    reference = DlibEmbedder()
    ref_full = np.stack([reference.embed(img, d) for img, d in faces])
    assert np.abs(ref_full - one).max() <= 1e-5
    # a face whose chip cannot be made fails alone, the others are embedded
    mixed = onnx_emb.embed_faces([faces[0], (np.zeros((5, 5), np.uint8), faces[1][1]), faces[2]])
    assert isinstance(mixed[1], Exception)
    np.testing.assert_array_equal(np.stack([mixed[0], mixed[2]]), one[[0, 2]])


# ---------------------------------------------------------------------------- registry
def test_model_names_and_ids_keep_runtimes_apart():
    onnx, ref, cuda = (make_embedder(n) for n in ("dlib", "dlib-reference", "dlib-cuda"))
    assert isinstance(onnx, DlibOnnxEmbedder) and onnx.device == "cpu"
    assert type(ref) is DlibEmbedder
    assert isinstance(cuda, DlibOnnxEmbedder) and cuda.device == "cuda"
    ids = {onnx.model_id, ref.model_id, cuda.model_id}
    assert len(ids) == 3
    assert onnx.model_id == ref.model_id + f":rt=onnx-cpu-c{conv.GRAPH_VERSION}"
    assert onnx.similarity == ref.similarity and onnx.default_threshold == -0.6
    assert onnx.with_threads(3).threads == 3 and onnx.threads == 1
    assert onnx.with_threads(3).model_id == onnx.model_id


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="no onnxruntime")
def test_cuda_device_needs_the_cuda_provider():
    import onnxruntime as ort

    emb = DlibOnnxEmbedder(device="cuda")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(MissingDependencyError, match="onnxruntime-gpu"):
            emb.prepare()
        pytest.skip("no CUDAExecutionProvider here: the GPU run itself is not tested")
    x = np.random.default_rng(4).integers(0, 256, (2, 150, 150, 3), dtype=np.uint8)
    cpu = DlibOnnxEmbedder().embed_chips(x)
    assert np.abs(emb.embed_chips(x) - cpu).max() <= 1e-4
