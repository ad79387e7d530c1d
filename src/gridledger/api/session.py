"""The caller of a request: its session from the HttpOnly cookie or an ``Authorization: Bearer``
token, and the principal (roles) of its account, recomputed per request so a registration takes
effect at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from gridledger.service.access import Principal
from gridledger.service.platform import Platform
from gridledger.service.signin import Session

COOKIE = "gridledger_session"

_bearer = HTTPBearer(auto_error=False, description="Session token from /api/v1/auth/login")
_cookie = APIKeyCookie(name=COOKIE, auto_error=False, description="HttpOnly session cookie")


# The dependencies are coroutines: FastAPI runs a plain function dependency on its thread pool,
# which costs a thread hop per dependency per request; these are quick (a dict look-up and one
# indexed store read), so they run on the event loop.


async def platform_of(request: Request) -> Platform:
    return _platform(request)


def _platform(request: Request) -> Platform:
    platform = request.app.state.platform
    assert isinstance(platform, Platform)
    return platform


PlatformDep = Annotated[Platform, Depends(platform_of)]


async def session_of(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Session | None:
    platform = _platform(request)
    token = bearer.credentials if bearer is not None else cookie
    return platform.signin.session(token)


async def principal_of(
    request: Request, session: Annotated[Session | None, Depends(session_of)]
) -> Principal | None:
    """The signed-in principal, or ``None``; the policy (service.access) decides what follows."""
    if session is None:
        return None
    return _platform(request).principal_of(session.principal.address)


Caller = Annotated[Principal | None, Depends(principal_of)]
SessionDep = Annotated[Session | None, Depends(session_of)]
