"""Command ``coverage place``: choose new service sites (MCLP, p-median, LSCP) and report them."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from coverage._cli_common import (
    ClusterOption,
    CsvOption,
    DataOption,
    StepProgress,
    TerritoryArgument,
    cluster_client,
    console,
    fmt_int,
    fmt_num,
    fmt_share,
)

MODEL_LABELS = {
    "mclp": "couverture maximale (MCLP)",
    "pmedian": "p-médiane",
    "lscp": "couverture totale au moindre nombre de sites (LSCP)",
    "maxmin": "équité : part couverte du canton le moins couvert (max-min)",
}


def place(
    territory: TerritoryArgument = "gers",
    kind: Annotated[
        str, typer.Option("--kind", help="Type de service à implanter (tiers_lieu, mds...).")
    ] = "tiers_lieu",
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="mclp (population à moins de T), pmedian (temps moyen), lscp (tous à moins de T).",
        ),
    ] = "mclp",
    sites: Annotated[
        int | None,
        typer.Option("--sites", "-p", help="Nombre total de sites ouverts, existants compris."),
    ] = None,
    new: Annotated[
        int | None, typer.Option("--new", help="Ou : nombre de sites à ajouter aux existants.")
    ] = None,
    minutes: Annotated[
        float, typer.Option("--minutes", "-t", help="Seuil T en minutes de voiture.")
    ] = 20.0,
    demand: Annotated[
        str, typer.Option("--demand", help="Demande : communes (défaut) ou cells (carreaux).")
    ] = "communes",
    cell_size: Annotated[
        float, typer.Option("--cell-size", help="Taille des carreaux de demande (mètres).")
    ] = 1000.0,
    candidates: Annotated[
        str,
        typer.Option(
            "--candidates", help="Sites candidats : communes, chefs-lieux ou un fichier CSV."
        ),
    ] = "communes",
    zones: Annotated[
        str, typer.Option("--zones", help="Zones : cantons (défaut) ou un fichier CSV.")
    ] = "cantons",
    zone_rule: Annotated[
        str,
        typer.Option(
            "--zone-rule",
            help="exactly_one (défaut), at_most_one, at_least_one, none (sans zones) ou "
            "one_per_canton (un site dans chaque canton, Auch-1, Auch-2 et Auch-3 compris).",
        ),
    ] = "exactly_one",
    one_per_zone: Annotated[
        bool,
        typer.Option(
            "--one-per-zone",
            help="Une zone de plusieurs cantons (Auch) compte pour un seul site au plus.",
        ),
    ] = False,
    fixed: Annotated[
        list[str] | None,
        typer.Option("--fixed", help="Site à garder ouvert (code INSEE), répétable."),
    ] = None,
    no_existing: Annotated[
        bool, typer.Option("--no-existing", help="Ne pas garder les sites existants du type.")
    ] = False,
    solver: Annotated[
        str, typer.Option("--solver", help="highs (exact, défaut) ou greedy (heuristique).")
    ] = "highs",
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="Limite de temps de HiGHS (secondes).")
    ] = 120.0,
    scenario: Annotated[
        Path | None,
        typer.Option("--scenario", help="Scénario de base (défaut : celui du territoire)."),
    ] = None,
    data: DataOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Dossier de résultats (par défaut results/placement-<date>)."
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Remplacer le dossier de résultats s'il existe.")
    ] = False,
    no_map: Annotated[
        bool,
        typer.Option("--no-map", help="Ne pas lancer le scénario pour la carte (plus rapide)."),
    ] = False,
    curve: Annotated[
        str | None,
        typer.Option(
            "--curve",
            help="Courbe couverture/temps moyen selon le nombre de sites : A-B (ex. 3-25) ou N "
            "(au plus 100 sites).",
        ),
    ] = None,
    curve_minutes: Annotated[
        str | None,
        typer.Option(
            "--curve-minutes", help="Courbe selon le seuil, minutes séparées par des virgules."
        ),
    ] = None,
    tradeoff: Annotated[
        bool,
        typer.Option(
            "--tradeoff",
            help="Compromis : temps moyen minimal gardant 100/99/97/95 % de la couverture MCLP.",
        ),
    ] = False,
    sensitivity: Annotated[
        bool,
        typer.Option(
            "--sensitivity", help="Sensibilité : vitesses ×0,9 et ×1,1, détour d'accès ±20 %."
        ),
    ] = False,
    alternatives: Annotated[
        int,
        typer.Option(
            "--alternatives",
            min=0,
            max=10,
            help="Autres choix de sites au même optimum à chercher (0 : ne pas chercher).",
        ),
    ] = 3,
    no_written_plan: Annotated[
        bool,
        typer.Option(
            "--no-written-plan",
            help="Ne pas évaluer le plan écrit (un site par chef-lieu de canton) à côté.",
        ),
    ] = False,
    csv: CsvOption = None,
    cluster: ClusterOption = None,
) -> None:
    """Choisit où ouvrir des sites (couverture maximale, p-médiane, couverture totale).

    Avec --cluster, les résolutions des courbes, du compromis et de la sensibilité
    sont des tâches Dask réparties sur les workers (mêmes tableaux qu'ici).
    """
    from coverage.cluster import resolve_cluster
    from coverage.commands.run import ensure_bundle
    from coverage.jobs.place import place as run_place
    from coverage.jobs.scenarios import base_scenario_path
    from coverage.scenario import load_scenario

    start = time.perf_counter()
    resolve_cluster(cluster)  # a bad --cluster is refused before any data is read
    base = base_scenario_path(territory, scenario)
    spec = load_scenario(base)
    ensure_bundle(spec.territory, data)
    if output is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        output = Path("results") / f"placement-{kind}-{stamp}"
    console.print(
        f"[bold]Implantation : {kind}, {MODEL_LABELS.get(model, model)}[/bold] "
        f"(scénario de base {base})",
        highlight=False,
    )
    from coverage.tables import use_style

    with use_style(csv), cluster_client(cluster) as client, StepProgress() as steps:
        study = run_place(
            spec.territory,
            kind=kind,
            model=model,
            sites=sites,
            new_sites=new,
            threshold_minutes=minutes,
            demand=demand,
            cell_size_m=cell_size,
            candidates=candidates,
            zones=zones,
            zone_rule=zone_rule,
            sites_per_canton=not one_per_zone,
            keep_existing=not no_existing,
            fixed=fixed or (),
            solver=solver,
            time_limit_s=time_limit,
            scenario=base,
            data_dir=data,
            output_dir=output,
            overwrite=overwrite,
            write_map=not no_map,
            written_plan=not no_written_plan,
            progress=steps,
            curve=curve,
            curve_minutes=curve_minutes,
            tradeoff=tradeoff,
            sensitivity=sensitivity,
            alternatives=alternatives,
            client=client,
        )
    print_study(study)
    print_questions(study)
    print_written_plan(study.summary)
    print_alternatives(study.summary)
    where = f"{study.output_dir}"
    extra = ", carte run/map.html" if study.run_dir is not None else ""
    if "written_plan_csv" in study.files:
        extra = f", plan_ecrit.csv, comparaison_cantons.csv{extra}"
    console.print(
        f"\nRésultats : {where} (sites.gpkg, sites.csv, communes.csv, cantons.csv, "
        f"scenario.toml{extra}) — {fmt_num(time.perf_counter() - start, 1)} s",
        highlight=False,
    )


def print_study(study: Any) -> None:
    """The final tables: the chosen sites, then the solver report and coverage before/after."""
    from rich.table import Table

    summary = study.summary
    minutes = summary["placement"]["threshold_minutes"]
    sites = Table(title=f"Sites retenus ({len(study.sites)})", title_justify="left")
    sites.add_column("Site", overflow="ellipsis", no_wrap=True, max_width=34)
    sites.add_column("INSEE", no_wrap=True, min_width=5)
    sites.add_column("Zone", overflow="ellipsis", no_wrap=True, max_width=26)
    sites.add_column("Statut", no_wrap=True, min_width=8)
    sites.add_column(f"Hab. ≤ {minutes:g} min (modèle)", justify="right", no_wrap=True)
    for row in study.sites.itertuples(index=False):
        covered = row.covered_population
        sites.add_row(
            str(row.commune_name or row.name),
            str(row.insee_code),
            str(row.zone_label or row.zone or "—"),
            str(row.status),
            fmt_int(covered) if covered is not None and covered == covered else "—",
        )
    console.print(sites)

    result = summary["result"]
    table = Table(title="Résolution", title_justify="left")
    table.add_column("Méthode")
    table.add_column("Statut", no_wrap=True)
    table.add_column("Objectif", justify="right")
    table.add_column("Borne", justify="right")
    table.add_column("Écart prouvé", justify="right")
    table.add_column("Temps", justify="right")
    for report in (result, summary.get("baseline")):
        if not report:
            continue
        gap = report["gap"]
        table.add_row(
            str(report["method"]),
            _status_label(report["status"]),
            _objective(report),
            _objective({**report, "objective": report.get("bound")}),
            fmt_share(gap, 2) if gap is not None else "—",
            f"{fmt_num(report['solve_time_s'], 2)} s",
        )
    console.print(table)
    if result and result.get("status") != "optimal" and result.get("verdict"):
        console.print(f"Attention : {result['verdict']}.", highlight=False)

    cov = summary["coverage"]
    figures = Table(
        title=f"Population à moins de {minutes:g} min (cellules de population, comme coverage run)",
        title_justify="left",
    )
    figures.add_column("")
    figures.add_column("Habitants", justify="right")
    figures.add_column("Part", justify="right")
    figures.add_row(
        "Avant (sites existants)",
        fmt_int(cov["pop_within_before"]),
        fmt_share(cov["share_within_before"] or 0.0),
    )
    figures.add_row(
        "Après placement",
        fmt_int(cov["pop_within_after"]),
        fmt_share(cov["share_within_after"] or 0.0),
    )
    figures.add_row("Nouvellement à portée", f"+{fmt_int(cov['pop_newly_within'])}", "")
    console.print(figures)
    check = summary.get("run_check")
    if check is not None:
        verdict = "identique" if check["consistent"] else "DIFFÉRENT"
        console.print(
            f"Contrôle : la simulation du scénario écrit donne {fmt_int(check['pop_within_run'])} "
            f"habitants à moins de {minutes:g} min ({verdict}).",
            highlight=False,
        )


def print_questions(study: Any) -> None:
    """The curve against the number of sites and the sensitivity, when they were asked."""
    from rich.table import Table

    questions = study.summary.get("questions") or {}
    if questions.get("curve_sites"):
        table = Table(title="Courbe : sites ouverts (sans règle de zone)", title_justify="left")
        for column in ("Sites", "Habitants couverts", "Statut"):
            table.add_column(column, justify="right")
        for row in questions["curve_sites"]:
            covered = row.get("habitants_couverts")
            table.add_row(
                str(row["nombre_sites"]),
                fmt_int(covered) if covered == covered and covered is not None else "—",
                _status_label(str(row["statut"])),
            )
        console.print(table)
    if questions.get("sensitivity"):
        table = Table(title="Sensibilité : sites qui changent", title_justify="left")
        for column in ("Variante", "Habitants couverts", "Plan actuel", "Sortants", "Entrants"):
            table.add_column(column, overflow="fold")
        for row in questions["sensitivity"]:
            covered, kept = row.get("habitants_couverts"), row.get("habitants_plan_actuel")
            table.add_row(
                str(row["variante"]),
                fmt_int(covered) if covered == covered and covered is not None else "—",
                fmt_int(kept) if kept == kept and kept is not None else "—",
                str(row.get("sites_sortants") or "—"),
                str(row.get("sites_entrants") or "—"),
            )
        console.print(table)


def print_written_plan(summary: dict[str, Any]) -> None:
    """The written plan beside the optimum: territory, cantons, the sites that differ."""
    from rich.table import Table

    block = summary.get("written_plan") or {}
    if "territory" not in block:
        if block.get("skipped"):
            console.print(f"Plan écrit : {block['skipped']}", highlight=False)
        return
    minutes = block["threshold_minutes"]
    plan, best, delta = (block["territory"][k] for k in ("plan", "optimum", "delta"))
    console.print(f"\nPlan écrit : {block['rule']}.", highlight=False)
    table = Table(title=f"Plan écrit et optimum, seuil {minutes:g} min", title_justify="left")
    for header in ("", "Plan écrit", "Optimum", "Écart"):
        table.add_column(header, justify="left" if not header else "right")
    rows = (
        ("Sites", "sites", fmt_int, ""),
        (f"Habitants ≤ {minutes:g} min", "pop_within", fmt_int, ""),
        ("Part", "share_within", lambda v: fmt_num(100.0 * v, 1), " %"),
        ("Temps moyen", "minutes_mean", lambda v: fmt_num(v, 2), " min"),
        ("Temps le plus long", "minutes_worst", lambda v: fmt_num(v, 1), " min"),
        (f"Habitants ≤ {minutes:g} min (modèle)", "pop_within_model", fmt_int, ""),
    )
    for label, key, fmt, unit in rows:
        d = delta.get(key)
        sign = "+" if d is not None and d > 0 else ""
        table.add_row(
            label,
            _cell(plan.get(key), fmt, unit),
            _cell(best.get(key), fmt, unit),
            "—" if d is None else f"{sign}{fmt(d)}{' pts' if key == 'share_within' else unit}",
        )
    console.print(table)

    cantons = Table(
        title=f"Par canton, habitants à moins de {minutes:g} min (comparaison_cantons.csv)",
        title_justify="left",
    )
    cantons.add_column("Canton", overflow="ellipsis", no_wrap=True, max_width=26)
    for header in ("Habitants", "Plan écrit", "Optimum", "Écart"):
        cantons.add_column(header, justify="right", no_wrap=True)
    for row in block["cantons"]:
        cantons.add_row(
            str(row["canton_name"]),
            fmt_int(row["population"]),
            f"{_cell(row['share_plan'], fmt_share)} ({row['sites_plan']})",
            f"{_cell(row['share_optimum'], fmt_share)} ({row['sites_optimum']})",
            f"{'+' if row['covered_delta'] > 0 else ''}{fmt_int(row['covered_delta'])}",
        )
    cantons.caption = "Part des habitants à portée (nombre de sites du canton)."
    console.print(cantons)
    names = {s["insee_code"]: s["name"] for s in block["sites"]}
    common = [names.get(code, code) for code in block["common"]]
    only_plan = ", ".join(s["name"] for s in block["only_plan"]) or "aucun"
    only_best = ", ".join(s["name"] for s in block["only_optimum"]) or "aucun"
    console.print(
        f"Sites du plan écrit seulement ({len(block['only_plan'])}) : {only_plan}\n"
        f"Sites de l'optimum seulement ({len(block['only_optimum'])}) : {only_best}\n"
        f"Communs ({len(block['common'])}) : {', '.join(common) or 'aucun'}",
        highlight=False,
    )


def print_alternatives(summary: dict[str, Any]) -> None:
    """The other site sets that reach the same proven optimum, when they were looked for."""
    block = summary.get("alternatives") or {}
    if not block or block.get("skipped"):
        return
    console.print(f"\nAutres optimums : {block['note']}.", highlight=False)
    for i, alt in enumerate(block["found"], start=1):
        out = ", ".join(alt["removed_names"]) or "aucun"
        console.print(
            f"  {i}. remplacer {out} par {', '.join(alt['added_names']) or 'aucun'}",
            highlight=False,
        )


def _cell(value: Any, fmt: Any, unit: str = "") -> str:
    if value is None or value != value:
        return "—"
    return f"{fmt(value)}{unit}"


def _status_label(status: str) -> str:
    """A result status in French (the placement engine's labels)."""
    from coverage.placement.problem import RESULT_STATUS_LABELS

    return RESULT_STATUS_LABELS.get(status, status)


def _objective(report: dict[str, Any]) -> str:
    value = report["objective"]
    if value is None:
        return "—"
    if report["model"] == "maxmin":
        return f"{fmt_share(value, 1)} (canton le moins couvert)"
    if report["model"] == "mclp":
        return f"{fmt_int(value)} hab."
    if report["model"] == "lscp":
        return f"{int(value)} sites"
    served = report["parameters"].get("served_weight")
    if served:
        return f"{fmt_num(value / served / 60.0, 2)} min moy."
    return f"{fmt_int(value / 60.0)} hab.·min"


def register(app: typer.Typer) -> None:
    """Add ``place`` to the ``coverage`` command."""
    app.command(name="place")(place)
