"""dlib's ResNet run by dlib vs the ONNX graph faceaudit converts from the same ``.dat`` file.

On ``--n`` LFW deep-funneled images (every k-th file of the sorted list, so all of LFW is
spread over), each face is detected (CenterFace, face policy ``"central"``), given dlib's 5
landmarks on the landmark-rebuilt box, cut to dlib's 150×150 chip (exactly what
``--model dlib`` and ``--model dlib-reference`` share), and the chip is embedded twice:
``dlib.face_recognition_model_v1.compute_face_descriptor(chip, 0)`` and
``DlibOnnxEmbedder.embed_chips`` (batches of 8). Reported:

- max |Δ| over all descriptor components (target ≤ 1e-5);
- over all pairs of the n chips, max |Δ| of the Euclidean distance, and how many pairs fall
  on different sides of dlib's distance 0.6 (with the smallest |d − 0.6| among them);
- milliseconds per chip of each runtime on one thread, same chips (the network only).

    flock /work/heavy.lock python benchmarks/dlib_onnx_equality.py [--n 2000] [--json out.json]

Measured 2026-12-03 under /work/heavy.lock (load avg 3.6–7.4 from other engineers' jobs),
2,000 images, all with a face: max |Δ| = 4.77e-7 per component (mean 6.0e-8); over the
1,999,000 pairs the Euclidean distances differ by at most 9.6e-7 and no pair changes side of
0.6; batches of 8 give the same bits as one chip per call. The timings of that run are not a
fair ratio (dlib ran under load 7, ONNX under load ~4): 211.8 vs 6.7 ms per chip; see
bench_pipeline.py for interleaved timings.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEAUDIT_SHARED_DATA", REPO.parent / "shared" / "data")) / "lfw"


def chips_of(files: list[Path]) -> tuple[np.ndarray, list[str]]:
    """The dlib chips of the faces in ``files`` (images without a face are skipped, named)."""
    from faceaudit.pipeline import CenterFaceDetector, DlibEmbedder, decode_image, select_face

    det, emb = CenterFaceDetector(), DlibEmbedder()
    chips, skipped = [], []
    for f in files:
        img = decode_image(f).pixels
        face = select_face(det.detect(img), img.shape, policy="central", min_face_size=20.0)
        if not hasattr(face, "box"):
            skipped.append(f.name)
            continue
        chips.append(emb.chip(img, emb.landmarks(img, face)))
    return np.stack(chips).astype(np.uint8), skipped


def pair_distances(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.float64)
    sq = (v * v).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None] - 2 * v @ v.T, 0)
    iu = np.triu_indices(len(v), 1)
    return np.sqrt(d2[iu])


def main() -> int:
    import dlib

    from faceaudit.pipeline import DlibOnnxEmbedder
    from faceaudit.pipeline._embed import dlib_dat_path

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    files = sorted((DATA / "lfw-deepfunneled").glob("*/*.jpg"))
    files = files[:: max(1, len(files) // args.n)][: args.n]
    t0 = time.perf_counter()
    chips, skipped = chips_of(files)
    print(f"{len(chips)} chips from {len(files)} images ({len(skipped)} without a face) in "
          f"{time.perf_counter() - t0:.0f} s; load avg {os.getloadavg()[0]:.1f}", flush=True)

    rec = dlib.face_recognition_model_v1(str(dlib_dat_path()))
    onnx = DlibOnnxEmbedder(threads=1)
    onnx.embed_chips(chips[:8])  # load the session outside the timing
    t = time.perf_counter()
    ref = np.array([rec.compute_face_descriptor(c, 0) for c in chips], np.float32)
    t_dlib = time.perf_counter() - t
    t = time.perf_counter()
    got = np.concatenate([onnx.embed_chips(chips[i:i + 8]) for i in range(0, len(chips), 8)])
    t_onnx = time.perf_counter() - t
    t = time.perf_counter()
    one = np.stack([onnx.embed_chip(c) for c in chips[:200]])
    t_onnx1 = (time.perf_counter() - t) / len(one) * len(chips)

    diff = np.abs(got - ref)
    d_ref, d_got = pair_distances(ref), pair_distances(got)
    flips = (d_ref <= 0.6) != (d_got <= 0.6)
    out = {
        "n_images": len(files), "n_chips": len(chips), "skipped": skipped,
        "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
        "batch1_equals_batch8": bool((one == got[:len(one)]).all()),
        "n_pairs": int(d_ref.size), "max_abs_distance_diff": float(np.abs(d_got - d_ref).max()),
        "pairs_flipped_at_0.6": int(flips.sum()),
        "min_margin_of_flipped": (float(np.abs(d_ref[flips] - 0.6).min()) if flips.any()
                                  else None),
        "ms_per_chip_dlib": 1000 * t_dlib / len(chips),
        "ms_per_chip_onnx_batch8": 1000 * t_onnx / len(chips),
        "ms_per_chip_onnx_batch1": 1000 * t_onnx1 / len(chips),
        "speedup_batch8": t_dlib / t_onnx, "speedup_batch1": t_dlib / t_onnx1,
        "load_avg_end": os.getloadavg()[0],
    }
    print(json.dumps(out, indent=2))
    if args.json:
        from faceaudit._io import write_json

        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
