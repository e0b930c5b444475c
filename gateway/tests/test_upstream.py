"""The gateway's HTTP/1.1 upstream client against scripted peers: framing (length,
chunked, close-delimited, HEAD, 1xx), keep-alive reuse, the stale-connection retry, and
each failure reason."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from gateway.upstream import Upstream, UpstreamFailure

# A peer answers each request (read up to the blank line, plus a Content-Length body) with
# the next of its scripted replies; None closes the connection without answering.
Reply = bytes | None


@asynccontextmanager
async def peer(*replies: Reply, close_after_each: bool = False,
               delay: float = 0.0) -> AsyncIterator[tuple[str, list[bytes], list[int]]]:
    script = list(replies)
    received: list[bytes] = []
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while script:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                received.append(head + await reader.readexactly(length))
                reply = script.pop(0)
                await asyncio.sleep(delay)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if close_after_each:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", received, connections
    finally:
        server.close()


def upstream(url: str, read_timeout: float = 2.0) -> Upstream:
    return Upstream(url, pool_size=8, keepalive=4.0, connect_timeout=1.0,
                    read_timeout=read_timeout)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nok"


async def test_request_line_headers_body_and_keep_alive_reuse() -> None:
    async with peer(OK, OK) as (url, received, connections):
        client = upstream(url)
        first = await client.request("POST", b"/auth/login?x=%2F", [(b"x-b", b"2")], b"{}")
        second = await client.request("GET", b"/users/me", [])
        client.close()
    assert (first.status, first.body) == (200, b"ok")
    assert (b"X-A", b"1") in first.headers
    assert received[0].startswith(b"POST /auth/login?x=%2F HTTP/1.1\r\nhost: 127.0.0.1:")
    assert b"\r\nx-b: 2\r\ncontent-length: 2\r\n\r\n{}" in received[0]
    assert b"content-length" not in received[1]  # a GET without a body has none
    assert second.body == b"ok"
    assert len(connections) == 1  # the second request reused the first connection


@pytest.mark.parametrize(("reply", "body"), [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
     b"abcde"),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx", b"x"),
    (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", b"until the end"),
])
async def test_response_framings(reply: bytes, body: bytes) -> None:
    async with peer(reply, close_after_each=True) as (url, _, _):
        client = upstream(url)
        response = await client.request("GET", b"/", [])
        client.close()
    assert response.body == body
    assert response.status in (200, 201, 204)


async def test_head_response_has_no_body_and_the_connection_stays_usable() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    async with peer(head, OK) as (url, _, connections):
        client = upstream(url)
        response = await client.request("HEAD", b"/", [])
        after = await client.request("GET", b"/", [])
        client.close()
    assert (response.status, response.body) == (200, b"")
    assert after.body == b"ok"
    assert len(connections) in (1, 2)


async def test_connection_close_is_not_reused() -> None:
    closing = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    async with peer(closing, OK, close_after_each=True) as (url, _, connections):
        client = upstream(url)
        await client.request("GET", b"/", [])
        await client.request("GET", b"/", [])
        client.close()
    assert len(connections) == 2


async def test_stale_keep_alive_is_retried_for_get_only() -> None:
    # The peer answers once, then closes the idle connection without answering the next.
    async with peer(OK, None, OK) as (url, received, connections):
        client = upstream(url)
        await client.request("GET", b"/", [])
        retried = await client.request("GET", b"/again", [])
        client.close()
    assert retried.body == b"ok"
    assert len(received) == 3
    assert len(connections) == 2

    async with peer(OK, None, OK) as (url, received, _):
        client = upstream(url)
        await client.request("GET", b"/", [])
        with pytest.raises(UpstreamFailure) as failure:
            await client.request("POST", b"/auth/register", [], b"{}")
        client.close()
    assert failure.value.reason == "closed"
    assert len(received) == 2  # never sent twice


async def test_failure_reasons() -> None:
    client = upstream("http://127.0.0.1:9")
    with pytest.raises(UpstreamFailure) as refused:
        await client.request("GET", b"/", [])
    assert refused.value.reason == "unreachable"

    async with peer(OK, delay=1.0) as (url, _, _):
        client = upstream(url, read_timeout=0.2)
        with pytest.raises(UpstreamFailure) as slow:
            await client.request("GET", b"/", [])
        client.close()
    assert slow.value.reason == "timeout"

    async with peer(b"NOT HTTP AT ALL\r\n\r\n") as (url, _, _):
        client = upstream(url)
        with pytest.raises(UpstreamFailure) as invalid:
            await client.request("GET", b"/", [])
        client.close()
    assert invalid.value.reason == "invalid"

    async with peer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", None,
                    close_after_each=True) as (url, _, _):
        client = upstream(url)
        with pytest.raises(UpstreamFailure) as cut:
            await client.request("GET", b"/", [])
        client.close()
    assert cut.value.reason == "closed"


async def test_pool_size_bounds_concurrent_connections() -> None:
    async with peer(*[OK] * 40, delay=0.02) as (url, received, connections):
        client = Upstream(url, pool_size=4, keepalive=4.0, connect_timeout=1.0,
                          read_timeout=5.0)
        responses = await asyncio.gather(*(client.request("GET", b"/", []) for _ in range(40)))
        client.close()
    assert {r.body for r in responses} == {b"ok"}
    assert len(received) == 40
    assert len(connections) == 4


def test_only_plain_http_upstreams() -> None:
    make: Callable[[str], Upstream] = upstream
    with pytest.raises(ValueError, match="http://host"):
        make("https://auth-service:8001")
