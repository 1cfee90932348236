"""DlibEmbedder: the box given to dlib's 5-point shape predictor (``sp_box``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceaudit import ConfigError
from faceaudit.pipeline import (
    CenterFaceDetector,
    Detection,
    DlibEmbedder,
    HogDetector,
    decode_image,
)

# eyes (100,100) (140,100), nose (120,125), mouth corners (105,150) (135,150)
FACE = np.array([[100, 100], [140, 100], [120, 125], [105, 150], [135, 150]], float)


def test_shape_box_hand_checked():
    # e = (120, 100), v = (0, 50), v_perp = (-50, 0), d_io = 40
    # centre = (120 - 0.079*50, 100 + 0.421*50) = (116.05, 121.05)
    # side = 0.268*40 + 2.083*50 = 114.87
    left, top, right, bottom = DlibEmbedder.shape_box(FACE)
    assert (left + right) / 2 == pytest.approx(116.05)
    assert (top + bottom) / 2 == pytest.approx(121.05)
    assert right - left == pytest.approx(114.87)
    assert bottom - top == pytest.approx(114.87)


def test_shape_box_is_similarity_equivariant():
    """Rotating/scaling/shifting the landmarks moves the centre with them; side scales."""
    th, k, t = math.radians(20), 1.7, np.array([31.0, -12.0])
    rot = k * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    b0 = np.array(DlibEmbedder.shape_box(FACE))
    b1 = np.array(DlibEmbedder.shape_box(FACE @ rot.T + t))
    c0, c1 = (b0[:2] + b0[2:]) / 2, (b1[:2] + b1[2:]) / 2
    np.testing.assert_allclose(c1, rot @ c0 + t, atol=1e-9)
    assert b1[2] - b1[0] == pytest.approx(k * (b0[2] - b0[0]))


def test_predictor_box_choice():
    box = (10.4, 20.6, 130.5, 170.49)
    with_lm = Detection(box, 0.9, FACE.astype(np.float32))
    no_lm = Detection(box, 0.9)
    nan_lm = Detection(box, 0.9, np.full((5, 2), np.nan, np.float32))
    new, old = DlibEmbedder(), DlibEmbedder(sp_box="detector")
    # centre (116.05, 121.05) ± half side 57.435, rounded
    expect = tuple(round(v) for v in DlibEmbedder.shape_box(FACE.astype(np.float32)))
    assert new.predictor_box(with_lm) == expect == (59, 64, 173, 178)
    assert old.predictor_box(with_lm) == (10, 21, 130, 170)
    assert new.predictor_box(no_lm) == (10, 21, 130, 170)   # HOG / whole-image detections
    assert new.predictor_box(nan_lm) == (10, 21, 130, 170)


def test_sp_box_in_model_id_and_validated():
    new, old = DlibEmbedder(), DlibEmbedder(sp_box="detector")
    assert new.model_id.endswith(":jitter=0:spbox=lm5v1")
    # the old behaviour keeps its old id, so existing stores stay valid for it
    assert old.model_id.endswith(":pad=0.25:jitter=0")
    assert "sp_box='detector'" in repr(old)
    with pytest.raises(ConfigError, match="sp_box must be one of"):
        DlibEmbedder(sp_box="hog")


def test_landmark_box_reproduces_shape_on_dlib_detector_box(lfw_dir):
    """On a real face the shape predictor, given the landmark-derived box, finds the points it
    finds on dlib's own (HOG) detector box — its training condition; the raw CenterFace box
    moves them by about 1 px (measured on AJ_Cook_0001: 0 px vs 1.08 px mean)."""
    img = decode_image(lfw_dir / "lfw-deepfunneled" / "AJ_Cook" / "AJ_Cook_0001.jpg").pixels
    cf = CenterFaceDetector().detect(img)[0]
    hog = HogDetector().detect(img)[0]
    new, old = DlibEmbedder(), DlibEmbedder(sp_box="detector")

    def pts(emb, det):
        s = emb.landmarks(img, det)
        return np.array([[s.part(i).x, s.part(i).y] for i in range(5)], float)

    ref = pts(new, hog)
    err_new = np.linalg.norm(pts(new, cf) - ref, axis=1).mean()
    err_old = np.linalg.norm(pts(old, cf) - ref, axis=1).mean()
    assert err_new <= 0.5 < 0.8 <= err_old
    assert np.abs(np.array(new.predictor_box(cf)) - np.array(hog.box)).max() <= 3
