"""The ``coverage itinerary`` command: plan the itinerant public service (stops, dates, tours)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from coverage._cli_common import (
    CsvOption,
    DataOption,
    StepProgress,
    console,
    fmt_int,
    fmt_num,
    fmt_share,
)

DEFAULT_TERRITORY = "gers"


def register(app: typer.Typer) -> None:
    """Add ``coverage itinerary`` to the application."""
    app.command("itinerary")(itinerary)


def _parse_depot(text: str) -> str | tuple[float, float]:
    from coverage.errors import QueryError

    value = text.strip()
    if "," in value or ";" in value or " " in value:
        parts = [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p]
        try:
            lon, lat = (float(p) for p in parts)
        except ValueError:
            raise QueryError(
                f"--depot: {text!r} is neither an INSEE code nor 'lon,lat' (e.g. 0.5857,43.6465)"
            ) from None
        return (lon, lat)
    return value


def _parse_depots(text: str) -> str | tuple[str, ...]:
    """``tiers-lieux``, ``mds``, ``depot`` or comma-separated INSEE codes."""
    value = text.strip()
    if value in ("tiers-lieux", "mds", "depot"):
        return value
    return tuple(c.strip() for c in value.split(",") if c.strip())


def _parse_lunch(text: str) -> tuple[Any, Any]:
    from coverage.errors import QueryError
    from coverage.itinerary.settings import parse_clock

    parts = text.replace("–", "-").split("-")
    if len(parts) != 2:
        raise QueryError(f"--lunch: {text!r} is not a window; write 12:00-13:30")
    return parse_clock(parts[0], name="--lunch"), parse_clock(parts[1], name="--lunch")


def itinerary(
    territory: Annotated[
        str, typer.Argument(help="Nom du territoire (dossier data/geo/<nom>), par exemple 'gers'.")
    ] = DEFAULT_TERRITORY,
    data: DataOption = None,
    stops: Annotated[
        int | None,
        typer.Option("--stops", help="Nombre d'arrêts à choisir (par défaut 26)."),
    ] = None,
    communes: Annotated[
        Path | None,
        typer.Option(
            "--communes",
            help="Fichier des communes à desservir (un code INSEE par ligne, ou CSV avec une "
            "colonne insee_code) au lieu d'un choix automatique.",
        ),
    ] = None,
    days: Annotated[int, typer.Option("--days", help="Nombre de jours de service.")] = 103,
    year: Annotated[
        int | None, typer.Option("--year", help="Année planifiée (par défaut l'an prochain).")
    ] = None,
    from_date: Annotated[
        str | None,
        typer.Option("--from", help="Début de période (AAAA-MM-JJ), au lieu d'une année."),
    ] = None,
    to_date: Annotated[
        str | None, typer.Option("--to", help="Fin de période (AAAA-MM-JJ), incluse.")
    ] = None,
    depot: Annotated[
        str,
        typer.Option(
            "--depot", help="Dépôt : code INSEE de la commune (32013 = Auch) ou 'lon,lat'."
        ),
    ] = "32013",
    depot_name: Annotated[
        str | None, typer.Option("--depot-name", help="Nom du dépôt (par défaut la commune).")
    ] = None,
    depots: Annotated[
        str,
        typer.Option(
            "--depots",
            help="Bases des agents en plus de --depot : tiers-lieux (prévus et ouverts), mds "
            "(MDS du catalogue), depot (--depot seul) ou codes INSEE séparés par des virgules. "
            "Chaque tournée part de la base et y revient : celle qui conduit le moins.",
        ),
    ] = "tiers-lieux",
    mixed_days: Annotated[
        bool,
        typer.Option(
            "--mixed-days/--no-mixed-days",
            help="Autoriser des journées à une seule permanence pour les arrêts isolés.",
        ),
    ] = True,
    served_minutes: Annotated[
        float,
        typer.Option(
            "--served-minutes",
            help="Une commune à moins de ce temps d'un site fixe (France services, tiers-lieu "
            "prévu ou ouvert) est déjà desservie (0 : aucune).",
        ),
    ] = 10.0,
    served_weight: Annotated[
        float,
        typer.Option(
            "--served-weight",
            help="Poids des communes déjà desservies dans le choix des arrêts (0 : exclues).",
        ),
    ] = 0.0,
    fixed_weekday: Annotated[
        bool,
        typer.Option(
            "--fixed-weekday",
            help="Chaque arrêt toujours le même jour de la semaine (« le mardi »).",
        ),
    ] = False,
    balanced_weekdays: Annotated[
        bool,
        typer.Option(
            "--balanced-weekdays/--no-balanced-weekdays",
            help="Autant de lundis que de vendredis (±1) parmi les jours de service.",
        ),
    ] = True,
    kinds: Annotated[
        str,
        typer.Option(
            "--kinds",
            help="Services fixes de référence, séparés par des virgules (absents ignorés).",
        ),
    ] = "france_services,mds",
    underserved_minutes: Annotated[
        float,
        typer.Option(
            "--underserved-minutes",
            help="Au-delà de ce temps d'un service fixe, un habitant est mal desservi.",
        ),
    ] = 15.0,
    reach_minutes: Annotated[
        float,
        typer.Option(
            "--reach-minutes",
            help="Un arrêt atteint les communes à moins de ce temps (0 : sa seule commune).",
        ),
    ] = 10.0,
    visits: Annotated[
        str,
        typer.Option(
            "--visits", help="Passages par commune : uniform (égaux) ou population (pondérés)."
        ),
    ] = "uniform",
    visits_per_stop: Annotated[
        int | None,
        typer.Option(
            "--visits-per-stop",
            help="Nombre fixe de passages par arrêt (sans --stops, le nombre d'arrêts suit).",
        ),
    ] = None,
    min_spacing_days: Annotated[
        int, typer.Option("--min-spacing-days", help="Jours au moins entre deux passages.")
    ] = 7,
    max_spacing_days: Annotated[
        int,
        typer.Option(
            "--max-spacing-days",
            help="Jours au plus sans passage (entre deux passages et aux bords de la période).",
        ),
    ] = 60,
    permanences_per_day: Annotated[
        int,
        typer.Option("--permanences-per-day", help="Permanences par jour (1 ou 2 demi-journées)."),
    ] = 2,
    permanence_minutes: Annotated[
        float, typer.Option("--permanence-minutes", help="Durée d'une permanence (minutes).")
    ] = 180.0,
    start: Annotated[
        str, typer.Option("--start", help="Début de journée (départ du dépôt).")
    ] = "08:30",
    end: Annotated[str, typer.Option("--end", help="Fin de journée (retour au dépôt).")] = "17:30",
    lunch: Annotated[
        str, typer.Option("--lunch", help="Plage de la pause déjeuner (HH:MM-HH:MM).")
    ] = "12:00-13:30",
    lunch_minutes: Annotated[
        float, typer.Option("--lunch-minutes", help="Durée de la pause déjeuner (0 : aucune).")
    ] = 60.0,
    max_driving_hours: Annotated[
        float, typer.Option("--max-driving-hours", help="Conduite au plus par jour (heures).")
    ] = 3.0,
    weekdays: Annotated[
        str, typer.Option("--weekdays", help="Jours de la semaine possibles (lun,mar,mer,jeu,ven).")
    ] = "lun,mar,mer,jeu,ven",
    closures: Annotated[
        Path | None,
        typer.Option(
            "--closures",
            help="Fichier des jours de fermeture (une date ou une plage par ligne).",
        ),
    ] = None,
    solver: Annotated[
        str, typer.Option("--solver", help="Tournées : vroom ou exact (énumération).")
    ] = "vroom",
    seed: Annotated[int, typer.Option("--seed", help="Graine de la recherche locale.")] = 0,
    naive: Annotated[
        bool,
        typer.Option(
            "--naive",
            help="Plan de référence naïf (tournée fixe dans l'ordre des codes INSEE).",
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Dossier de sortie (par défaut results/itineraire-<territoire>-<année>).",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Remplacer le dossier de sortie s'il existe.")
    ] = False,
    no_map: Annotated[bool, typer.Option("--no-map", help="Ne pas écrire la carte HTML.")] = False,
    csv: CsvOption = None,
) -> None:
    """Planifie le service public itinérant : arrêts, calendrier annuel et tournées du jour.

    Écrit calendar.csv, calendar.ics (agendas), days.csv, stops.csv, spacing.csv,
    routes.geojson (une tournée par jour), tours.geojson, stops.geojson,
    summary.json et la carte map.html.
    """
    from coverage._outdir import refuse_existing
    from coverage.errors import QueryError
    from coverage.itinerary import ItinerarySettings, read_closures
    from coverage.itinerary.calendar import parse_date, parse_weekdays
    from coverage.itinerary.settings import parse_clock
    from coverage.itinerary.stops import read_stop_codes
    from coverage.jobs.itinerary import plan_itinerary

    started = time.perf_counter()
    if stops is not None and communes is not None:
        raise QueryError("give either --stops N or --communes FILE, not both")
    if (from_date is None) != (to_date is None):
        raise QueryError("give both --from and --to, or neither (then --year)")
    lunch_from, lunch_to = _parse_lunch(lunch)
    settings = ItinerarySettings(
        n_stops=stops if stops is not None else (None if visits_per_stop else 26),
        stop_codes=read_stop_codes(communes) if communes is not None else None,
        kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()),
        underserved_minutes=underserved_minutes,
        reach_minutes=reach_minutes,
        year=year,
        start_date=parse_date(from_date, field="--from") if from_date else None,
        end_date=parse_date(to_date, field="--to") if to_date else None,
        days=days,
        weekdays=parse_weekdays(weekdays),
        closures=read_closures(closures) if closures is not None else (),
        visits=visits,  # type: ignore[arg-type]
        visits_per_stop=visits_per_stop,
        min_spacing_days=min_spacing_days,
        max_spacing_days=max_spacing_days,
        permanences_per_day=permanences_per_day,
        permanence_minutes=permanence_minutes,
        day_start=parse_clock(start, name="--start"),
        day_end=parse_clock(end, name="--end"),
        lunch_from=lunch_from,
        lunch_to=lunch_to,
        lunch_minutes=lunch_minutes,
        max_driving_minutes=max_driving_hours * 60.0,
        depot=_parse_depot(depot),
        depot_name=depot_name,
        depots=_parse_depots(depots),
        mixed_days=mixed_days,
        served_minutes=served_minutes,
        served_weight=served_weight,
        fixed_weekday=fixed_weekday,
        balanced_weekdays=balanced_weekdays,
        solver=solver,
        seed=seed,
    )
    period = settings.period()
    out = output or Path("results") / f"itineraire-{territory}-{period[0].year}"
    refuse_existing(out, overwrite=overwrite)
    console.print(
        f"[bold]Service public itinérant[/bold] — {territory}, du {period[0]:%d/%m/%Y} au "
        f"{period[1]:%d/%m/%Y}{' (plan naïf de référence)' if naive else ''}",
        highlight=False,
    )
    from coverage.tables import use_style

    with use_style(csv), StepProgress() as step:
        plan = plan_itinerary(
            territory, settings=settings, data_dir=data, naive=naive, progress=step
        )
        files = plan.write(out, overwrite=overwrite, writers=not no_map, progress=step)
    _print_summary(plan.summary(), plan)
    console.print(f"Fichiers écrits dans {out} :", highlight=False)
    for key in ("calendar", "ics", "days", "routes_geojson", "map"):
        if key in files:
            console.print(f"  {files[key].name}", highlight=False)
    console.print(
        f"Terminé en {fmt_num(time.perf_counter() - started, 1)} s (le {date.today():%d/%m/%Y}).",
        highlight=False,
    )


def _print_summary(summary: dict[str, Any], plan: Any) -> None:
    from rich.table import Table

    reach = summary["reach"]
    settings = summary["settings"]
    spacing = summary["spacing_days"]
    console.print()
    console.print(
        f"[bold]{summary['stops']} communes, {summary['service_days']} jours de service, "
        f"{summary['permanences']} permanences, {summary['tours']} tournées différentes[/bold]",
        highlight=False,
    )
    depots = [d["name"] for d in summary.get("depots", [summary["depot"]])]
    where = (
        f"Dépôt : {depots[0]}. "
        if len(depots) == 1
        else f"{len(depots)} bases ({', '.join(depots)}) : chaque tournée part de la plus "
        "proche de ses arrêts. "
    )
    console.print(
        f"{where}"
        f"Conduite : {fmt_num(summary['driving_hours_year'])} h "
        f"et {fmt_int(summary['km_year'])} km par an ; "
        f"{fmt_num(summary['driving_minutes_day']['mean'], 0)} min par jour en moyenne, "
        f"{fmt_num(summary['driving_minutes_day']['max'], 0)} min au plus.",
        highlight=False,
    )
    if "underserved_total" in reach:
        under = reach["underserved_total"]
        share = reach["underserved_reached"] / under if under else 0.0
        method = reach.get("method", {})
        kinds = " ou ".join(method.get("kind_labels", [])) or "services fixes"
        console.print(
            f"Population atteinte (à {fmt_num(settings['reach_minutes'], 0)} min d'un arrêt au "
            f"plus) : {fmt_int(reach['population_reached'])} habitants dans "
            f"{reach['communes_reached']} communes, dont {fmt_int(reach['underserved_reached'])} "
            f"des {fmt_int(under)} habitants à plus de "
            f"{fmt_num(settings['underserved_minutes'], 0)} min de {kinds} ({fmt_share(share)}).",
            highlight=False,
        )
        if "population_reached_without_sites" in reach and reach["communes_served_by_sites"]:
            console.print(
                f"  Sans les {reach['communes_served_by_sites']} communes ayant déjà un site à "
                f"moins de {fmt_num(settings['served_minutes'], 0)} min (France services, "
                f"tiers-lieu) : {fmt_int(reach['population_reached_without_sites'])} habitants "
                f"dans {reach['communes_reached_without_sites']} communes atteintes.",
                highlight=False,
            )
        if method.get("underserved_out_of_day"):
            one_day = 1 if settings.get("mixed_days") else settings["permanences_per_day"]
            console.print(
                f"  {fmt_int(method['underserved_out_of_day'])} habitants mal desservis vivent "
                f"dans {method['underserved_communes_out_of_day']} communes trop loin des bases "
                f"pour {one_day} permanence(s) dans la journée.",
                highlight=False,
            )
    per_weekday = summary.get("service_days_per_weekday", {})
    if per_weekday:
        console.print(
            "Jours de service par jour de la semaine : "
            + ", ".join(f"{k} {v}" for k, v in per_weekday.items())
            + f" ; jours de la semaine par arrêt : {summary['weekdays_per_stop']['min']} à "
            f"{summary['weekdays_per_stop']['max']}.",
            highlight=False,
        )
    console.print(
        f"Espacement des passages : {fmt_num(spacing['mean_gap'] or 0)} jours en moyenne, "
        f"{fmt_num(spacing['worst_gap'] or 0, 0)} au plus entre deux passages, "
        f"attente maximale {fmt_num(spacing['worst_wait'] or 0, 0)} jours.",
        highlight=False,
    )
    if summary["violations"]:
        console.print(
            f"[red]{len(summary['violations'])} règles non respectées[/red] "
            f"({summary['infeasible_days']} jours hors règles) : "
            + "; ".join(summary["violations"][:3]),
            highlight=False,
        )
    table = Table(title="Passages par commune", title_justify="left")
    for column, justify in (
        ("Commune", "left"),
        ("INSEE", "left"),
        ("Passages", "right"),
        ("Premier", "left"),
        ("Dernier", "left"),
        ("Écart moyen (j)", "right"),
        ("Écart max (j)", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in plan.spacing().itertuples():
        table.add_row(
            row.name,
            row.insee_code,
            str(row.visits),
            _fr_day(row.first_visit),
            _fr_day(row.last_visit),
            fmt_num(row.gap_mean_days) if row.gap_mean_days == row.gap_mean_days else "–",
            fmt_num(row.gap_max_days, 0) if row.gap_max_days == row.gap_max_days else "–",
        )
    console.print(table)


def _fr_day(iso: str) -> str:
    if not iso:
        return "–"
    _, m, d = iso.split("-")
    return f"{d}/{m}"
