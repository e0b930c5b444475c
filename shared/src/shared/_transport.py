"""Writes of one event-loop turn sent as one: a `send` syscall per small write was among the
largest costs of the gateway (its responses, its Redis calls). The writes queued during a
loop turn leave together at its end, microseconds later."""

import asyncio
from typing import Any


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
