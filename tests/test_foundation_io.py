"""Safe reading (faceaudit._io): only regular files are opened; where a file stops being UTF-8."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from faceaudit import InputError
from faceaudit._io import (
    NotRegularFileError,
    load_npz,
    open_regular,
    read_regular,
    save_npz,
    sha256_file,
    utf8_problem,
)


@pytest.fixture
def odd_files(tmp_path: Path, special_files):  # type: ignore[no-untyped-def]
    """A FIFO, a symlink to /dev/zero, a socket, a folder, each named like an image."""
    special_files.fifo(tmp_path / "fifo.jpg")
    special_files.dev_zero(tmp_path / "zero.jpg")
    special_files.socket(tmp_path / "sock.jpg")
    (tmp_path / "dir.jpg").mkdir()
    (tmp_path / "ok.jpg").write_bytes(b"abc")
    return tmp_path


def test_only_regular_files_are_opened(odd_files: Path) -> None:
    kinds = {
        "fifo.jpg": "a FIFO (named pipe)",
        "zero.jpg": "a character device",
        "sock.jpg": "a socket",
        "dir.jpg": "a folder",
    }
    for name, kind in kinds.items():
        for read in (open_regular, read_regular, sha256_file):
            with pytest.raises(NotRegularFileError) as info:
                read(odd_files / name)
            assert info.value.kind == kind
            assert info.value.strerror == f"not a regular file but {kind}"
    assert read_regular(odd_files / "ok.jpg") == b"abc"
    with pytest.raises(FileNotFoundError):
        read_regular(odd_files / "absent.jpg")
    with pytest.raises(InputError, match="FIFO"):
        load_npz(odd_files / "fifo.jpg")


def test_a_file_swapped_for_a_fifo_after_the_check_is_not_read(
    odd_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the check sees a regular file; by the time it is opened the path is a FIFO
    import faceaudit._io as io_mod

    real = os.stat(odd_files / "ok.jpg")
    monkeypatch.setattr(io_mod, "stat_regular", lambda path: real)
    with pytest.raises(NotRegularFileError, match="changed while being opened"):
        open_regular(odd_files / "fifo.jpg")


def test_utf8_problem_names_line_and_byte(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    data = "a,b\nd\u00e9f,1\n".encode() + b"caf\xe9,2\n"
    p.write_bytes(data)
    at = data.index(b"\xe9")
    assert at == 14
    for block in (1, 2, 3, 1 << 20):  # a bad byte found whatever the read size
        msg = utf8_problem(p, block=block)
        assert msg is not None and msg.startswith("line 3: not UTF-8 text at byte 14 (0xE9)")
    p.write_bytes(b"ok\n\xc3")  # a truncated 2-byte character at the very end
    assert utf8_problem(p).startswith("line 2: not UTF-8 text at byte 3 (0xC3)")  # type: ignore[union-attr]
    p.write_bytes("x,y\n".encode("utf-16"))
    assert "UTF-16" in utf8_problem(p)  # type: ignore[operator]
    p.write_bytes("\ufeffcaf\u00e9\n".encode())
    assert utf8_problem(p) is None


def test_npz_round_trip_still_works(tmp_path: Path) -> None:
    save_npz(tmp_path / "a.npz", {"x": np.arange(3)})
    np.testing.assert_array_equal(load_npz(tmp_path / "a.npz")["x"], np.arange(3))
