"""``OPTIONS`` and ``405`` answers that list exactly the methods of the resource.

Starlette answers a method a path does not have with ``405`` and an ``Allow``
header naming the methods of the first route of that path only
(``/scenarios`` has GET and POST in two routes: ``Allow: POST``), and a plain
``OPTIONS`` request with that same ``405``. :class:`AllowedMethods` answers:

- ``OPTIONS`` on a path of the API: ``204`` with ``Allow`` listing every method
  the path has (``HEAD`` with ``GET``, and ``OPTIONS``); a CORS preflight is
  answered first by the CORS middleware when ``COVERAGE_API_CORS_ORIGINS`` is
  set, and here, without CORS headers, when it is not (the browser then refuses
  the cross-origin request);
- a ``405`` of the router: the same complete ``Allow``;
- an unknown path: the router's JSON ``404``, for every method.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Match

ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PROBED = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: Any, scope: dict[str, Any]) -> list[str]:
    """The methods the app's routes answer on the path of ``scope`` (empty: unknown path).

    Each method is tried against the routes as the router would (``matches``), so
    that routers included in others and mounted folders count too.
    """
    routes = list(getattr(app, "routes", ()))
    methods = {
        method
        for method in PROBED
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    }
    if not methods:
        return []
    if "GET" in methods:
        methods.add("HEAD")
    methods.add("OPTIONS")
    return sorted(methods, key=ORDER.index)


class AllowedMethods:
    """ASGI middleware: ``OPTIONS`` answered with ``Allow``, complete ``Allow`` on ``405``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        router = scope.get("app", self.app)
        if scope.get("method") == "OPTIONS":
            methods = allowed_methods(router, scope)
            if methods:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": [(b"allow", ", ".join(methods).encode())],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return

        async def complete_allow(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 405:
                methods = allowed_methods(router, scope)
                if methods:
                    headers = [(k, v) for k, v in message.get("headers", []) if k != b"allow"]
                    headers.append((b"allow", ", ".join(methods).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, complete_allow)
