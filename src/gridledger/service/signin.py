"""Sign-In with Ethereum (EIP-4361) and the sessions it opens.

The flow: :meth:`SignIn.issue_nonce` hands out a one-time random nonce (it expires after
:data:`NONCE_TTL_S`); the wallet signs an EIP-4361 message naming this service's ``domain``, the
chain id, the nonce and an expiration time; :meth:`SignIn.login` checks, with the ``siwe`` package
(which recovers the EIP-191 signature), that the domain and chain id are ours, that the nonce was
issued here, is unused and unexpired, that the message has not expired and is not valid only
later, and only then consumes the nonce and opens a session. A refused attempt changes nothing: the
nonce stays usable for the real message. Sessions are random 32-byte tokens (sent as an HttpOnly
cookie and usable as a bearer token) that expire after :data:`SESSION_TTL_S`.

Sessions outlive a restart when the service gives them a journal (:meth:`SignIn.attach`, the
JSON-lines ``serve-sessions.jsonl`` in the data dir): each opened session is written as the
SHA-256 of its token (never the token: a copied journal signs nobody in), its address, expiry
and who signs; a sign-out is written too. On attach the journal is replayed, expired and signed-out
sessions dropped and the rest rewritten. A restored session's roles are looked up again at its
first use. Nonces stay in memory: a sign-in under way across a restart asks for a new one.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from gridledger.identity import Signer, checksum
from gridledger.service.access import AuthenticationError, ConflictError, Principal
from gridledger.service.journal import Journal

with warnings.catch_warnings():
    # siwe imports web3, whose (unused here) websocket provider imports websockets.legacy
    warnings.simplefilter("ignore", DeprecationWarning)
    from siwe import SiweMessage

NONCE_TTL_S = 300
SESSION_TTL_S = 8 * 3600
#: The longest a signed message may stay valid [s].
MAX_MESSAGE_TTL_S = 24 * 3600
MAX_MESSAGE_CHARS = 4096
STATEMENT = "Sign in to gridledger."


@dataclass(frozen=True)
class Session:
    """A signed-in session; ``via`` says who signs the account's orders and commands: ``wallet``
    (the browser's wallet, EIP-712) or ``server`` (a demo key the server holds)."""

    token: str
    principal: Principal
    expires_at: datetime
    via: str = "wallet"


@dataclass(frozen=True)
class IssuedNonce:
    nonce: str
    expires_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _key(token: str) -> str:
    """What the sessions are kept under: the SHA-256 of the token (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class _Restored:
    """A session read back from the journal: its principal is looked up at first use."""

    address: str
    expires_at: datetime
    via: str


class SignIn:
    """Nonces and sessions of one service (sessions journaled once :meth:`attach`-ed).

    ``domain`` is the host the service is reached at (``127.0.0.1:8000``); ``uri`` its base URL;
    ``principal_of(address)`` says who an address is.
    """

    def __init__(
        self,
        domain: str,
        uri: str,
        chain_id: int,
        principal_of: Callable[[str], Principal],
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.domain = domain
        self.uri = uri
        self.chain_id = chain_id
        self.principal_of = principal_of
        self._clock = clock
        self._nonces: dict[str, datetime] = {}
        self._sessions: dict[str, Session] = {}  # by _key(token)
        self._restored: dict[str, _Restored] = {}  # by _key(token), not used since the restart
        self._journal: Journal | None = None
        self._lock = threading.Lock()

    def attach(self, journal: Journal) -> int:
        """Keep sessions in ``journal`` from now on and restore the live ones it holds; returns
        how many were restored."""
        now = self._clock()
        live: dict[str, _Restored] = {}
        for entry in journal.entries():
            key = entry.get("session")
            if not isinstance(key, str):
                continue
            if entry.get("signed_out"):
                live.pop(key, None)
                continue
            try:
                expires = datetime.fromtimestamp(int(entry["expires_ms"]) / 1000, UTC)
                live[key] = _Restored(str(entry["address"]), expires, str(entry["via"]))
            except (KeyError, TypeError, ValueError):
                continue  # a line of another shape: nothing to restore from it
        live = {k: r for k, r in live.items() if r.expires_at > now}
        journal.rewrite([self._entry(k, r.address, r.expires_at, r.via) for k, r in live.items()])
        with self._lock:
            self._restored.update(live)
            self._journal = journal
        return len(live)

    @staticmethod
    def _entry(key: str, address: str, expires_at: datetime, via: str) -> dict[str, object]:
        return {
            "session": key,
            "address": address,
            "expires_ms": int(expires_at.timestamp() * 1000),
            "via": via,
        }

    def _keep(self, session: Session) -> None:
        key = _key(session.token)
        with self._lock:
            self._sessions[key] = session
            journal = self._journal
        if journal is not None:
            journal.append(
                self._entry(key, session.principal.address, session.expires_at, session.via)
            )

    # --- nonces ---------------------------------------------------------------------------------

    def issue_nonce(self) -> IssuedNonce:
        now = self._clock()
        nonce = secrets.token_hex(12)  # EIP-4361: at least 8 alphanumeric characters
        expires = now + timedelta(seconds=NONCE_TTL_S)
        with self._lock:
            for stale in [n for n, t in self._nonces.items() if t <= now]:
                del self._nonces[stale]
            self._nonces[nonce] = expires
        return IssuedNonce(nonce, expires)

    def message_for(
        self, address: str, nonce: str, *, ttl_s: int = 600, issued_at: datetime | None = None
    ) -> str:
        """The EIP-4361 text a wallet of ``address`` signs for ``nonce`` (what the web page and
        the demo sign-in build)."""
        issued = issued_at or self._clock()
        message = SiweMessage(
            domain=self.domain,
            address=checksum(address),
            statement=STATEMENT,
            uri=self.uri,
            version="1",
            chain_id=self.chain_id,
            nonce=nonce,
            issued_at=_iso(issued),
            expiration_time=_iso(issued + timedelta(seconds=ttl_s)),
        )
        return str(message.prepare_message())

    # --- sign-in --------------------------------------------------------------------------------

    def login(self, message: str, signature: str) -> Session:
        """Check a signed EIP-4361 message and open a session (see the module docstring).

        Raises :class:`AuthenticationError` (401) for anything that does not hold and
        :class:`ConflictError` (409) for a nonce that was used or never issued here.
        """
        if len(message) > MAX_MESSAGE_CHARS:
            raise AuthenticationError(f"sign-in message longer than {MAX_MESSAGE_CHARS} characters")
        try:
            parsed = SiweMessage.from_message(message=message, abnf=False)
        except Exception as exc:  # the parser raises several unrelated types
            raise AuthenticationError(f"not an EIP-4361 sign-in message: {exc}") from None
        if parsed.domain != self.domain:
            raise AuthenticationError(
                f"the message signs in to {parsed.domain!r}, this service is {self.domain!r}"
            )
        if int(parsed.chain_id) != self.chain_id:
            raise AuthenticationError(
                f"the message is for chain id {parsed.chain_id}, this service runs chain "
                f"{self.chain_id}"
            )
        now = self._clock()
        if parsed.expiration_time is None:
            raise AuthenticationError("the message needs an Expiration Time (at most 24 h ahead)")
        expires = _parse(str(parsed.expiration_time))
        issued = _parse(str(parsed.issued_at))
        if expires <= now:
            raise AuthenticationError(f"the message expired at {expires.isoformat()}")
        if expires - issued > timedelta(seconds=MAX_MESSAGE_TTL_S):
            raise AuthenticationError("the message may be valid for at most 24 hours")
        if parsed.not_before is not None and _parse(str(parsed.not_before)) > now:
            raise AuthenticationError("the message is not valid yet (Not Before)")
        with self._lock:
            nonce_expiry = self._nonces.get(parsed.nonce)
        if nonce_expiry is None:
            raise ConflictError(
                "the nonce was not issued here or was used already; get a new one from "
                "GET /api/v1/auth/nonce"
            )
        if nonce_expiry <= now:
            raise AuthenticationError(
                "the nonce expired; get a new one from GET /api/v1/auth/nonce"
            )
        try:
            parsed.verify(signature, domain=self.domain, nonce=parsed.nonce, timestamp=now)
        except Exception as exc:  # siwe raises its own VerificationError subclasses
            raise AuthenticationError(
                f"the signature does not verify for {parsed.address}: {type(exc).__name__}"
            ) from None
        with self._lock:
            if self._nonces.pop(parsed.nonce, None) is None:
                raise ConflictError("the nonce was used already (a concurrent sign-in)")
        return self.open_session(self.principal_of(checksum(parsed.address)))

    def login_with_key(self, signer: Signer) -> Session:
        """Sign in a key the server holds (demo households): the same EIP-4361 path."""
        from eth_account import Account
        from eth_account.messages import encode_defunct

        nonce = self.issue_nonce().nonce
        message = self.message_for(signer.address, nonce)
        signed = Account.sign_message(encode_defunct(text=message), signer.private_key)
        session = self.login(message, "0x" + bytes(signed.signature).hex())
        server_signed = replace(session, via="server")
        self._keep(server_signed)
        return server_signed

    # --- sessions -------------------------------------------------------------------------------

    def open_session(self, principal: Principal) -> Session:
        session = Session(
            secrets.token_urlsafe(32), principal, self._clock() + timedelta(seconds=SESSION_TTL_S)
        )
        self._keep(session)
        return session

    def session(self, token: str | None) -> Session | None:
        """The live session of ``token``, or ``None``."""
        if not token:
            return None
        key = _key(token)
        with self._lock:
            session = self._sessions.get(key)
            restored = self._restored.pop(key, None) if session is None else None
        if restored is not None:
            principal = self.principal_of(restored.address)
            session = Session(token, principal, restored.expires_at, restored.via)
            with self._lock:
                session = self._sessions.setdefault(key, session)
        if session is not None and session.expires_at <= self._clock():
            with self._lock:
                self._sessions.pop(key, None)
            return None
        return session

    def refresh(self, token: str, principal: Principal) -> None:
        """Replace a session's principal (its roles changed: a site registered, ...)."""
        key = _key(token)
        with self._lock:
            old = self._sessions.get(key)
            if old is not None:
                self._sessions[key] = replace(old, principal=principal)

    def logout(self, token: str | None) -> bool:
        key = _key(token or "")
        with self._lock:
            found = self._sessions.pop(key, None) is not None
            found = self._restored.pop(key, None) is not None or found
            journal = self._journal
        if found and journal is not None:
            journal.append({"session": key, "signed_out": True})
        return found


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse(text: str) -> datetime:
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise AuthenticationError(f"time {text!r} has no UTC offset")
    return ts
