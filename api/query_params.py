"""Refuse a query parameter given more than once.

Every query parameter of the API holds one value (``limit``, ``offset``,
``public``…). Starlette keeps all the values of a repeated parameter and
FastAPI reads the last one, so ``?offset=abc&offset=6`` was accepted although
its first value is invalid and the schema describes one integer.
:class:`SingleQueryValues` answers such a request with ``422`` naming the
parameter, before any route runs.
"""

from __future__ import annotations

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


class SingleQueryValues:
    """ASGI middleware: ``422`` when a query parameter is repeated."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        repeated = repeated_parameters(scope["query_string"])
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
