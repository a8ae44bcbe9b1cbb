"""The one writer of the CSV tables the commands produce, and its reader.

Two styles (:data:`STYLES`):

- ``"fr"`` (default): for a French spreadsheet double-clicked open (Excel,
  LibreOffice): UTF-8 with a byte-order mark, ``;`` between fields, decimal
  comma, shares as percentages (``12,5`` under a header ending ``(%)``),
  ``oui``/``non``, French column headers;
- ``"machine"``: for pipelines: UTF-8 without BOM, ``,``, ``.``, shares as
  fractions, ``True``/``False`` and the stable English snake_case names.

The style is chosen per call (``style=``), else by :func:`use_style` (the
``--csv`` option of the commands), else by ``COVERAGE_CSV_STYLE``
(:func:`coverage.settings.csv_style`).

Each column has a :class:`Column` (French header and kind) from
:data:`COLUMNS`, :data:`PATTERNS` (``pop_beyond_20`` and the like), an
analysis prefix (``france_services__minutes_mean``) or, for a name nobody
registered, its own name with a kind guessed from its dtype; ``columns=``
overrides per table. :func:`read_written_table` reads either style back
into the machine names and values (the engine's and the API's readers of
these files).
"""

from __future__ import annotations

import codecs
import contextvars
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from coverage import settings
from coverage._outdir import staged_file

Style = Literal["fr", "machine"]
STYLES: tuple[str, ...] = ("fr", "machine")
"""The CSV styles: French spreadsheet (default) or machine."""

Kind = Literal["text", "number", "share", "bool"]

YES, NO = "oui", "non"


@dataclass(frozen=True)
class Column:
    """How one column is written in the French style.

    Attributes
    ----------
    header
        French header (the machine style keeps the column's own name).
    kind
        ``text`` (codes and names, written as they are), ``number`` (decimal
        comma), ``share`` (a fraction written as a percentage, decimal comma)
        or ``bool`` (``oui``/``non``).
    """

    header: str
    kind: Kind = "number"


def _t(header: str) -> Column:
    return Column(header, "text")


COLUMNS: dict[str, Column] = {
    # territory
    "insee_code": _t("Code INSEE"),
    "name": _t("Nom"),
    "commune_name": _t("Commune"),
    "canton_code": _t("Code canton"),
    "canton_name": _t("Canton"),
    "epci_siren": _t("SIREN EPCI"),
    "epci_name": _t("EPCI"),
    "population": Column("Population"),
    "communes": Column("Communes"),
    "territory": _t("Territoire"),
    "job": _t("Calcul"),
    "scenario": _t("Scénario"),
    # access
    "minutes_mean": Column("Temps moyen (min)"),
    "minutes_max": Column("Temps maximal (min)"),
    "minutes_point": Column("Temps depuis le centre (min)"),
    "minutes": Column("Temps (min)"),
    "nearest_service_id": _t("Identifiant du service le plus proche"),
    "nearest_service_name": _t("Service le plus proche"),
    "unreachable": Column("Injoignable", "bool"),
    "pop_unreachable": Column("Population injoignable"),
    "rank": Column("Rang"),
    "excess_person_minutes": Column("Excès (personnes × minutes)"),
    "threshold_minutes": Column("Seuil (min)"),
    "health__accessibility": Column("Accessibilité aux médecins (APL)"),
    "health__undersupplied": Column("Zone sous-dotée", "bool"),
    # GeoPackage layers (cells, isochrones)
    "row": Column("Ligne de la grille"),
    "col": Column("Colonne de la grille"),
    "off_network": Column("Loin du réseau", "bool"),
    "scope": _t("Portée"),
    "facility_id": _t("Identifiant du service"),
    "cells": Column("Cellules"),
    # placement
    "candidate_id": _t("Identifiant du candidat"),
    "zone": _t("Zone"),
    "zone_label": _t("Nom de la zone"),
    "origin": _t("Origine"),
    "demand_population": Column("Population de la demande"),
    "covered_population": Column("Population couverte"),
    "nearest": _t("Site le plus proche"),
    # services
    "service_id": _t("Identifiant"),
    "kind": _t("Type"),
    "address": _t("Adresse"),
    "postcode": _t("Code postal"),
    "status": _t("Statut"),
    "capacity": Column("Capacité"),
    "capacity_unit": _t("Unité de capacité"),
    "source": _t("Source"),
    "source_key": _t("Clé dans la source"),
    "geocode_quality": _t("Qualité du géocodage"),
    "geocode_score": Column("Score du géocodage"),
    "geocode_backend": _t("Géocodeur"),
    "geocode_status": _t("État du géocodage"),
    "in_territory": Column("Dans le territoire", "bool"),
    "distance_to_territory_m": Column("Distance au territoire (m)"),
    "lon": Column("Longitude"),
    "lat": Column("Latitude"),
    "x": Column("X (Lambert-93)"),
    "y": Column("Y (Lambert-93)"),
    "note": _t("Remarque"),
    "notes": _t("Remarques"),
    "added": Column("Ajouté", "bool"),
    # compare
    "analysis": _t("Analyse"),
    "pop_beyond_a": Column("Population au-delà du seuil (A)"),
    "pop_beyond_b": Column("Population au-delà du seuil (B)"),
    "gained": Column("Population gagnée"),
    "lost": Column("Population perdue"),
    "net_gain": Column("Gain net"),
    "communes_changed": Column("Communes changées"),
    "minutes_mean_a": Column("Temps moyen A (min)"),
    "minutes_mean_b": Column("Temps moyen B (min)"),
}
"""French header and kind of every column name the engine writes (machine name -> column)."""

PATTERNS: tuple[tuple[re.Pattern[str], str, Kind], ...] = (
    (
        re.compile(r"^pop_newly_within_(\w+)$"),
        "Population nouvellement à moins de {} min",
        "number",
    ),
    (re.compile(r"^pop_within_(\w+)$"), "Population à moins de {} min", "number"),
    (re.compile(r"^pop_beyond_(\w+)$"), "Population au-delà de {} min", "number"),
    (re.compile(r"^share_within_(\w+)$"), "Part à moins de {} min (%)", "share"),
    (re.compile(r"^share_beyond_(\w+)$"), "Part au-delà de {} min (%)", "share"),
    (re.compile(r"^share_(\w+)$"), "Part {} (%)", "share"),
)
"""Column families named by a threshold (``pop_beyond_20``, ``share_beyond_7_5``)."""

PUBLIC_HEADERS: tuple[tuple[str, str, Kind], ...] = (
    ("population", "{label}", "number"),
    ("pop_unreachable", "{label} : injoignables", "number"),
    ("pop_within_", "{label} : à moins de {t} min", "number"),
    ("pop_beyond_", "{label} : au-delà de {t} min", "number"),
    ("share_beyond_", "{label} : part au-delà de {t} min (%)", "share"),
)
"""Headers of the columns that count a public (an analysis with ``public =``): machine name
(or prefix of a threshold's columns, ending ``_``), template, kind."""

SUFFIXES: dict[str, str] = {"_before": " (avant)", "_after": " (après)"}
"""Before/after columns of a placement (``minutes_mean_after``): the header plus a suffix."""
_PREFIX = re.compile(r"^(?P<analysis>[a-z0-9_]+?)__(?P<rest>.+)$")
_style: contextvars.ContextVar[str | None] = contextvars.ContextVar("csv_style", default=None)


def _threshold(key: str) -> str:
    return key.replace("_", ",")


def column_for(name: str, series: pd.Series | None = None) -> Column:
    """The :class:`Column` of a machine column name (registry, pattern, prefix or dtype).

    An unregistered name keeps its own header; its kind follows its dtype
    (``bool`` -> oui/non, numbers -> decimal comma, anything else as text).
    """
    if name in COLUMNS:
        return COLUMNS[name]
    for suffix, label in SUFFIXES.items():
        if name.endswith(suffix) and name != suffix:
            inner = column_for(name[: -len(suffix)], series)
            if inner.header != name[: -len(suffix)]:
                return Column(inner.header + label, inner.kind)
    for pattern, header, kind in PATTERNS:
        match = pattern.match(name)
        if match:
            return Column(header.format(_threshold(match.group(1))), kind)
    match = _PREFIX.match(name)
    if (match and match.group("rest") in COLUMNS) or (match and _matches_pattern(match["rest"])):
        inner = column_for(match["rest"])
        analysis = match["analysis"].replace("_", " ")
        return Column(f"{inner.header} — {analysis}", inner.kind)
    if series is not None:
        if pd.api.types.is_bool_dtype(series):
            return Column(name, "bool")
        if pd.api.types.is_numeric_dtype(series):
            return Column(name, "number")
    return Column(name, "text")


def threshold_key(minutes: float) -> str:
    """Column suffix of a threshold (``30`` for 30 min, ``7_5`` for 7.5 min).

    The one rule for the threshold columns of every table and layer
    (``beyond_30``, ``share_beyond_7_5``...): the engine writes them with it, the
    maps and the API read them with it.
    """
    return f"{minutes:g}".replace(".", "_")


def public_columns(label: str, names: Iterable[str]) -> dict[str, Column]:
    """French headers naming a public for the columns that count it (:data:`PUBLIC_HEADERS`).

    Parameters
    ----------
    label
        The public's French label (``Personnes de 75 ans ou plus``).
    names
        Machine column names of the table; those that count people get a header.

    Returns
    -------
    dict
        Machine name -> :class:`Column`, for ``write_table(columns=...)``.
    """
    out: dict[str, Column] = {}
    for name in map(str, names):
        for machine, template, kind in PUBLIC_HEADERS:
            if name == machine:
                out[name] = Column(template.format(label=label), kind)
            elif machine.endswith("_") and name.startswith(machine) and name != machine:
                t = _threshold(name[len(machine) :])
                out[name] = Column(template.format(label=label, t=t), kind)
    return out


def _public_machine_name(header: str, label: str) -> str | None:
    """The machine name of a header written by :func:`public_columns`, or None."""
    for machine, template, _ in PUBLIC_HEADERS:
        if not machine.endswith("_"):
            if header == template.format(label=label):
                return machine
            continue
        head, tail = template.format(label=label, t="\0").split("\0")
        middle = header[len(head) : len(header) - len(tail)]
        if header.startswith(head) and header.endswith(tail) and middle and " " not in middle:
            return machine + middle.replace(",", "_")
    return None


def _matches_pattern(name: str) -> bool:
    return any(pattern.match(name) for pattern, _, _ in PATTERNS)


# --- the style ----------------------------------------------------------------------------------


@contextmanager
def use_style(style: str | None) -> Iterator[None]:
    """Write every table in ``style`` inside the block (the ``--csv`` option of a command).

    ``None`` leaves the setting (``COVERAGE_CSV_STYLE``) in charge.

    Raises
    ------
    ValueError
        For a style other than those of :data:`STYLES`.
    """
    token = _style.set(check_style(style) if style is not None else None)
    try:
        yield
    finally:
        _style.reset(token)


def check_style(style: str) -> Style:
    """Return ``style`` if it is one of :data:`STYLES`.

    Raises
    ------
    ValueError
        Otherwise, naming the choices.
    """
    value = str(style).strip().lower()
    if value not in STYLES:
        raise ValueError(f"style de tableau inconnu {style!r} : fr ou machine")
    return value  # type: ignore[return-value]


def current_style(style: str | None = None) -> Style:
    """The style to write: ``style``, else :func:`use_style`'s, else ``COVERAGE_CSV_STYLE``."""
    if style is not None:
        return check_style(style)
    chosen = _style.get()
    return check_style(chosen) if chosen is not None else settings.csv_style()  # type: ignore[return-value]


# --- writing ------------------------------------------------------------------------------------


def french_frame(frame: pd.DataFrame, columns: Mapping[str, Column] | None = None) -> pd.DataFrame:
    """The table as the French style writes it: French headers, percentages, oui/non.

    Numbers stay numbers (the decimal comma is the writer's); text columns
    are left as they are.
    """
    out = {}
    headers = []
    for name in frame.columns:
        series = frame[name]
        spec = (columns or {}).get(name) or column_for(str(name), series)
        if spec.kind == "share":
            series = (pd.to_numeric(series, errors="coerce") * 100).round(2)
        elif spec.kind == "bool":
            series = series.map(_yes_no)
        out[len(headers)] = series
        headers.append(spec.header)
    result = pd.DataFrame(out, index=frame.index)
    result.columns = headers
    return result


def decimal_comma(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with its float columns as text, written with a decimal comma.

    The text is byte for byte what ``to_csv(decimal=",")`` writes (the shortest
    repr of each number, ``.`` replaced by ``,``; empty for NaN), made by numpy's
    vectorised string functions: pandas formats a decimal comma one number at a
    time, two to three times slower on a cost matrix of 200 000 rows.
    """
    out = frame.copy(deep=False)
    for position in range(out.shape[1]):
        series = out.iloc[:, position]
        if not pd.api.types.is_float_dtype(series.dtype) or len(series) == 0:
            continue
        if isinstance(series.dtype, np.dtype):
            values = series.to_numpy()
        else:  # nullable floats: missing values are NaN (written empty, as pandas does)
            values = series.to_numpy(dtype=series.dtype.numpy_dtype, na_value=np.nan)
        text = np.strings.replace(values.astype(str), ".", ",", count=1).astype(object)
        text[np.isnan(values)] = ""
        out.isetitem(position, pd.Series(text, index=out.index, dtype=object))
    return out


def _yes_no(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "oui"):
            return YES
        if low in ("false", "0", "non"):
            return NO
        return value
    return YES if bool(value) else NO


def write_table(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    columns: Mapping[str, Column] | None = None,
    style: str | None = None,
    separator: str | None = None,
) -> Path:
    """Write a table as CSV in the chosen style (French spreadsheet by default).

    Parameters
    ----------
    frame
        The table, with the engine's machine column names.
    path
        The file; written under a staging name and renamed at the end.
    columns
        French header and kind for some columns (overrides :data:`COLUMNS`).
    style
        ``"fr"`` or ``"machine"``; ``None``: :func:`current_style`.
    separator
        French style only: a separator other than ``;`` (the geocoder keeps its
        input's tab or ``|``); ``,`` is replaced by ``;`` (it is the decimal mark).

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    chosen = current_style(style)
    with staged_file(path) as part:
        if chosen == "machine":
            frame.to_csv(part, index=False, encoding="utf-8")
        else:
            sep = ";" if separator in (None, ",") else separator
            decimal_comma(french_frame(frame, columns)).to_csv(
                part, sep=sep, index=False, encoding="utf-8-sig"
            )
    return path


# --- reading back -------------------------------------------------------------------------------


def is_french(path: str | Path | bytes) -> bool:
    """Whether a table (file or its bytes) is in the French style (byte-order mark or ``;``)."""
    if isinstance(path, bytes):
        head = path[:4096]
    else:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    if head.startswith(codecs.BOM_UTF8):
        return True
    first = head.split(b"\n", 1)[0]
    return first.count(b";") > first.count(b",")


def _machine_name(header: str, known: Mapping[str, str]) -> str:
    if header in known:
        return known[header]
    for suffix, label in SUFFIXES.items():
        if header.endswith(label):
            inner = _machine_name(header[: -len(label)], known)
            if inner != header[: -len(label)]:
                return inner + suffix
    for pattern, template, _ in PATTERNS:
        regex = "^" + re.escape(template).replace(r"\{\}", r"(\S+)") + "$"
        match = re.match(regex, header)
        if match:
            prefix = pattern.pattern.split("(")[0].lstrip("^")
            return prefix + match.group(1).replace(",", "_")
    if " — " in header:
        inner, analysis = header.rsplit(" — ", 1)
        name = _machine_name(inner, known)
        if name != inner:
            return f"{analysis.replace(' ', '_')}__{name}"
    return header


def read_written_table(
    path: str | Path | bytes,
    *,
    dtype: Mapping[str, object] | None = None,
    public_label: str | None = None,
) -> pd.DataFrame:
    """Read a table written by :func:`write_table`, in either style, with machine names and values.

    French headers become the machine names, percentages fractions again,
    ``oui``/``non`` booleans; ``dtype`` (by machine name) as in
    :func:`pandas.read_csv` (codes: ``str``); ``public_label``: the label of
    the public the table counts (headers of :func:`public_columns`).
    """
    dtype = dict(dtype or {})
    french = is_french(path)
    if isinstance(path, bytes):
        path = io.BytesIO(path)  # type: ignore[assignment]
    if not french:
        return pd.read_csv(path, dtype=dtype or None)
    known = {spec.header: name for name, spec in COLUMNS.items()}
    headers = pd.read_csv(path, sep=";", encoding="utf-8-sig", nrows=0).columns
    if isinstance(path, io.BytesIO):
        path.seek(0)
    names = {
        h: (public_label is not None and _public_machine_name(h, public_label))
        or _machine_name(h, known)
        for h in headers
    }
    frame = pd.read_csv(
        path,
        sep=";",
        decimal=",",
        encoding="utf-8-sig",
        dtype={h: dtype[n] for h, n in names.items() if n in dtype} or None,
        true_values=[YES],
        false_values=[NO],
    ).rename(columns=names)
    for name in frame.columns:
        if column_for(str(name)).kind == "share" or (
            public_label is not None and str(name).startswith("share_beyond_")
        ):
            frame[name] = pd.to_numeric(frame[name], errors="coerce") / 100
    return frame
