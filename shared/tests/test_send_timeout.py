"""The send timeout (shared.server): a client that asks for a large response and then reads
none of it is cut off once the response has not moved for SEND_TIMEOUT_SECONDS, instead of
holding the connection (and, at the gateway, the upstream's response) forever. A real
uvicorn process, as every service runs."""

import json
import socket
import subprocess
import sys
import threading
import time

# Streams up to 1 GiB in 1 MiB pieces; says how far it got when the stream ends.
_SERVICE = """
import sys
from shared import ServiceSettings, get_logger
from shared.server import serve

CHUNK = b"x" * (1 << 20)

def create_app(settings):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")]})
        sent = 0
        for _ in range(1024):
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
            sent += 1
        get_logger("test").info("stream_ended", chunks=sent)
    return app

serve(ServiceSettings(PORT=int(sys.argv[1]), LOG_LEVEL="info", SEND_TIMEOUT_SECONDS=1,
                      METRICS_PORT=0), create_app)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Events:
    """The server's JSON log events, read as they are written."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.lines: list[dict[str, object]] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                self.lines.append(json.loads(raw))
            except ValueError:
                self.lines.append({"event": raw.decode(errors="replace")})

    def wait_for(self, event: str, within: float) -> dict[str, object]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in self.lines:
                if line.get("event") == event:
                    return line
            time.sleep(0.1)
        raise AssertionError(f"no {event!r} in {within:.0f} s: {self.lines[-5:]}")


def _connect(port: int, within: float = 30.0) -> socket.socket:
    deadline = time.monotonic() + within
    while True:
        client = socket.socket()
        # A small receive window, so the server's buffers fill after a few MiB.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            client.connect(("127.0.0.1", port))
            return client
        except ConnectionRefusedError:
            client.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_client_that_reads_nothing_of_a_response_is_cut_off() -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", _SERVICE, str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    events = _Events(proc)
    client = _connect(port)
    try:
        client.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        # Never reading: the server's writes stall, and after the timeout it gives up.
        cut = events.wait_for("send_timeout", within=60)
        assert cut["client_ip"] == "127.0.0.1"
        # The application is let go too: its sends stop blocking (uvicorn drops them once
        # the client is gone), so its stream ends instead of waiting forever.
        ended = events.wait_for("stream_ended", within=60)
        assert isinstance(ended["chunks"], int)
        # The connection is gone: reading drains what was buffered, then EOF or a reset.
        client.settimeout(30)
        received = 0
        try:
            while chunk := client.recv(1 << 20):
                received += len(chunk)
        except ConnectionResetError:
            pass
        assert received < 1 << 30
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=15)
