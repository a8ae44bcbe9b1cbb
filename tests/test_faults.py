"""The API's job machinery under faults: kill -9, a full disk under the database, two servers on
one state directory, a burst of concurrent posts.

Real servers on the real Gers bundle: ``coverage serve`` subprocesses for the
crash and the second server, an in-process app (its worker thread in this
process) for the full disk. The disk is a tiny tmpfs when the test may mount
one (root), otherwise a SQLAlchemy event refuses the database's writes the way
SQLite does when its disk is full.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client
    warnings.filterwarnings("ignore", message=".*httpx2")
    from starlette.testclient import TestClient

from api.app import create_app
from api.errors import QueueFullError, UnavailableError
from api.settings import ApiSettings
from api.state_lock import LOCK_FILE, StateDirLockedError
from api.store import INTERRUPTED_REASON, RunStore
from api.worker import RunWorker
from tests.conftest import REPO

TOKEN = "jeton-de-test-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def scenario(name: str, *, outputs: bool = False, analyses: int = 1) -> dict[str, Any]:
    """A scenario body; without outputs a run of the Gers takes a couple of seconds."""
    kinds = ["tiers_lieu", "france_services", "tiers_lieu"][:analyses]
    body: dict[str, Any] = {
        "scenario": {"name": name, "territory": "gers"},
        "thresholds": {"minutes": [15, 20, 30]},
        "analyses": [{"name": f"a{i}_{kind}", "kinds": [kind]} for i, kind in enumerate(kinds)],
    }
    if not outputs:
        body["outputs"] = {"isochrones": False, "cells": False, "catchments": False, "map": False}
    return body


def wait_status(get: Any, run_id: str, statuses: tuple[str, ...], timeout_s: float) -> dict:
    """Poll ``GET /scenarios/{id}`` until the run's status is one of ``statuses``."""
    deadline = time.monotonic() + timeout_s
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = get(f"/scenarios/{run_id}").json()
        if run["status"] in statuses:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still {run.get('status')} after {timeout_s} s: {run}")


# --- live `coverage serve` subprocesses -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A ``coverage serve`` child process on a state directory; its output goes to a file."""

    def __init__(self, state: Path, port: int, shared_data: Path, log: Path) -> None:
        self.state, self.port, self.log = state, port, log
        env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_API_")}
        env.update(
            {
                "COVERAGE_API_STATE_DIR": str(state),
                "COVERAGE_API_DEFAULT_RUN": "false",
                "COVERAGE_API_TOKEN": TOKEN,
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p
                ),
            }
        )
        command = [sys.executable, "-m", "coverage.cli", "serve", "--port", str(port)]
        command += ["--data", str(shared_data), "--log-level", "warning"]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=REPO)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.http.get("/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, f"the server stopped: {self.output()}"
            assert time.monotonic() < deadline, f"the server did not start: {self.output()}"
            time.sleep(0.2)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def post_run(self, body: dict[str, Any]) -> str:
        response = self.http.post("/scenarios", json=body, headers=AUTH)
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[LiveServer]]:
    """Servers started by a test, stopped after it whatever happened."""
    started: list[LiveServer] = []
    yield started
    for server in started:
        server.stop()


@pytest.mark.network
def test_kill_9_during_a_run_then_restart(
    shared_data: Path, tmp_path: Path, servers: list[LiveServer]
) -> None:
    """A server killed in the middle of a run: on restart the run is failed with the restart
    reason, the staging folders of the dead process are gone, and the next post completes."""
    state, port = tmp_path / "state", free_port()
    first = LiveServer(state, port, shared_data, tmp_path / "first.log")
    servers.append(first)
    first.wait_ready()
    run_id = first.post_run(scenario("tuee", outputs=True, analyses=2))
    wait_status(first.get, run_id, ("running",), 60)
    time.sleep(0.5)
    first.proc.send_signal(signal.SIGKILL)
    assert first.proc.wait(timeout=30) == -signal.SIGKILL
    # what a crash while writing leaves: a staging folder named after the dead process
    planted = state / "results" / f".run-{run_id}.tmp-{first.proc.pid}-1"
    planted.mkdir(parents=True, exist_ok=True)
    (planted / "communes.gpkg").write_bytes(b"\0" * 1024)
    (state / "results" / f".run-{run_id}.old-{first.proc.pid}-2").mkdir()

    second = LiveServer(state, port, shared_data, tmp_path / "second.log")
    servers.append(second)
    second.wait_ready()
    lost = second.get(f"/scenarios/{run_id}").json()
    assert lost["status"] == "failed" and lost["reason"] == INTERRUPTED_REASON
    hidden = [p.name for p in (state / "results").iterdir() if p.name.startswith(".")]
    assert hidden == []
    started = time.monotonic()
    next_id = second.post_run(scenario("apres_redemarrage"))
    done = wait_status(second.get, next_id, ("done", "failed"), 120)
    assert done["status"] == "done" and done["reason"] is None, done
    assert time.monotonic() - started < 60
    assert second.get("/health").json()["status"] == "ok"


@pytest.mark.network
def test_a_second_server_on_the_same_state_refuses_and_touches_nothing(
    shared_data: Path, tmp_path: Path, servers: list[LiveServer]
) -> None:
    """A second ``coverage serve`` on a state directory in use (even on the same, busy port)
    says so in one line naming the directory and the holder, exits non-zero, and the first
    server's run ends ``done`` with no failure reason."""
    state, port = tmp_path / "state", free_port()
    first = LiveServer(state, port, shared_data, tmp_path / "first.log")
    servers.append(first)
    first.wait_ready()
    run_id = first.post_run(scenario("pendant_le_second", outputs=True, analyses=2))
    wait_status(first.get, run_id, ("running",), 60)

    def snapshot() -> dict[str, object]:
        """What a second server could change: the files of the state directory, the lock
        file, and every stored job (the database files themselves are left out: the first
        server keeps writing its own health probes into them)."""
        lock = state / LOCK_FILE
        with sqlite3.connect(f"file:{state / 'runs.sqlite'}?mode=ro", uri=True) as db:
            # the first server's own run may finish meanwhile: ids, kinds and reasons only
            rows = db.execute("SELECT id, kind, reason FROM runs ORDER BY id").fetchall()
        return {
            "files": sorted(p.name for p in state.iterdir()),
            "lock": (lock.stat().st_mtime_ns, lock.stat().st_size, lock.read_bytes()),
            "runs": rows,
        }

    before = snapshot()

    second = LiveServer(state, port, shared_data, tmp_path / "second.log")
    servers.append(second)
    assert second.proc.wait(timeout=60) != 0
    lines = second.output().strip().splitlines()
    assert len(lines) == 1, lines
    assert str(state) in lines[0] and f"processus {first.proc.pid}" in lines[0], lines[0]
    assert snapshot() == before
    assert first.get(f"/scenarios/{run_id}").json()["status"] in ("running", "done")

    done = wait_status(first.get, run_id, ("done", "failed"), 180)
    assert done["status"] == "done" and done["reason"] is None, done
    assert (state / LOCK_FILE).read_text("utf-8").split()[0] == str(first.proc.pid)


# --- a full disk under the database -------------------------------------------------------------


class DiskFull:
    """Fill a tiny tmpfs to the last byte (``start``), free it again (``stop``)."""

    kind = "tmpfs"

    def __init__(self, mount: Path) -> None:
        self.filler = mount / "remplissage.bin"

    def start(self) -> None:
        with self.filler.open("wb", buffering=0) as out:
            for size in (1 << 20, 1 << 12, 1):
                try:
                    while True:
                        out.write(b"\0" * size)
                except OSError:
                    continue

    def stop(self) -> None:
        self.filler.unlink()


class WritesRefused:
    """SQLite's answer to a full disk, given by the database engine to every write."""

    kind = "event"

    def __init__(self, store: RunStore) -> None:
        self.on = False
        event.listen(store.engine, "before_cursor_execute", self._refuse)

    def _refuse(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.on and statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE"):
            raise sqlite3.OperationalError("database or disk is full")

    def start(self) -> None:
        self.on = True

    def stop(self) -> None:
        self.on = False


@pytest.fixture(params=["tmpfs", "event"])
def fault_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def state_dir(tmp_path: Path, fault_kind: str) -> Iterator[Path]:
    """The state directory: on its own 64 MiB tmpfs for the ``tmpfs`` kind (skipped when this
    process may not mount one)."""
    folder = tmp_path / "state"
    folder.mkdir()
    if fault_kind != "tmpfs":
        yield folder
        return
    mount = ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)]
    if os.geteuid() != 0 or subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root): the event variant covers it")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_full_disk_under_the_database(
    shared_data: Path, state_dir: Path, fault_kind: str
) -> None:
    """The database refuses writes in the middle of a run: the worker survives and keeps the
    queue, ``/health`` says degraded (503), a post gets the JSON 503; once the disk has room
    again the run gets its final state (failed with its reason when its results could not be
    written either) and the next job runs."""
    settings = ApiSettings(
        data_dir=shared_data, state_dir=state_dir, token=TOKEN, default_run=False
    )
    app = create_app(settings)
    with TestClient(app) as client:
        core = app.state.core
        fault = DiskFull(state_dir) if fault_kind == "tmpfs" else WritesRefused(core.store)
        first = client.post("/scenarios", json=scenario("disque_plein", analyses=3), headers=AUTH)
        second = client.post("/scenarios", json=scenario("suivante"), headers=AUTH)
        assert first.status_code == second.status_code == 202
        a, b = first.json()["id"], second.json()["id"]
        wait_status(client.get, a, ("running",), 30)
        fault.start()
        try:
            deadline = time.monotonic() + 60
            while (health := client.get("/health")).status_code == 200:
                assert time.monotonic() < deadline, "/health never said degraded"
                time.sleep(0.1)
            assert health.status_code == 503
            body = health.json()
            assert body["status"] == "degraded" and body["problems"], body
            assert any("base" in problem for problem in body["problems"]), body
            refused = client.post("/scenarios", json=scenario("refusee"), headers=AUTH)
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == "application/json"
            assert refused.json()["error"] == "unavailable"
            assert "base" in refused.json()["message"] and str(state_dir) not in refused.text
            time.sleep(1.0)  # the worker keeps trying, the next job keeps waiting
            assert client.get(f"/scenarios/{b}").json()["status"] == "queued"
            assert core.worker.alive()
        finally:
            fault.stop()
        ended = wait_status(client.get, a, ("done", "failed"), 60)
        if fault_kind == "tmpfs":  # its result folder could not be written either
            assert ended["status"] == "failed" and "No space left" in ended["reason"], ended
        else:  # its results are on disk: the done mark, retried, went through
            assert ended["status"] == "done" and ended["reason"] is None, ended
        following = wait_status(client.get, b, ("done", "failed"), 120)
        assert following["status"] == "done", following
        assert client.get("/health").json()["status"] == "ok"
        listed = client.get("/scenarios", params={"limit": 10}).json()["runs"]
        assert "refusee" not in {run["scenario_name"] for run in listed}
        # an in-process second app on this state directory is refused before touching it
        with (
            pytest.raises(StateDirLockedError, match=re.escape(str(state_dir))),
            TestClient(create_app(settings)),
        ):
            pass
        assert client.get("/health").json()["status"] == "ok"


def test_the_worker_outlives_any_exception(tmp_path: Path) -> None:
    """A job that raises anything (even SystemExit), a store that refuses the running mark for a
    while: every job gets its final state and the thread lives on."""
    store = RunStore(f"sqlite:///{tmp_path / 'runs.sqlite'}")
    fault = WritesRefused(store)
    calls: list[str] = []

    def job(record: Any, folder: Path, _progress: Any) -> dict[str, Any]:
        calls.append(record.scenario_label)
        if record.scenario_label == "exit":
            raise SystemExit(3)
        return {"label": record.scenario_label}

    worker = RunWorker(store, tmp_path / "results", jobs={"placement": job})
    worker.start()
    try:
        ids = []
        for label in ("exit", "after_exit"):
            record = store.create(
                territory="gers", scenario_name="x", scenario_label=label, body={}, kind="placement"
            )
            worker.submit(record.id)
            ids.append(record.id)
        assert worker.wait_idle(10)
        fault.start()
        waiting = store_create_unfaulted(store, fault, "during_fault")
        worker.submit(waiting)
        time.sleep(0.6)
        assert store.get(waiting).status == "queued" and worker.alive()
        assert worker.problems() and store.write_error is not None
        fault.stop()
        assert worker.wait_idle(10)
    finally:
        worker.stop()
    exited, after, during = (store.get(i) for i in (*ids, waiting))
    assert exited.status == "failed" and "SystemExit" in exited.reason
    assert after.status == "done" and after.headline == {"label": "after_exit"}
    assert during.status == "done" and during.reason is None
    assert calls == ["exit", "after_exit", "during_fault"]
    assert worker.problems() == [] and store.write_error is None
    worker.check_accepting()  # stopped on purpose: not a problem
    # a thread gone without stop() (the loop ended on its own): degraded, posts refused
    gone = RunWorker(store, tmp_path / "results")
    gone.start()
    gone._queue.put(None)  # what only stop() sends, here without it
    gone._thread.join(timeout=5)
    assert gone.problems() == ["le fil d'exécution des tâches s'est arrêté : redémarrez le serveur"]
    with pytest.raises(UnavailableError, match="redémarrez le serveur"):
        gone.check_accepting()
    store.close()


def store_create_unfaulted(store: RunStore, fault: WritesRefused, label: str) -> str:
    """Store a job while the fault is paused (it was posted before the disk filled)."""
    fault.stop()
    record = store.create(
        territory="gers", scenario_name="x", scenario_label=label, body={}, kind="placement"
    )
    fault.start()
    return record.id


# --- concurrent admission -----------------------------------------------------------------------


@pytest.mark.network
def test_forty_concurrent_posts_with_a_limit_of_five(shared_data: Path, tmp_path: Path) -> None:
    """40 posts at once to a live uvicorn with ``MAX_QUEUED_RUNS=5``: exactly 5 are accepted,
    35 get the JSON 429 (count-then-insert accepted 14 to 19 of them)."""
    import uvicorn

    settings = ApiSettings(
        data_dir=shared_data,
        state_dir=tmp_path / "state",
        token=TOKEN,
        default_run=False,
        max_queued_runs=5,
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    try:
        deadline = time.monotonic() + 120
        while not server.started:
            assert serving.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.1)
        app.state.core.worker.stop()  # nothing leaves the queue during the burst
        barrier = threading.Barrier(40)
        answers: list[httpx.Response] = []

        def post(i: int) -> None:
            body = scenario(f"rafale_{i}")
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                http.get("/health")  # connected before the burst
                barrier.wait()
                answers.append(http.post("/scenarios", json=body, headers=AUTH))

        threads = [threading.Thread(target=post, args=(i,)) for i in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        codes = sorted(r.status_code for r in answers)
        assert codes == [202] * 5 + [429] * 35, codes
        for refused in (r for r in answers if r.status_code == 429):
            assert refused.headers["content-type"] == "application/json"
            assert refused.json()["error"] == "queue_full"
        assert app.state.core.store.count(status="queued") == 5
    finally:
        server.should_exit = True
        serving.join(timeout=30)


ADMIT = """
import sys, time
from api.errors import QueueFullError, UnavailableError
from api.store import RunStore
store = RunStore(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
accepted = 0
for i in range(10):
    try:
        store.create(territory="gers", scenario_name="p", scenario_label="", body={},
                     max_queued=5)
        accepted += 1
    except QueueFullError:
        pass
print(accepted)
"""


def test_admission_is_atomic_across_processes(tmp_path: Path) -> None:
    """Three processes admitting jobs into one SQLite database at the same instant: 5 in all."""
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    RunStore(url).close()
    start_at = str(time.time() + 3.0)
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ADMIT, url, start_at], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    accepted = [int(proc.communicate(timeout=60)[0].strip()) for proc in procs]
    assert sum(accepted) == 5, accepted
    store = RunStore(url)
    assert store.count(status="queued") == 5
    with pytest.raises(QueueFullError, match="5"):
        store.create(territory="gers", scenario_name="p", scenario_label="", body={}, max_queued=5)
    store.close()


def test_the_sweep_spares_live_writers(tmp_path: Path) -> None:
    """Only the staging folders of dead processes (or of this one, at start-up) are removed."""
    from coverage._outdir import sweep_staging

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(dead.stdout)
    names = [
        f".run-a.tmp-{dead_pid}-1",  # a crashed writer
        f".run-b.old-{dead_pid}-2",  # crashed during the swap
        f".run-c.tmp-{os.getpid()}-3",  # this process, before it writes anything
        ".run-d.tmp-1-4",  # a live process (init) at work
        "run-e",  # a result
        ".cache",  # not a staging folder
    ]
    for name in names:
        (tmp_path / name).mkdir()
    removed = sorted(p.name for p in sweep_staging(tmp_path))
    assert removed == sorted(names[:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[3:])
    assert sweep_staging(tmp_path / "absent") == []
