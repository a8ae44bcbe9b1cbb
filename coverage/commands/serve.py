"""Command ``coverage serve``: start the HTTP API, found through the ``coverage.servers`` group.

The engine never imports the ``api`` package: the server is looked up as the
entry point ``api`` of the group ``coverage.servers`` (declared in
pyproject.toml as ``api.app:serve``), like the result writers.

A server that cannot start says why in one line and exits non-zero: the
address and the ``--data`` folder are checked before anything starts, and a
failure during the server's start-up (a missing bundle, a bad setting) is
told as its last line instead of uvicorn's traceback (``COVERAGE_DEBUG=1``
keeps the traceback).
"""

from __future__ import annotations

import errno
import logging
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from coverage._cli_common import DataOption, console
from coverage.errors import ConfigError, CoverageError

SERVERS_GROUP = "coverage.servers"
SERVER_NAME = "api"


def load_server(name: str = SERVER_NAME) -> Any:
    """The server function registered under ``coverage.servers``.

    Raises
    ------
    coverage.errors.ConfigError
        If no such entry point is installed.
    """
    from importlib.metadata import entry_points  # not at start-up: --help needs none of it

    for ep in entry_points(group=SERVERS_GROUP):
        if ep.name == name:
            return ep.load()
    raise ConfigError(
        f"aucun serveur HTTP « {name} » n'est installé (groupe de points d'entrée "
        f"{SERVERS_GROUP}) ; réinstallez le projet avec 'pip install -e .'"
    )


class ServerStartError(CoverageError):
    """The HTTP server could not start (address in use, start-up failure)."""


def check_address(host: str, port: int) -> None:
    """Raise :class:`ServerStartError` (one line) if ``host:port`` cannot be listened on.

    Checked before the server starts, so that a second server on a busy port
    stops before doing anything.
    """
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServerStartError(f"adresse d'écoute « {host} » inconnue ({exc.strerror})") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    why = "déjà utilisé (un autre serveur ?) ; choisissez un autre --port"
                elif exc.errno == errno.EACCES:
                    why = "refusé (les ports sous 1024 demandent des droits) ; choisissez --port"
                else:
                    why = f"indisponible ({exc.strerror or exc})"
                raise ServerStartError(
                    f"écoute sur {host}:{port} impossible : port {why}"
                ) from None


class _StartupErrors(logging.Filter):
    """Holds back uvicorn's records of a failed start and keeps their last line as the reason.

    Until uvicorn listens (``Uvicorn running on ...``), a traceback of the
    application's start-up, the socket's error and ``Application startup
    failed`` are kept out of the log; every other record passes.
    """

    def __init__(self) -> None:
        super().__init__()
        self.running = False
        self.reason = ""

    def filter(self, record: logging.LogRecord) -> bool:
        if self.running:
            return True
        text = record.getMessage()
        if text.startswith("Uvicorn running on"):
            self.running = True
            return True
        if record.levelno < logging.ERROR:
            return True
        if text.startswith("Application startup failed"):
            return False
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        elif not text.startswith(("Traceback", "[Errno")):
            return True
        last = [line for line in text.strip().splitlines() if line.strip()]
        self.reason = _without_error_class(last[-1]) if last else text
        return False


def _without_error_class(line: str) -> str:
    """``coverage.errors.DataError: fichier x : ...`` -> ``fichier x : ...``."""
    head, sep, rest = line.partition(": ")
    if sep and head.startswith("coverage.errors."):
        return rest
    return line


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
    from coverage.settings import debug

    server = load_server()
    if data is not None and not data.expanduser().is_dir():
        raise ConfigError(f"--data {data} : dossier introuvable")

    def banner() -> None:
        # called once the state directory is locked: a second server on a state directory
        # in use is refused for that (naming the holder), before the port is even tried
        check_address(host, port)
        console.print(
            f"API : http://{host}:{port}/ (documentation : http://{host}:{port}/docs)",
            highlight=False,
            markup=False,
        )

    errors = _StartupErrors()
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not debug():
        uvicorn_log.addFilter(errors)
    try:
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
    except SystemExit as exc:  # uvicorn's exit when the start-up fails
        if exc.code in (0, None):
            raise
        raise ServerStartError(
            f"le serveur n'a pas démarré : {errors.reason or f'code {exc.code}'}"
        ) from None
    finally:
        uvicorn_log.removeFilter(errors)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``coverage`` command."""
    app.command(name="serve")(serve)
