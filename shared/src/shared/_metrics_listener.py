"""The private metrics listener: `GET /metrics` on its own address, off the public port.

Metrics tell anyone who can read them how busy a service is and how its limiter decides,
so they are not served where clients connect. Each service opens this listener next to
its public one (METRICS_HOST/METRICS_PORT): loopback natively, the container network in
compose (never published). It is a plain asyncio server so the public app pays nothing
for it: one short request per connection, answered and closed."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from shared._logging import get_logger
from shared._problems import PROBLEM_CONTENT_TYPE, problem_body

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # prometheus_client's exposition
_HEAD_LIMIT = 8192  # a scrape's request head is a few hundred bytes
_READ_TIMEOUT_SECONDS = 10.0  # a silent client does not keep a connection open for ever

_log = get_logger("metrics")


@contextlib.asynccontextmanager
async def metrics_listener(host: str, port: int,
                           render: Callable[[], bytes]) -> AsyncIterator[int | None]:
    """Serve `render()` at `GET /metrics` on host:port while the context is open; yields
    the bound port. Port 0 means no listener (yields None)."""
    if port == 0:
        yield None
        return

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT_SECONDS)
            method, _, rest = head.partition(b" ")
            target = rest.partition(b" ")[0].partition(b"?")[0]
            writer.write(_response(method, target, render))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            pass  # the client went away or sent no request head: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(answer, host, port, limit=_HEAD_LIMIT)
    bound = server.sockets[0].getsockname()[1]
    _log.info("metrics_listening", host=host, port=bound)
    try:
        yield bound
    finally:
        server.close()
        await server.wait_closed()


def _response(method: bytes, target: bytes, render: Callable[[], bytes]) -> bytes:
    if target != b"/metrics":
        return _encode(404, PROBLEM_CONTENT_TYPE,
                       problem_body(404, "not_found", "Only /metrics is served here"))
    if method not in (b"GET", b"HEAD"):
        return _encode(405, PROBLEM_CONTENT_TYPE,
                       problem_body(405, "method_not_allowed", "Use GET"), allow="GET, HEAD")
    body = render()
    return _encode(200, CONTENT_TYPE, body, head=method == b"HEAD")


def _encode(status: int, content_type: str, body: bytes, *, allow: str = "",
            head: bool = False) -> bytes:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[status]
    lines = [f"HTTP/1.1 {status} {reason}", f"content-type: {content_type}",
             f"content-length: {len(body)}", "cache-control: no-store", "connection: close"]
    if allow:
        lines.append(f"allow: {allow}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head else body)
