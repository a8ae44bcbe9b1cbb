"""Background execution of the queued jobs: one worker thread, one job at a time, in order.

A posted job is stored ``queued`` (:mod:`api.store`) and its id put on the
queue; the worker marks it ``running``, executes it into a server-named folder
(``<results>/<kind>-<id>``), then marks it ``done`` (with its headline figures)
or ``failed`` with the reason. A scenario run (kind ``run``) calls
:func:`coverage.jobs.run.run_scenario` with the territory's preloaded resources;
other kinds (``placement``, ``itinerary``) are executed by the functions given
in ``jobs`` (:mod:`api.jobs`). Runs and studies share the queue, and so its limit.
On start-up, jobs left ``running`` by a crash are marked ``failed``
(``interrompu par un redémarrage du serveur``) and ``queued`` ones are queued
again. One thread is enough: a run of the Gers takes seconds and the
computation holds the interpreter; requests keep being served meanwhile.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from api.geojson import dumps
from api.store import RunRecord, RunStore, result_dir_name
from coverage.errors import CoverageError
from coverage.jobs.run import run_scenario
from coverage.progress import Progress
from coverage.scenario import Scenario, scenario_from_dict

log = logging.getLogger("api.worker")

JobFunction = Callable[[RunRecord, Path, Progress], Any]
"""Executes a stored job into its (server-named) folder; returns its headline figures."""


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
    ) -> None:
        self.store = store
        self.results_dir = results_dir
        self.scenario_for = scenario_for or (lambda record: scenario_from_dict(record.body))
        self.resources_for = resources_for or (lambda _scenario: None)
        self.data_dir = data_dir
        self.on_done = on_done
        self.jobs: dict[str, JobFunction] = {"run": self._run_scenario, **dict(jobs or {})}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.current: str | None = None
        self.step: str | None = None

    def start(self) -> list[str]:
        """Recover the store after a restart and start the thread; returns interrupted ids."""
        self.results_dir.mkdir(parents=True, exist_ok=True)
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

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the thread to stop after the current run, and wait a little for it."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

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
            run_id = self._queue.get()
            try:
                if run_id is None:
                    return
                self.execute(run_id)
            finally:
                self._queue.task_done()

    def execute(self, run_id: str) -> None:
        """Execute one stored job now (in the calling thread)."""
        record = self.store.get(run_id)
        if record is None or record.status != "queued":
            return
        self.current, self.step = run_id, "démarrage"
        self.store.mark_running(run_id)
        name = result_dir_name(record.id, record.kind)
        try:
            job = self.jobs.get(record.kind)
            if job is None:
                raise CoverageError(f"ce serveur n'exécute pas les tâches de type {record.kind!r}")
            headline = job(record, self.results_dir / name, self._progress)
        except CoverageError as exc:
            self.store.mark_failed(run_id, str(exc))
        except Exception as exc:  # a bug must not kill the worker: the run says what happened
            log.exception("run %s failed", run_id)
            self.store.mark_failed(run_id, f"erreur inattendue : {type(exc).__name__}: {exc}")
        else:
            self.store.mark_done(run_id, result_dir=name, headline=headline)
        finally:
            self.current, self.step = None, None
            if self.on_done is not None:
                self.on_done(run_id)

    def _run_scenario(self, record: RunRecord, folder: Path, progress: Progress) -> Any:
        scenario = self.scenario_for(record)
        result = run_scenario(
            scenario,
            output_dir=folder,
            overwrite=True,
            data_dir=self.data_dir,
            resources=self.resources_for(scenario),
            progress=progress,
        )
        return headline_of(result.summary)

    def _progress(self, step: str, /, *, done: int | None = None, total: int | None = None) -> None:
        self.step = f"{step} ({done}/{total})" if done is not None and total else step
