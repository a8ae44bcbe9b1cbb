"""The ``coverage itinerary`` job: load a territory, compute its travel times, plan the service.

:func:`plan_itinerary` loads the territory's resources
(:class:`~coverage.jobs.resources.TerritoryResources`), finds the population
beyond the fixed services, computes the travel times between communes and
from and to the depot, and hands them to the decision package
(:func:`coverage.itinerary.planner.plan_from_matrices`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer

from coverage.access import AccessContext, service_access, threshold_key
from coverage.errors import QueryError
from coverage.itinerary.legs import LegMatrix
from coverage.itinerary.plan import ItineraryPlan
from coverage.itinerary.planner import plan_from_matrices
from coverage.itinerary.settings import ItinerarySettings
from coverage.itinerary.stops import Underserved, rows_of_codes
from coverage.jobs.resources import TerritoryResources
from coverage.layers.services import ServiceCatalogue
from coverage.layers.territory import Territory
from coverage.progress import Progress, silent
from coverage.routing.graph import RoadNetwork
from coverage.routing.matrix import travel_times
from coverage.routing.paths import routes
from coverage.routing.snap import AccessSettings, snap_points


def resolve_depot(territory: Territory, depot: str | tuple[float, float], name: str | None) -> dict:
    """The depot's code, name and coordinates (territory CRS) from an INSEE code or lon/lat.

    Raises
    ------
    QueryError
        An unknown INSEE code, or a pair that is not a longitude and a latitude.
    """
    communes = territory.communes
    if isinstance(depot, str):
        row = rows_of_codes(communes, [depot], what="depot")[0]
        return {
            "code": str(communes["insee_code"].iat[row]),
            "name": name or str(communes["name"].iat[row]),
            "x": float(communes["point_x"].iat[row]),
            "y": float(communes["point_y"].iat[row]),
        }
    lon, lat = float(depot[0]), float(depot[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise QueryError(f"depot: ({lon}, {lat}) is not a longitude, latitude pair")
    x, y = Transformer.from_crs("EPSG:4326", territory.crs, always_xy=True).transform(lon, lat)
    return {"code": "", "name": name or "Dépôt", "x": float(x), "y": float(y)}


CHEFS_LIEUX_FILE = "chefs_lieux.csv"
"""The canton chefs-lieux (next to the territory description): the planned tiers-lieux."""


def planned_tiers_lieux(territory: Territory, catalogue: ServiceCatalogue) -> list[str]:
    """INSEE codes of the tiers-lieux, planned and open, in the territory.

    The planned ones are the canton chefs-lieux (``chefs_lieux.csv`` beside the
    territory description: Gers Solidaire aims at one tiers-lieu per canton
    chef-lieu); the open and planned ones of the catalogue (kind ``tiers_lieu``)
    are added. Codes are unique, in file order.
    """
    codes: list[str] = []
    path = Path(territory.config.path).parent / CHEFS_LIEUX_FILE
    if path.is_file():
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "insee_code" not in table.columns:
            raise QueryError(f"{path} : colonne insee_code absente")
        codes += [c.strip() for c in table["insee_code"] if c.strip()]
    frame = catalogue.frame
    if len(frame) and "kind" in frame:
        mask = (frame["kind"] == "tiers_lieu") & frame["status"].isin(["open", "planned"])
        codes += [str(c) for c in frame.loc[mask, "insee_code"] if isinstance(c, str) and c]
    known = set(territory.communes["insee_code"].astype(str))
    return [c for c in dict.fromkeys(codes) if c in known]


def resolve_depots(
    territory: Territory,
    catalogue: ServiceCatalogue,
    settings: ItinerarySettings,
) -> list[dict]:
    """The depots of a plan: ``settings.depot`` first, then the set ``settings.depots`` names.

    ``depot``: that one only; ``mds``: the open MDS of the catalogue in the
    territory; ``tiers-lieux``: :func:`planned_tiers_lieux`; a tuple: INSEE codes.

    Raises
    ------
    QueryError
        An unknown INSEE code, or ``mds`` with no MDS in the catalogue.
    """
    first = resolve_depot(territory, settings.depot, settings.depot_name)
    wanted = settings.depots
    if wanted == "depot":
        codes: list[str] = []
    elif wanted == "mds":
        mds = catalogue.of_kind("mds") if len(catalogue.frame) else catalogue.frame
        codes = [str(c) for c in mds.get("insee_code", []) if isinstance(c, str) and c]
        if not codes:
            raise QueryError(
                "depots : le catalogue ne contient aucune MDS (type mds) ; importez-les avec "
                "`coverage services import` ou donnez --depots tiers-lieux ou une liste de codes"
            )
    elif wanted == "tiers-lieux":
        codes = planned_tiers_lieux(territory, catalogue)
    else:
        codes = [str(c).strip() for c in wanted]
    out = [first]
    for code in dict.fromkeys(codes):
        if code == first["code"]:
            continue
        out.append(resolve_depot(territory, code, None))
    return out


def underserved_population(
    context: AccessContext,
    catalogue: ServiceCatalogue,
    *,
    kinds: Sequence[str],
    threshold_minutes: float,
) -> Underserved:
    """Run the access analysis for the fixed services of ``kinds`` and keep what stops need.

    Parameters
    ----------
    context
        A :class:`coverage.access.AccessContext`.
    catalogue
        The :class:`coverage.layers.services.ServiceCatalogue`.
    kinds
        Service kinds (those absent from the catalogue are skipped).
    threshold_minutes
        The underserved threshold.

    Raises
    ------
    QueryError
        When none of the kinds has an open service in the catalogue.
    """
    present = set(catalogue.frame["kind"]) if len(catalogue.frame) else set()
    used = [k for k in kinds if k in present]
    missing = [k for k in kinds if k not in present]
    if not used:
        raise QueryError(
            f"kinds: none of {', '.join(kinds)} has a service in the catalogue "
            f"(present: {', '.join(sorted(present)) or 'none'})"
        )
    services = catalogue.of_kind(*used)
    if len(services) == 0:
        raise QueryError(f"kinds: no open service of {', '.join(used)} in the catalogue")
    result = service_access(
        context,
        services,
        name="itinerary_fixed",
        label=", ".join(catalogue.kinds.get(k, k) for k in used),
        thresholds_minutes=(float(threshold_minutes),),
    )
    key = threshold_key(float(threshold_minutes))
    table = result.communes
    hosts = set(services["insee_code"].astype(str)) if "insee_code" in services else set()
    communes = pd.DataFrame(
        {
            "insee_code": table["insee_code"].astype(str).to_numpy(),
            "name": table["name"].to_numpy(),
            "population": table["population"].astype(np.int64).to_numpy(),
            "underserved": table[f"pop_beyond_{key}"].astype(np.int64).to_numpy(),
            "minutes_mean": table["minutes_mean"].to_numpy(),
            "nearest_service_name": table["nearest_service_name"].to_numpy(),
        }
    )
    communes["hosts_service"] = communes["insee_code"].isin(hosts)
    return Underserved(
        communes=communes,
        kinds=used,
        kind_labels=[catalogue.kinds.get(k, k) for k in used],
        kinds_missing=missing,
        services=len(services),
        threshold_minutes=float(threshold_minutes),
        provenance=context.provenance(),
    )


def leg_matrix(
    network: RoadNetwork,
    xy: np.ndarray,
    *,
    access: AccessSettings | None = None,
    n_depots: int = 1,
) -> LegMatrix:
    """Durations, distances and route lines between every pair of points.

    Parameters
    ----------
    network
        The road network.
    xy
        ``(n, 2)`` coordinates in the network's CRS (depot first, by convention).
    access
        Access-leg settings (default :class:`~coverage.routing.snap.AccessSettings`).
    n_depots
        The first ``n_depots`` points are depots.

    Returns
    -------
    LegMatrix

    Raises
    ------
    QueryError
        Invalid coordinates (see :func:`~coverage.routing.snap.snap_points`).
    """
    access = access or AccessSettings()
    xy = np.asarray(xy, dtype=np.float64)
    snapped = snap_points(network, xy, access=access, name="itinerary points")
    n = snapped.n_points
    seconds = travel_times(network, snapped, snapped).seconds.copy()
    np.fill_diagonal(seconds, np.where(snapped.too_far, np.nan, 0.0))
    metres = np.full((n, n), np.inf)
    path_seconds = np.full((n, n), np.inf)
    np.fill_diagonal(metres, 0.0)
    np.fill_diagonal(path_seconds, 0.0)
    paths: dict[tuple[int, int], np.ndarray] = {}
    found = routes(network, snapped, snapped)
    for i in range(n):
        for j in range(n):
            route = found[i][j]
            if i == j or route is None:
                continue
            if np.all(xy[i] == xy[j]):  # the same place: 0 s, as in the matrix
                path_seconds[i, j] = 0.0
                metres[i, j] = 0.0
                paths[(i, j)] = np.array([xy[i], xy[j]])
                continue
            path_seconds[i, j] = route.seconds
            metres[i, j] = route.metres
            paths[(i, j)] = route.line
    return LegMatrix(
        seconds=seconds,
        metres=metres,
        path_seconds=path_seconds,
        xy=xy,
        _paths=paths,
        n_depots=int(n_depots),
    )


def plan_itinerary(
    territory: str | Territory = "gers",
    *,
    settings: ItinerarySettings | None = None,
    data_dir: str | Path | None = None,
    resources: TerritoryResources | None = None,
    naive: bool = False,
    progress: Progress | None = None,
    today: date | None = None,
) -> ItineraryPlan:
    """Plan the itinerant service of a territory: stops, calendar, daily tours.

    Parameters
    ----------
    territory
        Territory name (``gers``) or a loaded :class:`coverage.layers.Territory`.
    settings
        The settings (defaults: 26 stops, 103 days next year, see
        :class:`~coverage.itinerary.settings.ItinerarySettings`).
    data_dir
        Data bundle directory (``--data``).
    resources
        Already loaded resources (reused, e.g. for a plan and its baseline).
    naive
        Build the benchmark's baseline (see :func:`coverage.itinerary.planner.build_plan`).
    progress
        Called with a French label at the start of every step.
    today
        Reference date for the default year.

    Returns
    -------
    ItineraryPlan

    Raises
    ------
    coverage.itinerary.settings.InfeasiblePlanError
        Settings no plan can meet.
    coverage.errors.QueryError
        Unknown INSEE codes, kinds absent from the catalogue, bad settings.
    """
    settings = settings or ItinerarySettings()
    say = progress or silent
    t0 = time.perf_counter()
    if resources is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            resources = TerritoryResources.load(territory, data_dir=data_dir, progress=say)
    terr, network, ctx = resources.territory, resources.network, resources.context
    timings = {"load": time.perf_counter() - t0}
    depots = resolve_depots(terr, resources.catalogue, settings)

    say("Accès aux services fixes (population mal desservie)")
    t1 = time.perf_counter()
    under = underserved_population(
        ctx,
        resources.catalogue,
        kinds=settings.kinds,
        threshold_minutes=settings.underserved_minutes,
    )
    say("Temps de trajet entre communes")
    pts = ctx.commune_points
    between = travel_times(network, pts, pts).seconds
    np.fill_diagonal(between, np.where(pts.too_far, np.nan, 0.0))
    depot_xy = np.array([[d["x"], d["y"]] for d in depots])
    out_s = travel_times(network, depot_xy, pts, access=ctx.access).seconds
    back_s = travel_times(network, pts, depot_xy, access=ctx.access).seconds.T
    timings["access"] = time.perf_counter() - t1

    plan = plan_from_matrices(
        communes=terr.communes,
        under=under,
        between=between,
        out_s=out_s,
        back_s=back_s,
        depot=depots,
        legs_for=lambda xy, n_depots=1: leg_matrix(
            network, xy, access=ctx.access, n_depots=n_depots
        ),
        settings=settings,
        territory_name=terr.name,
        territory_label=terr.config.label,
        crs=terr.crs,
        provenance=under.provenance,
        timings=timings,
        naive=naive,
        progress=say,
        today=today,
        served_codes=planned_tiers_lieux(terr, resources.catalogue),
    )
    plan.details["timings_s"]["total"] = round(time.perf_counter() - t0, 3)
    return plan
