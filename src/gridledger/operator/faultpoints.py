"""Named points of the settlement protocol where a test can kill the process.

Set ``GRIDLEDGER_CRASH_AT`` to a point's name (e.g. ``settle:after_intent``) and the process
kills itself with SIGKILL when it reaches that point for the ``GRIDLEDGER_CRASH_AFTER``-th time
(default 1): no ``finally`` runs, no buffer is flushed, exactly like a power cut. The tests of
``tests/test_operator_protocol.py`` run a command with each point set, then run it again (or
``gridledger repair``) and require ``gridledger verify`` to pass. Unset, a point costs one dict
lookup. The points are listed in :data:`POINTS` and drawn as the protocol's state machine in
``docs/architecture.md``.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "GRIDLEDGER_CRASH_AT"
CRASH_AFTER_ENV = "GRIDLEDGER_CRASH_AFTER"

#: Every point, in protocol order.
POINTS: tuple[str, ...] = (
    "deploy:after_contracts",
    "deploy:after_record",
    "onboard:after_register",
    "onboard:after_mint",
    "settle:after_intent",
    "settle:after_send",
    "deliver:after_intent",
    "deliver:after_send",
)

_seen: dict[str, int] = {}


def reached(point: str) -> None:
    """Kill this process if ``GRIDLEDGER_CRASH_AT`` names ``point`` (see the module doc)."""
    if os.environ.get(CRASH_ENV) != point:
        return
    _seen[point] = _seen.get(point, 0) + 1
    if _seen[point] >= int(os.environ.get(CRASH_AFTER_ENV, "1")):
        os.kill(os.getpid(), signal.SIGKILL)
