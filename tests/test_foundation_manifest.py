"""Manifest validation, unknown groups, binning and I/O."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

from faceaudit import UNKNOWN, ConfigError, Grouping, Manifest, ManifestError
from faceaudit._manifest import (
    MSG_DUPLICATE_SAMPLE,
    MSG_EMPTY_SUBJECT,
    MSG_MISSING_COLUMN,
)
from faceaudit._text import name_to_text, path_to_text, text_to_path


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": ["a1", "a2", "b1", "c1", "c2"],
            "subject_id": ["A", "A", "B", "C", "C"],
            "sex": ["F", "F", "M", None, "NA"],
            "age": ["25", "25", "44", "61", "x"],
        }
    )


def test_counts_and_codes() -> None:
    m = Manifest(_frame())
    assert len(m) == 5
    assert m.n_subjects == 3
    assert list(m.subject_ids) == ["A", "B", "C"]
    assert m.subject_codes.tolist() == [0, 0, 1, 2, 2]
    assert m.attributes == ("sex", "age")


def test_missing_values_form_unknown_group_last() -> None:
    ga = Manifest(_frame()).groups("sex")
    assert ga.labels == ("F", "M", UNKNOWN)
    assert ga.codes.tolist() == [0, 0, 1, 2, 2]


def test_binned_and_crossed_groups() -> None:
    ga = Manifest(_frame()).groups(Grouping(("sex", "age"), {"age": (30, 45, 60)}))
    labels = np.asarray(ga.labels)[ga.codes].tolist()
    assert labels == ["F / <30", "F / <30", "M / 30–44", "unknown / ≥60", "unknown / unknown"]
    assert Grouping.parse("sex,age:30:45:60") == Grouping(
        ("sex", "age"), {"age": (30.0, 45.0, 60.0)}
    )


def test_no_grouping_is_one_group() -> None:
    ga = Manifest(_frame()).groups(None)
    assert ga.labels == ("all",)
    assert set(ga.codes.tolist()) == {0}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.assign(sample_id=["a1", "a2", "b1", "a2", "c2"]), MSG_DUPLICATE_SAMPLE),
        (lambda df: df.assign(subject_id=["A", "A", "", "C", "C"]), MSG_EMPTY_SUBJECT),
        (lambda df: df.drop(columns="subject_id"), MSG_MISSING_COLUMN),
    ],
)
def test_invalid_manifests_name_the_problem(change, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ManifestError, match=message):
        Manifest(change(_frame()))


def test_duplicate_names_both_rows() -> None:
    df = _frame().assign(sample_id=["a1", "a2", "b1", "a2", "c2"])
    with pytest.raises(ManifestError, match="data rows 2 and 4"):
        Manifest(df, source="m.csv")


def test_declared_categories_reject_other_values() -> None:
    with pytest.raises(ManifestError, match="row 2"):
        Manifest(_frame().assign(sex=["F", "X", "M", "F", "F"]), categories={"sex": ["F", "M"]})


def test_unknown_grouping_attribute() -> None:
    with pytest.raises(ConfigError, match="grouping attribute must be one of"):
        Manifest(_frame()).groups("race")


def test_csv_and_parquet_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rel = ["a/1.jpg", "a/2.jpg", "b/1.jpg", "c/1.jpg", "c/2.jpg"]
    m = Manifest(_frame().assign(path=rel), root=tmp_path / "images")
    for name in ("m.csv", "out/m.parquet"):
        m.write(tmp_path / name)
        back = Manifest.read(tmp_path / name)
        assert back.sample_ids.tolist() == m.sample_ids.tolist()
        assert back.groups("sex").labels == m.groups("sex").labels
        # paths are written relative to the written file's folder, so they find the same files
        assert [p.resolve() for p in back.paths()] == [tmp_path / "images" / r for r in rel]
    assert Manifest.read(tmp_path / "m.csv").samples.path[0] == "images/a/1.jpg"
    assert Manifest.read(tmp_path / "out/m.parquet").samples.path[0] == "../images/a/1.jpg"
    # without a root the relative paths are tied to no folder: written as they are
    Manifest(_frame().assign(path=rel)).write(tmp_path / "free.csv")
    assert Manifest.read(tmp_path / "free.csv").samples.path.tolist() == rel


def test_read_missing_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ManifestError, match="not found"):
        Manifest.read(tmp_path / "nope.csv")


def test_describe_counts() -> None:
    d = Manifest(_frame()).describe("sex")
    assert d.loc["F", "n_samples"] == 2
    assert d.loc[UNKNOWN, "n_subjects"] == 1


# ---------------------------------------------------------------- issue 13: labels, fields
def _colliding() -> Manifest:
    """Two different groups whose values joined by ' / ' read the same: 'M / caucasian / x'."""
    return Manifest(
        pd.DataFrame(
            {
                "sample_id": ["s1", "s2", "s3", "s4"],
                "subject_id": ["A", "B", "C", "D"],
                "sex": ["M / caucasian", "M", "F", "F"],
                "race": ["x", "caucasian / x", "Black / African American", "white"],
            }
        )
    )


def test_group_labels_stay_unique_when_values_contain_the_separator() -> None:
    ga = _colliding().groups("sex,race")
    assert ga.labels == (
        'F / "Black / African American"',
        "F / white",
        'M / "caucasian / x"',
        '"M / caucasian" / x',
    )
    assert len(set(ga.labels)) == ga.n_groups
    assert ga.values[2] == ("M", "caucasian / x")  # values are never changed
    # one attribute: no separator, no quoting
    assert _colliding().groups("race").labels == (
        "Black / African American", "caucasian / x", "white", "x")
    # quotes inside a quoted value are doubled; a leading quote is quoted too
    m = Manifest(pd.DataFrame({"sample_id": ["a", "b"], "subject_id": ["A", "B"],
                               "p": ['5\' 10" / tall', '"q"'], "s": ["F", "M"]}))
    assert m.groups("p,s").labels == ('"""q""" / M', '"5\' 10"" / tall" / F')


def test_an_ambiguous_reference_group_is_an_error() -> None:
    m = _colliding()
    ga = m.groups("sex,race")
    msg = (r"'M / caucasian / x' is ambiguous: it could be any of "
           r"\['M / \"caucasian / x\"', '\"M / caucasian\" / x'\]")
    with pytest.raises(ConfigError, match=msg):
        ga.index_of("M / caucasian / x")
    assert ga.index_of('M / "caucasian / x"') == 2
    assert ga.index_of('"M / caucasian" / x') == 3
    assert ga.index_of(("M / caucasian", "x")) == 3
    # typed without the quotes but unambiguous: accepted
    assert ga.index_of("F / Black / African American") == 0
    with pytest.raises(ConfigError, match="group must be one of"):
        ga.index_of("F / black")


def test_the_summary_and_the_audit_refuse_an_ambiguous_reference_group() -> None:
    from faceaudit import score_templates
    from faceaudit._templates import Templates
    from faceaudit.metrics import AuditResult

    base = _colliding().samples
    rows = pd.concat([base.assign(sample_id=base.sample_id + k) for k in ("a", "b")])
    m = Manifest(rows)
    rng = np.random.default_rng(0)
    vec = rng.normal(size=(len(m), 8)).astype(np.float32)
    t = Templates(m.sample_ids, vec, np.full(len(m), "ok"), np.full(len(m), ""), "t", "cosine")
    s = score_templates(t, m, grouping="sex,race")
    assert len(set(s.group_labels)) == 4
    with pytest.raises(ConfigError, match="ambiguous"):
        s.group_index("M / caucasian / x")
    with pytest.raises(ConfigError, match="ambiguous"):
        AuditResult(s, threshold=0.5, reference_group="M / caucasian / x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 1-person groups: undefined rates, not the point here
        res = AuditResult(s, threshold=0.5, reference_group='"M / caucasian" / x')
    assert res.to_dict()["reference_group"] == '"M / caucasian" / x'


def test_absurd_fields_are_refused_naming_file_row_and_column(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "m.csv"
    p.write_text("sample_id,subject_id,race\na,A,x\nb,B," + "y" * 1001 + "\n")
    with pytest.raises(ManifestError, match=r"m\.csv: data row 2, column 'race': the value is "
                                            r"1,001 characters long"):
        Manifest.read(p)
    p.write_text("sample_id,subject_id,race\na,A," + "y" * 1000 + "\n")
    assert len(Manifest.read(p).samples.race[0]) == 1000  # the cap itself is allowed
    p.write_text("sample_id,subject_id\n" + "a" * 4097 + ",A\n")
    with pytest.raises(ManifestError, match=r"data row 1, column 'sample_id'.*at most 4,096"):
        Manifest.read(p)
    p.write_text("sample_id,subject_id," + "c" * 1001 + "\na,A,x\n")
    with pytest.raises(ManifestError, match="a column name is 1,001 characters long"):
        Manifest.read(p)
    # a 20 MB field is refused quickly, its message stays short
    p.write_text("sample_id,subject_id,race\na,A," + "z" * 20_000_000 + "\n")
    with pytest.raises(ManifestError, match="unclosed quote") as info:
        Manifest.read(p)
    assert len(str(info.value)) < 500


def test_non_text_values_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    df = pd.DataFrame({"sample_id": ["a", "caf\udce9"], "subject_id": ["A", "B"]}, dtype=object)
    with pytest.raises(ManifestError, match=r"data row 2, column 'sample_id': 'caf%E9' is not "
                                            "text"):
        Manifest(df)
    p = tmp_path / "m.csv"
    p.write_bytes(b"sample_id,subject_id\na,A\ncaf\xe9,B\n")
    with pytest.raises(ManifestError, match=r"m\.csv: line 3: not UTF-8 text at byte 28 \(0xE9\)"):
        Manifest.read(p)


def test_name_and_path_text_rules() -> None:
    assert name_to_text("alice/x.jpg") == "alice/x.jpg"
    assert name_to_text("50%.jpg") == "50%.jpg"  # UTF-8 names never change
    raw = b"d\xe9j\xe0/50%\xff.jpg"
    t = name_to_text(os.fsdecode(raw))
    assert t == "d%E9j%E0/50%25%FF.jpg"
    assert path_to_text(os.fsdecode(raw)) == "file:" + t
    assert os.fsencode(text_to_path("file:" + t)) == raw
    assert os.fsencode(text_to_path(path_to_text(os.fsdecode(b"/data/\xe9.jpg")))) == (
        b"/data/\xe9.jpg")
    assert path_to_text(os.fsdecode(b"/data/\xe9.jpg")) == "file:///data/%E9.jpg"
    assert text_to_path("a/b.jpg") == "a/b.jpg"
