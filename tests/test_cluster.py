"""Scale-out on Dask: the cluster setting, the missing extra, and LocalCluster results equal to
the in-process ones bit for bit (scoring for any block size and worker count, a whole audit)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from _support import DieOnce, merge_states, people
from faceaudit import ConfigError, MissingDependencyError, _tiles
from faceaudit._cli._app import cli
from faceaudit._scorer import score_templates
from faceaudit.audit import AuditConfig, InProcess, run_audit
from faceaudit.cluster import (
    ClusterSpec,
    DaskBackend,
    connect,
    dask_embed_runner,
    dask_executor,
    merge_topk,
    parse_cluster,
    sharded_search,
)
from test_engine_scorer import exact_vectors, make_case, same_summary
from test_pipeline_runner import _image_tree, _png_bytes

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    """A LocalCluster of 2 worker processes × 1 thread, shared by this module's tests; a task
    whose worker dies is not re-run (allowed-failures 0) so that poisoned images fail fast."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), connect("local:2") as c:
        yield c


# ---------------------------------------------------------------------------- the setting
def test_parse_cluster() -> None:
    assert parse_cluster("local:4") == ClusterSpec(4, 1, None)
    assert parse_cluster(" local:3x2 ") == ClusterSpec(3, 2, None)
    assert parse_cluster("tcp://10.0.0.5:8786") == ClusterSpec(0, 1, "tcp://10.0.0.5:8786")
    for bad in ("local:0", "local", "local:-1", "4", "http://x:8786", "tcp://", "local:2x0"):
        with pytest.raises(ConfigError, match="cluster must be 'local:N'"):
            parse_cluster(bad)


def test_config_cluster_section(tmp_path: Path) -> None:
    toml = tmp_path / "a.toml"
    toml.write_text('[dataset]\nname = "lfw"\n[cluster]\naddress = "local:2"\n')
    cfg = AuditConfig.from_toml(toml)
    assert cfg.cluster == "local:2"
    assert cfg.to_mapping()["cluster"] == {"address": "local:2"}
    toml.write_text('[dataset]\nname = "lfw"\n[cluster]\naddress = "local:many"\n')
    with pytest.raises(ConfigError, match="cluster must be"):
        AuditConfig.from_toml(toml)
    assert AuditConfig(dataset="lfw").cluster is None  # default: in process


def test_missing_extra_exits_4_with_install_hint(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    for name in ("dask", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'faceaudit\[cluster\]'"):
        with connect("local:2"):
            pass
    res = CliRunner().invoke(cli, ["audit", "--scores", "s.csv", "--manifest", "m.csv",
                                   "--cluster", "local:2", "--out", str(tmp_path / "o")])
    assert res.exit_code == 4, res.output
    hint = [line for line in res.output.splitlines() if "faceaudit[cluster]" in line]
    assert len(hint) == 1 and "pip install" in hint[0]


# ---------------------------------------------------------------------------- merging states
def _units_and_engine(tpl, manifest):  # type: ignore[no-untyped-def]
    """The engine and units score_templates builds, captured through the executor seam."""
    seen = {}

    def capture(engine, units, n_workers, progress):  # type: ignore[no-untyped-def]
        seen["engine"], seen["units"] = engine, units
        return _tiles.run_units(engine, units, n_workers, progress)

    score_templates(tpl, manifest, grouping="grp", min_exact=40, n_bins=256, block_size=1,
                    progress=False, executor=capture)
    return seen["engine"], seen["units"]


def test_merge_states_in_any_tree_gives_the_same_summary() -> None:
    """Per-task states merged pairwise in random trees: the summary of one thread, bit for bit."""
    rng = np.random.default_rng(5)
    n = 600
    manifest, tpl = make_case(rng.integers(0, 150, n), rng.integers(0, 3, n), rng.random(n) < 0.05,
                              exact_vectors(rng, n, "cosine"), "cosine")  # many exact ties
    kw = dict(grouping="grp", min_exact=40, n_bins=256, progress=False)
    base = score_templates(tpl, manifest, n_workers=1, **kw)
    for trial in range(3):
        def tree(engine, units, n_workers, progress, trial=trial):  # type: ignore[no-untyped-def]
            order = np.random.default_rng(trial).permutation(len(units))
            states = [_tiles.run_units(engine, [units[i]], 1, False)[0] for i in order]
            r = np.random.default_rng(100 + trial)
            while len(states) > 1:
                i, j = sorted(r.choice(len(states), 2, replace=False))
                b, a = states.pop(j), states.pop(i)
                states.append(merge_states(a, b))
            return states

        same_summary(base, score_templates(tpl, manifest, block_size=1, executor=tree, **kw))


def test_merge_states_is_pure() -> None:
    rng = np.random.default_rng(2)
    n = 300
    manifest, tpl = make_case(rng.integers(0, 80, n), rng.integers(0, 2, n), np.zeros(n, bool),
                              rng.standard_normal((n, 8)), "cosine")
    engine, units = _units_and_engine(tpl, manifest)
    a = _tiles.run_units(engine, units[:1], 1, False)[0]
    b = _tiles.run_units(engine, units[1:], 1, False)[0]
    before = {c: h.copy() for c, h in a.hist.items()}
    n_gen = sum(map(len, a.gen_s))
    merged = merge_states(a, b)
    assert all(np.array_equal(a.hist[c], before[c]) for c in before)
    assert sum(map(len, a.gen_s)) == n_gen
    assert sum(map(len, merged.gen_s)) == n_gen + sum(map(len, b.gen_s))
    for cell, h in merged.hist.items():
        want = a.hist.get(cell, 0) + b.hist.get(cell, 0)
        np.testing.assert_array_equal(h, want)


# ---------------------------------------------------------------------------- on a cluster
@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
def test_cluster_scoring_is_bit_identical(client, similarity: str) -> None:  # type: ignore[no-untyped-def]
    """LocalCluster(2×1) vs in-process, for several block sizes and batch counts: same bits."""
    rng = np.random.default_rng(11)
    n = 1400  # 3 row tiles of 512: several tiles per cell, tails cut (min_exact < n_imp)
    manifest, tpl = make_case(rng.integers(0, 350, n), rng.integers(0, 3, n), rng.random(n) < 0.05,
                              rng.standard_normal((n, 24)), similarity)
    kw = dict(grouping="grp", min_exact=300, n_bins=1024, progress=False)
    base = score_templates(tpl, manifest, n_workers=1, **kw)
    assert np.isfinite(base.tail_floor).sum() == 6  # every cell has a cut tail
    for bs, cols, flight in ((512, 512, 1), (512, 1024, 4), (1024, 100, 3), (100_000, 10**6, 2)):
        got = score_templates(tpl, manifest, block_size=bs, executor=dask_executor(
            client, cols_per_task=cols, in_flight=flight), **kw)
        same_summary(base, got)
    matched = score_templates(tpl, manifest, impostors="matched", n_workers=2, **kw)
    same_summary(matched, score_templates(tpl, manifest, impostors="matched",
                                          executor=dask_executor(client), **kw))


def test_backend_equals_in_process(client) -> None:  # type: ignore[no-untyped-def]
    """DaskBackend's score and 1:N audit equal InProcess's on the same templates."""
    manifest, tpl = people(160, seed=4, fail_every=17)
    here, there = InProcess(), DaskBackend(client, min_sharded=0)
    kw = dict(grouping="sex", min_exact=200, n_bins=512, progress=False)
    same_summary(here.score(tpl, manifest, **kw), there.score(tpl, manifest, **kw))
    summary = here.score(tpl, manifest, **kw)
    t = np.quantile(summary.genuine_scores, [0.05, 0.3])  # inside histogram bins, below tails
    a, b = (be.recount(tpl, manifest, summary, t, n_workers=2) for be in (here, there))
    same_summary(a, b)
    assert not np.array_equal(a.hist_edges, summary.hist_edges)  # the recount did something
    grouping = manifest.groups("sex").grouping
    a = here.identify(tpl, manifest, grouping, threshold=0.3, gallery_sizes=[20, 60], n_boot=0)
    b = there.identify(tpl, manifest, grouping, threshold=0.3, gallery_sizes=[20, 60], n_boot=0)
    assert json.dumps(a.to_dict(), default=str) == json.dumps(b.to_dict(), default=str)
    for f in ("mate_score", "mate_rank", "nonmate_scores", "nonmate_person"):
        np.testing.assert_array_equal(getattr(a.searches, f), getattr(b.searches, f))


def test_run_audit_picks_the_backend(client, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """client= and --cluster run the stages on a DaskBackend; default in process."""
    from faceaudit.audit import _run

    def stop(stages, cfg, env, progress):  # type: ignore[no-untyped-def]
        raise ConfigError(f"backend was {env.backend.name}")

    monkeypatch.setattr(_run, "run_stages", stop)
    cfg = AuditConfig(scores="s.csv", manifest="m.csv")
    with pytest.raises(ConfigError, match="backend was in-process"):
        run_audit(cfg)
    with pytest.raises(ConfigError, match="backend was dask"):
        run_audit(cfg, client=client)
    with pytest.raises(ConfigError, match=r"client must be a dask\.distributed\.Client"):
        run_audit(cfg, client=object())
    res = CliRunner().invoke(cli, ["audit", "--scores", "s.csv", "--manifest", "m.csv",
                                   "--cluster", "local:1"])
    assert res.exit_code == 3 and "backend was dask" in res.output, res.output


def test_sharded_search_equals_the_single_machine_search(client) -> None:  # type: ignore[no-untyped-def]
    """Gallery shards on 2 workers: the same top-k rows and scores, ties by the lower row."""
    from faceaudit.identify import brute_force_search, search

    rng = np.random.default_rng(8)
    for similarity in ("cosine", "euclidean"):
        gallery = exact_vectors(rng, 301, similarity)  # many exact ties, across shard edges
        gallery[95:105] = gallery[190:200]
        probes = np.vstack([gallery[[0, 95, 150, 199, 300]], exact_vectors(rng, 30, similarity)])
        want = brute_force_search(gallery, probes, 12, similarity=similarity)
        for method, n_shards in (("numpy", 2), ("faiss", 3), ("numpy", 7)):
            got = sharded_search(client, n_shards=n_shards, min_pairs=0)(gallery, probes, 12,
                                                           similarity=similarity, method=method)
            np.testing.assert_array_equal(got.indices, want.indices)
            np.testing.assert_array_equal(got.scores, want.scores)
            one = search(gallery, probes, 12, similarity=similarity, method=method)
            np.testing.assert_array_equal(got.indices, one.indices)


def test_merge_topk_tie_rule() -> None:
    parts = [(np.array([[4, 7]]), np.array([[0.5, 0.25]])),
             (np.array([[2, 9]]), np.array([[0.5, 0.5]]))]
    i, s = merge_topk(parts, 3)
    np.testing.assert_array_equal(i, [[2, 4, 9]])
    np.testing.assert_array_equal(s, [[0.5, 0.5, 0.5]])


# ---------------------------------------------------------------------------- embedding
@pytest.fixture
def images(tmp_path: Path):  # type: ignore[no-untyped-def]
    """16 photos of 4 people, a corrupt one, one whose embedding raises, one duplicate file."""
    from faceaudit import Manifest

    root = tmp_path / "imgs"
    rows = _image_tree(root)
    (root / "bad").mkdir()
    (root / "bad" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    (root / "bad" / "boom_raise.png").write_bytes(_png_bytes(1))
    rows += [{"sample_id": "corrupt", "subject_id": "x1", "path": "bad/corrupt.jpg"},
             {"sample_id": "raiser", "subject_id": "x5", "path": "bad/boom_raise.png"},
             {"sample_id": "again", "subject_id": "alice", "path": "alice/alice_0.png"}]
    return Manifest(pd.DataFrame(rows), root=root, source="images.csv"), root


def _same_templates(a, b) -> None:  # type: ignore[no-untyped-def]
    for f in ("sample_ids", "vectors", "status", "detail"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert (a.model_id, a.similarity) == (b.model_id, b.similarity)


def test_cluster_embedding_resumes_and_equals_in_process(client, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Interrupted after two stored shards, re-run: only the rest is embedded; same bits."""
    from faceaudit.pipeline import FakeEmbedder, TemplateStore, embed_manifest

    man, _ = images
    kw = dict(embedder=FakeEmbedder(raise_on="raise"), detector="none", progress=False,
              chunk_size=2)
    want = embed_manifest(man, n_workers=1, **kw)
    runner = dask_embed_runner(client)
    todos: list[set[str]] = []
    finished: set[str] = set()

    def interrupted(config, todo, on_results, chunk_size):  # type: ignore[no-untyped-def]
        todos.append({sha for sha, _ in todo})
        n_batches = []

        def on(batch):  # type: ignore[no-untyped-def]
            on_results(batch)
            finished.update(r.sha256 for r in batch if r.status != "error")  # stored
            n_batches.append(len(batch))
            if len(n_batches) == 2:
                raise KeyboardInterrupt  # Ctrl-C after two shards were stored

        runner(config, todo, on, chunk_size)

    store = tmp_path / "store"
    with pytest.raises(KeyboardInterrupt):
        embed_manifest(man, store=store, runner=interrupted, **kw)
    with TemplateStore(store) as st:
        assert st.count() == len(finished) >= 3

    def counted(config, todo, on_results, chunk_size):  # type: ignore[no-untyped-def]
        todos.append({sha for sha, _ in todo})
        runner(config, todo, on_results, chunk_size)

    got = embed_manifest(man, store=store, runner=counted, **kw)
    assert todos[1] == todos[0] - finished  # nothing stored is embedded again
    _same_templates(want, got)
    assert dict(zip(got.sample_ids, got.status, strict=True))["raiser"] == "error"


def test_image_that_kills_workers_fails_alone(client, images) -> None:  # type: ignore[no-untyped-def]
    """A poisoned image kills its worker: Dask replaces the worker, the image is 'error'."""
    from faceaudit import Manifest
    from faceaudit.pipeline import FakeEmbedder, embed_manifest

    man, root = images
    (root / "bad" / "kill_crash.png").write_bytes(_png_bytes(7))
    df = man.samples
    df.loc[len(df)] = {"sample_id": "crasher", "subject_id": "x6", "path": "bad/kill_crash.png"}
    man2 = Manifest(df, root=root)
    kw = dict(embedder=FakeEmbedder(crash_on="crash"), detector="none", progress=False,
              chunk_size=3)
    want = embed_manifest(man, n_workers=1, **kw)
    got = embed_manifest(man2, runner=dask_embed_runner(client), **kw)
    i = list(got.sample_ids).index("crasher")
    assert got.status[i] == "error" and "died" in got.detail[i]
    keep = np.arange(len(got)) != i
    np.testing.assert_array_equal(got.vectors[keep], want.vectors)
    np.testing.assert_array_equal(got.status[keep], want.status)


def test_worker_killed_mid_scoring_is_retried(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A worker dies in the middle of a scoring task: Dask re-runs it; the same bits."""
    rng = np.random.default_rng(3)
    n = 900
    manifest, tpl = make_case(rng.integers(0, 200, n), rng.integers(0, 2, n), np.zeros(n, bool),
                              rng.standard_normal((n, 16)), "cosine")
    kw = dict(grouping="grp", min_exact=200, n_bins=512, progress=False)
    base = score_templates(tpl, manifest, **kw)
    run = dask_executor(client)
    flag = str(tmp_path / "died")

    def dying(engine, units, n_workers, progress):  # type: ignore[no-untyped-def]
        return run(DieOnce(engine, flag), units, n_workers, progress)

    def allow(n: int) -> None:
        client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler,
                                                               "allowed_failures", n))

    allow(3)
    try:
        got = score_templates(tpl, manifest, block_size=512, executor=dying, **kw)
    finally:
        allow(0)
    assert Path(flag).exists()  # a worker did die
    same_summary(base, got)


def test_pieces_cover_every_tile_once_and_restricted_engines_agree() -> None:
    """cut_units keeps every tile of every unit exactly once (same tile grid); each piece run
    on its restricted engine, mapped back, folds into the whole units' state bit for bit."""
    from faceaudit._tiles import TILE, Unit, cut_units, window

    units = [Unit(0, 0, (0, 1024), (0, 2600), True, 0),
             Unit(0, 0, (2048, 2600), (0, 2600), True, 0),
             Unit(0, 1, (0, 1024), (2600, 4000), True, 0),
             Unit(1, 1, (2600, 3112), (2600, 4000), False, 0)]

    def tiles(u: Unit) -> set[tuple[int, int]]:
        out = set()
        for t0 in range(*u.rows, TILE):
            first = max(t0, u.cols[0]) if u.g == u.h else u.cols[0]
            out |= {(t0, c0) for c0 in range(first, u.cols[1], TILE)}
        return out

    for cols in (1, 512, 700, 4096):
        pieces = cut_units(units, cols)
        for u in units:
            mine = [p for p in pieces if (p.g, p.h, p.rows) == (u.g, u.h, u.rows)]
            got = [t for p in mine for t in tiles(p)]
            assert len(got) == len(set(got)) and set(got) == tiles(u)
            for p in mine:
                pos, local = window(p)
                assert pos[local.rows[0]] == p.rows[0] and pos[local.cols[0]] == p.cols[0]

    rng = np.random.default_rng(8)
    n = 1300
    manifest, tpl = make_case(rng.integers(0, 300, n), rng.integers(0, 2, n), rng.random(n) < 0.05,
                              rng.standard_normal((n, 12)), "euclidean")
    engine, units = _units_and_engine(tpl, manifest)
    whole = _tiles.run_units(engine, units, 1, False)[0]
    total = _tiles.WorkerState()
    for p in cut_units(units, 512)[::-1]:
        pos, local = window(p)
        st = _tiles.WorkerState()
        part = engine.restrict(pos, total)  # starts from the tail floors merged so far
        part.run_unit(local, st)
        _tiles.absorb_state(total, part.globalise(st, pos))
    assert np.isfinite([b.floor for b in total.tails.values()]).all()
    stream = np.ones((2, 2), bool)
    stream[1, 0] = False
    n_imp = np.array([[sum(int(h.sum()) for c, h in whole.hist.items() if c == cell)
                       for cell in ((g, 0), (g, 1))] for g in (0, 1)])
    caps = engine.caps
    order = np.arange(n)
    for a, b in zip(_tiles.merge_cells([whole], stream, n_imp, caps, engine.binning, order),
                    _tiles.merge_cells([total], stream, n_imp, caps, engine.binning, order),
                    strict=True):
        if isinstance(a, list):
            for x, y in zip(a, b, strict=True):
                for u, v in zip(x, y, strict=True):
                    np.testing.assert_array_equal(np.sort(u), np.sort(v))
        else:
            np.testing.assert_array_equal(a, b)
    for state in (whole, total):
        state.gen_s, state.gen_i, state.gen_j = ([np.concatenate(x)] for x in
                                                 (state.gen_s, state.gen_i, state.gen_j))
    o = np.lexsort((whole.gen_j[0], whole.gen_i[0]))
    p = np.lexsort((total.gen_j[0], total.gen_i[0]))
    for name in ("gen_s", "gen_i", "gen_j"):
        np.testing.assert_array_equal(getattr(whole, name)[0][o], getattr(total, name)[0][p])
    assert whole.hist.keys() == total.hist.keys()
    for cell in whole.hist:
        np.testing.assert_array_equal(whole.hist[cell], total.hist[cell])


def test_vendor_file_partitions_on_the_cluster(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A score file read in partitions by the workers: one reader's summary and recount."""
    from faceaudit._vendor import read_scores, recount_scores
    from faceaudit.cluster import dask_partitions
    from test_engine_vendor import _big_file, _same

    m, p = _big_file(tmp_path, np.random.default_rng(9))
    kw = dict(grouping="sex", on_error="exclude", min_exact=50, n_bins=64, chunk_rows=300)
    one = read_scores(p, m, **kw)
    run = dask_partitions(client)
    _same(one, read_scores(p, m, partitions=run, blocksize=2000, **kw))
    _same(recount_scores(p, m, one, [0.02], on_error="exclude"),
          recount_scores(p, m, one, [0.02], on_error="exclude", partitions=run, blocksize=2000))
