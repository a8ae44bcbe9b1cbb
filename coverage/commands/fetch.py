"""The ``coverage fetch`` command: a territory's data bundle from the official sources."""

from __future__ import annotations

import sys
from pathlib import Path
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

    Une région (occitanie) ou france : un lot par département, chacun sous son nom
    (gers, haute-garonne…) dans le dossier de données.

    geo.api.gouv.fr, COG de l'INSEE, data.gouv.fr, BAN, OpenStreetMap (docs/fetch.md).
    """
    from coverage.regions import region_departements

    departements = region_departements(territory)
    if departements is not None and departement is None:
        # a région (or france): one bundle per département, each under its own name; a
        # département that fails is said and the others are still fetched
        from coverage._cli_common import print_error
        from coverage.errors import CoverageError

        failed = []
        for number, dep in enumerate(departements, start=1):
            console.print(
                f"[{number}/{len(departements)}] {dep.name} ({dep.code})",
                highlight=False,
                markup=False,
            )
            try:
                _fetch_one(
                    dep.territory,
                    data,
                    dep.code,
                    no_osm,
                    no_addresses,
                    no_ages,
                    force,
                    buffer_km,
                    parent=True,
                )
            except CoverageError as exc:
                print_error(f"{dep.name} ({dep.code}) : {exc}")
                failed.append(dep.name)
        if failed:
            console.print(
                f"{len(failed)} lot(s) sur {len(departements)} non téléchargé(s) : "
                f"{', '.join(failed)} ; relancez la même commande pour les reprendre",
                highlight=False,
                markup=False,
            )
            raise typer.Exit(1)
        return
    _fetch_one(territory, data, departement, no_osm, no_addresses, no_ages, force, buffer_km)


def _fetch_one(
    territory: str,
    data: Path | None,
    departement: str | None,
    no_osm: bool,
    no_addresses: bool,
    no_ages: bool,
    force: bool,
    buffer_km: float,
    *,
    parent: bool = False,
) -> None:
    """One territory's bundle, with its download bar and report (``parent``: under its name)."""
    from coverage.jobs.fetch import fetch_territory
    from coverage.settings import resolve_data_dir, territory_folder

    dest, origin = (territory_folder if parent else resolve_data_dir)(territory, data)
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
