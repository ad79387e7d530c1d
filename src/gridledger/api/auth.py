"""Sign-in routes: EIP-4361 nonce and login, demo sign-in with server-held keys, logout, me."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gridledger.api.problems import PROBLEM_RESPONSES
from gridledger.api.schemas import (
    DemoAccountsOut,
    DemoLoginIn,
    LoginIn,
    MeOut,
    NonceOut,
    SessionOut,
)
from gridledger.api.session import COOKIE, Caller, PlatformDep, SessionDep
from gridledger.service.access import AuthenticationError, NotFoundError, Principal
from gridledger.service.signin import NONCE_TTL_S, SESSION_TTL_S, STATEMENT, Session

router = APIRouter(prefix="/api/v1", tags=["sign-in"], responses=PROBLEM_RESPONSES)


def _me(p: Principal, via: str) -> MeOut:
    return MeOut(
        signs_with="server" if via == "server" else "wallet",
        address=p.address,
        roles=sorted(r.value for r in p.roles),
        sites=sorted(p.sites),
        company_regions=sorted(p.company_regions),
        operator_regions=sorted(p.operator_regions),
    )


def _session_out(session: Session, response: Response) -> SessionOut:
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=SESSION_TTL_S,
        httponly=True,
        samesite="strict",
        path="/",
    )
    me = _me(session.principal, session.via)
    return SessionOut(
        **me.model_dump(), token=session.token, expires_at=session.expires_at.isoformat()
    )


@router.get("/auth/nonce", response_model=NonceOut, summary="A one-time sign-in nonce")
def nonce(platform: PlatformDep) -> NonceOut:
    issued = platform.signin.issue_nonce()
    s = platform.signin
    return NonceOut(
        nonce=issued.nonce,
        domain=s.domain,
        uri=s.uri,
        chain_id=s.chain_id,
        statement=STATEMENT,
        expires_at=issued.expires_at.isoformat(),
        message_template=s.message_for("0x" + "00" * 20, issued.nonce).replace(
            "0x0000000000000000000000000000000000000000", "ADDRESS"
        ),
    )


@router.post("/auth/login", response_model=SessionOut, summary="Sign in with Ethereum (EIP-4361)")
def login(body: LoginIn, platform: PlatformDep, response: Response) -> SessionOut:
    session = platform.signin.login(body.message, body.signature)
    return _session_out(session, response)


@router.get("/auth/demo", response_model=DemoAccountsOut, summary="The demo accounts")
def demo_accounts(platform: PlatformDep) -> DemoAccountsOut:
    enabled = platform.options.demo
    sites = sorted(s for h in platform.neighbourhoods.values() for s in h.owners) if enabled else []
    return DemoAccountsOut(
        enabled=enabled,
        sites=sites,
        roles=["household", "company", "operator", "admin"] if enabled else [],
    )


@router.post("/auth/demo", response_model=SessionOut, summary="Sign in a demo account")
def demo_login(body: DemoLoginIn, platform: PlatformDep, response: Response) -> SessionOut:
    """The server signs the EIP-4361 message with the demo account's key and signs it in through
    the same checks as a wallet. Only while demo sign-ins are on (the simulated neighbourhood)."""
    if not platform.options.demo:
        raise AuthenticationError("demo sign-in is off on this server; sign in with your wallet")
    if body.site_id is not None:
        signer = platform.demo_signer(site_id=body.site_id)
    elif body.role == "household":
        first = next((s for h in platform.neighbourhoods.values() for s in h.owners), None)
        signer = None if first is None else platform.demo_signer(site_id=first)
    else:
        signer = platform.demo_signer(role=body.role, region=body.region)
    if signer is None:
        raise NotFoundError("no such demo account; see GET /api/v1/auth/demo")
    return _session_out(platform.signin.login_with_key(signer), response)


@router.post("/auth/logout", status_code=204, summary="End the session")
def logout(platform: PlatformDep, session: SessionDep, response: Response) -> Response:
    platform.signin.logout(None if session is None else session.token)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/me", response_model=MeOut, summary="The signed-in account and its roles")
async def me(caller: Caller, session: SessionDep) -> MeOut:
    """``signs_with`` says who signs this session's orders and battery commands: ``wallet`` (the
    page asks the browser's wallet, EIP-712) or ``server`` (a demo key the server holds)."""
    if caller is None or session is None:
        raise AuthenticationError("sign in first")
    return _me(caller, session.via)


_ = NONCE_TTL_S
