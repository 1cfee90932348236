"""Manifest: the table of samples, their subjects and their demographic attributes.

A manifest has one row per sample (image) with the columns

- ``sample_id`` (str, unique): the sample's name everywhere in faceaudit;
- ``subject_id`` (str, non-empty): who is in the image; two samples of one subject form a
  *genuine* (mated) pair, two samples of different subjects an *impostor* (non-mated) pair;
- ``path`` (str, optional): the image file, relative to the manifest's ``root`` (or absolute);
- any number of attribute columns (``sex``, ``race``, ``age``...).

Every field is text (UTF-8). File names that are not UTF-8 (e.g. the latin-1 bytes
``caf\\xe9.jpg`` from an old archive) follow one rule, :func:`faceaudit._text.name_to_text`:
``%`` and every byte that is not UTF-8 are written ``%XX`` (``caf%E9.jpg``); such a *path*
is written with the prefix ``file:`` (:func:`~faceaudit._text.path_to_text`), which marks it
as percent-encoded, so ``Manifest.paths()`` finds the file again. Names that are UTF-8 are
never changed.

Absurd fields are refused (:func:`faceaudit._text.check_fields`): a value that long almost
always means a broken file (an unclosed quote joins many lines into one field).

Missing attribute values (empty, ``NA``, NaN) are kept as the explicit category
:data:`UNKNOWN`; nothing is silently dropped. A :class:`Grouping` chooses attribute columns
(their cross product forms the groups, e.g. ``sex × race``) and may bin numeric ones.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._errors import ConfigError, ManifestError, shorten
from ._text import check_fields, path_to_text, text_to_path

UNKNOWN = "unknown"
"""The category given to a missing attribute value."""

LABEL_SEPARATOR = " / "
"""Joins the attribute values of a group into its label (``"F / black"``)."""

REQUIRED_COLUMNS = ("sample_id", "subject_id")
RESERVED_COLUMNS = ("sample_id", "subject_id", "path")
_MISSING_STRINGS = frozenset({"", "na", "nan", "n/a", "none", "null"})

MSG_DUPLICATE_SAMPLE = "duplicate sample_id"
MSG_EMPTY_SUBJECT = "empty subject_id"
MSG_MISSING_COLUMN = "missing required column"


@dataclass(frozen=True)
class Grouping:
    """A choice of attribute columns whose value combinations form the groups.

    Parameters
    ----------
    attributes : tuple of str
        Attribute columns, e.g. ``("sex", "race")``. An empty tuple puts every sample in one
        group labelled ``"all"``.
    bins : mapping of str to sequence of float, optional
        Bin edges for numeric attributes, e.g. ``{"age": (30, 45, 60)}`` gives the groups
        ``"<30"``, ``"30–44"``, ``"45–59"``, ``"≥60"`` (left-closed, right-open intervals;
        labels assume integer values). Non-numeric values of a binned column become
        :data:`UNKNOWN`.
    """

    attributes: tuple[str, ...] = ()
    bins: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", tuple(self.attributes))
        bins = {k: tuple(float(e) for e in v) for k, v in dict(self.bins).items()}
        for name, edges in bins.items():
            if name not in self.attributes:
                raise ConfigError(
                    f"bins given for {name!r}, which is not in attributes {self.attributes}"
                )
            if len(edges) == 0 or any(b <= a for a, b in itertools.pairwise(edges)):
                raise ConfigError(f"bins[{name!r}] must be strictly increasing edges; got {edges}")
        object.__setattr__(self, "bins", bins)

    @classmethod
    def parse(cls, spec: str | Sequence[str] | Grouping | None) -> Grouping:
        """Build from ``"sex,race"``, ``"sex,age:30:45:60"``, a list of names, or a Grouping."""
        if spec is None:
            return cls()
        if isinstance(spec, Grouping):
            return spec
        parts = [p.strip() for p in spec.split(",")] if isinstance(spec, str) else list(spec)
        attrs: list[str] = []
        bins: dict[str, tuple[float, ...]] = {}
        for part in parts:
            if not part:
                continue
            name, *edges = part.split(":")
            try:
                if edges:
                    bins[name] = tuple(float(e) for e in edges)
            except ValueError as exc:
                raise ConfigError(
                    f"grouping bins must be numbers, as in 'age:30:45:60'; got {part!r}"
                ) from exc
            attrs.append(name)
        return cls(tuple(attrs), bins)

    def to_dict(self) -> dict[str, object]:
        return {
            "attributes": list(self.attributes),
            "bins": {k: list(v) for k, v in self.bins.items()},
        }


@dataclass(frozen=True)
class GroupAssignment:
    """The group of every sample under one :class:`Grouping`.

    Attributes
    ----------
    codes : ndarray of int32, shape (n_samples,)
        ``codes[i]`` indexes ``labels``.
    labels : tuple of str
        Label of each group: attribute values joined by ``" / "``, with values that contain
        the separator quoted (:func:`group_label`), so labels are unique.
    values : tuple of tuple of str
        The attribute values of each group, aligned with ``grouping.attributes``.
    grouping : Grouping
    """

    codes: np.ndarray
    labels: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]
    grouping: Grouping

    @property
    def n_groups(self) -> int:
        return len(self.labels)

    def index_of(self, label: str | Sequence[str], name: str = "group") -> int:
        """Index of a group given its label (``"F / black"``) or its values (``("F", "black")``).

        See :func:`find_group`: an unknown or ambiguous name is a :class:`ConfigError` (naming
        the parameter ``name``).
        """
        return find_group(label, self.labels, self.values, name)


def _bin_label(edges: tuple[float, ...], k: int) -> str:
    def f(x: float) -> str:
        return f"{x:g}"

    if k == 0:
        return f"<{f(edges[0])}"
    if k == len(edges):
        return f"≥{f(edges[-1])}"
    lo, hi = edges[k - 1], edges[k]
    return (
        f"{f(lo)}–{f(hi - 1)}"
        if float(lo).is_integer() and float(hi).is_integer()
        else f"[{f(lo)}, {f(hi)})"
    )


def normalise_value(v: object) -> str:
    """An attribute value as a stripped string; a missing one (None, NaN, "", "na", ...) is
    :data:`UNKNOWN`."""
    if v is None:
        return UNKNOWN
    if isinstance(v, float) and math.isnan(v):
        return UNKNOWN
    s = str(v).strip()
    return UNKNOWN if s.lower() in _MISSING_STRINGS else s


# ---------------------------------------------------------------------- group labels
def group_label(values: Sequence[str]) -> str:
    """The display label of a group: its attribute values joined by :data:`LABEL_SEPARATOR`.

    Documented rule that keeps labels unique: with two or more attributes, a value that
    contains ``" /"`` or ``"/ "`` (so it could be mistaken for the separator) or starts with
    ``'"'`` is written in double quotes, with inner quotes doubled (as in CSV)::

        ("M", "Black / African American")  ->  'M / "Black / African American"'
        ("F", "white")                     ->  'F / white'
        ("Black / African American",)      ->  'Black / African American'  (one attribute)

    No value is ever rejected or changed for this; ``values`` keeps the raw values.
    """
    if len(values) == 1:
        return str(values[0])

    def quote(v: str) -> str:
        if " /" in v or "/ " in v or v.startswith('"'):
            return '"' + v.replace('"', '""') + '"'
        return v

    return LABEL_SEPARATOR.join(quote(str(v)) for v in values)


def find_group(
    group: str | Sequence[str],
    labels: Sequence[str],
    values: Sequence[tuple[str, ...]],
    name: str = "group",
) -> int:
    """Index of a group given by its label or its tuple of values; ambiguity is an error.

    ``name`` is the parameter the messages name (``"reference_group"``).

    A string is first looked up among the labels (:func:`group_label`, unique). A string that
    is no label but equals the *unquoted* join of the values of exactly one group (as a user
    may type ``"M / Black / African American"``) names that group; if it is the unquoted join
    of several groups, it is ambiguous and refused.

    Raises
    ------
    ConfigError
        No such group, or an ambiguous name (the message lists the candidates' labels).
    """
    if isinstance(group, str):
        if group in labels:
            return list(labels).index(group)
        hits = [i for i, v in enumerate(values) if LABEL_SEPARATOR.join(v) == group]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ConfigError(
                f"{name} {group!r} is ambiguous: it could be any of "
                f"{[labels[i] for i in hits]} (attribute values that contain ' / ' are "
                "quoted in group labels); give one of these labels"
            )
    else:
        key = tuple(str(v) for v in group)
        if key in values:
            return list(values).index(key)
    shown = [shorten(str(x), 80) for x in labels]
    raise ConfigError(f"{name} must be one of {shown}; got {group!r}")


def read_table(path: Path, what: str) -> pd.DataFrame:
    """Read a CSV/TSV (all columns as text) or Parquet table; every failure is a ManifestError.

    Only a regular file is read (never a FIFO or device); a CSV must be UTF-8 (a byte-order
    mark is allowed), and one that is not is refused naming the line and byte.
    """
    from ._io import check_input_file, utf8_problem

    check_input_file(path, what, ManifestError)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: {utf8_problem(path) or exc}") from exc
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ManifestError(f"{path}: cannot parse {what} ({exc})") from exc


def _relative_text(p: Path, dest: str) -> str:
    """``p`` relative to the folder ``dest`` (real paths, so ``..`` means what it says)."""
    real = os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(p))), p.name)
    try:
        rel = os.path.relpath(real, dest)
    except ValueError:  # no relative path (another drive)
        rel = real
    return path_to_text(Path(rel).as_posix() if os.sep != "/" else rel)


def is_missing_label(values: Sequence[str] | str) -> bool:
    """True for a group defined by a missing attribute value (:data:`UNKNOWN`).

    ``values`` are the group's attribute values, or its display label (values joined by
    ``" / "``). Such a group is missing data, not a demographic group.
    """
    vals = values.split(" / ") if isinstance(values, str) else list(values)
    return UNKNOWN in vals


class Manifest:
    """A validated table of samples (see the module docstring for the columns).

    Parameters
    ----------
    samples : DataFrame
        One row per sample with ``sample_id``, ``subject_id``, optional ``path`` and attribute
        columns. Values are converted to strings; missing attributes become :data:`UNKNOWN`.
    attributes : sequence of str, optional
        The attribute columns; by default every column that is not reserved.
    categories : mapping of str to sequence of str, optional
        Declared categories per attribute; a value outside them is an error (naming the row).
    root : path, optional
        Folder that relative ``path`` values are resolved against.
    source : str
        Where the table came from, used in error messages.

    Raises
    ------
    ManifestError
        Missing columns, duplicate ``sample_id``, empty ``subject_id`` or an undeclared
        category; the message names the source and the 1-based data row.
    """

    def __init__(
        self,
        samples: pd.DataFrame,
        *,
        attributes: Sequence[str] | None = None,
        categories: Mapping[str, Sequence[str]] | None = None,
        root: str | Path | None = None,
        source: str = "<DataFrame>",
    ) -> None:
        self.source = source
        self.root = Path(root) if root is not None else None
        df = samples.reset_index(drop=True).copy()
        for col in REQUIRED_COLUMNS:
            if col not in df.columns:
                raise ManifestError(
                    f"{source}: {MSG_MISSING_COLUMN} {col!r}; columns are {list(df.columns)}"
                )
        if attributes is None:
            attributes = [c for c in df.columns if c not in RESERVED_COLUMNS]
        for a in attributes:
            if a not in df.columns:
                raise ManifestError(
                    f"{source}: attribute column {a!r} not found; columns are {list(df.columns)}"
                )
            if a in RESERVED_COLUMNS:
                raise ManifestError(f"{source}: {a!r} is reserved and cannot be an attribute")
        self.attributes: tuple[str, ...] = tuple(attributes)

        converted: dict[str, list[object]] = {
            col: [
                None if (isinstance(v, float) and math.isnan(v)) or v is None else str(v).strip()
                for v in df[col]
            ]
            for col in ("sample_id", "subject_id")
        }
        if "path" in df.columns:
            converted["path"] = [
                None if (isinstance(v, float) and math.isnan(v)) or v is None else str(v)
                for v in df["path"]
            ]
        for a in self.attributes:
            converted[a] = [normalise_value(v) for v in df[a]]
        check_fields({str(c): converted.get(c, ()) for c in df.columns}, source)
        for col in ("sample_id", "subject_id"):
            df[col] = converted[col]
        empty = [i for i, v in enumerate(df["subject_id"]) if not v]
        if empty:
            raise ManifestError(
                f"{source}: {MSG_EMPTY_SUBJECT} in data row {empty[0] + 1}"
                f"{f' (and {len(empty) - 1} more)' if len(empty) > 1 else ''}; "
                "every sample needs a subject"
            )
        empty = [i for i, v in enumerate(df["sample_id"]) if not v]
        if empty:
            raise ManifestError(f"{source}: empty sample_id in data row {empty[0] + 1}")
        dup = df["sample_id"].duplicated(keep="first")
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            first = int(np.flatnonzero((df["sample_id"] == df["sample_id"].iloc[i]).to_numpy())[0])
            raise ManifestError(
                f"{source}: {MSG_DUPLICATE_SAMPLE} {df['sample_id'].iloc[i]!r} in data rows "
                f"{first + 1} and {i + 1}; sample ids must be unique"
            )
        if "path" in df.columns:
            df["path"] = converted["path"]
        for a in self.attributes:
            df[a] = converted[a]
        if categories:
            for a, allowed in categories.items():
                if a not in self.attributes:
                    raise ManifestError(
                        f"{source}: categories declared for unknown attribute {a!r}"
                    )
                ok = set(map(str, allowed)) | {UNKNOWN}
                bad = [i for i, v in enumerate(df[a]) if v not in ok]
                if bad:
                    raise ManifestError(
                        f"{source}: data row {bad[0] + 1}: {a}={df[a].iloc[bad[0]]!r} "
                        "is not one of "
                        f"the declared categories {sorted(ok)}"
                    )
        self._df = df
        self._subject_ids, self._subject_codes = np.unique(
            df["subject_id"].to_numpy(dtype=str), return_inverse=True
        )
        self._subject_codes = self._subject_codes.astype(np.int32)

    # ------------------------------------------------------------------ construction
    @classmethod
    def read(
        cls,
        path: str | Path,
        *,
        attributes: Sequence[str] | None = None,
        categories: Mapping[str, Sequence[str]] | None = None,
        root: str | Path | None = None,
    ) -> Manifest:
        """Read a manifest from CSV (``.csv``, ``.tsv``) or Parquet (``.parquet``).

        Relative image paths are resolved against ``root`` (default: the file's folder).
        """
        path = Path(path)
        df = read_table(path, "manifest")
        return cls(
            df,
            attributes=attributes,
            categories=categories,
            root=root if root is not None else path.parent,
            source=str(path),
        )

    def write(self, path: str | Path) -> None:
        """Write the manifest atomically as CSV or Parquet (by extension).

        The file reads back to the same images, because ``Manifest.read`` resolves relative
        paths against the file's own folder:

        - with a ``root``, relative paths are written **relative to the folder of the written
          file** (so ``Manifest.read(path)`` and ``faceaudit embed path`` find every image
          from wherever the file is read, as long as file and images keep their places;
          absolute only where no relative path exists, e.g. another drive);
        - absolute paths, and relative paths of a manifest without ``root`` (not tied to any
          folder), are written as they are.

        Paths that are not UTF-8 are written with :func:`path_to_text`.
        """
        from ._io import atomic_write

        path = Path(path)
        df = self._df
        if "path" in df.columns and self.root is not None:
            dest = os.path.realpath(path.parent if str(path.parent) else ".")
            df = df.copy()
            df["path"] = [
                p if not isinstance(p, str) or not p or Path(text_to_path(p)).is_absolute()
                else _relative_text(self.root / text_to_path(p), dest)
                for p in df["path"]
            ]
        with atomic_write(path) as fh:
            if path.suffix.lower() in (".parquet", ".pq"):
                df.to_parquet(fh, index=False)
            else:
                fh.write(df.to_csv(index=False).encode())

    # ------------------------------------------------------------------ accessors
    @property
    def samples(self) -> pd.DataFrame:
        """A copy of the sample table."""
        return self._df.copy()

    def __len__(self) -> int:
        return len(self._df)

    def __repr__(self) -> str:
        return (
            f"Manifest({len(self)} samples, {self.n_subjects} subjects, "
            f"attributes={list(self.attributes)}, source={self.source!r})"
        )

    @property
    def sample_ids(self) -> np.ndarray:
        """Sample ids in row order (str array)."""
        return self._df["sample_id"].to_numpy(dtype=str)

    @property
    def subject_ids(self) -> np.ndarray:
        """The distinct subject ids, sorted (str array); ``subject_codes`` index it."""
        return self._subject_ids

    @property
    def subject_codes(self) -> np.ndarray:
        """int32 code of each sample's subject, indexing :attr:`subject_ids`."""
        return self._subject_codes

    @property
    def n_subjects(self) -> int:
        return len(self._subject_ids)

    def paths(self) -> list[Path | None]:
        """Image path of each sample: ``root / path`` for a relative ``path`` (None where the
        manifest has no path). ``file:`` values are decoded (:func:`text_to_path`)."""
        if "path" not in self._df.columns:
            return [None] * len(self)
        out: list[Path | None] = []
        for p in self._df["path"]:
            if not isinstance(p, str) or not p:  # None / NaN (pandas 3 stores None as NaN)
                out.append(None)
            else:
                q = Path(text_to_path(p))
                out.append(q if q.is_absolute() or self.root is None else self.root / q)
        return out

    def groups(self, grouping: Grouping | str | Sequence[str] | None = None) -> GroupAssignment:
        """Assign every sample to a group of ``grouping`` (see :class:`Grouping`).

        Groups are sorted by their values, with :data:`UNKNOWN` last within each attribute.
        """
        grouping = Grouping.parse(grouping)
        for a in grouping.attributes:
            if a not in self.attributes:
                raise ConfigError(
                    f"grouping attribute must be one of {list(self.attributes)}; got {a!r}"
                )
        if not grouping.attributes:
            return GroupAssignment(np.zeros(len(self), np.int32), ("all",), ((),), grouping)
        cols: list[list[str]] = []
        for a in grouping.attributes:
            vals = list(self._df[a])
            if a in grouping.bins:
                edges = grouping.bins[a]
                binned = []
                for v in vals:
                    try:
                        x = float(v)
                    except ValueError:
                        binned.append(UNKNOWN)
                        continue
                    binned.append(
                        UNKNOWN
                        if math.isnan(x)
                        else _bin_label(edges, int(np.searchsorted(edges, x, side="right")))
                    )
                vals = binned
            cols.append(vals)
        keys = list(zip(*cols, strict=True))

        def order(a_idx: int, v: str) -> tuple[int, float, str]:
            a = grouping.attributes[a_idx]
            if v == UNKNOWN:
                return (2, 0.0, v)
            if a in grouping.bins:
                edges = grouping.bins[a]
                labels = [_bin_label(edges, k) for k in range(len(edges) + 1)]
                return (0, float(labels.index(v)), v)
            return (1, 0.0, v)

        distinct = sorted(set(keys), key=lambda t: tuple(order(i, v) for i, v in enumerate(t)))
        index = {k: i for i, k in enumerate(distinct)}
        codes = np.fromiter((index[k] for k in keys), dtype=np.int32, count=len(keys))
        labels = tuple(group_label(k) for k in distinct)
        return GroupAssignment(codes, labels, tuple(distinct), grouping)

    def subset(self, mask: np.ndarray | Sequence[bool]) -> Manifest:
        """A new manifest with the rows where ``mask`` is True (order kept)."""
        m = np.asarray(mask, dtype=bool)
        return Manifest(self._df[m], attributes=self.attributes, root=self.root, source=self.source)

    def describe(self, grouping: Grouping | str | Sequence[str] | None = None) -> pd.DataFrame:
        """Samples and subjects per group: a DataFrame indexed by group label."""
        ga = self.groups(grouping)
        df = pd.DataFrame(
            {"group": np.asarray(ga.labels)[ga.codes], "subject": self._subject_codes}
        )
        out = df.groupby("group", sort=False).agg(
            n_samples=("subject", "size"), n_subjects=("subject", "nunique")
        )
        return out.reindex(list(ga.labels))
