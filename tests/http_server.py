"""A local HTTP server on 127.0.0.1 for download tests: registered paths, Range, cuts, counts.

``LocalHTTPServer`` runs a threading ``http.server`` on ``127.0.0.1`` (port 0,
so the system picks a free one). A test registers what each path answers:

- ``add(path, body, content_type=...)``: a fixed body (bytes or text), served
  to GET whatever the query string; it honours ``Range: bytes=N-`` (206 with
  ``Content-Range``, ``If-Range`` checked against the ``ETag``) unless
  ``honour_range=False``;
- ``add_handler(path, func)``: ``func(request) -> (status, headers, body)`` for
  answers that depend on the request (POST forms, query parameters);
- ``cut_once(path, after_bytes)``: the next answer announces the full
  ``Content-Length`` but the connection is closed after ``after_bytes`` bytes;
- ``fail_next(path, *statuses)``: the next answers are these HTTP errors.

Every request is recorded (method, path, query, headers, body): ``count(path)``
and ``requests(path)`` let a test check what the code under test asked for.
The ``http_server`` fixture yields a started server and stops it afterwards;
:func:`closed_port_url` gives a URL on which nothing listens (connection refused).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Request], tuple[int, dict[str, str], bytes]]


@dataclass
class Route:
    """What a path answers."""

    body: bytes = b""
    content_type: str = "application/octet-stream"
    honour_range: bool = True
    etag: str = ""
    handler: Handler | None = None
    cut_after: list[int] = field(default_factory=list)
    fail_with: list[int] = field(default_factory=list)


class ThreadedServer:
    """An HTTP server on 127.0.0.1 (a free port) served from a daemon thread.

    The lifecycle every local test server shares: ``start``/``stop`` or use as a
    context manager; ``base_url`` is ``http://127.0.0.1:<port>``.
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalHTTPServer(ThreadedServer):
    """A threading HTTP server on 127.0.0.1 serving registered paths (see the module docstring)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[Request] = []
        self.lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                server._serve(self, "GET")

            def do_POST(self) -> None:
                server._serve(self, "POST")

        super().__init__(_Handler)

    # --- registration -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        return self.base_url

    def add(
        self,
        path: str,
        body: bytes | str,
        *,
        content_type: str = "application/octet-stream",
        honour_range: bool = True,
        etag: str = "",
    ) -> str:
        """Serve a fixed body at ``path``; return its full URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(
            body=data, content_type=content_type, honour_range=honour_range, etag=etag
        )
        return self.url + path

    def add_handler(self, path: str, handler: Handler) -> str:
        """Answer ``path`` with ``handler(request) -> (status, headers, body)``; return its URL."""
        self.routes[path] = Route(handler=handler)
        return self.url + path

    def cut_once(self, path: str, after_bytes: int) -> None:
        """Close the connection after ``after_bytes`` bytes of the next answer of ``path``."""
        self.routes[path].cut_after.append(after_bytes)

    def fail_next(self, path: str, *statuses: int) -> None:
        """Answer the next requests of ``path`` with these HTTP error statuses."""
        self.routes[path].fail_with.extend(statuses)

    # --- what was asked -----------------------------------------------------------------

    def requests(self, path: str | None = None) -> list[Request]:
        """The requests received (for one path, or all)."""
        with self.lock:
            return [r for r in self.log if path is None or r.path == path]

    def count(self, path: str | None = None) -> int:
        """Number of requests received (for one path, or all)."""
        return len(self.requests(path))

    # --- serving ------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length", "0") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Request(
            method=method,
            path=parts.path,
            query={k: v[-1] for k, v in parse_qs(parts.query).items()},
            headers={k: v for k, v in handler.headers.items()},
            body=body,
        )
        with self.lock:
            self.log.append(request)
            route = self.routes.get(parts.path)
            fail = route.fail_with.pop(0) if route and route.fail_with else None
            cut = route.cut_after.pop(0) if route and route.cut_after else None
        if route is None:
            self._send(handler, 404, {"Content-Type": "text/plain"}, b"not found")
            return
        if fail is not None:
            self._send(handler, fail, {"Content-Type": "text/html"}, b"<html>error</html>")
            return
        if route.handler is not None:
            status, headers, data = route.handler(request)
            self._send(handler, status, headers, data, cut=cut)
            return
        if method != "GET":
            self._send(handler, 405, {"Content-Type": "text/plain"}, b"method not allowed")
            return
        data = route.body
        headers = {"Content-Type": route.content_type, "Accept-Ranges": "bytes"}
        if route.etag:
            headers["ETag"] = route.etag
        wanted = handler.headers.get("Range", "")
        if_range = handler.headers.get("If-Range", "")
        if (
            wanted.startswith("bytes=")
            and route.honour_range
            and (not if_range or not route.etag or if_range == route.etag)
        ):
            first, _, last = wanted[len("bytes=") :].partition("-")
            start = int(first)
            end = int(last) if last else len(data) - 1
            if start >= len(data):
                self._send(handler, 416, {"Content-Range": f"bytes */{len(data)}"}, b"")
                return
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            self._send(handler, 206, headers, data[start : end + 1], cut=cut)
            return
        self._send(handler, 200, headers, data, cut=cut)

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        headers: dict[str, str],
        data: bytes,
        *,
        cut: int | None = None,
    ) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        if cut is not None and cut < len(data):
            handler.wfile.write(data[:cut])
            handler.wfile.flush()
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        handler.wfile.write(data)

    # --- lifetime -----------------------------------------------------------------------


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def http_server() -> Iterator[LocalHTTPServer]:
    """A started :class:`LocalHTTPServer`, stopped after the test."""
    with LocalHTTPServer() as server:
        yield server
