"""Background execution of scenario runs: one worker thread, runs one at a time, in order.

A posted run is stored ``queued`` (:mod:`api.store`) and its id put on the
queue; the worker marks it ``running``, calls :func:`coverage.jobs.run.run_scenario`
with the territory's preloaded resources into a server-named folder
(``<results>/run-<id>``), then marks it ``done`` or ``failed`` with the reason.
On start-up, runs left ``running`` by a crash are marked ``failed``
(``interrompu par un redémarrage du serveur``) and ``queued`` ones are queued
again. One thread is enough: a run of the Gers takes seconds and the
computation holds the interpreter; requests keep being served meanwhile.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from api.geojson import dumps
from api.store import RunRecord, RunStore, result_dir_name
from coverage.errors import CoverageError
from coverage.jobs.run import run_scenario
from coverage.scenario import Scenario, scenario_from_dict

log = logging.getLogger("api.worker")


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
    """The thread that executes queued runs.

    Parameters
    ----------
    store
        The run store.
    results_dir
        Folder of the result directories (created if missing).
    scenario_for
        Turns a stored run into the :class:`~coverage.scenario.Scenario` to run.
    resources_for
        The preloaded resources of a territory (or None to let the run load them).
    data_dir
        Data bundle directory (used when the resources do not match the scenario).
    on_done
        Called with the run id after each finished or failed run (cache invalidation).
    """

    def __init__(
        self,
        store: RunStore,
        results_dir: Any,
        *,
        scenario_for: Callable[[RunRecord], Scenario] | None = None,
        resources_for: Callable[[str], Any] | None = None,
        data_dir: Any = None,
        on_done: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.results_dir = results_dir
        self.scenario_for = scenario_for or (lambda record: scenario_from_dict(record.body))
        self.resources_for = resources_for or (lambda _territory: None)
        self.data_dir = data_dir
        self.on_done = on_done
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
        """Run one stored run now (in the calling thread)."""
        record = self.store.get(run_id)
        if record is None or record.status != "queued":
            return
        self.current, self.step = run_id, "démarrage"
        self.store.mark_running(run_id)
        name = result_dir_name(record.id)
        try:
            scenario = self.scenario_for(record)
            result = run_scenario(
                scenario,
                output_dir=self.results_dir / name,
                overwrite=True,
                data_dir=self.data_dir,
                resources=self.resources_for(record.territory),
                progress=self._progress,
            )
        except CoverageError as exc:
            self.store.mark_failed(run_id, str(exc))
        except Exception as exc:  # a bug must not kill the worker: the run says what happened
            log.exception("run %s failed", run_id)
            self.store.mark_failed(run_id, f"erreur inattendue : {type(exc).__name__}: {exc}")
        else:
            self.store.mark_done(run_id, result_dir=name, headline=headline_of(result.summary))
        finally:
            self.current, self.step = None, None
            if self.on_done is not None:
                self.on_done(run_id)

    def _progress(self, label: str) -> None:
        self.step = label
