"""uvicorn's httptools protocol with a response's head and body written in one send.

uvicorn writes a response's status line and headers when the app sends ``http.response.start``
and the body when it sends ``http.response.body``: two ``send()`` system calls per response, and
on loopback two wake-ups of the client (its reader returns at the end of the headers, then waits
for the body). Profiled under ``benchmarks/bench_api.py`` (100 clients of the read endpoints),
the two writes were the largest single item of the event loop's time (about 20 %, most of it
the header write). :class:`CoalescingHttpToolsProtocol` hands uvicorn a transport whose
``write`` collects what is written during one turn of the event loop and sends it with one
``write`` at the end of that turn (``loop.call_soon``): a small response leaves as one segment.
Nothing is held longer than the current turn, ``close`` sends what is collected first, and
every other transport call goes to the real transport, so the protocol's behaviour (keep-alive,
flow control, streaming bodies such as the SSE stream, upgrades) is uvicorn's own.

Use: ``uvicorn.Config(app, http=CoalescingHttpToolsProtocol)`` (what ``gridledger serve`` does).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport that sends what is written in one turn of ``loop`` as one write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(p) for p in self._pending)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        # is_closing, get_extra_info, pause_reading, resume_reading, set_protocol, ...
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` over a :class:`CoalescingTransport` (module docstring)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike
        wrapped: Any = CoalescingTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(wrapped)


__all__ = ["CoalescingHttpToolsProtocol", "CoalescingTransport"]
