"""LFW adapter: counts against PROVENANCE.md, labels against the derived CSV, pairs.txt parsing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from faceaudit import UNKNOWN, ConfigError, InputError
from faceaudit.datasets import lfw_root, lfw_sample_id, load_dataset, load_lfw, read_lfw_pairs
from faceaudit.datasets.lfw import LFW_ENV, ancestry_label

AMBIGUOUS = {
    "Allison_Searing/Allison_Searing_0001.jpg",
    "Claudia_Coslovich/Claudia_Coslovich_0001.jpg",
    "Elizabeth_Hill/Elizabeth_Hill_0001.jpg",
    "Erika_Reyes/Erika_Reyes_0001.jpg",
    "Tatiana_Shchegoleva/Tatiana_Shchegoleva_0001.jpg",
}
NEITHER = {
    "Robert_Evans/Robert_Evans_0001.jpg",
    "Robert_Evans/Robert_Evans_0002.jpg",
    "Tara_Kirk/Tara_Kirk_0001.jpg",
    "Yasser_Arafat/Yasser_Arafat_0005.jpg",
}


@pytest.fixture(scope="module")
def lfw(lfw_dir: Path):
    return load_lfw(lfw_dir, with_report=True)


def test_counts(lfw) -> None:
    m, report = lfw
    assert len(m) == 13_233
    assert m.n_subjects == 5_749
    s = m.samples
    per_subject = s.groupby("subject_id").size()
    assert int((per_subject >= 2).sum()) == 1_680
    assert int(per_subject[per_subject >= 2].sum()) == 9_164
    assert int((per_subject == 1).sum()) == 4_069
    assert report.n_ignored == 0
    assert report.unmatched_labels == ()
    assert list(m.sample_ids[:2]) == ["AJ_Cook/AJ_Cook_0001.jpg", "AJ_Lamas/AJ_Lamas_0001.jpg"]


def test_sample_id_and_path_convention(lfw, lfw_dir: Path) -> None:
    m, _ = lfw
    s = m.samples.set_index("sample_id")
    sid = lfw_sample_id("Abel_Pacheco", 4)
    assert sid == "Abel_Pacheco/Abel_Pacheco_0004.jpg"
    assert s.loc[sid, "subject_id"] == "Abel_Pacheco"
    assert s.loc[sid, "path"] == "lfw-deepfunneled/Abel_Pacheco/Abel_Pacheco_0004.jpg"
    i = list(m.sample_ids).index(sid)
    assert m.paths()[i] == lfw_dir / "lfw-deepfunneled" / "Abel_Pacheco" / "Abel_Pacheco_0004.jpg"
    assert m.paths()[i].is_file()


def test_gender_image_level(lfw) -> None:
    m, report = lfw
    s = m.samples
    counts = s["gender"].value_counts().to_dict()
    # 10,268 male lines and 2,966 female lines; 5 images are on both lists.
    assert counts == {"M": 10_268 - 5, "F": 2_966 - 5, "ambiguous": 5, UNKNOWN: 4}
    assert set(s.loc[s.gender == "ambiguous", "sample_id"]) == AMBIGUOUS
    assert set(s.loc[s.gender == UNKNOWN, "sample_id"]) == NEITHER
    assert set(report.unlabelled) == NEITHER
    assert any("5 image(s) in both" in n for n in report.notes)


def test_gender_identity_level(lfw) -> None:
    s = lfw[0].samples
    definite = s[s.gender.isin(["M", "F"])].groupby("subject_id")["gender"].unique()
    assert all(len(v) == 1 for v in definite)  # no identity has mixed labels
    ident = definite.map(lambda v: v[0])
    assert ident.value_counts().to_dict() == {"M": 4_272, "F": 1_471}
    n = s.groupby("subject_id").size()
    multi = ident[n.reindex(ident.index) >= 2]
    assert multi.value_counts().to_dict() == {"M": 1_238, "F": 442}


def test_ancestry(lfw) -> None:
    s = lfw[0].samples
    per_id = s.drop_duplicates("subject_id").set_index("subject_id")
    labelled = per_id[per_id.ancestry_raw != UNKNOWN]
    assert len(labelled) == 866
    assert int((s.ancestry_raw != UNKNOWN).sum()) == 3_610
    single = labelled[labelled.ancestry != "multiple"]
    assert len(single) == 775
    assert single.ancestry.value_counts().to_dict() == {
        "caucasian": 672, "african": 56, "latino": 19, "eastasian": 15, "asianindian": 10,
        "other": 2, "pacificislander": 1,
    }
    multi = labelled[labelled.ancestry == "multiple"]
    assert len(multi) == 91
    assert all("," in r for r in multi.ancestry_raw)
    assert per_id.loc["Tracee_Ellis_Ross", "ancestry_raw"] == "african,caucasian"
    assert per_id.loc["Sidney_Poitier", "ancestry"] == "african"
    n = s.groupby("subject_id").size()
    two = labelled[n.reindex(labelled.index) >= 2]
    assert len(two) == 463
    assert two[two.ancestry != "multiple"].ancestry.value_counts().to_dict() == {
        "caucasian": 370, "african": 25, "eastasian": 10, "latino": 8, "asianindian": 3,
        "pacificislander": 1,
    }
    assert (per_id.ancestry == UNKNOWN).sum() == 5_749 - 866


def test_labels_match_derived_csv(lfw, lfw_dir: Path) -> None:
    ref = pd.read_csv(lfw_dir / "labels" / "lfw_image_labels.csv", dtype=str, keep_default_na=False)
    ref["sample_id"] = ref["path"].str.removeprefix("lfw-deepfunneled/")
    s = lfw[0].samples.merge(ref, on="sample_id", validate="one_to_one")
    assert len(s) == 13_233
    assert (s.gender == s.gender_afifi.replace("", UNKNOWN)).all()
    assert (s.ancestry_raw == s.race_usc_sail.replace("", UNKNOWN)).all()
    single = s.race_usc_sail_single != ""
    assert (s.ancestry[single] == s.race_usc_sail_single[single]).all()
    assert (s.subject_id == s.identity).all()


def test_groups_and_no_labels(lfw, lfw_dir: Path) -> None:
    m = lfw[0]
    d = m.describe("gender")
    assert d.loc["F", "n_subjects"] == 1_471
    assert d.loc[UNKNOWN, "n_samples"] == 4
    bare = load_lfw(lfw_dir, labels=False)
    assert bare.attributes == ()
    assert len(bare) == 13_233


def test_pairs(lfw, lfw_dir: Path) -> None:
    pairs = read_lfw_pairs(lfw_dir / "pairs.txt", lfw[0])
    assert list(pairs.columns) == ["sample_a", "sample_b", "mated", "fold"]
    assert len(pairs) == 6_000
    assert int(pairs.mated.sum()) == 3_000
    assert sorted(pairs.fold.unique()) == list(range(1, 11))
    per_fold = pairs.groupby("fold").mated.agg(["sum", "size"])
    assert (per_fold["sum"] == 300).all() and (per_fold["size"] == 600).all()
    first = pairs.iloc[0]
    assert (first.sample_a, first.sample_b, first.mated, first.fold) == (
        "Abel_Pacheco/Abel_Pacheco_0001.jpg", "Abel_Pacheco/Abel_Pacheco_0004.jpg", True, 1)
    r300 = pairs.iloc[300]
    assert (r300.sample_a, r300.sample_b, r300.mated) == (
        "Abdel_Madi_Shabneh/Abdel_Madi_Shabneh_0001.jpg", "Dean_Barker/Dean_Barker_0001.jpg", False)
    subj = lfw[0].samples.set_index("sample_id").subject_id
    same = subj.loc[pairs.sample_a].to_numpy() == subj.loc[pairs.sample_b].to_numpy()
    assert (same == pairs.mated.to_numpy()).all()
    referenced = set(pairs.sample_a) | set(pairs.sample_b)
    assert referenced <= set(lfw[0].sample_ids)


def test_load_dataset_and_root_resolution(lfw_dir: Path, monkeypatch, tmp_path) -> None:
    assert lfw_root(lfw_dir) == lfw_dir
    assert lfw_root(lfw_dir / "lfw-deepfunneled") == lfw_dir
    assert lfw_root(lfw_dir.parent) == lfw_dir  # a data directory holding lfw/
    monkeypatch.setenv(LFW_ENV, str(lfw_dir))
    assert lfw_root() == lfw_dir
    m = load_dataset("lfw", labels=False)
    assert len(m) == 13_233
    m = load_dataset("LFW", data_dir=lfw_dir.parent, labels=False)
    assert m.n_subjects == 5_749
    monkeypatch.delenv(LFW_ENV)
    monkeypatch.setenv("FACEAUDIT_DATA_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="download_lfw"):
        lfw_root()
    with pytest.raises(ConfigError, match="FACEAUDIT_LFW"):
        load_lfw(tmp_path)


# ------------------------------------------------------------------ synthetic pairs files
def _pairs(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "pairs.txt"
    p.write_text(text)
    return p


def test_pairs_dev_format_and_blank_tail(tmp_path: Path) -> None:
    p = _pairs(tmp_path, "2\nA 1 2\nB 1 3\nA 1 B 2\nB 3 C 1\n\n")
    df = read_lfw_pairs(p)
    assert df.mated.tolist() == [True, True, False, False]
    assert df.fold.tolist() == [1, 1, 1, 1]
    assert df.sample_b.tolist()[2] == "B/B_0002.jpg"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("10 x\n", r"line 1: header"),
        ("1 1\nA 1 2\n", r"promises 1 fold\(s\) x 2 pairs = 3 lines; the file has 2"),
        ("1 1\nA 1\nA 1 B 2\n", r"line 2: fold 1 matched pair must be"),
        ("1 1\nA 1 2\nA 1 2\n", r"line 3: fold 1 mismatched pair must be"),
        ("1 1\nA 1 1\nA 1 B 2\n", r"line 2: matched pair compares 'A/A_0001.jpg' with itself"),
        ("1 1\nA 1 2\nA 1 A 2\n", r"line 3: mismatched pair names the same person 'A'"),
        ("1 1\nA 0 2\nA 1 B 2\n", r"line 2: image number must be a positive integer; got '0'"),
        ("", r"empty pairs file"),
    ],
)
def test_pairs_errors_name_the_line(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        read_lfw_pairs(_pairs(tmp_path, text))


def test_pairs_unknown_image(tmp_path: Path, lfw) -> None:
    p = _pairs(tmp_path, "1 1\nAbel_Pacheco 1 9\nAbel_Pacheco 1 AJ_Cook 1\n")
    with pytest.raises(InputError, match=r"line 2: image 'Abel_Pacheco/Abel_Pacheco_0009\.jpg' "):
        read_lfw_pairs(p, lfw[0])
    with pytest.raises(InputError, match="not found"):
        read_lfw_pairs(tmp_path / "nope.txt")


def test_ancestry_label() -> None:
    assert ancestry_label("eastasian") == "eastasian"
    assert ancestry_label("other,african,caucasian") == "multiple"
    assert ancestry_label("caucasian,caucasian") == "caucasian"
    assert ancestry_label(" ") == UNKNOWN


def test_small_tree_with_junk_and_missing_labels(tmp_path: Path) -> None:
    root = tmp_path / "lfw"
    for f in ("A_B/A_B_0001.jpg", "A_B/A_B_0002.jpg", "C/C_0001.jpg", "C/.DS_Store",
              "C/C_1.jpg", "C/D_0001.jpg", "stray.txt"):
        (root / "lfw-deepfunneled" / f).parent.mkdir(parents=True, exist_ok=True)
        (root / "lfw-deepfunneled" / f).write_bytes(b"x")
    m, rep = load_lfw(root, labels=False, with_report=True)
    assert list(m.sample_ids) == ["A_B/A_B_0001.jpg", "A_B/A_B_0002.jpg", "C/C_0001.jpg"]
    assert rep.ignored == {"junk": ("C/.DS_Store",),
                           "unexpected file name": ("C/C_1.jpg", "C/D_0001.jpg", "stray.txt")}
    with pytest.raises(InputError, match=r"afifi_male_names\.txt: LFW gender list not found"):
        load_lfw(root)
    raw = root / "labels" / "raw"
    raw.mkdir(parents=True)
    (raw / "afifi_male_names.txt").write_bytes(b"A_B_0001.jpg\r\nA_B_0002.jpg\r\nZ_0001.jpg\r\n")
    (raw / "afifi_female_names.txt").write_bytes(b"C_0001.jpg\r\nA_B_0002.jpg\r\n")
    (raw / "usc_sail_lfw_race_dict.json").write_text('{"C": "latino,caucasian", "Q": "african"}')
    m, rep = load_lfw(root, with_report=True)
    s = m.samples.set_index("sample_id")
    assert s.gender.tolist() == ["M", "ambiguous", "F"]
    assert s.ancestry.tolist() == [UNKNOWN, UNKNOWN, "multiple"]
    assert s.ancestry_raw.tolist() == [UNKNOWN, UNKNOWN, "latino,caucasian"]
    assert rep.unmatched_labels == ("male list: Z_0001.jpg", "ancestry: Q")
    (raw / "usc_sail_lfw_race_dict.json").write_text('["C"]')
    with pytest.raises(InputError, match=r"usc_sail_lfw_race_dict\.json: expected a JSON object"):
        load_lfw(root)
