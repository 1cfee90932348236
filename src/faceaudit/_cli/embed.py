"""``faceaudit embed``: images of a manifest or dataset → a templates file (.npz)."""

from __future__ import annotations

from pathlib import Path

import click

from ._app import console, handle_errors


def _load_manifest(source: str, data_dir: str | None) -> object:
    try:
        from ..datasets import load_dataset
    except ImportError:  # datasets not available: plain manifest tables only
        from .._manifest import Manifest

        return Manifest.read(source)
    return load_dataset(source, data_dir=data_dir) if data_dir else load_dataset(source)


@click.command("embed")
@click.argument("manifest_or_dataset")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Templates file to write (.npz).")
@click.option("--model", default="dlib", show_default=True,
              help="'dlib', 'sface', a path to an ArcFace-style .onnx model, or 'fake' "
                   "(tests).")
@click.option("--detector", type=click.Choice(["centerface", "hog", "none"]),
              default="centerface", show_default=True,
              help="Face detector ('none': images are already face crops).")
@click.option("--workers", type=int, default=2, show_default=True, help="Worker processes.")
@click.option("--store", type=click.Path(file_okay=False), default=None,
              help="Result store folder: re-runs skip finished images (resumable).")
@click.option("--data-dir", type=click.Path(), default=None,
              help="Folder of a named dataset (lfw, frll).")
@click.option("--face-policy", type=click.Choice(["central", "largest", "fail"]),
              default="central", show_default=True, help="Which face to enrol when several.")
@click.option("--min-face-size", type=float, default=20.0, show_default=True,
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

    from ..pipeline import embed_manifest

    loaded = _load_manifest(manifest_or_dataset, data_dir)
    manifest = loaded[0] if isinstance(loaded, tuple) else loaded
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
        table.add_row(str(name), str(int(cnt)), f"{cnt / max(len(tpl), 1):.1%}", example)
    console.print(table)
    console.print(f"model_id: {tpl.model_id}", highlight=False, soft_wrap=True)
