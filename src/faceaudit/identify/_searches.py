"""Running the 1:N searches of a split, and the per-search outcome table the metrics read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .._errors import ConfigError, InputError, check_range
from .._similarity import prepare
from .._templates import Templates
from ._search import Candidates, canonical_pair_scores, search
from ._split import GallerySplit


@dataclass(frozen=True, eq=False)
class Searches:
    """The outcome of every search: what the metrics are computed from.

    A search returns a candidate list of gallery *people* ordered by score (a person enrolled
    with several images scores the maximum over them); people with equal scores are listed in
    gallery order (sorted ``subject_id``). Everything is exact (see
    :mod:`faceaudit.identify._search`).

    Attributes
    ----------
    mated : ndarray of bool, shape (n,)
        The probe's subject is in the gallery.
    probe_group : ndarray of int32, shape (n,)
        Group of the probe sample (indexes ``group_labels``).
    probe_cluster : ndarray of int64, shape (n,)
        The probe's subject (bootstrap unit).
    mate_score : ndarray of float64, shape (n,)
        Score of the probe against its mate (max over the mate's enrolled images); NaN for
        non-mated searches.
    mate_rank : ndarray of int64, shape (n,)
        Rank of the mate, **ties counted against the mate** (bob.measure's convention):
        :math:`1 + \\#\\{\\text{non-mates with score} \\ge \\text{mate score}\\}`. 0 when the
        mate is not within the first ``list_length`` ranks (or the search is non-mated).
    nonmate_scores : ndarray of float64, shape (n, list_length)
        Scores of the best non-mate candidates, descending; ``-inf`` padding.
    nonmate_person : ndarray of int64, shape (n, list_length)
        Gallery person of each non-mate candidate (indexes ``gallery_person_group``); -1
        padding or unknown.
    gallery_person_group : ndarray of int32, shape (n_gallery,)
        Group of each gallery person.
    group_labels : tuple of str
    fte_mated, fte_nonmated : ndarray of int64, shape (n_groups,)
        Searches that could not be made because the probe failed to enrol, by probe group.
    probe_rows : ndarray of int64, shape (n,)
        Manifest row of each probe (-1 when built from score lists).
    method : str
        Search back-end (every one offered is exact).
    """

    mated: np.ndarray
    probe_group: np.ndarray
    probe_cluster: np.ndarray
    mate_score: np.ndarray
    mate_rank: np.ndarray
    nonmate_scores: np.ndarray
    nonmate_person: np.ndarray
    gallery_person_group: np.ndarray
    group_labels: tuple[str, ...]
    fte_mated: np.ndarray
    fte_nonmated: np.ndarray
    probe_rows: np.ndarray
    method: str = "exact"
    n_mated_excluded: int = 0

    @property
    def n(self) -> int:
        return len(self.mated)

    @property
    def list_length(self) -> int:
        """Non-mate candidates kept per search (ranks available: 1..list_length)."""
        return int(self.nonmate_scores.shape[1])

    @property
    def n_gallery(self) -> int:
        """Gallery size N (people)."""
        return len(self.gallery_person_group)

    @property
    def n_groups(self) -> int:
        return len(self.group_labels)

    @property
    def top_nonmate(self) -> np.ndarray:
        """Highest non-mate score of each search (``-inf`` if the gallery has none)."""
        if self.list_length == 0:
            return np.full(self.n, -np.inf)
        return self.nonmate_scores[:, 0]

    def subset(self, mask: np.ndarray) -> Searches:
        """The searches where ``mask`` is True (FTE counts kept)."""
        m = np.asarray(mask, bool)
        return Searches(self.mated[m], self.probe_group[m], self.probe_cluster[m],
                        self.mate_score[m], self.mate_rank[m], self.nonmate_scores[m],
                        self.nonmate_person[m], self.gallery_person_group, self.group_labels,
                        self.fte_mated, self.fte_nonmated, self.probe_rows[m], self.method,
                        self.n_mated_excluded)

    @classmethod
    def from_score_lists(
        cls,
        score_lists: Sequence[tuple[np.ndarray | None, np.ndarray | None]],
        groups: Sequence[int] | None = None,
        group_labels: Sequence[str] = ("all",),
    ) -> Searches:
        """Build from bob.measure's ``[(negatives, positives), ...]`` format (one per probe).

        A probe with no positives is non-mated; otherwise its mate score is ``max(positives)``
        and its rank ``1 + #{negatives >= mate score}`` (as ``bob.measure.cmc``). The list
        length is one more than the largest number of negatives of any probe, so every rank
        is known.
        """
        n = len(score_lists)
        if n == 0:
            raise InputError("score lists are empty: need at least one probe")
        negs = [np.sort(np.asarray([] if a is None else a, np.float64).ravel())[::-1]
                for a, _ in score_lists]
        L = max(len(a) for a in negs) + 1  # ranks 1 .. max(#negatives) + 1 are all known
        ns = np.full((n, L), -np.inf)
        mated = np.zeros(n, bool)
        ms = np.full(n, np.nan)
        rank = np.zeros(n, np.int64)
        for i, (neg, (_, pos)) in enumerate(zip(negs, score_lists, strict=True)):
            if np.isnan(neg).any():
                raise InputError(f"score list of probe {i}: NaN negative score")
            ns[i, :len(neg)] = neg
            p = np.asarray([] if pos is None else pos, np.float64).ravel()
            if p.size:
                if np.isnan(p).any():
                    raise InputError(f"score list of probe {i}: NaN positive score")
                mated[i] = True
                ms[i] = p.max()
                r = 1 + int((neg >= ms[i]).sum())
                rank[i] = r
        g = np.zeros(n, np.int32) if groups is None else np.asarray(groups, np.int32)
        labels = tuple(group_labels)
        G = len(labels)
        # with complete negative lists every rank is known: the list holds all non-mates
        return cls(mated, g, np.arange(n, dtype=np.int64), ms, rank, ns,
                   np.full((n, L), -1, np.int64), np.zeros(0, np.int32), labels,
                   np.zeros(G, np.int64), np.zeros(G, np.int64), np.full(n, -1, np.int64),
                   "score-lists")


def run_searches(
    split: GallerySplit,
    templates: Templates,
    *,
    list_length: int = 50,
    gallery_people: np.ndarray | None = None,
    method: str = "faiss",
    threads: int | None = None,
    batch_size: int | None = None,
    searcher: Callable[..., Candidates] | None = None,
) -> Searches:
    """Search every mated and non-mated probe of ``split`` against its gallery.

    Parameters
    ----------
    split : GallerySplit
    templates : Templates
        The same templates the split was made from.
    list_length : int
        Non-mate candidates kept per search (the candidate list length L); ranks up to L are
        available to FNIR / CMC.
    gallery_people : ndarray of int, optional
        Indices of gallery people forming a sub-gallery (default: everyone). Mated probes whose
        mate is outside it are left out (counted in ``n_mated_excluded``).
    method, threads, batch_size
        See :func:`faceaudit.identify.search`.
    searcher : callable, optional
        Runs the search instead of :func:`faceaudit.identify.search`, with its signature and
        contract (e.g. :func:`faceaudit.cluster.sharded_search`: gallery shards on Dask).
    """
    check_range("list_length", list_length, low=1)
    list_length = int(list_length)
    t = templates.align(split.sample_ids)
    G_n = split.groups.n_groups
    codes = split.groups.codes
    n_people = split.n_gallery
    people = (np.arange(n_people) if gallery_people is None
              else np.unique(np.asarray(gallery_people)))
    if len(people) == 0 or people.min() < 0 or people.max() >= n_people:
        raise ConfigError(f"gallery_people must be indices in [0, {n_people}); got "
                          f"{len(people)} values")
    entry_mask = np.isin(split.gallery_subject, people)
    entry_rows = split.gallery_rows[entry_mask]
    # re-index persons to 0..len(people)-1 (order kept)
    new_index = np.full(n_people, -1, np.int64)
    new_index[people] = np.arange(len(people))
    entry_person = new_index[split.gallery_subject[entry_mask]]
    n_codes = int(split.subject_codes.max()) + 1 if len(split.subject_codes) else 0
    person_of_subject = np.full(n_codes, -1, np.int64)
    person_of_subject[split.gallery_subject_codes[people]] = np.arange(len(people))

    probe_rows = np.flatnonzero(np.isin(split.role, ("mated", "nonmated")))
    mate_person = person_of_subject[split.subject_codes[probe_rows]]
    is_mated_role = split.role[probe_rows] == "mated"
    excluded = is_mated_role & (mate_person < 0)
    probe_rows = probe_rows[~excluded]
    mate_person = mate_person[~excluded]
    mated = mate_person >= 0
    n_enrol_max = int(np.bincount(entry_person).max())
    sim = t.similarity
    k_entries = (list_length + 1) * n_enrol_max
    cand = (searcher or search)(t.vectors[entry_rows], t.vectors[probe_rows], k_entries,
                                similarity=sim, method=method, threads=threads,
                                batch_size=batch_size)
    pers = entry_person[cand.indices]
    sc = cand.scores
    p_list, s_list = _person_lists(pers, sc, n_enrol_max, list_length + 1)

    # mate scores (max over the mate's entries), canonical
    mate_score = _mate_scores(t, probe_rows, entry_rows, entry_person, mate_person, len(people))

    is_mate = p_list == mate_person[:, None]
    nonmate_s = np.where(is_mate, -np.inf, s_list)
    nonmate_p = np.where(is_mate, -1, p_list)
    # move the mate's slot (if any) to the end, keeping order
    order = np.argsort(is_mate, axis=1, kind="stable")
    nonmate_s = np.take_along_axis(nonmate_s, order, 1)[:, :list_length]
    nonmate_p = np.take_along_axis(nonmate_p, order, 1)[:, :list_length]
    listed = is_mate.any(axis=1)
    r = 1 + (nonmate_s >= mate_score[:, None]).sum(axis=1)
    rank = np.where(mated & listed & (r <= list_length), r, 0).astype(np.int64)

    role = split.role
    fte_mated = np.bincount(codes[role == "fte_mated"], minlength=G_n).astype(np.int64)
    fte_nonmated = np.bincount(codes[role == "fte_nonmated"], minlength=G_n).astype(np.int64)
    return Searches(
        mated=mated, probe_group=codes[probe_rows].astype(np.int32),
        probe_cluster=split.subject_codes[probe_rows].astype(np.int64),
        mate_score=mate_score, mate_rank=rank, nonmate_scores=nonmate_s,
        nonmate_person=nonmate_p, gallery_person_group=split.gallery_person_group[people],
        group_labels=split.groups.labels, fte_mated=fte_mated, fte_nonmated=fte_nonmated,
        probe_rows=probe_rows.astype(np.int64), method=method,
        n_mated_excluded=int(excluded.sum()),
    )


def _person_lists(pers: np.ndarray, sc: np.ndarray, n_enrol_max: int,
                  width: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate people and scores per probe, each person once (their best entry), padded
    with -1 / -inf to ``width``."""
    n = len(pers)
    if n_enrol_max > 1:  # keep each person's first (best) entry
        p_list = np.full((n, width), -1, np.int64)
        s_list = np.full((n, width), -np.inf)
        for i in range(n):
            _, first = np.unique(pers[i], return_index=True)
            first = np.sort(first)[:width]
            p_list[i, :len(first)] = pers[i, first]
            s_list[i, :len(first)] = sc[i, first]
    else:
        p_list = np.full((n, width), -1, np.int64)
        s_list = np.full((n, width), -np.inf)
        p_list[:, :pers.shape[1]] = pers
        s_list[:, :sc.shape[1]] = sc

    return p_list, s_list


def _mate_scores(t: Templates, probe_rows: np.ndarray, entry_rows: np.ndarray,
                 entry_person: np.ndarray, mate_person: np.ndarray, n_people: int) -> np.ndarray:
    """Per probe, the canonical score of its mate (max over the mate's entries); NaN if none."""
    sim = t.similarity
    mated = mate_person >= 0
    mate_score = np.full(len(probe_rows), np.nan)
    if mated.any():
        P, _ = prepare(t.vectors[probe_rows[mated]], sim)
        E, _ = prepare(t.vectors[entry_rows], sim)
        order = np.argsort(entry_person, kind="stable")
        starts = np.searchsorted(entry_person[order], np.arange(n_people))
        counts = np.bincount(entry_person, minlength=n_people)
        mp = mate_person[mated]
        reps = counts[mp]
        pi = np.repeat(np.arange(len(mp)), reps)
        ei = order[np.concatenate([np.arange(starts[p], starts[p] + c)
                                   for p, c in zip(mp, reps, strict=True)])]
        s = canonical_pair_scores(P[pi], E[ei], sim)
        mate_score[mated] = np.maximum.reduceat(s, np.concatenate([[0], np.cumsum(reps)[:-1]]))

    return mate_score

