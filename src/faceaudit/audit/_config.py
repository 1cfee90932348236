"""The configuration of an audit: :class:`AuditConfig`, its TOML layout and its defaults.

Every default is the library's own (:data:`faceaudit.metrics.N_BOOT`, the scorer's
``EXACT_FMR`` ...) and every choice is checked against the tuple its owner defines
(``IMPOSTOR_MODES``, ``ON_ERROR``, ``DETECTORS``, ``POLICIES``, ``LABELS_BY``), so the CLI, a
TOML file and the Python API can never disagree.

The configuration is an :class:`AuditConfig`, built from CLI flags or read from TOML
(:meth:`AuditConfig.from_toml`)::

    [dataset]
    name = "lfw"                 # registered name, image folder or manifest file
    data_dir = "/data/lfw"       # optional; else $FACEAUDIT_LFW, else the data home
    limit = 0                    # 0 = everything; N = seeded subset of whole subjects

    [model]
    embedder = "dlib"            # "dlib", "dlib-reference", "sface", "fake" or an .onnx path
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
    threshold_policy = "global"  # "vendor", "per-group" or "all": policies side by side
    impostors = "all"
    n_boot = 200
    seed = 0

    [identification]
    enabled = true

    [probe_conditions]           # off by default: the probe-quality stress audit
    conditions = ["cctv", "resolution:64,32,16,12"]   # see faceaudit.probe
    people = 40                  # probe people per group (seeded, whole people); 0 = everyone

    [cluster]                    # optional: run the heavy steps on Dask (faceaudit[cluster])
    address = "local:4"          # 4 local worker processes, or "tcp://scheduler:8786"

    [output]
    dir = "audit-out"
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._accumulate import EXACT_FMR
from .._errors import ConfigError, check_option, check_range
from .._manifest import Grouping
from .._protocol import IMPOSTOR_MODES
from .._vendor import ON_ERROR
from ..cluster import parse_cluster
from ..datasets import LABELS_BY, dataset_key
from ..metrics import CONFIDENCE, N_BOOT, POLICY_CHOICES, SEED, TARGET_FMR
from ..pipeline import DETECTORS, MODEL_NAMES, POLICIES
from ..probe import parse_conditions
from ._policies import check_vendor_policy

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
        "threshold_policy": "threshold_policy",
        "impostors": "impostors",
        "n_boot": "n_boot",
        "seed": "seed",
        "exact_fmr": "exact_fmr",
        "confidence": "confidence",
    },
    "identification": {"enabled": "identification"},
    "probe_conditions": {"conditions": "probe_conditions", "people": "probe_people"},
    "cluster": {"address": "cluster"},
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
        ``"dlib"`` (dlib's ResNet on onnxruntime), ``"dlib-reference"`` (run by dlib),
        ``"dlib-cuda"``, ``"sface"``, ``"fake"`` (tests) or a path to an ``.onnx`` file.
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
    threshold_policy : {"global", "vendor", "per-group", "all"}
        Which threshold policies the report sets side by side
        (:mod:`faceaudit.metrics._policies`): the makers' published threshold, one global
        threshold (the one above; every other figure of the report uses it), or one threshold
        per group at ``target_fmr``; ``"all"`` for the three. ``"vendor"`` needs a built-in
        model with a published threshold (``"dlib"``, ``"sface"``); with ``"all"`` it is
        reported as not available otherwise.
    impostors : {"all", "matched"}
        All cross-subject pairs, or only same-group ones (faster; no cross-group matrix).
    n_boot : int
        Bootstrap replicates over people for the intervals of ratios (0 = none).
    seed : int
        Seed of the bootstrap, the subset and any sampling.
    exact_fmr : float
        The score summary keeps impostor scores exactly down to this FMR in every cell
        (default 0: a fixed tail of 50,000 per cell; the recount stage makes the counts at
        the audit's threshold exact).
    confidence : float
        Level of the Clopper–Pearson intervals.
    identification : bool
        Run the 1:N analysis when :mod:`faceaudit.identify` is available.
    probe_conditions : list of str
        Probe conditions of the probe-quality stress audit (:mod:`faceaudit.probe`), e.g.
        ``["cctv"]`` or ``["resolution:64,32,16"]``; empty (default) switches it off.
    probe_people : int
        People per group whose photos serve as degraded probes: a seeded subset of whole
        people (people with two or more photos first); 0 = everyone. Each degraded image costs
        a detection and an embedding (~50–80 ms with dlib) per condition level.
    cluster : str, optional
        Run embedding, scoring and the 1:N search on a Dask cluster: ``"local:N"`` (N local
        worker processes, one thread each) or a scheduler address ``"tcp://host:8786"``
        (:func:`faceaudit.cluster.parse_cluster`). Default: in this process. Results are
        identical either way.
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
    labels_by: str = LABELS_BY[0]
    limit: int = 0
    model: str = "dlib"
    detector: str = DETECTORS[0]
    face_policy: str | None = None
    store: str | None = None
    workers: int = 2
    scores: str | None = None
    manifest: str | None = None
    scores_distance: bool = False
    on_error: str = ON_ERROR[0]
    group_by: list[str] = field(default_factory=list)
    reference_group: str | None = None
    target_fmr: float = TARGET_FMR
    threshold: float | None = None
    threshold_policy: str = POLICY_CHOICES[0]
    impostors: str = IMPOSTOR_MODES[0]
    n_boot: int = N_BOOT
    seed: int = SEED
    exact_fmr: float = EXACT_FMR
    confidence: float = CONFIDENCE
    identification: bool = True
    probe_conditions: list[str] = field(default_factory=list)
    probe_people: int = 0
    cluster: str | None = None
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
        for name in ("limit", "workers", "n_boot", "seed", "probe_people"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ConfigError(f"{name} must be an integer; got {v!r}")
        check_range("limit", self.limit, low=0)
        check_range("workers", self.workers, low=1, high=256)
        check_range("n_boot", self.n_boot, low=0, high=100_000)
        check_range("seed", self.seed, low=0)
        check_range("probe_people", self.probe_people, low=0)
        check_range("target_fmr", self.target_fmr, low=0.0, high=1.0, low_open=True)
        check_range("exact_fmr", self.exact_fmr, low=0.0, high=1.0)
        check_range("confidence", self.confidence, low=0.0, high=1.0, low_open=True, high_open=True)
        if self.threshold is not None:
            check_range("threshold", self.threshold)
        check_option("impostors", self.impostors, IMPOSTOR_MODES)
        check_option("threshold_policy", self.threshold_policy, POLICY_CHOICES)
        check_vendor_policy(self)
        check_option("on_error", self.on_error, ON_ERROR)
        check_option("labels_by", self.labels_by, LABELS_BY)
        check_option("detector", self.detector, DETECTORS)
        if self.face_policy is not None:
            check_option("face_policy", self.face_policy, POLICIES)
        if not isinstance(self.scores_distance, bool):
            raise ConfigError(
                f"scores_distance must be true or false; got {self.scores_distance!r}"
            )
        if not isinstance(self.identification, bool):
            raise ConfigError(f"identification must be true or false; got {self.identification!r}")
        if self.cluster is not None:
            parse_cluster(self.cluster)
        if not str(self.out):
            raise ConfigError("out must be a folder path; got ''")
        Grouping.parse(self.group_by)  # checks bin syntax
        self._validate_probe_conditions()

    def _validate_probe_conditions(self) -> None:
        if isinstance(self.probe_conditions, str):
            self.probe_conditions = [self.probe_conditions]
        if not isinstance(self.probe_conditions, (list, tuple)):
            raise ConfigError(f"probe_conditions must be a list of condition specs; got "
                              f"{self.probe_conditions!r}")
        conds = parse_conditions(list(self.probe_conditions))
        self.probe_conditions = [c.condition_id for c in conds]
        if not conds:
            return
        if self.scores is not None:
            raise ConfigError("probe_conditions must be empty with a vendor score file (the "
                              "probes are degraded images, which a score file does not have); "
                              f"got {self.probe_conditions}")
        eyes = [c.condition_id for c in conds if c.needs_eyes]
        if eyes and self.detector != "centerface":
            raise ConfigError(f"detector must give eye landmarks (centerface) for the probe "
                              f"conditions {eyes}; got {self.detector!r}")

    # ------------------------------------------------------------------ I/O
    @classmethod
    def coerce(cls, config: AuditConfig | Mapping[str, Any] | str | Path) -> AuditConfig:
        """A validated config from an AuditConfig, a mapping (TOML layout) or a TOML path."""
        if isinstance(config, (str, Path)):
            return cls.from_toml(config)
        if isinstance(config, Mapping):
            return cls.from_mapping(config)
        config.validate()
        return config

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
        if self.model not in MODEL_NAMES:
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
    return dataset_key(s) is None
