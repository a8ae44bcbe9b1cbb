"""Background execution of the queued jobs: one worker thread, one job at a time, in order.

A posted job is stored ``queued`` (:mod:`api.store`) and its id put on the
queue; the worker marks it ``running``, executes it into a server-named folder
(``<results>/<kind>-<id>``), then marks it ``done`` (with its headline figures)
or ``failed`` with the reason. A scenario run (kind ``run``) calls
:func:`coverage.jobs.run.run_scenario` with the territory's preloaded resources;
other kinds (``placement``, ``itinerary``) are executed by the functions given
in ``jobs`` (:mod:`api.jobs`). Runs and studies share the queue, and so its limit.
On start-up, jobs left ``running`` by a crash are marked ``failed``
(``interrompu par un redémarrage du serveur``), ``queued`` ones are queued
again and the staging folders of crashed runs (``.<name>.tmp-*``, ``.<name>.old-*``)
are removed. One thread is enough: a run of the Gers takes seconds and the
computation holds the interpreter; requests keep being served meanwhile.

Nothing ends the thread but :meth:`RunWorker.stop`: a job that raises anything
is failed with the reason, and a store write that fails (the database's disk
is full, its server is gone) is retried, with a growing pause, until it goes
through. Meanwhile the next jobs wait in the queue (nothing is lost, nothing is
run whose state could not be recorded) and :meth:`RunWorker.problems` tells
``/health`` why the worker is stuck.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from api.errors import UnavailableError
from api.geojson import dumps
from api.memory import release_memory
from api.store import RunRecord, RunStore, database_reason, result_dir_name
from coverage._outdir import sweep_staging
from coverage.errors import CoverageError
from coverage.jobs.run import run_scenario
from coverage.progress import Progress
from coverage.scenario import Scenario, scenario_from_dict

log = logging.getLogger("api.worker")

JobFunction = Callable[[RunRecord, Path, Progress], Any]
"""Executes a stored job into its (server-named) folder; returns its headline figures."""

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 2.0
"""Pauses between two attempts at a store write that failed (doubling from first to max)."""


def headline_of(summary: dict[str, Any]) -> dict[str, Any]:
    """The small part of a run's summary kept in the database (listing runs cheaply)."""
    small = {
        "headline": summary.get("headline", []),
        "analyses": {
            name: {
                "label": figures.get("label"),
                "services": figures.get("services"),
                "population": figures.get("population"),
                "minutes_mean": figures.get("minutes_mean"),
                "reference_minutes": figures.get("reference_minutes"),
                "thresholds": figures.get("thresholds"),
            }
            for name, figures in summary.get("analyses", {}).items()
        },
    }
    return json.loads(dumps(small))


class RunWorker:
    """The thread that executes queued jobs.

    Parameters
    ----------
    store
        The job store.
    results_dir
        Folder of the result directories (created if missing).
    scenario_for
        Turns a stored run into the :class:`~coverage.scenario.Scenario` to run.
    resources_for
        The preloaded resources serving a scenario (or None to let the run load them).
    data_dir
        Data bundle directory (used when the resources do not match the scenario).
    on_done
        Called with the job id after each finished or failed job (cache invalidation).
    jobs
        Executors of the other kinds of job, by kind (``placement``, ``itinerary``).
    """

    def __init__(
        self,
        store: RunStore,
        results_dir: Any,
        *,
        scenario_for: Callable[[RunRecord], Scenario] | None = None,
        resources_for: Callable[[Scenario], Any] | None = None,
        data_dir: Any = None,
        on_done: Callable[[str], None] | None = None,
        jobs: Mapping[str, JobFunction] | None = None,
        cluster: str | None = None,
    ) -> None:
        self.store = store
        self.cluster = cluster
        self._client: Any = None
        self._client_context: Any = None
        self.results_dir = results_dir
        self.scenario_for = scenario_for or (lambda record: scenario_from_dict(record.body))
        self.resources_for = resources_for or (lambda _scenario: None)
        self.data_dir = data_dir
        self.on_done = on_done
        self.jobs: dict[str, JobFunction] = {"run": self._run_scenario, **dict(jobs or {})}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.current: str | None = None
        self.step: str | None = None
        self.blocked: str | None = None
        """Why the worker is waiting for the store (None when it is not)."""

    def start(self) -> list[str]:
        """Recover the store after a restart, sweep staging folders left by a crash and start
        the thread; returns the interrupted ids."""
        self.results_dir.mkdir(parents=True, exist_ok=True)
        if self.cluster:
            from coverage.cluster import open_client, parse_cluster

            self._client_context = open_client(parse_cluster(self.cluster))
            self._client = self._client_context.__enter__()
            log.info("calculs des scénarios sur la grappe Dask %s", self.cluster)
        for folder in sweep_staging(self.results_dir):
            log.warning("dossier provisoire d'une tâche interrompue supprimé : %s", folder.name)
        interrupted, queued = self.store.recover()
        for run_id in queued:
            self._queue.put(run_id)
        self._thread = threading.Thread(target=self._loop, name="coverage-runs", daemon=True)
        self._thread.start()
        return interrupted

    def submit(self, run_id: str) -> None:
        """Queue a stored run."""
        self._queue.put(run_id)

    def pending(self) -> int:
        """Runs waiting in the queue."""
        return self._queue.qsize()

    def alive(self) -> bool:
        """Whether the thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def problems(self) -> list[str]:
        """What keeps jobs from running or being recorded, in French (empty: all is well).

        A worker stopped on purpose (:meth:`stop`) is not a problem.
        """
        found = []
        if self._thread is not None and not self.alive() and not self._stopping.is_set():
            found.append("le fil d'exécution des tâches s'est arrêté : redémarrez le serveur")
        if self.blocked is not None:
            found.append(self.blocked)
        elif self.store.write_error is not None:
            found.append(
                f"la dernière écriture dans la base des tâches a échoué : {self.store.write_error}"
            )
        return found

    def check_accepting(self) -> None:
        """Refuse a new job when no thread will ever run it.

        Raises
        ------
        api.errors.UnavailableError
            When the thread died (it is never expected to).
        """
        if self._thread is not None and not self.alive() and not self._stopping.is_set():
            raise UnavailableError(
                "le fil d'exécution des tâches s'est arrêté ; la tâche ne serait jamais lancée "
                "(redémarrez le serveur)"
            )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the thread to stop after the current run, and wait a little for it."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
        if self._client_context is not None:
            context, self._client_context, self._client = self._client_context, None, None
            context.__exit__(None, None, None)

    def wait_idle(self, timeout_s: float = 120.0) -> bool:
        """Block until the queue is empty and no run is going (tests, benchmarks)."""
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.05)
        return False

    def _loop(self) -> None:
        while True:
            # idle after a refused write (a post's): probe the store until it takes writes
            wait = RETRY_MAX_S if self.store.write_error is not None else None
            try:
                run_id = self._queue.get(timeout=wait)
            except queue.Empty:
                run_id = ""
            try:
                if run_id is None:
                    return
                if run_id:
                    self.execute(run_id)
                else:
                    self.store.probe()
            except UnavailableError as exc:  # the probe, or stop() during a retried write
                log.warning("base des tâches indisponible : %s", exc)
            except BaseException:  # nothing but stop() may end the worker
                log.exception("fil d'exécution des tâches : erreur (tâche %s)", run_id or "-")
            finally:
                if run_id != "":
                    self._queue.task_done()

    def execute(self, run_id: str) -> None:
        """Execute one stored job now (in the calling thread).

        A job that raises anything is marked ``failed`` with the reason; the store writes
        (``running``, then ``done`` or ``failed``) are retried until they go through or the
        worker is stopped.
        """
        record = self._retrying(lambda: self.store.get(run_id))
        if record is None or record.status != "queued":
            return
        self.current, self.step = run_id, "démarrage"
        try:
            self._retrying(lambda: self.store.mark_running(run_id))
            name = result_dir_name(record.id, record.kind)
            try:
                job = self.jobs.get(record.kind)
                if job is None:
                    raise CoverageError(
                        f"ce serveur n'exécute pas les tâches de type {record.kind!r}"
                    )
                headline = job(record, self.results_dir / name, self._progress)
            except CoverageError as exc:
                reason = str(exc)
            except BaseException as exc:  # a bug, even SystemExit: the job says what happened
                log.exception("run %s failed", run_id)
                reason = f"erreur inattendue : {type(exc).__name__}: {exc}"
            else:
                self._retrying(
                    lambda: self.store.mark_done(run_id, result_dir=name, headline=headline)
                )
                return
            self._retrying(lambda: self.store.mark_failed(run_id, reason))
        finally:
            self.current, self.step = None, None
            # a run allocates hundreds of MB it does not keep: hand them back now rather
            # than at the next request's computation (the server idles at what it holds)
            release_memory(force=True)
            if self.on_done is not None:
                try:
                    self.on_done(run_id)
                except Exception:
                    log.exception("tâche %s : nettoyage après la tâche en erreur", run_id)

    def _retrying(self, write: Callable[[], Any]) -> Any:
        """Call a store operation until the store answers (or the worker is stopped).

        Raises
        ------
        api.errors.UnavailableError
            Only when the worker is stopped while the store still refuses.
        """
        pause = RETRY_FIRST_S
        since = time.strftime("%H:%M:%S")
        while True:
            try:
                result = write()
            except UnavailableError as exc:
                reason = database_reason(exc.__cause__ or exc)
                what = f"la tâche {self.current}" if self.current else "la file"
                self.blocked = (
                    f"la base des tâches ne répond pas depuis {since} ({reason}) : "
                    f"{what} attend qu'elle réponde"
                )
                log.warning(
                    "base des tâches indisponible (nouvel essai dans %.1f s) : %s", pause, reason
                )
                if self._stopping.wait(pause):
                    raise
                pause = min(pause * 2, RETRY_MAX_S)
                continue
            if self.blocked is not None:
                log.warning("la base des tâches répond de nouveau")
            self.blocked = None
            return result

    def _run_scenario(self, record: RunRecord, folder: Path, progress: Progress) -> Any:
        scenario = self.scenario_for(record)
        if self._client is not None:
            return self._run_on_cluster(scenario, folder, progress)
        result = run_scenario(
            scenario,
            output_dir=folder,
            overwrite=True,
            data_dir=self.data_dir,
            resources=self.resources_for(scenario),
            progress=progress,
        )
        return headline_of(result.summary)

    def _run_on_cluster(self, scenario: Scenario, folder: Path, progress: Progress) -> Any:
        """One Dask task (:func:`coverage.jobs.run_many.run_job`), retried if its worker is lost."""
        from coverage.cluster import gather_with_progress
        from coverage.jobs.run_many import RunJob, run_job

        job = RunJob(name=folder.name, scenario=scenario)
        data = None if self.data_dir is None else str(Path(self.data_dir).resolve())
        future = self._client.submit(
            run_job, job, str(folder.parent.resolve()), data, None, retries=3, pure=False
        )
        (outcome,) = gather_with_progress(
            self._client, [future], step="Calcul sur la grappe Dask", progress=progress
        )
        if outcome.status != "ok":
            raise CoverageError(outcome.message)
        return headline_of(outcome.summary)

    def _progress(self, step: str, /, *, done: int | None = None, total: int | None = None) -> None:
        self.step = f"{step} ({done}/{total})" if done is not None and total else step
