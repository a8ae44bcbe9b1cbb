"""The ``coverage`` command line: territory summary, data fetch, population surface, network info.

Every command catches the engine's errors and prints one line (``Erreur : ...``)
with exit code 1; an unexpected error prints one line too, with exit code 2
(set ``COVERAGE_DEBUG=1`` to see the traceback).
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from coverage import __version__
from coverage._cli_common import (
    console,
    err_console,
)
from coverage.errors import CoverageError
from coverage.settings import DEBUG_ENV, debug

app = typer.Typer(
    name="coverage",
    help=(
        "Accessibilité des services sociaux d'un département : temps de trajet en voiture, "
        "couverture de la population, implantation de sites, service itinérant."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"coverage {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Version."),
    ] = False,
) -> None:
    """Accessibilité des services sociaux d'un département."""


COMMAND_MODULES: tuple[str, ...] = (
    "coverage.commands.info",
    "coverage.commands.fetch",
    "coverage.commands.population",
    "coverage.commands.run",
    "coverage.commands.compare",
    "coverage.commands.geocode",
    "coverage.commands.services",
    "coverage.commands.network",
    "coverage.commands.serve",
    "coverage.commands.itinerary",
    "coverage.commands.place",
)
"""Modules whose ``register(app)`` adds their commands (imported lazily inside commands)."""


def _mount_subcommands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_mount_subcommands()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``coverage`` command; returns the exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except CoverageError as exc:
        err_console.print(f"[red]Erreur :[/red] {exc}", highlight=False, soft_wrap=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("Interrompu.")
        return 130
    except Exception as exc:  # click usage errors are handled by click itself
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if debug():
            raise
        err_console.print(
            f"[red]Erreur inattendue :[/red] {type(exc).__name__}: {exc} "
            f"({DEBUG_ENV}=1 pour le détail)",
            highlight=False,
            soft_wrap=True,
        )
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
