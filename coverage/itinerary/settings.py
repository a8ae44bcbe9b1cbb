"""The parameters of an itinerant service plan, validated, and the day rules derived from them.

Times of day are :class:`datetime.time` values (local time, Europe/Paris);
durations are minutes at this edge and seconds inside (:class:`DayRules`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, time
from typing import Any, Literal

from coverage.errors import QueryError
from coverage.itinerary.calendar import WEEKDAYS_MON_FRI

VisitMode = Literal["uniform", "population"]
VISIT_MODES: tuple[str, ...] = ("uniform", "population")
SOLVERS: tuple[str, ...] = ("vroom", "exact")
DEFAULT_KINDS: tuple[str, ...] = ("france_services", "mds")
DEPOT_SETS: tuple[str, ...] = ("depot", "mds", "tiers-lieux")
"""Named depot sets: ``depot`` only; the MDS of the catalogue; the tiers-lieux (planned, open)."""
MAX_PERMANENCES_PER_DAY = 8
MAX_DEPOTS = 50
"""Most depots listed by INSEE code (each day's tour is solved from every depot)."""
MAX_SERVED_MINUTES = 600.0
"""Largest ``served_minutes``."""


class InfeasiblePlanError(QueryError):
    """Settings that no plan can satisfy (more visits than days, a stop out of reach...)."""


def _seconds_of(value: time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


def parse_clock(text: str, *, name: str) -> time:
    """Parse ``08:30``, ``8h30``, ``8h`` or ``8:30:00`` into a time of day.

    Raises
    ------
    QueryError
        Naming the option and the accepted form.
    """
    raw = text.strip().lower().replace("h", ":")
    if raw.endswith(":"):
        raw += "00"
    parts = raw.split(":")
    try:
        numbers = [int(p) for p in parts]
        if not 2 <= len(numbers) <= 3:
            raise ValueError
        return time(*numbers)
    except (TypeError, ValueError):
        raise QueryError(f"{name} : {text!r} n'est pas une heure ; écrivez 08:30 ou 8h30") from None


@dataclass(frozen=True)
class DayRules:
    """What a day of service allows, in seconds since midnight (local time).

    Attributes
    ----------
    start_s, end_s
        Working hours: leave the depot at or after ``start_s``, be back by ``end_s``.
    lunch_from_s, lunch_to_s
        The window the lunch break must lie in.
    lunch_s
        Length of the lunch break (0: no break).
    permanence_s
        Length of a permanence (service time at a stop).
    max_driving_s
        Largest driving time of a day (real times, before rounding).
    step_s
        Timetable step: travel times are rounded up to it, so that every
        timetable time is a multiple of it.
    """

    start_s: int
    end_s: int
    lunch_from_s: int
    lunch_to_s: int
    lunch_s: int
    permanence_s: int
    max_driving_s: float
    step_s: int = 300

    @property
    def lunch_latest_start_s(self) -> int:
        """Latest start of the lunch break."""
        return self.lunch_to_s - self.lunch_s


@dataclass(frozen=True, kw_only=True)
class ItinerarySettings:
    """Everything a plan depends on; validated on creation (:class:`QueryError` on a bad value).

    Attributes
    ----------
    n_stops
        Number of stops to choose (ignored when ``stop_codes`` is given). When
        None, ``visits_per_stop`` sets it from the budget of days:
        ``floor(days * permanences_per_day / visits_per_stop)``.
    stop_codes
        INSEE codes of the stops (a given list) instead of a chosen set.
    kinds
        Fixed service kinds whose distance makes a commune underserved
        (kinds absent from the catalogue are skipped, e.g. ``mds``).
    underserved_minutes
        Inhabitants farther than this from every fixed service are underserved.
    reach_minutes
        A stop reaches the inhabitants of the communes within this driving time
        of it (0: only its own commune).
    year
        Calendar year planned (1 January to 31 December); ignored when
        ``start_date``/``end_date`` are given. None: the next year.
    start_date, end_date
        The period (both included) instead of a year.
    days
        Number of service days in the period.
    weekdays
        Weekdays the service may run (0 = Monday).
    closures
        Dates without service (besides weekends and public holidays).
    visits
        ``uniform`` (every stop as often as possible, the same number ±1) or
        ``population`` (in proportion to the population each stop serves).
    visits_per_stop
        A fixed number of visits for every stop (overrides ``visits``).
    min_spacing_days, max_spacing_days
        Least days between two visits of a stop; most days a stop waits for a
        visit (between two visits, and from the period's start to the first
        visit and from the last visit to the period's end).
    permanences_per_day
        Permanences (stops) per service day: 1 or 2 half-days, or more short ones.
    permanence_minutes
        Length of a permanence.
    day_start, day_end
        Working hours (leave the depot, back at the depot).
    lunch_from, lunch_to, lunch_minutes
        The lunch break: ``lunch_minutes`` long, inside ``lunch_from``..``lunch_to``.
    max_driving_minutes
        Most driving in a day.
    time_step_minutes
        Timetable step (travel times rounded up to it).
    depot
        INSEE code of the depot commune, or (lon, lat) in WGS84.
    depot_name
        Label of the depot (default: the commune's name).
    solver
        Daily tours: ``vroom`` (pyvroom) or ``exact`` (enumeration, up to 8 stops).
    seed
        Seed of the calendar's local search.
    service_label
        Name of the service in the calendar (``Service public itinérant``).
    depots
        The agents' bases a day may start from, besides ``depot``: ``depot``
        (that one only), ``mds`` (the MDS of the catalogue), ``tiers-lieux``
        (the tiers-lieux planned at the canton chefs-lieux and those open), or
        INSEE codes. Each day starts and ends at the one depot whose tour
        drives least (ties: ``depot``, then the order listed).
    mixed_days
        Days with fewer permanences than ``permanences_per_day`` are allowed:
        a stop that shares no feasible day with another stop gets days of its
        own (one permanence), so that remote communes fit in the working day.
    served_minutes
        A commune within this time of a fixed site (the services of ``kinds``
        in the territory, the tiers-lieux planned and open) is *served*
        already (0: none is).
    served_weight
        Weight of a served commune's underserved inhabitants in the choice of
        stops (0: excluded, and served communes host no stop; 0 < w < 1:
        down-weighted; 1: as the others).
    fixed_weekday
        Every stop is always visited on the same weekday ("un mardi sur
        six"): the grouping MIP gives each stop one weekday.
    balanced_weekdays
        Service days are spread evenly over the weekdays (the counts of
        Mondays, Tuesdays... differ by at most one) instead of evenly over the
        working days.
    """

    n_stops: int | None = 26
    stop_codes: tuple[str, ...] | None = None
    kinds: tuple[str, ...] = DEFAULT_KINDS
    underserved_minutes: float = 15.0
    reach_minutes: float = 10.0
    year: int | None = None
    start_date: date | None = None
    end_date: date | None = None
    days: int = 103
    weekdays: tuple[int, ...] = WEEKDAYS_MON_FRI
    closures: tuple[date, ...] = ()
    visits: VisitMode = "uniform"
    visits_per_stop: int | None = None
    min_spacing_days: int = 7
    max_spacing_days: int = 60
    permanences_per_day: int = 2
    permanence_minutes: float = 180.0
    day_start: time = time(8, 30)
    day_end: time = time(17, 30)
    lunch_from: time = time(12, 0)
    lunch_to: time = time(13, 30)
    lunch_minutes: float = 60.0
    max_driving_minutes: float = 180.0
    time_step_minutes: int = 5
    depot: str | tuple[float, float] = "32013"
    depot_name: str | None = None
    solver: str = "vroom"
    seed: int = 0
    service_label: str = "Service public itinérant"
    depots: str | tuple[str, ...] = "tiers-lieux"
    mixed_days: bool = True
    served_minutes: float = 10.0
    served_weight: float = 0.0
    fixed_weekday: bool = False
    balanced_weekdays: bool = True

    def __post_init__(self) -> None:
        def positive_int(name: str, value: Any, *, allow_none: bool = False) -> None:
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise QueryError(f"{name} doit être un entier positif, reçu {value!r}")

        def minutes(name: str, value: Any, *, allow_zero: bool = False) -> None:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
                raise QueryError(f"{name} doit être un nombre positif de minutes, reçu {value!r}")

        positive_int("n_stops", self.n_stops, allow_none=True)
        positive_int("days", self.days)
        positive_int("visits_per_stop", self.visits_per_stop, allow_none=True)
        positive_int("permanences_per_day", self.permanences_per_day)
        positive_int("time_step_minutes", self.time_step_minutes)
        if self.permanences_per_day > MAX_PERMANENCES_PER_DAY:
            raise QueryError(
                f"permanences_per_day doit valoir au plus {MAX_PERMANENCES_PER_DAY}, "
                f"reçu {self.permanences_per_day}"
            )
        if self.stop_codes is None and self.n_stops is None and self.visits_per_stop is None:
            raise QueryError(
                "donnez un nombre d'arrêts (n_stops), une liste d'arrêts (stop_codes) ou "
                "visits_per_stop (le nombre d'arrêts découle alors des jours)"
            )
        if self.stop_codes is not None:
            codes = [str(c) for c in self.stop_codes]
            if not codes:
                raise QueryError("stop_codes est vide : donnez au moins un code INSEE")
            dupes = sorted({c for c in codes if codes.count(c) > 1})
            if dupes:
                raise QueryError(f"stop_codes cite {', '.join(dupes)} plus d'une fois")
        minutes("underserved_minutes", self.underserved_minutes)
        minutes("reach_minutes", self.reach_minutes, allow_zero=True)
        minutes("permanence_minutes", self.permanence_minutes)
        minutes("lunch_minutes", self.lunch_minutes, allow_zero=True)
        minutes("max_driving_minutes", self.max_driving_minutes)
        if self.visits not in VISIT_MODES:
            raise QueryError(
                f"visits doit valoir l'un de {', '.join(VISIT_MODES)}, reçu {self.visits!r}"
            )
        if self.solver not in SOLVERS:
            raise QueryError(
                f"solver doit valoir l'un de {', '.join(SOLVERS)}, reçu {self.solver!r}"
            )
        for name in ("min_spacing_days", "max_spacing_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise QueryError(f"{name} doit être un nombre entier de jours >= 0, reçu {value!r}")
        if self.max_spacing_days < self.min_spacing_days or self.max_spacing_days < 1:
            raise QueryError(
                f"max_spacing_days ({self.max_spacing_days}) doit valoir au moins 1 et au moins "
                f"min_spacing_days ({self.min_spacing_days})"
            )
        if not self.weekdays or any(
            isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 6 for w in self.weekdays
        ):
            raise QueryError(
                f"weekdays doit être des entiers de 0 (lundi) à 6 (dimanche), reçu "
                f"{self.weekdays!r}"
            )
        if any(not isinstance(d, date) for d in self.closures):
            raise QueryError(f"closures doit être des dates, reçu {self.closures!r}")
        if (self.start_date is None) != (self.end_date is None):
            raise QueryError(
                "donnez à la fois start_date et end_date, ou aucune des deux (alors : une année)"
            )
        if self.start_date is not None and self.end_date < self.start_date:
            raise QueryError(f"end_date ({self.end_date}) est avant start_date ({self.start_date})")
        if self.year is not None and (
            isinstance(self.year, bool) or not isinstance(self.year, int) or self.year < 1583
        ):
            raise QueryError(f"year doit être une année comme 2027, reçu {self.year!r}")
        if self.day_end <= self.day_start:
            raise QueryError(
                f"la journée de travail finit ({self.day_end:%H:%M}) avant de commencer "
                f"({self.day_start:%H:%M})"
            )
        if self.lunch_minutes > 0:
            if self.lunch_to <= self.lunch_from:
                raise QueryError(
                    f"la pause déjeuner finit ({self.lunch_to:%H:%M}) avant de commencer "
                    f"({self.lunch_from:%H:%M})"
                )
            window_min = (_seconds_of(self.lunch_to) - _seconds_of(self.lunch_from)) / 60
            if self.lunch_minutes > window_min + 1e-9:
                raise QueryError(
                    f"lunch_minutes ({self.lunch_minutes:g}) dépasse la plage du déjeuner "
                    f"{self.lunch_from:%H:%M}-{self.lunch_to:%H:%M} ({window_min:g} min)"
                )
            if self.lunch_from < self.day_start or self.lunch_to > self.day_end:
                raise QueryError(
                    f"la plage du déjeuner {self.lunch_from:%H:%M}-{self.lunch_to:%H:%M} doit être "
                    f"dans la journée de travail {self.day_start:%H:%M}-{self.day_end:%H:%M}"
                )
        if isinstance(self.depot, tuple | list):
            if len(self.depot) != 2 or not all(
                isinstance(v, int | float) and math.isfinite(v) for v in self.depot
            ):
                raise QueryError(
                    f"depot doit être un code INSEE ou (lon, lat), reçu {self.depot!r}"
                )
        elif not isinstance(self.depot, str) or not self.depot.strip():
            raise QueryError(f"depot doit être un code INSEE ou (lon, lat), reçu {self.depot!r}")

        if isinstance(self.depots, str):
            if self.depots not in DEPOT_SETS:
                raise QueryError(
                    f"depots : {self.depots!r} n'est ni {', '.join(DEPOT_SETS)} ni une liste "
                    "de codes INSEE"
                )
        elif not self.depots or not all(isinstance(c, str) and c.strip() for c in self.depots):
            raise QueryError(
                f"depots : donnez des codes INSEE (par exemple 32013,32296), reçu {self.depots!r}"
            )
        elif len(self.depots) > MAX_DEPOTS:
            raise QueryError(f"depots : au plus {MAX_DEPOTS} codes, reçu {len(self.depots)}")
        minutes("served_minutes", self.served_minutes, allow_zero=True)
        if self.served_minutes > MAX_SERVED_MINUTES:
            raise QueryError(
                f"served_minutes doit être au plus {MAX_SERVED_MINUTES:g}, "
                f"reçu {self.served_minutes!r}"
            )
        w = self.served_weight
        if isinstance(w, bool) or not isinstance(w, int | float) or not 0 <= w <= 1:
            raise QueryError(f"served_weight doit être entre 0 et 1, reçu {w!r}")
        for name in ("mixed_days", "fixed_weekday", "balanced_weekdays"):
            if not isinstance(getattr(self, name), bool):
                raise QueryError(f"{name} doit valoir true ou false, reçu {getattr(self, name)!r}")

    def period(self, *, today: date | None = None) -> tuple[date, date]:
        """The planned period: ``start_date``..``end_date``, the year, or next year."""
        if self.start_date is not None and self.end_date is not None:
            return self.start_date, self.end_date
        year = self.year if self.year is not None else (today or date.today()).year + 1
        return date(year, 1, 1), date(year, 12, 31)

    def day_rules(self) -> DayRules:
        """The day rules in seconds."""
        step = self.time_step_minutes * 60
        return DayRules(
            start_s=_seconds_of(self.day_start),
            end_s=_seconds_of(self.day_end),
            lunch_from_s=_seconds_of(self.lunch_from),
            lunch_to_s=_seconds_of(self.lunch_to),
            lunch_s=int(round(self.lunch_minutes * 60)),
            permanence_s=int(round(self.permanence_minutes * 60)),
            max_driving_s=float(self.max_driving_minutes) * 60.0,
            step_s=step,
        )

    def describe(self) -> dict[str, Any]:
        """The settings as plain JSON-able data (for the summary)."""
        out = asdict(self)
        for key, value in list(out.items()):
            if isinstance(value, time):
                out[key] = value.strftime("%H:%M")
            elif isinstance(value, date):
                out[key] = value.isoformat()
            elif isinstance(value, tuple):
                out[key] = [v.isoformat() if isinstance(v, date) else v for v in value]
        return out
