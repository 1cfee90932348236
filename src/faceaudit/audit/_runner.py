"""A generic runner of named stages (scikit-learn ``Pipeline`` / ``bob.pipelines`` style).

A :class:`Stage` is a name and a function. The function declares what it needs by the names
of its parameters: ``cfg`` (the :class:`~faceaudit.audit.AuditConfig`), ``env`` (the
:class:`Environment`: output folder, cache folder, execution backend), ``log`` (the live
:class:`RunLog`), ``inputs`` (the provenance recorded so far), or the name of an earlier stage,
whose frozen result it receives (``None`` when that stage was skipped). It returns a frozen
result. The runner knows nothing about any stage; everything that cuts across stages wraps
them here, not inside them:

- **progress and timing**: ``progress(stage, message)`` at the start and the end of each
  stage, with its wall time (:attr:`RunLog.timings`);
- **warnings**: every warning a stage raises is recorded once, in order, as
  ``"<Category>: <message>"`` (an :class:`~faceaudit.AuditNote` as its plain text), and not
  shown (:attr:`RunLog.warnings`);
- **skipping**: ``skip`` returns the reason a stage does not run (:attr:`RunLog.skipped`);
- **caching**: a :class:`StageCache` loads the result from a file keyed by a sha256 of what
  shapes it, or computes and saves it (:attr:`RunLog.cache_hits`);
- **provenance**: ``provenance`` returns the input records of a stage (file checksums,
  digests), collected in :attr:`RunLog.inputs`;
- **execution**: heavy stages call the :class:`~faceaudit.audit.Backend` in ``env``
  (in-process by default), so moving a run to a cluster changes the backend, not the stages.

Adding a stage is one function and one line in :data:`faceaudit.audit.STAGES`.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import AuditNote

Progress = Callable[[str, str], None]
"""``progress(stage, message)``: called when a stage starts and ends."""


@dataclass(frozen=True)
class StageCache:
    """Wraps a stage with a file cache.

    ``key`` (parameters injected like a stage's) returns what shapes the result, as a JSON-able
    mapping; its sha256 names the file ``<env.cache_dir>/<name>-<sha[:32]><suffix>``.
    ``load(path)`` and ``save(result, path)`` read and write the result; ``record(path, key)``
    returns the provenance entries of the cached file.
    """

    name: str
    key: Callable[..., Mapping[str, Any]]
    load: Callable[[Path], Any]
    save: Callable[[Any, Path], None]
    record: Callable[[Path, str], Mapping[str, Any]] = lambda path, key: {}
    suffix: str = ".npz"


@dataclass(frozen=True)
class Stage:
    """One named step of an audit (see the module docstring).

    Attributes
    ----------
    name : str
        Also the parameter name later stages use to receive its result.
    run : callable
        The stage; returns a frozen result, optionally with a ``describe()`` method giving the
        short summary the progress line shows.
    says : callable, optional
        The message at the start (parameters injected).
    skip : callable, optional
        Returns why the stage is skipped, or None to run it (parameters injected).
    cache : StageCache, optional
    provenance : callable, optional
        Input records of the stage (parameters injected, plus ``result``).
    """

    name: str
    run: Callable[..., Any]
    says: Callable[..., str] | None = None
    skip: Callable[..., str | None] | None = None
    cache: StageCache | None = None
    provenance: Callable[..., Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class Environment:
    """Where and how a run executes (not what it computes)."""

    out: Path
    cache_dir: Path
    backend: Any
    show_bars: bool = False


@dataclass
class RunLog:
    """What the runner recorded about a run, live while it runs."""

    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    cache_hits: dict[str, bool] = field(default_factory=dict)
    _t_start: float = field(default_factory=time.perf_counter)
    _current: tuple[str, float] | None = None

    def timings_now(self) -> dict[str, float]:
        """Seconds per stage so far, the running stage and ``total`` included."""
        now = time.perf_counter()
        out = dict(self.timings)
        if self._current is not None:
            out[self._current[0]] = now - self._current[1]
        out["total"] = now - self._t_start
        return out

    def record_warning(self, message: Warning | str, category: type[Warning], *_: Any) -> None:
        """A ``warnings.showwarning`` replacement: keep each distinct warning once, in order."""
        text = str(message) if issubclass(category, AuditNote) else (
            f"{category.__name__}: {message}")
        if text not in self.warnings:
            self.warnings.append(text)


def _call(fn: Callable[..., Any], available: Mapping[str, Any]) -> Any:
    """Call ``fn`` with the available values its parameters name."""
    params = inspect.signature(fn).parameters
    missing = [p for p in params if p not in available]
    if missing:
        raise TypeError(f"{getattr(fn, '__name__', fn)} asks for {missing}; available: "
                        f"{sorted(available)}")
    return fn(**{p: available[p] for p in params})


def _cached(stage: Stage, available: dict[str, Any], env: Environment, log: RunLog) -> Any:
    cache = stage.cache
    assert cache is not None
    parts = _call(cache.key, available)
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    path = Path(env.cache_dir) / f"{cache.name}-{key[:32]}{cache.suffix}"
    hit = path.is_file()
    if hit:
        result = cache.load(path)
    else:
        result = _call(stage.run, available)
        cache.save(result, path)
    log.cache_hits[stage.name] = hit
    log.inputs.update(cache.record(path, key))
    return result


def run_stages(
    stages: Sequence[Stage], cfg: Any, env: Environment, progress: Progress | None = None
) -> tuple[dict[str, Any], RunLog]:
    """Run ``stages`` in order; returns every stage's result (None if skipped) and the log."""
    say = progress or (lambda stage, msg: None)
    log = RunLog()
    results: dict[str, Any] = {}
    for stage in stages:
        available = {"cfg": cfg, "env": env, "log": log, "inputs": log.inputs, **results}
        reason = _call(stage.skip, available) if stage.skip is not None else None
        if reason is not None:
            log.skipped[stage.name] = reason
            results[stage.name] = None
            continue
        say(stage.name, _call(stage.says, available) if stage.says else "")
        t0 = time.perf_counter()
        log._current = (stage.name, t0)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = log.record_warning
            if stage.cache is not None:
                result = _cached(stage, available, env, log)
            else:
                result = _call(stage.run, available)
            if stage.provenance is not None:
                log.inputs.update(_call(stage.provenance, {**available, "result": result}))
        log._current = None
        log.timings[stage.name] = time.perf_counter() - t0
        results[stage.name] = result
        msg = result.describe() if hasattr(result, "describe") else ""
        if log.cache_hits.get(stage.name):
            msg += " (from cache)"
        say(stage.name, f"done in {log.timings[stage.name]:.1f} s" + (f": {msg}" if msg else ""))
    log.timings["total"] = time.perf_counter() - log._t_start
    return results, log
