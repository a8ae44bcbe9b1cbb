"""A local HTTP server on 127.0.0.1 that answers osmnx's Overpass requests with Overpass JSON.

``POST /api/interpreter`` with a form field ``data`` holding an Overpass QL
query such as osmnx sends::

    [out:json][timeout:180];(way["highway"]["area"!~"yes"]...(poly:'lat lon lat lon ...');>;);out;

The server applies what matters of the query to the ways it holds: the tag
clauses (``["key"]``, ``["key"="v"]``, ``["key"~"re"]``, ``["key"!~"re"]``)
and the polygon (a way is returned when one of its nodes falls inside the
polygon), then answers as Overpass does: ``version``, ``generator``,
``osm3s`` (``timestamp_osm_base``, ``copyright``) and ``elements`` (the nodes
of the selected ways, then the ways with ``nodes`` and ``tags``).
``GET /api/status`` answers the rate-limit status text. ``state`` records the
queries and can be told to answer with an HTTP error status.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

from http_server import ThreadedServer

_CLAUSE = re.compile(r'\["([^"]+)"(?:(=|!=|~|!~)"([^"]*)")?\]')
_POLY = re.compile(r"poly:\s*['\"]([^'\"]+)['\"]")


@dataclass
class OverpassState:
    """The data the server holds and what it saw."""

    nodes: dict[int, tuple[float, float]]  # id -> (lon, lat)
    ways: list[dict]  # {"id": int, "nodes": [ids], "tags": {...}}
    queries: list[str] = field(default_factory=list)
    fail_with: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _tag_match(tags: dict[str, str], clauses: list[tuple[str, str, str]]) -> bool:
    for key, op, value in clauses:
        present = key in tags
        if not op:
            if not present:
                return False
        elif op == "=":
            if tags.get(key) != value:
                return False
        elif op == "!=":
            if tags.get(key) == value:
                return False
        elif op == "~":
            if not present or not re.search(value, tags[key]):
                return False
        elif op == "!~" and present and re.search(value, tags[key]):
            return False
    return True


def _inside(lon: float, lat: float, ring: list[tuple[float, float]]) -> bool:
    inside = False
    for i in range(len(ring)):
        x1, y1 = ring[i]
        x2, y2 = ring[(i + 1) % len(ring)]
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def answer(state: OverpassState, query: str) -> dict:
    """Return the Overpass JSON answer to a query."""
    clauses = [(m[0], m[1], m[2]) for m in _CLAUSE.findall(query)]
    rings = []
    for poly in _POLY.findall(query):
        values = [float(v) for v in poly.split()]
        rings.append([(values[i + 1], values[i]) for i in range(0, len(values), 2)])
    ways = []
    for way in state.ways:
        if not _tag_match(way["tags"], clauses):
            continue
        if rings and not any(
            _inside(*state.nodes[n], ring) for n in way["nodes"] for ring in rings
        ):
            continue
        ways.append(way)
    node_ids = sorted({n for way in ways for n in way["nodes"]})
    elements = [
        {"type": "node", "id": n, "lat": state.nodes[n][1], "lon": state.nodes[n][0]}
        for n in node_ids
    ]
    elements += [
        {"type": "way", "id": w["id"], "nodes": list(w["nodes"]), "tags": dict(w["tags"])}
        for w in ways
    ]
    return {
        "version": 0.6,
        "generator": "Overpass API 0.7.62.1 084b4234",
        "osm3s": {
            "timestamp_osm_base": "2025-01-19T21:21:36Z",
            "copyright": (
                "The data included in this document is from www.openstreetmap.org. "
                "The data is made available under ODbL."
            ),
        },
        "elements": elements,
    }


class _Handler(BaseHTTPRequestHandler):
    state: OverpassState

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/api/status"):
            text = "Connected as: 1\nCurrent time: 2025-01-20T00:00:00Z\n2 slots available now.\n"
            self._send(200, text.encode(), "text/plain")
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        if not self.path.startswith("/api/interpreter"):
            self._send(404, b"not found", "text/plain")
            return
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode("utf-8"))
        query = form.get("data", [""])[0]
        with self.state.lock:
            self.state.queries.append(query)
            status = self.state.fail_with.pop(0) if self.state.fail_with else 200
        if status != 200:
            self._send(status, b"<html><body>error</body></html>", "text/html")
            return
        body = json.dumps(answer(self.state, query)).encode("utf-8")
        self._send(200, body, "application/json")


class OverpassTestServer(ThreadedServer):
    """Run an Overpass-like server on 127.0.0.1 in a thread (use as a context manager)."""

    def __init__(self, nodes: dict[int, tuple[float, float]], ways: list[dict]) -> None:
        self.state = OverpassState(nodes=nodes, ways=ways)
        super().__init__(type("Handler", (_Handler,), {"state": self.state}))

    @property
    def url(self) -> str:
        """Base URL to set as ``osmnx.settings.overpass_url``."""
        return f"{self.base_url}/api"
