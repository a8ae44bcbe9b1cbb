"""Placement studies: submit (token), status with figures and sites, sites (GeoJSON), cantons.

``POST /placements`` checks the study against the territory at once (422
naming the field), stores it ``queued`` on the run queue and returns ``202``;
the worker runs :func:`coverage.jobs.place.place` on the territory's preloaded
resources into a server-named folder (``placement-<id>``).
"""

from __future__ import annotations

from typing import Any, Literal

import geopandas as gpd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from api.cache import CachedBody, cached_response
from api.deps import RunIdPath, core, done_path, get_run
from api.errors import NotFoundError
from api.geojson import dumps, feature_collection, records
from api.job_schemas import PLACEMENT_OUT_EXAMPLE, PlacementBody, PlacementOut
from api.jobs import check_placement, job_fields, job_territory, placement_label, queue_job
from api.routes.territories import GEOJSON, geojson_response_doc
from api.schemas import error_responses
from api.security import require_token
from api.state import AppState
from api.store import RunRecord
from coverage.tables import read_written_table

router = APIRouter(tags=["études"])
KIND = "placement"
SITES_EXAMPLE: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "32013",
            "properties": {
                "name": "Auch",
                "insee_code": "32013",
                "status": "nouveau",
                "covered_population": 31250.0,
            },
            "geometry": {"type": "Point", "coordinates": [0.5857, 43.6465]},
        }
    ],
}
PLACEMENT_FILES: dict[str, str] = {
    "placement.json": "application/json",
    "sites.csv": "text/csv; charset=utf-8",
    "communes.csv": "text/csv; charset=utf-8",
    "cantons.csv": "text/csv; charset=utf-8",
    "zones.csv": "text/csv; charset=utf-8",
    "scenario.toml": "application/toml",
    "plan_ecrit.csv": "text/csv; charset=utf-8",
    "plan_ecrit_communes.csv": "text/csv; charset=utf-8",
    "comparaison_cantons.csv": "text/csv; charset=utf-8",
    "sites_explication.csv": "text/csv; charset=utf-8",
    "matrice_couts.csv": "text/csv; charset=utf-8",
    "matrice_couts.parquet": "application/vnd.apache.parquet",
    "candidats.csv": "text/csv; charset=utf-8",
    "courbe_sites.csv": "text/csv; charset=utf-8",
    "courbe_seuil.csv": "text/csv; charset=utf-8",
    "courbes.png": "image/png",
    "compromis.csv": "text/csv; charset=utf-8",
    "sensibilite.csv": "text/csv; charset=utf-8",
}
"""The files of a finished placement an API client may download, with their media type."""
PlacementFile = Literal[tuple(PLACEMENT_FILES)]  # type: ignore[valid-type]
CANTONS_EXAMPLE: dict[str, Any] = {
    "placement": "3f9a1c0b7d2e4a65",
    "cantons": [
        {
            "canton_code": "3202",
            "canton_name": "Armagnac-Ténarèze",
            "population": 10465,
            "pop_within_20_before": 0,
            "pop_within_20_after": 7410,
        }
    ],
}


def placement_out(state: AppState, record: RunRecord) -> PlacementOut:
    """A stored placement study as the API shows it."""
    links = {"self": f"/placements/{record.id}"}
    head = record.headline or {}
    if record.status == "done":
        links.update(
            {
                "sites": f"/placements/{record.id}/sites",
                "cantons": f"/placements/{record.id}/cantons",
                "files": f"/placements/{record.id}/files/{{name}}",
            }
        )
    return PlacementOut(
        **job_fields(state, record),
        links=links,
        figures=head.get("figures"),
        solver=head.get("solver"),
        sites=head.get("sites"),
        written_plan=head.get("written_plan"),
        alternatives=head.get("alternatives"),
        questions=head.get("questions"),
    )


@router.post(
    "/placements",
    status_code=202,
    response_model=PlacementOut,
    summary="Lancer une étude d'implantation (jeton requis)",
    responses={
        202: {
            "content": {
                "application/json": {"example": {**PLACEMENT_OUT_EXAMPLE, "status": "queued"}}
            }
        },
        **error_responses(401, 403, 413, 422, 429, 503),
    },
    dependencies=[Depends(require_token)],
)
def submit(request: Request, body: PlacementBody) -> JSONResponse:
    """Met en file une étude d'implantation (comme `coverage place`) et renvoie son état
    (`queued`) et son adresse.

    Les sites existants du type restent ouverts (sauf `no_existing`) ; la couverture avant
    et après est mesurée comme `coverage run` la mesure. La file et sa limite sont celles
    des scénarios.
    """
    state = core(request)
    t = job_territory(state, body.territory)
    check_placement(t, body)
    stored = body.model_dump(mode="json")
    stored["territory"] = t.name
    record = queue_job(state, kind=KIND, territory=t.name, label=placement_label(body), body=stored)
    return JSONResponse(
        status_code=202,
        content=placement_out(state, record).model_dump(mode="json"),
        headers={"Location": f"/placements/{record.id}"},
    )


@router.get(
    "/placements/{placement_id}",
    response_model=PlacementOut,
    summary="État d'une étude d'implantation, ses chiffres et ses sites",
    responses={
        200: {"content": {"application/json": {"example": PLACEMENT_OUT_EXAMPLE}}},
        **error_responses(404, 422),
    },
)
def get(request: Request, placement_id: RunIdPath) -> PlacementOut:
    """L'étude : `queued`, `running` (avec son étape), `failed` (avec la raison) ou `done`,
    avec la population à moins de T avant et après, et les sites retenus."""
    state = core(request)
    return placement_out(state, get_run(state, placement_id, kind=KIND))


@router.get(
    "/placements/{placement_id}/sites",
    response_class=Response,
    summary="Sites retenus d'une étude terminée (GeoJSON)",
    responses={**geojson_response_doc(SITES_EXAMPLE), **error_responses(404, 409, 422)},
)
async def sites(request: Request, placement_id: RunIdPath) -> Response:
    """Les sites retenus, existants et nouveaux, en points (EPSG:4326), avec la population
    que le modèle leur attribue."""
    state = core(request)
    record = get_run(state, placement_id, kind=KIND)
    folder = done_path(state, record)

    def compute() -> CachedBody:
        frame = gpd.read_file(folder / "sites.gpkg", layer="sites", engine="pyogrio")
        body = feature_collection(
            frame, id_column="candidate_id", metadata={"placement": record.id}
        )
        return CachedBody.build(body, GEOJSON)

    return await cached_response(
        request, state.results_cache, ("placement_sites", record.id), compute
    )


@router.get(
    "/placements/{placement_id}/cantons",
    response_model=dict[str, Any],
    summary="Couverture avant et après par canton d'une étude terminée",
    responses={
        200: {"content": {"application/json": {"example": CANTONS_EXAMPLE}}},
        **error_responses(404, 409, 422),
    },
)
async def cantons(request: Request, placement_id: RunIdPath) -> Response:
    """Par canton : communes, population, temps moyens et population à moins de chaque seuil,
    avant et après l'implantation."""
    state = core(request)
    record = get_run(state, placement_id, kind=KIND)
    folder = done_path(state, record)

    def compute() -> CachedBody:
        table = read_written_table(folder / "cantons.csv", dtype={"canton_code": str})
        data = {"placement": record.id, "cantons": records(table)}
        return CachedBody.build(dumps(data), "application/json")

    return await cached_response(
        request, state.results_cache, ("placement_cantons", record.id), compute
    )


@router.get(
    "/placements/{placement_id}/files/{name}",
    response_class=Response,
    summary="Un fichier d'une étude terminée (tableaux, courbes, matrice des coûts)",
    responses={
        200: {
            "description": "Le fichier tel que `coverage place` l'écrit.",
            "content": {
                media.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                for media in sorted(set(PLACEMENT_FILES.values()))
            },
        },
        **error_responses(404, 409, 422),
    },
)
async def placement_file(
    request: Request, placement_id: RunIdPath, name: PlacementFile
) -> Response:
    """Un fichier du dossier de résultats : `placement.json`, les tableaux CSV, la matrice des
    coûts (`matrice_couts.parquet`, `.csv`), les courbes (`courbes.png`) quand elles ont été
    demandées."""
    state = core(request)
    record = get_run(state, placement_id, kind=KIND)
    path = done_path(state, record) / name
    if not path.is_file():
        raise NotFoundError(
            f"l'étude {record.id} n'a pas écrit {name} (option non demandée)", field="name"
        )
    return Response(
        path.read_bytes(),
        media_type=PLACEMENT_FILES[name],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
