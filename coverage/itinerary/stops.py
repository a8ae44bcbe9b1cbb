"""The stops of the itinerant service: chosen where people are far from fixed services, or given.

Underserved inhabitants. For the chosen kinds of fixed services (France
services and MDS by default; kinds the catalogue lacks are skipped), the access
analysis (:func:`coverage.access.service_access`) gives each commune its
inhabitants beyond ``underserved_minutes`` by car from the nearest one
(computed per 200 m population cell, services over the border included).

Reach. A stop reaches the communes whose representative point is within
``reach_minutes`` of it by car (0: only its own commune): their inhabitants
may come to the permanence.

Choice (maximal covering location problem, solved exactly with HiGHS)::

    max  Σ_j (u_j + ε p_j) y_j
    s.t. y_j <= Σ_{s reaches j} x_s     for every commune j
         Σ_s x_s = K
         x_s ∈ {0, 1},  0 <= y_j <= 1

with ``u_j`` the underserved inhabitants of commune ``j``, ``p_j`` its
population and ``ε = 10⁻³`` (so reaching more people in all only breaks ties
between equally good sets). Candidates are the communes without a fixed service
of the chosen kinds whose permanence fits in a day from the depot on its own.

Catchments: each reached commune is attached to its nearest stop (the stop's
own commune to itself); a stop's *served population* is the population of its
catchment, which weights the visits when they follow population.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse

from coverage._french import plural
from coverage._highs import solve_mip
from coverage.errors import DataError, QueryError
from coverage.itinerary.mip_log import record
from coverage.itinerary.settings import InfeasiblePlanError

EPSILON_POPULATION = 1e-3
"""Weight of one inhabitant reached against one underserved inhabitant reached."""


@dataclass(eq=False)
class Underserved:
    """Per commune: inhabitants beyond the threshold from the chosen fixed services.

    Attributes
    ----------
    communes
        ``insee_code``, ``name``, ``population``, ``underserved`` (inhabitants
        beyond the threshold), ``minutes_mean`` (population-weighted time to the
        nearest service), ``nearest_service_name``, ``hosts_service`` (a service
        of the kinds lies in the commune).
    kinds
        Kinds used (present in the catalogue).
    kind_labels
        Their French labels.
    kinds_missing
        Kinds asked for but absent from the catalogue.
    services
        Number of service points used.
    threshold_minutes
        The threshold.
    provenance
        How the times were computed (:meth:`coverage.access.AccessContext.provenance`).
    """

    communes: pd.DataFrame
    kinds: list[str]
    kind_labels: list[str]
    kinds_missing: list[str]
    services: int
    threshold_minutes: float
    provenance: dict[str, Any] = field(default_factory=dict)


def max_covering(
    demand: np.ndarray,
    covers: scipy.sparse.spmatrix,
    n_stops: int,
    *,
    candidates: np.ndarray,
    time_limit_s: float = 30.0,
    log: list[dict] | None = None,
) -> tuple[list[int], str]:
    """Solve the maximal covering problem (see the module docstring).

    Parameters
    ----------
    demand
        Weight of every demand point (commune).
    covers
        Boolean ``(n_sites, n_demand)``: site ``s`` reaches demand ``j``.
    n_stops
        Sites to open.
    candidates
        Boolean mask of the sites that may be opened.

    Returns
    -------
    tuple
        Chosen site indices (sorted) and the HiGHS status.

    Raises
    ------
    InfeasiblePlanError
        Fewer candidates than stops asked.
    """
    cand = np.flatnonzero(candidates)
    if cand.size < n_stops:
        raise InfeasiblePlanError(
            f"{plural(n_stops, 'arrêt demandé', 'arrêts demandés')} mais seules "
            f"{plural(int(cand.size), 'commune')} peuvent en accueillir un "
            "(pas de service fixe, permanence atteignable dans la journée depuis le dépôt)"
        )
    cov = scipy.sparse.csr_matrix(covers)[cand].tocoo()
    n_c, n_d = cand.size, cov.shape[1]
    # columns: x (n_c) then y (n_d); rows: y_j - Σ x_s <= 0 (n_d), Σ x = K
    rows = np.concatenate([cov.col, np.arange(n_d), np.full(n_c, n_d)])
    cols = np.concatenate([cov.row, n_c + np.arange(n_d), np.arange(n_c)])
    vals = np.concatenate([-np.ones(cov.nnz), np.ones(n_d), np.ones(n_c)])
    a = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(n_d + 1, n_c + n_d))
    result = solve_mip(
        np.concatenate([np.zeros(n_c), demand]),
        a,
        np.concatenate([np.full(n_d, -np.inf), [n_stops]]),
        np.concatenate([np.zeros(n_d), [n_stops]]),
        np.zeros(n_c + n_d),
        np.ones(n_c + n_d),
        integer=np.concatenate([np.ones(n_c, dtype=bool), np.zeros(n_d, dtype=bool)]),
        maximise=True,
        time_limit_s=time_limit_s,
        mip_gap=1e-6,
    )
    record(log, "choice of stops", result, time_limit_s=time_limit_s, mip_gap=1e-6)
    if not result.has_solution:
        raise InfeasiblePlanError(f"le choix des arrêts a échoué (solveur : {result.status})")
    chosen = cand[np.flatnonzero(result.solution[:n_c] > 0.5)]
    return sorted(int(c) for c in chosen), result.status


@dataclass(eq=False)
class StopChoice:
    """The stops and whom they reach.

    Attributes
    ----------
    stops
        One row per stop (stop number = row): ``insee_code``, ``name``,
        ``population``, ``underserved`` (its own commune), ``minutes_mean`` (to
        the nearest fixed service), ``reached_communes``, ``reached_population``,
        ``reached_underserved`` (its catchment), ``x``, ``y`` (EPSG:2154).
    communes
        Every commune: ``insee_code``, ``name``, ``population``,
        ``underserved``, ``stop_code`` (its stop, "" when none within reach),
        ``minutes_to_stop``.
    method
        How the stops were chosen (plain data for the summary).
    """

    stops: pd.DataFrame
    communes: pd.DataFrame
    method: dict[str, Any]

    def totals(self) -> dict[str, int]:
        """Population and underserved inhabitants reached by all the stops.

        ``*_without_sites`` count the same figures without the communes that
        already have a fixed site within ``served_minutes`` (``served`` column;
        without it, every commune counts).
        """
        c = self.communes
        reached = c["stop_code"] != ""
        served = c["served"].to_numpy(dtype=bool) if "served" in c else np.zeros(len(c), bool)
        own = reached & ~served
        return {
            "population_reached": int(c.loc[reached, "population"].sum()),
            "underserved_reached": int(c.loc[reached, "underserved"].sum()),
            "underserved_total": int(c["underserved"].sum()),
            "communes_reached": int(reached.sum()),
            "population_reached_without_sites": int(c.loc[own, "population"].sum()),
            "underserved_reached_without_sites": int(c.loc[own, "underserved"].sum()),
            "communes_reached_without_sites": int(own.sum()),
            "communes_served_by_sites": int(served.sum()),
            "population_served_by_sites": int(c.loc[served, "population"].sum()),
        }


def stop_catchments(
    stop_rows: Sequence[int],
    seconds: np.ndarray,
    *,
    reach_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Each commune's stop (row index into ``stop_rows``, -1 if none) and its time to it.

    ``seconds[j, s]`` is the time from commune ``j`` to commune ``s``; a stop's
    own commune always belongs to it.
    """
    n = seconds.shape[0]
    stop_rows = np.asarray(stop_rows, dtype=np.int64)
    to_stop = seconds[:, stop_rows]
    to_stop = np.where(np.isfinite(to_stop), to_stop, np.inf)
    best = np.argmin(to_stop, axis=1) if stop_rows.size else np.zeros(n, dtype=np.int64)
    best_s = to_stop[np.arange(n), best] if stop_rows.size else np.full(n, np.inf)
    owner = np.where(best_s <= reach_s + 1e-6, best, -1)
    owner[stop_rows] = np.arange(stop_rows.size)
    best_s[stop_rows] = 0.0
    return owner, np.where(owner >= 0, best_s, np.nan)


def build_choice(
    territory_communes: gpd.GeoDataFrame,
    underserved: Underserved,
    stop_rows: Sequence[int],
    seconds: np.ndarray,
    *,
    reach_minutes: float,
    method: dict[str, Any],
    served: np.ndarray | None = None,
) -> StopChoice:
    """Assemble the stop table and the commune catchments for given stop rows.

    ``served`` (one flag per commune) marks the communes that already have a
    fixed site within ``served_minutes``; it becomes the ``served`` column.
    """
    table = underserved.communes
    reach_s = reach_minutes * 60.0
    owner, minutes_s = stop_catchments(stop_rows, seconds, reach_s=reach_s)
    stop_rows = list(stop_rows)
    codes = table["insee_code"].to_numpy()
    communes = pd.DataFrame(
        {
            "insee_code": codes,
            "name": table["name"].to_numpy(),
            "population": table["population"].to_numpy(),
            "underserved": table["underserved"].to_numpy(),
            "stop_code": [codes[stop_rows[o]] if o >= 0 else "" for o in owner],
            "minutes_to_stop": np.round(minutes_s / 60.0, 2),
            "served": (
                np.zeros(len(codes), dtype=bool) if served is None else np.asarray(served, bool)
            ),
        }
    )
    rows = []
    for k, r in enumerate(stop_rows):
        mine = owner == k
        rows.append(
            {
                "insee_code": codes[r],
                "name": table["name"].iat[r],
                "population": int(table["population"].iat[r]),
                "underserved": int(table["underserved"].iat[r]),
                "minutes_mean": float(table["minutes_mean"].iat[r]),
                "reached_communes": int(mine.sum()),
                "reached_population": int(table["population"].to_numpy()[mine].sum()),
                "reached_underserved": int(table["underserved"].to_numpy()[mine].sum()),
                "x": float(territory_communes["point_x"].iat[r]),
                "y": float(territory_communes["point_y"].iat[r]),
            }
        )
    return StopChoice(stops=pd.DataFrame(rows), communes=communes, method=method)


CODE_COLUMNS = ("insee_code", "code_insee", "insee", "codgeo", "code_commune", "code", "com")
_CODE = re.compile(r"^(\d{5}|\d[AB]\d{3}|\d{4})$", re.IGNORECASE)


def read_stop_codes(path: str | Path) -> tuple[str, ...]:
    """Read INSEE codes of stops: one per line, or a CSV with a code column.

    A CSV (``;``, ``,`` or tab separated, UTF-8 or Latin-1) is recognised by its
    header; the code column is the first of :data:`CODE_COLUMNS` found
    (case-insensitive). Codes read as numbers lose their leading zero
    (``1001``): four-digit codes are padded back to five. Empty lines and text
    after ``#`` are skipped.

    Raises
    ------
    DataError
        Naming the file, the line and the bad value (or the missing column).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("fichier des arrêts introuvable", path=path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = text.splitlines()
    first = next((line for line in lines if line.split("#", 1)[0].strip()), "")
    delimiter = max((";", ",", "\t"), key=first.count)
    column = 0
    start = 0
    if first and first.count(delimiter) and not _CODE.match(first.split(delimiter)[0].strip()):
        header = [h.strip().strip('"').lower() for h in first.split(delimiter)]
        found = [c for c in CODE_COLUMNS if c in header]
        if not found:
            raise DataError(
                f"pas de colonne de code INSEE ; nommez-en une parmi {', '.join(CODE_COLUMNS)} "
                f"(colonnes : {', '.join(header)})",
                path=path,
                row=1,
            )
        column = header.index(found[0])
        start = lines.index(first) + 1
    elif first and not _CODE.match(first.split(delimiter)[0].strip().strip('"')):
        start = lines.index(first) + 1  # a one-column header such as "insee_code"
    codes: list[str] = []
    for number, line in enumerate(lines[start:], start=start + 1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        cells = [c.strip().strip('"') for c in body.split(delimiter)] if delimiter else [body]
        value = cells[column] if column < len(cells) else ""
        if not _CODE.match(value):
            raise DataError(
                f"{value!r} n'est pas un code commune INSEE (5 caractères, par ex. 32013)",
                path=path,
                row=number,
                field="insee_code",
            )
        code = value.upper().zfill(5)
        if code in codes:
            raise DataError(f"{code} est cité deux fois", path=path, row=number)
        codes.append(code)
    if not codes:
        raise DataError("aucun code INSEE dans le fichier", path=path)
    return tuple(codes)


def rows_of_codes(communes: pd.DataFrame, codes: Sequence[str], *, what: str) -> list[int]:
    """Row positions of INSEE codes in the commune table.

    Raises
    ------
    QueryError
        Naming the first unknown code.
    """
    index = {c: i for i, c in enumerate(communes["insee_code"].astype(str))}
    rows = []
    for code in codes:
        key = str(code).strip()
        if key not in index:
            raise QueryError(
                f"{what} : le code INSEE {key!r} n'est pas une commune du territoire "
                "(les codes ont 5 caractères, par ex. 32013)"
            )
        rows.append(index[key])
    return rows
