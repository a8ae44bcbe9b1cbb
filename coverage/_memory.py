"""Give the memory freed by large temporary arrays back to the operating system."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory() -> None:
    """Return freed heap memory to the system (glibc ``malloc_trim``; elsewhere nothing).

    Building a turn graph or a point index allocates temporaries several times the
    size of the result; glibc keeps such freed blocks in the process after large
    frees, so that the resident size would show the peak rather than what is held.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
