"""``GET /territories/{t}/coverage``: per-commune times and shares beyond a threshold, on the fly.

Computed with :func:`coverage.access.service_access` on the preloaded
territory (one multi-source Dijkstra over the populated 200 m cells), for the
chosen service kinds and statuses; the access result and the serialised
responses are cached in memory, so a repeated request costs a lookup, and
another threshold or public for the same sites counts the cached travel times
again without routing (:func:`coverage.access.at_thresholds`). The
access results are bounded in entries and bytes (:data:`ACCESS_CACHE_BYTES`);
without the token, computing one is charged to the client's cost budget
(:data:`api.budget.COVERAGE_COST`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api.budget import COVERAGE_COST, charge
from api.cache import CachedBody, cached_response
from api.deps import SimplifyQuery, TerritoryPath, core, strip_paths
from api.errors import InvalidParameterError
from api.geojson import dumps, feature_collection, records
from api.routes.territories import GEOJSON
from api.schemas import GEOJSON_SCHEMA, PUBLIC_PATTERN, KindName, Status, error_responses
from api.state import ACCESS_CACHE_ENTRIES, TerritoryState
from coverage._french import of_territory
from coverage.access import (
    ServiceAccess,
    at_thresholds,
    network_provenance,
    public_counts,
    service_access,
    threshold_key,
)
from coverage.errors import QueryError
from coverage.layers.publics import ALL_INHABITANTS

router = APIRouter(tags=["accessibilité"])
_ACCESS_LOCK = threading.Lock()
ACCESS_CACHE_BYTES = 96 * 1024 * 1024
"""Bytes of access results kept per territory (besides :data:`ACCESS_CACHE_ENTRIES`)."""
METHOD = (
    "temps en voiture jusqu'au service le plus proche (sites hors du territoire compris), "
    "pour chaque cellule peuplée de 200 m, raccordée à la route la plus proche (trajet "
    "d'accès inclus), avec les temps de manœuvre et les interdictions de tourner ; "
    "population légale de chaque commune répartie sur ses cellules"
)


class CommuneCoverage(BaseModel):
    """Access figures of one commune."""

    insee_code: str = Field(examples=["32013"])
    name: str = Field(examples=["Auch"])
    canton_code: str
    canton_name: str
    epci_siren: str
    epci_name: str
    population: int
    minutes_mean: float | None = Field(description="Population-weighted mean time (min).")
    minutes_point: float | None = Field(description="Time from the commune's point (min).")
    minutes_max: float | None = Field(description="Worst populated cell (min).")
    nearest_service_id: str | None
    nearest_service_name: str | None
    unreachable: bool
    pop_unreachable: int
    pop_within: int
    pop_beyond: int
    share_beyond: float


class CoverageSummary(BaseModel):
    """Figures for the whole territory."""

    population: int
    minutes_mean: float | None
    pop_within: int
    pop_beyond: int
    share_beyond: float | None
    pop_unreachable: int
    communes_with_pop_beyond: int


class PublicOut(BaseModel):
    """The public counted (present only when ``public`` names one)."""

    name: str = Field(examples=["age_75_plus"])
    label: str = Field(examples=["Personnes de 75 ans ou plus"])
    source: str
    year: str
    licence: str
    url: str
    file: str
    total: float = Field(description="People of the public in the territory.")


class CoverageOut(BaseModel):
    """Access to a set of services, commune by commune.

    With ``public``, ``population``, ``pop_*`` and ``share_beyond`` count that public.
    """

    territory: str = Field(examples=["gers"])
    kinds: list[str] = Field(examples=[["france_services"]])
    statuses: list[str] = Field(examples=[["open"]])
    include_outside: bool
    threshold_minutes: float = Field(examples=[30])
    services: int = Field(examples=[92])
    services_in_territory: int = Field(examples=[27])
    public: PublicOut | None = None
    summary: CoverageSummary
    method: str
    network: dict[str, Any] = Field(
        description="The road network and how times are made: source, kind (`osm` or "
        "`numbered_roads`), speed profile, turn model."
    )
    communes: list[CommuneCoverage]


def _access(
    t: TerritoryState,
    kinds: tuple[str, ...],
    statuses: tuple[str, ...],
    include_outside: bool,
    threshold: float,
    public: str = ALL_INHABITANTS,
) -> ServiceAccess:
    key = (kinds, statuses, include_outside, threshold, public)
    with _ACCESS_LOCK:
        found = t.access_results.get(key)
        if found is not None:
            t.access_results.move_to_end(key)
            return found
        # the same sites at another threshold or for another public: same travel times
        routed = next((r for k, r in reversed(t.access_results.items()) if k[:3] == key[:3]), None)
    if routed is not None:
        result = at_thresholds(routed, [threshold], public=_public(t, public))
    else:
        catalogue = t.resources.catalogue
        chosen = _chosen(t, kinds, statuses, include_outside)
        result = service_access(
            t.resources.context,
            chosen,
            name="coverage",
            label=", ".join(catalogue.kinds.get(k, k) for k in kinds),
            thresholds_minutes=[threshold],
            public=_public(t, public),
        )
    with _ACCESS_LOCK:
        t.access_results[key] = result
        while len(t.access_results) > ACCESS_CACHE_ENTRIES or (
            len(t.access_results) > 1
            and results_bytes(t.access_results.values()) > ACCESS_CACHE_BYTES
        ):
            t.access_results.popitem(last=False)
    return result


def _chosen(
    t: TerritoryState, kinds: tuple[str, ...], statuses: tuple[str, ...], include_outside: bool
) -> Any:
    """The sites measured (422 when there is none)."""
    chosen = t.resources.catalogue.of_kind(
        *kinds, status=statuses, in_territory=None if include_outside else True
    )
    if chosen.empty:
        raise InvalidParameterError(
            f"aucun service de type {', '.join(kinds)} au statut {', '.join(statuses)} dans le "
            f"catalogue {of_territory(t.label)}",
            field="kind",
        )
    return chosen


def _public(t: TerritoryState, public: str) -> Any:
    """The public's counts (None for everyone); 422 naming ``public`` when unknown."""
    try:
        return public_counts(t.resources.context, public)
    except QueryError as exc:
        raise InvalidParameterError(str(exc), field="public") from None


def access_bytes(result: ServiceAccess) -> int:
    """Memory held by an access result: its per-cell arrays and tables."""
    return results_bytes([result])


def results_bytes(results: Iterable[ServiceAccess]) -> int:
    """Memory held by access results together: an array or table they share counts once.

    Results of the same services at other thresholds share the per-cell arrays and the
    services table of the first one computed (:func:`coverage.access.at_thresholds`).
    """
    held: dict[int, int] = {}
    for result in results:
        public = result.public
        arrays = [result.cell_seconds, result.cell_service]
        if public is not None:
            arrays += [public.cell_counts, public.commune_counts]
        for array in arrays:
            held.setdefault(id(array), array.nbytes)
        for table in (result.communes, result.services):
            if id(table) not in held:
                held[id(table)] = int(table.memory_usage(deep=True).sum())
    return sum(held.values())


def _commune_rows(result: ServiceAccess, threshold: float) -> pd.DataFrame:
    key = threshold_key(threshold)
    table = result.communes.rename(
        columns={
            f"pop_within_{key}": "pop_within",
            f"pop_beyond_{key}": "pop_beyond",
            f"share_beyond_{key}": "share_beyond",
        }
    )
    return table[list(CommuneCoverage.model_fields)]


def _payload(
    t: TerritoryState,
    result: ServiceAccess,
    *,
    kinds: tuple[str, ...],
    statuses: tuple[str, ...],
    include_outside: bool,
    threshold: float,
) -> dict[str, Any]:
    figures = result.summary()
    at = figures["thresholds"][threshold_key(threshold)]
    counted = {} if result.public is None else {"public": strip_paths(figures["public"])}
    return {
        "territory": t.name,
        "kinds": list(kinds),
        "statuses": list(statuses),
        "include_outside": include_outside,
        "threshold_minutes": threshold,
        "services": figures["services"],
        "services_in_territory": figures["services_in_territory"],
        **counted,
        "summary": {
            "population": figures["population"],
            "minutes_mean": figures["minutes_mean"],
            "pop_within": at["pop_within"],
            "pop_beyond": at["pop_beyond"],
            "share_beyond": at["share_beyond"],
            "pop_unreachable": figures["pop_unreachable"],
            "communes_with_pop_beyond": at["communes_with_pop_beyond"],
        },
        "method": METHOD,
        "network": strip_paths(network_provenance(t.resources.network)),
    }


@router.get(
    "/territories/{territory}/coverage",
    response_class=JSONResponse,
    summary="Temps d'accès et part de la population au-delà d'un seuil, par commune",
    responses={
        200: {
            "model": CoverageOut,
            "description": "JSON (default) or GeoJSON (`format=geojson`, EPSG:4326).",
            "content": {GEOJSON: {"schema": GEOJSON_SCHEMA}},
        },
        **error_responses(404, 422, 429),
    },
)
async def coverage(
    request: Request,
    territory: TerritoryPath,
    kind: Annotated[
        list[KindName],
        Query(
            min_length=1,
            max_length=10,
            description="Service kinds (repeat the parameter for several).",
            examples=[["france_services"]],
        ),
    ],
    threshold: Annotated[
        float,
        Query(gt=0, le=600, allow_inf_nan=False, description="Threshold in minutes."),
    ] = 30.0,
    status: Annotated[
        list[Status] | None,
        Query(max_length=3, description="Statuses of the sites counted (default: open)."),
    ] = None,
    include_outside: Annotated[
        bool, Query(description="Count the sites beyond the territory's border.")
    ] = True,
    format: Annotated[
        Literal["json", "geojson"],
        Query(description="`json`: a table; `geojson`: the commune layer with the figures."),
    ] = "json",
    simplify_m: SimplifyQuery = 0,
    public: Annotated[
        str,
        Query(
            max_length=64,
            pattern=PUBLIC_PATTERN,
            description="The people counted: `population` (every inhabitant) or a public of "
            "the territory's `[layers.publics]` (e.g. `age_75_plus`); 422 for one it does "
            "not describe, listing those it does.",
        ),
    ] = ALL_INHABITANTS,
) -> Response:
    """Per commune: mean time, time from the commune point, nearest service, population
    (or the people of ``public``) and share beyond the threshold; and the same for the
    whole territory.

    Without the token, computing the access to a new set of services (kinds, statuses,
    threshold) is charged to the client's cost budget (429 beyond it); cached answers
    cost nothing.
    """
    state = core(request)
    t = state.territory(territory)
    catalogue = t.resources.catalogue
    kinds = tuple(sorted(set(kind)))
    for k in kinds:
        if k not in catalogue.kinds:
            raise InvalidParameterError(
                f"type de service inconnu '{k}' (connus : {', '.join(sorted(catalogue.kinds))})",
                field="kind",
            )
    statuses = tuple(sorted(set(status or ("open",))))
    threshold = float(threshold)
    if format == "json":
        simplify_m = 0  # no geometry in the table
    key = ("coverage", kinds, statuses, include_outside, threshold, format, simplify_m, public)

    def compute() -> CachedBody:
        result = _access(t, kinds, statuses, include_outside, threshold, public)
        payload = _payload(
            t,
            result,
            kinds=kinds,
            statuses=statuses,
            include_outside=include_outside,
            threshold=threshold,
        )
        rows = _commune_rows(result, threshold)
        if format == "json":
            payload["communes"] = records(rows)
            return CachedBody.build(dumps(payload), "application/json")
        layer = t.resources.territory.communes[["insee_code", "geometry"]].merge(
            rows, on="insee_code"
        )
        body = feature_collection(
            layer,
            columns=[c for c in rows.columns],
            simplify_m=simplify_m,
            id_column="insee_code",
            metadata=payload,
        )
        return CachedBody.build(body, GEOJSON)

    def on_miss() -> None:
        with _ACCESS_LOCK:
            known = (kinds, statuses, include_outside, threshold, public) in t.access_results
        if not known:
            _chosen(t, kinds, statuses, include_outside)  # a refusal costs nothing
            _public(t, public)
            charge(request, COVERAGE_COST, what="ce calcul d'accessibilité")

    return await cached_response(request, t.cache, key, compute, on_miss=on_miss)
