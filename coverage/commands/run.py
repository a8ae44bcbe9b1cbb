"""Commands ``coverage run`` (the main job) and ``coverage compare``."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from coverage._cli_common import (
    ClusterOption,
    CountProgress,
    CsvOption,
    DataOption,
    DownloadProgress,
    StepProgress,
    cluster_client,
    console,
    fmt_int,
    fmt_num,
    fmt_share,
    print_warnings,
)
from coverage.cluster import DEFAULT_CHUNK_CELLS, MAX_CHUNK_CELLS


def ensure_bundle(territory: str, data: Path | None) -> None:
    """Fetch the territory's bundle first when none is found (online), saying so.

    Raises
    ------
    coverage.errors.OfflineError
        One line: no bundle here and the official sources cannot be reached.
    """
    from coverage.errors import OfflineError
    from coverage.settings import resolve_data_dir

    bundle, origin = resolve_data_dir(territory, data)
    if bundle.is_dir() and any(bundle.iterdir()):
        return
    if data is not None:
        from coverage.errors import DataError

        raise DataError(
            f"aucun lot de données pour '{territory}' ici ; donnez à --data le dossier d'un "
            f"lot, ou lancez 'coverage fetch {territory}' une fois en ligne",
            path=bundle,
        )
    unreachable = _unreachable_source()
    if unreachable is not None:  # offline: say so at once, not after the download's retries
        raise OfflineError(
            f"aucun lot de données pour '{territory}' dans {bundle} ({origin}) et les sources "
            f"officielles sont injoignables ({unreachable}) ; lancez 'coverage fetch "
            f"{territory}' une fois en ligne, ou donnez --data DOSSIER (ou COVERAGE_DATA_DIR) "
            "vers un lot existant"
        )
    console.print(
        f"Aucun lot de données pour '{territory}' ({origin}) : téléchargement depuis les "
        f"sources officielles (coverage fetch {territory}) vers {bundle}…",
        highlight=False,
        markup=False,
    )
    from coverage.jobs.fetch import fetch_territory

    try:
        with DownloadProgress(disable=not sys.stderr.isatty()) as bar:
            fetch_territory(territory, bundle, progress=bar)
    except OfflineError as exc:
        raise OfflineError(
            f"aucun lot de données pour '{territory}' et les sources officielles sont "
            f"injoignables ({exc}) ; copiez un lot et passez --data DOSSIER (ou réglez "
            f"COVERAGE_DATA_DIR), ou lancez 'coverage fetch {territory}' une fois en ligne"
        ) from None


PROBE_TIMEOUT_S = 3.0
"""How long ``coverage run`` waits for the first official source before saying it is offline."""


def _unreachable_source(timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """One TCP connection to the first source a fetch downloads from; the host if it fails."""
    import socket
    from urllib.parse import urlsplit

    from coverage.jobs.fetch import FetchSources

    url = urlsplit(FetchSources.from_env().geo_api_url)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError:
        return url.netloc or host
    return None


def run(
    scenarios: Annotated[
        list[str] | None,
        typer.Argument(
            help=(
                "Fichier(s) de scénario (TOML) ou nom(s) de territoire (leur scénario par "
                "défaut). Par défaut : le scénario de l'offre actuelle du Gers. Plusieurs "
                "scénarios : un calcul chacun, et un tableau qui les compare."
            ),
            show_default=False,
        ),
    ] = None,
    territory: Annotated[
        list[str] | None,
        typer.Option(
            "--territory",
            "-t",
            help=(
                "Lancer le(s) scénario(s) sur ces territoires : noms séparés par des virgules "
                "ou option répétée (gers,landes), une région (occitanie) ou france. Un calcul "
                "par territoire, puis les tableaux réunis."
            ),
            show_default=False,
        ),
    ] = None,
    data: DataOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Dossier de résultats (par défaut results/<scénario>-<date>)."
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Remplacer le dossier de résultats s'il existe.")
    ] = False,
    no_map: Annotated[bool, typer.Option("--no-map", help="Ne pas écrire la carte HTML.")] = False,
    cells: Annotated[
        bool | None,
        typer.Option(
            "--cells/--no-cells",
            help=(
                "Écrire (ou non) la couche des cellules de population (200 m) dans "
                "results.gpkg. Par défaut : [outputs] cells du scénario, sinon non."
            ),
            show_default=False,
        ),
    ] = None,
    csv: CsvOption = None,
    cluster: ClusterOption = None,
    chunk_cells: Annotated[
        int,
        typer.Option(
            "--chunk-cells",
            min=1,
            max=MAX_CHUNK_CELLS,
            help=(
                "Avec --cluster et un seul territoire : cellules peuplées par tâche Dask "
                "(raccordement au réseau puis temps d'accès ; la mémoire d'un worker en dépend)."
            ),
        ),
    ] = DEFAULT_CHUNK_CELLS,
) -> None:
    """Lance un scénario : temps d'accès, population au-delà des seuils, communes mal desservies."""
    from dataclasses import replace

    from coverage.cluster import resolve_cluster
    from coverage.jobs.scenarios import resolve_scenario
    from coverage.scenario import load_scenario

    start = time.perf_counter()
    resolve_cluster(cluster)  # a bad --cluster is said before anything runs
    paths = [resolve_scenario(item) for item in (scenarios or [None])]
    specs = []
    for path in paths:
        spec = load_scenario(path)
        if no_map:
            spec = replace(spec, outputs={**spec.outputs, "map": False})
        if cells is not None:
            spec = replace(spec, outputs={**spec.outputs, "cells": cells})
        specs.append(spec)
    if len(specs) > 1 or territory:
        _run_many(specs, territory or [], data, output, overwrite, csv, cluster, start)
        return
    spec, path = specs[0], paths[0]
    from coverage.jobs.run import run_scenario

    ensure_bundle(spec.territory, data)
    if output is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        output = Path("results") / f"{spec.name}-{stamp}"
    console.print(f"[bold]{escape(spec.label)}[/bold] ({escape(str(path))})", highlight=False)
    from coverage.tables import use_style

    with cluster_client(cluster) as client, use_style(csv), StepProgress() as steps:
        result = run_scenario(
            spec,
            output_dir=output,
            overwrite=overwrite,
            data_dir=data,
            progress=steps,
            client=client,
            chunk_cells=chunk_cells,
        )
    print_summary(result.summary, result.analyses)
    cells_note = result.summary.get("cells", {}).get("note")
    if cells_note:
        console.print(f"\n{cells_note[0].upper()}{cells_note[1:]}.", highlight=False, markup=False)
    console.print(
        f"\nRésultats : {result.output_dir} (summary.json, results.gpkg, tables/"
        f"{', carte map.html' if (result.output_dir / 'map.html').is_file() else ''}) — "
        f"{fmt_num(time.perf_counter() - start, 1)} s",
        highlight=False,
        markup=False,
    )


def _run_many(
    specs: list[Any],
    territories: list[str],
    data: Path | None,
    output: Path | None,
    overwrite: bool,
    csv: str | None,
    cluster: str | None,
    start: float,
) -> None:
    """Several jobs (territories, scenario files): one task each, then the merged tables."""
    from coverage.jobs.run_many import plan_jobs, run_many
    from coverage.regions import expand_territories

    jobs = plan_jobs(specs, expand_territories(territories) if territories else [])
    if output is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        output = Path("results") / f"calculs-{stamp}"
    console.print(
        f"[bold]{len(jobs)} calculs[/bold] : "
        + escape(", ".join(job.name for job in jobs[:12]))
        + (" …" if len(jobs) > 12 else ""),
        highlight=False,
    )
    with cluster_client(cluster) as client, CountProgress(disable=not sys.stderr.isatty()) as bar:
        result = run_many(
            jobs,
            output_dir=output,
            overwrite=overwrite,
            data_dir=data,
            client=client,
            csv_style=csv,
            progress=bar,
        )
    print_many(result.summary, result.outcomes)
    console.print(
        f"\nRésultats : {result.output_dir} (un dossier par calcul, summary.json, tables/) — "
        f"{fmt_num(time.perf_counter() - start, 1)} s",
        highlight=False,
        markup=False,
    )
    if result.failed:
        raise typer.Exit(1)


def print_many(summary: dict[str, Any], outcomes: list[Any]) -> None:
    """One line per job (status, population, share beyond each reference), then the totals."""
    from rich.table import Table

    table = Table(title="Calculs", title_justify="left")
    table.add_column("Calcul", overflow="fold")
    table.add_column("État")
    table.add_column("Population", justify="right")
    table.add_column("Au-delà du repère", overflow="fold")
    table.add_column("Durée", justify="right")
    for job, outcome in zip(summary["jobs"], outcomes, strict=True):
        shares = "; ".join(
            f"{h['analysis']} > {h['threshold_minutes']:g} min : {fmt_share(h['share'])}"
            for h in job.get("headline", [])
        )
        table.add_row(
            escape(job["name"]),
            "[green]terminé[/green]" if job["status"] == "ok" else "[red]erreur[/red]",
            fmt_int(job["population"]) if "population" in job else "—",
            escape(shares) if job["status"] == "ok" else escape(job["message"]),
            f"{fmt_num(job['seconds'], 1)} s",
        )
        print_warnings(outcome.warnings[:3])
    console.print(table)
    for figures in summary["analyses"].values():
        parts = [
            f"{fmt_share(t['share_beyond'])} au-delà de {t['minutes']:g} min"
            for t in figures["thresholds"].values()
        ]
        console.print(
            f"Ensemble ({figures['territories']} territoires, {fmt_int(figures['population'])} "
            f"habitants) — {figures['label']} : " + ", ".join(parts),
            highlight=False,
            markup=False,
        )
    if summary["jobs_failed"]:
        console.print(
            f"{summary['jobs_failed']} calcul(s) en erreur sur {len(summary['jobs'])} : les "
            "autres sont écrits ; voir summary.json",
            highlight=False,
            markup=False,
        )


def print_summary(summary: dict[str, Any], analyses: dict[str, Any]) -> None:
    """The final tables: share beyond each threshold, the ten most underserved communes."""
    from rich.table import Table

    territory = summary["territory"]
    for name, figures in summary["analyses"].items():
        table = Table(
            title=f"{escape(figures['label'])} — {figures['services']} sites "
            f"({figures['services_in_territory']} dans le territoire)",
            title_justify="left",
        )
        public = figures.get("public")
        if public is not None:
            console.print(
                f"Public compté : {public['label']} ({public_source(public)})",
                highlight=False,
                markup=False,
            )
        table.add_column("Seuil", justify="right")
        table.add_column(
            "Habitants au-delà" if public is None else "Public au-delà", justify="right"
        )
        table.add_column("Part au-delà", justify="right")
        table.add_column("Communes concernées", justify="right")
        for t in figures["thresholds"].values():
            table.add_row(
                f"{t['minutes']:g} min",
                fmt_int(t["pop_beyond"]),
                fmt_share(t["share_beyond"]),
                str(t["communes_with_pop_beyond"]),
            )
        console.print(table)
        mean = figures["minutes_mean"]
        console.print(
            f"Temps moyen pondéré {'par la population' if public is None else 'par le public'} "
            f": {mean:.1f} min".replace(".", ",")
            if mean is not None
            else "Temps moyen : non calculable",
            highlight=False,
        )
        _print_underserved(analyses[name], territory["population"])
    if summary.get("health"):
        print_health(summary["health"])


def public_source(public: dict[str, Any]) -> str:
    """« source, année » of a public (what the terminal and the maps print beside its label)."""
    parts = [str(public.get(k) or "") for k in ("source", "year")]
    return ", ".join(p for p in parts if p) or "source non renseignée"


def _sig(value: float) -> str:
    """Four significant digits, French decimal comma (display only: files keep every digit)."""
    return f"{value:.4g}".replace(".", ",")


def print_health(health: dict[str, Any]) -> None:
    """The 2SFCA block: unit, how the border was handled, demand, under-supplied communes."""
    from coverage.jobs.health import UNIT_LABELS

    unit = UNIT_LABELS.get(health["capacity_unit"], health["capacity_unit"])
    per = health["per_inhabitants"]
    mean = health["population_weighted_mean"]
    lines = [
        f"\nAccessibilité aux soins (2SFCA) — {health['supply_sites']} sites, capacité en {unit}"
        + (f" pour {fmt_int(per)} habitants" if per != 1 else " par habitant"),
        "Moyenne pondérée par la population : "
        + (_sig(mean) if mean is not None else "non calculable"),
        f"Limite du territoire : {health['border']['note']}",
        "Part de l'accessibilité venant des sites hors du territoire : "
        + (
            fmt_share(health["border"]["outside_share_of_accessibility"])
            if health["border"]["outside_share_of_accessibility"] is not None
            else "—"
        ),
    ]
    demand = health["demand"]
    lines.append(
        demand["note"]
        if demand.get("note")
        else (
            "Demande standardisée par l'âge ([health] age_weights)"
            if demand["type"] == "age_weighted"
            else "Demande : population des communes"
        )
    )
    if health["undersupplied_threshold"] is None:
        lines.append(
            f"Sous-dotation : pas de seuil publié pour une capacité en {unit} "
            "(donner [health] undersupplied_threshold)"
        )
    else:
        lines.append(
            f"Sous-dotation (sous {_sig(health['undersupplied_threshold'])}) : "
            f"{health['communes_undersupplied']} communes, "
            f"{fmt_int(health['population_undersupplied'])} habitants"
        )
    for line in lines:
        console.print(line, highlight=False, markup=False)


def _print_underserved(result: Any, population: int) -> None:
    from rich.table import Table

    used = result.underserved_threshold()  # the rule of the underserved table and method
    note = result.underserved_note()
    if note:
        console.print(note, highlight=False, markup=False)
    if used is None:
        return
    ranked = result.underserved(top=10)
    key = f"{used:g}".replace(".", "_")
    table = Table(
        title=f"Les communes les plus mal desservies (au-delà de {used:g} min)",
        title_justify="left",
    )
    table.add_column("Commune", overflow="ellipsis", no_wrap=True, max_width=24)
    table.add_column("Hab." if result.public is None else "Public", justify="right", no_wrap=True)
    table.add_column(f"> {used:g} min", justify="right", no_wrap=True)
    table.add_column("Moyenne", justify="right", no_wrap=True)
    table.add_column("Service le plus proche", overflow="ellipsis", no_wrap=True, max_width=22)
    for row in ranked.itertuples(index=False):
        mean = row.minutes_mean
        table.add_row(
            escape(f"{row.rank}. {row.name}"),
            fmt_int(row.population),
            fmt_int(getattr(row, f"pop_beyond_{key}")),
            f"{mean:.1f} min".replace(".", ",") if mean == mean else "—",
            escape(str(row.nearest_service_name)),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``run`` to the ``coverage`` command."""
    app.command(name="run")(run)
