"""The ``ban`` backend: the national address API (search, CSV batch, reverse) with a disk cache.

The API (``https://api-adresse.data.gouv.fr``, or any server answering in its
format, chosen by ``base_url`` or ``$COVERAGE_BAN_API_URL``) is called through
httpx:

- ``GET /search/?q=...&citycode=...&postcode=...&limit=1&autocomplete=0``
  answers a GeoCodeJSON ``FeatureCollection`` (``properties``: ``label``,
  ``score``, ``type``, ``citycode``, ``postcode``, ``city``...);
- ``POST /search/csv/`` (multipart: ``data`` file, ``columns``, and
  ``citycode``/``postcode`` naming the filter columns) answers the CSV with
  ``latitude``, ``longitude``, ``result_label``, ``result_score``,
  ``result_type``, ``result_citycode``... appended;
- ``GET /reverse/?lon=...&lat=...`` for the commune of a point.

Every answer (found or not) is cached on disk under
``cache_root()/geocode/ban``, keyed by the server and the query; failures are
never cached. Requests are spaced by a rate limit (10 per second by default;
the API allows 50 per second per address). A server that cannot be reached
raises :class:`~coverage.errors.OfflineError` from :meth:`BanGeocoder.geocode`
and gives each row a reason in :meth:`BanGeocoder.geocode_many`: a batch never
stops on it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: a run that downloads nothing never loads httpx
    import httpx

from coverage import __version__
from coverage._cache import atomic_path, cache_key
from coverage.errors import OfflineError
from coverage.geocode.base import AddressQuery, GeocodeResult, ProgressCallback, rejected
from coverage.geocode.communes import clean_insee_code
from coverage.settings import BAN_SEARCH_URL_ENV, ban_search_url, cache_root

DEFAULT_RATE_PER_S = 10.0
"""Polite default: a fifth of the 50 requests per second the API allows per address."""

_TYPES = {"housenumber", "street", "locality", "municipality"}
_RETRY_STATUS = {429, 500, 502, 503, 504}


def ban_base_url(base_url: str | None = None) -> str:
    """The API's base URL: the argument, else ``$COVERAGE_BAN_API_URL``, else the official one.

    Raises
    ------
    ConfigError
        If ``COVERAGE_BAN_API_URL`` is not an http(s) address.
    """
    return base_url.rstrip("/") if base_url else ban_search_url()


class RateLimiter:
    """Space calls by at least ``1 / per_s`` seconds (thread-safe).

    Parameters
    ----------
    per_s
        Calls per second; 0 or less disables the limit.
    """

    def __init__(self, per_s: float) -> None:
        self.interval_s = 1.0 / per_s if per_s and per_s > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next call is allowed."""
        if not self.interval_s:
            return
        with self._lock:
            now = time.monotonic()
            if self._next > now:
                time.sleep(self._next - now)
                now = time.monotonic()
            self._next = max(now, self._next) + self.interval_s


class BanGeocoder:
    """Geocode through the national address API, with a disk cache and a rate limit.

    Parameters
    ----------
    base_url
        Server root (default ``$COVERAGE_BAN_API_URL`` or the official API).
    cache_dir
        Cache folder (default ``cache_root()/geocode/ban``).
    use_cache
        Read and write the cache.
    rate_limit_per_s
        Requests per second at most.
    timeout_s
        Timeout of one request.
    retries
        Retries of a failed request (connection error, 429, 5xx), with backoff.
    min_score
        Answers scored below this (0-1) are rejected.
    batch_size
        Rows per CSV batch request.
    use_csv
        Use the CSV batch endpoint for more than ``csv_threshold`` rows.
    csv_threshold
        Least number of uncached rows for a batch request.
    client
        An httpx client to use (tests); one is made otherwise.
    """

    name = "ban"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
        rate_limit_per_s: float = DEFAULT_RATE_PER_S,
        timeout_s: float = 10.0,
        retries: int = 2,
        min_score: float = 0.4,
        batch_size: int = 1000,
        use_csv: bool = True,
        csv_threshold: int = 5,
        client: httpx.Client | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.base_url = ban_base_url(base_url)
        self.cache_dir = Path(cache_dir) if cache_dir else cache_root() / "geocode" / "ban"
        self.use_cache = use_cache
        self.limiter = RateLimiter(rate_limit_per_s)
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.min_score = float(min_score)
        self.batch_size = int(batch_size)
        self.use_csv = use_csv
        self.csv_threshold = int(csv_threshold)
        self._client = client
        self.requests = 0
        """HTTP requests sent (cache hits send none)."""
        self.cache_hits = 0

    # --- HTTP -------------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        """The httpx client (made on first use)."""
        if self._client is None:
            import httpx

            self._client = httpx.Client(
                base_url=self.base_url,
                timeout=self.timeout_s,
                headers={"User-Agent": f"coverage-territoires/{__version__}"},
                follow_redirects=True,
            )
        return self._client

    def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request with rate limit and retries; 4xx answers are returned as they are.

        Raises
        ------
        OfflineError
            The server could not be reached, or kept answering 429/5xx.
        """
        import httpx

        last = ""
        for attempt in range(self.retries + 1):
            self.limiter.wait()
            self.requests += 1
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code not in _RETRY_STATUS:
                    return response
                last = f"HTTP {response.status_code}"
                if attempt < self.retries:
                    time.sleep(_retry_after(response, attempt))
                    continue
                break
            if attempt < self.retries:
                time.sleep(0.25 * 2**attempt)
        raise OfflineError(
            f"API Adresse injoignable ({self.base_url}{path}) : {last}; "
            f"réessayez plus tard ou choisissez un autre serveur avec ${BAN_SEARCH_URL_ENV}"
        )

    # --- cache ------------------------------------------------------------------------------

    def _key(self, q: str, citycode: str, postcode: str) -> str:
        return cache_key(["search", self.base_url, q, citycode, postcode])

    def _cache_file(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def _cache_get(self, key: str) -> dict[str, Any] | None:
        if not self.use_cache:
            return None
        path = self._cache_file(key)
        try:
            entry = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        self.cache_hits += 1
        return entry

    def _cache_put(self, key: str, entry: dict[str, Any]) -> None:
        if not self.use_cache:
            return
        target = self._cache_file(key)
        tmp = atomic_path(target)
        tmp.write_text(json.dumps(entry, ensure_ascii=False), "utf-8")
        tmp.replace(target)

    # --- queries ----------------------------------------------------------------------------

    @staticmethod
    def request_parts(query: AddressQuery) -> tuple[str, str, str]:
        """The ``q`` text and the ``citycode``/``postcode`` filters sent for a query."""
        text = " ".join(query.text.split())
        city = " ".join(query.city.split())
        postcode = "".join(ch for ch in query.postcode if ch.isdigit())
        citycode = clean_insee_code(query.insee_code)
        citycode = "" if citycode.startswith("?") else citycode
        q = text
        if city and city.lower() not in text.lower():
            q = f"{q} {postcode} {city}".strip() if postcode not in text else f"{q} {city}"
        elif not text and postcode:
            q = f"{postcode} {city}".strip()
        return q[:200], citycode, "" if citycode else postcode

    def geocode(self, query: AddressQuery) -> GeocodeResult:
        """Locate one address with ``/search/``.

        Raises
        ------
        OfflineError
            If the server cannot be reached.
        """
        if query.is_empty:
            return rejected("ligne vide", backend=self.name, row_id=query.row_id)
        q, citycode, postcode = self.request_parts(query)
        if len(q) < 3:
            return rejected(
                f"adresse trop courte pour l'API (« {q} »)", backend=self.name, row_id=query.row_id
            )
        key = self._key(q, citycode, postcode)
        entry = self._cache_get(key)
        if entry is None:
            params = {"q": q, "limit": 1, "autocomplete": 0}
            if citycode:
                params["citycode"] = citycode
            if postcode:
                params["postcode"] = postcode
            response = self._request("GET", "/search/", params=params)
            if response.status_code >= 400:
                return rejected(
                    f"requête refusée par l'API (HTTP {response.status_code} : "
                    f"{_error_message(response)})",
                    backend=self.name,
                    row_id=query.row_id,
                )
            try:
                features = response.json().get("features") or []
            except ValueError:
                raise OfflineError(
                    f"API Adresse ({self.base_url}) : réponse illisible (pas du JSON)"
                ) from None
            entry = _entry_from_feature(features[0]) if features else {"found": False}
            self._cache_put(key, entry)
        return self._result(entry, query, citycode)

    def geocode_many(
        self, queries: Sequence[AddressQuery], *, progress: ProgressCallback | None = None
    ) -> list[GeocodeResult]:
        """Locate many addresses: cache first, then CSV batches (or ``/search/`` one by one).

        Returns
        -------
        list of GeocodeResult
            One per query, in order; rows the API could not answer carry the reason.
        """
        results: list[GeocodeResult | None] = [None] * len(queries)
        pending: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
        done = 0
        for i, query in enumerate(queries):
            if query.is_empty:
                results[i] = rejected("ligne vide", backend=self.name, row_id=query.row_id)
                continue
            q, citycode, postcode = self.request_parts(query)
            if len(q) < 3:
                results[i] = rejected(
                    f"adresse trop courte pour l'API (« {q} »)",
                    backend=self.name,
                    row_id=query.row_id,
                )
                continue
            entry = self._cache_get(self._key(q, citycode, postcode))
            if entry is not None:
                results[i] = self._result(entry, query, citycode)
                continue
            combo = ("citycode" if citycode else "", "postcode" if postcode else "")
            pending.setdefault(combo, []).append((i, q, citycode or postcode))
        if progress is not None:
            done = sum(r is not None for r in results)
            progress(done)

        offline = ""
        total_pending = sum(len(rows) for rows in pending.values())
        for combo, rows in pending.items():
            for start in range(0, len(rows), self.batch_size if self.use_csv else 1):
                chunk = rows[start : start + (self.batch_size if self.use_csv else 1)]
                if offline:
                    for i, _, _ in chunk:
                        results[i] = rejected(offline, backend=self.name, row_id=queries[i].row_id)
                    continue
                try:
                    if self.use_csv and total_pending >= self.csv_threshold:
                        entries = self._search_csv(chunk, combo)
                    else:
                        entries = [self._search_one(q, combo, value) for _, q, value in chunk]
                except OfflineError as exc:
                    offline = str(exc)
                    for i, _, _ in chunk:
                        results[i] = rejected(offline, backend=self.name, row_id=queries[i].row_id)
                else:
                    for (i, q, value), entry in zip(chunk, entries, strict=True):
                        citycode = value if combo[0] else ""
                        if isinstance(entry, str):
                            results[i] = rejected(
                                entry, backend=self.name, row_id=queries[i].row_id
                            )
                            continue
                        postcode = value if combo[1] else ""
                        self._cache_put(self._key(q, citycode, postcode), entry)
                        results[i] = self._result(entry, queries[i], citycode)
                if progress is not None:
                    progress(len(chunk))
        return [r if r is not None else rejected("non traité", backend=self.name) for r in results]

    def _search_one(self, q: str, combo: tuple[str, str], value: str) -> dict[str, Any] | str:
        params: dict[str, Any] = {"q": q, "limit": 1, "autocomplete": 0}
        if combo[0]:
            params["citycode"] = value
        if combo[1]:
            params["postcode"] = value
        response = self._request("GET", "/search/", params=params)
        if response.status_code >= 400:
            return (
                f"requête refusée par l'API (HTTP {response.status_code} : "
                f"{_error_message(response)})"
            )
        try:
            features = response.json().get("features") or []
        except ValueError:
            raise OfflineError(f"API Adresse ({self.base_url}) : réponse illisible") from None
        return _entry_from_feature(features[0]) if features else {"found": False}

    def _search_csv(
        self, chunk: list[tuple[int, str, str]], combo: tuple[str, str]
    ) -> list[dict[str, Any] | str]:
        """One ``/search/csv/`` request for a chunk of rows sharing the same filters."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        filter_column = combo[0] or combo[1]
        header = ["rid", "q"] + ([filter_column] if filter_column else [])
        writer.writerow(header)
        for i, q, value in chunk:
            writer.writerow([str(i), q] + ([value] if filter_column else []))
        data: dict[str, Any] = {"columns": ["q"]}
        if filter_column:
            data[filter_column] = filter_column
        response = self._request(
            "POST",
            "/search/csv/",
            data=data,
            files={"data": ("adresses.csv", buffer.getvalue().encode("utf-8"), "text/csv")},
        )
        if response.status_code in (404, 405, 501):
            # no batch endpoint on this server: one request per row
            return [self._search_one(q, combo, value) for _, q, value in chunk]
        if response.status_code >= 400:
            reason = (
                f"lot refusé par l'API (HTTP {response.status_code} : {_error_message(response)})"
            )
            return [reason] * len(chunk)
        text = response.content.decode("utf-8-sig", errors="replace")
        reader = csv.DictReader(io.StringIO(text))
        by_rid: dict[str, dict[str, Any]] = {}
        for row in reader:
            by_rid[row.get("rid", "")] = _entry_from_csv_row(row)
        return [by_rid.get(str(i), "ligne absente de la réponse de l'API") for i, _, _ in chunk]

    def _result(self, entry: dict[str, Any], query: AddressQuery, citycode: str) -> GeocodeResult:
        if not entry.get("found"):
            return rejected(
                "adresse introuvable dans la BAN", backend=self.name, row_id=query.row_id
            )
        score = float(entry.get("score", 0.0))
        quality = entry.get("type", "")
        if quality not in _TYPES:
            quality = "locality"
        if citycode and entry.get("citycode") and entry["citycode"] != citycode:
            return rejected(
                f"l'API répond dans une autre commune ({entry['citycode']}, attendu {citycode})",
                backend=self.name,
                row_id=query.row_id,
            )
        if score < self.min_score:
            return rejected(
                f"réponse de l'API trop incertaine (score {score:.2f} < {self.min_score:.2f} : "
                f"{entry.get('label', '')})",
                backend=self.name,
                row_id=query.row_id,
            )
        return GeocodeResult(
            lon=float(entry["lon"]),
            lat=float(entry["lat"]),
            quality=quality,
            score=round(score, 3),
            backend=self.name,
            insee_code=str(entry.get("citycode", "")),
            label=str(entry.get("label", "")),
            status="matched",
            row_id=query.row_id,
        )

    def reverse(self, lon: float, lat: float) -> str:
        """INSEE code of the commune at a WGS84 point, from ``/reverse/`` (``""`` if none).

        Raises
        ------
        OfflineError
            If the server cannot be reached.
        """
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return ""
        response = self._request("GET", "/reverse/", params={"lon": lon, "lat": lat, "limit": 1})
        if response.status_code >= 400:
            return ""
        features = response.json().get("features") or []
        if not features:
            return ""
        return str(features[0].get("properties", {}).get("citycode", ""))


def _entry_from_feature(feature: dict[str, Any]) -> dict[str, Any]:
    """The cached form of a GeoCodeJSON feature."""
    props = feature.get("properties") or {}
    lon, lat = (feature.get("geometry") or {}).get("coordinates", [math.nan, math.nan])[:2]
    return {
        "found": True,
        "lon": float(lon),
        "lat": float(lat),
        "type": str(props.get("type", "")),
        "score": float(props.get("score", 0.0)),
        "citycode": str(props.get("citycode", "")),
        "label": str(props.get("label", "")),
    }


def _entry_from_csv_row(row: dict[str, str]) -> dict[str, Any]:
    """The cached form of one answered row of ``/search/csv/``."""
    status = (row.get("result_status") or "").strip()
    lon, lat, score = row.get("longitude", ""), row.get("latitude", ""), row.get("result_score")
    if status in ("not-found", "skipped", "error") or not (lon and lat and score):
        return {"found": False}
    return {
        "found": True,
        "lon": float(lon),
        "lat": float(lat),
        "type": (row.get("result_type") or "").strip(),
        "score": float(score),
        "citycode": (row.get("result_citycode") or "").strip(),
        "label": (row.get("result_label") or "").strip(),
    }


def _retry_after(response: httpx.Response, attempt: int) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), 10.0)
    except ValueError:
        return 0.25 * 2**attempt


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:120].strip()
    if isinstance(body, dict):
        return str(body.get("message") or body.get("description") or body)[:160]
    return str(body)[:160]
