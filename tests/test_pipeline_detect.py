"""Detection: face selection rules, CenterFace and HOG on a real LFW image."""

from __future__ import annotations

import numpy as np
import pytest

from faceaudit import ConfigError, IntegrityError
from faceaudit.pipeline import (
    CenterFaceDetector,
    Detection,
    DlibEmbedder,
    FaceFailure,
    HogDetector,
    WholeImageDetector,
    decode_image,
    make_detector,
    select_face,
)
from faceaudit.pipeline._detect import _nms, sha256_checked


def _det(l, t, r, b, s=0.9):  # noqa: E741
    return Detection((float(l), float(t), float(r), float(b)), s)


# ---------------------------------------------------------------------------- selection
def test_no_detection_is_no_face():
    r = select_face([], (100, 100, 3))
    assert isinstance(r, FaceFailure) and r.status == "no_face"


def test_only_small_faces_is_too_small():
    r = select_face([_det(0, 0, 15, 30), _det(50, 50, 60, 60)], (100, 100, 3), min_face_size=20)
    assert isinstance(r, FaceFailure) and r.status == "too_small"
    assert "15×30" in r.reason and "min_face_size=20" in r.reason


def test_small_faces_are_not_candidates():
    big = _det(10, 10, 60, 70)
    r = select_face([_det(0, 0, 5, 5), big, _det(80, 80, 95, 99)], (100, 100, 3),
                    policy="fail", min_face_size=20)
    assert r is big  # tiny background faces do not make the sample "multiple_faces"


def test_policies():
    shape = (200, 200, 3)
    large_corner = _det(0, 0, 90, 90, s=0.6)          # area 8100, far from centre
    central = _det(70, 70, 130, 130, s=0.99)          # area 3600, centred on (100, 100)
    dets = [central, large_corner]
    assert select_face(dets, shape, policy="largest") is large_corner
    assert select_face(dets, shape, policy="central") is central
    assert select_face(dets, shape) is central  # the default
    r = select_face(dets, shape, policy="fail")
    assert isinstance(r, FaceFailure) and r.status == "multiple_faces" and "2 faces" in r.reason
    with pytest.raises(ConfigError, match="policy must be one of"):
        select_face(dets, shape, policy="biggest")


def test_largest_tie_broken_by_score():
    a, b = _det(0, 0, 50, 50, s=0.7), _det(100, 100, 150, 150, s=0.8)
    assert select_face([a, b], (200, 200, 3)) is b


def test_nms_hand_checked():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 5]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    # IoU(0,1) = 81/119 = 0.68 -> 1 suppressed by 0; IoU(3,0) = 50/100 = 0.5 -> 0 suppressed by 3
    # (3 has the best score); IoU(3,1) = 36/(50+100-36) = 0.32 -> 1 suppressed by 3 as well.
    assert _nms(boxes, scores, 0.3).tolist() == [3, 2]
    assert _nms(boxes, scores, 0.6).tolist() == [3, 0, 2]


def test_detection_as_array():
    d = Detection((1.0, 2.0, 3.0, 4.0), 0.5, np.arange(10, dtype=np.float32).reshape(5, 2))
    a = d.as_array()
    assert a.dtype == np.float32 and a.tolist() == [1, 2, 3, 4, 0.5, *range(10)]
    assert np.isnan(_det(0, 0, 1, 1).as_array()[5:]).all()


def test_make_detector():
    assert isinstance(make_detector("hog"), HogDetector)
    assert isinstance(make_detector("none"), WholeImageDetector)
    with pytest.raises(ConfigError, match="detector must be one of"):
        make_detector("mtcnn")
    with pytest.raises(ConfigError, match="detector must be"):
        make_detector(42)  # type: ignore[arg-type]


def test_checksum_mismatch_is_integrity_error(tmp_path):
    p = tmp_path / "model.onnx"
    p.write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="sha256"):
        sha256_checked(str(p), "0" * 64)


def test_whole_image_detector():
    d = WholeImageDetector().detect(np.zeros((30, 40, 3), np.uint8))
    assert len(d) == 1 and d[0].box == (0.0, 0.0, 39.0, 29.0)


# ---------------------------------------------------------------------------- real image
@pytest.fixture(scope="module")
def aj_cook(lfw_dir):
    res = decode_image(lfw_dir / "lfw-deepfunneled" / "AJ_Cook" / "AJ_Cook_0001.jpg")
    return res.pixels


@pytest.fixture(scope="module")
def centerface():
    return CenterFaceDetector()


def _iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_centerface_box_and_landmarks_on_real_face(aj_cook, centerface):
    dets = centerface.detect(aj_cook)
    assert len(dets) == 1
    d = dets[0]
    assert d.score > 0.8
    left, top, right, bottom = d.box
    # the LFW deep-funneled face is centred in the 250×250 image
    assert 70 < left < 100 and 140 < right < 200 and 40 < top < 80 and 170 < bottom < 220
    lm = d.landmarks
    assert lm is not None and lm.shape == (5, 2)
    (lex, ley), (rex, rey), (nx, ny), (lmx, lmy), (rmx, rmy) = lm
    assert lex < nx < rex and lmx < rmx            # image-left before image-right
    assert max(ley, rey) < ny < min(lmy, rmy)       # eyes above nose above mouth
    assert all(left <= x <= right and top <= y <= bottom for x, y in lm)
    # hand-checked against the image (drawn and inspected): eyes ≈ (104,112), (148,115),
    # nose ≈ (120,139), mouth corners ≈ (105,159), (143,161)
    expect = np.array([[104, 112], [148, 115], [120, 139], [105, 159], [143, 161]], float)
    assert np.abs(lm - expect).max() < 4


def test_centerface_eyes_agree_with_dlib_landmarks(aj_cook, centerface):
    """An independent model (dlib's 5-point predictor: 2 corners per eye) agrees on the eyes."""
    d = centerface.detect(aj_cook)[0]
    shape = DlibEmbedder().landmarks(aj_cook, d)
    pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], float)
    right_eye_img = pts[0:2].mean(0)   # dlib parts 0,1: the eye on the image right
    left_eye_img = pts[2:4].mean(0)
    assert np.linalg.norm(left_eye_img - d.landmarks[0]) < 6
    assert np.linalg.norm(right_eye_img - d.landmarks[1]) < 6


def test_centerface_coordinates_survive_resize_and_padding(aj_cook, centerface):
    from PIL import Image

    base = centerface.detect(aj_cook)[0]
    # 1000×1000 given to a detector with max_side=250: the network sees ≈ the original
    # pixels again, so boxes must come back ×4 (tests the resize bookkeeping); and a crop
    # whose sides are not multiples of 32 (tests the padding)
    big = np.asarray(Image.fromarray(aj_cook).resize((1000, 1000), Image.Resampling.BICUBIC))
    d_big = CenterFaceDetector(max_side=250).detect(big)[0]
    np.testing.assert_allclose(np.array(d_big.box) / 4, base.box, atol=4)
    np.testing.assert_allclose(d_big.landmarks / 4, base.landmarks, atol=3)
    crop = aj_cook[17:250, 9:240]
    d_crop = centerface.detect(crop)[0]
    # the network's own jitter under 1-px shifts is up to ~5 px on the box (measured);
    # a bookkeeping error would be off by the crop offset (9, 17)
    off = np.array([9.0, 17.0])
    np.testing.assert_allclose(np.array(d_crop.box) + np.tile(off, 2), base.box, atol=6)
    np.testing.assert_allclose(d_crop.landmarks + off, base.landmarks, atol=5)


def test_centerface_finds_nothing_in_noise(centerface):
    rng = np.random.default_rng(0)
    assert centerface.detect(np.full((120, 90, 3), 128, np.uint8)) == []
    assert centerface.detect(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) == []


def test_hog_agrees_with_centerface(aj_cook, centerface):
    hog = HogDetector().detect(aj_cook)
    assert len(hog) == 1 and hog[0].landmarks is None
    assert _iou(hog[0].box, centerface.detect(aj_cook)[0].box) > 0.4


def test_detector_ids_and_pickling(centerface):
    import pickle

    assert centerface.detector_id.startswith("centerface:09189deaaf86")
    assert "thr=0.5" in centerface.detector_id
    clone = pickle.loads(pickle.dumps(centerface))
    assert clone._sess is None and clone.detector_id == centerface.detector_id
    with pytest.raises(ConfigError, match="threshold must satisfy"):
        CenterFaceDetector(threshold=1.5)
