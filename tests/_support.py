"""Helpers shared by the tests (a module, not a test file: pytest does not collect it).

- :func:`build_summary`, :func:`random_population`, :func:`brute_pairs`: a ScoreSummary built
  by brute force from explicit arrays (the contract of ``_summary.py``), so the metrics can be
  checked against brute-force references;
- :func:`people`: a synthetic population of templates for the 1:N tests;
- :func:`make_tiny_world`: the README's example files as tiny generated files (CLI tests);
- :class:`DieOnce`: a tile engine that kills its Dask worker once (cluster recovery tests).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from faceaudit import Grouping, Manifest, ScoreSummary, Templates
from faceaudit._similarity import pair_scores


def build_summary(
    subjects: np.ndarray,
    groups: np.ndarray,
    scores: np.ndarray,
    *,
    labels: tuple[str, ...] | None = None,
    enrolled: np.ndarray | None = None,
    tail_floor: float | np.ndarray = -np.inf,
    edges: np.ndarray | None = None,
    attribute: str = "g",
) -> ScoreSummary:
    """All-pairs summary of ``n`` samples with a symmetric ``(n, n)`` score matrix.

    Pairs with a non-enrolled sample or a NaN score are failures to acquire in their cell.
    Impostor scores ``>= tail_floor[cell]`` go to the exact tail, the rest to the histogram.
    """
    subjects = np.asarray(subjects)
    groups = np.asarray(groups)
    n = len(subjects)
    n_groups = int(groups.max()) + 1
    labels = labels or tuple(f"G{i}" for i in range(n_groups))
    enrolled = np.ones(n, bool) if enrolled is None else np.asarray(enrolled, bool)
    edges = np.linspace(-1, 1, 21) if edges is None else np.asarray(edges, np.float64)
    floor = np.broadcast_to(np.asarray(tail_floor, np.float64), (n_groups, n_groups)).copy()
    hist = np.zeros((n_groups, n_groups, len(edges) - 1), np.int64)
    gfta = np.zeros((n_groups, n_groups), np.int64)
    ifta = np.zeros((n_groups, n_groups), np.int64)
    gen, ga, gb, tail, ta, tb = [], [], [], [], [], []
    for a in range(n):
        for b in range(a + 1, n):
            i, j = sorted((int(groups[a]), int(groups[b])))
            s = scores[a, b]
            same = subjects[a] == subjects[b]
            if not (enrolled[a] and enrolled[b]) or np.isnan(s):
                (gfta if same else ifta)[i, j] += 1
            elif same:
                gen.append(s)
                ga.append(a)
                gb.append(b)
            elif s >= floor[i, j]:
                tail.append(s)
                ta.append(a)
                tb.append(b)
            else:
                k = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, len(edges) - 2)
                hist[i, j, k] += 1
    _, subj_codes = np.unique(subjects, return_inverse=True)
    return ScoreSummary(
        sample_ids=np.array([f"s{k}" for k in range(n)]),
        subject_codes=subj_codes.astype(np.int32),
        subject_ids=np.unique(subjects).astype(str),
        group_codes=groups.astype(np.int32),
        group_labels=labels,
        grouping=Grouping((attribute,)),
        enrolled=enrolled,
        genuine_scores=np.array(gen, np.float64),
        genuine_a=np.array(ga, np.int64),
        genuine_b=np.array(gb, np.int64),
        hist_edges=edges,
        impostor_hist=hist,
        tail_scores=np.array(tail, np.float64),
        tail_a=np.array(ta, np.int64),
        tail_b=np.array(tb, np.int64),
        tail_floor=floor,
        genuine_fta=gfta,
        impostor_fta=ifta,
    )


def random_population(
    n_subjects: int = 30, per_subject: int = 3, n_groups: int = 3, seed: int = 0,
    dim: int = 16,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Subjects, groups and a cosine score matrix of random embeddings (group-dependent noise)."""
    rng = np.random.default_rng(seed)
    subjects = np.repeat(np.arange(n_subjects), per_subject)
    subj_group = np.arange(n_subjects) % n_groups
    groups = subj_group[subjects]
    centre = rng.normal(size=(n_subjects, dim))
    noise = 0.6 + 0.3 * groups[:, None]
    emb = centre[subjects] + noise * rng.normal(size=(len(subjects), dim))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return subjects, groups, emb @ emb.T


def brute_pairs(subjects: np.ndarray, groups: np.ndarray, scores: np.ndarray, g: int | None = None):
    """(genuine, impostor) score arrays of all pairs, optionally within group ``g`` only."""
    gen, imp = [], []
    n = len(subjects)
    for a in range(n):
        for b in range(a + 1, n):
            if g is not None and not (groups[a] == g and groups[b] == g):
                continue
            (gen if subjects[a] == subjects[b] else imp).append(scores[a, b])
    return np.array(gen), np.array(imp)


def people(
    n_subjects: int,
    seed: int = 0,
    fail_every: int = 0,
    dim: int = 16,
    *,
    female: Callable[[int], bool] = lambda s: s % 2 == 1,
    noise_f: float = 0.8,
    noise_m: float = 0.8,
    failure: tuple[str, str] = ("no_face", "no face"),
    similarity: str = "cosine",
) -> tuple[Manifest, Templates]:
    """Subjects with 1-4 images around a random centre (noise ``noise_f`` / ``noise_m`` by
    sex); every ``fail_every``-th image a failure to enrol ``failure = (status, detail)``."""
    rng = np.random.default_rng(seed)
    rows, vecs = [], []
    for s in range(n_subjects):
        sex = "F" if female(s) else "M"
        centre = rng.normal(size=dim)
        for j in range(int(rng.integers(1, 5))):
            rows.append({"sample_id": f"s{s:04d}_{j}", "subject_id": f"p{s:04d}", "sex": sex})
            vecs.append(centre + (noise_f if sex == "F" else noise_m) * rng.normal(size=dim))
    m = Manifest(pd.DataFrame(rows))
    status = np.full(len(rows), "ok", dtype=object)
    if fail_every:
        status[::fail_every] = failure[0]
    status = status.astype(str)
    v = np.asarray(vecs, np.float32)
    v[status != "ok"] = np.nan
    return m, Templates(m.sample_ids, v, status, np.where(status == "ok", "", failure[1]), "syn",
                        similarity)


FAST_EMBED = ["--model", "fake", "--detector", "none", "--workers", "1"]
"""CLI options that make embedding instant in tests (no model, no detector, no pool)."""


def make_tiny_world(folder: Path) -> None:
    """The README's file names as tiny files: an image folder ``path/to/root`` (16 people,
    2 photos each: 2 sexes x 4 age bins x 2 people), ``labels.csv`` keyed by person,
    ``manifest.csv`` / ``m.csv`` of the same photos, ``vendor_scores.csv`` (all pairs) and
    two bob score files ``dev-1.txt`` / ``test-1.txt``."""
    rng = np.random.default_rng(7)
    root = folder / "path" / "to" / "root"
    rows, people = [], []
    for sex in ("F", "M"):
        for age in (25, 35, 50, 70):
            for k in range(2):
                person = f"{sex}{age}p{k}"
                race = ("white", "black")[k]
                people.append({"subject_id": person, "sex": sex, "race": race})
                (root / person).mkdir(parents=True)
                for i in range(2):
                    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(
                        root / person / f"{i}.png"
                    )
                    rows.append({"sample_id": f"{person}_{i}", "subject_id": person,
                                 "path": f"path/to/root/{person}/{i}.png", "sex": sex,
                                 "race": race, "age": age + i})
    pd.DataFrame(people).to_csv(folder / "labels.csv", index=False)
    manifest = pd.DataFrame(rows)
    manifest.to_csv(folder / "manifest.csv", index=False)
    manifest.to_csv(folder / "m.csv", index=False)
    subj = pd.factorize(manifest["subject_id"])[0]
    vec = rng.normal(size=(subj.max() + 1, 16))[subj] + 0.5 * rng.normal(size=(len(subj), 16))
    ia, ib = np.triu_indices(len(subj), 1)
    ids = manifest["sample_id"].to_numpy()
    pd.DataFrame({"sample_a": ids[ia], "sample_b": ids[ib],
                  "score": pair_scores(vec[ia], vec[ib], "cosine")}).to_csv(
        folder / "vendor_scores.csv", index=False)
    for name in ("dev-1.txt", "test-1.txt"):  # bob's 4-column format: claimed real probe score
        lines = [f"c{c} c{r} p{r}_{c} {rng.normal(2.0 if c == r else 0.0):.4f}"
                 for r in range(8) for c in range(8)]
        (folder / name).write_text("\n".join(lines) + "\n")


class DieOnce:
    """A tile engine whose first unit kills the worker process running it (once: a flag file
    remembers), for the tests of a cluster's recovery. Picklable; wraps a real engine."""

    def __init__(self, engine: object, flag: str) -> None:
        self.engine, self.flag = engine, flag

    def restrict(self, pos: object, known: object = None) -> DieOnce:
        return DieOnce(self.engine.restrict(pos, known), self.flag)  # type: ignore[attr-defined]

    def globalise(self, state: object, pos: object) -> object:
        return self.engine.globalise(state, pos)  # type: ignore[attr-defined]

    def run_unit(self, unit: object, state: object) -> None:
        import os

        try:
            fd = os.open(self.flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            self.engine.run_unit(unit, state)  # type: ignore[attr-defined]
            return
        os.close(fd)
        os._exit(1)  # the first unit anywhere: the worker dies mid-task


def merge_states(a, b):  # type: ignore[no-untyped-def]
    """Two scorer states as one, neither changed: both absorbed into a new state."""
    from faceaudit._tiles import WorkerState, absorb_state

    return absorb_state(absorb_state(WorkerState(), a), b)
