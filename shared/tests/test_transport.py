"""Writes of one loop turn leave in one write (responses, Redis calls)."""

import asyncio
from typing import Any

from shared import CombiningTransport


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> Any:
        return f"info:{name}"


async def test_the_writes_of_one_loop_turn_leave_together() -> None:
    real = RecordingTransport()
    transport = CombiningTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"ok")
    assert real.writes == []
    await asyncio.sleep(0)
    assert real.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]


async def test_close_sends_what_is_queued_first() -> None:
    real = RecordingTransport()
    transport = CombiningTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
    transport.close()
    assert real.writes == [b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n"]
    assert real.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing left to send
    assert len(real.writes) == 1


async def test_everything_else_is_the_real_transports() -> None:
    real = RecordingTransport()
    transport = CombiningTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    assert transport.get_extra_info("peername") == "info:peername"
    assert not transport.is_closing()
