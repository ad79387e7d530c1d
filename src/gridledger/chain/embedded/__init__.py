"""The embedded chain: py-evm's Cancun VM mining batches, state persisted in one SQLite file.

* :mod:`~gridledger.chain.embedded.node`: :class:`EmbeddedLedger`, the :class:`LedgerBackend`;
* :mod:`~gridledger.chain.embedded.db`: the key-value store over SQLite, one SQL transaction
  per block;
* :mod:`~gridledger.chain.embedded.vm` and :mod:`~gridledger.chain.embedded.evm`: the VM
  configuration and the interpreter's fast paths;
* :mod:`~gridledger.chain.embedded.verify`: headers, state root and a full replay of the file.
"""

from __future__ import annotations

from gridledger.chain.embedded.node import EmbeddedLedger
from gridledger.chain.embedded.verify import ChainCheck, verify_embedded_chain

__all__ = ["ChainCheck", "EmbeddedLedger", "verify_embedded_chain"]
