"""FRLL adapter: counts against PROVENANCE.md and the derived CSV; layout errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from faceaudit import UNKNOWN, ConfigError, Grouping, InputError
from faceaudit.datasets import frll_root, load_dataset, load_frll
from faceaudit.datasets.frll import FRLL_ENV, ethnicity_label


@pytest.fixture(scope="module")
def frll(frll_dir: Path):
    return load_frll(frll_dir, with_report=True)


def test_counts_and_ids(frll, frll_dir: Path) -> None:
    m, rep = frll
    assert len(m) == 204
    assert m.n_subjects == 102
    assert (m.samples.groupby("subject_id").size() == 2).all()
    assert rep.n_ignored == 0 and rep.unmatched_labels == () and rep.unlabelled == ()
    s = m.samples.set_index("sample_id")
    assert s.loc["neutral_front/001_03.jpg", "subject_id"] == "001"
    assert s.loc["smiling_front/001_08.jpg", "expression"] == "smiling"
    assert all(p is not None and p.is_file() for p in m.paths())
    assert m.samples.expression.value_counts().to_dict() == {"neutral": 102, "smiling": 102}


def test_gender_by_ethnicity(frll) -> None:
    m = frll[0]
    per = m.samples.drop_duplicates("subject_id")
    counts = per.groupby(["gender", "ethnicity_raw"]).size().to_dict()
    assert counts == {
        ("F", "white"): 35, ("M", "white"): 34, ("M", "black"): 8, ("M", "west_asian"): 5,
        ("M", "east_asian"): 5, ("F", "west_asian"): 5, ("F", "black"): 5, ("F", "east_asian"): 4,
        ("M", "east_asian/white"): 1,
    }
    d = m.describe("gender,ethnicity")
    assert d.loc["M / multiple", "n_subjects"] == 1
    assert d.loc["M / multiple", "n_samples"] == 2
    assert per.set_index("subject_id").loc["036", "ethnicity"] == "multiple"
    assert "east_asian/white" not in set(per.ethnicity)


def test_age(frll) -> None:
    per = frll[0].samples.drop_duplicates("subject_id").set_index("subject_id")
    assert sorted(per.index[per.age == UNKNOWN]) == ["031", "135"]
    ages = per.age[per.age != UNKNOWN].astype(int)
    assert (ages.min(), ages.max(), len(ages)) == (18, 54, 100)
    d = frll[0].describe(Grouping.parse("age:30:40"))
    assert d["n_subjects"].to_dict() == {"<30": 69, "30–39": 23, "≥40": 8, UNKNOWN: 2}


def test_matches_derived_csv(frll, frll_dir: Path) -> None:
    ref = pd.read_csv(frll_dir / "frl_london_image_labels.csv", dtype=str, keep_default_na=False)
    s = frll[0].samples.merge(ref, left_on="sample_id", right_on="path", validate="one_to_one")
    assert len(s) == 204
    assert (s.subject_id == s.face_id).all()
    assert (s.expression_x == s.expression_y).all()
    assert (s.gender == s.face_gender.map({"female": "F", "male": "M"})).all()
    assert (s.ethnicity_raw == s.face_eth).all()
    assert (s.age == s.face_age.replace("NA", UNKNOWN)).all()


def test_root_resolution_and_registry(frll_dir: Path, monkeypatch, tmp_path: Path) -> None:
    assert frll_root(frll_dir) == frll_dir
    assert frll_root(frll_dir.parent) == frll_dir
    monkeypatch.setenv(FRLL_ENV, str(frll_dir))
    assert len(load_dataset("frll")) == 204
    assert len(load_dataset("frl-london", labels=False)) == 204
    monkeypatch.delenv(FRLL_ENV)
    monkeypatch.setenv("FACEAUDIT_DATA_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="figshare"):
        load_frll()


def _small_tree(dst: Path, ids: tuple[str, ...]) -> Path:
    # The adapter never decodes images, so placeholder bytes stand in for the JPEGs.
    for folder, code in (("neutral_front", "03"), ("smiling_front", "08")):
        (dst / folder).mkdir(parents=True)
        for i in ids:
            (dst / folder / f"{i}_{code}.jpg").write_bytes(b"jpeg")
    return dst


def test_small_tree_reports_and_errors(tmp_path: Path) -> None:
    root = _small_tree(tmp_path / "frll", ("001", "031", "999"))
    (root / "neutral_front" / "._001_03.jpg").write_bytes(b"")
    (root / "neutral_front" / "001_08.jpg").write_bytes(b"")  # wrong code for this folder
    (root / "london_info.csv").write_text(
        "face_id,face_age,face_gender,face_eth\n001,24,female,white\n031,NA,male,white\n"
        "005,30,male,black\n"
    )
    m, rep = load_frll(root, with_report=True)
    assert len(m) == 6
    assert rep.ignored == {"junk": ("neutral_front/._001_03.jpg",),
                           "unexpected file name": ("neutral_front/001_08.jpg",)}
    assert rep.unmatched_labels == ("005",)
    assert rep.unlabelled == ("999",)
    per = m.samples.drop_duplicates("subject_id").set_index("subject_id")
    assert per.loc["999"].tolist()[2:6] == [UNKNOWN] * 4
    (root / "london_info.csv").write_text(
        "face_id,face_age,face_gender,face_eth\n001,24,female,white\n031,old,male,white\n")
    with pytest.raises(InputError, match=r"london_info.csv: data row 2: face_age must be"):
        load_frll(root)
    (root / "london_info.csv").write_text("face_id,face_age\n001,24\n")
    with pytest.raises(InputError, match=r"missing column\(s\) \['face_gender', 'face_eth'\]"):
        load_frll(root)
    m = load_frll(root, labels=False)
    assert m.attributes == ("expression",)


def test_ethnicity_label() -> None:
    assert ethnicity_label("east_asian/white") == "multiple"
    assert ethnicity_label("black") == "black"
    assert ethnicity_label("") == UNKNOWN
