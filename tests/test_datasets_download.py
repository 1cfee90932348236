"""download_lfw / fetch against a local HTTP server on 127.0.0.1 (never the real internet)."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from faceaudit import IntegrityError
from faceaudit.datasets import (
    LFW_FILES,
    DownloadError,
    RemoteFile,
    download_lfw,
    load_lfw,
    read_lfw_pairs,
)
from faceaudit.datasets._download import fetch, part_path

PAIRS = b"1 1\nA_B\t1\t2\nA_B\t1\tC\t1\n"
MALE = b"A_B_0001.jpg\r\nA_B_0002.jpg\r\n"
FEMALE = b"C_0001.jpg\r\n"
ANCESTRY = b'{"A_B": "caucasian", "C": "african,caucasian"}'


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


ARCHIVE = _tgz({
    "lfw-deepfunneled/A_B/A_B_0001.jpg": b"\xff\xd8 one",
    "lfw-deepfunneled/A_B/A_B_0002.jpg": b"\xff\xd8 two",
    "lfw-deepfunneled/C/C_0001.jpg": b"\xff\xd8 three",
})


class Server:
    """Serves ``files`` (url path -> bytes); records requests; can truncate or ignore ranges."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.truncate: set[str] = set()  # paths whose next response is cut in half
        self.ranges = True
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                srv.requests.append((self.path, rng))
                data = srv.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and srv.ranges:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in srv.truncate:
                    srv.truncate.discard(self.path)
                    body = body[: len(body) // 2]
                    self.close_connection = True
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    s.files = {
        "/lfw-deepfunneled.tgz": ARCHIVE,
        "/pairs.txt": PAIRS,
        "/male.txt": MALE,
        "/female.txt": FEMALE,
        "/race.json": ANCESTRY,
    }
    yield s
    s.close()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _spec(server: Server, **override: RemoteFile) -> list[RemoteFile]:
    u = server.url
    files = {
        "archive": RemoteFile("lfw-deepfunneled.tgz", (f"{u}/lfw-deepfunneled.tgz",),
                              md5=hashlib.md5(ARCHIVE).hexdigest()),
        "pairs": RemoteFile("pairs.txt", (f"{u}/pairs.txt",), sha256=_sha(PAIRS),
                            md5=hashlib.md5(PAIRS).hexdigest()),
        "male": RemoteFile("labels/raw/afifi_male_names.txt", (f"{u}/male.txt",),
                           sha256=_sha(MALE)),
        "female": RemoteFile("labels/raw/afifi_female_names.txt", (f"{u}/female.txt",),
                             sha256=_sha(FEMALE)),
        "race": RemoteFile("labels/raw/usc_sail_lfw_race_dict.json", (f"{u}/race.json",),
                           sha256=_sha(ANCESTRY)),
    }
    files.update(override)
    return list(files.values())


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.name.endswith(".part")
                  or p.name.startswith((".extract-", ".old-")))


def test_download_success_then_skip(server: Server, tmp_path: Path) -> None:
    root = download_lfw(tmp_path / "data", files=_spec(server), timeout=5)
    assert root == tmp_path / "data" / "lfw"
    assert len(server.requests) == 5
    assert not (root / "lfw-deepfunneled.tgz").exists()  # archive removed after unpacking
    assert _leftovers(root) == []
    m = load_lfw(root)
    assert list(m.sample_ids) == ["A_B/A_B_0001.jpg", "A_B/A_B_0002.jpg", "C/C_0001.jpg"]
    assert m.samples.gender.tolist() == ["M", "M", "F"]
    assert m.samples.ancestry.tolist() == ["caucasian", "caucasian", "multiple"]
    assert (root / "lfw-deepfunneled" / "C" / "C_0001.jpg").read_bytes() == b"\xff\xd8 three"
    pairs = read_lfw_pairs(root / "pairs.txt", m)
    assert pairs.mated.tolist() == [True, False]
    # Second run: everything present and verified locally, no request made.
    download_lfw(tmp_path / "data", files=_spec(server), timeout=5)
    assert len(server.requests) == 5
    # force=True fetches everything again.
    download_lfw(tmp_path / "data", files=_spec(server), timeout=5, force=True, keep_archive=True)
    assert len(server.requests) == 10
    assert (root / "lfw-deepfunneled.tgz").read_bytes() == ARCHIVE


def test_checksum_mismatch_leaves_nothing(server: Server, tmp_path: Path) -> None:
    bad = RemoteFile("pairs.txt", (f"{server.url}/pairs.txt",), sha256="0" * 64)
    with pytest.raises(IntegrityError, match=r"pairs\.txt: the file downloaded from .* does not "
                                             r"match the published checksum \(sha256 "):
        download_lfw(tmp_path, files=[bad], timeout=5)
    root = tmp_path / "lfw"
    assert sorted(p.name for p in root.iterdir()) == []
    bad_archive = RemoteFile("lfw-deepfunneled.tgz", (f"{server.url}/lfw-deepfunneled.tgz",),
                             md5="0" * 32)
    with pytest.raises(IntegrityError, match=r"md5 [0-9a-f]{32} \(expected 0{32}\)"):
        download_lfw(tmp_path, files=[bad_archive], timeout=5)
    assert sorted(p.name for p in root.iterdir()) == []


def test_truncated_download_resumes(server: Server, tmp_path: Path) -> None:
    server.truncate.add("/pairs.txt")
    spec = _spec(server)
    pairs_spec = [f for f in spec if f.name == "pairs.txt"]
    with pytest.raises(DownloadError, match=r"cut short after 11 of 22 bytes.*run the download "
                                            r"again to resume"):
        download_lfw(tmp_path, files=pairs_spec, timeout=5)
    part = part_path(tmp_path / "lfw" / "pairs.txt")
    assert part.read_bytes() == PAIRS[:11]
    assert not (tmp_path / "lfw" / "pairs.txt").exists()
    download_lfw(tmp_path, files=pairs_spec, timeout=5)
    assert server.requests[-1] == ("/pairs.txt", "bytes=11-")
    assert (tmp_path / "lfw" / "pairs.txt").read_bytes() == PAIRS
    assert not part.exists()


def test_resume_when_server_ignores_ranges(server: Server, tmp_path: Path) -> None:
    server.ranges = False
    part = part_path(tmp_path / "pairs.txt")
    part.write_bytes(b"garbage!")
    spec = RemoteFile("pairs.txt", (f"{server.url}/pairs.txt",), sha256=_sha(PAIRS))
    assert fetch(spec, tmp_path, timeout=5).read_bytes() == PAIRS
    assert server.requests == [("/pairs.txt", "bytes=8-")]


def test_complete_part_file_is_verified(server: Server, tmp_path: Path) -> None:
    part_path(tmp_path / "pairs.txt").write_bytes(PAIRS)  # server answers 416 to bytes=22-
    spec = RemoteFile("pairs.txt", (f"{server.url}/pairs.txt",), sha256=_sha(PAIRS))
    assert fetch(spec, tmp_path, timeout=5).read_bytes() == PAIRS


def test_mirror_fallback_and_offline(server: Server, tmp_path: Path) -> None:
    spec = RemoteFile("pairs.txt", (f"{server.url}/gone.txt", f"{server.url}/pairs.txt"),
                      sha256=_sha(PAIRS))
    assert fetch(spec, tmp_path, timeout=5).read_bytes() == PAIRS
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    offline = RemoteFile("labels/raw/x.txt", (f"http://127.0.0.1:{port}/x.txt",), sha256="0" * 64)
    with pytest.raises(DownloadError, match=r"(?s)could not download labels/raw/x\.txt; tried:.*"
                                            r"If you are offline.*x\.txt"):
        fetch(offline, tmp_path / "d", timeout=5)
    assert not (tmp_path / "d" / "labels" / "raw" / "x.txt").exists()
    assert not part_path(tmp_path / "d" / "labels" / "raw" / "x.txt").exists()


def test_existing_corrupt_file(server: Server, tmp_path: Path) -> None:
    (tmp_path / "pairs.txt").write_bytes(b"tampered")
    spec = RemoteFile("pairs.txt", (f"{server.url}/pairs.txt",), sha256=_sha(PAIRS))
    with pytest.raises(IntegrityError, match=r"existing file does not match.*force=True"):
        fetch(spec, tmp_path, timeout=5)
    assert server.requests == []
    assert fetch(spec, tmp_path, timeout=5, force=True).read_bytes() == PAIRS


def test_archive_without_image_folder(server: Server, tmp_path: Path) -> None:
    server.files["/lfw-deepfunneled.tgz"] = other = _tgz({"lfw/A/A_0001.jpg": b"x"})
    spec = RemoteFile("lfw-deepfunneled.tgz", (f"{server.url}/lfw-deepfunneled.tgz",),
                      md5=hashlib.md5(other).hexdigest())
    msg = r"has no folder 'lfw-deepfunneled'; it holds \['lfw'\]"
    with pytest.raises(IntegrityError, match=msg):
        download_lfw(tmp_path, files=[spec], timeout=5)
    assert _leftovers(tmp_path) == []
    assert not (tmp_path / "lfw" / "lfw-deepfunneled").exists()


def test_remote_file_validation() -> None:
    with pytest.raises(ValueError, match="needs a sha256 or md5"):
        RemoteFile("x", ("http://h/x",))
    with pytest.raises(ValueError, match="at least one URL"):
        RemoteFile("x", (), sha256="0" * 64)


def test_published_digests_match_shared_copies(lfw_dir: Path) -> None:
    """The pinned digests of pairs.txt and the label files match the shared byte copies."""
    checked = 0
    for f in LFW_FILES:
        if f.name.endswith(".tgz"):
            assert f.md5 == "68331da3eb755a505a502b5aacb3c201" and f.sha256 is None
            continue
        assert f.mismatch(lfw_dir / f.name) is None, f.name
        checked += 1
    assert checked == 4
