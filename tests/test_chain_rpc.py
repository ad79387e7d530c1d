"""The JSON-RPC backend against anvil: batches, receipts, revert reasons, nonce gaps, funding."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from gridledger.chain.backend import LedgerBackend
from gridledger.chain.rpc import RpcBackend, RpcError, decode_revert_reason
from gridledger.chain.transactions import Call, sign_calls
from gridledger.errors import ContractError, LedgerError, NodeError
from gridledger.identity import Signer
from gridledger.ledger.token import TokenClient


@pytest.fixture
def funded(rpc_backend: RpcBackend) -> Signer:
    signer = Signer.generate()
    rpc_backend.fund(signer.address_bytes, 10**21)
    return signer


def test_is_a_ledger_backend(rpc_backend: RpcBackend) -> None:
    assert isinstance(rpc_backend, LedgerBackend)
    assert rpc_backend.chain_id == 1337
    assert rpc_backend.block_gas_limit() == 100_000_000


def test_unreachable_node_is_a_ledger_error() -> None:
    with pytest.raises(LedgerError, match="cannot reach a JSON-RPC node"):
        RpcBackend("http://127.0.0.1:9", request_timeout_s=1)


def test_fund_adds_to_the_balance(rpc_backend: RpcBackend) -> None:
    account = Signer.generate().address_bytes
    rpc_backend.fund(account, 5)
    rpc_backend.fund(account, 7)
    assert rpc_backend.balance(account) == 12


def test_fund_without_anvil_says_how_to_fund(
    rpc_backend: RpcBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = rpc_backend._request

    def no_cheats(method: str, params: list[Any]) -> Any:
        if method.startswith("anvil_"):
            raise RpcError(method, {"code": -32601, "message": "the method does not exist"})
        return real(method, params)

    monkeypatch.setattr(rpc_backend, "_request", no_cheats)
    with pytest.raises(LedgerError, match="faucet or validator"):
        rpc_backend.fund(b"\x01" * 20, 1)


def test_batch_receipts_logs_and_revert_reason(rpc_backend: RpcBackend, funded: Signer) -> None:
    token = TokenClient.deploy(rpc_backend, funded, funded.address_bytes)
    receiver = Signer.generate().address_bytes
    calls = [
        token.make_call(funded, "mint", receiver, 10, gas=100_000),
        token.make_call(funded, "transfer", receiver, 10**9, gas=100_000),  # balance too low
        token.make_call(funded, "mint", receiver, 5, gas=100_000),
    ]
    receipts = rpc_backend.send_raw_transactions(sign_calls(rpc_backend, funded, calls))
    assert [r.status for r in receipts] == [1, 0, 1]
    assert receipts[1].revert_reason == "balance too low"
    assert len(receipts[0].logs) == 1 and receipts[0].logs[0].address == token.address
    transfers = token.events("Transfer", from_block=receipts[0].block_number)
    assert [e.args["value"] for e in transfers] == [10, 5]
    assert token.balance_of(receiver) == 15
    with pytest.raises(ContractError, match="only the issuer mints") as info:
        rpc_backend.estimate_gas(
            token.address, token.abi.encode_call("mint", receiver, 1), receiver
        )
    assert info.value.reason == "only the issuer mints"
    with pytest.raises(ContractError):
        rpc_backend.call(token.address, b"\xde\xad\xbe\xef")


def test_nonce_gap_drops_the_stranded_and_resumes(rpc_backend: RpcBackend, funded: Signer) -> None:
    token = TokenClient.deploy(rpc_backend, funded, funded.address_bytes)
    receiver = Signer.generate().address_bytes
    mint = token.abi.encode_call("mint", receiver, 1)
    start = rpc_backend.nonce(funded.address_bytes)
    too_big = Call(token.address, mint, 200_000_000)  # more gas than a block holds: refused
    ok = Call(token.address, mint, 100_000)
    raws = sign_calls(rpc_backend, funded, [too_big, ok, ok])
    with pytest.raises(LedgerError, match="refused transaction 0 of 3"):
        rpc_backend.send_raw_transactions(raws)
    assert rpc_backend.nonce(funded.address_bytes) == start
    receipts = rpc_backend.send_raw_transactions(sign_calls(rpc_backend, funded, [ok]))
    assert receipts[0].status == 1
    # the two stranded transactions were dropped: they did not run after the gap closed
    assert rpc_backend.nonce(funded.address_bytes) == start + 1
    assert token.balance_of(receiver) == 1


def test_decode_revert_reason() -> None:
    payload = (
        bytes.fromhex("08c379a0") + (32).to_bytes(32) + (2).to_bytes(32) + b"hi".ljust(32, b"\0")
    )
    assert decode_revert_reason(payload) == "hi"
    assert decode_revert_reason(b"\x00" * 4) is None


def test_open_ledger_by_url(anvil_url: str, tmp_path: Path) -> None:
    from gridledger.chain import open_ledger
    from gridledger.errors import ConfigError

    node = open_ledger(anvil_url, chain_id=1337)
    assert isinstance(node, RpcBackend)
    node.close()
    with pytest.raises(ConfigError, match="chain id 1337"):
        open_ledger(anvil_url, chain_id=5)
    with pytest.raises(ConfigError, match="neither 'embedded'"):
        open_ledger("ftp://x")
    chain = open_ledger("embedded", tmp_path / "data")
    assert chain.chain_id == 1337 and (tmp_path / "data" / "chain.sqlite").exists()
    chain.close()
    reopened = open_ledger("embedded", tmp_path / "data")
    assert reopened.chain_id == 1337
    reopened.close()


def test_batch_of_block_filling_transactions_is_all_mined(
    rpc_backend: RpcBackend, funded: Signer
) -> None:
    """anvil's automine leaves the tail of such a batch pending; the backend nudges it."""
    token = TokenClient.deploy(rpc_backend, funded, funded.address_bytes)
    mint = token.abi.encode_call("mint", funded.address_bytes, 1)
    calls = [Call(token.address, mint, 60_000_000) for _ in range(4)]
    receipts = rpc_backend.send_raw_transactions(sign_calls(rpc_backend, funded, calls))
    assert [r.status for r in receipts] == [1, 1, 1, 1]


# --- a node that misbehaves: timeouts and garbage, never a hang ---------------------------------


def _http(body: bytes, status: str = "200 OK") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


class _BadNode:
    """A TCP server on 127.0.0.1 that misbehaves in one way (``mode``) on every connection."""

    ANSWERS: ClassVar[dict[str, bytes]] = {
        "garbage": b"\x00\xffnot http at all\r\n\r\n",
        "http_garbage": _http(b"{{{{{"),
        "not_rpc": _http(b'{"foo": 12}'),
        "bad_hex": _http(b'{"jsonrpc": "2.0", "id": 0, "result": "zz"}'),
        "http_500": _http(b"", "500 Internal Server Error"),
    }

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "silent":  # accept, read, never answer
                self.held.append(conn)
                continue
            if self.mode != "close":
                conn.recv(65536)
                conn.sendall(self.ANSWERS[self.mode])
            conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def bad_node(request: pytest.FixtureRequest) -> Iterator[_BadNode]:
    node = _BadNode(request.param)
    yield node
    node.close()


@pytest.mark.parametrize(
    ("bad_node", "message"),
    [
        ("silent", "did not answer eth_chainId within 1 s"),
        ("close", "cannot reach a JSON-RPC node at .*(RemoteDisconnected|ConnectionReset)"),
        ("garbage", "cannot reach a JSON-RPC node at .*BadStatusLine"),
        ("http_garbage", "answered eth_chainId with something that is not JSON-RPC"),
        ("not_rpc", "not a JSON-RPC response"),
        ("bad_hex", "malformed answer to eth_chainId"),
        ("http_500", "refused eth_chainId: HTTPError"),
    ],
    indirect=["bad_node"],
)
def test_a_misbehaving_node_is_a_node_error(bad_node: _BadNode, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(NodeError, match=message) as info:
        RpcBackend(bad_node.url, probe_timeout_s=1, connect_timeout_s=1)
    assert bad_node.url in str(info.value) and "check ledger_url" in str(info.value)
    assert time.monotonic() - started < 10  # no retry loop with back-off behind it


def test_a_node_that_falls_silent_later_times_out(anvil_url: str) -> None:
    """After a good probe, each later request is bounded by request_timeout_s."""
    node = _BadNode("silent")
    try:
        backend = RpcBackend(anvil_url, request_timeout_s=1)
        backend.url = node.url  # the same backend, pointed at a node that stopped answering
        from web3 import HTTPProvider

        backend._provider = HTTPProvider(
            node.url, request_kwargs={"timeout": (1, 1)}, exception_retry_configuration=None
        )
        with pytest.raises(NodeError, match="did not answer eth_blockNumber within 1 s"):
            backend.block_number()
        backend.close()
    finally:
        node.close()
