"""Placement studies and itinerary plans on the run queue: checked when posted, run by the worker.

:func:`queue_job` stores a job (kind ``placement`` or ``itinerary``) and queues
it, under the same limit as scenario runs. The worker (:mod:`api.worker`) calls
:func:`placement_executor` / :func:`itinerary_executor`'s function with the
stored record and its server-named folder: the posted body becomes the call of
:func:`coverage.jobs.place.place` or :func:`coverage.jobs.itinerary.plan_itinerary`
on the territory's preloaded resources (with the lists the body names), the
result folder is written, and the small part of the result kept in the
database is returned (the headline figures a status request shows).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from api.deps import strip_paths_in_text
from api.errors import InvalidParameterError
from api.geojson import dumps
from api.job_schemas import ItineraryBody, PlacementBody
from api.state import AppState, TerritoryState
from api.store import RunRecord
from api.worker import JobFunction
from coverage.itinerary.calendar import parse_weekdays
from coverage.itinerary.settings import ItinerarySettings, parse_clock
from coverage.jobs.itinerary import plan_itinerary
from coverage.jobs.place import place
from coverage.jobs.placement_scenario import scenario_toml
from coverage.progress import Progress

BASE_SCENARIO_FILE = "base.toml"


def queue_job(
    state: AppState, *, kind: str, territory: str, label: str, body: dict[str, Any]
) -> RunRecord:
    """Store a checked job ``queued`` and put it on the worker's queue.

    Raises
    ------
    QueueFullError
        When as many jobs as the server allows are already waiting (counted and inserted in
        one transaction).
    UnavailableError
        When the job database refuses the write or the worker is gone.
    """
    state.worker.check_accepting()
    record = state.store.create(
        territory=territory,
        scenario_name=kind,
        scenario_label=label,
        body=body,
        origin="api",
        kind=kind,
        max_queued=state.settings.max_queued_runs,
    )
    state.worker.submit(record.id)
    return record


def scenario_with_lists(raw: dict[str, Any], territory: TerritoryState | None) -> dict[str, Any]:
    """A posted scenario with its named lists (``services.lists``) as ``services.files``.

    Raises
    ------
    api.errors.InvalidParameterError
        For a list the territory does not serve (field ``services.lists[i]``).
    """
    services = raw.get("services")
    if not isinstance(services, dict) or "lists" not in services:
        return raw
    names = list(services.get("lists") or [])
    resolved = {k: v for k, v in services.items() if k != "lists"}
    if names:
        if territory is None:
            raise InvalidParameterError(
                "le territoire du scénario n'est pas servi", field="scenario.territory"
            )
        files = territory.list_files(names, field="services.lists")
        resolved["files"] = [*resolved.get("files", []), *(str(path) for path in files)]
    return {**raw, "services": resolved}


def job_territory(state: AppState, name: str | None) -> TerritoryState:
    """The territory a job body names (default: the first served).

    Raises
    ------
    InvalidParameterError
        For a territory this server does not serve (field ``territory``).
    """
    if name is None:
        return state.default_territory()
    if name not in state.territories:
        raise InvalidParameterError(
            f"territoire '{name}' non servi (servis : {', '.join(state.territories)})",
            field="territory",
        )
    return state.territories[name]


def _known_codes(t: TerritoryState, codes: list[str], field: str) -> None:
    known = set(t.resources.territory.communes["insee_code"].astype(str))
    for i, code in enumerate(codes):
        if code not in known:
            raise InvalidParameterError(
                f"aucune commune de code INSEE {code} dans {t.label}", field=f"{field}[{i}]"
            )


def _communes(t: TerritoryState) -> int:
    return len(t.resources.territory.communes)


# --- placements --------------------------------------------------------------------------------


def check_placement(t: TerritoryState, body: PlacementBody) -> None:
    """What only the territory knows: its kinds, communes, cell size, default scenario, lists.

    Raises
    ------
    InvalidParameterError
        Naming the field.
    """
    if t.default_scenario is None:
        raise InvalidParameterError(
            f"{t.label} n'a pas de scénario par défaut : pas d'étude d'implantation",
            field="territory",
        )
    files = t.list_files(body.lists)
    catalogue = t.resources_for_files(files).catalogue
    if body.kind not in catalogue.kinds:
        known = ", ".join(sorted(catalogue.kinds))
        raise InvalidParameterError(
            f"type de service inconnu '{body.kind}' (connus : {known})", field="kind"
        )
    for name in ("sites", "new_sites"):
        value = getattr(body, name)
        if value is not None and value > _communes(t):
            raise InvalidParameterError(
                f"{value} sites pour {_communes(t)} communes dans {t.label}", field=name
            )
    _known_codes(t, body.fixed, "fixed")
    base = t.base_resources.surface.cell_size_m
    if (
        body.demand == "cells"
        and abs(round(body.cell_size_m / base) * base - body.cell_size_m) > 1e-6
    ):
        raise InvalidParameterError(
            f"{body.cell_size_m:g} m n'est pas un multiple des cellules de population ({base:g} m)",
            field="cell_size_m",
        )


def placement_label(body: PlacementBody) -> str:
    """A French label of a placement study."""
    return f"Implantation : {body.kind} ({body.model}, {body.threshold_minutes:g} min)"


def _base_scenario(t: TerritoryState, files: tuple[Path, ...], folder: Path) -> Path | None:
    """The territory's default scenario with the lists as ``[services] files`` (None: as is)."""
    if not files or t.default_body is None:
        return None
    raw = json.loads(json.dumps(t.default_body))
    services = raw.setdefault("services", {})
    services["files"] = [*services.get("files", []), *(str(path) for path in files)]
    path = folder / BASE_SCENARIO_FILE
    header = "Scénario par défaut du territoire, avec les listes de services importées"
    path.write_text(scenario_toml(raw, header=header), encoding="utf-8")
    return path


def placement_headline(study: Any) -> dict[str, Any]:
    """What a status request shows of a finished placement: figures, solver, sites."""
    summary = study.summary
    result = summary["result"]
    small = {
        "figures": summary["coverage"],
        "solver": {
            key: result.get(key)
            for key in ("model", "method", "status", "objective", "gap", "solve_time_s")
        },
        "sites": summary["sites"],
        "written_plan": _written_plan_headline(summary.get("written_plan")),
        "alternatives": summary.get("alternatives"),
        "questions": summary.get("questions"),
    }
    return json.loads(dumps(small))


def _written_plan_headline(block: dict[str, Any] | None) -> dict[str, Any] | None:
    """The written plan against the optimum, without the per-canton table (in the file)."""
    if not block:
        return None
    if "territory" not in block:
        return {"skipped": block.get("skipped")}
    keep = ("rule", "threshold_minutes", "territory", "only_plan", "only_optimum", "common")
    return {key: block[key] for key in keep}


def _curve_span(first: int | None, last: int | None) -> tuple[int | None, int] | None:
    """The curve against the number of sites the body asks for, as ``(first, last)``."""
    if first is None and last is None:
        return None
    if first is None or last is None:
        return (None, int(last)) if first is None else (int(first), int(first))  # type: ignore[arg-type]
    return (min(first, last), max(first, last))


def placement_executor(state: AppState) -> JobFunction:
    """The worker's function for ``placement`` jobs."""

    def execute(record: RunRecord, folder: Path, progress: Progress) -> Any:
        body = PlacementBody.model_validate(record.body)
        t = state.territory(record.territory)
        files = t.list_files(body.lists)
        with tempfile.TemporaryDirectory(prefix="coverage-placement-") as tmp:
            base = _base_scenario(t, files, Path(tmp))
            study = place(
                t.name,
                kind=body.kind,
                model=body.model,
                sites=body.sites,
                new_sites=body.new_sites,
                threshold_minutes=body.threshold_minutes,
                demand=body.demand,
                cell_size_m=body.cell_size_m,
                candidates=body.candidates,
                zones="cantons",
                zone_rule=body.zone_rule,
                sites_per_canton=not body.one_per_zone,
                keep_existing=not body.no_existing,
                fixed=tuple(body.fixed),
                solver=body.solver,
                time_limit_s=body.time_limit_s,
                mip_gap=body.mip_gap,
                scenario=base,
                data_dir=state.settings.data_dir,
                output_dir=folder,
                overwrite=True,
                write_map=False,
                written_plan=body.written_plan,
                alternatives=body.alternatives,
                curve=_curve_span(body.curve_from, body.curve_to),
                curve_minutes=body.curve_minutes,
                tradeoff=body.tradeoff,
                sensitivity=body.sensitivity,
                resources=t.resources_for_files(files),
                progress=progress,
            )
        return placement_headline(study)

    return execute


# --- itineraries -------------------------------------------------------------------------------


def itinerary_settings(body: ItineraryBody) -> ItinerarySettings:
    """The engine's settings of a posted plan (checked: QueryError naming the setting)."""
    depot: str | tuple[float, float] = (
        body.depot if isinstance(body.depot, str) else (body.depot.lon, body.depot.lat)
    )
    return ItinerarySettings(
        n_stops=body.n_stops
        if body.n_stops is not None
        else (None if body.visits_per_stop or body.stop_codes else 26),
        stop_codes=tuple(body.stop_codes) if body.stop_codes is not None else None,
        kinds=tuple(body.kinds),
        underserved_minutes=body.underserved_minutes,
        reach_minutes=body.reach_minutes,
        year=body.year,
        start_date=body.start_date,
        end_date=body.end_date,
        days=body.days,
        weekdays=parse_weekdays(",".join(body.weekdays)),
        closures=tuple(body.closures),
        visits=body.visits,
        visits_per_stop=body.visits_per_stop,
        min_spacing_days=body.min_spacing_days,
        max_spacing_days=body.max_spacing_days,
        permanences_per_day=body.permanences_per_day,
        permanence_minutes=body.permanence_minutes,
        day_start=parse_clock(body.start, name="start"),
        day_end=parse_clock(body.end, name="end"),
        lunch_from=parse_clock(body.lunch_from, name="lunch_from"),
        lunch_to=parse_clock(body.lunch_to, name="lunch_to"),
        lunch_minutes=body.lunch_minutes,
        max_driving_minutes=body.max_driving_hours * 60.0,
        depot=depot,
        depot_name=body.depot_name,
        solver=body.solver,
        seed=body.seed,
        depots=body.depots if isinstance(body.depots, str) else tuple(body.depots),
        mixed_days=body.mixed_days,
        served_minutes=body.served_minutes,
        served_weight=body.served_weight,
        fixed_weekday=body.fixed_weekday,
        balanced_weekdays=body.balanced_weekdays,
    )


def check_itinerary(t: TerritoryState, body: ItineraryBody) -> ItinerarySettings:
    """The plan's settings, checked against the territory (its communes, its lists).

    Raises
    ------
    InvalidParameterError
        Naming the field.
    """
    t.list_files(body.lists)
    if body.n_stops is not None and body.n_stops > _communes(t):
        raise InvalidParameterError(
            f"{body.n_stops} arrêts pour {_communes(t)} communes dans {t.label}", field="n_stops"
        )
    _known_codes(t, body.stop_codes or [], "stop_codes")
    communes = set(t.resources.territory.communes["insee_code"].astype(str))
    if isinstance(body.depot, str) and body.depot not in communes:
        raise InvalidParameterError(
            f"aucune commune de code INSEE {body.depot} dans {t.label}", field="depot"
        )
    try:
        return itinerary_settings(body)
    except InvalidParameterError:
        raise
    except ValueError as exc:  # QueryError: the message names the setting
        raise InvalidParameterError(str(exc), field=_setting_field(str(exc))) from None


_SETTING_FIELDS = {
    "day_start": "start",
    "day_end": "end",
    "max_driving_minutes": "max_driving_hours",
}


def _setting_field(message: str) -> str:
    """The body field an :class:`ItinerarySettings` message starts with (else ``body``)."""
    head = re.match(r"[a-z_]+", message)
    name = _SETTING_FIELDS.get(head.group(0), head.group(0)) if head else ""
    return name if name in ItineraryBody.model_fields else "body"


def itinerary_label(settings: ItinerarySettings) -> str:
    """A French label of an itinerary plan."""
    stops = (
        f"{len(settings.stop_codes)} communes données"
        if settings.stop_codes is not None
        else f"{settings.n_stops} arrêts"
        if settings.n_stops is not None
        else f"{settings.visits_per_stop} passages par arrêt"
    )
    return f"Itinérance : {stops}, {settings.days} jours"


def itinerary_headline(summary: dict[str, Any]) -> dict[str, Any]:
    """What a status request shows of a finished plan (no per-stop tables)."""
    keys = (
        "period",
        "depot",
        "service_days",
        "permanences",
        "stops",
        "tours",
        "driving_hours_year",
        "km_year",
        "driving_minutes_day",
        "reach",
        "infeasible_days",
        "violations",
    )
    small: dict[str, Any] = {key: summary.get(key) for key in keys}
    spacing = dict(summary.get("spacing_days") or {})
    spacing.pop("per_stop", None)
    small["spacing_days"] = spacing
    return json.loads(dumps({"summary": small}))


def itinerary_executor(state: AppState) -> JobFunction:
    """The worker's function for ``itinerary`` jobs."""

    def execute(record: RunRecord, folder: Path, progress: Progress) -> Any:
        body = ItineraryBody.model_validate(record.body)
        t = state.territory(record.territory)
        settings = itinerary_settings(body)
        resources = t.resources_for_files(t.list_files(body.lists))
        plan = plan_itinerary(t.name, settings=settings, resources=resources, progress=progress)
        plan.write(folder, overwrite=True, writers=False, progress=progress)
        return itinerary_headline(plan.summary())

    return execute


def job_fields(state: AppState, record: RunRecord) -> dict[str, Any]:
    """The fields every job view shows (:class:`api.job_schemas.JobOut`)."""
    return {
        "id": record.id,
        "kind": record.kind,
        "territory": record.territory,
        "label": record.scenario_label,
        "status": record.status,
        "reason": strip_paths_in_text(record.reason),
        "step": state.worker.step if state.worker.current == record.id else None,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
    }
