"""The ``coverage info`` command: a territory's summary."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from coverage._cli_common import DataOption, TerritoryArgument, console, fmt_int, print_warnings


def info(
    territory: TerritoryArgument = "gers",
    data: DataOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Résumé du territoire : communes, population, cantons, EPCI, couches présentes."""
    from coverage.jobs.info import territory_info

    summary, caught = territory_info(territory, data_dir=data)
    print_warnings(caught)
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


def register(app: typer.Typer) -> None:
    """Add ``info`` to the ``coverage`` command."""
    app.command(name="info")(info)
