"""Cache keys and atomic writes shared by the stages that cache to disk."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def file_sha256(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    """Return the SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def file_stamp(path: Path | None) -> tuple[str, int, int] | None:
    """Resolved path, size and modification time (ns) of a file; None when absent.

    The key of what is kept in memory from a file for as long as it is unchanged.
    """
    if path is None or not path.is_file():
        return None
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def cache_key(parts: Iterable[Any]) -> str:
    """Return a short stable key (16 hex characters) for JSON-serialisable parts."""
    text = json.dumps(list(parts), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def atomic_path(target: Path) -> Path:
    """Return a temporary path next to ``target``; rename it onto ``target`` when done.

    The temporary file gets the mode a new file gets from ``open()`` (``0666``
    minus the umask), not ``mkstemp``'s ``0600``: writers that reopen it in
    place (GDAL for GeoTIFFs) keep that mode, and colleagues sharing the folder
    must be able to read the result.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, new_file_mode())
    finally:
        os.close(fd)
    return Path(tmp)


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file: ``0o666`` minus the process umask.

    Read from ``/proc/self/status`` where it exists (setting the umask to read
    it is not thread-safe), else by setting and restoring it.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def arrays_sha256(arrays: Iterable[Any]) -> str:
    """Return the SHA-256 hex digest of arrays (dtype, shape and bytes of each; ``None`` too).

    Two lists of arrays get the same digest only when every array has the same
    dtype, shape and values, in the same order: a key for artefacts computed
    from them.
    """
    import numpy as np

    digest = hashlib.sha256()
    for arr in arrays:
        if arr is None:
            digest.update(b"none;")
            continue
        arr = np.ascontiguousarray(arr)
        digest.update(f"{arr.dtype.str}{arr.shape};".encode("ascii"))
        digest.update(arr.tobytes())
    return digest.hexdigest()
