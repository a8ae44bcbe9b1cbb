"""Storage of the queued jobs (SQLAlchemy 2): their request, status, reason and result folder.

One table, ``runs``, for every kind of job (column ``kind``: ``run`` for a
scenario run, ``placement``, ``itinerary``), so that one queue serves them all.
SQLite by default (a real database file that survives a restart); any
SQLAlchemy URL works (``postgresql+psycopg://user@host/db``). A database made
before the ``kind`` column existed gets it on opening (its rows are runs).
Result folders are named by the server (``run-<id>``, ``placement-<id>``...),
never from user input; the table keeps that relative name only.

Statuses: ``queued`` → ``running`` → ``done`` or ``failed`` (with the reason).

Admission is atomic: :meth:`RunStore.create` with ``max_queued`` counts the
waiting jobs and inserts in one write transaction (``BEGIN IMMEDIATE`` on
SQLite, a table lock on PostgreSQL, and a lock between this process's
threads), so that concurrent posts, from threads or processes, never exceed
the limit. A database that fails (disk full, server gone) raises
:class:`api.errors.UnavailableError` (503) with the driver's one-line reason;
the store remembers its last failed write (:attr:`RunStore.write_error`) until
a write succeeds again, for ``/health``.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from api.errors import QueueFullError, UnavailableError

STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed")
KINDS: tuple[str, ...] = ("run", "placement", "itinerary")
"""Kinds of job: a scenario run, a placement study, an itinerary plan."""
INTERRUPTED_REASON = "interrompu par un redémarrage du serveur"
RUN_ID_HEX = 16
"""Run ids are 16 lowercase hexadecimal characters (64 random bits)."""

metadata = MetaData()
runs_table = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("territory", String(64), nullable=False, index=True),
    Column("scenario_name", String(128), nullable=False, index=True),
    Column("scenario_label", Text, nullable=False, default=""),
    Column("origin", String(16), nullable=False, default="api"),
    Column("body", JSON, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("result_dir", String(64), nullable=True),
    Column("headline", JSON, nullable=True),
    Column("kind", String(16), nullable=False, default="run", server_default="run"),
    Index("ix_runs_kind", "kind"),
)
probe_table = Table(
    "write_probe",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("written_at", DateTime(timezone=True), nullable=False),
)
"""One row rewritten by :meth:`RunStore.probe` to learn whether the database takes writes again."""

DATABASE_ERRORS = (DBAPIError, PoolTimeoutError)
"""What a failing database raises through SQLAlchemy (driver errors, an exhausted pool)."""


@dataclass(frozen=True)
class RunRecord:
    """One row of the ``runs`` table.

    Attributes
    ----------
    id
        Server-generated id (16 hexadecimal characters).
    territory, scenario_name, scenario_label
        What was run.
    origin
        ``api`` (posted) or ``startup`` (the default scenario run by the server).
    body
        The scenario as posted (plain data).
    status, reason
        State, and why it failed.
    created_at, started_at, finished_at
        UTC times.
    result_dir
        Name of the result folder under the server's results directory.
    headline
        The headline figures of a finished run.
    kind
        ``run`` (a scenario run), ``placement`` or ``itinerary``.
    """

    id: str
    territory: str
    scenario_name: str
    scenario_label: str
    origin: str
    body: dict[str, Any]
    status: str
    reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result_dir: str | None
    headline: Any
    kind: str = "run"

    def result_path(self, results_dir: Path) -> Path | None:
        """The result folder (server-named) under ``results_dir``, when the run is done."""
        if self.status != "done" or not self.result_dir:
            return None
        return results_dir / self.result_dir


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def new_run_id() -> str:
    """A fresh random run id."""
    return secrets.token_hex(RUN_ID_HEX // 2)


def result_dir_name(run_id: str, kind: str = "run") -> str:
    """The result folder name of a job (built from the server-generated id and kind only)."""
    if len(run_id) != RUN_ID_HEX or any(c not in "0123456789abcdef" for c in run_id):
        raise ValueError(f"identifiant de tâche non généré par le serveur : {run_id!r}")
    if kind not in KINDS:
        raise ValueError(f"type de tâche inconnu : {kind!r}")
    return f"{kind}-{run_id}"


class RunStore:
    """The runs table behind a SQLAlchemy engine.

    Parameters
    ----------
    url
        SQLAlchemy database URL; for SQLite the file's folder is created.
    """

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        kwargs: dict[str, Any] = {"future": True}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.url = url
        self.engine: Engine = create_engine(url, **kwargs)
        self.write_error: str | None = None
        """Why the last write failed (None: the last write went through)."""
        self.write_failed_at: datetime | None = None
        self._admission = threading.Lock()
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        _add_kind_column(self.engine)
        metadata.create_all(self.engine)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except DATABASE_ERRORS as exc:
            raise UnavailableError(
                f"la base des tâches ne répond pas ({database_reason(exc)}) ; réessayez plus tard"
            ) from exc

    @contextmanager
    def _writing(self, *, immediate: bool = False) -> Iterator[Connection]:
        """A write transaction; ``immediate`` takes SQLite's write lock at its start."""
        try:
            with self.engine.connect() as conn:
                if immediate:
                    conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    yield conn
        except DATABASE_ERRORS as exc:
            self.write_error, self.write_failed_at = database_reason(exc), _now()
            raise UnavailableError(
                f"la base des tâches refuse l'écriture ({self.write_error}) ; réessayez plus tard"
            ) from exc
        self.write_error = None

    # --- reading ------------------------------------------------------------------------------

    def get(self, run_id: str) -> RunRecord | None:
        """The run, or None."""
        with self._reading() as conn:
            row = conn.execute(select(runs_table).where(runs_table.c.id == run_id)).first()
        return _record(row) if row is not None else None

    def list_runs(
        self,
        *,
        territory: str | None = None,
        status: str | None = None,
        scenario_name: str | None = None,
        kind: str | None = "run",
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Jobs of a kind (default: scenario runs; None: every kind), newest first."""
        query = select(runs_table)
        if kind is not None:
            query = query.where(runs_table.c.kind == kind)
        if territory is not None:
            query = query.where(runs_table.c.territory == territory)
        if status is not None:
            query = query.where(runs_table.c.status == status)
        if scenario_name is not None:
            query = query.where(runs_table.c.scenario_name == scenario_name)
        query = query.order_by(runs_table.c.created_at.desc(), runs_table.c.id).limit(limit)
        query = query.offset(offset)
        with self._reading() as conn:
            return [_record(row) for row in conn.execute(query)]

    def count(self, *, status: str | None = None, kind: str | None = None) -> int:
        """Number of jobs (with a status, of a kind; every kind by default)."""
        query = select(func.count()).select_from(runs_table)
        if status is not None:
            query = query.where(runs_table.c.status == status)
        if kind is not None:
            query = query.where(runs_table.c.kind == kind)
        with self._reading() as conn:
            return int(conn.execute(query).scalar_one())

    def latest_done(
        self, territory: str, scenario_name: str, *, origin: str | None = None
    ) -> RunRecord | None:
        """The most recent finished run of a scenario (started by ``origin`` when given)."""
        query = (
            select(runs_table)
            .where(runs_table.c.territory == territory)
            .where(runs_table.c.scenario_name == scenario_name)
            .where(runs_table.c.status == "done")
            .where(runs_table.c.kind == "run")
        )
        if origin is not None:
            query = query.where(runs_table.c.origin == origin)
        query = query.order_by(runs_table.c.finished_at.desc(), runs_table.c.id).limit(1)
        with self._reading() as conn:
            row = conn.execute(query).first()
        return _record(row) if row is not None else None

    # --- writing ------------------------------------------------------------------------------

    def create(
        self,
        *,
        territory: str,
        scenario_name: str,
        scenario_label: str,
        body: dict[str, Any],
        origin: str = "api",
        kind: str = "run",
        max_queued: int | None = None,
    ) -> RunRecord:
        """Add a ``queued`` job (a scenario run unless ``kind`` says otherwise) with a fresh id.

        Parameters
        ----------
        max_queued
            Refuse the job when this many jobs (of every kind) are already queued; the count
            and the insert are one transaction, serialised between threads and processes.

        Raises
        ------
        api.errors.QueueFullError
            When the queue is full.
        api.errors.UnavailableError
            When the database refuses the write.
        """
        if kind not in KINDS:
            raise ValueError(f"type de tâche inconnu : {kind!r}")
        run_id = new_run_id()
        values = {
            "kind": kind,
            "id": run_id,
            "territory": territory,
            "scenario_name": scenario_name,
            "scenario_label": scenario_label,
            "origin": origin,
            "body": body,
            "status": "queued",
            "reason": None,
            "created_at": _now(),
            "started_at": None,
            "finished_at": None,
            "result_dir": None,
            "headline": None,
        }
        with self._admission, self._writing(immediate=max_queued is not None) as conn:
            if max_queued is not None:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("LOCK TABLE runs IN SHARE ROW EXCLUSIVE MODE"))
                waiting = conn.execute(
                    select(func.count())
                    .select_from(runs_table)
                    .where(runs_table.c.status == "queued")
                ).scalar_one()
                if waiting >= max_queued:
                    raise QueueFullError(
                        f"{waiting} tâches attendent déjà (limite MAX_QUEUED_RUNS : {max_queued}) ;"
                        " réessayez plus tard"
                    )
            conn.execute(runs_table.insert().values(**values))
        return RunRecord(**values)

    def mark_running(self, run_id: str) -> None:
        """``queued`` → ``running``."""
        self._set(run_id, status="running", started_at=_now())

    def mark_done(self, run_id: str, *, result_dir: str, headline: Any) -> None:
        """``running`` → ``done``, with the result folder's name and headline figures (and no
        failure reason, whatever an earlier process wrote)."""
        self._set(
            run_id,
            status="done",
            finished_at=_now(),
            result_dir=result_dir,
            headline=headline,
            reason=None,
        )

    def mark_failed(self, run_id: str, reason: str) -> None:
        """→ ``failed`` with the reason."""
        self._set(run_id, status="failed", finished_at=_now(), reason=reason)

    def recover(self) -> tuple[list[str], list[str]]:
        """After a restart: mark ``running`` runs failed; return them and the ``queued`` ids.

        Returns
        -------
        tuple of lists
            Ids marked failed (interrupted), and ids still queued (oldest first).
        """
        with self._writing() as conn:
            interrupted = [
                r.id
                for r in conn.execute(
                    select(runs_table.c.id).where(runs_table.c.status == "running")
                )
            ]
            if interrupted:
                conn.execute(
                    update(runs_table)
                    .where(runs_table.c.id.in_(interrupted))
                    .values(status="failed", reason=INTERRUPTED_REASON, finished_at=_now())
                )
            queued = [
                r.id
                for r in conn.execute(
                    select(runs_table.c.id)
                    .where(runs_table.c.status == "queued")
                    .order_by(runs_table.c.created_at)
                )
            ]
        return interrupted, queued

    def probe(self) -> None:
        """Write one small row, to learn whether the database takes writes again.

        Raises
        ------
        api.errors.UnavailableError
            When it still refuses.
        """
        with self._writing() as conn:
            done = conn.execute(
                update(probe_table).where(probe_table.c.id == 1).values(written_at=_now())
            )
            if done.rowcount == 0:
                conn.execute(probe_table.insert().values(id=1, written_at=_now()))

    def _set(self, run_id: str, **values: Any) -> None:
        with self._writing() as conn:
            conn.execute(update(runs_table).where(runs_table.c.id == run_id).values(**values))


def database_reason(exc: BaseException) -> str:
    """The driver's own one-line message (never the SQL statement or its parameters)."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


def _add_kind_column(engine: Engine) -> None:
    """Give a ``runs`` table made before job kinds its ``kind`` column (existing rows: runs)."""
    inspector = inspect(engine)
    if not inspector.has_table("runs"):
        return
    if "kind" in {c["name"] for c in inspector.get_columns("runs")}:
        return
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE runs ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT 'run'"))
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_runs_kind ON runs (kind)"))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy's recipe: the driver emits no BEGIN of its own, _sqlite_begin does
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """Start SQLite transactions ourselves: ``BEGIN IMMEDIATE`` (the write lock at once) when
    the connection asks for it (admission), plain ``BEGIN`` otherwise."""
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _record(row: Any) -> RunRecord:
    m = row._mapping
    return RunRecord(
        id=m["id"],
        territory=m["territory"],
        scenario_name=m["scenario_name"],
        scenario_label=m["scenario_label"] or "",
        origin=m["origin"],
        body=dict(m["body"] or {}),
        status=m["status"],
        reason=m["reason"],
        created_at=_utc(m["created_at"]),  # type: ignore[arg-type]
        started_at=_utc(m["started_at"]),
        finished_at=_utc(m["finished_at"]),
        result_dir=m["result_dir"],
        headline=m["headline"],
        kind=m["kind"] or "run",
    )
