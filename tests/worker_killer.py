"""Kill a Dask worker while it holds a task, for the fault tests on a LocalCluster."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any


class BusyWorkerKiller:
    """A thread that SIGKILLs the first worker seen processing a task.

    Not after a fixed delay: the run may be over by then. ``killed`` holds
    ``(monotonic time, worker address, keys it held)``; ``pids`` the workers'
    process ids before the kill.
    """

    def __init__(self, client: Any, *, timeout_s: float = 120.0) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.pids: dict[str, int] = client.run(os.getpid)
        self.killed: list[tuple[float, str, list]] = []
        self._thread = threading.Thread(target=self._kill_a_busy_worker)

    def _kill_a_busy_worker(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            busy = {w: keys for w, keys in self.client.processing().items() if keys}
            if busy:
                worker, keys = sorted(busy.items())[0]
                os.kill(self.pids[worker], signal.SIGKILL)
                self.killed.append((time.monotonic(), worker, list(keys)))
                return
            time.sleep(0.005)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
