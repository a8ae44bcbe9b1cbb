"""Itinerary plans: submit (token), status with figures, calendar (iCalendar), stops (GeoJSON).

``POST /itineraries`` checks the settings against the territory at once (422
naming the field), stores the plan ``queued`` on the run queue and returns
``202``; the worker runs :func:`coverage.jobs.itinerary.plan_itinerary` on the
territory's preloaded resources and writes the plan's files into a
server-named folder (``itinerary-<id>``).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from api.cache import CachedBody, cached_response
from api.deps import RunIdPath, core, done_path, get_run
from api.geojson import feature_collection
from api.job_schemas import ITINERARY_OUT_EXAMPLE, ItineraryBody, ItineraryOut
from api.jobs import check_itinerary, itinerary_label, job_fields, job_territory, queue_job
from api.routes.territories import GEOJSON, geojson_response_doc
from api.schemas import error_responses
from api.security import require_token
from api.state import AppState
from api.store import RunRecord

router = APIRouter(tags=["études"])
KIND = "itinerary"
CALENDAR = "text/calendar; charset=utf-8"
ICS_EXAMPLE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//coverage-territoires//FR\r\n"
    "BEGIN:VEVENT\r\nSUMMARY:Service public itinérant – Saramon\r\n"
    "DTSTART;TZID=Europe/Paris:20270104T090000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
STOPS_EXAMPLE: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "32412",
            "properties": {
                "insee_code": "32412",
                "name": "Saramon",
                "visits": 4,
                "days": "04/01, 15/03, 07/06, 13/09",
            },
            "geometry": {"type": "Point", "coordinates": [0.7766, 43.5240]},
        }
    ],
}


def itinerary_out(state: AppState, record: RunRecord) -> ItineraryOut:
    """A stored itinerary plan as the API shows it."""
    links = {"self": f"/itineraries/{record.id}"}
    if record.status == "done":
        links.update(
            {
                "calendar": f"/itineraries/{record.id}/calendar.ics",
                "stops": f"/itineraries/{record.id}/stops",
            }
        )
    head = record.headline or {}
    return ItineraryOut(**job_fields(state, record), links=links, summary=head.get("summary"))


@router.post(
    "/itineraries",
    status_code=202,
    response_model=ItineraryOut,
    summary="Planifier un service itinérant (jeton requis)",
    responses={
        202: {
            "content": {
                "application/json": {
                    "example": {**ITINERARY_OUT_EXAMPLE, "status": "queued", "summary": None}
                }
            }
        },
        **error_responses(401, 403, 413, 422, 429, 503),
    },
    dependencies=[Depends(require_token)],
)
def submit(request: Request, body: ItineraryBody) -> JSONResponse:
    """Met en file un plan de service itinérant (comme `coverage itinerary`) : choix des
    arrêts, calendrier des passages, tournées du jour ; renvoie son état (`queued`) et son
    adresse. La file et sa limite sont celles des scénarios."""
    state = core(request)
    t = job_territory(state, body.territory)
    settings = check_itinerary(t, body)
    stored = body.model_dump(mode="json")
    stored["territory"] = t.name
    record = queue_job(
        state, kind=KIND, territory=t.name, label=itinerary_label(settings), body=stored
    )
    return JSONResponse(
        status_code=202,
        content=itinerary_out(state, record).model_dump(mode="json"),
        headers={"Location": f"/itineraries/{record.id}"},
    )


@router.get(
    "/itineraries/{itinerary_id}",
    response_model=ItineraryOut,
    summary="État d'un plan d'itinérance et ses chiffres",
    responses={
        200: {"content": {"application/json": {"example": ITINERARY_OUT_EXAMPLE}}},
        **error_responses(404, 422),
    },
)
def get(request: Request, itinerary_id: RunIdPath) -> ItineraryOut:
    """Le plan : `queued`, `running` (avec son étape), `failed` (avec la raison) ou `done`,
    avec ses arrêts, jours, permanences, kilomètres, population atteinte et espacements."""
    state = core(request)
    return itinerary_out(state, get_run(state, itinerary_id, kind=KIND))


@router.get(
    "/itineraries/{itinerary_id}/calendar.ics",
    response_class=Response,
    summary="Calendrier des permanences d'un plan terminé (iCalendar)",
    responses={
        200: {
            "description": "Calendrier iCalendar (RFC 5545), heures de Paris.",
            "content": {"text/calendar": {"schema": {"type": "string"}, "example": ICS_EXAMPLE}},
        },
        **error_responses(404, 409, 422, by_ref=True),
    },
)
async def calendar(request: Request, itinerary_id: RunIdPath) -> Response:
    """Une permanence par événement, à importer dans un agenda."""
    state = core(request)
    record = get_run(state, itinerary_id, kind=KIND)
    folder = done_path(state, record)

    def compute() -> CachedBody:
        return CachedBody.build((folder / "calendar.ics").read_bytes(), CALENDAR)

    response = await cached_response(
        request, state.results_cache, ("itinerary_ics", record.id), compute
    )
    response.headers["Content-Disposition"] = f'inline; filename="itineraire-{record.id}.ics"'
    return response


@router.get(
    "/itineraries/{itinerary_id}/stops",
    response_class=Response,
    summary="Arrêts d'un plan terminé (GeoJSON)",
    responses={**geojson_response_doc(STOPS_EXAMPLE), **error_responses(404, 409, 422)},
)
async def stops(request: Request, itinerary_id: RunIdPath) -> Response:
    """Les communes desservies en points (EPSG:4326), avec leurs passages et leurs dates."""
    state = core(request)
    record = get_run(state, itinerary_id, kind=KIND)
    folder = done_path(state, record)

    def compute() -> CachedBody:
        frame = gpd.read_file(folder / "stops.geojson", engine="pyogrio", datetime_as_string=True)
        if "insee_code" in frame.columns:
            frame["insee_code"] = frame["insee_code"].astype(str)
        body = feature_collection(frame, id_column="insee_code", metadata={"itinerary": record.id})
        return CachedBody.build(body, GEOJSON)

    return await cached_response(
        request, state.results_cache, ("itinerary_stops", record.id), compute
    )
