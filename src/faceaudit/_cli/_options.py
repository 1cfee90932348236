"""Click options shared by the commands, with the library's defaults and choices.

Every default and every choice comes from the library (``N_BOOT``, ``SEED``, ``CONFIDENCE``,
``TARGET_FMR``, ``EXACT_FMR``, ``IMPOSTOR_MODES``, ``ON_ERROR``, ``DETECTORS``, ``POLICIES``,
the signature of :func:`faceaudit.embed_manifest`), never typed twice. ``faceaudit audit``
passes ``config=<AuditConfig field>``: its options default to None so that a config file's
values are only overridden by what is given, and the help names the config's default.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .._accumulate import EXACT_FMR
from .._protocol import IMPOSTOR_MODES
from .._vendor import ON_ERROR
from ..metrics import CONFIDENCE, N_BOOT, POLICY_CHOICES, SEED
from ..pipeline import DETECTORS, POLICIES

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def library_default(fn: Callable[..., Any], name: str) -> Any:
    """The default of parameter ``name`` of ``fn`` (so the CLI shows the library's)."""
    return inspect.signature(fn).parameters[name].default


def config_default(field: str) -> Any:
    """The default of a field of :class:`~faceaudit.audit.AuditConfig`."""
    from ..audit import AuditConfig

    for f in dataclasses.fields(AuditConfig):
        if f.name == field:
            return f.default if f.default is not dataclasses.MISSING else None
    raise KeyError(field)


def option(*decls: str, help: str, default: Any = None, config: str | None = None,
           **kw: Any) -> Decorator:
    """``click.option`` showing the library ``default``; or, with ``config`` (a field of
    :class:`~faceaudit.audit.AuditConfig`), defaulting to None and naming the config's
    default in the help."""
    if config is not None:
        value = config_default(config)
        if value not in (None, "", []):
            help = f"{help} [default: {value}]"
        return click.option(*decls, help=help, default=None, **kw)
    return click.option(*decls, help=help, default=default,
                        show_default=default not in (None, ""), **kw)


def group_by(**kw: Any) -> Decorator:
    return option("--group-by", default="",
                  help="Attributes forming the groups, e.g. 'sex,race' or 'age:30:45:60'.", **kw)


def seed(**kw: Any) -> Decorator:
    return option("--seed", type=int, default=SEED,
                  help="Seed of the bootstrap, of subsets and of any sampling.", **kw)


def n_boot(**kw: Any) -> Decorator:
    return option("--n-boot", type=int, default=N_BOOT,
                  help="Bootstrap replicates over people (0: none).", **kw)


def confidence(**kw: Any) -> Decorator:
    return option("--confidence", type=float, default=CONFIDENCE,
                  help="Level of every interval.", **kw)


def threshold(**kw: Any) -> Decorator:
    return option("--threshold", type=float,
                  help="A fixed decision threshold T (a comparison is accepted iff score >= T).",
                  **kw)


def target_fmr(help: str = "Choose T as the smallest threshold whose FMR on the reference "
               "group is at most this.", **kw: Any) -> Decorator:
    return option("--target-fmr", type=float, help=help, **kw)


def threshold_policy(**kw: Any) -> Decorator:
    return option("--threshold-policy", type=click.Choice(POLICY_CHOICES),
                  help="Threshold policies set side by side in the report: the makers' "
                       "published threshold (vendor), one threshold for all (global), one per "
                       "group at the target FMR (per-group), or all three.", **kw)


def reference_group(**kw: Any) -> Decorator:
    return option("--reference-group",
                  help='Group that sets the threshold and that ratios divide by, e.g. '
                       '"M / caucasian".', **kw)


def workers(**kw: Any) -> Decorator:
    from .._scorer import score_templates

    return option("--workers", type=int, default=library_default(score_templates, "n_workers"),
                  help="Worker processes (embedding) or threads (scoring); results do not "
                       "depend on it.", **kw)


def impostors(**kw: Any) -> Decorator:
    return option("--impostors", type=click.Choice(IMPOSTOR_MODES), default=IMPOSTOR_MODES[0],
                  help="All cross-subject pairs, or only pairs within one group (NIST matched).",
                  **kw)


def exact_fmr(**kw: Any) -> Decorator:
    return option("--exact-fmr", type=float, default=EXACT_FMR,
                  help="Keep the top exact_fmr share of impostor scores per cell exactly "
                  "(0: a fixed tail per cell; an audit recounts its threshold exactly).", **kw)


def on_error(**kw: Any) -> Decorator:
    return option("--on-error", type=click.Choice(ON_ERROR), default=ON_ERROR[0],
                  help="Bad rows of a score file: stop with an error, or skip and count them.",
                  **kw)


def detector(**kw: Any) -> Decorator:
    return option("--detector", type=click.Choice(DETECTORS), default=DETECTORS[0],
                  help="Face detector ('none': images are already face crops).", **kw)


def face_policy(**kw: Any) -> Decorator:
    from ..pipeline import embed_manifest

    return option("--face-policy", type=click.Choice(POLICIES),
                  default=library_default(embed_manifest, "face_policy"),
                  help="Which face to enrol when a photo shows several.", **kw)


def model(**kw: Any) -> Decorator:
    return option("--model", default="dlib",
                  help="'dlib' (dlib's ResNet on onnxruntime), 'dlib-reference' (the same "
                  "network run by dlib itself, slower), 'dlib-cuda' (onnxruntime-gpu), 'sface' "
                  "(OpenCV Zoo's SFace), a path to an ArcFace-style .onnx model, or 'fake' "
                  "(tests).", **kw)


def store(**kw: Any) -> Decorator:
    return option("--store", help="Template store folder: re-runs skip finished images "
                  "(resumable, shared).", **kw)


def data_dir(**kw: Any) -> Decorator:
    return option("--data-dir", help="Folder of a named dataset (lfw: else $FACEAUDIT_LFW).", **kw)


def json_out(help: str = "Write every figure (counts, intervals) as JSON here.",
             **kw: Any) -> Decorator:
    return option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
                  help=help, **kw)


def existing_file(name: str, help: str, *, exists: bool = False, **kw: Any) -> Decorator:
    """An option naming an input file (``--templates``, ``--manifest`` ...), as a Path;
    ``exists`` makes click check that it is there."""
    dest = name.lstrip("-").replace("-", "_") + "_path"
    return option(name, dest, type=click.Path(exists=exists, dir_okay=False, path_type=Path),
                  help=help, **kw)
