"""The ``coverage fetch`` command: a territory's data bundle from the official sources."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from coverage._cli_common import (
    DataOption,
    DownloadProgress,
    TerritoryArgument,
    console,
    fmt_int,
)


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
    no_ages: Annotated[
        bool,
        typer.Option(
            "--no-ages", help="Ne pas télécharger la population par âge des communes (INSEE)."
        ),
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
    with DownloadProgress(disable=not sys.stderr.isatty()) as bar:
        report = fetch_territory(
            territory,
            dest,
            departement=departement,
            include_osm=not no_osm,
            include_addresses=not no_addresses,
            include_ages=not no_ages,
            force=force,
            progress=bar,
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


def register(app: typer.Typer) -> None:
    """Add ``fetch`` to the ``coverage`` command."""
    app.command(name="fetch")(fetch)
