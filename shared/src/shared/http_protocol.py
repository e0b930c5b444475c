"""uvicorn's httptools protocol, with the writes of one event-loop turn sent as one.

uvicorn writes a response's head and its body with two `transport.write` calls, i.e. two
`send` syscalls (and two TCP segments) per response; on the gateway that was ~20% of its
CPU samples. Here each connection's writes are queued during the loop turn and sent
together at its end, microseconds later."""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CombiningTransport:
    """A connection's transport whose `write`s of one loop turn leave in one write.
    Everything else is the real transport's; `close` sends what is queued first."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CombiningHttpToolsProtocol(HttpToolsProtocol):
    """The protocol every service serves HTTP with (`shared.serve`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Flow control and addresses keep the real transport; responses use the combiner.
        self.transport = CombiningTransport(transport, self.loop)  # type: ignore[assignment]
