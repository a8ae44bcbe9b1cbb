"""The ``coverage geocode`` command: a CSV of addresses in, the same rows located out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

import typer

from coverage._cli_common import (
    CountProgress,
    DataOption,
    console,
    fmt_int,
    print_warnings,
)

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
            help="CSV d'adresses (UTF-8, UTF-8 avec BOM ou Latin-1 ; séparateur , ou ;).",
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
) -> None:
    """Géocode un fichier d'adresses (CSV) : chaque ligne revient avec sa position.

    Chaque ligne revient, dans l'ordre, avec sa position, sa précision (numéro, voie,
    lieu-dit, commune) et son statut (trouvé, repli, rejeté, avec la raison).
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
    with CountProgress(disable=no_progress) as bar:
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
    console.print(
        f"Lecture : {input_file} ({fmt_int(info.rows)} lignes, encodage {info.encoding}, "
        f"séparateur {info.separator!r})",
        highlight=False,
    )
    console.print(
        "Colonnes : " + ", ".join(f"{k}={v}" for k, v in report.columns.used().items()),
        highlight=False,
    )
    console.print(f"Géocodeurs : {' → '.join(report.backends)}", highlight=False)
    for line in result.summary_lines():
        console.print(line, highlight=False)
    rejected = result.frame[result.frame["status"] == "rejected"]
    for position, reason in list(zip(rejected.index, rejected["reason"], strict=True))[:10]:
        console.print(f"  ligne {position + 2} : {reason}", highlight=False)
    if len(rejected) > 10:
        console.print(f"  … et {len(rejected) - 10} autres lignes rejetées", highlight=False)
    console.print(f"Écrit : {report.output}", highlight=False)
