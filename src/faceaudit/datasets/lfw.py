"""Labeled Faces in the Wild (LFW, deep-funneled) with per-image gender and per-identity ancestry.

Folder layout (what :func:`download_lfw` creates; the shared copy has the same)::

    <root>/lfw-deepfunneled/<Name>/<Name>_<NNNN>.jpg     13,233 images of 5,749 people
    <root>/pairs.txt                                      View-2 protocol: 10 folds x 600 pairs
    <root>/labels/raw/afifi_male_names.txt                per-image gender lists (Afifi &
    <root>/labels/raw/afifi_female_names.txt                Abdelhamed 2017), CRLF lines
    <root>/labels/raw/usc_sail_lfw_race_dict.json         per-identity ancestry (USC SAIL)

Sample ids
----------
``sample_id`` is the image path relative to the image folder, ``"<Name>/<Name>_<NNNN>.jpg"``
(e.g. ``"Aaron_Peirsol/Aaron_Peirsol_0001.jpg"``: four-digit, 1-based image number);
``subject_id`` is ``<Name>``; ``path`` is ``"lfw-deepfunneled/<sample_id>"`` relative to ``root``.

Attributes (built from the raw label files, never guessed)
----------------------------------------------------------
``gender``
    Per image from the Afifi lists: ``"M"`` (male list only), ``"F"`` (female list only),
    ``"ambiguous"`` (in both lists: 5 images), ``"unknown"`` (in neither: 4 images).
``ancestry``
    Per identity from the USC SAIL dictionary (IMDb-style ancestry metadata, *not* an
    annotation of the images): the label when there is exactly one (``caucasian``,
    ``african``, ``latino``, ``eastasian``, ``asianindian``, ``pacificislander``,
    ``nativeamerican``, ``other``), ``"multiple"`` when the string lists several, and
    ``"unknown"`` for the 4,883 identities the dictionary does not cover.
``ancestry_raw``
    The dictionary's string as published (``"african,caucasian"``), or ``"unknown"``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, overload

import numpy as np
import pandas as pd

from .._errors import ConfigError, InputError, ManifestError
from .._manifest import UNKNOWN, Manifest
from ._common import (
    REASON_BAD_NAME,
    REASON_JUNK,
    LoadReport,
    data_home,
    group_ignored,
    is_junk,
    value_counts,
)
from ._download import RemoteFile, extract_tar, fetch

LFW_ENV = "FACEAUDIT_LFW"
"""Environment variable pointing at a local LFW folder (see :func:`lfw_root`)."""

IMAGES_DIR = "lfw-deepfunneled"
PAIRS_FILE = "pairs.txt"
MALE_FILE = "labels/raw/afifi_male_names.txt"
FEMALE_FILE = "labels/raw/afifi_female_names.txt"
ANCESTRY_FILE = "labels/raw/usc_sail_lfw_race_dict.json"

GENDERS = ("M", "F", "ambiguous")
AMBIGUOUS = "ambiguous"
MULTIPLE = "multiple"
ANCESTRY_LABELS = (
    "caucasian",
    "african",
    "latino",
    "eastasian",
    "asianindian",
    "nativeamerican",
    "pacificislander",
    "other",
)

_IMAGE_RE = re.compile(r"^(?P<name>.+)_(?P<num>\d{4})\.jpg$")

_GH = "https://raw.githubusercontent.com"
LFW_FILES: tuple[RemoteFile, ...] = (
    # md5 published on the LFW page ("md5sum 68331da3...") and in torchvision's lfw.py; no
    # sha256 is published for this archive anywhere we found, so md5 is what can be checked.
    RemoteFile(
        "lfw-deepfunneled.tgz",
        (
            "http://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz",
            "https://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz",
        ),
        md5="68331da3eb755a505a502b5aacb3c201",
    ),
    # sha256 from scikit-learn's sklearn/datasets/_lfw.py (figshare mirror), md5 from
    # torchvision's lfw.py; both match the shared copy of pairs.txt.
    RemoteFile(
        PAIRS_FILE,
        (
            "https://ndownloader.figshare.com/files/5976006",
            "http://vis-www.cs.umass.edu/lfw/pairs.txt",
        ),
        sha256="ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592",
        md5="9f1ba174e4e1c508ff7cdf10ac338a7d",
    ),
    # Label files pinned to a commit; sha256 computed from byte copies of those commits
    # (the authors publish no digests).
    RemoteFile(
        MALE_FILE,
        (
            f"{_GH}/Lukeli0425/Gender-Classification/efdba063f8892f255e92412e96b9015a082a5faa/male_names.txt",
        ),
        sha256="6ed9cd7a08a50aba4e9ea0d5edba25ae13871896ee2f3dc205b39fcd2a6bc728",
    ),
    RemoteFile(
        FEMALE_FILE,
        (
            f"{_GH}/Lukeli0425/Gender-Classification/efdba063f8892f255e92412e96b9015a082a5faa/female_names.txt",
        ),
        sha256="c57d2c7c535f9639660088cbc791655ef8748c26ca55fc866efd3796877ef39d",
    ),
    RemoteFile(
        ANCESTRY_FILE,
        (
            f"{_GH}/usc-sail/mica-race-from-face/966be63332207f02467fe10df0ae2e6c24a6b57e/lfw_race_dict.json",
        ),
        sha256="69681176c110e4b4d55afc071cda42f60333eb15a20a6f69c99b3bd090b4d16c",
    ),
)
"""What :func:`download_lfw` fetches: name in the LFW folder, URLs (mirrors), digests."""

_HOW_TO_GET = (
    "get it with faceaudit.datasets.download_lfw(data_dir) (needs internet, ~112 MB), or point "
    f"to a local copy with the {LFW_ENV} environment variable or the path argument; the folder "
    f"must contain {IMAGES_DIR}/<Name>/<Name>_<NNNN>.jpg"
)


# ---------------------------------------------------------------------------- locating
def _is_lfw(p: Path) -> bool:
    return (p / IMAGES_DIR).is_dir()


def _candidates(p: Path) -> list[Path]:
    out = [p, p / "lfw"]
    if p.name == IMAGES_DIR:
        out.insert(0, p.parent)
    return out


def lfw_root(path: str | os.PathLike[str] | None = None) -> Path:
    """Find a local LFW folder.

    Resolution order: ``path`` if given (the LFW folder, its ``lfw-deepfunneled`` image
    folder, or a data directory holding ``lfw/``); else the environment variable
    ``FACEAUDIT_LFW``; else ``<data_home()>/lfw`` (where :func:`download_lfw` puts it).

    Raises
    ------
    ConfigError
        Nothing usable there; the message says where it looked and how to get LFW.
    """
    if path is not None:
        where, source = Path(path).expanduser(), "path"
    elif os.environ.get(LFW_ENV):
        where, source = Path(os.environ[LFW_ENV]).expanduser(), f"${LFW_ENV}"
    else:
        where, source = data_home() / "lfw", "the data directory"
    for c in _candidates(where):
        if _is_lfw(c):
            return c
    raise ConfigError(
        f"{source} must be an LFW folder containing {IMAGES_DIR}/; got {str(where)!r}. "
        + _HOW_TO_GET
    )


def download_lfw(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    files: Sequence[RemoteFile] = LFW_FILES,
    timeout: float = 60.0,
    keep_archive: bool = False,
) -> Path:
    """Download LFW (deep-funneled images, ``pairs.txt``, label files) into ``data_dir/lfw``.

    Each file is checked against its published digest (sha256 where one is published; the
    image archive only has a published md5, which is checked), written atomically (to a
    ``.part`` file, verified, then renamed) and resumed with an HTTP range request if a
    previous run was cut short. Files already present and verified are skipped, and so is the
    archive when ``lfw-deepfunneled/`` already exists. The archive is unpacked into a
    temporary folder and renamed into place, then deleted unless ``keep_archive``.

    Parameters
    ----------
    data_dir : path, optional
        The data directory (default :func:`data_home`); LFW goes to ``data_dir/lfw``.
    force : bool
        Download and unpack everything again.
    files : sequence of RemoteFile
        What to fetch (default :data:`LFW_FILES`); a ``.tgz``/``.tar.gz`` entry is unpacked
        and must hold ``lfw-deepfunneled/``. Override it to use a mirror.
    timeout : float
        Seconds to wait on the network per request.
    keep_archive : bool
        Keep the ``.tgz`` after unpacking.

    Returns
    -------
    Path
        The LFW folder, ready for :func:`load_lfw`.

    Raises
    ------
    DownloadError
        Offline or every mirror failed; the message lists the URLs and how to place the files
        by hand.
    IntegrityError
        A file does not match its digest (the bad download is deleted).
    """
    root = data_home(data_dir) / "lfw"
    root.mkdir(parents=True, exist_ok=True)
    for remote in files:
        if remote.name.endswith((".tgz", ".tar.gz")):
            if _is_lfw(root) and not force:
                continue
            archive = fetch(remote, root, force=force, timeout=timeout)
            extract_tar(archive, root, IMAGES_DIR, force=True)
            if not keep_archive:
                archive.unlink()
        else:
            fetch(remote, root, force=force, timeout=timeout)
    return root


# ---------------------------------------------------------------------------- labels
def _read_name_list(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError(f"{path}: LFW gender list not found; {_HOW_TO_GET}, or pass labels=False")
    try:
        with open(path, encoding="utf-8") as fh:
            return [line.strip() for line in fh if line.strip()]
    except (UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{path}: cannot read the gender list ({exc})") from exc


def _read_ancestry(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise InputError(
            f"{path}: LFW ancestry file not found; {_HOW_TO_GET}, or pass labels=False"
        )
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise InputError(f"{path}: expected a JSON object mapping LFW names to label strings")
    return data


def ancestry_label(raw: str) -> str:
    """The single ancestry label of a USC SAIL string, ``"multiple"``, or ``"unknown"``.

    >>> ancestry_label("caucasian"), ancestry_label("african,caucasian"), ancestry_label("")
    ('caucasian', 'multiple', 'unknown')
    """
    tokens = {t.strip() for t in raw.split(",") if t.strip()}
    if not tokens:
        return UNKNOWN
    return tokens.pop() if len(tokens) == 1 else MULTIPLE


# ---------------------------------------------------------------------------- loading
def _scan_images(img_dir: Path) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    sample_ids: list[str] = []
    subjects: list[str] = []
    ignored: list[tuple[str, str]] = []
    with os.scandir(img_dir) as it:
        entries = sorted((e.name, e.path, e.is_dir()) for e in it)
    for name, p, is_dir in entries:
        if is_junk(name) or not is_dir:
            ignored.append((name, REASON_JUNK if is_junk(name) else REASON_BAD_NAME))
            continue
        with os.scandir(p) as it:
            files = sorted(e.name for e in it)
        for f in files:
            m = _IMAGE_RE.match(f)
            if m and m["name"] == name:
                sample_ids.append(f"{name}/{f}")
                subjects.append(name)
            else:
                ignored.append((f"{name}/{f}", REASON_JUNK if is_junk(f) else REASON_BAD_NAME))
    return sample_ids, subjects, ignored


def _gender_labels(root: Path, sample_ids: list[str], subjects: list[str],
                   unmatched: list[str], notes: list[str]) -> np.ndarray:
    """Per image: M, F, ambiguous (in both lists) or unknown (in neither); notes appended."""
    index = {s.split("/", 1)[1]: i for i, s in enumerate(sample_ids)}  # file name -> row
    male = _read_name_list(root / MALE_FILE)
    female = _read_name_list(root / FEMALE_FILE)
    in_m = np.zeros(len(sample_ids), bool)
    in_f = np.zeros(len(sample_ids), bool)
    for names, flags, tag in ((male, in_m, "male list"), (female, in_f, "female list")):
        for n in names:
            i = index.get(n)
            if i is None:
                unmatched.append(f"{tag}: {n}")
            else:
                flags[i] = True
    gender = np.where(
        in_m & in_f, AMBIGUOUS, np.where(in_m, "M", np.where(in_f, "F", UNKNOWN))
    ).astype(object)
    n_both, n_none = int((in_m & in_f).sum()), int((~in_m & ~in_f).sum())
    notes.append(
        f"gender: {len(male)} male-list and {len(female)} female-list lines; "
        f"{n_both} image(s) in both -> '{AMBIGUOUS}', {n_none} in neither -> '{UNKNOWN}'"
    )
    mixed = (
        pd.DataFrame({"s": subjects, "g": gender})
        .query("g in ('M', 'F')")
        .groupby("s")["g"]
        .nunique()
    )
    if (mixed > 1).any():
        notes.append(f"gender: {int((mixed > 1).sum())} identities have both M and F images")
    return gender


def _ancestry_labels(root: Path, subjects: list[str], unmatched: list[str],
                     notes: list[str]) -> tuple[list[str], list[str]]:
    """Per image: the person's ancestry label and the raw USC SAIL label; notes appended."""
    anc = _read_ancestry(root / ANCESTRY_FILE)
    people = set(subjects)
    unmatched.extend(f"ancestry: {n}" for n in anc if n not in people)
    raw = [anc.get(s, "") for s in subjects]
    label_of = {r: ancestry_label(r) for r in set(raw)}
    ancestry = [label_of[r] for r in raw]
    odd = sorted(
        {t.strip() for r in anc.values() for t in r.split(",") if t.strip()}
        - set(ANCESTRY_LABELS)
    )
    if odd:
        notes.append(f"ancestry: labels outside the documented set kept as-is: {odd}")
    n_multi = sum(1 for r in anc.values() if ancestry_label(r) == MULTIPLE)
    notes.append(
        f"ancestry: {len(anc)} identities labelled ({n_multi} multi-label -> "
        f"'{MULTIPLE}'); IMDb-style metadata per identity, not image annotation"
    )
    return ancestry, raw


@overload
def load_lfw(
    root: str | os.PathLike[str] | None = ...,
    *,
    labels: bool = ...,
    with_report: Literal[False] = ...,
) -> Manifest: ...
@overload
def load_lfw(
    root: str | os.PathLike[str] | None = ..., *, labels: bool = ..., with_report: Literal[True]
) -> tuple[Manifest, LoadReport]: ...
def load_lfw(
    root: str | os.PathLike[str] | None = None,
    *,
    labels: bool = True,
    with_report: bool = False,
) -> Manifest | tuple[Manifest, LoadReport]:
    """Build the LFW manifest (see the module docstring for ids and attributes).

    Parameters
    ----------
    root : path, optional
        The LFW folder, resolved with :func:`lfw_root` (argument, ``$FACEAUDIT_LFW``, data dir).
    labels : bool
        Attach ``gender``, ``ancestry`` and ``ancestry_raw`` from ``labels/raw/``; with False
        the manifest has no attributes and the label files are not needed.
    with_report : bool
        Also return the :class:`LoadReport`: ignored files, label entries matching no image
        (``"male list: <file>"``, ``"ancestry: <Name>"``), ``unlabelled`` = the images on
        neither gender list, and samples per value of ``gender`` and ``ancestry`` (ancestry
        coverage is there: most identities are ``"unknown"``).

    Returns
    -------
    Manifest, or (Manifest, LoadReport)
        13,233 samples of 5,749 subjects for the complete set, sorted by ``sample_id``.

    Raises
    ------
    ConfigError
        No LFW folder found (the message says how to get one).
    InputError
        A label file is missing or malformed.
    """
    root = lfw_root(root)
    try:
        sample_ids, subjects, ignored = _scan_images(root / IMAGES_DIR)
    except OSError as exc:
        raise InputError(
            f"{exc.filename}: cannot read the LFW image folder ({exc.strerror})"
        ) from exc
    if not sample_ids:
        raise ManifestError(f"{root / IMAGES_DIR}: no LFW images (<Name>/<Name>_<NNNN>.jpg) found")
    data: dict[str, object] = {
        "sample_id": sample_ids,
        "subject_id": subjects,
        "path": [f"{IMAGES_DIR}/{s}" for s in sample_ids],
    }
    unmatched: list[str] = []
    notes: list[str] = []
    attrs: list[str] = []
    unlabelled: list[str] = []
    if labels:
        gender = _gender_labels(root, sample_ids, subjects, unmatched, notes)
        unlabelled.extend(s for s, g in zip(sample_ids, gender, strict=True) if g == UNKNOWN)
        ancestry, raw = _ancestry_labels(root, subjects, unmatched, notes)
        data.update(gender=list(gender), ancestry=ancestry, ancestry_raw=raw)
        attrs = ["gender", "ancestry", "ancestry_raw"]
    manifest = Manifest(
        pd.DataFrame(data),
        attributes=attrs,
        root=root,
        categories={"gender": GENDERS} if labels else None,
        source=str(root / IMAGES_DIR),
    )
    report = LoadReport(
        dataset=f"lfw:{root}",
        n_samples=len(manifest),
        n_subjects=manifest.n_subjects,
        ignored=group_ignored(ignored),
        unmatched_labels=tuple(unmatched),
        unlabelled=tuple(unlabelled),
        value_counts=value_counts({a: manifest.samples[a] for a in ("gender", "ancestry")})
        if labels
        else {},
        notes=tuple(notes),
    )
    report.log()
    return (manifest, report) if with_report else manifest


# ---------------------------------------------------------------------------- pairs
def lfw_sample_id(name: str, number: int) -> str:
    """The sample id of image ``number`` (1-based) of ``name``: ``"<name>/<name>_<NNNN>.jpg"``.

    >>> lfw_sample_id("Abel_Pacheco", 4)
    'Abel_Pacheco/Abel_Pacheco_0004.jpg'
    """
    return f"{name}/{name}_{number:04d}.jpg"


def _num(tok: str, where: str) -> int:
    if not tok.isdigit() or int(tok) < 1:
        raise InputError(f"{where}: image number must be a positive integer; got {tok!r}")
    return int(tok)


def _pair_ids(line: str, is_mated: bool, fold: int, where: str) -> tuple[str, str]:
    """The two sample ids of one pairs.txt line ('name n1 n2' or 'name1 n1 name2 n2')."""
    tok = line.split()
    if is_mated:
        if len(tok) != 3:
            raise InputError(
                f"{where}: fold {fold + 1} matched pair must be 'name n1 n2'; got {line!r}"
            )
        a = lfw_sample_id(tok[0], _num(tok[1], where))
        b = lfw_sample_id(tok[0], _num(tok[2], where))
        if a == b:
            raise InputError(f"{where}: matched pair compares {a!r} with itself")
    else:
        if len(tok) != 4:
            raise InputError(
                f"{where}: fold {fold + 1} mismatched pair must be "
                f"'name1 n1 name2 n2'; got {line!r}"
            )
        if tok[0] == tok[2]:
            raise InputError(f"{where}: mismatched pair names the same person {tok[0]!r}")
        a = lfw_sample_id(tok[0], _num(tok[1], where))
        b = lfw_sample_id(tok[2], _num(tok[3], where))
    return a, b


def read_lfw_pairs(path: str | os.PathLike[str], manifest: Manifest | None = None) -> pd.DataFrame:
    """Read an LFW pairs file (``pairs.txt``, or ``pairsDevTrain.txt``/``pairsDevTest.txt``).

    Format: a header ``<n_folds> <n>`` (``10 300``; the dev files have just ``<n>`` and one
    fold), then per fold ``n`` matched lines ``name n1 n2`` followed by ``n`` mismatched lines
    ``name1 n1 name2 n2`` (tab- or space-separated). Image numbers are 1-based.

    Parameters
    ----------
    path : path
        The pairs file.
    manifest : Manifest, optional
        If given, every referenced image must be one of its samples.

    Returns
    -------
    DataFrame
        Columns ``sample_a``, ``sample_b`` (sample ids, see :func:`lfw_sample_id`),
        ``mated`` (bool) and ``fold`` (int, 1-based as in the LFW documentation), in file
        order: 6,000 rows for ``pairs.txt``.

    Raises
    ------
    InputError
        Malformed header or line, wrong line count, a matched pair of one image with itself, a
        mismatched pair of one person, or an image missing from ``manifest``; the message names
        the file and 1-based line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: LFW pairs file not found; {_HOW_TO_GET}")
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{path}: cannot read the pairs file ({exc})") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise InputError(f"{path}: empty pairs file")
    head = lines[0].split()
    if len(head) not in (1, 2) or not all(t.isdigit() and int(t) > 0 for t in head):
        raise InputError(
            f"{path}: line 1: header must be '<n_folds> <n_pairs>' (e.g. '10 300') "
            f"or '<n_pairs>'; got {lines[0]!r}"
        )
    n_folds, n = (int(head[0]), int(head[1])) if len(head) == 2 else (1, int(head[0]))
    expected = 1 + n_folds * 2 * n
    if len(lines) != expected:
        raise InputError(
            f"{path}: header {lines[0]!r} promises {n_folds} fold(s) x {2 * n} pairs "
            f"= {expected} lines; the file has {len(lines)}"
        )
    known = set(manifest.sample_ids.tolist()) if manifest is not None else None
    a_ids: list[str] = []
    b_ids: list[str] = []
    mated: list[bool] = []
    folds: list[int] = []
    for k in range(1, expected):
        fold, pos = divmod(k - 1, 2 * n)
        is_mated = pos < n
        where = f"{path}: line {k + 1}"
        a, b = _pair_ids(lines[k], is_mated, fold, where)
        if known is not None:
            for s in (a, b):
                if s not in known:
                    raise InputError(
                        f"{where}: image {s!r} is not in the manifest "
                        f"({manifest.source if manifest is not None else ''})"
                    )
        a_ids.append(a)
        b_ids.append(b)
        mated.append(is_mated)
        folds.append(fold + 1)
    return pd.DataFrame(
        {
            "sample_a": a_ids,
            "sample_b": b_ids,
            "mated": np.array(mated, bool),
            "fold": np.array(folds, np.int64),
        }
    )
