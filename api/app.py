"""The FastAPI application: ``create_app(settings)`` builds it, its lifespan loads the state once.

Importing this module does nothing heavy. At start-up the lifespan locks the
state directory (:mod:`api.state_lock`: one server per directory), loads
every configured territory (communes, road network, population surface,
service catalogue, snapped cells: :class:`api.state.TerritoryState`) with its
service lists (imported ones and ``--services`` files, :mod:`api.lists`), opens
the job store, starts the worker (marking jobs interrupted by a crash as
failed) and queues each territory's default scenario when no finished run of
it exists. Requests then only read that state.

``serve()`` is what ``coverage serve`` calls (entry point ``coverage.servers``),
so that the engine never imports this package.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api.cache import ResponseCache
from api.docs_pages import add_docs_pages
from api.errors import install_error_handlers
from api.headers import SecurityHeaders, internal_error
from api.lists import ListStore, ServiceList, startup_lists
from api.methods import AllowedMethods
from api.query_params import SingleQueryValues
from api.schemas import server_openapi
from api.security import TOKEN_ENV, BodySizeLimit
from api.settings import ApiSettings
from api.state import AppState, TerritoryState
from api.state_lock import StateDirLock
from api.store import RunRecord, RunStore
from api.uploads import upload_limit_text
from api.worker import RunWorker
from coverage import __version__
from coverage.errors import ConfigError
from coverage.scenario import Scenario, scenario_from_dict

log = logging.getLogger("api")

DESCRIPTION = """
Accessibilité des services sociaux d'un département, en JSON et GeoJSON (EPSG:4326).

- **Lecture** (ouverte) : territoires, communes, services, temps d'accès par commune,
  isochrones, scénarios lancés et leurs résultats, cartes HTML.
- **Écriture** (jeton `Authorization: Bearer …`) : lancer un scénario (`POST /scenarios`),
  une étude d'implantation (`POST /placements`), un plan de service itinérant
  (`POST /itineraries`) — tous dans la même file, avec la même limite —, géocoder un
  fichier d'adresses (`POST /geocode`), importer une liste de services
  (`POST /services/{territory}/lists/{name}`). Sans jeton configuré sur le serveur
  (`COVERAGE_API_TOKEN`), l'écriture est désactivée.

Temps en minutes, distances en mètres, codes INSEE en texte. Erreurs :
`{"error": …, "message": …}`, le message nomme le champ en cause (422) ; 409 pour un
résultat pas encore prêt ou déjà existant, 413 pour un fichier trop volumineux, 401/403
pour le jeton.
"""

TAGS = [
    {"name": "serveur", "description": "État du serveur."},
    {"name": "territoires", "description": "Territoires, communes et points de service."},
    {"name": "accessibilité", "description": "Temps d'accès par commune, isochrones."},
    {"name": "scénarios", "description": "Scénarios lancés en arrière-plan et leurs résultats."},
    {
        "name": "études",
        "description": "Études d'implantation et plans d'itinérance, dans la file des scénarios.",
    },
    {"name": "géocodage", "description": "Fichiers d'adresses géocodés ligne à ligne."},
    {"name": "cartes", "description": "Cartes HTML (folium), pages intégrables des portraits."},
]


def load_lists(
    territories: dict[str, TerritoryState], settings: ApiSettings, store: ListStore
) -> None:
    """Serve each territory's lists: the ``--services`` files, then the imported ones."""
    for t in territories.values():
        lists: dict[str, ServiceList] = startup_lists(
            t.resources.territory, settings.services_files
        )
        for name, entry in store.imported(t.name).items():
            if name in lists:
                log.warning("liste importée %s masquée par le fichier --services du même nom", name)
                continue
            lists[name] = entry
        if lists:
            log.info("listes de services de %s : %s", t.name, ", ".join(sorted(lists)))
            t.serve_lists(lists)


def build_state(settings: ApiSettings) -> AppState:
    """Load the territories and their lists, open the store, start the worker, queue the
    default runs."""
    from api.jobs import itinerary_executor, placement_executor, scenario_with_lists

    territories: dict[str, TerritoryState] = {}
    for name in settings.territories:
        log.info("chargement du territoire %s", name)
        territories[name] = TerritoryState.load(name, settings)
    list_store = ListStore(settings.lists_path)
    load_lists(territories, settings, list_store)
    store = RunStore(settings.database)

    def scenario_for(record: RunRecord) -> Scenario:
        t = territories.get(record.territory)
        if (
            record.origin == "startup"
            and t is not None
            and t.default_scenario is not None
            and t.default_scenario.name == record.scenario_name
        ):
            return t.default_scenario
        return scenario_from_dict(scenario_with_lists(record.body, t))

    def resources_for(scenario: Scenario) -> Any:
        t = territories.get(scenario.territory)
        return t.resources_for_files(scenario.extra_files) if t is not None else None

    state = AppState(
        settings=settings,
        territories=territories,
        store=store,
        worker=None,
        maps_cache=ResponseCache(max(8, settings.cache_entries // 4), settings.cache_bytes(0.25)),
        results_cache=ResponseCache(settings.cache_entries, settings.cache_bytes(0.25)),
        list_store=list_store,
    )
    state.worker = RunWorker(
        store,
        settings.results_path,
        scenario_for=scenario_for,
        resources_for=resources_for,
        data_dir=settings.data_dir,
        jobs={"placement": placement_executor(state), "itinerary": itinerary_executor(state)},
        cluster=settings.cluster,
    )
    interrupted = state.worker.start()
    for run_id in interrupted:
        log.warning("tâche %s interrompue par un redémarrage : marquée échouée", run_id)
    if settings.default_run:
        queue_default_runs(state)
    return state


def queue_default_runs(state: AppState) -> list[str]:
    """Queue each territory's default scenario unless a run of it is done or under way."""
    queued = []
    for t in state.territories.values():
        scenario = t.default_scenario
        if scenario is None or t.default_body is None:
            continue
        existing = [
            r
            for status in ("done", "queued", "running")
            for r in state.store.list_runs(
                territory=t.name, status=status, scenario_name=scenario.name, limit=50
            )
            if r.origin == "startup"
        ]
        if existing:
            continue
        record = state.store.create(
            territory=t.name,
            scenario_name=scenario.name,
            scenario_label=scenario.label,
            body=t.default_body,
            origin="startup",
        )
        state.worker.submit(record.id)
        queued.append(record.id)
    return queued


def create_app(
    settings: ApiSettings | None = None, *, state_lock: StateDirLock | None = None
) -> FastAPI:
    """Build the application (nothing is loaded until its lifespan starts).

    Parameters
    ----------
    settings
        Configuration; default :meth:`ApiSettings.from_env`.
    state_lock
        The state directory's lock, already held by the caller (``serve``); otherwise the
        lifespan takes it, and refuses to start (:class:`api.state_lock.StateDirLockedError`)
        when another server holds it.
    """
    settings = settings or ApiSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        lock = state_lock if state_lock is not None else StateDirLock.acquire(settings.state_path)
        try:
            state = await run_in_threadpool(build_state, settings)
            app.state.core = state
            try:
                yield
            finally:
                await run_in_threadpool(state.worker.stop)
                state.store.close()
        finally:
            if state_lock is None:
                lock.release()

    app = FastAPI(
        title="coverage-territoires",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # served by api.docs_pages, with their files from this server
        redoc_url=None,
    )
    docs_paths = add_docs_pages(app)
    app.state.settings = settings
    install_error_handlers(app)

    from api.routes import (
        coverage,
        geocode,
        health,
        isochrones,
        itineraries,
        maps,
        placements,
        scenarios,
        service_lists,
        territories,
    )

    for module in (
        health,
        territories,
        service_lists,
        coverage,
        isochrones,
        scenarios,
        placements,
        itineraries,
        geocode,
        maps,
    ):
        app.include_router(module.router)
    _document_limits(app, settings)

    if settings.assets_dir is not None:
        folder = Path(settings.assets_dir).expanduser()
        if not folder.is_dir():
            raise ConfigError(
                f"COVERAGE_API_ASSETS_DIR : {folder} n'est pas un dossier (attendu : le dossier "
                "node_modules qui contient leaflet/dist/...)"
            )
        app.mount(settings.assets_url, StaticFiles(directory=folder), name="assets")

    app.add_middleware(SingleQueryValues)
    app.add_middleware(AllowedMethods)
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_body_bytes, upload_bytes=settings.max_upload_bytes
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    # outermost of our middleware: CORS answers and 413 refusals get the headers too; a
    # crash is answered by internal_error, past every middleware, with the same headers
    app.add_middleware(
        SecurityHeaders,
        docs_paths=docs_paths,
    )
    app.add_exception_handler(Exception, internal_error)
    return app


def _document_limits(app: FastAPI, settings: ApiSettings) -> None:
    """Write this server's upload limits into the OpenAPI descriptions of the upload endpoints.

    The routers are shared by every app built in a process, so the document is
    edited, not the routes.
    """
    generate = app.openapi
    limits = {
        "<MAX_UPLOAD>": upload_limit_text(settings),
        "<MAX_ROWS>": str(settings.max_geocode_rows),
    }

    def openapi() -> dict[str, Any]:
        schema = server_openapi(generate(), settings)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                text = operation.get("description")
                if isinstance(text, str) and "<MAX_" in text:
                    for placeholder, value in limits.items():
                        text = text.replace(placeholder, value)
                    operation["description"] = text
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: str | Path | None = None,
    token_env: str | None = None,
    territories: list[str] | None = None,
    services: list[str | Path] | None = None,
    log_level: str = "info",
    on_start: Callable[[], None] | None = None,
) -> None:
    """Start the API with uvicorn (``coverage serve``).

    Parameters
    ----------
    host, port
        Where to listen (loopback by default).
    data_dir
        Data bundles (else ``COVERAGE_API_DATA_DIR``, ``COVERAGE_DATA_DIR``...).
    token_env
        Name of the environment variable holding the write token (default
        ``COVERAGE_API_TOKEN``); the token itself never goes on the command line.
    territories
        Territories to load (default ``COVERAGE_API_TERRITORIES`` or ``gers``).
    services
        Service list files loaded at start-up into every territory's catalogue
        (``--services``; default ``COVERAGE_API_SERVICES_FILES``), each named by its stem.
    log_level
        uvicorn's log level.
    on_start
        Called once the state directory is locked, before anything is loaded (the command's
        banner).

    Raises
    ------
    ConfigError
        If ``token_env`` names a variable that is not set, or a ``services`` file is missing.
    api.state_lock.StateDirLockedError
        If another server uses the state directory (nothing is touched).
    """
    import uvicorn

    token = None
    if token_env is not None and token_env != TOKEN_ENV:
        token = os.environ.get(token_env)
        if not token:
            raise ConfigError(
                f"--token-env {token_env} : la variable d'environnement {token_env} "
                "n'est pas définie"
            )
    overrides: dict[str, Any] = {"data_dir": data_dir, "token": token}
    if territories:
        overrides["territories"] = tuple(territories)
    if services:
        missing = [str(path) for path in services if not Path(path).expanduser().is_file()]
        if missing:
            raise ConfigError(f"--services {missing[0]}: fichier introuvable")
        overrides["services_files"] = tuple(Path(path) for path in services)
    try:
        settings = ApiSettings.from_env(**overrides)
    except ValueError as exc:  # pydantic.ValidationError
        raise ConfigError(f"réglages de l'API (COVERAGE_API_*) : {exc}") from None
    lock = StateDirLock.acquire(settings.state_path)
    try:
        if on_start is not None:
            on_start()
        app = create_app(settings, state_lock=lock)
        uvicorn.run(app, host=host, port=port, log_level=log_level)
    finally:
        lock.release()
