"""Log lines: one JSON object per line, and within an event loop one write per loop turn."""

import asyncio
import io
import json
import threading

from shared import LineWriter


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def test_lines_of_one_loop_turn_leave_in_one_write_in_order() -> None:
    stream = CountingStream()
    writer = LineWriter(stream)
    for n in range(5):
        writer.write_line(json.dumps({"n": n}))
    assert stream.writes == 0  # not before the end of this turn
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert stream.writes == 1
    assert [json.loads(line)["n"] for line in stream.getvalue().splitlines()] == [0, 1, 2, 3, 4]


def test_without_a_loop_each_line_is_written_at_once() -> None:
    stream = CountingStream()
    writer = LineWriter(stream)
    writer.write_line("a")
    assert stream.getvalue() == "a\n"
    done = threading.Event()
    threading.Thread(target=lambda: (writer.write_line("b"), done.set())).start()
    assert done.wait(5)
    assert stream.getvalue() == "a\nb\n"


async def test_a_line_from_a_thread_keeps_the_order_of_pending_ones() -> None:
    stream = CountingStream()
    writer = LineWriter(stream)
    writer.write_line("first")  # pending until the end of this loop turn
    await asyncio.to_thread(writer.write_line, "second")  # no loop there: writes both
    await asyncio.sleep(0)
    assert stream.getvalue() == "first\nsecond\n"
