"""The server's resident memory follows what it keeps: freed memory goes back to the system.

A computation allocates far more than it keeps (road searches, polygons,
GeoJSON text, a whole scenario run in the worker); glibc keeps what is freed
in its arenas — up to eight per processor, one per thread that needed one —
so that the resident memory of the server would grow with every new answer
though its caches stay within their bounds (200 MB more after a scenario run,
some 120 MB after a thousand distinct isochrones). Two remedies, on glibc
only (elsewhere both do nothing), through the project's one wrapper of
glibc, :mod:`coverage._memory`:

- importing this module (the server does, through :mod:`api.cache`) caps the
  arenas at :data:`ARENAS` unless ``MALLOC_ARENA_MAX`` is set in the
  environment: the request threads then share few arenas instead of
  fragmenting many;
- :func:`release_memory`, called after each computation (:mod:`api.cache`),
  hands the freed memory back (``malloc_trim``: about 3 ms), at most every
  :data:`RELEASE_EVERY_S` seconds.
"""

from __future__ import annotations

import os
import threading
import time

from coverage._memory import cap_arenas, glibc, release_freed_memory

ARENAS = 2
"""glibc arenas of the server process (``MALLOC_ARENA_MAX`` wins when set)."""
RELEASE_EVERY_S = 0.1
"""Least time between two returns of freed memory to the system."""

_LIBC = glibc()
_released_at = 0.0
_release_lock = threading.Lock()
# glibc reads MALLOC_ARENA_MAX itself: when it is set, it decides
ARENAS_CAPPED = "MALLOC_ARENA_MAX" not in os.environ and cap_arenas(ARENAS)
"""Whether this process capped its arenas at :data:`ARENAS`."""


def release_memory(*, force: bool = False) -> bool:
    """Give the memory freed by computations back to the system (glibc ``malloc_trim``).

    Returns whether it ran: not more than once per :data:`RELEASE_EVERY_S`
    unless ``force``, never where the C library has no ``malloc_trim``.
    """
    global _released_at
    if _LIBC is None:
        return False
    now = time.monotonic()
    with _release_lock:
        if not force and now - _released_at < RELEASE_EVERY_S:
            return False
        _released_at = now
    return release_freed_memory()
