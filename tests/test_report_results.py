"""results.json: schema, strict JSON, CSV tables, input digests, and loading errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from faceaudit import InputError
from faceaudit._provenance import file_record, package_versions
from faceaudit.report import (
    GROUP_FIELDS,
    SCHEMA_VERSION,
    listing_digest,
    load_results,
    write_results,
)


def _results() -> dict[str, object]:
    return {
        "verification": {
            "groups": [
                {
                    "group": "F",
                    "false_matches": 3,
                    "n_nonmated": 1000,
                    "fmr": 0.003,
                    "fnmr": float("nan"),
                    "thin": False,
                },
                {
                    "group": "M",
                    "false_matches": 1,
                    "n_nonmated": 4000,
                    "fmr": 0.00025,
                    "fnmr": 0.1,
                    "thin": True,
                },
            ],
            "fmr_matrix": {
                "labels": ["F", "M"],
                "fmr": [[0.003, 0.001], [0.001, 0.00025]],
                "false_matches": [[3, 2], [2, 1]],
                "n_nonmated": [[1000, 2000], [2000, 4000]],
            },
        },
        "identification": {
            "curve": [{"group": "overall", "gallery_size": 10, "fpir": 0.1, "extrapolated": False}]
        },
    }


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    path = write_results(tmp_path, _results())
    text = path.read_text()
    assert "NaN" not in text  # strict JSON: NaN written as null
    res = load_results(tmp_path)
    assert res["schema_version"] == SCHEMA_VERSION
    assert res["tool"]["name"] == "faceaudit" and res["created_utc"].endswith("+00:00")
    assert res["verification"]["groups"][0]["fnmr"] is None
    by_group = pd.read_csv(tmp_path / "by_group.csv")
    assert list(by_group.columns[: len(GROUP_FIELDS)]) == list(GROUP_FIELDS)
    assert "fmr_shown_low" in by_group.columns  # the interval the report shows is in the table
    assert by_group["false_matches"].tolist() == [3, 1]
    matrix = pd.read_csv(tmp_path / "fmr_matrix.csv")
    assert matrix[["group_a", "group_b", "false_matches"]].values.tolist() == [
        ["F", "F", 3],
        ["F", "M", 2],
        ["M", "M", 1],
    ]
    assert pd.read_csv(tmp_path / "identification.csv")["fpir"].tolist() == [0.1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "results.json not found"),
        ("{not json", "not valid JSON"),
        (json.dumps({"schema_version": 99}), "schema_version must be 2; got 99"),
    ],
)
def test_load_errors_name_the_file(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "results.json").write_text(content)
    with pytest.raises(InputError, match=message):
        load_results(tmp_path)


def test_listing_digest_is_order_and_location_independent(tmp_path: Path) -> None:
    for root in ("a", "b"):
        (tmp_path / root / "p").mkdir(parents=True)
        (tmp_path / root / "p" / "1.jpg").write_bytes(b"one")
        (tmp_path / root / "p" / "2.jpg").write_bytes(b"two")
    a = listing_digest([tmp_path / "a/p/1.jpg", tmp_path / "a/p/2.jpg"], tmp_path / "a")
    b = listing_digest([tmp_path / "b/p/2.jpg", tmp_path / "b/p/1.jpg"], tmp_path / "b")
    assert a["sha256"] == b["sha256"] and a["n_files"] == 2 and a["n_missing"] == 0
    (tmp_path / "b/p/2.jpg").write_bytes(b"TWO")
    c = listing_digest([tmp_path / "b/p/2.jpg", tmp_path / "b/p/1.jpg"], tmp_path / "b")
    assert c["sha256"] != a["sha256"]
    d = listing_digest([tmp_path / "b/p/1.jpg", tmp_path / "b/p/3.jpg", None], tmp_path / "b")
    assert d["n_missing"] == 1 and d["n_files"] == 2


def test_file_record_and_versions(tmp_path: Path) -> None:
    f = tmp_path / "x.txt"
    f.write_bytes(b"abc")
    rec = file_record(f)
    assert rec["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert rec["bytes"] == 3
    with pytest.raises(InputError, match="not found"):
        file_record(tmp_path / "nope")
    v = package_versions()
    assert v["numpy"] and v["python"] and "not-a-package" not in v
    assert package_versions(["not-a-package-xyz"])["not-a-package-xyz"] is None


def test_shown_interval_is_the_hull_of_exact_and_bootstrap() -> None:
    from faceaudit.metrics import shown_interval

    row = {
        "fmr_ci_low": 0.0012, "fmr_ci_high": 0.0015,
        "fmr_boot_low": 0.0005, "fmr_boot_high": 0.0027}
    assert shown_interval(row, "fmr") == (0.0005, 0.0027)
    # no error observed: the bootstrap says [0, 0], Clopper-Pearson keeps the upper bound
    row = {"fmr_ci_low": 0.0, "fmr_ci_high": 0.0015, "fmr_boot_low": 0.0, "fmr_boot_high": 0.0}
    assert shown_interval(row, "fmr") == (0.0, 0.0015)
    assert shown_interval(
        {"fmr_ci_low": 0.1, "fmr_ci_high": 0.2, "fmr_boot_low": None},
        "fmr",
    ) == (0.1, 0.2)
    lo, hi = shown_interval({}, "fnmr")
    assert lo != lo and hi != hi  # NaN
