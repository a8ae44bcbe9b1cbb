"""Headless Chromium for the map tests: the browser and Leaflet found or the test skipped, the API
under uvicorn on 127.0.0.1.

Environment:

- ``COVERAGE_TEST_ASSETS``: the folder served as ``/assets``, holding
  ``leaflet/dist/leaflet.js`` (npm's ``node_modules`` folder; default
  ``.ci-assets/node_modules``, made by ``npm install --prefix .ci-assets leaflet@1.9``);
- ``COVERAGE_CHROMIUM``: the browser (default ``/usr/bin/chromium``, Debian's ``chromium``);
- ``COVERAGE_REQUIRE_BROWSER=1`` (CI): a missing browser, playwright or asset
  folder fails the test instead of skipping it.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def missing(reason: str) -> None:
    """Fail when CI requires the browser tests, skip otherwise."""
    if os.environ.get("COVERAGE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required (COVERAGE_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


def browser_requirements() -> tuple[Path, Path]:
    """The Chromium executable and the assets folder, or a clear failure/skip."""
    chromium = Path(os.environ.get("COVERAGE_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.is_file():
        missing(f"{chromium} does not exist (apt-get install chromium, or set COVERAGE_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the Python package playwright is not installed (pip install -e '.[dev]')")
    assets = Path(
        os.environ.get("COVERAGE_TEST_ASSETS", REPO / ".ci-assets" / "node_modules")
    ).resolve()
    if not (assets / "leaflet" / "dist" / "leaflet.js").is_file():
        missing(
            f"no Leaflet under {assets} (npm install --prefix .ci-assets leaflet@1.9, "
            "or set COVERAGE_TEST_ASSETS to a node_modules folder)"
        )
    return chromium, assets


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def blank_tile() -> bytes:
    """A grey 256×256 PNG tile."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (236, 236, 232)).save(buffer, format="PNG")
    return buffer.getvalue()


@contextmanager
def serve_app(app: Any, port: int, *, timeout_s: float = 240.0) -> Iterator[None]:
    """Run an ASGI app under uvicorn on ``127.0.0.1:port`` in a thread until the block ends."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped during start-up (see the log above)"
            assert time.monotonic() < deadline, f"the API did not start within {timeout_s} s"
            time.sleep(0.2)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)
