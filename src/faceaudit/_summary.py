"""Score summary: everything the metrics need, in memory that does not grow with the pairs.

A :class:`ScoreSummary` is what the streaming scorer (templates) and the vendor-score
reader (score files) produce, and what every metric and report reads. For each *cell* — an
unordered pair of groups ``(i, j)`` with ``i <= j`` — it keeps:

- every **genuine** (mated) score exactly, with the two sample indices of its pair;
- the **impostor** (non-mated) scores split in two disjoint parts:

  * the *tail*: every impostor score ``>= tail_floor[i, j]``, exactly, with its two sample
    indices (``tail_floor = -inf`` means the tail holds *every* impostor score of the cell);
  * the *histogram*: every other impostor score (all ``< tail_floor``), binned on
    ``hist_edges`` (bin ``k`` holds ``edges[k] <= s < edges[k+1]``; scores outside the edges
    are counted in the first/last bin).

  So the number of impostor scores ``>= t`` is exact for ``t >= tail_floor`` and for any
  ``t`` that is a bin edge, and is bounded by the two neighbouring edges otherwise.
- the number of comparisons that could not be made because a sample failed to enrol or the
  score was NaN (*failure to acquire*, FTA), for genuine and impostor pairs separately;
- after the second pass (:mod:`faceaudit._recount`), for a group ``g`` and a threshold ``t``
  below its cell's tail: the pairs of people ``(accepted_a < accepted_b)`` (subject codes) of
  cell ``(g, g)`` with ``accepted_n >= 1`` impostor scores ``>= t`` (``accepted_t``,
  ``accepted_g``) — what the per-person counts and the subject bootstrap need at ``t``,
  listed by pair of people, not by comparison.

Conventions: scores are similarities (higher = more alike) and a comparison is accepted iff
``score >= threshold``. Sample indices refer to ``sample_ids``. A pair's cell is
``(min(g_a, g_b), max(g_a, g_b))`` with ``g = group_codes``; arrays indexed by cell are
``(G, G)`` with only the upper triangle (``i <= j``) used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ConfigError, InputError
from ._io import load_npz, save_npz
from ._manifest import GroupAssignment, Grouping, Manifest, find_group

FORMAT_VERSION = 1
ENGINE_VERSION = 3
"""Bump whenever the scorer or a score reader changes the numbers a summary holds, so caches
keyed on it (``faceaudit audit``'s summary cache) are not reused across such a change."""

Cell = tuple[int, int]


def canonical_cells(g_a: np.ndarray, g_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(min(g_a, g_b), max(g_a, g_b))`` elementwise."""
    g_a = np.asarray(g_a)
    g_b = np.asarray(g_b)
    return np.minimum(g_a, g_b), np.maximum(g_a, g_b)


def sample_fields(
    manifest: Manifest,
    groups: GroupAssignment,
    *,
    enrolled: np.ndarray,
    similarity: str,
    model_id: str,
) -> dict[str, Any]:
    """The per-sample keyword arguments of :class:`ScoreSummary`, taken from a manifest."""
    return dict(
        sample_ids=manifest.sample_ids,
        subject_codes=manifest.subject_codes,
        subject_ids=manifest.subject_ids,
        group_codes=groups.codes,
        group_labels=groups.labels,
        group_values=groups.values,
        grouping=groups.grouping,
        enrolled=enrolled,
        similarity=similarity,
        model_id=model_id,
    )


@dataclass(frozen=True, eq=False)
class ScoreSet:
    """The scores of one cell, or of several cells merged, in the summary's two-part form.

    ``impostor_tail`` holds every impostor score ``>= impostor_floor`` (sorted ascending);
    ``impostor_hist`` counts the others on ``hist_edges``. ``impostor_floor = -inf`` means the
    tail is complete (every impostor score is exact). ``genuine`` is sorted ascending.

    Use :meth:`from_arrays` to wrap plain score arrays (everything exact).
    """

    genuine: np.ndarray
    impostor_tail: np.ndarray
    impostor_floor: float
    impostor_hist: np.ndarray
    hist_edges: np.ndarray
    genuine_fta: int = 0
    impostor_fta: int = 0

    @classmethod
    def from_arrays(
        cls,
        genuine: Iterable[float] | np.ndarray,
        impostor: Iterable[float] | np.ndarray,
    ) -> ScoreSet:
        """Wrap exact arrays. NaN scores are removed and counted as failures to acquire."""
        g = np.asarray(genuine, dtype=np.float64).ravel()
        i = np.asarray(impostor, dtype=np.float64).ravel()
        gn, im = np.isnan(g), np.isnan(i)
        return cls(
            np.sort(g[~gn]),
            np.sort(i[~im]),
            -np.inf,
            np.zeros(1, np.int64),
            np.array([-np.inf, np.inf]),
            int(gn.sum()),
            int(im.sum()),
        )

    @property
    def n_genuine(self) -> int:
        """Number of genuine comparisons that produced a score."""
        return len(self.genuine)

    @property
    def n_impostor(self) -> int:
        """Number of impostor comparisons that produced a score."""
        return int(len(self.impostor_tail) + int(self.impostor_hist.sum()))

    @property
    def exact(self) -> bool:
        """True when every impostor score is held exactly."""
        return bool(self.impostor_floor == -np.inf)


@dataclass(frozen=True, eq=False)
class ScoreSummary:
    """Per-cell genuine scores, impostor histograms and exact impostor tails (see module doc).

    Build one with :func:`faceaudit.score_templates`, :func:`faceaudit.read_scores` or
    :meth:`load`; read per-cell scores with :meth:`scores`.
    """

    sample_ids: np.ndarray
    subject_codes: np.ndarray
    subject_ids: np.ndarray
    group_codes: np.ndarray
    group_labels: tuple[str, ...]
    grouping: Grouping
    enrolled: np.ndarray
    genuine_scores: np.ndarray
    genuine_a: np.ndarray
    genuine_b: np.ndarray
    hist_edges: np.ndarray
    impostor_hist: np.ndarray
    tail_scores: np.ndarray
    tail_a: np.ndarray
    tail_b: np.ndarray
    tail_floor: np.ndarray
    genuine_fta: np.ndarray
    impostor_fta: np.ndarray
    similarity: str = "cosine"
    model_id: str = "unknown"
    protocol: Mapping[str, Any] = field(default_factory=dict)
    exclusions: Mapping[str, int] = field(default_factory=dict)
    group_values: tuple[tuple[str, ...], ...] = ()
    accepted_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    accepted_g: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    accepted_a: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    accepted_b: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    accepted_n: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        n = len(self.sample_ids)
        g = len(self.group_labels)
        conv = {
            "sample_ids": (str, (n,)),
            "subject_codes": (np.int32, (n,)),
            "subject_ids": (str, None),
            "group_codes": (np.int32, (n,)),
            "enrolled": (bool, (n,)),
            "genuine_scores": (np.float64, None),
            "genuine_a": (np.int64, None),
            "genuine_b": (np.int64, None),
            "hist_edges": (np.float64, None),
            "impostor_hist": (np.int64, None),
            "tail_scores": (np.float64, None),
            "tail_a": (np.int64, None),
            "tail_b": (np.int64, None),
            "tail_floor": (np.float64, (g, g)),
            "genuine_fta": (np.int64, (g, g)),
            "impostor_fta": (np.int64, (g, g)),
            "accepted_t": (np.float64, None),
            "accepted_g": (np.int32, None),
            "accepted_a": (np.int64, None),
            "accepted_b": (np.int64, None),
            "accepted_n": (np.int64, None),
        }
        for name, (dtype, shape) in conv.items():
            arr = np.asarray(getattr(self, name), dtype=dtype)
            if shape is not None and arr.shape != shape:
                raise ConfigError(f"ScoreSummary.{name} must have shape {shape}; got {arr.shape}")
            object.__setattr__(self, name, _frozen(arr)[0])
        nb = len(self.hist_edges) - 1
        if self.impostor_hist.shape != (g, g, nb):
            raise ConfigError(
                f"impostor_hist must have shape {(g, g, nb)}; got {self.impostor_hist.shape}"
            )
        if not (len(self.genuine_scores) == len(self.genuine_a) == len(self.genuine_b)):
            raise ConfigError("genuine_scores, genuine_a and genuine_b must have the same length")
        if not (len(self.tail_scores) == len(self.tail_a) == len(self.tail_b)):
            raise ConfigError("tail_scores, tail_a and tail_b must have the same length")
        if len({len(getattr(self, f"accepted_{k}")) for k in "tgabn"}) != 1:
            raise ConfigError("accepted_t, _g, _a, _b and _n must have the same length")
        object.__setattr__(self, "group_labels", tuple(self.group_labels))
        if not self.group_values:
            object.__setattr__(self, "group_values", tuple((lab,) for lab in self.group_labels))
        object.__setattr__(self, "protocol", dict(self.protocol))
        object.__setattr__(self, "exclusions", dict(self.exclusions))

    # ------------------------------------------------------------------ basics
    @property
    def n_groups(self) -> int:
        return len(self.group_labels)

    @property
    def n_samples(self) -> int:
        return len(self.sample_ids)

    def __repr__(self) -> str:
        return (
            f"ScoreSummary({self.n_samples} samples, {self.n_groups} groups, "
            f"{len(self.genuine_scores)} genuine, "
            f"{int(self.impostor_total.sum())} impostor scores, "
            f"similarity={self.similarity!r}, model_id={self.model_id!r})"
        )

    def group_index(self, group: int | str | tuple[str, ...]) -> int:
        """Index of a group given by index, label (``"F / black"``) or values tuple.

        Labels and names are resolved by :func:`faceaudit._manifest.find_group` (an
        ambiguous name is a :class:`ConfigError`).
        """
        if isinstance(group, (int, np.integer)):
            if 0 <= int(group) < self.n_groups:
                return int(group)
            raise ConfigError(f"group must be one of {list(self.group_labels)}; got {group!r}")
        return find_group(group, self.group_labels, self.group_values)

    # Derived per-pair and per-cell arrays are computed once per summary (``cached_property``
    # keeps them in the instance ``__dict__``). They cannot go stale: the fields cannot be
    # reassigned (frozen), their arrays are read-only views (``__post_init__``), the cached
    # arrays are read-only too, and ``dataclasses.replace``, pickling and copying build a new
    # summary from the fields only (``__reduce__``), so no memo is carried over.
    @cached_property
    def genuine_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell ``(i, j)`` of every genuine pair (read-only arrays)."""
        return _frozen(
            *canonical_cells(self.group_codes[self.genuine_a], self.group_codes[self.genuine_b])
        )

    @cached_property
    def tail_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell ``(i, j)`` of every tail (exact impostor) pair (read-only arrays)."""
        return _frozen(
            *canonical_cells(self.group_codes[self.tail_a], self.group_codes[self.tail_b])
        )

    @cached_property
    def impostor_total(self) -> np.ndarray:
        """(G, G) int64: impostor scores per cell (tail + histogram), upper triangle
        (read-only)."""
        i, j = self.tail_cells
        tot = self.impostor_hist.sum(axis=2)
        np.add.at(tot, (i, j), 1)
        return _frozen(tot)[0]

    @cached_property
    def genuine_total(self) -> np.ndarray:
        """(G, G) int64: genuine scores per cell, upper triangle (read-only)."""
        i, j = self.genuine_cells
        tot = np.zeros((self.n_groups, self.n_groups), np.int64)
        np.add.at(tot, (i, j), 1)
        return _frozen(tot)[0]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle / copy the fields only (the memos above are rebuilt on demand)."""
        return (_rebuild, (type(self), {f.name: getattr(self, f.name) for f in fields(self)}))

    # ------------------------------------------------------------------ per-cell view
    def scores(self, cells: Cell | Iterable[Cell] | str | None = None) -> ScoreSet:
        """Scores of one cell, several cells merged, or a named selection.

        Parameters
        ----------
        cells : (i, j), list of (i, j), ``"all"`` / None (every cell), ``"diagonal"``
            (within-group pairs only: NIST's demographically matched impostors).
            Groups may be given by index or label.
        """
        g = self.n_groups
        if cells is None or cells == "all":
            sel = [(i, j) for i in range(g) for j in range(i, g)]
        elif cells == "diagonal":
            sel = [(i, i) for i in range(g)]
        elif isinstance(cells, tuple) and len(cells) == 2 and not isinstance(cells[0], tuple):
            sel = [cells]  # type: ignore[list-item]
        else:
            sel = list(cells)  # type: ignore[arg-type]
        norm = []
        for a, b in sel:
            ia, ib = self.group_index(a), self.group_index(b)
            norm.append((min(ia, ib), max(ia, ib)))
        mask = np.zeros((g, g), bool)
        for a, b in norm:
            mask[a, b] = True
        gi, gj = self.genuine_cells
        ti, tj = self.tail_cells
        floor = float(max(self.tail_floor[a, b] for a, b in norm)) if norm else -np.inf
        tail = self.tail_scores[mask[ti, tj]]
        hist = (
            self.impostor_hist[mask].sum(axis=0)
            if norm
            else np.zeros(len(self.hist_edges) - 1, np.int64)
        )
        if floor > -np.inf:
            # The union is complete only above the highest floor: the rest joins the histogram.
            low = tail < floor
            if low.any():
                hist = hist + bin_counts(tail[low], self.hist_edges)
                tail = tail[~low]
        return ScoreSet(
            genuine=np.sort(self.genuine_scores[mask[gi, gj]]),
            impostor_tail=np.sort(tail),
            impostor_floor=floor,
            impostor_hist=hist,
            hist_edges=self.hist_edges,
            genuine_fta=int(self.genuine_fta[mask].sum()),
            impostor_fta=int(self.impostor_fta[mask].sum()),
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write atomically to ``path`` (``.npz``; no pickles)."""
        meta = {
            "format_version": FORMAT_VERSION,
            "group_labels": list(self.group_labels),
            "group_values": [list(v) for v in self.group_values],
            "grouping": self.grouping.to_dict(),
            "similarity": self.similarity,
            "model_id": self.model_id,
            "protocol": self.protocol,
            "exclusions": self.exclusions,
        }
        arrays = {name: getattr(self, name) for name in _ARRAY_FIELDS}
        arrays["meta"] = np.array(json.dumps(meta))
        save_npz(path, arrays)

    @classmethod
    def load(cls, path: str | Path) -> ScoreSummary:
        """Read a file written by :meth:`save`."""
        d = load_npz(path)
        if "meta" not in d:
            raise InputError(f"{path}: not a faceaudit score summary (no metadata)")
        meta = json.loads(str(d["meta"]))
        if meta.get("format_version") != FORMAT_VERSION:
            raise InputError(
                f"{path}: score summary format {meta.get('format_version')} is not "
                f"{FORMAT_VERSION}; re-run `faceaudit score`"
            )
        gr = meta["grouping"]
        return cls(
            **{name: d[name] for name in _ARRAY_FIELDS if name in d or name[:9] != "accepted_"},
            group_labels=tuple(meta["group_labels"]),
            group_values=tuple(tuple(v) for v in meta["group_values"]),
            grouping=Grouping(
                tuple(gr["attributes"]), {k: tuple(v) for k, v in gr["bins"].items()}
            ),
            similarity=meta["similarity"],
            model_id=meta["model_id"],
            protocol=meta["protocol"],
            exclusions=meta["exclusions"],
        )


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Read-only views of ``arrays`` (the caller's arrays stay writable)."""
    out = []
    for a in arrays:
        v = a.view()
        v.flags.writeable = False
        out.append(v)
    return tuple(out)


def _rebuild(cls: type[ScoreSummary], kwargs: dict[str, Any]) -> ScoreSummary:
    """Unpickle / copy helper of :meth:`ScoreSummary.__reduce__`."""
    return cls(**kwargs)


_ARRAY_FIELDS = (
    "sample_ids",
    "subject_codes",
    "subject_ids",
    "group_codes",
    "enrolled",
    "genuine_scores",
    "genuine_a",
    "genuine_b",
    "hist_edges",
    "impostor_hist",
    "tail_scores",
    "tail_a",
    "tail_b",
    "tail_floor",
    "genuine_fta",
    "impostor_fta",
    "accepted_t",
    "accepted_g",
    "accepted_a",
    "accepted_b",
    "accepted_n",
)


def bin_index(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each score on ``edges``: ``k`` with ``edges[k] <= s < edges[k+1]``, clipped.

    The one binning rule of faceaudit (left-closed bins; scores outside the edges fall in the
    first or last bin). :class:`faceaudit._accumulate.Binning` computes the same index with exact
    power-of-two arithmetic for its dyadic edges.
    """
    k = np.searchsorted(edges, scores, side="right") - 1
    return np.clip(k, 0, len(edges) - 2)


def bin_counts(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Histogram counts (int64, ``len(edges) - 1``) of ``scores`` by :func:`bin_index`."""
    k = bin_index(np.asarray(scores), edges)
    return np.bincount(k, minlength=len(edges) - 1).astype(np.int64)
