"""uvicorn's httptools protocol with a response's head and body written in one send.

uvicorn writes a response's status line and headers when the app sends ``http.response.start``
and the body when it sends ``http.response.body``: two ``send()`` system calls per response, and
on loopback two wake-ups of the client (its reader returns at the end of the headers, then waits
for the body). Profiled under ``benchmarks/bench_api.py`` (100 clients of the read endpoints),
the two writes were the largest single item of the event loop's time (about 20 %, most of it
the header write). :class:`CoalescingHttpToolsProtocol` hands uvicorn a transport that holds a
response head (a write that starts with ``HTTP/1.1`` and ends with the blank line) until the
next write on the connection, and sends the two as one. A head with nothing after it in the same
turn of the event loop (a streamed body whose first chunk comes later) leaves at the end of that
turn (``loop.call_soon``). Body chunks are never held, ``close`` sends a held head first, and
every other transport call goes to the real transport, so the protocol's behaviour (keep-alive,
flow control, streaming bodies such as the SSE stream, upgrades) is uvicorn's own.

(A first version collected every write of a turn and sent it at the end of the turn: each
response then waited for the whole turn, which at 100 clients holds ~100 requests, and reads
fell from about 1,200 to 340-460 requests/s.)

Use: ``uvicorn.Config(app, http=CoalescingHttpToolsProtocol)`` (what ``gridledger serve`` does).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport that sends a response head together with the write after it."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head is not None:  # the body (or an empty one) completes the held head
            head, self._head = self._head, None
            self._transport.write(head + bytes(data))
            return
        if not data:
            return
        if data[:9] == b"HTTP/1.1 " and data[-4:] == b"\r\n\r\n":
            self._head = bytes(data)
            self._loop.call_soon(self._flush)
            return
        self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        head, self._head = self._head, None
        if head is not None and not self._transport.is_closing():
            self._transport.write(head)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._head or b"")

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._head = None
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
