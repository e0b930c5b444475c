"""What the edge limits cost a request: server CPU per request of the protocol every service
serves with (shared.server.ServiceHttpProtocol: deadlines, caps, lingering close) next to
the protocol it replaced (uvicorn's httptools protocol with combined writes only), on a
trivial ASGI app, so the difference is the protocol's own.

    uv run --frozen python -m bench.server_protocol [requests] [rounds]

Each server runs in its own process under uvloop; a client in this process keeps 16
keep-alive connections busy. Prints CPU µs per request of the server process (utime +
stime from /proc), rounds interleaved, and the median of each."""

import asyncio
import os
import statistics
import subprocess
import sys
import time

from devstack.ports import free_port

SERVER = r"""
import asyncio, sys
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from shared import ServiceSettings
from shared._transport import CombiningTransport
from shared.server import service_config

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"15")]})
    await send({"type": "http.response.body", "body": b'{"status":"ok"}'})

class Previous(HttpToolsProtocol):
    def connection_made(self, transport):
        super().connection_made(transport)
        self.transport = CombiningTransport(transport, self.loop)

port, kind = int(sys.argv[1]), sys.argv[2]
options = {"lifespan": "off"}
if kind == "previous":
    options["http"] = Previous
config = service_config(ServiceSettings(PORT=port, LOG_LEVEL="warning"), app, **options)
uvicorn.Server(config).run()
"""

REQUEST = b"GET /health/live HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n"


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _connection(port: int, requests: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(requests):
        writer.write(REQUEST)
        await reader.readuntil(b'{"status":"ok"}')
    writer.close()


async def _load(port: int, requests: int, connections: int = 16) -> None:
    await asyncio.gather(*(_connection(port, requests // connections)
                           for _ in range(connections)))


def _round(kind: str, requests: int) -> float:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), kind])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                asyncio.run(_load(port, 16, connections=1))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        asyncio.run(_load(port, 2000))  # warm up
        before = _cpu_seconds(server.pid)
        asyncio.run(_load(port, requests))
        return (_cpu_seconds(server.pid) - before) / requests * 1e6
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 40_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    results: dict[str, list[float]] = {"previous": [], "service": []}
    for _ in range(rounds):
        for kind in results:
            results[kind].append(_round(kind, requests))
    for kind, values in results.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"{kind:9s} CPU µs per request: {shown}  (median {statistics.median(values):.1f})")


if __name__ == "__main__":
    main()
