"""Dates of an itinerant plan: French public holidays, closures, working days, service days.

- :func:`easter_sunday` is the Gregorian computus (the anonymous algorithm of
  Meeus, Jones and Butcher); :func:`french_public_holidays` derives Easter
  Monday (+1 day), Ascension (+39) and Whit Monday (+50) from it and adds the
  eight fixed holidays of the Code du travail (art. L3133-1). Alsace-Moselle's
  two extra days (Good Friday, 26 December) are not included: give them as
  closures where they apply.
- :func:`working_days` keeps the chosen weekdays of a period, minus holidays
  and closures; :func:`service_days` spreads a fixed number of service days
  evenly over them (the k-th service day is the working day at position
  ``floor((k + 1/2) W / N)``).
- :func:`read_closures` reads closure dates from a text or CSV file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path

from coverage._french import plural
from coverage.errors import DataError, QueryError

WEEKDAY_NAMES_FR: tuple[str, ...] = (
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
)
MONTH_NAMES_FR: tuple[str, ...] = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
WEEKDAYS_MON_FRI: tuple[int, ...] = (0, 1, 2, 3, 4)
"""Monday to Friday (``date.weekday()`` numbering)."""
MAX_CLOSURE_RANGE_DAYS = 366


def easter_sunday(year: int) -> date:
    """Easter Sunday of a Gregorian year (Meeus/Jones/Butcher algorithm).

    Parameters
    ----------
    year
        A year from 1583 on.

    Returns
    -------
    datetime.date

    Raises
    ------
    QueryError
        For a year before the Gregorian calendar.
    """
    if not isinstance(year, int) or year < 1583:
        raise QueryError(f"year doit être un entier à partir de 1583, reçu {year!r}")
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


def french_public_holidays(year: int) -> dict[date, str]:
    """The eleven French public holidays of a year (metropolitan France), date -> French name.

    Returns
    -------
    dict
        Sorted by date.
    """
    easter = easter_sunday(year)
    days = {
        date(year, 1, 1): "Jour de l'an",
        easter + timedelta(days=1): "Lundi de Pâques",
        date(year, 5, 1): "Fête du Travail",
        date(year, 5, 8): "Victoire 1945",
        easter + timedelta(days=39): "Ascension",
        easter + timedelta(days=50): "Lundi de Pentecôte",
        date(year, 7, 14): "Fête nationale",
        date(year, 8, 15): "Assomption",
        date(year, 11, 1): "Toussaint",
        date(year, 11, 11): "Armistice 1918",
        date(year, 12, 25): "Noël",
    }
    return dict(sorted(days.items()))


def holidays_between(start: date, end: date) -> dict[date, str]:
    """French public holidays from ``start`` to ``end`` inclusive."""
    out: dict[date, str] = {}
    for year in range(start.year, end.year + 1):
        out.update({d: n for d, n in french_public_holidays(year).items() if start <= d <= end})
    return out


def working_days(
    start: date,
    end: date,
    *,
    weekdays: Sequence[int] = WEEKDAYS_MON_FRI,
    closures: Iterable[date] = (),
) -> list[date]:
    """Days of ``[start, end]`` on the chosen weekdays, minus public holidays and closures.

    Parameters
    ----------
    start, end
        The period, both included.
    weekdays
        Allowed weekdays, 0 = Monday ... 6 = Sunday.
    closures
        Further days without service.

    Raises
    ------
    QueryError
        An empty or reversed period, or a weekday outside 0..6.
    """
    if end < start:
        raise QueryError(f"la période finit ({end}) avant de commencer ({start})")
    bad = [w for w in weekdays if not isinstance(w, int) or not 0 <= w <= 6]
    if bad or not weekdays:
        raise QueryError(
            f"weekdays doit être des entiers de 0 (lundi) à 6 (dimanche), reçu {weekdays!r}"
        )
    allowed = set(weekdays)
    off = set(holidays_between(start, end)) | set(closures)
    out = []
    day = start
    while day <= end:
        if day.weekday() in allowed and day not in off:
            out.append(day)
        day += timedelta(days=1)
    return out


def service_days(working: Sequence[date], n_days: int) -> list[date]:
    """Choose ``n_days`` of the working days, spread evenly over them.

    The k-th chosen day (k = 0 .. n-1) is ``working[floor((k + 1/2) * W / n)]``
    with ``W`` working days, so the gaps differ by at most one working day.

    Raises
    ------
    QueryError
        More service days asked than working days available.
    """
    total = len(working)
    if not isinstance(n_days, int) or n_days < 1:
        raise QueryError(f"days doit être un nombre positif de jours de service, reçu {n_days!r}")
    if n_days > total:
        raise QueryError(
            f"{plural(n_days, 'jour de service demandé', 'jours de service demandés')} mais "
            f"la période "
            f"n'a que {plural(total, 'jour ouvré', 'jours ouvrés')} (jours de la semaine choisis, "
            "moins les jours fériés et les fermetures) : demandez moins de jours, autorisez plus "
            "de jours de la semaine ou allongez la période"
        )
    return [working[int((k + 0.5) * total / n_days)] for k in range(n_days)]


WEEKDAY_WINDOW = 2
"""Working days a balanced service day may move from its evenly spread place."""


def balanced_service_days(working: Sequence[date], n_days: int) -> list[date]:
    """Choose ``n_days`` working days with as many Mondays as Fridays (±1), spread over the year.

    The days are shared between the weekdays present as evenly as possible
    (the counts differ by at most one; the extra days go to the weekdays
    with the most working days, then the earliest in the week, so that a
    weekday emptied by holidays is not asked for more days than it has);
    each service day is then taken within ``WEEKDAY_WINDOW`` working days of
    its place in :func:`service_days`, on the weekday furthest below its
    share (ties: the nearest day), so that the days stay evenly spread. Falls
    back to :func:`service_days` when the counts cannot be evened so.

    Raises
    ------
    QueryError
        More service days asked than working days available.
    """
    plain = service_days(working, n_days)  # validates n_days
    by_day: dict[int, list[date]] = {}
    for d in working:
        by_day.setdefault(d.weekday(), []).append(d)
    order = sorted(by_day, key=lambda w: (-len(by_day[w]), w))
    base, extra = divmod(n_days, len(order))
    share = {w: base + (1 if k < extra else 0) for k, w in enumerate(order)}
    if any(share[w] > len(by_day[w]) for w in order):
        return plain
    total = len(working)
    used = {w: 0 for w in order}
    chosen: list[int] = []
    last = -1
    for k in range(n_days):
        ideal = int((k + 0.5) * total / n_days)
        room = n_days - k - 1  # keep enough days after this one
        window = [
            i
            for i in range(max(last + 1, ideal - WEEKDAY_WINDOW), ideal + WEEKDAY_WINDOW + 1)
            if i < total - room
        ]
        if not window:
            return plain
        best = max(
            window,
            key=lambda i: (
                share[working[i].weekday()] - used[working[i].weekday()],
                -abs(i - ideal),
            ),
        )
        chosen.append(best)
        used[working[best].weekday()] += 1
        last = best
    if max(used.values()) - min(used.values()) > 1:
        return plain
    return [working[i] for i in chosen]


_ISO = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_FR = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")


def parse_date(text: str, *, field: str = "date") -> date:
    """Parse ``YYYY-MM-DD`` or ``DD/MM/YYYY``.

    Raises
    ------
    QueryError
        Naming the text and the accepted formats.
    """
    value = text.strip()
    try:
        if _ISO.match(value):
            y, m, d = (int(p) for p in value.split("-"))
            return date(y, m, d)
        if _FR.match(value):
            d, m, y = (int(p) for p in value.split("/"))
            return date(y, m, d)
    except ValueError as exc:
        raise QueryError(f"{field} : {value!r} n'est pas une date valide ({exc})") from None
    raise QueryError(f"{field} : {value!r} n'est pas une date ; écrivez 2027-08-15 ou 15/08/2027")


_DATE_TOKEN = re.compile(r"(?<![\d/-])(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{4})(?![\d/-])")


def read_closures(path: str | Path) -> tuple[date, ...]:
    """Read closure dates from a file: one date or one range per line.

    Accepted lines: ``2027-08-16``, ``16/08/2027``, a range ``2027-08-02..2027-08-20``
    (any two dates on a line: ``02/08/2027 au 20/08/2027``, ``2027-08-02;2027-08-20``),
    both ends included; other text on the line (a label) is ignored. Text after
    ``#`` is a comment; empty lines are skipped; a first line without any date is
    a header (CSV exports) and is skipped.

    Returns
    -------
    tuple of dates
        Sorted, without duplicates.

    Raises
    ------
    DataError
        Naming the file, the line and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("fichier des fermetures introuvable", path=path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    days: set[date] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = _DATE_TOKEN.findall(line)
        if number == 1 and not parts:
            continue  # a header
        try:
            if len(parts) == 1:
                days.add(parse_date(parts[0], field="date"))
            elif len(parts) == 2:
                first = parse_date(parts[0], field="start")
                last = parse_date(parts[1], field="end")
                if last < first:
                    raise QueryError(f"l'intervalle finit ({last}) avant de commencer ({first})")
                if (last - first).days > MAX_CLOSURE_RANGE_DAYS:
                    raise QueryError(
                        f"l'intervalle {first}..{last} dépasse un an ; vérifiez les dates"
                    )
                days.update(first + timedelta(days=i) for i in range((last - first).days + 1))
            else:
                raise QueryError(
                    f"date attendue (2027-08-15 ou 15/08/2027) ou intervalle de deux dates, "
                    f"reçu {line!r}"
                )
        except QueryError as exc:
            raise DataError(str(exc), path=path, row=number, field="date") from None
    return tuple(sorted(days))


def french_date(day: date) -> str:
    """``lundi 4 janvier 2027``."""
    return f"{WEEKDAY_NAMES_FR[day.weekday()]} {day.day} {MONTH_NAMES_FR[day.month - 1]} {day.year}"


def parse_weekdays(text: str) -> tuple[int, ...]:
    """Parse a weekday list: ``lun,mar,jeu``, ``mardi,jeudi``, ``1,2,4`` (1 = lundi).

    Raises
    ------
    QueryError
        For an unknown day name.
    """
    out = []
    for raw in re.split(r"[,\s;]+", text.strip().lower()):
        if not raw:
            continue
        if raw.isdigit() and 1 <= int(raw) <= 7:
            out.append(int(raw) - 1)
            continue
        matches = [i for i, name in enumerate(WEEKDAY_NAMES_FR) if name.startswith(raw[:3])]
        if len(raw) < 2 or len(matches) != 1:
            raise QueryError(
                f"weekdays : {raw!r} n'est pas un jour ; écrivez lun,mar,mer,jeu,ven (ou "
                f"1..7, 1 = lundi)"
            )
        out.append(matches[0])
    if not out:
        raise QueryError("weekdays : donnez au moins un jour (par ex. lun,mar,mer,jeu,ven)")
    return tuple(sorted(set(out)))
