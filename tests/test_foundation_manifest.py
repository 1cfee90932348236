"""Manifest validation, unknown groups, binning and I/O."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from faceaudit import UNKNOWN, ConfigError, Grouping, Manifest, ManifestError
from faceaudit._manifest import MSG_DUPLICATE_SAMPLE, MSG_EMPTY_SUBJECT, MSG_MISSING_COLUMN


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
    m = Manifest(_frame().assign(path=["a/1.jpg", "a/2.jpg", "b/1.jpg", "c/1.jpg", "c/2.jpg"]))
    for name in ("m.csv", "m.parquet"):
        m.write(tmp_path / name)
        back = Manifest.read(tmp_path / name)
        assert back.sample_ids.tolist() == m.sample_ids.tolist()
        assert back.groups("sex").labels == m.groups("sex").labels
        assert back.paths()[0] == tmp_path / "a/1.jpg"


def test_read_missing_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ManifestError, match="not found"):
        Manifest.read(tmp_path / "nope.csv")


def test_describe_counts() -> None:
    d = Manifest(_frame()).describe("sex")
    assert d.loc["F", "n_samples"] == 2
    assert d.loc[UNKNOWN, "n_subjects"] == 1
