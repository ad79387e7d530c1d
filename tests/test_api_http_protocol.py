"""The HTTP protocol of ``gridledger serve``: a response's head leaves in one send with its body,
and uvicorn behaves as before with it (keep-alive, JSON, streamed bodies, errors) on both event
loops."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from gridledger.api.http_protocol import CoalescingHttpToolsProtocol, CoalescingTransport


class FakeTransport:
    """Records every write; closes on request."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


def test_a_head_leaves_with_the_write_after_it() -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n"

    async def main() -> list[tuple[str, list[bytes]]]:
        fake = FakeTransport()
        t = CoalescingTransport(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
        seen: list[tuple[str, list[bytes]]] = []
        t.write(head)
        assert t.get_write_buffer_size() == len(head)
        seen.append(("head held", list(fake.writes)))
        t.write(memoryview(b"body"))
        seen.append(("with its body", list(fake.writes)))
        t.write(b"chunk")  # not a head: at once
        seen.append(("chunk", list(fake.writes)))
        fake.writes.clear()
        t.write(head)
        t.write(b"")  # an empty body completes it too
        seen.append(("empty body", list(fake.writes)))
        fake.writes.clear()
        t.write(head)  # a streamed body that comes later: the head leaves at the turn's end
        await asyncio.sleep(0)
        seen.append(("end of turn", list(fake.writes)))
        fake.writes.clear()
        t.write(head)
        t.close()  # a held head leaves before the close
        seen.append(("close", list(fake.writes)))
        assert fake.closed
        return seen

    assert asyncio.run(main()) == [
        ("head held", []),
        ("with its body", [head + b"body"]),
        ("chunk", [head + b"body", b"chunk"]),
        ("empty body", [head]),
        ("end of turn", [head]),
        ("close", [head]),
    ]
    loop = asyncio.new_event_loop()
    try:
        t = CoalescingTransport(FakeTransport(), loop)  # type: ignore[arg-type]
        assert t.get_extra_info("peername") == ("127.0.0.1", 1)  # the rest: the real transport's
    finally:
        loop.close()


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/json")
    async def json_route(n: int = 1) -> dict[str, Any]:
        return {"n": n, "items": list(range(n))}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"data: {i}\n\n".encode()
                await asyncio.sleep(0.01)

        return StreamingResponse(chunks(), media_type="text/event-stream")

    return app


@pytest.fixture(params=["asyncio", "uvloop"])
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        _app(),
        host="127.0.0.1",
        port=port,
        loop=request.param,
        http=CoalescingHttpToolsProtocol,
        log_level="warning",
        lifespan="off",
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_uvicorn_serves_as_before(server: str) -> None:
    with httpx.Client(base_url=server) as client:  # one kept-alive connection
        for n in (0, 1, 5000):  # the last is larger than a socket's first send
            r = client.get("/json", params={"n": n})
            assert r.status_code == 200 and r.json() == {"n": n, "items": list(range(n))}
        assert client.get("/json", params={"n": "x"}).status_code == 422
        assert client.get("/missing").status_code == 404
        streamed = client.get("/stream")
        assert streamed.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
        assert client.get("/json").json() == {"n": 1, "items": [0]}
    # a client that closes after one request
    with httpx.Client(base_url=server, headers={"Connection": "close"}) as client:
        assert client.get("/json").status_code == 200
