"""Image decoding: every bad-image kind is decoded correctly or becomes a failure with a reason."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceaudit.pipeline import DecodedImage, DecodeFailure, decode_image


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _ok(result: DecodedImage | DecodeFailure) -> np.ndarray:
    assert isinstance(result, DecodedImage), result
    assert result.pixels.dtype == np.uint8 and result.pixels.ndim == 3
    assert result.pixels.shape[2] == 3 and result.pixels.flags.c_contiguous
    return result.pixels


def _fail(result: DecodedImage | DecodeFailure, status: str, *words: str) -> str:
    assert isinstance(result, DecodeFailure), result
    assert result.status == status
    for w in words:
        assert w in result.reason.lower(), result.reason
    return result.reason


def test_rgb_png_is_exact():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (7, 11, 3), dtype=np.uint8)
    px = _ok(decode_image(_png(Image.fromarray(a))))
    np.testing.assert_array_equal(px, a)


def test_grayscale_replicated_to_three_channels():
    g = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4
    px = _ok(decode_image(_png(Image.fromarray(g, mode="L"))))
    for c in range(3):
        np.testing.assert_array_equal(px[:, :, c], g)


def test_one_bit_image():
    b = Image.new("1", (8, 4), 0)
    b.putpixel((3, 2), 1)
    px = _ok(decode_image(_png(b)))
    assert px[2, 3].tolist() == [255, 255, 255] and px[0, 0].tolist() == [0, 0, 0]


def test_palette_image_expanded():
    p = Image.new("P", (4, 2))
    p.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    p.putpixel((1, 1), 1)
    px = _ok(decode_image(_png(p)))
    assert px[0, 0].tolist() == [10, 20, 30]
    assert px[1, 1].tolist() == [200, 100, 50]


def test_palette_with_transparency_composited_on_white():
    p = Image.new("P", (2, 1))
    p.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    p.putpixel((1, 0), 1)
    p.info["transparency"] = 0  # palette index 0 fully transparent
    px = _ok(decode_image(_png(p)))
    assert px[0, 0].tolist() == [255, 255, 255]
    assert px[0, 1].tolist() == [200, 100, 50]


def test_rgba_alpha_composited_on_white():
    a = np.zeros((1, 3, 4), np.uint8)
    a[0, 0] = (100, 0, 0, 0)      # transparent -> white
    a[0, 1] = (100, 0, 0, 255)    # opaque -> colour
    a[0, 2] = (100, 0, 0, 128)    # half: c = a*100 + (1-a)*255
    px = _ok(decode_image(_png(Image.fromarray(a, mode="RGBA"))))
    assert px[0, 0].tolist() == [255, 255, 255]
    assert px[0, 1].tolist() == [100, 0, 0]
    alpha = 128 / 255
    expect = [round(alpha * 100 + (1 - alpha) * 255), round((1 - alpha) * 255)]
    assert abs(int(px[0, 2, 0]) - expect[0]) <= 1
    assert abs(int(px[0, 2, 1]) - expect[1]) <= 1


def test_la_image():
    a = np.zeros((1, 2, 2), np.uint8)
    a[0, 0] = (40, 255)
    a[0, 1] = (40, 0)
    px = _ok(decode_image(_png(Image.fromarray(a, mode="LA"))))
    assert px[0, 0].tolist() == [40, 40, 40] and px[0, 1].tolist() == [255, 255, 255]


def test_cmyk_jpeg_and_tiff():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    for fmt in ("JPEG", "TIFF"):
        buf = io.BytesIO()
        cmyk.save(buf, format=fmt, quality=95)
        res = decode_image(buf.getvalue())
        px = _ok(res)
        assert res.source_mode == "CMYK"
        r, g, b = px[8, 8].astype(int)
        assert r > 230 and g < 25 and b < 25, (fmt, px[8, 8])


def test_sixteen_bit_grayscale_rescaled():
    v = np.array([[0, 257, 65535, 32768]], dtype=np.uint16)
    buf = io.BytesIO()
    Image.fromarray(v).save(buf, format="PNG")
    res = decode_image(buf.getvalue())
    px = _ok(res)
    assert res.source_mode.startswith("I")
    assert px[0, :, 0].tolist() == [0, 1, 255, 128]  # round(v / 257)


def test_thirty_two_bit_int_small_values_kept():
    img = Image.fromarray(np.array([[3, 200]], dtype=np.int32), mode="I")
    buf = io.BytesIO()
    img.save(buf, format="TIFF")
    px = _ok(decode_image(buf.getvalue()))
    assert px[0, :, 1].tolist() == [3, 200]


def test_float_image_scaled():
    img = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), mode="F")
    buf = io.BytesIO()
    img.save(buf, format="TIFF")
    px = _ok(decode_image(buf.getvalue()))
    assert px[0, :, 2].tolist() == [0, 128, 255]


@pytest.mark.parametrize(("orientation", "shape", "red_at"), [
    (1, (20, 40), (0, 0)),     # as stored: red block top-left
    (6, (40, 20), (0, 19)),    # rotate 90° clockwise for display: top-left -> top-right
    (3, (20, 40), (19, 39)),   # 180°
    (8, (40, 20), (39, 0)),    # 90° counter-clockwise: top-left -> bottom-left
])
def test_exif_orientation_applied(orientation, shape, red_at):
    a = np.full((20, 40, 3), 255, np.uint8)
    a[:8, :8] = (255, 0, 0)
    img = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif, quality=95)
    px = _ok(decode_image(buf.getvalue()))
    assert px.shape[:2] == shape
    r, g, b = px[red_at].astype(int)
    assert r > 200 and g < 60 and b < 60
    assert px[shape[0] // 2, shape[1] // 2].min() > 200  # centre stays white


def test_corrupt_bytes_unreadable():
    rng = np.random.default_rng(1)
    _fail(decode_image(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()), "unreadable",
          "not an image")


def test_text_file_unreadable(tmp_path: Path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a photo\n")
    _fail(decode_image(p), "unreadable", "not an image")


def test_empty_file_unreadable(tmp_path: Path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    _fail(decode_image(p), "unreadable", "empty")


def test_missing_file_unreadable(tmp_path: Path):
    _fail(decode_image(tmp_path / "nope.jpg"), "unreadable", "cannot read")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_unreadable(fmt):
    rng = np.random.default_rng(2)
    img = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    data = buf.getvalue()
    _fail(decode_image(data[: len(data) // 2]), "unreadable", "truncated")


def test_corrupted_jpeg_body_is_failure_not_crash():
    rng = np.random.default_rng(3)
    img = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    data = bytearray(buf.getvalue())
    data[200:600] = bytes(400)  # zero out part of the entropy-coded data and tables
    res = decode_image(bytes(data))
    # Pillow may decode garbage pixels or refuse; either way no exception escapes.
    assert isinstance(res, (DecodedImage, DecodeFailure))


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + chunk(b"IEND", b""))


def test_decompression_bomb_refused_by_pillow():
    # 200 M pixels > 2 × Pillow's limit: Pillow raises DecompressionBombError at open
    _fail(decode_image(_png_header_only(20000, 10000)), "unreadable", "decompression bomb",
          "max_pixels")


def test_oversized_image_refused_before_decoding():
    # 100 M pixels: Pillow only warns (the warning must not escape); our limit refuses it
    reason = _fail(decode_image(_png_header_only(10000, 10000)), "unreadable", "max_pixels")
    assert "100000000" in reason


def test_configurable_max_pixels():
    data = _png(Image.new("RGB", (100, 60)))
    _fail(decode_image(data, max_pixels=5999), "unreadable", "6000 pixels", "max_pixels=5999")
    assert _ok(decode_image(data, max_pixels=6000)).shape == (60, 100, 3)


def test_tiny_image_too_small():
    data = _png(Image.new("RGB", (30, 12)))
    _fail(decode_image(data, min_size=20), "too_small", "30×12")
    assert _ok(decode_image(data, min_size=12)).shape == (12, 30, 3)


def test_animated_gif_first_frame():
    frames = [Image.new("P", (6, 6), i) for i in range(3)]
    for f in frames:
        f.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    px = _ok(decode_image(buf.getvalue()))
    assert px[0, 0].tolist() == [0, 0, 0]
