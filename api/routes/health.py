"""``GET /health``: the server is up, what it serves, how many runs are where."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import core
from api.schemas import Health
from api.store import KINDS, STATUSES
from coverage import __version__

router = APIRouter(tags=["serveur"])


@router.get("/health", response_model=Health, summary="État du serveur")
def health(request: Request) -> Health:
    """The server is up: version, territories loaded, runs (and every kind of job) by status,
    job in progress."""
    state = core(request)
    return Health(
        status="ok",
        version=__version__,
        territories=list(state.territories),
        runs={status: state.store.count(status=status, kind="run") for status in STATUSES},
        jobs={
            kind: {status: state.store.count(status=status, kind=kind) for status in STATUSES}
            for kind in KINDS
        },
        running=state.worker.current,
        writes_enabled=state.settings.writes_enabled,
        started_at=state.started_at,
    )
