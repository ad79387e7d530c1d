"""Sessions outlive a restart through their journal, which holds no token (service.signin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gridledger.identity import Signer
from gridledger.service.access import Principal, Role
from gridledger.service.journal import Journal
from gridledger.service.signin import SESSION_TTL_S, SignIn


def _principal(address: str) -> Principal:
    return Principal(address, frozenset({Role.HOUSEHOLD}), frozenset({"s-1"}), frozenset(),
                     frozenset(), frozenset({"central"}))  # fmt: skip


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)  # the signed message is checked against the real time too

    def __call__(self) -> datetime:
        return self.now


def _signin(clock: _Clock, looked_up: list[str]) -> SignIn:
    def principal_of(address: str) -> Principal:
        looked_up.append(address)
        return _principal(address)

    return SignIn("127.0.0.1:8000", "http://127.0.0.1:8000", 1337, principal_of, clock)


def test_a_session_survives_a_restart_and_the_journal_holds_no_token(tmp_path: Path) -> None:
    clock = _Clock()
    path = tmp_path / "serve-sessions.jsonl"
    first = _signin(clock, [])
    assert first.attach(Journal(path)) == 0
    key = Signer.generate()
    wallet = first.open_session(_principal(key.address))
    demo = first.login_with_key(Signer.generate())
    gone = first.open_session(_principal(key.address))
    assert first.logout(gone.token)
    assert wallet.token not in path.read_text() and demo.token not in path.read_text()

    looked_up: list[str] = []
    second = _signin(clock, looked_up)
    assert second.attach(Journal(path)) == 2  # the signed-out one is not restored
    again = second.session(wallet.token)
    assert again is not None and again.principal.address == key.address
    assert again.via == "wallet"
    assert abs(again.expires_at - wallet.expires_at) < timedelta(milliseconds=1)  # kept in ms
    assert looked_up == [key.address]  # the roles are looked up again, once
    assert second.session(wallet.token) == again and looked_up == [key.address]
    restored_demo = second.session(demo.token)
    assert restored_demo is not None and restored_demo.via == "server"
    assert second.session(gone.token) is None
    assert second.session("not-a-token") is None
    # a sign-out after the restart is durable too
    assert second.logout(demo.token)
    third = _signin(clock, [])
    assert third.attach(Journal(path)) == 1
    assert third.session(demo.token) is None and third.session(wallet.token) is not None


def test_expired_sessions_are_not_restored_and_the_journal_is_compacted(tmp_path: Path) -> None:
    clock = _Clock()
    path = tmp_path / "serve-sessions.jsonl"
    first = _signin(clock, [])
    first.attach(Journal(path))
    old = first.open_session(_principal(Signer.generate().address))
    clock.now += timedelta(seconds=SESSION_TTL_S - 60)
    young = first.open_session(_principal(Signer.generate().address))
    for _ in range(5):
        first.logout(first.open_session(_principal(Signer.generate().address)).token)
    clock.now += timedelta(seconds=120)  # the first session has expired
    second = _signin(clock, [])
    assert second.attach(Journal(path)) == 1
    assert second.session(old.token) is None and second.session(young.token) is not None
    assert len(path.read_text().splitlines()) == 1


def test_a_torn_or_foreign_line_is_skipped(tmp_path: Path) -> None:
    clock = _Clock()
    path = tmp_path / "serve-sessions.jsonl"
    first = _signin(clock, [])
    first.attach(Journal(path))
    kept = first.open_session(_principal(Signer.generate().address))
    with open(path, "a") as f:
        f.write('{"session": "abc", "address": 5}\n{"other": 1}\n{"session": "x", "expi')
    second = _signin(clock, [])
    assert second.attach(Journal(path)) == 1
    assert second.session(kept.token) is not None
