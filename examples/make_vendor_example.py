"""Write a small synthetic vendor score file and its manifest next to this script.

    python examples/make_vendor_example.py
    faceaudit audit examples/vendor_scores.toml

The "vendor" scores are cosine similarities of random per-person directions plus noise, with
one group deliberately noisier (its people look more alike to the system), so the report has
a disparity to find. No real person is involved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def main(seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    spec = [
        ("F", "black", 12, 1.1),
        ("F", "white", 20, 0.7),
        ("M", "black", 12, 1.0),
        ("M", "white", 25, 0.7),
    ]
    rows, vecs = [], []
    for sex, race, n_people, noise in spec:
        for p in range(n_people):
            direction = rng.normal(size=32)
            for k in range(3):
                rows.append(
                    {
                        "sample_id": f"{sex}{race[0]}{p:02d}_{k}",
                        "subject_id": f"{sex}{race[0]}{p:02d}",
                        "sex": sex,
                        "race": race,
                    }
                )
                vecs.append(direction + noise * rng.normal(size=32))
    m = pd.DataFrame(rows)
    v = np.array(vecs)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ia, ib = np.triu_indices(len(m), 1)
    scores = np.einsum("ij,ij->i", v[ia], v[ib])
    m.to_csv(HERE / "vendor_manifest.csv", index=False)
    pd.DataFrame(
        {
            "sample_a": m["sample_id"].to_numpy()[ia],
            "sample_b": m["sample_id"].to_numpy()[ib],
            "score": np.round(scores, 6),
        }
    ).to_csv(HERE / "vendor_scores.csv", index=False)
    print(f"wrote {len(m)} samples and {len(ia):,} scores to {HERE}")


if __name__ == "__main__":
    main()
