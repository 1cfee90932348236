"""Where a cluster audit runs: the ``cluster`` setting and the Dask client it opens.

``cluster`` is one of

- ``"local:N"`` — a :class:`distributed.LocalCluster` of ``N`` worker processes with one thread
  each (``"local:NxT"``: ``T`` threads each), started for the run and closed after it;
- ``"tcp://host:8786"`` (or ``tls://``, ``inproc://``, ``ucx://``) — an existing scheduler,
  e.g. one started by dask-jobqueue on SLURM or by the Dask Kubernetes operator
  (``docs/scale-out.md``); the workers must see the image paths and hold faceaudit.

Dask is the optional extra ``faceaudit[cluster]``: without it, opening a cluster raises
:class:`~faceaudit.MissingDependencyError` (exit code 4) with a one-line install hint.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .._errors import ConfigError, require

SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://")
"""Address schemes of an existing Dask scheduler."""

_LOCAL = re.compile(r"local:(\d+)(?:x(\d+))?")


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed ``cluster`` setting: a local cluster's size, or a scheduler's address."""

    n_workers: int = 0
    threads_per_worker: int = 1
    address: str | None = None

    @property
    def local(self) -> bool:
        return self.address is None


def parse_cluster(value: str) -> ClusterSpec:
    """Parse ``"local:N"``, ``"local:NxT"`` or a scheduler address (see the module docstring).

    >>> parse_cluster("local:4")
    ClusterSpec(n_workers=4, threads_per_worker=1, address=None)
    >>> parse_cluster("tcp://10.0.0.5:8786").address
    'tcp://10.0.0.5:8786'
    """
    text = str(value).strip()
    m = _LOCAL.fullmatch(text)
    if m:
        n, t = int(m.group(1)), int(m.group(2) or 1)
        if 1 <= n <= 1024 and 1 <= t <= 256:
            return ClusterSpec(n_workers=n, threads_per_worker=t)
    elif text.startswith(SCHEMES) and len(text) > len(text.split("://")[0]) + 3:
        return ClusterSpec(address=text)
    raise ConfigError(
        "cluster must be 'local:N' (N worker processes, 1..1024), 'local:NxT' or a scheduler "
        f"address such as 'tcp://host:8786'; got {value!r}"
    )


def require_dask() -> Any:
    """The ``distributed`` module, or :class:`MissingDependencyError` naming the extra."""
    require("dask", "cluster")
    return require("distributed", "cluster")


@contextmanager
def connect(cluster: str | ClusterSpec) -> Iterator[Any]:
    """A :class:`distributed.Client` for ``cluster``, closed (with its local cluster) at exit."""
    spec = cluster if isinstance(cluster, ClusterSpec) else parse_cluster(cluster)
    distributed = require_dask()
    if spec.address is not None:
        try:
            client = distributed.Client(spec.address, timeout="30s")
        except OSError as exc:
            raise ConfigError(
                f"cluster must be a reachable Dask scheduler; could not connect to "
                f"{spec.address!r} ({exc})"
            ) from exc
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's mmap
    # threshold: every large NumPy temporary becomes a fresh mapping (page faults, munmap), and
    # the scorer's tiles ran ~1.5x slower per core than in-process (docs/scale-out.md)
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        lc = distributed.LocalCluster(
            n_workers=spec.n_workers,
            threads_per_worker=spec.threads_per_worker,
            processes=True,
            dashboard_address=":0",  # any free port: the HTTP server binds one without a dashboard
            silence_logs=logging.ERROR,
        )
    try:
        with distributed.Client(lc) as client:
            yield client
    finally:
        lc.close()


def is_client(obj: Any) -> bool:
    """True if ``obj`` is a :class:`distributed.Client` (without importing Dask)."""
    return any(c.__module__.startswith("distributed") and c.__name__ == "Client"
               for c in type(obj).__mro__)


def n_threads(client: Any) -> int:
    """Worker threads the cluster has now (at least 1)."""
    return max(1, sum(int(t) for t in client.nthreads().values()))


def hold(value: Any) -> Any:
    """The identity, as a task: ``client.submit(hold, x)`` puts ``x`` on the cluster as a
    result Dask can recompute if the workers holding it die (scattered data it cannot)."""
    return value


def share(client: Any, value: Any) -> Any:
    """A future of ``value`` that every task may take as an argument (one copy per worker)."""
    return client.submit(hold, value, pure=False, retries=3)
