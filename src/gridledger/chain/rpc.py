"""The ``rpc`` ledger backend: any Ethereum JSON-RPC node reached over HTTP.

Anvil in the tests; Besu/geth PoA or Energy Web Chain in production. Signed raw transactions go
to the node as one JSON-RPC batch; receipts are then polled (also in batches) until every
transaction is mined. PoA chains have immediate finality, so a receipt is final.

Nonce gaps: when the node refuses one transaction of a batch, the later transactions of the same
sender would wait forever behind the missing nonce (and run later, out of order, once the gap
fills). They are removed from the node's pool where the node allows it (anvil's
``anvil_removePoolTransactions``) and :class:`~gridledger.errors.LedgerError` is
raised naming the refused transaction; the caller re-signs from :meth:`RpcBackend.nonce`, which
counts only transactions the node can actually mine.

Timeouts: no request waits for ever. Connecting takes at most ``connect_timeout_s``; the first
request (``eth_chainId``, which any node answers at once) at most ``probe_timeout_s``; every later
request at most ``request_timeout_s`` without a byte of answer. A node that cannot be reached, does
not answer in time, drops the connection or answers something that is not JSON-RPC raises
:class:`~gridledger.errors.NodeError` naming the URL and what to check. web3's own retries are
off: a retry loop with back-off turned one silent node into minutes of waiting.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import requests
from eth_account import Account

with warnings.catch_warnings():
    # web3 7 imports websockets.legacy for its (unused here) websocket provider, which warns
    warnings.simplefilter("ignore", DeprecationWarning)
    from web3 import HTTPProvider

from gridledger.chain.backend import Log, Receipt
from gridledger.errors import ContractError, GridLedgerError, LedgerError, NodeError
from gridledger.identity import keccak

_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
_METHOD_NOT_FOUND = -32601
#: Seconds without a new receipt after which a dev node is asked to mine (``evm_mine``).
NUDGE_AFTER_S = 0.25
#: Default timeouts [s]: to connect, for the first answer, and for each later answer.
CONNECT_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 60.0
_CHECK = "check ledger_url and that a JSON-RPC node (anvil, geth, Besu) is running there"


def decode_revert_reason(data: bytes) -> str | None:
    """The message of a Solidity/Vyper ``Error(string)`` revert payload, if it is one."""
    if data[:4] != _ERROR_SELECTOR or len(data) < 68:
        return None
    length = int.from_bytes(data[36:68])
    return data[68 : 68 + length].decode("utf-8", "replace")


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _unhex(text: str | None) -> bytes:
    return bytes.fromhex(text[2:]) if text else b""


def _qty(text: str) -> int:
    return int(text, 16)


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests error, in a few words (not the whole chain)."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    return f"{type(exc).__name__}: {str(exc)[:200]}"


class RpcError(LedgerError):
    """A JSON-RPC error answer; ``code`` and ``data`` as the node gave them."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.code = int(error.get("code", 0))
        self.data = error.get("data")
        super().__init__(f"{method}: node answered {error.get('message', error)}")


class RpcBackend:
    """:class:`~gridledger.chain.backend.LedgerBackend` over an HTTP JSON-RPC node."""

    def __init__(
        self,
        url: str,
        *,
        receipt_timeout_s: float = 120.0,
        poll_interval_s: float = 0.05,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        probe_timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        self.url = url
        self._receipt_timeout_s = receipt_timeout_s
        self._poll_interval_s = poll_interval_s
        self._can_nudge = True
        # the first request waits only probe_timeout_s: a silent node is found out quickly
        self._timeouts = (connect_timeout_s, probe_timeout_s)
        self._provider = HTTPProvider(
            url, request_kwargs={"timeout": self._timeouts}, exception_retry_configuration=None
        )
        try:
            with self._decoding("eth_chainId"):
                self._chain_id = _qty(self._request("eth_chainId", []))
        except GridLedgerError:
            self.close()
            raise
        self._timeouts = (connect_timeout_s, request_timeout_s)
        self._provider = HTTPProvider(
            url, request_kwargs={"timeout": self._timeouts}, exception_retry_configuration=None
        )

    # --- raw JSON-RPC ----------------------------------------------------------------------------

    @contextmanager
    def _transport(self, method: str) -> Iterator[None]:
        """Turn what the HTTP layer raises into :class:`NodeError` with the URL and the fix."""
        try:
            yield
        except requests.Timeout:
            raise NodeError(
                f"the node at {self.url} did not answer {method} within {self._timeouts[1]:.0f} s "
                f"(connect {self._timeouts[0]:.0f} s); {_CHECK}"
            ) from None
        except requests.ConnectionError as exc:
            raise NodeError(
                f"cannot reach a JSON-RPC node at {self.url} ({method}): {_reason(exc)}; {_CHECK}"
            ) from None
        except requests.RequestException as exc:  # HTTP 4xx/5xx, bad URL, too many redirects
            raise NodeError(
                f"the node at {self.url} refused {method}: {_reason(exc)}; {_CHECK}"
            ) from None
        except ValueError as exc:  # the body is not JSON (web3 decodes it)
            raise NodeError(
                f"the node at {self.url} answered {method} with something that is not JSON-RPC "
                f"({str(exc)[:200]}); {_CHECK}"
            ) from None

    @contextmanager
    def _decoding(self, method: str) -> Iterator[None]:
        """Turn a malformed answer (missing field, not hex) into :class:`NodeError`."""
        try:
            yield
        except GridLedgerError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise NodeError(
                f"the node at {self.url} gave a malformed answer to {method} "
                f"({type(exc).__name__}: {str(exc)[:200]}); {_CHECK}"
            ) from None

    def _request(self, method: str, params: list[Any]) -> Any:
        with self._transport(method):
            response = self._provider.make_request(method, params)
        if not isinstance(response, dict) or ("result" not in response and "error" not in response):
            raise NodeError(
                f"the node at {self.url} answered {method} with {str(response)[:200]!r}, not a "
                f"JSON-RPC response; {_CHECK}"
            )
        if "error" in response:
            error = response["error"]
            raise RpcError(method, dict(error) if isinstance(error, dict) else {"message": error})
        return response.get("result")

    def _batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """One JSON-RPC batch; returns the raw answers (``result`` or ``error``) in call order."""
        if not calls:
            return []
        method = f"a batch of {len(calls)} {calls[0][0]}"
        with self._transport(method):
            answers = self._provider.make_batch_request(list(calls))  # type: ignore[arg-type]
        if isinstance(answers, dict):  # the node refused the batch as a whole
            error = answers.get("error", answers)
            raise RpcError("batch", dict(error) if isinstance(error, dict) else {"message": error})
        with self._decoding(method):
            if not isinstance(answers, list) or len(answers) != len(calls):
                raise ValueError(f"{len(calls)} answers expected, got {str(answers)[:100]}")
            by_id = sorted(answers, key=lambda a: int(str(a.get("id", 0))))
            return [dict(a) for a in by_id]

    @staticmethod
    def _contract_error(exc: RpcError, what: str) -> ContractError:
        data = exc.data
        raw = _unhex(data) if isinstance(data, str) and data.startswith("0x") else b""
        reason = decode_revert_reason(raw)
        if reason is None and "execution reverted: " in str(exc):
            reason = str(exc).split("execution reverted: ", 1)[1]
        return ContractError(f"{what} reverted: {reason or str(exc)}", reason)

    # --- LedgerBackend ---------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self._chain_id

    def block_gas_limit(self) -> int:
        with self._decoding("eth_getBlockByNumber"):
            return _qty(self._request("eth_getBlockByNumber", ["latest", False])["gasLimit"])

    def block_number(self) -> int:
        with self._decoding("eth_blockNumber"):
            return _qty(self._request("eth_blockNumber", []))

    def nonce(self, address: bytes) -> int:
        with self._decoding("eth_getTransactionCount"):
            return _qty(self._request("eth_getTransactionCount", [_hex(address), "pending"]))

    def gas_price(self) -> int:
        with self._decoding("eth_gasPrice"):
            return _qty(self._request("eth_gasPrice", []))

    def balance(self, address: bytes) -> int:
        with self._decoding("eth_getBalance"):
            return _qty(self._request("eth_getBalance", [_hex(address), "latest"]))

    def send_raw_transactions(self, raw_transactions: Sequence[bytes]) -> list[Receipt]:
        raws = list(raw_transactions)
        answers = self._batch([("eth_sendRawTransaction", [_hex(raw)]) for raw in raws])
        hashes: list[bytes] = []
        refused: list[tuple[int, str]] = []
        with self._decoding("eth_sendRawTransaction"):
            for i, (raw, answer) in enumerate(zip(raws, answers, strict=True)):
                error = answer.get("error")
                if error is not None and "already known" not in str(error.get("message", "")):
                    refused.append((i, str(error.get("message", error))))
                hashes.append(keccak(raw))
        if refused:
            self._abandon_after_gap(raws, hashes, refused)
        with self._decoding("eth_getTransactionReceipt"):
            return self._wait_receipts(hashes)

    def _abandon_after_gap(
        self, raws: list[bytes], hashes: list[bytes], refused: list[tuple[int, str]]
    ) -> None:
        """Drop the accepted transactions stranded behind a refused one; raise LedgerError."""
        senders = [_unhex(Account.recover_transaction(raw)) for raw in raws]
        refused_idx = {i for i, _ in refused}
        stranded: list[int] = []
        for i in range(len(raws)):
            if i in refused_idx:
                continue
            if any(j < i and senders[j] == senders[i] for j in refused_idx):
                stranded.append(i)
        for sender in {senders[i] for i in stranded}:
            try:  # anvil; other nodes drop queued transactions when their pool expires them
                self._request("anvil_removePoolTransactions", [_hex(sender)])
            except LedgerError:
                break
        mined = [i for i in range(len(raws)) if i not in refused_idx and i not in stranded]
        if mined:
            self._wait_receipts([hashes[i] for i in mined])
        first, message = refused[0]
        raise LedgerError(
            f"the node refused transaction {first} of {len(raws)} ({message}); "
            f"{len(stranded)} later transaction(s) of the same sender were left out behind the "
            f"nonce gap and {len(mined)} were mined; re-sign from the account's current nonce"
        )

    def _wait_receipts(self, hashes: list[bytes]) -> list[Receipt]:
        receipts: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + self._receipt_timeout_s
        progress_at = time.monotonic()
        while True:
            missing = [i for i in range(len(hashes)) if i not in receipts]
            if not missing:
                break
            answers = self._batch(
                [("eth_getTransactionReceipt", [_hex(hashes[i])]) for i in missing]
            )
            for i, answer in zip(missing, answers, strict=True):
                if answer.get("result"):
                    receipts[i] = answer["result"]
                    progress_at = time.monotonic()
            if len(receipts) == len(hashes):
                break
            if progress_at + NUDGE_AFTER_S < time.monotonic():
                self._nudge()
                progress_at = time.monotonic()
            if time.monotonic() > deadline:
                raise LedgerError(
                    f"{len(hashes) - len(receipts)} of {len(hashes)} transactions not mined after "
                    f"{self._receipt_timeout_s:.0f} s; is the node mining? is there a nonce gap?"
                )
            time.sleep(self._poll_interval_s)
        return [self._receipt(receipts[i]) for i in range(len(hashes))]

    def _nudge(self) -> None:
        """Ask a dev node to mine pending transactions (``evm_mine``); real nodes mine anyway.

        anvil's automine mines when a transaction arrives; of several that arrive together and
        each fill most of a block, the last ones can wait for the next arrival.
        """
        if not self._can_nudge:
            return
        try:
            self._request("evm_mine", [])
        except LedgerError:
            self._can_nudge = False

    def _receipt(self, r: dict[str, Any]) -> Receipt:
        logs = tuple(
            Log(
                address=_unhex(log["address"]),
                topics=tuple(_unhex(t) for t in log["topics"]),
                data=_unhex(log["data"]),
                block_number=_qty(log["blockNumber"]),
                tx_hash=_unhex(log["transactionHash"]),
                log_index=_qty(log["logIndex"]),
            )
            for log in r.get("logs", [])
        )
        status = _qty(r["status"])
        reason = self._replay_reason(r) if status == 0 else None
        return Receipt(
            tx_hash=_unhex(r["transactionHash"]),
            block_number=_qty(r["blockNumber"]),
            status=status,
            gas_used=_qty(r["gasUsed"]),
            contract_address=_unhex(r["contractAddress"]) if r.get("contractAddress") else None,
            logs=logs,
            revert_reason=reason,
        )

    def _replay_reason(self, r: dict[str, Any]) -> str | None:
        """The revert reason of a failed transaction, by replaying it on its parent state."""
        try:
            tx = self._request("eth_getTransactionByHash", [r["transactionHash"]])
        except LedgerError:
            return None
        call = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]}
        # the parent block's state where the node keeps it, else the latest (pruned nodes)
        for block in (hex(_qty(r["blockNumber"]) - 1), "latest"):
            try:
                self._request("eth_call", [call, block])
            except RpcError as exc:
                if "revert" in str(exc).lower() or exc.code == 3:
                    return self._contract_error(exc, "transaction").reason
                continue
            except LedgerError:
                return None
        return None

    def call(self, to: bytes, data: bytes, sender: bytes | None = None) -> bytes:
        params: dict[str, Any] = {"to": _hex(to), "data": _hex(data)}
        if sender is not None:
            params["from"] = _hex(sender)
        try:
            with self._decoding("eth_call"):
                return _unhex(self._request("eth_call", [params, "latest"]))
        except RpcError as exc:
            raise self._contract_error(exc, "call") from None

    def estimate_gas(self, to: bytes | None, data: bytes, sender: bytes) -> int:
        params: dict[str, Any] = {"from": _hex(sender), "data": _hex(data)}
        if to is not None:
            params["to"] = _hex(to)
        try:
            with self._decoding("eth_estimateGas"):
                return _qty(self._request("eth_estimateGas", [params]))
        except RpcError as exc:
            raise self._contract_error(exc, "gas estimate") from None

    def get_logs(
        self,
        address: bytes | None,
        from_block: int = 0,
        to_block: int | None = None,
        topic0: bytes | None = None,
    ) -> list[Log]:
        query: dict[str, Any] = {
            "fromBlock": hex(from_block),
            "toBlock": "latest" if to_block is None else hex(to_block),
        }
        if address is not None:
            query["address"] = _hex(address)
        if topic0 is not None:
            query["topics"] = [_hex(topic0)]
        with self._decoding("eth_getLogs"):
            return [
                Log(
                    address=_unhex(log["address"]),
                    topics=tuple(_unhex(t) for t in log["topics"]),
                    data=_unhex(log["data"]),
                    block_number=_qty(log["blockNumber"]),
                    tx_hash=_unhex(log["transactionHash"]),
                    log_index=_qty(log["logIndex"]),
                )
                for log in self._request("eth_getLogs", [query])
            ]

    def code(self, address: bytes) -> bytes:
        return _unhex(self._request("eth_getCode", [_hex(address), "latest"]))

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        r = self._request("eth_getTransactionReceipt", [_hex(tx_hash)])
        return None if r is None else self._receipt(r)

    def fund(self, address: bytes, amount_wei: int) -> None:
        try:
            current = self.balance(address)
            self._request("anvil_setBalance", [_hex(address), hex(current + amount_wei)])
        except RpcError as exc:
            if exc.code == _METHOD_NOT_FOUND or "not found" in str(exc).lower():
                raise LedgerError(
                    f"the node at {self.url} cannot create currency (no anvil_setBalance); fund "
                    "the account through the network's own faucet or validator"
                ) from None
            raise

    def close(self) -> None:
        """Close the pooled HTTP sessions (best effort: web3 keeps them in a private cache)."""
        manager = getattr(self._provider, "_request_session_manager", None)
        cache = getattr(getattr(manager, "session_cache", None), "_data", None)
        if isinstance(cache, dict):
            for session in list(cache.values()):
                close = getattr(session, "close", None)
                if close is not None:
                    close()
            cache.clear()
