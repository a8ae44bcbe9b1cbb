"""The ``coverage portrait`` command: intercommunal portraits (HTML map and PNG per EPCI)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coverage._cli_common import console


def portrait(
    result: Annotated[Path, typer.Argument(help="Dossier de résultats de coverage run.")],
    epci: Annotated[
        list[str] | None,
        typer.Argument(help="EPCI : code SIREN ou nom (plusieurs possibles)."),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Tous les EPCI du résultat.")] = False,
    analysis: Annotated[
        str | None, typer.Option("--analysis", help="Analyse à dessiner (par défaut : toutes).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Dossier à écrire (par défaut <résultat>/portraits)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Remplacer le dossier s'il existe.")
    ] = False,
) -> None:
    """Écrit le portrait d'un EPCI (ou de tous) : carte HTML et image PNG."""
    from coverage._french import plural
    from coverage.jobs.portrait import write_portraits

    written = write_portraits(
        result,
        epci or (),
        every=every,
        analysis=analysis,
        output_dir=output,
        overwrite=overwrite,
        progress=lambda label, *_: console.print(label, highlight=False, markup=False),
    )
    console.print(
        f"{plural(len(written.epci), 'portrait écrit')} dans {written.output_dir} "
        f"({plural(len(written.files), 'fichier')} : HTML et PNG par EPCI)",
        highlight=False,
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``portrait`` to the ``coverage`` command."""
    app.command(name="portrait")(portrait)
