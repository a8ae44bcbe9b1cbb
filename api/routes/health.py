"""``GET /health``: the server is up, what it serves, how many jobs are where, whether they run.

``status`` is ``ok`` (200) or ``degraded`` (503, same body) when jobs cannot run
or be recorded: the worker thread is gone, or the job database refuses
reads or writes (its last write failed and none has succeeded since, the
worker is waiting for it); ``problems`` says which, one line each. A load
balancer or a monitor needs only the status code.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import core
from api.errors import UnavailableError
from api.schemas import Health
from api.store import KINDS, STATUSES
from coverage import __version__

router = APIRouter(tags=["serveur"])


@router.get(
    "/health",
    response_model=Health,
    summary="État du serveur",
    responses={503: {"model": Health, "description": "Serveur dégradé : voir `problems`."}},
)
def health(request: Request) -> JSONResponse:
    """The server is up: version, territories loaded, runs (and every kind of job) by status,
    job in progress; ``degraded`` (503) with the ``problems`` when jobs cannot run or be
    recorded."""
    state = core(request)
    problems = list(state.worker.problems())
    try:
        jobs = {
            kind: {status: state.store.count(status=status, kind=kind) for status in STATUSES}
            for kind in KINDS
        }
    except UnavailableError as exc:
        problems.append(str(exc))
        jobs = {}
    body = Health(
        status="degraded" if problems else "ok",
        problems=problems,
        version=__version__,
        territories=list(state.territories),
        runs=jobs.get("run", {}),
        jobs=jobs,
        running=state.worker.current,
        writes_enabled=state.settings.writes_enabled,
        started_at=state.started_at,
    )
    return JSONResponse(status_code=503 if problems else 200, content=body.model_dump(mode="json"))
