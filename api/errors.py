"""Error responses: the engine's domain errors mapped once to HTTP status codes.

Routers and the engine raise :class:`coverage.errors.CoverageError` subclasses
(or the few API-level ones below); :func:`install_error_handlers` turns them
into JSON bodies ``{"error": <kind>, "message": <one line>, ...}``. Nothing in
``coverage`` knows about HTTP.

=================================================  ======
error                                              status
=================================================  ======
request validation (pydantic), ConfigError,        422
DataError, QueryError (bad parameter values)
:class:`PointOutsideError` (coordinates outside)   400
TerritoryNotFoundError, :class:`NotFoundError`     404
:class:`RunNotReadyError`                          409
OutputExistsError, :class:`AlreadyExistsError`     409
:class:`UploadTooLargeError` (file, rows)          413
:class:`QueueFullError`, :class:`BudgetExceededError` 429
:class:`AuthenticationError` (missing/bad token)   401
:class:`WritesDisabledError` (no token set)        403
:class:`UnavailableError` (job database refusing,  503
its reads or writes; job worker stopped)
:class:`ServerFaultError` (damaged server data)    500
=================================================  ======

Messages of domain errors never carry an absolute server path (:mod:`api.redact`);
a refusal that waiting cures carries ``Retry-After``.

Bodies over the size limit get ``413`` from :class:`api.security.BodySizeLimit`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.redact import strip_paths_in_text
from coverage._french import plural
from coverage.errors import CoverageError, OutputExistsError, QueryError, TerritoryNotFoundError


class ApiError(CoverageError):
    """An error found by the API itself; ``field`` names the faulty parameter when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class NotFoundError(ApiError, LookupError):
    """A run, EPCI or other named object that does not exist."""


class InvalidParameterError(ApiError, QueryError):
    """A well-formed parameter whose value the territory does not know (a kind, a canton)."""


class PointOutsideError(ApiError, QueryError):
    """Coordinates outside the territory (beyond the allowed margin)."""


class RunNotReadyError(ApiError):
    """Results asked of a run that is not ``done``."""


class AlreadyExistsError(ApiError, OutputExistsError):
    """Something the request would create exists already (a service list of that name)."""


class UploadTooLargeError(ApiError):
    """An uploaded file larger than the server accepts (bytes or rows)."""


class QueueFullError(ApiError):
    """Too many runs are waiting."""


class BudgetExceededError(ApiError):
    """An anonymous request over its cost budget (:mod:`api.budget`).

    ``retry_after_s`` is the wait after which the same request would pass, or None
    when it never passes without the token.
    """

    def __init__(
        self, message: str, *, field: str | None = None, retry_after_s: int | None = None
    ) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, field=field)


class ServerFaultError(ApiError):
    """The server's own data is unreadable (a damaged result folder): not the client's fault."""


class AuthenticationError(ApiError):
    """Missing or wrong bearer token on a write endpoint."""


class WritesDisabledError(ApiError):
    """A write endpoint was called but no token is configured."""


class UnavailableError(ApiError):
    """The server cannot take the request now: its job database refuses, or its worker died."""


STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    (TerritoryNotFoundError, 404, "not_found"),
    (NotFoundError, 404, "not_found"),
    (PointOutsideError, 400, "outside_territory"),
    (RunNotReadyError, 409, "not_ready"),
    (OutputExistsError, 409, "exists"),
    (UploadTooLargeError, 413, "body_too_large"),
    (QueueFullError, 429, "queue_full"),
    (BudgetExceededError, 429, "budget"),
    (ServerFaultError, 500, "internal"),
    (AuthenticationError, 401, "unauthorized"),
    (WritesDisabledError, 403, "writes_disabled"),
    (UnavailableError, 503, "unavailable"),
    (CoverageError, 422, "invalid"),
)
"""Domain error classes and their status codes, most specific first."""


def error_body(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of every error response."""
    return {"error": kind, "message": message, **extra}


def status_of(exc: Exception) -> tuple[int, str]:
    """Status code and error kind of a domain error."""
    for cls, status, kind in STATUS:
        if isinstance(exc, cls):
            return status, kind
    return 500, "internal"


def field_name(loc: tuple[Any, ...] | list[Any]) -> tuple[str, str]:
    """``("body", "points", 0, "lat")`` -> ``("points[0].lat", "body")``."""
    parts = list(loc)
    where = str(parts.pop(0)) if parts and parts[0] in ("body", "query", "path", "header") else ""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or where or "request", where


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One readable line naming each faulty field."""
    lines = []
    for err in errors[:5]:
        name, where = field_name(err.get("loc", ()))
        msg = str(err.get("msg", "valeur invalide"))
        lines.append(f"champ '{name}'" + (f" ({where})" if where else "") + f" : {msg}")
    more = len(errors) - 5
    return " ; ".join(lines) + (f" ; et {plural(more, 'autre erreur')}" if more > 0 else "")


def _clean(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors as plain JSON (pydantic may carry exception objects in ``ctx``)."""
    out = []
    for err in errors:
        name, where = field_name(err.get("loc", ()))
        out.append(
            {
                "field": name,
                "in": where,
                "loc": [p if isinstance(p, int | str) else str(p) for p in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


def _domain_field(exc: Exception) -> str | None:
    return getattr(exc, "field", None) if isinstance(getattr(exc, "field", None), str) else None


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn errors into JSON responses."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return JSONResponse(
            status_code=422,
            content=error_body("validation", validation_message(errors), detail=_clean(errors)),
        )

    @app.exception_handler(CoverageError)
    async def _domain(_request: Request, exc: CoverageError) -> JSONResponse:
        status, kind = status_of(exc)
        headers = None
        if isinstance(exc, AuthenticationError):
            headers = {"WWW-Authenticate": 'Bearer realm="coverage"'}
        if isinstance(exc, BudgetExceededError) and exc.retry_after_s is not None:
            headers = {"Retry-After": str(exc.retry_after_s)}
        extra: dict[str, Any] = {}
        if (name := _domain_field(exc)) is not None:
            extra["field"] = name
        return JSONResponse(
            status_code=status,
            content=error_body(kind, strip_paths_in_text(str(exc)) or kind, **extra),
            headers=headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's "error parsing the body" (not UTF-8 JSON)
            return JSONResponse(
                status_code=422,
                content=error_body(
                    "validation",
                    f"field 'body': {exc.detail}; send a UTF-8 JSON body",
                    field="body",
                ),
            )
        kinds = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        return JSONResponse(
            status_code=exc.status_code,
            content=error_body(kinds.get(exc.status_code, "http"), str(exc.detail)),
            headers=getattr(exc, "headers", None),
        )
