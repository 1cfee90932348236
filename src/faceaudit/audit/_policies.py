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
from ..metrics import (
    VendorOperatingPoint,
    policy_names,
    policy_thresholds,
    threshold_policies,
)
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
    n_recounted: int = 0

    def describe(self) -> str:
        return (", ".join(f"{k}: {'not available' if not p.available else 'done'}"
                          for k, p in self.policies.items())
                + f"; {self.n_recounted} cell count(s) or people list(s) recounted")


def why_no_policies(cfg: Any) -> str | None:
    """Skip reason: the global policy alone is the rest of the report."""
    if cfg.threshold_policy == "global":
        return "threshold_policy = global: the report's figures are that policy"
    return None


def _exact_at(cfg: Any, env: Any, data: Any, embed: Any, summary: Any,
              thresholds: list[float]) -> tuple[Any, int]:
    """The summary made exact at ``thresholds`` by the second pass (as the recount stage does
    at the global threshold), and how many cell counts or people lists it recounted."""
    from .._recount import plan_people, plan_requests

    n = len(plan_requests(summary, thresholds))
    if embed is not None:
        n += len(plan_people(summary, thresholds))
    if n == 0:
        return summary, 0
    if embed is None:
        return env.backend.recount_scores(
            cfg.scores, data.manifest, summary, thresholds,
            higher_is_similar=not cfg.scores_distance, on_error=cfg.on_error), n
    return env.backend.recount(embed.templates, data.manifest, summary, thresholds,
                               n_workers=cfg.workers, progress=env.show_bars), n


def weigh_policies(cfg: Any, env: Any, data: Any, embed: Any, score: Any,
                   recount: Any = None) -> Weighed:
    """:func:`~faceaudit.metrics.threshold_policies` with the audit's settings, on the
    recount stage's summary made exact (second pass) at every policy threshold too.

    Thresholds are chosen on the recount stage's summary; the first-pass summary is then
    recounted at all of them and at the global threshold (the second pass refines a first-pass
    summary only). A count still inside a histogram bin is reported as a bound
    (``fmr_exact`` False)."""
    check_vendor_policy(cfg)
    chosen = recount.summary if recount is not None else score.summary
    names = policy_names(cfg.threshold_policy)
    kw = dict(target_fmr=cfg.target_fmr, reference_group=cfg.reference_group,
              threshold=cfg.threshold, vendor=vendor_point(cfg))
    # the second pass refines a first-pass summary only: recount score.summary at the policy
    # thresholds (chosen on the recount stage's summary) and at the global one again
    ts = sorted(set(policy_thresholds(chosen, names, **kw))
                | ({float(recount.audit.threshold)} if recount is not None else set()))
    summary, n = _exact_at(cfg, env, data, embed, score.summary, ts)
    return Weighed(threshold_policies(summary, names, n_boot=cfg.n_boot, seed=cfg.seed,
                                      confidence=cfg.confidence, **kw), n)


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
