"""Alignment (Umeyama + Pillow affine warp) and the ONNX embedder's plumbing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceaudit import ConfigError, InputError
from faceaudit.pipeline import (
    ARCFACE_REF,
    Detection,
    OnnxEmbedder,
    align_arcface,
    umeyama,
    warp_similarity,
)


def _similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    m = np.eye(3)
    m[:2, :2] = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m[:2, 2] = (tx, ty)
    return m


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:2, :2].T + m[:2, 2]


def test_umeyama_recovers_exact_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, (5, 2))
    true = _similarity(30.0, 1.7, -12.5, 40.0)
    est = umeyama(src, _apply(true, src))
    np.testing.assert_allclose(est, true, atol=1e-9)


def test_umeyama_never_reflects():
    src = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 5.0]])
    dst = src * np.array([-1.0, 1.0])  # a mirror image: best similarity is a rotation, no flip
    est = umeyama(src, dst)
    assert np.linalg.det(est[:2, :2]) > 0


def test_umeyama_least_squares_on_noisy_points():
    # Hand-checked case: dst = 2*src + (1, 1) exactly except for symmetric noise
    src = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    dst = 2 * src + 1
    est = umeyama(src, dst)
    np.testing.assert_allclose(est[:2, :2], 2 * np.eye(2), atol=1e-12)
    np.testing.assert_allclose(est[:2, 2], [1.0, 1.0], atol=1e-12)


def test_umeyama_degenerate_points():
    with pytest.raises(ConfigError, match="coincide"):
        umeyama(np.ones((5, 2)), ARCFACE_REF)
    with pytest.raises(ConfigError, match="landmarks must be"):
        umeyama(np.ones((5, 3)), np.ones((5, 3)))


def _blobs(shape: tuple[int, int], centres: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    img = np.zeros(shape)
    for x, y in centres:
        img += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def _centroid(gray: np.ndarray, near: np.ndarray, radius: int = 6) -> np.ndarray:
    x0, y0 = np.round(near).astype(int)
    win = gray[y0 - radius:y0 + radius + 1, x0 - radius:x0 + radius + 1].astype(np.float64)
    yy, xx = np.mgrid[y0 - radius:y0 + radius + 1, x0 - radius:x0 + radius + 1]
    w = win / win.sum()
    return np.array([(w * xx).sum(), (w * yy).sum()])


def test_align_puts_landmarks_on_arcface_reference():
    # A "face" rotated by 20°, scaled ×2 and shifted in a 320×300 image: 5 bright blobs
    true = _similarity(20.0, 2.0, 80.0, 10.0)
    lms = _apply(true, ARCFACE_REF)
    assert (lms > 20).all() and (lms[:, 0] < 300).all() and (lms[:, 1] < 280).all()
    gray = _blobs((300, 320), lms, sigma=3.0)
    img = np.repeat(gray[:, :, None], 3, axis=2)
    crop = align_arcface(img, lms, 112)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    for k, ref in enumerate(ARCFACE_REF):
        c = _centroid(crop[:, :, 0], ref)
        assert np.linalg.norm(c - ref) < 0.35, (k, c, ref)


def test_warp_identity_is_exact():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    np.testing.assert_array_equal(warp_similarity(img, np.eye(3), (112, 112)), img)
    np.testing.assert_array_equal(align_arcface(img, ARCFACE_REF, 112), img)


def test_warp_integer_shift():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    out = warp_similarity(img, _similarity(0.0, 1.0, -3.0, -2.0), (20, 10))
    np.testing.assert_array_equal(out, img[2:12, 3:23])


# ---------------------------------------------------------------------------- ONNX embedder
def _linear_model(path: Path, size: int, dim: int, seed: int = 0) -> np.ndarray:
    """ONNX graph: input (1,3,S,S) -> Flatten -> MatMul W (3*S*S, dim) -> output (1, dim)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(seed).standard_normal((3 * size * size, dim)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["data"], ["flat"], axis=1),
         helper.make_node("MatMul", ["flat", "W"], ["embedding"])],
        "linear",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, dim])],
        [numpy_helper.from_array(w, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return w


@pytest.fixture(scope="module")
def linear_onnx(tmp_path_factory) -> tuple[Path, np.ndarray]:
    p = tmp_path_factory.mktemp("onnx") / "linear.onnx"
    return p, _linear_model(p, 112, 8)


def test_onnx_embedder_plumbing(linear_onnx):
    path, w = linear_onnx
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    det = Detection((0.0, 0.0, 111.0, 111.0), 1.0, ARCFACE_REF.astype(np.float32))
    emb = OnnxEmbedder(path)
    assert emb.dim == 8 and emb.needs_landmarks and emb.similarity == "cosine"
    v = emb.embed(img, det)
    crop = align_arcface(img, det.landmarks, 112)  # float32 landmarks: identity up to ~1e-6 px
    assert np.abs(crop.astype(int) - img).max() <= 1
    x = ((crop.astype(np.float64) - 127.5) / 127.5).transpose(2, 0, 1).reshape(-1)
    np.testing.assert_allclose(v, x @ w.astype(np.float64), rtol=1e-4, atol=1e-3)
    assert v.dtype == np.float32 and v.shape == (8,)


def test_onnx_embedder_bgr_and_normalisation(linear_onnx):
    path, w = linear_onnx
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    emb = OnnxEmbedder(path, mean=0.0, std=255.0, channel_order="BGR")
    v = emb.embed_crop(img)
    x = (img[:, :, ::-1].astype(np.float64) / 255.0).transpose(2, 0, 1).reshape(-1)
    np.testing.assert_allclose(v, x @ w.astype(np.float64), rtol=1e-4, atol=1e-3)


def test_onnx_embedder_aligns_before_embedding(linear_onnx):
    path, _ = linear_onnx
    rng = np.random.default_rng(5)
    crop = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    # Put the crop into a bigger image at offset (30, 17): landmarks shift accordingly
    big = np.zeros((200, 180, 3), np.uint8)
    big[17:129, 30:142] = crop
    offset = np.array([30.0, 17.0])
    lms = (ARCFACE_REF + offset).astype(np.float32)
    emb = OnnxEmbedder(path)
    v_big = emb.embed(big, Detection((30.0, 17.0, 141.0, 128.0), 1.0, lms))
    aligned = align_arcface(big, lms, 112)
    assert np.abs(aligned.astype(int) - crop).max() <= 1  # the face is cut out again
    np.testing.assert_allclose(v_big, emb.embed_crop(aligned), rtol=1e-5, atol=1e-3)
    exact = align_arcface(big, ARCFACE_REF + offset, 112)  # float64: exact copy
    np.testing.assert_array_equal(exact, crop)


def test_onnx_model_id_has_sha_and_config(linear_onnx):
    from faceaudit._io import sha256_file

    path, _ = linear_onnx
    mid = OnnxEmbedder(path, input_size=112).model_id
    assert sha256_file(path)[:16] in mid and "in=112" in mid and "RGB" in mid
    assert OnnxEmbedder(path, std=1.0).model_id != mid


def test_onnx_embedder_needs_landmarks(linear_onnx):
    path, _ = linear_onnx
    with pytest.raises(ConfigError, match="landmarks"):
        OnnxEmbedder(path).embed(np.zeros((112, 112, 3), np.uint8), Detection((0, 0, 9, 9), 1.0))


def test_onnx_embedder_bad_arguments(tmp_path, linear_onnx):
    path, _ = linear_onnx
    with pytest.raises(InputError, match="not found"):
        OnnxEmbedder(tmp_path / "nope.onnx")
    with pytest.raises(ConfigError, match="channel_order must be one of"):
        OnnxEmbedder(path, channel_order="GBR")
    with pytest.raises(ConfigError, match="std must satisfy"):
        OnnxEmbedder(path, std=0.0)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(InputError, match="onnxruntime cannot load"):
        OnnxEmbedder(bad).embed_crop(np.zeros((112, 112, 3), np.uint8))


def test_onnx_embedder_pickles_without_session(linear_onnx):
    import pickle

    path, _ = linear_onnx
    emb = OnnxEmbedder(path)
    _ = emb.dim  # loads the session
    clone = pickle.loads(pickle.dumps(emb))
    assert clone._sess is None and clone.model_id == emb.model_id
