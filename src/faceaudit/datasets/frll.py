"""Face Research Lab London Set (FRLL): 102 consenting adults, a neutral and a smiling photo each.

Folder layout (DeBruine & Jones 2017, CC BY 4.0, https://doi.org/10.6084/m9.figshare.5047666.v5)::

    <root>/neutral_front/<id>_03.jpg     102 images
    <root>/smiling_front/<id>_08.jpg     102 images of the same people
    <root>/london_info.csv               face_id, face_age, face_gender, face_eth (self-reported)

Sample ids and attributes
-------------------------
``sample_id`` = ``path`` = the image path relative to ``root`` (``"neutral_front/001_03.jpg"``);
``subject_id`` = the three-digit ``face_id`` (``"001"``). Attributes, all self-reported:

``gender``
    ``"F"``/``"M"`` (from ``female``/``male``, the same codes as the LFW adapter; any other
    value is kept as written).
``age``
    Years as an integer string (bin it with ``Grouping.parse("age:30:40")``); ``NA`` ->
    ``"unknown"`` (ids 031 and 135).
``ethnicity``
    ``white``, ``black``, ``west_asian``, ``east_asian``; a combined answer such as
    ``east_asian/white`` becomes ``"multiple"``, never one of its parts.
``ethnicity_raw``
    The answer as written.
``expression``
    ``"neutral"`` or ``"smiling"`` (from the folder); both photos were taken in one session.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal, overload

import pandas as pd

from .._errors import ConfigError, InputError, ManifestError
from .._manifest import UNKNOWN, Manifest, normalise_value
from ._common import (
    REASON_BAD_NAME,
    REASON_JUNK,
    LoadReport,
    data_home,
    group_ignored,
    is_junk,
    value_counts,
)

FRLL_ENV = "FACEAUDIT_FRLL"
"""Environment variable pointing at a local FRLL folder (see :func:`frll_root`)."""

INFO_FILE = "london_info.csv"
FOLDERS = (("neutral_front", "neutral", "03"), ("smiling_front", "smiling", "08"))
MULTIPLE = "multiple"
_GENDER = {"female": "F", "male": "M"}
_INFO_COLUMNS = ("face_id", "face_age", "face_gender", "face_eth")
_IMAGE_RE = re.compile(r"^(?P<id>\d{3})_(?P<code>\d{2})\.jpg$")

_HOW_TO_GET = (
    "download the Face Research Lab London Set from https://doi.org/10.6084/m9.figshare.5047666.v5 "
    f"and point to it with the {FRLL_ENV} environment variable or the path argument; the folder "
    f"must contain neutral_front/, smiling_front/ and {INFO_FILE}"
)


def _is_frll(p: Path) -> bool:
    return (p / FOLDERS[0][0]).is_dir() and (p / INFO_FILE).is_file()


def frll_root(path: str | os.PathLike[str] | None = None) -> Path:
    """Find a local FRLL folder: ``path``, else ``$FACEAUDIT_FRLL``, else the data directory.

    The data directory is ``<data_home()>/frl-london``.

    ``path`` may be the FRLL folder itself or a data directory holding ``frl-london/``.

    Raises
    ------
    ConfigError
        Nothing usable there; the message says how to get the set.
    """
    if path is not None:
        where, source = Path(path).expanduser(), "path"
    elif os.environ.get(FRLL_ENV):
        where, source = Path(os.environ[FRLL_ENV]).expanduser(), f"${FRLL_ENV}"
    else:
        where, source = data_home() / "frl-london", "the data directory"
    for c in (where, where / "frl-london"):
        if _is_frll(c):
            return c
    raise ConfigError(f"{source} must be an FRLL folder; got {str(where)!r}. {_HOW_TO_GET}")


def ethnicity_label(raw: str) -> str:
    """``"multiple"`` for a combined answer (``"east_asian/white"``), else the answer itself.

    >>> ethnicity_label("white"), ethnicity_label("east_asian/white"), ethnicity_label("NA")
    ('white', 'multiple', 'unknown')
    """
    v = normalise_value(raw)
    parts = [p for p in re.split(r"[/,;]", v) if p.strip()]
    return MULTIPLE if len(parts) > 1 else v


def _read_info(path: Path) -> dict[str, dict[str, str]]:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot parse ({exc})") from exc
    missing = [c for c in _INFO_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; columns are {list(df.columns)}")
    out: dict[str, dict[str, str]] = {}
    for i, row in enumerate(df.itertuples(index=False)):
        fid = str(row.face_id).strip()
        if not fid:
            raise InputError(f"{path}: data row {i + 1}: empty face_id")
        if fid in out:
            raise InputError(f"{path}: data row {i + 1}: duplicate face_id {fid!r}")
        age = normalise_value(row.face_age)
        if age != UNKNOWN and not age.isdigit():
            raise InputError(
                f"{path}: data row {i + 1}: face_age must be a whole number or NA; "
                f"got {row.face_age!r}"
            )
        gender = normalise_value(row.face_gender)
        eth_raw = normalise_value(row.face_eth)
        out[fid] = {
            "gender": _GENDER.get(gender.lower(), gender),
            "age": str(int(age)) if age != UNKNOWN else UNKNOWN,
            "ethnicity": ethnicity_label(eth_raw),
            "ethnicity_raw": eth_raw,
        }
    return out


@overload
def load_frll(
    root: str | os.PathLike[str] | None = ...,
    *,
    labels: bool = ...,
    with_report: Literal[False] = ...,
) -> Manifest: ...
@overload
def load_frll(
    root: str | os.PathLike[str] | None = ..., *, labels: bool = ..., with_report: Literal[True]
) -> tuple[Manifest, LoadReport]: ...
def load_frll(
    root: str | os.PathLike[str] | None = None,
    *,
    labels: bool = True,
    with_report: bool = False,
) -> Manifest | tuple[Manifest, LoadReport]:
    """Build the FRLL manifest (see the module docstring for ids and attributes).

    Parameters
    ----------
    root : path, optional
        The FRLL folder, resolved with :func:`frll_root`.
    labels : bool
        Attach the self-reported labels from ``london_info.csv`` (``expression`` is always
        attached: it comes from the folder).
    with_report : bool
        Also return the :class:`LoadReport`.

    Returns
    -------
    Manifest, or (Manifest, LoadReport)
        204 samples of 102 subjects for the complete set, sorted by ``sample_id``.

    Raises
    ------
    ConfigError
        No FRLL folder found.
    InputError
        ``london_info.csv`` malformed (names the row).
    """
    root = frll_root(root)
    rows: list[tuple[str, str, str]] = []
    ignored: list[tuple[str, str]] = []
    for folder, expression, code in FOLDERS:
        d = root / folder
        if not d.is_dir():
            raise ManifestError(f"{d}: FRLL image folder not found; {_HOW_TO_GET}")
        try:
            with os.scandir(d) as it:
                names = sorted(e.name for e in it)
        except OSError as exc:
            raise InputError(f"{d}: cannot read the FRLL image folder ({exc.strerror})") from exc
        for name in names:
            m = _IMAGE_RE.match(name)
            if m and m["code"] == code:
                rows.append((f"{folder}/{name}", m["id"], expression))
            else:
                ignored.append(
                    (f"{folder}/{name}", REASON_JUNK if is_junk(name) else REASON_BAD_NAME)
                )
    if not rows:
        raise ManifestError(f"{root}: no FRLL images (<id>_03.jpg, <id>_08.jpg) found")
    rows.sort()
    data: dict[str, list[str]] = {
        "sample_id": [r[0] for r in rows],
        "subject_id": [r[1] for r in rows],
        "path": [r[0] for r in rows],
    }
    attrs = ["expression"]
    unmatched: list[str] = []
    unlabelled: list[str] = []
    notes: list[str] = ["labels are self-reported; both photos of a person come from one session"]
    if labels:
        info = _read_info(root / INFO_FILE)
        subjects = set(data["subject_id"])
        unmatched = sorted(k for k in info if k not in subjects)
        unlabelled = sorted(s for s in subjects if s not in info)
        empty = dict.fromkeys(("gender", "age", "ethnicity", "ethnicity_raw"), UNKNOWN)
        for col in ("gender", "age", "ethnicity", "ethnicity_raw"):
            data[col] = [info.get(s, empty)[col] for s in data["subject_id"]]
        attrs = ["gender", "age", "ethnicity", "ethnicity_raw", "expression"]
        n_multi = sum(1 for v in info.values() if v["ethnicity"] == MULTIPLE)
        n_na = sum(1 for v in info.values() if v["age"] == UNKNOWN)
        notes.append(
            f"{n_multi} subject(s) with a combined ethnicity -> '{MULTIPLE}'; "
            f"{n_na} subject(s) with age NA -> '{UNKNOWN}'"
        )
    data["expression"] = [r[2] for r in rows]
    manifest = Manifest(pd.DataFrame(data), attributes=attrs, root=root, source=str(root))
    report = LoadReport(
        dataset=f"frll:{root}",
        n_samples=len(manifest),
        n_subjects=manifest.n_subjects,
        ignored=group_ignored(ignored),
        unmatched_labels=tuple(unmatched),
        unlabelled=tuple(unlabelled),
        value_counts=value_counts({a: data[a] for a in attrs if a not in ("age", "ethnicity_raw")}),
        notes=tuple(notes),
    )
    report.log()
    return (manifest, report) if with_report else manifest
