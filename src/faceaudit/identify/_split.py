"""Gallery / probe split for a 1:N audit, from a manifest and its templates.

**The rule** (seeded with ``seed``; deterministic given the manifest order and templates):

1. Each subject gets a *split group*: the most frequent group among its samples (ties: the
   group listed first). Within each split group (in group order), the subjects (sorted by
   ``subject_id``) are shuffled with one ``numpy.random.default_rng(seed)`` stream and the
   first ``round(nonmated_fraction * n_subjects_in_group)`` (half-up) are **held out**: their
   enrolled-OK samples become **non-mated probes** (nobody of them is in the gallery). The
   fraction is therefore the same in every group, up to rounding.
2. Every other subject is **enrolled** if it has at least ``n_enrol`` samples whose template is
   ``"ok"``: ``n_enrol`` of them are drawn from the same stream (``enrol="random"``, drawn in
   subject order) or taken first in manifest order (``enrol="first"``); they form the
   gallery. Its remaining OK samples become **mated probes** (subject enrolled, different
   image). Subjects with a single usable image are enrolled with no mated probe: they are
   gallery members only (distractors), as in NIST FRVT 1:N.
3. Failures to enrol (template status not ``"ok"``) can be neither enrolled nor searched; they
   are kept with a role saying what they would have been and counted per group:
   ``fte_mated`` (sample of an enrolled subject), ``fte_nonmated`` (held-out subject), and
   ``fte_gallery`` (sample of a subject who could not be enrolled for lack of OK templates;
   that subject's OK samples, if any, get role ``unenrolled``).

No subject is both enrolled and held out. Groups of *probes* are their own samples' groups;
the group of a *gallery person* is the group of their first enrolled sample (manifest order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._errors import ConfigError, check_option, check_range
from .._manifest import GroupAssignment, Grouping, Manifest
from .._templates import Templates
from ..metrics import SEED
from ._stats import OVERALL

ROLES = ("gallery", "mated", "nonmated", "unenrolled", "fte_gallery", "fte_mated", "fte_nonmated")
"""Role of every manifest sample in a :class:`GallerySplit`."""

ENROL_RULES = ("random", "first")


@dataclass(frozen=True, eq=False)
class GallerySplit:
    """Which sample is enrolled, which is a mated or non-mated probe, and what failed.

    Attributes
    ----------
    role : ndarray of str, shape (n_samples,)
        One of :data:`ROLES` per manifest row.
    sample_ids, subject_codes : ndarray
        From the manifest (row order).
    groups : GroupAssignment
        Group of every sample.
    gallery_rows : ndarray of int64
        Manifest rows of the enrolled samples, ordered by gallery subject then manifest row.
    gallery_subject : ndarray of int64, shape (len(gallery_rows),)
        Index of each gallery row's person in ``gallery_subject_codes``.
    gallery_subject_codes : ndarray of int32
        Manifest subject code of each gallery person (sorted).
    gallery_person_group : ndarray of int32
        Group of each gallery person.
    params : dict
        ``n_enrol``, ``nonmated_fraction``, ``enrol``, ``seed``.
    """

    role: np.ndarray
    sample_ids: np.ndarray
    subject_codes: np.ndarray
    groups: GroupAssignment
    gallery_rows: np.ndarray
    gallery_subject: np.ndarray
    gallery_subject_codes: np.ndarray
    gallery_person_group: np.ndarray
    params: dict

    @property
    def n_gallery(self) -> int:
        """Number of enrolled people (the gallery size N)."""
        return len(self.gallery_subject_codes)

    def rows(self, role: str) -> np.ndarray:
        """Manifest rows with the given role (in manifest order)."""
        check_option("role", role, ROLES)
        return np.flatnonzero(self.role == role)

    def counts(self) -> pd.DataFrame:
        """Samples per role and group (rows: groups then ``"overall"``), plus gallery people."""
        labels = list(self.groups.labels)
        G = len(labels)
        data = {r: np.bincount(self.groups.codes[self.role == r], minlength=G) for r in ROLES}
        data["gallery_people"] = np.bincount(self.gallery_person_group, minlength=G)
        df = pd.DataFrame(data, index=pd.Index(labels, name="group"))
        df.loc[OVERALL] = df.sum(axis=0)
        return df.astype(np.int64)

    def to_dict(self) -> dict:
        return {"params": dict(self.params), "grouping": self.groups.grouping.to_dict(),
                "counts": self.counts().reset_index().to_dict(orient="records")}


def _hold_out(subj_group: np.ndarray, n_groups: int, fraction: float,
              rng: np.random.Generator) -> np.ndarray:
    """Per subject: held out as non-mated (a seeded ``fraction`` of each group's subjects)."""
    held_out = np.zeros(len(subj_group), bool)
    for g in range(n_groups):
        members = np.flatnonzero(subj_group == g)
        if len(members) == 0:
            continue
        n_hold = math.floor(fraction * len(members) + 0.5)
        perm = rng.permutation(members)
        held_out[perm[:n_hold]] = True
    return held_out


def split_gallery(
    manifest: Manifest,
    templates: Templates,
    grouping: Grouping | str | None = None,
    *,
    n_enrol: int = 1,
    nonmated_fraction: float = 0.5,
    enrol: str = "random",
    seed: int = SEED,
) -> GallerySplit:
    """Split a manifest into gallery, mated probes and non-mated probes (rule: module doc).

    Parameters
    ----------
    manifest : Manifest
    templates : Templates
        Aligned to the manifest by sample id; samples without a template count as failures.
    grouping : Grouping or str, optional
        Groups used to stratify the hold-out and to report.
    n_enrol : int
        Images enrolled per person (NIST: 1).
    nonmated_fraction : float in [0, 1]
        Fraction of subjects of each group held out as non-mated.
    enrol : {"random", "first"}
    seed : int

    Raises
    ------
    ConfigError
        Invalid argument; or no person could be enrolled.
    """
    check_range("n_enrol", n_enrol, low=1)
    if int(n_enrol) != n_enrol:
        raise ConfigError(f"n_enrol must be a positive integer; got {n_enrol!r}")
    n_enrol = int(n_enrol)
    check_range("nonmated_fraction", nonmated_fraction, low=0.0, high=1.0)
    check_option("enrol", enrol, ENROL_RULES)
    ga = manifest.groups(grouping)
    t = templates.align(manifest.sample_ids)
    ok = t.ok
    subj = manifest.subject_codes.astype(np.int64)
    n_subj = manifest.n_subjects
    G = ga.n_groups
    # split group of each subject: most frequent group (ties -> lowest code)
    pair_counts = np.zeros((n_subj, G), np.int64)
    np.add.at(pair_counts, (subj, ga.codes), 1)
    subj_group = pair_counts.argmax(axis=1)

    rng = np.random.default_rng(seed)
    held_out = _hold_out(subj_group, G, nonmated_fraction, rng)

    role = np.empty(len(manifest), dtype=object)
    order = np.argsort(subj, kind="stable")  # manifest rows grouped by subject, in row order
    starts = np.searchsorted(subj[order], np.arange(n_subj))
    ends = np.searchsorted(subj[order], np.arange(n_subj), side="right")
    gallery_rows: list[np.ndarray] = []
    gallery_codes: list[int] = []
    for s in range(n_subj):
        rows = order[starts[s]:ends[s]]
        good = rows[ok[rows]]
        bad = rows[~ok[rows]]
        if held_out[s]:
            role[good] = "nonmated"
            role[bad] = "fte_nonmated"
            continue
        if len(good) < n_enrol:
            role[good] = "unenrolled"
            role[bad] = "fte_gallery"
            continue
        if enrol == "random":
            chosen = np.sort(rng.choice(good, size=n_enrol, replace=False))
        else:
            chosen = good[:n_enrol]
        role[good] = "mated"
        role[chosen] = "gallery"
        role[bad] = "fte_mated"
        gallery_rows.append(chosen)
        gallery_codes.append(s)
    if not gallery_codes:
        raise ConfigError(
            f"{manifest.source}: nobody could be enrolled (n_enrol={n_enrol}, "
            f"nonmated_fraction={nonmated_fraction}); check the templates' status and the split"
        )
    g_rows = np.concatenate(gallery_rows).astype(np.int64)
    g_subject = np.repeat(np.arange(len(gallery_codes)), [len(r) for r in gallery_rows])
    person_group = np.array([ga.codes[r[0]] for r in gallery_rows], np.int32)
    return GallerySplit(
        role=role.astype(str), sample_ids=manifest.sample_ids,
        subject_codes=manifest.subject_codes, groups=ga, gallery_rows=g_rows,
        gallery_subject=g_subject.astype(np.int64),
        gallery_subject_codes=np.asarray(gallery_codes, np.int32),
        gallery_person_group=person_group,
        params={"n_enrol": n_enrol, "nonmated_fraction": float(nonmated_fraction),
                "enrol": enrol, "seed": int(seed)},
    )
