"""RFC 9457 problem details: every error of the API is one ``application/problem+json`` shape.

``type`` is a stable URI naming the problem (``https://gridledger.dev/problems/<code>``),
``title`` its short name, ``status`` the HTTP status, ``detail`` what was wrong and how to fix it
(the message of the library's error), ``instance`` the request path. Library errors map to a
status by class: access errors carry their own (401/403/404/409), validation errors
(:class:`~gridledger.errors.ValidationError`: bad orders, signatures, slots, commands) are 422,
market state conflicts (a frozen book, a reused nonce) 409, the rest of the tree 400; anything else
is a 500 that names no internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridledger.errors import (
    GridLedgerError,
    MarketError,
    SlotError,
    StoreError,
    TelemetryError,
    ValidationError,
)
from gridledger.service.access import AccessError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://gridledger.dev/problems/"


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


_DESCRIPTIONS = {
    400: "The request is not valid",
    401: "Not signed in",
    403: "Not allowed for this account",
    404: "Not found (or not yours)",
    409: "Conflicts with the current state (replay, reused nonce, closed gate)",
    422: "The request's fields or signature do not validate",
}
#: The error responses every operation documents.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text, "content": {PROBLEM_MEDIA_TYPE: {}}}
    for code, text in _DESCRIPTIONS.items()
}


def problem(status: int, code: str, detail: str, instance: str | None = None) -> JSONResponse:
    body = Problem(
        type=TYPE_BASE + code,
        title=code.replace("-", " "),
        status=status,
        detail=detail,
        instance=instance,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_MEDIA_TYPE
    )


def status_of(exc: GridLedgerError) -> tuple[int, str]:
    """The HTTP status and problem code of a library error."""
    if isinstance(exc, AccessError):
        return exc.status, exc.code
    if isinstance(exc, SlotError):
        return 409, "gate-closed"
    if isinstance(exc, ValidationError):
        return 422, "invalid"
    if isinstance(exc, MarketError):
        return 409, "market-state"
    if isinstance(exc, StoreError | TelemetryError):
        return 503, "unavailable"
    return 400, "bad-request"


def install(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""

    @app.exception_handler(GridLedgerError)
    async def library_error(request: Request, exc: GridLedgerError) -> JSONResponse:
        status, code = status_of(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return problem(status, code, str(exc), request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return problem(422, "invalid", "; ".join(parts) or "invalid request", request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, code, str(exc.detail), request.url.path)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return problem(500, "internal", "the server failed; see its log", request.url.path)
