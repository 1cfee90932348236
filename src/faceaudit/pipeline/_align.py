"""Face alignment: a similarity transform from 5 landmarks to reference points (Umeyama).

Coordinates are pixel coordinates with the centre of pixel ``(row i, column j)`` at
``(x, y) = (j, i)`` — the convention of OpenCV and of the ArcFace reference points — and
:func:`warp_similarity` converts to Pillow's continuous frame (pixel centres at ``+0.5``)
internally, so a landmark at ``src[k]`` lands on ``dst[k]`` of the output.
"""

from __future__ import annotations

import numpy as np

from .._errors import ConfigError

ARCFACE_REF = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)
"""The standard ArcFace 5-point template for a 112×112 crop (insightface ``arcface_dst``):
image-left eye, image-right eye, nose tip, image-left and image-right mouth corners."""


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) ``src → dst``.

    Minimises :math:`\\sum_k \\lVert s R x_k + t - y_k \\rVert^2` (Umeyama 1991). With centred
    points :math:`\\tilde x, \\tilde y`, covariance :math:`\\Sigma = \\frac1n \\tilde y^T \\tilde x
    = U D V^T`, and :math:`S = \\operatorname{diag}(1, \\det(U)\\det(V))`:

    .. math::

        R = U S V^T,\\quad s = \\frac{\\operatorname{tr}(D S)}{\\sigma_x^2},\\quad
        t = \\bar y - s R \\bar x

    Parameters
    ----------
    src, dst : ndarray, shape (n, 2), n ≥ 2

    Returns
    -------
    ndarray, shape (3, 3)
        Homogeneous matrix ``T`` with ``T @ [x, y, 1] = [x', y', 1]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ConfigError("landmarks must be two (n, 2) arrays with n >= 2; "
                          f"got {src.shape}, {dst.shape}")
    mx, my = src.mean(0), dst.mean(0)
    xs, ys = src - mx, dst - my
    var_x = (xs**2).sum() / len(src)
    if not np.isfinite(var_x) or var_x <= 0:
        raise ConfigError("landmarks must not all coincide; got degenerate source points")
    cov = ys.T @ xs / len(src)
    u, d, vt = np.linalg.svd(cov)
    s_fix = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        s_fix[1] = -1.0
    r = u @ np.diag(s_fix) @ vt
    scale = float((d * s_fix).sum() / var_x)
    t = my - scale * r @ mx
    out = np.eye(3)
    out[:2, :2] = scale * r
    out[:2, 2] = t
    return out


def warp_similarity(image: np.ndarray, transform: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp an RGB ``uint8`` image with ``transform`` (source → output) to ``size = (w, h)``.

    Uses Pillow's ``Image.transform(..., Image.AFFINE, ...)`` with bilinear sampling; pixels
    outside the source are black.
    """
    from PIL import Image

    inv = np.linalg.inv(np.asarray(transform, dtype=np.float64))
    # Pillow maps output continuous coords u (= index + 0.5) to input continuous coords:
    # M_pil = C · inv · C⁻¹ with C = translate(+0.5).
    c = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    c_inv = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    m = c @ inv @ c_inv
    # snap floating-point noise (e.g. an identity estimated from exact points) so that
    # integer-aligned warps copy pixels exactly instead of blending with a neighbour
    m = np.round(m, 9)
    data = tuple(float(v) for v in m[:2].reshape(6))
    out = Image.fromarray(np.ascontiguousarray(image)).transform(
        size, Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR)
    return np.asarray(out, dtype=np.uint8)


def align_arcface(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """The ``size × size`` ArcFace crop: landmarks mapped onto :data:`ARCFACE_REF` (scaled
    by ``size / 112``)."""
    ref = ARCFACE_REF * (size / 112.0)
    return warp_similarity(image, umeyama(np.asarray(landmarks, np.float64), ref), (size, size))
