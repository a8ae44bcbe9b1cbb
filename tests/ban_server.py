"""A local HTTP server on 127.0.0.1 that answers like the national address API (api-adresse).

It serves a small address table given by the test:

- ``GET /search/?q=...&citycode=...&postcode=...&limit=...`` -> a GeoCodeJSON
  ``FeatureCollection`` (``version: "draft"``, ``attribution``, ``licence``,
  ``query``, ``filters``, ``limit``; each feature's ``properties`` has
  ``label``, ``score``, ``housenumber``, ``id``, ``name``, ``postcode``,
  ``citycode``, ``x``, ``y``, ``city``, ``context``, ``type``, ``importance``,
  ``street``);
- ``POST /search/csv/`` (multipart ``data`` file, ``columns`` repeated,
  ``citycode``/``postcode`` naming filter columns) -> the CSV with
  ``latitude``, ``longitude``, ``result_label``, ``result_score``,
  ``result_score_next``, ``result_type``, ``result_id``,
  ``result_housenumber``, ``result_name``, ``result_street``,
  ``result_postcode``, ``result_city``, ``result_context``,
  ``result_citycode``, ``result_oldcitycode``, ``result_oldcity``,
  ``result_district``, ``result_status`` appended;
- ``GET /reverse/?lon=...&lat=...`` -> the nearest address as a FeatureCollection.

Its matching is a plain token overlap (the real API's engine is not the point:
its formats and its failure modes are). ``state`` counts requests, records the
last parameters and can be told to fail the next requests with given statuses.
"""

from __future__ import annotations

import csv
import io
import json
import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from http_server import ThreadedServer
from unidecode import unidecode

RESULT_COLUMNS = [
    "latitude",
    "longitude",
    "result_label",
    "result_score",
    "result_score_next",
    "result_type",
    "result_id",
    "result_housenumber",
    "result_name",
    "result_street",
    "result_postcode",
    "result_city",
    "result_context",
    "result_citycode",
    "result_oldcitycode",
    "result_oldcity",
    "result_district",
    "result_status",
]


@dataclass
class Address:
    """One address the server knows."""

    id: str
    housenumber: str
    street: str
    postcode: str
    citycode: str
    city: str
    lon: float
    lat: float


@dataclass
class ServerState:
    """What the server saw and what it is told to do."""

    addresses: list[Address]
    requests: Counter = field(default_factory=Counter)
    last_params: dict = field(default_factory=dict)
    last_form: dict = field(default_factory=dict)
    fail_with: list[int] = field(default_factory=list)
    retry_after: str = ""
    csv_enabled: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)


def _tokens(text: str) -> list[str]:
    clean = "".join(ch if ch.isalnum() else " " for ch in unidecode(text).lower())
    return clean.split()


def search(state: ServerState, q: str, citycode: str = "", postcode: str = "") -> list[dict]:
    """Best matching addresses, as GeoCodeJSON features, best first (at most one)."""
    query = _tokens(q)
    if not query:
        return []
    best: tuple[float, Address | None, str] = (0.0, None, "")
    for address in state.addresses:
        if citycode and address.citycode != citycode:
            continue
        if postcode and address.postcode != postcode:
            continue
        label = _tokens(f"{address.housenumber} {address.street} {address.postcode} {address.city}")
        street_tokens = set(_tokens(address.street))
        overlap = sum(1 for t in query if t in label)
        score = overlap / max(len(set(query) | set(label)), 1)
        number_given = any(t.isdigit() and len(t) < 5 for t in query)
        kind = "housenumber"
        if not number_given or address.housenumber not in query:
            kind = "street" if street_tokens & set(query) else "municipality"
            score *= 0.8
        if score > best[0]:
            best = (score, address, kind)
    score, address, kind = best
    if address is None or score < 0.2:
        return []
    name = f"{address.housenumber} {address.street}" if kind == "housenumber" else address.street
    if kind == "municipality":
        name = address.city
    return [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [address.lon, address.lat]},
            "properties": {
                "label": f"{name} {address.postcode} {address.city}",
                "score": round(min(score * 1.2, 0.99), 4),
                "housenumber": address.housenumber if kind == "housenumber" else None,
                "id": address.id,
                "name": name,
                "postcode": address.postcode,
                "citycode": address.citycode,
                "x": 0.0,
                "y": 0.0,
                "city": address.city,
                "context": "32, Gers, Occitanie",
                "type": kind,
                "importance": 0.5,
                "street": address.street,
            },
        }
    ]


def _collection(features: list[dict], query: str, filters: dict, limit: int) -> dict:
    return {
        "type": "FeatureCollection",
        "version": "draft",
        "features": features[:limit],
        "attribution": "BAN",
        "licence": "ETALAB-2.0",
        "query": query,
        "filters": filters,
        "limit": limit,
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = "ban-test/1.0"

    def log_message(self, *args: object) -> None:  # quiet
        return

    @property
    def state(self) -> ServerState:
        return self.server.state  # type: ignore[attr-defined]

    def _count_and_maybe_fail(self, path: str) -> bool:
        with self.state.lock:
            self.state.requests[path] += 1
            status = self.state.fail_with.pop(0) if self.state.fail_with else 0
        if status:
            body = json.dumps({"code": status, "message": "test failure"}).encode()
            self.send_response(status)
            if self.state.retry_after:
                self.send_header("Retry-After", self.state.retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return True
        return False

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path.rstrip("/") + "/"
        if self._count_and_maybe_fail(path):
            return
        self.state.last_params = params
        if path == "/search/":
            q = params.get("q", "")
            if len(q.strip()) < 3:
                body = json.dumps(
                    {"code": 400, "message": "q must contain between 3 and 200 chars"}
                ).encode()
                self._send(400, body, "application/json")
                return
            filters = {k: params[k] for k in ("citycode", "postcode") if params.get(k)}
            features = search(self.state, q, **filters)
            limit = int(params.get("limit", 5))
            body = json.dumps(_collection(features, q, filters, limit)).encode()
            self._send(200, body, "application/json; charset=utf-8")
        elif path == "/reverse/":
            lon, lat = float(params["lon"]), float(params["lat"])
            nearest = min(self.state.addresses, key=lambda a: math.hypot(a.lon - lon, a.lat - lat))
            feature = search(
                self.state, f"{nearest.housenumber} {nearest.street}", citycode=nearest.citycode
            )
            body = json.dumps(_collection(feature, "", {}, 1)).encode()
            self._send(200, body, "application/json; charset=utf-8")
        else:
            self._send(404, b'{"code": 404, "message": "not found"}', "application/json")

    def do_POST(self) -> None:
        url = urlparse(self.path)
        path = url.path.rstrip("/") + "/"
        if path != "/search/csv/" or not self.state.csv_enabled:
            self.state.requests[path] += 1
            self._send(404, b'{"code": 404, "message": "not found"}', "application/json")
            return
        if self._count_and_maybe_fail(path):
            return
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body
        )
        form: dict[str, list[str]] = {}
        data = b""
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if name == "data":
                data = payload
            else:
                form.setdefault(name, []).append(payload.decode("utf-8"))
        self.state.last_form = form
        if not data:
            self._send(400, b'{"code": 400, "message": "Missing file"}', "application/json")
            return
        text = data.decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text))
        fieldnames = list(reader.fieldnames or [])
        columns = form.get("columns") or fieldnames
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=fieldnames + RESULT_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        for row in reader:
            q = " ".join(row.get(c) or "" for c in columns)
            filters = {
                key: row.get(form[key][0], "")
                for key in ("citycode", "postcode")
                if key in form and row.get(form[key][0], "")
            }
            features = search(self.state, q, **filters)
            result = dict.fromkeys(RESULT_COLUMNS, "")
            if features:
                props = features[0]["properties"]
                lon, lat = features[0]["geometry"]["coordinates"]
                result.update(
                    latitude=lat,
                    longitude=lon,
                    result_label=props["label"],
                    result_score=props["score"],
                    result_type=props["type"],
                    result_id=props["id"],
                    result_housenumber=props["housenumber"] or "",
                    result_name=props["name"],
                    result_street=props["street"],
                    result_postcode=props["postcode"],
                    result_city=props["city"],
                    result_context=props["context"],
                    result_citycode=props["citycode"],
                    result_status="ok",
                )
            else:
                result["result_status"] = "not-found"
            writer.writerow({**row, **result})
        self._send(200, out.getvalue().encode("utf-8"), "text/csv; charset=utf-8")


class BanTestServer(ThreadedServer):
    """Serve ``addresses`` on 127.0.0.1 (a free port) in a background thread.

    Use as a context manager; ``url`` is the base URL, ``state`` the counters.
    """

    def __init__(self, addresses: list[Address]) -> None:
        self.state = ServerState(addresses=list(addresses))
        super().__init__(_Handler)
        self._server.state = self.state  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        return self.base_url
