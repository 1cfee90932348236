"""Folder-per-subject adapter, table adapter and the load_dataset registry on tiny made-up data."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pandas as pd
import pytest

from faceaudit import UNKNOWN, ConfigError, Manifest, ManifestError
from faceaudit.datasets import (
    LoadReport,
    available_datasets,
    load_dataset,
    load_folder,
    load_table,
    register_dataset,
)
from faceaudit.datasets._common import (
    REASON_EMPTY_SUBJECT,
    REASON_NAME_CLASH,
    REASON_NOT_REGULAR,
    REASON_UNREADABLE,
)
from faceaudit.datasets.folder import MSG_DUPLICATE_KEY, MSG_NO_IMAGES, MSG_UNMATCHED

FILES = [
    "alice/a1.jpg",
    "alice/a2.JPEG",
    "alice/session2/a3.png",
    "bob/b1.jpg",
    "carol/c1.bmp",
    # left out:
    "alice/.DS_Store",
    "alice/._a1.jpg",
    "bob/notes.txt",
    "__MACOSX/alice/._a1.jpg",
    ".hidden/x.jpg",
    "Thumbs.db",
    "README.md",
    "loose.jpg",
]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "faces"
    for f in FILES:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_bytes(b"img")
    (root / "dave").mkdir()  # an empty subject folder
    return root


def test_samples_and_ignored_files_counted(tree: Path) -> None:
    m, rep = load_folder(tree, with_report=True)
    assert list(m.sample_ids) == [
        "alice/a1.jpg", "alice/a2.JPEG", "alice/session2/a3.png", "bob/b1.jpg", "carol/c1.bmp",
    ]
    assert m.samples.subject_id.tolist() == ["alice", "alice", "alice", "bob", "carol"]
    assert m.n_subjects == 3
    assert m.attributes == ()
    assert m.paths()[2] == tree / "alice" / "session2" / "a3.png"
    assert rep.ignored == {
        "junk": (".hidden/x.jpg", "Thumbs.db", "__MACOSX/alice/._a1.jpg", "alice/.DS_Store",
                 "alice/._a1.jpg"),
        "not an image": ("README.md", "bob/notes.txt"),
        "not inside a subject folder": ("loose.jpg",),
    }
    assert rep.n_ignored == 8
    assert any("dave" in n for n in rep.notes)
    assert "ignored 5 file(s) (junk)" in rep.summary()


def test_labels_by_subject(tree: Path, tmp_path: Path) -> None:
    labels = tmp_path / "subjects.csv"
    labels.write_text("subject_id,sex,race\nalice,F,black\nbob,M,\nzed,M,white\n")
    m, rep = load_folder(tree, labels, with_report=True)
    s = m.samples.set_index("sample_id")
    assert m.attributes == ("sex", "race")
    assert s.sex.tolist() == ["F", "F", "F", "M", UNKNOWN]
    assert s.race.tolist() == ["black", "black", "black", UNKNOWN, UNKNOWN]
    assert rep.unmatched_labels == ("zed",)
    assert rep.unlabelled == ("carol",)
    assert rep.value_counts["sex"] == {"F": 3, "M": 1, UNKNOWN: 1}
    d = m.describe("sex")
    assert d.loc["F", "n_subjects"] == 1 and d.loc[UNKNOWN, "n_samples"] == 1
    with pytest.raises(ManifestError, match=rf"1 {MSG_UNMATCHED} \(no such subject\): 'zed'"):
        load_folder(tree, labels, on_unmatched="error")


def test_labels_by_image(tree: Path, tmp_path: Path) -> None:
    labels = pd.DataFrame(
        {"sample_id": ["alice/a1.jpg", "alice\\session2\\a3.png", "bob/b9.jpg"],
         "glasses": ["yes", "no", "yes"], "age": ["31", "31", "40"],
         "subject_id": ["x", "y", "z"]}
    )
    m, rep = load_folder(tree, labels, labels_by="image", with_report=True)
    s = m.samples.set_index("sample_id")
    assert s.glasses.tolist() == ["yes", UNKNOWN, "no", UNKNOWN, UNKNOWN]
    assert rep.unmatched_labels == ("bob/b9.jpg",)
    assert rep.unlabelled == ("alice/a2.JPEG", "bob/b1.jpg", "carol/c1.bmp")
    assert m.attributes == ("glasses", "age")
    assert m.samples.subject_id.tolist()[0] == "alice"
    assert any("['subject_id'] not used" in n for n in rep.notes)
    # a custom key column
    m2 = load_folder(tree, labels.rename(columns={"sample_id": "file"}), labels_by="image",
                     key_column="file")
    assert m2.samples.glasses.tolist() == s.glasses.tolist()


def test_label_table_errors(tree: Path, tmp_path: Path) -> None:
    bad = tmp_path / "dup.csv"
    bad.write_text("subject_id,sex\nalice,F\nbob,M\nalice,M\n")
    msg = rf"dup\.csv: {MSG_DUPLICATE_KEY} 'alice' in data rows 1 and 3"
    with pytest.raises(ManifestError, match=msg):
        load_folder(tree, bad)
    bad.write_text("name,sex\nalice,F\n")
    msg = r"need a 'subject_id' column; columns are \['name', 'sex'\]"
    with pytest.raises(ManifestError, match=msg):
        load_folder(tree, bad)
    bad.write_text("subject_id,sex\nalice,F\n,M\n")
    with pytest.raises(ManifestError, match=r"data row 2: empty 'subject_id'"):
        load_folder(tree, bad)
    with pytest.raises(ManifestError, match="label file not found"):
        load_folder(tree, tmp_path / "missing.csv")
    msg = "labels_by must be one of 'subject', 'image'; got 'person'"
    with pytest.raises(ConfigError, match=msg):
        load_folder(tree, bad, labels_by="person")


def test_empty_or_missing_root(tmp_path: Path) -> None:
    (tmp_path / "empty" / "x").mkdir(parents=True)
    (tmp_path / "empty" / "x" / ".DS_Store").write_bytes(b"")
    with pytest.raises(ManifestError, match=f"{MSG_NO_IMAGES}.*1 other file"):
        load_folder(tmp_path / "empty")
    with pytest.raises(ManifestError, match="image folder not found"):
        load_folder(tmp_path / "nope")


def test_custom_extensions(tree: Path) -> None:
    m = load_folder(tree, extensions=("jpg",))
    assert list(m.sample_ids) == ["alice/a1.jpg", "bob/b1.jpg"]


# ------------------------------------------------------------------ table adapter
def test_table_as_is_and_renamed(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text("image,identity,race\nx/1.jpg,x,asian\nx/2.jpg,x,asian\ny/1.jpg,y,\n")
    with pytest.raises(ManifestError, match="missing required column 'sample_id'"):
        load_table(p)
    m = load_table(p, rename={"image": "sample_id", "identity": "subject_id"})
    assert isinstance(m, Manifest)
    assert (len(m), m.n_subjects, m.attributes) == (3, 2, ("race",))
    assert m.samples.race.tolist() == ["asian", "asian", UNKNOWN]
    assert m.root == tmp_path
    with pytest.raises(ConfigError, match=r"rename keys must be columns of .*got \['img'\]"):
        load_table(p, rename={"img": "sample_id"})
    with pytest.raises(ConfigError, match=r"duplicate columns; got \['race'\]"):
        load_table(p, rename={"image": "sample_id", "identity": "race"})
    with pytest.raises(ConfigError, match="path must end with one of"):
        load_table(tmp_path / "m.json")


def test_table_parquet(tmp_path: Path) -> None:
    p = tmp_path / "m.parquet"
    pd.DataFrame({"img": ["a", "b"], "subject_id": ["s", "t"], "sex": ["F", None]}).to_parquet(p)
    m = load_table(p, rename={"img": "sample_id"})
    assert m.samples.sex.tolist() == ["F", UNKNOWN]
    m.write(tmp_path / "out.csv")
    assert load_table(tmp_path / "out.csv").samples.sex.tolist() == ["F", UNKNOWN]


# ------------------------------------------------------------------ registry
def test_load_dataset_dispatch(tree: Path, tmp_path: Path) -> None:
    assert {"lfw", "frll"} <= set(available_datasets())
    m = load_dataset(tree)
    assert len(m) == 5
    m, rep = load_dataset(str(tree), with_report=True)
    assert isinstance(rep, LoadReport) and rep.n_ignored == 8
    p = tmp_path / "m.csv"
    p.write_text("sample_id,subject_id\na,s\n")
    assert len(load_dataset(p)) == 1
    msg = r"options of load_folder must be among .*got \['bogus'\]"
    with pytest.raises(ConfigError, match=msg):
        load_dataset(tree, bogus=1)
    with pytest.raises(ConfigError, match=r"got 'nothing-here' \(no such file or folder\)"):
        load_dataset("nothing-here")
    with pytest.raises(ConfigError, match="data_dir applies only to named datasets"):
        load_dataset(tree, data_dir=tmp_path)


def test_register_dataset(tree: Path) -> None:
    calls = []

    def load_tiny(root, *, labels: bool = True):
        calls.append((root, labels))
        return load_folder(tree)

    register_dataset("tiny-set", load_tiny)
    try:
        assert len(load_dataset("tiny-set", data_dir="/somewhere", labels=False)) == 5
        assert calls == [("/somewhere", False)]
        with pytest.raises(ConfigError, match="already registered"):
            register_dataset("tiny-set", load_tiny)
        with pytest.raises(ConfigError, match="name must be letters"):
            register_dataset("bad name!", load_tiny)
    finally:
        from faceaudit.datasets import _REGISTRY

        _REGISTRY.pop("tiny-set", None)


def test_symlink_loop_does_not_hang(tree: Path) -> None:
    (tree / "alice" / "loop").symlink_to(tree, target_is_directory=True)
    (tree / "erin").symlink_to(tree / "bob", target_is_directory=True)  # a linked subject
    m, rep = load_folder(tree, with_report=True)
    assert "erin/b1.jpg" not in set(m.sample_ids)  # bob's folder was already read
    assert len(m) == 5
    assert rep.ignored["symlink to a folder already read"] == ("alice/loop/", "erin/")


# ------------------------------------------------------------------ odd files (issue 13)
def _make(path: bytes, data: bytes = b"img") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def test_non_utf8_file_names_become_samples_with_reversible_ids(tree: Path, tmp_path: Path) -> None:
    root = os.fsencode(tree)
    _make(root + b"/alice/caf\xe9.jpg", b"latin-1 name")
    _make(root + b"/jos\xe9/1%\xff.jpg", b"latin-1 folder")  # a subject folder too, and a '%'
    labels = tmp_path / "subjects.csv"
    labels.write_text("subject_id,sex\nalice,F\njos%E9,M\n")  # the id is how labels name it
    m, rep = load_folder(tree, labels, with_report=True)
    ids = list(m.sample_ids)
    assert "alice/caf%E9.jpg" in ids and "jos%E9/1%25%FF.jpg" in ids
    s = m.samples.set_index("sample_id")
    assert s.loc["jos%E9/1%25%FF.jpg", "subject_id"] == "jos%E9"
    assert s.loc["jos%E9/1%25%FF.jpg", "sex"] == "M"
    assert s.loc["alice/caf%E9.jpg", "path"] == "file:alice/caf%E9.jpg"
    paths = dict(zip(ids, m.paths(), strict=True))
    # the id is reversible: percent-decoding gives the file's bytes back
    for sid, raw in (("alice/caf%E9.jpg", b"alice/caf\xe9.jpg"),
                     ("jos%E9/1%25%FF.jpg", b"jos\xe9/1%\xff.jpg")):
        assert unquote_to_bytes(sid) == raw
        assert os.fsencode(paths[sid]) == root + b"/" + raw
    assert paths["alice/caf%E9.jpg"].read_bytes() == b"latin-1 name"
    assert any("2 image path(s) are not UTF-8" in n for n in rep.notes)
    # every text sink takes the manifest: CSV and Parquet written, read back, files found
    for name in ("m.csv", "sub/m.parquet"):
        m.write(tmp_path / name)
        back = Manifest.read(tmp_path / name)
        assert list(back.sample_ids) == ids
        assert [p.resolve() for p in back.paths()] == [p.resolve() for p in m.paths()]


def test_an_encoded_name_that_clashes_is_excluded_not_merged(tree: Path) -> None:
    root = os.fsencode(tree)
    _make(root + b"/bob/x\xe9.jpg")
    _make(root + b"/bob/x%E9.jpg")  # a UTF-8 name that reads like the encoded one
    m, rep = load_folder(tree, with_report=True)
    assert "bob/x%E9.jpg" in set(m.sample_ids)
    (clash,) = [e for e in rep.exclusions if e.reason == REASON_NAME_CLASH]
    assert clash.path == "bob/x%E9.jpg" and "not UTF-8" in clash.detail
    assert len(m) == 6


def test_non_regular_files_are_excluded_at_scan_time(tree: Path, special_files) -> None:  # type: ignore[no-untyped-def]
    special_files.fifo(tree / "bob" / "fifo.jpg")
    special_files.dev_zero(tree / "bob" / "zero.jpg")
    special_files.socket(tree / "carol" / "sock.png")
    (tree / "carol" / "broken.jpg").symlink_to(tree / "nowhere.jpg")
    (tree / "carol" / "loop.jpg").symlink_to("loop.jpg")
    m, rep = load_folder(tree, with_report=True)
    assert list(m.sample_ids) == [
        "alice/a1.jpg", "alice/a2.JPEG", "alice/session2/a3.png", "bob/b1.jpg", "carol/c1.bmp",
    ]
    got = {e.path: (e.reason, e.detail) for e in rep.exclusions}
    assert got["bob/fifo.jpg"] == (REASON_NOT_REGULAR, "a FIFO (named pipe)")
    assert got["bob/zero.jpg"] == (REASON_NOT_REGULAR, "a character device")
    assert got["carol/sock.png"] == (REASON_NOT_REGULAR, "a socket")
    assert got["carol/broken.jpg"] == (
        REASON_UNREADABLE, "a broken symbolic link (its target does not exist)")
    assert got["carol/loop.jpg"] == (REASON_UNREADABLE, "a symbolic link loop")
    assert rep.ignored[REASON_NOT_REGULAR] == ("bob/fifo.jpg", "bob/zero.jpg", "carol/sock.png")


def test_scan_exclusions_are_structured_records(tree: Path) -> None:
    (tree / "erin").symlink_to(tree / "bob", target_is_directory=True)
    _, rep = load_folder(tree, with_report=True)
    table = rep.exclusion_table()
    assert list(table.columns) == ["path", "reason", "detail"]
    assert table.values.tolist() == [
        [".hidden/x.jpg", "junk", ""],
        ["README.md", "not an image", "extension '.md'"],
        ["Thumbs.db", "junk", ""],
        ["__MACOSX/alice/._a1.jpg", "junk", ""],
        ["alice/.DS_Store", "junk", ""],
        ["alice/._a1.jpg", "junk", ""],
        ["bob/notes.txt", "not an image", "extension '.txt'"],
        ["dave/", REASON_EMPTY_SUBJECT, ""],
        ["erin/", "symlink to a folder already read", "links back to a folder already read"],
        ["loose.jpg", "not inside a subject folder", ""],
    ]
    assert rep.exclusions[0].as_dict() == {"path": ".hidden/x.jpg", "reason": "junk",
                                           "detail": ""}
    # the files among them are still grouped by reason, as before (folders are not files)
    assert rep.n_ignored == 9 and "dave/" not in rep.ignored.get(REASON_EMPTY_SUBJECT, ())
    # adapters that only give `ignored` get records too
    rep2 = LoadReport("x", 1, 1, ignored={"junk": ("a", "b")})
    assert [e.as_dict() for e in rep2.exclusions] == [
        {"path": "a", "reason": "junk", "detail": ""},
        {"path": "b", "reason": "junk", "detail": ""},
    ]


def test_written_manifest_can_be_fed_back(tree: Path, tmp_path: Path) -> None:
    """issue 13 item 10: the audit folder's manifest.csv finds every image again."""
    m = load_folder(tree)
    out = tmp_path / "audit" / "manifest.csv"
    m.write(out)
    for back in (load_table(out), load_dataset(out), Manifest.read(out)):
        assert list(back.sample_ids) == list(m.sample_ids)
        assert all(p is not None and p.is_file() for p in back.paths())
        assert [p.resolve() for p in back.paths()] == [p.resolve() for p in m.paths()]


def test_absurd_label_fields_are_refused(tree: Path, tmp_path: Path) -> None:
    labels = tmp_path / "subjects.csv"
    labels.write_text("subject_id,sex\nalice,F\nbob," + "M" * 1001 + "\n")
    msg = (r"subjects\.csv: data row 2, column 'sex': the value is 1,001 characters long .*"
           r"at most 1,000 are allowed")
    with pytest.raises(ManifestError, match=msg):
        load_folder(tree, labels)
    labels.write_bytes(b"subject_id,sex\nalice,F\nbob,M\xe9\n")
    with pytest.raises(ManifestError, match=r"subjects\.csv: line 3: not UTF-8 text at byte 28"):
        load_folder(tree, labels)


def test_a_fifo_given_as_a_table_is_refused(tree: Path, tmp_path: Path, special_files) -> None:  # type: ignore[no-untyped-def]
    special_files.fifo(tmp_path / "labels.csv")
    with pytest.raises(ManifestError, match=r"labels\.csv: cannot read this label file: it is "
                                            r"a FIFO \(named pipe\)"):
        load_folder(tree, tmp_path / "labels.csv")
    with pytest.raises(ManifestError, match="FIFO"):
        load_table(tmp_path / "labels.csv")
