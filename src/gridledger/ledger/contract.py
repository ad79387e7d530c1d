"""The common base of the contract clients: deploy, read, transact, decode events."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from gridledger.chain.backend import LedgerBackend, Receipt
from gridledger.chain.transactions import Call, estimate_call, padded_gas, send_calls
from gridledger.errors import ContractError, LedgerError
from gridledger.identity import Signer
from gridledger.ledger.abi import ContractABI, Event


class ContractClient:
    """A deployed contract of kind :attr:`NAME` at :attr:`address` on one backend."""

    NAME: ClassVar[str]

    def __init__(self, backend: LedgerBackend, address: bytes) -> None:
        if len(address) != 20:
            raise LedgerError(f"a contract address is 20 bytes, got {len(address)}")
        self.backend = backend
        self.address = address
        self.abi = ContractABI.named(self.NAME)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(0x{self.address.hex()})"

    @classmethod
    def _deploy(cls, backend: LedgerBackend, deployer: Signer, *args: Any) -> Self:
        abi = ContractABI.named(cls.NAME)
        data = abi.deploy_data(*args)
        gas = padded_gas(backend.estimate_gas(None, data, deployer.address_bytes))
        (receipt,) = send_calls(backend, deployer, [Call(None, data, gas, f"deploy {cls.NAME}")])
        if receipt.contract_address is None:
            raise LedgerError(f"deploying {cls.NAME} gave no contract address")
        return cls(backend, receipt.contract_address)

    def call(self, function: str, *args: Any) -> Any:
        """Read-only call of ``function``; decoded return value."""
        data = self.abi.encode_call(function, *args)
        return self.abi.decode_output(function, self.backend.call(self.address, data))

    def make_call(self, sender: Signer, function: str, *args: Any, gas: int | None = None) -> Call:
        """A :class:`Call` of ``function`` (gas estimated now unless given)."""
        data = self.abi.encode_call(function, *args)
        if gas is None:
            gas = estimate_call(self.backend, sender, self.address, data)
        return Call(self.address, data, gas, f"{self.NAME}.{function}")

    def transact(
        self, sender: Signer, function: str, *args: Any, gas: int | None = None
    ) -> Receipt:
        """Send one transaction calling ``function``; raises :class:`ContractError` on revert."""
        try:
            call = self.make_call(sender, function, *args, gas=gas)
        except ContractError as exc:
            raise ContractError(f"{self.NAME}.{function}: {exc}", exc.reason) from None
        return send_calls(self.backend, sender, [call])[0]

    def events(
        self, name: str | None = None, from_block: int = 0, to_block: int | None = None
    ) -> list[Event]:
        """Decoded events of this contract (optionally only ``name``) in a block range."""
        topic = self.abi.event_topic(name) if name is not None else None
        logs = self.backend.get_logs(self.address, from_block, to_block, topic)
        return self.abi.decode_logs(logs)

    def receipt_events(self, receipts: list[Receipt], name: str | None = None) -> list[Event]:
        """Decoded events of this contract in ``receipts``."""
        out = []
        for receipt in receipts:
            for event in self.abi.decode_logs(receipt.logs, self.address):
                if name is None or event.name == name:
                    out.append(event)
        return out
