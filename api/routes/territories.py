"""Territories: the list, one summary, the communes (GeoJSON) and the service points (GeoJSON).

Every answer is cached as ready bytes in the territory's cache (:mod:`api.cache`):
the summary until the default scenario gets a new finished run, the layers
until a service list is imported.
"""

from __future__ import annotations

from typing import Annotated, Any

import geopandas as gpd
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from api.cache import CachedBody, cached_response
from api.deps import (
    BASE_COMMUNE_COLUMNS,
    CantonQuery,
    EpciQuery,
    SimplifyQuery,
    TerritoryPath,
    commune_mask,
    core,
    default_run,
    done_folder,
    get_run,
    run_communes,
    strip_paths,
)
from api.errors import InvalidParameterError
from api.geojson import dumps, feature_collection, records
from api.schemas import (
    GEOJSON_SCHEMA,
    RUN_ID_PATTERN,
    KindName,
    Status,
    TerritoryBrief,
    TerritoryList,
    error_responses,
)
from api.state import TerritoryState

router = APIRouter(tags=["territoires"])
GEOJSON = "application/geo+json"
SERVICE_COLUMNS = [
    "service_id",
    "kind",
    "kind_label",
    "name",
    "address",
    "postcode",
    "insee_code",
    "commune_name",
    "status",
    "capacity",
    "capacity_unit",
    "in_territory",
    "distance_to_territory_m",
    "geocode_quality",
    "source",
]


def geojson_response_doc(example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entry of a GeoJSON 200 response."""
    return {
        200: {
            "description": "GeoJSON FeatureCollection (EPSG:4326).",
            "content": {GEOJSON: {"schema": GEOJSON_SCHEMA, "example": example}},
        }
    }


def brief(territory: TerritoryState) -> TerritoryBrief:
    """The short description of a territory."""
    loaded = territory.resources.territory
    return TerritoryBrief(
        name=territory.name,
        label=territory.label,
        departement=loaded.config.departement,
        communes=len(loaded.communes),
        population=loaded.population,
        cantons=len(loaded.cantons),
        epci=len(loaded.epci),
        bbox=territory.bbox_wgs84,
        links={
            "self": f"/territories/{territory.name}",
            "communes": f"/territories/{territory.name}/communes",
            "services": f"/territories/{territory.name}/services",
            "coverage": f"/territories/{territory.name}/coverage?kind=france_services",
        },
    )


class TerritoryDetail(TerritoryBrief):
    """A territory's summary: divisions, services, default scenario, data provenance."""

    canton_list: list[dict[str, Any]] = Field(
        description="canton_code, canton_name, population, communes"
    )
    epci_list: list[dict[str, Any]] = Field(
        description="epci_siren, epci_name, epci_type, population, communes"
    )
    split_cantons: list[dict[str, Any]]
    service_kinds: dict[str, str] = Field(description="kind -> French label")
    services: list[dict[str, Any]] = Field(description="counts by kind, status, in_territory")
    default_scenario: dict[str, Any] | None
    provenance: dict[str, Any]


@router.get(
    "/territories",
    response_model=TerritoryList,
    summary="Territoires servis",
)
def territories(request: Request) -> TerritoryList:
    """Every territory this server has loaded."""
    state = core(request)
    return TerritoryList(territories=[brief(t) for t in state.territories.values()])


@router.get(
    "/territories/{territory}",
    response_class=JSONResponse,
    summary="Résumé d'un territoire",
    responses={
        200: {"model": TerritoryDetail, "description": "Successful Response"},
        **error_responses(404, 422),
    },
)
async def territory_summary(request: Request, territory: TerritoryPath) -> Response:
    """Communes, population, cantons, EPCI, services, default scenario and data sources."""
    state = core(request)
    t = state.territory(territory)
    latest = None
    if t.default_scenario is not None:
        latest = state.store.latest_done(t.name, t.default_scenario.name, origin="startup")
    latest_id = latest.id if latest is not None else None

    def compute() -> CachedBody:
        detail = territory_detail(t, latest_id)
        return CachedBody.build(dumps(detail.model_dump(mode="json")), "application/json")

    return await cached_response(request, t.cache, ("summary", latest_id), compute)


def territory_detail(t: TerritoryState, latest_run: str | None) -> TerritoryDetail:
    """A territory's summary, with the latest finished run of its default scenario."""
    loaded = t.resources.territory
    summary = loaded.summary()
    cantons = loaded.cantons.drop(columns="geometry").rename(columns={"n_communes": "communes"})
    epci = loaded.epci.drop(columns="geometry").rename(columns={"n_communes": "communes"})
    catalogue = t.resources.catalogue
    default = None
    if t.default_scenario is not None:
        default = {
            "name": t.default_scenario.name,
            "label": t.default_scenario.label,
            "latest_run": latest_run,
        }
    return TerritoryDetail(
        **brief(t).model_dump(),
        canton_list=records(cantons),
        epci_list=records(epci),
        split_cantons=summary["split_cantons"],
        service_kinds=dict(catalogue.kinds),
        services=records(catalogue.counts()),
        default_scenario=default,
        provenance=strip_paths(t.resources.context.provenance()),
    )


COMMUNES_EXAMPLE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "32013",
            "properties": {
                "insee_code": "32013",
                "name": "Auch",
                "population": 22428,
                "canton_code": "3299",
                "canton_name": "Auch (commune répartie entre Auch-1, Auch-2 et Auch-3)",
                "epci_siren": "200066926",
                "epci_name": "CA Grand Auch Coeur de Gascogne",
            },
            "geometry": {"type": "Polygon", "coordinates": [[[0.55, 43.63], "..."]]},
        }
    ],
}


@router.get(
    "/territories/{territory}/communes",
    response_class=Response,
    summary="Communes (GeoJSON), avec les indicateurs d'un scénario",
    responses={**geojson_response_doc(COMMUNES_EXAMPLE), **error_responses(404, 409, 422)},
)
async def communes(
    request: Request,
    territory: TerritoryPath,
    canton: CantonQuery = None,
    epci: EpciQuery = None,
    run: Annotated[
        str | None,
        Query(
            pattern=RUN_ID_PATTERN,
            description="A finished run of this territory: adds its indicators "
            "(`<analysis>__<indicator>` columns, or unprefixed with `analysis`).",
        ),
    ] = None,
    analysis: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Za-z0-9_]{1,64}$",
            description="Only this analysis's indicators, unprefixed: of `run`, or without "
            "`run` of the latest finished run of the default scenario (as the maps).",
            examples=["france_services"],
        ),
    ] = None,
    simplify_m: SimplifyQuery = 0,
) -> Response:
    """The communes of a territory as GeoJSON (EPSG:4326), filtered by canton or EPCI.

    Without ``run``: code, name, legal population, canton and EPCI. With a
    finished ``run`` of this territory: its per-commune indicators too (mean
    time, time from the commune point, nearest service, population and share
    beyond each threshold). With ``analysis`` and no ``run``: that analysis's
    indicators in the latest finished run of the default scenario (409 until
    there is one).
    """
    state = core(request)
    t = state.territory(territory)
    if analysis is not None and run is None:
        run = default_run(state, t).id
    if run is None:
        frame = t.resources.territory.communes
        mask = commune_mask(t, frame, canton=canton, epci=epci)

        def compute() -> CachedBody:
            chosen = frame[mask.to_numpy()]
            body = feature_collection(
                chosen,
                columns=BASE_COMMUNE_COLUMNS,
                simplify_m=simplify_m,
                id_column="insee_code",
                metadata={"territory": t.name, "communes": len(chosen)},
            )
            return CachedBody.build(body, GEOJSON)

        key = ("communes", canton, epci, simplify_m)
        return await cached_response(request, t.cache, key, compute)
    record = get_run(state, run, field="run")
    if record.territory != t.name:
        raise InvalidParameterError(
            f"la tâche '{run}' porte sur le territoire '{record.territory}', pas '{t.name}'",
            field="run",
        )
    folder = done_folder(state, record, field="run")
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


async def run_communes_response(
    request: Request,
    t: TerritoryState,
    run_id: str,
    folder: Any,
    *,
    analysis: str | None,
    canton: str | None,
    epci: str | None,
    simplify_m: float,
) -> Response:
    """The communes of a finished run, with its indicators, as cached GeoJSON."""
    state = core(request)
    if analysis is not None and analysis not in folder.analyses:
        raise InvalidParameterError(
            f"aucune analyse '{analysis}' dans la tâche '{run_id}' "
            f"(présentes : {', '.join(folder.analyses)})",
            field="analysis",
        )
    commune_mask(t, t.resources.territory.communes, canton=canton, epci=epci)  # checks codes

    def compute() -> CachedBody:
        frame, columns = run_communes(folder, analysis)
        chosen = frame[commune_mask(t, frame, canton=canton, epci=epci).to_numpy()]
        body = feature_collection(
            chosen,
            columns=columns,
            simplify_m=simplify_m,
            id_column="insee_code",
            metadata={
                "territory": t.name,
                "run": run_id,
                "analysis": analysis,
                "analyses": folder.analyses,
                "communes": len(chosen),
            },
        )
        return CachedBody.build(body, GEOJSON)

    key = ("run_communes", run_id, analysis, canton, epci, simplify_m)
    return await cached_response(request, state.results_cache, key, compute)


SERVICES_EXAMPLE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "tiers_lieu:lombez",
            "properties": {
                "service_id": "tiers_lieu:lombez",
                "kind": "tiers_lieu",
                "kind_label": "Tiers-lieu solidaire",
                "name": "Tiers-lieu solidaire de Lombez",
                "insee_code": "32213",
                "status": "open",
                "in_territory": True,
            },
            "geometry": {"type": "Point", "coordinates": [0.9107, 43.4748]},
        }
    ],
}


@router.get(
    "/territories/{territory}/services",
    response_class=Response,
    summary="Points de service (GeoJSON)",
    responses={**geojson_response_doc(SERVICES_EXAMPLE), **error_responses(404, 422)},
)
async def services(
    request: Request,
    territory: TerritoryPath,
    kind: Annotated[
        list[KindName] | None,
        Query(
            max_length=10,
            description="Service kinds to keep (repeat the parameter); all by default.",
            examples=[["france_services"]],
        ),
    ] = None,
    status: Annotated[
        list[Status] | None,
        Query(max_length=3, description="Statuses to keep (repeat); all by default."),
    ] = None,
    in_territory: Annotated[
        bool | None,
        Query(description="Only sites inside (true) or outside (false) the territory."),
    ] = None,
) -> Response:
    """The territory's service points (those over the border included) as GeoJSON."""
    state = core(request)
    t = state.territory(territory)
    catalogue = t.resources.catalogue
    kinds = tuple(sorted(set(kind or ())))
    for k in kinds:
        if k not in catalogue.kinds:
            raise InvalidParameterError(
                f"type de service inconnu '{k}' (connus : {', '.join(sorted(catalogue.kinds))})",
                field="kind",
            )
    statuses = tuple(sorted(set(status or ())))

    def compute() -> CachedBody:
        frame = catalogue.of_kind(*kinds, status=statuses or None, in_territory=in_territory)
        frame = gpd.GeoDataFrame(frame.copy(), geometry="geometry", crs=catalogue.frame.crs)
        frame["kind_label"] = frame["kind"].map(catalogue.kinds).fillna(frame["kind"])
        frame["source"] = frame["source"].map(strip_paths)
        columns = [c for c in SERVICE_COLUMNS if c in frame.columns]
        body = feature_collection(
            frame,
            columns=columns,
            id_column="service_id",
            metadata={"territory": t.name, "services": len(frame)},
        )
        return CachedBody.build(body, GEOJSON)

    key = ("services", kinds, statuses, in_territory)
    return await cached_response(request, t.cache, key, compute)
