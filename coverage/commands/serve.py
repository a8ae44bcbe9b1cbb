"""Command ``coverage serve``: start the HTTP API, found through the ``coverage.servers`` group.

The engine never imports the ``api`` package: the server is looked up as the
entry point ``api`` of the group ``coverage.servers`` (declared in
pyproject.toml as ``api.app:serve``), like the result writers.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import typer

from coverage._cli_common import DataOption, console

SERVERS_GROUP = "coverage.servers"
SERVER_NAME = "api"


def load_server(name: str = SERVER_NAME) -> Any:
    """The server function registered under ``coverage.servers``.

    Raises
    ------
    coverage.errors.ConfigError
        If no such entry point is installed.
    """
    from coverage.errors import ConfigError

    for ep in entry_points(group=SERVERS_GROUP):
        if ep.name == name:
            return ep.load()
    raise ConfigError(
        f"no HTTP server '{name}' is installed (entry point group {SERVERS_GROUP}); "
        "reinstall the project with 'pip install -e .'"
    )


def serve(
    host: Annotated[str, typer.Option(help="Adresse d'écoute.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port d'écoute.")] = 8000,
    data: DataOption = None,
    token_env: Annotated[
        str | None,
        typer.Option(
            "--token-env",
            help=(
                "Nom de la variable d'environnement qui contient le jeton d'écriture "
                "(par défaut COVERAGE_API_TOKEN ; sans jeton, l'écriture est désactivée)."
            ),
        ),
    ] = None,
    territory: Annotated[
        list[str] | None,
        typer.Option(
            "--territory",
            "-t",
            help="Territoire à charger (répéter l'option ; par défaut $COVERAGE_API_TERRITORIES "
            "ou gers).",
        ),
    ] = None,
    services: Annotated[
        list[Path] | None,
        typer.Option(
            "--services",
            help="Liste de services à servir en plus du catalogue (fichier écrit par "
            "'coverage services import', nommé par son nom de fichier), répétable.",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="Niveau de journalisation d'uvicorn.")
    ] = "info",
) -> None:
    """Lance l'API HTTP (JSON, GeoJSON, cartes) ; documentation sur /docs.

    Le réseau et les territoires sont chargés une fois au démarrage. Un seul serveur
    par dossier d'état (COVERAGE_API_STATE_DIR) : un second refuse de démarrer.
    Réglages : variables COVERAGE_API_* (docs/api.md).
    """
    server = load_server()

    def banner() -> None:
        console.print(
            f"API : http://{host}:{port}/ (documentation : http://{host}:{port}/docs)",
            highlight=False,
        )

    server(
        host=host,
        port=port,
        data_dir=data,
        token_env=token_env,
        territories=territory or None,
        services=services or None,
        log_level=log_level,
        on_start=banner,
    )


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``coverage`` command."""
    app.command(name="serve")(serve)
