"""Scenario runs: submit (token), list, status, summary, commune layer, comparison of two runs.

``POST /scenarios`` checks the scenario against the territory's catalogue at
once (422 naming the key for any mistake), stores it ``queued`` and returns
``202`` with the run; the worker (:mod:`api.worker`) runs it in the
background. Admission is one transaction (:meth:`api.store.RunStore.create`):
concurrent posts never queue more than ``MAX_QUEUED_RUNS`` jobs (429 beyond),
and a database that refuses the write gives 503. Results are read from the
run's server-named folder.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from api.cache import CachedBody, cached_response
from api.deps import (
    CantonQuery,
    EpciQuery,
    RunIdPath,
    SimplifyQuery,
    check_health_kinds,
    core,
    done_folder,
    get_run,
    strip_paths,
    strip_paths_in_text,
)
from api.errors import InvalidParameterError
from api.geojson import dumps
from api.jobs import scenario_with_lists
from api.routes.territories import COMMUNES_EXAMPLE, geojson_response_doc, run_communes_response
from api.schemas import RunList, RunOut, RunStatus, ScenarioBody, error_responses
from api.security import require_token
from api.state import AppState
from api.store import RunRecord
from coverage.access import public_counts
from coverage.errors import QueryError, TerritoryNotFoundError
from coverage.scenario import scenario_from_dict, select_services

router = APIRouter(tags=["scénarios"])


def run_out(state: AppState, record: RunRecord) -> RunOut:
    """A stored run as the API shows it."""
    links = {"self": f"/scenarios/{record.id}"}
    if record.status == "done":
        links.update(
            {
                "summary": f"/scenarios/{record.id}/summary",
                "communes": f"/scenarios/{record.id}/communes",
                "map": f"/maps/coverage?run={record.id}",
            }
        )
    return RunOut(
        id=record.id,
        territory=record.territory,
        scenario_name=record.scenario_name,
        scenario_label=record.scenario_label,
        origin=record.origin,  # type: ignore[arg-type]
        status=record.status,  # type: ignore[arg-type]
        reason=strip_paths_in_text(record.reason),
        step=state.worker.step if state.worker.current == record.id else None,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        headline=record.headline,
        links=links,
    )


@router.post(
    "/scenarios",
    status_code=202,
    response_model=RunOut,
    summary="Lancer un scénario (jeton requis)",
    responses=error_responses(401, 403, 413, 422, 429, 503),
    dependencies=[Depends(require_token)],
)
def submit(request: Request, body: ScenarioBody) -> JSONResponse:
    """Check a scenario and queue its run; returns the run (``queued``) and its URL.

    The scenario has the tables of a scenario file (docs/scenario-format.md).
    Set ``outputs`` to false for a faster run when only figures are needed;
    ``services.lists`` adds service lists imported on the server
    (``GET /services/{territory}/lists``) to its catalogue.
    """
    state = core(request)
    raw = body.to_scenario_dict()
    try:
        t = state.territory(body.scenario.territory)
    except TerritoryNotFoundError as exc:
        raise InvalidParameterError(str(exc), field="scenario.territory") from None
    scenario = scenario_from_dict(scenario_with_lists(raw, t))
    resources = t.resources_for_files(scenario.extra_files)
    catalogue = resources.catalogue
    select_services(scenario, catalogue.frame, resources.territory, known_kinds=catalogue.kinds)
    check_health_kinds(scenario, catalogue.kinds)
    for number, analysis in enumerate(scenario.analyses):
        try:  # an unknown public is refused now, not when the run fails
            public_counts(resources.context, analysis.public)
        except QueryError as exc:
            raise InvalidParameterError(str(exc), field=f"analyses.{number}.public") from None
    state.worker.check_accepting()
    record = state.store.create(
        territory=t.name,
        scenario_name=scenario.name,
        scenario_label=scenario.label,
        body=raw,
        origin="api",
        max_queued=state.settings.max_queued_runs,
    )
    state.worker.submit(record.id)
    out = run_out(state, record)
    return JSONResponse(
        status_code=202,
        content=out.model_dump(mode="json"),
        headers={"Location": f"/scenarios/{record.id}"},
    )


@router.get(
    "/scenarios",
    response_model=RunList,
    summary="Liste des scénarios lancés",
    responses=error_responses(422),
)
def list_runs(
    request: Request,
    territory: Annotated[str | None, Query(pattern=r"^[a-z0-9_-]{1,64}$")] = None,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RunList:
    """Runs, newest first, with their status."""
    state = core(request)
    records = state.store.list_runs(territory=territory, status=status, limit=limit, offset=offset)
    return RunList(
        runs=[run_out(state, r) for r in records],
        queued=state.store.count(status="queued"),
        running=state.worker.current,
    )


@router.get(
    "/scenarios/{run_id}",
    response_model=RunOut,
    summary="État d'un scénario",
    responses=error_responses(404, 422),
)
def get(request: Request, run_id: RunIdPath) -> RunOut:
    """A run: ``queued``, ``running`` (with its step), ``done`` (with its headline figures)
    or ``failed`` (with the reason)."""
    state = core(request)
    return run_out(state, get_run(state, run_id))


@router.get(
    "/scenarios/{run_id}/summary",
    response_model=dict[str, Any],
    summary="Résumé complet d'un scénario terminé",
    responses=error_responses(404, 409, 422),
)
async def summary(request: Request, run_id: RunIdPath) -> Response:
    """The run's ``summary.json``: every figure with its method and provenance."""
    state = core(request)
    record = get_run(state, run_id)
    folder = done_folder(state, record)
    return await cached_response(
        request,
        state.results_cache,
        ("summary", record.id),
        lambda: CachedBody.build(dumps(strip_paths(folder.summary)), "application/json"),
    )


@router.get(
    "/scenarios/{run_id}/communes",
    response_class=Response,
    summary="Communes d'un scénario terminé, avec ses indicateurs (GeoJSON)",
    responses={**geojson_response_doc(COMMUNES_EXAMPLE), **error_responses(404, 409, 422)},
)
async def communes(
    request: Request,
    run_id: RunIdPath,
    analysis: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z0-9_]{1,64}$", description="Only this analysis's indicators."),
    ] = None,
    canton: CantonQuery = None,
    epci: EpciQuery = None,
    simplify_m: SimplifyQuery = 0,
) -> Response:
    """The communes with the run's indicators (EPSG:4326)."""
    state = core(request)
    record = get_run(state, run_id)
    folder = done_folder(state, record)
    t = state.territory(record.territory)
    return await run_communes_response(
        request,
        t,
        record.id,
        folder,
        analysis=analysis,
        canton=canton,
        epci=epci,
        simplify_m=simplify_m,
    )


@router.get(
    "/scenarios/{run_id}/compare/{other_id}",
    response_model=dict[str, Any],
    summary="Comparer deux scénarios terminés",
    responses=error_responses(404, 409, 422),
)
async def compare(
    request: Request,
    run_id: RunIdPath,
    other_id: Annotated[str, RunIdPath],
) -> Response:
    """Inhabitants gaining or losing access from run A (``run_id``) to run B (``other_id``),
    per analysis and threshold (``totals``) and per commune (``changes``)."""
    from coverage.jobs.compare import compare_results

    state = core(request)
    a = get_run(state, run_id, field="run_id")
    b = get_run(state, other_id, field="other_id")
    folder_a = done_folder(state, a, field="run_id")
    folder_b = done_folder(state, b, field="other_id")

    def compute() -> CachedBody:
        comparison = compare_results(folder_a.path, folder_b.path)
        data = comparison.to_dict()
        data["runs"] = {"a": a.id, "b": b.id}
        return CachedBody.build(dumps(data), "application/json")

    return await cached_response(request, state.results_cache, ("compare", a.id, b.id), compute)
