"""The ``coverage compare`` command: who gains or loses access between two results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coverage._cli_common import CsvOption, console, fmt_int


def compare(
    result_a: Annotated[Path, typer.Argument(help="Dossier de résultats A (référence).")],
    result_b: Annotated[Path, typer.Argument(help="Dossier de résultats B (scénario).")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Dossier où écrire la comparaison (CSV, JSON)."),
    ] = None,
    csv: CsvOption = None,
) -> None:
    """Compare deux résultats : habitants qui gagnent ou perdent l'accès, par commune et seuil."""
    from rich.table import Table

    from coverage.jobs.compare import compare_results

    comparison = compare_results(result_a, result_b)
    table = Table(title=f"{comparison.a} → {comparison.b}", title_justify="left")
    for column in (
        "Analyse",
        "Seuil",
        "Au-delà (A)",
        "Au-delà (B)",
        "Gagnent",
        "Perdent",
        "Communes",
    ):
        table.add_column(column, justify="left" if column == "Analyse" else "right")
    for row in comparison.totals.itertuples(index=False):
        table.add_row(
            row.analysis,
            f"{row.threshold_minutes:g} min",
            fmt_int(row.pop_beyond_a),
            fmt_int(row.pop_beyond_b),
            fmt_int(row.gained),
            fmt_int(row.lost),
            str(row.communes_changed),
        )
    console.print(table)
    top = comparison.changes.head(10)
    if len(top):
        console.print("Principales communes concernées :", highlight=False)
        for row in top.itertuples(index=False):
            change = f"+{fmt_int(row.gained)}" if row.gained else f"-{fmt_int(row.lost)}"
            console.print(
                f"  {row.name} ({row.insee_code}), {row.analysis} {row.threshold_minutes:g} min : "
                f"{change} habitants à portée",
                highlight=False,
            )
    folder = output or Path(result_b) / f"compare-{Path(result_a).name}"
    from coverage.tables import use_style

    with use_style(csv):
        paths = comparison.write(folder)
    console.print(f"Écrit : {', '.join(str(p) for p in paths)}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``compare`` to the ``coverage`` command."""
    app.command(name="compare")(compare)
