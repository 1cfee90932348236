"""Checksum-verified, resumable, atomic downloads with the standard library only (urllib).

A file is fetched into ``<target>.part`` next to its final place. An interrupted or truncated
transfer leaves the ``.part`` file, and the next call resumes it with an HTTP ``Range``
request (falling back to a fresh download when the server ignores ranges). When the bytes are
complete their digest is checked; a mismatch deletes the ``.part`` file and raises
:class:`~faceaudit.IntegrityError`, so nothing unverified is ever left under the final name.
Only then is the file renamed (:func:`os.replace`) to its final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .._errors import DownloadError, IntegrityError

logger = logging.getLogger("faceaudit.datasets")

CHUNK = 1 << 16
USER_AGENT = "faceaudit-downloader (+https://pypi.org/project/faceaudit/)"


@dataclass(frozen=True)
class RemoteFile:
    """A file to download and how to verify it.

    Attributes
    ----------
    name : str
        Path of the file relative to the dataset folder (``"pairs.txt"``,
        ``"labels/raw/afifi_male_names.txt"``).
    urls : tuple of str
        Where to get it, tried in order (mirrors).
    sha256, md5 : str, optional
        Expected hex digests. Every given digest is checked; at least one is required.
        Use md5 only where no sha256 is published (it still detects corruption, though not
        a deliberate forgery).
    """

    name: str
    urls: tuple[str, ...]
    sha256: str | None = None
    md5: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "urls", tuple(self.urls))
        if not self.urls:
            raise ValueError(f"RemoteFile {self.name!r} needs at least one URL")
        if not (self.sha256 or self.md5):
            raise ValueError(f"RemoteFile {self.name!r} needs a sha256 or md5 digest")

    def digests(self, path: str | os.PathLike[str]) -> dict[str, str]:
        """The digests of ``path`` for the algorithms this file is checked with."""
        algos = {k: v for k, v in (("sha256", self.sha256), ("md5", self.md5)) if v}
        hashes = {k: hashlib.new(k, usedforsecurity=False) for k in algos}
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                for h in hashes.values():
                    h.update(block)
        return {k: h.hexdigest() for k, h in hashes.items()}

    def mismatch(self, path: str | os.PathLike[str]) -> str | None:
        """None if ``path`` has the expected digests, else a description of the mismatch."""
        got = self.digests(path)
        bad = [
            f"{k} {got[k]} (expected {v})"
            for k, v in (("sha256", self.sha256), ("md5", self.md5))
            if v and got[k] != v.lower()
        ]
        return "; ".join(bad) or None


def part_path(target: Path) -> Path:
    """Where the incomplete download of ``target`` is kept."""
    return target.with_name(target.name + ".part")


def _transfer(url: str, part: Path, timeout: float) -> None:
    """Download ``url`` into ``part``, resuming from its current size; raise on a short body."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range not satisfiable: the .part is (over)complete
            exc.close()
            return
        raise
    with resp:
        if have and resp.status == 206:
            mode, offset = "ab", have
        else:
            mode, offset = "wb", 0
            if have:
                logger.info("%s: server ignored the resume request; downloading from scratch", url)
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        with open(part, mode) as fh:
            while block := resp.read(CHUNK):
                fh.write(block)
                received += len(block)
            fh.flush()
            os.fsync(fh.fileno())
    if expected is not None and received < expected:
        raise DownloadError(
            f"{url}: transfer cut short after {offset + received} of {offset + expected} bytes; "
            f"the partial file {part} is kept: run the download again to resume"
        )


def fetch(
    remote: RemoteFile,
    dest_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Download ``remote`` into ``dest_dir / remote.name`` unless a verified copy is there.

    Parameters
    ----------
    remote : RemoteFile
    dest_dir : path
        The dataset folder.
    force : bool
        Download again even if the file exists (a pending ``.part`` is discarded).
    timeout : float
        Seconds to wait on the network before giving up on a URL.

    Returns
    -------
    Path
        The verified file.

    Raises
    ------
    IntegrityError
        The downloaded bytes (or an existing file) do not have the published digest; the
        downloaded copy is deleted.
    DownloadError
        Every URL failed (offline, HTTP error, truncated transfer).
    """
    target = Path(dest_dir) / remote.name
    part = part_path(target)
    if target.exists() and not force:
        bad = remote.mismatch(target)
        if bad is None:
            logger.info("%s: present and verified, skipping", target)
            return target
        raise IntegrityError(
            f"{target}: existing file does not match the published checksum ({bad}); "
            f"delete it or download again with force=True"
        )
    if force:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for url in remote.urls:
        try:
            logger.info("downloading %s -> %s", url, target)
            _transfer(url, part, timeout)
        except DownloadError as exc:  # truncated: keep .part, stop (resuming needs a re-run)
            raise DownloadError(f"{remote.name}: {exc}") from exc
        except urllib.error.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
            exc.close()
            continue
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            failures.append(f"{url}: {reason}")
            continue
        bad = remote.mismatch(part)
        if bad is not None:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise IntegrityError(
                f"{remote.name}: the file downloaded from {url} does not match the published "
                f"checksum ({bad}); it was deleted. The mirror may serve a different version; "
                f"try again later or another mirror"
            )
        os.replace(part, target)
        return target
    raise DownloadError(
        f"could not download {remote.name}; tried:\n  "
        + "\n  ".join(failures)
        + f"\nIf you are offline, get the file elsewhere and place it at {target} "
        "(it is checked against its published checksum)."
    )


def extract_tar(archive: Path, dest_dir: Path, member_root: str, *, force: bool = False) -> Path:
    """Extract the folder ``member_root`` of a tar archive into ``dest_dir``, atomically.

    The archive is unpacked into a temporary folder inside ``dest_dir`` with tarfile's
    ``"data"`` filter (no absolute paths, no ``..``, no device files, no links escaping the
    folder); only then is ``member_root`` renamed into place.

    Raises
    ------
    IntegrityError
        The archive is unreadable or lacks ``member_root``.
    """
    final = dest_dir / member_root
    if final.exists() and not force:
        return final
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest_dir))
    try:
        try:
            with tarfile.open(archive, "r:*") as tf:
                tf.extractall(tmp, filter="data")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise IntegrityError(
                f"{archive}: cannot extract the archive ({exc}); delete it and download again"
            ) from exc
        src = tmp / member_root
        if not src.is_dir():
            raise IntegrityError(
                f"{archive}: the archive has no folder {member_root!r}; "
                f"it holds {sorted(p.name for p in tmp.iterdir())}"
            )
        if final.exists():
            old = dest_dir / f".old-{member_root}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(src, final)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
