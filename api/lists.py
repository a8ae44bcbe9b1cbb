"""Service lists a server adds to a territory's catalogue: imported over HTTP or given at start-up.

A list is a catalogue file (the format ``coverage services import`` writes, with a
``kind`` column) known by a name matching ``^[a-z0-9_-]{1,40}$``:

- imported with ``POST /services/{territory}/lists/{name}``: the upload is read,
  checked and geocoded by :func:`coverage.jobs.services.import_services`, and
  kept as ``<state>/services/<territory>/<name>.gpkg`` beside ``<name>.json``
  (what was imported: kinds, counts, rejected rows, when); it survives a restart;
- given at start-up (``coverage serve --services FILE``,
  ``COVERAGE_API_SERVICES_FILES``): named by the file's stem and loaded into
  every served territory; it cannot be replaced over HTTP.

The served catalogue of a territory (``/territories/{t}/services``, ``/coverage``)
holds every list; a job (scenario run, placement, itinerary) uses the lists it
names. Names and territories are checked before they become parts of a path
(the territory is a loaded one, the name matches the pattern).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from api.schemas import LIST_NAME_PATTERN
from coverage.errors import ConfigError, CoverageError, DataError
from coverage.geocode.catalogue import load_catalogue
from coverage.layers.services import ServiceCatalogue

log = logging.getLogger("api.lists")
LIST_SUFFIX = ".gpkg"
MAX_REJECTED_SHOWN = 100
"""Rejected rows an import answer lists (all are counted)."""
_NAME = re.compile(LIST_NAME_PATTERN)


@dataclass(frozen=True)
class ServiceList:
    """One list of services served beside a territory's catalogue.

    Attributes
    ----------
    name, territory
        Its name and the territory it was imported for.
    path
        The catalogue file (absolute; never shown by the API).
    origin
        ``import`` (posted) or ``startup`` (given on the server's command line).
    kinds
        Located services by kind.
    in_territory, rejected
        Services inside the territory, rows that could not be placed.
    created_at
        When it was imported (or the file's modification time).
    source
        The file name it came from.
    rejected_rows
        The first rejected rows (``line``, ``name``, ``reason``).
    """

    name: str
    territory: str
    path: Path
    origin: Literal["import", "startup"]
    kinds: dict[str, int]
    in_territory: int
    rejected: int
    created_at: datetime
    source: str
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def services(self) -> int:
        """Located services."""
        return sum(self.kinds.values())

    def describe(self, *, rejected_rows: bool = False) -> dict[str, Any]:
        """The list as the API shows it (no server path)."""
        kinds = "&".join(f"kind={k}" for k in sorted(self.kinds))
        out: dict[str, Any] = {
            "name": self.name,
            "territory": self.territory,
            "origin": self.origin,
            "kinds": dict(sorted(self.kinds.items())),
            "services": self.services,
            "in_territory": self.in_territory,
            "rejected": self.rejected,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "source": self.source,
            "links": {
                "services": f"/territories/{self.territory}/services?{kinds}",
                "coverage": f"/territories/{self.territory}/coverage?{kinds}",
            },
        }
        if rejected_rows:
            out["rejected_rows"] = list(self.rejected_rows)
        return out


def check_name(name: str, *, field: str = "name") -> str:
    """A list name, checked (it becomes a file name).

    Raises
    ------
    coverage.errors.DataError
        If it does not match ``^[a-z0-9_-]{1,40}$``.
    """
    if not _NAME.fullmatch(name):
        raise DataError(
            f"nom de liste invalide {name!r} : 1 à 40 caractères parmi a-z, 0-9, '_' et '-'",
            field=field,
        )
    return name


def _counts(catalogue: ServiceCatalogue) -> tuple[dict[str, int], int]:
    frame = catalogue.frame
    kinds = {str(k): int(n) for k, n in frame["kind"].value_counts().items()} if len(frame) else {}
    inside = int(frame["in_territory"].sum()) if len(frame) else 0
    return kinds, inside


def _rejected_rows(catalogue: ServiceCatalogue) -> list[dict[str, Any]]:
    rows = catalogue.rejected.head(MAX_REJECTED_SHOWN)
    return [
        {"line": int(r.line), "name": str(r.name or r.service_id or ""), "reason": str(r.reason)}
        for r in rows.itertuples()
    ]


class ListStore:
    """The imported lists on disk: ``<root>/<territory>/<name>.gpkg`` and ``<name>.json``.

    Parameters
    ----------
    root
        The folder (``ApiSettings.lists_path``), created when a list is first saved.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def folder(self, territory: str) -> Path:
        """The folder of a territory's lists (``territory`` is a loaded territory's name)."""
        return self.root / territory

    def imported(self, territory: str) -> dict[str, ServiceList]:
        """The lists imported for a territory, by name (unreadable records are skipped)."""
        folder = self.folder(territory)
        found: dict[str, ServiceList] = {}
        if not folder.is_dir():
            return found
        for meta in sorted(folder.glob("*.json")):
            try:
                data = json.loads(meta.read_text(encoding="utf-8"))
                name = check_name(str(data["name"]))
                path = folder / f"{name}{LIST_SUFFIX}"
                if not path.is_file():
                    raise DataError("fichier du catalogue manquant", path=path)
                found[name] = ServiceList(
                    name=name,
                    territory=territory,
                    path=path,
                    origin="import",
                    kinds={str(k): int(v) for k, v in data["kinds"].items()},
                    in_territory=int(data["in_territory"]),
                    rejected=int(data["rejected"]),
                    created_at=datetime.fromisoformat(data["created_at"]),
                    source=str(data.get("source", "")),
                    rejected_rows=list(data.get("rejected_rows", [])),
                )
            except (OSError, ValueError, KeyError, TypeError, CoverageError) as exc:
                log.warning("liste de services ignorée %s : %s", meta.name, exc)
        return found

    def save(
        self, territory: str, name: str, catalogue: ServiceCatalogue, *, source: str
    ) -> ServiceList:
        """Write an imported catalogue under its name (replacing a previous one)."""
        check_name(name)
        folder = self.folder(territory)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}{LIST_SUFFIX}"
        staging = folder / f".{name}.tmp{LIST_SUFFIX}"
        staging.unlink(missing_ok=True)
        catalogue.to_file(staging)
        os.replace(staging, path)
        kinds, inside = _counts(catalogue)
        entry = ServiceList(
            name=name,
            territory=territory,
            path=path,
            origin="import",
            kinds=kinds,
            in_territory=inside,
            rejected=len(catalogue.rejected),
            created_at=datetime.now(UTC),
            source=source,
            rejected_rows=_rejected_rows(catalogue),
        )
        meta = entry.describe(rejected_rows=True)
        meta.pop("links")
        (folder / f"{name}.json").write_text(
            json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        return entry


def startup_lists(territory: Any, files: Sequence[Path]) -> dict[str, ServiceList]:
    """The lists given on the command line, read into a loaded territory, by name.

    Raises
    ------
    coverage.errors.ConfigError
        A file that is missing or unreadable, without a ``kind`` column, whose stem
        is not a list name, or two files with the same stem.
    """
    found: dict[str, ServiceList] = {}
    for given in files:
        path = Path(given).expanduser().resolve()
        name = path.stem.lower()
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"--services {given}: le nom du fichier ({path.stem}) doit faire 1 à 40 "
                "caractères parmi a-z, 0-9, '_' et '-' (c'est le nom de la liste)"
            )
        if name in found:
            raise ConfigError(f"--services {given}: une autre liste s'appelle déjà '{name}'")
        try:
            catalogue = load_catalogue(territory, sources=[], extra=[path])
        except CoverageError as exc:
            raise ConfigError(f"--services {given}: {exc}") from None
        kinds, inside = _counts(catalogue)
        found[name] = ServiceList(
            name=name,
            territory=territory.name,
            path=path,
            origin="startup",
            kinds=kinds,
            in_territory=inside,
            rejected=len(catalogue.rejected),
            created_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),
            source=path.name,
            rejected_rows=_rejected_rows(catalogue),
        )
    return found
