"""Dataset adapters: each turns a dataset on disk into a :class:`faceaudit.Manifest`.

One adapter per module:

- :func:`load_folder` — any ``root/<subject>/<image>`` tree, labels from a CSV keyed by subject
  or by image;
- :func:`load_table` — a manifest CSV/TSV/Parquet as it is (with column renaming);
- :func:`load_lfw` — Labeled Faces in the Wild with gender and ancestry labels, plus
  :func:`read_lfw_pairs` for ``pairs.txt`` and :func:`download_lfw` to fetch it;
- :func:`load_frll` — the Face Research Lab London Set with self-reported labels.

:func:`load_dataset` dispatches on a registered name (``"lfw"``, ``"frll"``) or a path, so the
CLI can say ``--dataset lfw --data-dir ...``. Every adapter accepts ``with_report=True`` to also
return a :class:`LoadReport` of what was left out or could not be labelled.

>>> available_datasets()
('frll', 'lfw')
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ._common import IMAGE_EXTENSIONS, LoadReport, data_home
from ._download import DownloadError, RemoteFile
from ._notes import NOTES
from .folder import LABELS_BY, load_folder
from .frll import frll_root, load_frll
from .lfw import LFW_FILES, download_lfw, lfw_root, lfw_sample_id, load_lfw, read_lfw_pairs
from .table import TABLE_SUFFIXES, load_table

__all__ = [
    "IMAGE_EXTENSIONS",
    "LABELS_BY",
    "LFW_FILES",
    "DownloadError",
    "LoadReport",
    "RemoteFile",
    "available_datasets",
    "data_home",
    "dataset_key",
    "dataset_notes",
    "download_lfw",
    "frll_root",
    "lfw_root",
    "lfw_sample_id",
    "load_dataset",
    "load_folder",
    "load_frll",
    "load_lfw",
    "load_table",
    "read_lfw_pairs",
    "register_dataset",
]

Loader = Callable[..., Any]

_REGISTRY: dict[str, Loader] = {"lfw": load_lfw, "frll": load_frll}
_ALIASES: dict[str, str] = {"frl-london": "frll", "frl_london": "frll"}


def register_dataset(name: str, loader: Loader, *, replace: bool = False) -> None:
    """Make ``load_dataset(name, ...)`` call ``loader(root, **options)``.

    ``loader`` takes the dataset folder (or None to resolve it itself) as its first argument
    and returns a :class:`~faceaudit.Manifest` (or ``(Manifest, LoadReport)`` with
    ``with_report=True``).
    """
    key = name.lower()
    if not key or not key.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"name must be letters, digits, '-' or '_'; got {name!r}")
    if (key in _REGISTRY or key in _ALIASES) and not replace:
        raise ConfigError(
            f"name must not be an already registered dataset; got {name!r} "
            "(pass replace=True to override)"
        )
    _REGISTRY[key] = loader


def available_datasets() -> tuple[str, ...]:
    """The registered dataset names, sorted."""
    return tuple(sorted(_REGISTRY))


def dataset_key(name: str | os.PathLike[str] | None) -> str | None:
    """The registered dataset a name or alias means (``"FRL-London"`` -> ``"frll"``), else None.

    >>> dataset_key("lfw"), dataset_key("frl_london"), dataset_key("./my-folder")
    ('lfw', 'frll', None)
    """
    if name is None:
        return None
    text = os.fspath(name).lower()
    key = _ALIASES.get(text, text)
    return key if key in _REGISTRY else None


def dataset_notes(name: str | os.PathLike[str] | None) -> list[str]:
    """The notes an audit of this dataset must carry (provenance, skew, labels); [] if none."""
    return list(NOTES.get(dataset_key(name) or "", []))


def _call(loader: Loader, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    params = inspect.signature(loader).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        allowed = [
            n
            for n, p in params.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
            or (p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and n not in ("root", "path"))
        ]
        bad = sorted(set(options) - set(allowed))
        if bad:
            raise ConfigError(
                f"options of {getattr(loader, '__name__', loader)} must be among "
                f"{allowed}; got {bad}"
            )
    return loader(*args, **options)


def load_dataset(
    name_or_path: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Any:
    """Load a dataset by registered name or by path.

    Parameters
    ----------
    name_or_path : str or path
        A registered name (:func:`available_datasets`: ``"lfw"``, ``"frll"``; a string
        equal to a name always means the dataset, so write ``"./lfw"`` or pass a
        :class:`~pathlib.Path` for a folder of that name), an image folder
        ``root/<subject>/<image>`` (:func:`load_folder`) or a manifest file ending in
        ``.csv``/``.tsv``/``.parquet``/``.pq`` (:func:`load_table`).
    data_dir : path, optional
        For a named dataset: its folder, or a data directory holding it (``<data_dir>/lfw``).
        Default: the adapter's own resolution (environment variable, then :func:`data_home`).
    **options
        Passed to the adapter (e.g. ``labels=False``, ``with_report=True``,
        ``labels="subjects.csv"`` for a folder, ``rename={...}`` for a table).

    Returns
    -------
    Manifest, or (Manifest, LoadReport) when the adapter is asked ``with_report=True``.

    Raises
    ------
    ConfigError
        Unknown name, a path that is neither a folder nor a table file, ``data_dir`` given with
        a path, or an option the adapter does not take.
    """
    text = os.fspath(name_or_path)
    key = dataset_key(text)
    if isinstance(name_or_path, str) and key is not None:
        return _call(_REGISTRY[key], (data_dir,), options)
    path = Path(text).expanduser()
    if data_dir is not None:
        raise ConfigError(
            f"data_dir applies only to named datasets {list(available_datasets())}; "
            f"got a path {text!r}"
        )
    if path.is_dir():
        return _call(load_folder, (path,), options)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return _call(load_table, (path,), options)
    raise ConfigError(
        f"name_or_path must be one of {list(available_datasets())}, an image folder or a "
        f"{'/'.join(TABLE_SUFFIXES)} manifest file; got {text!r}"
        + ("" if path.exists() else " (no such file or folder)")
    )
