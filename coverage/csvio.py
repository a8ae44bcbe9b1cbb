"""Read the CSV tables people give the engine: any usual encoding and separator, values as text.

One policy for every table a user hands over (addresses to geocode, service
lists, placement candidates and zones, address files):

- **bytes**: a gzip file (``.csv.gz``) is opened; a byte-order mark gives the
  encoding (UTF-8, UTF-16 LE or BE); UTF-16 without a mark is recognised by
  its NUL bytes; otherwise UTF-8, then cp1252 (a spreadsheet's "CSV" on
  Windows), then Latin-1 are tried. :attr:`TableInfo.encoding` says which.
- **separator**: a spreadsheet's ``sep=;`` first line, else sniffed among
  ``;`` ``,`` tab and ``|``.
- **header**: the first line names the columns; a blank first line, a header
  made only of numbers, an unnamed or repeated column are errors.
- **rows**: every value as text (``""`` when empty). A row with more values
  than the header is an error naming its line (values would otherwise land in
  the wrong columns), unless the extra values are all empty (trailing
  separators); a shorter row is completed with empty values. Blank lines are
  kept as empty rows, or skipped on request.
- **malformed rows kept** (``bad_rows="keep"``, for the batch commands that
  return every row with a status: geocoding, service-list import): a row with
  too many values, or too few (and not blank), is kept in its place as a row
  of empty values and listed in :attr:`TableInfo.bad_rows` with its line, its
  number of values and its text, so that the caller rejects it with
  :attr:`BadRow.reason` (``ligne de 6 champs, l'en-tête en a 4``); no value
  ever lands in another column.
- **numbers**: :func:`parse_number` reads ``43,65``, ``43.65`` and
  ``1 234,5``; a bad value is an error naming the field and the line.

Lines are counted as a spreadsheet shows them: the header is line 1, the first
row line 2 (:data:`FIRST_LINE`). Every error is a
:class:`~coverage.errors.DataError` naming the file and, when known, the line.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from coverage.errors import DataError

FIRST_LINE = 2
"""Line of a CSV file that holds its first row (the header is line 1), as a spreadsheet shows it."""

SEPARATORS: tuple[str, ...] = (";", ",", "\t", "|")
"""Separators recognised without being told."""

FALLBACK_ENCODINGS: tuple[str, ...] = ("utf-8", "cp1252", "latin-1")
"""Encodings tried in order when the file has no byte-order mark."""

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SEP_LINE = re.compile(r"^\ufeff?sep=(.)\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_SPACES = str.maketrans("", "", " \u00a0\u202f\t")
_SEPARATOR_NAMES = {";": "« ; »", ",": "« , »", "\t": "tabulation", "|": "« | »"}


BadRows = Literal["error", "keep"]
"""What :func:`read_table` does with a row whose number of values is not the header's."""


@dataclass(frozen=True)
class BadRow:
    """A row whose number of values is not the header's (kept by ``bad_rows="keep"``).

    Attributes
    ----------
    position
        Its row in the table (0-based), which holds empty values.
    line
        Its line in the file, as a spreadsheet shows it (header = line 1).
    fields
        How many values it has.
    width
        How many columns the header names.
    text
        Its values as read, joined by the file's separator (to repair it).
    """

    position: int
    line: int
    fields: int
    width: int
    text: str

    @property
    def reason(self) -> str:
        """Why the row is rejected, in French (``ligne de 6 champs, l'en-tête en a 4``)."""
        return f"ligne de {_fields(self.fields)}, l'en-tête en a {self.width}"


def _fields(count: int) -> str:
    return f"{count} champ" if count == 1 else f"{count} champs"


@dataclass(frozen=True)
class TableInfo:
    """How a table file was read.

    Attributes
    ----------
    path
        The file.
    encoding
        Encoding used: ``utf-8``, ``utf-8-sig`` (UTF-8 with BOM), ``utf-16-le``,
        ``utf-16-be``, ``cp1252``, ``latin-1`` or the one forced.
    separator
        Field separator used.
    rows
        Number of rows (header excluded).
    lines
        File line of each row (header = line 1), in row order.
    bad_rows
        Rows with too many or too few values, kept as empty rows
        (``bad_rows="keep"`` only; empty otherwise).
    """

    path: Path
    encoding: str
    separator: str
    rows: int
    lines: tuple[int, ...] = ()
    bad_rows: tuple[BadRow, ...] = ()

    def line(self, position: int) -> int:
        """File line of the row at ``position`` (0-based) as a spreadsheet shows it."""
        if 0 <= position < len(self.lines):
            return self.lines[position]
        return position + FIRST_LINE


def read_table(
    path: str | Path,
    *,
    encoding: str | None = None,
    separator: str | None = None,
    skip_blank_lines: bool = False,
    bad_rows: BadRows = "error",
) -> tuple[pd.DataFrame, TableInfo]:
    """Read a CSV table whatever its encoding and separator, every value as text.

    Parameters
    ----------
    path
        CSV file, possibly gzip-compressed.
    encoding
        Forced encoding; otherwise the byte-order mark, else UTF-8, cp1252 and
        Latin-1 in turn.
    separator
        Forced separator; otherwise a ``sep=`` first line, else sniffed among
        :data:`SEPARATORS`.
    skip_blank_lines
        Leave blank lines (and lines of separators only) out; by default they
        are kept as rows of empty values, so that row ``i`` is line ``i + 2``.
    bad_rows
        ``"error"`` (default): a row with more values than the header is an
        error, a shorter one is completed with empty values. ``"keep"``: both
        are kept in place as rows of empty values and listed in
        :attr:`TableInfo.bad_rows`, for callers that reject them row by row.

    Returns
    -------
    tuple of (pandas.DataFrame, TableInfo)
        Column names stripped of spaces; every value a ``str`` (``""`` when
        empty); :attr:`TableInfo.lines` gives each row's file line.

    Raises
    ------
    DataError
        Missing or unreadable file, empty file, no usable header, a row with
        more values than the header (``bad_rows="error"``), naming the file
        and the line.
    """
    if bad_rows not in ("error", "keep"):
        raise ValueError(f"bad_rows doit valoir 'error' ou 'keep', pas {bad_rows!r}")
    path = Path(path)
    if not path.is_file():
        raise DataError("fichier introuvable", path=path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"lecture impossible : {exc.strerror or exc}", path=path) from None
    raw = _gunzip(raw, path)
    text, used = decode_text(raw, encoding=encoding, path=path)
    if not text.strip("\ufeff \t\r\n"):
        raise DataError("le fichier est vide", path=path)
    first_line = 1
    head, _, rest = text.partition("\n")
    hint = _SEP_LINE.match(head.rstrip("\r"))
    if hint:
        text, first_line = rest, 2
    sep = separator or (hint.group(1) if hint else sniff_separator(text))
    header, rows, lines, bad = _parse(text, sep, path, first_line, skip_blank_lines, bad_rows)
    frame = pd.DataFrame(rows, columns=header, dtype=str) if rows else _empty(header)
    return frame, TableInfo(path, used, sep, len(frame), tuple(lines), tuple(bad))


def decode_text(
    raw: bytes, *, encoding: str | None = None, path: str | Path | None = None
) -> tuple[str, str]:
    """Decode a text file's bytes; return the text and the encoding used.

    Raises
    ------
    DataError
        When the forced encoding, or the one the byte-order mark announces,
        does not fit the bytes (naming the line), or for binary content.
    """
    if encoding:
        try:
            return raw.decode(encoding).removeprefix("\ufeff"), encoding
        except LookupError:
            raise DataError(f"encodage inconnu : {encoding}", path=path) from None
        except UnicodeDecodeError as exc:
            raise _decode_error(raw, exc, encoding, path) from None
    for bom, name in _BOMS:
        if raw.startswith(bom):
            try:
                return raw[len(bom) :].decode(name.removesuffix("-sig")), name
            except UnicodeDecodeError as exc:
                raise _decode_error(raw, exc, name, path) from None
    if b"\x00" in raw[:4096]:
        name = _utf16_without_bom(raw[:4096])
        if name:
            try:
                return raw.decode(name), name
            except UnicodeDecodeError:
                pass
        raise DataError(
            "le fichier contient des octets nuls : ce n'est pas un tableau CSV "
            "(un classeur .xlsx ? enregistrez-le au format CSV)",
            path=path,
        )
    for candidate in FALLBACK_ENCODINGS:
        try:
            return raw.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    raise DataError("fichier illisible", path=path)  # pragma: no cover - latin-1 never fails


def sniff_separator(text: str) -> str:
    """The separator of a CSV text among :data:`SEPARATORS` (``,`` when none is found)."""
    lines = text.splitlines()
    sample = "\n".join(lines[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(SEPARATORS)).delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        counts = {sep: header.count(sep) for sep in SEPARATORS}
        best = max(counts, key=counts.__getitem__)
        return best if counts[best] else ","


def to_number(value: object) -> float | None:
    """A finite number written with a decimal point or comma; ``None`` if empty or not one.

    ``"43,65"`` and ``"43.65"`` give 43.65, ``"1 234,5"`` 1234.5 (spaces and
    non-breaking spaces between digits are ignored). ``"1.234,5"``, ``"inf"``,
    ``"nan"`` and words are not numbers.
    """
    if value is None:
        return None
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    text = str(value).translate(_SPACES)
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    if not _NUMBER.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def parse_number(
    value: object,
    *,
    field: str,
    line: int | None = None,
    path: str | Path | None = None,
) -> float | None:
    """Read a numeric field (decimal comma accepted); ``None`` when the field is empty.

    Raises
    ------
    DataError
        When the value is not a number, naming the file, the line and the field.
    """
    if value is None or not str(value).strip():
        return None
    number = to_number(value)
    if number is None:
        raise DataError(
            f"« {str(value).strip()} » n'est pas un nombre (écrire par exemple 43,65 ou 43.65)",
            path=path,
            row=line,
            field=field,
        )
    return number


def number_column(
    values: Sequence[object] | pd.Series,
    *,
    field: str,
    info: TableInfo | None = None,
    path: str | Path | None = None,
) -> np.ndarray:
    """A numeric column as floats (NaN where empty), decimal comma accepted.

    Raises
    ------
    DataError
        At the first value that is not a number, naming its line (from
        ``info``) and the field.
    """
    cells = values.tolist() if isinstance(values, pd.Series) else list(values)
    where = path if path is not None else (info.path if info is not None else None)
    out = np.full(len(cells), np.nan)
    for position, cell in enumerate(cells):
        line = info.line(position) if info is not None else position + FIRST_LINE
        number = parse_number(cell, field=field, line=line, path=where)
        if number is not None:
            out[position] = number
    return out


# --- inside the reader ----------------------------------------------------------------------


def _gunzip(raw: bytes, path: Path) -> bytes:
    if not raw.startswith(b"\x1f\x8b"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"archive gzip incomplète ou abîmée ({exc})", path=path) from None


def _utf16_without_bom(head: bytes) -> str:
    """``utf-16-le``/``utf-16-be`` when NUL bytes sit on one side of the pairs, else ``""``."""
    even = head[0::2].count(0)
    odd = head[1::2].count(0)
    pairs = max(len(head) // 2, 1)
    if odd > 0.3 * pairs and even < 0.05 * pairs:
        return "utf-16-le"
    if even > 0.3 * pairs and odd < 0.05 * pairs:
        return "utf-16-be"
    return ""


def _decode_error(
    raw: bytes, exc: UnicodeDecodeError, encoding: str, path: str | Path | None
) -> DataError:
    line = raw[: exc.start].count(b"\n") + 1
    return DataError(
        f"octets invalides en {encoding} ({exc.reason}) ; enregistrez le "
        "fichier en UTF-8, ou donnez son encodage",
        path=path,
        row=line,
    )


def _parse(
    text: str, sep: str, path: Path, first_line: int, skip_blank_lines: bool, bad_rows: BadRows
) -> tuple[list[str], list[list[str]], list[int], list[BadRow]]:
    """Header, rows, each row's file line and the malformed rows; every check that names a line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    offset = first_line - 1
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    bad: list[BadRow] = []
    end = 0
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            line = start + offset
            if header is None:
                header = _header(record, line, path, sep)
                width = len(header)
                continue
            blank = not any(cell.strip() for cell in record)
            if skip_blank_lines and blank:
                continue
            over = len(record) > width and any(cell.strip() for cell in record[width:])
            if over and bad_rows == "error":
                raise DataError(
                    f"{len(record)} valeurs pour {width} colonnes : la ligne a plus de "
                    f"valeurs que l'en-tête (un {_SEPARATOR_NAMES.get(sep, repr(sep))} "
                    "dans une valeur sans guillemets ?)",
                    path=path,
                    row=line,
                )
            if over or (bad_rows == "keep" and len(record) < width and not blank):
                bad.append(BadRow(len(rows), line, len(record), width, sep.join(record)))
                record = [""] * width
            elif len(record) > width:
                record = record[:width]  # trailing separators: only empty values dropped
            elif len(record) < width:
                record = record + [""] * (width - len(record))
            rows.append(record)
            lines.append(line)
    except csv.Error as exc:
        line = end + 1 + offset  # where the faulty record starts
        if "end of data" in str(exc):
            why = "un guillemet ouvert ici n'est jamais fermé"
        elif "expected after" in str(exc):
            why = "une valeur entre guillemets est suivie d'autres caractères"
        else:
            why = f"tableau CSV illisible ({exc})"
        raise DataError(why, path=path, row=line) from None
    if header is None:
        raise DataError("le fichier est vide", path=path)
    return header, rows, lines, bad


def _header(record: list[str], line: int, path: Path, sep: str) -> list[str]:
    names = [cell.strip().removeprefix("\ufeff").strip() for cell in record]
    while names and not names[-1]:
        names.pop()  # trailing separators
    if not names:
        raise DataError(
            f"la ligne {line} est vide : la première ligne doit donner les noms des colonnes",
            path=path,
            row=line,
        )
    if all(to_number(name) is not None for name in names):
        raise DataError(
            f"la première ligne ({', '.join(names[:4])}{'…' if len(names) > 4 else ''}) ne "
            "contient que des nombres : elle doit donner les noms des colonnes (en-tête)",
            path=path,
            row=line,
        )
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            raise DataError(
                f"la colonne {position} de l'en-tête n'a pas de nom "
                f"(séparateur {_SEPARATOR_NAMES.get(sep, repr(sep))})",
                path=path,
                row=line,
            )
        if name in seen:
            raise DataError(
                f"la colonne « {name} » apparaît deux fois dans l'en-tête "
                f"(colonnes {seen[name]} et {position})",
                path=path,
                row=line,
                field=name,
            )
        seen[name] = position
    return names


def _empty(header: list[str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=str) for name in header})
