"""Download files over HTTP into a resumable, checksummed cache (httpx).

Every download goes through :class:`Downloader`:

- the cache lives under ``coverage.settings.cache_root() / "downloads"``; each
  entry is named by a hash of its full URL (query string included) and comes
  with a small JSON record (URL, retrieval date, size, SHA-256, ETag);
- a download in progress is written to ``<entry>.part``; when it is cut, the
  next attempt asks for the rest with an HTTP ``Range`` request (with
  ``If-Range`` when the server gave an ``ETag`` or ``Last-Modified``) and falls
  back to a full download when the server ignores the range;
- the size is checked against ``Content-Length`` (or ``Content-Range``) before
  the part becomes a cache entry, so a failed or truncated download never
  becomes one; failures are never cached;
- connection failures (DNS, refused, timeout, connection cut) and server errors
  (HTTP 429 and 5xx) are retried a few times with exponential backoff, then
  raise :class:`~coverage.errors.OfflineError` with a one-line message naming
  the source; other HTTP errors (404...) raise :class:`~coverage.errors.DataError`;
- ``progress`` (a :class:`coverage.progress.Progress`) is told the bytes of each download.

:meth:`Downloader.from_env` takes its timeout, retries and backoff from
:mod:`coverage.settings` (``COVERAGE_HTTP_TIMEOUT_S``, default 60 s;
``COVERAGE_HTTP_RETRIES``, default 3; ``COVERAGE_HTTP_BACKOFF_S``, default 1 s,
doubled at each retry).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # imported where used: a run that downloads nothing never loads httpx
    import httpx

from coverage import __version__
from coverage._cache import atomic_path, file_sha256
from coverage.errors import ConfigError, DataError, OfflineError
from coverage.progress import Progress
from coverage.settings import cache_root, http_backoff_s, http_retries, http_timeout_s

USER_AGENT = f"coverage-territoires/{__version__}"
_RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Download:
    """A file in the download cache.

    Attributes
    ----------
    url
        The full URL (query string included).
    source
        Name of the source (``geo.api.gouv.fr``, ``INSEE COG``...), for messages.
    path
        The cached file.
    size
        Size in bytes.
    sha256
        SHA-256 of the file.
    retrieved
        UTC date and time the file was downloaded (ISO 8601).
    from_cache
        True when no request was made.
    content_type
        ``Content-Type`` the server gave.
    """

    url: str
    source: str
    path: Path
    size: int
    sha256: str
    retrieved: str
    from_cache: bool
    content_type: str = ""

    def record(self) -> dict[str, Any]:
        """Return the download as a JSON-serialisable dict (for ``fetch.json``)."""
        return {
            "url": self.url,
            "source": self.source,
            "retrieved": self.retrieved,
            "size": self.size,
            "sha256": self.sha256,
            "from_cache": self.from_cache,
            "content_type": self.content_type,
        }

    def read_json(self) -> Any:
        """Parse the file as JSON.

        Raises
        ------
        DataError
            If it is not JSON; the message names the source and the URL.
        """
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(
                f"{self.source} answered something that is not JSON ({exc}) at {self.url}"
            ) from None


def url_with_params(url: str, params: Mapping[str, str] | None = None) -> str:
    """Return ``url`` with ``params`` encoded in its query string."""
    if not params:
        return url
    import httpx

    return str(httpx.URL(url, params=dict(params)))


def download_cache_dir() -> Path:
    """Return the folder of the download cache (``cache_root()/downloads``)."""
    return cache_root() / "downloads"


class Downloader:
    """Fetch URLs into the download cache, resuming and retrying (see the module docstring).

    Parameters
    ----------
    cache_dir
        Cache folder; default :func:`download_cache_dir`.
    timeout_s
        Connect and read timeout, seconds.
    retries
        Extra attempts after a failed one (connection errors, cut downloads, 429/5xx).
    backoff_s
        Pause before the first retry, doubled at each further retry (seconds).
    progress
        Told ``(label, done=bytes, total=bytes)`` during each download.
    client
        An httpx client to use (its lifetime stays the caller's).
    """

    def __init__(
        self,
        *,
        cache_dir: str | Path | None = None,
        timeout_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        progress: Progress | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0 seconds, got {timeout_s}")
        if retries < 0:
            raise ConfigError(f"retries must be >= 0, got {retries}")
        if backoff_s < 0:
            raise ConfigError(f"backoff_s must be >= 0 seconds, got {backoff_s}")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else download_cache_dir()
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.progress = progress
        self._own_client = client is None
        self._client = client
        self.requests_made = 0

    @classmethod
    def from_env(
        cls, *, progress: Progress | None = None, cache_dir: str | Path | None = None
    ) -> Downloader:
        """Build a downloader from ``COVERAGE_HTTP_TIMEOUT_S``, ``_RETRIES`` and ``_BACKOFF_S``.

        Raises
        ------
        ConfigError
            If a variable is not a valid number (the message names it).
        """
        return cls(
            cache_dir=cache_dir,
            timeout_s=http_timeout_s(),
            retries=http_retries(),
            backoff_s=http_backoff_s(),
            progress=progress,
        )

    @property
    def client(self) -> httpx.Client:
        """The httpx client (made on first use)."""
        if self._client is None:
            import httpx

            self._client = httpx.Client(
                timeout=httpx.Timeout(self.timeout_s),
                follow_redirects=True,
                headers={"User-Agent": USER_AGENT},
            )
        return self._client

    def close(self) -> None:
        """Close the client if this downloader made it."""
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- cache ------------------------------------------------------------------------------

    def cache_path(self, url: str) -> Path:
        """Return the cache file of a full URL (name = hash of the URL, plus its suffix)."""
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]
        name = Path(urlsplit(url).path).name
        suffix = ""
        for ext in (".csv.gz", ".geojson", ".json", ".csv", ".gz", ".zip", ".xml"):
            if name.lower().endswith(ext):
                suffix = ext
                break
        return self.cache_dir / f"{key}{suffix}"

    def cached(self, url: str, *, source: str = "") -> Download | None:
        """Return the cache entry of a full URL, or None (an entry needs its file and record)."""
        path = self.cache_path(url)
        meta = _meta_path(path)
        if not (path.is_file() and meta.is_file()):
            return None
        try:
            record = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if record.get("url") != url or record.get("size") != path.stat().st_size:
            return None
        return Download(
            url=url,
            source=source or record.get("source", ""),
            path=path,
            size=int(record["size"]),
            sha256=str(record["sha256"]),
            retrieved=str(record["retrieved"]),
            from_cache=True,
            content_type=str(record.get("content_type", "")),
        )

    def evict(self, download: Download) -> None:
        """Remove an entry from the cache (e.g. a file that turned out to be unusable)."""
        download.path.unlink(missing_ok=True)
        _meta_path(download.path).unlink(missing_ok=True)

    # --- download ---------------------------------------------------------------------------

    def download(
        self,
        url: str,
        *,
        source: str,
        params: Mapping[str, str] | None = None,
        force: bool = False,
        label: str | None = None,
    ) -> Download:
        """Return a URL's content as a cache entry, downloading it if needed.

        Parameters
        ----------
        url
            The URL (``params`` are added to its query string).
        source
            Name of the source for messages (``geo.api.gouv.fr``...).
        params
            Query parameters.
        force
            Download again even if the URL is cached (a kept partial file is
            still resumed).
        label
            Text of the progress bar (default: the file name of the URL).

        Returns
        -------
        Download

        Raises
        ------
        OfflineError
            The server could not be reached, kept failing (429/5xx) or kept
            cutting the download; one line naming the source.
        DataError
            The server answered another HTTP error (404...).
        """
        full = url_with_params(url, params)
        if not force:
            hit = self.cached(full, source=source)
            if hit is not None:
                return hit
        path = self.cache_path(full)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        label = label or Path(urlsplit(full).path).name or source
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                outcome = self._attempt(full, part, source=source, label=label)
            except _RetryableError as exc:
                last_error = str(exc)
                continue
            return self._commit(full, part, path, source=source, **outcome)
        kept = part.stat().st_size if part.is_file() else 0
        host = urlsplit(full).netloc
        if kept:
            raise OfflineError(
                f"the download from {source} ({full}) was cut {self.retries + 1} time(s) "
                f"({last_error}); {kept} bytes are kept and the next run resumes them; "
                "or point --data DIR at an existing bundle"
            )
        if last_error.startswith("HTTP"):
            raise OfflineError(
                f"{source} ({host}) échoue encore ({last_error} pour {full}) ; réessayez plus "
                "tard, ou donnez --data DOSSIER vers un lot existant"
            )
        raise OfflineError(
            f"{source} injoignable ({host} : {last_error}) ; vérifiez la connexion, ou "
            "donnez --data DOSSIER vers un lot existant"
        )

    def _attempt(self, url: str, part: Path, *, source: str, label: str) -> dict[str, Any]:
        """One request; returns what :meth:`_commit` needs, raises _RetryableError on failure."""
        import httpx

        offset = part.stat().st_size if part.is_file() else 0
        part_meta = _read_part_meta(part)
        if offset and part_meta.get("url") != url:
            part.unlink(missing_ok=True)
            offset = 0
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            validator = part_meta.get("etag") or part_meta.get("last_modified")
            if validator:
                headers["If-Range"] = validator
        self.requests_made += 1
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status == 416 and offset:
                    # the kept part does not fit the file any more: start again
                    part.unlink(missing_ok=True)
                    raise _RetryableError("HTTP 416 on resume, restarting")
                if status in _RETRY_STATUSES:
                    raise _RetryableError(f"HTTP {status} {response.reason_phrase}")
                if status >= 400:
                    raise DataError(
                        f"{source} answered HTTP {status} {response.reason_phrase} for {url}; "
                        "check the address (see docs/fetch.md for the COVERAGE_*_URL variables)"
                    )
                total = _expected_total(response, offset)
                if status == 206:
                    start = _content_range_start(response)
                    if start != offset:
                        part.unlink(missing_ok=True)
                        raise _RetryableError(f"server resumed at byte {start}, not {offset}")
                    mode = "ab"
                else:  # 200: the server ignored (or refused) the range
                    offset = 0
                    mode = "wb"
                _write_part_meta(part, url, response)
                with (
                    open(part, mode) as handle,
                    _progress_bar(self.progress, label, total, offset) as advance,
                ):
                    for chunk in response.iter_bytes():
                        handle.write(chunk)
                        advance(len(chunk))
                content_type = response.headers.get("Content-Type", "")
                encoded = response.headers.get("Content-Encoding", "identity") != "identity"
        except httpx.TransportError as exc:
            raise _RetryableError(_one_line(exc)) from None
        size = part.stat().st_size
        if total is not None and not encoded and size != total:
            raise _RetryableError(f"got {size} of {total} bytes")
        return {"content_type": content_type}

    def _commit(
        self, url: str, part: Path, path: Path, *, source: str, content_type: str
    ) -> Download:
        """Turn a complete part into a cache entry (file, then record)."""
        os.replace(part, path)
        _part_meta_path(part).unlink(missing_ok=True)
        record = {
            "url": url,
            "source": source,
            "retrieved": datetime.now(UTC).isoformat(timespec="seconds"),
            "size": path.stat().st_size,
            "sha256": file_sha256(path),
            "content_type": content_type,
        }
        meta = _meta_path(path)
        tmp = atomic_path(meta)
        try:
            tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
            os.replace(tmp, meta)
        finally:
            tmp.unlink(missing_ok=True)
        return Download(
            url=url,
            source=source,
            path=path,
            size=record["size"],
            sha256=record["sha256"],
            retrieved=record["retrieved"],
            from_cache=False,
            content_type=content_type,
        )


class _RetryableError(Exception):
    """A failed attempt worth retrying (connection problem, cut download, 429/5xx)."""


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _part_meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _read_part_meta(part: Path) -> dict[str, Any]:
    try:
        return json.loads(_part_meta_path(part).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _write_part_meta(part: Path, url: str, response: httpx.Response) -> None:
    meta = {
        "url": url,
        "etag": response.headers.get("ETag", ""),
        "last_modified": response.headers.get("Last-Modified", ""),
    }
    _part_meta_path(part).write_text(json.dumps(meta), encoding="utf-8")


def _expected_total(response: httpx.Response, offset: int) -> int | None:
    """Size of the whole file: from Content-Range (206) or Content-Length (200)."""
    if response.status_code == 206:
        value = response.headers.get("Content-Range", "")
        total = value.rsplit("/", 1)[-1] if "/" in value else "*"
        if total.isdigit():
            return int(total)
        length = response.headers.get("Content-Length", "")
        return offset + int(length) if length.isdigit() else None
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None


def _content_range_start(response: httpx.Response) -> int:
    value = response.headers.get("Content-Range", "")  # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return -1


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text and text[0] else type(exc).__name__


@contextmanager
def _progress_bar(
    progress: Progress | None, label: str, total: int | None, done: int
) -> Iterator[Any]:
    """Yield an ``advance(n_bytes)`` callable that tells ``progress`` the bytes done."""
    if progress is None:
        yield lambda n: None
        return
    count = done
    progress(label, done=count, total=total)

    def advance(n: int) -> None:
        nonlocal count
        count += n
        progress(label, done=count, total=total)

    yield advance
