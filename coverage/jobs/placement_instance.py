"""A territory's placement problem: demand, candidate sites, existing sites kept open, zones.

:func:`build_instance` turns a loaded territory, its road network and its
service catalogue into a :class:`~coverage.placement.problem.PlacementProblem`
(a demand × candidate matrix of car travel times from
:func:`coverage.routing.matrix.travel_times`) and keeps the tables that give
the numbers their meaning (which demand point, which commune, which zone).

- **Demand**: ``communes`` (the default: each commune's representative point
  with its legal population) or ``cells`` (the population surface's 200 m cells summed into
  blocks of ``cell_size_m``, each at its population-weighted centroid).
- **Candidates**: ``communes`` (every commune point), ``chefs-lieux`` (the
  canton chefs-lieux listed in ``data/geo/<territory>/chefs_lieux.csv``) or a
  CSV file (``insee_code``, or ``x``/``y`` in the territory's CRS, or
  ``lon``/``lat``; optional ``candidate_id``, ``name``, ``capacity``).
- **Fixed sites**: the open services of the kind being placed (their own points,
  those beyond the border included) and any candidate ids given; a service at a
  candidate's very point (the tiers-lieux, placed at their commune) is that
  candidate.
- **Zones**: ``cantons`` (one zone per canton; a commune split between cantons,
  such as Auch and its pseudo-canton 3299, merges the cantons it stands for and
  itself into one zone), ``none``, or a CSV file (``insee_code``, ``zone``,
  optional ``zone_label``). A candidate's zone is its commune's.
- **Strict cantons** (``cantons_strict``, the zones of ``--zone-rule one_per_canton``):
  one zone per real canton (Gers: 17). A commune split between cantons (Auch,
  pseudo-canton 3299, chef-lieu of Auch-1, Auch-2 and Auch-3) is a candidate of
  each canton it is split between (one candidate per canton at the same point,
  id ``32013-3204``...), so that Auch may be the site of any of its cantons.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.csvio import parse_number, read_table
from coverage.errors import DataError
from coverage.layers.population import PopulationSurface, population_surface
from coverage.layers.territory import Territory
from coverage.placement.problem import PlacementError, PlacementProblem
from coverage.progress import Progress, silent
from coverage.routing.graph import RoadNetwork
from coverage.routing.matrix import travel_times
from coverage.routing.snap import AccessSettings, SnappedPoints
from coverage.settings import territory_description_dirs

DEMANDS: tuple[str, ...] = ("cells", "communes")
CANDIDATE_SETS: tuple[str, ...] = ("communes", "chefs-lieux")
ZONE_SCHEMES: tuple[str, ...] = ("cantons", "cantons_strict", "none")
CHEFS_LIEUX_FILE = "chefs_lieux.csv"
DEFAULT_CELL_SIZE_M = 1000.0
SAME_POINT_M = 1.0
"""A fixed service this close to a candidate point is that candidate."""


@dataclass(eq=False)
class PlacementInstance:
    """A territory's placement problem and the tables behind it.

    Attributes
    ----------
    problem
        The optimiser's input.
    territory
        The loaded territory.
    demand
        One row per demand point (problem row order): ``demand_id``, ``x``, ``y``,
        ``population``, ``insee_code`` (the commune holding most of it).
    candidates
        One row per candidate (problem column order), EPSG of the territory:
        ``candidate_id``, ``name``, ``insee_code``, ``commune_name``, ``zone``,
        ``zone_label``, ``fixed``, ``service_id`` (existing service, or ""),
        ``origin`` (``commune``, ``chef-lieu``, ``file``, ``service``),
        ``capacity``, ``geometry``.
    zones
        One row per zone: ``zone``, ``zone_label``, ``cantons``, ``communes``,
        ``population``, ``candidates``, ``fixed``.
    commune_zone
        INSEE code -> zone (communes without a zone are absent).
    existing
        The open services of the kind (all of them, beyond the border included),
        or an empty frame.
    kind
        Service kind placed (None when not given).
    network
        The road network used for the times.
    access
        Access-leg settings of the times.
    settings
        How the instance was built (for reports): demand, candidates, zones...
    """

    problem: PlacementProblem
    territory: Territory
    demand: pd.DataFrame
    candidates: gpd.GeoDataFrame
    zones: pd.DataFrame
    commune_zone: dict[str, str]
    existing: gpd.GeoDataFrame
    kind: str | None
    network: RoadNetwork
    access: AccessSettings
    settings: dict[str, Any] = field(default_factory=dict)

    def candidate_index(self, key: str) -> int:
        """Index of a candidate by id, or by INSEE code when no id matches.

        Raises
        ------
        PlacementError
            If nothing matches.
        """
        ids = self.candidates["candidate_id"].to_numpy()
        hits = np.flatnonzero(ids == key)
        if hits.size == 0:
            hits = np.flatnonzero(self.candidates["insee_code"].to_numpy() == key)
        if hits.size == 0:
            raise PlacementError(f"no candidate with id or INSEE code '{key}'")
        return int(hits[0])


# --- zones -----------------------------------------------------------------------------------


def canton_zones(territory: Territory) -> pd.DataFrame:
    """The default zones: one per canton, split communes merged with their cantons.

    A commune whose population is shared between cantons carries a pseudo-canton
    code (Auch: ``3299`` for Auch-1, Auch-2 and Auch-3); it cannot go to one of
    them, so the cantons it stands for and the pseudo-canton form one zone,
    named after them (Gers: 17 cantons give 15 zones, Auch's 28 communes in one;
    :func:`build_instance` lets such a zone hold up to one site per canton it merges
    in total; only the total is bounded, see :func:`strict_canton_zones` for one
    site in each canton).

    Returns
    -------
    pandas.DataFrame
        ``insee_code``, ``zone``, ``zone_label``, ``cantons`` (the codes merged).
    """
    communes = territory.communes
    parent = {code: code for code in communes["canton_code"].astype(str).unique()}

    def find(code: str) -> str:
        while parent.setdefault(code, code) != code:
            code = parent[code]
        return code

    for split in territory.config.split_cantons.values():
        root = find(split.code)
        for canton in split.cantons:
            parent[find(canton)] = root
    names = dict(
        zip(
            communes["canton_code"].astype(str),
            communes["canton_name"].astype(str),
            strict=True,
        )
    )
    for row in territory.cantons.itertuples(index=False):
        names.setdefault(str(row.canton_code), str(row.canton_name))
    groups: dict[str, list[str]] = {}
    for code in parent:
        groups.setdefault(find(code), []).append(code)
    zone_of: dict[str, tuple[str, str, str]] = {}
    splits = {s.code: s for s in territory.config.split_cantons.values()}
    for members in groups.values():
        members = sorted(members)
        real = [m for m in members if m not in splits]
        zone = "+".join(members)
        if len(members) == 1:
            label = names.get(members[0], members[0])
        else:
            communes_of = [
                n for s in members if s in splits for n in _commune_names(territory, splits[s])
            ]
            label = ", ".join(names.get(m, m) for m in real)
            if communes_of:
                label += f" (avec {', '.join(communes_of)})"
        for code in members:
            zone_of[code] = (zone, label, "+".join(members))
    rows = [
        (insee, *zone_of[str(code)])
        for insee, code in zip(
            communes["insee_code"], communes["canton_code"].astype(str), strict=True
        )
    ]
    return pd.DataFrame(rows, columns=["insee_code", "zone", "zone_label", "cantons"])


def _commune_names(territory: Territory, split: Any) -> list[str]:
    names = territory.communes.set_index("insee_code")["name"]
    return [str(names.get(code, code)) for code in split.communes]


def strict_canton_zones(territory: Territory) -> pd.DataFrame:
    """One zone per real canton; communes split between cantons belong to none.

    The split communes (Auch) are handled on the candidate side: see
    :func:`split_commune_candidates`.

    Returns
    -------
    pandas.DataFrame
        ``insee_code``, ``zone`` (the canton code), ``zone_label`` (its name),
        ``cantons`` (the code).
    """
    communes = territory.communes
    splits = set(territory.config.split_cantons)
    keep = ~communes["canton_code"].astype(str).isin(splits)
    codes = communes.loc[keep, "canton_code"].astype(str).to_numpy()
    return pd.DataFrame(
        {
            "insee_code": communes.loc[keep, "insee_code"].to_numpy(),
            "zone": codes,
            "zone_label": communes.loc[keep, "canton_name"].astype(str).to_numpy(),
            "cantons": codes,
        }
    )


def split_commune_candidates(cand: gpd.GeoDataFrame, territory: Territory) -> gpd.GeoDataFrame:
    """Each candidate in a commune split between cantons, once per canton (``_zone`` column).

    Auch (split between Auch-1, Auch-2 and Auch-3) becomes three candidates at
    the same point, ``32013-3204``, ``32013-3205`` and ``32013-3206``, each in
    its canton's zone; the other candidates keep their commune's zone
    (``_zone`` None).
    """
    cantons = territory.cantons
    names = dict(zip(cantons["canton_code"].astype(str), cantons["canton_name"], strict=True))
    canton_of: dict[str, tuple[str, ...]] = {}
    for split in territory.config.split_cantons.values():
        for code in split.communes:
            canton_of[str(code)] = tuple(str(c) for c in split.cantons)
    rows = []
    for _, row in cand.iterrows():
        cantons = canton_of.get(str(row["insee_code"]), ())
        if not cantons:
            rows.append({**row.to_dict(), "_zone": None})
            continue
        for canton in cantons:
            rows.append(
                {
                    **row.to_dict(),
                    "candidate_id": f"{row['candidate_id']}-{canton}",
                    "name": f"{row['name']} ({names.get(canton, canton)})",
                    "_zone": canton,
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=cand.crs).reset_index(drop=True)


def read_zone_file(path: str | Path, territory: Territory) -> pd.DataFrame:
    """Read a zones CSV (``insee_code``, ``zone``, optional ``zone_label``).

    Communes absent from the file have no zone.

    Raises
    ------
    DataError
        Missing columns, unknown or repeated INSEE codes, empty zones (naming the row).
    """
    path = Path(path)
    table, info = read_table(path, skip_blank_lines=True)
    for column in ("insee_code", "zone"):
        if column not in table.columns:
            raise DataError(
                f"a zones file needs the columns insee_code and zone (found: "
                f"{', '.join(table.columns)})",
                path=path,
                field=column,
            )
    known = set(territory.communes["insee_code"])
    seen: set[str] = set()
    for index, row in table.iterrows():
        line = info.line(int(index))
        code = str(row["insee_code"]).strip()
        if code not in known:
            raise DataError(
                f"'{code}' is not a commune of {territory.config.label}",
                path=path,
                row=line,
                field="insee_code",
            )
        if code in seen:
            raise DataError(
                f"commune {code} is listed twice", path=path, row=line, field="insee_code"
            )
        seen.add(code)
        if not str(row["zone"]).strip():
            raise DataError("empty zone", path=path, row=line, field="zone")
    out = pd.DataFrame(
        {
            "insee_code": table["insee_code"].str.strip(),
            "zone": table["zone"].str.strip(),
        }
    )
    labels = table["zone_label"].str.strip() if "zone_label" in table.columns else out["zone"]
    out["zone_label"] = labels.where(labels != "", out["zone"])
    out["cantons"] = ""
    return out


# --- candidates ---------------------------------------------------------------------------------


def chefs_lieux_path(territory: Territory) -> Path:
    """Where the territory's list of canton chefs-lieux is (next to its description).

    Raises
    ------
    DataError
        If the territory ships no ``chefs_lieux.csv``.
    """
    places = [Path(territory.config.path).parent / CHEFS_LIEUX_FILE]
    places += [d / territory.name / CHEFS_LIEUX_FILE for d in territory_description_dirs()]
    for place in places:
        if place.is_file():
            return place
    raise DataError(
        f"no list of canton chefs-lieux for '{territory.name}' (looked for "
        f"{', '.join(str(p) for p in places)}); give a candidates file instead",
    )


def read_chefs_lieux(territory: Territory) -> pd.DataFrame:
    """The canton chefs-lieux (``canton_code``, ``canton_name``, ``insee_code``, ...).

    Raises
    ------
    DataError
        Missing file or columns, or a commune that is not in the territory.
    """
    path = chefs_lieux_path(territory)
    table, info = read_table(path, skip_blank_lines=True)
    if "insee_code" not in table.columns:
        raise DataError(
            "the chefs-lieux list needs an insee_code column", path=path, field="insee_code"
        )
    known = set(territory.communes["insee_code"])
    for index, code in table["insee_code"].items():
        if code.strip() not in known:
            raise DataError(
                f"'{code}' is not a commune of {territory.config.label}",
                path=path,
                row=info.line(int(index)),
                field="insee_code",
            )
    table["insee_code"] = table["insee_code"].str.strip()
    return table


def _commune_candidates(
    territory: Territory, codes: Sequence[str] | None, origin: str
) -> gpd.GeoDataFrame:
    communes = territory.communes
    if codes is not None:
        order = list(dict.fromkeys(codes))
        communes = communes.set_index("insee_code").loc[order].reset_index()
    return gpd.GeoDataFrame(
        {
            "candidate_id": communes["insee_code"].to_numpy(),
            "name": communes["name"].to_numpy().copy(),
            "insee_code": communes["insee_code"].to_numpy().copy(),
            "commune_name": communes["name"].to_numpy().copy(),
            "origin": origin,
            "service_id": "",
            "capacity": np.inf,
        },
        geometry=gpd.points_from_xy(communes["point_x"], communes["point_y"]),
        crs=territory.crs,
    )


def read_candidate_file(path: str | Path, territory: Territory) -> gpd.GeoDataFrame:
    """Read a candidates CSV: ``insee_code``, or ``x``/``y`` (territory CRS), or ``lon``/``lat``.

    Optional columns: ``candidate_id`` (default: the INSEE code, or ``site-<line>``),
    ``name``, ``capacity`` (inhabitants a site can serve; empty: no limit).

    Raises
    ------
    DataError
        Naming the row and field of any unusable value.
    """
    path = Path(path)
    table, info = read_table(path, skip_blank_lines=True)
    columns = set(table.columns)
    has_xy = {"x", "y"} <= columns
    has_lonlat = {"lon", "lat"} <= columns
    if "insee_code" not in columns and not has_xy and not has_lonlat:
        raise DataError(
            "a candidates file needs insee_code, or x and y, or lon and lat columns",
            path=path,
        )
    communes = territory.communes.set_index("insee_code")
    rows = []
    for index, row in table.iterrows():
        line = info.line(int(index))
        code = str(row.get("insee_code", "")).strip()
        point = None
        for fx, fy, crs in (("x", "y", territory.crs), ("lon", "lat", "EPSG:4326")):
            if str(row.get(fx, "")).strip() or str(row.get(fy, "")).strip():
                xy = [parse_number(row.get(f, ""), field=f, line=line, path=path) for f in (fx, fy)]
                empty = [f for f, v in zip((fx, fy), xy, strict=True) if v is None]
                if empty:
                    raise DataError(
                        f"{fx} et {fy} vont ensemble : {empty[0]} est vide",
                        path=path,
                        row=line,
                        field=empty[0],
                    )
                pt = gpd.GeoSeries([shapely.Point(*xy)], crs=crs).to_crs(territory.crs).iloc[0]
                point = (pt.x, pt.y)
                break
        if point is None:
            if not code:
                raise DataError(
                    "no location: give insee_code, x/y or lon/lat",
                    path=path,
                    row=line,
                    field="insee_code",
                )
            if code not in communes.index:
                raise DataError(
                    f"'{code}' is not a commune of {territory.config.label}",
                    path=path,
                    row=line,
                    field="insee_code",
                )
            point = (communes.at[code, "point_x"], communes.at[code, "point_y"])
        capacity = parse_number(row.get("capacity", ""), field="capacity", line=line, path=path)
        if capacity is None:
            capacity = np.inf
        elif not capacity >= 0:
            raise DataError("capacity must be >= 0", path=path, row=line, field="capacity")
        cid = str(row.get("candidate_id", "")).strip() or code or f"site-{line}"
        commune_name = str(communes.at[code, "name"]) if code in communes.index else ""
        rows.append(
            {
                "candidate_id": cid,
                "name": str(row.get("name", "")).strip() or commune_name or cid,
                "insee_code": code,
                "commune_name": commune_name,
                "origin": "file",
                "service_id": "",
                "capacity": capacity,
                "geometry": shapely.Point(*point),
            }
        )
    if not rows:
        raise DataError("the candidates file has no row", path=path)
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=territory.crs)
    dupes = frame["candidate_id"][frame["candidate_id"].duplicated()]
    if len(dupes):
        raise DataError(
            f"candidate_id '{dupes.iloc[0]}' is given twice",
            path=path,
            row=info.line(int(dupes.index[0])),
            field="candidate_id",
        )
    return frame


# --- demand ---------------------------------------------------------------------------------------


def demand_points(
    territory: Territory,
    *,
    demand: str = "cells",
    cell_size_m: float = DEFAULT_CELL_SIZE_M,
    surface: PopulationSurface | None = None,
) -> pd.DataFrame:
    """Demand points: commune points with their population, or population blocks.

    Parameters
    ----------
    territory
        The territory.
    demand
        ``communes`` or ``cells``.
    cell_size_m
        Block size for ``cells``: a multiple of the population surface's cell size
        (200 m in the Gers); each block sits at its population-weighted centroid.
    surface
        The population surface (built or read from the cache when None).

    Returns
    -------
    pandas.DataFrame
        ``demand_id``, ``x``, ``y``, ``population``, ``insee_code``.

    Raises
    ------
    PlacementError
        Unknown demand kind, or a block size that is not a multiple of the cells.
    """
    if demand == "communes":
        communes = territory.communes
        return pd.DataFrame(
            {
                "demand_id": communes["insee_code"].to_numpy(),
                "x": communes["point_x"].to_numpy(float),
                "y": communes["point_y"].to_numpy(float),
                "population": communes["population"].to_numpy(float),
                "insee_code": communes["insee_code"].to_numpy(),
            }
        )
    if demand != "cells":
        raise PlacementError(f"demand must be one of {', '.join(DEMANDS)}, got {demand!r}")
    surface = surface or population_surface(territory)
    base = surface.cell_size_m
    factor = round(float(cell_size_m) / base)
    if factor < 1 or abs(factor * base - float(cell_size_m)) > 1e-6:
        raise PlacementError(
            f"cell_size_m = {cell_size_m:g} must be a multiple of the population cells ({base:g} m)"
        )
    pop = surface.cell_population
    keep = pop > 0
    x, y = surface.cell_centres()
    brow = surface.cell_rows[keep].astype(np.int64) // factor
    bcol = surface.cell_cols[keep].astype(np.int64) // factor
    key = brow * (surface.shape[1] // factor + 1) + bcol
    blocks, inverse = np.unique(key, return_inverse=True)
    w = pop[keep]
    total = np.bincount(inverse, weights=w)
    bx = np.bincount(inverse, weights=w * x[keep]) / total
    by = np.bincount(inverse, weights=w * y[keep]) / total
    # the commune holding most of each block's inhabitants
    commune = surface.cell_commune[keep]
    pair = inverse.astype(np.int64) * len(surface.commune_codes) + commune
    pairs, pair_inv = np.unique(pair, return_inverse=True)
    pair_pop = np.bincount(pair_inv, weights=w)
    order = np.lexsort((-pair_pop, pairs // len(surface.commune_codes)))
    block_of_pair = pairs[order] // len(surface.commune_codes)
    first = np.ones(order.size, dtype=bool)
    first[1:] = block_of_pair[1:] != block_of_pair[:-1]
    main = np.empty(blocks.size, dtype=object)
    main[block_of_pair[first]] = surface.commune_codes[
        pairs[order][first] % len(surface.commune_codes)
    ]
    rows = blocks // (surface.shape[1] // factor + 1)
    cols = blocks % (surface.shape[1] // factor + 1)
    return pd.DataFrame(
        {
            "demand_id": [f"{int(cell_size_m)}m-{r}-{c}" for r, c in zip(rows, cols, strict=True)],
            "x": bx,
            "y": by,
            "population": total,
            "insee_code": main,
        }
    )


# --- the instance -------------------------------------------------------------------------------


def build_instance(
    territory: Territory,
    network: RoadNetwork,
    *,
    kind: str | None = None,
    catalogue: Any = None,
    fixed_existing: bool = True,
    fixed: Sequence[str] = (),
    existing: gpd.GeoDataFrame | None = None,
    demand: str = "communes",
    cell_size_m: float = DEFAULT_CELL_SIZE_M,
    surface: PopulationSurface | None = None,
    candidates: str | Path | gpd.GeoDataFrame = "communes",
    zones: str | Path | Mapping[str, str] = "cantons",
    zone_rule: str = "at_most_one",
    zone_bounds: Mapping[str, tuple[int, int | None]] | None = None,
    sites_per_canton: bool = True,
    access: AccessSettings | None = None,
    commune_points: SnappedPoints | None = None,
    max_minutes: float | None = None,
    progress: Progress | None = None,
) -> PlacementInstance:
    """Build a territory's placement problem (see the module docstring).

    Parameters
    ----------
    territory, network
        The loaded territory and its road network.
    kind
        Service kind placed (``tiers_lieu``, ``france_services``...); its open
        services are the existing sites.
    catalogue
        The territory's service catalogue (loaded when needed and None).
    fixed_existing
        Keep the existing services of ``kind`` open (as fixed candidates).
    fixed
        Further candidates to keep open: candidate ids or INSEE codes of communes
        (added as candidates when missing).
    existing
        The existing sites to keep open instead of the catalogue's open services
        of ``kind`` (e.g. a scenario's selection for the kind, so that the
        placement keeps exactly the sites ``coverage run`` counts).
    demand, cell_size_m, surface
        Demand points (see :func:`demand_points`).
    candidates
        ``communes``, ``chefs-lieux``, a CSV path or a GeoDataFrame with the columns
        of :func:`read_candidate_file`.
    zones
        ``cantons``, ``cantons_strict`` (each real canton its own zone, split
        communes a candidate of each of their cantons), ``none``, a CSV path, or a
        mapping INSEE code -> zone.
    zone_rule, zone_bounds
        Zone constraints (see :class:`~coverage.placement.problem.PlacementProblem`).
    sites_per_canton
        With ``zones="cantons"``: a zone merging ``k`` cantons (Auch-1, Auch-2,
        Auch-3 and the pseudo-canton of Auch) may hold up to ``k`` sites in total
        (``at_most_one``: 0..k, ``exactly_one``: 1..k), wherever they are in the
        zone (``zones="cantons_strict"`` for one in each canton). False: such a
        zone counts as one canton. Explicit ``zone_bounds`` win.
    access
        Access-leg settings (default :class:`~coverage.routing.snap.AccessSettings`).
    commune_points
        The commune points already joined to the network (an
        :class:`~coverage.access.AccessContext`'s ``commune_points``): with
        ``demand="communes"`` the times then start from exactly the points and
        access legs of :mod:`coverage.access`, as ``coverage run`` computes them.
    max_minutes
        Stop the travel-time searches beyond this time (farther pairs unusable).
    progress
        Called with a French label at the start of each long step.

    Returns
    -------
    PlacementInstance

    Raises
    ------
    PlacementError, DataError
        Unknown kind or scheme, unreadable files, fixed ids that match nothing.
    """
    say = progress or silent
    timings: dict[str, float] = {}
    access = access or AccessSettings()

    # zones per commune
    if isinstance(zones, Mapping):
        zone_frame = pd.DataFrame(
            {"insee_code": list(zones), "zone": [str(v) for v in zones.values()]}
        )
        zone_frame["zone_label"] = zone_frame["zone"]
        zone_frame["cantons"] = ""
        zone_desc = "table donnée"
    elif str(zones) == "cantons":
        zone_frame = canton_zones(territory)
        zone_desc = "cantons (communes réparties entre cantons fusionnées avec eux)"
    elif str(zones) == "cantons_strict":
        zone_frame = strict_canton_zones(territory)
        zone_desc = (
            "un canton par zone (une commune répartie entre cantons est candidate dans chacun)"
        )
    elif str(zones) == "none":
        zone_frame = None
        zone_desc = "aucune"
    else:
        if not Path(str(zones)).suffix and not Path(str(zones)).exists():
            raise PlacementError(
                f"zones must be {', '.join(ZONE_SCHEMES)} or a CSV file, got {zones!r}"
            )
        zone_frame = read_zone_file(zones, territory)
        zone_desc = f"fichier {zones}"
    commune_zone: dict[str, str] = {}
    zone_labels: dict[str, str] = {}
    zone_cantons: dict[str, str] = {}
    if zone_frame is not None:
        commune_zone = dict(zip(zone_frame["insee_code"], zone_frame["zone"], strict=True))
        zone_labels = dict(zip(zone_frame["zone"], zone_frame["zone_label"], strict=True))
        zone_cantons = dict(zip(zone_frame["zone"], zone_frame["cantons"], strict=True))

    # candidates
    if isinstance(candidates, gpd.GeoDataFrame):
        cand = candidates.to_crs(territory.crs).copy()
        for column, default in (
            ("origin", "file"),
            ("service_id", ""),
            ("capacity", np.inf),
            ("commune_name", ""),
            ("insee_code", ""),
        ):
            if column not in cand.columns:
                cand[column] = default
        if "candidate_id" not in cand.columns:
            raise PlacementError("a candidates GeoDataFrame needs a candidate_id column")
        if "name" not in cand.columns:
            cand["name"] = cand["candidate_id"]
        cand_desc = "table donnée"
    elif str(candidates) == "communes":
        cand = _commune_candidates(territory, None, "commune")
        cand_desc = "toutes les communes"
    elif str(candidates) == "chefs-lieux":
        chefs = read_chefs_lieux(territory)
        cand = _commune_candidates(territory, list(chefs["insee_code"]), "chef-lieu")
        cand_desc = f"chefs-lieux de canton ({chefs_lieux_path(territory)})"
    else:
        if not Path(str(candidates)).suffix and not Path(str(candidates)).exists():
            raise PlacementError(
                f"candidates must be {', '.join(CANDIDATE_SETS)} or a CSV file, got {candidates!r}"
            )
        cand = read_candidate_file(candidates, territory)
        cand_desc = f"fichier {candidates}"
    cand = cand.reset_index(drop=True)
    if str(zones) == "cantons_strict":
        cand = split_commune_candidates(cand, territory)
    cand["fixed"] = False

    # existing services of the kind
    if kind is not None and existing is None:
        if catalogue is None:
            say("Catalogue des services")
            t0 = time.perf_counter()
            from coverage.geocode.catalogue import load_catalogue

            catalogue = load_catalogue(territory)
            timings["catalogue_s"] = time.perf_counter() - t0
        if kind not in catalogue.kinds:
            raise PlacementError(
                f"unknown service kind '{kind}' (known: {', '.join(sorted(catalogue.kinds))})"
            )
        existing = catalogue.of_kind(kind, status=("open",))
    if existing is not None and len(existing):
        existing = existing.to_crs(territory.crs).reset_index(drop=True)
    else:
        existing = gpd.GeoDataFrame(
            {"service_id": [], "name": [], "insee_code": []}, geometry=[], crs=territory.crs
        )
    if fixed_existing and len(existing):
        cand = _add_services(cand, existing, territory)
    for key in fixed:
        key = str(key)
        hits = np.flatnonzero(cand["candidate_id"].to_numpy() == key)
        if hits.size == 0:
            hits = np.flatnonzero(cand["insee_code"].to_numpy() == key)
        if hits.size == 0:
            if key not in set(territory.communes["insee_code"]):
                raise PlacementError(
                    f"fixed site '{key}' is neither a candidate id nor a commune of "
                    f"{territory.config.label}"
                )
            cand = pd.concat(
                [cand, _commune_candidates(territory, [key], "commune")], ignore_index=True
            )
            cand = gpd.GeoDataFrame(cand, geometry="geometry", crs=territory.crs)
            cand.loc[cand.index[-1], "fixed"] = False
            hits = np.array([len(cand) - 1])
        cand.loc[int(hits[0]), "fixed"] = True
    cand["fixed"] = cand["fixed"].astype(bool)
    own = cand["_zone"] if "_zone" in cand.columns else pd.Series(None, index=cand.index)
    cand["zone"] = [
        z if isinstance(z, str) and z else commune_zone.get(str(c))
        for z, c in zip(own, cand["insee_code"], strict=True)
    ]
    if "_zone" in cand.columns:
        cand = cand.drop(columns="_zone")
    cand["zone_label"] = [zone_labels.get(z, "") if z else "" for z in cand["zone"]]

    # demand
    say("Points de demande")
    t0 = time.perf_counter()
    points = demand_points(territory, demand=demand, cell_size_m=cell_size_m, surface=surface)
    timings["demand_s"] = time.perf_counter() - t0

    # travel times
    say(f"Temps de trajet ({len(points)} points de demande × {len(cand)} sites candidats)")
    t0 = time.perf_counter()
    origins: Any = points[["x", "y"]].to_numpy()
    if demand == "communes" and commune_points is not None:
        if commune_points.n_points != len(points):
            raise PlacementError(
                f"commune_points has {commune_points.n_points} points but the territory has "
                f"{len(points)} communes"
            )
        origins = commune_points
    matrix = travel_times(
        network,
        origins,
        np.column_stack([cand.geometry.x.to_numpy(), cand.geometry.y.to_numpy()]),
        max_minutes=max_minutes,
        access=access,
    )
    timings["travel_times_s"] = time.perf_counter() - t0
    off_network = int(np.isnan(matrix.seconds).all(axis=1).sum())

    zone_names = sorted(set(zone_labels)) if zone_frame is not None else None
    bounds = dict(zone_bounds or {})
    if sites_per_canton and str(zones) == "cantons" and zone_frame is not None:
        bounds = {**_per_canton_bounds(territory, zone_cantons, zone_rule), **bounds}
    capacities = cand["capacity"].to_numpy(float)
    problem = PlacementProblem(
        matrix.seconds,
        points["population"].to_numpy(float),
        candidate_ids=cand["candidate_id"].astype(str).tolist(),
        demand_ids=points["demand_id"].astype(str).tolist(),
        fixed=np.flatnonzero(cand["fixed"].to_numpy()).tolist(),
        zones=cand["zone"].tolist() if zone_frame is not None else None,
        zone_rule=zone_rule,
        zone_names=zone_names,
        zone_bounds=bounds or None,
        capacities=capacities if np.isfinite(capacities).any() else None,
    )
    zone_table = _zone_table(territory, zone_frame, cand, zone_labels, zone_cantons)
    settings = {
        "demand": demand,
        "cell_size_m": float(cell_size_m) if demand == "cells" else None,
        "demand_points": len(points),
        "demand_off_network": off_network,
        "candidates": cand_desc,
        "candidate_count": len(cand),
        "fixed": cand.loc[cand["fixed"], "candidate_id"].astype(str).tolist(),
        "zones": zone_desc,
        "zone_count": len(zone_names or []),
        "zone_rule": zone_rule if zone_frame is not None else None,
        "zone_bounds": {z: [lo, None if hi == np.inf else hi] for z, (lo, hi) in bounds.items()},
        "kind": kind,
        "existing_services": len(existing),
        "access": access.describe(),
        "max_minutes": max_minutes,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    return PlacementInstance(
        problem=problem,
        territory=territory,
        demand=points,
        candidates=cand,
        zones=zone_table,
        commune_zone=commune_zone,
        existing=existing,
        kind=kind,
        network=network,
        access=access,
        settings=settings,
    )


def _per_canton_bounds(
    territory: Territory, zone_cantons: Mapping[str, str], zone_rule: str
) -> dict[str, tuple[int, int | None]]:
    """Bounds letting a zone of ``k`` merged cantons hold up to ``k`` sites."""
    splits = {s.code for s in territory.config.split_cantons.values()}
    out: dict[str, tuple[int, int | None]] = {}
    for zone, codes in zone_cantons.items():
        real = [c for c in str(codes).split("+") if c and c not in splits]
        if len(real) <= 1:
            continue
        if zone_rule == "at_most_one":
            out[zone] = (0, len(real))
        elif zone_rule == "exactly_one":
            out[zone] = (1, len(real))
    return out


def _add_services(
    cand: gpd.GeoDataFrame, services: gpd.GeoDataFrame, territory: Territory
) -> gpd.GeoDataFrame:
    """Mark the candidates existing services stand on as fixed; add the others as candidates."""
    xy = np.column_stack([cand.geometry.x.to_numpy(), cand.geometry.y.to_numpy()])
    from scipy.spatial import cKDTree

    tree = cKDTree(xy) if len(xy) else None
    extra = []
    ids = set(cand["candidate_id"].astype(str))
    for row in services.itertuples(index=False):
        point = row.geometry
        if tree is not None:
            dist, index = tree.query([point.x, point.y])
            if dist <= SAME_POINT_M and not cand.loc[index, "fixed"]:
                cand.loc[index, "fixed"] = True
                cand.loc[index, "service_id"] = str(row.service_id)
                cand.loc[index, "name"] = str(row.name)
                continue
        cid = str(row.service_id)
        while cid in ids:
            cid = f"service-{cid}"
        ids.add(cid)
        code = str(getattr(row, "insee_code", "") or "")
        extra.append(
            {
                "candidate_id": cid,
                "name": str(row.name),
                "insee_code": code,
                "commune_name": str(getattr(row, "commune_name", "") or ""),
                "origin": "service",
                "service_id": str(row.service_id),
                "capacity": np.inf,
                "fixed": True,
                "geometry": point,
            }
        )
    if not extra:
        return cand
    added = gpd.GeoDataFrame(extra, geometry="geometry", crs=territory.crs)
    return gpd.GeoDataFrame(
        pd.concat([cand, added], ignore_index=True), geometry="geometry", crs=territory.crs
    )


def _zone_table(
    territory: Territory,
    zone_frame: pd.DataFrame | None,
    cand: gpd.GeoDataFrame,
    labels: dict[str, str],
    cantons: dict[str, str],
) -> pd.DataFrame:
    columns = ["zone", "zone_label", "cantons", "communes", "population", "candidates", "fixed"]
    if zone_frame is None:
        return pd.DataFrame(columns=columns)
    pop = territory.communes.set_index("insee_code")["population"]
    frame = zone_frame.assign(population=zone_frame["insee_code"].map(pop).fillna(0))
    grouped = frame.groupby("zone").agg(
        communes=("insee_code", "size"), population=("population", "sum")
    )
    in_zone = cand[cand["zone"].notna()]
    counts = in_zone.groupby("zone").size()
    fixed = in_zone[in_zone["fixed"]].groupby("zone").size()
    out = grouped.reset_index()
    out["zone_label"] = out["zone"].map(labels)
    out["cantons"] = out["zone"].map(cantons).fillna("")
    out["candidates"] = out["zone"].map(counts).fillna(0).astype(int)
    out["fixed"] = out["zone"].map(fixed).fillna(0).astype(int)
    out["population"] = out["population"].astype(int)
    return out[columns].sort_values("zone").reset_index(drop=True)
