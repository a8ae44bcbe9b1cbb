"""Give the memory freed by large temporary arrays back to the operating system.

The one wrapper of glibc's allocator controls in the project: the engine calls
:func:`release_freed_memory` after its large temporaries, the API server caps
its arenas with :func:`cap_arenas` and hands memory back after each computation
(:mod:`api.memory`, which throttles the calls). Elsewhere than on glibc (musl,
macOS) both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache
from typing import Any

_M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter for the number of arenas."""


@lru_cache(maxsize=1)
def glibc() -> Any | None:
    """The C library when it is glibc (has ``malloc_trim`` and ``mallopt``), else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        trim, mallopt = libc.malloc_trim, libc.mallopt
    except (OSError, AttributeError):
        return None  # not glibc
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return libc


def release_freed_memory() -> bool:
    """Return freed heap memory to the system (glibc ``malloc_trim``; elsewhere nothing).

    Building a turn graph or a point index allocates temporaries several times the
    size of the result; glibc keeps such freed blocks in the process after large
    frees, so that the resident size would show the peak rather than what is held.

    Returns
    -------
    bool
        Whether memory could be handed back (``False`` where the C library is not glibc).
    """
    libc = glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def cap_arenas(arenas: int) -> bool:
    """Cap glibc's allocation arenas at ``arenas``.

    glibc opens up to eight arenas per processor, one per thread that needed one;
    threads sharing few arenas fragment less memory. The caller leaves the choice to
    glibc's ``MALLOC_ARENA_MAX`` when it is set (:mod:`api.memory`).

    Returns
    -------
    bool
        Whether the cap was set (not on another C library than glibc).
    """
    libc = glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))
