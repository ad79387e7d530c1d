"""The OpenADR 3.0.1 VTN over HTTP, at :data:`VTN_PREFIX` (``/openadr3/3.0.1``).

The paths, query parameters (``skip``, ``limit``, ``programID``, ...), bodies and status codes
are the specification's: lists are plain JSON arrays paged by ``skip``/``limit`` (not the
``/api/v1`` cursor pages), a created object is ``201``, a deleted one is returned with ``200``.
Errors are the spec's Problem (RFC 7807/9457), as everywhere in gridledger.

Authentication is the spec's OAuth 2 client-credentials flow: ``GET /auth/server`` names the
token URL, ``POST /auth/token`` (``grant_type=client_credentials`` with ``client_id`` and
``client_secret`` as form fields, JSON, or HTTP Basic) returns a Bearer token. A session token
of ``/api/v1/auth/login`` is accepted too, as a Bearer token or the app's session cookie (an
operator's session is the BL, a household's the VEN of its sites). Who may do what is
:mod:`gridledger.service.vtn` with the one policy.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from gridledger.api.openadr_schemas import (
    AuthServerOut,
    EventIn,
    EventOut,
    ProgramIn,
    ProgramOut,
    ReportIn,
    ReportOut,
    TokenOut,
    VenOut,
)
from gridledger.api.problems import PROBLEM_RESPONSES
from gridledger.api.session import COOKIE, PlatformDep
from gridledger.errors import ValidationError
from gridledger.service.access import AuthenticationError, Principal
from gridledger.service.platform import Platform
from gridledger.service.vtn import MAX_LIMIT, Vtn

#: Where the VTN is served (the base URL a VEN is configured with).
VTN_PREFIX = "/openadr3/3.0.1"

router = APIRouter(prefix=VTN_PREFIX, tags=["OpenADR 3 VTN"], responses=PROBLEM_RESPONSES)
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="openadr3",
    description="Access token of POST /openadr3/3.0.1/auth/token, or an /api/v1 session token",
)

_cookie = APIKeyCookie(
    name=COOKIE, auto_error=False, description="The app's session cookie (the operator's page)"
)

Skip = Annotated[int, Query(ge=0, le=10**6)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Name = Annotated[str | None, Query(max_length=128)]


def vtn_of(platform: Platform) -> Vtn:
    assert platform.vtn is not None, "open() the platform first"
    return platform.vtn


async def vtn_caller(
    request: Request,
    platform: PlatformDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    token = bearer.credentials if bearer is not None else None
    if token is not None and platform.vtn is not None:
        p = platform.vtn.principal_of_token(token)
        if p is not None:
            return p
    session = platform.signin.session(token if token is not None else cookie)
    if session is None:
        raise AuthenticationError(
            "send a Bearer token: POST /openadr3/3.0.1/auth/token with your client credentials"
        )
    return platform.principal_of(session.principal.address)


VtnCaller = Annotated[Principal, Depends(vtn_caller)]


def _json(doc: dict[str, Any] | list[dict[str, Any]], status: int = 200) -> JSONResponse:
    return JSONResponse(doc, status_code=status)


def _body(model: ProgramIn | EventIn | ReportIn) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


# --- authentication -------------------------------------------------------------------------------


@router.get("/auth/server", response_model=AuthServerOut, summary="Where to get a token")
async def auth_server(request: Request) -> AuthServerOut:
    base = str(request.base_url).rstrip("/")
    return AuthServerOut(tokenURL=f"{base}{VTN_PREFIX}/auth/token")


_TOKEN_FORM = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "client_id": {"type": "string", "maxLength": 128},
        "client_secret": {"type": "string", "maxLength": 256},
        "scope": {"type": "string", "maxLength": 256},
    },
}


@router.post(
    "/auth/token",
    response_model=TokenOut,
    summary="OAuth 2 client credentials -> access token",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _TOKEN_FORM},
                "application/json": {"schema": _TOKEN_FORM},
            },
        }
    },
)
async def auth_token(request: Request, platform: PlatformDep) -> TokenOut:
    raw = await request.body()
    fields: dict[str, str] = {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            doc = json.loads(raw or b"{}")
        except ValueError as exc:
            raise ValidationError("the token request is not JSON") from exc
        if not isinstance(doc, dict):
            raise ValidationError("the token request is a JSON object or a form")
        fields = {k: str(v) for k, v in doc.items()}
    else:
        parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        fields = {k: v[0] for k, v in parsed.items()}
    if fields.get("grant_type") != "client_credentials":
        raise ValidationError("grant_type must be client_credentials")
    client_id, secret = fields.get("client_id"), fields.get("client_secret")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise AuthenticationError("malformed HTTP Basic credentials") from exc
    if not client_id or not secret:
        raise AuthenticationError("send client_id and client_secret (form fields or HTTP Basic)")
    token, ttl = vtn_of(platform).token(client_id, secret)
    return TokenOut(access_token=token, token_type="Bearer", expires_in=ttl)


# --- programs -------------------------------------------------------------------------------------


@router.get("/programs", response_model=list[ProgramOut], summary="Programs")
def list_programs(
    platform: PlatformDep, caller: VtnCaller, skip: Skip = 0, limit: Limit = MAX_LIMIT
) -> JSONResponse:
    found = vtn_of(platform).list_programs(caller, skip, limit)
    return _json([p.to_json() for p in found])


@router.post("/programs", response_model=ProgramOut, status_code=201, summary="Create a program")
def create_program(body: ProgramIn, platform: PlatformDep, caller: VtnCaller) -> JSONResponse:
    program = vtn_of(platform).create_program(caller, _body(body), set(platform.regions))
    return _json(program.to_json(), 201)


@router.get("/programs/{programID}", response_model=ProgramOut, summary="A program")
def get_program(programID: str, platform: PlatformDep, caller: VtnCaller) -> JSONResponse:  # noqa: N803
    return _json(vtn_of(platform).program(caller, programID).to_json())


@router.put("/programs/{programID}", response_model=ProgramOut, summary="Update a program")
def put_program(
    programID: str,  # noqa: N803
    body: ProgramIn,
    platform: PlatformDep,
    caller: VtnCaller,
) -> JSONResponse:
    return _json(vtn_of(platform).update_program(caller, programID, _body(body)).to_json())


@router.delete("/programs/{programID}", response_model=ProgramOut, summary="Delete a program")
def delete_program(programID: str, platform: PlatformDep, caller: VtnCaller) -> JSONResponse:  # noqa: N803
    return _json(vtn_of(platform).delete_program(caller, programID).to_json())


# --- events ---------------------------------------------------------------------------------------


@router.get("/events", response_model=list[EventOut], summary="Events (a VEN's: meant for it)")
def list_events(
    platform: PlatformDep,
    caller: VtnCaller,
    programID: Name = None,  # noqa: N803
    skip: Skip = 0,
    limit: Limit = MAX_LIMIT,
) -> JSONResponse:
    found = vtn_of(platform).list_events(caller, programID, skip, limit)
    return _json([e.to_json() for e in found])


@router.post("/events", response_model=EventOut, status_code=201, summary="Create an event")
def create_event(body: EventIn, platform: PlatformDep, caller: VtnCaller) -> JSONResponse:
    return _json(vtn_of(platform).create_event(caller, _body(body)).to_json(), 201)


@router.get("/events/{eventID}", response_model=EventOut, summary="An event")
def get_event(eventID: str, platform: PlatformDep, caller: VtnCaller) -> JSONResponse:  # noqa: N803
    return _json(vtn_of(platform).event(caller, eventID).to_json())


@router.put("/events/{eventID}", response_model=EventOut, summary="Update an event")
def put_event(
    eventID: str,  # noqa: N803
    body: EventIn,
    platform: PlatformDep,
    caller: VtnCaller,
) -> JSONResponse:
    return _json(vtn_of(platform).update_event(caller, eventID, _body(body)).to_json())


@router.delete("/events/{eventID}", response_model=EventOut, summary="Delete an event")
def delete_event(eventID: str, platform: PlatformDep, caller: VtnCaller) -> JSONResponse:  # noqa: N803
    return _json(vtn_of(platform).delete_event(caller, eventID).to_json())


# --- reports --------------------------------------------------------------------------------------


@router.get("/reports", response_model=list[ReportOut], summary="Reports (a VEN's own)")
def list_reports(
    platform: PlatformDep,
    caller: VtnCaller,
    programID: Name = None,  # noqa: N803
    eventID: Name = None,  # noqa: N803
    clientName: Name = None,  # noqa: N803
    skip: Skip = 0,
    limit: Limit = MAX_LIMIT,
) -> JSONResponse:
    found = vtn_of(platform).list_reports(caller, programID, eventID, clientName, skip, limit)
    return _json([r.to_json() for r in found])


@router.post("/reports", response_model=ReportOut, status_code=201, summary="A VEN's report")
def create_report(body: ReportIn, platform: PlatformDep, caller: VtnCaller) -> JSONResponse:
    return _json(vtn_of(platform).create_report(caller, _body(body)).to_json(), 201)


@router.get("/reports/{reportID}", response_model=ReportOut, summary="A report")
def get_report(reportID: str, platform: PlatformDep, caller: VtnCaller) -> JSONResponse:  # noqa: N803
    return _json(vtn_of(platform).report(caller, reportID).to_json())


# --- VENs -----------------------------------------------------------------------------------------


@router.get("/vens", response_model=list[VenOut], summary="VENs (a VEN sees itself)")
def list_vens(
    platform: PlatformDep,
    caller: VtnCaller,
    venName: Name = None,  # noqa: N803
    skip: Skip = 0,
    limit: Limit = MAX_LIMIT,
) -> JSONResponse:
    found = vtn_of(platform).list_vens(caller, sorted(platform.regions), venName, skip, limit)
    return _json(found)
