"""iCalendar (RFC 5545) text for the permanences: events in Europe/Paris time, written by hand.

The file is what common calendar applications import (Thunderbird, Outlook,
Google Agenda, Apple Calendar): one ``VEVENT`` per permanence with a stable
``UID``, ``DTSTAMP`` in UTC, ``DTSTART``/``DTEND`` in local time with
``TZID=Europe/Paris`` and a ``VTIMEZONE`` describing the French rules since
1996 (last Sunday of March 02:00 -> +02:00, last Sunday of October 03:00 ->
+01:00). Text values are escaped (backslash, semicolon, comma, newline), lines
are folded at 75 octets without splitting a UTF-8 character, and every line
ends with CRLF.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

CRLF = "\r\n"
MAX_OCTETS = 75
PRODID = "-//coverage-territoires//Service public itinerant//FR"

VTIMEZONE_PARIS = (
    "BEGIN:VTIMEZONE",
    "TZID:Europe/Paris",
    "X-LIC-LOCATION:Europe/Paris",
    "BEGIN:DAYLIGHT",
    "TZOFFSETFROM:+0100",
    "TZOFFSETTO:+0200",
    "TZNAME:CEST",
    "DTSTART:19700329T020000",
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    "END:DAYLIGHT",
    "BEGIN:STANDARD",
    "TZOFFSETFROM:+0200",
    "TZOFFSETTO:+0100",
    "TZNAME:CET",
    "DTSTART:19701025T030000",
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
    "END:STANDARD",
    "END:VTIMEZONE",
)


@dataclass(frozen=True)
class Event:
    """One calendar event in local (Europe/Paris) time.

    Attributes
    ----------
    uid
        Globally unique, stable identifier.
    start, end
        Naive local datetimes.
    summary, location, description
        Texts (French).
    lat, lon
        Position (WGS84) for the ``GEO`` property, or None.
    categories
        Category names.
    """

    uid: str
    start: datetime
    end: datetime
    summary: str
    location: str = ""
    description: str = ""
    lat: float | None = None
    lon: float | None = None
    categories: tuple[str, ...] = ()


def escape_text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 §3.3.11)."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def fold_line(line: str) -> str:
    """Fold a content line at 75 octets (continuation lines start with a space), CRLF-joined."""
    data = line.encode("utf-8")
    if len(data) <= MAX_OCTETS:
        return line
    parts = []
    current = b""
    limit = MAX_OCTETS
    for ch in line:
        encoded = ch.encode("utf-8")
        if len(current) + len(encoded) > limit:
            parts.append(current.decode("utf-8"))
            current = b""
            limit = MAX_OCTETS - 1  # the leading space counts
        current += encoded
    parts.append(current.decode("utf-8"))
    return (CRLF + " ").join(parts)


def _local(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def calendar_text(
    events: Iterable[Event],
    *,
    name: str,
    description: str = "",
    stamp_utc: datetime,
) -> str:
    """The whole ``VCALENDAR`` as text (CRLF line ends, folded lines).

    Parameters
    ----------
    events
        The events.
    name
        Calendar name (``X-WR-CALNAME``).
    description
        Calendar description (``X-WR-CALDESC``).
    stamp_utc
        ``DTSTAMP`` of every event (when the plan was made), UTC.
    """
    stamp = stamp_utc.strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
        "X-WR-TIMEZONE:Europe/Paris",
    ]
    if description:
        lines.append(f"X-WR-CALDESC:{escape_text(description)}")
    lines.extend(VTIMEZONE_PARIS)
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.uid}",
            f"DTSTAMP:{stamp}",
            f"DTSTART;TZID=Europe/Paris:{_local(event.start)}",
            f"DTEND;TZID=Europe/Paris:{_local(event.end)}",
            f"SUMMARY:{escape_text(event.summary)}",
        ]
        if event.location:
            lines.append(f"LOCATION:{escape_text(event.location)}")
        if event.description:
            lines.append(f"DESCRIPTION:{escape_text(event.description)}")
        if event.lat is not None and event.lon is not None:
            lines.append(f"GEO:{event.lat:.6f};{event.lon:.6f}")
        if event.categories:
            lines.append(f"CATEGORIES:{','.join(escape_text(c) for c in event.categories)}")
        lines += ["TRANSP:OPAQUE", "STATUS:CONFIRMED", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return CRLF.join(fold_line(line) for line in lines) + CRLF
