"""EVM engines behind one backend interface: the embedded py-evm node and any JSON-RPC node.

* :mod:`~gridledger.chain.backend`: the :class:`LedgerBackend` protocol, :class:`Receipt`,
  :class:`Log`;
* :mod:`~gridledger.chain.embedded`: the embedded py-evm node persisted in one SQLite file
  (its key-value database, interpreter and integrity check);
* :mod:`~gridledger.chain.process`: the embedded node in a child process (``gridledger serve``
  runs it there, so mining does not hold the server's interpreter);
* :mod:`~gridledger.chain.rpc`: any Ethereum JSON-RPC node; :mod:`~gridledger.chain.devnode`
  starts a throwaway anvil;
* :mod:`~gridledger.chain.transactions`: sign and send contract calls in batches.

:func:`open_ledger` picks the engine from the ``ledger_url`` setting. Nothing here knows the
contracts (:mod:`gridledger.ledger`) or the market. Heavy modules (py-evm, web3) are imported only
when a backend is opened.
"""

from __future__ import annotations

from pathlib import Path

from gridledger.chain.backend import LedgerBackend, Log, Receipt
from gridledger.errors import ConfigError, LedgerError

__all__ = ["EMBEDDED_CHAIN_FILE", "LedgerBackend", "Log", "Receipt", "open_ledger"]

EMBEDDED_CHAIN_FILE = "chain.sqlite"


def open_ledger(
    url: str,
    data_dir: Path | str = "var",
    chain_id: int = 1337,
    *,
    create: bool = True,
    process: bool = False,
) -> LedgerBackend:
    """The backend for a ``ledger_url`` setting: ``embedded`` or an ``http(s)://`` node URL.

    The embedded chain lives in ``data_dir/chain.sqlite`` (created with ``chain_id`` when
    missing, unless ``create=False``); with ``process=True`` it runs in a child process
    (:class:`~gridledger.chain.process.ProcessBackend`), else in this one. A node must report
    ``chain_id``, since every signature is bound to it.
    """
    if url == "embedded":
        directory = Path(data_dir)
        path = directory / EMBEDDED_CHAIN_FILE
        if not create and not path.is_file():
            raise LedgerError(
                f"there is no embedded chain at {path}: check data_dir, or run gridledger "
                "simulate --settle (or gridledger serve) to make one"
            )
        if directory.exists() and not directory.is_dir():
            raise ConfigError(f"data_dir {directory} is a file; point data_dir at a directory")
        directory.mkdir(parents=True, exist_ok=True)
        if process:
            from gridledger.chain.process import ProcessBackend

            return ProcessBackend(path, chain_id=None if path.exists() else chain_id)
        from gridledger.chain.embedded import EmbeddedLedger

        return EmbeddedLedger(path, chain_id=None if path.exists() else chain_id)
    if url.startswith(("http://", "https://")):
        from gridledger.chain.rpc import RpcBackend

        backend = RpcBackend(url)
        if backend.chain_id != chain_id:
            backend.close()
            raise ConfigError(
                f"the node at {url} runs chain id {backend.chain_id}, the settings say {chain_id}; "
                "set chain_id to the network's (signatures are bound to it)"
            )
        return backend
    raise ConfigError(f"ledger_url {url!r} is neither 'embedded' nor an http(s):// node URL")
