"""AuditConfig: TOML layout, validation messages, resolved paths, the TOML writer."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from faceaudit import ConfigError
from faceaudit._io import dumps_toml
from faceaudit.audit import AuditConfig
from faceaudit.audit import quick_subset as _subset

TOML = """
[dataset]
name = "frll"
data_dir = "data/frll"
limit = 40

[model]
embedder = "fake"
workers = 1

[analysis]
group_by = ["gender", "ethnicity"]
reference_group = "M / white"
target_fmr = 0.01
n_boot = 10

[output]
dir = "out"
"""


def test_toml_sections_map_to_fields_and_paths_resolve(tmp_path: Path) -> None:
    p = tmp_path / "audit.toml"
    p.write_text(TOML)
    cfg = AuditConfig.from_toml(p)
    assert cfg.dataset == "frll" and cfg.limit == 40 and cfg.model == "fake"
    assert cfg.group_by == ["gender", "ethnicity"] and cfg.target_fmr == 0.01
    assert cfg.data_dir == str(tmp_path / "data/frll")  # relative to the file
    assert cfg.out == str(tmp_path / "out")
    # CLI-style overrides win; None means "not given"
    cfg2 = AuditConfig.from_toml(p, n_boot=99, seed=None)
    assert cfg2.n_boot == 99 and cfg2.seed == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "dataset must be given"),
        ({"scores": "s.csv"}, "manifest must be given with scores"),
        (
            {"dataset": "lfw", "target_fmr": 0},
            "target_fmr must satisfy 0.0 < target_fmr <= 1.0; got 0",
        ),
        ({"dataset": "lfw", "n_boot": -1}, "n_boot must satisfy"),
        ({"dataset": "lfw", "workers": 1.5}, "workers must be an integer; got 1.5"),
        ({"dataset": "lfw", "impostors": "some"}, "impostors must be one of 'all', 'matched'"),
        ({"dataset": "lfw", "identification": "yes"}, "identification must be true or false"),
        ({"dataset": "lfw", "group_by": ["age:30:x"]}, "grouping bins must be numbers"),
        ({"dataset": {"name": "lfw", "colour": 1}}, r"\[dataset\] colour must be one of"),
        ({"dataset": "lfw", "bogus": 1}, "key must be one of the sections"),
    ],
)
def test_validation_messages(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AuditConfig.from_mapping(data)


def test_bad_toml_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file must exist"):
        AuditConfig.from_toml(tmp_path / "none.toml")
    p = tmp_path / "bad.toml"
    p.write_text("[dataset\nname=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        AuditConfig.from_toml(p)


def test_dumps_toml_round_trips() -> None:
    data = {
        "a": {
            "s": 'quote " and \\ and ü',
            "i": 3,
            "f": 1e-05,
            "b": True,
            "l": ["x", "y"],
            "n": None,
            "sub": {"k": 2.5},
        },
        "top": "v",
    }
    back = tomllib.loads(dumps_toml(data))
    assert back == {
        "top": "v",
        "a": {
            "s": 'quote " and \\ and ü',
            "i": 3,
            "f": 1e-05,
            "b": True,
            "l": ["x", "y"],
            "sub": {"k": 2.5},
        },
    }


def test_resolved_mapping_round_trips(tmp_path: Path) -> None:
    cfg = AuditConfig(
        dataset="lfw",
        data_dir="rel/lfw",
        group_by="gender,ancestry",
        reference_group="M / caucasian",
        out="o",
    )
    assert cfg.group_by == ["gender", "ancestry"]
    res = cfg.resolved()
    assert Path(res.data_dir).is_absolute() and Path(res.out).is_absolute()
    p = tmp_path / "c.toml"
    p.write_text(dumps_toml(res.to_mapping()))
    assert AuditConfig.from_toml(p) == res


def test_subset_keeps_whole_subjects_seeded() -> None:
    import pandas as pd

    from faceaudit import Manifest

    rows = [
        {"sample_id": f"{s}-{k}", "subject_id": str(s)} for s in range(30) for k in range(1 + s % 4)
    ]
    m = Manifest(pd.DataFrame(rows))
    a = _subset(m, 20, seed=0)
    assert 15 <= len(a) <= 20
    counts = m.samples.groupby("subject_id").size()
    kept = a.samples.groupby("subject_id").size()
    assert (kept == counts[kept.index]).all()  # whole people only
    assert (kept >= 2).all()  # people with two or more photos come first
    assert list(_subset(m, 20, seed=0).sample_ids) == list(a.sample_ids)
    assert list(_subset(m, 20, seed=1).sample_ids) != list(a.sample_ids)
    assert _subset(m, 0, seed=0) is m
    # at most `limit` samples, even when the seeded order starts with a big subject
    for seed in range(5):
        assert len(_subset(m, 5, seed=seed)) <= 5
    assert len(_subset(m, 1, seed=0)) == 1


def test_example_configs_parse() -> None:
    examples = Path(__file__).resolve().parents[1] / "examples"
    found = sorted(examples.glob("*.toml"))
    assert len(found) >= 3
    for p in found:
        cfg = AuditConfig.from_toml(p)
        assert cfg.dataset or cfg.scores, p
        assert cfg.group_by, p


def test_infinite_threshold_is_refused() -> None:
    with pytest.raises(ConfigError, match="threshold must be a finite number; got inf"):
        AuditConfig.from_mapping({"dataset": "lfw", "threshold": float("inf")})


# ---------------------------------------------------------------------------- probe conditions
def test_probe_conditions_off_by_default_and_read_from_toml(tmp_path: Path) -> None:
    assert AuditConfig(dataset="lfw").probe_conditions == []
    p = tmp_path / "audit.toml"
    p.write_text(TOML + '\n[probe_conditions]\nconditions = ["cctv", "resolution:64,32"]\n'
                 "people = 12\n")
    cfg = AuditConfig.from_toml(p)
    assert cfg.probe_conditions == ["cctv", "resolution:64", "resolution:32"]
    assert cfg.probe_people == 12
    # a CLI string overrides, and the resolved mapping round-trips through TOML
    cfg2 = AuditConfig.from_toml(p, probe_conditions="jpeg:40,10")
    assert cfg2.probe_conditions == ["jpeg:40", "jpeg:10"]
    back = AuditConfig.from_mapping(tomllib.loads(dumps_toml(cfg2.to_mapping())))
    assert back.probe_conditions == cfg2.probe_conditions and back.probe_people == 12


@pytest.mark.parametrize(("data", "message"), [
    ({"probe_conditions": "fog:2"}, "unknown kind 'fog'"),
    ({"probe_conditions": ["resolution:64,x"]}, "each resolution level must be a number"),
    ({"probe_conditions": "cctv", "detector": "hog"}, "detector must give eye landmarks"),
    ({"probe_conditions": "jpeg:40", "probe_people": -1}, "probe_people must satisfy"),
    ({"probe_conditions": 3}, "probe_conditions must be a list"),
])
def test_probe_condition_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match="probe") as exc:
        AuditConfig(dataset="lfw", **data)  # type: ignore[arg-type]
    assert message in str(exc.value)
    with pytest.raises(ConfigError, match="probe_conditions must be empty with a vendor"):
        AuditConfig(scores="s.csv", manifest="m.csv", probe_conditions=["cctv"])
    with pytest.raises(ConfigError, match=r"\[probe_conditions\] level must be one of"):
        AuditConfig.from_mapping({"dataset": {"name": "lfw"}, "probe_conditions": {"level": 1}})
