"""Folder-per-subject adapter, table adapter and the load_dataset registry on tiny made-up data."""

from __future__ import annotations

from pathlib import Path

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
