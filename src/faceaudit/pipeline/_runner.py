"""The runner: every sample of a :class:`~faceaudit.Manifest` → a template or a failure to enrol.

Per image (in a worker): read bytes → :func:`~faceaudit.pipeline.decode_image` → detector →
:func:`~faceaudit.pipeline.select_face` → embedder. Each sample ends with exactly one status
(:data:`faceaudit.FAILURE_STATUSES`); an unexpected exception inside a worker becomes status
``"error"`` with its message, and a worker process that dies (segfault, OOM kill) is replaced,
its images retried one by one, and an image that kills a worker twice gets ``"error"``.
A :class:`~faceaudit.FaceauditError` raised by a model (a model file that cannot be loaded,
a detector without the landmarks an embedder needs) is a configuration problem, not an image
problem: it stops the run (results committed so far are kept) and reaches the caller.

Results go to a :class:`~faceaudit.pipeline.TemplateStore` as they arrive (see there for the
crash-safety and keying rules), so a re-run skips finished work and identical files are
embedded once. Results do not depend on the number of workers: each image is processed
independently, single-threaded, and the output is assembled in manifest order.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import ConfigError, FaceauditError, InputError, check_option, check_range
from .._io import read_regular, sha256_file
from .._manifest import Manifest
from .._templates import ERROR, MISSING, OK, UNREADABLE, Templates
from .._text import name_to_text
from ._detect import POLICIES, Detector, FaceFailure, make_detector, select_face
from ._embed import Embedder
from ._images import DEFAULT_MAX_PIXELS, DecodeFailure, decode_image
from ._models import make_embedder
from ._store import StoredResult, TemplateStore

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that decides an image's result (the pipeline id is derived from it)."""

    embedder: Embedder
    detector: Detector
    face_policy: str = "central"
    min_face_size: float = 20.0
    max_pixels: int = DEFAULT_MAX_PIXELS

    @property
    def pipeline_id(self) -> str:
        return (f"{self.embedder.model_id}|{self.detector.detector_id}|face={self.face_policy}"
                f":min={self.min_face_size:g}:maxpx={self.max_pixels}")


def process_image(config: PipelineConfig, sha: str, path: Path, *,
                  transform: Callable[[np.ndarray], np.ndarray] | None = None) -> StoredResult:
    """Run the whole pipeline on one file; never raises for a bad image.

    ``transform`` (optional) maps the decoded RGB ``uint8`` pixels to new pixels of any size
    before detection (the probe conditions of :mod:`faceaudit.probe`).
    """
    try:
        try:  # only a regular file is opened: the path may have become a FIFO since the scan
            data = read_regular(path)
        except OSError as exc:
            return StoredResult(sha, UNREADABLE,
                                f"cannot read {name_to_text(str(path))}: {exc.strerror or exc}")
        if hashlib.sha256(data).hexdigest() != sha:
            return StoredResult(sha, ERROR, f"{name_to_text(str(path))} changed while the run "
                                            "was in progress; re-run")
        img = decode_image(data, max_pixels=config.max_pixels,
                           min_size=max(1, int(np.ceil(config.min_face_size))))
        if isinstance(img, DecodeFailure):
            return StoredResult(sha, img.status, img.reason)
        pixels = img.pixels if transform is None else transform(img.pixels)
        dets = config.detector.detect(pixels)
        face = select_face(dets, pixels.shape, policy=config.face_policy,
                           min_face_size=config.min_face_size)
        if isinstance(face, FaceFailure):
            return StoredResult(sha, face.status, face.reason)
        vec = np.asarray(config.embedder.embed(pixels, face, source=Path(path)), np.float32)
        if vec.ndim != 1 or not np.isfinite(vec).all():
            return StoredResult(sha, ERROR, f"embedder returned a non-finite or non-1-d vector "
                                            f"(shape {vec.shape})", None, face.as_array())
        return StoredResult(sha, OK, "", vec, face.as_array())
    except FaceauditError:
        raise  # a configuration / model-file problem: stop the run with its message
    except Exception as exc:
        return StoredResult(sha, ERROR, f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------- workers
_WORKER_CONFIG: PipelineConfig | None = None


def _init_worker(config: PipelineConfig) -> None:
    global _WORKER_CONFIG
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    with contextlib.suppress(Exception):
        import threadpoolctl

        threadpoolctl.threadpool_limits(1)
    _WORKER_CONFIG = config
    _exit_with_parent()


def _exit_with_parent() -> None:
    """Exit this worker as soon as the parent process dies (e.g. SIGKILL), not linger."""
    import threading
    from multiprocessing.connection import wait as mp_wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        mp_wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="faceaudit-parent-watch", daemon=True).start()


def _ping() -> bool:
    return True


SPAWN_HINT = (
    "the worker processes could not start. faceaudit's workers use Python's 'spawn' start "
    "method, which re-imports the calling script in every worker: in a script, put the code "
    "that calls faceaudit under `if __name__ == \"__main__\":`, or pass n_workers=1"
)


def _work(items: list[tuple[str, str]]) -> list[StoredResult]:
    assert _WORKER_CONFIG is not None
    return [process_image(_WORKER_CONFIG, sha, Path(p)) for sha, p in items]


def _chunks(items: list[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _run_serial(config: PipelineConfig, todo: list[tuple[str, str]],
                on_results: Callable[[list[StoredResult]], None], chunk_size: int) -> None:
    for chunk in _chunks(todo, chunk_size):
        on_results([process_image(config, sha, Path(p)) for sha, p in chunk])


def _run_pool(config: PipelineConfig, todo: list[tuple[str, str]],
              on_results: Callable[[list[StoredResult]], None], n_workers: int,
              chunk_size: int) -> None:
    """Process ``todo`` on a spawn-based process pool, surviving worker deaths."""
    ctx = multiprocessing.get_context("spawn")
    queue: list[list[tuple[str, str]]] = list(_chunks(todo, chunk_size))
    queue.reverse()  # pop() from the end keeps the original order
    crashes: dict[str, int] = {}
    while queue:
        pool = ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(config,))
        try:  # a pool whose workers die while starting would otherwise be recreated forever
            pool.submit(_ping).result()
        except BrokenProcessPool as exc:
            pool.shutdown(wait=False, cancel_futures=True)
            raise ConfigError(f"{SPAWN_HINT} ({exc})") from exc
        inflight: dict[Future[list[StoredResult]], list[tuple[str, str]]] = {}
        broken = False
        try:
            while queue or inflight:
                while queue and len(inflight) < 3 * n_workers and not broken:
                    chunk = queue.pop()
                    try:
                        inflight[pool.submit(_work, chunk)] = chunk
                    except BrokenProcessPool:
                        queue.append(chunk)
                        broken = True
                if not inflight:
                    break
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in done:
                    chunk = inflight.pop(fut)
                    try:
                        on_results(fut.result())
                    except BrokenProcessPool:
                        broken = True
                        lost = [chunk, *inflight.values()]
                        inflight.clear()
                        dead: list[StoredResult] = []
                        for c in lost:
                            if len(c) == 1:
                                sha = c[0][0]
                                crashes[sha] = crashes.get(sha, 0) + 1
                                if crashes[sha] >= 2:
                                    dead.append(StoredResult(
                                        sha, ERROR, f"the worker process died twice while "
                                        f"processing {c[0][1]} (crash or out of memory)"))
                                    continue
                            # retry one image per task to find the culprit
                            queue.extend([it] for it in reversed(c))
                        if dead:
                            on_results(dead)
                        break
                if broken:
                    break
        finally:
            if broken:
                pool.shutdown(wait=False, cancel_futures=True)
            else:
                # cancel queued work on KeyboardInterrupt; running tasks finish, are ignored
                pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------- progress
class _Progress:
    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self._p = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class _Rate(ProgressColumn):
            def render(self, task: object) -> Text:
                speed = getattr(task, "speed", None)
                return Text("  -- img/s" if speed is None else f"{speed:6.1f} img/s")

        console = Console(stderr=True)
        if not console.is_terminal:
            return
        self._p = Progress(TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), _Rate(),
                           TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                           console=console, transient=False)
        self._task = self._p.add_task("embed", total=total, completed=done)
        self._p.start()

    def advance(self, n: int) -> None:
        if self._p is not None:
            self._p.advance(self._task, n)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()


# ---------------------------------------------------------------------------- public
def embed_manifest(
    manifest: Manifest,
    *,
    embedder: str | Path | Embedder = "dlib",
    detector: str | Detector = "centerface",
    store: str | Path | None = None,
    n_workers: int = 2,
    progress: bool = True,
    face_policy: str = "central",
    min_face_size: float = 20.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    chunk_size: int = 4,
) -> Templates:
    """Detect, align and embed every sample of ``manifest``; failures are kept, not dropped.

    Parameters
    ----------
    manifest : Manifest
        Samples with image paths (``manifest.paths()``).
    embedder : "dlib", "sface", "fake", path to an ``.onnx`` file, or Embedder
        See :class:`DlibEmbedder`, :class:`SFaceEmbedder`, :class:`OnnxEmbedder`,
        :class:`FakeEmbedder`.
    detector : "centerface", "hog", "none", or Detector
        ``"none"`` uses the whole image as the face (pre-cropped images).
    store : path, optional
        Folder of the persistent :class:`TemplateStore` (resumable, shared between runs).
        ``None`` uses a temporary store deleted at the end.
    n_workers : int
        Worker processes (each single-threaded, models loaded once per worker). ``1`` runs in
        this process. The result is identical for any value.
    progress : bool
        Show a rich progress bar (rate, ETA) on stderr when it is a terminal.
    face_policy : {"central", "largest", "fail"}
        Which face to enrol when several are found (see :func:`select_face`): the one
        nearest the image centre (default), the largest, or none (``"multiple_faces"``).
    min_face_size : float
        Faces (and images) whose shorter side is below this many pixels are ``"too_small"``.
    max_pixels : int
        Larger images are refused as ``"unreadable"`` (decompression-bomb guard).
    chunk_size : int
        Images per task sent to a worker (and per store transaction).

    Returns
    -------
    Templates
        In manifest order. ``model_id`` is the pipeline id (embedder model id, detector id and
        face-selection options); ``similarity`` is the embedder's. Statuses: ``"ok"``;
        ``"missing"`` (no path in the manifest); ``"unreadable"`` (file absent, unreadable,
        not a regular file, corrupt, truncated, not an image, too many pixels);
        ``"too_small"``; ``"no_face"``; ``"multiple_faces"``; ``"error"`` (unexpected
        exception; message in ``detail``). Only regular files are opened: a path that is (or
        becomes, before a worker reads it) a FIFO, socket or device is ``"unreadable"``.

    Raises
    ------
    InputError
        Not one image of the manifest can be read (every path missing or not a file): almost
        always paths resolved against the wrong folder. The message names the first one.
    """
    check_option("face_policy", face_policy, POLICIES)
    check_range("n_workers", n_workers, low=1, high=256)
    check_range("min_face_size", min_face_size, low=0.0)
    check_range("max_pixels", max_pixels, low=1)
    check_range("chunk_size", chunk_size, low=1)
    if not isinstance(manifest, Manifest):
        raise ConfigError(f"manifest must be a faceaudit.Manifest; got {type(manifest).__name__}")
    emb = make_embedder(embedder)
    det = make_detector(detector)
    if getattr(emb, "needs_landmarks", False) and not det.has_landmarks:
        raise ConfigError(f"detector must provide 5 landmarks for {emb!r}; got "
                          f"{det.detector_id!r} (use detector='centerface')")
    config = PipelineConfig(emb, det, face_policy, float(min_face_size), int(max_pixels))
    pid = config.pipeline_id

    status, detail, shas, first_path = _hash_images(manifest)
    with contextlib.ExitStack() as stack:
        if store is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="faceaudit-store-"))
            st = TemplateStore(tmp)
        else:
            st = TemplateStore(store)
        stack.callback(st.close)
        results = st.get_many(pid, list(first_path))
        todo = [(sha, p) for sha, p in first_path.items() if sha not in results]
        bar = _Progress(len(first_path), len(first_path) - len(todo), progress)
        stack.callback(bar.close)

        def on_results(batch: list[StoredResult]) -> None:
            st.put_many(pid, batch)
            for r in batch:
                results[r.sha256] = r
            bar.advance(len(batch))

        if todo:
            if n_workers == 1:
                _run_serial(config, todo, on_results, chunk_size)
            else:
                _run_pool(config, todo, on_results, n_workers, chunk_size)

    return _templates(manifest.sample_ids, status, detail, shas, results, emb, pid)


def _templates(ids: np.ndarray, status: np.ndarray, detail: np.ndarray,
               shas: list[str | None], results: dict[str, StoredResult], emb: Embedder,
               pid: str) -> Templates:
    """The Templates of every sample from the stored result of its image."""
    n = len(ids)
    dims = {int(r.vector.size) for r in results.values() if r.vector is not None}
    if len(dims) > 1:
        raise ConfigError(f"embedder {emb!r} returned vectors of several lengths {sorted(dims)}")
    dim = dims.pop() if dims else int(emb.dim)
    vectors = np.full((n, dim), np.nan, dtype=np.float32)
    for i, sha in enumerate(shas):
        if sha is None:
            continue
        r = results.get(sha)
        if r is None:  # pragma: no cover - every todo item produces a result
            status[i], detail[i] = ERROR, "no result was produced for this image"
            continue
        status[i], detail[i] = r.status, r.detail
        if r.status == OK and r.vector is not None:
            vectors[i] = r.vector
    return Templates(ids, vectors, status.astype(str), detail.astype(str), pid, emb.similarity)


def _hash_images(
    manifest: Manifest,
) -> tuple[np.ndarray, np.ndarray, list[str | None], dict[str, str]]:
    """Per sample: status (missing/unreadable, else ok), detail and sha256 of its image; and
    the first path of each distinct image content. InputError if no image can be read."""
    n = len(manifest)
    status = np.full(n, OK, dtype=object)
    detail = np.full(n, "", dtype=object)
    shas: list[str | None] = [None] * n
    first_path: dict[str, str] = {}
    for i, p in enumerate(manifest.paths()):
        if p is None:
            status[i], detail[i] = MISSING, f"{manifest.source}: data row {i + 1} has no image path"
            continue
        try:
            sha = sha256_file(p)  # opens regular files only (never a FIFO or a device)
        except OSError as exc:
            status[i] = UNREADABLE
            detail[i] = f"cannot read {name_to_text(str(p))}: {exc.strerror or exc}"
            continue
        shas[i] = sha
        first_path.setdefault(sha, str(p))
    if n and not first_path:
        k = next((i for i in range(n) if status[i] == UNREADABLE), 0)
        raise InputError(
            f"{manifest.source}: none of the {n:,} images can be read (first: "
            f"{detail[k] or 'no image path'}). Relative paths resolve against "
            f"{name_to_text(os.path.abspath(manifest.root or '.'))} (for a manifest file: "
            "the file's own folder): are the paths relative to another folder?"
        )
    return status, detail, shas, first_path




