"""Batch geocoding of a table: every row back, in order, with its position, quality and status.

:func:`~coverage.csvio.read_table` reads the CSV files planners export (any
usual encoding and separator, :mod:`coverage.csvio`), keeping blank lines as
rows and, with ``bad_rows="keep"``, rows with too many or too few values (as
empty rows, listed in :attr:`~coverage.csvio.TableInfo.bad_rows`).
:func:`detect_columns` finds the address columns by their usual French and
English names. :func:`geocode_frame` then, row by row:

- a row with too many or too few values is ``rejected``
  (``ligne de 6 champs, l'en-tête en a 4``), its text in ``note``;
- an empty row is ``rejected`` (``ligne vide``);
- a row with coordinates keeps them once checked against the territory
  (:mod:`coverage.geocode.coords`: swapped lat/lon and Lambert-93 repaired with
  a note, far points rejected), quality ``input``, and its commune is found by
  reverse lookup;
- the other rows go through the geocoder chain (``matched`` / ``fallback`` /
  ``rejected`` with the reason);
- duplicate identifiers are kept and noted on every row concerned.

Rows are named by their line in the file as a spreadsheet shows it (the
header is line 1, the first row line 2). The output holds all the input
columns, then ``lon``, ``lat``, ``insee_code``,
``quality``, ``score``, ``backend``, ``status``, ``reason`` and ``note``. An
input column with one of these names is kept as ``<name>_input``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from coverage import tables
from coverage.csvio import FIRST_LINE, TableInfo, read_table
from coverage.errors import DataError
from coverage.geocode.base import QUALITY_LABELS, STATUS_LABELS, AddressQuery, Geocoder
from coverage.geocode.coords import CoordinateValidator

OUTPUT_COLUMNS: tuple[str, ...] = (
    "lon",
    "lat",
    "insee_code",
    "quality",
    "score",
    "backend",
    "status",
    "reason",
    "note",
)

COLUMN_SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("id", "identifiant", "service_id", "id_fs", "code", "ref", "reference", "num_finess"),
    "address": (
        "address",
        "adresse",
        "adresse_complete",
        "adresse1",
        "adresse_1",
        "libelle_adresse",
        "adr",
        "ligne_adresse",
        "full_address",
        "q",
    ),
    "housenumber": ("housenumber", "numero", "num", "no", "ndeg", "numero_voie", "num_voie"),
    "street": ("street", "voie", "rue", "nom_voie", "libelle_voie", "lib_voie"),
    "postcode": ("postcode", "code_postal", "cp", "codepostal", "code_post", "zip", "cpostal"),
    "city": (
        "city",
        "commune",
        "ville",
        "nom_commune",
        "lib_com",
        "libelle_commune",
        "nom_comm",
        "localite",
    ),
    "insee_code": (
        "insee_code",
        "code_insee",
        "insee",
        "insee_com",
        "citycode",
        "codgeo",
        "code_commune",
        "depcom",
        "com",
    ),
    "lon": ("lon", "longitude", "lng", "long", "x", "coord_x"),
    "lat": ("lat", "latitude", "y", "coord_y"),
}
"""Engine field -> column names recognised without a mapping (case, accents, spaces ignored)."""


@dataclass(frozen=True)
class ColumnMap:
    """Which input column holds each part of the address (``""`` when absent).

    ``address`` is a full or street-part text; ``housenumber`` and ``street``
    are joined in front of it when given separately.
    """

    id: str = ""
    address: str = ""
    housenumber: str = ""
    street: str = ""
    postcode: str = ""
    city: str = ""
    insee_code: str = ""
    lon: str = ""
    lat: str = ""

    def used(self) -> dict[str, str]:
        """The mapped fields only."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


@dataclass
class BatchResult:
    """A geocoded table and its summary.

    Attributes
    ----------
    frame
        Input columns + :data:`OUTPUT_COLUMNS`, same rows in the same order.
    columns
        The column mapping used.
    by_status, by_quality
        Counts.
    """

    frame: pd.DataFrame
    columns: ColumnMap
    by_status: dict[str, int] = field(default_factory=dict)
    by_quality: dict[str, int] = field(default_factory=dict)

    @property
    def located(self) -> int:
        """How many rows were given a position (``matched`` or ``fallback``)."""
        return self.by_status.get("matched", 0) + self.by_status.get("fallback", 0)

    def summary_lines(self) -> list[str]:
        """French summary lines (counts by status, then by quality)."""
        total = len(self.frame)
        lines = [f"{total} lignes"]
        for status in ("matched", "fallback", "rejected"):
            lines.append(f"  {STATUS_LABELS[status]:<14} {self.by_status.get(status, 0):>7}")
        lines.append("Précision :")
        for quality in ("input", "housenumber", "street", "locality", "municipality", ""):
            count = self.by_quality.get(quality, 0)
            if count or quality in ("housenumber", "municipality", ""):
                lines.append(f"  {QUALITY_LABELS[quality]:<22} {count:>7}")
        return lines


def _blank(row: pd.Series) -> bool:
    return all(not str(v).strip() for v in row.to_numpy())


def _key(name: str) -> str:
    from coverage.geocode.normalize import normalise_text

    return normalise_text(name).replace(" ", "_")


def detect_columns(
    columns: Sequence[str], *, path: str | Path | None = None, **given: str
) -> ColumnMap:
    """Choose the address columns: the ones given, else the recognised names.

    Parameters
    ----------
    columns
        The table's column names.
    path
        The table's file, named in the errors.
    **given
        Forced mapping (``address="Adresse postale"``); ``""`` leaves a field to detection.

    Returns
    -------
    ColumnMap

    Raises
    ------
    DataError
        If a given column is not in the table, or no address, commune,
        postcode, INSEE code or coordinate column can be found.
    """
    available = list(columns)
    by_key = {_key(c): c for c in available}
    chosen: dict[str, str] = {}
    for name in (f.name for f in fields(ColumnMap)):
        forced = given.get(name) or ""
        if forced:
            if forced not in available:
                raise DataError(
                    f"colonne absente du tableau (donnée pour {name}) ; colonnes du fichier : "
                    f"{', '.join(available)}",
                    path=path,
                    field=forced,
                )
            chosen[name] = forced
            continue
        for synonym in COLUMN_SYNONYMS[name]:
            column = by_key.get(synonym)
            if column and column not in chosen.values():
                chosen[name] = column
                break
    mapping = ColumnMap(**chosen)
    if not any(
        (mapping.address, mapping.street, mapping.city, mapping.postcode, mapping.insee_code)
    ) and not (mapping.lon and mapping.lat):
        raise DataError(
            "aucune colonne d'adresse (cherché : adresse, voie, commune, code_postal, "
            f"code_insee, lon/lat) ; colonnes du fichier : {', '.join(available)} ; "
            "nommez-les avec --address, --city, --postcode, --insee",
            path=path,
        )
    return mapping


def queries_from_frame(
    frame: pd.DataFrame,
    columns: ColumnMap,
    *,
    first_line: int = FIRST_LINE,
    lines: Sequence[int] | None = None,
) -> list[AddressQuery]:
    """One :class:`AddressQuery` per row; its ``row_id`` is the row's line in the file.

    ``lines`` gives each row's line (:attr:`~coverage.csvio.TableInfo.lines`);
    without it row ``i`` is line ``i + first_line``.
    """

    def col(name: str) -> list[str]:
        column = getattr(columns, name)
        if not column:
            return [""] * len(frame)
        return [str(v).strip() for v in frame[column].to_numpy()]

    number, street, address = col("housenumber"), col("street"), col("address")
    postcode, city, insee = col("postcode"), col("city"), col("insee_code")
    queries = []
    for i in range(len(frame)):
        text = " ".join(part for part in (number[i], street[i], address[i]) if part)
        queries.append(
            AddressQuery(
                text=text,
                insee_code=insee[i],
                postcode=postcode[i],
                city=city[i],
                row_id=str(lines[i] if lines is not None else i + first_line),
            )
        )
    return queries


def geocode_frame(
    frame: pd.DataFrame,
    geocoder: Geocoder,
    *,
    columns: ColumnMap | None = None,
    validator: CoordinateValidator | None = None,
    progress: Callable[[int], None] | None = None,
    first_line: int = FIRST_LINE,
    table: TableInfo | None = None,
) -> BatchResult:
    """Geocode every row of a table.

    Parameters
    ----------
    frame
        The table (cells as text, as :func:`read_table` gives them).
    geocoder
        A backend or a :class:`~coverage.geocode.chain.GeocoderChain`.
    columns
        Column mapping; detected when ``None``.
    validator
        Checks the coordinates of rows that have some; without it, such rows
        are geocoded like the others.
    progress
        Called with the number of rows just finished.
    first_line
        File line of the first row, for notes (a CSV's header is line 1).
    table
        How :func:`read_table` read the frame: each row's line (for notes) and
        the rows with too many or too few values, rejected with their reason.

    Returns
    -------
    BatchResult
        Same rows, same order; nothing dropped.
    """
    columns = columns or detect_columns(list(frame.columns))
    n = len(frame)
    lines = [table.line(i) if table is not None else i + first_line for i in range(n)]
    queries = queries_from_frame(frame, columns, lines=lines)
    malformed = {bad.position: bad for bad in (table.bad_rows if table is not None else ())}
    lon = [math.nan] * n
    lat = [math.nan] * n
    code = [""] * n
    quality = [""] * n
    score: list[float] = [math.nan] * n
    backend = [""] * n
    status = ["rejected"] * n
    reason = [""] * n
    notes: list[list[str]] = [[] for _ in range(n)]

    empty = [i in malformed or _blank(frame.iloc[i]) for i in range(n)]
    to_geocode: list[int] = []
    checks: dict[int, Any] = {}
    if validator is not None and columns.lon and columns.lat:
        given = [
            i
            for i in range(n)
            if not empty[i]
            and (str(frame[columns.lon].iat[i]).strip() or str(frame[columns.lat].iat[i]).strip())
        ]
        results = validator.check_many(
            [frame[columns.lon].iat[i] for i in given], [frame[columns.lat].iat[i] for i in given]
        )
        checks = dict(zip(given, results, strict=True))
    for i in range(n):
        if i in malformed:
            reason[i] = malformed[i].reason
            notes[i].append(f"contenu de la ligne : {malformed[i].text}")
            continue
        if empty[i]:
            reason[i] = "ligne vide"
            continue
        check = checks.get(i)
        if check is not None and check.usable:
            lon[i], lat[i] = check.lon, check.lat
            quality[i], score[i], backend[i], status[i] = "input", 1.0, "input", "matched"
            if check.note:
                notes[i].append(check.note)
            continue
        if check is not None and check.note:
            notes[i].append(check.note)
        to_geocode.append(i)
    if progress is not None:
        progress(n - len(to_geocode))

    if to_geocode:
        answers = geocoder.geocode_many([queries[i] for i in to_geocode], progress=progress)
        for i, answer in zip(to_geocode, answers, strict=True):
            lon[i], lat[i] = answer.lon, answer.lat
            code[i], quality[i], backend[i] = answer.insee_code, answer.quality, answer.backend
            score[i] = answer.score if answer.found else math.nan
            status[i], reason[i] = answer.status, answer.reason
            if checks.get(i) is not None and checks[i].status == "rejected" and answer.found:
                status[i] = "fallback"

    for i in range(n):
        if status[i] != "rejected" and not code[i]:
            code[i] = geocoder.reverse(lon[i], lat[i])  # given coordinates: their commune
    _note_duplicates(frame, columns, empty, notes, lines)
    _note_commune_mismatch(queries, code, status, quality, notes)

    out = frame.copy()
    out = out.rename(columns={c: f"{c}_input" for c in OUTPUT_COLUMNS if c in out.columns})
    out["lon"] = [round(v, 7) if math.isfinite(v) else math.nan for v in lon]
    out["lat"] = [round(v, 7) if math.isfinite(v) else math.nan for v in lat]
    out["insee_code"] = code
    out["quality"] = quality
    out["score"] = score
    out["backend"] = backend
    out["status"] = status
    out["reason"] = reason
    out["note"] = ["; ".join(n_) for n_ in notes]
    return BatchResult(
        frame=out,
        columns=columns,
        by_status=dict(Counter(status)),
        by_quality=dict(
            Counter(q if s != "rejected" else "" for q, s in zip(quality, status, strict=True))
        ),
    )


def _note_duplicates(
    frame: pd.DataFrame,
    columns: ColumnMap,
    empty: list[bool],
    notes: list[list[str]],
    lines: Sequence[int],
) -> None:
    if not columns.id:
        return
    ids = [str(v).strip() for v in frame[columns.id].to_numpy()]
    positions: dict[str, list[int]] = {}
    for i, value in enumerate(ids):
        if empty[i]:
            continue
        if not value:
            notes[i].append("identifiant vide")
            continue
        positions.setdefault(value, []).append(i)
    for value, rows in positions.items():
        if len(rows) > 1:
            where = ", ".join(str(lines[r]) for r in rows)
            for r in rows:
                notes[r].append(f"identifiant « {value} » en double (lignes {where})")


def _note_commune_mismatch(
    queries: list[AddressQuery],
    code: list[str],
    status: list[str],
    quality: list[str],
    notes: list[list[str]],
) -> None:
    """Given coordinates that fall in another commune than the given INSEE code."""
    from coverage.geocode.communes import clean_insee_code

    for i, query in enumerate(queries):
        given = clean_insee_code(query.insee_code)
        if quality[i] == "input" and given and code[i] and given != code[i]:
            notes[i].append(f"le point est dans la commune {code[i]}, pas {given}")


def write_table(frame: pd.DataFrame, path: str | Path, *, separator: str = ",") -> Path:
    """Write a geocoded table as CSV (UTF-8 with BOM, so that spreadsheets read the accents).

    The file is written under a staging name and renamed at the end
    (:func:`coverage._outdir.staged_file`): an interrupted write never
    leaves a partial table under ``path``.

    Raises
    ------
    coverage.errors.OutputError
        The file cannot be written, naming it.
    """
    # the input's columns and the documented OUTPUT_COLUMNS keep their names (the file
    # is read again as a service list); French style: ";", decimal comma, BOM
    keep = {str(c): tables.Column(str(c), tables.column_for(str(c), frame[c]).kind) for c in frame}
    return tables.write_table(frame, path, columns=keep, separator=separator)


def geocode_file(
    input_path: str | Path,
    output_path: str | Path | None,
    geocoder: Geocoder,
    *,
    validator: CoordinateValidator | None = None,
    encoding: str | None = None,
    separator: str | None = None,
    progress: Callable[[int], None] | None = None,
    **columns: str,
) -> tuple[BatchResult, TableInfo]:
    """Read a CSV, geocode every row, write the result next to it (same separator).

    Every row comes back: one with too many or too few values is rejected with
    its reason (:attr:`~coverage.csvio.BadRow.reason`).

    Parameters
    ----------
    input_path, output_path
        Input CSV and output CSV (``None``: not written).
    geocoder
        Backend or chain.
    validator
        Coordinate checks for rows that carry coordinates.
    encoding, separator
        Forced reading options.
    progress
        Progress callback.
    **columns
        Forced column mapping (``address="Adresse"``...).

    Returns
    -------
    tuple of (BatchResult, TableInfo)
    """
    frame, info = read_table(input_path, encoding=encoding, separator=separator, bad_rows="keep")
    mapping = detect_columns(list(frame.columns), path=info.path, **columns)
    result = geocode_frame(
        frame, geocoder, columns=mapping, validator=validator, progress=progress, table=info
    )
    if output_path is not None:
        write_table(result.frame, output_path, separator=info.separator)
    return result, info
