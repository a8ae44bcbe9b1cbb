"""Domain errors raised by the engine, each with a message that says how to fix the problem."""

from __future__ import annotations

from pathlib import Path


class CoverageError(Exception):
    """Base class of every error the engine raises on purpose."""


class DataError(CoverageError, ValueError):
    """Input data that cannot be used as it is.

    The message names the file, the row and the field when they are known, in
    French like every message a person reads: ``fichier communes.csv, ligne 12,
    champ « population » : ...``; :attr:`detail` is the message without that prefix.

    Parameters
    ----------
    message
        What is wrong and, where possible, how to fix it.
    path
        The file the problem was found in.
    row
        Row identifier (an INSEE code, a line number) of the faulty record.
    field
        Column or field name.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        row: object | None = None,
        field: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.row = row
        self.field = field
        where = []
        if path is not None:
            where.append(f"fichier {self.path}")
        if row is not None:
            where.append(f"ligne {row}")
        if field is not None:
            where.append(f"champ « {field} »")
        self.detail = message
        full = f"{', '.join(where)} : {message}" if where else message
        super().__init__(full)


class ConfigError(CoverageError, ValueError):
    """A territory, scenario or profile file that is malformed or incomplete."""


class TerritoryNotFoundError(CoverageError, LookupError):
    """No territory description or bundle could be found for a name."""


class OfflineError(CoverageError, ConnectionError):
    """A download was needed but the official source could not be reached."""


class NetworkError(CoverageError, ValueError):
    """A road network that cannot be built or queried (empty, corrupt, no drivable ways)."""


class QueryError(CoverageError, ValueError):
    """Invalid arguments to a routing or analysis query (negative limit, NaN coordinates...)."""


class OutputError(CoverageError, OSError):
    """An output file that cannot be written (read-only folder, disk full...), naming the file."""


class OutputExistsError(CoverageError, FileExistsError):
    """An output folder (run result, placement study, itinerary plan) exists and overwriting
    was not asked for."""
