"""Gallery / probe split: seeded, stratified by group, disjoint, failures counted."""

from __future__ import annotations

import numpy as np
import pytest

from _support import people
from faceaudit import ConfigError, Manifest, Templates
from faceaudit.identify import ROLES, split_gallery


def population(n_subjects: int = 200, seed: int = 0, fail_every: int = 0,
               dim: int = 16) -> tuple[Manifest, Templates]:
    """Subjects with 1-4 images; sex F for 3 subjects in 5 (60%), M otherwise."""
    return people(n_subjects, seed, fail_every, dim, female=lambda s: s % 5 < 3)


def test_split_is_seeded_and_reproducible() -> None:
    m, t = population()
    a = split_gallery(m, t, "sex", seed=7)
    b = split_gallery(m, t, "sex", seed=7)
    c = split_gallery(m, t, "sex", seed=8)
    assert (a.role == b.role).all()
    assert not (a.role == c.role).all()


def test_no_subject_both_enrolled_and_nonmated_and_roles_consistent() -> None:
    m, t = population(fail_every=7)
    sp = split_gallery(m, t, "sex", seed=1)
    assert set(np.unique(sp.role)) <= set(ROLES)
    subj = m.subject_codes
    enrolled = set(subj[sp.role == "gallery"])
    held = set(subj[np.isin(sp.role, ("nonmated", "fte_nonmated"))])
    assert enrolled and held and not (enrolled & held)
    # mated probes belong to enrolled subjects; one gallery image per enrolled subject
    assert set(subj[sp.role == "mated"]) <= enrolled
    assert np.bincount(subj[sp.role == "gallery"]).max() == 1
    assert sp.n_gallery == len(enrolled)
    # every failure to enrol has an fte_* role and vice versa
    np.testing.assert_array_equal(~t.ok, np.char.startswith(sp.role.astype(str), "fte_"))


def test_holdout_fraction_is_respected_within_each_group() -> None:
    m, t = population(n_subjects=300)
    sp = split_gallery(m, t, "sex", nonmated_fraction=0.3, seed=2)
    ga = m.groups("sex")
    subj = m.subject_codes
    for g, lab in enumerate(ga.labels):
        members = np.unique(subj[ga.codes == g])
        held = np.unique(subj[(ga.codes == g) & (sp.role == "nonmated")])
        assert len(held) == int(np.floor(0.3 * len(members) + 0.5)), lab


def test_counts_table_and_fte_counted_per_group() -> None:
    m, t = population(fail_every=5)
    sp = split_gallery(m, t, "sex", seed=0)
    c = sp.counts()
    assert list(c.index) == ["F", "M", "overall"]
    assert int(c.loc["overall", list(ROLES)].sum()) == len(m)
    ga = m.groups("sex")
    for g, lab in enumerate(ga.labels):
        n_fail = int((~t.ok & (ga.codes == g)).sum())
        assert int(c.loc[lab, ["fte_gallery", "fte_mated", "fte_nonmated"]].sum()) == n_fail
    assert int(c.loc["overall", "gallery_people"]) == sp.n_gallery


def test_n_enrol_two_and_first_rule() -> None:
    m, t = population(n_subjects=100, seed=4)
    sp = split_gallery(m, t, "sex", n_enrol=2, enrol="first", nonmated_fraction=0.0)
    subj = m.subject_codes
    n_imgs = np.bincount(subj)
    counts = np.bincount(subj[sp.role == "gallery"], minlength=len(n_imgs))
    assert ((counts == 2) == (n_imgs >= 2)).all()
    assert set(subj[sp.role == "unenrolled"]) == set(np.flatnonzero(n_imgs < 2))
    # "first": the first two images in manifest order
    for s in np.flatnonzero(n_imgs >= 2)[:10]:
        rows = np.flatnonzero(subj == s)
        assert sp.role[rows[0]] == "gallery" and sp.role[rows[1]] == "gallery"
    assert len(sp.gallery_subject) == len(sp.gallery_rows)
    assert (np.diff(sp.gallery_subject) >= 0).all()


def test_split_errors() -> None:
    m, t = population(n_subjects=10)
    with pytest.raises(ConfigError, match="nonmated_fraction must satisfy"):
        split_gallery(m, t, nonmated_fraction=1.5)
    with pytest.raises(ConfigError, match="enrol must be one of"):
        split_gallery(m, t, enrol="best")
    with pytest.raises(ConfigError, match="nobody could be enrolled"):
        split_gallery(m, t, nonmated_fraction=1.0)
    with pytest.raises(ConfigError, match="grouping attribute must be one of"):
        split_gallery(m, t, "race")
