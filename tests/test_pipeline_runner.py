"""The runner: statuses for every sample, the store (dedup, resume after SIGKILL), workers."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from faceaudit import ConfigError, InputError, Manifest, Templates
from faceaudit.pipeline import FakeEmbedder, TemplateStore, embed_manifest
from faceaudit.pipeline import _runner as runner_mod

SUBJECTS = ("alice", "bob", "carol", "dave")


def _image_tree(root: Path, per_subject: int = 4, size: int = 32, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for s in SUBJECTS:
        (root / s).mkdir(parents=True, exist_ok=True)
        for k in range(per_subject):
            p = root / s / f"{s}_{k}.png"
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(p)
            rows.append({"sample_id": f"{s}_{k}", "subject_id": s, "path": f"{s}/{p.name}"})
    return rows


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Manifest, Path]:
    root = tmp_path / "imgs"
    rows = _image_tree(root)
    # bad samples, one of each kind
    (root / "bad").mkdir()
    (root / "bad" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    Image.new("RGB", (8, 8), (9, 9, 9)).save(root / "bad" / "tiny.png")
    (root / "bad" / "boom_raise.png").write_bytes((root / "alice" / "alice_0.png").read_bytes()[:0]
                                                  or _png_bytes(1))
    rows += [
        {"sample_id": "corrupt", "subject_id": "x1", "path": "bad/corrupt.jpg"},
        {"sample_id": "tiny", "subject_id": "x2", "path": "bad/tiny.png"},
        {"sample_id": "absent", "subject_id": "x3", "path": "bad/does_not_exist.png"},
        {"sample_id": "nopath", "subject_id": "x4", "path": None},
        {"sample_id": "raiser", "subject_id": "x5", "path": "bad/boom_raise.png"},
        # the same file twice under two sample ids: embedded once
        {"sample_id": "alice_0_again", "subject_id": "alice", "path": "alice/alice_0.png"},
    ]
    return Manifest(pd.DataFrame(rows), root=root, source="tree.csv"), root


def _png_bytes(seed: int, size: int = 32) -> bytes:
    import io

    buf = io.BytesIO()
    rng = np.random.default_rng(100 + seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


FAKE = dict(embedder=FakeEmbedder(raise_on="raise"), detector="none", progress=False)


def test_every_sample_gets_a_status(tree):
    man, _ = tree
    t = embed_manifest(man, n_workers=1, **FAKE)
    assert isinstance(t, Templates) and len(t) == len(man)
    assert list(t.sample_ids) == list(man.sample_ids)
    st = dict(zip(t.sample_ids, t.status, strict=True))
    det = dict(zip(t.sample_ids, t.detail, strict=True))
    assert st["corrupt"] == "unreadable" and "truncated image file" in det["corrupt"]
    assert st["tiny"] == "too_small" and "8×8" in det["tiny"]
    assert st["absent"] == "unreadable" and "does_not_exist.png" in det["absent"]
    assert st["nopath"] == "missing" and "tree.csv" in det["nopath"] and "row 20" in det["nopath"]
    assert st["raiser"] == "error" and "RuntimeError" in det["raiser"]
    assert "boom_raise.png" in det["raiser"]
    ok = [s for s in t.sample_ids if st[s] == "ok"]
    assert len(ok) == 17 and all(det[s] == "" for s in ok)
    assert np.isnan(t.vectors[~t.ok]).all() and np.isfinite(t.vectors[t.ok]).all()
    # the duplicate file has exactly the same template
    i, j = list(t.sample_ids).index("alice_0"), list(t.sample_ids).index("alice_0_again")
    np.testing.assert_array_equal(t.vectors[i], t.vectors[j])
    assert t.similarity == "cosine" and t.model_id.startswith("fake:dim=32")
    assert "|whole-image|face=central:min=20" in t.model_id


def test_fake_embedder_separates_subjects(tree):
    man, _ = tree
    t = embed_manifest(man, n_workers=1, **FAKE)
    keep = t.ok & np.isin(t.sample_ids, [f"{s}_{k}" for s in SUBJECTS for k in range(4)])
    v = t.vectors[keep]
    subj = np.array([s.split("_")[0] for s in t.sample_ids[keep]])
    cos = v @ v.T
    iu = np.triu_indices(len(v), 1)
    gen = (subj[:, None] == subj[None])[iu]
    assert cos[iu][gen].min() > 0.75 and np.abs(cos[iu][~gen]).max() < 0.75


def test_one_and_two_workers_identical(tree, tmp_path):
    man, _ = tree
    a = embed_manifest(man, n_workers=1, **FAKE)
    b = embed_manifest(man, n_workers=2, chunk_size=3, **FAKE)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert (a.status == b.status).all() and (a.detail == b.detail).all()
    assert a.model_id == b.model_id


def test_store_skips_finished_work_and_dedups(tree, tmp_path, monkeypatch):
    man, _ = tree
    calls: list[str] = []
    real = runner_mod.process_image

    def counting(config, sha, path):
        calls.append(Path(path).name)
        return real(config, sha, path)

    monkeypatch.setattr(runner_mod, "process_image", counting)
    store = tmp_path / "store"
    first = embed_manifest(man, n_workers=1, store=store, **FAKE)
    # 16 good + corrupt + tiny + raiser; the duplicate file and absent/no-path need no work
    assert len(calls) == 19 and calls.count("alice_0.png") == 1
    with TemplateStore(store) as st:
        assert st.count(first.model_id) == 18  # the "error" result is not stored
    calls.clear()
    again = embed_manifest(man, n_workers=1, store=store, **FAKE)
    assert calls == ["boom_raise.png"]  # only the error is retried
    np.testing.assert_array_equal(first.vectors, again.vectors)
    assert (first.status == again.status).all()
    # another configuration does not reuse these results
    calls.clear()
    embed_manifest(man, n_workers=1, store=store, min_face_size=4, **FAKE)
    assert len(calls) == 19


def test_store_ignores_damaged_rows(tree, tmp_path):
    man, _ = tree
    store = tmp_path / "store"
    first = embed_manifest(man, n_workers=1, store=store, **FAKE)
    con = sqlite3.connect(store / "templates.sqlite")
    con.execute("UPDATE results SET vector = substr(vector, 1, 12) WHERE status = 'ok'")
    con.commit()
    con.close()
    again = embed_manifest(man, n_workers=1, store=store, **FAKE)
    np.testing.assert_array_equal(first.vectors, again.vectors)


def test_not_a_store_is_integrity_error(tmp_path):
    from faceaudit import IntegrityError

    (tmp_path / "templates.sqlite").write_bytes(b"garbage" * 100)
    with pytest.raises(IntegrityError, match="not a usable faceaudit store"):
        TemplateStore(tmp_path)


def test_worker_crash_is_recorded_and_run_continues(tree):
    man, root = tree
    (root / "bad" / "kill_crash.png").write_bytes(_png_bytes(7))
    df = man.samples
    df.loc[len(df)] = {"sample_id": "crasher", "subject_id": "x6", "path": "bad/kill_crash.png"}
    man2 = Manifest(df, root=root)
    t = embed_manifest(man2, embedder=FakeEmbedder(crash_on="crash"), detector="none",
                       n_workers=2, chunk_size=4, progress=False)
    st = dict(zip(t.sample_ids, t.status, strict=True))
    assert st["crasher"] == "error"
    assert "died" in t.detail[list(t.sample_ids).index("crasher")]
    assert sum(v == "ok" for v in st.values()) == 18  # raiser is fine here: no raise_on


def test_argument_errors(tree, tmp_path):
    man, _ = tree
    with pytest.raises(ConfigError, match="face_policy must be one of"):
        embed_manifest(man, face_policy="biggest", **{**FAKE})
    with pytest.raises(ConfigError, match="n_workers must satisfy"):
        embed_manifest(man, n_workers=0, **FAKE)
    with pytest.raises(ConfigError, match=r"manifest must be a faceaudit\.Manifest"):
        embed_manifest(man.samples, **FAKE)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="model must be"):
        embed_manifest(man, embedder="arcface", detector="none", progress=False)
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(ConfigError, match="5 landmarks"):
        embed_manifest(man, embedder=str(onnx), detector="hog", progress=False)


@pytest.mark.parametrize("n_workers", [1, 2])
def test_model_that_cannot_load_stops_the_run(tree, tmp_path, n_workers):
    from faceaudit import InputError
    from faceaudit.pipeline import CenterFaceDetector, OnnxEmbedder

    man, _ = tree
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not an onnx model")
    # whole-image "detections" carry no landmarks; give the embedder a detector that does
    with pytest.raises(InputError, match="onnxruntime cannot load"):
        embed_manifest(man, embedder=OnnxEmbedder(bad), detector=_LandmarkStub(),
                       n_workers=n_workers, progress=False)
    assert CenterFaceDetector.has_landmarks


def test_missing_model_dependency_is_a_clear_error(tree, monkeypatch):
    from faceaudit import MissingDependencyError
    from faceaudit.pipeline import CenterFaceDetector

    man, _ = tree
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # "not installed"
    with pytest.raises(MissingDependencyError, match=r"faceaudit\[models\]"):
        embed_manifest(man, embedder=FakeEmbedder(), detector=CenterFaceDetector(),
                       n_workers=1, progress=False)


class _LandmarkStub:
    """Whole image as the face, with fixed landmarks (picklable: defined at module level)."""

    detector_id = "stub"
    has_landmarks = True

    def detect(self, image):
        from faceaudit.pipeline import ARCFACE_REF, Detection

        h, w = image.shape[:2]
        return [Detection((0.0, 0.0, w - 1.0, h - 1.0), 1.0, ARCFACE_REF.astype(np.float32))]


# ---------------------------------------------------------------------------- resume
_SCRIPT = textwrap.dedent("""
    import sys
    import pandas as pd
    from faceaudit import Manifest
    from faceaudit.pipeline import FakeEmbedder, embed_manifest

    if __name__ == "__main__":
        man = Manifest(pd.read_csv(sys.argv[1], dtype=str), root=sys.argv[2])
        embed_manifest(man, embedder=FakeEmbedder(delay=0.05), detector="none",
                       store=sys.argv[3], n_workers=int(sys.argv[4]), chunk_size=2,
                       progress=False)
        print("finished")
""")


@pytest.mark.parametrize("n_workers", [1, 2])
def test_resume_after_sigkill(tmp_path, monkeypatch, n_workers):
    psutil = pytest.importorskip("psutil")
    root = tmp_path / "imgs"
    rows = []
    for k in range(80):
        s = SUBJECTS[k % 4]
        (root / s).mkdir(parents=True, exist_ok=True)
        (root / s / f"{k}.png").write_bytes(_png_bytes(k))
        rows.append({"sample_id": f"{s}_{k}", "subject_id": s, "path": f"{s}/{k}.png"})
    man = Manifest(pd.DataFrame(rows), root=root)
    csv = tmp_path / "m.csv"
    man.write(csv)
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT)
    store = tmp_path / "store"
    log = tmp_path / "stderr.txt"
    with open(log, "wb") as err:
        # Manifest.write writes paths relative to the file's folder: that is the root
        proc = subprocess.Popen([sys.executable, str(script), str(csv), str(csv.parent),
                                 str(store), str(n_workers)],
                                stdout=subprocess.DEVNULL, stderr=err)
    db = store / "templates.sqlite"
    deadline = time.monotonic() + 60
    n_before = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    con = sqlite3.connect(db, timeout=5)
                    n_before = con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
                    con.close()
                except sqlite3.OperationalError:
                    n_before = 0
                if n_before >= 10:
                    break
            time.sleep(0.05)
        children = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, log.read_text()
    # orphaned workers notice their parent is gone and exit
    _, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, alive

    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    n_stored = con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    con.close()
    assert 10 <= n_stored < 80

    calls: list[str] = []
    real = runner_mod.process_image

    def counting(config, sha, path):
        calls.append(sha)
        return real(config, sha, path)

    monkeypatch.setattr(runner_mod, "process_image", counting)
    resumed = embed_manifest(man, embedder=FakeEmbedder(delay=0.0), detector="none",
                             store=store, n_workers=1, progress=False)
    assert len(calls) == 80 - n_stored  # finished work skipped
    fresh = embed_manifest(man, embedder=FakeEmbedder(), detector="none", n_workers=1,
                           progress=False)
    assert resumed.ok.all()
    np.testing.assert_array_equal(resumed.vectors, fresh.vectors)  # nothing lost or corrupted


def test_store_roundtrip_is_exact(tmp_path):
    from faceaudit.pipeline import StoredResult

    rng = np.random.default_rng(9)
    v = rng.standard_normal(128).astype(np.float32)
    face = np.arange(15, dtype=np.float32)
    with TemplateStore(tmp_path) as st:
        n = st.put_many("p1", [StoredResult("a" * 64, "ok", "", v, face),
                               StoredResult("b" * 64, "no_face", "the detector found no face"),
                               StoredResult("c" * 64, "error", "boom")])
        assert n == 2 and st.count() == 2 and st.pipelines() == {"p1": 2}
        got = st.get_many("p1", ["a" * 64, "b" * 64, "c" * 64, "d" * 64])
        assert set(got) == {"a" * 64, "b" * 64}
        np.testing.assert_array_equal(got["a" * 64].vector, v)
        np.testing.assert_array_equal(got["a" * 64].face, face)
        assert got["b" * 64].vector is None and got["b" * 64].detail.startswith("the detector")
        assert st.get_many("p2", ["a" * 64]) == {}


# ---------------------------------------------------------------------------- issue 13
def test_non_regular_files_are_never_opened(tree, special_files):
    """A FIFO or a symlink to /dev/zero named like an image hung `embed` (issue 13)."""
    man, root = tree
    special_files.fifo(root / "bad" / "fifo.jpg")
    special_files.dev_zero(root / "bad" / "zero.jpg")
    extra = pd.DataFrame([
        {"sample_id": "fifo", "subject_id": "y1", "path": "bad/fifo.jpg"},
        {"sample_id": "zero", "subject_id": "y2", "path": "bad/zero.jpg"},
        {"sample_id": "folder", "subject_id": "y3", "path": "bad"},
    ])
    m = Manifest(pd.concat([man.samples, extra]), root=root, source="tree.csv")
    t = embed_manifest(m, n_workers=1, **FAKE)
    st = dict(zip(t.sample_ids, t.status, strict=True))
    det = dict(zip(t.sample_ids, t.detail, strict=True))
    assert st["fifo"] == "unreadable" and det["fifo"].endswith(
        "fifo.jpg: not a regular file but a FIFO (named pipe)")
    assert st["zero"] == "unreadable" and det["zero"].endswith(
        "zero.jpg: not a regular file but a character device")
    assert st["folder"] == "unreadable" and det["folder"].endswith("but a folder")
    assert int(t.ok.sum()) == 17  # the rest of the run goes on


def test_worker_checks_the_file_again_before_reading(tmp_path, special_files):
    """The file can change between the scan and the worker's read: a worker never opens a FIFO."""
    from faceaudit.pipeline._detect import make_detector
    from faceaudit.pipeline._runner import PipelineConfig, process_image

    cfg = PipelineConfig(FakeEmbedder(), make_detector("none"))
    special_files.fifo(tmp_path / "x.jpg")
    special_files.dev_zero(tmp_path / "z.jpg")
    for name, kind in (("x.jpg", "a FIFO (named pipe)"), ("z.jpg", "a character device")):
        r = process_image(cfg, "0" * 64, tmp_path / name)
        assert r.status == "unreadable"
        assert r.detail == f"cannot read {tmp_path / name}: not a regular file but {kind}"


def test_non_utf8_paths_give_text_details_the_store_can_keep(tmp_path):
    root = tmp_path / "imgs"
    (root / "a").mkdir(parents=True)
    raw = os.fsencode(root / "a") + b"/caf\xe9.png"
    with open(raw, "wb") as fh:
        fh.write(b"not a png")  # unreadable: its detail names the path and goes to SQLite
    with open(os.fsencode(root / "a") + b"/ok\xe9.png", "wb") as fh:
        fh.write(_png_bytes(3))
    rows = [{"sample_id": "bad", "subject_id": "a", "path": "file:a/caf%E9.png"},
            {"sample_id": "good", "subject_id": "a", "path": "file:a/ok%E9.png"}]
    m = Manifest(pd.DataFrame(rows), root=root)
    t = embed_manifest(m, n_workers=1, store=tmp_path / "store", **FAKE)
    assert t.status.tolist() == ["unreadable", "ok"]
    assert "not an image file" in t.detail[0]
    t.save(tmp_path / "t.npz")  # ids and details are text
    # and the store keeps any detail as text, whoever wrote it
    from faceaudit.pipeline import StoredResult

    with TemplateStore(tmp_path / "store2") as st:
        st.put_many("p", [StoredResult("e" * 64, "unreadable", "cannot read caf\udce9.png")])
        assert st.get_many("p", ["e" * 64])["e" * 64].detail == "cannot read caf%E9.png"


def test_all_images_missing_is_an_error_naming_the_first(tree, tmp_path):
    man, _ = tree
    wrong = Manifest(man.samples, root=tmp_path / "elsewhere", source="tree.csv")
    with pytest.raises(InputError, match=r"tree\.csv: none of the 22 images can be read \(first: "
                                         r"cannot read .*elsewhere/alice/alice_0\.png: No such "
                                         r"file or directory\)\. Relative paths resolve against"):
        embed_manifest(wrong, n_workers=1, **FAKE)
    # one readable image is enough for the run to go on (and record the rest)
    assert len(embed_manifest(man, n_workers=1, **FAKE)) == len(man)


class _PixelFake(FakeEmbedder):
    """A FakeEmbedder keyed on the pixels only (the batch method gets no source path)."""

    def embed(self, image, detection, *, source=None):  # type: ignore[no-untyped-def]
        return super().embed(image, detection)


class _BatchFake(_PixelFake):
    """The same vectors through the optional batch method; records the batch sizes."""

    batches: ClassVar[list[int]] = []

    def embed_faces(self, faces):  # type: ignore[no-untyped-def]
        type(self).batches.append(len(faces))
        return [self.embed(img, det) for img, det in faces]


def test_batch_embedder_gets_a_chunk_and_gives_the_same_results(tree):
    man, _ = tree
    one = embed_manifest(man, embedder=_PixelFake(), detector="none", n_workers=1,
                         progress=False)
    _BatchFake.batches = []
    batched = embed_manifest(man, embedder=_BatchFake(), detector="none", n_workers=1,
                             progress=False, chunk_size=5)
    # 20 distinct files to process (the duplicate and the path-less row are not); corrupt
    # and tiny fail before the embedder; the 17 others come in calls of at most 5 faces
    assert max(_BatchFake.batches) == 5 and sum(_BatchFake.batches) == 17
    assert (one.status == batched.status).all() and (one.detail == batched.detail).all()
    assert one.ok.sum() == 18  # the 17 files, one of them under two sample ids
    np.testing.assert_array_equal(one.vectors, batched.vectors)


def test_a_batch_that_raises_fails_its_images_only(tree):
    from faceaudit.pipeline import PipelineConfig, WholeImageDetector, process_chunk

    _, root = tree

    class Broken(FakeEmbedder):
        def embed_faces(self, faces):  # type: ignore[no-untyped-def]
            raise RuntimeError("network exploded")

    cfg = PipelineConfig(Broken(), WholeImageDetector())
    items = [("0" * 64, str(root / "alice" / "alice_0.png")),
             ("1" * 64, str(root / "bad" / "does_not_exist.png"))]
    from faceaudit._io import sha256_file

    items[0] = (sha256_file(items[0][1]), items[0][1])
    out = process_chunk(cfg, items)
    assert [r.status for r in out] == ["error", "unreadable"]
    assert out[0].detail == "RuntimeError: network exploded"
