"""What a data dir was made with: settings that must not change under an existing store and chain.

A run that settles into a data dir first *claims* it with the settings that decide what it will
write (for the simulated city: seed, households, start, hours, slot length, clearing rule,
tariff; the period counts because the city's random draws depend on it). The first claim writes
``data_dir/manifest.json``; a later claim with different values is refused before anything is
written, naming each setting and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from gridledger.errors import ConfigError

MANIFEST_FILE = "manifest.json"


def claim(data_dir: Path | str, purpose: str, settings: Mapping[str, object]) -> None:
    """Record ``settings`` for ``purpose`` in ``data_dir``, or refuse ones that differ."""
    path = Path(data_dir) / MANIFEST_FILE
    wanted = {k: settings[k] for k in sorted(settings)}
    if path.exists():
        try:
            held = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"{path} is unreadable ({exc}); restore it, or move the data dir aside"
            ) from exc
        recorded = held.get(purpose) if isinstance(held, dict) else None
        if isinstance(recorded, dict):
            diff = [k for k in wanted if k in recorded and recorded[k] != wanted[k]]
            if diff:
                lines = ", ".join(f"{k} = {recorded[k]!r} (now {wanted[k]!r})" for k in diff)
                raise ConfigError(
                    f"data dir {Path(data_dir)} was made with {lines}: re-run with those "
                    "settings to continue it, or choose another data_dir for new ones; nothing "
                    "was written"
                )
            return
    else:
        held = {}
    held[purpose] = wanted
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(held, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
