"""Forwarding to an upstream over pooled keep-alive connections (aiohttp; see
docs/decisions/0001-gateway-upstream-client.md for the measurement behind the choice)."""


import aiohttp
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from shared.tracing import tracing_enabled
from starlette.types import Receive
from yarl import URL

from gateway.headers import Header, response_headers

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(Exception):
    """The request body grew past the limit while it was being received."""


class ClientGone(Exception):
    """The client disconnected before its request body was complete."""


class UpstreamError(Exception):
    """The upstream could not be used; `status` and `code` are what the client gets."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, counted as it arrives so a chunked body without
    Content-Length cannot exceed `limit` either."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def create_session(
    pool_size: int, keepalive: float, connect_timeout: float, read_timeout: float
) -> aiohttp.ClientSession:
    """The one upstream session: keep-alive pool per upstream host, raw bytes both ways."""
    connector = aiohttp.TCPConnector(
        limit=0, limit_per_host=pool_size, keepalive_timeout=keepalive,
        ttl_dns_cache=300, enable_cleanup_closed=True,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout,
            # Waiting for a pooled connection plus connecting: bounded too.
            connect=connect_timeout * 2,
        ),
        auto_decompress=False,  # pass Content-Encoding through untouched
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
        # With tracing on: a client span per upstream call, and its `traceparent` replaces
        # the caller's (the gateway's server span is the caller's child).
        trace_configs=[create_trace_config()] if tracing_enabled() else None,
    )


class Proxy:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def forward(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, list[Header], bytes]:
        """(status, filtered response headers, body); raises UpstreamError."""
        target = URL(url, encoded=True)  # never re-quote: the path was validated raw
        attempts = 2 if method in _IDEMPOTENT else 1
        for attempt in range(attempts):
            try:
                async with self.session.request(
                    method, target, headers=headers, data=body, allow_redirects=False,
                ) as response:
                    payload = await response.read()
                    return response.status, response_headers(response.raw_headers), payload
            except aiohttp.ServerDisconnectedError:
                # A pooled keep-alive connection the upstream had just closed: safe to
                # retry once for idempotent methods only.
                if attempt + 1 < attempts:
                    continue
                raise UpstreamError(502, "upstream_unavailable",
                                    "The upstream closed the connection") from None
            except (TimeoutError, aiohttp.ServerTimeoutError):
                raise UpstreamError(504, "upstream_timeout",
                                    "The upstream did not answer in time") from None
            except aiohttp.ClientConnectorError:
                raise UpstreamError(502, "upstream_unavailable",
                                    "The upstream is not reachable") from None
            except aiohttp.ClientError:
                raise UpstreamError(502, "upstream_unavailable",
                                    "The upstream answered with an invalid response") from None
        raise AssertionError("unreachable")
