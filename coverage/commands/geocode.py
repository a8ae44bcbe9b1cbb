"""The ``coverage geocode`` command: a CSV of addresses in, the same rows located out."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from coverage._cli_common import (
    CountProgress,
    CsvOption,
    DataOption,
    console,
    fmt_int,
    print_warnings,
)
from coverage.errors import DataError

BackendOption = Annotated[
    list[str] | None,
    typer.Option(
        "--backend",
        "-b",
        help=(
            "Géocodeurs dans l'ordre de repli : local (fichier d'adresses BAN/BANO du lot), "
            "ban (API Adresse nationale, en ligne), commune (point de la commune). "
            "Répétable ou séparé par des virgules ; défaut : local,commune."
        ),
    ),
]
T = TypeVar("T")

TerritoryOption = Annotated[
    str, typer.Option("--territory", "-t", help="Territoire (dossier data/geo/<nom>).")
]


def register(app: typer.Typer) -> None:
    """Add ``coverage geocode`` to the application."""
    app.command("geocode")(geocode)


def geocode(
    input_file: Annotated[
        Path,
        typer.Argument(
            help="CSV d'adresses (UTF-8 avec ou sans BOM, UTF-16, Windows-1252 ou Latin-1 ; "
            "séparateur détecté).",
            metavar="INPUT.csv",
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="CSV de sortie (défaut : <entrée>.geocode.csv à côté)."
        ),
    ] = None,
    territory: TerritoryOption = "gers",
    data: DataOption = None,
    backend: BackendOption = None,
    address: Annotated[
        str, typer.Option(help="Colonne de l'adresse (texte libre ou numéro et voie).")
    ] = "",
    housenumber: Annotated[str, typer.Option(help="Colonne du numéro, si séparée.")] = "",
    street: Annotated[str, typer.Option(help="Colonne de la voie, si séparée.")] = "",
    postcode: Annotated[str, typer.Option(help="Colonne du code postal.")] = "",
    city: Annotated[str, typer.Option(help="Colonne de la commune.")] = "",
    insee: Annotated[str, typer.Option(help="Colonne du code INSEE de la commune.")] = "",
    id_column: Annotated[str, typer.Option("--id", help="Colonne de l'identifiant.")] = "",
    lon: Annotated[str, typer.Option(help="Colonne de la longitude (coordonnées fournies).")] = "",
    lat: Annotated[str, typer.Option(help="Colonne de la latitude (coordonnées fournies).")] = "",
    encoding: Annotated[str | None, typer.Option(help="Encodage forcé (défaut : détecté).")] = None,
    separator: Annotated[
        str | None, typer.Option("--sep", help="Séparateur forcé (défaut : détecté).")
    ] = None,
    max_distance_km: Annotated[
        float,
        typer.Option(help="Coordonnées fournies refusées au-delà de cette distance du territoire."),
    ] = 40.0,
    ban_url: Annotated[
        str | None,
        typer.Option(help="Adresse du serveur de l'API Adresse (défaut : $COVERAGE_BAN_API_URL)."),
    ] = None,
    rate_limit: Annotated[
        float, typer.Option(help="Requêtes par seconde au plus vers l'API Adresse.")
    ] = 10.0,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Ne pas utiliser le cache de l'API Adresse.")
    ] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Pas de barre de progression.")
    ] = False,
    csv: CsvOption = None,
) -> None:
    """Géocode un fichier d'adresses (CSV) : chaque ligne revient avec sa position.

    Chaque ligne revient, dans l'ordre, avec sa position, sa précision (numéro, voie,
    lieu-dit, commune) et son statut (trouvé, repli, rejeté, avec la raison) ; une
    ligne qui n'a pas autant de champs que l'en-tête est rejetée, jamais décalée.
    Code de sortie 1 si aucune ligne n'a pu être géocodée (le fichier est écrit).
    """
    from coverage.jobs.geocode import geocode_addresses

    given = {
        "id": id_column,
        "address": address,
        "housenumber": housenumber,
        "street": street,
        "postcode": postcode,
        "city": city,
        "insee_code": insee,
        "lon": lon,
        "lat": lat,
    }
    from coverage.tables import use_style

    with use_style(csv), CountProgress(disable=no_progress) as bar:
        report = geocode_addresses(
            input_file,
            territory=territory,
            data_dir=data,
            output=output,
            backends=backend,
            columns={key: value for key, value in given.items() if value},
            encoding=encoding,
            separator=separator,
            max_distance_km=max_distance_km,
            ban_options={
                "base_url": ban_url,
                "rate_limit_per_s": rate_limit,
                "use_cache": not no_cache,
            },
            progress=bar,
        )
    print_warnings(report.warnings)
    info, result = report.table, report.result
    say = partial(console.print, highlight=False, markup=False)  # file names, columns: as given
    say(
        f"Lecture : {input_file} ({fmt_int(info.rows)} lignes, encodage {info.encoding}, "
        f"séparateur {info.separator!r})"
    )
    say("Colonnes : " + ", ".join(f"{k}={v}" for k, v in report.columns.used().items()))
    say(f"Géocodeurs : {' → '.join(report.backends)}")
    for line in result.summary_lines():
        say(line)
    rejected = result.frame[result.frame["status"] == "rejected"]
    for position, reason in list(zip(rejected.index, rejected["reason"], strict=True))[:10]:
        say(f"  ligne {info.line(int(position))} : {reason}")
    if len(rejected) > 10:
        say(f"  … et {len(rejected) - 10} autres lignes rejetées")
    say(f"Écrit : {report.output}")
    if not result.located:
        raise DataError(
            f"aucune ligne n'a pu être géocodée ({fmt_int(len(result.frame))} rejetées) ; "
            f"{report.output} donne la raison de chacune",
            path=info.path,
        )
