"""One server per state directory: an exclusive ``flock`` on ``<state>/server.lock``.

The state directory holds the job database and the result folders; two
servers on it would each recover the other's running jobs as interrupted.
:meth:`StateDirLock.acquire` takes the lock before anything is read or written
there and writes the holder's PID into the file; a second server gets
:class:`StateDirLockedError`, one line naming the directory and the holder,
having touched nothing. The kernel releases the lock when its process ends,
even by ``kill -9``, so a crash never leaves the directory locked.
"""

from __future__ import annotations

import fcntl
import os
from datetime import datetime
from pathlib import Path

from coverage.errors import ConfigError

LOCK_FILE = "server.lock"


class StateDirLockedError(ConfigError):
    """The state directory is in use by another server process."""


class StateDirLock:
    """The held lock of a state directory (see :meth:`acquire`).

    Attributes
    ----------
    folder
        The state directory.
    """

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder = folder
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, folder: str | Path) -> StateDirLock:
        """Lock ``folder`` (created if missing) for this process.

        Raises
        ------
        StateDirLockedError
            When another process holds it (the message names the folder and that process).
        coverage.errors.ConfigError
            When the folder cannot be created or written.
        """
        root = Path(folder).expanduser()
        try:
            root.mkdir(parents=True, exist_ok=True)
            fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(
                f"dossier d'état {root} inutilisable ({exc.strerror or exc}) ; "
                "choisissez-en un autre (COVERAGE_API_STATE_DIR)"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise StateDirLockedError(
                f"le dossier d'état {root} est déjà utilisé par un autre serveur ({holder}) ; "
                "arrêtez-le ou choisissez un autre dossier (COVERAGE_API_STATE_DIR)"
            ) from None
        started = datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {started}\n".encode("ascii"), 0)
        return cls(root, fd)

    @property
    def held(self) -> bool:
        """Whether this object still holds the lock."""
        return self._fd is not None

    def release(self) -> None:
        """Give the directory up (the file stays, emptied: removing it would race a newcomer)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the descriptor releases the flock


def _holder(fd: int) -> str:
    """The holder as its lock file says: ``processus 1234, depuis 2024-05-02T10:00:00+02:00``."""
    try:
        text = os.pread(fd, 200, 0).decode("ascii", errors="replace").split()
    except OSError:
        text = []
    if not text or not text[0].isdigit():
        return "processus inconnu"
    since = f", depuis {text[1]}" if len(text) > 1 else ""
    return f"processus {text[0]}{since}"
