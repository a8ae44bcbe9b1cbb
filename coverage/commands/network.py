"""The ``coverage network`` commands: build (or read from cache) a road network and describe it."""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from coverage._cli_common import DataOption, console, fmt_int, show_warnings
from coverage.errors import ConfigError

network_app = typer.Typer(
    help="Réseau routier : construction depuis OSM (XML, PBF), GraphML, et description.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``coverage network info`` to the application."""
    app.add_typer(network_app, name="network")


@network_app.command("info")
def info_command(
    territory: Annotated[
        str | None,
        typer.Argument(
            help="Territoire dont on lit la couche roads de territory.toml (par défaut 'gers' "
            "si --file n'est pas donné)."
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Fichier du réseau : .osm, .osm.pbf ou .graphml."),
    ] = None,
    data: DataOption = None,
    file_format: Annotated[
        str | None,
        typer.Option("--format", help="Format du fichier : osm_xml, pbf ou graphml."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(help="Profil de vitesses : nom intégré (france) ou fichier TOML."),
    ] = None,
    detour_factor: Annotated[
        float | None,
        typer.Option("--detour-factor", help="Facteur de détour appliqué aux longueurs."),
    ] = None,
    calibration_factor: Annotated[
        float | None,
        typer.Option("--calibration-factor", help="Facteur de calibration des temps."),
    ] = None,
    peak_factor: Annotated[
        float | None,
        typer.Option("--peak-factor", help="Facteur d'heure de pointe appliqué aux temps."),
    ] = None,
    max_edge: Annotated[
        float | None,
        typer.Option("--max-edge-m", help="Longueur maximale d'un arc en mètres (découpage)."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Reconstruire sans lire ni écrire le cache.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Nœuds, arcs, km de route, composantes écartées, profil de vitesses, cache."""
    if file is not None and territory is not None:
        raise ConfigError("donner soit un territoire, soit --file, pas les deux")
    progress = sys.stderr.isatty() and not as_json
    options: dict[str, Any] = {
        "profile": profile,
        "detour_factor": detour_factor,
        "calibration_factor": calibration_factor,
        "peak_factor": peak_factor,
        "max_edge_m": max_edge,
    }
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if file is not None:
            from coverage.routing.network import DEFAULT_MAX_EDGE_M, load_network

            defaults = {
                "profile": "france",
                "detour_factor": 1.0,
                "calibration_factor": 1.0,
                "peak_factor": 1.0,
                "max_edge_m": DEFAULT_MAX_EDGE_M,
            }
            chosen = {k: (v if v is not None else defaults[k]) for k, v in options.items()}
            net = load_network(
                file,
                format=file_format,
                use_cache=not no_cache,
                progress=progress,
                **chosen,
            )
        else:
            from coverage.jobs.network import load_territory_network

            if file_format is not None:
                raise ConfigError("--format ne s'utilise qu'avec --file")
            net = load_territory_network(
                territory or "gers",
                data_dir=data,
                use_cache=not no_cache,
                progress=progress,
                **options,
            )
    show_warnings(caught)
    elapsed = time.perf_counter() - start
    summary = net.summary()
    summary["turn_graph"] = net.turn_graph.report
    summary["load_s"] = round(elapsed, 3)
    if as_json:
        console.print_json(json.dumps(summary, ensure_ascii=False, default=str))
        return
    _print_summary(summary)


def _num(value: float, digits: int = 2) -> str:
    """Format a decimal number the French way (``8 585,1``, ``1,3``, ``130``)."""
    text = f"{value:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(",", " ").replace(".", ",")


def _print_summary(summary: dict[str, Any]) -> None:
    report = summary["report"]
    ways = report.get("ways", {})

    def line(text: str) -> None:
        console.print(text, highlight=False)

    line(f"[bold]Réseau routier[/bold] : {summary['source']}")
    date = summary["source_date"] or "inconnue"
    line(f"  Format : {summary['source_kind']} ; date des données : {date}")
    if summary["source_checksum"]:
        line(f"  SHA-256 : {summary['source_checksum']}")
    line(f"  Nœuds : {fmt_int(summary['nodes'])}")
    line(f"  Arcs orientés : {fmt_int(summary['edges'])}")
    line(
        f"  Routes : {_num(report.get('road_km', 0.0), 1)} km "
        "(longueur géodésique, chaque route comptée une fois, sans facteur de détour)"
    )
    if ways:
        line(
            f"  Voies OSM : {fmt_int(ways.get('drivable_ways', 0))} carrossables sur "
            f"{fmt_int(ways.get('highway_ways', 0))} voies 'highway'"
        )
        line(
            f"  Références à des nœuds absents : {fmt_int(ways.get('dangling_refs', 0))} "
            f"({ways.get('ways_with_dangling_refs', 0)} voies touchées, "
            f"{ways.get('ways_split', 0)} coupées en morceaux, "
            f"{ways.get('ways_dropped_dangling', 0)} écartées)"
        )
    line(
        f"  Composantes écartées : {fmt_int(report.get('components_dropped', 0))} "
        f"({fmt_int(report.get('nodes_dropped', 0))} nœuds, "
        f"{fmt_int(report.get('edges_dropped', 0))} arcs, "
        f"{_num(report.get('road_km_dropped', 0.0), 1)} km) : seule la plus grande "
        "composante fortement connexe est gardée"
    )
    line(
        f"  Arcs parallèles fusionnés (le plus rapide gardé) : "
        f"{fmt_int(report.get('parallel_edges_merged', 0))}"
    )
    if "ways_no_car_access" in ways or "ways_no_car_access" in report:
        line(
            f"  Voies interdites aux voitures écartées (access, motor_vehicle, motorcar…) : "
            f"{fmt_int(report.get('ways_no_car_access', 0))}"
        )
    barriers = report.get("barriers", {})
    if barriers:
        kinds = ", ".join(
            f"{name} {count}" for name, count in list(barriers.get("by_value", {}).items())[:6]
        )
        line(
            f"  Barrières sur le réseau : {fmt_int(barriers.get('barrier_nodes', 0))}"
            + (f" ({kinds})" if kinds else "")
            + f" ; {fmt_int(barriers.get('blocking', 0))} bloquantes (route coupée, "
            f"demi-tour possible), {fmt_int(barriers.get('with_delay', 0))} nœuds avec un "
            f"temps d'attente (portails, péages, feux : "
            f"{fmt_int(barriers.get('traffic_signals', 0))} feux)"
        )
    restrictions = report.get("turn_restrictions", {})
    turns = summary.get("turn_graph", {})
    if restrictions:
        skipped = restrictions.get("skipped", {})
        reasons = ", ".join(f"{k} {v}" for k, v in skipped.items())
        line(
            f"  Interdictions de tourner : {fmt_int(restrictions.get('read', 0))} lues, "
            f"{fmt_int(restrictions.get('on_network', 0))} appliquées"
            + (f" ; non appliquées : {reasons}" if reasons else "")
        )
    if turns:
        line(
            f"  Graphe des manœuvres : {fmt_int(turns.get('states', 0))} états (arcs orientés), "
            f"{fmt_int(turns.get('moves', 0))} mouvements ; demi-tours permis "
            f"{fmt_int(turns.get('u_turns_allowed', 0))} (impasses, barrières), interdits "
            f"{fmt_int(turns.get('u_turns_forbidden', 0))} ; "
            f"{fmt_int(turns.get('moves_removed_by_restrictions', 0))} mouvements retirés par "
            f"les interdictions, {fmt_int(turns.get('state_copies', 0))} états dupliqués "
            f"(interdictions par voie), {fmt_int(turns.get('states_not_usable', 0))} états isolés"
        )
    max_edge = report.get("max_edge_m")
    split = f"{_num(max_edge, 0)} m" if max_edge else "aucun découpage"
    line(
        f"  Arcs longs découpés : {split} ; "
        f"{fmt_int(report.get('shape_nodes_kept', 0))} points de forme gardés comme nœuds"
    )
    profile = report.get("profile", {})
    line(f"  Profil de vitesses : {summary['profile']} ({profile.get('file', '')})")
    classes = report.get("ways_by_class", {})
    speeds = profile.get("highway_kph", {})
    two_way = profile.get("two_way_kph", {})
    parts = []
    for cls in classes:
        if cls in speeds:
            text = f"{cls} {_num(speeds[cls], 0)}"
            if cls in two_way:
                text += f" (double sens {_num(two_way[cls], 0)})"
            parts.append(text)
        else:
            parts.append(f"{cls} {_num(profile.get('unknown_highway_kph', 0), 0)} (inconnue)")
    if parts:
        line(f"    vitesses sans maxspeed (km/h) : {', '.join(parts)}")
    maxspeed = report.get("maxspeed", {})
    line(
        f"    maxspeed renseigné sur {fmt_int(maxspeed.get('ways_tagged', 0))} voies, "
        f"{fmt_int(maxspeed.get('ways_unparsed', 0))} valeurs non lues (vitesse de classe)"
    )
    ratios = profile.get("free_flow_ratio", {})
    if ratios:
        line(
            "    vitesse pratiquée / limite : "
            + ", ".join(f"{cls} {_num(value, 2)}" for cls, value in ratios.items())
        )
    built = maxspeed.get("built_up", {})
    if built and built.get("rule", {}).get("min_road_km_per_km2"):
        rule = built["rule"]
        line(
            f"    en agglomération (≥ {_num(rule['min_road_km_per_km2'], 0)} km de route par "
            f"km²) : {_num(built.get('km', 0.0), 1)} km, limités à "
            f"{_num(rule['limit_kph'], 0)} km/h sans maxspeed "
            f"({fmt_int(built.get('stretches_slowed', 0))} tronçons ralentis)"
        )
    costs = profile.get("turns", {})
    if costs:
        line(
            f"    temps de manœuvre (s) : droite {_num(costs.get('right_s', 0), 1)}, gauche "
            f"{_num(costs.get('left_s', 0), 1)}, demi-tour {_num(costs.get('u_turn_s', 0), 1)}, "
            f"cédez-le-passage {_num(costs.get('yield_s', 0), 1)}, feux "
            f"{_num(costs.get('traffic_signals_s', 0), 1)}"
        )
    line(
        f"  Facteurs : détour {_num(summary['detour_factor'])} ; "
        f"calibration {_num(summary['calibration_factor'])} ; "
        f"heure de pointe {_num(summary['peak_factor'])}"
    )
    line(f"  Coordonnées : {summary['crs']}")
    cache_file = report.get("cache_file")
    if cache_file:
        state = "relu du cache" if report.get("cache_hit") else "construit et mis en cache"
        line(f"  Cache : {cache_file} ({state}, {_num(summary['load_s'], 3)} s)")
    else:
        line(f"  Cache : non utilisé (construit en {_num(summary['load_s'], 3)} s)")
