"""The server's resident memory follows what it keeps: freed memory goes back to the system.

A computation allocates far more than it keeps (road searches, polygons,
GeoJSON text, a whole scenario run in the worker); glibc keeps what is freed
in its arenas — up to eight per processor, one per thread that needed one —
so that the resident memory of the server would grow with every new answer
though its caches stay within their bounds (200 MB more after a scenario run,
some 120 MB after a thousand distinct isochrones). Two remedies, on glibc
only (elsewhere both do nothing):

- importing this module (the server does, through :mod:`api.cache`) caps the
  arenas at :data:`ARENAS` unless ``MALLOC_ARENA_MAX`` is set in the
  environment: the request threads then share few arenas instead of
  fragmenting many;
- :func:`release_memory`, called after each computation (:mod:`api.cache`),
  hands the freed memory back (``malloc_trim``: about 3 ms), at most every
  :data:`RELEASE_EVERY_S` seconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time
from typing import Any

ARENAS = 2
"""glibc arenas of the server process (``MALLOC_ARENA_MAX`` wins when set)."""
RELEASE_EVERY_S = 0.1
"""Least time between two returns of freed memory to the system."""
_M_ARENA_MAX = -8  # glibc's mallopt parameter


def _glibc() -> Any | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is None or not hasattr(libc, "malloc_trim") or not hasattr(libc, "mallopt"):
            return None  # not glibc (musl, macOS)
    except OSError:
        return None
    libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return libc


_LIBC = _glibc()
_released_at = 0.0
_release_lock = threading.Lock()
if _LIBC is not None and "MALLOC_ARENA_MAX" not in os.environ:
    _LIBC.mallopt(_M_ARENA_MAX, ARENAS)


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
    _LIBC.malloc_trim(0)
    return True
