"""Refuse a query parameter given more than once.

A query parameter the OpenAPI schema describes as one value (``limit``,
``offset``…) may appear once. Starlette keeps all the values of a repeated
parameter and FastAPI reads the last one, so ``?offset=abc&offset=6`` was
accepted although its first value is invalid. :class:`SingleQueryValues`
answers such a request with ``422`` naming the parameter, before the route
runs; parameters the schema describes as arrays (``kind``, ``status`` of the
services and coverage) keep their repeated values.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

from api.errors import error_body
from api.geojson import dumps


def repeated_parameters(query_string: bytes) -> list[str]:
    """Names of the query parameters given more than once, in order of first appearance."""
    text = query_string.decode("latin-1")
    counts = Counter(name for name, _ in parse_qsl(text, keep_blank_values=True))
    return [name for name, count in counts.items() if count > 1]


def _is_array(schema: dict[str, Any]) -> bool:
    """Whether a parameter's schema takes a list (possibly inside ``anyOf``/``oneOf``)."""
    if schema.get("type") == "array":
        return True
    return any(_is_array(s) for s in [*schema.get("anyOf", ()), *schema.get("oneOf", ())])


def array_parameters(openapi: dict[str, Any]) -> dict[tuple[str, str], frozenset[str]]:
    """``(path, METHOD)`` -> names of its query parameters that take a list, from the schema."""
    out: dict[tuple[str, str], frozenset[str]] = {}
    for path, item in openapi.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            names = frozenset(
                str(p["name"])
                for p in operation.get("parameters", ())
                if p.get("in") == "query" and _is_array(p.get("schema", {}))
            )
            out[(path, method.upper())] = names
    return out


def _template_regex(path: str) -> re.Pattern[str]:
    """``/territories/{territory}/services`` -> a regex matching its concrete paths."""
    parts = re.split(r"\{[^}]+\}", path)
    return re.compile("[^/]+".join(re.escape(part) for part in parts))


class SingleQueryValues:
    """ASGI middleware: ``422`` when a one-value query parameter is repeated."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._arrays: list[tuple[re.Pattern[str], str, frozenset[str]]] | None = None

    def _allowed(self, scope: dict[str, Any]) -> frozenset[str]:
        """Names of the path's list parameters for the method (none for an unknown path)."""
        app = scope.get("app")
        if app is None or not hasattr(app, "openapi"):
            return frozenset()
        if self._arrays is None:
            self._arrays = [
                (_template_regex(path), method, names)
                for (path, method), names in array_parameters(app.openapi()).items()
                if names
            ]
        method = "GET" if scope.get("method") == "HEAD" else str(scope.get("method"))
        path = str(scope.get("path", ""))
        for regex, route_method, names in self._arrays:
            if route_method == method and regex.fullmatch(path):
                return names
        return frozenset()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        repeated = repeated_parameters(scope["query_string"])
        if repeated:
            allowed = self._allowed(scope)
            repeated = [name for name in repeated if name not in allowed]
        if not repeated:
            await self.app(scope, receive, send)
            return
        name = repeated[0][:64]
        message = (
            f"champ '{name}' (query) : paramètre donné plusieurs fois ; "
            "chaque paramètre de requête prend une seule valeur"
        )
        detail = [
            {
                "field": n[:64],
                "in": "query",
                "loc": ["query", n[:64]],
                "msg": message,
                "type": "repeated",
            }
            for n in repeated
        ]
        body = dumps(error_body("validation", message, field=name, detail=detail))
        await send(
            {
                "type": "http.response.start",
                "status": 422,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
