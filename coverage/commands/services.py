"""The ``coverage services`` commands: import a département's list, inventory of the catalogue."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from coverage._cli_common import (
    CountProgress,
    CsvOption,
    DataOption,
    TerritoryArgument,
    console,
    fmt_int,
    show_warnings,
)
from coverage.commands.geocode import BackendOption, TerritoryOption
from coverage.errors import QueryError

if TYPE_CHECKING:
    import pandas as pd

services_app = typer.Typer(
    help="Catalogue des services : importer la liste d'un département, inventaire par type.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``coverage services import`` and ``coverage services list`` to the application."""
    app.add_typer(services_app, name="services")


def _parse_map(items: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items or []:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise QueryError(
                f"--map attend champ=colonne (par ex. name=Nom du site), reçu {item!r}"
            )
        mapping[field.strip()] = column.strip()
    return mapping


@services_app.command("import")
def import_services_command(
    input_file: Annotated[
        Path,
        typer.Argument(
            help="Liste des sites : CSV (UTF-8 ou Latin-1, , ou ;), GeoJSON ou GeoPackage.",
            metavar="INPUT",
        ),
    ],
    kind: Annotated[
        str,
        typer.Option(
            help="Type des sites : mds, tiers_lieu, france_services, health_centre, saad, "
            "ou un type déclaré dans [services.kinds]."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Fichier catalogue écrit : .gpkg, .geojson ou .csv."),
    ],
    territory: TerritoryOption = "gers",
    data: DataOption = None,
    status: Annotated[
        str, typer.Option(help="Statut par défaut : open, planned ou closed.")
    ] = "open",
    capacity: Annotated[
        float, typer.Option(help="Capacité par défaut de chaque site (ETP, demi-journées...).")
    ] = 1.0,
    capacity_unit: Annotated[str, typer.Option(help="Unité de la capacité.")] = "site",
    source: Annotated[str, typer.Option(help="Source citée (défaut : nom du fichier).")] = "",
    column_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="Correspondance champ=colonne, répétable (name=Nom, address=Adresse, "
            "postcode=CP, city=Commune, insee_code=INSEE, lon=X, lat=Y, status=Etat...).",
        ),
    ] = None,
    crs: Annotated[
        str, typer.Option(help="CRS des coordonnées si ce n'est pas WGS84 (EPSG:2154...).")
    ] = "",
    backend: BackendOption = None,
    max_distance_km: Annotated[
        float | None,
        typer.Option(help="Sites refusés au-delà de cette distance du territoire (km)."),
    ] = None,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Pas de barre de progression.")
    ] = False,
    csv: CsvOption = None,
) -> None:
    """Importe la liste des sites d'un département (MDS, centres de santé, SAAD...).

    Les coordonnées fournies sont vérifiées, les adresses géocodées ; chaque ligne
    rejetée est signalée avec sa raison (une ligne qui n'a pas autant de champs que
    l'en-tête est rejetée, jamais décalée). Si aucun site n'a pu être placé, rien
    n'est écrit et le code de sortie est 1.
    """
    from coverage._french import plural
    from coverage.jobs.services import import_services_file
    from coverage.layers import load_territory

    mapping = _parse_map(column_map)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_territory(territory, data_dir=data)
        from coverage.tables import use_style

        with use_style(csv), CountProgress(disable=no_progress) as bar:
            catalogue = import_services_file(
                input_file,
                output,
                loaded,
                kind=kind,
                backends=backend,
                columns=mapping or None,
                status=status,
                capacity=capacity,
                capacity_unit=capacity_unit,
                source=source,
                crs=crs,
                max_distance_km=max_distance_km,
                progress=bar,
            )
    show_warnings([w for w in caught if "could not be placed" not in str(w.message)])
    frame = catalogue.frame
    console.print(
        f"{plural(len(frame), 'site placé')} ({kind}), "
        f"{fmt_int(int(frame['in_territory'].sum()) if len(frame) else 0)} dans le territoire, "
        f"{plural(len(catalogue.rejected), 'rejeté')}",
        highlight=False,
        markup=False,
    )
    _print_quality(frame)
    _print_notes(frame, output)
    for row in catalogue.rejected.itertuples():
        label = ", ".join(str(v) for v in (row.service_id, row.name) if v)
        console.print(
            f"  rejeté : ligne {row.line} ({label}) : {row.reason}",
            highlight=False,
            markup=False,
        )
    console.print(f"Écrit : {output}", highlight=False, markup=False)


NOTES_SHOWN = 10
"""Notes printed by ``services import`` (the others are in the catalogue's ``note`` column)."""


def _print_notes(frame: pd.DataFrame, output: Path) -> None:
    """Print how many placed sites carry a note, and the first :data:`NOTES_SHOWN` of them."""
    noted = frame[frame["note"].fillna("").astype(str) != ""] if len(frame) else frame
    if not len(noted):
        return
    n = len(noted)
    console.print(
        f"  {fmt_int(n)} {'site placé porte' if n == 1 else 'sites placés portent'} une note "
        "(réparation, correction, repli) :",
        highlight=False,
        markup=False,
    )
    for row in noted.head(NOTES_SHOWN).itertuples():
        console.print(
            f"  note : {row.service_id} ({row.name}) : {row.note}", highlight=False, markup=False
        )
    if n > NOTES_SHOWN:
        console.print(
            f"  … et {fmt_int(n - NOTES_SHOWN)} autres : colonne « note » de {output}",
            highlight=False,
            markup=False,
        )


def _print_quality(frame: pd.DataFrame) -> None:
    from coverage.geocode.base import QUALITY_LABELS

    if not len(frame):
        return
    counts = frame["geocode_quality"].value_counts()
    parts = [f"{QUALITY_LABELS.get(q, q)} {fmt_int(n)}" for q, n in counts.items()]
    console.print("  précision : " + ", ".join(parts), highlight=False, markup=False)


@services_app.command("list")
def list_services(
    territory: TerritoryArgument = "gers",
    data: DataOption = None,
    add: Annotated[
        list[Path] | None,
        typer.Option("--add", help="Fichier catalogue en plus (écrit par 'services import')."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Inventaire du catalogue des services : sites par type, statut, dans ou hors du territoire."""
    from coverage._french import plural
    from coverage.geocode.base import QUALITY_LABELS
    from coverage.geocode.catalogue import load_catalogue
    from coverage.layers import load_territory
    from coverage.layers.services import STATUS_LABELS

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_territory(territory, data_dir=data)
        catalogue = load_catalogue(loaded, extra=add or ())
    show_warnings(caught)
    summary = catalogue.summary()
    if as_json:
        console.print_json(json.dumps(summary, ensure_ascii=False, default=str))
        return
    console.print(
        f"[bold]{escape(loaded.config.label)}[/bold] : {fmt_int(summary['services'])} sites "
        "de service, "
        f"dont {fmt_int(summary['in_territory'])} dans le territoire",
        highlight=False,
    )
    for kind, entry in summary["by_kind"].items():
        statuses = ", ".join(
            plural(n, STATUS_LABELS.get(s, s)) for s, n in sorted(entry["by_status"].items())
        )
        qualities = ", ".join(
            f"{QUALITY_LABELS.get(q, q)} {fmt_int(n)}"
            for q, n in sorted(entry["by_quality"].items())
        )
        console.print(
            f"  {entry['label']} ({kind}) : {fmt_int(entry['total'])} "
            f"({fmt_int(entry['in_territory'])} dans le territoire, "
            f"{fmt_int(entry['outside'])} hors) — {statuses} — précision : {qualities}",
            highlight=False,
            markup=False,
        )
    known = set(summary["by_kind"])
    missing = [k for k in catalogue.kinds if k not in known]
    if missing:
        console.print(
            "  aucun site : "
            + ", ".join(f"{catalogue.kinds[k]} ({k})" for k in missing)
            + " — voir docs/services.md pour importer la liste du département",
            highlight=False,
            markup=False,
        )
    for row in catalogue.rejected.itertuples():
        console.print(
            f"  rejeté : {row.source_key} ligne {row.line} ({row.name or row.service_id}) : "
            f"{row.reason}",
            highlight=False,
            markup=False,
        )
    for key, prov in summary["sources"].items():
        date = f", {prov['date']}" if prov.get("date") else ""
        console.print(
            f"Source {key} : {prov.get('source', '')}{date}", highlight=False, markup=False
        )
