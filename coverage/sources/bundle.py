"""A territory bundle being built: files staged, then written atomically, and ``fetch.json``.

Every source module (``coverage.sources.*``) records its downloads and stages
its files on a :class:`BundleWriter`; nothing reaches the bundle directory
before :meth:`BundleWriter.commit`, which the fetch job calls once every
download has succeeded. ``fetch.json`` records the URL, retrieval date, size and
SHA-256 of every file and every download.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd

from coverage import __version__
from coverage._cache import atomic_path, file_sha256
from coverage._http import Download, Downloader
from coverage.errors import CoverageError, DataError
from coverage.settings import cache_root

WORKING_CRS = "EPSG:2154"
"""CRS the layers are computed in (metres, Lambert-93); files are written in EPSG:4326."""
FETCH_RECORD = "fetch.json"


class BundleWriter:
    """Stages the bundle's files, then writes them atomically and records them for ``fetch.json``.

    Nothing is written into the bundle before :meth:`commit`, which runs once
    every download has succeeded: a fetch that fails leaves the bundle as it was.
    """

    def __init__(self, dest: Path, name: str, departement: str) -> None:
        self.dest = dest
        self.name = name
        self.departement = departement
        self.files: dict[str, dict[str, Any]] = {}
        self.downloads: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self._pending: list[tuple[str, Any, dict[str, Any]]] = []
        self._temporary: list[Path] = []

    def downloaded(self, download: Download) -> Download:
        """Record a download for ``fetch.json`` (once per URL) and return it."""
        if all(d["url"] != download.url for d in self.downloads):
            self.downloads.append(download.record())
        return download

    def note(self, text: str) -> None:
        """Add a remark on the data (kept once)."""
        if text not in self.notes:
            self.notes.append(text)

    def temporary(self, name: str) -> Path:
        """A temporary file outside the bundle (``cache_root()/staging``), removed by cleanup."""
        tmp = atomic_path(cache_root() / "staging" / Path(name).name)
        self._temporary.append(tmp)
        return tmp

    def stage_text(self, name: str, text: str, **meta: Any) -> None:
        """Stage a text file; ``meta`` holds ``layer``, ``source``, ``licence``, ``urls``..."""
        self._pending.append((name, lambda tmp: tmp.write_text(text, encoding="utf-8"), meta))

    def stage_copy(self, name: str, src: Path, **meta: Any) -> None:
        """Stage a copy of ``src``."""
        self._pending.append((name, lambda tmp: shutil.copyfile(src, tmp), meta))

    def stage_move(self, name: str, src: Path, **meta: Any) -> None:
        """Stage ``src`` (a temporary file) to be moved into the bundle."""
        self._pending.append((name, lambda tmp: shutil.move(src, tmp), meta))

    def stage_with(self, name: str, writer: Any, **meta: Any) -> None:
        """Stage a file written by ``writer(path)`` (see :func:`geojson_writer`)."""
        self._pending.append((name, writer, meta))

    def commit(self) -> None:
        """Write every staged file into the bundle."""
        for name, writer, meta in self._pending:
            self._write(name, writer, **meta)
        self._pending.clear()

    def cleanup(self) -> None:
        """Remove the temporary files (the fetch job calls it whatever happened)."""
        for tmp in self._temporary:
            tmp.unlink(missing_ok=True)

    def _write(
        self,
        name: str,
        writer: Any,
        *,
        layer: str,
        source: str,
        licence: str,
        urls: list[str],
        retrieved: str = "",
    ) -> Path:
        target = self.dest / name
        tmp = atomic_path(target)
        try:
            writer(tmp)
            _readable(tmp)
            os.replace(tmp, target)
        except CoverageError:
            raise
        except OSError as exc:
            raise DataError(
                f"impossible d'écrire le fichier du lot de données : {exc}", path=target
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
        self.files[name] = {
            "layer": layer,
            "url": urls[0] if urls else "",
            "urls": list(urls),
            "retrieved": retrieved or now_utc(),
            "size": target.stat().st_size,
            "sha256": file_sha256(target),
            "source": source,
            "licence": licence,
        }
        return target

    def write_fetch_json(
        self, *, sources: dict[str, Any], label: str, options: dict[str, Any]
    ) -> Path:
        """Write ``fetch.json``: the sources' addresses, the options, every file and download.

        Parameters
        ----------
        sources
            The base URLs used (``FetchSources.record()``).
        label
            The territory's label.
        options
            The fetch options, as given.

        Returns
        -------
        Path
            The file written.
        """
        record = {
            "territory": self.name,
            "label": label,
            "departement": self.departement,
            "created": now_utc(),
            "engine": f"coverage-territoires {__version__}",
            "sources": sources,
            "options": options,
            "files": self.files,
            "downloads": self.downloads,
            "notes": self.notes,
        }
        target = self.dest / FETCH_RECORD
        tmp = atomic_path(target)
        try:
            tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
            _readable(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target


def now_utc() -> str:
    """The current UTC date and time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _readable(path: Path) -> None:
    """Give a temporary file (created 0600) the usual permissions of a new file (umask)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def latest(*downloads: Download) -> str:
    """The retrieval date of the most recent of some downloads."""
    return max(d.retrieved for d in downloads)


def geojson_writer(frame: gpd.GeoDataFrame) -> Any:
    """A writer for :meth:`BundleWriter.stage_with`: the frame as GeoJSON (EPSG:4326)."""
    text = frame.to_crs("EPSG:4326").to_json(drop_id=True, ensure_ascii=False)

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return write


def parsed(dl: Downloader, download: Download, parse: Any) -> Any:
    """Parse a download; an unusable file leaves the cache so that the next run fetches it again."""
    try:
        return parse(download)
    except DataError:
        dl.evict(download)
        raise
