"""The ``policies`` stage: threshold policies side by side, and the model card of a built-in model.

Runs after ``metrics`` when ``threshold_policy`` is not ``"global"`` (the global policy is the
rest of the report). The vendor's threshold and its intended rates come from the model card
(:func:`faceaudit.pipeline.model_card`), the one place they are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ..metrics import VendorOperatingPoint, policy_names, threshold_policies
from ..pipeline import BUILTIN_CARDS, model_card
from ..report import policies_view


def builtin_model(cfg: Any) -> str | None:
    """The built-in model with a model card that made the templates (None: a score file or a
    custom model)."""
    if cfg.scores is not None or cfg.model not in BUILTIN_CARDS:
        return None
    return str(cfg.model)


def vendor_point(cfg: Any) -> VendorOperatingPoint | None:
    """The makers' threshold and the rates it gives on their benchmark (None: not known)."""
    name = builtin_model(cfg)
    if name is None:
        return None
    card = model_card(name)
    m = card.measured_lfw
    bench = "" if m is None else (
        f"LFW View 2 pairs.txt at the makers' threshold ({m.images}; faceaudit's pipeline, "
        f"measured by `{m.command}`; the makers publish an accuracy, not these rates)")
    return VendorOperatingPoint(
        model=name, threshold=card.vendor_threshold, source=card.vendor_threshold_source,
        benchmark=bench,
        false_matches=None if m is None else m.vendor_false_matches,
        n_impostor=None if m is None else m.vendor_n_impostor,
        false_non_matches=None if m is None else m.vendor_false_non_matches,
        n_genuine=None if m is None else m.vendor_n_genuine)


def check_vendor_policy(cfg: Any) -> None:
    """``threshold_policy = "vendor"`` alone needs a published threshold: fail early, clearly."""
    if cfg.threshold_policy == "vendor" and vendor_point(cfg) is None:
        what = (f"the score file {Path(cfg.scores).name!r}" if cfg.scores is not None
                else f"the model {cfg.model!r}")
        raise ConfigError(
            f"threshold_policy 'vendor' needs a model with a published threshold "
            f"({', '.join(BUILTIN_CARDS)}); {what} has none known to faceaudit. Use "
            "'global' or 'per-group', give a fixed threshold, or 'all' (vendor is then "
            "reported as not available)")


@dataclass(frozen=True)
class Weighed:
    """Every selected threshold policy measured (``policies``: name -> PolicyResult)."""

    policies: dict[str, Any]

    def describe(self) -> str:
        return ", ".join(f"{k}: {'not available' if not p.available else 'done'}"
                         for k, p in self.policies.items())


def why_no_policies(cfg: Any) -> str | None:
    """Skip reason: the global policy alone is the rest of the report."""
    if cfg.threshold_policy == "global":
        return "threshold_policy = global: the report's figures are that policy"
    return None


def weigh_policies(cfg: Any, score: Any, recount: Any = None) -> Weighed:
    """:func:`~faceaudit.metrics.threshold_policies` with the audit's settings, on the summary
    the recount stage made exact at the global threshold (counts at other thresholds that fall
    inside a histogram bin are reported as bounds, flagged inexact)."""
    check_vendor_policy(cfg)
    summary = recount.summary if recount is not None else score.summary
    return Weighed(threshold_policies(
        summary, policy_names(cfg.threshold_policy),
        target_fmr=cfg.target_fmr, reference_group=cfg.reference_group,
        threshold=cfg.threshold, vendor=vendor_point(cfg), n_boot=cfg.n_boot, seed=cfg.seed,
        confidence=cfg.confidence))


def policy_sections(cfg: Any, policies: Weighed | None) -> dict[str, Any]:
    """The ``results.json`` keys of this module: ``model_card`` and ``threshold_policies``."""
    out: dict[str, Any] = {}
    name = builtin_model(cfg)
    if name is not None:
        out["model_card"] = model_card(name).to_dict()
    if policies is not None:
        out["threshold_policies"] = policies_view(
            policies.policies, selected=policy_names(cfg.threshold_policy))
    return out
