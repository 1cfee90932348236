"""``run_audit``: one call from a dataset (or a vendor's score file) to a checked report folder.

Stages (each reported through ``progress`` and timed):

1. **data** — the manifest: a dataset adapter (:func:`faceaudit.datasets.load_dataset`) or a
   manifest file; ``limit`` keeps a seeded subset of whole subjects for a quick try.
2. **embed** — templates from the images (:func:`faceaudit.pipeline.embed_manifest`, reusing
   the persistent template store), unless a vendor score file is given.
3. **score** — the :class:`~faceaudit.ScoreSummary` (:func:`faceaudit._scorer.score_templates`
   or :func:`faceaudit._vendor.read_scores`), cached in ``cache_dir`` under a sha256 of
   everything that shapes it (templates, manifest, grouping, protocol, faceaudit version).
4. **metrics** — :class:`faceaudit.metrics.AuditResult` at one global threshold (fixed, or
   the one giving ``target_fmr`` on the reference group), with bootstrap intervals.
5. **identification** — 1:N FPIR/FNIR against gallery size (:mod:`faceaudit.identify`),
   when enabled and available.
6. **report** — figures (PNG + SVG), ``results.json`` + CSV tables, ``report.html``,
   ``config.resolved.toml`` and ``manifest.csv``, all written atomically.

The configuration is an :class:`AuditConfig`, built from CLI flags or read from TOML
(:meth:`AuditConfig.from_toml`)::

    [dataset]
    name = "lfw"                 # registered name, image folder or manifest file
    data_dir = "/data/lfw"       # optional; else $FACEAUDIT_LFW, else the data home
    limit = 0                    # 0 = everything; N = seeded subset of whole subjects

    [model]
    embedder = "dlib"            # "dlib", "sface", "fake" or a path to an .onnx file
    detector = "centerface"
    store = "/path/to/store"     # template store (resumable, shared); default: the audit cache
    workers = 2

    [scores]                     # instead of [model]: a vendor's comparison scores
    file = "vendor.csv"
    manifest = "manifest.csv"
    distance = false             # true if lower scores mean more alike
    on_error = "raise"           # or "exclude": skip and count malformed rows

    [analysis]
    group_by = ["gender", "ancestry"]
    reference_group = "M / caucasian"
    target_fmr = 1e-3            # or: threshold = -0.6
    impostors = "all"
    n_boot = 200
    seed = 0

    [identification]
    enabled = true

    [output]
    dir = "audit-out"

Conventions: scores are similarities; a comparison is accepted iff ``score >= threshold``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import tomllib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ConfigError, check_option, check_range
from ._manifest import Grouping, Manifest
from ._summary import ENGINE_VERSION, ScoreSummary
from ._summary import FORMAT_VERSION as SUMMARY_FORMAT
from .pipeline._embed import BUILTIN_EMBEDDERS
from .report import _format as F
from .report._findings import _is_missing_label

Progress = Callable[[str, str], None]
"""``progress(stage, message)``: called when a stage starts and ends."""

STAGES = ("data", "embed", "score", "metrics", "identification", "report")
IMPOSTOR_MODES = ("all", "matched")
MIN_PEOPLE = 10
"""A group with fewer people than this is flagged thin in the report (besides metrics' rule)."""
MAX_FIGURE_GROUPS = 12
"""Figures draw at most this many groups (tables and files keep every group)."""
MIN_SEARCHES = 30
"""A 1:N figure resting on fewer searches than this is flagged thin."""

_SECTIONS: dict[str, dict[str, str]] = {
    "dataset": {
        "name": "dataset",
        "data_dir": "data_dir",
        "limit": "limit",
        "labels": "labels",
        "labels_by": "labels_by",
    },
    "model": {
        "embedder": "model",
        "detector": "detector",
        "face_policy": "face_policy",
        "store": "store",
        "workers": "workers",
    },
    "scores": {
        "file": "scores",
        "manifest": "manifest",
        "distance": "scores_distance",
        "on_error": "on_error",
    },
    "analysis": {
        "group_by": "group_by",
        "reference_group": "reference_group",
        "target_fmr": "target_fmr",
        "threshold": "threshold",
        "impostors": "impostors",
        "n_boot": "n_boot",
        "seed": "seed",
        "exact_fmr": "exact_fmr",
        "confidence": "confidence",
    },
    "identification": {"enabled": "identification"},
    "output": {"dir": "out", "cache_dir": "cache_dir"},
}


@dataclass
class AuditConfig:
    """Everything an audit needs; every field has a default except the data source.

    Give either ``dataset`` (images, with ``model``) or ``scores`` + ``manifest`` (a vendor's
    comparison scores; no model runs).

    Parameters
    ----------
    dataset : str, optional
        A registered dataset (``"lfw"``, ``"frll"``), an image folder, or a manifest file.
    data_dir : str, optional
        Folder of a registered dataset.
    labels : str, optional
        For an image folder: a CSV of attributes keyed by subject (``subject_id``) or by image
        (``sample_id``, the path relative to the folder), see ``labels_by``.
    labels_by : {"subject", "image"}
        What a row of ``labels`` describes.
    limit : int
        0 for everything; else keep whole subjects (seeded order, subjects with two or more
        images first) until ``limit`` samples.
    model : str
        ``"dlib"``, ``"sface"``, ``"fake"`` (tests) or a path to an ``.onnx`` file.
    detector : str
        Face detector of the pipeline (``"centerface"``, ``"hog"``, ``"none"``).
    face_policy : {"largest", "central", "fail"}, optional
        Which face to enrol when a photo shows several (default: the pipeline's).
    store : str, optional
        Template store folder (default: ``<cache_dir>/store``).
    workers : int
        Worker processes/threads for embedding and scoring (results do not depend on it).
    scores, manifest : str, optional
        Vendor score file and the manifest its sample ids refer to.
    scores_distance : bool
        The vendor's scores are distances (lower = more alike); they are negated.
    on_error : {"raise", "exclude"}
        A malformed score row stops the audit (naming file and line), or is excluded and
        counted by reason in the report.
    group_by : list of str
        Attribute columns whose combinations form the groups (``"age:30:45"`` bins a number).
    reference_group : str, optional
        Label (``"M / caucasian"``) of the group that sets the threshold and that ratios divide
        by. Default: none (threshold over all same-group impostor pairs; no ratios).
    target_fmr : float
        Threshold rule: the smallest threshold whose FMR on the reference group is at most this.
    threshold : float, optional
        A fixed threshold instead (accepted iff ``score >= threshold``; dlib's distance 0.6 is
        ``-0.6``).
    impostors : {"all", "matched"}
        All cross-subject pairs, or only same-group ones (faster; no cross-group matrix).
    n_boot : int
        Bootstrap replicates over people for the intervals of ratios (0 = none).
    seed : int
        Seed of the bootstrap, the subset and any sampling.
    exact_fmr : float
        The score summary keeps impostor scores exactly down to this FMR in every cell.
    confidence : float
        Level of the Clopper–Pearson intervals.
    identification : bool
        Run the 1:N analysis when :mod:`faceaudit.identify` is available.
    out : str
        Output folder.
    cache_dir : str, optional
        Cache of score summaries and (unless ``store`` is given) the template store. Default
        ``$FACEAUDIT_CACHE``, else ``<data home>/audit-cache`` (``~/.cache/faceaudit``): never
        inside ``out``, so that the report folder can be shared without biometric templates.
    """

    dataset: str | None = None
    data_dir: str | None = None
    labels: str | None = None
    labels_by: str = "subject"
    limit: int = 0
    model: str = "dlib"
    detector: str = "centerface"
    face_policy: str | None = None
    store: str | None = None
    workers: int = 2
    scores: str | None = None
    manifest: str | None = None
    scores_distance: bool = False
    on_error: str = "raise"
    group_by: list[str] = field(default_factory=list)
    reference_group: str | None = None
    target_fmr: float = 1e-3
    threshold: float | None = None
    impostors: str = "all"
    n_boot: int = 200
    seed: int = 0
    exact_fmr: float = 1e-3
    confidence: float = 0.95
    identification: bool = True
    out: str = "audit-out"
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check every field; raise :class:`ConfigError` naming the field and what is allowed."""
        if self.scores is None and self.dataset is None and self.manifest is None:
            raise ConfigError(
                "dataset must be given (a name such as 'lfw', a folder or a manifest "
                "file), or scores + manifest for a vendor score file; got neither"
            )
        if self.scores is not None and self.manifest is None:
            raise ConfigError(
                "manifest must be given with scores (the samples the score file "
                "names); got scores without manifest"
            )
        if isinstance(self.group_by, str):
            self.group_by = [g.strip() for g in self.group_by.split(",") if g.strip()]
        self.group_by = [str(g) for g in self.group_by]
        for name in ("limit", "workers", "n_boot", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ConfigError(f"{name} must be an integer; got {v!r}")
        check_range("limit", self.limit, low=0)
        check_range("workers", self.workers, low=1, high=256)
        check_range("n_boot", self.n_boot, low=0, high=100_000)
        check_range("seed", self.seed, low=0)
        check_range("target_fmr", self.target_fmr, low=0.0, high=1.0, low_open=True)
        check_range("exact_fmr", self.exact_fmr, low=0.0, high=1.0, low_open=True)
        check_range("confidence", self.confidence, low=0.0, high=1.0, low_open=True, high_open=True)
        if self.threshold is not None:
            check_range("threshold", self.threshold)
        check_option("impostors", self.impostors, IMPOSTOR_MODES)
        check_option("on_error", self.on_error, ("raise", "exclude"))
        check_option("labels_by", self.labels_by, ("subject", "image"))
        if self.face_policy is not None:
            check_option("face_policy", self.face_policy, ("largest", "central", "fail"))
        if not isinstance(self.scores_distance, bool):
            raise ConfigError(
                f"scores_distance must be true or false; got {self.scores_distance!r}"
            )
        if not isinstance(self.identification, bool):
            raise ConfigError(f"identification must be true or false; got {self.identification!r}")
        if not str(self.out):
            raise ConfigError("out must be a folder path; got ''")
        Grouping.parse(self.group_by)  # checks bin syntax

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<config>") -> AuditConfig:
        """Build from the TOML layout (sections) or a flat mapping of field names."""
        names = {f.name for f in dataclasses.fields(cls)}
        flat: dict[str, Any] = {}
        for key, value in data.items():
            if key in _SECTIONS and isinstance(value, Mapping):
                for sub, v in value.items():
                    if sub not in _SECTIONS[key]:
                        raise ConfigError(
                            f"{source}: [{key}] {sub} must be one of "
                            f"{sorted(_SECTIONS[key])}; got {sub!r}"
                        )
                    flat[_SECTIONS[key][sub]] = v
            elif key in names:
                flat[key] = value
            else:
                raise ConfigError(
                    f"{source}: key must be one of the sections {sorted(_SECTIONS)} "
                    f"or a field {sorted(names)}; got {key!r}"
                )
        try:
            return cls(**flat)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
        except TypeError as exc:  # pragma: no cover - guarded by the name check above
            raise ConfigError(f"{source}: {exc}") from exc

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> AuditConfig:
        """Read a TOML file; relative paths in it are resolved against its folder.

        ``overrides`` (field names, ``None`` ignored) take precedence, as CLI flags do.
        """
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file must exist; got {str(path)!r}")
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
        cfg = cls.from_mapping(data, source=str(path))
        base = path.resolve().parent
        for name in ("data_dir", "labels", "store", "scores", "manifest", "out", "cache_dir"):
            v = getattr(cfg, name)
            if v is not None and not Path(v).expanduser().is_absolute():
                setattr(cfg, name, str(base / v))
        if cfg.dataset is not None and _looks_like_path(cfg.dataset):
            p = Path(cfg.dataset).expanduser()
            if not p.is_absolute():
                cfg.dataset = str(base / p)
        return cfg.replace(**{k: v for k, v in overrides.items() if v is not None})

    def replace(self, **changes: Any) -> AuditConfig:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def resolved(self) -> AuditConfig:
        """A copy with every path made absolute (so the saved config re-runs from anywhere)."""
        changes: dict[str, Any] = {}
        for name in ("data_dir", "labels", "store", "scores", "manifest", "out", "cache_dir"):
            v = getattr(self, name)
            if v is not None:
                changes[name] = str(Path(v).expanduser().resolve())
        if self.dataset is not None and _looks_like_path(self.dataset):
            changes["dataset"] = str(Path(self.dataset).expanduser().resolve())
        if self.model not in BUILTIN_EMBEDDERS:
            changes["model"] = str(Path(self.model).expanduser().resolve())
        return self.replace(**changes)

    def to_mapping(self) -> dict[str, dict[str, Any]]:
        """The TOML layout (sections), ``None`` values left out."""
        out: dict[str, dict[str, Any]] = {}
        for sec, keys in _SECTIONS.items():
            d = {k: getattr(self, f) for k, f in keys.items() if getattr(self, f) is not None}
            if d:
                out[sec] = d
        return out


def _looks_like_path(s: str) -> bool:
    from .datasets import available_datasets

    return s.lower() not in available_datasets() and s.lower() not in ("frl-london", "frl_london")


# ---------------------------------------------------------------------------------- TOML
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)  # a TOML basic string is a JSON string


def dumps_toml(data: Mapping[str, Any]) -> str:
    """TOML text of a mapping of sections (``{"section": {"key": value}}``) and scalars.

    Values: bool, int, float, str, lists of these, nested mappings (written as sub-tables);
    ``None`` is left out. Round-trips through :mod:`tomllib`.
    """
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, Mapping) and v is not None}
    for k, v in scalars.items():
        lines.append(f"{json.dumps(str(k))} = {_toml_value(v)}")

    def table(prefix: str, m: Mapping[str, Any]) -> None:
        if lines:
            lines.append("")
        lines.append(f"[{prefix}]")
        subs = []
        for k, v in m.items():
            if v is None:
                continue
            if isinstance(v, Mapping):
                subs.append((k, v))
            else:
                lines.append(f"{json.dumps(str(k))} = {_toml_value(v)}")
        for k, v in subs:
            table(f"{prefix}.{json.dumps(str(k))}", v)

    for k, v in data.items():
        if isinstance(v, Mapping):
            table(json.dumps(str(k)), v)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- output
@dataclass
class AuditOutput:
    """What :func:`run_audit` produced.

    Attributes
    ----------
    folder : Path
        The output folder.
    results : dict
        The content of ``results.json``.
    files : dict of str to Path
        Every file written (``report``, ``results``, ``config``, ``manifest``, tables and
        figures ``<name>_png`` / ``<name>_svg``).
    summary : ScoreSummary
    audit : AuditResult
    timings : dict of str to float
        Seconds per stage.
    cache_hit : bool
        True when the score summary came from the cache.
    """

    folder: Path
    results: dict[str, Any]
    files: dict[str, Path]
    summary: ScoreSummary
    audit: Any
    timings: dict[str, float]
    cache_hit: bool = False

    @property
    def report(self) -> Path:
        return self.files["report"]

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.results.get("findings") or [])


# ---------------------------------------------------------------------------------- helpers
def default_cache_dir(path: str | None = None) -> Path:
    """``path``, else ``$FACEAUDIT_CACHE``, else ``<data home>/audit-cache``."""
    import os

    from .datasets import data_home

    if path:
        return Path(path).expanduser()
    env = os.environ.get("FACEAUDIT_CACHE")
    return Path(env).expanduser() if env else data_home() / "audit-cache"


def _subset(manifest: Manifest, limit: int, seed: int) -> Manifest:
    """Whole subjects in a seeded order (two or more samples first), at most ``limit`` samples.

    A subject whose samples do not fit in what is left is skipped, never cut.
    """
    if limit <= 0 or limit >= len(manifest):
        return manifest
    codes = manifest.subject_codes
    counts = np.bincount(codes, minlength=manifest.n_subjects)
    keys = [hashlib.sha256(f"{seed}:{s}".encode()).hexdigest() for s in manifest.subject_ids]
    order = sorted(range(manifest.n_subjects), key=lambda i: (counts[i] < 2, keys[i]))
    keep = np.zeros(manifest.n_subjects, bool)
    total = 0
    for i in order:
        if total + counts[i] > limit:
            continue  # a person with more photos than fit is skipped, never cut
        keep[i] = True
        total += int(counts[i])
        if total == limit:
            break
    if total == 0:  # every person has more photos than the limit: keep the smallest one
        keep[int(np.argmin(counts))] = True
    return manifest.subset(keep[codes])


def templates_digest(t: Any) -> str:
    """sha256 of a Templates' ids, statuses, vectors, model id and similarity."""
    h = hashlib.sha256()
    for part in (t.sample_ids, t.status):
        h.update("\x00".join(map(str, part)).encode())
        h.update(b"\x01")
    h.update(np.ascontiguousarray(t.vectors, dtype=np.float32).tobytes())
    h.update(f"{t.model_id}\x00{t.similarity}".encode())
    return h.hexdigest()


def _manifest_digest(m: Manifest) -> str:
    return hashlib.sha256(m.samples.to_csv(index=False).encode()).hexdigest()


def _catch(fn: Callable[[], Any], sink: list[str]) -> Any:
    """Run ``fn`` recording (not raising) the warnings it emits."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn()
    for w in rec:
        msg = f"{w.category.__name__}: {w.message}"
        if msg not in sink:
            sink.append(msg)
    return out


def _f(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


DATASET_NOTES = {
    "lfw": [
        (
            "Labeled Faces in the Wild (deep-funneled; Huang et al. 2007, 2012): 13,233 press "
            "photos of 5,749 public figures, collected from news sites. Research use only."
        ),
        (
            "LFW is heavily skewed towards White men, mostly middle-aged; women and non-White "
            "groups are small, so their intervals are wide."
        ),
        (
            "Gender labels are per image (Afifi & Abdelhamed 2017, manually verified lists); 5 "
            "images are in both lists ('ambiguous') and 4 in neither ('unknown')."
        ),
        (
            "Ancestry labels cover only 866 of the 5,749 people: USC SAIL's per-identity labels "
            "come from IMDb-style ancestry metadata, not from the images. Everyone else is "
            "'unknown', which is not a demographic group but missing data; a person listed with "
            "several ancestries is 'multiple'."
        ),
        (
            "Photos of one person often come from one event, and pairs include near-duplicates: "
            "genuine scores may be optimistic compared with operational data."
        ),
    ],
    "frll": [
        (
            "Face Research Lab London Set (DeBruine & Jones 2017, CC BY 4.0, "
            "doi:10.6084/m9.figshare.5047666.v5): 102 consenting adults photographed in London in"
            " 2012, a neutral and a smiling frontal photo each (resized to 675×675 here)."
        ),
        (
            "Labels (age, gender, ethnicity) are self-reported. Non-White groups have only 4–8 "
            "people per gender: every per-group figure for them is thin."
        ),
        (
            "Both photos of a person come from one studio session, differing only in expression: "
            "genuine scores are optimistic compared with operational data."
        ),
    ],
}


def _dataset_key(name: str | None) -> str | None:
    if name is None:
        return None
    k = name.lower()
    return {"frl-london": "frll", "frl_london": "frll"}.get(k, k)


# ---------------------------------------------------------------------------------- stages
def _load_data(cfg: AuditConfig, inputs: dict[str, Any], notes: list[str]) -> tuple[Manifest, str]:
    """The manifest of the audit and a display name of its dataset; records input checksums."""
    from .datasets import available_datasets, load_dataset
    from .report._results import file_record

    key = _dataset_key(cfg.dataset)
    if cfg.scores is not None or (cfg.dataset is None and cfg.manifest is not None):
        path = Path(cfg.manifest)  # type: ignore[arg-type]
        manifest = Manifest.read(path)
        inputs["manifest"] = file_record(path)
        return manifest, path.name
    assert cfg.dataset is not None
    if key in available_datasets():
        manifest, rep = load_dataset(key, data_dir=cfg.data_dir, with_report=True)
        name = key.upper()
    else:
        if cfg.data_dir is not None:
            raise ConfigError(
                f"data_dir must be empty when dataset is a path; got {cfg.data_dir!r}"
            )
        p = Path(cfg.dataset)
        opts: dict[str, Any] = {}
        if cfg.labels is not None:
            if not p.is_dir():
                raise ConfigError(
                    "labels must be empty when dataset is a manifest file (its "
                    f"columns are the labels); got {cfg.labels!r}"
                )
            opts = {"labels": cfg.labels, "labels_by": cfg.labels_by}
            inputs["labels"] = file_record(cfg.labels)
        manifest, rep = load_dataset(p, with_report=True, **opts)
        name = p.name
        if p.is_file():
            inputs["manifest"] = file_record(p)
    notes.extend(str(n) for n in getattr(rep, "notes", ()) or ())
    ignored = getattr(rep, "ignored", None) or {}
    for reason, files in ignored.items():
        notes.append(f"{len(files)} file(s) left out of the dataset: {reason}.")
    return manifest, name


def _model_inputs(cfg: AuditConfig, inputs: dict[str, Any]) -> None:
    from .report._results import file_record

    if cfg.model not in BUILTIN_EMBEDDERS:
        inputs["model"] = file_record(cfg.model)
    elif cfg.model == "dlib":
        try:
            import face_recognition_models  # type: ignore[import-untyped]

            d = Path(face_recognition_models.__file__).parent / "models"
            for fname in (
                "dlib_face_recognition_resnet_model_v1.dat",
                "shape_predictor_5_face_landmarks.dat",
            ):
                if (d / fname).is_file():
                    inputs[f"model:{fname}"] = file_record(d / fname)
        except ImportError:
            pass
    elif cfg.model == "sface":
        from .pipeline._sface import sface_model_path

        path = sface_model_path()
        if path.is_file():
            inputs[f"model:{path.name}"] = file_record(path)


def _group_records(audit: Any, summary: ScoreSummary, confidence: float) -> list[dict[str, Any]]:
    """Map :class:`AuditResult` rows to the report's :data:`GROUP_FIELDS` (values copied as-is)."""
    from .metrics import clopper_pearson

    d = audit.to_dict()
    q = d.get("ci_quantiles") or [0.025, 0.975]
    qlo, qhi = f"{q[0]:g}", f"{q[-1]:g}"
    rows = []
    for i, g in enumerate(d["groups"]):
        in_g = summary.group_codes == i
        n_samples = int(in_g.sum())
        n_fte = int((~summary.enrolled[in_g]).sum())
        lo, hi = (
            clopper_pearson(n_fte, n_samples, confidence) if n_samples else (math.nan, math.nan)
        )
        reason = str(g.get("thin_reason") or "")
        fmr_reasons = [reason.removeprefix("thin: ")] if reason else []  # metrics' FMR rule
        fnmr_reasons = []
        n_people = int(g.get("n_subjects") or 0)
        if n_people < MIN_PEOPLE:
            who = "person" if n_people == 1 else "people"
            few = f"only {n_people} {who} (fewer than {MIN_PEOPLE})"
            fmr_reasons.append(few)
            fnmr_reasons.append(few)
        if int(g.get("n_mated") or 0) == 0:
            fnmr_reasons.append("no genuine pairs")
        thin_reasons = list(dict.fromkeys(fmr_reasons + fnmr_reasons))
        rec = {
            "group": g["label"],
            "values": dict(
                zip(
                    summary.grouping.attributes or ("group",),
                    g["values"] or [g["label"]],
                    strict=False,
                )
            ),
            "n_subjects": g.get("n_subjects"),
            "n_samples": n_samples,
            "n_fte": n_fte,
            "fte": g.get("fte"),
            "fte_lo": float(lo),
            "fte_hi": float(hi),
            "n_mated": g.get("n_mated"),
            "n_false_non_match": g.get("false_non_matches"),
            "fnmr": g.get("fnmr"),
            "fnmr_lo": g.get("fnmr_ci_low"),
            "fnmr_hi": g.get("fnmr_ci_high"),
            "n_nonmated": g.get("n_nonmated"),
            "n_false_match": g.get("false_matches"),
            "fmr": g.get("fmr"),
            "fmr_lo": g.get("fmr_ci_low"),
            "fmr_hi": g.get("fmr_ci_high"),
            "fmr_exact": g.get("fmr_exact"),
            "fta": g.get("fta"),
            "far": g.get("far"),
            "frr": g.get("frr"),
            "fmr_ratio": g.get("fmr_ratio_to_reference"),
            "fmr_ratio_lo": g.get(f"fmr_ratio_to_reference_boot_q{qlo}"),
            "fmr_ratio_hi": g.get(f"fmr_ratio_to_reference_boot_q{qhi}"),
            "fnmr_ratio": g.get("fnmr_ratio_to_reference"),
            "fnmr_ratio_lo": g.get(f"fnmr_ratio_to_reference_boot_q{qlo}"),
            "fnmr_ratio_hi": g.get(f"fnmr_ratio_to_reference_boot_q{qhi}"),
            "fmr_boot_lo": g.get(f"fmr_boot_q{qlo}"),
            "fmr_boot_hi": g.get(f"fmr_boot_q{qhi}"),
            "fnmr_boot_lo": g.get(f"fnmr_boot_q{qlo}"),
            "fnmr_boot_hi": g.get(f"fnmr_boot_q{qhi}"),
            "thin": bool(thin_reasons),
            "thin_reason": "; ".join(thin_reasons),
            "thin_fmr": bool(fmr_reasons),
            "thin_fmr_reason": "; ".join(fmr_reasons),
            "thin_fnmr": bool(fnmr_reasons),
            "thin_fnmr_reason": "; ".join(fnmr_reasons),
        }
        rows.append(rec)
    return rows


def _verification(audit: Any, summary: ScoreSummary, cfg: AuditConfig) -> dict[str, Any]:
    d = audit.to_dict()
    m = d["fmr_matrix"]
    summaries = {}
    for k, v in (d.get("fairness") or {}).items():
        summaries[k] = v.get("value") if isinstance(v, Mapping) else v
    if cfg.scores is not None:
        model_name = f"the vendor system ({Path(cfg.scores).name})"
    else:
        model_name = cfg.model if cfg.model in BUILTIN_EMBEDDERS else Path(cfg.model).name
    return {
        "model_name": model_name,
        "model_id": summary.model_id,
        "thin_rule": (
            "A group is flagged thin when its impostor comparisons are too few to measure the "
            "target FMR (fewer than 3 / target FMR, the rule of three), when it has fewer than "
            f"{MIN_PEOPLE} people, or when it has no genuine pair. Groups defined by a missing "
            "label ('unknown') are shown in the tables but left out of the findings: they are "
            "missing data, not a demographic group."
        ),
        "similarity": summary.similarity,
        "threshold": d["threshold"],
        "threshold_rule": "target_fmr" if cfg.threshold is None else "fixed",
        "threshold_rule_text": d.get("threshold_rule"),
        "target_fmr": d.get("target_fmr"),
        "reference_group": d.get("reference_group"),
        "confidence": d.get("confidence"),
        "ci_quantiles": d.get("ci_quantiles"),
        "groups": _group_records(audit, summary, cfg.confidence),
        "overall": d.get("overall"),
        "fmr_matrix": {
            "labels": m["labels"],
            "fmr": m["fmr"],
            "n_false_match": m["false_matches"],
            "n_nonmated": m["n_nonmated"],
            "exact": m.get("exact"),
        },
        "summaries": summaries,
        "fairness": d.get("fairness"),
        "protocol": dict(summary.protocol),
    }


def _figures(
    out: Path,
    results: dict[str, Any],
    summary: ScoreSummary,
    audit: Any,
    files: dict[str, Path],
    sink: list[str],
) -> dict[str, Path]:
    import pandas as pd

    from .metrics import det_curve
    from .report import _plots as P
    from .report._results import group_table

    ver = results["verification"]
    tab = group_table(results)
    thin = [str(x) for x in tab.index[tab["thin"].astype(bool)]]
    figs: dict[str, Path] = {}
    fig_dir = out / "figures"

    def save(name: str, make: Callable[[], Any]) -> None:
        try:
            fig = _catch(make, sink)
        except (ValueError, IndexError) as exc:  # a figure must never sink the report
            sink.append(f"figure {name!r} not drawn: {exc}")
            return
        paths = P.save_figure(fig, fig_dir, name)
        files[f"{name}_png"], files[f"{name}_svg"] = paths["png"], paths["svg"]
        figs[name] = paths["png"]

    save("rates", lambda: P.plot_rates_ci(tab))
    m = ver["fmr_matrix"]
    labels = list(m["labels"])
    # Figures show at most MAX_FIGURE_GROUPS groups (the reference first, then by genuine
    # pairs); every group stays in the tables, results.json and the CSV files.
    order = sorted(
        range(len(labels)),
        key=lambda i: (
            labels[i] != ver.get("reference_group"),
            -int(_f(tab.iloc[i]["n_mated"]) or 0),
            -int(_f(tab.iloc[i]["n_nonmated"]) or 0),
        ),
    )
    shown = sorted(order[:MAX_FIGURE_GROUPS])
    left_out = len(labels) - len(shown)
    suffix = f"\n({len(shown)} largest of {len(labels)} groups)" if left_out else ""
    if left_out:
        sink.append(
            f"figures show the {len(shown)} largest of {len(labels)} groups; every group "
            "is in the tables, results.json and the CSV files"
        )
    idx = np.array(shown)
    save(
        "heatmap",
        lambda: P.plot_fmr_heatmap(
            [labels[i] for i in shown],
            np.array(m["fmr"], dtype=float)[np.ix_(idx, idx)],
            np.array(m["n_false_match"])[np.ix_(idx, idx)],
            np.array(m["n_nonmated"])[np.ix_(idx, idx)],
            title="False match rate between groups at the audit threshold" + suffix,
        ),
    )
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    ops: dict[str, tuple[float, float]] = {}
    for g in shown:
        lab = summary.group_labels[g]
        s = summary.scores((g, g))
        if s.n_genuine and s.n_impostor:
            fmr, fnmr, _ = _catch(lambda s=s: det_curve(s), sink)
            curves[lab] = (fmr, fnmr)
            r = tab.loc[lab]
            if _f(r["fmr"]) is not None and _f(r["fnmr"]) is not None:
                ops[lab] = (float(r["fmr"]), float(r["fnmr"]))
    if curves:
        save(
            "det",
            lambda: P.plot_det(
                curves,
                operating_points=ops,
                thin=thin,
                reference=ver.get("reference_group"),
                title="DET curves per group: false non-match rate against false match rate"
                + suffix,
            ),
        )
    panels = P.histogram_panels(summary)
    panels = {summary.group_labels[g]: panels[summary.group_labels[g]] for g in shown}
    save(
        "distributions",
        lambda: P.plot_score_distributions(
            panels,
            threshold=ver["threshold"],
            thin=thin,
            title="Score distributions per group: genuine (same person) and impostor pairs"
            + suffix,
        ),
    )
    save("fte", lambda: P.plot_fte(tab))
    ident = results.get("identification") or {}
    if ident.get("curve"):
        # all searches, then the reference and the largest groups (as in the other figures)
        keep = ["overall"] + [labels[i] for i in order[:5]]
        curve = pd.DataFrame(ident["curve"])
        curve = curve[curve["group"].isin(keep)]
        curve = curve.assign(_o=curve["group"].map(keep.index)).sort_values(["_o", "gallery_size"])
        save("identification", lambda: P.plot_identification(curve.drop(columns="_o")))
    return figs


IDENT_WHATIF = ((10_000, 1_000_000), (100_000, 10_000_000))
"""(searches a year, gallery size) of the deployment what-ifs in the report."""


def _rec(row: Mapping[str, Any], key: str, low: str, high: str) -> dict[str, Any]:
    return {key: _f(row.get(key)), f"{key}_lo": _f(row.get(low)), f"{key}_hi": _f(row.get(high))}


def _identification(
    cfg: AuditConfig,
    manifest: Manifest,
    templates: Any,
    grouping: Grouping,
    threshold: float,
    sink: list[str],
) -> dict[str, Any] | None:
    """1:N results from :func:`faceaudit.identify.identify` at the verification threshold.

    Returns the report's view (``curve`` for the figure, ``what_if`` and ``plain_findings``
    sentences) plus ``raw``, the identification audit's own :meth:`to_dict`.
    """
    from .identify import identify, split_gallery

    split = _catch(lambda: split_gallery(manifest, templates, grouping, seed=cfg.seed), sink)
    n_gal = int(split.n_gallery)
    if n_gal < 2:
        sink.append(f"identification skipped: only {n_gal} people could be enrolled in a gallery")
        return None
    sizes = sorted({int(x) for x in np.round(np.geomspace(min(10, n_gal), n_gal, 6))})
    res = _catch(
        lambda: identify(
            templates,
            manifest,
            grouping,
            threshold=threshold,
            gallery_sizes=sizes,
            seed=cfg.seed,
            n_boot=cfg.n_boot,
            confidence=cfg.confidence,
        ),
        sink,
    )
    curve: list[dict[str, Any]] = []
    if res.curve is not None:
        for row in res.curve.to_dict("records"):
            curve.append(
                {
                    "group": str(row["group"]),
                    "gallery_size": int(row["gallery_size"]),
                    **_rec(row, "fpir", "fpir_ci_low", "fpir_ci_high"),
                    **_rec(row, "fnir", "fnir_ci_low", "fnir_ci_high"),
                    "n_fpir": row.get("n_fpir"),
                    "n_fnir": row.get("n_fnir"),
                    "extrapolated": False,
                }
            )
    for row in res.extrapolation.to_dict("records"):
        curve.append(
            {
                "group": str(row["group"]),
                "gallery_size": int(row["gallery_size"]),
                **_rec(row, "fpir_pred", "fpir_pred_low", "fpir_pred_high"),
                "extrapolated": True,
            }
        )
    for rec in curve:  # one name per figure column: predicted FPIR is drawn as FPIR, dashed
        if rec["extrapolated"]:
            rec["fpir"], rec["fpir_lo"], rec["fpir_hi"] = (
                rec.pop("fpir_pred"),
                rec.pop("fpir_pred_lo"),
                rec.pop("fpir_pred_hi"),
            )
            rec.update(fnir=None, fnir_lo=None, fnir_hi=None)
    what_if = []
    for per_year, size in IDENT_WHATIF[:1]:
        w = _catch(
            lambda per_year=per_year, size=size: res.whatif(
                searches_per_year=per_year, gallery_size=size
            ),
            sink,
        )
        what_if.append(str(w.text))
    rates = res.rates.reset_index() if res.rates.index.name else res.rates
    plain: list[dict[str, Any]] = []
    overall = rates[rates["group"] == "overall"]
    if len(overall):
        o = overall.iloc[0]
        fp_ci = F.interval(o.get("fpir_ci_low"), o.get("fpir_ci_high"))
        fn_ci = F.interval(o.get("fnir_ci_low"), o.get("fnir_ci_high"))
        n_small = min(int(o.get("n_fpir") or 0), int(o.get("n_fnir") or 0))
        plain.append(
            {
                "text": (
                    f"One-to-many search against a gallery of {n_gal:,} people at the same "
                    f"threshold: {F.pct(o.get('fpir'))} of searches for people not in the gallery "
                    f"returned someone anyway (FPIR, 95% CI {fp_ci}), and {F.pct(o.get('fnir'))} "
                    f"of searches for enrolled people missed them (FNIR, 95% CI {fn_ci})."
                ),
                "thin": n_small < MIN_SEARCHES,
                "note": (
                    f"Only {n_small} searches of one kind (fewer than {MIN_SEARCHES})."
                    if n_small < MIN_SEARCHES
                    else ""
                ),
            }
        )
    missing = rates["group"].map(lambda g: _is_missing_label({"group": g})).astype(bool)
    # 'unknown' label groups are missing data, not demographic groups: never ranked in a finding
    groups = rates[(rates["group"] != "overall") & rates["fpir"].notna() & ~missing]
    if len(groups) > 1:
        # rank among groups with enough searches; fall back to all (then flagged thin)
        solid = groups[groups["n_fpir"].fillna(0) >= MIN_SEARCHES]
        top = (solid if len(solid) else groups).sort_values("fpir", ascending=False).iloc[0]
        among = (
            f" (among the groups with at least {MIN_SEARCHES} such searches)"
            if len(solid) and len(solid) < len(groups)
            else ""
        )
        n_top = int(top.get("n_fpir") or 0)
        ci = F.interval(top.get("fpir_ci_low"), top.get("fpir_ci_high"))
        plain.append(
            {
                "text": (
                    f"Searches of {top['group']} returned a wrong person most often{among}: FPIR "
                    f"{F.pct(top['fpir'])} (95% CI {ci}, {F.count(top.get('fpir_k'))} of "
                    f"{F.count(n_top)} searches)."
                ),
                "thin": n_top < MIN_SEARCHES,
                "note": (
                    f"Only {n_top} searches (fewer than {MIN_SEARCHES}): too few to rank groups."
                    if n_top < MIN_SEARCHES
                    else ""
                ),
            }
        )
    return {
        "gallery_size": n_gal,
        "threshold": float(res.threshold),
        "curve": curve,
        "what_if": what_if,
        "plain_findings": plain,
        "raw": res.to_dict(),
    }


# ---------------------------------------------------------------------------------- run
def run_audit(
    config: AuditConfig | Mapping[str, Any] | str | Path,
    *,
    progress: Progress | None = None,
    show_bars: bool = False,
) -> AuditOutput:
    """Run every stage of an audit and fill ``config.out`` (see the module docstring).

    Parameters
    ----------
    config : AuditConfig, mapping (TOML layout) or path to a TOML file
    progress : callable ``(stage, message)``, optional
        Told when each stage starts and finishes (with its timing).
    show_bars : bool
        Let the embedding and scoring stages draw their own progress bars on stderr.

    Returns
    -------
    AuditOutput

    Raises
    ------
    ConfigError, InputError
        Invalid configuration or input; the message names the field, file or row.
    """
    from . import __version__
    from .metrics import AuditResult
    from .report._findings import make_findings
    from .report._html import write_html
    from .report._results import (
        SCHEMA_VERSION,
        file_record,
        listing_digest,
        package_versions,
        utc_now,
        write_results,
    )

    if isinstance(config, (str, Path)):
        cfg = AuditConfig.from_toml(config)
    elif isinstance(config, Mapping):
        cfg = AuditConfig.from_mapping(config)
    else:
        cfg = config
        cfg.validate()
    say = progress or (lambda stage, msg: None)
    out = Path(cfg.out).expanduser()
    cache = default_cache_dir(cfg.cache_dir)
    timings: dict[str, float] = {}
    sink: list[str] = []
    inputs: dict[str, Any] = {}
    notes: list[str] = []
    files: dict[str, Path] = {}
    t_start = time.perf_counter()

    def stage(name: str, msg: str) -> float:
        say(name, msg)
        return time.perf_counter()

    def done(name: str, t0: float, msg: str = "") -> None:
        timings[name] = time.perf_counter() - t0
        say(name, f"done in {timings[name]:.1f} s" + (f": {msg}" if msg else ""))

    # 1. data ------------------------------------------------------------------
    t0 = stage("data", f"loading {cfg.dataset or cfg.manifest}")
    manifest, dname = _load_data(cfg, inputs, notes)
    full_n = len(manifest)
    manifest = _subset(manifest, cfg.limit, cfg.seed)
    grouping = Grouping.parse(cfg.group_by)
    manifest.groups(grouping)  # validates the attribute names early
    if cfg.reference_group is not None:
        labels = manifest.groups(grouping).labels
        if cfg.reference_group not in labels:
            raise ConfigError(
                f"reference_group must be one of {list(labels)}; got {cfg.reference_group!r}"
            )
    done(
        "data",
        t0,
        f"{len(manifest):,} samples of {manifest.n_subjects:,} subjects"
        + (f" (subset of {full_n:,})" if len(manifest) < full_n else ""),
    )

    # 2. embed -----------------------------------------------------------------
    templates = None
    if cfg.scores is None:
        from .pipeline import embed_manifest

        t0 = stage("embed", f"templates with {cfg.model} (store: {cfg.store or cache / 'store'})")
        _model_inputs(cfg, inputs)
        inputs["images"] = listing_digest(manifest.paths(), manifest.root)
        face = {} if cfg.face_policy is None else {"face_policy": cfg.face_policy}
        templates = embed_manifest(
            manifest,
            embedder=cfg.model,
            detector=cfg.detector,
            store=cfg.store or cache / "store",
            n_workers=cfg.workers,
            progress=show_bars,
            **face,
        )
        n_fail = int((~templates.ok).sum())
        inputs["templates"] = {
            "sha256": templates_digest(templates),
            "model_id": templates.model_id,
        }
        done("embed", t0, f"{int(templates.ok.sum()):,} templates, {n_fail:,} failures to enrol")
    else:
        inputs["scores"] = file_record(cfg.scores)

    # 3. score -----------------------------------------------------------------
    t0 = stage("score", "comparing" if cfg.scores is None else f"reading {cfg.scores}")
    key_parts = {
        "faceaudit": __version__,
        "engine": [ENGINE_VERSION, SUMMARY_FORMAT],
        "manifest": _manifest_digest(manifest),
        "grouping": grouping.to_dict(),
        "impostors": cfg.impostors,
        "exact_fmr": cfg.exact_fmr,
        "seed": cfg.seed,
        "templates": inputs.get("templates", {}).get("sha256"),
        "scores": inputs.get("scores", {}).get("sha256"),
        "scores_options": [cfg.scores_distance, cfg.on_error] if cfg.scores else None,
    }
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()
    cpath = cache / f"summary-{key[:32]}.npz"
    cache_hit = cpath.is_file()
    if cache_hit:
        summary = ScoreSummary.load(cpath)
    elif cfg.scores is None:
        from ._scorer import score_templates

        summary = _catch(
            lambda: score_templates(
                templates,
                manifest,
                grouping=grouping,
                impostors=cfg.impostors,
                exact_fmr=cfg.exact_fmr,
                n_workers=cfg.workers,
                seed=cfg.seed,
                progress=show_bars,
            ),
            sink,
        )
        summary.save(cpath)
    else:
        from ._vendor import read_scores

        summary = _catch(
            lambda: read_scores(
                cfg.scores,
                manifest,
                grouping=grouping,
                higher_is_similar=not cfg.scores_distance,
                on_error=cfg.on_error,
                exact_fmr=cfg.exact_fmr,
            ),
            sink,
        )
        summary.save(cpath)
    inputs["score_summary"] = {"sha256": file_record(cpath)["sha256"], "cache_key": key}
    done(
        "score",
        t0,
        f"{len(summary.genuine_scores):,} genuine and "
        f"{int(summary.impostor_total.sum()):,} impostor scores"
        + (" (from cache)" if cache_hit else ""),
    )

    # 4. metrics ---------------------------------------------------------------
    t0 = stage("metrics", f"error rates per group ({cfg.n_boot} bootstrap replicates)")
    audit = _catch(
        lambda: AuditResult(
            summary,
            threshold=cfg.threshold,
            target_fmr=None if cfg.threshold is not None else cfg.target_fmr,
            reference_group=cfg.reference_group,
            n_boot=cfg.n_boot,
            random_state=cfg.seed,
            confidence=cfg.confidence,
        ),
        sink,
    )
    verification = _verification(audit, summary, cfg)
    done("metrics", t0, f"threshold {audit.threshold:.6g}")

    # 5. identification --------------------------------------------------------
    ident = None
    if not cfg.identification:
        ident_skipped = "switched off in the configuration ([identification] enabled = false)"
    elif templates is None:
        ident_skipped = (
            "a score file has no templates to search with; one-to-many search "
            "needs the model's templates"
        )
    else:
        t0 = stage("identification", "one-to-many searches")
        ident = _identification(cfg, manifest, templates, grouping, audit.threshold, sink)
        ident_skipped = "too few people for a gallery" if ident is None else None
        done("identification", t0, "skipped" if ident is None else "")

    # 6. report ----------------------------------------------------------------
    t0 = stage("report", f"writing {out}")
    fte_reasons: dict[str, int] = {}
    if templates is not None:
        st, cnt = np.unique(templates.status[~templates.ok], return_counts=True)
        fte_reasons = {str(s): int(c) for s, c in zip(st, cnt, strict=True)}
    manifest_path = out / "manifest.csv"
    manifest.write(manifest_path)
    files["manifest"] = manifest_path
    inputs["manifest_used"] = file_record(manifest_path)
    resolved = cfg.resolved().to_mapping()
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "faceaudit", "version": __version__},
        "created_utc": utc_now(),
        "config": resolved,
        "inputs": inputs,
        "versions": package_versions(),
        "seeds": {"random_state": cfg.seed, "n_boot": cfg.n_boot},
        "dataset": {
            "name": dname,
            "n_samples": len(manifest),
            "n_subjects": manifest.n_subjects,
            "n_samples_before_limit": full_n,
            "n_groups": summary.n_groups,
            "grouping": grouping.to_dict(),
            "exclusions": dict(summary.exclusions),
            "fte_reasons": fte_reasons,
            "notes": DATASET_NOTES.get(_dataset_key(cfg.dataset) or "", [])
            + (
                [
                    f"Quick-try subset: {len(manifest):,} of {full_n:,} samples (whole people, "
                    f"seed {cfg.seed}); figures are not representative of the full dataset."
                ]
                if len(manifest) < full_n
                else []
            )
            + notes,
        },
        "verification": verification,
        "identification": ident,
        "identification_skipped": ident_skipped,
        "cache_dir": str(cache),
        "warnings": sink,
    }
    results["findings"] = make_findings(results)
    figs = _figures(out, results, summary, audit, files, sink)
    results["warnings"] = sink
    timings["report"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    results["timings_s"] = dict(timings)
    files["results"] = write_results(out, results)
    for name in ("by_group", "fmr_matrix", "identification"):
        if (out / f"{name}.csv").is_file():
            files[name] = out / f"{name}.csv"
    from ._io import write_text

    write_text(
        out / "config.resolved.toml",
        "# faceaudit audit configuration, every default filled in.\n"
        f"# Re-run with: faceaudit audit {out / 'config.resolved.toml'}\n" + dumps_toml(resolved),
    )
    files["config"] = out / "config.resolved.toml"
    files["report"] = write_html(out / "report.html", results, figs)
    say("report", f"done in {time.perf_counter() - t0:.1f} s: {files['report']}")
    return AuditOutput(out, results, files, summary, audit, timings, cache_hit)


__all__ = ["STAGES", "AuditConfig", "AuditOutput", "dumps_toml", "run_audit", "templates_digest"]
