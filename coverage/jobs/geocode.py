"""The ``coverage geocode`` job: a CSV of addresses in, the same rows located out.

:func:`geocode_addresses` reads the table (the user-input CSV policy, rows with
too many or too few values kept and rejected with their reason), detects or
takes the columns, geocodes every row through the chain of backends, and
writes the same rows, in order, with their position, precision and status
(UTF-8 with BOM, the input's separator; written whole or not at all). The CLI
and the API call it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coverage.csvio import TableInfo, read_table
from coverage.errors import DataError
from coverage.geocode.batch import (
    BatchResult,
    ColumnMap,
    detect_columns,
    geocode_frame,
    write_table,
)
from coverage.geocode.chain import make_geocoder
from coverage.geocode.coords import CoordinateValidator
from coverage.layers.territory import Territory, load_territory
from coverage.progress import Progress, counter, silent

GEOCODE_STEP = "Géocodage"
"""The progress step label while rows are geocoded (counted with ``done``/``total``)."""


@dataclass(eq=False)
class GeocodeReport:
    """What a geocoding job did.

    Attributes
    ----------
    result
        Every input row with its position and status (:class:`BatchResult`).
    table
        How the input was read (encoding, separator, rows).
    columns
        The columns used (detected or given).
    backends
        The backends tried, in order.
    output
        The written file (``None`` when not written).
    warnings
        Warnings raised while loading the territory (French text).
    """

    result: BatchResult
    table: TableInfo
    columns: ColumnMap
    backends: list[str]
    output: Path | None
    warnings: list[str] = field(default_factory=list)


def default_output(input_file: str | Path) -> Path:
    """``<input>.geocode.csv`` beside the input."""
    path = Path(input_file)
    return path.with_name(f"{path.stem}.geocode.csv")


def geocode_addresses(
    input_file: str | Path,
    *,
    territory: str | Territory = "gers",
    data_dir: str | Path | None = None,
    output: str | Path | None = None,
    write: bool = True,
    backends: str | Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
    separator: str | None = None,
    max_distance_km: float = 40.0,
    ban_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> GeocodeReport:
    """Geocode every row of a CSV of addresses (see the module docstring).

    Parameters
    ----------
    input_file
        The CSV (UTF-8, UTF-8 with BOM or Latin-1; separator detected).
    territory, data_dir
        The territory (name or loaded) and its data bundle.
    output, write
        The output CSV (default :func:`default_output`); ``write=False`` writes nothing.
    backends
        Backends in fallback order (``local``, ``ban``, ``commune``; default local, commune).
    columns
        Forced column mapping (``{"address": "Adresse", "city": "Ville"}``).
    encoding, separator
        Forced reading options (default: detected).
    max_distance_km
        Given coordinates farther than this from the territory are rejected.
    ban_options
        Options of the BAN backend (``base_url``, ``rate_limit_per_s``, ``use_cache``).
    progress
        Called with :data:`GEOCODE_STEP` and ``done``/``total`` rows.

    Raises
    ------
    coverage.errors.DataError
        An unreadable table, a table with no row, no address column or a
        forced column the table does not have, naming the file.
    coverage.errors.QueryError
        An unknown backend.
    coverage.errors.OutputError
        The output cannot be written.
    """
    say = progress or silent
    caught_text: list[str] = []
    if isinstance(territory, str):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            territory = load_territory(territory, data_dir=data_dir)
        caught_text = [str(w.message) for w in caught]
    frame, info = read_table(input_file, encoding=encoding, separator=separator, bad_rows="keep")
    mapping = detect_columns(list(frame.columns), path=info.path, **dict(columns or {}))
    if not len(frame):
        raise DataError("aucune ligne à géocoder : le fichier n'a que l'en-tête", path=info.path)
    chain = make_geocoder(territory, backends, ban_options=dict(ban_options or {}))
    validator = CoordinateValidator.from_territory(territory, max_distance_m=max_distance_km * 1000)
    say(GEOCODE_STEP, done=0, total=len(frame))
    advance = counter(say, GEOCODE_STEP, len(frame))
    result = geocode_frame(
        frame, chain, columns=mapping, validator=validator, progress=advance, table=info
    )
    target: Path | None = None
    if write:
        target = Path(output) if output is not None else default_output(input_file)
        write_table(result.frame, target, separator=info.separator)
    return GeocodeReport(
        result=result,
        table=info,
        columns=mapping,
        backends=list(chain.names),
        output=target,
        warnings=caught_text,
    )
