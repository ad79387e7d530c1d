"""A small ABI layer over the shipped artifacts: call data, return values and event logs.

Only what the contract clients need, on top of ``eth_abi``: function selectors and argument
encoding by function name, output decoding, and event decoding by topic. Values use plain Python
types: addresses and fixed bytes are ``bytes``, integers ``int``, structs tuples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode

from gridledger.chain.backend import Log
from gridledger.errors import LedgerError
from gridledger.identity import keccak
from gridledger.ledger.artifact import Artifact, load_artifact


def abi_type(param: dict[str, Any]) -> str:
    """The canonical type string of an ABI parameter, tuples expanded (``(uint64,address)[]``)."""
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _address_to_bytes(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return bytes.fromhex(value[2:])
    if isinstance(value, tuple):
        return tuple(_address_to_bytes(v) for v in value)
    if isinstance(value, list):
        return [_address_to_bytes(v) for v in value]
    return value


@dataclass(frozen=True)
class Event:
    """A decoded event log."""

    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: bytes
    log_index: int


@dataclass(frozen=True)
class ContractABI:
    """Selectors, encoders and decoders of one compiled contract."""

    artifact: Artifact

    @classmethod
    def named(cls, name: str) -> ContractABI:
        return cls(load_artifact(name))

    @cached_property
    def _functions(self) -> dict[str, dict[str, Any]]:
        return {f["name"]: f for f in self.artifact.abi if f["type"] == "function"}

    @cached_property
    def _events(self) -> dict[bytes, dict[str, Any]]:
        return {self.event_topic(e["name"]): e for e in self.artifact.abi if e["type"] == "event"}

    def _function(self, name: str) -> dict[str, Any]:
        try:
            return self._functions[name]
        except KeyError:
            raise LedgerError(f"{self.artifact.name} has no function {name!r}") from None

    def input_types(self, name: str) -> list[str]:
        return [abi_type(p) for p in self._function(name)["inputs"]]

    def selector(self, name: str) -> bytes:
        return keccak(f"{name}({','.join(self.input_types(name))})".encode())[:4]

    def encode_call(self, name: str, *args: Any) -> bytes:
        """Call data: selector and ABI-encoded arguments."""
        return self.selector(name) + abi_encode(self.input_types(name), list(args))

    def decode_output(self, name: str, data: bytes) -> Any:
        """Decoded return value(s): one value, or a tuple when the function returns several."""
        outputs = self._function(name)["outputs"]
        values = abi_decode([abi_type(p) for p in outputs], data)
        values = _address_to_bytes(tuple(values))
        return values[0] if len(values) == 1 else values

    def deploy_data(self, *args: Any) -> bytes:
        """Deployment transaction data: bytecode and ABI-encoded constructor arguments."""
        ctor = next((f for f in self.artifact.abi if f["type"] == "constructor"), None)
        types = [abi_type(p) for p in ctor["inputs"]] if ctor else []
        return self.artifact.bytecode + abi_encode(types, list(args))

    def event_topic(self, name: str) -> bytes:
        event = next(e for e in self.artifact.abi if e["type"] == "event" and e["name"] == name)
        return keccak(f"{name}({','.join(abi_type(p) for p in event['inputs'])})".encode())

    def decode_log(self, log: Log) -> Event | None:
        """Decode ``log`` if it is one of this contract's events, else ``None``."""
        if not log.topics:
            return None
        event = self._events.get(log.topics[0])
        if event is None:
            return None
        indexed = [p for p in event["inputs"] if p["indexed"]]
        plain = [p for p in event["inputs"] if not p["indexed"]]
        args: dict[str, Any] = {}
        for param, topic in zip(indexed, log.topics[1:], strict=True):
            args[param["name"]] = _address_to_bytes(abi_decode([abi_type(param)], topic)[0])
        values = abi_decode([abi_type(p) for p in plain], log.data)
        for param, value in zip(plain, values, strict=True):
            args[param["name"]] = _address_to_bytes(value)
        ordered = {p["name"]: args[p["name"]] for p in event["inputs"]}
        return Event(event["name"], ordered, log.block_number, log.tx_hash, log.log_index)

    def decode_logs(self, logs: Sequence[Log], address: bytes | None = None) -> list[Event]:
        """Decoded events of this contract among ``logs`` (optionally only from ``address``)."""
        out = []
        for log in logs:
            if address is not None and log.address != address:
                continue
            event = self.decode_log(log)
            if event is not None:
                out.append(event)
        return out
