"""Probe conditions: parsing, determinism, and what each transform measurably does."""

from __future__ import annotations

import hashlib
import io
import math

import numpy as np
import pytest

from faceaudit import ConfigError
from faceaudit.probe import (
    NONE,
    Condition,
    condition_seed,
    degrade,
    downscale,
    inter_eye_distance,
    jpeg_bytes,
    jpeg_tables,
    parse_conditions,
)

PIL = pytest.importorskip("PIL.Image")


def _photo(seed: int = 0, h: int = 120, w: int = 100) -> np.ndarray:
    """A smooth synthetic picture (gradients + blobs), so blur and JPEG have something to do."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3))
    for c in range(3):
        img[..., c] = 128 + 60 * np.sin(x / (7 + 3 * c)) * np.cos(y / 11) + rng.normal(0, 8, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- parsing
def test_parse_specs() -> None:
    got = parse_conditions("resolution:64,32,16; jpeg:75 cctv none")
    assert [c.condition_id for c in got] == ["resolution:64", "resolution:32", "resolution:16",
                                             "jpeg:75", "cctv", "none"]
    assert parse_conditions(["blur:1.5", "blur:1.5,2"]) == (Condition("blur", 1.5),
                                                           Condition("blur", 2.0))
    assert parse_conditions(None) == () and parse_conditions("") == ()


@pytest.mark.parametrize("spec, words", [
    ("fog:3", "unknown kind 'fog'"),
    ("resolution", "resolution needs levels"),
    ("resolution:64,abc", "must be a number; got 'abc'"),
    ("jpeg:0", "jpeg levels must be in [1, 95]"),
    ("jpeg:40.5", "whole number"),
    ("cctv:3", "takes no levels"),
    ("blur:nan", "blur levels must be in"),
])
def test_parse_errors_name_the_part(spec: str, words: str) -> None:
    with pytest.raises(ConfigError, match="probe_conditions") as exc:
        parse_conditions(spec)
    assert words in str(exc.value)


# ---------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("spec", ["cctv", "noise:8", "resolution:16", "jpeg:10", "blur:2",
                                  "exposure:2"])
def test_same_seed_same_bytes_other_seed_other_noise(spec: str) -> None:
    (cond,) = parse_conditions(spec)
    img = _photo()
    sha = hashlib.sha256(img.tobytes()).hexdigest()
    a = degrade(img, cond, inter_eye=40.0, rng_seed=condition_seed(sha, cond, 0))
    b = degrade(img.copy(), cond, inter_eye=40.0, rng_seed=condition_seed(sha, cond, 0))
    assert a.changed and a.pixels.shape == img.shape and a.pixels.dtype == np.uint8
    assert a.pixels.tobytes() == b.pixels.tobytes()
    assert not np.array_equal(a.pixels, img)
    c = degrade(img, cond, inter_eye=40.0, rng_seed=condition_seed(sha, cond, 1))
    if spec in ("cctv", "noise:8"):  # only the noise is random
        assert c.pixels.tobytes() != a.pixels.tobytes()
    else:
        assert c.pixels.tobytes() == a.pixels.tobytes()


def test_seeds_differ_by_image_condition_and_seed() -> None:
    c1, c2 = Condition("noise", 4), Condition("noise", 8)
    seeds = {condition_seed("a" * 64, c1), condition_seed("b" * 64, c1),
             condition_seed("a" * 64, c2), condition_seed("a" * 64, c1, 1)}
    assert len(seeds) == 4
    assert condition_seed("a" * 64, c1) == int.from_bytes(
        hashlib.sha256(("a" * 64 + ":noise:4:0").encode()).digest()[:8], "little")


def test_none_is_the_identity() -> None:
    img = _photo()
    out = degrade(img, NONE)
    assert not out.changed and out.pixels.tobytes() == img.tobytes()


# ---------------------------------------------------------------------------- what each does
def test_noise_has_the_asked_sigma() -> None:
    img = np.full((200, 200, 3), 128, np.uint8)
    out = degrade(img, Condition("noise", 8.0), rng_seed=7).pixels.astype(float) - 128
    assert abs(out.mean()) < 0.1 and abs(out.std() - 8.0) < 0.1


def test_exposure_darkens_by_stops_in_linear_light() -> None:
    img = np.full((4, 4, 3), 200, np.uint8)
    out = degrade(img, Condition("exposure", 1.0)).pixels
    want = round(255 * ((200 / 255) ** 2.2 / 2) ** (1 / 2.2))  # one stop = half the light
    assert want == 146 and (out == want).all()


def test_blur_sigma_spreads_a_point_by_sigma() -> None:
    img = np.zeros((81, 81, 3), np.uint8)
    img[40, 40] = 255
    out = degrade(img, Condition("blur", 3.0)).pixels[..., 0].astype(float)
    x = np.arange(81) - 40
    prof = out.sum(axis=0)
    sd = math.sqrt((prof * x**2).sum() / prof.sum())
    assert abs(sd - 3.0) < 0.35  # Pillow's box approximation of the Gaussian


@pytest.mark.parametrize("quality", [75, 40, 30, 20, 10])
def test_jpeg_quality_read_back_from_the_quantisation_tables(quality: int) -> None:
    data = jpeg_bytes(_photo(), quality)
    with PIL.open(io.BytesIO(data)) as im:
        tables = im.quantization
    luma, chroma = jpeg_tables(quality)
    assert list(tables[0]) == luma.tolist() and list(tables[1]) == chroma.tolist()
    # and the hand-computed corner: libjpeg's scale 5000/q (q < 50) or 200 - 2q
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    assert tables[0][0] == min(255, max(1, (16 * scale + 50) // 100))


def test_jpeg_condition_is_the_decoded_file() -> None:
    img = _photo()
    out = degrade(img, Condition("jpeg", 20)).pixels
    with PIL.open(io.BytesIO(jpeg_bytes(img, 20))) as im:
        assert np.array_equal(out, np.asarray(im.convert("RGB")))


@pytest.mark.parametrize("d, target", [(42.3, 32.0), (42.3, 16.0), (120.0, 12.0), (61.7, 24.0)])
def test_resolution_scale_puts_the_eyes_target_apart(d: float, target: float) -> None:
    img = _photo(h=250, w=250)
    small = downscale(img, target / d)
    realised = small.shape[1] / img.shape[1]  # the scale actually applied (whole pixels)
    assert abs(d * realised - target) <= 1.0
    out = degrade(img, Condition("resolution", target), inter_eye=d)
    assert out.changed and out.pixels.shape == img.shape


def test_resolution_leaves_low_resolution_photos_alone_and_needs_eyes() -> None:
    img = _photo()
    out = degrade(img, Condition("resolution", 64.0), inter_eye=40.0)
    assert not out.changed and out.pixels.tobytes() == img.tobytes() and not out.failure
    miss = degrade(img, Condition("resolution", 16.0))
    assert "no eye landmarks" in miss.failure


def test_inter_eye_distance_of_a_stored_detection() -> None:
    face = np.array([0, 0, 10, 10, 0.9, 10, 20, 13, 24, 0, 0, 0, 0, 0, 0], np.float32)
    assert inter_eye_distance(face) == 5.0
    assert math.isnan(inter_eye_distance(None))


def test_resolution_measured_by_the_detector_on_lfw(lfw_dir) -> None:  # type: ignore[no-untyped-def]
    """On real LFW photos, the detector's landmarks on the downscaled photo put the eyes
    target ± 1 px apart (median over 20 photos; CenterFace's landmarks themselves move by up to
    ~4 px from one scale to the next, so a single photo is not held to 1 px)."""
    pytest.importorskip("onnxruntime")
    from faceaudit.pipeline import CenterFaceDetector, decode_image, select_face

    try:
        det = CenterFaceDetector()
        det.detector_id  # noqa: B018 - checks the model file
    except Exception as exc:  # pragma: no cover - model not installed
        pytest.skip(f"CenterFace unavailable: {exc}")
    files = sorted((lfw_dir / "lfw-deepfunneled").glob("A*/*_0001.jpg"))[:20]
    errors: dict[float, list[float]] = {32.0: [], 24.0: [], 16.0: []}
    for f in files:
        img = decode_image(f).pixels  # type: ignore[union-attr]
        d = inter_eye_distance(select_face(det.detect(img), img.shape).as_array())  # type: ignore[union-attr]
        for target, errs in errors.items():
            small = downscale(img, target / d)
            assert abs(d * small.shape[1] / img.shape[1] - target) <= 0.5  # the geometry
            got = select_face(det.detect(small), small.shape, min_face_size=0)
            errs.append(inter_eye_distance(got.as_array()) - target)  # type: ignore[union-attr]
    for target, errs in errors.items():
        assert len(errs) == 20 and abs(float(np.median(errs))) <= 1.0, (target, errs)
        assert max(abs(e) for e in errs) <= 0.25 * target, (target, errs)
