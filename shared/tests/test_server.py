"""shared.serve: a real uvicorn process, as every service runs."""

import json
import signal
import socket
import subprocess
import sys
import time

import httpx

# A service in a few lines: the route reports what the garbage collector sees.
_SERVICE = """
import gc, sys
from fastapi import FastAPI
from shared import get_logger
from shared.server import serve
from shared import ServiceSettings

def create_app(settings):
    app = FastAPI()

    @app.get("/gc")
    async def gc_state() -> dict[str, int]:
        get_logger("test").info("gc_state_read")
        return {"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}

    return app

serve(ServiceSettings(PORT=int(sys.argv[1]), LOG_LEVEL="info"), create_app)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", _SERVICE, str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _get(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_start_up_heap_is_frozen_out_of_the_collector() -> None:
    """Full collections must not walk the objects every process keeps for life: those
    pauses were the W3 p99 (docs/performance.md)."""
    port = _free_port()
    proc = _start(port)
    try:
        state = _get(f"http://127.0.0.1:{port}/gc", proc).json()
        # Imports alone are tens of thousands of objects; only the few made since remain.
        assert state["frozen"] > 20_000
        assert state["tracked"] < state["frozen"] / 4
    finally:
        proc.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert proc.wait(timeout=15) in (0, -signal.SIGTERM)


def test_every_log_line_is_written_before_a_signal_ends_the_process() -> None:
    port = _free_port()
    proc = _start(port)
    try:
        assert _get(f"http://127.0.0.1:{port}/gc", proc).status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    events = [json.loads(line).get("event", "") for line in out.decode().splitlines()]
    assert "gc_state_read" in events
    # uvicorn's last line, logged in the loop turn that ends with the re-raised SIGTERM.
    assert any(event.startswith("Finished server process") for event in events)


def test_a_failed_start_up_exits_with_uvicorns_failure_code() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = _start(taken.getsockname()[1])
        assert proc.wait(timeout=30) == 3
