"""``faceaudit embed``: images of a manifest or dataset → a templates file (.npz)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from ..pipeline import embed_manifest
from . import _options as O
from ._console import console, handle_errors, print_exclusions
from ._options import library_default


@click.command("embed")
@click.argument("manifest_or_dataset")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Templates file to write (.npz).")
@O.model()
@O.detector()
@O.option("--workers", type=int, default=library_default(embed_manifest, "n_workers"),
          help="Worker processes.")
@O.store()
@O.data_dir()
@O.face_policy()
@O.option("--min-face-size", type=float, default=library_default(embed_manifest, "min_face_size"),
          help="Smaller faces are failures to enrol (too_small), in pixels.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@handle_errors
def command(manifest_or_dataset: str, out: str, model: str, detector: str, workers: int,
            store: str | None, data_dir: str | None, face_policy: str, min_face_size: float,
            progress: bool) -> None:
    """Detect, align and embed every image of MANIFEST_OR_DATASET into --out.

    MANIFEST_OR_DATASET is a manifest table (.csv/.tsv/.parquet), an image folder
    root/<subject>/<image>, or a dataset name (lfw, frll). Every sample ends with a status:
    ok, or a failure to enrol (no_face, unreadable, too_small, multiple_faces, missing,
    error) that later metrics count; nothing is dropped.
    """
    import numpy as np
    from rich.table import Table

    from .._io import check_writable
    from ..datasets import load_dataset

    check_writable(out, "--out", folder=False)
    if store is not None:
        check_writable(store, "--store")
    loaded = load_dataset(manifest_or_dataset, data_dir=data_dir, with_report=True)
    manifest, report = loaded if isinstance(loaded, tuple) else (loaded, None)
    tpl = embed_manifest(manifest, embedder=model, detector=detector, store=store,
                         n_workers=workers, progress=progress, face_policy=face_policy,
                         min_face_size=min_face_size)
    tpl.save(out)

    table = Table(title=f"{len(tpl)} samples → {Path(out).name}")
    table.add_column("status")
    table.add_column("samples", justify="right")
    table.add_column("share", justify="right")
    table.add_column("example")
    names, counts = np.unique(tpl.status, return_counts=True)
    for name, cnt in sorted(zip(names, counts, strict=True), key=lambda t: (t[0] != "ok", t[0])):
        i = int(np.flatnonzero(tpl.status == name)[0])
        example = "" if name == "ok" else f"{tpl.sample_ids[i]}: {tpl.detail[i]}"
        table.add_row(str(name), str(int(cnt)), f"{cnt / max(len(tpl), 1):.1%}",
                      Text(example))  # user text (ids, file names): never rich markup
    console.print(table)
    print_exclusions(report)
    console.print(f"model_id: {tpl.model_id}", highlight=False, soft_wrap=True)
