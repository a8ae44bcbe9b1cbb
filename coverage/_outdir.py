"""Results written whole: a staging folder next to the target, then an atomic swap.

A reader (the API, a planner's file browser) never sees a half-written result:
outputs go to a hidden staging folder beside the target, which replaces the
target in one rename once every file is written. :func:`staged_file` does the
same for a single output file (a geocoded table, a service catalogue). A process
killed meanwhile leaves its staging folder (``.<name>.tmp-<pid>-<ns>``, or
``.<name>.old-<pid>-<ns>`` during the swap); :func:`sweep_staging` removes those
of dead processes.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from coverage.errors import OutputError, OutputExistsError


def refuse_existing(target: str | Path, *, overwrite: bool) -> None:
    """Raise :class:`~coverage.errors.OutputExistsError` if ``target`` exists, unless ``overwrite``.

    The one check (and message) of every command that writes a folder.
    """
    if Path(target).exists() and not overwrite:
        raise OutputExistsError(
            f"le dossier {target} existe déjà ; choisissez-en un autre ou ajoutez --overwrite"
        )


def staging_dir(target: Path) -> Path:
    """Create and return a hidden staging folder beside ``target`` (same file system)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{time.time_ns()}"
    tmp.mkdir()
    return tmp


_STAGING = re.compile(r"^\..+\.(?:tmp|old)-(?P<pid>[0-9]+)-[0-9]+$")


def sweep_staging(folder: str | Path) -> list[Path]:
    """Remove the staging folders that crashed writers left in ``folder``; return them.

    A staging folder is kept when the process that made it is alive and not this one
    (a writer at work); this process calls the sweep before writing anything.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    removed = []
    for entry in sorted(root.iterdir()):
        found = _STAGING.match(entry.name)
        if found is None or not entry.is_dir() or entry.is_symlink():
            continue
        pid = int(found["pid"])
        if pid != os.getpid() and _alive(pid):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OverflowError:
        return False
    return True


def replace_dir(tmp: Path, target: Path) -> None:
    """Move the finished staging folder ``tmp`` to ``target``, replacing what was there."""
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}-{time.time_ns()}"
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


@contextmanager
def staged_file(target: str | Path) -> Iterator[Path]:
    """Give a path to write ``target`` under; it becomes ``target`` only if the block succeeds.

    The file is written in a hidden staging folder beside ``target`` and moved
    over it in one rename at the end; an error or an interruption (Ctrl-C)
    leaves ``target`` as it was and removes the staging folder.

    Raises
    ------
    coverage.errors.OutputError
        The folder cannot be written (read-only, disk full...), naming ``target``.
    """
    target = Path(target)
    try:
        tmp = staging_dir(target)
    except OSError as exc:
        raise OutputError(f"écriture impossible de {target} : {exc.strerror or exc}") from None
    try:
        part = tmp / target.name
        yield part
        os.replace(part, target)
    except OSError as exc:
        raise OutputError(f"écriture impossible de {target} : {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
