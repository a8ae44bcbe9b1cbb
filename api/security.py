"""Access control and request limits: bearer token on writes, request body size.

Reads are open. Every endpoint that changes state depends on
:func:`require_token`: with no token configured the write endpoints answer
``403`` (saying how to configure one) rather than being open; a missing or
wrong token gets ``401`` with ``WWW-Authenticate: Bearer``. Tokens are
compared in constant time.

:class:`BodySizeLimit` refuses request bodies larger than the limit with
``413``, from ``Content-Length`` when given and while reading otherwise; file
uploads (``POST /geocode``, ``POST /services/...``) have their own, larger
limit (the file's, plus room for the form around it).
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from api.errors import AuthenticationError, WritesDisabledError, error_body
from api.geojson import dumps
from coverage._french import plural

TOKEN_ENV = "COVERAGE_API_TOKEN"
UPLOAD_PREFIXES: tuple[str, ...] = ("/geocode", "/services/")
"""Paths whose POST bodies are file uploads (``max_upload_bytes``)."""
MULTIPART_MARGIN = 64 * 1024
"""Bytes allowed around an uploaded file (form fields, part headers)."""

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerToken",
    description=(
        f"Jeton d'écriture (variable d'environnement {TOKEN_ENV} du serveur), "
        "envoyé comme `Authorization: Bearer <jeton>`."
    ),
)


def require_token(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),  # noqa: B008
) -> None:
    """Dependency of write endpoints: the configured bearer token must be given.

    Raises
    ------
    WritesDisabledError
        No token is configured on the server (403).
    AuthenticationError
        The token is missing or wrong (401).
    """
    token = request.app.state.settings.token
    if token is None:
        raise WritesDisabledError(
            "les points d'accès en écriture sont désactivés sur ce serveur : définir la "
            f"variable d'environnement {TOKEN_ENV} (16 caractères au moins) ou passer "
            "--token-env à 'coverage serve', puis l'envoyer en 'Authorization: Bearer <jeton>'"
        )
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError(
            "ce point d'accès demande le jeton de l'API : envoyer 'Authorization: Bearer <jeton>'",
            field="Authorization",
        )
    if not secrets.compare_digest(credentials.credentials.encode(), token.encode()):
        raise AuthenticationError("le jeton de l'API n'est pas valide", field="Authorization")


class BodySizeLimit:
    """ASGI middleware: ``413`` for request bodies over ``max_bytes``.

    Parameters
    ----------
    app
        The wrapped ASGI application.
    max_bytes
        Largest accepted body.
    upload_bytes
        Largest uploaded file on the upload paths (:data:`UPLOAD_PREFIXES`; None:
        ``max_bytes`` there too).
    """

    def __init__(self, app: Any, max_bytes: int, upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes

    def _limit(self, scope: dict[str, Any]) -> tuple[int, str]:
        path = str(scope.get("path", ""))
        if (
            self.upload_bytes is not None
            and scope.get("method") == "POST"
            and path.startswith(UPLOAD_PREFIXES)
        ):
            return self.upload_bytes + MULTIPART_MARGIN, "COVERAGE_API_MAX_UPLOAD_BYTES"
        return self.max_bytes, "COVERAGE_API_MAX_BODY_BYTES"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self._limit(scope)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    await self._refuse(send, limit, setting)
                    return
        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # an HTTPException goes through FastAPI's body reading untouched
                    raise HTTPException(status_code=413, detail=self._message(limit, setting))
            return message

        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except HTTPException as exc:
            if exc.status_code != 413 or started:
                raise
            await self._refuse(send, limit, setting)

    @staticmethod
    def _message(limit: int, setting: str) -> str:
        return (
            f"le corps de la requête dépasse {plural(limit, 'octet')} (limite fixée par {setting})"
        )

    async def _refuse(self, send: Any, limit: int, setting: str) -> None:
        body = dumps(error_body("body_too_large", self._message(limit, setting)))
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
