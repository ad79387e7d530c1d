"""gridledger: regional peer-to-peer energy markets settled on an EVM ledger.

The public packages: ``gridledger.market`` (orders, books, clearing), ``gridledger.ledger``
(contracts, chains, proofs), ``gridledger.devices`` and ``gridledger.telemetry`` (signed readings),
``gridledger.store`` (SQLite / PostgreSQL), ``gridledger.sim`` (city simulation). Shared values live
in ``units``, ``slots``, ``identity``, ``errors`` and ``config``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gridledger")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
