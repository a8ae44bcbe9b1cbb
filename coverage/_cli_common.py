"""Pieces shared by the command modules: consoles, common options, French number formatting.

Each feature registers its commands from its own module (``register(app)``),
listed in :data:`coverage.cli.COMMAND_MODULES`; those modules import from here,
never from ``coverage.cli``, so that there is no import cycle.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help=(
            "Dossier des données (le lot lui-même ou un dossier qui contient <territoire>/). "
            "Par défaut : $COVERAGE_DATA_DIR, puis le dossier de données de l'utilisateur."
        ),
    ),
]
CsvOption = Annotated[
    Literal["fr", "machine"] | None,
    typer.Option(
        "--csv",
        help=(
            "Format des tableaux CSV : fr (tableur français : ;, virgule décimale, BOM, "
            "en-têtes français) ou machine (,, point, noms anglais). "
            "Par défaut : $COVERAGE_CSV_STYLE, sinon fr."
        ),
    ),
]
"""The ``--csv fr|machine`` option of every command that writes tables (:mod:`coverage.tables`)."""
ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help=(
            "Où calculer : absent = dans ce processus ; local:N = N workers Dask sur cette "
            "machine (par ex. local:4) ; tcp://hôte:8786 = un ordonnanceur Dask existant. "
            "Par défaut : $COVERAGE_CLUSTER, sinon ce processus."
        ),
        show_default=False,
    ),
]
"""The ``--cluster`` option of the long commands (:mod:`coverage.cluster`)."""
TerritoryArgument = Annotated[
    str, typer.Argument(help="Nom du territoire (dossier data/geo/<nom>), par exemple 'gers'.")
]


@contextmanager
def cluster_client(value: str | None) -> Iterator[Any]:
    """The Dask client of ``--cluster`` (``None`` for this process), its dashboard printed.

    Raises
    ------
    coverage.errors.ConfigError
        A ``--cluster`` (or ``$COVERAGE_CLUSTER``) value of none of the three forms.
    """
    from coverage.cluster import dashboard_link, open_client, resolve_cluster

    spec = resolve_cluster(value)
    if spec.kind == "process":
        yield None
        return
    where = f"{spec.workers} workers locaux" if spec.kind == "local" else spec.address
    console.print(f"Grappe Dask : {where}", highlight=False, markup=False)
    with open_client(spec) as client:
        link = dashboard_link(client)
        console.print(
            f"Tableau de bord Dask : {link}" if link else "Tableau de bord Dask : indisponible",
            highlight=False,
            markup=False,
        )
        yield client


def fmt_int(value: float) -> str:
    """Format an integer with the French thousands separator (a plain space)."""
    return f"{int(round(value)):,}".replace(",", " ")


def fmt_share(value: float, digits: int = 1) -> str:
    """Format a share in [0, 1] as a French percentage (``12,3 %``)."""
    return f"{100.0 * value:.{digits}f} %".replace(".", ",")


def one_line(message: object) -> str:
    """A message on one line (line breaks become `` ; ``), escaped so that Rich prints it as is.

    Messages carry user data (file names, column names, TOML keys such as
    ``[thresholds]``) that Rich would otherwise take for markup and swallow.
    """
    parts = [part.strip() for part in str(message).splitlines()]
    return escape(" ; ".join(part for part in parts if part))


def print_error(message: object, *, label: str = "Erreur") -> None:
    """Print an error on stderr as one line: ``Erreur : <message>`` (the message escaped)."""
    err_console.print(f"[red]{label} :[/red] {one_line(message)}", highlight=False, soft_wrap=True)


def show_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Print recorded warnings on stderr, one line each."""
    print_warnings([str(w.message) for w in caught])


def print_warnings(messages: list[str]) -> None:
    """Print warning texts (returned by a job) on stderr, one line each."""
    for message in messages:
        err_console.print(f"[yellow]Avertissement :[/yellow] {one_line(message)}", highlight=False)


def fmt_num(value: float, digits: int = 1) -> str:
    """Format a number the French way (``10 010,5``): space for thousands, comma for decimals."""
    return f"{value:,.{digits}f}".replace(",", " ").replace(".", ",")


class StepProgress:
    """Show the current step with a spinner and print each finished step with its time.

    Use as a context manager and call it with each step's French label; a
    step ends when the next begins or when the block ends without error.
    """

    def __init__(self) -> None:
        self._status = console.status("Préparation…")
        self._label = ""
        self._start = 0.0

    def __enter__(self) -> StepProgress:
        self._status.__enter__()
        return self

    def __call__(self, label: str, /, *, done: int | None = None, total: int | None = None) -> None:
        if label == self._label and done is not None:
            count = f"{fmt_int(done)} / {fmt_int(total)}" if total else fmt_int(done)
            self._status.update(f"{escape(label)}… {count}")
            return
        self._finish()
        self._label, self._start = label, time.perf_counter()
        self._status.update(f"{escape(label)}…")

    def _finish(self) -> None:
        if self._label:
            seconds = time.perf_counter() - self._start
            console.print(
                f"  [green]✓[/green] {escape(self._label)} ({fmt_num(seconds, 1)} s)",
                highlight=False,
            )
            self._label = ""

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._finish()
        self._status.__exit__(*exc)


class CountProgress:
    """A progress bar on stderr for steps that count items (``progress(step, done=, total=)``).

    Implements :class:`coverage.progress.Progress`; a step called without counts
    only changes the bar's label.
    """

    def __init__(self, *, disable: bool = False) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=disable,
            transient=True,
        )
        self._task: Any = None

    def __enter__(self) -> CountProgress:
        self._bar.__enter__()
        self._task = self._bar.add_task("Préparation…", total=None)
        return self

    def __call__(self, step: str, /, *, done: int | None = None, total: int | None = None) -> None:
        self._bar.update(self._task, description=escape(step), completed=done or 0, total=total)

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)


class DownloadProgress(CountProgress):
    """:class:`CountProgress` showing bytes (downloads) instead of item counts."""

    def __init__(self, *, disable: bool = False) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=disable,
            transient=True,
        )
        self._task = None
