"""The ``coverage`` command line: territory summary, data fetch, population surface, network info.

:func:`main` is the one place errors are printed, each as one line on stderr,
escaped so that Rich prints user data (``[thresholds]``, a file name) as it is:

- the engine's errors and files that cannot be read or written:
  ``Erreur : ...``, exit code 1;
- usage mistakes (an unknown option or command, a missing argument):
  ``Erreur d'utilisation : ...`` in French (:mod:`coverage._cli_french`) and
  the ``--help`` to read, exit code 2;
- Ctrl-C: ``Interrompu.``, exit code 130 (a result being written is left out,
  never half-written under its name);
- an unexpected error: one line, exit code 2 (set ``COVERAGE_DEBUG=1`` to see
  the traceback).
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer
from rich.markup import escape

from coverage._cli_common import (
    console,
    err_console,
    print_error,
)
from coverage._cli_french import install as _install_french
from coverage._cli_french import usage_hint, usage_message
from coverage.errors import CoverageError
from coverage.settings import DEBUG_ENV, debug

_install_french()

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
        from coverage import __version__

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
    "coverage.commands.portrait",
)
"""Modules whose ``register(app)`` adds their commands (imported lazily inside commands)."""


def _mount_subcommands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_mount_subcommands()


INTERRUPTED = 130
"""Exit code after Ctrl-C (128 + SIGINT), as shells report it."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``coverage`` command; returns the exit code (see the module docstring)."""
    try:
        try:
            code = app(args=argv, standalone_mode=False)
        except KeyboardInterrupt:  # outside typer's own handler (which returns 130)
            code = INTERRUPTED
        except typer.Exit as exc:
            code = exc.exit_code
        except typer.Abort:  # end of input at a prompt
            code = INTERRUPTED
        if code == INTERRUPTED:
            err_console.print("Interrompu.", highlight=False)
        return code if isinstance(code, int) else 0
    except KeyboardInterrupt:
        return INTERRUPTED
    except CoverageError as exc:
        print_error(exc)
        return 1
    except typer.TyperException as exc:  # click's usage errors (typer's own copy of click)
        show = getattr(exc, "show", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and not str(exc).strip():
            return 2  # no command: typer has printed the help already
        if show is None:
            raise
        hint = usage_hint(exc)
        print_error(usage_message(exc), label="Erreur d'utilisation")
        if hint:
            err_console.print(f"Aide : {escape(hint)}", highlight=False)
        return int(getattr(exc, "exit_code", 2))
    except OSError as exc:  # a file the command cannot read or write (read-only, disk full...)
        if debug():
            raise
        where = f" : {exc.filename}" if exc.filename else ""
        print_error(f"accès impossible{where} ({exc.strerror or exc})")
        return 1
    except Exception as exc:
        if debug():
            raise
        print_error(
            f"{type(exc).__name__}: {exc} ({DEBUG_ENV}=1 pour le détail)",
            label="Erreur inattendue",
        )
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
