"""Vendor score files and bob.measure files -> ScoreSummary: exact counts, errors, exclusions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faceaudit import ConfigError, Manifest, ScoreFileError, ScoreSummary
from faceaudit._bob import BOB_MAX_LINE, read_bob_scores
from faceaudit._summary import bin_index
from faceaudit._text import MAX_ID_CHARS
from faceaudit._vendor import (
    BAD_LABEL,
    LABEL_CONTRADICTS_MANIFEST,
    MALFORMED_LINE,
    NON_FINITE_SCORE,
    NON_NUMERIC_SCORE,
    ON_ERROR,
    SELF_COMPARISON,
    UNKNOWN_SAMPLE,
    read_scores,
)

# subjects A (a1, a2, a3), B (b1, b2), C (c1); sex F = A, B; M = C; b2 is M (cross-group)
MANIFEST = pd.DataFrame(
    {
        "sample_id": ["a1", "a2", "a3", "b1", "b2", "c1"],
        "subject_id": ["A", "A", "A", "B", "B", "C"],
        "sex": ["F", "F", "F", "F", "M", "M"],
    }
)

GOOD = """sample_a,sample_b,score
a1,a2,0.9
a1,a3,0.8
a2,a3,nan
b1,b2,0.7
a1,b1,0.2
b1,a1,0.25
a1,c1,0.1
c1,b2,NaN
b2,c1,-0.5

a3,b1,0.4
"""


@pytest.fixture
def manifest() -> Manifest:
    return Manifest(MANIFEST)


def write(tmp_path, text, name="s.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_hand_made_csv_exact(tmp_path, manifest):
    s = read_scores(write(tmp_path, GOOD), manifest, grouping="sex")
    assert s.group_labels == ("F", "M")
    # genuine: (a1,a2) .9, (a1,a3) .8 in (F,F); (b1,b2) .7 in (F,M); (a2,a3) nan -> FTA in (F,F)
    np.testing.assert_array_equal(s.genuine_a, [0, 0, 3])
    np.testing.assert_array_equal(s.genuine_b, [1, 2, 4])
    np.testing.assert_array_equal(s.genuine_scores, [0.9, 0.8, 0.7])
    assert s.genuine_fta.tolist() == [[1, 0], [0, 0]]
    assert s.genuine_total.tolist() == [[2, 1], [0, 0]]
    # impostors: (F,F): a1-b1 .2, b1-a1 .25 (both rows count), a3-b1 .4; (F,M): a1-c1 .1;
    # (M,M): c1-b2 nan (FTA), b2-c1 -.5
    assert s.impostor_total.tolist() == [[3, 1], [0, 1]]
    assert s.impostor_fta.tolist() == [[0, 0], [0, 1]]
    ti, tj = s.tail_cells
    ff = (ti == 0) & (tj == 0)
    assert sorted(s.tail_scores[ff].tolist()) == [0.2, 0.25, 0.4]
    np.testing.assert_array_equal(s.tail_a[ff], [0, 0, 2])  # pairs stored as a < b
    np.testing.assert_array_equal(s.tail_b[ff], [3, 3, 3])
    assert (s.tail_floor == -np.inf).all() and s.impostor_hist.sum() == 0
    assert s.exclusions == {} and s.enrolled.all()
    # histogram range covers [min, max] with dyadic edges
    assert s.hist_edges[0] <= -0.5 and s.hist_edges[-1] > 0.9
    w = np.diff(s.hist_edges)
    assert np.all(w == w[0]) and np.log2(w[0]) == np.round(np.log2(w[0]))


def test_distances_negated_and_labels_checked(tmp_path, manifest):
    text = "sample_a,sample_b,score,label\na1,a2,0.3,genuine\na1,c1,1.2,0\nb1,b2,0.5,1\n"
    s = read_scores(write(tmp_path, text), manifest, higher_is_similar=False)
    assert s.genuine_scores.tolist() == [-0.3, -0.5]
    assert s.tail_scores.tolist() == [-1.2]
    assert s.protocol["higher_is_similar"] is False


@pytest.mark.parametrize(
    ("line", "match", "reason"),
    [
        ("a1,zz,0.5", "line 3: unknown sample id 'zz'", UNKNOWN_SAMPLE),
        ("a1,a1,0.5", "line 3: sample 'a1' is compared with itself", SELF_COMPARISON),
        ("a1,b1,high", "line 3: score 'high' is not a number", NON_NUMERIC_SCORE),
        ("a1,b1,inf", "line 3: score 'inf' is infinite", NON_FINITE_SCORE),
        ("a1,b1,", "line 3: missing sample_a, sample_b or score", MALFORMED_LINE),
        ("a1,b1", "line 3: missing sample_a, sample_b or score", MALFORMED_LINE),
    ],
)
def test_errors_name_file_and_line(tmp_path, manifest, line, match, reason):
    p = write(tmp_path, f"sample_a,sample_b,score\na1,a2,0.9\n{line}\nb1,c1,0.1\n")
    with pytest.raises(ScoreFileError, match=match) as ei:
        read_scores(p, manifest)
    assert str(p) in str(ei.value)
    s = read_scores(p, manifest, on_error="exclude")
    assert s.exclusions == {reason: 1}
    assert len(s.genuine_scores) == 1 and s.impostor_total.sum() == 1


def test_too_many_fields(tmp_path, manifest):
    p = write(tmp_path, "sample_a,sample_b,score\na1,a2,0.9\nb1,c1,0.1\na1,b1,0.5,7\nb2,c1,0.2\n")
    with pytest.raises(ScoreFileError, match="line 4"):
        read_scores(p, manifest)
    s = read_scores(p, manifest, on_error="exclude")
    assert s.exclusions == {MALFORMED_LINE: 1}
    assert s.impostor_total.sum() == 2 and len(s.genuine_scores) == 1


def test_label_errors(tmp_path, manifest):
    text = (
        "sample_a,sample_b,score,label\na1,a2,0.9,1\na1,b1,0.4,genuine\nb1,c1,0.1,maybe\n"
        "a2,c1,0.3,impostor\n"
    )
    p = write(tmp_path, text)
    with pytest.raises(
        ScoreFileError,
        match=r"line 3: labelled genuine but the manifest says "
        r"'a1' and 'b1' are different subjects",
    ):
        read_scores(p, manifest)
    s = read_scores(p, manifest, on_error="exclude")
    assert s.exclusions == {LABEL_CONTRADICTS_MANIFEST: 1, BAD_LABEL: 1}
    assert len(s.genuine_scores) == 1 and s.impostor_total.sum() == 1


def test_line_numbers_across_chunks_and_chunk_invariance(tmp_path, manifest):
    rows = "".join(f"a1,b1,{k / 100}\n" for k in range(20))
    p = write(tmp_path, "sample_a,sample_b,score\n" + rows + "a1,nobody,0.5\n")
    with pytest.raises(ScoreFileError, match="line 22: unknown sample id 'nobody'"):
        read_scores(p, manifest, chunk_rows=3)
    a = read_scores(p, manifest, chunk_rows=3, on_error="exclude", min_exact=5)
    b = read_scores(p, manifest, chunk_rows=1000, on_error="exclude", min_exact=5)
    for f in ("tail_scores", "tail_a", "impostor_hist", "tail_floor", "hist_edges"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert a.exclusions == {UNKNOWN_SAMPLE: 1}


def test_tail_and_histogram_when_capacity_exceeded(tmp_path, manifest):
    rng = np.random.default_rng(0)
    scores = np.round(rng.standard_normal(500), 2)  # many ties
    p = write(tmp_path, "sample_a,sample_b,score\n" + "".join(f"a1,b1,{v}\n" for v in scores))
    s = read_scores(p, manifest, min_exact=10, exact_fmr=0.01)
    kth = np.sort(scores)[::-1][9]
    assert s.tail_floor[0, 0] == kth
    np.testing.assert_array_equal(np.sort(s.tail_scores), np.sort(scores[scores >= kth]))
    below = scores[scores < kth]
    np.testing.assert_array_equal(
        s.impostor_hist[0, 0],
        np.bincount(bin_index(below, s.hist_edges), minlength=len(s.hist_edges) - 1),
    )


def test_parquet_equals_csv(tmp_path, manifest):
    csv = write(tmp_path, GOOD)
    df = pd.read_csv(csv)
    pq = tmp_path / "s.parquet"
    df.to_parquet(pq)
    a = read_scores(csv, manifest, grouping="sex")
    b = read_scores(pq, manifest, grouping="sex")
    for f in (
        "genuine_scores",
        "genuine_a",
        "tail_scores",
        "tail_a",
        "tail_b",
        "genuine_fta",
        "impostor_fta",
        "impostor_hist",
    ):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    bad = df.copy()
    bad.loc[2, "sample_b"] = "ghost"
    bad.to_parquet(pq)
    with pytest.raises(ScoreFileError, match="row 3: unknown sample id 'ghost'"):
        read_scores(pq, manifest)


def test_file_level_errors(tmp_path, manifest):
    with pytest.raises(ScoreFileError, match="not found"):
        read_scores(tmp_path / "nope.csv", manifest)
    with pytest.raises(ScoreFileError, match="missing column"):
        read_scores(write(tmp_path, "a,b,score\nx,y,1\n"), manifest)
    with pytest.raises(ScoreFileError, match="empty"):
        read_scores(write(tmp_path, ""), manifest)
    with pytest.raises(ConfigError, match="on_error must be one of"):
        read_scores(write(tmp_path, GOOD), manifest, on_error="skip")


def test_save_load_vendor_summary(tmp_path, manifest):
    s = read_scores(write(tmp_path, GOOD), manifest, grouping="sex")
    s.save(tmp_path / "v.npz")
    r = ScoreSummary.load(tmp_path / "v.npz")
    np.testing.assert_array_equal(r.tail_scores, s.tail_scores)
    assert r.protocol == s.protocol and r.exclusions == s.exclusions


# ---------------------------------------------------------------------------- bob.measure
@pytest.mark.parametrize(
    ("name", "thr", "fm", "n_imp", "fnm", "n_gen", "far", "frr"),
    [
        ("dev-1.txt", -8.025286e-03, 31, 495, 28, 451, 0.05924, 0.11273),
        ("test-1.txt", -8.025286e-03, 27, 479, 29, 473, 0.05366, 0.10637),
        ("dev-2.txt", 1.652567e-02, 23, 501, 20, 446, 0.04348, 0.09547),
        ("test-2.txt", 1.652567e-02, 16, 480, 33, 471, 0.03170, 0.11563),
    ],
)
def test_bob_fixtures(bob_fixtures, name, thr, fm, n_imp, fnm, n_gen, far, frr):
    s = read_bob_scores(bob_fixtures / name)
    ss = s.scores()
    assert ss.exact and ss.n_impostor == n_imp and ss.n_genuine == n_gen
    assert int((ss.impostor_tail >= thr).sum()) == fm
    assert int((ss.genuine < thr).sum()) == fnm
    # bob's FTA: NaN rows / all rows of the set; FAR = FMR(1-FTA), FRR = FTA + FNMR(1-FTA)
    fta = (ss.genuine_fta + ss.impostor_fta) / (n_imp + n_gen + ss.genuine_fta + ss.impostor_fta)
    assert fm / n_imp * (1 - fta) == pytest.approx(far, abs=5e-6)
    assert fta + fnm / n_gen * (1 - fta) == pytest.approx(frr, abs=5e-6)
    assert s.n_samples == 2000 and s.protocol["source"] == "bob-2col"


def test_bob_two_column_synthetic_samples(tmp_path):
    p = write(tmp_path, "1 0.9\n-1 0.2\n0 nan\n1 nan\n", "two.txt")
    s = read_bob_scores(p)
    assert s.sample_ids.tolist() == ["L1:a", "L1:b", "L2:a", "L2:b", "L3:a", "L3:b", "L4:a", "L4:b"]
    assert s.genuine_scores.tolist() == [0.9] and s.tail_scores.tolist() == [0.2]
    assert s.genuine_fta.tolist() == [[1]] and s.impostor_fta.tolist() == [[1]]
    assert s.group_labels == ("all",)


def test_bob_four_column(tmp_path):
    text = (
        "# claimed real probe score\n"
        "alice alice alice_1 0.9\n"
        "bob alice alice_1 0.1\n"
        "bob bob bob_1 0.8\n"
        "alice bob bob_1 nan\n"
    )
    s = read_bob_scores(write(tmp_path, text, "four.txt"))
    ids = s.sample_ids.tolist()
    assert ids == ["model:alice", "model:bob", "probe:alice_1", "probe:bob_1"]
    assert sorted(s.genuine_scores.tolist()) == [0.8, 0.9]
    assert s.tail_scores.tolist() == [0.1]
    assert (ids[s.tail_a[0]], ids[s.tail_b[0]]) == ("model:bob", "probe:alice_1")
    assert s.impostor_fta.tolist() == [[1]] and s.genuine_fta.tolist() == [[0]]
    assert s.protocol["source"] == "bob-4col"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1 0.5\n1 0.2 3\n", "line 2: 3 fields, expected 2"),
        ("1 0.5\n2 0.2\n", "line 2: label '2' must be 1"),
        ("1 0.5\n\n-1 x\n", "line 3: score 'x' is not a number"),
        ("a b c\n", "line 1: 3 fields"),
        ("a a p1 0.5\nb c p1 0.4\n", "line 2: probe 'p1' has real_id 'c'"),
        ("\n", "no scores"),
    ],
)
def test_bob_errors(tmp_path, text, match):
    with pytest.raises(ScoreFileError, match=match):
        read_bob_scores(write(tmp_path, text, "bad.txt"))


# ---------------------------------------------------------------------------- property


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_rows=st.integers(1, 150),
    chunk_rows=st.sampled_from([1, 7, 1000]),
    min_exact=st.sampled_from([0, 3, 20, 10_000]),
    n_bins=st.sampled_from([16, 256]),
    distance=st.booleans(),
)
def test_vendor_matches_direct_computation(
    tmp_path, seed, n_rows, chunk_rows, min_exact, n_bins, distance
):
    rng = np.random.default_rng(seed)
    n = 12
    subj = rng.integers(0, 5, n)
    grp = rng.integers(0, 3, n)
    m = Manifest(
        pd.DataFrame(
            {
                "sample_id": [f"s{i}" for i in range(n)],
                "subject_id": [f"p{x}" for x in subj],
                "g": [f"g{x}" for x in grp],
            }
        )
    )
    a = rng.integers(0, n, n_rows)
    b = (a + 1 + rng.integers(0, n - 1, n_rows)) % n
    raw = np.round(rng.standard_normal(n_rows) * 3, 1)  # ties
    nan = rng.random(n_rows) < 0.1
    text = np.where(nan, "nan", raw.astype(str))
    body = "".join(f"s{x},s{y},{t}\n" for x, y, t in zip(a, b, text, strict=True))
    p = tmp_path / f"v{seed}.csv"
    p.write_text("sample_a,sample_b,score\n" + body)
    s = read_scores(
        p,
        m,
        grouping="g",
        chunk_rows=chunk_rows,
        min_exact=min_exact,
        n_bins=n_bins,
        higher_is_similar=not distance,
    )
    score = -raw if distance else raw
    g = m.groups("g").codes
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    ci, cj = np.minimum(g[lo], g[hi]), np.maximum(g[lo], g[hi])
    sc = m.subject_codes
    mated = sc[lo] == sc[hi]
    # genuine: same (a, b, score) multiset
    gm = mated & ~nan
    want = sorted(zip(lo[gm], hi[gm], score[gm], strict=True))
    got = sorted(zip(s.genuine_a, s.genuine_b, s.genuine_scores, strict=True))
    assert got == want
    G = s.n_groups
    for i in range(G):
        for j in range(i, G):
            sel = (ci == i) & (cj == j)
            assert s.genuine_fta[i, j] == int((sel & nan & mated).sum())
            assert s.impostor_fta[i, j] == int((sel & nan & ~mated).sum())
            imp = np.sort(score[sel & ~nan & ~mated])
            cap = max(min_exact, 1)  # default exact_fmr = 0: a fixed tail
            fl = s.tail_floor[i, j]
            if len(imp) <= cap:
                assert fl == -np.inf
            else:
                assert fl == imp[::-1][cap - 1]
            ti, tj = s.tail_cells
            tail = np.sort(s.tail_scores[(ti == i) & (tj == j)])
            np.testing.assert_array_equal(tail, imp[imp >= fl])
            below = imp[imp < fl]
            np.testing.assert_array_equal(
                s.impostor_hist[i, j],
                np.bincount(bin_index(below, s.hist_edges), minlength=n_bins) if len(below) else 0,
            )


# ---------------------------------------------------------------------------- issue 13
def write_bytes(tmp_path, data: bytes, name: str):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_non_utf8_score_files_name_file_line_and_byte(tmp_path, manifest):
    head = b"sample_a,sample_b,score\na1,a2,0.9\n"
    csv = write_bytes(tmp_path, head + b"a1,caf\xe9,0.1\n", "latin1.csv")
    for on_error in ON_ERROR:  # a file-level problem: raised even with on_error="exclude"
        with pytest.raises(ScoreFileError, match=r"latin1\.csv: line 3: not UTF-8 text at byte "
                                                 rf"{len(head) + 6} \(0xE9\); convert it"):
            read_scores(csv, manifest, on_error=on_error)
    bob = write_bytes(tmp_path, b"1 0.9\n-1 0.1\ncaf\xe9 x 0.2\n", "latin1_bob.txt")
    with pytest.raises(ScoreFileError, match=r"latin1_bob\.txt: line 3: not UTF-8 text at byte "
                                             r"16 \(0xE9\)"):
        read_bob_scores(bob)
    binary = write_bytes(tmp_path, bytes(range(128, 256)) * 64, "binary.txt")
    with pytest.raises(ScoreFileError, match=r"binary\.txt: line 1: not UTF-8 text at byte 0"):
        read_bob_scores(binary)
    utf16 = write_bytes(tmp_path, "sample_a,sample_b,score\n".encode("utf-16"), "excel.csv")
    with pytest.raises(ScoreFileError, match="it looks like UTF-16"):
        read_scores(utf16, manifest)
    fake = write_bytes(tmp_path, b"PAR1 not really parquet", "fake.parquet")
    with pytest.raises(ScoreFileError, match=r"fake\.parquet: not a readable Parquet file"):
        read_scores(fake, manifest)


def test_non_utf8_score_file_exits_2_from_the_cli(tmp_path):
    from click.testing import CliRunner

    from faceaudit._cli._app import cli

    bob = write_bytes(tmp_path, b"1 0.9\n-1 0.1\ncaf\xe9 x 0.2\n", "latin1_bob.txt")
    res = CliRunner().invoke(cli, ["metrics", str(bob)])
    assert res.exit_code == 2, res.output
    assert "line 3: not UTF-8 text at byte 16" in res.output and "Traceback" not in res.output


def test_binary_file_without_newlines_is_not_read_whole(tmp_path):
    # valid UTF-8 (NUL bytes) but one endless line: refused after BOB_MAX_LINE characters
    p = write_bytes(tmp_path, b"\0" * (BOB_MAX_LINE + 10), "zeros.txt")
    with pytest.raises(ScoreFileError, match=rf"line 1 is longer than {BOB_MAX_LINE:,} characters"):
        read_bob_scores(p)


def test_bob_file_with_a_byte_order_mark(tmp_path):
    p = write_bytes(tmp_path, "\ufeff1 0.9\n-1 0.1\n".encode(), "bom.txt")
    s = read_bob_scores(p)
    assert s.genuine_scores.tolist() == [0.9] and s.tail_scores.tolist() == [0.1]


def test_short_line_counted_as_malformed_also_beside_an_overlong_line(tmp_path, manifest):
    # the over-long line makes the reader re-parse with the Python engine, which read the
    # short line's missing score as NaN (counted as non_numeric_score) instead of ""
    p = write(tmp_path, "sample_a,sample_b,score\na1,a2,0.9\na1,b1\na1,b2,0.1,extra\nb1,c1,0.2\n")
    s = read_scores(p, manifest, on_error="exclude")
    assert s.exclusions == {MALFORMED_LINE: 2}
    assert len(s.genuine_scores) == 1 and s.impostor_total.sum() == 1


def test_absurd_score_fields_are_refused(tmp_path, manifest):
    big = "x" * (MAX_ID_CHARS + 1)
    p = write(tmp_path, f"sample_a,sample_b,score\na1,a2,0.9\na1,{big},0.1\nb1,c1,0.2\n")
    with pytest.raises(ScoreFileError, match=rf"line 3: field 'sample_b' is {MAX_ID_CHARS + 1:,} "
                                             rf"characters long \(at most {MAX_ID_CHARS:,}\)"):
        read_scores(p, manifest)
    s = read_scores(p, manifest, on_error="exclude")
    assert s.exclusions == {MALFORMED_LINE: 1}
    bob = write(tmp_path, f"1 0.9\n{big} 0.1\n", "long.txt")
    with pytest.raises(ScoreFileError, match=rf"line 2: field 1 is {MAX_ID_CHARS + 1:,}"):
        read_bob_scores(bob)


def test_a_fifo_given_as_a_score_file_is_refused(tmp_path, manifest, special_files):
    special_files.fifo(tmp_path / "scores.csv")
    special_files.fifo(tmp_path / "scores.txt")
    with pytest.raises(ScoreFileError, match=r"it is a FIFO \(named pipe\), not a regular file "
                                             r"\(score files are read twice\)"):
        read_scores(tmp_path / "scores.csv", manifest)
    with pytest.raises(ScoreFileError, match="FIFO"):
        read_bob_scores(tmp_path / "scores.txt")


# ---------------------------------------------------------------------------- partitions
def _big_file(tmp_path, rng, n=40, bad=True, quote=False, parquet=False):
    """Every ordered pair of n samples (20 subjects, 2 groups) with some FTA rows, and (bad)
    an unknown sample, a self-comparison and a line with an extra field."""
    ids = [f"s{i}" for i in range(n)]
    m = Manifest(pd.DataFrame({"sample_id": ids, "subject_id": [f"p{i // 2}" for i in range(n)],
                               "sex": ["F" if i % 4 < 2 else "M" for i in range(n)]}))
    lines = ["sample_a,sample_b,score"]
    for i in range(n):
        for j in range(n):
            if i != j:
                v = "nan" if rng.random() < 0.03 else f"{rng.standard_normal():.6f}"
                lines.append(f"{ids[i]},{ids[j]},{v}")
    if bad:
        lines[700] = "s1,nobody,0.5"
        lines[1200] = "s3,s3,0.1"
        lines[1500] = "s4,s5,0.2,extra"
    if quote:
        lines[900] = 's6,"s7",0.3'
    p = tmp_path / "big.csv"
    p.write_text("\n".join(lines) + "\n")
    if parquet:
        df = pd.read_csv(p, dtype=str)
        p = tmp_path / "big.parquet"
        df.to_parquet(p, row_group_size=97)
    return m, p


def _same(a, b):
    for f in ("genuine_scores", "genuine_a", "genuine_b", "tail_scores", "tail_a", "tail_b",
              "tail_floor", "impostor_hist", "hist_edges", "genuine_fta", "impostor_fta"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert a.exclusions == b.exclusions


@pytest.mark.parametrize("parquet", [False, True])
def test_partitions_give_one_readers_summary(tmp_path, parquet):
    """A file read in many partitions (serial runner) gives the single reader's summary bit
    for bit, with exclusions counted the same; the recount too."""
    from faceaudit._vendor import recount_scores
    from faceaudit._vendor_parts import plan, serial

    rng = np.random.default_rng(4)
    m, p = _big_file(tmp_path, rng, bad=not parquet, parquet=parquet)
    kw = dict(grouping="sex", on_error="exclude", min_exact=50, n_bins=64, chunk_rows=300)
    one = read_scores(p, m, **kw)
    parts = plan(p, parquet, serial, 1500)
    assert parts is not None and len(parts) > 5
    many = read_scores(p, m, partitions=serial, blocksize=1500, **kw)
    _same(one, many)
    if not parquet:
        assert one.exclusions == {UNKNOWN_SAMPLE: 1, SELF_COMPARISON: 1, MALFORMED_LINE: 1}
    assert np.isfinite(one.tail_floor).any()  # cut tails: the merge of tails is exercised
    ts = [0.013, -0.4]
    rk = dict(on_error="exclude", chunk_rows=300)
    _same(recount_scores(p, m, one, ts, **rk),
          recount_scores(p, m, one, ts, partitions=serial, blocksize=1500, **rk))


def test_partitions_raise_the_files_first_error_with_its_line(tmp_path):
    from faceaudit._vendor_parts import serial

    m, p = _big_file(tmp_path, np.random.default_rng(5))
    with pytest.raises(ScoreFileError) as one:
        read_scores(p, m, chunk_rows=200)
    with pytest.raises(ScoreFileError) as many:
        read_scores(p, m, chunk_rows=200, partitions=serial, blocksize=1000)
    assert "line 701" in str(one.value) and str(many.value) == str(one.value)


def test_a_file_with_quotes_is_read_by_one_reader(tmp_path):
    """A quoted field may hold a line break, which byte ranges cannot see: one reader reads it
    (plan returns None), and the summary is the same."""
    from faceaudit._vendor_parts import plan, serial

    m, p = _big_file(tmp_path, np.random.default_rng(6), bad=False, quote=True)
    assert plan(p, False, serial, 1000) is None
    _same(read_scores(p, m, grouping="sex"),
          read_scores(p, m, grouping="sex", partitions=serial, blocksize=1000))


def test_a_malformed_line_after_the_first_chunk_is_not_read_twice(tmp_path):
    """Under on_error="exclude", a malformed line in a later chunk sends the reader to the
    Python parser; the rows of the chunks already read are not folded a second time
    (before the fix every earlier chunk counted twice)."""
    m, p = _big_file(tmp_path, np.random.default_rng(7))
    rows = len(p.read_text().splitlines()) - 1  # 1,560 rows, 3 of them bad
    for chunk in (200, 1_000_000):
        s = read_scores(p, m, on_error="exclude", chunk_rows=chunk)
        n = int(s.genuine_total.sum() + s.impostor_total.sum()
                + s.genuine_fta.sum() + s.impostor_fta.sum())
        assert n == rows - 3, chunk
        assert s.exclusions == {UNKNOWN_SAMPLE: 1, SELF_COMPARISON: 1, MALFORMED_LINE: 1}
