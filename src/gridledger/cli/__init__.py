"""The ``gridledger`` command line: a thin layer over the library.

Each command builds the library objects from the effective settings and calls them; no logic lives
only here. One module per command group; ``docs/cli.md`` documents every command, and a test fails
when one is missing there.
"""

from __future__ import annotations

# importing a command module registers its commands on the group
from gridledger.cli import config, faults, ingest, keys, ledger, market, serve, simulate  # noqa: F401
from gridledger.cli.group import main

__all__ = ["main"]
