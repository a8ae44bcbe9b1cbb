"""The itinerant service plan: its calendar, daily tours and summary, and their files.

An :class:`ItineraryPlan` holds plain data (service dates, the tour of each
date, the stops, the leg matrix) and derives every table from it:

- :meth:`~ItineraryPlan.calendar`: one row per permanence (date, slot, commune,
  arrival, start, end);
- :meth:`~ItineraryPlan.days`: one row per service day (tour, departure,
  return, lunch, driving minutes, km);
- :meth:`~ItineraryPlan.spacing`: per stop, its visits and the days between them;
- :meth:`~ItineraryPlan.summary`: the figures of the plan (km and driving hours
  a year, population reached, spacing), its settings and provenance.

:meth:`~ItineraryPlan.write` writes ``calendar.csv``, ``calendar.ics``,
``days.csv``, ``stops.csv``, ``spacing.csv``, ``stops.geojson``,
``routes.geojson`` (one line per service day), ``tours.geojson`` (one line
per distinct tour), ``summary.json`` and, through the
``coverage.itinerary_writers`` entry points, the map.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage import __version__
from coverage._outdir import refuse_existing, replace_dir, staging_dir
from coverage.errors import OutputExistsError
from coverage.itinerary.calendar import WEEKDAY_NAMES_FR, french_date
from coverage.itinerary.checks import check_plan
from coverage.itinerary.ics import Event, calendar_text
from coverage.itinerary.legs import LegMatrix
from coverage.itinerary.schedule import spacing_stats
from coverage.itinerary.settings import DayRules, ItinerarySettings
from coverage.itinerary.stops import StopChoice
from coverage.itinerary.tours import DayTour
from coverage.jsonio import write_json
from coverage.progress import Progress, silent
from coverage.tables import write_table

WRITERS_GROUP = "coverage.itinerary_writers"
SUMMARY_FILE = "summary.json"
WEB_CRS = "EPSG:4326"


PlanExistsError = OutputExistsError
"""Former name of :class:`coverage.errors.OutputExistsError` (kept for one release)."""


def clock(seconds: float | None) -> str:
    """``HH:MM`` of seconds since midnight ("" for None)."""
    if seconds is None:
        return ""
    total = int(round(seconds / 60.0))
    return f"{total // 60:02d}:{total % 60:02d}"


def fr_clock(seconds: float) -> str:
    """French clock text: ``9 h 05``, ``14 h``."""
    total = int(round(seconds / 60.0))
    h, m = divmod(total, 60)
    return f"{h} h {m:02d}" if m else f"{h} h"


@dataclass(eq=False)
class ItineraryPlan:
    """A yearly (or any period's) plan of the itinerant service.

    Attributes
    ----------
    settings
        The settings used.
    territory, territory_label
        The territory's name and label.
    period
        First and last day of the period.
    holidays
        Public holidays of the period (date -> French name).
    working_days
        Number of working days of the period (before choosing service days).
    dates
        Service dates (sorted).
    day_tour
        For each service date, the index of its tour in :attr:`tours`.
    tours
        The distinct tours (one per day group).
    stops
        One row per stop (stop number = row): ``insee_code``, ``name``,
        ``population``, ``visits``, ``x``, ``y`` and, for chosen stops, the
        reach figures of :class:`~coverage.itinerary.stops.StopChoice`.
    depot
        ``code``, ``name``, ``x``, ``y`` (EPSG:2154).
    legs
        Leg matrix: point 0 is the depot, point ``s + 1`` is stop ``s``.
    rules
        Day rules in seconds.
    choice
        How the stops were chosen and whom they reach (None for bare matrices).
    method
        ``optimised`` or ``naive`` (the benchmark's baseline).
    crs
        CRS of ``x``/``y``.
    details
        Solver statistics, provenance, timings (plain data).
    """

    settings: ItinerarySettings
    territory: str
    territory_label: str
    period: tuple[date, date]
    holidays: dict[date, str]
    working_days: int
    dates: list[date]
    day_tour: list[int]
    tours: list[DayTour]
    stops: pd.DataFrame
    depot: dict[str, Any]
    legs: LegMatrix
    rules: DayRules
    choice: StopChoice | None = None
    method: str = "optimised"
    crs: str = "EPSG:2154"
    details: dict[str, Any] = field(default_factory=dict)
    created_utc: datetime = field(default_factory=lambda: datetime.now(UTC))

    # --- derived figures -----------------------------------------------------------------

    def tour_km(self, k: int) -> float:
        """Road kilometres of tour ``k``."""
        pts = self.legs.day_points(self.tours[k].depot, self.tours[k].stops)
        return float(sum(self.legs.metres[a, b] for a, b in itertools.pairwise(pts))) / 1000.0

    def depot_names(self) -> list[str]:
        """Names of the plan's depots, in depot-number order."""
        depots = self.details.get("depots") or [self.depot]
        return [str(d.get("name", "")) for d in depots]

    def visit_days(self) -> list[list[date]]:
        """For each stop, its visit dates."""
        out: list[list[date]] = [[] for _ in range(len(self.stops))]
        for d, k in zip(self.dates, self.day_tour, strict=True):
            for s in self.tours[k].stops:
                out[s].append(d)
        return out

    def calendar(self) -> pd.DataFrame:
        """One row per permanence, in date and time order.

        Columns: ``date`` (ISO), ``weekday`` (French), ``day`` (service day
        number from 1), ``tour`` (tour number from 1), ``slot`` (1..), ``insee_code``,
        ``name``, ``arrival``, ``start``, ``end`` (``HH:MM``, local time),
        ``drive_minutes`` (from the previous place).
        """
        rows = []
        for number, (d, k) in enumerate(zip(self.dates, self.day_tour, strict=True), start=1):
            tour = self.tours[k]
            for slot, s in enumerate(tour.stops):
                rows.append(
                    {
                        "date": d.isoformat(),
                        "weekday": WEEKDAY_NAMES_FR[d.weekday()],
                        "day": number,
                        "tour": k + 1,
                        "slot": slot + 1,
                        "insee_code": str(self.stops["insee_code"].iat[s]),
                        "name": str(self.stops["name"].iat[s]),
                        "arrival": clock(tour.arrival_s[slot]),
                        "start": clock(tour.start_s[slot]),
                        "end": clock(tour.end_s[slot]),
                        "drive_minutes": round(tour.leg_s[slot] / 60.0, 1),
                    }
                )
        return pd.DataFrame(rows)

    def days(self) -> pd.DataFrame:
        """One row per service day: its tour, times, driving and distance."""
        km = [self.tour_km(k) for k in range(len(self.tours))]
        rows = []
        for number, (d, k) in enumerate(zip(self.dates, self.day_tour, strict=True), start=1):
            tour = self.tours[k]
            names = [str(self.stops["name"].iat[s]) for s in tour.stops]
            rows.append(
                {
                    "date": d.isoformat(),
                    "weekday": WEEKDAY_NAMES_FR[d.weekday()],
                    "day": number,
                    "tour": k + 1,
                    "stops": len(tour.stops),
                    "stop_codes": ";".join(
                        str(self.stops["insee_code"].iat[s]) for s in tour.stops
                    ),
                    "stop_names": " → ".join(names),
                    "depot": self.depot_names()[tour.depot],
                    "depart": clock(tour.depart_s),
                    "return": clock(tour.return_s),
                    "day_end": clock(tour.day_end_s),
                    "lunch_start": clock(tour.lunch_start_s),
                    "lunch_end": clock(tour.lunch_end_s),
                    "driving_minutes": round(tour.driving_s / 60.0, 1),
                    "km": round(km[k], 1),
                    "feasible": tour.feasible,
                    "violations": "; ".join(tour.violations),
                }
            )
        return pd.DataFrame(rows)

    def spacing(self) -> pd.DataFrame:
        """Per stop: visits, first and last visit, days between visits and waits at the ends."""
        span = (self.period[1] - self.period[0]).days
        rows = []
        for s, visits in enumerate(self.visit_days()):
            stats = spacing_stats([(d - self.period[0]).days for d in visits], span)
            rows.append(
                {
                    "insee_code": str(self.stops["insee_code"].iat[s]),
                    "name": str(self.stops["name"].iat[s]),
                    "visits": len(visits),
                    "first_visit": visits[0].isoformat() if visits else "",
                    "last_visit": visits[-1].isoformat() if visits else "",
                    "gap_mean_days": round(stats["gap_mean"], 1),
                    "gap_min_days": stats["gap_min"],
                    "gap_max_days": stats["gap_max"],
                    "wait_first_days": stats["wait_first"],
                    "wait_last_days": stats["wait_last"],
                    "weekdays": len({d.weekday() for d in visits}),
                    "weekday_names": ";".join(
                        WEEKDAY_NAMES_FR[w] for w in sorted({d.weekday() for d in visits})
                    ),
                }
            )
        return pd.DataFrame(rows)

    def tour_table(self) -> pd.DataFrame:
        """One row per distinct tour: stops, days, times, driving and distance."""
        rows = []
        for k, tour in enumerate(self.tours):
            days = [d for d, t in zip(self.dates, self.day_tour, strict=True) if t == k]
            rows.append(
                {
                    "tour": k + 1,
                    "stop_codes": ";".join(
                        str(self.stops["insee_code"].iat[s]) for s in tour.stops
                    ),
                    "stop_names": " → ".join(str(self.stops["name"].iat[s]) for s in tour.stops),
                    "depot": self.depot_names()[tour.depot],
                    "days": len(days),
                    "dates": ";".join(d.isoformat() for d in days),
                    "depart": clock(tour.depart_s),
                    "return": clock(tour.return_s),
                    "driving_minutes": round(tour.driving_s / 60.0, 1),
                    "km": round(self.tour_km(k), 1),
                    "solver": tour.solver,
                    "feasible": tour.feasible,
                }
            )
        return pd.DataFrame(rows)

    def violations(self) -> list[str]:
        """Every broken rule of the plan (empty when it keeps them all)."""
        return check_plan(self)

    def summary(self) -> dict[str, Any]:
        """The plan's figures, settings and provenance as plain JSON-able data (no NaN)."""
        days = self.days()
        spacing = self.spacing()
        gaps = spacing["gap_mean_days"].dropna()
        worst = spacing["gap_max_days"].dropna()
        reach: dict[str, Any]
        if self.choice is not None:
            reach = self.choice.totals()
            reach["method"] = self.choice.method
        else:
            reach = {"population_reached": int(self.stops["population"].sum())}
        driving_h = float(days["driving_minutes"].sum() / 60.0)
        return _clean(
            {
                "engine": {"name": "coverage", "version": __version__},
                "created_utc": self.created_utc.isoformat(timespec="seconds"),
                "method": self.method,
                "territory": {"name": self.territory, "label": self.territory_label},
                "period": {
                    "start": self.period[0].isoformat(),
                    "end": self.period[1].isoformat(),
                    "working_days": self.working_days,
                    "public_holidays": {d.isoformat(): n for d, n in self.holidays.items()},
                    "closures": [d.isoformat() for d in self.settings.closures],
                },
                "settings": self.settings.describe(),
                "depot": {
                    k: (round(v, 1) if isinstance(v, float) else v) for k, v in self.depot.items()
                },
                "service_days": len(self.dates),
                "permanences": int(sum(len(self.tours[k].stops) for k in self.day_tour)),
                "stops": int(len(self.stops)),
                "tours": int(len(self.tours)),
                "driving_hours_year": round(driving_h, 1),
                "km_year": round(float(days["km"].sum()), 1),
                "driving_minutes_day": {
                    "mean": round(float(days["driving_minutes"].mean()), 1),
                    "max": round(float(days["driving_minutes"].max()), 1),
                },
                "reach": reach,
                "depots": [
                    {k: (round(v, 1) if isinstance(v, float) else v) for k, v in d.items()}
                    for d in (self.details.get("depots") or [self.depot])
                ],
                "days_per_depot": {
                    name: int(sum(1 for k in self.day_tour if self.tours[k].depot == i))
                    for i, name in enumerate(self.depot_names())
                    if any(self.tours[k].depot == i for k in self.day_tour)
                },
                "service_days_per_weekday": {
                    WEEKDAY_NAMES_FR[w]: int(sum(1 for d in self.dates if d.weekday() == w))
                    for w in sorted({d.weekday() for d in self.dates})
                },
                "days_by_permanences": {
                    str(n): int(sum(1 for k in self.day_tour if len(self.tours[k].stops) == n))
                    for n in sorted({len(self.tours[k].stops) for k in self.day_tour})
                },
                "weekdays_per_stop": {
                    "min": int(spacing["weekdays"].min()) if len(spacing) else 0,
                    "max": int(spacing["weekdays"].max()) if len(spacing) else 0,
                },
                "spacing_days": {
                    "mean_gap": round(float(gaps.mean()), 1) if len(gaps) else None,
                    "worst_gap": float(worst.max()) if len(worst) else None,
                    "worst_wait": float(
                        np.nanmax(
                            spacing[["gap_max_days", "wait_first_days", "wait_last_days"]].to_numpy(
                                dtype=float
                            )
                        )
                    ),
                    "per_stop": spacing.to_dict(orient="records"),
                },
                "infeasible_days": int((~days["feasible"]).sum()),
                "violations": self.violations(),
                "details": self.details,
            }
        )

    # --- geometry ------------------------------------------------------------------------

    def _stop_points(self) -> gpd.GeoSeries:
        return gpd.GeoSeries(
            shapely.points(self.stops["x"].to_numpy(), self.stops["y"].to_numpy()), crs=self.crs
        )

    def stops_frame(self) -> gpd.GeoDataFrame:
        """The stops as points (EPSG:4326) with their visits and visit dates."""
        visit_days = self.visit_days()
        frame = self.stops.drop(columns=["x", "y"]).copy()
        frame["days"] = [", ".join(d.strftime("%d/%m") for d in v) for v in visit_days]
        frame["first_visit"] = [v[0].isoformat() if v else "" for v in visit_days]
        geo = gpd.GeoDataFrame(frame, geometry=self._stop_points().to_numpy(), crs=self.crs)
        return geo.to_crs(WEB_CRS)

    def _tour_line(self, k: int) -> shapely.LineString:
        pts = self.legs.day_points(self.tours[k].depot, self.tours[k].stops)
        return shapely.LineString(self.legs.route_line(pts))

    def routes_frame(self) -> gpd.GeoDataFrame:
        """One route line per service day (depot -> stops -> depot), EPSG:4326."""
        days = self.days()
        lines = [self._tour_line(k) for k in range(len(self.tours))]
        days["label"] = [french_date(d) for d in self.dates]
        geo = gpd.GeoDataFrame(days, geometry=[lines[k] for k in self.day_tour], crs=self.crs)
        return geo.to_crs(WEB_CRS)

    def tours_frame(self) -> gpd.GeoDataFrame:
        """One route line per distinct tour, EPSG:4326 (``day`` = tour number, ``label``)."""
        table = self.tour_table()
        table["day"] = table["tour"]
        table["label"] = [
            f"{t} – {names} ({n} jour{'s' if n > 1 else ''})"
            for t, names, n in zip(table["tour"], table["stop_names"], table["days"], strict=True)
        ]
        table["minutes"] = table["driving_minutes"]
        table["stops"] = [len(self.tours[k].stops) for k in range(len(self.tours))]
        lines = [self._tour_line(k) for k in range(len(self.tours))]
        return gpd.GeoDataFrame(table, geometry=lines, crs=self.crs).to_crs(WEB_CRS)

    # --- iCalendar -------------------------------------------------------------------------

    def to_ics(self) -> str:
        """The permanences as an iCalendar file (RFC 5545), French texts, Europe/Paris times."""
        web = self._stop_points().to_crs(WEB_CRS)
        label = self.settings.service_label
        events = []
        for d, k in zip(self.dates, self.day_tour, strict=True):
            tour = self.tours[k]
            names = [str(self.stops["name"].iat[s]) for s in tour.stops]
            midnight = datetime(d.year, d.month, d.day)
            for slot, s in enumerate(tour.stops):
                code = str(self.stops["insee_code"].iat[s])
                name = names[slot]
                start = midnight + timedelta(seconds=tour.start_s[slot])
                end = midnight + timedelta(seconds=tour.end_s[slot])
                others = [n for i, n in enumerate(names) if i != slot]
                text = (
                    f"Permanence du {label.lower()} à {name}, {french_date(d)}, "
                    f"de {fr_clock(tour.start_s[slot])} à {fr_clock(tour.end_s[slot])}."
                )
                if others:
                    text += f"\nLe même jour : {', '.join(others)}."
                events.append(
                    Event(
                        uid=f"{d:%Y%m%d}-{slot + 1}-{code}-{self.territory}@coverage-territoires",
                        start=start,
                        end=end,
                        summary=f"{label} – {name}",
                        location=f"{name} ({code})",
                        description=text,
                        lat=float(web.iat[s].y),
                        lon=float(web.iat[s].x),
                        categories=(label,),
                    )
                )
        return calendar_text(
            events,
            name=f"{label} – {self.territory_label}",
            description=(
                f"{len(self.dates)} jours de permanences du {self.period[0]:%d/%m/%Y} au "
                f"{self.period[1]:%d/%m/%Y}, {len(self.stops)} communes"
            ),
            stamp_utc=self.created_utc,
        )

    # --- files -----------------------------------------------------------------------------

    def write(
        self,
        folder: str | Path,
        *,
        overwrite: bool = False,
        writers: bool = True,
        progress: Progress | None = None,
    ) -> dict[str, Path]:
        """Write the plan's files into ``folder`` (created; replaced only with ``overwrite``).

        The folder is written under a temporary name and renamed when complete.

        Returns
        -------
        dict
            File key -> path.

        Raises
        ------
        coverage.errors.OutputExistsError
            If the folder exists and ``overwrite`` is false.
        """
        folder = Path(folder)
        refuse_existing(folder, overwrite=overwrite)
        say = progress or silent
        tmp = staging_dir(folder)
        files: dict[str, Path] = {}
        try:
            say("Fichiers : calendrier, tournées, arrêts")
            tables = {
                "calendar": self.calendar(),
                "days": self.days(),
                "stops": self.stops,
                "spacing": self.spacing(),
                "tours": self.tour_table(),
            }
            for key, table in tables.items():
                path = tmp / f"{key}.csv"
                write_table(table, path)
                files[key] = path
            if self.choice is not None:
                path = tmp / "communes.csv"
                write_table(self.choice.communes, path)
                files["communes"] = path
            (tmp / "calendar.ics").write_bytes(self.to_ics().encode("utf-8"))
            files["ics"] = tmp / "calendar.ics"
            for key, frame in (
                ("stops_geojson", self.stops_frame()),
                ("routes_geojson", self.routes_frame()),
                ("tours_geojson", self.tours_frame()),
            ):
                path = tmp / f"{key.removesuffix('_geojson')}.geojson"
                frame.to_file(path, driver="GeoJSON")
                files[key] = path
            summary = _clean(self.summary())
            summary["files"] = {k: p.name for k, p in files.items()}
            summary_path = tmp / SUMMARY_FILE
            write_json(summary_path, summary)
            if writers:
                for name, writer in itinerary_writers():
                    say(f"Carte ({name})")
                    for path in writer(tmp, summary) or []:
                        summary["files"][Path(path).stem] = Path(path).name
                write_json(summary_path, summary)
            replace_dir(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return {k: folder / Path(v).name for k, v in summary["files"].items()}


def itinerary_writers() -> list[tuple[str, Callable[[Path, dict[str, Any]], list[Path]]]]:
    """Writers registered under the ``coverage.itinerary_writers`` entry-point group."""
    found = sorted(entry_points(group=WRITERS_GROUP), key=lambda e: e.name)
    return [(ep.name, ep.load()) for ep in found]


def _clean(value: Any) -> Any:
    """Replace NaN/inf floats by None, recursively (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value
