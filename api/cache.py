"""In-memory cache of serialised responses (bytes, gzip copy, ETag), bounded and thread-safe.

Computed layers (commune coverage, GeoJSON of a run, HTML maps) are kept as
ready-to-send bytes, so that a repeated GET costs a dictionary lookup: the
body is compressed once, and ``If-None-Match`` gets a ``304``. Concurrent
requests for the same missing entry compute it once (one lock per key), and
at most one computation per processor runs at a time (:data:`COMPUTE_SLOTS`),
so that a burst of expensive requests queues instead of starving the server.
A cache is bounded both in entries and in bytes (``COVERAGE_API_CACHE_ENTRIES``
and a share of ``COVERAGE_API_CACHE_MB``).

After a computation the memory it freed is handed back to the system
(:func:`api.memory.release_memory`), so that the server's resident memory
follows what the caches keep.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.memory import release_memory

GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 5
"""gzip level of cached bodies, which are compressed once and often served many times."""
FAST_GZIP_LEVEL = 1
"""gzip level of answers computed for one client's own points (isochrones of new points):
nginx's default; on a 26 kB isochrone GeoJSON 0.4 ms against 1.1 ms at level 5, for a body
11 % larger (11 kB against 9.8 kB)."""
COMPUTE_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
"""Computations of missing entries running at once (one per processor)."""


@dataclass(frozen=True)
class CachedBody:
    """A serialised response body.

    Attributes
    ----------
    body
        The bytes.
    media_type
        Its content type.
    etag
        Strong ETag (hash of the body).
    gzipped
        The gzip-compressed body, for clients that accept it (None when small).
    """

    body: bytes
    media_type: str
    etag: str
    gzipped: bytes | None

    @property
    def size(self) -> int:
        """Bytes held (body and its gzip copy)."""
        return len(self.body) + (len(self.gzipped) if self.gzipped is not None else 0)

    @classmethod
    def build(cls, body: bytes, media_type: str, *, level: int = GZIP_LEVEL) -> CachedBody:
        """Hash and compress a body once (``level``: gzip's, 1 to 9)."""
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        packed = None
        if len(body) >= GZIP_MIN_BYTES:
            packed = gzip.compress(body, compresslevel=level, mtime=0)
        return cls(body=body, media_type=media_type, etag=etag, gzipped=packed)

    def response(self, request: Request, *, max_age_s: int = 60) -> Response:
        """The response for a request: ``304`` on a matching ETag, gzip when accepted."""
        headers = {"ETag": self.etag, "Cache-Control": f"public, max-age={max_age_s}"}
        headers["Vary"] = "Accept-Encoding"
        if_none = request.headers.get("if-none-match", "")
        if self.etag in {tag.strip() for tag in if_none.split(",")}:
            return Response(status_code=304, headers=headers)
        accepts = request.headers.get("accept-encoding", "")
        if self.gzipped is not None and "gzip" in accepts.lower():
            headers["Content-Encoding"] = "gzip"
            return Response(self.gzipped, media_type=self.media_type, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


class ResponseCache:
    """A bounded LRU of :class:`CachedBody` by key.

    Parameters
    ----------
    max_entries
        Entries kept; the least recently used goes first.
    max_bytes
        Bytes kept at most (an entry larger than this is served but not kept).
    """

    def __init__(self, max_entries: int = 256, max_bytes: int = 128 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[Hashable, CachedBody] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> CachedBody | None:
        """The entry, or None (counts a hit or a miss)."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return item

    def put(self, key: Hashable, item: CachedBody) -> None:
        """Store an entry (the least recently used ones go when a bound is passed)."""
        if item.size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old.size
            self._items[key] = item
            self.bytes += item.size
            while len(self._items) > self.max_entries or self.bytes > self.max_bytes:
                _key, dropped = self._items.popitem(last=False)
                self.bytes -= dropped.size

    def get_or_compute(self, key: Hashable, compute: Callable[[], CachedBody]) -> CachedBody:
        """The entry, computed once if missing (blocking; call it from a worker thread)."""
        item = self.get(key)
        if item is not None:
            return item
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                item = self._items.get(key)
            if item is None:
                with COMPUTE_SLOTS:
                    item = compute()
                self.put(key, item)
                release_memory()
        with self._lock:
            self._key_locks.pop(key, None)
        return item

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._items.clear()
            self.bytes = 0


async def cached_response(
    request: Request,
    cache: ResponseCache,
    key: Hashable,
    compute: Callable[[], CachedBody],
    *,
    max_age_s: int = 60,
    on_miss: Callable[[], None] | None = None,
) -> Response:
    """Serve an entry from the cache, computing it in a worker thread when missing.

    ``on_miss`` runs before a computation (in the event loop): it may refuse the
    request by raising, for instance when an anonymous client's budget does not
    cover the cost (:func:`api.budget.charge`). Cached answers never call it.
    """
    item = cache.get(key)
    if item is None:
        if on_miss is not None:
            on_miss()
        item = await run_in_threadpool(cache.get_or_compute, key, compute)
    return item.response(request, max_age_s=max_age_s)
