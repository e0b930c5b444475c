"""HTTP/1.1 to the upstream services over pooled keep-alive connections.

The gateway's only client-side HTTP: asyncio protocols with httptools (llhttp) parsing
the responses, one request at a time per connection, no pipelining. It does what the
proxy needs and nothing more (no redirects, cookies, decompression, proxies, TLS: the
upstreams are services on a private network), which is why it costs a fraction of a
general-purpose client per request (docs/decisions/0005-gateway-upstream-http.md).

Failures come out as `UpstreamFailure` with a `reason`:
- "unreachable": the connection was refused (or failed otherwise) while connecting;
- "timeout": no connection within the connect timeout, or no complete response within
  the read timeout (counted from the moment the request is sent);
- "closed": the connection closed before a complete response;
- "invalid": the response was not valid HTTP/1.1.
A request that failed with "closed" on a *reused* connection before any byte of the
response arrived is retried once on a new connection, for idempotent methods only (the
upstream had closed an idle keep-alive connection as we reused it)."""

import asyncio
import time
from collections import deque
from typing import Any, cast
from urllib.parse import urlsplit

import httptools

from gateway.headers import Header

# Retried once on a stale keep-alive connection. PUT and DELETE are idempotent by the RFC,
# but a retried DELETE would answer 404 for a deletion that happened: not retried.
_RETRIED = frozenset({"GET", "HEAD", "OPTIONS"})


class UpstreamFailure(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class UpstreamResponse:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[Header], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `exchange` sends a request and waits for its response."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[UpstreamResponse] | None = None
        self._parser: Any = None
        self._head = False
        self._status = 0
        self._headers: list[Header] = []
        self._body: list[bytes] = []
        self._received = False  # any byte of the current response
        self.closed = False
        self.reused = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def exchange(self, request: bytes, head: bool) -> "asyncio.Future[UpstreamResponse]":
        assert self._transport is not None
        assert self._waiter is None
        self._waiter = self._loop.create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._head = head
        self._status, self._headers, self._body = 0, [], []
        self._received = False
        self._transport.write(request)
        return self._waiter

    # --- httptools callbacks ---------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        if self._head and self._status >= 200:
            # A HEAD response has no body whatever Content-Length says; the parser cannot
            # be told so, and a new parser is made per response anyway.
            self._complete()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim response (100 Continue): the final one
            self._status, self._headers, self._body = 0, [], []  # follows on this stream
            return
        self._complete()

    def _complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        if not self._parser.should_keep_alive():
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(UpstreamResponse(self._status, self._headers,
                                               b"".join(self._body)))

    # --- transport events ------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the stream is out of step
            self.close()
            return
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamFailure("invalid", str(exc)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            # A response framed by the end of the connection (no length, not chunked).
            if self._status >= 200 and not self._parser.should_keep_alive() \
                    and not any(n.lower() in (b"content-length", b"transfer-encoding")
                                for n, _ in self._headers):
                self._complete()
                return
            self._fail(UpstreamFailure("closed", f"connection closed ({exc or 'EOF'})"))

    def _fail(self, error: UpstreamFailure) -> None:
        waiter, self._waiter = self._waiter, None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    @property
    def stale_failure(self) -> bool:
        """The last failure happened on a reused connection before any response byte."""
        return self.reused and not self._received

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class Upstream:
    """Keep-alive connections to one `http://host:port` base URL."""

    def __init__(self, base_url: str, *, pool_size: int, keepalive: float,
                 connect_timeout: float, read_timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be http://host[:port], got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.host_header = parts.netloc.encode("idna")
        self.keepalive = keepalive
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(pool_size)  # connections in use or being made

    async def request(self, method: str, target: bytes, headers: list[Header],
                      body: bytes | None = None) -> UpstreamResponse:
        """Send one request (`target` is the raw path and query) and read the response."""
        payload = self._serialise(method, target, headers, body)
        attempts = 2 if method in _RETRIED else 1
        async with self._slots:
            for attempt in range(attempts):
                connection = await self._checkout()
                try:
                    async with asyncio.timeout(self.read_timeout):
                        response = await connection.exchange(payload, method == "HEAD")
                except TimeoutError:
                    connection.close()
                    raise UpstreamFailure("timeout", f"no response in {self.read_timeout} s"
                                          ) from None
                except UpstreamFailure as failure:
                    retry = failure.reason == "closed" and connection.stale_failure
                    if retry and attempt + 1 < attempts:
                        continue
                    raise
                except BaseException:
                    connection.close()  # cancelled mid-exchange: its stream is unusable
                    raise
                self._checkin(connection)
                return response
        raise AssertionError("unreachable")

    def _serialise(self, method: str, target: bytes, headers: list[Header],
                   body: bytes | None) -> bytes:
        lines = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nhost: ",
                 self.host_header, b"\r\n"]
        for name, value in headers:
            lines += (name, b": ", value, b"\r\n")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines += (b"content-length: ", str(len(body or b"")).encode(), b"\r\n")
        lines.append(b"\r\n")
        if body:
            lines.append(body)
        return b"".join(lines)

    async def _checkout(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recently used: least likely closed
            if not connection.closed and now - connection.idle_since < self.keepalive:
                connection.reused = True
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop), self.host, self.port)
        except TimeoutError:
            raise UpstreamFailure("timeout", f"connect timed out after {self.connect_timeout} s"
                                  ) from None
        except OSError as exc:
            raise UpstreamFailure("unreachable", str(exc)) from None
        return connection

    def _checkin(self, connection: _Connection) -> None:
        if connection.closed:
            return
        connection.idle_since = time.monotonic()
        self._idle.append(connection)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
