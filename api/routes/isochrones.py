"""``POST /isochrones``: the areas within N minutes by car of given points, with their population.

Each point joins the road network by its access leg; the populated 200 m
cells reached within each band are polygonised
(:func:`coverage.routing.isochrones.isochrone_records`), and each polygon carries
the population of its cells (the territory's population surface). Bands are
cumulative. Points must lie in the territory or within
``COVERAGE_API_POINT_MARGIN_M`` of its border (400 otherwise). Without the
token, an answer not cached yet is charged to the client's cost budget
(:mod:`api.budget`: points x bands x longest band), 429 beyond it.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import shapely
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.budget import charge, isochrone_cost
from api.cache import FAST_GZIP_LEVEL, CachedBody, cached_response
from api.deps import core, strip_paths
from api.errors import InvalidParameterError, PointOutsideError
from api.geojson import feature_collection_from_rows
from api.routes.territories import GEOJSON, geojson_response_doc
from api.schemas import IsochroneRequest, error_responses
from api.state import TerritoryState
from coverage._french import of_territory
from coverage.access import network_provenance
from coverage.errors import TerritoryNotFoundError
from coverage.routing.isochrones import isochrone_records

router = APIRouter(tags=["accessibilité"])
METHOD = (
    "cellules peuplées de 200 m atteintes en voiture dans le temps de la bande depuis le point "
    "(trajet d'accès au réseau inclus), réunies en polygones ; population : surface de "
    "population du territoire (population légale répartie sur les cellules)"
)

ISOCHRONES_EXAMPLE = {
    "type": "FeatureCollection",
    "metadata": {"territory": "gers", "bands_minutes": [10, 20, 30]},
    "features": [
        {
            "type": "Feature",
            "id": "auch-10",
            "properties": {
                "point_index": 0,
                "point_id": "auch",
                "minutes": 10.0,
                "population": 31250,
                "cells": 1800,
            },
            "geometry": {"type": "MultiPolygon", "coordinates": ["..."]},
        }
    ],
}


def _check_limits(state: Any, body: IsochroneRequest) -> list[float]:
    settings = state.settings
    if len(body.points) > settings.max_points:
        raise InvalidParameterError(
            f"{settings.max_points} points au plus par requête, reçu {len(body.points)}",
            field="points",
        )
    bands = [float(b) for b in body.bands_minutes]
    if len(bands) > settings.max_bands:
        raise InvalidParameterError(
            f"{settings.max_bands} bandes au plus par requête, reçu {len(bands)}",
            field="bands_minutes",
        )
    for b in bands:
        if b > settings.max_band_minutes:
            raise InvalidParameterError(
                f"la bande de {b:g} min dépasse la limite de {settings.max_band_minutes:g} min",
                field="bands_minutes",
            )
    if any(b <= a for a, b in itertools.pairwise(bands)):
        raise InvalidParameterError(
            "les bandes doivent être strictement croissantes, reçu "
            + ", ".join(f"{b:g}" for b in bands),
            field="bands_minutes",
        )
    return bands


def _points_xy(t: TerritoryState, body: IsochroneRequest, margin_m: float) -> np.ndarray:
    lon = np.array([p.lon for p in body.points], dtype=float)
    lat = np.array([p.lat for p in body.points], dtype=float)
    x, y = t.to_territory_crs.transform(lon, lat)
    xy = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    finite = np.isfinite(xy).all(axis=1)  # the poles have no Lambert-93 coordinates
    distance = np.full(len(xy), np.inf)
    distance[finite] = shapely.distance(t.outline, shapely.points(xy[finite]))
    for i, d in enumerate(distance):
        if not np.isfinite(d) or d > margin_m:
            name = f" '{body.points[i].id}'" if body.points[i].id else ""
            far = f"à {d / 1000:.1f} km" if np.isfinite(d) else "trop loin pour être situé"
            raise PointOutsideError(
                f"le point{name} ({lon[i]:g}, {lat[i]:g}) est {far} hors {of_territory(t.label)} "
                f"(marge permise : {margin_m / 1000:g} km) ; lon/lat sont en degrés WGS84",
                field=f"points[{i}]",
            )
    return xy


def _collection(
    t: TerritoryState, body: IsochroneRequest, xy: np.ndarray, bands: list[float]
) -> bytes:
    ctx = t.resources.context
    polygons = isochrone_records(
        ctx.network,
        xy,
        ctx.cells,
        bands_minutes=bands,
        per_facility=True,
        merged=False,
        weights=t.resources.surface.values,
        facility_ids=list(range(len(xy))),
        access=ctx.access,
    )
    found = {(int(r["facility_id"]), float(r["minutes"])): r for r in polygons}
    rows: list[dict[str, Any]] = []
    for i, point in enumerate(body.points):
        point_id = point.id if point.id is not None else str(i)
        for band in bands:
            hit = found.get((i, band))
            rows.append(
                {
                    "feature_id": f"{point_id}-{band:g}",
                    "point_index": i,
                    "point_id": point_id,
                    "minutes": band,
                    "population": int(round(float(hit["weight"]))) if hit is not None else 0,
                    "cells": int(hit["cells"]) if hit is not None else 0,
                    "geometry": hit["geometry"] if hit is not None else None,
                }
            )
    return feature_collection_from_rows(
        rows,
        crs=t.resources.territory.crs,
        columns=["point_index", "point_id", "minutes", "population", "cells"],
        id_key="feature_id",
        metadata={
            "territory": t.name,
            "bands_minutes": bands,
            "points": [
                {"id": p.id if p.id is not None else str(i), "lon": p.lon, "lat": p.lat}
                for i, p in enumerate(body.points)
            ],
            "access_legs": ctx.access.describe(),
            "network": strip_paths(network_provenance(t.resources.network)),
            "method": METHOD,
        },
    )


@router.post(
    "/isochrones",
    response_class=Response,
    summary="Isochrones de points, avec la population couverte",
    responses={
        **geojson_response_doc(ISOCHRONES_EXAMPLE),
        **error_responses(400, 413, 422, 429),
    },
)
async def isochrones(request: Request, body: IsochroneRequest) -> Response:
    """For each point and band: the area reached by car within the band (cumulative) and
    the population living there, as GeoJSON (EPSG:4326). Bands with nobody reached have a
    ``null`` geometry and population 0.

    Without the token, a request costs points × bands × its longest band (minutes): at
    most `COVERAGE_API_ANONYMOUS_MAX_COST` per request, and each client address spends
    from a budget refilled at `COVERAGE_API_ANONYMOUS_COST_RATE` per second; beyond it,
    429 (with `Retry-After` when waiting helps). Answers already cached cost nothing.
    """
    state = core(request)
    if body.territory is None:
        t = state.default_territory()
    else:
        try:
            t = state.territory(body.territory)
        except TerritoryNotFoundError as exc:
            raise InvalidParameterError(str(exc), field="territory") from None
    bands = _check_limits(state, body)
    xy = _points_xy(t, body, state.settings.point_margin_m)
    key = (
        "isochrones",
        tuple((round(p.lon, 6), round(p.lat, 6), p.id) for p in body.points),
        tuple(bands),
    )
    cost = isochrone_cost(len(body.points), bands)
    return await cached_response(
        request,
        t.cache,
        key,
        lambda: CachedBody.build(_collection(t, body, xy, bands), GEOJSON, level=FAST_GZIP_LEVEL),
        on_miss=lambda: charge(request, cost, what="ces isochrones"),
    )
