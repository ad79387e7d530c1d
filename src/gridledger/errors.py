"""The error tree of gridledger.

Every error raised on purpose by gridledger derives from :class:`GridLedgerError`, so a caller can
catch the whole family at once. Errors about bad input also derive from the built-in
:class:`ValueError`, so generic code that expects ``ValueError`` keeps working. Each message says
what was wrong and how to fix it.

::

    GridLedgerError
    ├── ValidationError(ValueError)     bad input, refused at the edge
    │   ├── UnitError                   energy, power or money out of range or of the wrong type
    │   ├── SlotError                   naive datetimes, bad slot lengths, gate closure passed
    │   ├── SignatureError              a signature that does not verify or is malformed
    │   ├── OrderError                  a market order or cancel that cannot be accepted
    │   ├── ReadingError                a device reading that ingest rejects
    │   ├── CommandError                a device command that a device refuses
    │   └── ScenarioError               a simulation scenario file with a missing or bad field
    ├── ConfigError                     unknown setting, bad value, unreadable config file
    ├── KeystoreError                   missing key, wrong passphrase, corrupt keystore file
    ├── MarketError                     a market operation in the wrong state (e.g. book frozen)
    ├── StoreError                      the store cannot be opened, migrated or written
    │   └── IntegrityError              stored data fails its integrity check
    ├── TelemetryError                  a transport cannot connect, publish or subscribe
    └── LedgerError                     the chain refused or could not run a transaction
        ├── ContractError               a contract call reverted; carries the revert reason
        ├── NodeError                   the node is unreachable, timed out or answered garbage
        └── VerificationError           stored history does not match the chain
"""

from __future__ import annotations


class GridLedgerError(Exception):
    """Root of every error gridledger raises on purpose."""


class ValidationError(GridLedgerError, ValueError):
    """Input was refused at the edge; the message names the field and the accepted range."""


class UnitError(ValidationError):
    """An energy, power or money value of the wrong type or out of range."""


class SlotError(ValidationError):
    """A timestamp or slot that cannot be used: naive datetime, bad length, gate closed."""


class SignatureError(ValidationError):
    """A signature that is malformed or does not recover to the expected signer."""


class OrderError(ValidationError):
    """A market order or cancel that cannot be accepted."""


class ReadingError(ValidationError):
    """A device reading that ingest rejects."""


class CommandError(ValidationError):
    """A device command that the device refuses."""


class ScenarioError(ValidationError):
    """A simulation scenario that cannot be run: the message names the field and the fix."""


class ConfigError(GridLedgerError):
    """An unknown setting, a value of the wrong type, or an unreadable configuration file."""


class KeystoreError(GridLedgerError):
    """A key that is missing, a wrong passphrase, or a corrupt keystore file."""


class MarketError(GridLedgerError):
    """A market operation attempted in the wrong state."""


class StoreError(GridLedgerError):
    """The store cannot be opened, migrated or written."""


class IntegrityError(StoreError):
    """Stored data fails its integrity check."""


class TelemetryError(GridLedgerError):
    """A telemetry transport cannot connect, publish or subscribe."""


class LedgerError(GridLedgerError):
    """The chain refused a transaction or could not be reached."""


class ContractError(LedgerError):
    """A contract call reverted; ``reason`` holds the revert reason when the chain gave one."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class NodeError(LedgerError):
    """A ledger node that cannot be reached, does not answer in time, or answers something that
    is not JSON-RPC; the message names the URL and what to check."""


class VerificationError(LedgerError):
    """Stored history does not match what the chain recorded."""
