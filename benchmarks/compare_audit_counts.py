"""Are two audits' counts identical? (e.g. ``--model dlib`` on onnxruntime vs ``dlib-reference``)

Compares, group by group, the integer counts of two audit folders (``by_group.csv``: samples,
failures to enrol, mated and non-mated comparisons, false non-matches, false matches), the
group × group false-match matrix (``fmr_matrix.csv``), the 1:N rates per group and gallery
size (``identification.csv``, compared exactly) and the audit thresholds (``results.json``).
Prints every difference; exit status 0 iff all counts are identical.

    python benchmarks/compare_audit_counts.py AUDIT_A AUDIT_B
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

COUNTS = ("n_subjects", "n_samples", "n_fte", "n_mated", "false_non_matches", "n_nonmated",
          "false_matches")


def main() -> int:
    a, b = (Path(p) for p in sys.argv[1:3])
    ta = json.loads((a / "results.json").read_text())["verification"]["threshold"]
    tb = json.loads((b / "results.json").read_text())["verification"]["threshold"]
    print(f"threshold A {ta!r}  B {tb!r}  |delta| {abs(ta - tb):.3g}")
    ga = pd.read_csv(a / "by_group.csv").set_index("group")
    gb = pd.read_csv(b / "by_group.csv").set_index("group")
    diffs = 0
    if list(ga.index) != list(gb.index):
        print(f"different groups: {list(ga.index)} vs {list(gb.index)}")
        diffs += 1
    for g in ga.index.intersection(gb.index):
        for c in COUNTS:
            if ga.at[g, c] != gb.at[g, c]:
                print(f"{g}: {c} {ga.at[g, c]} vs {gb.at[g, c]}")
                diffs += 1
    print(f"{len(ga)} groups x {len(COUNTS)} counts compared: {diffs} differences")
    ma = pd.read_csv(a / "fmr_matrix.csv")
    mb = pd.read_csv(b / "fmr_matrix.csv")
    cols = [c for c in ma.columns if "false_matches" in c or c in ("n_nonmated", "n")]
    if cols and ma.shape == mb.shape:
        d = int((ma[cols] != mb[cols]).to_numpy().sum())
        print(f"fmr_matrix.csv: {len(ma)} cells, columns {cols}: {d} differences")
        diffs += d
    ia, ib = (pd.read_csv(x / "identification.csv") for x in (a, b))
    if ia.shape == ib.shape:  # 1:N rates per group and gallery size (no counts stored)
        num = [c for c in ia.columns if c.startswith(("fpir", "fnir")) or c.startswith("n_")]
        d = int(((ia[num] != ib[num]) & ~(ia[num].isna() & ib[num].isna())).to_numpy().sum())
        print(f"identification.csv: {len(ia)} rows, columns {num}: {d} differences")
        diffs += d
    else:
        print(f"identification.csv shapes differ: {ia.shape} vs {ib.shape}")
        diffs += 1
    total = {c: (int(ga[c].sum()), int(gb[c].sum())) for c in COUNTS}
    print("totals A/B:", total)
    return 0 if diffs == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
