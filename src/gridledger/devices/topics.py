"""The MQTT topic scheme.

::

    gridledger/<region>/<site>/<device>/readings    device -> ingest   (signed Reading, QoS 1)
    gridledger/<region>/<site>/<device>/commands    owner  -> device   (signed Command, QoS 1)

``<region>`` is the region name, ``<site>`` the site id and ``<device>`` the device id as registered
in the store; each level is 1 to 64 characters of ``A-Z a-z 0-9 _ - .`` (no MQTT wildcards, no
``/``). The topic only routes: ingest trusts the signed payload, and refuses a reading whose topic
names another device than the one whose key signed it. Ingest subscribes to
``gridledger/+/+/+/readings`` (all regions) or ``gridledger/<region>/+/+/readings``.
"""

from __future__ import annotations

import re
from typing import Literal

from gridledger.errors import TelemetryError

PREFIX = "gridledger"
Channel = Literal["readings", "commands"]
_LEVEL_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _check(level: str, title: str) -> str:
    if not isinstance(level, str) or not _LEVEL_RE.match(level):
        raise TelemetryError(
            f"{title} {level!r} cannot be a topic level; use 1-64 characters of A-Z a-z 0-9 _ - ."
        )
    return level


def topic(region: str, site: str, device: str, channel: Channel) -> str:
    """The topic of one device's readings or commands."""
    if channel not in ("readings", "commands"):
        raise TelemetryError(f"channel must be 'readings' or 'commands', got {channel!r}")
    return "/".join(
        (PREFIX, _check(region, "region"), _check(site, "site"), _check(device, "device"), channel)
    )


def readings_filter(region: str | None = None) -> str:
    """Subscription filter for every reading (of one region, or of all)."""
    return f"{PREFIX}/{_check(region, 'region') if region else '+'}/+/+/readings"


def parse_topic(name: str) -> tuple[str, str, str, str] | None:
    """``(region, site, device, channel)`` of a gridledger topic, or ``None`` if it is not one."""
    parts = name.split("/")
    if len(parts) != 5 or parts[0] != PREFIX or parts[4] not in ("readings", "commands"):
        return None
    if not all(_LEVEL_RE.match(p) for p in parts[1:4]):
        return None
    return parts[1], parts[2], parts[3], parts[4]


def topic_matches(topic_filter: str, name: str) -> bool:
    """MQTT filter matching with ``+`` (one level) and ``#`` (the rest)."""
    f_parts = topic_filter.split("/")
    t_parts = name.split("/")
    for i, f in enumerate(f_parts):
        if f == "#":
            return True
        if i >= len(t_parts) or (f != "+" and f != t_parts[i]):
            return False
    return len(f_parts) == len(t_parts)
