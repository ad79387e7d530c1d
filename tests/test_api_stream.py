"""The live stream over a real uvicorn server: a household receives its own devices' power, the
slots cleared, and its battery command's state as the accumulator acknowledges it; another
household's power never reaches it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from serve_platform import World, run_minutes

from gridledger.api.app import create_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[World, str]]:
    world = World(tmp_path, households=5, minutes=20)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(world.platform),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield world, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    world.close()


def test_stream_delivers_own_events_only(served: tuple[World, str]) -> None:
    world, base = served
    events: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        headers = {"Authorization": f"Bearer {world.tokens['a']}"}
        with httpx.stream("GET", base + "/api/v1/stream", headers=headers, timeout=30) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("event: hello"):
                    ready.set()
                if line.startswith("data:") and ready.is_set() and "published_ms" in line:
                    events.append(json.loads(line[5:]))
                    kinds = {e["kind"] for e in events}
                    if {"power", "slot_cleared", "command"} <= kinds:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(10)
    sent = httpx.post(
        base + f"/api/v1/sites/{world.a_site.site_id}/battery/commands",
        json={"setting": "mode", "value": "hold"},
        headers={"Authorization": f"Bearer {world.tokens['a']}"},
    )
    assert sent.status_code == 202, sent.text
    for _ in range(40):  # 40 clock minutes: readings each minute, slots clear every 15
        run_minutes(world.platform, world.clock, 1)
        if not listener.is_alive():
            break
        time.sleep(0.02)
    listener.join(10)
    kinds = {e["kind"] for e in events}
    assert {"power", "slot_cleared", "command"} <= kinds, kinds
    assert {e["site_id"] for e in events if e["kind"] == "power"} == {world.a_site.site_id}
    command = next(e for e in events if e["kind"] == "command")
    assert command["status"] == "applied" and command["id"] == sent.json()["id"]
    assert all(e["published_ms"] <= time.time() * 1000 for e in events)
