"""The ``coverage population`` command: the population surface."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coverage._cli_common import (
    DataOption,
    StepProgress,
    TerritoryArgument,
    console,
    fmt_int,
    print_warnings,
)


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
    from coverage.jobs.population import build_population

    with StepProgress() as steps:
        surface, caught = build_population(
            territory,
            data_dir=data,
            cell_size_m=cell_size,
            use_cache=not no_cache,
            output=output,
            progress=steps,
        )
    print_warnings(caught)
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
        console.print(f"Écrit : {output}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``population`` to the ``coverage`` command."""
    app.command(name="population")(population)
