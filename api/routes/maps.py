"""HTML maps: ``GET /maps/coverage`` (full page) and ``GET /portraits/{epci}`` (embeddable).

Pages come from the ``maps`` package (folium), built from a finished run's
result folder and cached in memory. Without ``run``, the latest finished run
of the territory's default scenario is used (the server runs that scenario at
start-up when it has none; until it is done the answer is 409). Pages carry
Leaflet inlined (offline, :mod:`maps.assets`); with ``COVERAGE_API_ASSETS_DIR``
set they load it from this server (``COVERAGE_API_ASSETS_URL``) instead.

Each page is cached with its headers (:class:`HtmlPage`): its own
Content-Security-Policy (its inline scripts by hash) and who may frame it
(:func:`api.headers.page_headers`), sent with the 304s too, so that a
revalidated page keeps its policy.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.cache import CachedBody, cached_response
from api.deps import core, done_folder, get_run
from api.errors import InvalidParameterError, NotFoundError, RunNotReadyError
from api.headers import page_headers
from api.schemas import RUN_ID_PATTERN, error_responses
from api.state import AppState, TerritoryState
from api.store import RunRecord
from coverage._french import of_territory
from coverage.results import ResultFolder

router = APIRouter(tags=["cartes"])
HTML = "text/html; charset=utf-8"

RunQuery = Annotated[
    str | None,
    Query(
        pattern=RUN_ID_PATTERN,
        description="A finished run (default: the latest run of the default scenario).",
    ),
]
AnalysisQuery = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9_]{1,64}$",
        description="The analysis to map (default: all of the run's analyses).",
        examples=["france_services"],
    ),
]


def _default_run(state: AppState, t: TerritoryState) -> RunRecord:
    scenario = t.default_scenario
    if scenario is None:
        raise NotFoundError(
            f"le territoire {of_territory(t.label)} n'a pas de scénario par défaut : donner 'run' "
            "(voir /scenarios)",
            field="run",
        )
    latest = state.store.latest_done(t.name, scenario.name, origin="startup")
    if latest is None:
        raise RunNotReadyError(
            f"aucune tâche du scénario par défaut '{scenario.name}' n'est encore terminée ; le "
            "serveur le lance au démarrage (voir /scenarios), ou donner 'run'",
            field="run",
        )
    return latest


def _folder(
    state: AppState, run: str | None, t: TerritoryState, analysis: str | None
) -> tuple[RunRecord, ResultFolder]:
    record = get_run(state, run, field="run") if run is not None else _default_run(state, t)
    folder = done_folder(state, record, field="run")
    if analysis is not None and analysis not in folder.analyses:
        raise InvalidParameterError(
            f"aucune analyse '{analysis}' dans la tâche '{record.id}' "
            f"(présentes : {', '.join(folder.analyses)})",
            field="analysis",
        )
    return record, folder


def _assets(state: AppState) -> object:
    from maps import AssetConfig

    settings = state.settings
    return AssetConfig(
        base_url=settings.assets_url if settings.assets_dir is not None else None,
        tiles_url=settings.tiles_url,
        tiles_attribution=settings.tiles_attribution,
    )


@dataclasses.dataclass(frozen=True)
class HtmlPage(CachedBody):
    """A cached map page with the headers that go with it (its policy, who may frame it)."""

    headers: tuple[tuple[str, str], ...] = ()

    def response(self, request: Request, *, max_age_s: int = 60) -> Response:
        """The page's response (or its 304), with its headers."""
        response = super().response(request, max_age_s=max_age_s)
        for name, value in self.headers:
            response.headers[name] = value
        return response


def _html(state: AppState, fmap: object, *, embed: bool) -> HtmlPage:
    """Render a map page with its headers: framed only when embeddable, by the portals."""
    import maps

    page = maps.render_page(fmap, embed=embed)
    headers = page_headers(page.policy, state.settings.frame_ancestors, embeddable=embed)
    body = HtmlPage.build(page.html.encode("utf-8"), HTML)
    return dataclasses.replace(body, headers=tuple(headers.items()))


HTML_DOC = {200: {"description": "HTML page.", "content": {"text/html": {}}}}


@router.get(
    "/maps/coverage",
    response_class=HTMLResponse,
    summary="Carte de l'accessibilité (page HTML)",
    responses={**HTML_DOC, **error_responses(404, 409, 422, by_ref=True)},
)
async def coverage_map(
    request: Request,
    run: RunQuery = None,
    analysis: AnalysisQuery = None,
    territory: Annotated[
        str | None,
        Query(pattern=r"^[a-z0-9_-]{1,64}$", description="Without run: whose default scenario."),
    ] = None,
    embed: Annotated[
        bool,
        Query(
            description="A page for an iframe (no title box), which the portals of "
            "COVERAGE_API_FRAME_ANCESTORS may frame; otherwise framed by no site."
        ),
    ] = False,
) -> Response:
    """The coverage map of a run: communes coloured by access time, underserved communes,
    isochrones, service sites, legend and sources."""
    state = core(request)
    t = state.territory(territory) if territory else state.default_territory()
    record, folder = _folder(state, run, t, analysis)

    def compute() -> CachedBody:
        import maps

        fmap = maps.coverage_map(folder, analysis, assets=_assets(state))
        return _html(state, fmap, embed=embed)

    key = ("coverage_map", record.id, analysis, embed)
    return await cached_response(request, state.maps_cache, key, compute, max_age_s=300)


@router.get(
    "/portraits/{epci}",
    response_class=HTMLResponse,
    summary="Carte d'un EPCI pour les portraits de territoire (page intégrable)",
    responses={**HTML_DOC, **error_responses(404, 409, 422, by_ref=True)},
)
async def portrait(
    request: Request,
    epci: Annotated[
        str, Path(pattern=r"^[0-9]{9}$", description="SIREN of the EPCI.", examples=["200066926"])
    ],
    run: RunQuery = None,
    analysis: AnalysisQuery = None,
    embed: Annotated[
        bool,
        Query(
            description="A page for an iframe (default), which the portals of "
            "COVERAGE_API_FRAME_ANCESTORS may frame, or a standalone page, framed by no site."
        ),
    ] = True,
) -> Response:
    """The map of one EPCI (communes by access time, underserved communes, sites), fitted to
    its outline; by default a page for an ``<iframe>`` in the intercommunal portrait."""
    state = core(request)
    if run is not None:
        record = get_run(state, run, field="run")
        t = state.territory(record.territory)
    else:
        t = next(
            (
                s
                for s in state.territories.values()
                if epci in set(s.resources.territory.communes["epci_siren"].astype(str))
            ),
            None,
        )
        if t is None:
            raise NotFoundError(
                f"aucun EPCI de SIREN '{epci}' dans les territoires servis", field="epci"
            )
    if epci not in set(t.resources.territory.communes["epci_siren"].astype(str)):
        raise NotFoundError(
            f"aucun EPCI de SIREN '{epci}' dans le territoire {of_territory(t.label)}",
            field="epci",
        )
    record, folder = _folder(state, run, t, analysis)

    def compute() -> CachedBody:
        import maps

        fmap = maps.portrait_map(folder, epci, analysis, assets=_assets(state))
        return _html(state, fmap, embed=embed)

    key = ("portrait", record.id, epci, analysis, embed)
    return await cached_response(request, state.maps_cache, key, compute, max_age_s=300)
