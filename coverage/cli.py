"""The ``coverage`` command line: territory summary, data fetch, population surface, network info.

Every command catches the engine's errors and prints one line (``Erreur : ...``)
with exit code 1; an unexpected error prints one line too, with exit code 2
(set ``COVERAGE_DEBUG=1`` to see the traceback).
"""

from __future__ import annotations

import importlib
import json
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from coverage import __version__
from coverage._cli_common import (
    DataOption,
    TerritoryArgument,
    console,
    err_console,
    fmt_int,
    show_warnings,
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


@app.command()
def info(
    territory: TerritoryArgument = "gers",
    data: DataOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Résumé du territoire : communes, population, cantons, EPCI, couches présentes."""
    from coverage.layers import load_territory

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_territory(territory, data_dir=data)
    show_warnings(caught)
    summary = loaded.summary()
    if as_json:
        console.print_json(json.dumps(summary, ensure_ascii=False, default=str))
        return
    console.print(
        f"[bold]{summary['label']}[/bold] ({summary['territory']}), "
        f"département {summary['departement']}",
        highlight=False,
    )
    console.print(f"  {summary['communes']} communes", highlight=False)
    console.print(
        f"  {fmt_int(summary['population'])} habitants (population municipale)",
        highlight=False,
    )
    split = "; ".join(
        f"{s['label']}, {fmt_int(s['population'])} hab." for s in summary["split_cantons"]
    )
    console.print(
        f"  {summary['cantons']} cantons" + (f" ({split})" if split else ""), highlight=False
    )
    console.print(f"  {summary['epci']} EPCI", highlight=False)
    console.print(
        f"Données : {summary['data_dir']} (choisi par {summary['data_dir_origin']})",
        highlight=False,
    )
    console.print(f"Description : {summary['description']}", highlight=False)
    console.print("Couches :", highlight=False)
    for key, layer in summary["layers"].items():
        state = "présente" if layer["present"] else "[red]absente[/red]"
        date = f", données {layer['date']}" if layer["date"] else ""
        console.print(f"  {key:<16} {state}  {layer['file']}{date}", highlight=False)
    for repair in summary["repairs"]:
        console.print(f"  réparé : {repair}", highlight=False)


@app.command()
def fetch(
    territory: TerritoryArgument = "gers",
    data: DataOption = None,
    departement: Annotated[
        str | None, typer.Option(help="Code du département, si le nom n'est pas connu.")
    ] = None,
    no_osm: Annotated[
        bool, typer.Option("--no-osm", help="Ne pas télécharger le réseau OSM.")
    ] = False,
    no_addresses: Annotated[
        bool, typer.Option("--no-addresses", help="Ne pas télécharger les adresses BAN.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Retélécharger même si en cache.")] = False,
    buffer_km: Annotated[
        float,
        typer.Option("--buffer-km", help="Marge autour du département pour le réseau OSM (km)."),
    ] = 15.0,
) -> None:
    """Construit le lot de données d'un territoire depuis les sources officielles (en ligne).

    geo.api.gouv.fr, COG de l'INSEE, data.gouv.fr, BAN, OpenStreetMap (docs/fetch.md).
    """
    from coverage.jobs.fetch import fetch_territory
    from coverage.settings import resolve_data_dir

    dest, origin = resolve_data_dir(territory, data)
    console.print(f"Téléchargement du lot '{territory}' vers {dest} ({origin})", highlight=False)
    report = fetch_territory(
        territory,
        dest,
        departement=departement,
        include_osm=not no_osm,
        include_addresses=not no_addresses,
        force=force,
        progress=sys.stderr.isatty(),
        buffer_m=buffer_km * 1000.0,
    )
    cached = sum(1 for d in report.downloads if d.get("from_cache"))
    console.print(
        f"Lot prêt : {report.dest} (département {report.departement}, "
        f"{len(report.downloads)} téléchargements dont {cached} depuis le cache)",
        highlight=False,
    )
    for name, entry in report.files.items():
        console.print(
            f"  {name:<34} {fmt_int(entry['size']):>12} octets  sha256 {entry['sha256'][:16]}…",
            highlight=False,
        )
    for note in report.notes:
        console.print(f"  note : {note}", highlight=False)
    console.print(f"Sommes de contrôle et sources : {report.fetch_json}", highlight=False)


@app.command()
def population(
    territory: TerritoryArgument = "gers",
    data: DataOption = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Écrire la surface en GeoTIFF.")
    ] = None,
    cell_size: Annotated[
        float | None, typer.Option("--cell-size", help="Taille des cellules en mètres.")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Ne pas utiliser le cache.")] = False,
) -> None:
    """Construit la surface de population (habitants par cellule de 200 m) et la met en cache."""
    from coverage.layers import load_territory
    from coverage.layers.population import population_surface

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_territory(territory, data_dir=data)
        with console.status("Surface de population…"):
            surface = population_surface(loaded, cell_size_m=cell_size, use_cache=not no_cache)
    show_warnings(caught)
    rows, cols = surface.shape
    console.print(
        f"{rows} × {cols} cellules de {surface.cell_size_m:g} m, "
        f"{int((surface.values > 0).sum())} peuplées, total {fmt_int(surface.total)} habitants",
        highlight=False,
    )
    console.print(f"Méthode : {surface.method}", highlight=False)
    if surface.cache_file:
        console.print(f"Cache : {surface.cache_file}", highlight=False)
    if output is not None:
        surface.to_geotiff(output)
        console.print(f"Écrit : {output}", highlight=False)


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
    "coverage.commands.run",
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
