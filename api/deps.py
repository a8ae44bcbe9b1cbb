"""Helpers the routers share: the app state, run lookup, commune filters, path-free output.

Nothing here builds a file path from user input: territories, runs and EPCI
are looked up among loaded objects and stored records; a run's folder comes
from the database (a server-generated name).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path as FilePath
from typing import Annotated

import geopandas as gpd
import pandas as pd
from fastapi import Path, Query, Request

from api.errors import InvalidParameterError, NotFoundError, RunNotReadyError, ServerFaultError
from api.redact import strip_paths as strip_paths  # re-exported: api.redact owns it
from api.redact import strip_paths_in_text
from api.schemas import RUN_ID_PATTERN
from api.state import AppState, TerritoryState
from api.store import RunRecord
from coverage._french import of_territory
from coverage.errors import DataError
from coverage.results import ResultFolder
from coverage.scenario import Scenario

log = logging.getLogger("api")

TerritoryPath = Annotated[
    str,
    Path(
        pattern=r"^[a-z0-9_-]{1,64}$",
        description="Territory name.",
        examples=["gers"],
    ),
]
RunIdPath = Annotated[
    str,
    Path(
        pattern=RUN_ID_PATTERN,
        description="Run id (16 hexadecimal characters).",
        examples=["3f9a1c0b7d2e4a65"],
    ),
]
CantonQuery = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9A-Za-z]{2,10}$",
        description="Keep the communes of this canton (INSEE code; a commune shared between "
        "cantons, such as Auch, is kept for each of them).",
        examples=["3204"],
    ),
]
EpciQuery = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{9}$",
        description="Keep the communes of this EPCI (SIREN).",
        examples=["200066926"],
    ),
]
SimplifyQuery = Annotated[
    int,
    Query(ge=0, le=1000, description="Simplify outlines by this many metres (0: exact)."),
]
BASE_COMMUNE_COLUMNS = [
    "insee_code",
    "name",
    "population",
    "canton_code",
    "canton_name",
    "epci_siren",
    "epci_name",
]


def core(request: Request) -> AppState:
    """The application state built at start-up."""
    return request.app.state.core


_NO_SUCH_JOB = {
    "placement": "aucune étude d'implantation",
    "itinerary": "aucun plan d'itinérance",
}


def get_run(state: AppState, run_id: str, *, field: str = "id", kind: str = "run") -> RunRecord:
    """A stored job of a kind (default: a scenario run).

    Raises
    ------
    NotFoundError
        For an unknown id, or the id of another kind of job.
    """
    record = state.store.get(run_id)
    if record is None or record.kind != kind:
        message = (
            f"{_NO_SUCH_JOB[kind]} d'identifiant '{run_id}'"
            if kind in _NO_SUCH_JOB
            else f"aucune tâche d'identifiant '{run_id}'"
        )
        raise NotFoundError(message, field=field)
    return record


def done_path(state: AppState, record: RunRecord, *, field: str = "id") -> FilePath:
    """The result folder of a finished job (server-named, under the results directory).

    Raises
    ------
    RunNotReadyError
        If the job is queued, running or failed.
    """
    if record.status != "done" or not record.result_dir:
        why = f" ({strip_paths_in_text(record.reason)})" if record.reason else ""
        raise RunNotReadyError(
            f"la tâche '{record.id}' est {record.status}{why} ; ses résultats existent une "
            "fois terminée",
            field=field,
        )
    return state.settings.results_path / record.result_dir


def done_folder(state: AppState, record: RunRecord, *, field: str = "id") -> ResultFolder:
    """The result folder of a finished run.

    Raises
    ------
    RunNotReadyError
        If the run is queued, running or failed.
    """
    if record.status != "done" or not record.result_dir:
        why = f" ({strip_paths_in_text(record.reason)})" if record.reason else ""
        raise RunNotReadyError(
            f"la tâche '{record.id}' est {record.status}{why} ; ses résultats existent une "
            "fois terminée",
            field=field,
        )
    with reading_results(record.id):
        folder = state.result_folder(record.result_dir)
        folder.summary  # noqa: B018 - read (and checked) once, cached by the folder
    return folder


@contextmanager
def reading_results(run_id: str) -> Iterator[None]:
    """Turn an unreadable result folder into a server fault (500) naming the run, no path.

    Raises
    ------
    ServerFaultError
        When the stored results of the run cannot be read (a damaged folder).
    """
    try:
        yield
    except DataError as exc:
        log.error("résultats illisibles de la tâche %s : %s", run_id, exc)
        raise ServerFaultError(
            f"les résultats de la tâche '{run_id}' sont illisibles sur le serveur ; "
            "relancer la tâche ou prévenir l'administrateur"
        ) from None


def commune_mask(
    territory: TerritoryState,
    frame: pd.DataFrame,
    *,
    canton: str | None,
    epci: str | None,
) -> pd.Series:
    """Rows of ``frame`` (with canton_code, epci_siren, insee_code) kept by the filters.

    Raises
    ------
    InvalidParameterError
        For a canton or EPCI the territory does not have.
    """
    loaded = territory.resources.territory
    keep = pd.Series(True, index=frame.index)
    if canton is not None:
        splits = loaded.config.split_cantons
        known = set(loaded.communes["canton_code"].astype(str))
        for split in splits.values():
            known |= set(split.cantons)
        if canton not in known:
            raise InvalidParameterError(
                f"aucun canton '{canton}' dans le territoire {of_territory(territory.label)} "
                f"(connus : {', '.join(sorted(known))})",
                field="canton",
            )
        codes = {canton}
        shared = {c for split in splits.values() if canton in split.cantons for c in split.communes}
        keep &= frame["canton_code"].astype(str).isin(codes) | frame["insee_code"].isin(shared)
    if epci is not None:
        known_epci = set(loaded.communes["epci_siren"].astype(str))
        if epci not in known_epci:
            raise InvalidParameterError(
                f"aucun EPCI de SIREN '{epci}' dans le territoire {of_territory(territory.label)}",
                field="epci",
            )
        keep &= frame["epci_siren"].astype(str) == epci
    return keep


def run_communes(folder: ResultFolder, analysis: str | None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """A run's commune layer and the property columns to publish.

    With an analysis, its ``<analysis>__<indicator>`` columns are published
    without the prefix; otherwise every analysis's columns, prefixed.

    Raises
    ------
    InvalidParameterError
        For an analysis the run does not have.
    """
    with reading_results(folder.path.name):
        layer = folder.layer("communes")
    base = [c for c in BASE_COMMUNE_COLUMNS if c in layer.columns]
    if analysis is None:
        return layer, [c for c in layer.columns if c != layer.geometry.name]
    if analysis not in folder.analyses:
        raise InvalidParameterError(
            f"aucune analyse '{analysis}' dans cette tâche "
            f"(présentes : {', '.join(folder.analyses)})",
            field="analysis",
        )
    prefix = f"{analysis}__"
    chosen = [c for c in layer.columns if c.startswith(prefix)]
    renamed = layer[[*base, *chosen, layer.geometry.name]].rename(
        columns={c: c[len(prefix) :] for c in chosen}
    )
    return renamed, [c for c in renamed.columns if c != renamed.geometry.name]


def check_health_kinds(scenario: Scenario, known_kinds: Mapping[str, str]) -> None:
    """Refuse, when a scenario is posted, ``[health] kinds`` the catalogue does not have.

    :func:`coverage.scenario.select_services` checks the analyses' kinds; the
    2SFCA section's are only read when the run reaches it, so a mistake there
    would be accepted and fail later.

    Raises
    ------
    InvalidParameterError
        Naming ``health.kinds[i]`` and the kinds the catalogue has.
    """
    if scenario.health is None:
        return
    for i, kind in enumerate(scenario.health.kinds):
        if kind not in known_kinds:
            raise InvalidParameterError(
                f"type de service inconnu '{kind}' (connus : {', '.join(sorted(known_kinds))})",
                field=f"health.kinds[{i}]",
            )


def default_run(state: AppState, t: TerritoryState, *, field: str = "run") -> RunRecord:
    """The latest finished run of a territory's default scenario (what pages show by default).

    Raises
    ------
    NotFoundError
        If the territory has no default scenario.
    RunNotReadyError
        If no run of it has finished yet (the server runs it at start-up).
    """
    scenario = t.default_scenario
    if scenario is None:
        raise NotFoundError(
            f"le territoire {of_territory(t.label)} n'a pas de scénario par défaut : donner 'run' "
            "(voir /scenarios)",
            field=field,
        )
    latest = state.store.latest_done(t.name, scenario.name, origin="startup")
    if latest is None:
        raise RunNotReadyError(
            f"aucune tâche du scénario par défaut '{scenario.name}' n'est encore terminée ; le "
            "serveur le lance au démarrage (voir /scenarios), ou donner 'run'",
            field=field,
        )
    return latest
