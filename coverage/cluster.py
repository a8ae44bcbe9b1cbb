"""Where a long command runs: this process, a local Dask cluster, or an existing scheduler.

One way to say it everywhere (``--cluster`` on the CLI, ``client=`` in Python):

- absent / ``None``: today's run, in this process, no Dask;
- ``local:N``: a ``distributed.LocalCluster`` of N single-threaded worker processes;
- ``tcp://host:8786`` (or ``tls://``): the scheduler already running there.

Dask is imported only when a cluster is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from coverage.errors import ConfigError
from coverage.progress import Progress, silent

T = TypeVar("T")

DEFAULT_CHUNK_CELLS = 20_000
"""Populated cells joined to the roads, then read, in one task of a single-territory
run on a cluster (``coverage run --cluster ... --chunk-cells``)."""
MAX_CHUNK_CELLS = 5_000_000
"""Largest chunk of cells: one task must fit in a worker's memory."""

MAX_LOCAL_WORKERS = 256
"""Most workers a ``local:N`` cluster may start."""

_LOCAL = re.compile(r"^local:(\d{1,3})$")
_ADDRESS = re.compile(r"^(tcp|tls)://[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed ``--cluster`` value.

    Attributes
    ----------
    kind
        ``"process"`` (no cluster), ``"local"`` or ``"address"``.
    workers
        Workers of a local cluster (0 otherwise).
    address
        Scheduler address (``""`` otherwise).
    """

    kind: str
    workers: int = 0
    address: str = ""


def parse_cluster(value: str | None) -> ClusterSpec:
    """Read a ``--cluster`` value (see the module docstring).

    Raises
    ------
    ConfigError
        A value of none of the three forms, or a worker count out of 1..256; the
        message names ``--cluster``.
    """
    if value is None or not str(value).strip():
        return ClusterSpec("process")
    text = str(value).strip()
    local = _LOCAL.match(text)
    if local:
        workers = int(local.group(1))
        if not 1 <= workers <= MAX_LOCAL_WORKERS:
            raise ConfigError(
                f"--cluster {text!r} : le nombre de workers doit être entre 1 et "
                f"{MAX_LOCAL_WORKERS}"
            )
        return ClusterSpec("local", workers=workers)
    if _ADDRESS.match(text):
        return ClusterSpec("address", address=text)
    raise ConfigError(
        f"--cluster {text!r} non reconnu : attendu local:N (par ex. local:2) ou "
        "l'adresse d'un ordonnanceur Dask (par ex. tcp://10.0.0.5:8786)"
    )


def resolve_cluster(value: str | None) -> ClusterSpec:
    """The cluster of a command: ``--cluster`` when given, else ``$COVERAGE_CLUSTER``, else none.

    Raises
    ------
    ConfigError
        As :func:`parse_cluster`; a bad setting is named as ``COVERAGE_CLUSTER``.
    """
    from coverage.settings import CLUSTER_ENV, cluster_setting

    if value is not None and str(value).strip():
        return parse_cluster(value)
    setting = cluster_setting()
    if not setting:
        return ClusterSpec("process")
    try:
        return parse_cluster(setting)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("--cluster", f"${CLUSTER_ENV}", 1)) from None


def dashboard_link(client: Any) -> str | None:
    """The address of the cluster's Dask dashboard (``None`` when it has none)."""
    try:
        link = client.dashboard_link
    except Exception:  # no dashboard (bokeh absent, or disabled)
        return None
    return str(link) if link else None


def gather_with_progress(
    client: Any, futures: list[Any], *, step: str, progress: Progress | None = None
) -> list[Any]:
    """The results of ``futures`` in their order, telling ``progress`` as each task ends.

    ``progress(step, done=k, total=n)`` is called once at the start and after each
    finished task (what the scheduler reports, retried tasks included once), so
    the CLI's bar follows the cluster. A failed task raises its error here.
    """
    say = progress or silent
    total = len(futures)
    say(step, done=0, total=total)
    if not futures:
        return []
    from distributed import as_completed

    for done, _future in enumerate(as_completed(futures), start=1):
        say(step, done=done, total=total)
    return list(client.gather(futures))


SCATTER_ATTEMPTS = 3
"""Times a cluster step is run again when a worker's death lost the data it had scattered."""
SCATTER_BASE_S = 30.0
"""Time a scatter may take whatever its size (then it is tried again: :func:`with_rescatter`)."""
SCATTER_BYTES_PER_S = 50e6
"""Slowest rate a scatter is allowed: its time limit grows by 1 s per 50 MB sent."""


def scatter_once(client: Any, value: Any) -> Any:
    """``value`` sent once from the client to the cluster; its future.

    The data goes to one worker (``client.scatter(value, hash=False)``); every
    other worker copies it from a peer the first time one of its tasks needs it,
    and keeps it: each worker receives it once, no task carries it. Not
    ``broadcast=True``: the scheduler's replication goes on trying a worker
    killed during it (a ``KeyError``, or 30 s connection timeouts one after the
    other), where a peer copy simply comes from a worker that is alive. Under a
    time limit (:data:`SCATTER_BASE_S` plus 1 s per 50 MB); a worker killed
    while it receives the data ends in :class:`ScatterError`, and a copy lost
    with its only worker cancels the tasks that need it: :func:`with_rescatter`
    runs the step again with a new copy (a new key: ``hash=False``).
    """
    from dask.sizeof import sizeof

    limit = SCATTER_BASE_S + sizeof(value) / SCATTER_BYTES_PER_S
    try:
        # Client.scatter has no overall time limit (its ``timeout`` only waits for workers)
        futures = client.sync(
            client._scatter, [value], hash=False, timeout=limit, callback_timeout=limit
        )
    except (OSError, KeyError) as exc:
        # OSError: CommClosedError, TimeoutError; KeyError: a worker gone meanwhile
        raise ScatterError(f"envoi aux workers interrompu ({type(exc).__name__} : {exc})") from exc
    return futures[0]


class ScatterError(RuntimeError):
    """Sending data to the workers failed as a worker died (:func:`with_rescatter` retries)."""


def with_rescatter(attempt: Callable[[int], T], *, attempts: int = SCATTER_ATTEMPTS) -> T:
    """``attempt(0)``, then ``attempt(1)``… while a worker's death lost scattered data.

    A task whose worker dies runs again elsewhere (``retries=``), but data *scattered*
    from the client (a road network, a search's times) cannot be computed again by
    the scheduler: when its copies are lost (a worker killed while they were being
    made), the tasks that need it are cancelled ("lost dependencies"), or the
    scatter itself fails or runs out of time (:func:`scatter_once`). Then the
    whole step runs again, ``attempt(n)`` scattering its data anew; its tasks are
    pure, so the answer is the same.

    Raises
    ------
    distributed.client.FutureCancelledError, CommClosedError, ScatterError
        Still failing after ``attempts`` tries.
    """
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError

    for number in range(attempts):
        try:
            return attempt(number)
        except (FutureCancelledError, CommClosedError, ScatterError):
            if number == attempts - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def open_client(spec: ClusterSpec) -> Iterator[Any]:
    """A ``distributed.Client`` for a spec (``None`` for ``kind == "process"``), closed after.

    A local cluster runs single-threaded worker processes (the kernels hold the
    GIL only briefly, but the engine's Python steps do not share a process well)
    and is shut down with the client.
    """
    if spec.kind == "process":
        yield None
        return
    from distributed import Client, LocalCluster

    if spec.kind == "local":
        cluster = LocalCluster(
            n_workers=spec.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
        )
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
    else:
        client = Client(spec.address)
        try:
            yield client
        finally:
            client.close()
