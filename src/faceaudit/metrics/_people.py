r"""Per-person error counts of one group at one threshold: the input of the clustered intervals.

A person appears in many comparisons, so a group's errors are summarised per person (genuine:
each person's errors and comparisons) and per pair of people (impostor: only pairs with an
error are listed; the number of comparisons follows from the samples per person). From these
:mod:`faceaudit.metrics._clustered` computes the design effect and the people bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import ConfigError, check_range
from .._summary import ScoreSummary
from ._intervals import group_resampling, pair_weight_sums

KINDS = ("genuine", "impostor")


def int_array(name: str, x: Any) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ConfigError(f"{name} must be a 1-D array; got shape {a.shape}")
    if a.size and (not np.issubdtype(a.dtype, np.number) or (a < 0).any()
                   or not np.isfinite(a).all() or (a != np.round(a)).any()):
        raise ConfigError(f"{name} must hold non-negative integers; got {a[:5].tolist()}...")
    return a.astype(np.int64)


@dataclass(frozen=True, eq=False)
class PersonCounts:
    r"""Errors and comparisons of one group at one threshold, broken down by person.

    Build one with :meth:`genuine`, :meth:`impostor` (all-pairs protocols) or
    :meth:`impostor_pairs` (explicit comparison counts per pair of people).

    Attributes
    ----------
    kind : {"genuine", "impostor"}
    n_people : int
        People of the group (resampling units), ``0 .. n_people-1``.
    person_errors, person_trials : ndarray of float64, shape (n_people,)
        Errors and comparisons *involving* each person: their own genuine pairs, or every
        impostor pair they are one side of (so each impostor pair is counted for both people).
    pair_a, pair_b, pair_errors : ndarray of int64
        Impostor only: the pairs of people ``a < b`` with at least one error, and the count.
    n_samples : ndarray of int64 or None
        Impostor all-pairs only: samples (templates) of each person; comparisons between two
        people are :math:`s_a s_b`.
    trial_a, trial_b, trial_n : ndarray of int64 or None
        Impostor explicit-pairs only: comparisons made between each pair of people.
    """

    kind: str
    n_people: int
    person_errors: np.ndarray
    person_trials: np.ndarray
    pair_a: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pair_b: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pair_errors: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    n_samples: np.ndarray | None = None
    trial_a: np.ndarray | None = None
    trial_b: np.ndarray | None = None
    trial_n: np.ndarray | None = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def genuine(cls, errors: Sequence[int] | np.ndarray,
                trials: Sequence[int] | np.ndarray) -> PersonCounts:
        """Genuine (mated) comparisons: each person's false non-matches and genuine pairs.

        Also fits any rate whose comparisons each belong to one person, e.g. a probe person's
        comparisons with a gallery in a 1:N search.

        >>> c = PersonCounts.genuine([0, 2, 1], [1, 10, 3])
        >>> c.errors, c.trials
        (3, 14)
        """
        e, n = int_array("errors", errors), int_array("trials", trials)
        if e.shape != n.shape:
            raise ConfigError(f"errors and trials must have the same length; got {len(e)} and "
                              f"{len(n)}")
        if (e > n).any():
            i = int(np.flatnonzero(e > n)[0])
            raise ConfigError(f"errors must be <= trials for every person; got {e[i]} > {n[i]} "
                              f"for person {i}")
        return cls("genuine", len(e), e.astype(np.float64), n.astype(np.float64))

    @classmethod
    def impostor(cls, n_samples: Sequence[int] | np.ndarray, pair_a: Sequence[int] | np.ndarray,
                 pair_b: Sequence[int] | np.ndarray,
                 pair_errors: Sequence[int] | np.ndarray) -> PersonCounts:
        r"""Impostor comparisons of an all-pairs protocol within one group.

        Every sample is compared with every sample of every other person of the group, so
        people ``a`` and ``b`` share :math:`s_a s_b` comparisons and person ``i`` is in
        :math:`s_i (S - s_i)` of them (:math:`S = \sum s`). ``pair_errors[p]`` is the number of
        false matches between people ``pair_a[p]`` and ``pair_b[p]`` (each unordered pair at
        most once; pairs without errors may be left out).

        >>> c = PersonCounts.impostor([2, 1, 1], [0], [1], [1])
        >>> c.errors, c.trials
        (1, 5)
        """
        s = int_array("n_samples", n_samples)
        a, b, f = cls._pairs(len(s), pair_a, pair_b, pair_errors)
        if (f > s[a] * s[b]).any():
            raise ConfigError("pair_errors must be <= the comparisons between the two people "
                              "(n_samples[a] * n_samples[b])")
        e = np.bincount(a, f, len(s)) + np.bincount(b, f, len(s))
        sf = s.astype(np.float64)
        return cls("impostor", len(s), e, sf * (sf.sum() - sf), a, b, f, n_samples=s)

    @classmethod
    def impostor_pairs(cls, n_people: int, pair_a: Sequence[int] | np.ndarray,
                       pair_b: Sequence[int] | np.ndarray, pair_errors: Sequence[int] | np.ndarray,
                       trial_a: Sequence[int] | np.ndarray, trial_b: Sequence[int] | np.ndarray,
                       trial_n: Sequence[int] | np.ndarray) -> PersonCounts:
        """Impostor comparisons listed explicitly: ``trial_n[p]`` comparisons between people
        ``trial_a[p]`` and ``trial_b[p]`` (pair lists, vendor files), ``pair_errors`` as in
        :meth:`impostor`."""
        check_range("n_people", n_people, low=0)
        a, b, f = cls._pairs(int(n_people), pair_a, pair_b, pair_errors)
        ta, tb, tn = cls._pairs(int(n_people), trial_a, trial_b, trial_n, what="trial")
        n = int(n_people)
        order = np.argsort(ta * n + tb)
        keys = (ta * n + tb)[order]
        pos = np.minimum(np.searchsorted(keys, a * n + b), max(len(keys) - 1, 0))
        found = (keys[pos] == a * n + b) if len(keys) else np.zeros(len(a), bool)
        if not found.all() or (len(keys) and (f > tn[order][pos]).any()):
            raise ConfigError("pair_errors must be <= trial_n of the same pair of people; "
                              "every pair with errors needs its comparison count")
        e = np.bincount(a, f, n) + np.bincount(b, f, n)
        t = np.bincount(ta, tn, n) + np.bincount(tb, tn, n)
        return cls("impostor", n, e, t.astype(np.float64), a, b, f,
                   trial_a=ta, trial_b=tb, trial_n=tn)

    @staticmethod
    def _pairs(n: int, a: Any, b: Any, c: Any, what: str = "pair") -> tuple[np.ndarray, ...]:
        a, b = int_array(f"{what}_a", a), int_array(f"{what}_b", b)
        c = int_array(f"{what}_errors" if what == "pair" else f"{what}_n", c)
        if not (len(a) == len(b) == len(c)):
            raise ConfigError(f"{what}_a, {what}_b and their counts must have the same length")
        if len(a) and (max(a.max(), b.max()) >= n):
            raise ConfigError(f"{what} people must be < n_people ({n})")
        if (a == b).any():
            raise ConfigError(f"a {what} of people must be two different people (a != b)")
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        if len(np.unique(lo * max(n, 1) + hi)) != len(lo):
            raise ConfigError(f"each unordered {what} of people must be listed once")
        return lo, hi, c

    # ------------------------------------------------------------------ totals
    @property
    def errors(self) -> int:
        """Total errors of the group."""
        if self.kind == "genuine":
            return int(self.person_errors.sum())
        return int(self.pair_errors.sum())

    @property
    def trials(self) -> int:
        """Total comparisons of the group."""
        t = self.person_trials.sum()
        return int(np.rint(t if self.kind == "genuine" else t / 2))

    # ------------------------------------------------------------------ resampling
    def replicates(self, weights: np.ndarray) -> np.ndarray:
        r"""Bootstrap replicate rates for person multiplicities ``weights`` (B, n_people).

        .. math::

            \text{genuine: } r^* = \frac{\sum_i w_i e_i}{\sum_i w_i n_i}, \qquad
            \text{impostor: } r^* = \frac{\sum_{a<b} w_a w_b F_{ab}}{D(w)}

        with :math:`D(w) = \tfrac12[(\sum w_i s_i)^2 - \sum w_i^2 s_i^2]` (all pairs; two
        copies of one person are the same person, never an impostor pair) or
        :math:`\sum_{a<b} w_a w_b N_{ab}` (explicit pairs). A replicate without comparisons is
        NaN. Weights of 1 reproduce the observed rate.
        """
        w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        if w.shape[1] != self.n_people:
            raise ConfigError(f"weights must have one column per person ({self.n_people}); "
                              f"got shape {w.shape}")
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "genuine":
                num = w @ self.person_errors
                den = w @ self.person_trials
            else:
                num = pair_weight_sums(self.pair_a, self.pair_b, w, self.pair_errors)
                if self.n_samples is not None:
                    s = self.n_samples.astype(np.float64)
                    den = 0.5 * ((w @ s) ** 2 - (w**2) @ (s**2))
                else:
                    assert self.trial_a is not None and self.trial_b is not None
                    den = pair_weight_sums(self.trial_a, self.trial_b, w, self.trial_n)
            out = num / den
        return np.where(den > 0, out, np.nan)

    def jackknife_variance(self) -> float:
        r"""Delete-one-person jackknife variance of the rate.

        .. math::

            \hat r_{(-i)} = \frac{K - e_i}{N - n_i}, \qquad
            v_J = \frac{P - 1}{P} \sum_{i} \bigl(\hat r_{(-i)} - \bar r_{(\cdot)}\bigr)^2

        over the :math:`P` people with at least one comparison (:math:`e_i, n_i`: errors and
        comparisons involving person :math:`i`; :math:`K, N`: the totals). Deleting a person
        deletes every comparison they are in, which is what makes this variance account for
        errors clustering by person. ``inf`` (nothing can be said) with fewer than two such
        people, or when one person is in every comparison.
        """
        act = self.person_trials > 0
        p = int(act.sum())
        if p < 2:
            return math.inf
        k, n = float(self.errors), float(self.trials)
        rest = n - self.person_trials[act]
        if (rest <= 0).any():
            return math.inf
        rj = (k - self.person_errors[act]) / rest
        return float((p - 1) / p * np.sum((rj - rj.mean()) ** 2))

    def design_df(self) -> float:
        r"""Degrees of freedom of the variance: the effective number of people, minus one.

        .. math::

            \nu = \frac{\bigl(\sum_i n_i^2\bigr)^2}{\sum_i n_i^4} - 1

        This is Satterthwaite's approximation for the jackknife variance when each person's
        comparisons move together (the working model under which person :math:`i`
        contributes variance :math:`\propto n_i^2`; Bell & McCaffrey 2002). It equals
        :math:`P - 1` when every person has the same number of comparisons and falls towards
        0 when one person holds most of them (e.g. an LFW group that includes George W. Bush,
        530 images). Depends only on the design (comparison counts), never on the errors.
        """
        d = self.person_trials[self.person_trials > 0]
        if len(d) == 0:
            return 0.0
        d = d / d.max()
        return float(np.sum(d**2) ** 2 / np.sum(d**4) - 1.0)


def person_counts(
    summary: ScoreSummary, group: int | str | tuple[str, ...], threshold: float
) -> tuple[PersonCounts, PersonCounts | None]:
    """Per-person counts of a group's own cell (both samples in the group) at ``threshold``.

    Returns ``(genuine, impostor)``. ``impostor`` is None when the summary cannot give them:
    the threshold is below the cell's exact tail (accepted pairs are not listed there) and the
    second pass did not list them by pair of people at this threshold, or
    the tail is incomplete and the protocol is not all-pairs (the comparisons per pair of
    people are unknown). People are the group's subjects in ``summary.subject_codes`` order;
    only enrolled samples count.
    """
    g = summary.group_index(group)
    r = group_resampling(summary, g)
    t = float(threshold)
    p = r.n_subjects
    gen = PersonCounts.genuine(
        np.bincount(r.gen_subject[r.gen_scores < t], minlength=p),
        np.bincount(r.gen_subject, minlength=p))
    pairs = r.accepted_pairs(t)
    if pairs is None or (r.tail_floor > -np.inf and not r.all_pairs):
        return gen, None

    def per_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keys, counts = np.unique(lo * max(p, 1) + hi, return_counts=True)
        return keys // max(p, 1), keys % max(p, 1), counts

    if pairs[2] is not None:  # listed by pair of people by the second pass
        if not r.all_pairs:
            return gen, None
        return gen, PersonCounts.impostor(r.n_samples, *pairs)
    a, b, f = per_pair(pairs[0], pairs[1])
    if r.all_pairs:
        return gen, PersonCounts.impostor(r.n_samples, a, b, f)
    ta, tb, tn = per_pair(r.tail_a, r.tail_b)
    return gen, PersonCounts.impostor_pairs(p, a, b, f, ta, tb, tn)
